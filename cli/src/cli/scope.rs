//! What a scope names: the check that it names documents in the store, and how the command
//! line writes it (for `run`, `plan` and `status`).

use iu_cutter_live_execution::{LiveExecutionAdapter, Scope};
use iu_cutter_orchestrator::ScopeError;

use crate::cli::error::CliError;

/// Refuses a scope that names no document (a mistyped prefix must not "pass" on nothing), or
/// ids that are not in the store ([`iu_cutter_orchestrator::require_documents`]).
pub(crate) async fn require_documents(
    adapter: &dyn LiveExecutionAdapter,
    scope: &Scope,
    retry: &str,
) -> Result<(), CliError> {
    iu_cutter_orchestrator::require_documents(adapter, scope)
        .await
        .map_err(|error| match error {
            ScopeError::Adapter(e) => CliError::from_adapter(e, "reading the scope", retry),
            missing @ ScopeError::Missing(_) => CliError::bad_input(
                missing.to_string(),
                "check the ids (`iu-cutter plan` lists the documents) or import them first",
            ),
            ScopeError::Empty => CliError::bad_input(
                format!("no document in scope {}", scope_text(scope)),
                "import documents first (iu-cutter import PATH) or fix --prefix/--id; \
                 `iu-cutter plan` lists the documents in scope",
            ),
        })
}

/// How many ids [`scope_summary`] shows before "and N more".
const IDS_SHOWN: usize = 3;

/// A scope as the command line writes it, a long list of ids abbreviated to its first few and
/// how many more (for one line of `status`; the journal keeps them all).
pub(crate) fn scope_summary(scope: &Scope) -> String {
    match scope {
        Scope::Ids(ids) if ids.len() > IDS_SHOWN + 1 => format!(
            "{} and {} more",
            scope_text(&Scope::Ids(ids[..IDS_SHOWN].to_vec())),
            ids.len() - IDS_SHOWN
        ),
        Scope::Shard { base, index, count } => {
            format!("{} --shard {index}/{count}", scope_summary(base))
        }
        other => scope_text(other),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::DocumentId;

    fn ids(n: usize) -> Scope {
        Scope::Ids((0..n).map(|i| DocumentId::new(format!("d{i}"))).collect())
    }

    /// A run over 500 ids showed all of them on one status line: the first few, then a count.
    #[test]
    fn a_long_list_of_ids_is_summarised_with_how_many_more() {
        assert_eq!(
            scope_summary(&ids(500)),
            "--id d0 --id d1 --id d2 and 497 more"
        );
        let sharded = Scope::Shard {
            base: Box::new(ids(10)),
            index: 1,
            count: 4,
        };
        assert_eq!(
            scope_summary(&sharded),
            "--id d0 --id d1 --id d2 and 7 more --shard 1/4"
        );
        // Four ids fit: "and 1 more" would be no shorter.
        assert_eq!(scope_summary(&ids(4)), scope_text(&ids(4)));
        assert_eq!(scope_summary(&Scope::All), "--all");
    }
}
