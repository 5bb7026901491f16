//! Differential tests: generated corpora and cut rules applied identically to the simulator,
//! SQLite and PostgreSQL (with `IU_CUTTER_TEST_PG_URL`; in CI, required);
//! every store must produce the same trace: the same result of every call (errors included, by
//! message), the same census fingerprint and the same snapshot after every step.
//!
//! Two properties: one drives the adapter directly (fence → write_units → enact with the cut
//! engine's units, an edit that makes a later fence stale, a run rolled back by `restore`), the
//! other runs the whole `Runner` (five phases, then a second run after an edit, then a
//! rollback). Stores are slow, so few cases: `PROPTEST_CASES / 8` (default 12).

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;

use iu_cutter_cut::Cutter;
use iu_cutter_live_execution::{
    AdapterError, AdapterResult, CutRules, Document, DocumentId, ExpectedRevision,
    LiveExecutionAdapter, RunId, Scope, StoreSnapshot, Unit,
};
use iu_cutter_orchestrator::{RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::strategies::{corpus, cut_rules};
use iu_cutter_tests::contract::{backup_of, expect};
use iu_cutter_tests::fixture::{self, Fixture, PgFixture, SimFixture, SqliteFixture};
use iu_cutter_tests::{cases, runtime};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// Every store available to this build, each fresh.
struct Stores {
    simulator: SimFixture,
    sqlite: Option<SqliteFixture>,
    postgres: Option<PgFixture>,
}

impl Stores {
    async fn new(name: &str) -> Result<Stores, TestCaseError> {
        let Some(simulator) = fixture::simulator(name).await else {
            return Err(TestCaseError::fail("no simulator"));
        };
        Ok(Stores {
            simulator,
            sqlite: fixture::sqlite(name).await,
            postgres: fixture::postgres(name).await,
        })
    }

    /// (name, store), the simulator first.
    fn all(&self) -> Vec<(&'static str, &dyn Fixture)> {
        let mut all: Vec<(&'static str, &dyn Fixture)> = vec![("simulator", &self.simulator)];
        if let Some(store) = &self.sqlite {
            all.push(("sqlite", store));
        }
        if let Some(store) = &self.postgres {
            all.push(("postgres", store));
        }
        all
    }

    async fn finish(self) {
        if let Some(store) = self.sqlite {
            store.finish().await;
        }
        if let Some(store) = self.postgres {
            store.finish().await;
        }
    }
}

/// Runs `scenario` on every store available (fresh ones named `name`), then finishes them: the
/// traces must be the same.
async fn agree_on_every_store(
    name: &str,
    scenario: impl AsyncFn(&dyn Fixture) -> Result<Vec<Step>, TestCaseError>,
) -> Result<(), TestCaseError> {
    let stores = Stores::new(name).await?;
    let mut traces = Vec::new();
    for (store, fixture) in stores.all() {
        traces.push((store, scenario(fixture).await?));
    }
    let result = same_traces(&traces);
    stores.finish().await;
    result
}

/// One step of a trace: what the call returned, and the store's state after it.
#[derive(Debug, PartialEq, Eq)]
struct Step {
    what: String,
    result: String,
    fingerprint: String,
    snapshot: StoreSnapshot,
}

struct Trace<'a> {
    store: &'a dyn LiveExecutionAdapter,
    steps: Vec<Step>,
}

impl<'a> Trace<'a> {
    /// An empty trace of the calls on `store`.
    fn new(store: &'a dyn LiveExecutionAdapter) -> Self {
        Trace {
            store,
            steps: Vec::new(),
        }
    }

    /// Records the outcome of a runner's call (its error fails the case).
    async fn outcome(
        &mut self,
        what: &str,
        report: Result<RunReport, impl std::fmt::Display>,
    ) -> Result<(), TestCaseError> {
        let report = report.map_err(|e| fail(what, e))?;
        self.step(what, Ok::<_, AdapterError>(report.outcome.name()))
            .await
    }

    async fn step<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        result: AdapterResult<T>,
    ) -> Result<(), TestCaseError> {
        let result = match result {
            Ok(value) => format!("ok {value:?}"),
            Err(error) => format!("error {error}"),
        };
        let census = self
            .store
            .census()
            .await
            .map_err(|e| TestCaseError::fail(format!("census after {what}: {e}")))?;
        let snapshot = self
            .store
            .snapshot()
            .await
            .map_err(|e| TestCaseError::fail(format!("snapshot after {what}: {e}")))?;
        self.steps.push(Step {
            what: what.to_owned(),
            result,
            fingerprint: census.fingerprint,
            snapshot,
        });
        Ok(())
    }
}

fn fail(what: &str, error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(format!("{what}: {error}"))
}

/// The cut engine's units of `document` as `generation`'s units.
fn units_of(
    cutter: &Cutter,
    document: &Document,
    generation: &RunId,
) -> Result<Vec<Unit>, TestCaseError> {
    let cut = cutter
        .cut(document.id.as_str(), &document.body)
        .map_err(|e| fail("cut", e))?;
    cut.into_iter()
        .map(|u| {
            let body = u
                .text(&document.body)
                .ok_or_else(|| fail("cut", "a span off character boundaries"))?
                .to_owned();
            Ok(u.staged(&document.id, generation, &body))
        })
        .collect()
}

/// Fences `documents` for `run`, writes their units in batches of 5 and, if `enact`, enacts.
async fn cut_run(
    trace: &mut Trace<'_>,
    cutter: &Cutter,
    run: &RunId,
    documents: &[Document],
    enact: bool,
) -> Result<(), TestCaseError> {
    let store = trace.store;
    let expectations: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    trace
        .step(
            &format!("fence {run}"),
            store.fence(run, &expectations).await,
        )
        .await?;
    let mut units = Vec::new();
    for document in documents {
        units.extend(units_of(cutter, document, run)?);
    }
    for (i, batch) in units.chunks(5).enumerate() {
        let written = store.write_units(run, batch).await;
        trace.step(&format!("write {run} #{i}"), written).await?;
    }
    if enact {
        trace
            .step(
                &format!("enact {run}"),
                store.enact(run, &expectations).await,
            )
            .await?;
    }
    Ok(())
}

/// What a scenario is run on: the documents to import, the rules to cut them by, and the text
/// appended to the first document between the runs.
#[derive(Clone, Debug)]
struct Case {
    docs: Vec<(DocumentId, String)>,
    rules: CutRules,
    edit: String,
}

/// Cases of `documents` documents.
fn case(documents: usize) -> impl Strategy<Value = Case> {
    (corpus(documents), cut_rules(), edit_text()).prop_map(|(docs, rules, edit)| Case {
        docs,
        rules,
        edit,
    })
}

/// The adapter-level scenario; the same on every store.
async fn scenario(
    store: &dyn LiveExecutionAdapter,
    Case { docs, rules, edit }: &Case,
) -> Result<Vec<Step>, TestCaseError> {
    let cutter = Cutter::new(rules).map_err(|e| fail("rules", e))?;
    let mut trace = Trace::new(store);
    let mut imported = Vec::new();
    for (id, body) in docs {
        let put = store.put_document(id, body).await;
        if let Ok(document) = &put {
            imported.push(document.clone());
        }
        trace
            .step(&format!("put {id}"), put.map(|d| d.revision))
            .await?;
    }

    // Run 1: cut everything.
    let r1 = RunId::new("r1");
    cut_run(&mut trace, &cutter, &r1, &imported, true).await?;
    let again = store
        .enact(&r1, &imported.iter().map(expect).collect::<Vec<_>>())
        .await;
    trace.step("enact r1 again", again).await?;

    // An edit of the first document makes run 2's expectation of it stale.
    let first = &docs[0];
    let edited = format!("{}{edit}", first.1);
    let put = store.put_document(&first.0, &edited).await;
    trace.step("edit", put.map(|d| d.revision)).await?;

    let r2 = RunId::new("r2");
    let scope = Scope::Ids(docs.iter().step_by(2).map(|(id, _)| id.clone()).collect());
    let stale: Vec<ExpectedRevision> = imported.iter().step_by(2).map(expect).collect();
    trace
        .step("stale fence r2", store.fence(&r2, &stale).await)
        .await?;
    let current = store
        .load_scope(&scope)
        .await
        .map_err(|e| fail("load", e))?;
    cut_run(&mut trace, &cutter, &r2, &current, true).await?;

    // Run 3: fenced and staged everywhere, then rolled back.
    let r3 = RunId::new("r3");
    let all_ids: Vec<DocumentId> = docs.iter().map(|(id, _)| id.clone()).collect();
    let backup = backup_of(store, &r3, &all_ids).await;
    let current = store
        .load_scope(&Scope::All)
        .await
        .map_err(|e| fail("load", e))?;
    cut_run(&mut trace, &cutter, &r3, &current, false).await?;
    trace
        .step("restore r3", store.restore(&r3, &backup).await)
        .await?;
    let census = store.census().await.map_err(|e| fail("census", e))?;
    prop_assert_eq!(
        &census,
        &backup.census,
        "restore gives back the backup's census"
    );
    Ok(trace.steps)
}

/// The runner-level scenario: a run, an edit, a second run, its rollback.
async fn runner_scenario(
    fixture: &dyn Fixture,
    Case { docs, rules, edit }: &Case,
) -> Result<Vec<Step>, TestCaseError> {
    let store = fixture.adapter();
    let runner = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let mut trace = Trace::new(store);
    for (id, body) in docs {
        let put = store.put_document(id, body).await;
        trace
            .step(&format!("put {id}"), put.map(|d| d.revision))
            .await?;
    }
    let report = runner
        .run(
            RunRequest::new("run-1", Scope::All, rules.clone()),
            RunOptions::default(),
        )
        .await;
    trace.outcome("run-1", report).await?;
    let first = &docs[0];
    let put = store
        .put_document(&first.0, &format!("{}{edit}", first.1))
        .await;
    trace.step("edit", put.map(|d| d.revision)).await?;
    let scope = Scope::Prefix(first.0.as_str().chars().take(3).collect());
    let report = runner
        .run(
            RunRequest::new("run-2", scope, rules.clone()),
            RunOptions::default(),
        )
        .await;
    trace.outcome("run-2", report).await?;
    let report = runner.rollback(&RunId::new("run-2")).await;
    trace.outcome("rollback run-2", report).await?;
    // Phase times and the longest batch's duration are the runner's wall clock, not store
    // state, and a change mark is each store's own position in its change log ("sqlite:9",
    // "simulator:6", a PostgreSQL snapshot), which the backup records and so its hash covers:
    // compare the rest (the census fingerprint the backup also records stays compared).
    let runs = store.list_runs().await.map(|runs| {
        runs.into_iter()
            .map(|mut record| {
                let marked = record
                    .phases
                    .iter()
                    .any(|phase| phase.evidence.contains_key("change_mark"));
                for phase in &mut record.phases {
                    phase.started_at = None;
                    phase.first_started_at = None;
                    phase.finished_at = None;
                    phase
                        .evidence
                        .remove(iu_cutter_phase_core::LONGEST_BATCH_MS);
                    phase.evidence.remove("change_mark");
                    if marked {
                        phase
                            .evidence
                            .remove(iu_cutter_phase_core::evidence::BACKUP_SHA256.name());
                    }
                }
                record
            })
            .collect::<Vec<_>>()
    });
    trace.step("journal", runs).await?;
    Ok(trace.steps)
}

/// Compares every store's trace with the simulator's, step by step.
fn same_traces(traces: &[(&str, Vec<Step>)]) -> Result<(), TestCaseError> {
    let Some((_, reference)) = traces.first() else {
        return Ok(());
    };
    for (name, trace) in &traces[1..] {
        prop_assert_eq!(trace.len(), reference.len(), "{} took other steps", name);
        for (step, expected) in trace.iter().zip(reference) {
            prop_assert_eq!(&step.what, &expected.what);
            prop_assert_eq!(
                &step.result,
                &expected.result,
                "{}: result of `{}`",
                name,
                &step.what
            );
            prop_assert_eq!(
                &step.fingerprint,
                &expected.fingerprint,
                "{}: census after `{}`",
                name,
                &step.what
            );
            prop_assert!(
                step.snapshot == expected.snapshot,
                "{}: snapshot after `{}` differs from the simulator's",
                name,
                &step.what
            );
        }
    }
    Ok(())
}

fn edit_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\nĐiều 99. sửa đổi\n".to_owned()),
        "\\PC{1,16}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(96, 8),
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    /// fence → write_units → enact, a stale fence, a restore: identical on every store.
    #[test]
    fn adapter_calls_agree_on_every_store(case in case(5)) {
        runtime().block_on(agree_on_every_store("differential", async |fixture| {
            scenario(fixture.adapter(), &case).await
        }))?;
    }

    /// Whole runs through the `Runner` (run, edit, run, rollback): identical on every store.
    #[test]
    fn runner_agrees_on_every_store(case in case(4)) {
        runtime().block_on(agree_on_every_store("differential_runner", async |fixture| {
            runner_scenario(fixture, &case).await
        }))?;
    }
}
