//! What the operator does next, as values: [`NextAction`]. Outcomes, gaps and reports carry
//! these, never a command line: the program that embeds the runner words them (the `iu-cutter`
//! CLI prints its own commands, a service offers buttons). [`NextAction`]'s `Display` is the
//! neutral wording the Markdown report and the JSON's readable text use.

use std::fmt;

use iu_cutter_live_execution::RunId;
use serde::{Deserialize, Serialize};

/// One thing the operator can do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NextAction {
    /// Start a run: again with the id `run` (the same request, started over), or a new one
    /// when `run` is `None`.
    Run {
        /// The run id to use again, if any.
        run: Option<RunId>,
    },
    /// Review the plan again (same scope and rules), then run with it.
    Plan,
    /// Continue the run where its journal says it stopped.
    Resume {
        /// The run.
        run: RunId,
        /// The phase the resume starts from, when known.
        from: Option<String>,
        /// The phase to stop after (hold the run for review), if any.
        until: Option<String>,
    },
    /// Verify the held run again.
    Verify {
        /// The held run.
        run: RunId,
    },
    /// Review the held run's staged units, then enact them.
    Enact {
        /// The held run.
        run: RunId,
    },
    /// Take back everything the run changed: its documents return to their exact pre-run
    /// state.
    Rollback {
        /// The run.
        run: RunId,
    },
    /// Purge the backups and journals of old finished runs.
    Purge {
        /// The age limit, as the operator gave it (`30d`).
        older_than: String,
    },
    /// Open the kill switch that refused the invocation.
    OpenKillSwitch {
        /// What closed it (configuration, the stop file, the control row).
        switch: String,
        /// How to open it, in words.
        how: String,
    },
    /// Something to do outside the runner first (a gate's gap, an unreachable store, a
    /// precondition), in words.
    Fix {
        /// What to do.
        what: String,
    },
}

impl NextAction {
    /// A [`NextAction::Fix`] of `what`.
    pub fn fix(what: impl Into<String>) -> Self {
        NextAction::Fix { what: what.into() }
    }

    /// A [`NextAction::Resume`] of `run` from wherever its journal says.
    pub fn resume(run: &RunId) -> Self {
        NextAction::Resume {
            run: run.clone(),
            from: None,
            until: None,
        }
    }

    /// A [`NextAction::Rollback`] of `run`.
    pub fn rollback(run: &RunId) -> Self {
        NextAction::Rollback { run: run.clone() }
    }

    /// The run the action is about, for those about one.
    pub fn run(&self) -> Option<&RunId> {
        match self {
            NextAction::Run { run } => run.as_ref(),
            NextAction::Resume { run, .. }
            | NextAction::Verify { run }
            | NextAction::Enact { run }
            | NextAction::Rollback { run } => Some(run),
            NextAction::Plan
            | NextAction::Purge { .. }
            | NextAction::OpenKillSwitch { .. }
            | NextAction::Fix { .. } => None,
        }
    }
}

impl fmt::Display for NextAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextAction::Run { run: Some(run) } => write!(f, "run {run} again"),
            NextAction::Run { run: None } => f.write_str("start a new run"),
            NextAction::Plan => {
                f.write_str("review the plan again (same scope and rules) and run with it")
            }
            NextAction::Resume { run, from, until } => {
                write!(f, "resume run {run}")?;
                if let Some(from) = from {
                    write!(f, " from `{from}`")?;
                }
                if let Some(until) = until {
                    write!(f, " up to `{until}` (held for review)")?;
                }
                Ok(())
            }
            NextAction::Verify { run } => write!(f, "verify run {run} again"),
            NextAction::Enact { run } => write!(f, "enact run {run}"),
            NextAction::Rollback { run } => write!(f, "roll back run {run}"),
            NextAction::Purge { older_than } => {
                write!(f, "purge runs older than {older_than}")
            }
            NextAction::OpenKillSwitch { how, .. } => f.write_str(how),
            NextAction::Fix { what } => f.write_str(what),
        }
    }
}

/// `actions` in words, in order (`…, then …`): the readable text of reports and messages.
pub fn in_words(actions: &[NextAction]) -> String {
    actions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", then ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_name_the_run_and_phases_but_no_program() {
        let run = RunId::new("r1");
        let actions = [
            NextAction::fix("start the database"),
            NextAction::Resume {
                run: run.clone(),
                from: Some("write-verify".into()),
                until: Some("write-verify".into()),
            },
            NextAction::Enact { run },
        ];
        let words = in_words(&actions);
        assert_eq!(
            words,
            "start the database, then resume run r1 from `write-verify` up to `write-verify` \
             (held for review), then enact run r1"
        );
        assert!(!words.contains("iu-cutter"), "{words}");
    }

    #[test]
    fn actions_serialise_tagged_by_action() -> Result<(), serde_json::Error> {
        let action = NextAction::Rollback {
            run: RunId::new("r1"),
        };
        let json = serde_json::to_value(&action)?;
        assert_eq!(json, serde_json::json!({"action": "rollback", "run": "r1"}));
        assert_eq!(serde_json::from_value::<NextAction>(json)?, action);
        Ok(())
    }
}
