//! Property tests of whole runs against the simulator: a run ends in the planned state and
//! touches nothing outside its scope; a closed kill switch mutates nothing; a crash at any call
//! resumes to the fault-free end state; a rollback from any call restores the pre-run census.

use iu_cutter_live_execution::prelude::*;
use std::collections::BTreeMap;

use iu_cutter_cut::Cutter;
use iu_cutter_live_execution::{CutRules, DocumentId, RunId, Scope};
use iu_cutter_orchestrator::{Outcome, RunOptions};
use iu_cutter_simulator::strategies::{corpus, cut_rules};
use iu_cutter_simulator::{FaultKind, Simulator};
use iu_cutter_tests::{SimHarness, cases, expected_units, runtime, view};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// A scope drawn over the generated corpus: everything, a prefix, or a subset of ids.
fn scope_over(docs: &[(DocumentId, String)], pick: u8) -> Scope {
    match pick % 3 {
        0 => Scope::All,
        1 => Scope::Prefix(
            docs.first()
                .map(|(id, _)| id.as_str().chars().take(2).collect())
                .unwrap_or_default(),
        ),
        _ => Scope::Ids(docs.iter().step_by(2).map(|(id, _)| id.clone()).collect()),
    }
}

/// `documents` generated documents, rules to cut them by, and a scope over them
/// ([`scope_over`]).
fn scoped_corpus(
    documents: usize,
) -> impl Strategy<Value = (Vec<(DocumentId, String)>, CutRules, Scope)> {
    (corpus(documents), cut_rules(), any::<u8>()).prop_map(|(docs, rules, pick)| {
        let scope = scope_over(&docs, pick);
        (docs, rules, scope)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32, 1)))]

    /// (a) Arbitrary text and rules: the cut is lossless and deterministic.
    #[test]
    fn cut_is_lossless_and_deterministic(docs in corpus(4), rules in cut_rules()) {
        let cutter = Cutter::new(&rules).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (id, body) in &docs {
            let units = cutter.cut(id.as_str(), body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut joined = Vec::with_capacity(body.len());
            for unit in &units {
                joined.extend_from_slice(&body.as_bytes()[unit.start as usize..unit.end as usize]);
            }
            prop_assert_eq!(joined.as_slice(), body.as_bytes());
            let again = cutter.cut(id.as_str(), body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(units, again);
        }
    }

    /// (b) A full run leaves every scoped document's active generation equal to its plan and
    /// changes nothing outside the scope.
    #[test]
    fn full_run_reaches_the_plan_and_stays_in_scope(
        (docs, rules, scope) in scoped_corpus(5)
    ) {
        runtime().block_on(async {
            let h = SimHarness::with_documents(&docs);
            let before = view(&h.sim.state_snapshot());
            let report = h.run("run-b", scope.clone(), &rules).await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(report.outcome.name(), "PASS", "{:?}", report.outcome);
            let after = view(&h.sim.state_snapshot());
            prop_assert_eq!(before.len(), after.len());
            for (id, body) in &docs {
                let doc = &after[id];
                if scope.contains(id) {
                    prop_assert_eq!(doc.active_generation.as_ref(), Some(&RunId::new("run-b")));
                    prop_assert_eq!(&doc.active_units, &expected_units(&rules, id, body)?);
                } else {
                    prop_assert_eq!(doc, &before[id], "out-of-scope document {} changed", id);
                }
            }
            Ok(())
        })?;
    }

    /// (c) With the kill switch closed a run is refused and mutates nothing at all.
    #[test]
    fn closed_gate_mutates_nothing(docs in corpus(4), rules in cut_rules()) {
        runtime().block_on(async {
            let h = SimHarness::new(
                Simulator::with_documents(docs.iter().map(|(i, b)| (i.clone(), b.clone()))),
                false,
            );
            let census = h.sim.state_census();
            let report = h.run("run-c", Scope::All, &rules).await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(matches!(report.outcome, Outcome::Refused { .. }), "{:?}", report.outcome);
            prop_assert_eq!(h.sim.mutation_count(), 0);
            prop_assert!(h.sim.call_log().iter().all(|c| !c.operation.mutates()),
                "a mutating call reached the store: {:?}", h.sim.call_log());
            prop_assert_eq!(h.sim.state_census(), census);
            prop_assert!(h.adapter.list_runs().await.map_err(|e| TestCaseError::fail(e.to_string()))?.is_empty());
            Ok(())
        })?;
    }
}

/// Runs `run-x` fault-free and returns the end state and the number of adapter calls it made.
async fn fault_free(
    docs: &[(DocumentId, String)],
    rules: &CutRules,
    scope: &Scope,
) -> Result<
    (
        BTreeMap<DocumentId, iu_cutter_tests::DocumentView>,
        String,
        u64,
    ),
    TestCaseError,
> {
    let h = SimHarness::with_documents(docs);
    let report = h
        .run("run-x", scope.clone(), rules)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(report.outcome.name(), "PASS", "{:?}", report.outcome);
    Ok((
        view(&h.sim.state_snapshot()),
        h.sim.state_fingerprint(),
        h.sim.call_count(),
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32, 8)))]

    /// (d) A crash or error injected at every call index k, then resume: the same final state
    /// as the fault-free run, for every k.
    #[test]
    fn crash_at_every_call_then_resume_reaches_the_same_state(
        (docs, rules, scope) in scoped_corpus(3)
    ) {
        runtime().block_on(async {
            let (expected_view, expected_fingerprint, calls) = fault_free(&docs, &rules, &scope).await?;
            for k in 0..calls {
                for kind in [FaultKind::Error, FaultKind::CrashBefore, FaultKind::CrashAfter] {
                    let h = SimHarness::with_documents(&docs);
                    h.fault_at(k, kind);
                    let first = h.run("run-x", scope.clone(), &rules).await
                        .map_err(|e| TestCaseError::fail(format!("k={k} {kind:?}: {e}")))?;
                    h.disarm_and_recover();
                    let mut outcome = first.outcome;
                    // One resume must be enough; a second attempt would hide a non-idempotent phase.
                    if outcome != Outcome::Pass {
                        outcome = h.finish("run-x", scope.clone(), &rules).await
                            .map_err(|e| TestCaseError::fail(format!("k={k} {kind:?} resume: {e}")))?
                            .outcome;
                    }
                    prop_assert_eq!(&outcome, &Outcome::Pass, "k={} {:?}", k, kind);
                    prop_assert_eq!(&view(&h.sim.state_snapshot()), &expected_view, "k={} {:?}", k, kind);
                    prop_assert_eq!(&h.sim.state_fingerprint(), &expected_fingerprint, "k={} {:?}", k, kind);
                }
            }
            Ok(())
        })?;
    }

    /// (e) A crash at every call index k, then rollback: the pre-run census, for every k
    /// (k past the last call rolls back a completed run).
    #[test]
    fn rollback_from_every_call_restores_the_pre_run_census(
        (docs, rules, scope) in scoped_corpus(3)
    ) {
        runtime().block_on(async {
            let (_, _, calls) = fault_free(&docs, &rules, &scope).await?;
            for k in 0..=calls {
                let h = SimHarness::with_documents(&docs);
                let pre_run = h.sim.state_census();
                h.fault_at(k, FaultKind::CrashAfter);
                let _ = h.run("run-x", scope.clone(), &rules).await;
                h.disarm_and_recover();
                let journaled = h.adapter.load_run(&RunId::new("run-x")).await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                if journaled.is_some() {
                    let report = h.runner.rollback(&RunId::new("run-x")).await
                        .map_err(|e| TestCaseError::fail(format!("k={k}: {e}")))?;
                    prop_assert_eq!(&report.outcome, &Outcome::RolledBack, "k={}", k);
                }
                prop_assert_eq!(h.sim.state_census(), pre_run.clone(), "k={}", k);
            }
            Ok(())
        })?;
    }
}

/// Closing the switch mid-run stops the run at the next mutation; opening it and resuming
/// finishes the run in the fault-free state.
#[tokio::test]
async fn closing_the_switch_mid_run_stops_at_the_next_mutation_and_resumes()
-> Result<(), Box<dyn std::error::Error>> {
    let docs = vec![
        (
            DocumentId::new("law/1"),
            "Chapter I\nArticle 1\nText.\nArticle 2\nMore.\n".to_owned(),
        ),
        (DocumentId::new("law/2"), "Article 1\nOnly.\n".to_owned()),
    ];
    let rules = CutRules::preset(iu_cutter_live_execution::Preset::LegalEn);
    let (expected, _, _) = fault_free(&docs, &rules, &Scope::All)
        .await
        .map_err(|e| e.to_string())?;

    let h = SimHarness::with_documents(&docs);
    let switch = h.switch.clone();
    let sim = h.sim.clone();
    let mutations_at_close = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let recorded = mutations_at_close.clone();
    // Close the switch as soon as the cut-leg-a phase starts; note how many mutations the store
    // had applied at that moment.
    let events = std::sync::Arc::new(move |event: iu_cutter_phase_core::RunEvent| {
        if let iu_cutter_phase_core::RunEvent::PhaseStarted { phase, .. } = &event
            && phase == "cut-leg-a"
        {
            switch.set(false);
            recorded.store(sim.mutation_count(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    let report = h
        .runner
        .run(
            iu_cutter_orchestrator::RunRequest::new("run-k", Scope::All, rules.clone()),
            RunOptions::default().with_events(events),
        )
        .await?;
    let Outcome::Refused { resume_from, .. } = &report.outcome else {
        return Err(format!("expected REFUSED, got {:?}", report.outcome).into());
    };
    assert!(
        resume_from.is_some(),
        "a mid-run refusal names where to resume"
    );
    let mutations_when_stopped = h.sim.mutation_count();
    assert_eq!(
        mutations_when_stopped,
        mutations_at_close.load(std::sync::atomic::Ordering::SeqCst),
        "no mutation reached the store after the switch closed"
    );
    assert!(
        h.sim.state_snapshot().units.is_empty(),
        "no unit was written"
    );

    h.switch.set(true);
    let resumed = h
        .runner
        .resume(&RunId::new("run-k"), RunOptions::default())
        .await?;
    assert_eq!(resumed.outcome, Outcome::Pass);
    assert!(h.sim.mutation_count() > mutations_when_stopped);
    // Same end state as a fault-free run, up to the generation id.
    let got = view(&h.sim.state_snapshot());
    for (id, doc) in &expected {
        assert_eq!(got[id].active_units, doc.active_units, "{id}");
        assert_eq!(got[id].active_generation, Some(RunId::new("run-k")));
    }
    Ok(())
}
