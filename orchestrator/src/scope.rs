//! Whether a scope names documents, checked by every front end before it starts a run: the
//! command line and the server refuse the same scopes, with their own words for what to do.

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

fn quoted(ids: &[DocumentId]) -> String {
    let names: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
    names.join(", ")
}

/// Refuses a scope that names no document in `store`, or ids that are not in it.
pub async fn require_documents(
    store: &dyn LiveExecutionAdapter,
    scope: &Scope,
) -> Result<(), ScopeError> {
    let documents = store.load_scope(scope).await?;
    if let Scope::Ids(ids) = scope {
        let missing: Vec<DocumentId> = ids
            .iter()
            .filter(|id| !documents.iter().any(|d| &d.id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ScopeError::Missing(missing));
        }
    }
    if documents.is_empty() {
        return Err(ScopeError::Empty);
    }
    Ok(())
}
