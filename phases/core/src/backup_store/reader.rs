//! A backup read by parts: its header first, then its documents a batch at a time, its sha256
//! computed as the bytes go by. The phases after the backup read it this way, so that no phase
//! holds the whole scope's bodies.

use std::collections::VecDeque;

use async_trait::async_trait;
use iu_cutter_live_execution::{Backup, DocumentSnapshot, RunId, Sha256Hasher};

use super::{BackupError, BackupReceipt, Decoder, HeaderDetail};

/// Where a [`BackupReader`] gets an artifact's bytes from, a part at a time (a file in chunks,
/// the store's journal a row at a time). A part may end anywhere, even inside a line.
#[async_trait]
pub trait ArtifactParts: Send {
    /// The next part of the artifact's bytes; `None` after the last.
    async fn next_part(&mut self) -> Result<Option<Vec<u8>>, BackupError>;
}

/// An artifact already in memory: one part.
pub(crate) struct InMemory(pub(crate) Option<Vec<u8>>);

#[async_trait]
impl ArtifactParts for InMemory {
    async fn next_part(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
        Ok(self.0.take())
    }
}

/// Bytes a file is read in.
const FILE_PART_BYTES: usize = 1 << 20;

/// An artifact in a file, read a chunk at a time.
pub(crate) struct FileParts {
    pub(crate) file: std::fs::File,
    pub(crate) path: std::path::PathBuf,
}

#[async_trait]
impl ArtifactParts for FileParts {
    async fn next_part(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
        use std::io::Read;
        let mut part = Vec::with_capacity(FILE_PART_BYTES);
        let read = (&mut self.file)
            .take(FILE_PART_BYTES as u64)
            .read_to_end(&mut part)
            .map_err(super::io_error("read", &self.path))?;
        Ok((read > 0).then_some(part))
    }
}

/// An artifact journaled in the store, read a part (a row) at a time; `first` is part 0, read
/// when the reader was opened.
pub(crate) struct JournalParts {
    pub(crate) adapter: std::sync::Arc<dyn iu_cutter_live_execution::LiveExecutionAdapter>,
    pub(crate) run: RunId,
    pub(crate) first: Option<String>,
    pub(crate) next: u64,
}

#[async_trait]
impl ArtifactParts for JournalParts {
    async fn next_part(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
        use iu_cutter_live_execution::Journal;
        if let Some(first) = self.first.take() {
            return Ok(Some(first.into_bytes()));
        }
        let part = self
            .adapter
            .load_backup_part(&self.run, self.next)
            .await
            .map_err(|source| BackupError::Journal {
                run: self.run.clone(),
                source,
            })?;
        self.next += 1;
        Ok(part.map(|part| part.artifact.into_bytes()))
    }
}

/// A run's backup read by parts ([`BackupStore::open`](super::BackupStore::open)).
///
/// [`head`](Self::head) is the backup without its documents; [`next_batch`](Self::next_batch)
/// gives the documents in the artifact's order (id order, as the backup phase writes them),
/// each once. Integrity is checked as the bytes go by and settled at the end: the batch call
/// that reaches the end of the artifact fails with [`BackupError::Tampered`] when the bytes do
/// not hash to the manifest's sha256, whether or not they parsed; a caller that must not act on
/// a tampered backup at all reads it through once first ([`check`](Self::check)).
pub struct BackupReader {
    parts: Box<dyn ArtifactParts>,
    expected: String,
    location: String,
    hasher: Option<Sha256Hasher>,
    decoder: Decoder,
    /// Bytes read after the last whole line.
    pending: Vec<u8>,
    /// Documents decoded and not yet handed out.
    ready: VecDeque<DocumentSnapshot>,
    head: Backup,
    /// Documents and active units handed out or skipped so far.
    counts: (u64, u64),
    /// Read from a journal store's export, whose journal holds no backup of the run.
    unjournaled: bool,
}

impl std::fmt::Debug for BackupReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupReader")
            .field("run", self.decoder.run())
            .field("expected", &self.expected)
            .finish_non_exhaustive()
    }
}

impl BackupReader {
    /// Opens `run`'s artifact, whose bytes `parts` gives (from `location`, for receipts) and
    /// whose manifest records `expected` (hex sha256): reads up to the end of its header line.
    pub async fn open(
        run: &RunId,
        expected: String,
        location: String,
        parts: Box<dyn ArtifactParts>,
    ) -> Result<Self, BackupError> {
        Self::open_with(run, expected, location, parts, HeaderDetail::Full).await
    }

    /// [`open`](Self::open), the header parsed in `detail` ([`HeaderDetail::Lean`]: without
    /// the census's digest per document and the change log's entries).
    pub async fn open_with(
        run: &RunId,
        expected: String,
        location: String,
        mut parts: Box<dyn ArtifactParts>,
        detail: HeaderDetail,
    ) -> Result<Self, BackupError> {
        let mut decoder = Decoder::new(run.clone(), detail);
        let mut hasher = Sha256Hasher::new();
        let mut pending = Vec::new();
        // Bytes of `pending` decoded: the header's line, and the census lines for the full
        // detail (a line at a time, so none is held beyond its part); the documents after them
        // are decoded later.
        let mut decoded = 0;
        // Bytes of `pending` known to hold no `\n` (a long line comes in many parts).
        let mut scanned = 0;
        let head = loop {
            if decoder.head_ready() {
                break decoder.take_head();
            }
            if let Some(at) = pending[scanned..].iter().position(|b| *b == b'\n') {
                let line = decoded..scanned + at + 1;
                (decoded, scanned) = (line.end, line.end);
                match decoder.line(&pending[line]) {
                    Ok(_) => continue,
                    Err(e) => break Err(e),
                }
            }
            pending.drain(..decoded);
            decoded = 0;
            scanned = pending.len();
            match parts.next_part().await? {
                Some(part) => {
                    hasher.update(&part);
                    pending.extend_from_slice(&part);
                }
                // The end: its last line has no `\n`.
                None => {
                    decoded = pending.len();
                    break decoder.line(&pending).and_then(|_| decoder.take_head());
                }
            }
        };
        pending.drain(..decoded);
        let head = match head {
            Ok(head) => head,
            // No header: tampered, if its bytes say so (they say more), else malformed.
            Err(e) => {
                rest_matches(parts.as_mut(), hasher, &expected, run).await?;
                return Err(e);
            }
        };
        Ok(BackupReader {
            parts,
            expected,
            location,
            hasher: Some(hasher),
            decoder,
            pending,
            ready: VecDeque::new(),
            head,
            counts: (0, 0),
            unjournaled: false,
        })
    }

    /// The backup's header: everything but its documents (which this reader gives by batches).
    pub fn head(&self) -> &Backup {
        &self.head
    }

    /// The header, the reader given up: for a caller that read the documents it needed and
    /// keeps the header (its census can be large), without a copy.
    pub fn into_head(self) -> Backup {
        self.head
    }

    /// The sha256 its manifest records (hex), which the artifact's bytes are checked against as
    /// they are read.
    pub fn sha256(&self) -> &str {
        &self.expected
    }

    /// Where the artifact is (a path, `memory`, the store's journal).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether a store that journals its backups found none of the run in its journal and read
    /// this one from its export instead: the artifact of a run journaled before backups were
    /// kept in the store, or of another store's run of the same id (one backup directory shared
    /// by two stores, or a store initialised again), which no new backup may take for its own.
    pub fn unjournaled(&self) -> bool {
        self.unjournaled
    }

    /// This reader, marked [`unjournaled`](Self::unjournaled).
    pub(crate) fn read_from_export(self) -> Self {
        BackupReader {
            unjournaled: true,
            ..self
        }
    }

    /// The next (at most) `max` documents, in the artifact's order; `None` once every document
    /// was given and the artifact matched its manifest.
    pub async fn next_batch(
        &mut self,
        max: usize,
    ) -> Result<Option<Vec<DocumentSnapshot>>, BackupError> {
        let max = max.max(1);
        while self.ready.len() < max && self.hasher.is_some() {
            if !self.fill().await? {
                self.end().await?;
            }
        }
        if self.ready.is_empty() {
            return Ok(None);
        }
        let batch: Vec<DocumentSnapshot> = self.ready.drain(..max.min(self.ready.len())).collect();
        Ok(Some(batch))
    }

    /// The same reader, decoding the documents it has not decoded yet without their bodies
    /// (each document's body and its active units' bodies empty): for a phase that needs only
    /// the documents' heads, the bodies being most of the bytes to decode. The bytes are still
    /// hashed and checked against the manifest as before.
    pub fn without_bodies(mut self) -> Self {
        self.decoder.bodies = false;
        self
    }

    /// Reads the rest of the artifact without keeping its documents, and checks it against its
    /// manifest: its receipt, counting the documents and active units this reader read.
    pub async fn check(mut self) -> Result<BackupReceipt, BackupError> {
        // The documents are dropped: their bodies need not be decoded.
        self.decoder.bodies = false;
        while let Some(batch) = self.next_batch(256).await? {
            drop(batch);
        }
        Ok(BackupReceipt {
            sha256: self.expected,
            location: self.location,
            documents: self.counts.0,
            units: self.counts.1,
        })
    }

    /// Reads every document left into the whole backup (what [`BackupStore::load`]
    /// (super::BackupStore::load) answers), checked against the manifest, with the sha256 it
    /// matched.
    pub async fn into_backup(mut self) -> Result<(Backup, String), BackupError> {
        let mut documents = Vec::new();
        while let Some(batch) = self.next_batch(256).await? {
            documents.extend(batch);
        }
        let mut backup = self.head;
        backup.documents = documents;
        Ok((backup, self.expected))
    }

    /// Reads the rest of the artifact without decoding it and checks it against its manifest:
    /// how a caller that found something wrong in the documents read so far learns whether the
    /// artifact was tampered with (which says more, as when the whole was checked first).
    pub async fn check_rest(&mut self) -> Result<(), BackupError> {
        self.tampered().await
    }

    /// Reads one more part and decodes the lines it completes; `false` at the end of the
    /// artifact.
    async fn fill(&mut self) -> Result<bool, BackupError> {
        let Some(part) = self.parts.next_part().await? else {
            return Ok(false);
        };
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&part);
        }
        // Searched in the new part only, so a long line read in many parts is not scanned again
        // each time; whole lines pending before it (the rest of the header's part) are decoded
        // with those it completes, or at the end.
        let before = self.pending.len();
        self.pending.extend_from_slice(&part);
        let Some(last) = part.iter().rposition(|b| *b == b'\n').map(|at| before + at) else {
            return Ok(true);
        };
        let rest = self.pending.split_off(last + 1);
        let whole = std::mem::replace(&mut self.pending, rest);
        if let Err(e) = self.decode(&whole) {
            return Err(self.fail(e).await);
        }
        Ok(true)
    }

    fn decode(&mut self, lines: &[u8]) -> Result<(), BackupError> {
        for line in lines.split(|b| *b == b'\n') {
            if let Some(snapshot) = self.decoder.line(line)? {
                self.counts.0 += 1;
                self.counts.1 += snapshot.active_units.len() as u64;
                self.ready.push_back(snapshot);
            }
        }
        Ok(())
    }

    /// The end of the artifact: its last line (if it has no `\n`), then the sha256 check.
    async fn end(&mut self) -> Result<(), BackupError> {
        let last = std::mem::take(&mut self.pending);
        if let Err(e) = self.decode(&last) {
            return Err(self.fail(e).await);
        }
        self.tampered().await
    }

    /// What is wrong, given that decoding failed with `error`: tampered bytes say more than a
    /// parse error, so the rest is read (hashing only) and checked first.
    async fn fail(&mut self, error: BackupError) -> BackupError {
        match self.tampered().await {
            Err(tampered) => tampered,
            Ok(()) => error,
        }
    }

    /// Reads whatever is left of the artifact, hashing only, and checks its sha256 against the
    /// manifest's (once: later calls pass).
    async fn tampered(&mut self) -> Result<(), BackupError> {
        let Some(hasher) = self.hasher.take() else {
            return Ok(());
        };
        let run = self.decoder.run();
        let checked = rest_matches(self.parts.as_mut(), hasher, &self.expected, run).await;
        if checked.is_err() {
            self.ready.clear();
        }
        checked
    }
}

/// Hashes the rest of `parts` after what `hasher` has seen, and checks the whole against
/// `expected`.
async fn rest_matches(
    parts: &mut dyn ArtifactParts,
    mut hasher: Sha256Hasher,
    expected: &str,
    run: &RunId,
) -> Result<(), BackupError> {
    while let Some(part) = parts.next_part().await? {
        hasher.update(&part);
    }
    let found = hasher.finish().hex();
    if found == expected {
        return Ok(());
    }
    Err(BackupError::Tampered {
        run: run.clone(),
        expected: expected.to_owned(),
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_store::encode_backup;
    use iu_cutter_live_execution::{
        Census, Document, DocumentId, DocumentState, SCHEMA_VERSION, Unit, sha256_hex,
    };

    /// An artifact cut into parts of `size` bytes, ending anywhere (inside a line, a character).
    struct Chunks(std::vec::IntoIter<Vec<u8>>);

    impl Chunks {
        fn of(bytes: &[u8], size: usize) -> Box<Self> {
            let parts: Vec<Vec<u8>> = bytes.chunks(size).map(<[u8]>::to_vec).collect();
            Box::new(Chunks(parts.into_iter()))
        }
    }

    #[async_trait]
    impl ArtifactParts for Chunks {
        async fn next_part(&mut self) -> Result<Option<Vec<u8>>, BackupError> {
            Ok(self.0.next())
        }
    }

    fn backup(documents: usize) -> Backup {
        let documents = (0..documents)
            .map(|i| {
                let body = format!("Điều {i}.\nKhoản một.\n");
                DocumentSnapshot {
                    document: Document {
                        id: DocumentId::new(format!("law/{i:03}")),
                        revision: 1,
                        sha256: sha256_hex(body.as_bytes()),
                        state: DocumentState::Ready,
                        active_generation: None,
                        body,
                    },
                    generations: vec![],
                    active_units: vec![],
                }
            })
            .collect();
        Backup {
            schema_version: SCHEMA_VERSION,
            run: RunId::new("r"),
            census: Census::default(),
            mark: None,
            entries: None,
            documents,
        }
    }

    async fn read_all(
        bytes: &[u8],
        part: usize,
        batch: usize,
        expected: String,
    ) -> Result<(Backup, Vec<Vec<DocumentSnapshot>>), BackupError> {
        let mut reader = BackupReader::open(
            &RunId::new("r"),
            expected,
            "test".into(),
            Chunks::of(bytes, part),
        )
        .await?;
        let head = reader.head().clone();
        let mut batches = Vec::new();
        while let Some(batch) = reader.next_batch(batch).await? {
            batches.push(batch);
        }
        assert_eq!(
            reader.next_batch(batch).await?,
            None,
            "the end stays the end"
        );
        Ok((head, batches))
    }

    #[tokio::test]
    async fn gives_every_document_once_in_order_in_batches_whatever_the_parts()
    -> Result<(), BackupError> {
        let original = backup(7);
        let bytes = encode_backup(&original);
        let sha = sha256_hex(&bytes);
        for part in [1, 3, 7, 50, bytes.len()] {
            for batch in [1, 2, 3, 100] {
                let (head, batches) = read_all(&bytes, part, batch, sha.clone()).await?;
                assert_eq!(head.census, original.census);
                assert!(head.documents.is_empty());
                assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= batch));
                let read: Vec<DocumentSnapshot> = batches.into_iter().flatten().collect();
                assert_eq!(
                    read, original.documents,
                    "parts of {part}, batches of {batch}"
                );
            }
        }
        let reader = BackupReader::open(
            &RunId::new("r"),
            sha.clone(),
            "test".into(),
            Chunks::of(&bytes, 5),
        )
        .await?;
        let receipt = reader.check().await?;
        assert_eq!(
            (receipt.documents, receipt.units, receipt.sha256),
            (7, 0, sha)
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_tampered_part_is_refused_by_the_call_that_reaches_the_end() -> Result<(), BackupError>
    {
        let original = backup(5);
        let bytes = encode_backup(&original);
        let sha = sha256_hex(&bytes);
        // One body changed in place: every line still parses.
        let text = String::from_utf8(bytes.clone()).map_err(|e| BackupError::Malformed {
            run: RunId::new("r"),
            detail: e.to_string(),
        })?;
        let tampered = text.replacen("Điều 3.", "Điều 9.", 1).into_bytes();
        assert_ne!(tampered, bytes);
        for part in [4, 64, tampered.len()] {
            let result = read_all(&tampered, part, 2, sha.clone()).await;
            assert!(
                matches!(result, Err(BackupError::Tampered { .. })),
                "parts of {part}: {result:?}"
            );
            let reader = BackupReader::open(
                &RunId::new("r"),
                sha.clone(),
                "test".into(),
                Chunks::of(&tampered, part),
            )
            .await?;
            assert!(matches!(
                reader.check().await,
                Err(BackupError::Tampered { .. })
            ));
        }
        // A line that no longer parses is tampered too, not malformed, when the bytes changed.
        let mut broken = bytes.clone();
        broken.truncate(bytes.len() - 10);
        let result = read_all(&broken, 16, 2, sha.clone()).await;
        assert!(
            matches!(result, Err(BackupError::Tampered { .. })),
            "{result:?}"
        );
        let result = read_all(b"not a header\n", 4, 2, sha.clone()).await;
        assert!(
            matches!(result, Err(BackupError::Tampered { .. })),
            "{result:?}"
        );
        // The same broken bytes with a manifest to match are malformed.
        let result = read_all(&broken, 16, 2, sha256_hex(&broken)).await;
        assert!(
            matches!(result, Err(BackupError::Malformed { .. })),
            "{result:?}"
        );
        Ok(())
    }

    /// Read without bodies, a backup gives the same documents with every body empty (the
    /// document's and its active units'), counts the same, and is still checked against its
    /// manifest: a body changed in place is refused as tampered.
    #[tokio::test]
    async fn read_without_bodies_gives_the_heads_and_still_checks_the_bytes()
    -> Result<(), BackupError> {
        let mut original = backup(4);
        let active = Unit {
            document: DocumentId::new("law/001"),
            generation: RunId::new("r0"),
            ordinal: 0,
            unit_id: "id".into(),
            path: "Điều 1".into(),
            part: Some(2),
            start: 0,
            end: 3,
            sha256: "ab".into(),
            body: "Điều \"1\"\n".into(),
        };
        original.documents[1].document.state = DocumentState::Cut;
        original.documents[1].document.active_generation = Some(RunId::new("r0"));
        original.documents[1].active_units = vec![active.clone(), active];
        let bytes = encode_backup(&original);
        let sha = sha256_hex(&bytes);
        let open = |bytes: Vec<u8>, part: usize| {
            let sha = sha.clone();
            async move {
                BackupReader::open(
                    &RunId::new("r"),
                    sha,
                    "test".into(),
                    Chunks::of(&bytes, part),
                )
                .await
                .map(BackupReader::without_bodies)
            }
        };
        let mut heads = original.documents.clone();
        for snapshot in &mut heads {
            snapshot.document.body.clear();
            for unit in &mut snapshot.active_units {
                unit.body.clear();
            }
        }
        for part in [3, 64, bytes.len()] {
            let mut reader = open(bytes.clone(), part).await?;
            let mut read = Vec::new();
            while let Some(batch) = reader.next_batch(2).await? {
                read.extend(batch);
            }
            assert_eq!(read, heads, "parts of {part}");
            let receipt = open(bytes.clone(), part).await?.check().await?;
            assert_eq!((receipt.documents, receipt.units), (4, 2));
        }
        let tampered = String::from_utf8_lossy(&bytes)
            .replacen("Khoản một", "Khoản hai", 1)
            .into_bytes();
        assert_ne!(tampered, bytes);
        let mut reader = open(tampered.clone(), 16).await?;
        let mut result = Ok(None);
        for _ in 0..10 {
            result = reader.next_batch(1).await;
            if !matches!(result, Ok(Some(_))) {
                break;
            }
        }
        assert!(
            matches!(result, Err(BackupError::Tampered { .. })),
            "{result:?}"
        );
        Ok(())
    }

    /// A backup whose census spans several census lines: digests for `documents` ids, and
    /// change-log entries for every third, for one id before them all and one after.
    fn backup_with_census(documents: usize) -> Backup {
        let mut backup = backup(3);
        let ids = (0..documents).map(|i| DocumentId::new(format!("law/{i:05}")));
        let mut builder = iu_cutter_live_execution::CensusBuilder::new();
        for id in ids.clone() {
            let digest = iu_cutter_live_execution::Sha256Digest::of(id.as_str().as_bytes());
            builder.add(id, digest, 0);
        }
        let mut census = builder.finish();
        census.units = 7;
        let mut entries: std::collections::BTreeMap<DocumentId, String> = ids
            .step_by(3)
            .map(|id| (id, "sqlite:9".to_owned()))
            .collect();
        entries.insert(DocumentId::new("a-first"), "sqlite:1".into());
        entries.insert(DocumentId::new("z-last"), "sqlite:2".into());
        backup.census = census;
        backup.entries = Some(entries);
        backup.mark = Some(iu_cutter_live_execution::ChangeMark::new("sqlite", 9));
        backup
    }

    /// Opens `bytes` in `detail`, parts of `part` bytes, and reads every document.
    async fn open_all(
        bytes: &[u8],
        part: usize,
        detail: HeaderDetail,
    ) -> Result<(Backup, Vec<DocumentSnapshot>), BackupError> {
        let mut reader = BackupReader::open_with(
            &RunId::new("r"),
            sha256_hex(bytes),
            "test".into(),
            Chunks::of(bytes, part),
            detail,
        )
        .await?;
        let head = reader.head().clone();
        let mut documents = Vec::new();
        while let Some(batch) = reader.next_batch(2).await? {
            documents.extend(batch);
        }
        Ok((head, documents))
    }

    #[tokio::test]
    async fn the_census_is_written_a_range_of_documents_a_line_and_reads_back_whole()
    -> Result<(), BackupError> {
        let documents = 2 * crate::backup_store::CENSUS_LINE_DOCUMENTS + 5;
        let original = backup_with_census(documents);
        let bytes = encode_backup(&original);
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        // The header, three census lines, three documents; no line grows with the scope.
        assert_eq!(lines.len(), 1 + 3 + 3);
        let longest = lines.iter().map(|l| l.len()).max().unwrap_or(0);
        assert!(
            longest < crate::backup_store::CENSUS_LINE_DOCUMENTS * 120,
            "a line of {longest} bytes"
        );
        assert!(
            lines[0].len() < 400,
            "the header holds no digest: {} bytes",
            lines[0].len()
        );

        for part in [1000, 4096, bytes.len()] {
            let (head, read) = open_all(&bytes, part, HeaderDetail::Full).await?;
            assert_eq!(head.census, original.census, "parts of {part}");
            assert_eq!(head.entries, original.entries, "parts of {part}");
            assert_eq!(head.mark, original.mark);
            assert_eq!(read, original.documents, "parts of {part}");

            let (lean, read) = open_all(&bytes, part, HeaderDetail::Lean).await?;
            assert!(lean.census.per_document.is_empty() && lean.entries.is_none());
            assert_eq!(
                (
                    lean.census.documents,
                    lean.census.units,
                    &lean.census.fingerprint
                ),
                (documents as u64, 7, &original.census.fingerprint)
            );
            assert_eq!(read, original.documents, "lean, parts of {part}");
        }
        assert_eq!(crate::decode_backup(&RunId::new("r"), &bytes)?, original);
        Ok(())
    }

    #[tokio::test]
    async fn a_backup_with_its_census_in_the_header_still_reads() -> Result<(), BackupError> {
        let original = backup_with_census(10);
        // As written before census lines: the digests and entries in the header itself.
        let header = serde_json::json!({
            "schema_version": original.schema_version,
            "run": "r",
            "census": original.census,
            "mark": original.mark,
            "entries": original.entries,
        });
        let mut bytes = serde_json::to_vec(&header).map_err(|e| BackupError::Malformed {
            run: RunId::new("r"),
            detail: e.to_string(),
        })?;
        bytes.push(b'\n');
        for snapshot in &original.documents {
            bytes.extend(serde_json::to_vec(snapshot).unwrap_or_default());
            bytes.push(b'\n');
        }
        for part in [5, bytes.len()] {
            let (head, read) = open_all(&bytes, part, HeaderDetail::Full).await?;
            assert_eq!(head.census, original.census);
            assert_eq!(head.entries, original.entries);
            assert_eq!(read, original.documents);
            let (lean, read) = open_all(&bytes, part, HeaderDetail::Lean).await?;
            assert_eq!(lean.census.fingerprint, original.census.fingerprint);
            assert_eq!(read, original.documents);
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_census_line_missing_or_out_of_place_is_malformed() {
        let original = backup_with_census(crate::backup_store::CENSUS_LINE_DOCUMENTS + 1);
        let bytes = encode_backup(&original);
        let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        // The second census line dropped: a document line stands where it was announced.
        let dropped: Vec<u8> = [&lines[..2], &lines[3..]].concat().concat();
        let err = open_all(&dropped, 64, HeaderDetail::Full).await.err();
        assert!(
            matches!(&err, Some(BackupError::Malformed { detail, .. }) if detail.contains("census")),
            "{err:?}"
        );
        // Only the header and the census lines: the documents are missing, not the census.
        let cut: Vec<u8> = lines[..3].concat();
        match open_all(&cut, 64, HeaderDetail::Full).await {
            Ok((head, read)) => assert_eq!((head.census, read.len()), (original.census, 0)),
            Err(e) => panic!("{e}"),
        }
        // The header alone: the census lines it announces are missing.
        let err = open_all(lines[0], 64, HeaderDetail::Full).await.err();
        assert!(
            matches!(&err, Some(BackupError::Malformed { detail, .. }) if detail.contains("census line")),
            "{err:?}"
        );
    }
}
