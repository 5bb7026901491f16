//! The contract's refusals, worded once: every store (the SQL stores and the simulator) builds
//! its `NotFound` and `Conflict` errors for documents, runs and fences here (the compare-and-set
//! rules themselves are in [`crate::ownership`]), so that the same refusal reads the same on
//! every backend (the contract suite compares them).

use crate::domain::{DocumentId, DocumentState, RunId};
use crate::error::AdapterError;

/// A document's revision and sha256, as conflicts show them.
pub fn describe_revision(revision: u64, sha256: &str) -> String {
    format!("revision {revision}, sha256 {sha256}")
}

/// A document's state, as conflicts show it.
pub fn describe_state(state: &DocumentState) -> String {
    match state {
        DocumentState::Ready => "ready (not fenced)".to_owned(),
        DocumentState::Cutting { run } => format!("fenced by run `{run}`"),
        DocumentState::Cut => "cut (not fenced)".to_owned(),
    }
}

/// The run is not in the journal.
pub fn run_not_found(run: &RunId) -> AdapterError {
    AdapterError::NotFound(format!("run `{run}` is not in the journal"))
}

/// The document is not in the store.
pub fn document_not_found(document: &DocumentId) -> AdapterError {
    AdapterError::NotFound(format!("document `{document}`"))
}

/// A second, different backup offered for a run that has one.
pub fn backup_conflict(run: &RunId, journaled: &str, offered: &str) -> AdapterError {
    AdapterError::Invalid(format!(
        "run `{run}` already journaled a different backup (sha256 {journaled}, offered \
         {offered}); a run has one backup: roll back and start a new run"
    ))
}
