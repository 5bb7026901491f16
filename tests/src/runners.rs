//! Several runners on one SQL store, each with its own connection pool: overlapping scopes,
//! disjoint shards, and taking over a crashed runner's run once its lease expired. Generic over
//! the store's fixture, instantiated per store with [`runners_suite!`] (module `runners` of the
//! `integration` test binary), together with the race and edit trials of [`crate::races`].

use iu_cutter_live_execution::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{
    DocumentId, GenerationState, LiveExecutionAdapter, RunId, Scope, shard_of,
};
use iu_cutter_orchestrator::{LeaseOptions, Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{BackupStore, MemoryBackupStore, names};

use crate::fixture::SqlFixture;
use crate::{markdown, ok};

/// Instantiates the named checks of this module, then the race and edit trials of
/// [`crate::races`], as multi-thread `#[tokio::test]`s over `$fixture`, an
/// `async fn(&str) -> Option<impl RawSql>` called with the test's name.
#[macro_export]
macro_rules! runners_suite {
    ($fixture:path; $($check:ident),* $(,)?) => {
        $crate::fixture_tests!(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            $fixture => $crate::runners, fixture;
            $($check),*
        );

        /// Two runners racing on one scope (see `iu_cutter_tests::races`).
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn two_runners_race_on_one_scope() {
            $crate::races::race_trials(|name| async move { $fixture(&name).await })
                .await
                .finish();
        }

        /// An edit injected by a trigger at every phase boundary (see `iu_cutter_tests::races`).
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn edits_by_trigger_at_every_phase_boundary() {
            $crate::races::edit_trials(|name| async move { $fixture(&name).await })
                .await
                .finish();
        }
    };
}

const DOCUMENTS: usize = 40;

fn body(n: usize) -> String {
    format!(
        "# Law {n}\n\nPreamble {n}.\n\n## Article 1\n\nFirst of {n}.\n\n## Article 2\n\nSecond of \
         {n}.\n"
    )
}

/// The suite's store: [`DOCUMENTS`] laws of [`body`]; their ids.
async fn seed(store: &dyn LiveExecutionAdapter) -> Vec<DocumentId> {
    crate::seed_numbered(store, DOCUMENTS, body).await
}

/// A runner with its own connection pool to the fixture's store.
async fn runner(fixture: &impl SqlFixture, backups: Arc<dyn BackupStore>) -> Runner {
    Runner::new(fixture.another_process().await, backups)
}

fn leased(holder: &str) -> RunOptions {
    RunOptions::default().with_lease(LeaseOptions::with_holder(holder, Duration::from_secs(30)))
}

/// Runs every `(runner, run, scope)` at once on its own task; the reports in the same order.
async fn concurrently(runs: Vec<(Runner, &str, Scope)>) -> Vec<RunReport> {
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|(runner, run, scope)| {
            let request = RunRequest::new(run, scope, markdown());
            let options = leased(&format!("runner-{run}@test:1:0"));
            tokio::spawn(async move { runner.run(request, options).await })
        })
        .collect();
    let mut reports = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(error)) => panic!("runner error: {error}"),
            Err(error) => panic!("runner task panicked: {error}"),
        }
    }
    reports
}

/// Per document: its active generation and every generation's state.
async fn generations(
    store: &dyn LiveExecutionAdapter,
) -> BTreeMap<DocumentId, (Option<RunId>, Vec<(RunId, GenerationState)>)> {
    let mut out = BTreeMap::new();
    for document in ok(store.load_scope(&Scope::All).await, "load") {
        let records = ok(store.generations(&document.id).await, "generations");
        let active_units = ok(store.active_units(&document.id).await, "active units");
        if let Some(active) = &document.active_generation {
            assert!(
                active_units.iter().all(|u| &u.generation == active),
                "{}: readers see units of one generation only",
                document.id
            );
            assert!(!active_units.is_empty(), "{}: cut", document.id);
        }
        out.insert(
            document.id.clone(),
            (
                document.active_generation.clone(),
                records
                    .into_iter()
                    .map(|g| (g.generation, g.state))
                    .collect(),
            ),
        );
    }
    out
}

/// Four runners over overlapping scopes at once: every run passes or is `BLOCKED`, by its
/// backup or its fence, naming a document of its scope held (or changed) by another; every
/// document in a passing run's scope ends with exactly one active generation, a passing run's;
/// no document of no passing run is touched.
pub async fn overlapping_scopes_cut_each_document_once(fixture: &impl SqlFixture) {
    let store = fixture.adapter();
    seed(store).await;
    let scopes = [
        ("all", Scope::All),
        ("law-0", Scope::Prefix("law/0".into())),
        ("law-01", Scope::Prefix("law/01".into())),
        (
            "ids",
            Scope::Ids(vec![DocumentId::new("law/005"), DocumentId::new("law/039")]),
        ),
    ];
    let mut runs = Vec::new();
    for (run, scope) in &scopes {
        runs.push((
            runner(fixture, Arc::new(MemoryBackupStore::new())).await,
            *run,
            scope.clone(),
        ));
    }
    let reports = concurrently(runs).await;
    let mut passed = BTreeSet::new();
    for ((run, scope), report) in scopes.iter().zip(&reports) {
        match &report.outcome {
            Outcome::Pass => {
                passed.insert(RunId::new(*run));
            }
            Outcome::Blocked { gap } => {
                let Some(document) = &gap.document else {
                    panic!("{run}: BLOCKED without naming a document: {gap}");
                };
                assert!(
                    scope.contains(document),
                    "{run}: names {document}, in its scope"
                );
                // Refused before this run mutated anything: by the fence, or by the backup
                // when another run fenced (or enacted) the document while it was written.
                assert!(
                    [names::BACKUP, names::CUT_LEG_A].contains(&gap.phase.as_str()),
                    "{run}: refused by the backup or the fence, not later: {gap}"
                );
            }
            other => panic!("{run}: expected PASS or BLOCKED, got {other:?}"),
        }
    }
    assert!(!passed.is_empty(), "at least one run passes");
    for (document, (active, records)) in generations(store).await {
        let covering: Vec<&RunId> = passed
            .iter()
            .filter(|run| {
                scopes
                    .iter()
                    .any(|(r, scope)| r == &run.as_str() && scope.contains(&document))
            })
            .collect();
        let actives: Vec<&RunId> = records
            .iter()
            .filter(|(_, state)| *state == GenerationState::Active)
            .map(|(generation, _)| generation)
            .collect();
        if covering.is_empty() {
            assert_eq!(active, None, "{document}: no passing run covers it");
            assert!(records.is_empty(), "{document}: untouched: {records:?}");
            continue;
        }
        assert_eq!(
            actives.len(),
            1,
            "{document}: one active generation: {records:?}"
        );
        assert_eq!(active.as_ref(), Some(actives[0]), "{document}: the pointer");
        assert!(
            covering.contains(&actives[0]),
            "{document}: cut by a passing run"
        );
        assert!(
            records.iter().all(|(g, _)| passed.contains(g)),
            "{document}: a refused run left nothing behind: {records:?}"
        );
    }
}

/// Shards 0/4..3/4 of one corpus at once: all pass, the shards' scopes partition the corpus,
/// and every document is cut exactly once, by its shard's run.
pub async fn disjoint_shards_cut_every_document_exactly_once(fixture: &impl SqlFixture) {
    let store = fixture.adapter();
    let all: BTreeSet<DocumentId> = seed(store).await.into_iter().collect();
    let count = 4;
    let mut runs = Vec::new();
    let mut union = BTreeSet::new();
    for index in 0..count {
        let scope = Scope::All
            .shard(index, count)
            .unwrap_or(Scope::Ids(Vec::new()));
        for document in ok(store.load_scope(&scope).await, "shard") {
            assert!(
                union.insert(document.id.clone()),
                "{} in two shards",
                document.id
            );
        }
        let run: &'static str = ["shard-0", "shard-1", "shard-2", "shard-3"][index as usize];
        runs.push((
            runner(fixture, Arc::new(MemoryBackupStore::new())).await,
            run,
            scope,
        ));
    }
    assert_eq!(union, all, "the union of the shards is the corpus");
    for report in concurrently(runs).await {
        assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    }
    for (document, (active, records)) in generations(store).await {
        let expected = RunId::new(format!("shard-{}", shard_of(&document, count)));
        assert_eq!(active, Some(expected.clone()), "{document}");
        assert_eq!(
            records,
            vec![(expected, GenerationState::Active)],
            "{document}: cut exactly once"
        );
    }
}

/// A runner that "crashed" holding its run's lease (short ttl, never renewed): another runner is
/// refused, naming the holder, until the lease expires on the database's clock; then it resumes
/// the run to PASS.
pub async fn a_crashed_runners_run_resumes_only_after_its_lease_expires(fixture: &impl SqlFixture) {
    let store = fixture.adapter();
    seed(store).await;
    let backups: Arc<dyn BackupStore> = Arc::new(MemoryBackupStore::new());
    let crashed = runner(fixture, backups.clone()).await;
    let run = RunId::new("crashed");
    let report = ok(
        crashed
            .run(
                RunRequest::new("crashed", Scope::All, markdown()),
                leased("crashed@host:1:dead").with_until(names::CUT_LEG_A),
            )
            .await
            .map_err(|e| iu_cutter_live_execution::AdapterError::Invalid(e.to_string())),
        "first run",
    );
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    // The crash: the lease is taken again and never renewed. Its time to live must outlast
    // the other runner's way to its lease check on a loaded CI machine (1.5 s left little room).
    let ttl = Duration::from_secs(4);
    let lease = ok(
        store.acquire_lease(&run, "crashed@host:1:dead", ttl).await,
        "lease",
    );

    let other = runner(fixture, backups.clone()).await;
    let before = ok(store.census().await, "census");
    let report = match other.resume(&run, leased("other@host:2:live")).await {
        Ok(report) => report,
        Err(error) => panic!("resume: {error}"),
    };
    match &report.outcome {
        Outcome::Refused { reason, .. } => {
            assert!(reason.contains("crashed@host:1:dead"), "{reason}");
            assert!(reason.contains(&lease.expires_at_utc()), "{reason}");
        }
        other => panic!("expected REFUSED while the lease is live, got {other:?}"),
    }
    assert_eq!(
        ok(store.census().await, "census"),
        before,
        "nothing mutated"
    );

    // Expiry is measured on the database's clock, which a test cannot move: this waits for it
    // (bounded: the 4 s lease and a margin).
    fixture.pass_time(ttl + Duration::from_millis(500)).await;
    let report = match other.resume(&run, leased("other@host:2:live")).await {
        Ok(report) => report,
        Err(error) => panic!("resume: {error}"),
    };
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    for (document, (active, _)) in generations(store).await {
        assert_eq!(active, Some(run.clone()), "{document}");
    }
}
