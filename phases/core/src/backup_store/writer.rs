//! A backup written by parts: its header, then its documents a batch at a time, hashed and
//! counted as they are encoded, so that neither the backup nor its artifact is ever whole in
//! memory. Nothing is the run's backup until the sink is finished.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use std::collections::BTreeMap;

use iu_cutter_live_execution::{
    Backup, DocumentId, DocumentSnapshot, Journal, LiveExecutionAdapter, RunId, Sha256Digest,
    Sha256Hasher,
};

use super::{
    BackupError, BackupReceipt, BackupStore, CENSUS_LINE_DOCUMENTS, DirBackupStore, Manifest,
    census_line_of, create_private_file, head_lines, io_error, streamed_header, write_atomically,
};

/// Writes one backup by parts ([`BackupStore::create`]).
#[async_trait]
pub trait BackupSink: Send {
    /// Appends `documents`, the backup's next ones (in id order, as the backup phase reads them).
    async fn write(&mut self, documents: &[DocumentSnapshot]) -> Result<(), BackupError>;

    /// Appends the next census line, the digests of the census's next documents in id order
    /// ([`CENSUS_LINE_DOCUMENTS`] of them, fewer only on the last line), to a sink created by
    /// [`BackupStore::create_streamed`], before any document. A line the header did not
    /// announce, or of another size, is refused ([`BackupError::Malformed`]).
    async fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
    ) -> Result<(), BackupError>;

    /// Ends the artifact and makes it the run's backup, all or nothing; its receipt. A sink
    /// dropped unfinished leaves no backup.
    async fn finish(self: Box<Self>) -> Result<BackupReceipt, BackupError>;

    /// Gives the artifact up: what the sink, or an earlier attempt at the run's backup, stored
    /// of it ahead of a seal (as a journal's parts) is dropped, so that no part of a backup
    /// never taken is kept. Dropping a sink only
    /// leaves no backup.
    async fn abandon(self: Box<Self>) -> Result<(), BackupError> {
        Ok(())
    }
}

/// The artifact's lines as they are encoded ([`encode_backup`](super::encode_backup)'s bytes, a
/// line at a time), hashed and counted.
pub(crate) struct Lines {
    run: RunId,
    hasher: Sha256Hasher,
    documents: u64,
    units: u64,
    /// Documents whose census digests the header announced and no census line gave yet (a
    /// header written with its census lines owes none).
    census_due: u64,
    /// The last document a given census line ended with.
    census_last: Option<DocumentId>,
}

impl Lines {
    /// Starts `head`'s artifact: its header line, then its census lines, each appended to
    /// `out` and handed to `flush` (which may take the bytes), so that the census never sits in
    /// `out` whole.
    pub(crate) fn header(
        head: &Backup,
        out: &mut Vec<u8>,
        mut flush: impl FnMut(&mut Vec<u8>) -> Result<(), BackupError>,
    ) -> Result<Self, BackupError> {
        let mut lines = Lines::empty(&head.run);
        for line in head_lines(head) {
            lines.line(&line, out)?;
            flush(out)?;
        }
        Ok(lines)
    }

    /// Starts `head`'s artifact with its header line alone, announcing the census lines of
    /// `head.census.documents` documents, which [`census_line`](Self::census_line) appends.
    pub(crate) fn streamed_header(head: &Backup, out: &mut Vec<u8>) -> Result<Self, BackupError> {
        let mut lines = Lines::empty(&head.run);
        lines.line(&streamed_header(head), out)?;
        lines.census_due = head.census.documents;
        Ok(lines)
    }

    /// Appends one census line of `digests` to `out`: the next [`CENSUS_LINE_DOCUMENTS`] of the
    /// documents announced (fewer only on the last), after the last line's, so that the lines
    /// are those [`head_lines`] writes for the whole census.
    pub(crate) fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
        out: &mut Vec<u8>,
    ) -> Result<(), BackupError> {
        let due = usize::try_from(self.census_due).unwrap_or(usize::MAX);
        let in_order = match (&self.census_last, digests.first_key_value()) {
            (Some(last), Some((first, _))) => last < first,
            _ => true,
        };
        if digests.is_empty() || digests.len() != due.min(CENSUS_LINE_DOCUMENTS) || !in_order {
            return Err(BackupError::Malformed {
                run: self.run.clone(),
                detail: format!(
                    "a census line of {} document(s) given where the header announced {} more                      (at most {CENSUS_LINE_DOCUMENTS} a line, all but the last full, in id                      order)",
                    digests.len(),
                    self.census_due
                ),
            });
        }
        self.line(&census_line_of(digests), out)?;
        self.census_due -= digests.len() as u64;
        self.census_last = digests.last_key_value().map(|(id, _)| id.clone());
        Ok(())
    }

    /// Refuses to go past the census lines while the header announced more.
    fn census_given(&self) -> Result<(), BackupError> {
        if self.census_due == 0 {
            return Ok(());
        }
        Err(BackupError::Malformed {
            run: self.run.clone(),
            detail: format!(
                "the census lines of {} document(s) the header announced were not given",
                self.census_due
            ),
        })
    }

    /// Appends one line per document to `out`.
    pub(crate) fn documents(
        &mut self,
        documents: &[DocumentSnapshot],
        out: &mut Vec<u8>,
    ) -> Result<(), BackupError> {
        self.census_given()?;
        for snapshot in documents {
            self.line(snapshot, out)?;
            self.documents += 1;
            self.units += snapshot.active_units.len() as u64;
        }
        Ok(())
    }

    pub(crate) fn line(
        &mut self,
        value: &impl serde::Serialize,
        out: &mut Vec<u8>,
    ) -> Result<(), BackupError> {
        let from = out.len();
        serde_json::to_writer(&mut *out, value).map_err(|e| BackupError::Malformed {
            run: self.run.clone(),
            detail: format!("cannot encode: {e}"),
        })?;
        out.push(b'\n');
        self.hasher.update(&out[from..]);
        Ok(())
    }

    /// The receipt of the artifact encoded so far, at `location`; refused while census lines
    /// the header announced are missing.
    pub(crate) fn receipt(self, location: String) -> Result<BackupReceipt, BackupError> {
        self.census_given()?;
        Ok(BackupReceipt {
            sha256: self.hasher.finish().hex(),
            location,
            documents: self.documents,
            units: self.units,
        })
    }
}

/// The default sink: collects the documents and saves the backup whole.
pub(crate) struct Collect<'s, S: ?Sized> {
    pub(crate) store: &'s S,
    pub(crate) backup: Backup,
}

#[async_trait]
impl<S: BackupStore + ?Sized> BackupSink for Collect<'_, S> {
    async fn write(&mut self, documents: &[DocumentSnapshot]) -> Result<(), BackupError> {
        self.backup.documents.extend_from_slice(documents);
        Ok(())
    }

    async fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
    ) -> Result<(), BackupError> {
        let digests = digests.iter().map(|(id, d)| (id.clone(), *d));
        self.backup.census.per_document.extend(digests);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<BackupReceipt, BackupError> {
        self.store.save(&self.backup).await
    }
}

/// A [`MemoryBackupStore`](super::MemoryBackupStore)'s sink: the bytes, stored on finish.
pub(crate) struct MemorySink<'s> {
    pub(crate) artifacts: &'s super::MemoryArtifacts,
    pub(crate) bytes: Vec<u8>,
    pub(crate) lines: Lines,
}

#[async_trait]
impl BackupSink for MemorySink<'_> {
    async fn write(&mut self, documents: &[DocumentSnapshot]) -> Result<(), BackupError> {
        self.lines.documents(documents, &mut self.bytes)
    }

    async fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
    ) -> Result<(), BackupError> {
        self.lines.census_line(digests, &mut self.bytes)
    }

    async fn finish(self: Box<Self>) -> Result<BackupReceipt, BackupError> {
        let run = self.lines.run.clone();
        let receipt = self.lines.receipt("memory".into())?;
        self.artifacts
            .insert(run, self.bytes, receipt.sha256.clone())?;
        Ok(receipt)
    }
}

/// A [`DirBackupStore`]'s sink: the lines go to a temporary file as they are encoded; finishing
/// syncs it, renames it into place, then writes the manifest (a backup without a manifest does
/// not exist). Dropped unfinished, it removes the temporary file.
pub(crate) struct DirSink {
    pub(crate) store: DirBackupStore,
    pub(crate) schema_version: u32,
    pub(crate) data_path: PathBuf,
    pub(crate) tmp: PathBuf,
    pub(crate) file: Option<std::io::BufWriter<std::fs::File>>,
    pub(crate) lines: Lines,
    pub(crate) buffer: Vec<u8>,
}

impl DirSink {
    /// Opens the temporary file of `head`'s backup in `store` and writes its header (with its
    /// census lines, or announcing them where they are `streamed`).
    pub(crate) fn create(
        store: &DirBackupStore,
        head: &Backup,
        streamed: bool,
    ) -> Result<Self, BackupError> {
        let (data_path, _) = store.paths(&head.run)?;
        super::create_private_dir(&store.dir)
            .map_err(io_error("create the directory for", &store.dir))?;
        let tmp = attempt_path(&data_path);
        let file = create_private_file(&tmp).map_err(io_error("write", &data_path))?;
        let mut sink = DirSink {
            store: store.clone(),
            schema_version: head.schema_version,
            data_path,
            tmp,
            file: Some(std::io::BufWriter::new(file)),
            lines: Lines::empty(&head.run),
            buffer: Vec::new(),
        };
        if streamed {
            sink.lines = Lines::streamed_header(head, &mut sink.buffer)?;
            sink.flush_buffer()?;
            return Ok(sink);
        }
        let mut buffer = Vec::new();
        sink.lines = Lines::header(head, &mut buffer, |line| {
            sink.buffer = std::mem::take(line);
            sink.flush_buffer()
        })?;
        Ok(sink)
    }

    fn flush_buffer(&mut self) -> Result<(), BackupError> {
        if let Some(file) = &mut self.file {
            file.write_all(&self.buffer)
                .map_err(io_error("write", &self.data_path))?;
        }
        self.buffer.clear();
        Ok(())
    }

    /// Removes what other attempts at this run's backup left in the directory (a process killed
    /// mid-backup leaves its temporary file): once this attempt's backup is in place, none of
    /// them can become it (under a journal, their seal is refused first). Best effort: a file
    /// that cannot be removed is only left behind.
    fn remove_other_attempts(&self) {
        let Some(name) = self.data_path.file_stem().and_then(|s| s.to_str()) else {
            return;
        };
        // `RUN.backup` of `RUN.backup.jsonl`: attempts are `RUN.backup.PID.N.tmp` (and, before
        // they had names of their own, `RUN.backup.tmp`).
        let prefix = format!("{name}.");
        let Ok(entries) = std::fs::read_dir(&self.store.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let file = entry.file_name();
            let Some(file) = file.to_str() else {
                continue;
            };
            let attempt = file
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("tmp"))
                .is_some_and(|middle| {
                    middle.is_empty() || middle.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                });
            if attempt {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Syncs the temporary file and renames it into place (and persists the rename).
    fn commit(&mut self) -> std::io::Result<()> {
        if let Some(file) = self.file.take() {
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.tmp, &self.data_path)?;
            let dir = self.data_path.parent().unwrap_or(std::path::Path::new("."));
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// The temporary file of one attempt at the backup at `path`: named by this process and a count,
/// so that no other attempt at the same run's backup writes into it. A runner that lost its lease
/// mid-backup (a zombie) and the runner that took the run over both write one; sharing a name,
/// the new holder truncated and renamed the zombie's file into place, and the zombie's last lines
/// landed in the new holder's backup.
fn attempt_path(path: &std::path::Path) -> PathBuf {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let attempt = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    path.with_extension(format!("{}.{attempt}.tmp", std::process::id()))
}

impl Drop for DirSink {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Unfinished (or failed): no backup, and no temporary file left behind.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[async_trait]
impl BackupSink for DirSink {
    async fn write(&mut self, documents: &[DocumentSnapshot]) -> Result<(), BackupError> {
        self.lines.documents(documents, &mut self.buffer)?;
        self.flush_buffer()
    }

    async fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
    ) -> Result<(), BackupError> {
        self.lines.census_line(digests, &mut self.buffer)?;
        self.flush_buffer()
    }

    async fn finish(mut self: Box<Self>) -> Result<BackupReceipt, BackupError> {
        // Before the file is put in place (dropped, the sink removes it).
        self.lines.census_given()?;
        if let Err(e) = self.commit() {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(io_error("write", &self.data_path)(e));
        }
        let run = self.lines.run.clone();
        let (_, manifest_path) = self.store.paths(&run)?;
        let location = self.data_path.display().to_string();
        let lines = std::mem::replace(&mut self.lines, Lines::empty(&run));
        let receipt = lines.receipt(location)?;
        let manifest = Manifest {
            schema_version: self.schema_version,
            run: run.clone(),
            file: format!("{run}.backup.jsonl"),
            sha256: receipt.sha256.clone(),
            documents: receipt.documents,
            units: receipt.units,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        write_atomically(&manifest_path, &manifest_bytes)?;
        self.remove_other_attempts();
        Ok(receipt)
    }
}

impl Lines {
    /// Lines of nothing, of `run`'s artifact (what a finished sink keeps).
    pub(crate) fn empty(run: &RunId) -> Self {
        Lines {
            run: run.clone(),
            hasher: Sha256Hasher::new(),
            documents: 0,
            units: 0,
            census_due: 0,
            census_last: None,
        }
    }
}

/// Bytes of a part the [`JournalBackupStore`](super::JournalBackupStore) journals (about: a part
/// ends after the line that reaches it).
pub(crate) const JOURNAL_PART_BYTES: usize = 4 << 20;

/// A [`JournalBackupStore`](super::JournalBackupStore)'s sink: the lines go to the store a part
/// (a few megabytes of whole lines) at a time, and to the export's sink; finishing journals the
/// last part, seals the backup in the store, then finishes the export (the store first, as
/// when a backup was saved whole).
pub(crate) struct JournalSink<'s> {
    pub(crate) adapter: Arc<dyn LiveExecutionAdapter>,
    pub(crate) export: Box<dyn BackupSink + 's>,
    pub(crate) lines: Lines,
    pub(crate) part: Vec<u8>,
    pub(crate) seq: u64,
}

impl JournalSink<'_> {
    /// Starts `head`'s artifact: its header and census lines, journaled a part at a time as
    /// they are encoded.
    pub(crate) async fn header(&mut self, head: &Backup) -> Result<(), BackupError> {
        for line in head_lines(head) {
            self.lines.line(&line, &mut self.part)?;
            if self.part.len() >= JOURNAL_PART_BYTES {
                self.journal_part().await?;
            }
        }
        Ok(())
    }

    async fn journal_part(&mut self) -> Result<(), BackupError> {
        let run = self.lines.run.clone();
        let part = String::from_utf8(std::mem::take(&mut self.part)).map_err(|e| {
            BackupError::Malformed {
                run: run.clone(),
                detail: format!("not UTF-8: {e}"),
            }
        })?;
        self.adapter
            .save_backup_part(&run, self.seq, &part)
            .await
            .map_err(|source| BackupError::Journal { run, source })?;
        self.seq += 1;
        Ok(())
    }
}

#[async_trait]
impl BackupSink for JournalSink<'_> {
    async fn write(&mut self, documents: &[DocumentSnapshot]) -> Result<(), BackupError> {
        self.lines.documents(documents, &mut self.part)?;
        if self.part.len() >= JOURNAL_PART_BYTES {
            self.journal_part().await?;
        }
        self.export.write(documents).await
    }

    async fn census_line(
        &mut self,
        digests: &BTreeMap<DocumentId, Sha256Digest>,
    ) -> Result<(), BackupError> {
        self.lines.census_line(digests, &mut self.part)?;
        if self.part.len() >= JOURNAL_PART_BYTES {
            self.journal_part().await?;
        }
        self.export.census_line(digests).await
    }

    /// Drops every unsealed part of the run, not only this sink's: an attempt resumed after a
    /// crash and refused before journaling a part of its own would leave the crashed one's.
    async fn abandon(self: Box<Self>) -> Result<(), BackupError> {
        let run = self.lines.run.clone();
        self.adapter
            .discard_backup_parts(&run)
            .await
            .map(|_dropped| ())
            .map_err(|source| BackupError::Journal { run, source })
    }

    async fn finish(mut self: Box<Self>) -> Result<BackupReceipt, BackupError> {
        if !self.part.is_empty() || self.seq == 0 {
            self.journal_part().await?;
        }
        let run = self.lines.run.clone();
        let lines = std::mem::replace(&mut self.lines, Lines::empty(&run));
        let receipt = lines.receipt("the store's journal".into())?;
        self.adapter
            .seal_backup(&run, self.seq, &receipt.sha256)
            .await
            .map_err(|source| BackupError::Journal {
                run: run.clone(),
                source,
            })?;
        let exported = self.export.finish().await?;
        if exported.sha256 != receipt.sha256 {
            return Err(BackupError::Tampered {
                run,
                expected: receipt.sha256,
                found: exported.sha256,
            });
        }
        Ok(BackupReceipt {
            location: format!("the store's journal, exported to {}", exported.location),
            ..receipt
        })
    }
}
