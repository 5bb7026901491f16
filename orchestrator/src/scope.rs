//! Whether a scope names documents, checked by every front end before it starts a run: the
//! command line and the server refuse the same scopes, with their own words for what to do.

use std::collections::BTreeSet;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{AdapterError, DocumentId, LiveExecutionAdapter, Scope};

/// Why a scope is refused before a run starts.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    /// The scope names ids the store does not hold.
    #[error("no document {} in the store", quoted(.0))]
    Missing(Vec<DocumentId>),
    /// The scope names no document at all: a mistyped prefix must not pass on nothing.
    #[error("no document in scope")]
    Empty,
    /// The store could not be read.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
}

/// How many missing ids [`ScopeError::Missing`] names before "and N more".
const IDS_NAMED: usize = 10;

/// The first [`IDS_NAMED`] of `ids`, quoted, and how many more: a request naming fifty thousand
/// missing ids was answered with all of them.
fn quoted(ids: &[DocumentId]) -> String {
    let names: Vec<String> = ids
        .iter()
        .take(IDS_NAMED)
        .map(|id| format!("`{id}`"))
        .collect();
    match ids.len().saturating_sub(IDS_NAMED) {
        0 => names.join(", "),
        more => format!("{} and {more} more", names.join(", ")),
    }
}

/// Refuses a scope that names no document in `store`, or ids that are not in it.
pub async fn require_documents(
    store: &dyn LiveExecutionAdapter,
    scope: &Scope,
) -> Result<(), ScopeError> {
    // Heads, not documents: the bodies are not needed, and a scope may be the whole store.
    let heads = store.load_heads(scope).await?;
    if let Scope::Ids(ids) = scope {
        // A set: a list of many ids (a request body may hold a million) checked one by one
        // against every head took their product in comparisons.
        let held: BTreeSet<&DocumentId> = heads.iter().map(|h| &h.id).collect();
        let missing: Vec<DocumentId> = ids
            .iter()
            .filter(|id| !held.contains(id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ScopeError::Missing(missing));
        }
    }
    if heads.is_empty() {
        return Err(ScopeError::Empty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_missing_ids_are_named_up_to_ten_then_counted() {
        let ids: Vec<DocumentId> = (0..12).map(|i| DocumentId::new(format!("d{i}"))).collect();
        let text = ScopeError::Missing(ids).to_string();
        assert!(text.starts_with("no document `d0`, `d1`"), "{text}");
        assert!(text.ends_with("`d9` and 2 more in the store"), "{text}");
        let one = ScopeError::Missing(vec![DocumentId::new("a")]).to_string();
        assert_eq!(one, "no document `a` in the store");
    }
}
