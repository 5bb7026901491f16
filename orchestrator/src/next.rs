//! What to do after an invocation, as values: [`NextAction`] (defined in phase-core, where the
//! phases' gaps carry it too). Outcomes carry the actions their cause calls for;
//! [`RunReport::next_actions`] completes them with what the report knows (the phase a resume
//! starts from, what the run holds in the store, whether it was held), so that a service
//! embedding the runner offers the operator buttons rather than parsing sentences, and the CLI
//! prints its own commands.

use iu_cutter_live_execution::RunId;

pub use iu_cutter_phase_core::NextAction;
pub use iu_cutter_phase_core::next::in_words;

use crate::report::{Outcome, RunReport};

impl RunReport {
    /// What the operator can do next, in order; empty when nothing is called for (a run that
    /// passed and was not held, a rollback done, a dry run that passed).
    ///
    /// - A run held for review: enact it, or roll it back.
    /// - Otherwise the outcome's own actions (opening a closed kill switch, a gate's fix, the
    ///   fix of a failure), then resuming from the phase the report names when the run had
    ///   begun, then rolling back when the run holds something; each action once.
    pub fn next_actions(&self) -> Vec<NextAction> {
        let run = &self.run;
        if self.outcome == Outcome::Pass {
            return match self.held_after {
                Some(_) => vec![
                    NextAction::Enact { run: run.clone() },
                    NextAction::rollback(run),
                ],
                None => Vec::new(),
            };
        }
        let mut actions = self.outcome.next().to_vec();
        let resume_from = match &self.outcome {
            Outcome::Refused { resume_from, .. } | Outcome::Failed { resume_from, .. } => {
                resume_from.as_ref()
            }
            _ => None,
        };
        if let Some(from) = resume_from {
            with_resume_from(&mut actions, run, from);
        }
        let holds_something = self.holds.as_ref().is_some_and(|f| !f.is_empty());
        let rollback = NextAction::rollback(run);
        if holds_something && !actions.contains(&rollback) {
            actions.push(rollback);
        }
        actions
    }
}

/// Names the phase `from` on the outcome's resume of `run` that names none, or adds a resume
/// from it when the outcome offers none.
fn with_resume_from(actions: &mut Vec<NextAction>, run: &RunId, from: &str) {
    let offered = actions.iter_mut().find_map(|action| match action {
        NextAction::Resume {
            run: resumed,
            from: phase,
            ..
        } if resumed == run => Some(phase),
        _ => None,
    });
    match offered {
        Some(phase) => {
            phase.get_or_insert_with(|| from.to_owned());
        }
        None => actions.push(NextAction::Resume {
            run: run.clone(),
            from: Some(from.to_owned()),
            until: None,
        }),
    }
}

impl crate::report::Command {
    /// The action that makes this invocation of `run` again.
    pub(crate) fn again(self, run: &RunId) -> NextAction {
        use crate::report::Command;
        let run = run.clone();
        match self {
            Command::Run => NextAction::Run { run: Some(run) },
            Command::Resume => NextAction::Resume {
                run,
                from: None,
                until: None,
            },
            Command::Enact => NextAction::Enact { run },
            Command::Verify => NextAction::Verify { run },
            Command::Rollback => NextAction::Rollback { run },
        }
    }
}
