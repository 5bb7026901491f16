//! Store benchmarks: a full live run (all five phases, through the `Runner`, on the real SQL store)
//! against the fastest bare write of the same units into the same schema: on SQLite a bare insert
//! in one transaction (a prepared one-row statement, or multi-row statements: the faster counts),
//! on PostgreSQL a `COPY … FROM STDIN` (when `IU_CUTTER_TEST_PG_URL` is set; every schema made
//! here is dropped again).
//!
//! Every repetition starts from a fresh database holding the same documents (imported untimed);
//! the full run and its baseline alternate, so that drift on a shared machine hits both alike.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use iu_cutter_cut::Cutter;
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::{ConnectOptions, connect_with, init_with};
use iu_cutter_live_execution::{
    CutRules, DocumentId, ExecutionGate, LiveExecutionAdapter, ManualSwitch, Preset, RunId, Scope,
    Unit,
};
use iu_cutter_orchestrator::{RunOptions, RunRequest, Runner};
use iu_cutter_phase_core::DirBackupStore;
use serde_json::Value;
use sqlx::{Connection, Executor};

use crate::corpus::Doc;
use crate::report::{Bound, Figure, Measurement, Report, median};
use crate::timed::{Timed, Timings};

/// The run every repetition performs (its id names the generation the baselines write too).
const RUN: &str = "bench-run";

/// Issue 15's target: a full run on SQLite takes at most this many times the fastest bare insert
/// of the same units.
const SQLITE_FULL_RUN_VS_INSERT: f64 = 2.5;

/// Issue 15's target: a full run on PostgreSQL takes at most this many times a COPY of the same
/// units.
const PG_FULL_RUN_VS_COPY: f64 = 2.5;

/// Rows per multi-row `INSERT` on SQLite: 10 parameters each, under SQLite's 32766.
const SQLITE_ROWS_PER_STATEMENT: usize = 3000;

const INSERT_ONE: &str = "INSERT INTO units (document, generation, ordinal, unit_id, path, part, \
     start_byte, end_byte, sha256, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const COPY_UNITS: &str = "COPY units (document, generation, ordinal, unit_id, path, part, \
     start_byte, end_byte, sha256, body) FROM STDIN";

pub(crate) struct StoreSettings {
    pub(crate) reps: usize,
    pub(crate) max_unit_bytes: u64,
    pub(crate) pg_url: Option<String>,
}

/// The rules of the store runs: the Vietnamese preset (the store corpus is Vietnamese laws).
pub(crate) fn rules(max_unit_bytes: u64) -> CutRules {
    CutRules::preset(Preset::LegalVi).with_max_unit_bytes(max_unit_bytes)
}

/// `base`, and when `units` asks for more units than it cuts into, more Vietnamese laws of the
/// same sizes (other texts, ids `{base id}-{copy}`) until it cuts into at least that many.
pub(crate) fn grown_to(
    base: Vec<Doc>,
    units: Option<u64>,
    seed: u64,
    max_unit_bytes: u64,
) -> Result<Vec<Doc>, String> {
    let Some(wanted) = units else {
        return Ok(base);
    };
    let per_copy = units_for(&base, &rules(max_unit_bytes))?.len().max(1) as u64;
    let copies = wanted.div_ceil(per_copy).max(1);
    let root = crate::corpus::Rng::new(seed ^ 0x5707e);
    let mut docs = Vec::with_capacity(base.len() * copies as usize);
    for copy in 1..copies {
        for (i, doc) in base.iter().enumerate() {
            let mut rng = root.fork(copy * 100_000 + i as u64);
            docs.push(Doc {
                id: format!("{}-{copy:03}", doc.id),
                kind: doc.kind,
                text: crate::corpus::legal_vi(&mut rng, doc.text.len()),
            });
        }
    }
    docs.extend(base);
    Ok(docs)
}

/// The units a run writes for `docs`, bodies included, computed with the engine.
fn units_for(docs: &[Doc], rules: &CutRules) -> Result<Vec<Unit>, String> {
    let cutter = Cutter::new(rules).map_err(|e| e.to_string())?;
    let run = RunId::new(RUN);
    let mut units = Vec::new();
    for doc in docs {
        let document = DocumentId::new(doc.id.as_str());
        for unit in cutter.cut(&doc.id, &doc.text).map_err(|e| e.to_string())? {
            let body = unit
                .text(&doc.text)
                .ok_or_else(|| format!("{}: unit {} off the text", doc.id, unit.ordinal))?;
            units.push(unit.staged(&document, &run, body));
        }
    }
    Ok(units)
}

pub(crate) fn open_gate() -> ExecutionGate {
    ExecutionGate::new().with_source(ManualSwitch::new(
        "benchmark switch",
        true,
        "open the benchmark switch",
    ))
}

/// Creates the schema at `options` and imports `docs` through the store (untimed set-up).
async fn prepare(
    options: &ConnectOptions,
    docs: &[Doc],
) -> Result<Arc<dyn LiveExecutionAdapter>, String> {
    init_with(options)
        .await
        .map_err(|e| format!("init {}: {e}", options.location()))?;
    let store = connect_with(options, open_gate())
        .await
        .map_err(|e| format!("connect {}: {e}", options.location()))?;
    let store: Arc<dyn LiveExecutionAdapter> = Arc::new(store);
    for doc in docs {
        store
            .put_document(&DocumentId::new(doc.id.as_str()), &doc.text)
            .await
            .map_err(|e| format!("importing {}: {e}", doc.id))?;
    }
    Ok(store)
}

/// What one full run took: in all (seconds), per phase (ms), and per store operation when it
/// was profiled.
struct RunTimes {
    secs: f64,
    phases: BTreeMap<String, u64>,
    operations: Option<Timings>,
}

/// One full run over every document. With `profile`, the store is wrapped in [`Timed`] (this
/// run is then not one of the measured repetitions).
async fn full_run(
    store: Arc<dyn LiveExecutionAdapter>,
    backups: &Path,
    rules: &CutRules,
    profile: bool,
) -> Result<RunTimes, String> {
    let timed = profile.then(|| Arc::new(Timed::new(store.clone())));
    let adapter: Arc<dyn LiveExecutionAdapter> = match &timed {
        Some(timed) => timed.clone(),
        None => store,
    };
    let runner = Runner::new(adapter, Arc::new(DirBackupStore::new(backups)));
    let request = RunRequest::new(RUN, Scope::All, rules.clone());
    let started = Instant::now();
    let report = runner
        .run(request, RunOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    if report.phases.len() != 5 || !report.passed_every_phase() {
        return Err(format!(
            "the benchmark run did not pass all five phases: {}",
            serde_json::to_string(&report).unwrap_or_default()
        ));
    }
    let phases = report
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.duration_ms.unwrap_or_default()))
        .collect();
    Ok(RunTimes {
        secs,
        phases,
        operations: timed.map(|t| t.timings()),
    })
}

/// The profiled run's store operations, most expensive first: `name ×calls ms`.
fn describe_operations(operations: &Timings, total_secs: f64) -> String {
    let mut ops: Vec<_> = operations.iter().collect();
    ops.sort_by_key(|(_, (_, spent))| std::cmp::Reverse(*spent));
    let in_store: f64 = ops.iter().map(|(_, (_, d))| d.as_secs_f64()).sum();
    let listed = ops
        .iter()
        .filter(|(_, (_, d))| d.as_secs_f64() >= 0.01 * total_secs)
        .map(|(name, (calls, d))| format!("{name} ×{calls} {:.0} ms", d.as_secs_f64() * 1e3))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{:.0} ms of {:.0} ms in store calls ({listed}); the rest, {:.0} ms, outside the store \
         (cut, hashing, JSON, backup file)",
        in_store * 1e3,
        total_secs * 1e3,
        (total_secs - in_store) * 1e3
    )
}

fn operations_json(operations: &Timings) -> Value {
    Value::Object(
        operations
            .iter()
            .map(|(name, (calls, d))| {
                (
                    (*name).to_owned(),
                    serde_json::json!({ "calls": calls, "ms": d.as_secs_f64() * 1e3 }),
                )
            })
            .collect(),
    )
}

/// Per-phase medians over the repetitions.
fn phase_medians(runs: &[BTreeMap<String, u64>]) -> Value {
    let mut names: Vec<&String> = runs.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let map: serde_json::Map<String, Value> = names
        .into_iter()
        .map(|name| {
            let samples: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(name).map(|&ms| ms as f64))
                .collect();
            (name.clone(), Value::from(median(&samples)))
        })
        .collect();
    Value::Object(map)
}

fn describe_phases(phases: &Value) -> String {
    phases
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {} ms", v.as_f64().unwrap_or_default().round()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// The runtime the store benchmarks run on: worker threads, as the CLI's (a run's lease
/// heartbeat is a spawned task).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// One profiled full run on `backend`, on stderr: its time, its phases' and its store calls'.
fn print_profile(backend: &str, times: &RunTimes) {
    eprintln!(
        "profile {backend}: full run {:.3} s: {:?}; {}",
        times.secs,
        times.phases,
        times
            .operations
            .as_ref()
            .map(|o| describe_operations(o, times.secs))
            .unwrap_or_default()
    );
}

/// Only the SQLite full runs, for a profiler.
pub(crate) fn profile_sqlite(
    docs: &[Doc],
    settings: &StoreSettings,
    tmp: &Path,
) -> Result<(), String> {
    let runtime = runtime()?;
    let rules = rules(settings.max_unit_bytes);
    runtime.block_on(async {
        for _ in 0..settings.reps {
            let dir = fresh_dir(tmp)?;
            let store = prepare(&sqlite_options(dir.path()), docs).await?;
            let times = full_run(store, &dir.path().join("backups"), &rules, true).await?;
            print_profile("sqlite", &times);
        }
        Ok(())
    })
}

/// Only the PostgreSQL full runs (each in a schema of its own, dropped after), for a profiler.
pub(crate) fn profile_postgres(
    docs: &[Doc],
    settings: &StoreSettings,
    tmp: &Path,
) -> Result<(), String> {
    let Some(url) = settings.pg_url.as_deref() else {
        return Err("profiling PostgreSQL needs --pg-url or IU_CUTTER_TEST_PG_URL".to_owned());
    };
    let runtime = runtime()?;
    let rules = rules(settings.max_unit_bytes);
    runtime.block_on(async {
        for rep in 0..settings.reps {
            let dir = fresh_dir(tmp)?;
            let times = in_schema(url, &schema_name("profile", rep), async |options| {
                let store = prepare(&options, docs).await?;
                full_run(store, &dir.path().join("backups"), &rules, true).await
            })
            .await?;
            print_profile("postgres", &times);
        }
        Ok(())
    })
}

pub(crate) fn run(
    docs: &[Doc],
    settings: &StoreSettings,
    tmp: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let runtime = runtime()?;
    let rules = rules(settings.max_unit_bytes);
    let units = units_for(docs, &rules)?;
    let bytes: u64 = docs.iter().map(|d| d.text.len() as u64).sum();
    report.setting("store_documents", docs.len() as u64);
    report.setting("store_bytes", bytes);
    report.setting("store_units", units.len() as u64);
    runtime.block_on(sqlite(docs, &units, bytes, &rules, settings, tmp, report))?;
    match &settings.pg_url {
        Some(url) => runtime.block_on(postgres(
            docs, &units, bytes, &rules, settings, url, tmp, report,
        ))?,
        None => {
            let why = "IU_CUTTER_TEST_PG_URL is not set (`cargo xtask pg-setup` prepares a local \
                       PostgreSQL and prints the URL to export)"
                .to_owned();
            report.note(format!("PostgreSQL skipped: {why}"));
            report.figure(Figure::skipped(
                "pg_full_run_vs_copy",
                "PostgreSQL full run vs COPY of the same units (time)",
                "×",
                Bound::AtMost,
                PG_FULL_RUN_VS_COPY,
                why,
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// SQLite.

fn sqlite_options(dir: &Path) -> ConnectOptions {
    ConnectOptions::new(format!("sqlite://{}", dir.join("store.db").display()))
}

/// A bare connection to the store's file, with the store's own settings (WAL, synchronous
/// NORMAL, foreign keys on).
async fn sqlite_connection(dir: &Path) -> Result<sqlx::SqliteConnection, String> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(dir.join("store.db"))
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| format!("sqlite: {e}"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Insert {
    /// One prepared single-row `INSERT` per unit.
    Prepared,
    /// Multi-row `INSERT`s of up to [`SQLITE_ROWS_PER_STATEMENT`] rows.
    MultiRow,
}

/// What a unit's ten columns are bound to, in the order of the `units` table: a one-row
/// statement ([`INSERT_ONE`]) or a row of a multi-row one.
trait UnitColumns: Sized {
    /// Binds the next column to `value`.
    fn column<'t, T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        self,
        value: T,
    ) -> Self;

    /// Binds `unit`'s columns.
    fn unit(self, unit: &Unit) -> Self {
        self.column(unit.document.as_str())
            .column(unit.generation.as_str())
            .column(i64::from(unit.ordinal))
            .column(unit.unit_id.as_str())
            .column(unit.path.as_str())
            .column(unit.part.map(i64::from))
            .column(unit.start as i64)
            .column(unit.end as i64)
            .column(unit.sha256.as_str())
            .column(unit.body.as_str())
    }
}

impl UnitColumns
    for sqlx::query::Query<'_, sqlx::Sqlite, <sqlx::Sqlite as sqlx::Database>::Arguments>
{
    fn column<'t, T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        self,
        value: T,
    ) -> Self {
        self.bind(value)
    }
}

impl UnitColumns for &mut sqlx::query_builder::Separated<'_, sqlx::Sqlite, &'static str> {
    fn column<'t, T: sqlx::Encode<'t, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        self,
        value: T,
    ) -> Self {
        self.push_bind(value)
    }
}

/// Inserts `units` in one transaction; returns the seconds it took.
async fn sqlite_insert(dir: &Path, units: &[Unit], how: Insert) -> Result<f64, String> {
    let mut conn = sqlite_connection(dir).await?;
    let err = |e: sqlx::Error| format!("sqlite bare insert: {e}");
    let started = Instant::now();
    let mut tx = conn.begin().await.map_err(err)?;
    match how {
        Insert::Prepared => {
            for unit in units {
                sqlx::query(INSERT_ONE)
                    .unit(unit)
                    .execute(&mut *tx)
                    .await
                    .map_err(err)?;
            }
        }
        Insert::MultiRow => {
            for chunk in units.chunks(SQLITE_ROWS_PER_STATEMENT) {
                let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO units (document, generation, ordinal, unit_id, path, part, \
                     start_byte, end_byte, sha256, body) ",
                );
                query.push_values(chunk, |mut row, unit| {
                    row.unit(unit);
                });
                query.build().execute(&mut *tx).await.map_err(err)?;
            }
        }
    }
    tx.commit().await.map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM units")
        .fetch_one(&mut conn)
        .await
        .map_err(err)?;
    conn.close().await.map_err(err)?;
    if count != units.len() as i64 {
        return Err(format!(
            "sqlite bare insert wrote {count} units, expected {}",
            units.len()
        ));
    }
    Ok(secs)
}

fn fresh_dir(tmp: &Path) -> Result<tempfile::TempDir, String> {
    std::fs::create_dir_all(tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    tempfile::tempdir_in(tmp).map_err(|e| format!("cannot create a temporary directory: {e}"))
}

/// A measurement of writing `units` (`bytes` of text) into a store.
fn of_units(
    name: &str,
    label: &str,
    samples_s: Vec<f64>,
    units: &[Unit],
    bytes: u64,
) -> Measurement {
    Measurement::new(name, label, samples_s)
        .bytes(bytes)
        .detail("units", units.len() as u64)
}

/// Adds the full live runs on `store` (`full`) to the report with the phases' medians and,
/// when the extra `profiled` run timed its store calls, those calls (as a detail and a note).
fn add_full_run(
    report: &mut Report,
    store: &str,
    full: Measurement,
    phase_ms: &Value,
    profiled: Option<&RunTimes>,
) -> Measurement {
    let mut full = full.detail("phase_median_ms", phase_ms.clone());
    if let Some(RunTimes {
        secs,
        operations: Some(operations),
        ..
    }) = profiled
    {
        full = full.detail("profiled_run_operations", operations_json(operations));
        report.note(format!(
            "{store} full run, profiled (one extra run, store calls timed): {}",
            describe_operations(operations, *secs)
        ));
    }
    report.add(full)
}

/// The SQLite benchmarks: full live runs against bare inserts of the same units.
async fn sqlite(
    docs: &[Doc],
    units: &[Unit],
    bytes: u64,
    rules: &CutRules,
    settings: &StoreSettings,
    tmp: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let samples = SqliteSamples::take(docs, units, rules, settings, tmp).await?;
    let phase_ms = phase_medians(&samples.phases);
    let full = add_full_run(
        report,
        "SQLite",
        of_units(
            "store.sqlite_full_run",
            "SQLite: full live run, five phases through the Runner",
            samples.full,
            units,
            bytes,
        ),
        &phase_ms,
        samples.profiled.as_ref(),
    );
    let prepared = report.add(of_units(
        "store.sqlite_insert_prepared",
        "SQLite: bare insert, one transaction, prepared one-row statement",
        samples.prepared,
        units,
        bytes,
    ));
    let multi = report.add(of_units(
        "store.sqlite_insert_multirow",
        &format!(
            "SQLite: bare insert, one transaction, multi-row statements of {SQLITE_ROWS_PER_STATEMENT}"
        ),
        samples.multi,
        units,
        bytes,
    ));
    let fastest = if prepared.median_s <= multi.median_s {
        &prepared
    } else {
        &multi
    };
    report.figure(full_run_vs(
        "sqlite_full_run_vs_bare_insert",
        "SQLite full run vs the fastest bare insert of the same units (time)",
        &full,
        fastest,
        SQLITE_FULL_RUN_VS_INSERT,
        format!(
            "{:.3} s vs {:.3} s ({}); {} units, {:.1} MB; phases: {}",
            full.median_s,
            fastest.median_s,
            if fastest.name == prepared.name {
                "prepared statement"
            } else {
                "multi-row insert"
            },
            units.len(),
            bytes as f64 / 1e6,
            describe_phases(&phase_ms)
        ),
    ));
    Ok(())
}

/// The figure `key`: the full run's median time over `baseline`'s, which may be at most `target`.
fn full_run_vs(
    key: &str,
    figure: &str,
    full: &Measurement,
    baseline: &Measurement,
    target: f64,
    note: String,
) -> Figure {
    Figure::measured(
        key,
        figure,
        full.median_s / baseline.median_s.max(f64::MIN_POSITIVE),
        "×",
        Bound::AtMost,
        target,
        note,
    )
}

/// The SQLite timings of every counted repetition, and the one profiled run.
struct SqliteSamples {
    /// Seconds of each full live run.
    full: Vec<f64>,
    /// Milliseconds of each phase, per full run.
    phases: Vec<BTreeMap<String, u64>>,
    /// Seconds of each bare insert with a prepared one-row statement.
    prepared: Vec<f64>,
    /// Seconds of each bare insert with multi-row statements.
    multi: Vec<f64>,
    /// The extra run with the store calls timed.
    profiled: Option<RunTimes>,
}

impl SqliteSamples {
    /// Runs the repetitions, each on fresh databases. Repetition 0 warms up (caches, page cache)
    /// and is not counted; the last one, with the store calls timed, is not counted either.
    async fn take(
        docs: &[Doc],
        units: &[Unit],
        rules: &CutRules,
        settings: &StoreSettings,
        tmp: &Path,
    ) -> Result<Self, String> {
        let mut samples = SqliteSamples {
            full: Vec::new(),
            phases: Vec::new(),
            prepared: Vec::new(),
            multi: Vec::new(),
            profiled: None,
        };
        for rep in 0..=settings.reps + 1 {
            let profile = rep == settings.reps + 1;
            let dir = fresh_dir(tmp)?;
            let store = prepare(&sqlite_options(dir.path()), docs).await?;
            let times = full_run(store, &dir.path().join("backups"), rules, profile).await?;
            drop(dir);
            if profile {
                samples.profiled = Some(times);
                break;
            }

            let mut bare = [0.0; 2];
            for (slot, how) in [Insert::Prepared, Insert::MultiRow].into_iter().enumerate() {
                let dir = fresh_dir(tmp)?;
                drop(prepare(&sqlite_options(dir.path()), docs).await?);
                bare[slot] = sqlite_insert(dir.path(), units, how).await?;
            }
            if rep > 0 {
                samples.full.push(times.secs);
                samples.phases.push(times.phases);
                samples.prepared.push(bare[0]);
                samples.multi.push(bare[1]);
            }
        }
        Ok(samples)
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL.

/// A dedicated schema, dropped by [`drop_schema`] whatever happened in it.
fn schema_name(what: &str, rep: usize) -> String {
    format!("iu_cutter_bench_{}_{what}_{rep}", std::process::id())
}

async fn pg_connection(url: &str, schema: Option<&str>) -> Result<sqlx::PgConnection, String> {
    let mut options = sqlx::postgres::PgConnectOptions::from_str(url.trim())
        .map_err(|e| format!("postgres URL: {e}"))?;
    if let Some(schema) = schema {
        options = options.options([("search_path", schema)]);
    }
    sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|e| format!("postgres: {e}"))
}

pub(crate) async fn drop_schema(url: &str, schema: &str) -> Result<(), String> {
    let mut conn = pg_connection(url, None).await?;
    // The name comes from `schema_name`: letters, digits and `_` only.
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await
    .map_err(|e| format!("dropping schema {schema}: {e}"))?;
    conn.close().await.map_err(|e| format!("postgres: {e}"))
}

/// Appends `text` in COPY's text format.
fn copy_text(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

fn copy_row(out: &mut Vec<u8>, unit: &Unit) {
    use std::io::Write as _;
    copy_text(out, unit.document.as_str());
    out.push(b'\t');
    copy_text(out, unit.generation.as_str());
    let _ = write!(out, "\t{}\t", unit.ordinal);
    copy_text(out, &unit.unit_id);
    out.push(b'\t');
    copy_text(out, &unit.path);
    match unit.part {
        Some(part) => {
            let _ = write!(out, "\t{part}");
        }
        None => out.extend_from_slice(b"\t\\N"),
    }
    let _ = write!(out, "\t{}\t{}\t", unit.start, unit.end);
    copy_text(out, &unit.sha256);
    out.push(b'\t');
    copy_text(out, &unit.body);
    out.push(b'\n');
}

/// COPYs `units` in one transaction; returns the seconds it took (encoding included).
async fn pg_copy(url: &str, schema: &str, units: &[Unit]) -> Result<f64, String> {
    const CHUNK: usize = 1 << 20;
    let mut conn = pg_connection(url, Some(schema)).await?;
    let err = |e: sqlx::Error| format!("postgres COPY: {e}");
    let started = Instant::now();
    conn.execute("BEGIN").await.map_err(err)?;
    let mut copy = conn.copy_in_raw(COPY_UNITS).await.map_err(err)?;
    let mut buf = Vec::with_capacity(CHUNK + 64 * 1024);
    for unit in units {
        copy_row(&mut buf, unit);
        if buf.len() >= CHUNK {
            copy.send(std::mem::take(&mut buf)).await.map_err(err)?;
            buf.reserve(CHUNK + 64 * 1024);
        }
    }
    if !buf.is_empty() {
        copy.send(buf).await.map_err(err)?;
    }
    let rows = copy.finish().await.map_err(err)?;
    conn.execute("COMMIT").await.map_err(err)?;
    let secs = started.elapsed().as_secs_f64();
    conn.close().await.map_err(|e| format!("postgres: {e}"))?;
    if rows != units.len() as u64 {
        return Err(format!("COPY wrote {rows} units, expected {}", units.len()));
    }
    Ok(secs)
}

/// Runs `body` in a fresh schema, then drops the schema whatever the outcome.
async fn in_schema<T>(
    url: &str,
    schema: &str,
    body: impl AsyncFnOnce(ConnectOptions) -> Result<T, String>,
) -> Result<T, String> {
    let options = ConnectOptions::new(url).with_pg_schema(schema);
    let result = body(options).await;
    let dropped = drop_schema(url, schema).await;
    let value = result?;
    dropped?;
    Ok(value)
}

#[allow(clippy::too_many_arguments)]
async fn postgres(
    docs: &[Doc],
    units: &[Unit],
    bytes: u64,
    rules: &CutRules,
    settings: &StoreSettings,
    url: &str,
    tmp: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let mut full = Vec::new();
    let mut phases = Vec::new();
    let mut copies = Vec::new();
    let mut profiled = None;
    for rep in 0..=settings.reps + 1 {
        let profile = rep == settings.reps + 1;
        let dir = fresh_dir(tmp)?;
        let times = in_schema(url, &schema_name("run", rep), async |options| {
            let store = prepare(&options, docs).await?;
            full_run(store, &dir.path().join("backups"), rules, profile).await
        })
        .await?;
        drop(dir);
        if profile {
            profiled = Some(times);
            break;
        }
        let schema = schema_name("copy", rep);
        let copy = in_schema(url, &schema, async |options| {
            drop(prepare(&options, docs).await?);
            pg_copy(url, &schema, units).await
        })
        .await?;
        if rep > 0 {
            full.push(times.secs);
            phases.push(times.phases);
            copies.push(copy);
        }
    }
    let phase_ms = phase_medians(&phases);
    let full = add_full_run(
        report,
        "PostgreSQL",
        of_units(
            "store.pg_full_run",
            "PostgreSQL: full live run, five phases through the Runner",
            full,
            units,
            bytes,
        ),
        &phase_ms,
        profiled.as_ref(),
    );
    let copy = report.add(of_units(
        "store.pg_copy",
        "PostgreSQL: COPY of the same units, one transaction",
        copies,
        units,
        bytes,
    ));
    report.figure(full_run_vs(
        "pg_full_run_vs_copy",
        "PostgreSQL full run vs COPY of the same units (time)",
        &full,
        &copy,
        PG_FULL_RUN_VS_COPY,
        format!(
            "{:.3} s vs {:.3} s; phases: {}",
            full.median_s,
            copy.median_s,
            describe_phases(&phase_ms)
        ),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_what_the_text_format_needs() {
        let unit = Unit {
            document: DocumentId::new("d\t1"),
            generation: RunId::new(RUN),
            ordinal: 3,
            unit_id: "id".into(),
            path: "Chương I/Điều 1".into(),
            part: None,
            start: 0,
            end: 9,
            sha256: "ab".into(),
            body: "a\\b\r\nc\td".into(),
        };
        let mut out = Vec::new();
        copy_row(&mut out, &unit);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "d\\t1\tbench-run\t3\tid\tChương I/Điều 1\t\\N\t0\t9\tab\ta\\\\b\\r\\nc\\td\n"
        );
    }
    /// The store benchmark grown to a number of units: the base laws, and more of the same
    /// sizes under other ids and texts, until the units asked for are reached.
    #[test]
    fn grown_to_a_unit_count_cuts_into_at_least_that_many_units() -> Result<(), String> {
        let spec = crate::corpus::CorpusSpec::quick(7);
        let base: Vec<Doc> = crate::corpus::corpus(&spec)
            .into_iter()
            .filter(|d| d.kind == crate::corpus::Kind::LegalVi)
            .collect();
        let rules = rules(2048);
        let base_units = units_for(&base, &rules)?.len() as u64;
        assert_eq!(grown_to(base.clone(), None, 7, 2048)?, base);
        let grown = grown_to(base.clone(), Some(2 * base_units + 1), 7, 2048)?;
        assert_eq!(grown.len(), 3 * base.len());
        assert!(units_for(&grown, &rules)?.len() as u64 > 2 * base_units);
        let ids: std::collections::BTreeSet<&str> = grown.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids.len(), grown.len(), "every id once");
        let texts: std::collections::BTreeSet<&str> =
            grown.iter().map(|d| d.text.as_str()).collect();
        assert_eq!(texts.len(), grown.len(), "no text repeated");
        Ok(())
    }
}
