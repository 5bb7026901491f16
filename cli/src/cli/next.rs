//! The runner's typed next actions ([`NextAction`]) in this program's words: its own command
//! lines where an action is one, the runner's words otherwise.

use iu_cutter_orchestrator::NextAction;

/// The `iu-cutter` command line that takes `action`, for the actions that are one.
pub(crate) fn command_line(action: &NextAction) -> Option<String> {
    Some(match action {
        NextAction::Run { run: Some(run) } => {
            format!("iu-cutter run --run-id {run} --execute (with the run's scope)")
        }
        NextAction::Run { run: None } => "iu-cutter run --execute (a new run)".to_owned(),
        NextAction::Plan => "iu-cutter plan --out FILE (the same scope), then: iu-cutter run \
                             --plan FILE --execute"
            .to_owned(),
        NextAction::Resume { run, until, .. } => match until {
            Some(until) => format!("iu-cutter resume {run} --until {until} --execute"),
            None => format!("iu-cutter resume {run} --execute"),
        },
        NextAction::Verify { run } => format!("iu-cutter verify {run} --execute"),
        NextAction::Enact { run } => format!("iu-cutter enact {run} --execute"),
        NextAction::Rollback { run } => format!("iu-cutter rollback {run} --execute"),
        NextAction::Purge { older_than } => {
            format!("iu-cutter purge --older-than {older_than} --execute")
        }
        NextAction::OpenKillSwitch { .. } | NextAction::Fix { .. } => return None,
    })
}

/// `actions` as the `next:` line says them, in order: each a command line, or the runner's
/// words for one that is not.
pub(crate) fn render(actions: &[NextAction]) -> String {
    actions
        .iter()
        .map(|action| command_line(action).unwrap_or_else(|| action.to_string()))
        .collect::<Vec<_>>()
        .join(", then: ")
}

#[cfg(test)]
mod tests {
    use iu_cutter_live_execution::RunId;

    use super::*;

    #[test]
    fn commands_are_the_program_s_and_fixes_keep_their_words() {
        let run = RunId::new("r1");
        let actions = [
            NextAction::fix("start the database"),
            NextAction::Resume {
                run: run.clone(),
                from: Some("backup".into()),
                until: Some("write-verify".into()),
            },
            NextAction::Enact { run: run.clone() },
        ];
        assert_eq!(
            render(&actions),
            "start the database, then: iu-cutter resume r1 --until write-verify --execute, \
             then: iu-cutter enact r1 --execute"
        );
        assert_eq!(
            command_line(&NextAction::Rollback { run }).as_deref(),
            Some("iu-cutter rollback r1 --execute")
        );
        let switch = NextAction::OpenKillSwitch {
            switch: "the stop file".into(),
            how: "remove the stop file".into(),
        };
        assert_eq!(command_line(&switch), None);
        assert_eq!(render(&[switch]), "remove the stop file");
    }
}
