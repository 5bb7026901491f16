//! The load back-off on PostgreSQL (issue 15, item 4): between batches a run reads its probe and
//! waits while it reads above the threshold; the wait shows in progress events and in the
//! phases' evidence (`load_waited_ms`); a closed kill switch or a cancellation stops a run that
//! is waiting; the probe only reads.

use iu_cutter_live_execution::prelude::*;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use iu_cutter_live_execution::sql::{SqlStore, connect_with};
use iu_cutter_live_execution::{
    AdapterError, CutRules, DocumentId, EvidenceValue, ExecutionGate, Guarded,
    LiveExecutionAdapter, LoadProbe, LoadQuery, ManualSwitch, Preset, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{
    BackOff, CancelFlag, DocumentBatches, MemoryBackupStore, RunEvent, names,
};
use iu_cutter_tests::fixture::{self, Fixture, PgFixture, RawSql, SqlFixture};

use crate::TestResult;

/// A busy store: the fixture's schema with a `probe_load` table reading 5 (above the threshold
/// of 3) and four documents, and a store of its own over it behind `switch`.
struct Busy {
    fixture: PgFixture,
    store: Arc<Guarded<SqlStore>>,
    switch: ManualSwitch,
}

/// Runs `check` on a [`Busy`] store for the test `name` (skipped without PostgreSQL); then
/// drops the schema.
async fn on_busy_store(name: &str, check: impl AsyncFnOnce(&Busy) -> TestResult) -> TestResult {
    let Some(fixture) = fixture::postgres(name).await else {
        return Ok(());
    };
    fixture
        .execute_raw("CREATE TABLE probe_load (n INTEGER NOT NULL)", &[])
        .await;
    fixture
        .execute_raw("INSERT INTO probe_load VALUES (5)", &[])
        .await;
    let switch = switch();
    let gate = ExecutionGate::new().with_source(switch.clone());
    let store = Arc::new(connect_with(fixture.options(), gate).await?);
    for n in 0..4 {
        store
            .put_document(
                &DocumentId::new(format!("act/{n}")),
                &format!("# Act {n}\n\nText.\n"),
            )
            .await?;
    }
    let busy = Busy {
        fixture,
        store,
        switch,
    };
    check(&busy).await?;
    busy.fixture.finish().await;
    Ok(())
}

/// Each `$check` as the `#[tokio::test]` `$test`, on two worker threads (the run waits on the
/// load while the check acts), over a [`Busy`] store for the test's name.
macro_rules! on_busy_stores {
    ($($check:ident: $test:ident;)+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() -> TestResult {
            on_busy_store(stringify!($test), $check).await
        }
    )+};
}

on_busy_stores! {
    held_back_until_the_load_drops: a_busy_database_holds_the_run_back_until_its_load_drops;
    stopped_by_a_closed_kill_switch: a_closed_kill_switch_stops_a_run_waiting_on_the_load;
    stopped_by_a_cancellation: a_cancellation_stops_a_run_waiting_on_the_load;
    the_probe_only_reads: the_probe_only_reads_and_must_return_a_number;
}

fn back_off(store: &Guarded<SqlStore>) -> Result<BackOff, AdapterError> {
    let probe = store.load_probe(LoadQuery::custom("SELECT n FROM probe_load")?)?;
    Ok(BackOff {
        probe: Arc::new(probe),
        threshold: 3.0,
    })
}

fn switch() -> ManualSwitch {
    ManualSwitch::new("test switch", true, "open the test switch")
}

async fn run(
    store: Arc<Guarded<SqlStore>>,
    options: RunOptions,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let adapter: Arc<dyn LiveExecutionAdapter> = store;
    let runner = Runner::new(adapter, Arc::new(MemoryBackupStore::new()));
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::Markdown));
    Ok(runner
        .run(
            request,
            options.with_batch_documents(DocumentBatches::Of(2)),
        )
        .await?)
}

/// Counts the `BackingOff` events, and runs `on_first` at the first.
fn backing_off_events(
    on_first: impl Fn() + Send + Sync + 'static,
) -> (Arc<Mutex<Vec<String>>>, RunOptions) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let events = seen.clone();
    let options = RunOptions::default().with_events(Arc::new(move |event: RunEvent| {
        if let RunEvent::BackingOff { phase, load, .. } = event {
            let mut events = events.lock().unwrap_or_else(PoisonError::into_inner);
            if events.is_empty() {
                on_first();
            }
            events.push(format!("{phase}: {load}"));
        }
    }));
    (seen, options)
}

async fn held_back_until_the_load_drops(busy: &Busy) -> TestResult {
    let back_off = back_off(&busy.store)?;
    assert_eq!(back_off.probe.read().await?, 5.0);
    // The load drops 1.2 s after the run began to wait on it, as an application's
    // burst ends. Counted from the run's start instead, a slow backup on a loaded CI
    // machine left less than the second of waiting the test asserts (730 ms, once).
    let waiting = Arc::new(tokio::sync::Notify::new());
    let began = waiting.clone();
    let (events, options) = backing_off_events(move || began.notify_one());
    let running = run(busy.store.clone(), options.with_back_off(back_off));
    let (report, lowered) = tokio::join!(running, async {
        // Bounded: a run that never waits fails the assertions below, not by hanging.
        let _ = tokio::time::timeout(Duration::from_secs(60), waiting.notified()).await;
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        busy.fixture
            .execute_raw("UPDATE probe_load SET n = 1", &[])
            .await
    });
    let report = report?;
    assert_eq!(lowered, 1);
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let events = events
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert!(!events.is_empty(), "the wait shows in progress events");
    assert!(
        events[0].starts_with("cut-leg-a: probe `SELECT n FROM probe_load` 5 > 3"),
        "{events:?}"
    );
    let fence = report.phase(names::CUT_LEG_A).ok_or("no cut-leg-a entry")?;
    let waited = fence
        .evidence
        .get("load_waited_ms")
        .and_then(EvidenceValue::as_count)
        .ok_or("no load_waited_ms")?;
    assert!(waited >= 1_000, "waited {waited} ms on the probe");
    let enact = report
        .phase(names::LIFECYCLE_ENACT)
        .ok_or("no lifecycle-enact entry")?;
    assert_eq!(
        enact.evidence.get("load_waited_ms"),
        Some(&EvidenceValue::from(0u64)),
        "the load had dropped by then"
    );
    Ok(())
}

async fn stopped_by_a_closed_kill_switch(busy: &Busy) -> TestResult {
    let closing = busy.switch.clone();
    let (_, options) = backing_off_events(move || closing.set(false));
    let report = run(
        busy.store.clone(),
        options.with_back_off(back_off(&busy.store)?),
    )
    .await?;
    let Outcome::Refused { resume_from, .. } = &report.outcome else {
        return Err(format!("expected REFUSED, got {}", report.to_json()).into());
    };
    assert_eq!(resume_from.as_deref(), Some(names::CUT_LEG_A));
    Ok(())
}

async fn stopped_by_a_cancellation(busy: &Busy) -> TestResult {
    let cancel = CancelFlag::new();
    let cancelling = cancel.clone();
    let (_, options) = backing_off_events(move || cancelling.cancel());
    let options = options
        .with_cancel(cancel)
        .with_back_off(back_off(&busy.store)?);
    let report = run(busy.store.clone(), options).await?;
    let Outcome::Failed {
        error, resume_from, ..
    } = &report.outcome
    else {
        return Err(format!("expected FAILED, got {}", report.to_json()).into());
    };
    assert!(error.contains("cancelled"), "{error}");
    assert_eq!(resume_from.as_deref(), Some(names::CUT_LEG_A));
    Ok(())
}

async fn the_probe_only_reads(busy: &Busy) -> TestResult {
    let constant = busy.store.load_probe(LoadQuery::custom("SELECT 5")?)?;
    assert_eq!(constant.read().await?, 5.0);
    let active = busy.store.load_probe(LoadQuery::ActiveConnections)?;
    assert!(
        active.read().await? >= 1.0,
        "the probe's own session is active"
    );
    // A function that writes is refused by the READ ONLY transaction.
    busy.fixture
        .execute_raw("CREATE SEQUENCE probe_seq", &[])
        .await;
    let writing = busy
        .store
        .load_probe(LoadQuery::custom("SELECT nextval('probe_seq')")?)?;
    let refused = writing.read().await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("read-only")),
        "{refused:?}"
    );
    let null = busy.store.load_probe(LoadQuery::custom("SELECT NULL")?)?;
    assert!(matches!(null.read().await, Err(AdapterError::Invalid(_))));
    let rows = busy
        .store
        .load_probe(LoadQuery::custom("SELECT n FROM generate_series(1, 2) n")?)?;
    assert!(rows.read().await.is_err(), "two rows are not one number");
    // The probe asks the kill switch first.
    busy.switch.set(false);
    assert!(matches!(
        constant.read().await,
        Err(AdapterError::GateClosed { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn sqlite_has_no_load_probe() -> TestResult {
    let Some(fixture) = fixture::sqlite("sqlite_has_no_load_probe").await else {
        return Ok(());
    };
    let store = connect_with(fixture.options(), ExecutionGate::new()).await?;
    assert!(matches!(
        store.load_probe(LoadQuery::ActiveConnections),
        Err(AdapterError::Invalid(_))
    ));
    Ok(())
}
