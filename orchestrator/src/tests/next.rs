//! The typed next actions a report offers ([`crate::NextAction`]), from real invocations over
//! the simulator.

use iu_cutter_live_execution::{CutRules, Preset, RunId, Scope};
use iu_cutter_phase_core::names;

use super::*;
use crate::{Footprint, NextAction};

type BoxError = Box<dyn std::error::Error>;

fn request(run: &str) -> RunRequest {
    RunRequest::new(run, Scope::All, CutRules::preset(Preset::Markdown))
}

fn run(id: &str) -> RunId {
    RunId::new(id)
}

#[tokio::test]
async fn a_held_run_offers_enact_then_rollback_and_a_finished_run_nothing() -> Result<(), BoxError>
{
    let h = Harness::new([("law/1", LAW_1), ("law/2", LAW_2)], true);
    let held = h
        .runner
        .run(
            request("r1"),
            RunOptions::default().with_until(names::WRITE_VERIFY),
        )
        .await?;
    assert_eq!(held.outcome, Outcome::Pass, "{}", held.to_json());
    let actions = held.next_actions();
    assert_eq!(
        actions,
        [
            NextAction::Enact { run: run("r1") },
            NextAction::Rollback { run: run("r1") }
        ]
    );
    assert_eq!(
        actions[0].command_line().as_deref(),
        Some("iu-cutter enact r1 --execute")
    );

    let enacted = h.runner.enact(&run("r1"), RunOptions::default()).await?;
    assert_eq!(enacted.outcome, Outcome::Pass, "{}", enacted.to_json());
    assert_eq!(enacted.next_actions(), []);
    Ok(())
}

#[tokio::test]
async fn a_closed_kill_switch_offers_to_open_it_naming_the_switch() -> Result<(), BoxError> {
    let h = Harness::new([("law/1", LAW_1)], false);
    let refused = h.runner.run(request("r1"), RunOptions::default()).await?;
    let actions = refused.next_actions();
    match actions.first() {
        Some(NextAction::OpenKillSwitch { switch, how }) => {
            assert!(switch.contains("test"), "{switch}");
            assert_eq!(how, "open the test switch");
        }
        other => return Err(format!("{other:?}: {}", refused.to_json()).into()),
    }
    assert!(
        actions.iter().all(|a| a.command_line().is_none()),
        "nothing to resume or roll back: nothing was begun: {actions:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_run_holding_documents_offers_resume_from_its_phase_then_rollback()
-> Result<(), BoxError> {
    let h = Harness::new([("law/1", LAW_1)], true);
    let mut report = h.runner.run(request("r1"), RunOptions::default()).await?;
    report.outcome = Outcome::Failed {
        error: "the store went away".into(),
        resume_from: Some(names::LEG_B_RECORD.into()),
        next_action: "iu-cutter resume r1".into(),
    };
    report.holds = Some(Footprint {
        documents_fenced: 1,
        ..Footprint::default()
    });
    assert_eq!(
        report.next_actions(),
        [
            NextAction::Resume {
                run: run("r1"),
                from: Some(names::LEG_B_RECORD.into())
            },
            NextAction::Rollback { run: run("r1") }
        ]
    );
    // Failed before it began: the words of the fix, and nothing to roll back.
    report.outcome = Outcome::Failed {
        error: "unreachable".into(),
        resume_from: None,
        next_action: "start the database".into(),
    };
    report.holds = None;
    assert_eq!(
        report.next_actions(),
        [NextAction::Fix {
            what: "start the database".into()
        }]
    );
    Ok(())
}
