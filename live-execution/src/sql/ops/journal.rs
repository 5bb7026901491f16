//! The journal: runs and their phases, plans, reports and backups. Journal rows are never in
//! the census. A write checks the run exists (locking its row where the backend locks rows) in
//! the same transaction.

use std::collections::BTreeMap;

use sqlx::{Pool, Transaction};

use crate::adapter::AdapterResult;
use crate::census::sha256_hex;
use crate::conflicts::{backup_conflict, plan_conflict, run_not_found};
use crate::domain::{
    DocumentPlan, PhaseRecord, Plan, RecentRuns, RunId, RunRecord, RunStatus, StoredBackup,
    StoredPlanPart,
};
use crate::error::AdapterError;
use crate::op::LeaseClaim;
use crate::sql::codec::{self, from_db};
use crate::sql::dialect::{Dialect, ForUpdate, for_update};
use crate::sql::error::sql;
use crate::sql::ops::leases::begin_claimed;
use crate::sql::ops::{row_by_key, rows_by_key};
use crate::sql::query::{Fields, Query};

const WHAT: &str = "reading the journal";

/// A run's row.
const RUN: ForUpdate = for_update!("SELECT run FROM runs WHERE run = $1");

fn phase_record(row: &impl Fields) -> AdapterResult<(String, PhaseRecord)> {
    let status = row.str("status").map_err(sql(WHAT))?;
    let evidence = row.str("evidence").map_err(sql(WHAT))?;
    Ok((
        row.text("run").map_err(sql(WHAT))?,
        PhaseRecord {
            name: row.text("name").map_err(sql(WHAT))?,
            status: codec::parse_status(status)?,
            evidence: codec::from_json(evidence, "phase evidence")?,
            detail: row.opt_text("detail").map_err(sql(WHAT))?,
            started_at: row.opt_text("started_at").map_err(sql(WHAT))?,
            first_started_at: row.opt_text("first_started_at").map_err(sql(WHAT))?,
            finished_at: row.opt_text("finished_at").map_err(sql(WHAT))?,
        },
    ))
}

fn run_record(row: &impl Fields) -> AdapterResult<RunRecord> {
    let schema_version = row.int("schema_version").map_err(sql(WHAT))?;
    let scope = row.str("scope").map_err(sql(WHAT))?;
    let rules = row.str("rules").map_err(sql(WHAT))?;
    let status = row.str("status").map_err(sql(WHAT))?;
    Ok(RunRecord {
        schema_version: from_db(schema_version, "run schema version")?,
        run: RunId::new(row.text("run").map_err(sql(WHAT))?),
        scope: codec::from_json(scope, "run scope")?,
        rules: codec::from_json(rules, "run rules")?,
        expected_plan_sha256: row.opt_text("expected_plan_sha256").map_err(sql(WHAT))?,
        status: codec::parse_status(status)?,
        phases: Vec::new(),
    })
}

async fn load_run_in<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
) -> AdapterResult<Option<RunRecord>> {
    let statement = "SELECT run, schema_version, scope, rules, expected_plan_sha256, status \
                     FROM runs WHERE run = $1";
    let Some(row) = row_by_key::<D>(conn, statement, run.as_str(), WHAT).await? else {
        return Ok(None);
    };
    let mut record = run_record(&row)?;
    let phases = D::query(
        "SELECT run, name, status, evidence, detail, started_at, first_started_at, finished_at \
         FROM run_phases \
         WHERE run = $1 ORDER BY position",
    )
    .bind(run.as_str())
    .fetch_all(conn)
    .await
    .map_err(sql(WHAT))?;
    for row in &phases {
        record.phases.push(phase_record(row)?.1);
    }
    Ok(Some(record))
}

/// A journaled run.
pub(crate) async fn load_run<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
) -> AdapterResult<Option<RunRecord>> {
    let mut tx = D::begin_read(pool).await.map_err(sql(WHAT))?;
    let record = load_run_in::<D>(&mut tx, run).await?;
    tx.rollback().await.map_err(sql(WHAT))?;
    Ok(record)
}

/// Every journaled run, ordered by run id.
pub(crate) async fn list_runs<D: Dialect>(pool: &Pool<D>) -> AdapterResult<Vec<RunRecord>> {
    let mut tx = D::begin_read(pool).await.map_err(sql(WHAT))?;
    let runs = D::query(
        "SELECT run, schema_version, scope, rules, expected_plan_sha256, status FROM runs \
         ORDER BY run",
    )
    .fetch_all(&mut tx)
    .await
    .map_err(sql(WHAT))?;
    let phases = D::query(
        "SELECT run, name, status, evidence, detail, started_at, first_started_at, finished_at \
         FROM run_phases \
         ORDER BY run, position",
    )
    .fetch_all(&mut tx)
    .await
    .map_err(sql(WHAT))?;
    tx.rollback().await.map_err(sql(WHAT))?;
    let mut records = runs
        .iter()
        .map(run_record)
        .collect::<AdapterResult<Vec<_>>>()?;
    with_phases(&mut records, &phases)?;
    Ok(records)
}

/// Hands each of `records` its phases among the `phases` rows (ordered by run and position).
fn with_phases(records: &mut [RunRecord], phases: &[impl Fields]) -> AdapterResult<()> {
    let mut by_run: BTreeMap<String, Vec<PhaseRecord>> = BTreeMap::new();
    for row in phases {
        let (run, phase) = phase_record(row)?;
        by_run.entry(run).or_default().push(phase);
    }
    for record in records {
        record.phases = by_run.remove(record.run.as_str()).unwrap_or_default();
    }
    Ok(())
}

/// The `limit` most recent runs ([`RecentRuns`]): the runs' order is read from the phases'
/// start times alone, and only the runs shown are read whole (their scopes can be long lists).
pub(crate) async fn recent_runs<D: Dialect>(
    pool: &Pool<D>,
    limit: u64,
) -> AdapterResult<RecentRuns> {
    // No journal holds more runs than `i64::MAX`: a larger limit is every run, as the database
    // takes it.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut tx = D::begin_read(pool).await.map_err(sql(WHAT))?;
    let total = D::query("SELECT CAST(count(*) AS BIGINT) FROM runs")
        .fetch_one(&mut tx)
        .await
        .map_err(sql(WHAT))?
        .int(0)
        .map_err(sql(WHAT))?;
    // Newest first, then reversed: runs that never started a phase (`''`) are the oldest. Both
    // reads walk an index of `last_started_at` (migration 13): the cost is the runs listed.
    let runs = Query::<D>::built(latest_runs())
        .bind(limit)
        .fetch_all(&mut tx)
        .await
        .map_err(sql(WHAT))?;
    let recent: Vec<&str> = runs
        .iter()
        .map(|row| row.str("run"))
        .collect::<Result<_, _>>()
        .map_err(sql(WHAT))?;
    // The held runs the limit leaves out, oldest first: they await an operator.
    let held = Query::<D>::built(held_runs_but::<D>())
        .bind(codec::run_status(RunStatus::Held)?)
        .bind(codec::to_json(&recent, "the runs shown")?)
        .fetch_all(&mut tx)
        .await
        .map_err(sql(WHAT))?;
    let mut records = held
        .iter()
        .chain(runs.iter().rev())
        .map(run_record)
        .collect::<AdapterResult<Vec<_>>>()?;
    let shown: Vec<&str> = records.iter().map(|r| r.run.as_str()).collect();
    let shown = codec::to_json(&shown, "the runs shown")?;
    let phases = Query::<D>::built(format!(
        "SELECT run, name, status, evidence, detail, started_at, first_started_at, finished_at \
         FROM run_phases WHERE run {} ORDER BY run, position",
        D::BATCH_READS.in_ids
    ))
    .bind(shown)
    .fetch_all(&mut tx)
    .await
    .map_err(sql(WHAT))?;
    tx.rollback().await.map_err(sql(WHAT))?;
    with_phases(&mut records, &phases)?;
    Ok(RecentRuns {
        total: from_db(total, "a count of runs")?,
        runs: records,
    })
}

/// The columns of a run's row that [`run_record`] reads.
const RUN_COLUMNS: &str =
    "r.run, r.schema_version, r.scope, r.rules, r.expected_plan_sha256, r.status";

/// The latest `$1` runs, newest first.
fn latest_runs() -> String {
    format!(
        "SELECT {RUN_COLUMNS} FROM runs AS r \
         ORDER BY r.last_started_at DESC, r.run DESC LIMIT $1"
    )
}

/// The runs of status `$1` but those of the JSON list `$2`, oldest first.
fn held_runs_but<D: Dialect>() -> String {
    format!(
        "SELECT {RUN_COLUMNS} FROM runs AS r WHERE r.status = $1 AND NOT (r.run {}) \
         ORDER BY r.last_started_at, r.run",
        D::BATCH_READS.in_ids.replace("$1", "$2")
    )
}

/// Begins the write transaction of a journal write to `run` (claimed as [`begin_claimed`]
/// says), and refuses a run that is not journaled; its row stays locked for the rest of the
/// transaction where the backend locks rows.
async fn begin_on_run<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    claim: Option<&LeaseClaim>,
    what: &'static str,
) -> AdapterResult<Transaction<'static, D>> {
    let mut tx = begin_claimed(pool, claim, what).await?;
    let found = row_by_key::<D>(&mut tx, D::locked(&RUN), run.as_str(), WHAT).await?;
    if found.is_none() {
        return Err(run_not_found(run));
    }
    Ok(tx)
}

async fn upsert_phase<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    phase: &PhaseRecord,
) -> AdapterResult<()> {
    D::check_text("a phase name", &phase.name)?;
    if let Some(detail) = &phase.detail {
        D::check_text("a phase detail", detail)?;
    }
    for time in [&phase.started_at, &phase.finished_at]
        .into_iter()
        .flatten()
    {
        D::check_text("a phase time", time)?;
    }
    let evidence = codec::to_json(&phase.evidence, "phase evidence")?;
    D::check_text("phase evidence", &evidence)?;
    D::query(
        "INSERT INTO run_phases \
         (run, name, position, status, evidence, detail, started_at, first_started_at, \
         finished_at) \
         VALUES ($1, $2, (SELECT COALESCE(MAX(position) + 1, 0) FROM run_phases WHERE run = $1), \
         $3, $4, $5, $6, $6, $7) \
         ON CONFLICT (run, name) DO UPDATE SET status = excluded.status, \
         evidence = excluded.evidence, detail = excluded.detail, \
         started_at = excluded.started_at, finished_at = excluded.finished_at",
    )
    .bind(run.as_str())
    .bind(phase.name.as_str())
    .bind(codec::phase_status(phase.status)?)
    .bind(evidence)
    .bind(phase.detail.as_deref())
    .bind(phase.started_at.as_deref())
    .bind(phase.finished_at.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(sql("journaling a phase"))?;
    // The run's latest start, which orders `recent_runs` through an index: the latest of its
    // phases' starts as they now stand (a phase journaled again may have changed its own).
    Query::<D>::built(format!(
        "UPDATE runs SET last_started_at = COALESCE(\
         (SELECT MAX(p.started_at{}) FROM run_phases AS p WHERE p.run = $1), '') \
         WHERE run = $1",
        D::KEY_COLLATE
    ))
    .bind(run.as_str())
    .execute(conn)
    .await
    .map_err(sql("journaling a phase"))?;
    Ok(())
}

/// Journals a new run, or returns the journaled one unchanged.
pub(crate) async fn begin_run<D: Dialect>(
    pool: &Pool<D>,
    record: &RunRecord,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<RunRecord> {
    let what = "journaling a run";
    D::check_text("a run id", record.run.as_str())?;
    let scope = codec::to_json(&record.scope, "the run's scope")?;
    let rules = codec::to_json(&record.rules, "the run's rules")?;
    D::check_text("the run's scope", &scope)?;
    D::check_text("the run's rules", &rules)?;
    if let Some(sha) = &record.expected_plan_sha256 {
        D::check_text("the reviewed plan's sha256", sha)?;
    }
    let mut tx = begin_claimed(pool, claim, what).await?;
    let inserted = D::query(
        "INSERT INTO runs (run, schema_version, scope, rules, expected_plan_sha256, status) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run) DO NOTHING",
    )
    .bind(record.run.as_str())
    .bind(i64::from(record.schema_version))
    .bind(scope)
    .bind(rules)
    .bind(record.expected_plan_sha256.as_deref())
    .bind(codec::run_status(record.status)?)
    .execute(&mut tx)
    .await
    .map_err(sql(what))?;
    if inserted == 0 {
        let journaled = load_run_in::<D>(&mut tx, &record.run).await?;
        tx.rollback().await.map_err(sql(what))?;
        return journaled.ok_or_else(|| run_not_found(&record.run));
    }
    for phase in &record.phases {
        upsert_phase::<D>(&mut tx, &record.run, phase).await?;
    }
    let journaled = load_run_in::<D>(&mut tx, &record.run).await?;
    tx.commit().await.map_err(sql(what))?;
    journaled.ok_or_else(|| run_not_found(&record.run))
}

/// Journals a phase transition (insert or replace by name; a new phase goes last).
pub(crate) async fn record_phase<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    phase: &PhaseRecord,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "journaling a phase";
    let mut tx = begin_on_run(pool, run, claim, what).await?;
    upsert_phase::<D>(&mut tx, run, phase).await?;
    tx.commit().await.map_err(sql(what))
}

/// Journals a run's status.
pub(crate) async fn set_run_status<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    status: RunStatus,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "journaling a run's status";
    let mut tx = begin_claimed(pool, claim, what).await?;
    let updated = D::query("UPDATE runs SET status = $2 WHERE run = $1")
        .bind(run.as_str())
        .bind(codec::run_status(status)?)
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    if updated == 0 {
        return Err(run_not_found(run));
    }
    tx.commit().await.map_err(sql(what))
}

/// Journals a run's plan; the same plan again passes, a different one is refused.
///
/// A plan is megabytes of JSON: it is hashed and written in parts, never as one text (the plan
/// without its documents in `run_plans`, the documents in `run_plan_parts`, a few megabytes a
/// row), and a plan already journaled is compared by its stored sha256 first, so that the same
/// plan again never reads the stored text back.
pub(crate) async fn save_plan<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    plan: &Plan,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "journaling a plan";
    // The sha256 of the plan's canonical bytes, which are its JSON (by test), the bytes
    // `Plan::sha256` hashes, the hash `plan` prints and runs compare.
    let sha256 = plan.sha256();
    let head = crate::domain::canonical::plan_text(&Plan {
        schema_version: plan.schema_version,
        rules: plan.rules.clone(),
        documents: Vec::new(),
    });
    D::check_text("the plan", &head)?;
    let (mut tx, existing) = begin_on_sealed(pool, &PLAN_PARTS, run, claim, what).await?;
    if let Some(existing_sha256) = existing {
        // The column holds the sha256 of the stored text, written below: equal hashes, equal
        // plans.
        if existing_sha256 == sha256 {
            return Ok(());
        }
        // Another text may still be the same plan (one journaled by a build that serialised
        // it differently): compare the plans themselves.
        let existing = journaled_plan::<D>(&mut tx, run, what)
            .await?
            .ok_or_else(|| sql(what)(sqlx::Error::RowNotFound))?;
        if existing == *plan {
            return Ok(());
        }
        return Err(plan_conflict(run, &existing.sha256(), &sha256));
    }
    insert_sealed::<D>(&mut tx, &PLAN_PARTS, run, &sha256, &head, what).await?;
    // Parts of an abandoned attempt by parts are not this plan's.
    D::query("DELETE FROM run_plan_parts WHERE run = $1")
        .bind(run.as_str())
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    let parts = crate::domain::plan_parts(plan, crate::domain::PLAN_PART_BYTES);
    for (seq, part) in (0i64..).zip(parts) {
        D::check_text("the plan", &part)?;
        insert_part::<D>(&mut tx, &PLAN_PARTS, run, seq, &part, what).await?;
    }
    tx.commit().await.map_err(sql(what))
}

/// The sha256 journaled for `run` as `statement` (`$1` the run) reads it, if any: how saving a
/// plan or a backup finds what is journaled already.
async fn journaled_sha256<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    run: &RunId,
    what: &'static str,
) -> AdapterResult<Option<String>> {
    row_by_key::<D>(conn, statement, run.as_str(), what)
        .await?
        .map(|row| row.text(0).map_err(sql(what)))
        .transpose()
}

/// Writes one of `run`'s journal rows with `statement` (`$1` the run, then `values`) and commits
/// the transaction: how journaling a plan, a report and a backup end.
async fn write_and_commit<D: Dialect>(
    mut tx: Transaction<'static, D>,
    statement: &'static str,
    run: &RunId,
    values: [&str; 2],
    what: &'static str,
) -> AdapterResult<()> {
    let mut query = D::query(statement).bind(run.as_str());
    for value in values {
        query = query.bind(value);
    }
    query.execute(&mut tx).await.map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))
}

/// The journaled plan of a run.
pub(crate) async fn load_plan<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
) -> AdapterResult<Option<Plan>> {
    let what = "reading a plan";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    journaled_plan::<D>(&mut conn, run, what).await
}

/// The plan journaled for `run`, if any, read inside the caller's connection.
async fn journaled_plan<D: Dialect>(
    conn: &mut D::Connection,
    run: &RunId,
    what: &'static str,
) -> AdapterResult<Option<Plan>> {
    let statement = "SELECT plan FROM run_plans WHERE run = $1";
    let Some(row) = row_by_key::<D>(conn, statement, run.as_str(), what).await? else {
        return Ok(None);
    };
    let mut plan: Plan = codec::from_json(row.str(0).map_err(sql(what))?, "a journaled plan")?;
    drop(row);
    // Its documents' parts (a plan journaled before parts has none: its documents are in the
    // row read above).
    let statement = "SELECT plan_part FROM run_plan_parts WHERE run = $1 AND seq = $2";
    for_each_part::<D>(conn, statement, run, what, |part| {
        let documents: Vec<DocumentPlan> = codec::from_json(part, "a part of a journaled plan")?;
        plan.documents.extend(documents);
        Ok(())
    })
    .await?;
    Ok(Some(plan))
}

/// Calls `each` with every part of `run` that `statement` reads by `(run, seq)`, in order, one
/// row at a time, until a `seq` has none: a plan or backup is never read as one text.
async fn for_each_part<D: Dialect>(
    conn: &mut D::Connection,
    statement: &'static str,
    run: &RunId,
    what: &'static str,
    mut each: impl FnMut(&str) -> AdapterResult<()>,
) -> AdapterResult<()> {
    for seq in 0i64.. {
        let Some(part) = D::query(statement)
            .bind(run.as_str())
            .bind(seq)
            .fetch_optional(&mut *conn)
            .await
            .map_err(sql(what))?
        else {
            break;
        };
        each(part.str(0).map_err(sql(what))?)?;
    }
    Ok(())
}

/// The reports journaled for a run, oldest first.
pub(crate) async fn load_reports<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
) -> AdapterResult<Vec<String>> {
    let what = "reading the journaled reports";
    let statement = "SELECT report FROM run_reports WHERE run = $1 ORDER BY position";
    let rows = rows_by_key(pool, statement, run.as_str(), what).await?;
    rows.iter()
        .map(|row| row.text(0))
        .collect::<Result<_, _>>()
        .map_err(sql(what))
}

/// Journals a report after the run's others; the same text again passes (see the trait).
pub(crate) async fn save_report<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    report: &str,
) -> AdapterResult<()> {
    let what = "journaling a report";
    D::check_text("a report", report)?;
    let tx = begin_on_run(pool, run, None, what).await?;
    let statement = "INSERT INTO run_reports (run, position, sha256, report) VALUES ($1, \
                     (SELECT COALESCE(MAX(position) + 1, 0) FROM run_reports WHERE run = $1), \
                     $2, $3) ON CONFLICT (run, sha256) DO NOTHING";
    let sha256 = sha256_hex(report.as_bytes());
    write_and_commit(tx, statement, run, [&sha256, report], what).await
}

/// Journals a run's backup artifact; the same again passes, another is refused.
pub(crate) async fn save_backup<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    artifact: &str,
    sha256: &str,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "journaling a backup";
    D::check_text("a backup", artifact)?;
    let (mut tx, existing) = begin_on_sealed(pool, &BACKUP_PARTS, run, claim, what).await?;
    match existing {
        // The column holds the sha256 of the stored text: equal hashes, equal artifacts.
        Some(journaled) if journaled == sha256 && sha256_hex(artifact.as_bytes()) == sha256 => {
            Ok(())
        }
        Some(journaled) => Err(backup_conflict(run, &journaled, sha256)),
        None => {
            // Parts of an abandoned attempt by parts are not this backup's.
            let statement = "DELETE FROM run_backup_parts WHERE run = $1";
            D::query(statement)
                .bind(run.as_str())
                .execute(&mut tx)
                .await
                .map_err(sql(what))?;
            insert_sealed::<D>(&mut tx, &BACKUP_PARTS, run, sha256, "", what).await?;
            for (seq, part) in (0i64..).zip(line_parts(artifact, BACKUP_PART_BYTES)) {
                insert_part::<D>(&mut tx, &BACKUP_PARTS, run, seq, part, what).await?;
            }
            tx.commit().await.map_err(sql(what))
        }
    }
}

/// The statements of a journal artifact kept in parts (a plan, a backup): `$1` is the run, `$2`
/// a part's place, `$3` a part's text or the sealed row's head.
pub(crate) struct PartsTable {
    /// What the artifact is, for messages ("backup", "plan").
    noun: &'static str,
    /// The sealed row's sha256.
    sealed: &'static str,
    /// One part's text.
    part: &'static str,
    /// Deletes one part.
    delete_part: &'static str,
    /// Inserts one part.
    insert_part: &'static str,
    /// Deletes the parts from `$2` on.
    delete_from: &'static str,
    /// Counts the parts.
    count: &'static str,
    /// Inserts the sealed row: sha256 `$2`, head `$3`.
    seal: &'static str,
    /// The refusal of another artifact than the sealed one (journaled sha256, offered).
    conflict: fn(&RunId, &str, &str) -> AdapterError,
}

pub(crate) const BACKUP_PARTS: PartsTable = PartsTable {
    noun: "backup",
    sealed: "SELECT sha256 FROM run_backups WHERE run = $1",
    part: "SELECT backup_part FROM run_backup_parts WHERE run = $1 AND seq = $2",
    delete_part: "DELETE FROM run_backup_parts WHERE run = $1 AND seq = $2",
    insert_part: "INSERT INTO run_backup_parts (run, seq, backup_part) VALUES ($1, $2, $3)",
    delete_from: "DELETE FROM run_backup_parts WHERE run = $1 AND seq >= $2",
    count: "SELECT COUNT(*) FROM run_backup_parts WHERE run = $1",
    // The row says the backup exists; its text is all in the parts.
    seal: "INSERT INTO run_backups (run, sha256, artifact) VALUES ($1, $2, $3)",
    conflict: backup_conflict,
};

pub(crate) const PLAN_PARTS: PartsTable = PartsTable {
    noun: "plan",
    sealed: "SELECT sha256 FROM run_plans WHERE run = $1",
    part: "SELECT plan_part FROM run_plan_parts WHERE run = $1 AND seq = $2",
    delete_part: "DELETE FROM run_plan_parts WHERE run = $1 AND seq = $2",
    insert_part: "INSERT INTO run_plan_parts (run, seq, plan_part) VALUES ($1, $2, $3)",
    delete_from: "DELETE FROM run_plan_parts WHERE run = $1 AND seq >= $2",
    count: "SELECT COUNT(*) FROM run_plan_parts WHERE run = $1",
    // The row holds the plan's head, its documents are all in the parts.
    seal: "INSERT INTO run_plans (run, sha256, plan) VALUES ($1, $2, $3)",
    conflict: plan_conflict,
};

/// Journals part `seq` of an artifact in `table` ahead of its seal: until then a part may be
/// replaced; once sealed, only the very same part passes.
pub(crate) async fn save_part<D: Dialect>(
    pool: &Pool<D>,
    table: &PartsTable,
    run: &RunId,
    seq: u64,
    part: &str,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "journaling a part";
    D::check_text(table.noun, part)?;
    let seq = part_seq(seq, table.noun)?;
    let (mut tx, sealed) = begin_on_sealed(pool, table, run, claim, what).await?;
    let existing = D::query(table.part)
        .bind(run.as_str())
        .bind(seq)
        .fetch_optional(&mut tx)
        .await
        .map_err(sql(what))?
        .map(|row| row.text(0))
        .transpose()
        .map_err(sql(what))?;
    if let Some(journaled) = sealed {
        return match existing {
            Some(text) if text == part => Ok(()),
            _ => Err((table.conflict)(
                run,
                &journaled,
                &format!("another part {seq}"),
            )),
        };
    }
    if existing.is_some() {
        D::query(table.delete_part)
            .bind(run.as_str())
            .bind(seq)
            .execute(&mut tx)
            .await
            .map_err(sql(what))?;
    }
    insert_part::<D>(&mut tx, table, run, seq, part, what).await?;
    tx.commit().await.map_err(sql(what))
}

/// Drops the parts journaled for a run in `table` unless they are sealed (a sealed artifact
/// is kept whole): an abandoned attempt's.
pub(crate) async fn discard_parts<D: Dialect>(
    pool: &Pool<D>,
    table: &PartsTable,
    run: &RunId,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<u64> {
    let what = "dropping an abandoned artifact's parts";
    let (mut tx, sealed) = begin_on_sealed(pool, table, run, claim, what).await?;
    if sealed.is_some() {
        return Ok(0);
    }
    let dropped = D::query(table.delete_from)
        .bind(run.as_str())
        .bind(0i64)
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))?;
    Ok(dropped)
}

/// Seals the `parts` parts journaled for a run in `table` (dropping any beyond them) under
/// `sha256` and `head`: the same seal again passes, another is refused, and a missing part
/// cannot be sealed.
pub(crate) async fn seal_parts<D: Dialect>(
    pool: &Pool<D>,
    table: &PartsTable,
    run: &RunId,
    parts: u64,
    sha256: &str,
    head: &str,
    claim: Option<&LeaseClaim>,
) -> AdapterResult<()> {
    let what = "sealing parts";
    D::check_text(table.noun, head)?;
    let parts = part_seq(parts, table.noun)?;
    let (mut tx, sealed) = begin_on_sealed(pool, table, run, claim, what).await?;
    match sealed {
        Some(journaled) if journaled == sha256 => return Ok(()),
        Some(journaled) => return Err((table.conflict)(run, &journaled, sha256)),
        None => {}
    }
    D::query(table.delete_from)
        .bind(run.as_str())
        .bind(parts)
        .execute(&mut tx)
        .await
        .map_err(sql(what))?;
    let journaled = D::query(table.count)
        .bind(run.as_str())
        .fetch_one(&mut tx)
        .await
        .and_then(|row| row.int(0))
        .map_err(sql(what))?;
    if journaled != parts {
        return Err(AdapterError::Invalid(format!(
            "the {} of run `{run}` cannot be sealed: {journaled} of its {parts} parts are \
             journaled; journal every part first",
            table.noun
        )));
    }
    insert_sealed::<D>(&mut tx, table, run, sha256, head, what).await?;
    tx.commit().await.map_err(sql(what))
}

/// Begins a journal write to `run`'s artifact in `table` (as [`begin_on_run`] does) and reads
/// the sha256 of the one sealed already, if any: how saving, journaling a part and sealing start.
async fn begin_on_sealed<D: Dialect>(
    pool: &Pool<D>,
    table: &PartsTable,
    run: &RunId,
    claim: Option<&LeaseClaim>,
    what: &'static str,
) -> AdapterResult<(Transaction<'static, D>, Option<String>)> {
    let mut tx = begin_on_run(pool, run, claim, what).await?;
    let sealed = journaled_sha256::<D>(&mut tx, table.sealed, run, what).await?;
    Ok((tx, sealed))
}

/// Writes part `seq` of `run`'s artifact in `table`.
async fn insert_part<D: Dialect>(
    conn: &mut D::Connection,
    table: &PartsTable,
    run: &RunId,
    seq: i64,
    part: &str,
    what: &'static str,
) -> AdapterResult<()> {
    D::query(table.insert_part)
        .bind(run.as_str())
        .bind(seq)
        .bind(part)
        .execute(conn)
        .await
        .map_err(sql(what))?;
    Ok(())
}

/// Writes the row that makes `run`'s artifact in `table` exist, with its sha256 and head.
async fn insert_sealed<D: Dialect>(
    conn: &mut D::Connection,
    table: &PartsTable,
    run: &RunId,
    sha256: &str,
    head: &str,
    what: &'static str,
) -> AdapterResult<()> {
    D::query(table.seal)
        .bind(run.as_str())
        .bind(sha256)
        .bind(head)
        .execute(conn)
        .await
        .map_err(sql(what))?;
    Ok(())
}

/// A part's place (or a count of parts) as the column's type.
fn part_seq(seq: u64, noun: &str) -> AdapterResult<i64> {
    i64::try_from(seq)
        .map_err(|_| AdapterError::Invalid(format!("{noun} part {seq} is out of range")))
}

/// Bytes per row of `run_backup_parts` (about: a part ends at the end of a line).
const BACKUP_PART_BYTES: usize = 4 << 20;

/// `text` in consecutive parts of at least `bytes` (the last may be shorter), each ending just
/// after a line's `\n` or at the text's end, so on a character boundary.
fn line_parts(text: &str, bytes: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let from = bytes.max(1).min(rest.len()) - 1;
        let end = rest.as_bytes()[from..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |at| from + at + 1);
        let (part, after) = rest.split_at(end);
        rest = after;
        Some(part)
    })
}

/// A run's journaled backup artifact.
pub(crate) async fn load_backup<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
) -> AdapterResult<Option<StoredBackup>> {
    let what = "reading a journaled backup";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let statement = "SELECT artifact, sha256 FROM run_backups WHERE run = $1";
    let Some(row) = row_by_key::<D>(&mut conn, statement, run.as_str(), what).await? else {
        return Ok(None);
    };
    let mut stored = StoredBackup {
        artifact: row.text(0).map_err(sql(what))?,
        sha256: row.text(1).map_err(sql(what))?,
    };
    drop(row);
    // The parts (a backup journaled before parts has none).
    let statement = "SELECT backup_part FROM run_backup_parts WHERE run = $1 AND seq = $2";
    for_each_part::<D>(&mut conn, statement, run, what, |part| {
        stored.artifact.push_str(part);
        Ok(())
    })
    .await?;
    Ok(Some(stored))
}

/// Part `part` of a run's journaled backup: 0 is the sealed row (its head), `n` the `n`th part.
pub(crate) async fn load_backup_part<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    part: u64,
) -> AdapterResult<Option<StoredBackup>> {
    let statements = [
        "SELECT artifact, sha256 FROM run_backups WHERE run = $1",
        "SELECT p.backup_part, b.sha256 FROM run_backup_parts p \
         JOIN run_backups b ON b.run = p.run WHERE p.run = $1 AND p.seq = $2",
    ];
    let read = load_part(pool, statements, run, part).await?;
    Ok(read.map(|(artifact, sha256)| StoredBackup { artifact, sha256 }))
}

/// Part `part` of a run's sealed plan: 0 is its head (the plan without its documents), `n` the
/// `n`th part of its documents.
pub(crate) async fn load_plan_part<D: Dialect>(
    pool: &Pool<D>,
    run: &RunId,
    part: u64,
) -> AdapterResult<Option<StoredPlanPart>> {
    let statements = [
        "SELECT plan, sha256 FROM run_plans WHERE run = $1",
        "SELECT p.plan_part, r.sha256 FROM run_plan_parts p \
         JOIN run_plans r ON r.run = p.run WHERE p.run = $1 AND p.seq = $2",
    ];
    let read = load_part(pool, statements, run, part).await?;
    Ok(read.map(|(text, sha256)| StoredPlanPart { text, sha256 }))
}

/// Part `part` of a sealed artifact, with the sealed sha256: part 0 read by `statements[0]`
/// (`$1` the run), part `n` by `statements[1]` (`$2` its place, `n - 1`).
async fn load_part<D: Dialect>(
    pool: &Pool<D>,
    statements: [&'static str; 2],
    run: &RunId,
    part: u64,
) -> AdapterResult<Option<(String, String)>> {
    let what = "reading a part of the journal";
    let mut conn = pool.acquire().await.map_err(sql(what))?;
    let row = match part.checked_sub(1) {
        None => row_by_key::<D>(&mut conn, statements[0], run.as_str(), what).await?,
        Some(seq) => {
            let Ok(seq) = i64::try_from(seq) else {
                return Ok(None);
            };
            D::query(statements[1])
                .bind(run.as_str())
                .bind(seq)
                .fetch_optional(&mut conn)
                .await
                .map_err(sql(what))?
        }
    };
    row.map(|row| {
        Ok((
            row.text(0).map_err(sql(what))?,
            row.text(1).map_err(sql(what))?,
        ))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::line_parts;

    /// `recent_runs` ordered every run by the earliest start among its phases, a subquery per
    /// run and a sort of them all: `status` and `GET /runs` cost the whole journal. Both reads
    /// now walk an index in its order and stop at what they list.
    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn the_latest_and_the_held_runs_are_read_through_indexes_on_sqlite()
    -> Result<(), Box<dyn std::error::Error>> {
        use crate::sql::sqlite::query_plan;
        use sqlx::Sqlite;
        let (_dir, mut conn) = crate::sql::sqlite::scratch_store().await?;
        let latest = query_plan(&mut conn, &super::latest_runs(), &["5"]).await?;
        let held = super::held_runs_but::<Sqlite>();
        let held = query_plan(&mut conn, &held, &["HELD", r#"["a"]"#]).await?;
        for (plan, index) in [(latest, "runs_by_last_start"), (held, "runs_by_status")] {
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("INDEX {index}"))),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.contains("TEMP B-TREE")),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.contains("run_phases")),
                "{plan:?}"
            );
        }
        Ok(())
    }

    #[test]
    fn a_backup_is_cut_into_parts_of_whole_lines_that_give_it_back() {
        let text = "header\nđiều một\n\nhai\nlast without newline";
        for bytes in [0, 1, 5, 8, 20, 1000] {
            let parts: Vec<&str> = line_parts(text, bytes).collect();
            assert_eq!(parts.concat(), text, "parts of {bytes} bytes");
            let whole = &parts[..parts.len() - 1];
            assert!(whole.iter().all(|p| p.ends_with('\n')), "{parts:?}");
            assert!(whole.iter().all(|p| p.len() >= bytes), "{parts:?}");
            assert!(parts.iter().all(|p| !p.is_empty()), "{parts:?}");
        }
        assert_eq!(line_parts("a\nb\n", 1).collect::<Vec<_>>(), ["a\n", "b\n"]);
        assert_eq!(line_parts("", 4).count(), 0);
    }
}
