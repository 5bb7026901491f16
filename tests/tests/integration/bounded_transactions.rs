//! Bounded transactions (issue 15, item 3): the fence and the enact go to the store in batches
//! of `batch_documents`, each its own transaction. A kill switch closed after the first enact
//! batch stops the run before the next one, `REFUSED`, its report saying how many documents
//! were enacted and where it resumes; resuming enacts the rest, and rolling back instead
//! restores the exact pre-run state. On the simulator, SQLite and PostgreSQL.

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;

use iu_cutter_live_execution::sql::connect_with;
use iu_cutter_live_execution::{
    CutRules, DocumentId, DocumentState, EvidenceValue, ExecutionGate, Guarded,
    LiveExecutionAdapter, ManualSwitch, Preset, RunId, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{DocumentBatches, MemoryBackupStore, RunEvent, names};
use iu_cutter_tests::fixture::{self, Fixture, SqlFixture};

use crate::TestResult;

const DOCUMENTS: usize = 5;
const BATCH: usize = 2;

/// A store behind `switch` alone (the SQL stores add their control row).
type Open = Arc<dyn LiveExecutionAdapter>;

fn gate(switch: &ManualSwitch) -> ExecutionGate {
    ExecutionGate::new().with_source(switch.clone())
}

/// Options that fence and enact `BATCH` documents per transaction and close `switch` as the
/// first enact batch is reported done.
fn closing_after_first_enact_batch(switch: &ManualSwitch) -> RunOptions {
    let switch = switch.clone();
    RunOptions::default()
        .with_batch_documents(DocumentBatches::Of(BATCH))
        .with_events(Arc::new(move |event: RunEvent| {
            if let RunEvent::Progress { phase, .. } = &event
                && phase == names::LIFECYCLE_ENACT
            {
                switch.set(false);
            }
        }))
}

fn batched() -> RunOptions {
    RunOptions::default().with_batch_documents(DocumentBatches::Of(BATCH))
}

async fn seed(store: &dyn LiveExecutionAdapter) -> TestResult {
    for n in 0..DOCUMENTS {
        let id = DocumentId::new(format!("act/{n}"));
        store
            .put_document(&id, &format!("# Act {n}\n\n## Article 1\n\nText {n}.\n"))
            .await?;
    }
    Ok(())
}

/// Documents whose active generation is `run`.
async fn enacted_by(store: &dyn LiveExecutionAdapter, run: &RunId) -> Result<usize, String> {
    let heads = store
        .load_heads(&Scope::All)
        .await
        .map_err(|e| e.to_string())?;
    Ok(heads
        .iter()
        .filter(|d| d.active_generation.as_ref() == Some(run) && d.state == DocumentState::Cut)
        .count())
}

/// Runs over a store with `switch` in front, closed after the first enact batch: checks the
/// refusal and what the store holds, then reopens the switch. Returns the runner and report.
async fn stopped_after_first_enact_batch(
    store: Open,
    switch: &ManualSwitch,
) -> Result<(Runner, RunReport), Box<dyn std::error::Error>> {
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let report = runner
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown)),
            closing_after_first_enact_batch(switch),
        )
        .await?;
    let Outcome::Refused {
        reason,
        resume_from,
        ..
    } = &report.outcome
    else {
        return Err(format!("expected REFUSED, got {}", report.to_json()).into());
    };
    assert_eq!(resume_from.as_deref(), Some(names::LIFECYCLE_ENACT));
    assert!(
        reason.contains(&format!("{BATCH} enacted")),
        "the refusal says how many documents were enacted: {reason}"
    );
    let holds = report
        .holds
        .as_ref()
        .ok_or("a stopped run says what it holds")?;
    assert_eq!(holds.documents_enacted, BATCH as u64);
    assert_eq!(holds.documents_fenced, (DOCUMENTS - BATCH) as u64);
    let fence = report
        .phases
        .iter()
        .find(|p| p.name == names::CUT_LEG_A)
        .ok_or("no cut-leg-a entry")?;
    assert_eq!(
        fence.evidence.get("batches"),
        Some(&EvidenceValue::from(DOCUMENTS.div_ceil(BATCH) as u64)),
        "the fence went in batches"
    );
    assert_eq!(enacted_by(&*store, &RunId::new("r1")).await?, BATCH);
    switch.set(true);
    Ok((runner, report))
}

/// Stopped after the first enact batch, then resumed: every document enacted once.
async fn resume_finishes(store: Open, switch: &ManualSwitch) -> TestResult {
    seed(&*store).await?;
    let (runner, _) = stopped_after_first_enact_batch(store.clone(), switch).await?;
    let resumed = runner.resume(&RunId::new("r1"), batched()).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_eq!(enacted_by(&*store, &RunId::new("r1")).await?, DOCUMENTS);
    let enact = resumed
        .phases
        .iter()
        .find(|p| p.name == names::LIFECYCLE_ENACT)
        .ok_or("no lifecycle-enact entry")?;
    assert_eq!(
        enact.evidence.get("documents_enacted"),
        Some(&EvidenceValue::from(DOCUMENTS as u64))
    );
    assert_eq!(
        enact.evidence.get("enact_atomic_across_scope"),
        Some(&EvidenceValue::Flag(false))
    );
    Ok(())
}

/// Stopped after the first enact batch, then rolled back: the store is exactly as before.
async fn rollback_restores(store: Open, switch: &ManualSwitch) -> TestResult {
    seed(&*store).await?;
    let before = store.snapshot().await?;
    let (runner, _) = stopped_after_first_enact_batch(store.clone(), switch).await?;
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(store.snapshot().await?, before, "the exact pre-run state");
    Ok(())
}

fn switch() -> ManualSwitch {
    ManualSwitch::new("test switch", true, "open the test switch")
}

fn on_simulator(switch: &ManualSwitch) -> Open {
    Arc::new(Guarded::new(
        Arc::new(iu_cutter_simulator::Simulator::new()),
        gate(switch),
    ))
}

async fn on_sql(fixture: &impl SqlFixture, switch: &ManualSwitch) -> Result<Open, String> {
    let store = connect_with(fixture.options(), gate(switch))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(store))
}

#[tokio::test]
async fn enact_stopped_between_batches_resumes_on_the_simulator() -> TestResult {
    let switch = switch();
    resume_finishes(on_simulator(&switch), &switch).await
}

#[tokio::test]
async fn enact_stopped_between_batches_rolls_back_on_the_simulator() -> TestResult {
    let switch = switch();
    rollback_restores(on_simulator(&switch), &switch).await
}

#[tokio::test]
async fn enact_stopped_between_batches_resumes_on_sqlite() -> TestResult {
    let name = "enact_stopped_between_batches_resumes_on_sqlite";
    let Some(fixture) = fixture::sqlite(name).await else {
        return Ok(());
    };
    let switch = switch();
    resume_finishes(on_sql(&fixture, &switch).await?, &switch).await
}

#[tokio::test]
async fn enact_stopped_between_batches_rolls_back_on_sqlite() -> TestResult {
    let name = "enact_stopped_between_batches_rolls_back_on_sqlite";
    let Some(fixture) = fixture::sqlite(name).await else {
        return Ok(());
    };
    let switch = switch();
    rollback_restores(on_sql(&fixture, &switch).await?, &switch).await
}

#[tokio::test]
async fn enact_stopped_between_batches_resumes_on_postgres() -> TestResult {
    let name = "enact_stopped_between_batches_resumes_on_postgres";
    let Some(fixture) = fixture::postgres(name).await else {
        return Ok(());
    };
    let switch = switch();
    resume_finishes(on_sql(&fixture, &switch).await?, &switch).await?;
    fixture.finish().await;
    Ok(())
}

#[tokio::test]
async fn enact_stopped_between_batches_rolls_back_on_postgres() -> TestResult {
    let name = "enact_stopped_between_batches_rolls_back_on_postgres";
    let Some(fixture) = fixture::postgres(name).await else {
        return Ok(());
    };
    let switch = switch();
    rollback_restores(on_sql(&fixture, &switch).await?, &switch).await?;
    fixture.finish().await;
    Ok(())
}
