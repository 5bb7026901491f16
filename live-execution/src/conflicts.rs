//! The contract's refusals, worded once: every store (the SQL stores and the simulator) builds
//! its `NotFound` and `Conflict` errors for documents, runs and fences here, so that the same
//! refusal reads the same on every backend (the contract suite compares them).

use crate::domain::{DocumentId, DocumentState, ExpectedRevision, RunId};
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

/// Whether `run` may fence the document now at `revision`/`sha256` in `state`, as `expected`:
/// the revision and sha256 must be the expected ones, and no other run may hold the fence.
pub fn check_fence(
    run: &RunId,
    expected: &ExpectedRevision,
    revision: u64,
    sha256: &str,
    state: &DocumentState,
) -> Result<(), AdapterError> {
    if revision != expected.revision || sha256 != expected.sha256 {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: describe_revision(expected.revision, &expected.sha256),
            found: describe_revision(revision, sha256),
        });
    }
    if let DocumentState::Cutting { run: holder } = state
        && holder != run
    {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: format!("not fenced by another run (to be fenced by run `{run}`)"),
            found: format!("fenced by run `{holder}`"),
        });
    }
    Ok(())
}
