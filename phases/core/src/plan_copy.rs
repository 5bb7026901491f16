//! A local copy of a run's sealed plan, kept by one invocation of the run: the phases after the
//! plan read it about five times (leg-b-record and lifecycle-enact twice each, write-verify once),
//! and on a large plan each read of the store's journal costs seconds of the store's time. The
//! first read from the journal writes each part to an unnamed temporary file as it is read; once
//! that read hashed to the sealed sha256, the copy stands for the journal for the rest of the
//! invocation, each part compared with the digest its journal read had before it is given.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex, PoisonError};

use iu_cutter_live_execution::{RunId, Sha256Digest, Sha256Hasher};

/// Where a part of the copy is, and the digest of its bytes as the journal gave them.
#[derive(Debug, Clone, Copy)]
struct CopiedPart {
    offset: u64,
    len: usize,
    digest: Sha256Digest,
}

/// The parts of a sealed plan (1 to n; the head is always read from the journal), as read from the
/// journal by a read that hashed to the plan's sha256.
#[derive(Debug)]
pub(crate) struct PlanCopy {
    run: RunId,
    sha256: String,
    /// An unlinked temporary file ([`unnamed_file`]): removed by the system once dropped.
    file: Mutex<std::fs::File>,
    parts: Vec<CopiedPart>,
}

/// Why a part of the copy was not given.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CopyError {
    #[error("it could not be read back ({0})")]
    Unreadable(#[from] std::io::Error),
    #[error("its bytes are no longer those the journal gave (changed outside iu-cutter)")]
    Changed,
}

impl PlanCopy {
    /// Whether this copy is of `run`'s plan sealed with `sha256`.
    pub(crate) fn is_of(&self, run: &RunId, sha256: &str) -> bool {
        self.run == *run && self.sha256 == sha256
    }

    /// How many parts (after the head) the plan has.
    pub(crate) fn parts(&self) -> usize {
        self.parts.len()
    }

    /// The length in bytes of part `index + 1` of the copy (0 past the last).
    pub(crate) fn part_len(&self, index: usize) -> usize {
        self.parts.get(index).map_or(0, |part| part.len)
    }

    /// The text of part `index + 1` (`index` from 0), once its bytes are proven the ones the
    /// journal gave.
    pub(crate) fn part(&self, index: usize) -> Result<Option<String>, CopyError> {
        let Some(part) = self.parts.get(index).copied() else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; part.len];
        {
            let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
            file.seek(SeekFrom::Start(part.offset))?;
            file.read_exact(&mut bytes)?;
        }
        let mut hasher = Sha256Hasher::new();
        hasher.update(&bytes);
        if hasher.finish() != part.digest {
            return Err(CopyError::Changed);
        }
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CopyError::Changed)
    }
}

/// A copy being written by a read of the journal: given each part as it is read, published into
/// its slot once the read hashed to the sealed sha256. Any failure to write abandons the copy
/// (the next reads go to the journal, as before): a copy is a saving, never a requirement.
#[derive(Debug)]
pub(crate) struct Recording {
    slot: PlanCopySlot,
    copy: PlanCopy,
    end: u64,
}

impl Recording {
    /// A copy of `run`'s plan sealed with `sha256`, for `slot`; `None` when no temporary file
    /// can be made.
    fn begin(slot: &PlanCopySlot, run: &RunId, sha256: &str) -> Option<Self> {
        let file = unnamed_file().ok()?;
        Some(Recording {
            slot: slot.clone(),
            copy: PlanCopy {
                run: run.clone(),
                sha256: sha256.to_owned(),
                file: Mutex::new(file),
                parts: Vec::new(),
            },
            end: 0,
        })
    }

    /// Appends the next part, `text`, as the journal gave it; `None` when it could not be
    /// written (the copy is abandoned).
    pub(crate) fn append(mut self, text: &str) -> Option<Self> {
        let mut hasher = Sha256Hasher::new();
        hasher.update(text.as_bytes());
        {
            let file = self
                .copy
                .file
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            file.write_all(text.as_bytes()).ok()?;
        }
        self.copy.parts.push(CopiedPart {
            offset: self.end,
            len: text.len(),
            digest: hasher.finish(),
        });
        self.end += text.len() as u64;
        Some(self)
    }

    /// Makes the copy the one its slot gives, the read of the journal that wrote it having
    /// hashed to the sealed sha256.
    pub(crate) fn publish(self) {
        let Recording { slot, mut copy, .. } = self;
        let file = copy.file.get_mut().unwrap_or_else(PoisonError::into_inner);
        if file.flush().is_err() {
            return;
        }
        *slot.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(copy));
    }
}

/// A new file in the system's temporary directory, private to the owner (mode 0600), already
/// unlinked where the system allows it (Unix: the system removes it once the invocation closes
/// it). Not `tempfile`: the runner's dependency tree is kept small.
fn unnamed_file() -> std::io::Result<std::fs::File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut last = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
    for _ in 0..16 {
        let name = format!(
            ".iu-cutter-plan-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let mut options = std::fs::OpenOptions::new();
        // Exclusive: never through a link someone planted under the name.
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(file) => {
                // Removed now on Unix; elsewhere an open file may not be (it is then left).
                let _ = std::fs::remove_file(&path);
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Where one invocation keeps its copy of the run's sealed plan (none until a read of the journal
/// made one).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanCopySlot(Arc<Mutex<Option<Arc<PlanCopy>>>>);

impl PlanCopySlot {
    /// The copy of `run`'s plan sealed with `sha256`, if one was made.
    pub(crate) fn copy_of(&self, run: &RunId, sha256: &str) -> Option<Arc<PlanCopy>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .filter(|copy| copy.is_of(run, sha256))
            .cloned()
    }

    /// Changes a byte of part `index + 1` of the copy, as a process that wrote to the file would.
    #[cfg(test)]
    pub(crate) fn tamper(&self, index: usize) -> std::io::Result<()> {
        let slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let copy = slot.as_ref().ok_or(std::io::ErrorKind::NotFound)?;
        let part = copy.parts.get(index).ok_or(std::io::ErrorKind::NotFound)?;
        let mut file = copy.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.seek(SeekFrom::Start(part.offset))?;
        let mut byte = [0u8];
        file.read_exact(&mut byte)?;
        file.seek(SeekFrom::Start(part.offset))?;
        file.write_all(&[byte[0] ^ 1])
    }

    /// Whether a copy was made.
    #[cfg(test)]
    pub(crate) fn holds_a_copy(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// A recording of a read of the journal of `run`'s plan sealed with `sha256`.
    pub(crate) fn record(&self, run: &RunId, sha256: &str) -> Option<Recording> {
        Recording::begin(self, run, sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copy's file reads back what was written, and leaves no name behind (Unix), so a
    /// killed invocation leaves nothing in the temporary directory.
    #[test]
    fn the_unnamed_file_reads_back_and_leaves_no_name() -> std::io::Result<()> {
        let mut file = unnamed_file()?;
        file.write_all(b"part")?;
        file.seek(SeekFrom::Start(0))?;
        let mut read = String::new();
        file.read_to_string(&mut read)?;
        assert_eq!(read, "part");
        #[cfg(unix)]
        {
            let ours = format!(".iu-cutter-plan-{}-", std::process::id());
            let left = std::fs::read_dir(std::env::temp_dir())?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
                .count();
            assert_eq!(left, 0);
        }
        Ok(())
    }
}
