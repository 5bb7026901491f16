//! Shared fixtures and suites for the integration, property and fault-injection tests of the
//! `integration` test binary (`tests/integration/`, a module per concern). Nothing here ships:
//! this crate exists so that every test drives the same runner, simulator and stores through the
//! same helpers, and so that a suite written once ([`contract`], [`batch_attack`], [`no_clobber`],
//! [`races`], [`runners`]) runs against every store ([`fixture`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterResult, CutRules, Document, DocumentId, DocumentState, ExecutionGate, Guarded,
    LiveExecutionAdapter, ManualSwitch, Preset, RunId, Scope, StoreSnapshot,
};
use iu_cutter_orchestrator::{
    LeaseOptions, RunOptions, RunReport, RunRequest, Runner, RunnerError,
};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::Simulator;

/// A simulator behind the kill switch, with a runner over it.
pub struct SimHarness {
    /// The simulator itself, for fault injection and inspection.
    pub sim: Arc<Simulator>,
    /// The switch the gate reads; closing it closes the gate.
    pub switch: ManualSwitch,
    /// Backups of this harness's runs.
    pub backups: Arc<MemoryBackupStore>,
    /// The runner over the guarded simulator.
    pub runner: Runner,
    /// The guarded adapter the runner uses.
    pub adapter: Arc<dyn LiveExecutionAdapter>,
}

impl SimHarness {
    /// A harness over `sim` with the switch `open` or closed.
    pub fn new(sim: Simulator, open: bool) -> Self {
        let sim = Arc::new(sim);
        let switch = ManualSwitch::new("test switch", open, "open the test switch");
        let gate = ExecutionGate::new().with_source(switch.clone());
        let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(sim.clone(), gate));
        let backups = Arc::new(MemoryBackupStore::new());
        let runner = Runner::new(adapter.clone(), backups.clone());
        SimHarness {
            sim,
            switch,
            backups,
            runner,
            adapter,
        }
    }

    /// A harness over a simulator holding `documents`, switch open.
    pub fn with_documents(documents: &[(DocumentId, String)]) -> Self {
        Self::new(
            Simulator::with_documents(
                documents
                    .iter()
                    .map(|(id, body)| (id.clone(), body.clone())),
            ),
            true,
        )
    }

    /// Runs `run` over `scope` with `rules` and default options.
    pub async fn run(
        &self,
        run: &str,
        scope: Scope,
        rules: &CutRules,
    ) -> Result<RunReport, RunnerError> {
        self.runner
            .run(
                RunRequest::new(run, scope, rules.clone()),
                RunOptions::default(),
            )
            .await
    }

    /// Arms a fault of `kind` against the `k`-th adapter call from now (0: the next one).
    pub fn fault_at(&self, k: u64, kind: iu_cutter_simulator::FaultKind) {
        self.sim.inject(iu_cutter_simulator::Fault {
            at_call: self.sim.call_count() + k,
            kind,
        });
    }

    /// After a faulted attempt: disarms every fault and restarts the simulated process.
    pub fn disarm_and_recover(&self) {
        self.sim.disarm();
        self.sim.recover();
    }

    /// Brings `run` to an end after a crash: resumes it if the journal knows it, else starts it
    /// again (the crash came before the run was journaled).
    pub async fn finish(
        &self,
        run: &str,
        scope: Scope,
        rules: &CutRules,
    ) -> Result<RunReport, RunnerError> {
        let id = RunId::new(run);
        if matches!(self.adapter.load_run(&id).await, Ok(Some(_))) {
            self.runner.resume(&id, RunOptions::default()).await
        } else {
            self.run(run, scope, rules).await
        }
    }
}

/// One active unit as a reader sees it: (path, part, start, end, sha256).
pub type UnitView = (String, Option<u32>, u64, u64, String);

/// The units a reader should see of `body` (document `id`) once cut with `rules`: the reference
/// the properties and the model compare a store's active units with.
pub fn expected_units(
    rules: &CutRules,
    id: &DocumentId,
    body: &str,
) -> Result<Vec<UnitView>, proptest::test_runner::TestCaseError> {
    let fail =
        |e: &dyn std::fmt::Display| proptest::test_runner::TestCaseError::fail(e.to_string());
    let cutter = iu_cutter_cut::Cutter::new(rules).map_err(|e| fail(&e))?;
    Ok(cutter
        .cut(id.as_str(), body)
        .map_err(|e| fail(&e))?
        .into_iter()
        .map(|u| (u.path.into(), u.part, u.start, u.end, u.sha256.hex()))
        .collect())
}

/// What a reader sees of one document: its row and its active units, without journal details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentView {
    /// Revision.
    pub revision: u64,
    /// Body sha256.
    pub sha256: String,
    /// Lifecycle state.
    pub state: DocumentState,
    /// Active generation.
    pub active_generation: Option<RunId>,
    /// Active units as (path, part, start, end, sha256).
    pub active_units: Vec<UnitView>,
    /// Generation records as (generation, state).
    pub generations: Vec<(RunId, String)>,
}

/// Projects a snapshot onto what readers and operators see, per document.
pub fn view(snapshot: &StoreSnapshot) -> BTreeMap<DocumentId, DocumentView> {
    let mut views = BTreeMap::new();
    for document in &snapshot.documents {
        let mut active_units: Vec<_> = snapshot
            .units
            .iter()
            .filter(|u| {
                u.document == document.id
                    && Some(&u.generation) == document.active_generation.as_ref()
            })
            .map(|u| {
                (
                    u.ordinal,
                    (u.path.clone(), u.part, u.start, u.end, u.sha256.clone()),
                )
            })
            .collect();
        active_units.sort_by_key(|(ordinal, _)| *ordinal);
        let mut generations: Vec<_> = snapshot
            .generations
            .iter()
            .filter(|g| g.document == document.id)
            .map(|g| (g.generation.clone(), format!("{:?}", g.state)))
            .collect();
        generations.sort();
        views.insert(
            document.id.clone(),
            DocumentView {
                revision: document.revision,
                sha256: document.sha256.clone(),
                state: document.state.clone(),
                active_generation: document.active_generation.clone(),
                active_units: active_units.into_iter().map(|(_, u)| u).collect(),
                generations,
            },
        );
    }
    views
}

/// The Markdown preset's rules, which the suites over many documents cut with.
pub fn markdown() -> CutRules {
    CutRules::preset(Preset::Markdown)
}

/// Document ids that a JSON array or an SQL binding could mangle, quote wrongly or mistake:
/// quotes, backslashes (one spelling an escape), JSON and SQL syntax, texts that read as JSON
/// numbers or literals, `LIKE` wildcards and placeholders, leading and trailing spaces, case
/// twins, non-ASCII, invisible characters and long ids.
pub fn awkward_ids() -> Vec<String> {
    let mut ids: Vec<String> = [
        "q\"uote",
        "q'uote",
        "back\\slash",
        "back\\\\two\\\"",
        "\\u0041",
        "\\\"",
        "' OR '1'='1",
        "[1,\"x\"]",
        "[\"x\"]",
        "{\"k\":null}",
        "{\"j\": 1}",
        "123",
        "0123",
        "1e3",
        "-0",
        "null",
        "true",
        "a,b",
        " lead",
        "trail ",
        " lead and trail ",
        "A",
        "a",
        "$[0]",
        "$1",
        "%_*?",
        "%_like",
        "日本/文書",
        "ünï/cøde/日本語/𝔘",
        "Điều 1",
        "😀",
        "emoji/😀",
        "\u{00A0}nbsp",
        "\u{feff}bom",
        "\u{2028}line",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    ids.push("x".repeat(1_200));
    ids.push(format!("{}\"{}", "é".repeat(300), "\\".repeat(40)));
    ids.push(format!("long/{}", "é".repeat(500)));
    ids
}

/// The document id `value`.
pub fn id(value: &str) -> DocumentId {
    DocumentId::new(value)
}

/// Puts `body` into `store` as `document`: the document as the store now holds it.
pub async fn put(store: &dyn LiveExecutionAdapter, document: &str, body: &str) -> Document {
    ok(
        store.put_document(&id(document), body).await,
        &format!("put_document {document}"),
    )
}

/// Puts every `(id, body)` of `documents` into `store`.
pub async fn seed(store: &dyn LiveExecutionAdapter, documents: &[(&str, &str)]) {
    for (document, body) in documents {
        ok(
            store.put_document(&DocumentId::new(*document), body).await,
            "seed",
        );
    }
}

/// Puts `count` documents, `law/000`, `law/001`, …, the n-th with `body(n)`, into `store`; their
/// ids, in order.
pub async fn seed_numbered(
    store: &dyn LiveExecutionAdapter,
    count: usize,
    body: fn(usize) -> String,
) -> Vec<DocumentId> {
    let mut ids = Vec::new();
    for n in 0..count {
        let id = DocumentId::new(format!("law/{n:03}"));
        ok(store.put_document(&id, &body(n)).await, "seed");
        ids.push(id);
    }
    ids
}

/// Puts `count` documents into `store` in one call, the i-th as `id(i)` with `body(i)`: the
/// documents as the store now holds them, in order.
pub async fn put_many(
    store: &dyn LiveExecutionAdapter,
    count: usize,
    id: impl Fn(usize) -> String,
    body: impl Fn(usize) -> String,
) -> Vec<Document> {
    let documents: Vec<(DocumentId, String)> = (0..count)
        .map(|i| (DocumentId::new(id(i)), body(i)))
        .collect();
    ok(store.put_documents(&documents).await, "put_documents")
}

/// The value of a store call, or a panic naming `what` and the error.
pub fn ok<T>(result: AdapterResult<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: unexpected error: {error}"),
    }
}

/// The report of a runner call, or a panic naming `what` and the runner's error.
pub fn ok_report<E: std::fmt::Display>(report: Result<RunReport, E>, what: &str) -> RunReport {
    match report {
        Ok(report) => report,
        Err(error) => panic!("{what}: runner error: {error}"),
    }
}

/// The zombie of the lease attacks: run `rz` over the whole store (Markdown rules) as holder
/// `zombie`, with a lease of `ttl` that the test lets expire while a phase is paused.
pub async fn run_as_zombie(runner: &Runner, ttl: Duration) -> RunReport {
    let options = RunOptions::default().with_lease(LeaseOptions::with_holder("zombie", ttl));
    let request = RunRequest::new("rz", Scope::All, CutRules::preset(Preset::Markdown));
    ok_report(runner.run(request, options).await, "the zombie's run")
}

/// A current-thread runtime for property tests, which are synchronous.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}

/// Number of proptest cases: `PROPTEST_CASES` (default `default`) divided by `divisor`, at least 1.
/// Expensive properties (a run per call index) use a divisor so CI time stays bounded.
pub fn cases(default: u32, divisor: u32) -> u32 {
    let base = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    (base / divisor.max(1)).max(1)
}

/// Instantiates each `$check` as a test (the attribute given first) that makes its fixture with
/// `$fixture` (an `async fn(&str) -> Option<impl Fixture>` called with the check's name; `None`
/// skips it), runs `$suite::$check` on the fixture (`fixture`) or on its adapter (`adapter`),
/// then finishes the fixture: the one body behind every suite macro.
#[macro_export]
#[doc(hidden)]
macro_rules! fixture_tests {
    (#[$test:meta] $fixture:path => $suite:path, $given:ident; $($check:ident),* $(,)?) => {
        $(
            #[$test]
            async fn $check() {
                let Some(fixture) = $fixture(stringify!($check)).await else {
                    return;
                };
                use $suite as suite;
                suite::$check($crate::fixture_tests!(@given $given fixture)).await;
                $crate::fixture::Fixture::finish(fixture).await;
            }
        )*
    };
    (@given adapter $fixture:ident) => {
        $crate::fixture::Fixture::adapter(&$fixture)
    };
    (@given fixture $fixture:ident) => {
        &$fixture
    };
}

/// Declares the exported macro `$name!($fixture)`, which instantiates each group of checks with
/// [`fixture_tests!`] as `#[tokio::test]`s over `$fixture`: a group `($module, $given)` lists
/// functions of the module `$module`, each given the fixture's adapter (`adapter`) or the fixture
/// itself (`fixture`).
macro_rules! fixture_suite {
    (
        $(#[$doc:meta])*
        $name:ident { $(($module:ident, $given:ident): [$($check:ident),* $(,)?]),* $(,)? }
    ) => {
        $(#[$doc])*
        #[macro_export]
        macro_rules! $name {
            ($fixture:path) => {
                $($crate::fixture_tests!(#[tokio::test] $fixture => $crate::$module, $given;
                    $($check),*
                );)*
            };
        }
    };
}

/// Instantiates the suites every SQL store runs over `$fixture`, a store sharing its database
/// with an application included: the contract, the batch attacks (those needing raw SQL too) and
/// the change log's SQL-only checks.
#[macro_export]
macro_rules! sql_store_suites {
    ($fixture:path) => {
        $crate::contract_suite!($fixture);
        $crate::batch_attack_suite!($fixture);
        $crate::batch_attack_raw_suite!($fixture);
        $crate::change_log_live_suite!($fixture);
    };
}

pub mod application;
pub mod batch_attack;
pub mod change_log;
pub mod contract;
pub mod fixture;
pub mod no_clobber;
pub mod races;
pub mod runners;
pub mod seam_attack;
