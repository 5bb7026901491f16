//! The contract's refusals, worded once: every store (the SQL stores and the simulator) builds
//! its `NotFound` and `Conflict` errors for documents, runs and fences here (the compare-and-set
//! rules themselves are in [`crate::ownership`]), so that the same refusal reads the same on
//! every backend (the contract suite compares them).

use crate::domain::{DocumentId, DocumentState, RunId, Unit, utc_millis};
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

/// A page (of active units, of document heads) asked for with no room for a row: it could never
/// make progress.
pub fn empty_page() -> AdapterError {
    AdapterError::Invalid("a page needs a limit of at least 1".to_owned())
}

/// A page of active units asked to continue `cursor`'s document in its generation, while the
/// document's active generation is now `active` (it was enacted or rolled back between two
/// pages): continuing would stitch two generations of one document together.
pub fn page_moved(cursor: &crate::domain::UnitCursor, active: Option<&RunId>) -> AdapterError {
    AdapterError::Conflict {
        document: cursor.document.clone(),
        expected: format!("active generation `{}`", cursor.generation),
        found: match active {
            Some(active) => format!("active generation `{active}`"),
            None => "no active generation".to_owned(),
        },
    }
}

/// A second, different backup offered for a run that has one.
pub fn backup_conflict(run: &RunId, journaled: &str, offered: &str) -> AdapterError {
    AdapterError::Invalid(format!(
        "run `{run}` already journaled a different backup (sha256 {journaled}, offered \
         {offered}); a run has one backup: roll back and start a new run"
    ))
}

/// Another plan (or part of one) offered for `run` than the one it sealed: a run's plan never
/// changes.
pub fn plan_conflict(run: &RunId, journaled: &str, offered: &str) -> AdapterError {
    AdapterError::Invalid(format!(
        "run `{run}` already journaled a different plan (sha256 {journaled}, offered \
         {offered}); a run's plan never changes: roll back and start a new run"
    ))
}

/// A unit offered to `run`'s write that belongs to another generation: a run writes only its own.
pub fn foreign_unit(run: &RunId, unit: &Unit) -> AdapterError {
    AdapterError::Invalid(format!(
        "unit {} of document `{}` belongs to generation `{}`, but run `{run}` may only write its \
         own generation",
        unit.ordinal, unit.document, unit.generation
    ))
}

/// A write by `run` to `document`, which is `state` instead of fenced by `run`.
pub fn fence_lost(run: &RunId, document: &DocumentId, state: &DocumentState) -> AdapterError {
    AdapterError::Conflict {
        document: document.clone(),
        expected: format!("fenced by run `{run}`"),
        found: format!("{} (fence lost)", describe_state(state)),
    }
}

/// The refusal of a call that needs `holder`'s live lease on `run` ([`AdapterError::LeaseLost`]),
/// or `None` when it holds one: `lease` is the run's lease as stored (its holder and expiry in
/// store-clock milliseconds), `now_ms` the store's clock.
pub fn lease_lost(
    run: &RunId,
    holder: &str,
    lease: Option<(&str, u64)>,
    now_ms: u64,
) -> Option<AdapterError> {
    let found = match lease {
        None => "no lease".to_owned(),
        Some((current, _)) if current != holder => format!("leased by `{current}`"),
        Some((_, expires_at_ms)) if expires_at_ms <= now_ms => {
            format!("the lease expired at {}", utc_millis(expires_at_ms))
        }
        Some(_) => return None,
    };
    Some(AdapterError::LeaseLost {
        run: run.clone(),
        holder: holder.to_owned(),
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_needs_the_holders_unexpired_lease() {
        let run = RunId::new("r1");
        let found = |lease, now_ms| match lease_lost(&run, "me", lease, now_ms) {
            Some(AdapterError::LeaseLost { run, holder, found }) => {
                assert_eq!((run.as_str(), holder.as_str()), ("r1", "me"));
                Some(found)
            }
            Some(other) => Some(format!("another error: {other}")),
            None => None,
        };
        assert_eq!(found(Some(("me", 1_001)), 1_000), None);
        assert_eq!(found(None, 1_000).as_deref(), Some("no lease"));
        assert_eq!(
            found(Some(("you", 1_001)), 1_000).as_deref(),
            Some("leased by `you`")
        );
        assert_eq!(
            found(Some(("me", 1_000)), 1_000).as_deref(),
            Some("the lease expired at 1970-01-01T00:00:01.000Z")
        );
    }
}
