//! What a scope names: the check that it names documents in the store, and how the command
//! line writes it (for `run`, `plan` and `status`).

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter, Scope};

use crate::cli::error::CliError;

/// Refuses a scope that names no document (a mistyped prefix must not "pass" on nothing), or
/// ids that are not in the store.
pub(crate) async fn require_documents(
    adapter: &dyn LiveExecutionAdapter,
    scope: &Scope,
    retry: &str,
) -> Result<(), CliError> {
    let documents = adapter
        .load_scope(scope)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the scope", retry))?;
    if let Scope::Ids(ids) = scope {
        let missing: Vec<&DocumentId> = ids
            .iter()
            .filter(|id| !documents.iter().any(|d| &d.id == *id))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|id| format!("`{id}`")).collect();
            return Err(CliError::bad_input(
                format!("no document {} in the store", names.join(", ")),
                "check the ids (`iu-cutter plan` lists the documents) or import them first",
            ));
        }
    }
    if documents.is_empty() {
        return Err(CliError::bad_input(
            format!("no document in scope {}", scope_text(scope)),
            "import documents first (iu-cutter import PATH) or fix --prefix/--id; `iu-cutter \
             plan` lists the documents in scope",
        ));
    }
    Ok(())
}

/// A scope as the command line writes it.
pub(crate) fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::All => "--all".to_owned(),
        Scope::Ids(ids) => ids
            .iter()
            .map(|id| format!("--id {id}"))
            .collect::<Vec<_>>()
            .join(" "),
        Scope::Prefix(prefix) => format!("--prefix {prefix}"),
        Scope::Shard { base, index, count } => {
            format!("{} --shard {index}/{count}", scope_text(base))
        }
    }
}
