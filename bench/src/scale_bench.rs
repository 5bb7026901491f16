//! `--only scale` (`cargo xtask bench --scale`): what a run costs against the size of the store,
//! on stores seeded with many small Vietnamese laws (about 5 KB each, so 200,000 of them are
//! about 1 GB).
//!
//! Each figure is measured in a child process of this program (`--scale-child`), so that its
//! peak resident memory (`VmHWM` from `/proc/self/status`, read as the child ends) is the run's
//! own, not the seeding's or another measurement's:
//!
//! * a one-document run on the large store against the same run on a one-document store;
//! * `status` (what the program reads for it: the journal and the leases) on both stores;
//! * the peak RSS of a full run over the large store, and over a store a tenth of its size;
//! * the longest single transaction of that full run (the phases' `longest_batch_ms`);
//! * the peak RSS and the longest transaction of rolling that full run back, over both stores
//!   (on the large one, the one-document runs cut over it are rolled back first, newest first,
//!   as an operator would have to).
//!
//! The seeding, which is not measured, imports the documents in batches of [`SEED_BATCH`]
//! through the store, then a full run cuts them all, so that the one-document run meets a store
//! in the state production stores are in: every document cut, one generation active.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::{ConnectOptions, connect_with, init_with};
use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter, RunRecord, RunStatus, Scope};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::DirBackupStore;
use serde::{Deserialize, Serialize};

use crate::corpus;
use crate::phase_rss::{PhaseRss, status_kib};
use crate::report::{Bound, Figure, Measurement, Report};
use crate::store_bench::{drop_schema, open_gate, rules, runtime};

/// Documents per `put_documents` call while seeding.
const SEED_BATCH: usize = 1000;

/// Bytes of each seeded law (about).
const DOC_BYTES: usize = 5000;

/// The document the one-document runs cut (the first seeded one).
const ONE_DOCUMENT: &str = "scale-000001";

/// What `--only scale` measures at what size.
pub(crate) struct ScaleSettings {
    /// Documents in the large store.
    pub(crate) documents: usize,
    pub(crate) max_unit_bytes: u64,
    pub(crate) seed: u64,
    pub(crate) pg_url: Option<String>,
    /// Repetitions of the one-document runs and of `status` (the median counts); full runs
    /// are measured once.
    pub(crate) reps: usize,
    /// The backends measured (`--scale-backend`): a 200,000-document store takes long to seed,
    /// so one backend can be measured again without the other.
    pub(crate) backends: ScaleBackends,
}

/// Which backends `--only scale` measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum ScaleBackends {
    /// SQLite, and PostgreSQL when a URL is given (skipped with a note otherwise).
    #[default]
    Both,
    /// SQLite only.
    Sqlite,
    /// PostgreSQL only: a URL is required.
    Postgres,
}

impl ScaleBackends {
    /// The value of `--scale-backend`.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        match value {
            "both" => Ok(ScaleBackends::Both),
            "sqlite" => Ok(ScaleBackends::Sqlite),
            "postgres" => Ok(ScaleBackends::Postgres),
            other => Err(format!(
                "`--scale-backend` takes sqlite, postgres or both, not `{other}`"
            )),
        }
    }
}

/// One measurement made in a child process, as the child prints it on its last line.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ChildResult {
    /// Wall-clock seconds of the measured work (connecting to the store included).
    secs: f64,
    /// The child's peak resident set, KiB.
    peak_rss_kib: u64,
    /// The longest transaction a phase reported, ms (runs only).
    longest_transaction_ms: Option<u64>,
    /// Units the run wrote (runs only).
    units: Option<u64>,
    /// The largest resident set seen while each phase ran (and the runner outside them), KiB
    /// (runs only): which phase holds the memory.
    #[serde(default)]
    phase_peak_rss_kib: BTreeMap<String, u64>,
}

/// What a child measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildWork {
    /// A full run over every document.
    FullRun,
    /// A run over [`ONE_DOCUMENT`] alone.
    OneDocumentRun,
    /// The reads of `iu-cutter status`: the journal and the leases.
    Status,
    /// Seeds the store with `--scale-documents` documents and stops: a store to profile a run
    /// on (`heaptrack … --scale-child full-run`), copied before each try.
    Seed,
    /// Rolls back every passed run of the store, newest first.
    Rollback,
}

impl ChildWork {
    fn name(self) -> &'static str {
        match self {
            ChildWork::FullRun => "full-run",
            ChildWork::OneDocumentRun => "one-document-run",
            ChildWork::Status => "status",
            ChildWork::Seed => "seed",
            ChildWork::Rollback => "rollback",
        }
    }

    /// The work named `name` on the command line.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        [
            ChildWork::FullRun,
            ChildWork::OneDocumentRun,
            ChildWork::Status,
            ChildWork::Seed,
            ChildWork::Rollback,
        ]
        .into_iter()
        .find(|w| w.name() == name)
        .ok_or_else(|| {
            format!(
                "`--scale-child` takes full-run, one-document-run, status, rollback or seed, not \
                 `{name}`"
            )
        })
    }
}

/// Where a store is: its URL, its PostgreSQL schema if any, and the backups' folder.
#[derive(Clone, Debug)]
pub(crate) struct StoreAt {
    pub(crate) url: String,
    pub(crate) pg_schema: Option<String>,
    pub(crate) backups: PathBuf,
}

impl StoreAt {
    fn options(&self) -> ConnectOptions {
        let options = ConnectOptions::new(self.url.clone());
        match &self.pg_schema {
            Some(schema) => options.with_pg_schema(schema.clone()),
            None => options,
        }
    }

    /// The arguments that hand this store to a child.
    fn child_args(&self) -> Vec<String> {
        let mut args = vec![
            "--store".to_owned(),
            self.url.clone(),
            "--backups".to_owned(),
            self.backups.display().to_string(),
        ];
        if let Some(schema) = &self.pg_schema {
            args.extend(["--pg-schema".to_owned(), schema.clone()]);
        }
        args
    }
}

/// The peak resident set of this process so far, KiB (0 where `/proc` does not say).
fn peak_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

/// Seeds `documents` laws into a new store at `at`, then cuts them all (untimed).
async fn seed(at: &StoreAt, documents: usize, settings: &ScaleSettings) -> Result<(), String> {
    init_with(&at.options())
        .await
        .map_err(|e| format!("init {}: {e}", at.options().location()))?;
    let store = connect_with(&at.options(), open_gate())
        .await
        .map_err(|e| format!("connect {}: {e}", at.options().location()))?;
    let root = corpus::Rng::new(settings.seed);
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for i in 0..documents {
        let id = DocumentId::new(format!("scale-{:06}", i + 1));
        batch.push((id, corpus::legal_vi(&mut root.fork(i as u64), DOC_BYTES)));
        if batch.len() == SEED_BATCH || i + 1 == documents {
            store
                .put_documents(&batch)
                .await
                .map_err(|e| format!("seeding: {e}"))?;
            batch.clear();
        }
    }
    Ok(())
}

/// Seeds a new store at `at` with `settings.documents` documents: the `seed` child, for a store
/// to profile runs on.
pub(crate) fn seed_store(at: &StoreAt, settings: &ScaleSettings) -> Result<(), String> {
    runtime()?.block_on(seed(at, settings.documents, settings))
}

/// Runs `work` on the store at `at` in this process and returns what it measured: the child's
/// side of [`measure`].
pub(crate) fn child(work: ChildWork, at: &StoreAt, max_unit_bytes: u64) -> Result<(), String> {
    let runtime = runtime()?;
    let result = runtime.block_on(async {
        let started = Instant::now();
        let store = connect_with(&at.options(), open_gate())
            .await
            .map_err(|e| format!("connect {}: {e}", at.options().location()))?;
        let store: Arc<dyn LiveExecutionAdapter> = Arc::new(store);
        let scope = match work {
            ChildWork::Status => {
                store.list_runs().await.map_err(|e| e.to_string())?;
                store.load_leases().await.map_err(|e| e.to_string())?;
                return Ok(ChildResult {
                    secs: started.elapsed().as_secs_f64(),
                    peak_rss_kib: peak_rss_kib(),
                    longest_transaction_ms: None,
                    units: None,
                    phase_peak_rss_kib: BTreeMap::new(),
                });
            }
            ChildWork::Seed => return Err("`seed` is not a measurement".to_owned()),
            ChildWork::Rollback => return roll_back_every_run(store, at, started).await,
            ChildWork::FullRun => Scope::All,
            ChildWork::OneDocumentRun => Scope::Ids(vec![DocumentId::new(ONE_DOCUMENT)]),
        };
        let runner = Runner::new(store, Arc::new(DirBackupStore::new(&at.backups)));
        let run = format!("scale-{}-{}", work.name(), std::process::id());
        let request = RunRequest::new(run.as_str(), scope, rules(max_unit_bytes));
        let sampler = PhaseRss::start();
        let options = RunOptions::default().with_events(sampler.events());
        let report = runner
            .run(request, options)
            .await
            .map_err(|e| e.to_string())?;
        let phase_peak_rss_kib = sampler.finish();
        let secs = started.elapsed().as_secs_f64();
        if !report.passed_every_phase() {
            return Err(format!(
                "the {} did not pass every phase: {:?}",
                work.name(),
                report.outcome
            ));
        }
        let units = report
            .phases
            .iter()
            .find(|p| p.name == "leg-b-record")
            .and_then(|p| p.evidence.get("units_written"))
            .and_then(|v| v.as_count());
        Ok(ChildResult {
            secs,
            peak_rss_kib: peak_rss_kib(),
            longest_transaction_ms: longest_batch_ms(&report),
            units,
            phase_peak_rss_kib,
        })
    })?;
    let line = serde_json::to_string(&result).map_err(|e| e.to_string())?;
    println!("{line}");
    Ok(())
}

/// The longest batch transaction any phase of `report` timed, in milliseconds.
fn longest_batch_ms(report: &RunReport) -> Option<u64> {
    report
        .phases
        .iter()
        .filter_map(|p| p.evidence.get("longest_batch_ms"))
        .filter_map(|v| v.as_count())
        .max()
}

/// Rolls back every passed run of the store at `at`, newest first (the one-document runs cut
/// over the full run come first: a rollback of the full run refuses while they hold documents of
/// it): the `rollback` child's work.
async fn roll_back_every_run(
    store: Arc<dyn LiveExecutionAdapter>,
    at: &StoreAt,
    started: Instant,
) -> Result<ChildResult, String> {
    let mut runs: Vec<RunRecord> = store
        .list_runs()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|r| r.status == RunStatus::Pass)
        .collect();
    let began = |r: &RunRecord| r.phases.first().and_then(|p| p.started_at.clone());
    runs.sort_by_key(|r| std::cmp::Reverse(began(r)));
    let runner = Runner::new(store, Arc::new(DirBackupStore::new(&at.backups)));
    let mut longest = 0;
    for record in &runs {
        let report = runner
            .rollback(&record.run)
            .await
            .map_err(|e| e.to_string())?;
        if report.outcome != Outcome::RolledBack {
            return Err(format!(
                "rolling back {} ended {}: {:?}",
                record.run,
                report.outcome.name(),
                report.outcome
            ));
        }
        longest = longest.max(longest_batch_ms(&report).unwrap_or(0));
    }
    Ok(ChildResult {
        secs: started.elapsed().as_secs_f64(),
        peak_rss_kib: peak_rss_kib(),
        longest_transaction_ms: Some(longest),
        units: None,
        phase_peak_rss_kib: BTreeMap::new(),
    })
}

/// Runs `work` in a child process of this program and reads what it printed.
fn measure(work: ChildWork, at: &StoreAt, settings: &ScaleSettings) -> Result<ChildResult, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let output = Command::new(exe)
        .args(["--scale-child", work.name()])
        .args(at.child_args())
        .args(["--max-unit-bytes", &settings.max_unit_bytes.to_string()])
        .output()
        .map_err(|e| format!("cannot start the {} child: {e}", work.name()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "the {} child failed ({}): {}",
            work.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .map_err(|e| format!("the {} child printed `{last}`: {e}", work.name()))
}

/// `work` measured `reps` times (each in its own child): the median repetition by time, with
/// every repetition's seconds.
fn measure_median(
    work: ChildWork,
    at: &StoreAt,
    settings: &ScaleSettings,
) -> Result<Sampled, String> {
    let mut results = (0..settings.reps.max(1))
        .map(|_| measure(work, at, settings))
        .collect::<Result<Vec<_>, _>>()?;
    let samples = results.iter().map(|r| r.secs).collect();
    results.sort_by(|a, b| a.secs.total_cmp(&b.secs));
    let median = results.swap_remove(results.len() / 2);
    Ok(Sampled { median, samples })
}

/// A store of `documents` laws on `backend` (SQLite under `tmp`, or a PostgreSQL schema), seeded
/// and cut; `tag` keeps the stores of one invocation apart.
async fn seeded(
    backend: &Backend,
    tag: &str,
    documents: usize,
    settings: &ScaleSettings,
    tmp: &Path,
) -> Result<StoreAt, String> {
    let dir = tmp.join(format!("scale-{}-{tag}", backend.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("clearing {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let at = match backend {
        Backend::Sqlite => StoreAt {
            url: format!("sqlite://{}", dir.join("store.db").display()),
            pg_schema: None,
            backups: dir.join("backups"),
        },
        Backend::Postgres(url) => StoreAt {
            url: url.clone(),
            pg_schema: Some(format!("iu_cutter_scale_{}_{tag}", std::process::id())),
            backups: dir.join("backups"),
        },
    };
    let started = Instant::now();
    seed(&at, documents, settings).await?;
    eprintln!(
        "bench: scale: {} store of {documents} documents seeded in {:.1} s",
        backend.name(),
        started.elapsed().as_secs_f64()
    );
    Ok(at)
}

/// Where the scale figures are measured.
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// Drops the store's PostgreSQL schema, if it has one (SQLite files stay for inspection under
/// `target/bench/tmp` until the next run).
async fn discard(at: &StoreAt) -> Result<(), String> {
    match &at.pg_schema {
        Some(schema) => drop_schema(&at.url, schema).await,
        None => Ok(()),
    }
}

/// The scale figures on every backend available.
pub(crate) fn run(settings: &ScaleSettings, tmp: &Path, report: &mut Report) -> Result<(), String> {
    report.setting("scale_documents", settings.documents as u64);
    report.setting("scale_document_bytes", DOC_BYTES as u64);
    let mut backends = Vec::new();
    if settings.backends != ScaleBackends::Postgres {
        backends.push(Backend::Sqlite);
    }
    match (&settings.pg_url, settings.backends) {
        (_, ScaleBackends::Sqlite) => report.note("scale: PostgreSQL not asked for".to_owned()),
        (Some(url), _) => backends.push(Backend::Postgres(url.clone())),
        (None, ScaleBackends::Postgres) => {
            return Err("`--scale-backend postgres` needs PostgreSQL: set \
                        IU_CUTTER_TEST_PG_URL (`cargo xtask pg-setup` prints it) or pass \
                        `--pg-url`"
                .to_owned());
        }
        (None, ScaleBackends::Both) => report.note(
            "scale: PostgreSQL skipped: IU_CUTTER_TEST_PG_URL is not set (`cargo xtask \
             pg-setup` prints it)"
                .to_owned(),
        ),
    }
    report.setting(
        "scale_backends",
        backends
            .iter()
            .map(Backend::name)
            .collect::<Vec<_>>()
            .join(","),
    );
    for backend in &backends {
        backend_figures(backend, settings, tmp, report)?;
    }
    Ok(())
}

/// The figures of one backend: seed the three stores, measure in children, record.
fn backend_figures(
    backend: &Backend,
    settings: &ScaleSettings,
    tmp: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let runtime = runtime()?;
    let name = backend.name();
    let tenth = (settings.documents / 10).max(1);
    let mut stores = Vec::new();
    let result = (|| {
        let one = runtime.block_on(seeded(backend, "one", 1, settings, tmp))?;
        stores.push(one.clone());
        let full_one = measure(ChildWork::FullRun, &one, settings)?;
        let one_doc_small = measure_median(ChildWork::OneDocumentRun, &one, settings)?;
        let status_small = measure_median(ChildWork::Status, &one, settings)?;

        let mid = runtime.block_on(seeded(backend, "tenth", tenth, settings, tmp))?;
        stores.push(mid.clone());
        let full_mid = measure(ChildWork::FullRun, &mid, settings)?;
        let rollback_mid = measure(ChildWork::Rollback, &mid, settings)?;
        if let Some(store) = stores.pop() {
            runtime.block_on(discard(&store))?;
        }

        let big = runtime.block_on(seeded(backend, "all", settings.documents, settings, tmp))?;
        stores.push(big.clone());
        let full_big = measure(ChildWork::FullRun, &big, settings)?;
        let one_doc_big = measure_median(ChildWork::OneDocumentRun, &big, settings)?;
        let status_big = measure_median(ChildWork::Status, &big, settings)?;
        let rollback_big = measure(ChildWork::Rollback, &big, settings)?;
        record(
            report,
            name,
            settings.documents,
            tenth,
            Measured {
                full_one: full_one.into(),
                one_doc_small,
                status_small,
                full_mid: full_mid.into(),
                full_big: full_big.into(),
                one_doc_big,
                status_big,
                rollback_mid: rollback_mid.into(),
                rollback_big: rollback_big.into(),
            },
        );
        Ok(())
    })();
    for store in &stores {
        runtime.block_on(discard(store))?;
    }
    result
}

/// One figure's child results: the median repetition, and every repetition's seconds.
struct Sampled {
    median: ChildResult,
    samples: Vec<f64>,
}

impl From<ChildResult> for Sampled {
    fn from(result: ChildResult) -> Self {
        Sampled {
            samples: vec![result.secs],
            median: result,
        }
    }
}

/// The children's results of one backend.
struct Measured {
    full_one: Sampled,
    one_doc_small: Sampled,
    status_small: Sampled,
    full_mid: Sampled,
    full_big: Sampled,
    one_doc_big: Sampled,
    status_big: Sampled,
    rollback_mid: Sampled,
    rollback_big: Sampled,
}

/// Every child's measurement of `m`, with its peak RSS, longest transaction and units.
fn add_measurements(report: &mut Report, backend: &str, m: &Measured) {
    let key = |what: &str| format!("scale_{backend}_{what}");
    for (what, label, sampled) in [
        ("full_run_one", "full run, 1-document store", &m.full_one),
        (
            "one_doc_small",
            "1-document run, 1-document store",
            &m.one_doc_small,
        ),
        ("status_small", "status, 1-document store", &m.status_small),
        ("full_run_tenth", "full run, store of a tenth", &m.full_mid),
        ("full_run_all", "full run, large store", &m.full_big),
        (
            "one_doc_large",
            "1-document run, large store",
            &m.one_doc_big,
        ),
        ("status_large", "status, large store", &m.status_big),
        (
            "rollback_tenth",
            "rollback of the full run, store of a tenth",
            &m.rollback_mid,
        ),
        (
            "rollback_all",
            "rollback of every run, large store",
            &m.rollback_big,
        ),
    ] {
        let result = &sampled.median;
        let label = format!("{backend}: {label}");
        let mut measurement = Measurement::new(&key(what), &label, sampled.samples.clone())
            .detail("peak_rss_kib", result.peak_rss_kib);
        if let Some(ms) = result.longest_transaction_ms {
            measurement = measurement.detail("longest_transaction_ms", ms);
        }
        if let Some(units) = result.units {
            measurement = measurement.detail("units", units);
        }
        for (phase, kib) in &result.phase_peak_rss_kib {
            measurement = measurement.detail(&format!("peak_rss_kib_{phase}"), *kib);
        }
        report.add(measurement);
    }
}

/// Records every child's measurement, then the figures against their targets.
fn record(report: &mut Report, backend: &str, documents: usize, tenth: usize, m: Measured) {
    let key = |what: &str| format!("scale_{backend}_{what}");
    add_measurements(report, backend, &m);
    report.figure(ratio_figure(
        &key("one_document_run"),
        &format!("{backend}: 1-document run, {documents}-document store ÷ 1-document store"),
        &m.one_doc_big,
        &m.one_doc_small,
    ));
    report.figure(ratio_figure(
        &key("status"),
        &format!("{backend}: status, {documents}-document store ÷ 1-document store"),
        &m.status_big,
        &m.status_small,
    ));
    let (big_mb, mid_mb) = (peak_mb(&m.full_big), peak_mb(&m.full_mid));
    report.figure(peak_rss_figure(
        &key("peak_rss_mb"),
        &format!("{backend}: peak RSS of a full run over {documents} documents"),
        &m.full_big,
        format!("the run took {:.0} s", m.full_big.median.secs),
    ));
    report.figure(Figure::measured(
        &key("peak_rss_growth"),
        &format!("{backend}: peak RSS at {documents} ÷ at {tenth} documents (±20 %)"),
        if mid_mb > 0.0 {
            big_mb / mid_mb
        } else {
            f64::INFINITY
        },
        "×",
        Bound::AtMost,
        1.2,
        format!("{big_mb:.0} MB ÷ {mid_mb:.0} MB"),
    ));
    report.figure(longest_transaction_figure(
        &key("longest_transaction_ms"),
        &format!("{backend}: longest single transaction of a full run over {documents} documents"),
        &m.full_big,
        "the phases' longest_batch_ms",
    ));
    let key = |what: &str| key(&format!("rollback_{what}"));
    report.figure(peak_rss_figure(
        &key("peak_rss_mb"),
        &format!("{backend}: peak RSS of rolling back a full run over {documents} documents"),
        &m.rollback_big,
        format!(
            "{:.0} MB at {tenth} documents; the rollbacks took {:.0} s",
            peak_mb(&m.rollback_mid),
            m.rollback_big.median.secs
        ),
    ));
    report.figure(longest_transaction_figure(
        &key("longest_transaction_ms"),
        &format!("{backend}: longest single transaction of that rollback"),
        &m.rollback_big,
        "the rollback's longest_batch_ms",
    ));
}

/// `big`'s median time ÷ `small`'s, at most 1.5: what the store's size may cost.
fn ratio_figure(key: &str, label: &str, big: &Sampled, small: &Sampled) -> Figure {
    let (a, b) = (big.median.secs, small.median.secs);
    let value = if b > 0.0 { a / b } else { f64::INFINITY };
    let note = format!("{a:.3} s ÷ {b:.3} s");
    Figure::measured(key, label, value, "×", Bound::AtMost, 1.5, note)
}

/// The peak RSS of `sampled`'s median child, in MB (10^6 bytes, as the report's header says;
/// `/proc` counts KiB).
fn peak_mb(sampled: &Sampled) -> f64 {
    sampled.median.peak_rss_kib as f64 * 1024.0 / 1e6
}

/// `sampled`'s peak RSS, at most 300 MB.
fn peak_rss_figure(key: &str, label: &str, sampled: &Sampled, note: String) -> Figure {
    Figure::measured(
        key,
        label,
        peak_mb(sampled),
        "MB",
        Bound::AtMost,
        300.0,
        note,
    )
}

/// `sampled`'s longest single transaction, at most 2 s.
fn longest_transaction_figure(key: &str, label: &str, sampled: &Sampled, note: &str) -> Figure {
    let ms = sampled.median.longest_transaction_ms.unwrap_or(0) as f64;
    Figure::measured(key, label, ms, "ms", Bound::AtMost, 2000.0, note.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_reported_in_megabytes_of_a_million_bytes() {
        // 300,000 KiB is 307.2 MB (10^6 bytes, the report's unit), not 293 (MiB): over a
        // 300 MB target, and reported so.
        let sampled = Sampled::from(ChildResult {
            secs: 1.0,
            peak_rss_kib: 300_000,
            longest_transaction_ms: None,
            units: None,
            phase_peak_rss_kib: BTreeMap::new(),
        });
        assert!(
            (peak_mb(&sampled) - 307.2).abs() < 1e-9,
            "{}",
            peak_mb(&sampled)
        );
    }

    #[test]
    fn scale_backends_parse_and_refuse_others() {
        assert_eq!(ScaleBackends::parse("both"), Ok(ScaleBackends::Both));
        assert_eq!(ScaleBackends::parse("sqlite"), Ok(ScaleBackends::Sqlite));
        assert_eq!(
            ScaleBackends::parse("postgres"),
            Ok(ScaleBackends::Postgres)
        );
        assert!(ScaleBackends::parse("mysql").is_err());
    }

    #[test]
    fn postgres_alone_without_a_url_is_refused_before_anything_is_seeded() {
        let settings = ScaleSettings {
            documents: 10,
            max_unit_bytes: 2048,
            seed: 1,
            pg_url: None,
            reps: 1,
            backends: ScaleBackends::Postgres,
        };
        let mut report = Report::new("test".to_owned(), true, Some("scale".to_owned()), 1);
        let refused = run(&settings, Path::new("/nonexistent/scale"), &mut report);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("IU_CUTTER_TEST_PG_URL")),
            "{refused:?}"
        );
    }

    #[test]
    fn child_work_names_round_trip() -> Result<(), String> {
        for work in [
            ChildWork::FullRun,
            ChildWork::OneDocumentRun,
            ChildWork::Status,
            ChildWork::Seed,
            ChildWork::Rollback,
        ] {
            assert_eq!(ChildWork::parse(work.name())?, work);
        }
        assert!(ChildWork::parse("everything").is_err());
        Ok(())
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        // Linux is where the bench runs; elsewhere the figure is 0 and says nothing.
        if cfg!(target_os = "linux") {
            assert!(peak_rss_kib() > 0);
        }
    }
}
