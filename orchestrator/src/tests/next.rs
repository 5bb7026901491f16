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

/// Resuming run `r1` from leg-b-record: what a run stopped after cut-leg-a is told.
fn resume_r1_from_leg_b() -> NextAction {
    NextAction::Resume {
        run: run("r1"),
        from: Some(names::LEG_B_RECORD.into()),
        until: None,
    }
}

#[tokio::test]
async fn a_held_run_offers_enact_then_rollback_and_a_finished_run_nothing() -> Result<(), BoxError>
{
    let h = Harness::new([("law/1", LAW_1), ("law/2", LAW_2)], true);
    let held = held_run(&h.runner, request("r1"), names::WRITE_VERIFY).await?;
    let actions = held.next_actions();
    assert_eq!(
        actions,
        [
            NextAction::Enact { run: run("r1") },
            NextAction::Rollback { run: run("r1") }
        ]
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
    assert_eq!(
        actions.len(),
        1,
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
        next: vec![NextAction::fix("start the store again")],
    };
    report.holds = Some(Footprint {
        documents_fenced: 1,
        ..Footprint::default()
    });
    assert_eq!(
        report.next_actions(),
        [
            NextAction::fix("start the store again"),
            resume_r1_from_leg_b(),
            NextAction::Rollback { run: run("r1") }
        ]
    );
    // The outcome's own resume gets the phase it starts from, once.
    report.outcome = Outcome::Failed {
        error: "cancelled".into(),
        resume_from: Some(names::LEG_B_RECORD.into()),
        next: vec![
            NextAction::resume(&run("r1")),
            NextAction::rollback(&run("r1")),
        ],
    };
    assert_eq!(
        report.next_actions(),
        [
            resume_r1_from_leg_b(),
            NextAction::Rollback { run: run("r1") }
        ]
    );
    // Failed before it began: the words of the fix, and nothing to roll back.
    report.outcome = Outcome::Failed {
        error: "unreachable".into(),
        resume_from: None,
        next: vec![NextAction::fix("start the database")],
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

#[test]
fn the_json_carries_the_actions_typed_and_in_words_and_reads_back() -> Result<(), BoxError> {
    let outcome = Outcome::Failed {
        error: "the store went away".into(),
        resume_from: Some(names::BACKUP.into()),
        next: vec![
            NextAction::fix("start the database"),
            NextAction::resume(&run("r1")),
        ],
    };
    let json = serde_json::to_value(&outcome)?;
    assert_eq!(
        json["next_action"],
        "start the database, then resume run r1"
    );
    assert_eq!(
        json["next_actions"][1],
        serde_json::json!({"action": "resume", "run": "r1", "from": null, "until": null})
    );
    assert!(!json.to_string().contains("iu-cutter"), "{json}");
    assert_eq!(serde_json::from_value::<Outcome>(json)?, outcome);

    // Written before the actions were typed: a closed switch's words open it, other words are
    // a fix, a gap's too.
    let refused = serde_json::json!({
        "name": "REFUSED",
        "reason": "the kill switch is closed by the stop file; nothing was changed",
        "switch": "the stop file",
        "how_to_open": "remove the stop file",
        "resume_from": null
    });
    assert_eq!(
        serde_json::from_value::<Outcome>(refused)?.next(),
        [NextAction::OpenKillSwitch {
            switch: "the stop file".into(),
            how: "remove the stop file".into()
        }]
    );
    let blocked = serde_json::json!({
        "name": "BLOCKED",
        "gap": {"phase": "write-verify", "document": "law/1", "unit": null, "expected": "a",
                "found": "b", "next_action": "iu-cutter rollback r1"}
    });
    assert_eq!(
        serde_json::from_value::<Outcome>(blocked)?.next(),
        [NextAction::fix("iu-cutter rollback r1")]
    );
    Ok(())
}
