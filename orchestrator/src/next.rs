//! What to do after an invocation, as values: [`NextAction`], which [`RunReport::next_actions`]
//! derives from the report (its outcome, the phase a resume starts from, what the run holds in
//! the store, whether it was held), so that a service embedding the runner offers the operator
//! buttons rather than parsing sentences. The outcome's own next-action text stays the human
//! wording; the CLI prints that.

use iu_cutter_live_execution::RunId;
use serde::{Deserialize, Serialize};

use crate::report::{Outcome, RunReport};

/// One thing the operator can do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum NextAction {
    /// Review the held run's staged units, then enact them.
    Enact {
        /// The held run.
        run: RunId,
    },
    /// Continue the run where its journal says it stopped.
    Resume {
        /// The run.
        run: RunId,
        /// The phase the resume starts from, when the report knows it.
        from: Option<String>,
    },
    /// Take back everything the run changed: its documents return to their exact pre-run
    /// state.
    Rollback {
        /// The run.
        run: RunId,
    },
    /// Open the kill switch that refused the invocation.
    OpenKillSwitch {
        /// What closed it (configuration, the stop file, the control row).
        switch: String,
        /// How to open it, in words.
        how: String,
    },
    /// Something to fix outside iu-cutter first (a gate's gap, an unreachable store, a
    /// precondition), in words.
    Fix {
        /// What to do.
        what: String,
    },
}

impl NextAction {
    /// The `iu-cutter` command line that takes the action, for the actions that are one.
    pub fn command_line(&self) -> Option<String> {
        match self {
            NextAction::Enact { run } => Some(format!("iu-cutter enact {run} --execute")),
            NextAction::Resume { run, .. } => Some(format!("iu-cutter resume {run} --execute")),
            NextAction::Rollback { run } => Some(format!("iu-cutter rollback {run} --execute")),
            NextAction::OpenKillSwitch { .. } | NextAction::Fix { .. } => None,
        }
    }
}

impl RunReport {
    /// What the operator can do next, most likely first; empty when nothing is called for (a
    /// run that passed and was not held, a rollback done, a dry run that passed).
    ///
    /// - A run held for review: enact it, or roll it back.
    /// - Refused by the kill switch: open it, then resume when the run had begun (and roll back
    ///   when it holds something).
    /// - Failed: resume when a resume makes sense, and roll back when the run holds something;
    ///   otherwise the fix in words.
    /// - Blocked: the gap's fix in words, and roll back when the run holds something.
    pub fn next_actions(&self) -> Vec<NextAction> {
        let run = || self.run.clone();
        let holds_something = self.holds.as_ref().is_some_and(|f| !f.is_empty());
        let rollback = |actions: &mut Vec<NextAction>| {
            if holds_something {
                actions.push(NextAction::Rollback { run: run() });
            }
        };
        let mut actions = Vec::new();
        match &self.outcome {
            Outcome::Pass => {
                if self.held_after.is_some() {
                    actions.push(NextAction::Enact { run: run() });
                    actions.push(NextAction::Rollback { run: run() });
                }
            }
            Outcome::RolledBack => {}
            Outcome::Refused {
                reason,
                switch,
                how_to_open,
                resume_from,
            } => {
                if reason.starts_with("the kill switch is closed") {
                    actions.push(NextAction::OpenKillSwitch {
                        switch: switch.clone(),
                        how: how_to_open.clone(),
                    });
                } else {
                    actions.push(NextAction::Fix {
                        what: how_to_open.clone(),
                    });
                }
                if let Some(from) = resume_from {
                    actions.push(NextAction::Resume {
                        run: run(),
                        from: Some(from.clone()),
                    });
                }
                rollback(&mut actions);
            }
            Outcome::Failed {
                resume_from,
                next_action,
                ..
            } => {
                match resume_from {
                    Some(from) => actions.push(NextAction::Resume {
                        run: run(),
                        from: Some(from.clone()),
                    }),
                    None => actions.push(NextAction::Fix {
                        what: next_action.clone(),
                    }),
                }
                rollback(&mut actions);
            }
            Outcome::Blocked { gap } => {
                actions.push(NextAction::Fix {
                    what: gap.next_action.clone(),
                });
                rollback(&mut actions);
            }
        }
        actions
    }
}
