//! The five real phases over the simulator, behind the kill switch, end to end.

use iu_cutter_live_execution::{DocumentId, RunId, RunStatus};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_phase_core::names;

use super::*;
use crate::{Outcome, PhaseEntryStatus};

const OTHER: &str = "# Not in scope\n\nUntouched.\n";

/// The laws and a document out of their scope, behind a switch `open` or closed.
fn harness(open: bool) -> Harness {
    Harness::new(
        [("law/1", LAW_1), ("law/2", LAW_2), ("kb/other", OTHER)],
        open,
    )
}

#[tokio::test]
async fn the_five_phases_pass_and_rollback_restores_the_pre_run_census() -> TestResult {
    let Harness { sim, runner, .. } = harness(true);
    let pre_run = sim.state_census();
    let scope = [DocumentId::new("law/1"), DocumentId::new("law/2")];
    let pre_run_scope = sim.scope_census(&scope).await?.census;
    assert_eq!(runner.phase_names(), names::ALL);
    let events = Events::default();

    let report = runner.run(law_request("r1"), events.options()).await?;

    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert!(
        report
            .phases
            .iter()
            .all(|p| p.status == PhaseEntryStatus::Done),
        "{}",
        report.to_json()
    );
    assert_eq!(
        report.census_before.as_ref().map(|c| &c.fingerprint),
        Some(&pre_run_scope.fingerprint),
        "the opening census is the scope's"
    );
    assert_ne!(sim.state_census().fingerprint, pre_run.fingerprint);
    let units = sim.active_units(&DocumentId::new("law/1")).await?;
    assert!(units.len() > 1, "law/1 was not cut: {units:?}");
    assert!(units.iter().all(|u| u.generation.as_str() == "r1"));
    let concatenated: String = units.iter().map(|u| u.body.as_str()).collect();
    assert_eq!(concatenated, LAW_1);
    let other = sim.state_census().per_document[&DocumentId::new("kb/other")];
    assert_eq!(other, pre_run.per_document[&DocumentId::new("kb/other")]);
    assert_eq!(events.compact().last().map(String::as_str), Some("PASS"));

    let rolled = runner.rollback(&RunId::new("r1")).await?;

    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup && check.fingerprint_matches_pre_run);
    assert_eq!(sim.state_census(), pre_run);
    assert_eq!(stored_run(&sim, "r1").await?.status, RunStatus::RolledBack);
    Ok(())
}

#[tokio::test]
async fn a_run_held_after_write_verify_resumes_or_rolls_back_before_enact() -> TestResult {
    let Harness { sim, runner, .. } = harness(true);
    let pre_run = sim.state_census();

    let held = held_law_run(&runner, "r1").await?;
    assert_eq!(held.held_after.as_deref(), Some(names::WRITE_VERIFY));
    // Readers still see the pre-run units: nothing is enacted.
    assert!(
        sim.active_units(&DocumentId::new("law/1"))
            .await?
            .is_empty()
    );

    let rolled = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(sim.state_census(), pre_run);

    // A second run, held and then resumed to the end: resuming a run held after write-verify
    // enacts it, so write-verify runs again first.
    runner
        .run(
            law_request("r2"),
            RunOptions::default().with_until(names::WRITE_VERIFY),
        )
        .await?;
    let resumed = runner
        .resume(&RunId::new("r2"), RunOptions::default())
        .await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_enacted_from_held(&resumed);
    assert!(
        !sim.active_units(&DocumentId::new("law/1"))
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_closed_switch_mutates_nothing_and_a_mid_run_close_resumes() -> TestResult {
    let Harness {
        sim,
        switch,
        runner,
    } = harness(false);
    let pre_run = sim.state_census();

    let refused = runner.run(law_request("r1"), RunOptions::default()).await?;
    assert_eq!(refused.outcome.name(), "REFUSED");
    assert_eq!(changes(&sim), 0);
    assert_eq!(sim.state_census(), pre_run);
    assert!(sim.load_run(&RunId::new("r1")).await?.is_none());

    // Open, stop after leg-b-record, close the switch, and try to resume: refused at preflight
    // with the resume point; open again and the run completes.
    switch.set(true);
    runner
        .run(
            law_request("r1"),
            RunOptions::default().with_until(names::LEG_B_RECORD),
        )
        .await?;
    switch.set(false);
    let mutations = changes(&sim);
    let refused = resume(&runner).await?;
    assert!(
        matches!(
            &refused.outcome,
            Outcome::Refused { resume_from: Some(phase), .. } if phase == names::WRITE_VERIFY
        ),
        "{}",
        refused.to_json()
    );
    assert_eq!(changes(&sim), mutations);
    switch.set(true);
    let resumed = resume(&runner).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    Ok(())
}
