//! Backup artifacts: JSON Lines with a sha256 manifest, written atomically.
//!
//! Line 1 is a header (schema version, run, the census's counts and fingerprint, the change
//! mark); then the census lines, each the digests and change-log entries of a range of up to
//! `CENSUS_LINE_DOCUMENTS` documents (their number is in the header); every further line is
//! one `DocumentSnapshot`. The manifest records the sha256 of those bytes and the counts; loading
//! refuses a backup whose bytes no longer match it.
//!
//! Backups written before census lines hold the digests and entries in the header itself; they
//! still read, the same way. The census lines exist so that no line grows with the scope: a
//! reader that needs only the documents skips them a line at a time, and a writer never encodes
//! the scope's census as one string.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterError, Backup, Census, ChangeMark, DocumentId, DocumentSnapshot, Journal,
    LiveExecutionAdapter, RunId, Sha256Digest, Sha256Hasher, StoredBackup, sha256_hex,
};
use serde::{Deserialize, Serialize};

mod reader;
mod writer;

pub use reader::{ArtifactParts, BackupReader};
pub use writer::BackupSink;

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file system refused (read-only directory, full disk, permissions).
    #[error(
        "cannot {action} backup at {path}: {source}; check that the backup directory exists, is writable and has free space"
    )]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The backup's bytes do not match its manifest.
    #[error(
        "backup for run {run} does not match its manifest (expected sha256 {expected}, found {found}); do not restore from it"
    )]
    Tampered {
        /// The run.
        run: RunId,
        /// sha256 in the manifest.
        expected: String,
        /// sha256 of the bytes.
        found: String,
    },
    /// The backup cannot be parsed.
    #[error("backup for run {run} is malformed: {detail}")]
    Malformed {
        /// The run.
        run: RunId,
        /// What is wrong.
        detail: String,
    },
    /// The store refused to journal the backup, or could not read it back (a closed kill
    /// switch, an unreachable database).
    #[error("cannot journal or read the backup of run {run} in the store: {source}")]
    Journal {
        /// The run.
        run: RunId,
        /// The store's error.
        #[source]
        source: AdapterError,
    },
    /// A run id that cannot name a file.
    #[error("run id `{0}` cannot name a backup file (use letters, digits, `-`, `_`, `.`)")]
    BadRunId(RunId),
}

/// Where a backup went and what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupReceipt {
    /// sha256 of the artifact's bytes.
    pub sha256: String,
    /// Where it is (a path, or `memory`).
    pub location: String,
    /// Documents backed up.
    pub documents: u64,
    /// Active units backed up.
    pub units: u64,
}

/// Writes and reads backup artifacts.
#[async_trait]
pub trait BackupStore: Send + Sync {
    /// Writes `backup` atomically (all or nothing) and returns its receipt.
    async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError>;

    /// Reads a run's backup, checked against its manifest; `None` if there is none.
    async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError>;

    /// Opens a run's backup to read it by parts ([`BackupReader`]): its header now, its
    /// documents a batch at a time, checked against its manifest as they are read; `None` if
    /// there is none. The default reads the whole backup first ([`load`](Self::load)); the
    /// stores here never hold more than a part.
    /// Stores implement [`open_with`](Self::open_with); this is its whole header.
    async fn open(&self, run: &RunId) -> Result<Option<BackupReader>, BackupError> {
        self.open_with(run, HeaderDetail::Full).await
    }

    /// [`open`](Self::open), the header parsed in `detail`: a phase that reads the documents
    /// needs no census per document ([`HeaderDetail::Lean`]), which grows with the scope.
    async fn open_with(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        let Some((backup, receipt)) = self.load(run).await? else {
            return Ok(None);
        };
        // Checked by `load`; encoded again, so hashed again.
        let bytes = encode_backup(&backup);
        let sha256 = sha256_hex(&bytes);
        drop(backup);
        let parts = Box::new(reader::InMemory(Some(bytes)));
        BackupReader::open_with(run, sha256, receipt.location, parts, detail)
            .await
            .map(Some)
    }

    /// Starts writing the backup whose header is `head` (its `documents`, if any, are not
    /// written: they follow by [`BackupSink::write`], a batch at a time). Nothing is the run's
    /// backup until [`BackupSink::finish`]. The default collects the documents and saves the
    /// backup whole ([`save`](Self::save)); the stores here never hold more than a batch.
    async fn create(&self, head: &Backup) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let mut backup = head.clone();
        backup.documents = Vec::new();
        Ok(Box::new(writer::Collect {
            store: self,
            backup,
        }))
    }

    /// [`create`](Self::create) for a head without its census's digests: the header announces
    /// the census lines of `head.census.documents` documents, and they follow, before the first
    /// document, by [`BackupSink::census_line`] ([`CENSUS_LINE_DOCUMENTS`] documents a line, in
    /// id order), so that the writer never holds the scope's digests; the artifact is the one
    /// [`create`](Self::create) writes for the same census with them. The default collects them
    /// with the documents and saves the backup whole ([`save`](Self::save)).
    async fn create_streamed(
        &self,
        head: &Backup,
    ) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let mut backup = head.clone();
        backup.documents = Vec::new();
        backup.census.per_document = BTreeMap::new();
        backup.entries = None;
        Ok(Box::new(writer::Collect {
            store: self,
            backup,
        }))
    }

    /// Checks that a backup can be written now, before a run's first mutation: a read-only or
    /// full backup directory must stop the run before it has touched the store. The default
    /// (stores in memory) has nothing to check.
    async fn preflight(&self) -> Result<(), BackupError> {
        Ok(())
    }

    /// [`open_with`](Self::open_with) the copy a rollback reads ([`load`](Self::load)), for the
    /// check that the backup is intact before a run first acts on it: a store that reads an
    /// identical copy elsewhere when it can ([`JournalBackupStore`]) must still prove its own.
    /// The default is [`open_with`](Self::open_with).
    async fn open_of_record(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        self.open_with(run, detail).await
    }

    /// The bytes of `run`'s artifact in this store, a part at a time, with where they are, if
    /// they hash to `sha256` now (read through and hashed first); `None` when this store has
    /// none, other bytes, or cannot read them. What a [`JournalBackupStore`] reads instead of its
    /// journal when its export holds the very bytes the journal sealed (a local file costs far
    /// less to read than rows of the store). The default (stores in memory) offers none.
    async fn parts_hashing_to(
        &self,
        run: &RunId,
        sha256: &str,
    ) -> Option<(String, Box<dyn ArtifactParts>)> {
        let _ = (run, sha256);
        None
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    schema_version: u32,
    run: RunId,
    census: Census,
    /// Absent from backups written before scope censuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mark: Option<ChangeMark>,
    /// Absent from backups written before the change log's entries were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entries: Option<BTreeMap<DocumentId, String>>,
    /// How many census lines follow the header; absent from backups written before them, whose
    /// header holds the census's digests and the entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    census_lines: Option<u64>,
}

/// Documents per census line: a line of about 100 bytes a document, so a few hundred kilobytes.
/// A writer that gives the census lines itself ([`BackupStore::create_streamed`]) gives this many
/// documents a line, all but the last, so that its artifact is the one the whole census makes.
pub const CENSUS_LINE_DOCUMENTS: usize = 2048;

/// A census line as read: the digests and change-log entries of a range of documents.
#[derive(Deserialize)]
struct CensusLine {
    census_digests: BTreeMap<DocumentId, Sha256Digest>,
    #[serde(default)]
    change_entries: BTreeMap<DocumentId, String>,
}

/// A census line as written, borrowed from the backup.
#[derive(Serialize)]
struct CensusLineOf<'b> {
    census_digests: BTreeMap<&'b DocumentId, &'b Sha256Digest>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    change_entries: BTreeMap<&'b DocumentId, &'b String>,
}

/// The census lines of a backup: its digests by consecutive id ranges of
/// [`CENSUS_LINE_DOCUMENTS`] documents, with the change-log entries of the same ranges (the
/// first range open below, the last open above, so every entry falls in one).
struct CensusLines<'b> {
    digests: std::iter::Peekable<std::collections::btree_map::Iter<'b, DocumentId, Sha256Digest>>,
    entries: Option<&'b BTreeMap<DocumentId, String>>,
    /// Where the next range starts; `None` once the last range was given.
    from: Option<std::ops::Bound<&'b DocumentId>>,
}

impl<'b> CensusLines<'b> {
    fn of(backup: &'b Backup) -> Self {
        let nothing = backup.census.per_document.is_empty()
            && backup.entries.as_ref().is_none_or(BTreeMap::is_empty);
        CensusLines {
            digests: backup.census.per_document.iter().peekable(),
            entries: backup.entries.as_ref(),
            from: (!nothing).then_some(std::ops::Bound::Unbounded),
        }
    }

    /// How many lines [`CensusLines::of`] gives.
    fn count(backup: &Backup) -> u64 {
        let documents = backup.census.per_document.len();
        if documents > 0 {
            documents.div_ceil(CENSUS_LINE_DOCUMENTS) as u64
        } else {
            u64::from(backup.entries.as_ref().is_some_and(|e| !e.is_empty()))
        }
    }
}

impl<'b> Iterator for CensusLines<'b> {
    type Item = CensusLineOf<'b>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::ops::Bound;
        let from = self.from.take()?;
        let census_digests: BTreeMap<&DocumentId, &Sha256Digest> =
            self.digests.by_ref().take(CENSUS_LINE_DOCUMENTS).collect();
        let to = match (self.digests.peek(), census_digests.last_key_value()) {
            (Some(_), Some((last, _))) => Bound::Included(*last),
            _ => Bound::Unbounded,
        };
        let change_entries = self
            .entries
            .map(|entries| entries.range::<DocumentId, _>((from, to)).collect())
            .unwrap_or_default();
        if let Bound::Included(last) = to {
            self.from = Some(Bound::Excluded(last));
        }
        Some(CensusLineOf {
            census_digests,
            change_entries,
        })
    }
}

/// The first lines of a backup's artifact: its header, then its census lines.
#[derive(Serialize)]
#[serde(untagged)]
enum HeadLine<'b> {
    Header(HeaderOf<'b>),
    Census(CensusLineOf<'b>),
}

fn head_lines(backup: &Backup) -> impl Iterator<Item = HeadLine<'_>> {
    std::iter::once(HeadLine::Header(HeaderOf::of(backup)))
        .chain(CensusLines::of(backup).map(HeadLine::Census))
}

/// The header line alone of a backup whose census lines are given after it, one
/// [`BackupSink::census_line`] each ([`BackupStore::create_streamed`]): it announces the lines of
/// `census.documents` documents, [`CENSUS_LINE_DOCUMENTS`] a line, as [`head_lines`] would for
/// the same census with its digests.
fn streamed_header(backup: &Backup) -> HeadLine<'_> {
    let lines = usize::try_from(backup.census.documents)
        .unwrap_or(usize::MAX)
        .div_ceil(CENSUS_LINE_DOCUMENTS) as u64;
    HeadLine::Header(HeaderOf {
        entries: None,
        census_lines: lines,
        ..HeaderOf::of(backup)
    })
}

/// One census line as [`CensusLines`] writes it, of `digests` (no change-log entries).
fn census_line_of(digests: &BTreeMap<DocumentId, Sha256Digest>) -> HeadLine<'_> {
    HeadLine::Census(CensusLineOf {
        census_digests: digests.iter().collect(),
        change_entries: BTreeMap::new(),
    })
}

/// How much of a backup's header a [`BackupReader`] parses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderDetail {
    /// All of it: the census with its digest per document, and the change log's entries.
    Full,
    /// Everything but what grows with the scope: the census's counts and fingerprint without
    /// its digest per document, no change-log entries (skipped as the line is parsed, never
    /// allocated). What a phase reading the documents needs.
    Lean,
}

/// [`Header`] without what grows with the scope ([`HeaderDetail::Lean`]): serde skips the
/// fields this struct does not name.
#[derive(Deserialize)]
struct LeanHeader {
    schema_version: u32,
    run: RunId,
    census: LeanCensus,
    #[serde(default)]
    mark: Option<ChangeMark>,
    #[serde(default)]
    census_lines: Option<u64>,
}

/// [`Census`] without its digest per document.
#[derive(Deserialize)]
struct LeanCensus {
    documents: u64,
    units: u64,
    fingerprint: String,
}

impl From<LeanHeader> for Header {
    fn from(lean: LeanHeader) -> Self {
        Header {
            schema_version: lean.schema_version,
            run: lean.run,
            census: Census {
                documents: lean.census.documents,
                units: lean.census.units,
                fingerprint: lean.census.fingerprint,
                per_document: BTreeMap::new(),
            },
            mark: lean.mark,
            entries: None,
            census_lines: lean.census_lines,
        }
    }
}

/// [`Header`] borrowed from a backup, to encode it: the census's counts and fingerprint, its
/// digests and the entries left to the census lines (an empty map each, where a backup written
/// before them held them).
#[derive(Serialize)]
struct HeaderOf<'b> {
    schema_version: u32,
    run: &'b RunId,
    census: CensusCounts<'b>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mark: Option<&'b ChangeMark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<&'static BTreeMap<DocumentId, String>>,
    census_lines: u64,
}

/// [`Census`] in a header: its digests are on the census lines.
#[derive(Serialize)]
struct CensusCounts<'b> {
    documents: u64,
    units: u64,
    fingerprint: &'b str,
    per_document: &'static BTreeMap<DocumentId, Sha256Digest>,
}

/// What a header's digests hold: nothing (they are on the census lines).
static ON_CENSUS_LINES: BTreeMap<DocumentId, Sha256Digest> = BTreeMap::new();

/// What a header's entries hold: nothing (they are on the census lines).
static NO_ENTRIES: BTreeMap<DocumentId, String> = BTreeMap::new();

impl<'b> HeaderOf<'b> {
    fn of(backup: &'b Backup) -> Self {
        HeaderOf {
            schema_version: backup.schema_version,
            run: &backup.run,
            census: CensusCounts {
                documents: backup.census.documents,
                units: backup.census.units,
                fingerprint: &backup.census.fingerprint,
                per_document: &ON_CENSUS_LINES,
            },
            mark: backup.mark.as_ref(),
            entries: backup.entries.as_ref().map(|_| &NO_ENTRIES),
            census_lines: CensusLines::count(backup),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    schema_version: u32,
    run: RunId,
    file: String,
    sha256: String,
    documents: u64,
    units: u64,
}

/// The artifact's bytes: a header line, then one line per document snapshot.
pub fn encode_backup(backup: &Backup) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing plain data into a Vec cannot fail.
    let _ = write_backup(backup, &mut out);
    out
}

/// Writes the bytes of [`encode_backup`] to `out` a line at a time, and returns their sha256
/// (hex): a backup goes to a file without its whole encoding ever sitting in memory.
pub fn write_backup(backup: &Backup, mut out: impl Write) -> std::io::Result<String> {
    let mut hasher = Sha256Hasher::new();
    let mut line = Vec::new();
    let mut put = |line: &mut Vec<u8>| {
        line.push(b'\n');
        hasher.update(&line[..]);
        let written = out.write_all(line);
        line.clear();
        written
    };
    for head_line in head_lines(backup) {
        serde_json::to_writer(&mut line, &head_line).map_err(std::io::Error::other)?;
        put(&mut line)?;
    }
    for snapshot in &backup.documents {
        serde_json::to_writer(&mut line, snapshot).map_err(std::io::Error::other)?;
        put(&mut line)?;
    }
    out.flush()?;
    Ok(hasher.finish().hex())
}

/// Parses an artifact produced by [`encode_backup`].
pub fn decode_backup(run: &RunId, bytes: &[u8]) -> Result<Backup, BackupError> {
    let mut decoder = Decoder::new(run.clone(), HeaderDetail::Full);
    let mut documents = Vec::new();
    for line in bytes.split(|b| *b == b'\n') {
        documents.extend(decoder.line(line)?);
    }
    let mut backup = decoder.take_head()?;
    backup.documents = documents;
    Ok(backup)
}

/// Parses an artifact a line at a time: its non-empty lines are the header, then one
/// [`DocumentSnapshot`] each.
struct Decoder {
    run: RunId,
    detail: HeaderDetail,
    header: Option<Header>,
    /// Non-empty lines seen, the header's included.
    lines: usize,
    /// Census lines the header announced and that are still to come.
    census_left: u64,
    /// Whether documents are decoded with their bodies and their active units' bodies
    /// ([`BackupReader::without_bodies`](reader::BackupReader::without_bodies)).
    bodies: bool,
}

/// A [`DocumentSnapshot`]'s line decoded without its bodies: serde passes over a skipped string
/// without validating or copying it, which is most of a backup's bytes.
#[derive(Deserialize)]
struct BodilessSnapshot {
    document: BodilessDocument,
    generations: Vec<iu_cutter_live_execution::GenerationRecord>,
    active_units: Vec<BodilessUnit>,
}

/// A [`iu_cutter_live_execution::Document`] without its body.
#[derive(Deserialize)]
struct BodilessDocument {
    id: DocumentId,
    revision: u64,
    sha256: String,
    state: iu_cutter_live_execution::DocumentState,
    active_generation: Option<RunId>,
    #[serde(rename = "body")]
    _body: serde::de::IgnoredAny,
}

/// A [`iu_cutter_live_execution::Unit`] without its body.
#[derive(Deserialize)]
struct BodilessUnit {
    document: DocumentId,
    generation: RunId,
    ordinal: u32,
    unit_id: String,
    path: String,
    part: Option<u32>,
    start: u64,
    end: u64,
    sha256: String,
    #[serde(rename = "body")]
    _body: serde::de::IgnoredAny,
}

impl From<BodilessSnapshot> for DocumentSnapshot {
    /// The snapshot with empty bodies.
    fn from(lean: BodilessSnapshot) -> Self {
        let BodilessDocument {
            id,
            revision,
            sha256,
            state,
            active_generation,
            _body,
        } = lean.document;
        DocumentSnapshot {
            document: iu_cutter_live_execution::Document {
                id,
                revision,
                sha256,
                state,
                active_generation,
                body: String::new(),
            },
            generations: lean.generations,
            active_units: lean
                .active_units
                .into_iter()
                .map(|u| iu_cutter_live_execution::Unit {
                    document: u.document,
                    generation: u.generation,
                    ordinal: u.ordinal,
                    unit_id: u.unit_id,
                    path: u.path,
                    part: u.part,
                    start: u.start,
                    end: u.end,
                    sha256: u.sha256,
                    body: String::new(),
                })
                .collect(),
        }
    }
}

impl Decoder {
    fn new(run: RunId, detail: HeaderDetail) -> Self {
        Decoder {
            run,
            detail,
            header: None,
            lines: 0,
            census_left: 0,
            bodies: true,
        }
    }

    /// Whether [`take_head`](Self::take_head) can answer: the header was read and, for its
    /// full detail, its census lines too (a lean reader skips them as they come).
    fn head_ready(&self) -> bool {
        self.header.is_some() && (self.census_left == 0 || self.detail == HeaderDetail::Lean)
    }

    fn run(&self) -> &RunId {
        &self.run
    }

    fn malformed(&self, detail: String) -> BackupError {
        BackupError::Malformed {
            run: self.run.clone(),
            detail,
        }
    }

    /// One line, its `\n` stripped or not: the document snapshot it holds, if it is not the
    /// header (or empty).
    fn line(&mut self, line: &[u8]) -> Result<Option<DocumentSnapshot>, BackupError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.is_empty() {
            return Ok(None);
        }
        self.lines += 1;
        if self.lines == 1 {
            let header = match self.detail {
                HeaderDetail::Full => serde_json::from_slice::<Header>(line),
                HeaderDetail::Lean => serde_json::from_slice::<LeanHeader>(line).map(Header::from),
            };
            let header = header.map_err(|e| self.malformed(format!("header: {e}")))?;
            self.census_left = header.census_lines.unwrap_or(0);
            self.header = Some(header);
            return Ok(None);
        }
        if self.census_left > 0 {
            self.census_left -= 1;
            if self.detail == HeaderDetail::Full {
                self.census_line(line)?;
            }
            return Ok(None);
        }
        let snapshot = match self.bodies {
            true => serde_json::from_slice::<DocumentSnapshot>(line),
            false => serde_json::from_slice::<BodilessSnapshot>(line).map(DocumentSnapshot::from),
        };
        snapshot
            .map(Some)
            .map_err(|e| self.malformed(format!("line {}: {e}", self.lines)))
    }

    /// Adds a census line's digests and entries to the header's census.
    fn census_line(&mut self, line: &[u8]) -> Result<(), BackupError> {
        let part = serde_json::from_slice::<CensusLine>(line)
            .map_err(|e| self.malformed(format!("line {} (census): {e}", self.lines)))?;
        let Some(header) = &mut self.header else {
            return Err(self.malformed("a census line before the header".into()));
        };
        header.census.per_document.extend(part.census_digests);
        match &mut header.entries {
            Some(entries) => entries.extend(part.change_entries),
            None if part.change_entries.is_empty() => {}
            None => {
                return Err(self.malformed(format!(
                    "line {}: change-log entries, where the header records none",
                    self.lines
                )));
            }
        }
        Ok(())
    }

    /// The backup the header describes, without documents (taken once).
    fn take_head(&mut self) -> Result<Backup, BackupError> {
        if self.header.is_some() && !self.head_ready() {
            return Err(self.malformed(format!(
                "the header announces {} census line(s) more than there are",
                self.census_left
            )));
        }
        let header = self
            .header
            .take()
            .ok_or_else(|| self.malformed("empty file".into()))?;
        Ok(Backup {
            schema_version: header.schema_version,
            run: header.run,
            census: header.census,
            mark: header.mark,
            entries: header.entries,
            documents: Vec::new(),
        })
    }
}

/// Reads and parses the artifact at `path` a line at a time, hashing what it reads, so that its
/// bytes never sit in memory beside the backup they decode to; checks the sha256 against the
/// manifest's `expected` before answering. Bytes that do not match are [`BackupError::Tampered`]
/// whether or not they parse, as when the whole file was hashed before parsing.
fn read_backup(run: &RunId, path: &Path, expected: &str) -> Result<(Backup, String), BackupError> {
    let file = std::fs::File::open(path).map_err(io_error("read", path))?;
    let mut reader = std::io::BufReader::new(file);
    let mut hasher = Sha256Hasher::new();
    let mut decoder = Decoder::new(run.clone(), HeaderDetail::Full);
    let mut documents = Vec::new();
    let mut parsed = Ok(());
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(io_error("read", path))?;
        if read == 0 {
            break;
        }
        hasher.update(&line);
        if parsed.is_ok() {
            // After the first error, the rest is only hashed: tampering says more than parsing.
            parsed = decoder
                .line(&line)
                .map(|snapshot| documents.extend(snapshot));
        }
    }
    let found = hasher.finish().hex();
    if found != expected {
        return Err(BackupError::Tampered {
            run: run.clone(),
            expected: expected.to_owned(),
            found,
        });
    }
    parsed?;
    let mut backup = decoder.take_head()?;
    backup.documents = documents;
    Ok((backup, found))
}

/// What every store's `load` answers: `backup`, read and checked (its artifact hashing to
/// `sha256`), with its receipt.
fn loaded(backup: Backup, sha256: String, location: String) -> Option<(Backup, BackupReceipt)> {
    let receipt = receipt(&backup, sha256, location);
    Some((backup, receipt))
}

fn receipt(backup: &Backup, sha256: String, location: String) -> BackupReceipt {
    BackupReceipt {
        sha256,
        location,
        documents: backup.documents.len() as u64,
        units: backup
            .documents
            .iter()
            .map(|d| d.active_units.len() as u64)
            .sum(),
    }
}

/// Backups held in memory (tests, dry runs). Bytes are still encoded and checked on load.
#[derive(Debug, Default)]
pub struct MemoryBackupStore {
    artifacts: MemoryArtifacts,
}

/// What a [`MemoryBackupStore`] holds: each run's artifact bytes and their sha256.
#[derive(Debug, Default)]
pub(crate) struct MemoryArtifacts(Mutex<ArtifactMap>);

/// Each run's artifact bytes and their sha256.
type ArtifactMap = HashMap<RunId, (Vec<u8>, String)>;

impl MemoryArtifacts {
    /// The map, locked; a poisoned lock is reported against `run`, the run being read or written.
    fn locked(&self, run: &RunId) -> Result<MutexGuard<'_, ArtifactMap>, BackupError> {
        self.0.lock().map_err(|_| BackupError::Malformed {
            run: run.clone(),
            detail: "memory store poisoned".into(),
        })
    }

    /// Stores `run`'s artifact and its sha256, replacing any before.
    pub(crate) fn insert(
        &self,
        run: RunId,
        bytes: Vec<u8>,
        sha256: String,
    ) -> Result<(), BackupError> {
        self.locked(&run)?.insert(run, (bytes, sha256));
        Ok(())
    }

    /// `run`'s artifact and the sha256 stored with it, if any.
    fn entry(&self, run: &RunId) -> Result<Option<(Vec<u8>, String)>, BackupError> {
        Ok(self.locked(run)?.get(run).cloned())
    }
}

impl MemoryBackupStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces a stored artifact's bytes without updating its manifest (to test tamper checks).
    pub fn tamper(&self, run: &RunId, bytes: Vec<u8>) {
        if let Ok(mut artifacts) = self.artifacts.locked(run)
            && let Some(entry) = artifacts.get_mut(run)
        {
            entry.0 = bytes;
        }
    }
}

#[async_trait]
impl BackupStore for MemoryBackupStore {
    async fn create(&self, head: &Backup) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let mut bytes = Vec::new();
        let lines = writer::Lines::header(head, &mut bytes, |_| Ok(()))?;
        Ok(Box::new(writer::MemorySink {
            artifacts: &self.artifacts,
            bytes,
            lines,
        }))
    }

    async fn create_streamed(
        &self,
        head: &Backup,
    ) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let mut bytes = Vec::new();
        let lines = writer::Lines::streamed_header(head, &mut bytes)?;
        Ok(Box::new(writer::MemorySink {
            artifacts: &self.artifacts,
            bytes,
            lines,
        }))
    }

    async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError> {
        let bytes = encode_backup(backup);
        let sha = sha256_hex(&bytes);
        self.artifacts
            .insert(backup.run.clone(), bytes, sha.clone())?;
        Ok(receipt(backup, sha, "memory".into()))
    }

    async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError> {
        let Some((bytes, expected)) = self.artifacts.entry(run)? else {
            return Ok(None);
        };
        let found = sha256_hex(&bytes);
        if found != expected {
            return Err(BackupError::Tampered {
                run: run.clone(),
                expected,
                found,
            });
        }
        let backup = decode_backup(run, &bytes)?;
        Ok(loaded(backup, found, "memory".into()))
    }

    async fn open_with(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        let Some((bytes, expected)) = self.artifacts.entry(run)? else {
            return Ok(None);
        };
        let parts = Box::new(reader::InMemory(Some(bytes)));
        BackupReader::open_with(run, expected, "memory".into(), parts, detail)
            .await
            .map(Some)
    }
}

/// Backups as files in a directory: `<run>.backup.jsonl` and `<run>.manifest.json`, mode 0600.
#[derive(Clone, Debug)]
pub struct DirBackupStore {
    dir: PathBuf,
}

impl DirBackupStore {
    /// Backups under `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirBackupStore { dir: dir.into() }
    }

    fn paths(&self, run: &RunId) -> Result<(PathBuf, PathBuf), BackupError> {
        let ok = !run.as_str().is_empty()
            && !run.as_str().starts_with('.')
            && run
                .as_str()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(BackupError::BadRunId(run.clone()));
        }
        Ok((
            self.dir.join(format!("{run}.backup.jsonl")),
            self.dir.join(format!("{run}.manifest.json")),
        ))
    }
}

impl DirBackupStore {
    /// The manifest of `run`'s backup; `None` if it has none (a backup without a manifest does
    /// not exist).
    fn manifest(&self, run: &RunId) -> Result<Option<Manifest>, BackupError> {
        let (_, manifest_path) = self.paths(run)?;
        let manifest_bytes = match std::fs::read(&manifest_path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", &manifest_path)(e)),
        };
        serde_json::from_slice(&manifest_bytes)
            .map(Some)
            .map_err(|e| BackupError::Malformed {
                run: run.clone(),
                detail: format!("manifest: {e}"),
            })
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.to_path_buf();
    move |source| BackupError::Io {
        action,
        path,
        source,
    }
}

/// Creates `dir` and any missing parent, each private to the owner (mode 0700 whatever the
/// umask, which only ever removes bits from a requested mode). A directory that already exists
/// keeps its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_private_dir(parent)?;
    }
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => {}
        // Created meanwhile by another process: fine, it is a directory.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        // "File exists" alone sends the reader looking for a directory that is there.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(std::io::Error::new(
                e.kind(),
                format!(
                    "{} exists and is not a directory: move it away or configure another path",
                    dir.display()
                ),
            ));
        }
        Err(e) => return Err(e),
    }
    set_mode(dir, 0o700)
}

/// Sets `path`'s permission bits exactly (a no-op off Unix).
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// Creates `path` anew for writing, private to the owner: mode 0600 whatever the umask. Every
/// caller writes a temporary file under a name known in advance, then renames or removes it:
/// whatever already has that name (a file a killed process left, or a link someone planted in
/// a directory others can write, which must never be followed) is removed first, the file is
/// created exclusively (never through a link), and its mode set through the open file.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Writes `bytes` to `path` through a temporary file, fsync and rename, so a reader sees either
/// the old file or the whole new one. Files are private to the owner (0600).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// [`write_atomically`] of what `write` writes into the (temporary) file: the file's contents
/// need not be in memory at once.
fn write_atomically_with<T>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<T>,
) -> Result<T, BackupError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = create_private_file(&tmp)?;
        let written = write(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Persist the rename itself.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(written)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io_error("write", path))
}

/// Bytes the directory preflight writes (and fsyncs, then removes): a directory with less free
/// space than this cannot hold a backup either.
const PREFLIGHT_PROBE_BYTES: usize = 64 * 1024;

#[async_trait]
impl BackupStore for DirBackupStore {
    /// The artifact file, when its manifest records `sha256` and its bytes, read through now,
    /// hash to it. Any failure to read it is `None`: the caller has the bytes elsewhere.
    async fn parts_hashing_to(
        &self,
        run: &RunId,
        sha256: &str,
    ) -> Option<(String, Box<dyn ArtifactParts>)> {
        use std::io::{Read, Seek};
        let (data_path, _) = self.paths(run).ok()?;
        if self.manifest(run).ok()??.sha256 != sha256 {
            return None;
        }
        let mut file = std::fs::File::open(&data_path).ok()?;
        let mut hasher = Sha256Hasher::new();
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(read) => hasher.update(chunk.get(..read)?),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        if hasher.finish().hex() != sha256 {
            return None;
        }
        file.rewind().ok()?;
        let location = data_path.display().to_string();
        let parts = reader::FileParts {
            file,
            path: data_path,
        };
        Some((location, Box::new(parts)))
    }

    async fn preflight(&self) -> Result<(), BackupError> {
        create_private_dir(&self.dir).map_err(io_error("create the directory for", &self.dir))?;
        let probe = self
            .dir
            .join(format!(".preflight-{}.probe", std::process::id()));
        let result = (|| {
            let mut file = create_private_file(&probe)?;
            file.write_all(&vec![0u8; PREFLIGHT_PROBE_BYTES])?;
            file.sync_all()
        })();
        let removed = std::fs::remove_file(&probe);
        result.map_err(io_error("write a probe", &probe))?;
        removed.map_err(io_error("remove the probe", &probe))
    }

    async fn create(&self, head: &Backup) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        Ok(Box::new(writer::DirSink::create(self, head, false)?))
    }

    async fn create_streamed(
        &self,
        head: &Backup,
    ) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        Ok(Box::new(writer::DirSink::create(self, head, true)?))
    }

    async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError> {
        let (data_path, manifest_path) = self.paths(&backup.run)?;
        create_private_dir(&self.dir).map_err(io_error("create the directory for", &self.dir))?;
        // Data first, manifest last: a backup without a manifest does not exist. The data is
        // written as it is encoded, a line at a time.
        let sha = write_atomically_with(&data_path, |file| {
            write_backup(backup, std::io::BufWriter::new(file))
        })?;
        let receipt = receipt(backup, sha.clone(), data_path.display().to_string());
        let manifest = Manifest {
            schema_version: backup.schema_version,
            run: backup.run.clone(),
            file: format!("{}.backup.jsonl", backup.run),
            sha256: sha,
            documents: receipt.documents,
            units: receipt.units,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        write_atomically(&manifest_path, &manifest_bytes)?;
        Ok(receipt)
    }

    async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError> {
        let (data_path, _) = self.paths(run)?;
        let Some(manifest) = self.manifest(run)? else {
            return Ok(None);
        };
        let (backup, found) = read_backup(run, &data_path, &manifest.sha256)?;
        Ok(loaded(backup, found, data_path.display().to_string()))
    }

    async fn open_with(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        let (data_path, _) = self.paths(run)?;
        let Some(manifest) = self.manifest(run)? else {
            return Ok(None);
        };
        let file = std::fs::File::open(&data_path).map_err(io_error("read", &data_path))?;
        let location = data_path.display().to_string();
        let parts = reader::FileParts {
            file,
            path: data_path,
        };
        BackupReader::open_with(run, manifest.sha256, location, Box::new(parts), detail)
            .await
            .map(Some)
    }
}

/// Backups journaled in the store itself ([`LiveExecutionAdapter::save_backup`]), so that a
/// rollback works from any host and any working directory, with a second store (e.g. a
/// [`DirBackupStore`]) as the export: every backup is written to both, the store first, and read
/// from the store, or from the export for a run journaled before backups were kept in the store
/// (such a reader says so, [`BackupReader::unjournaled`]: the backup phase never takes one for a
/// new backup, since it may be another store's run of the same id in a shared directory).
///
/// Writing the journal copy is a mutation, behind the kill switch like every other.
pub struct JournalBackupStore {
    adapter: Arc<dyn LiveExecutionAdapter>,
    export: Arc<dyn BackupStore>,
}

impl JournalBackupStore {
    /// Backups journaled through `adapter`, exported to `export`.
    pub fn new(adapter: Arc<dyn LiveExecutionAdapter>, export: Arc<dyn BackupStore>) -> Self {
        JournalBackupStore { adapter, export }
    }

    /// Part 0 of `run`'s journaled backup; `None` when the store holds none.
    async fn first_part(&self, run: &RunId) -> Result<Option<StoredBackup>, BackupError> {
        self.adapter
            .load_backup_part(run, 0)
            .await
            .map_err(|e| Self::journal_error(run, e))
    }

    /// The journal's copy of `run`'s backup from its `first` part, or the export where the
    /// journal has none (a run backed up before backups were journaled).
    async fn journal_or_export(
        &self,
        run: &RunId,
        first: Option<StoredBackup>,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        match first {
            Some(first) => self.reader(run, first, detail).await.map(Some),
            None => Ok(self
                .export
                .open_with(run, detail)
                .await?
                .map(BackupReader::read_from_export)),
        }
    }

    /// A reader of `run`'s journaled backup, whose part 0 is `first`: the store's rows are read
    /// one at a time as the reader needs them.
    async fn reader(
        &self,
        run: &RunId,
        first: StoredBackup,
        detail: HeaderDetail,
    ) -> Result<BackupReader, BackupError> {
        let parts = reader::JournalParts {
            adapter: Arc::clone(&self.adapter),
            run: run.clone(),
            first: Some(first.artifact),
            next: 1,
        };
        let location = "the store's journal".to_owned();
        BackupReader::open_with(run, first.sha256, location, Box::new(parts), detail).await
    }

    fn journal_error(run: &RunId, error: AdapterError) -> BackupError {
        BackupError::Journal {
            run: run.clone(),
            source: error,
        }
    }
}

impl std::fmt::Debug for JournalBackupStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalBackupStore")
            .field("adapter", &self.adapter.info())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BackupStore for JournalBackupStore {
    /// Journals the backup a part at a time, then seals it ([`BackupSink`]): its whole text is
    /// never built.
    async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError> {
        let mut sink = self.create(backup).await?;
        sink.write(&backup.documents).await?;
        sink.finish().await
    }

    async fn create(&self, head: &Backup) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let export = self.export.create(head).await?;
        let mut sink = writer::JournalSink {
            adapter: Arc::clone(&self.adapter),
            export,
            lines: writer::Lines::empty(&head.run),
            part: Vec::new(),
            seq: 0,
        };
        sink.header(head).await?;
        Ok(Box::new(sink))
    }

    async fn create_streamed(
        &self,
        head: &Backup,
    ) -> Result<Box<dyn BackupSink + '_>, BackupError> {
        let export = self.export.create_streamed(head).await?;
        let mut part = Vec::new();
        let lines = writer::Lines::streamed_header(head, &mut part)?;
        Ok(Box::new(writer::JournalSink {
            adapter: Arc::clone(&self.adapter),
            export,
            lines,
            part,
            seq: 0,
        }))
    }

    async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError> {
        let Some(first) = self.first_part(run).await? else {
            return self.export.load(run).await;
        };
        let reader = self.reader(run, first, HeaderDetail::Full).await?;
        let location = reader.location().to_owned();
        let (backup, found) = reader.into_backup().await?;
        Ok(loaded(backup, found, location))
    }

    /// Reads the journal's backup, or the export's bytes when they hash to the sha256 the
    /// journal sealed (checked before they are read, and again as they are: the proof is the
    /// same, the journal's sha256, whichever copy gives the bytes); on a million units each read
    /// of the journal cost seconds of the store's time.
    async fn open_with(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        let first = self.first_part(run).await?;
        if let Some(first) = &first
            && let Some((path, parts)) = self.export.parts_hashing_to(run, &first.sha256).await
        {
            let location = format!("the store's journal (its identical export, {path})");
            return BackupReader::open_with(run, first.sha256.clone(), location, parts, detail)
                .await
                .map(Some);
        }
        self.journal_or_export(run, first, detail).await
    }

    /// The journal's copy, never the export's: what [`load`](BackupStore::load) reads.
    async fn open_of_record(
        &self,
        run: &RunId,
        detail: HeaderDetail,
    ) -> Result<Option<BackupReader>, BackupError> {
        let first = self.first_part(run).await?;
        self.journal_or_export(run, first, detail).await
    }

    async fn preflight(&self) -> Result<(), BackupError> {
        self.export.preflight().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{Document, DocumentId, DocumentState, SCHEMA_VERSION};

    /// A directory store in a fresh temporary directory (removed when the first is dropped).
    fn dir_store() -> std::io::Result<(tempfile::TempDir, DirBackupStore)> {
        let dir = tempfile::tempdir()?;
        let store = DirBackupStore::new(dir.path());
        Ok((dir, store))
    }

    /// A directory path where a file is (a reports or backup directory configured over a
    /// file) said only "File exists (os error 17)" (adv47): the error names the path and what
    /// it is.
    #[test]
    fn a_file_where_the_directory_goes_is_named() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("reports");
        std::fs::write(&file, "not a directory")?;
        for path in [file.clone(), file.join("run")] {
            let Err(error) = create_private_dir(&path) else {
                panic!("{} was created", path.display());
            };
            let text = error.to_string();
            assert!(text.contains("is not a directory"), "{text}");
            assert!(text.contains(&file.display().to_string()), "{text}");
        }
        Ok(())
    }

    fn backup(run: &str) -> Backup {
        Backup {
            schema_version: SCHEMA_VERSION,
            run: RunId::new(run),
            census: Census::default(),
            mark: None,
            entries: None,
            documents: vec![DocumentSnapshot {
                document: Document {
                    id: DocumentId::new("law/1"),
                    revision: 3,
                    sha256: sha256_hex("Điều 1.\n".as_bytes()),
                    state: DocumentState::Ready,
                    active_generation: None,
                    body: "Điều 1.\n".into(),
                },
                generations: vec![],
                active_units: vec![],
            }],
        }
    }

    #[tokio::test]
    async fn dir_store_round_trips_and_refuses_tampered_bytes()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, store) = dir_store()?;
        let original = backup("run-1");
        let receipt = store.save(&original).await?;
        let (loaded, loaded_receipt) = store.load(&RunId::new("run-1")).await?.ok_or("missing")?;
        assert_eq!(loaded, original);
        assert_eq!(loaded_receipt.sha256, receipt.sha256);
        let opened = store.open(&RunId::new("run-1")).await?.ok_or("missing")?;
        assert_eq!(opened.into_backup().await?, (original, receipt.sha256));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("run-1.backup.jsonl"))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("run-1.backup.jsonl"), b"{}\n")?;
        let err = store
            .load(&RunId::new("run-1"))
            .await
            .err()
            .ok_or("tamper accepted")?;
        assert!(matches!(err, BackupError::Tampered { .. }), "{err}");
        let opened = store.open(&RunId::new("run-1")).await;
        assert!(
            matches!(opened, Err(BackupError::Tampered { .. })),
            "{opened:?}"
        );
        assert!(store.load(&RunId::new("other")).await?.is_none());
        assert!(store.open(&RunId::new("other")).await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn the_file_streamed_to_disk_is_the_encoded_artifact()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, store) = dir_store()?;
        let mut original = backup("run-s");
        let mut second = original.documents[0].clone();
        second.document.id = DocumentId::new("law/2");
        original.documents.push(second);
        let receipt = store.save(&original).await?;
        let bytes = std::fs::read(dir.path().join("run-s.backup.jsonl"))?;
        assert_eq!(bytes, encode_backup(&original));
        assert_eq!(receipt.sha256, sha256_hex(&bytes));
        assert_eq!(decode_backup(&original.run, &bytes)?, original);
        Ok(())
    }

    /// A process killed mid-backup leaves its attempt's temporary file (each attempt writes one
    /// of its own): the attempt that puts the run's backup in place removes those of the run,
    /// and only those.
    #[tokio::test]
    async fn a_finished_backup_removes_what_killed_attempts_left()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, store) = dir_store()?;
        let left = ["run-k.backup.4242.0.tmp", "run-k.backup.tmp"];
        let others = [
            "run-k2.backup.4242.0.tmp",
            "run-k.backup.x.tmp",
            "run-k.manifest.json.bak",
        ];
        for name in left.iter().chain(&others) {
            std::fs::write(dir.path().join(name), "killed mid-write")?;
        }
        let original = backup("run-k");
        let mut sink = store.create(&original).await?;
        sink.write(&original.documents).await?;
        sink.finish().await?;
        let mut found: Vec<String> = std::fs::read_dir(dir.path())?
            .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
            .collect();
        found.sort();
        let mut wanted: Vec<String> = others.iter().map(|s| s.to_string()).collect();
        wanted.extend([
            "run-k.backup.jsonl".to_owned(),
            "run-k.manifest.json".to_owned(),
        ]);
        wanted.sort();
        assert_eq!(found, wanted);
        Ok(())
    }

    /// A backup written by parts (two batches) is the artifact saved whole, byte for byte, in a
    /// file and in memory; a sink dropped unfinished leaves no backup and no temporary file.
    #[tokio::test]
    async fn a_backup_written_by_parts_is_the_backup_saved_whole()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let mut original = backup("run-p");
        for i in 2..5 {
            let mut another = original.documents[0].clone();
            another.document.id = DocumentId::new(format!("law/{i}"));
            original.documents.push(another);
        }
        let whole = encode_backup(&original);
        let memory = MemoryBackupStore::new();
        let stores: [&dyn BackupStore; 2] = [&DirBackupStore::new(dir.path()), &memory];
        for store in stores {
            let mut sink = store.create(&original).await?;
            sink.write(&original.documents[..1]).await?;
            sink.write(&original.documents[1..]).await?;
            assert!(
                store.open(&original.run).await?.is_none(),
                "not before finish"
            );
            let receipt = sink.finish().await?;
            assert_eq!(receipt.sha256, sha256_hex(&whole));
            assert_eq!((receipt.documents, receipt.units), (4, 0));
            let (loaded, _) = store.load(&original.run).await?.ok_or("missing")?;
            assert_eq!(loaded, original);
        }
        assert_eq!(std::fs::read(dir.path().join("run-p.backup.jsonl"))?, whole);

        let store = DirBackupStore::new(dir.path());
        let mut sink = store.create(&backup("run-q")).await?;
        sink.write(&original.documents).await?;
        drop(sink);
        assert!(store.open(&RunId::new("run-q")).await?.is_none());
        let left: Vec<_> = std::fs::read_dir(dir.path())?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("run-q"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        Ok(())
    }

    /// A store that implements only `save` and `load`: its sinks are the defaults.
    struct SavedWhole(MemoryBackupStore);

    #[async_trait]
    impl BackupStore for SavedWhole {
        async fn save(&self, backup: &Backup) -> Result<BackupReceipt, BackupError> {
            self.0.save(backup).await
        }

        async fn load(&self, run: &RunId) -> Result<Option<(Backup, BackupReceipt)>, BackupError> {
            self.0.load(run).await
        }
    }

    /// A backup of `lines` census lines' worth of documents and more (the last line not full),
    /// with its census's digests, and the census lines the backup phase would give of it.
    fn backup_with_census(run: &str) -> (Backup, Vec<BTreeMap<DocumentId, Sha256Digest>>) {
        let mut backup = backup(run);
        let mut census = iu_cutter_live_execution::CensusBuilder::new();
        for i in 0..(2 * CENSUS_LINE_DOCUMENTS + 3) {
            let id = DocumentId::new(format!("law/{i:05}"));
            census.add(id, Sha256Digest::of(&i.to_le_bytes()), 2);
        }
        backup.census = census.finish();
        backup.mark = Some(ChangeMark::new("test", 9));
        let digests: Vec<(DocumentId, Sha256Digest)> = backup
            .census
            .per_document
            .iter()
            .map(|(id, digest)| (id.clone(), *digest))
            .collect();
        let lines = digests
            .chunks(CENSUS_LINE_DOCUMENTS)
            .map(|line| line.iter().cloned().collect())
            .collect();
        (backup, lines)
    }

    /// `backup`'s head without its census's digests, as the backup phase holds it.
    fn summary_head(backup: &Backup) -> Backup {
        let mut head = backup.clone();
        head.census.per_document = BTreeMap::new();
        head.documents = Vec::new();
        head
    }

    /// A backup whose census lines follow its header a line at a time (`create_streamed`, the
    /// backup phase reading each line's digests just before it writes it, so that the scope's
    /// digests are never all held) is the artifact its whole census makes, byte for byte, in a
    /// file, in memory and through the default sink.
    #[tokio::test]
    async fn census_lines_given_a_line_at_a_time_make_the_artifact_of_the_whole_census()
    -> Result<(), Box<dyn std::error::Error>> {
        let (original, lines) = backup_with_census("run-c");
        assert_eq!(lines.len(), 3);
        let whole = encode_backup(&original);
        let head = summary_head(&original);
        let dir = tempfile::tempdir()?;
        let memory = MemoryBackupStore::new();
        let saved_whole = SavedWhole(MemoryBackupStore::new());
        let stores: [&dyn BackupStore; 3] =
            [&DirBackupStore::new(dir.path()), &memory, &saved_whole];
        for store in stores {
            let mut sink = store.create_streamed(&head).await?;
            for line in &lines {
                sink.census_line(line).await?;
            }
            sink.write(&original.documents).await?;
            let receipt = sink.finish().await?;
            assert_eq!(receipt.sha256, sha256_hex(&whole));
            let (loaded, _) = store.load(&original.run).await?.ok_or("missing")?;
            assert_eq!(loaded, original);
        }
        assert_eq!(std::fs::read(dir.path().join("run-c.backup.jsonl"))?, whole);
        Ok(())
    }

    /// A streamed backup's census lines must be those its header announced, all of them, before
    /// any document: a line of another size, out of order or more than announced, a document
    /// before them, or a finish without them, is refused, and no backup is left.
    #[tokio::test]
    async fn census_lines_other_than_announced_are_refused()
    -> Result<(), Box<dyn std::error::Error>> {
        let (original, lines) = backup_with_census("run-r");
        let head = summary_head(&original);
        let dir = tempfile::tempdir()?;
        let memory = MemoryBackupStore::new();
        let stores: [&dyn BackupStore; 2] = [&DirBackupStore::new(dir.path()), &memory];
        let short: BTreeMap<DocumentId, Sha256Digest> = lines[0]
            .iter()
            .take(5)
            .map(|(id, d)| (id.clone(), *d))
            .collect();
        let malformed = |result: Result<(), BackupError>| {
            assert!(
                matches!(result, Err(BackupError::Malformed { .. })),
                "{result:?}"
            );
        };
        for store in stores {
            let mut sink = store.create_streamed(&head).await?;
            malformed(sink.write(&original.documents).await);
            malformed(sink.census_line(&short).await);
            drop(sink);

            // Out of order: the second line's documents first, then the first's.
            let mut sink = store.create_streamed(&head).await?;
            sink.census_line(&lines[1]).await?;
            malformed(sink.census_line(&lines[0]).await);
            drop(sink);

            let mut sink = store.create_streamed(&head).await?;
            for line in &lines {
                sink.census_line(line).await?;
            }
            malformed(sink.census_line(&lines[2]).await);
            drop(sink);

            let mut sink = store.create_streamed(&head).await?;
            sink.census_line(&lines[0]).await?;
            assert!(matches!(
                sink.finish().await,
                Err(BackupError::Malformed { .. })
            ));
            assert!(store.open(&original.run).await?.is_none());
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_file_that_matches_its_manifest_but_does_not_parse_is_malformed()
    -> Result<(), Box<dyn std::error::Error>> {
        let (dir, store) = dir_store()?;
        store.save(&backup("run-m")).await?;
        // The header, then a line that is no snapshot, with a manifest to match.
        let good = std::fs::read(dir.path().join("run-m.backup.jsonl"))?;
        let header_end = good.iter().position(|b| *b == b'\n').ok_or("no header")? + 1;
        let mut bad = good[..header_end].to_vec();
        bad.extend_from_slice(b"not json\n");
        std::fs::write(dir.path().join("run-m.backup.jsonl"), &bad)?;
        let manifest_path = dir.path().join("run-m.manifest.json");
        let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_path)?)?;
        manifest.sha256 = sha256_hex(&bad);
        std::fs::write(&manifest_path, serde_json::to_vec(&manifest)?)?;
        let err = store
            .load(&RunId::new("run-m"))
            .await
            .err()
            .ok_or("malformed accepted")?;
        assert!(
            matches!(&err, BackupError::Malformed { detail, .. } if detail.starts_with("line 2")),
            "{err}"
        );
        Ok(())
    }

    #[tokio::test]
    async fn dir_store_reports_an_unwritable_directory() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x")?;
        let store = DirBackupStore::new(&file);
        let err = store
            .save(&backup("run-2"))
            .await
            .err()
            .ok_or("write into a file accepted")?;
        assert!(matches!(err, BackupError::Io { .. }));
        assert!(err.to_string().contains("writable"), "{err}");
        Ok(())
    }

    #[tokio::test]
    async fn run_ids_cannot_escape_the_directory() {
        let store = DirBackupStore::new("/tmp");
        let result = store.save(&backup("../etc")).await;
        assert!(matches!(result, Err(BackupError::BadRunId(_))));
    }

    #[tokio::test]
    async fn memory_store_detects_tampering() -> Result<(), Box<dyn std::error::Error>> {
        let store = MemoryBackupStore::new();
        store.save(&backup("r")).await?;
        store.tamper(&RunId::new("r"), b"{}".to_vec());
        assert!(matches!(
            store.load(&RunId::new("r")).await,
            Err(BackupError::Tampered { .. })
        ));
        Ok(())
    }
}
