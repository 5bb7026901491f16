//! Bounded transactions (issue 15, item 3): the fence and the enact go to the store in batches
//! of `batch_documents`, each its own transaction. A kill switch closed after the first enact
//! batch stops the run before the next one, `REFUSED`, its report saying how many documents
//! were enacted and where it resumes; resuming enacts the rest, and rolling back instead
//! restores the exact pre-run state. On the simulator, SQLite and PostgreSQL; and, on the
//! simulator, for a stop after any batch of the fence or the enact, at any batch size.
//!
//! The rollback goes in the same batches, reading its backup a batch at a time: a kill switch
//! closed between two of its batches, or a later run taking a document of a batch not yet
//! restored, stops it part-way, saying so; rolling back again finishes it, to the exact pre-run
//! state.

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use iu_cutter_live_execution::sql::connect_with;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, CutRules, DocumentId, DocumentState, EvidenceValue,
    ExecutionGate, Guarded, LeaseClaim, LiveExecutionAdapter, ManualSwitch, Op, OpKind, Preset,
    Reply, RunId, RunStatus, Scope, Unavailability, UnavailableKind,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{CancelFlag, DocumentBatches, MemoryBackupStore, RunEvent, names};
use iu_cutter_simulator::strategies::{corpus, cut_rules};
use iu_cutter_tests::application::AfterFirst;
use iu_cutter_tests::fixture::{self, SqlFixture};
use iu_cutter_tests::{SimHarness, cases, runtime, view};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

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
        reason.contains("resumable from `lifecycle-enact`"),
        "the refusal says the run is resumable: {reason}"
    );
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
    let fence = report.phase(names::CUT_LEG_A).ok_or("no cut-leg-a entry")?;
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
        .phase(names::LIFECYCLE_ENACT)
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
    let run = RunId::new("r1");
    rolled_back_exactly(&runner, &run, RunOptions::default(), (&store, &before)).await?;
    Ok(())
}

/// The documents active on `run`'s generation, and the others.
async fn split_by(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
) -> Result<(Vec<DocumentId>, Vec<DocumentId>), String> {
    let heads = store
        .load_heads(&Scope::All)
        .await
        .map_err(|e| e.to_string())?;
    let (enacted, rest): (Vec<_>, Vec<_>) = heads
        .into_iter()
        .partition(|d| d.active_generation.as_ref() == Some(run));
    let ids = |heads: Vec<iu_cutter_live_execution::DocumentHead>| {
        heads.into_iter().map(|d| d.id).collect::<Vec<_>>()
    };
    Ok((ids(enacted), ids(rest)))
}

/// Seeds `store`, stops run `r1` after its first enact batch, puts `body` on the first document
/// that batch enacted (`enacted`) or left (`!enacted`), and resumes the run: the run, the edited
/// document and the resume's report.
async fn stop_edit_resume(
    store: &Open,
    switch: &ManualSwitch,
    enacted: bool,
    body: &str,
) -> Result<(RunId, DocumentId, RunReport), Box<dyn std::error::Error>> {
    seed(&**store).await?;
    let (runner, _) = stopped_after_first_enact_batch(store.clone(), switch).await?;
    let run = RunId::new("r1");
    let (done, rest) = split_by(&**store, &run).await?;
    let pool = if enacted { done } else { rest };
    let edited = pool
        .first()
        .ok_or("no document on that side of the batch")?
        .clone();
    store.put_document(&edited, body).await?;
    let resumed = runner.resume(&run, batched()).await?;
    Ok((run, edited, resumed))
}

/// D1 of the fourth attack: stopped after the first enact batch, then the application edits a
/// document that batch enacted (a new revision, state `Ready`): resuming passes, enacts the rest,
/// and keeps the edit (the document stays on the run's generation, its new body untouched).
async fn resume_keeps_an_edit_of_an_enacted_document(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let body = "# Edited\n\nBy the application after the enact.\n";
    let (run, edited, resumed) = stop_edit_resume(&store, switch, true, body).await?;
    let edited = &edited;

    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    let (enacted, rest) = split_by(&*store, &run).await?;
    assert_eq!((enacted.len(), rest.len()), (DOCUMENTS, 0));
    let after = store.load_scope(&Scope::Ids(vec![edited.clone()])).await?;
    let after = after.first().ok_or("the edited document is gone")?;
    assert_eq!(after.body, body, "the application's edit is kept");
    assert_eq!(after.state, DocumentState::Ready, "and shows as not cut");
    Ok(())
}

/// D1 of the fourth attack: stopped after the first enact batch, then the application edits a
/// document the run had not enacted yet: the resume is BLOCKED on it, and its gap counts the
/// documents the stopped call enacted instead of saying nothing was enacted.
async fn blocked_resume_counts_what_the_stopped_call_enacted(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let (_, edited, resumed) = stop_edit_resume(&store, switch, false, "# Edited\n").await?;
    let edited = &edited;

    let Outcome::Blocked { gap } = &resumed.outcome else {
        return Err(format!("expected BLOCKED, got {}", resumed.to_json()).into());
    };
    assert_eq!(gap.document.as_ref(), Some(edited));
    assert!(
        gap.to_string().contains(&format!(
            "{BATCH} of its {DOCUMENTS} document(s) are enacted"
        )),
        "{gap}"
    );
    assert!(!gap.to_string().contains("nothing"), "{gap}");
    Ok(())
}

/// Asserts that the journal of `store` shows `run` rolled back in part (`what` says why it must).
async fn journaled_in_part(store: &Open, run: &RunId, what: &str) -> TestResult {
    let journaled = store.load_run(run).await?.ok_or("r1 is journaled")?;
    assert!(
        iu_cutter_orchestrator::rolled_back_in_part(&journaled),
        "{what}: {journaled:?}"
    );
    Ok(())
}

/// Rolls `run` back with `runner` and `options`, which must leave `store` exactly as `before`
/// (the pre-run state).
async fn rolled_back_exactly(
    runner: &Runner,
    run: &RunId,
    options: RunOptions,
    (store, before): (&Open, &iu_cutter_live_execution::StoreSnapshot),
) -> TestResult {
    let rolled = runner.rollback_with(run, options).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(&store.snapshot().await?, before, "the exact pre-run state");
    Ok(())
}

/// Seeds `store` and runs `r1` over it to `PASS` in batches: the pre-run snapshot.
async fn passed_in_batches(
    store: &Open,
) -> Result<iu_cutter_live_execution::StoreSnapshot, Box<dyn std::error::Error>> {
    seed(&**store).await?;
    let before = store.snapshot().await?;
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    let report = runner.run(request, batched()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    Ok(before)
}

/// A run enacted in batches rolls back in batches (one restore transaction each), from its
/// backup read a batch at a time, to the exact pre-run state.
async fn rollback_goes_in_batches(store: Open, _: &ManualSwitch) -> TestResult {
    rolls_back_in(store, DocumentBatches::Of(BATCH), DOCUMENTS.div_ceil(BATCH)).await
}

/// With `batch_documents = 0` a rollback is one transaction, all or nothing, as documented.
async fn rollback_of_the_whole_scope_is_one_transaction(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    rolls_back_in(store, DocumentBatches::WholeScope, 1).await
}

/// Runs `r1` to `PASS` in batches, rolls it back with `batches` and checks that it took
/// `transactions` restore transactions and reached the exact pre-run state.
async fn rolls_back_in(store: Open, batches: DocumentBatches, transactions: usize) -> TestResult {
    let before = passed_in_batches(&store).await?;
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let options = RunOptions::default().with_batch_documents(batches);

    let rolled = runner.rollback_with(&RunId::new("r1"), options).await?;

    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    let entry = rolled.phase("rollback").ok_or("no rollback entry")?;
    assert_eq!(
        entry.evidence.get("batches"),
        Some(&EvidenceValue::from(transactions as u64)),
        "one restore transaction per batch"
    );
    assert_eq!(
        entry.evidence.get("restored_documents"),
        Some(&EvidenceValue::from(DOCUMENTS as u64))
    );
    assert_eq!(store.snapshot().await?, before, "the exact pre-run state");
    Ok(())
}

/// The kill switch closed between two batches of a rollback stops it before the next one: the
/// refusal says the store was changed and what the run still holds, the run is not resumable
/// into a cut, and rolling back again once the switch is open finishes the job.
async fn rollback_stopped_between_batches_rolls_back_again(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let before = passed_in_batches(&store).await?;
    let closing = switch.clone();
    let stopping = AfterFirst::new(&store, OpKind::Restore, async move { closing.set(false) });
    let runner = Runner::new(stopping, Arc::new(MemoryBackupStore::new()));
    let run = RunId::new("r1");
    // The backup's export went to `passed_in_batches`'s memory store; the store's journal holds
    // the backup too, and a runner reads it from there first.

    let stopped = runner.rollback_with(&run, batched()).await?;

    let Outcome::Refused { reason, .. } = &stopped.outcome else {
        return Err(format!("expected REFUSED, got {}", stopped.to_json()).into());
    };
    assert!(
        reason.contains("already changed the store"),
        "the refusal says the store was changed: {reason}"
    );
    let holds = stopped
        .holds
        .as_ref()
        .ok_or("a stopped rollback says what the run holds")?;
    assert_eq!(
        holds.documents_enacted,
        (DOCUMENTS - BATCH) as u64,
        "the first batch was rolled back, the rest not"
    );
    switch.set(true);
    let resumed = runner.resume(&run, batched()).await?;
    let Outcome::Failed { error, .. } = &resumed.outcome else {
        return Err(format!(
            "a run rolled back in part is never resumed: {}",
            resumed.to_json()
        )
        .into());
    };
    assert!(error.contains("was being rolled back"), "{error}");

    rolled_back_exactly(&runner, &run, batched(), (&store, &before)).await?;
    Ok(())
}

/// Runs `r1` to `PASS` in batches, then rolls it back while a later run `r2` fences its last
/// document between the first two restore batches: the pre-run snapshot, that document and the
/// rollback's report.
async fn rollback_raced_by_a_later_run(
    store: &Open,
) -> Result<
    (
        iu_cutter_live_execution::StoreSnapshot,
        DocumentId,
        RunReport,
    ),
    Box<dyn std::error::Error>,
> {
    let before = passed_in_batches(store).await?;
    let taken = DocumentId::new(format!("act/{}", DOCUMENTS - 1));
    let later = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let later_request = RunRequest::new(
        "r2",
        Scope::Ids(vec![taken.clone()]),
        CutRules::preset(Preset::Markdown),
    );
    let later_run = async move {
        let held = later
            .run(
                later_request,
                RunOptions::default().with_until(names::CUT_LEG_A),
            )
            .await;
        assert!(
            matches!(&held, Ok(report) if report.outcome == Outcome::Pass
                && report.held_after.as_deref() == Some(names::CUT_LEG_A)),
            "the later run fenced its document and holds it: {:?}",
            held.map(|r| r.to_json())
        );
    };
    let racing = AfterFirst::new(store, OpKind::Restore, later_run);
    let runner = Runner::new(racing, Arc::new(MemoryBackupStore::new()));
    let stopped = runner.rollback_with(&RunId::new("r1"), batched()).await?;
    Ok((before, taken, stopped))
}

/// A later run takes a document between two batches of a rollback (after the first pass found
/// none held): the rollback stops `BLOCKED` on that document, saying how many documents it rolled
/// back and that the rest were not changed; the later run's fence is untouched. Rolling back the
/// later run, then this one again, reaches the exact pre-run state.
async fn a_later_run_mid_rollback_stops_it_part_way(store: Open, _: &ManualSwitch) -> TestResult {
    let run = RunId::new("r1");

    let (before, taken, stopped) = rollback_raced_by_a_later_run(&store).await?;

    let Outcome::Blocked { gap } = &stopped.outcome else {
        return Err(format!("expected BLOCKED, got {}", stopped.to_json()).into());
    };
    assert_eq!(gap.document.as_ref(), Some(&taken));
    let said = gap.to_string();
    assert!(said.contains("held by run r2"), "{said}");
    assert!(
        said.contains(&format!(
            "{} document(s) of the batches before it were rolled back",
            DOCUMENTS - 1
        )),
        "{said}"
    );
    assert!(said.contains("the rest were not changed"), "{said}");
    let heads = store.load_heads(&Scope::Ids(vec![taken.clone()])).await?;
    assert_eq!(
        heads.first().map(|h| &h.state),
        Some(&DocumentState::Cutting {
            run: RunId::new("r2")
        }),
        "the later run's fence is left alone"
    );
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::Blocked);

    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let r2 = plain.rollback(&RunId::new("r2")).await?;
    assert_eq!(r2.outcome, Outcome::RolledBack, "{}", r2.to_json());
    rolled_back_exactly(&plain, &run, batched(), (&store, &before)).await?;
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

/// The stores the checks run on.
enum Backend {
    Simulator,
    Sqlite,
    Postgres,
}

/// Runs `check` on a fresh store of `backend` behind a switch of its own, for the test `name`
/// (skipped where the backend is not here), then releases the store.
async fn on_backend(
    backend: Backend,
    name: &str,
    check: impl AsyncFnOnce(Open, &ManualSwitch) -> TestResult,
) -> TestResult {
    let switch = switch();
    match backend {
        Backend::Simulator => check(on_simulator(&switch), &switch).await,
        Backend::Sqlite => on_sql_fixture(fixture::sqlite(name).await, &switch, check).await,
        Backend::Postgres => on_sql_fixture(fixture::postgres(name).await, &switch, check).await,
    }
}

/// Runs `check` on the SQL store of `fixture`, if there is one, then releases it.
async fn on_sql_fixture<F: SqlFixture>(
    fixture: Option<F>,
    switch: &ManualSwitch,
    check: impl AsyncFnOnce(Open, &ManualSwitch) -> TestResult,
) -> TestResult {
    let Some(fixture) = fixture else {
        return Ok(());
    };
    check(on_sql(&fixture, switch).await?, switch).await?;
    fixture.finish().await;
    Ok(())
}

/// One test per (name, backend) running `check` there.
macro_rules! on_backends {
    ($check:ident: $($test:ident on $backend:ident),+ $(,)?) => {$(
        #[tokio::test]
        async fn $test() -> TestResult {
            on_backend(Backend::$backend, stringify!($test), $check).await
        }
    )+};
}

on_backends!(resume_finishes:
    enact_stopped_between_batches_resumes_on_the_simulator on Simulator,
    enact_stopped_between_batches_resumes_on_sqlite on Sqlite,
    enact_stopped_between_batches_resumes_on_postgres on Postgres,
);

on_backends!(rollback_restores:
    enact_stopped_between_batches_rolls_back_on_the_simulator on Simulator,
    enact_stopped_between_batches_rolls_back_on_sqlite on Sqlite,
    enact_stopped_between_batches_rolls_back_on_postgres on Postgres,
);

on_backends!(resume_keeps_an_edit_of_an_enacted_document:
    resume_keeps_an_edit_of_an_enacted_document_on_the_simulator on Simulator,
    resume_keeps_an_edit_of_an_enacted_document_on_sqlite on Sqlite,
    resume_keeps_an_edit_of_an_enacted_document_on_postgres on Postgres,
);

on_backends!(blocked_resume_counts_what_the_stopped_call_enacted:
    blocked_resume_counts_what_the_stopped_call_enacted_on_the_simulator on Simulator,
    blocked_resume_counts_what_the_stopped_call_enacted_on_sqlite on Sqlite,
    blocked_resume_counts_what_the_stopped_call_enacted_on_postgres on Postgres,
);

on_backends!(rollback_goes_in_batches:
    rollback_goes_in_batches_on_the_simulator on Simulator,
    rollback_goes_in_batches_on_sqlite on Sqlite,
    rollback_goes_in_batches_on_postgres on Postgres,
);

on_backends!(rollback_of_the_whole_scope_is_one_transaction:
    rollback_of_the_whole_scope_is_one_transaction_on_the_simulator on Simulator,
    rollback_of_the_whole_scope_is_one_transaction_on_sqlite on Sqlite,
    rollback_of_the_whole_scope_is_one_transaction_on_postgres on Postgres,
);

on_backends!(rollback_stopped_between_batches_rolls_back_again:
    rollback_stopped_between_batches_rolls_back_again_on_the_simulator on Simulator,
    rollback_stopped_between_batches_rolls_back_again_on_sqlite on Sqlite,
    rollback_stopped_between_batches_rolls_back_again_on_postgres on Postgres,
);

on_backends!(a_later_run_mid_rollback_stops_it_part_way:
    a_later_run_mid_rollback_stops_it_part_way_on_the_simulator on Simulator,
    a_later_run_mid_rollback_stops_it_part_way_on_sqlite on Sqlite,
    a_later_run_mid_rollback_stops_it_part_way_on_postgres on Postgres,
);

/// A run of `docs` on a fresh simulator with `batch` documents per fence and enact transaction,
/// whose switch closes after the `stop_after`-th batch of `phase` (never, past its last).
async fn stopped_in_batches(
    docs: &[(DocumentId, String)],
    rules: &CutRules,
    batch: usize,
    phase: &'static str,
    stop_after: usize,
) -> Result<(SimHarness, RunReport), TestCaseError> {
    let h = SimHarness::with_documents(docs);
    let switch = h.switch.clone();
    let seen = Arc::new(AtomicUsize::new(0));
    let options = RunOptions::default()
        .with_batch_documents(DocumentBatches::Of(batch))
        .with_events(Arc::new(move |event: RunEvent| {
            if let RunEvent::Progress { phase: at, .. } = &event
                && at == phase
                && seen.fetch_add(1, Ordering::SeqCst) + 1 == stop_after
            {
                switch.set(false);
            }
        }));
    let request = RunRequest::new("run-s", Scope::All, rules.clone());
    let report = h
        .runner
        .run(request, options)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    h.switch.set(true);
    Ok((h, report))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24, 4)))]

    /// A run stopped by the kill switch after any batch of its fence or its enact, whatever the
    /// batch size, is resumed to exactly the state of a run that was never stopped, or rolled
    /// back to exactly the pre-run state: fence and enact are idempotent per document.
    #[test]
    fn a_run_stopped_between_any_two_batches_resumes_or_rolls_back_exactly(
        docs in corpus(4),
        rules in cut_rules(),
        batch in 1usize..=3,
        enact in any::<bool>(),
        stop_after in 1usize..=4,
        roll_back in any::<bool>(),
    ) {
        runtime().block_on(async {
            let phase = if enact { names::LIFECYCLE_ENACT } else { names::CUT_LEG_A };
            let unstopped = SimHarness::with_documents(&docs);
            let report = unstopped.run("run-s", Scope::All, &rules).await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&report.outcome, &Outcome::Pass);
            let expected = view(&unstopped.sim.state_snapshot());
            let expected_fingerprint = unstopped.sim.state_fingerprint();

            let pre_run = SimHarness::with_documents(&docs).sim.state_snapshot();
            let (h, report) = stopped_in_batches(&docs, &rules, batch, phase, stop_after).await?;
            let batches = docs.len().div_ceil(batch);
            if stop_after > batches {
                prop_assert_eq!(&report.outcome, &Outcome::Pass, "never stopped");
            } else {
                prop_assert_eq!(report.outcome.name(), "REFUSED", "{:?}", report.outcome);
            }
            let run = RunId::new("run-s");
            if roll_back {
                let rolled = h.runner.rollback(&run).await
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&rolled.outcome, &Outcome::RolledBack, "{}", rolled.to_json());
                prop_assert_eq!(h.sim.state_snapshot(), pre_run, "the exact pre-run state");
            } else {
                if report.outcome != Outcome::Pass {
                    let options = RunOptions::default()
                        .with_batch_documents(DocumentBatches::Of(batch));
                    let resumed = h.runner.resume(&run, options).await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&resumed.outcome, &Outcome::Pass, "{}", resumed.to_json());
                }
                prop_assert_eq!(view(&h.sim.state_snapshot()), expected);
                prop_assert_eq!(h.sim.state_fingerprint(), expected_fingerprint);
            }
            Ok(())
        })?;
    }
}

// ---------------------------------------------------------------------------------------------
// Adversarial checks (scratch worktree).
// ---------------------------------------------------------------------------------------------

/// Rolls `r1` (passed in batches) back with `BATCH` documents per batch, cancelled as the first
/// batch is restored: `BLOCKED`, rolled back in part, journaled so.
async fn cancelled_after_first_batch(
    store: &Open,
) -> Result<iu_cutter_live_execution::StoreSnapshot, Box<dyn std::error::Error>> {
    let before = passed_in_batches(store).await?;
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    let cancelling = AfterFirst::new(store, OpKind::Restore, async move { flag.cancel() });
    let runner = Runner::new(cancelling, Arc::new(MemoryBackupStore::new()));
    let run = RunId::new("r1");
    let stopped = runner
        .rollback_with(&run, batched().with_cancel(cancel))
        .await?;
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. }),
        "{}",
        stopped.to_json()
    );
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::Blocked);
    Ok(before)
}

/// Asserts that resuming `run`, rolled back in part, fails naming the rollback (and is never
/// answered `PASS` over a store rolled back in part).
async fn never_resumed(runner: &Runner, store: &Open, run: &RunId) -> TestResult {
    let resumed = runner.resume(run, batched()).await?;
    let journaled = store.load_run(run).await?.ok_or("the run is journaled")?;
    assert!(
        matches!(&resumed.outcome, Outcome::Failed { error, .. } if error.contains("was being rolled back")),
        "a run rolled back in part must never be resumed; resume answered {} (journal status \
         now {:?}, {} of {DOCUMENTS} documents enacted by it)",
        resumed.to_json(),
        journaled.status,
        enacted_by(&**store, run).await?,
    );
    Ok(())
}

/// Rolls `run`, already rolled back in part, back again, cancelled before that invocation's first
/// batch: it undid nothing, yet stays `BLOCKED`. The runner and its report.
async fn retried_cancelled_before_its_first_batch(
    store: &Open,
    run: &RunId,
) -> Result<(Runner, RunReport), Box<dyn std::error::Error>> {
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let cancel = CancelFlag::new();
    cancel.cancel();
    let retried = plain
        .rollback_with(run, batched().with_cancel(cancel))
        .await?;
    assert_eq!(retried.outcome.name(), "BLOCKED", "{}", retried.to_json());
    Ok((plain, retried))
}

/// A rollback stopped part-way (cancelled after its first batch: `BLOCKED`), then rolled back
/// again but cancelled before that invocation's first batch (a second Ctrl-C, a SIGTERM on
/// shutdown): the retry undid nothing, yet the run is still rolled back in part, so it stays
/// `BLOCKED` and is never resumed (found by an attack on the batched rollback: the retry
/// journaled its entry `failed` over `blocked`, and `resume` then journaled the half-rolled-back
/// run `PASS`). Rolling back once more finishes the job.
async fn retry_cancelled_before_its_first_batch_keeps_the_run_unresumable(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let before = cancelled_after_first_batch(&store).await?;
    let run = RunId::new("r1");
    let (plain, retried) = retried_cancelled_before_its_first_batch(&store, &run).await?;
    assert!(
        said(&retried).contains("the run is rolled back in part"),
        "{}",
        said(&retried)
    );

    never_resumed(&plain, &store, &run).await?;
    // And rolling back again still finishes the job.
    rolled_back_exactly(&plain, &run, batched(), (&store, &before)).await?;
    Ok(())
}

on_backends!(retry_cancelled_before_its_first_batch_keeps_the_run_unresumable:
    retry_cancelled_keeps_unresumable_on_the_simulator on Simulator,
    retry_cancelled_keeps_unresumable_on_sqlite on Sqlite,
    retry_cancelled_keeps_unresumable_on_postgres on Postgres,
);

/// The sequence after a later run took a document mid-rollback (`BLOCKED`, next: roll back r2,
/// then r1), except that the operator rolls r1 back again first: the first pass finds r2's fence
/// and stops before any change, but the run is rolled back in part already, so it stays
/// `BLOCKED` and is never resumed (the attack found the retry journaling `failed` over `blocked`
/// and `resume` then answering `PASS`).
async fn retry_refused_by_the_later_run_keeps_the_run_unresumable(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (_, _, stopped) = rollback_raced_by_a_later_run(&store).await?;
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. }),
        "{}",
        stopped.to_json()
    );

    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let retried = plain.rollback_with(&run, batched()).await?;
    assert_eq!(retried.outcome.name(), "BLOCKED", "{}", retried.to_json());
    assert!(
        said(&retried).contains("held by run r2"),
        "{}",
        said(&retried)
    );

    never_resumed(&plain, &store, &run).await?;
    Ok(())
}

on_backends!(retry_refused_by_the_later_run_keeps_the_run_unresumable:
    retry_refused_by_later_run_keeps_unresumable_on_the_simulator on Simulator,
    retry_refused_by_later_run_keeps_unresumable_on_sqlite on Sqlite,
    retry_refused_by_later_run_keeps_unresumable_on_postgres on Postgres,
);

/// Runs `r1` to `PASS` in batches, then rolls it back with `switch` closing after the first
/// restore batch (`REFUSED`), and opens the switch again: the pre-run snapshot.
async fn switch_closed_mid_rollback(
    store: &Open,
    switch: &ManualSwitch,
) -> Result<iu_cutter_live_execution::StoreSnapshot, Box<dyn std::error::Error>> {
    let before = passed_in_batches(store).await?;
    let closing = switch.clone();
    let stopping = AfterFirst::new(store, OpKind::Restore, async move { closing.set(false) });
    let runner = Runner::new(stopping, Arc::new(MemoryBackupStore::new()));
    let stopped = runner.rollback_with(&RunId::new("r1"), batched()).await?;
    assert_eq!(stopped.outcome.name(), "REFUSED", "{}", stopped.to_json());
    switch.set(true);
    Ok(before)
}

/// The kill switch closed between two rollback batches (the journal's writes are refused too, so
/// the run's status stays `PASS` and its rollback entry `running`); then, the switch open again, a
/// retry cancelled before its first batch: the run stays unresumable (the attack found the
/// retry's `failed` entry making `resume` answer `PASS` over a store rolled back in part).
async fn retry_after_kill_switch_keeps_the_run_unresumable(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    switch_closed_mid_rollback(&store, switch).await?;

    let (plain, _) = retried_cancelled_before_its_first_batch(&store, &run).await?;

    never_resumed(&plain, &store, &run).await?;
    Ok(())
}

on_backends!(retry_after_kill_switch_keeps_the_run_unresumable:
    retry_after_kill_switch_keeps_unresumable_on_the_simulator on Simulator,
    retry_after_kill_switch_keeps_unresumable_on_sqlite on Sqlite,
    retry_after_kill_switch_keeps_unresumable_on_postgres on Postgres,
);

/// Two rollbacks of the same run at once (no lease): the second runs whole between the first's
/// first and second batch. Both must end `ROLLED_BACK` (or one say it found
/// it done) and the store must be exactly pre-run.
async fn two_rollbacks_at_once(store: Open, _: &ManualSwitch) -> TestResult {
    let before = passed_in_batches(&store).await?;
    let other = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let run = RunId::new("r1");
    let inner_run = run.clone();
    let racing = AfterFirst::new(&store, OpKind::Restore, async move {
        let r = other.rollback_with(&inner_run, batched()).await;
        assert!(
            matches!(&r, Ok(r) if r.outcome == Outcome::RolledBack),
            "{:?}",
            r.map(|r| r.to_json())
        );
    });
    let runner = Runner::new(racing, Arc::new(MemoryBackupStore::new()));
    let first = runner.rollback_with(&run, batched()).await?;
    assert_eq!(first.outcome, Outcome::RolledBack, "{}", first.to_json());
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::RolledBack);
    assert_eq!(store.snapshot().await?, before, "the exact pre-run state");
    Ok(())
}

on_backends!(two_rollbacks_at_once:
    two_rollbacks_at_once_on_the_simulator on Simulator,
    two_rollbacks_at_once_on_sqlite on Sqlite,
    two_rollbacks_at_once_on_postgres on Postgres,
);

/// A rollback stopped part-way frees the documents of its first batch (as they were before r1). A
/// later run r2 then cuts one of those freed documents, legitimately (r1 holds nothing of it any
/// more). Rolling r1 back again finishes r1's rollback (the other documents still carry r1's
/// enact) without touching r2's document: `undo_step` finds nothing of r1's on it before it asks
/// whether a later run holds it.
async fn a_later_run_on_a_freed_document_does_not_block_the_rest(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    cancelled_after_first_batch(&store).await?;
    let run = RunId::new("r1");
    let (still_enacted, freed) = split_by(&*store, &run).await?;
    assert_eq!(still_enacted.len(), DOCUMENTS - BATCH);
    let freed = freed.first().ok_or("a freed document")?.clone();
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let r2 = plain
        .run(
            RunRequest::new(
                "r2",
                Scope::Ids(vec![freed.clone()]),
                CutRules::preset(Preset::Markdown),
            ),
            RunOptions::default(),
        )
        .await?;
    assert_eq!(r2.outcome, Outcome::Pass, "{}", r2.to_json());

    let again = plain.rollback_with(&run, batched()).await?;
    assert_eq!(
        again.outcome,
        Outcome::RolledBack,
        "r1 holds nothing of `{freed}` any more; its rollback must finish: {}",
        again.to_json()
    );
    assert_eq!(enacted_by(&*store, &run).await?, 0);
    assert_eq!(enacted_by(&*store, &RunId::new("r2")).await?, 1);
    Ok(())
}

on_backends!(a_later_run_on_a_freed_document_does_not_block_the_rest:
    later_run_on_freed_document_on_the_simulator on Simulator,
    later_run_on_freed_document_on_sqlite on Sqlite,
    later_run_on_freed_document_on_postgres on Postgres,
);

/// Words of a report's outcome and rollback entry, to look for what it says.
fn said(report: &RunReport) -> String {
    let entry = report
        .phase("rollback")
        .map(|e| format!("{:?} {:?}", e.detail, e.evidence))
        .unwrap_or_default();
    format!("{} | {entry}", report.to_json())
}

/// The kill switch closed between two rollback batches: the report says that `BATCH` documents
/// were rolled back and the rest not changed, and does not blame the journal (the restore was
/// refused, not a journal write; the attack found both missing).
async fn kill_switch_between_batches_says_how_far_it_got(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    passed_in_batches(&store).await?;
    let closing = switch.clone();
    let stopping = AfterFirst::new(&store, OpKind::Restore, async move { closing.set(false) });
    let runner = Runner::new(stopping, Arc::new(MemoryBackupStore::new()));
    let stopped = runner.rollback_with(&RunId::new("r1"), batched()).await?;
    let Outcome::Refused { reason, .. } = &stopped.outcome else {
        return Err(format!("expected REFUSED, got {}", stopped.to_json()).into());
    };
    let entry = stopped.phase("rollback").ok_or("no rollback entry")?;
    let counted = entry.evidence.get("restored_documents")
        == Some(&EvidenceValue::from(BATCH as u64))
        || reason.contains(&format!("{BATCH} document(s)"));
    assert!(
        counted && reason.contains("the rest were not changed"),
        "the report must say {BATCH} documents were rolled back and the rest not changed: {}",
        said(&stopped)
    );
    assert!(
        !reason.contains("cannot write the journal"),
        "the restore was refused, not a journal write: {reason}"
    );
    Ok(())
}

on_backends!(kill_switch_between_batches_says_how_far_it_got:
    kill_switch_says_how_far_on_the_simulator on Simulator,
    kill_switch_says_how_far_on_sqlite on Sqlite,
    kill_switch_says_how_far_on_postgres on Postgres,
);

/// Where [`FailingAfter`] fails.
#[derive(Clone, Copy)]
enum Fails {
    /// The first `restore` call after this many (not applied).
    Restore,
    /// The first `scope_census` after this many `restore` calls (a read: the restores before it
    /// were committed).
    CensusAfter,
    /// The first `restore` call after this many, once it is applied: a connection lost after
    /// the commit, so the store's answer is an error though the batch was committed.
    RestoreCommitted,
    /// The first `restore` call after this many, with a lock timeout (not applied: the store
    /// says the call changed nothing).
    RestoreTimedOut,
    /// As [`Fails::RestoreTimedOut`], and then every journaled phase record fails (the
    /// connection lost): the rollback cannot record that it ended.
    RestoreTimedOutJournalLost,
}

/// The store, except that it fails once, as a lost connection would, where `fails` says after
/// `restores` `restore` calls.
struct FailingAfter {
    inner: Open,
    fails: Fails,
    restores: usize,
    seen: AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
}

impl FailingAfter {
    fn over(inner: &Open, fails: Fails, restores: usize) -> Open {
        Arc::new(FailingAfter {
            inner: inner.clone(),
            fails,
            restores,
            seen: AtomicUsize::new(0),
            failed: std::sync::atomic::AtomicBool::new(false),
        })
    }
}

#[async_trait]
impl LiveExecutionAdapter for FailingAfter {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let restores = self.seen.load(Ordering::SeqCst);
        let restore = matches!(op, Op::Restore { .. });
        let here = match self.fails {
            Fails::CensusAfter => matches!(op, Op::ScopeCensus(_)),
            Fails::Restore
            | Fails::RestoreCommitted
            | Fails::RestoreTimedOut
            | Fails::RestoreTimedOutJournalLost => restore,
        };
        let lost = AdapterError::Unavailable(Unavailability {
            kind: UnavailableKind::Connection,
            message: "connection reset by peer".into(),
        });
        if matches!(self.fails, Fails::RestoreTimedOutJournalLost)
            && matches!(op, Op::RecordPhase { .. })
            && self.failed.load(Ordering::SeqCst)
        {
            return Err(lost);
        }
        if restore {
            self.seen.fetch_add(1, Ordering::SeqCst);
        }
        if !here || restores < self.restores || self.failed.swap(true, Ordering::SeqCst) {
            return self.inner.call(op, claim).await;
        }
        match self.fails {
            Fails::RestoreCommitted => self.inner.call(op, claim).await.and(Err(lost)),
            Fails::RestoreTimedOut | Fails::RestoreTimedOutJournalLost => {
                Err(AdapterError::Unavailable(Unavailability {
                    kind: UnavailableKind::Busy,
                    message: "canceling statement due to lock timeout".into(),
                }))
            }
            Fails::Restore | Fails::CensusAfter => Err(lost),
        }
    }
}

/// After a rollback stopped part-way: `run` refuses to resume (it is being rolled back), and
/// rolling back again finishes it, to the exact pre-run state `before`.
async fn not_resumable_and_rolled_back_again(
    store: &Open,
    run: &RunId,
    before: &iu_cutter_live_execution::StoreSnapshot,
) -> TestResult {
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let resumed = plain.resume(run, batched()).await?;
    assert!(
        matches!(&resumed.outcome, Outcome::Failed { error, .. } if error.contains("was being rolled back")),
        "{}",
        resumed.to_json()
    );
    rolled_back_exactly(&plain, run, batched(), (store, before)).await?;
    Ok(())
}

/// Runs `r1` to `PASS` in batches and rolls it back over a store failing where `fails` says
/// after `restores` restore calls: the pre-run snapshot and the rollback's report.
async fn rolled_back_failing(
    store: &Open,
    fails: Fails,
    restores: usize,
) -> Result<(iu_cutter_live_execution::StoreSnapshot, RunReport), Box<dyn std::error::Error>> {
    let before = passed_in_batches(store).await?;
    let failing = FailingAfter::over(store, fails, restores);
    let runner = Runner::new(failing, Arc::new(MemoryBackupStore::new()));
    let stopped = runner.rollback_with(&RunId::new("r1"), batched()).await?;
    Ok((before, stopped))
}

/// The store fails (connection lost) on the second batch of a rollback, after the first
/// was undone: the report must say how many documents were rolled back (and not that the journal
/// could not be written), the run must not be resumable, and rolling back again finishes it.
async fn store_failure_between_batches_says_how_far_it_got(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::Restore, 1).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS - BATCH);
    let entry = stopped.phase("rollback").ok_or("no rollback entry")?;
    let counted = entry.evidence.get("restored_documents")
        == Some(&EvidenceValue::from(BATCH as u64))
        || text.contains(&format!("{BATCH} document(s)"));
    not_resumable_and_rolled_back_again(&store, &run, &before).await?;
    assert!(
        counted && !text.contains("cannot write the journal"),
        "the report must say {BATCH} documents were rolled back, and not blame the journal: {text}"
    );
    Ok(())
}

on_backends!(store_failure_between_batches_says_how_far_it_got:
    store_failure_says_how_far_on_the_simulator on Simulator,
    store_failure_says_how_far_on_sqlite on Sqlite,
    store_failure_says_how_far_on_postgres on Postgres,
);

// A second attack on the batched rollback (a helper session) found the checks below failing on
// every store: `enact` answered `PASS` for a run rolled back in part, a failed check after a
// committed batch and a store failure left the run `PASS`/`FAILED` without saying how far the
// rollback got, and `export --since` called the run's generations purged.

/// Runs `r1` to `PASS` in batches, then rolls it back with `BATCH` documents per batch and
/// drops the rollback's future right after its first batch is restored: the process killed
/// between two batches. The journal then shows the run `PASS` with its rollback entry `running`.
async fn killed_after_first_rollback_batch(
    store: &Open,
) -> Result<iu_cutter_live_execution::StoreSnapshot, Box<dyn std::error::Error>> {
    let before = passed_in_batches(store).await?;
    let killed = Arc::new(tokio::sync::Notify::new());
    let signal = killed.clone();
    let killing = AfterFirst::new(store, OpKind::Restore, async move {
        signal.notify_one();
        std::future::pending::<()>().await;
    });
    let runner = Runner::new(killing, Arc::new(MemoryBackupStore::new()));
    let run = RunId::new("r1");
    tokio::select! {
        report = runner.rollback_with(&run, batched()) => {
            return Err(format!("the rollback was to be killed, it ended: {:?}",
                report.map(|r| r.to_json())).into());
        }
        () = killed.notified() => {}
    }
    assert_eq!(enacted_by(&**store, &run).await?, DOCUMENTS - BATCH);
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::Pass, "{journaled:?}");
    Ok(before)
}

/// A rollback killed between two batches (or stopped by the kill switch, or by a lost
/// lease: the journal's writes are refused, so the run's status stays `PASS` and its rollback
/// entry `running`). `enact` of the run must not answer `PASS` ("already enacted"): the run is
/// rolled back in part.
async fn enact_after_a_killed_rollback_is_not_pass(store: Open, _: &ManualSwitch) -> TestResult {
    killed_after_first_rollback_batch(&store).await?;
    let run = RunId::new("r1");
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let enacted = plain.enact(&run, batched()).await?;
    assert_ne!(
        enacted.outcome,
        Outcome::Pass,
        "a run rolled back in part ({} of {DOCUMENTS} documents still enacted) must never be \
         reported PASS; enact answered {}",
        enacted_by(&*store, &run).await?,
        enacted.to_json()
    );
    Ok(())
}

on_backends!(enact_after_a_killed_rollback_is_not_pass:
    enact_after_killed_rollback_on_the_simulator on Simulator,
    enact_after_killed_rollback_on_sqlite on Sqlite,
    enact_after_killed_rollback_on_postgres on Postgres,
);

/// The same through the kill switch (no kill): closed between two rollback batches,
/// then opened again; `enact` must not answer `PASS`.
async fn enact_after_kill_switch_mid_rollback_is_not_pass(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    switch_closed_mid_rollback(&store, switch).await?;
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let enacted = plain.enact(&run, batched()).await?;
    assert_ne!(
        enacted.outcome,
        Outcome::Pass,
        "enact of a run rolled back in part answered {}",
        enacted.to_json()
    );
    Ok(())
}

on_backends!(enact_after_kill_switch_mid_rollback_is_not_pass:
    enact_after_kill_switch_mid_rollback_on_the_simulator on Simulator,
    enact_after_kill_switch_mid_rollback_on_sqlite on Sqlite,
    enact_after_kill_switch_mid_rollback_on_postgres on Postgres,
);

/// `verify` of that run must not answer `PASS` either, and names the unfinished rollback (it
/// answered "generation absent (purged?)" before).
async fn verify_after_a_killed_rollback_is_not_pass(store: Open, _: &ManualSwitch) -> TestResult {
    killed_after_first_rollback_batch(&store).await?;
    let run = RunId::new("r1");
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let verified = plain.verify(&run, batched()).await?;
    let Outcome::Failed { error, next, .. } = &verified.outcome else {
        return Err(format!("expected FAILED, got {}", verified.to_json()).into());
    };
    assert!(error.contains("was being rolled back"), "{error}");
    assert_eq!(next, &[iu_cutter_orchestrator::NextAction::rollback(&run)]);
    Ok(())
}

on_backends!(verify_after_a_killed_rollback_is_not_pass:
    verify_after_killed_rollback_on_the_simulator on Simulator,
    verify_after_killed_rollback_on_sqlite on Sqlite,
    verify_after_killed_rollback_on_postgres on Postgres,
);

/// After the kill, `run` again with the same id and `resume` refuse;
/// a retry with a different batch size (3, then the whole scope) reaches the exact pre-run state.
async fn killed_rollback_then_run_again_and_retry_other_batch_size(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let before = killed_after_first_rollback_batch(&store).await?;
    let run = RunId::new("r1");
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let again = plain
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown)),
            batched(),
        )
        .await?;
    assert!(
        matches!(&again.outcome, Outcome::Failed { error, .. } if error.contains("was being rolled back")),
        "{}",
        again.to_json()
    );
    never_resumed(&plain, &store, &run).await?;
    let in_threes = RunOptions::default().with_batch_documents(DocumentBatches::Of(3));
    rolled_back_exactly(&plain, &run, in_threes, (&store, &before)).await?;
    Ok(())
}

on_backends!(killed_rollback_then_run_again_and_retry_other_batch_size:
    killed_rollback_run_again_on_the_simulator on Simulator,
    killed_rollback_run_again_on_sqlite on Sqlite,
    killed_rollback_run_again_on_postgres on Postgres,
);

/// The store fails the census that verifies the second batch, after that batch was
/// restored (committed): a stop part-way. The report must say how many documents were rolled
/// back, and the journal must not leave the run `PASS` (the promise: a stop part-way journals
/// the rollback `blocked` and the run `Blocked`).
async fn census_failure_after_a_batch_is_a_stop_part_way(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::CensusAfter, 2).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS - 2 * BATCH);
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    let entry = journaled.phase("rollback").map(|p| p.status);
    let counted = stopped
        .phase("rollback")
        .and_then(|e| e.evidence.get("restored_documents"))
        .is_some()
        || text.contains("document(s)");
    // Rolling back again still finishes it.
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    rolled_back_exactly(&plain, &run, batched(), (&store, &before)).await?;
    assert!(
        counted && journaled.status != RunStatus::Pass,
        "a stop part-way with {} of {DOCUMENTS} documents rolled back: journal status {:?}, \
         rollback entry {entry:?}; the report must say how many were rolled back: {text}",
        2 * BATCH,
        journaled.status
    );
    Ok(())
}

on_backends!(census_failure_after_a_batch_is_a_stop_part_way:
    census_failure_after_batch_on_the_simulator on Simulator,
    census_failure_after_batch_on_sqlite on Sqlite,
    census_failure_after_batch_on_postgres on Postgres,
);

/// A store failure of a batch's restore after the first batch (connection lost): the
/// promise says a stop part-way journals the rollback entry `blocked` and the run `Blocked`.
async fn store_failure_between_batches_journals_blocked(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (_, stopped) = rolled_back_failing(&store, Fails::Restore, 1).await?;
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    let entry = journaled.phase("rollback").map(|p| p.status);
    assert!(
        journaled.status == RunStatus::Blocked
            && entry == Some(iu_cutter_live_execution::PhaseStatus::Blocked),
        "journal status {:?}, rollback entry {entry:?}; outcome {}",
        journaled.status,
        said(&stopped)
    );
    Ok(())
}

on_backends!(store_failure_between_batches_journals_blocked:
    store_failure_journals_blocked_on_the_simulator on Simulator,
);

/// The store commits the first batch of a rollback and then loses the connection, so its answer
/// is an error (found by reading the rollback's messages: a failed first batch said "nothing was
/// changed" whatever the error). The report must not say nothing was changed; the run must be
/// journaled rolled back in part (not resumable), and rolling back again finishes it.
async fn a_batch_committed_before_the_connection_was_lost_is_not_called_unchanged(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::RestoreCommitted, 0).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS - BATCH);
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. })
            && !text.contains("nothing was changed")
            && text.contains("whether this batch was committed is not known"),
        "a batch the store may have committed is not \"nothing was changed\": {text}"
    );
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::Blocked, "{text}");
    not_resumable_and_rolled_back_again(&store, &run, &before).await?;
    Ok(())
}

on_backends!(a_batch_committed_before_the_connection_was_lost_is_not_called_unchanged:
    committed_then_connection_lost_on_the_simulator on Simulator,
    committed_then_connection_lost_on_sqlite on Sqlite,
    committed_then_connection_lost_on_postgres on Postgres,
);

/// A first batch the store refused with a lock timeout (which aborts its transaction) changed
/// nothing: the report may say so, the run stays `PASS` (its rollback journaled `failed`), and a
/// retry rolls it back.
async fn a_first_batch_that_timed_out_changed_nothing(store: Open, _: &ManualSwitch) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::RestoreTimedOut, 0).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS);
    assert!(
        matches!(&stopped.outcome, Outcome::Failed { error, .. } if error.contains("nothing was changed")),
        "{text}"
    );
    // The run stays as it was: `PASS`, not rolled back in part (found: it was journaled
    // `FAILED` with its rollback entry left `running`, shown as rolled back in part).
    let journaled = store.load_run(&run).await?.ok_or("r1 is journaled")?;
    assert_eq!(journaled.status, RunStatus::Pass, "{text}");
    assert!(
        !iu_cutter_orchestrator::rolled_back_in_part(&journaled),
        "{journaled:?}"
    );
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    rolled_back_exactly(&plain, &run, batched(), (&store, &before)).await?;
    Ok(())
}

on_backends!(a_first_batch_that_timed_out_changed_nothing:
    first_batch_timed_out_on_the_simulator on Simulator,
    first_batch_timed_out_on_sqlite on Sqlite,
    first_batch_timed_out_on_postgres on Postgres,
);

/// A first batch the store refused (a lock timeout) changed nothing, but then the journal could
/// not record that the rollback ended (the connection lost): it keeps the rollback's start, so
/// the run shows a rollback begun and refuses to resume (found: the report said only "nothing
/// was changed" and offered a retry, of a run that can no longer be enacted or resumed). The
/// report must say the run can only be rolled back now, and rolling back again finishes it.
async fn a_rollback_that_could_not_journal_its_end_says_the_run_is_left_to_roll_back(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let failing = Fails::RestoreTimedOutJournalLost;
    let (before, stopped) = rolled_back_failing(&store, failing, 0).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS);
    assert!(
        matches!(&stopped.outcome, Outcome::Failed { error, .. }
            if error.contains("can only be rolled back now")),
        "{text}"
    );
    journaled_in_part(&store, &run, "the journal").await?;
    not_resumable_and_rolled_back_again(&store, &run, &before).await?;
    Ok(())
}

on_backends!(a_rollback_that_could_not_journal_its_end_says_the_run_is_left_to_roll_back:
    unjournaled_end_on_the_simulator on Simulator,
    unjournaled_end_on_sqlite on Sqlite,
);

/// `export --since r1` of a run rolled back in part (a rollback cancelled after its first batch:
/// `BLOCKED`): refused as for a rolled-back run, naming the rollback, never as "purged".
async fn export_since_a_run_rolled_back_in_part(store: Open, _: &ManualSwitch) -> TestResult {
    cancelled_after_first_batch(&store).await?;
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let request = iu_cutter_orchestrator::ExportRequest {
        since: Some(RunId::new("r1")),
        ..iu_cutter_orchestrator::ExportRequest::default()
    };
    let mut lines = Vec::new();
    let result = plain
        .export(
            &request,
            &mut |line: &iu_cutter_orchestrator::ExportLine| {
                lines.push(format!("{line:?}"));
                Ok(())
            },
        )
        .await;
    let said = match &result {
        Ok(summary) => format!("exported {summary:?}: {lines:?}"),
        Err(error) => error.to_string(),
    };
    assert!(
        result.is_err() && said.contains("rolled back") && !said.contains("purged"),
        "export --since a run rolled back in part: {said}"
    );
    Ok(())
}

on_backends!(export_since_a_run_rolled_back_in_part:
    export_since_rolled_back_in_part_on_the_simulator on Simulator,
    export_since_rolled_back_in_part_on_sqlite on Sqlite,
    export_since_rolled_back_in_part_on_postgres on Postgres,
);

/// Adversarial (adv29): a run stopped part-way through lifecycle-enact, whose rollback's first
/// batch the store refuses with a lock timeout (certain: nothing applied). The run must stay as
/// it was (its status untouched, not rolled back in part), so `resume` finishes it to `PASS`, and
/// a later rollback still restores the exact pre-run state.
async fn a_stopped_run_whose_rollback_timed_out_resumes_then_rolls_back(
    store: Open,
    switch: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    seed(&*store).await?;
    let before = store.snapshot().await?;
    let (_, stopped) = stopped_after_first_enact_batch(store.clone(), switch).await?;
    let status_before = store.load_run(&run).await?.ok_or("r1")?.status;
    let failing = FailingAfter::over(&store, Fails::RestoreTimedOut, 0);
    let runner = Runner::new(failing, Arc::new(MemoryBackupStore::new()));
    let failed = runner.rollback_with(&run, batched()).await?;
    assert!(
        matches!(&failed.outcome, Outcome::Failed { .. }),
        "{}",
        failed.to_json()
    );
    assert_eq!(enacted_by(&*store, &run).await?, BATCH, "nothing undone");
    let journaled = store.load_run(&run).await?.ok_or("r1")?;
    assert_eq!(journaled.status, status_before, "{}", stopped.to_json());
    assert!(!iu_cutter_orchestrator::rolled_back_in_part(&journaled));
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let resumed = plain.resume(&run, batched()).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS);
    let again = plain.enact(&run, batched()).await?;
    assert_eq!(again.outcome, Outcome::Pass, "{}", again.to_json());
    rolled_back_exactly(&plain, &run, batched(), (&store, &before)).await?;
    let resumed = plain.resume(&run, batched()).await?;
    assert!(
        !matches!(resumed.outcome, Outcome::Pass),
        "a rolled-back run does not resume to PASS: {}",
        resumed.to_json()
    );
    Ok(())
}

on_backends!(a_stopped_run_whose_rollback_timed_out_resumes_then_rolls_back:
    adv29_stopped_rollback_timed_out_on_the_simulator on Simulator,
    adv29_stopped_rollback_timed_out_on_sqlite on Sqlite,
    adv29_stopped_rollback_timed_out_on_postgres on Postgres,
);

/// Adversarial (adv29): the second batch of a rollback refused with a lock timeout (certain,
/// nothing of it applied) after the first committed: a stop part-way (`BLOCKED`), never "nothing
/// was changed"; not resumable; rolling back again finishes it.
async fn a_later_batch_that_timed_out_is_a_stop_part_way(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::RestoreTimedOut, 1).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS - BATCH);
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. }) && !text.contains("nothing was changed"),
        "{text}"
    );
    journaled_in_part(&store, &run, &text).await?;
    not_resumable_and_rolled_back_again(&store, &run, &before).await?;
    Ok(())
}

on_backends!(a_later_batch_that_timed_out_is_a_stop_part_way:
    adv29_later_batch_timed_out_on_the_simulator on Simulator,
    adv29_later_batch_timed_out_on_sqlite on Sqlite,
    adv29_later_batch_timed_out_on_postgres on Postgres,
);

/// Adversarial (adv29): the connection is lost on a rollback's first batch, which in fact was
/// not applied. The runner cannot know that: `BLOCKED`, "not known", never "nothing was
/// changed"; not resumable; then a retry whose first batch times out (certain) must still not
/// call the run unchanged (an earlier rollback may have applied its batch), and a final retry
/// restores the exact pre-run state.
async fn an_unknown_first_batch_then_a_certain_failure_stays_in_part(
    store: Open,
    _: &ManualSwitch,
) -> TestResult {
    let run = RunId::new("r1");
    let (before, stopped) = rolled_back_failing(&store, Fails::Restore, 0).await?;
    let text = said(&stopped);
    assert_eq!(enacted_by(&*store, &run).await?, DOCUMENTS, "not applied");
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. })
            && !text.contains("nothing was changed")
            && text.contains("not known"),
        "{text}"
    );
    journaled_in_part(&store, &run, &text).await?;
    let failing = FailingAfter::over(&store, Fails::RestoreTimedOut, 0);
    let runner = Runner::new(failing, Arc::new(MemoryBackupStore::new()));
    let second = runner.rollback_with(&run, batched()).await?;
    let text = said(&second);
    assert!(
        matches!(second.outcome, Outcome::Blocked { .. }) && !text.contains("nothing was changed"),
        "{text}"
    );
    journaled_in_part(&store, &run, &text).await?;
    not_resumable_and_rolled_back_again(&store, &run, &before).await?;
    Ok(())
}

on_backends!(an_unknown_first_batch_then_a_certain_failure_stays_in_part:
    adv29_unknown_then_certain_on_the_simulator on Simulator,
    adv29_unknown_then_certain_on_sqlite on Sqlite,
    adv29_unknown_then_certain_on_postgres on Postgres,
);
