//! The fault-injection matrix on the simulator: a fixed, deterministic set of scenarios, and
//! for each, every adapter call index k × {error, crash before applying, crash after applying}.
//! Each trial injects the fault, runs, recovers the store, brings the run to its end once (resume,
//! or run again when the crash came before the run was journaled; enact again for a held run)
//! and checks that the outcome is PASS and the end state equals the fault-free one. A second
//! pass crashes at every k and rolls back: the pre-run census, for every k.
//!
//! By default a small stride of call indices runs (part of the normal suite);
//! `IU_CUTTER_FAULTS_FULL=1` (set by `cargo xtask faults`) runs every index. The test prints a
//! tally line `N passed, M failed`.

use iu_cutter_live_execution::prelude::*;
use std::collections::BTreeMap;

use iu_cutter_live_execution::{CutRules, DocumentId, Preset, RunId, Scope};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest};
use iu_cutter_phase_core::{DocumentBatches, names};
use iu_cutter_simulator::FaultKind;
use iu_cutter_tests::{DocumentView, SimHarness, view};

use crate::TestResult;

const RUN: &str = "run-f";

/// What a scenario does before the faulted run, and how the faulted run goes.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A first cut of several documents.
    FirstCut,
    /// A re-cut, with other rules, of documents already cut by `run-0`.
    Recut,
    /// A run held after write-verify, then enacted.
    HeldThenEnact,
}

fn documents() -> Vec<(DocumentId, String)> {
    vec![
        (
            DocumentId::new("law/1"),
            "Chapter I\nArticle 1\nText one.\n\nMore text.\nArticle 2\nText two.\n".to_owned(),
        ),
        (
            DocumentId::new("law/2"),
            "# Title\n\nArticle 1\nOnly.\n\n## Part\n\nA paragraph.\n".to_owned(),
        ),
        (
            DocumentId::new("law/3"),
            "Plain words.\n\nAnd more.\n".to_owned(),
        ),
        (DocumentId::new("law/empty"), String::new()),
    ]
}

/// The runner's options: the defaults (one batch per phase for these few documents), or
/// `small` batches (one document a transaction, two units a write) so that faults also land
/// between two batches of one phase.
fn options(small: bool) -> RunOptions {
    if small {
        RunOptions::default()
            .with_batch_documents(DocumentBatches::Of(1))
            .with_batch_units(2)
    } else {
        RunOptions::default()
    }
}

fn rules(preset: Preset) -> CutRules {
    CutRules::preset(preset)
}

/// A harness in the scenario's pre-run state.
async fn prepared(kind: Kind) -> Result<SimHarness, String> {
    let h = SimHarness::with_documents(&documents());
    if let Kind::Recut = kind {
        let first = h
            .run("run-0", Scope::All, &rules(Preset::LegalEn))
            .await
            .map_err(|e| e.to_string())?;
        if first.outcome != Outcome::Pass {
            return Err(format!("run-0: {:?}", first.outcome));
        }
    }
    Ok(h)
}

fn faulted_rules(kind: Kind) -> CutRules {
    match kind {
        Kind::Recut => rules(Preset::Paragraphs),
        _ => rules(Preset::LegalEn),
    }
}

/// Runs the scenario's faulted part once (the fault, if any, already injected). Returns the
/// outcome of its last step, or the error.
async fn attempt(h: &SimHarness, kind: Kind, small: bool) -> Result<Outcome, String> {
    match kind {
        Kind::HeldThenEnact => {
            let held = h
                .runner
                .run(
                    request(kind),
                    options(small).with_until(names::WRITE_VERIFY),
                )
                .await
                .map_err(|e| e.to_string())?;
            if held.outcome != Outcome::Pass {
                return Ok(held.outcome);
            }
            let enacted = h
                .runner
                .enact(&RunId::new(RUN), options(small))
                .await
                .map_err(|e| e.to_string())?;
            Ok(enacted.outcome)
        }
        _ => h
            .runner
            .run(request(kind), options(small))
            .await
            .map(|r| r.outcome)
            .map_err(|e| e.to_string()),
    }
}

fn request(kind: Kind) -> RunRequest {
    RunRequest::new(RUN, Scope::All, faulted_rules(kind))
}

/// Brings the run to its end after a fault, with one attempt per step.
async fn recover(h: &SimHarness, kind: Kind, small: bool) -> Result<Outcome, String> {
    let id = RunId::new(RUN);
    let journaled = matches!(h.adapter.load_run(&id).await, Ok(Some(_)));
    // A fault in the held run's enact: enacting again finishes it (it verifies again first).
    // Holding it again first (`resume` until write-verify) is refused once the enact enacted
    // some documents: they are live, and the run is no longer one to hold.
    let enact_began = matches!(
        h.adapter.load_run(&id).await,
        Ok(Some(ref r)) if r.phase(names::LIFECYCLE_ENACT).is_some()
    );
    if matches!(kind, Kind::HeldThenEnact) && enact_began {
        return Ok(h
            .runner
            .enact(&id, options(small))
            .await
            .map_err(|e| format!("enact: {e}"))?
            .outcome);
    }
    let until = match kind {
        Kind::HeldThenEnact => options(small).with_until(names::WRITE_VERIFY),
        _ => options(small),
    };
    let outcome = if journaled {
        h.runner
            .resume(&id, until)
            .await
            .map_err(|e| format!("resume: {e}"))?
            .outcome
    } else {
        h.runner
            .run(request(kind), until)
            .await
            .map_err(|e| format!("run again: {e}"))?
            .outcome
    };
    match kind {
        Kind::HeldThenEnact if outcome == Outcome::Pass => Ok(h
            .runner
            .enact(&id, options(small))
            .await
            .map_err(|e| format!("enact: {e}"))?
            .outcome),
        _ => Ok(outcome),
    }
}

/// The fault-free end state and the number of adapter calls the faulted part makes.
async fn fault_free(
    kind: Kind,
    small: bool,
) -> Result<(BTreeMap<DocumentId, DocumentView>, u64), String> {
    let h = prepared(kind).await?;
    let start = h.sim.call_count();
    let outcome = attempt(&h, kind, small).await?;
    if outcome != Outcome::Pass {
        return Err(format!("{kind:?} fault-free: {outcome:?}"));
    }
    Ok((view(&h.sim.state_snapshot()), h.sim.call_count() - start))
}

/// One resume trial; `Err` describes the failure.
async fn resume_trial(
    kind: Kind,
    small: bool,
    k: u64,
    fault: FaultKind,
    expected: &BTreeMap<DocumentId, DocumentView>,
) -> Result<(), String> {
    let h = prepared(kind).await?;
    h.fault_at(k, fault);
    let first = attempt(&h, kind, small).await;
    h.disarm_and_recover();
    let outcome = match first {
        Ok(Outcome::Pass) => {
            // A held run can have been held (PASS) with the fault in its enact: enact again is
            // part of `recover`; a plain PASS means the fault hit nothing that mattered.
            if matches!(kind, Kind::HeldThenEnact)
                && !matches!(
                    h.adapter.load_run(&RunId::new(RUN)).await,
                    Ok(Some(ref r)) if r.status == iu_cutter_live_execution::RunStatus::Pass
                )
            {
                recover(&h, kind, small).await?
            } else {
                Outcome::Pass
            }
        }
        _ => recover(&h, kind, small).await?,
    };
    if outcome != Outcome::Pass {
        return Err(format!("ended {outcome:?}"));
    }
    let got = view(&h.sim.state_snapshot());
    if &got != expected {
        return Err("end state differs from the fault-free one".to_owned());
    }
    Ok(())
}

/// One rollback trial: crash after applying call k, then roll back: the pre-run census.
async fn rollback_trial(kind: Kind, small: bool, k: u64) -> Result<(), String> {
    let h = prepared(kind).await?;
    let pre_run = h.sim.state_census();
    h.fault_at(k, FaultKind::CrashAfter);
    let _ = attempt(&h, kind, small).await;
    h.disarm_and_recover();
    let id = RunId::new(RUN);
    if matches!(h.adapter.load_run(&id).await, Ok(Some(_))) {
        let report = h
            .runner
            .rollback_with(&id, options(small))
            .await
            .map_err(|e| format!("rollback: {e}"))?;
        if report.outcome != Outcome::RolledBack {
            return Err(format!("rollback ended {:?}", report.outcome));
        }
    }
    if h.sim.state_census() != pre_run {
        return Err("census after rollback differs from the pre-run census".to_owned());
    }
    Ok(())
}

fn full() -> bool {
    std::env::var("IU_CUTTER_FAULTS_FULL").is_ok_and(|v| !v.is_empty() && v != "0")
}

#[tokio::test]
async fn fault_matrix_on_the_simulator() -> TestResult {
    matrix(false).await
}

/// The matrix with one document a transaction and two units a write: faults between two
/// batches of a phase (leg-b-record between two writes, lifecycle-enact and the rollback between
/// two batches), which the default batches never reach with these few documents.
#[tokio::test]
async fn fault_matrix_on_the_simulator_in_small_batches() -> TestResult {
    matrix(true).await
}

async fn matrix(small: bool) -> TestResult {
    let stride = if full() { 1 } else { 3 };
    let mut passed = 0u64;
    let mut failures = Vec::new();
    for kind in [Kind::FirstCut, Kind::Recut, Kind::HeldThenEnact] {
        let (expected, calls) = fault_free(kind, small).await?;
        let mut k = 0;
        while k < calls {
            for fault in [
                FaultKind::Error,
                FaultKind::CrashBefore,
                FaultKind::CrashAfter,
            ] {
                match resume_trial(kind, small, k, fault, &expected).await {
                    Ok(()) => passed += 1,
                    Err(e) => failures.push(format!("{kind:?} k={k} {fault:?}: {e}")),
                }
            }
            k += stride;
        }
        let mut k = 0;
        while k <= calls {
            match rollback_trial(kind, small, k).await {
                Ok(()) => passed += 1,
                Err(e) => failures.push(format!("{kind:?} rollback k={k}: {e}")),
            }
            k += stride;
        }
    }
    for failure in &failures {
        eprintln!("FAIL {failure}");
    }
    println!(
        "simulator matrix ({}{}):",
        if full() { "full" } else { "every third call" },
        if small { ", small batches" } else { "" }
    );
    println!("{passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "{} trials failed", failures.len());
    Ok(())
}
