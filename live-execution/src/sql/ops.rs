//! Every adapter operation, written once and compiled once per backend (this file is the `ops`
//! module of both `sql::sqlite` and `sql::postgres`; `super` is the backend). The SQL text is
//! shared (`$n` placeholders work on both); what differs lives in the backend module: how a
//! write transaction begins, row locks, the census query's collation, and unit batching.
//!
//! The semantics mirror the simulator's exactly, error messages included: each mutating
//! operation validates the whole request against rows read (and, on PostgreSQL, locked) inside
//! its transaction, then applies it; the first mismatch rolls everything back.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::TryStreamExt;
use sqlx::Row;

use crate::adapter::AdapterResult;
use crate::census::{CensusBuilder, DocumentDigester, GenerationDigester, UnitFields, sha256_hex};
use crate::conflicts::{backup_conflict, describe_state, document_not_found, run_not_found};
use crate::domain::{
    Backup, Census, Document, DocumentHead, DocumentId, DocumentState, ExpectedRevision,
    GenerationRecord, GenerationState, Lease, LeaseView, PhaseRecord, Plan, PurgeTarget, RunId,
    RunRecord, RunStatus, Scope, StoreSnapshot, StoredBackup, Unit,
};
use crate::error::AdapterError;
use crate::ownership::{
    CurrentDocument, EnactStep, FenceStep, Restoration, UndoStep, enact_step, fence_step,
    purge_step, undo_step,
};
use crate::sql::ControlState;
use crate::sql::codec::{self, from_db, to_db};
use crate::sql::error::sql;
use crate::sql::migrations::{self, CREATE_MIGRATIONS_TABLE, MIGRATIONS, SCHEMA_VERSION};

use super::{Db, Pool};

type Conn = <Db as sqlx::Database>::Connection;
type DbRow = <Db as sqlx::Database>::Row;

/// Ids per `IN (…)` list when loading a scope by ids.
const IDS_PER_QUERY: usize = 500;

// ---- schema ----------------------------------------------------------------------------------

/// This backend's text of a migration.
fn migration_sql(migration: &migrations::Migration) -> &'static str {
    match super::KIND {
        "sqlite" => migration.sqlite,
        _ => migration.postgres,
    }
}

/// Applied migrations as (version, checksum), in order; empty when the table does not exist.
async fn applied_migrations(conn: &mut Conn) -> AdapterResult<Vec<(i64, String)>> {
    let exists: bool = sqlx::query_scalar(super::MIGRATIONS_TABLE_EXISTS)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("reading the schema version"))?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("reading the schema version"))?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<i64, _>(0)
                    .map_err(sql("reading the schema version"))?,
                row.try_get::<String, _>(1)
                    .map_err(sql("reading the schema version"))?,
            ))
        })
        .collect()
}

/// Compares applied migrations with this build's list.
fn schema_gap(applied: &[(i64, String)]) -> Option<String> {
    let Some((latest, _)) = applied.last() else {
        return Some(
            "the database has no iu-cutter schema; run `iu-cutter init` on it first".to_owned(),
        );
    };
    if *latest > i64::from(SCHEMA_VERSION) {
        return Some(format!(
            "the database schema is at version {latest}, newer than this build of iu-cutter \
             (version {SCHEMA_VERSION}); use a newer iu-cutter"
        ));
    }
    for (version, checksum) in applied {
        let known = MIGRATIONS.iter().find(|m| i64::from(m.version) == *version);
        match known {
            Some(migration) if migrations::checksum(migration_sql(migration)) == *checksum => {}
            _ => {
                return Some(format!(
                    "schema migration {version} in the database differs from this build's; the \
                     schema was changed outside iu-cutter"
                ));
            }
        }
    }
    if *latest < i64::from(SCHEMA_VERSION) {
        return Some(format!(
            "the database schema is at version {latest}, older than this build's \
             (version {SCHEMA_VERSION}); run `iu-cutter init` to upgrade it"
        ));
    }
    None
}

/// Fails unless the schema is exactly this build's.
pub(crate) async fn check_schema(pool: &Pool) -> AdapterResult<()> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(sql("connecting to the database"))?;
    let applied = applied_migrations(&mut conn).await?;
    match schema_gap(&applied) {
        None => Ok(()),
        Some(gap) => Err(AdapterError::Unavailable(gap)),
    }
}

/// Applies every missing migration, each in its own transaction; returns the versions applied.
pub(crate) async fn migrate(pool: &Pool) -> AdapterResult<Vec<u32>> {
    sqlx::raw_sql(CREATE_MIGRATIONS_TABLE)
        .execute(pool)
        .await
        .map_err(sql("creating the schema_migrations table"))?;
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let text = migration_sql(migration);
        let checksum = migrations::checksum(text);
        let mut tx = super::begin_write(pool)
            .await
            .map_err(sql("starting a migration"))?;
        super::lock_migrations(&mut tx)
            .await
            .map_err(sql("locking the schema_migrations table"))?;
        let done = applied_migrations(&mut tx).await?;
        if let Some((latest, _)) = done.last()
            && *latest > i64::from(SCHEMA_VERSION)
        {
            return Err(AdapterError::Unavailable(format!(
                "the database schema is at version {latest}, newer than this build of \
                 iu-cutter (version {SCHEMA_VERSION}); use a newer iu-cutter"
            )));
        }
        match done
            .iter()
            .find(|(v, _)| *v == i64::from(migration.version))
        {
            Some((_, recorded)) if *recorded == checksum => continue,
            Some(_) => {
                return Err(AdapterError::Unavailable(format!(
                    "schema migration {} in the database differs from this build's; the schema \
                     was changed outside iu-cutter",
                    migration.version
                )));
            }
            None => {}
        }
        sqlx::raw_sql(text)
            .execute(&mut *tx)
            .await
            .map_err(sql("applying a schema migration"))?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, description, checksum, applied_at) \
             VALUES ($1, $2, $3, CAST(CURRENT_TIMESTAMP AS TEXT))",
        )
        .bind(i64::from(migration.version))
        .bind(migration.description)
        .bind(&checksum)
        .execute(&mut *tx)
        .await
        .map_err(sql("recording a schema migration"))?;
        tx.commit()
            .await
            .map_err(sql("committing a schema migration"))?;
        applied.push(migration.version);
    }
    Ok(applied)
}

// ---- control row -----------------------------------------------------------------------------

/// Reads the control row.
pub(crate) async fn control_state(pool: &Pool) -> AdapterResult<ControlState> {
    let row = sqlx::query("SELECT execution_enabled, reason, updated_at FROM control WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(sql("reading the control row"))?;
    let Some(row) = row else {
        return Err(AdapterError::NotFound("the control row".to_owned()));
    };
    Ok(ControlState {
        execution_enabled: row.try_get(0).map_err(sql("reading the control row"))?,
        reason: row.try_get(1).map_err(sql("reading the control row"))?,
        updated_at: row.try_get(2).map_err(sql("reading the control row"))?,
    })
}

/// Sets (or restores) the control row.
pub(crate) async fn set_control(
    pool: &Pool,
    enabled: bool,
    reason: &str,
) -> AdapterResult<ControlState> {
    super::check_text("the reason", reason)?;
    sqlx::query(
        "INSERT INTO control (id, execution_enabled, reason, updated_at) \
         VALUES (1, $1, $2, CAST(CURRENT_TIMESTAMP AS TEXT)) \
         ON CONFLICT (id) DO UPDATE SET execution_enabled = excluded.execution_enabled, \
         reason = excluded.reason, updated_at = excluded.updated_at",
    )
    .bind(enabled)
    .bind(reason)
    .execute(pool)
    .await
    .map_err(sql("setting the control row"))?;
    control_state(pool).await
}

// ---- row decoding ----------------------------------------------------------------------------

/// A row of a scope read: a whole document, or its head.
trait ScopeRow: Sized {
    /// The columns to select.
    const COLUMNS: &'static str;
    fn decode(row: &DbRow) -> AdapterResult<Self>;
    fn id(&self) -> &DocumentId;
}

impl ScopeRow for DocumentHead {
    const COLUMNS: &'static str = "id, revision, sha256, state, cutting_run, active_generation";

    fn decode(row: &DbRow) -> AdapterResult<Self> {
        let what = "reading a document";
        let revision: i64 = row.try_get("revision").map_err(sql(what))?;
        let state: String = row.try_get("state").map_err(sql(what))?;
        let cutting_run: Option<String> = row.try_get("cutting_run").map_err(sql(what))?;
        let active: Option<String> = row.try_get("active_generation").map_err(sql(what))?;
        Ok(DocumentHead {
            id: DocumentId::new(row.try_get::<String, _>("id").map_err(sql(what))?),
            revision: from_db(revision, "document revision")?,
            sha256: row.try_get("sha256").map_err(sql(what))?,
            state: codec::parse_document_state(&state, cutting_run)?,
            active_generation: active.map(RunId::new),
        })
    }

    fn id(&self) -> &DocumentId {
        &self.id
    }
}

impl ScopeRow for Document {
    const COLUMNS: &'static str =
        "id, revision, sha256, state, cutting_run, active_generation, body";

    fn decode(row: &DbRow) -> AdapterResult<Self> {
        let head = DocumentHead::decode(row)?;
        Ok(Document {
            id: head.id,
            revision: head.revision,
            sha256: head.sha256,
            state: head.state,
            active_generation: head.active_generation,
            body: row.try_get("body").map_err(sql("reading a document"))?,
        })
    }

    fn id(&self) -> &DocumentId {
        &self.id
    }
}

fn generation_record(row: &DbRow) -> AdapterResult<GenerationRecord> {
    let what = "reading a generation record";
    let state: String = row.try_get("state").map_err(sql(what))?;
    Ok(GenerationRecord {
        document: DocumentId::new(row.try_get::<String, _>("document").map_err(sql(what))?),
        generation: RunId::new(row.try_get::<String, _>("generation").map_err(sql(what))?),
        state: codec::parse_generation_state(&state)?,
    })
}

fn unit(row: &DbRow) -> AdapterResult<Unit> {
    let what = "reading a unit";
    let ordinal: i64 = row.try_get("ordinal").map_err(sql(what))?;
    let part: Option<i64> = row.try_get("part").map_err(sql(what))?;
    let start: i64 = row.try_get("start_byte").map_err(sql(what))?;
    let end: i64 = row.try_get("end_byte").map_err(sql(what))?;
    Ok(Unit {
        document: DocumentId::new(row.try_get::<String, _>("document").map_err(sql(what))?),
        generation: RunId::new(row.try_get::<String, _>("generation").map_err(sql(what))?),
        ordinal: from_db(ordinal, "unit ordinal")?,
        unit_id: row.try_get("unit_id").map_err(sql(what))?,
        path: row.try_get("path").map_err(sql(what))?,
        part: part.map(|p| from_db(p, "unit part")).transpose()?,
        start: from_db(start, "unit start")?,
        end: from_db(end, "unit end")?,
        sha256: row.try_get("sha256").map_err(sql(what))?,
        body: row.try_get("body").map_err(sql(what))?,
    })
}

// ---- reads -----------------------------------------------------------------------------------

/// The documents in scope, ordered by id.
pub(crate) async fn load_scope(pool: &Pool, scope: &Scope) -> AdapterResult<Vec<Document>> {
    load_rows(pool, scope).await
}

/// The heads of the documents in scope, ordered by id: the same reads without the body column.
pub(crate) async fn load_heads(pool: &Pool, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
    load_rows(pool, scope).await
}

async fn load_rows<R: ScopeRow + Send>(pool: &Pool, scope: &Scope) -> AdapterResult<Vec<R>> {
    let what = "loading the scope";
    let columns = R::COLUMNS;
    match scope {
        Scope::Shard { base, .. } => {
            // The hash is computed in Rust, so `Scope::contains` stays the single definition.
            let rows: Vec<R> = Box::pin(load_rows(pool, base)).await?;
            Ok(rows
                .into_iter()
                .filter(|r| scope.contains(r.id()))
                .collect())
        }
        Scope::All => {
            let rows = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {columns} FROM documents ORDER BY id"
            ))
            .build()
            .fetch_all(pool)
            .await
            .map_err(sql(what))?;
            rows.iter().map(R::decode).collect()
        }
        Scope::Prefix(prefix) => {
            let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {columns} FROM documents WHERE substr(id, 1, length("
            ));
            query.push_bind(prefix.as_str());
            query.push(")) = ");
            query.push_bind(prefix.as_str());
            query.push(" ORDER BY id");
            let rows = query.build().fetch_all(pool).await.map_err(sql(what))?;
            // `substr` counts characters on both backends; a character prefix is a byte prefix.
            rows.iter()
                .map(R::decode)
                .filter(|r| match r {
                    Ok(r) => r.id().as_str().starts_with(prefix.as_str()),
                    Err(_) => true,
                })
                .collect()
        }
        Scope::Ids(ids) => {
            let ids: Vec<&DocumentId> = ids.iter().collect::<BTreeSet<_>>().into_iter().collect();
            let mut found = Vec::with_capacity(ids.len());
            // Read every chunk in one snapshot.
            let mut tx = super::begin_read(pool).await.map_err(sql(what))?;
            for chunk in ids.chunks(IDS_PER_QUERY) {
                let mut query = sqlx::QueryBuilder::<Db>::new(format!(
                    "SELECT {columns} FROM documents WHERE id IN ("
                ));
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(id.as_str());
                }
                query.push(") ORDER BY id");
                let rows = query.build().fetch_all(&mut *tx).await.map_err(sql(what))?;
                for row in &rows {
                    found.push(R::decode(row)?);
                }
            }
            tx.rollback().await.map_err(sql(what))?;
            // Chunks are in id order and each is sorted; keep the contract's order regardless.
            found.sort_by(|a, b| a.id().cmp(b.id()));
            Ok(found)
        }
    }
}

/// A document's generation records, ordered by generation id.
pub(crate) async fn generations(
    pool: &Pool,
    document: &DocumentId,
) -> AdapterResult<Vec<GenerationRecord>> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(sql("reading generation records"))?;
    generations_in(&mut conn, document).await
}

/// A document's generation records, ordered by generation id, inside the caller's transaction.
async fn generations_in(
    conn: &mut Conn,
    document: &DocumentId,
) -> AdapterResult<Vec<GenerationRecord>> {
    let rows = sqlx::query(
        "SELECT document, generation, state FROM generations WHERE document = $1 \
         ORDER BY generation",
    )
    .bind(document.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(sql("reading generation records"))?;
    rows.iter().map(generation_record).collect()
}

/// [`generations_in`], the rows locked for the rest of the write transaction (on PostgreSQL;
/// SQLite's `BEGIN IMMEDIATE` holds the whole database): a compare-and-set on them cannot be
/// overtaken by a concurrent purge or run.
async fn generations_for_update(
    conn: &mut Conn,
    document: &DocumentId,
) -> AdapterResult<Vec<GenerationRecord>> {
    let rows = sqlx::query(super::SELECT_GENERATIONS_FOR_UPDATE)
        .bind(document.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(sql("reading generation records"))?;
    rows.iter().map(generation_record).collect()
}

/// One unit as the unit queries' JSON arrays give it: (ordinal, unit id, path, part, start,
/// end, sha256, body).
type UnitJson = (i64, String, String, Option<i64>, i64, i64, String, String);

/// The units of `document`'s `generation` from a unit query's JSON array, ordered by ordinal.
fn units_from_json(
    document: &DocumentId,
    generation: &RunId,
    json: &str,
) -> AdapterResult<Vec<Unit>> {
    let rows: Vec<UnitJson> = codec::from_json(json, "the units of a generation")?;
    let mut units = rows
        .into_iter()
        .map(|(ordinal, unit_id, path, part, start, end, sha256, body)| {
            Ok(Unit {
                document: document.clone(),
                generation: generation.clone(),
                ordinal: from_db(ordinal, "unit ordinal")?,
                unit_id,
                path,
                part: part.map(|p| from_db(p, "unit part")).transpose()?,
                start: from_db(start, "unit start")?,
                end: from_db(end, "unit end")?,
                sha256,
                body,
            })
        })
        .collect::<AdapterResult<Vec<Unit>>>()?;
    units.sort_by_key(|unit| unit.ordinal);
    Ok(units)
}

/// One generation's units, ordered by ordinal.
pub(crate) async fn generation_units(
    pool: &Pool,
    document: &DocumentId,
    generation: &RunId,
) -> AdapterResult<Vec<Unit>> {
    let what = "reading units";
    if !super::UNITS_AS_JSON {
        let rows = sqlx::query(super::GENERATION_UNITS)
            .bind(document.as_str())
            .bind(generation.as_str())
            .fetch_all(pool)
            .await
            .map_err(sql(what))?;
        return rows.iter().map(unit).collect();
    }
    let json: Option<String> = sqlx::query_scalar(super::GENERATION_UNITS)
        .bind(document.as_str())
        .bind(generation.as_str())
        .fetch_one(pool)
        .await
        .map_err(sql(what))?;
    units_from_json(document, generation, json.as_deref().unwrap_or("[]"))
}

/// The active generation's units, ordered by ordinal.
pub(crate) async fn active_units(pool: &Pool, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
    let what = "reading active units";
    if !super::UNITS_AS_JSON {
        let rows = sqlx::query(super::ACTIVE_UNITS)
            .bind(document.as_str())
            .fetch_all(pool)
            .await
            .map_err(sql(what))?;
        return rows.iter().map(unit).collect();
    }
    let row = sqlx::query(super::ACTIVE_UNITS)
        .bind(document.as_str())
        .fetch_optional(pool)
        .await
        .map_err(sql(what))?;
    let Some(row) = row else {
        return Ok(Vec::new());
    };
    let Some(active) = row.try_get::<Option<String>, _>(0).map_err(sql(what))? else {
        return Ok(Vec::new());
    };
    let json: Option<&str> = row.try_get(1).map_err(sql(what))?;
    units_from_json(document, &RunId::new(active), json.unwrap_or("[]"))
}

/// The census, by the backend's cheaper shape (see `CENSUS_AS_JSON`): the digests are the same.
pub(crate) async fn census(pool: &Pool) -> AdapterResult<Census> {
    if super::CENSUS_AS_JSON {
        census_from_json(pool).await
    } else {
        census_from_rows(pool).await
    }
}

/// A document's digest started from the census's document columns (id, revision, sha256,
/// state, cutting run, active generation: the first six of both census shapes).
fn census_document(row: &DbRow) -> AdapterResult<(DocumentId, DocumentDigester)> {
    let what = "taking the census";
    let id = DocumentId::new(row.try_get::<String, _>(0).map_err(sql(what))?);
    let revision: i64 = row.try_get(1).map_err(sql(what))?;
    let state: &str = row.try_get(3).map_err(sql(what))?;
    let cutting_run: Option<String> = row.try_get(4).map_err(sql(what))?;
    let document = Document {
        id: id.clone(),
        revision: from_db(revision, "document revision")?,
        sha256: row.try_get(2).map_err(sql(what))?,
        state: codec::parse_document_state(state, cutting_run)?,
        active_generation: row
            .try_get::<Option<String>, _>(5)
            .map_err(sql(what))?
            .map(RunId::new),
        body: String::new(),
    };
    let digester = DocumentDigester::new(&document);
    Ok((id, digester))
}

/// Feeds one generation record to a document's digest.
fn census_generation(
    digester: &mut DocumentDigester,
    document: &DocumentId,
    generation: &str,
    state: &str,
) -> AdapterResult<()> {
    digester.generation(&GenerationRecord {
        document: document.clone(),
        generation: RunId::new(generation),
        state: codec::parse_generation_state(state)?,
    });
    Ok(())
}

/// One unit's census fields as the census query's JSON array gives them, borrowed from the
/// text where no escape forces a copy: (generation, ordinal, unit id, path, part, start, end,
/// sha256).
#[derive(serde::Deserialize)]
struct CensusUnitJson<'a>(
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    Option<i64>,
    i64,
    i64,
    #[serde(borrow)] Cow<'a, str>,
);

/// The census from one row per document, its generations and units' digest fields (no bodies)
/// as JSON, fed to the seam's digester in the contract's order (generations by id, units by
/// generation and ordinal, bytewise).
async fn census_from_json(pool: &Pool) -> AdapterResult<Census> {
    let what = "taking the census";
    let mut builder = CensusBuilder::new();
    let mut rows = sqlx::query(super::CENSUS).fetch(pool);
    while let Some(row) = rows.try_next().await.map_err(sql(what))? {
        let (id, mut digester) = census_document(&row)?;

        let generations: Option<&str> = row.try_get(6).map_err(sql(what))?;
        let mut generations: Vec<(String, String)> = codec::from_json(
            generations.unwrap_or("[]"),
            "the census's generation records",
        )?;
        generations.sort_unstable();
        for (generation, state) in &generations {
            census_generation(&mut digester, &id, generation, state)?;
        }

        let units: Option<&str> = row.try_get(7).map_err(sql(what))?;
        let mut units: Vec<CensusUnitJson<'_>> =
            codec::from_json(units.unwrap_or("[]"), "the census's units")?;
        units.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        for CensusUnitJson(generation, ordinal, unit_id, path, part, start, end, sha256) in &units {
            digester.unit_fields(&UnitFields {
                generation,
                ordinal: from_db(*ordinal, "unit ordinal")?,
                unit_id,
                path,
                part: part.map(|p| from_db(p, "unit part")).transpose()?,
                start: from_db(*start, "unit start")?,
                end: from_db(*end, "unit end")?,
                sha256,
            });
        }
        let units = digester.unit_count();
        builder.add(id, digester.finish(), units);
    }
    Ok(builder.finish())
}

/// The census from three ordered queries in one snapshot (documents, generation records,
/// units: each in key order straight from its primary key), merged by document; unit fields
/// are borrowed from the rows.
async fn census_from_rows(pool: &Pool) -> AdapterResult<Census> {
    let what = "taking the census";
    let mut tx = super::begin_read(pool).await.map_err(sql(what))?;
    let documents = sqlx::query(super::CENSUS_DOCUMENTS)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql(what))?;
    let generations = sqlx::query(super::CENSUS_GENERATIONS)
        .fetch_all(&mut *tx)
        .await
        .map_err(sql(what))?;
    let mut generations = generations.iter().peekable();
    let mut builder = CensusBuilder::new();
    {
        let mut units = sqlx::query(super::CENSUS_UNITS).fetch(&mut *tx);
        let mut pending = units.try_next().await.map_err(sql(what))?;
        for row in &documents {
            let (id, mut digester) = census_document(row)?;
            while let Some(generation) = generations.peek() {
                let document: &str = generation.try_get(0).map_err(sql(what))?;
                if document != id.as_str() {
                    break;
                }
                census_generation(
                    &mut digester,
                    &id,
                    generation.try_get(1).map_err(sql(what))?,
                    generation.try_get(2).map_err(sql(what))?,
                )?;
                generations.next();
            }
            while let Some(unit) = &pending {
                let document: &str = unit.try_get(0).map_err(sql(what))?;
                if document != id.as_str() {
                    break;
                }
                let ordinal: i64 = unit.try_get(2).map_err(sql(what))?;
                let part: Option<i64> = unit.try_get(5).map_err(sql(what))?;
                let start: i64 = unit.try_get(6).map_err(sql(what))?;
                let end: i64 = unit.try_get(7).map_err(sql(what))?;
                digester.unit_fields(&UnitFields {
                    generation: unit.try_get(1).map_err(sql(what))?,
                    ordinal: from_db(ordinal, "unit ordinal")?,
                    unit_id: unit.try_get(3).map_err(sql(what))?,
                    path: unit.try_get(4).map_err(sql(what))?,
                    part: part.map(|p| from_db(p, "unit part")).transpose()?,
                    start: from_db(start, "unit start")?,
                    end: from_db(end, "unit end")?,
                    sha256: unit.try_get(8).map_err(sql(what))?,
                });
                pending = units.try_next().await.map_err(sql(what))?;
            }
            let count = digester.unit_count();
            builder.add(id, digester.finish(), count);
        }
        // Rows left over belong to no document row, or came out of key order.
        if let Some(unit) = &pending {
            let document: &str = unit.try_get(0).map_err(sql(what))?;
            return Err(codec::corrupt(format!(
                "units of document `{document}` without its document row"
            )));
        }
    }
    if let Some(generation) = generations.next() {
        let document: &str = generation.try_get(0).map_err(sql(what))?;
        return Err(codec::corrupt(format!(
            "generation records of document `{document}` without its document row"
        )));
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(builder.finish())
}

/// Every document, generation record and unit, in key order, from one snapshot.
pub(crate) async fn snapshot(pool: &Pool) -> AdapterResult<StoreSnapshot> {
    let what = "taking a snapshot";
    let mut tx = super::begin_read(pool).await.map_err(sql(what))?;
    let documents = sqlx::query(
        "SELECT id, revision, sha256, state, cutting_run, active_generation, body \
         FROM documents ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql(what))?;
    let generations = sqlx::query(
        "SELECT document, generation, state FROM generations ORDER BY document, generation",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql(what))?;
    let units = sqlx::query(
        "SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, \
         sha256, body FROM units ORDER BY document, generation, ordinal",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql(what))?;
    tx.rollback().await.map_err(sql(what))?;
    Ok(StoreSnapshot {
        documents: documents
            .iter()
            .map(Document::decode)
            .collect::<Result<_, _>>()?,
        generations: generations
            .iter()
            .map(generation_record)
            .collect::<Result<_, _>>()?,
        units: units.iter().map(unit).collect::<Result<_, _>>()?,
    })
}

fn phase_record(row: &DbRow) -> AdapterResult<(String, PhaseRecord)> {
    let what = "reading the journal";
    let status: String = row.try_get("status").map_err(sql(what))?;
    let evidence: String = row.try_get("evidence").map_err(sql(what))?;
    Ok((
        row.try_get("run").map_err(sql(what))?,
        PhaseRecord {
            name: row.try_get("name").map_err(sql(what))?,
            status: codec::parse_status(&status)?,
            evidence: codec::from_json(&evidence, "phase evidence")?,
            detail: row.try_get("detail").map_err(sql(what))?,
            started_at: row.try_get("started_at").map_err(sql(what))?,
            finished_at: row.try_get("finished_at").map_err(sql(what))?,
        },
    ))
}

fn run_record(row: &DbRow) -> AdapterResult<RunRecord> {
    let what = "reading the journal";
    let schema_version: i64 = row.try_get("schema_version").map_err(sql(what))?;
    let scope: String = row.try_get("scope").map_err(sql(what))?;
    let rules: String = row.try_get("rules").map_err(sql(what))?;
    let status: String = row.try_get("status").map_err(sql(what))?;
    Ok(RunRecord {
        schema_version: from_db(schema_version, "run schema version")?,
        run: RunId::new(row.try_get::<String, _>("run").map_err(sql(what))?),
        scope: codec::from_json(&scope, "run scope")?,
        rules: codec::from_json(&rules, "run rules")?,
        expected_plan_sha256: row.try_get("expected_plan_sha256").map_err(sql(what))?,
        status: codec::parse_status(&status)?,
        phases: Vec::new(),
    })
}

async fn load_run_in(conn: &mut Conn, run: &RunId) -> AdapterResult<Option<RunRecord>> {
    let what = "reading the journal";
    let row = sqlx::query(
        "SELECT run, schema_version, scope, rules, expected_plan_sha256, status FROM runs \
             WHERE run = $1",
    )
    .bind(run.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(sql(what))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let mut record = run_record(&row)?;
    let phases = sqlx::query(
        "SELECT run, name, status, evidence, detail, started_at, finished_at FROM run_phases \
         WHERE run = $1 ORDER BY position",
    )
    .bind(run.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(sql(what))?;
    for row in &phases {
        record.phases.push(phase_record(row)?.1);
    }
    Ok(Some(record))
}

/// A journaled run.
pub(crate) async fn load_run(pool: &Pool, run: &RunId) -> AdapterResult<Option<RunRecord>> {
    let mut tx = super::begin_read(pool)
        .await
        .map_err(sql("reading the journal"))?;
    let record = load_run_in(&mut tx, run).await?;
    tx.rollback().await.map_err(sql("reading the journal"))?;
    Ok(record)
}

/// Every journaled run, ordered by run id.
pub(crate) async fn list_runs(pool: &Pool) -> AdapterResult<Vec<RunRecord>> {
    let what = "reading the journal";
    let mut tx = super::begin_read(pool).await.map_err(sql(what))?;
    let runs = sqlx::query(
        "SELECT run, schema_version, scope, rules, expected_plan_sha256, status FROM runs \
             ORDER BY run",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql(what))?;
    let phases = sqlx::query(
        "SELECT run, name, status, evidence, detail, started_at, finished_at FROM run_phases \
         ORDER BY run, position",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(sql(what))?;
    tx.rollback().await.map_err(sql(what))?;
    let mut by_run: BTreeMap<String, Vec<PhaseRecord>> = BTreeMap::new();
    for row in &phases {
        let (run, phase) = phase_record(row)?;
        by_run.entry(run).or_default().push(phase);
    }
    runs.iter()
        .map(|row| {
            let mut record = run_record(row)?;
            record.phases = by_run.remove(record.run.as_str()).unwrap_or_default();
            Ok(record)
        })
        .collect()
}

/// The journaled plan of a run.
pub(crate) async fn load_plan(pool: &Pool, run: &RunId) -> AdapterResult<Option<Plan>> {
    let plan: Option<String> = sqlx::query_scalar("SELECT plan FROM run_plans WHERE run = $1")
        .bind(run.as_str())
        .fetch_optional(pool)
        .await
        .map_err(sql("reading a plan"))?;
    plan.map(|text| codec::from_json(&text, "a journaled plan"))
        .transpose()
}

// ---- mutations -------------------------------------------------------------------------------

/// A document row without its body, as read (and locked) inside a write transaction.
struct Current {
    revision: u64,
    sha256: String,
    state: DocumentState,
    active_generation: Option<RunId>,
}

async fn current(conn: &mut Conn, id: &DocumentId) -> AdapterResult<Option<Current>> {
    let what = "reading a document";
    let row = sqlx::query(super::SELECT_DOCUMENT_FOR_UPDATE)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql(what))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let revision: i64 = row.try_get(0).map_err(sql(what))?;
    let state: String = row.try_get(2).map_err(sql(what))?;
    let cutting_run: Option<String> = row.try_get(3).map_err(sql(what))?;
    let active: Option<String> = row.try_get(4).map_err(sql(what))?;
    Ok(Some(Current {
        revision: from_db(revision, "document revision")?,
        sha256: row.try_get(1).map_err(sql(what))?,
        state: codec::parse_document_state(&state, cutting_run)?,
        active_generation: active.map(RunId::new),
    }))
}

async fn upsert_document(conn: &mut Conn, document: &Document) -> AdapterResult<()> {
    let (state, cutting_run) = codec::document_state(&document.state);
    sqlx::query(
        "INSERT INTO documents (id, revision, sha256, state, cutting_run, active_generation, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET revision = excluded.revision, sha256 = excluded.sha256, \
         state = excluded.state, cutting_run = excluded.cutting_run, \
         active_generation = excluded.active_generation, body = excluded.body",
    )
    .bind(document.id.as_str())
    .bind(to_db(document.revision, "revision")?)
    .bind(document.sha256.as_str())
    .bind(state)
    .bind(cutting_run)
    .bind(document.active_generation.as_ref().map(RunId::as_str))
    .bind(document.body.as_str())
    .execute(&mut *conn)
    .await
    .map_err(sql("writing a document"))?;
    Ok(())
}

/// Creates documents or replaces their bodies, all in one transaction (see the trait).
pub(crate) async fn put_documents(
    pool: &Pool,
    documents: &[(DocumentId, String)],
) -> AdapterResult<Vec<Document>> {
    let what = "writing documents";
    for (id, body) in documents {
        DocumentId::check(id.as_str()).map_err(AdapterError::Invalid)?;
        super::check_text("a document id", id.as_str())?;
        super::check_text("a document body", body)?;
    }
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let mut stored = Vec::with_capacity(documents.len());
    for (id, body) in documents {
        stored.push(put_one(&mut tx, id, body).await?);
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(stored)
}

/// Creates a document or replaces its body, inside the caller's transaction.
async fn put_one(tx: &mut Conn, id: &DocumentId, body: &str) -> AdapterResult<Document> {
    let what = "writing a document";
    let sha256 = sha256_hex(body.as_bytes());
    // Two writers creating the same document at once: the second's insert does nothing and it
    // reads the first's row on its next attempt (on SQLite writers never overlap).
    let mut attempts = 0;
    let document = loop {
        attempts += 1;
        match current(&mut *tx, id).await? {
            None => {
                let document = Document {
                    id: id.clone(),
                    revision: 1,
                    sha256: sha256.clone(),
                    state: DocumentState::Ready,
                    active_generation: None,
                    body: body.to_owned(),
                };
                let inserted = sqlx::query(
                    "INSERT INTO documents (id, revision, sha256, state, cutting_run, \
                     active_generation, body) VALUES ($1, 1, $2, 'ready', NULL, NULL, $3) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(id.as_str())
                .bind(sha256.as_str())
                .bind(body)
                .execute(&mut *tx)
                .await
                .map_err(sql(what))?
                .rows_affected();
                if inserted == 1 {
                    break document;
                }
                if attempts >= 3 {
                    return Err(AdapterError::Unavailable(format!(
                        "document `{id}` is being created concurrently; try again"
                    )));
                }
            }
            Some(found) if found.sha256 == sha256 => {
                break Document {
                    id: id.clone(),
                    revision: found.revision,
                    sha256,
                    state: found.state,
                    active_generation: found.active_generation,
                    body: body.to_owned(),
                };
            }
            Some(found) => {
                // A writer that ignores fences keeps the fence: the holder's enact then fails
                // its compare-and-set on the revision.
                let state = match found.state {
                    DocumentState::Cutting { run } => DocumentState::Cutting { run },
                    DocumentState::Ready | DocumentState::Cut => DocumentState::Ready,
                };
                let document = Document {
                    id: id.clone(),
                    revision: found.revision + 1,
                    sha256,
                    state,
                    active_generation: found.active_generation,
                    body: body.to_owned(),
                };
                upsert_document(&mut *tx, &document).await?;
                break document;
            }
        }
    };
    Ok(document)
}

async fn run_exists(conn: &mut Conn, run: &RunId) -> AdapterResult<bool> {
    let found: Option<String> = sqlx::query_scalar(super::SELECT_RUN_FOR_UPDATE)
        .bind(run.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql("reading the journal"))?;
    Ok(found.is_some())
}

async fn upsert_phase(conn: &mut Conn, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
    super::check_text("a phase name", &phase.name)?;
    if let Some(detail) = &phase.detail {
        super::check_text("a phase detail", detail)?;
    }
    for time in [&phase.started_at, &phase.finished_at]
        .into_iter()
        .flatten()
    {
        super::check_text("a phase time", time)?;
    }
    let evidence = codec::to_json(&phase.evidence, "phase evidence")?;
    super::check_text("phase evidence", &evidence)?;
    sqlx::query(
        "INSERT INTO run_phases \
         (run, name, position, status, evidence, detail, started_at, finished_at) \
         VALUES ($1, $2, (SELECT COALESCE(MAX(position) + 1, 0) FROM run_phases WHERE run = $1), \
         $3, $4, $5, $6, $7) \
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
    Ok(())
}

/// Journals a new run, or returns the journaled one unchanged.
pub(crate) async fn begin_run(pool: &Pool, record: &RunRecord) -> AdapterResult<RunRecord> {
    let what = "journaling a run";
    super::check_text("a run id", record.run.as_str())?;
    let scope = codec::to_json(&record.scope, "the run's scope")?;
    let rules = codec::to_json(&record.rules, "the run's rules")?;
    super::check_text("the run's scope", &scope)?;
    super::check_text("the run's rules", &rules)?;
    if let Some(sha) = &record.expected_plan_sha256 {
        super::check_text("the reviewed plan's sha256", sha)?;
    }
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let inserted = sqlx::query(
        "INSERT INTO runs (run, schema_version, scope, rules, expected_plan_sha256, status) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run) DO NOTHING",
    )
    .bind(record.run.as_str())
    .bind(i64::from(record.schema_version))
    .bind(scope)
    .bind(rules)
    .bind(record.expected_plan_sha256.as_deref())
    .bind(codec::run_status(record.status)?)
    .execute(&mut *tx)
    .await
    .map_err(sql(what))?
    .rows_affected();
    if inserted == 0 {
        let journaled = load_run_in(&mut tx, &record.run).await?;
        tx.rollback().await.map_err(sql(what))?;
        return journaled.ok_or_else(|| run_not_found(&record.run));
    }
    for phase in &record.phases {
        upsert_phase(&mut tx, &record.run, phase).await?;
    }
    let journaled = load_run_in(&mut tx, &record.run).await?;
    tx.commit().await.map_err(sql(what))?;
    journaled.ok_or_else(|| run_not_found(&record.run))
}

/// Journals a phase transition (insert or replace by name; a new phase goes last).
pub(crate) async fn record_phase(
    pool: &Pool,
    run: &RunId,
    phase: &PhaseRecord,
) -> AdapterResult<()> {
    let what = "journaling a phase";
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    if !run_exists(&mut tx, run).await? {
        return Err(run_not_found(run));
    }
    upsert_phase(&mut tx, run, phase).await?;
    tx.commit().await.map_err(sql(what))
}

/// Journals a run's status.
pub(crate) async fn set_run_status(
    pool: &Pool,
    run: &RunId,
    status: RunStatus,
) -> AdapterResult<()> {
    let what = "journaling a run's status";
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let updated = sqlx::query("UPDATE runs SET status = $2 WHERE run = $1")
        .bind(run.as_str())
        .bind(codec::run_status(status)?)
        .execute(&mut *tx)
        .await
        .map_err(sql(what))?
        .rows_affected();
    if updated == 0 {
        return Err(run_not_found(run));
    }
    tx.commit().await.map_err(sql(what))
}

/// Journals a run's plan; the same plan again passes, a different one is refused.
///
/// A plan is megabytes of JSON: it is serialised, checked and hashed once, and a plan already
/// journaled is compared by its stored sha256 first, so that the same plan again never reads
/// the stored text back.
pub(crate) async fn save_plan(pool: &Pool, run: &RunId, plan: &Plan) -> AdapterResult<()> {
    let what = "journaling a plan";
    let text = codec::to_json(plan, "the plan")?;
    super::check_text("the plan", &text)?;
    let sha256 = sha256_hex(text.as_bytes());
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    if !run_exists(&mut tx, run).await? {
        return Err(run_not_found(run));
    }
    let existing: Option<String> =
        sqlx::query_scalar("SELECT sha256 FROM run_plans WHERE run = $1")
            .bind(run.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql(what))?;
    if let Some(existing_sha256) = existing {
        // The column holds the sha256 of the stored text, written below: equal hashes, equal
        // plans.
        if existing_sha256 == sha256 {
            return Ok(());
        }
        // Another text may still be the same plan (one journaled by a build that serialised
        // it differently): compare the plans themselves.
        let stored: String = sqlx::query_scalar("SELECT plan FROM run_plans WHERE run = $1")
            .bind(run.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(sql(what))?;
        let existing: Plan = codec::from_json(&stored, "a journaled plan")?;
        if existing == *plan {
            return Ok(());
        }
        return Err(AdapterError::Invalid(format!(
            "run `{run}` already journaled a different plan (sha256 {}, offered {sha256}); \
             a run's plan never changes: roll back and start a new run",
            existing.sha256(),
        )));
    }
    sqlx::query("INSERT INTO run_plans (run, plan, sha256) VALUES ($1, $2, $3)")
        .bind(run.as_str())
        .bind(&text)
        .bind(&sha256)
        .execute(&mut *tx)
        .await
        .map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))
}

/// The reports journaled for a run, oldest first.
pub(crate) async fn load_reports(pool: &Pool, run: &RunId) -> AdapterResult<Vec<String>> {
    sqlx::query_scalar("SELECT report FROM run_reports WHERE run = $1 ORDER BY position")
        .bind(run.as_str())
        .fetch_all(pool)
        .await
        .map_err(sql("reading the journaled reports"))
}

/// Journals a report after the run's others; the same text again passes (see the trait).
pub(crate) async fn save_report(pool: &Pool, run: &RunId, report: &str) -> AdapterResult<()> {
    let what = "journaling a report";
    super::check_text("a report", report)?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    if !run_exists(&mut tx, run).await? {
        return Err(run_not_found(run));
    }
    sqlx::query(
        "INSERT INTO run_reports (run, position, sha256, report) \
         VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM run_reports WHERE run = $1), \
         $2, $3) ON CONFLICT (run, sha256) DO NOTHING",
    )
    .bind(run.as_str())
    .bind(sha256_hex(report.as_bytes()))
    .bind(report)
    .execute(&mut *tx)
    .await
    .map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))
}

/// Removes retired generations, records and units, all or nothing (see the trait): each target
/// is checked by [`purge_step`] against its document row and generation record, both read and
/// locked inside the transaction.
pub(crate) async fn purge_generations(pool: &Pool, targets: &[PurgeTarget]) -> AdapterResult<u64> {
    let what = "purging generations";
    let listed: BTreeSet<&PurgeTarget> = targets.iter().collect();
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let rows = read_documents(&mut tx, listed.iter().map(|t| &t.document)).await?;
    let mut present = Vec::new();
    for target in &listed {
        let records = generations_for_update(&mut tx, &target.document).await?;
        let state = records
            .iter()
            .find(|g| g.generation == target.generation)
            .map(|g| g.state);
        let active = rows
            .get(&target.document)
            .map(|row| row.as_ref().and_then(|r| r.active_generation.as_ref()));
        if purge_step(target, active, state)? {
            present.push(target);
        }
    }
    let mut removed = 0;
    for target in present {
        let (document, generation) = (&target.document, &target.generation);
        // Conditional on the state, so a generation made active meanwhile is never removed.
        let deleted = sqlx::query(
            "DELETE FROM generations WHERE document = $1 AND generation = $2 \
             AND state = 'retired'",
        )
        .bind(document.as_str())
        .bind(generation.as_str())
        .execute(&mut *tx)
        .await
        .map_err(sql(what))?
        .rows_affected();
        if deleted != 1 {
            return Err(AdapterError::Conflict {
                document: document.clone(),
                expected: format!("generation `{generation}` retired"),
                found: "a concurrent change".to_owned(),
            });
        }
        sqlx::query("DELETE FROM units WHERE document = $1 AND generation = $2")
            .bind(document.as_str())
            .bind(generation.as_str())
            .execute(&mut *tx)
            .await
            .map_err(sql(what))?;
        removed += 1;
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(removed)
}

/// A document as a compare-and-set sees it, read (and, on PostgreSQL, locked) inside the
/// transaction, with its body hashed as stored.
async fn current_for_cas(
    conn: &mut Conn,
    id: &DocumentId,
) -> AdapterResult<Option<CurrentDocument>> {
    let what = "reading a document";
    let row = sqlx::query(super::SELECT_DOCUMENT_WITH_BODY_FOR_UPDATE)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql(what))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let revision: i64 = row.try_get(0).map_err(sql(what))?;
    let state: String = row.try_get(2).map_err(sql(what))?;
    let cutting_run: Option<String> = row.try_get(3).map_err(sql(what))?;
    let active: Option<String> = row.try_get(4).map_err(sql(what))?;
    let body_sha256 = if super::BODY_HASHED_BY_DATABASE {
        row.try_get(5).map_err(sql(what))?
    } else {
        let body: &str = row.try_get(5).map_err(sql(what))?;
        sha256_hex(body.as_bytes())
    };
    Ok(Some(CurrentDocument {
        revision: from_db(revision, "document revision")?,
        sha256: row.try_get(1).map_err(sql(what))?,
        body_sha256,
        state: codec::parse_document_state(&state, cutting_run)?,
        active_generation: active.map(RunId::new),
    }))
}

/// Reads (and, on PostgreSQL, locks) each named document once, in id order: concurrent
/// operations lock rows in one order, so they queue instead of deadlocking.
async fn read_documents<'a>(
    conn: &mut Conn,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<HashMap<DocumentId, Option<Current>>> {
    let ids: BTreeSet<&DocumentId> = ids.into_iter().collect();
    let mut rows = HashMap::with_capacity(ids.len());
    for id in ids {
        let row = current(conn, id).await?;
        rows.insert(id.clone(), row);
    }
    Ok(rows)
}

/// [`read_documents`] for a compare-and-set: the rows with their bodies hashed, in id order.
async fn read_for_cas<'a>(
    conn: &mut Conn,
    ids: impl IntoIterator<Item = &'a DocumentId>,
) -> AdapterResult<BTreeMap<&'a DocumentId, Option<CurrentDocument>>> {
    let ids: BTreeSet<&DocumentId> = ids.into_iter().collect();
    let mut rows = BTreeMap::new();
    for id in ids {
        let row = current_for_cas(conn, id).await?;
        rows.insert(id, row);
    }
    Ok(rows)
}

/// Moves a document's lifecycle columns (state, fencing run, active generation) from exactly
/// `from` to `state`/`active`; the body and revision are never written here.
async fn move_marks(
    conn: &mut Conn,
    id: &DocumentId,
    from: &CurrentDocument,
    state: &DocumentState,
    active: Option<&RunId>,
) -> AdapterResult<()> {
    let (new_state, new_cutting_run) = codec::document_state(state);
    let (old_state, old_cutting_run) = codec::document_state(&from.state);
    // Conditional on every compare-and-set column as read inside this transaction: zero rows
    // updated means a concurrent change.
    let moved = sqlx::query(
        "UPDATE documents SET state = $7, cutting_run = $8, active_generation = $9 \
         WHERE id = $1 AND revision = $2 AND sha256 = $3 AND state = $4 \
         AND cutting_run IS NOT DISTINCT FROM $5 AND active_generation IS NOT DISTINCT FROM $6",
    )
    .bind(id.as_str())
    .bind(to_db(from.revision, "revision")?)
    .bind(from.sha256.as_str())
    .bind(old_state)
    .bind(old_cutting_run)
    .bind(from.active_generation.as_ref().map(RunId::as_str))
    .bind(new_state)
    .bind(new_cutting_run)
    .bind(active.map(RunId::as_str))
    .execute(&mut *conn)
    .await
    .map_err(sql("updating a document's state"))?
    .rows_affected();
    if moved != 1 {
        return Err(AdapterError::Conflict {
            document: id.clone(),
            expected: format!(
                "{} as just read",
                crate::conflicts::describe_revision(from.revision, &from.sha256)
            ),
            found: "a concurrent change".to_owned(),
        });
    }
    Ok(())
}

/// Compare-and-set of one generation record's state: from exactly `from` to `to`. A record that
/// is gone or in another state (a concurrent purge, another run) fails the whole transaction.
async fn set_generation_state(
    conn: &mut Conn,
    document: &DocumentId,
    generation: &RunId,
    from: GenerationState,
    to: GenerationState,
) -> AdapterResult<()> {
    let moved = sqlx::query(
        "UPDATE generations SET state = $4 WHERE document = $1 AND generation = $2 \
         AND state = $3",
    )
    .bind(document.as_str())
    .bind(generation.as_str())
    .bind(codec::generation_state(from))
    .bind(codec::generation_state(to))
    .execute(&mut *conn)
    .await
    .map_err(sql("updating a generation record"))?
    .rows_affected();
    if moved != 1 {
        return Err(AdapterError::Conflict {
            document: document.clone(),
            expected: format!(
                "generation `{generation}` {}",
                codec::generation_state(from)
            ),
            found: "a concurrent change (the record is gone or in another state)".to_owned(),
        });
    }
    Ok(())
}

/// Opens `run`'s staged generation record for `document`, unless it exists.
async fn open_generation(conn: &mut Conn, document: &DocumentId, run: &RunId) -> AdapterResult<()> {
    sqlx::query(
        "INSERT INTO generations (document, generation, state) VALUES ($1, $2, 'staged') \
         ON CONFLICT (document, generation) DO NOTHING",
    )
    .bind(document.as_str())
    .bind(run.as_str())
    .execute(&mut *conn)
    .await
    .map_err(sql("opening a generation"))?;
    Ok(())
}

/// Removes `run`'s generation of `document`: its units and its record.
async fn drop_generation(conn: &mut Conn, document: &DocumentId, run: &RunId) -> AdapterResult<()> {
    let what = "dropping a generation";
    sqlx::query("DELETE FROM units WHERE document = $1 AND generation = $2")
        .bind(document.as_str())
        .bind(run.as_str())
        .execute(&mut *conn)
        .await
        .map_err(sql(what))?;
    sqlx::query("DELETE FROM generations WHERE document = $1 AND generation = $2")
        .bind(document.as_str())
        .bind(run.as_str())
        .execute(&mut *conn)
        .await
        .map_err(sql(what))?;
    Ok(())
}

/// Compare-and-set fence ([`fence_step`] on every row, read inside the transaction), then the
/// moves; all or nothing.
pub(crate) async fn fence(
    pool: &Pool,
    run: &RunId,
    expectations: &[ExpectedRevision],
) -> AdapterResult<()> {
    let what = "fencing documents";
    super::check_text("a run id", run.as_str())?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let rows = read_for_cas(&mut tx, expectations.iter().map(|e| &e.document)).await?;
    let mut to_fence = BTreeMap::new();
    for expected in expectations {
        let current = rows.get(&expected.document).and_then(Option::as_ref);
        if fence_step(run, expected, current)? == FenceStep::Fence
            && let Some(current) = current
        {
            to_fence.insert(&expected.document, current);
        }
    }
    let fenced = DocumentState::Cutting { run: run.clone() };
    for (id, current) in to_fence {
        move_marks(
            &mut tx,
            id,
            current,
            &fenced,
            current.active_generation.as_ref(),
        )
        .await?;
        // The run's generation begins at the fence, so a document without units (an empty
        // body) still has a generation to enact.
        open_generation(&mut tx, id, run).await?;
    }
    tx.commit().await.map_err(sql(what))
}

/// Stages units into `run`'s generation (insert or replace by document and ordinal).
pub(crate) async fn write_units(pool: &Pool, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
    let what = "writing units";
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let fenced = DocumentState::Cutting { run: run.clone() };
    let rows = read_documents(&mut tx, units.iter().map(|u| &u.document)).await?;
    for unit in units {
        if unit.generation != *run {
            return Err(AdapterError::Invalid(format!(
                "unit {} of document `{}` belongs to generation `{}`, but run `{run}` may \
                 only write its own generation",
                unit.ordinal, unit.document, unit.generation
            )));
        }
        let Some(document) = rows.get(&unit.document).and_then(Option::as_ref) else {
            return Err(document_not_found(&unit.document));
        };
        if document.state != fenced {
            return Err(AdapterError::Conflict {
                document: unit.document.clone(),
                expected: format!("fenced by run `{run}`"),
                found: format!("{} (fence lost)", describe_state(&document.state)),
            });
        }
    }
    // Later units win over earlier ones with the same key, as in one insert-or-replace each.
    let mut latest: BTreeMap<(&DocumentId, u32), &Unit> = BTreeMap::new();
    for unit in units {
        latest.insert((&unit.document, unit.ordinal), unit);
    }
    let batch: Vec<&Unit> = latest.into_values().collect();
    for unit in &batch {
        super::check_text("a unit", &unit.body)?;
        super::check_text("a unit path", &unit.path)?;
        super::check_text("a unit id", &unit.unit_id)?;
    }
    let documents: BTreeSet<&DocumentId> = batch.iter().map(|u| &u.document).collect();
    for document in documents {
        open_generation(&mut tx, document, run).await?;
    }
    super::insert_units(&mut tx, &batch).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(units.len() as u64)
}

/// The [`GenerationDigester`] digest of `run`'s generation of `document` as stored now, inside
/// the transaction (the units locked on PostgreSQL, which hashes the bodies in the server;
/// SQLite reads them in-process); `None` when the generation has no record.
async fn staged_digest(
    conn: &mut Conn,
    document: &DocumentId,
    run: &RunId,
    records: &[GenerationRecord],
) -> AdapterResult<Option<String>> {
    let what = "reading the staged units";
    if !records.iter().any(|g| g.generation == *run) {
        return Ok(None);
    }
    let mut digester = GenerationDigester::new();
    if super::BODY_HASHED_BY_DATABASE {
        let rows = sqlx::query(super::SELECT_STAGED_UNITS_FOR_UPDATE)
            .bind(document.as_str())
            .bind(run.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(sql(what))?;
        for row in &rows {
            let ordinal: i64 = row.try_get(0).map_err(sql(what))?;
            let part: Option<i64> = row.try_get(3).map_err(sql(what))?;
            let (start, end): (i64, i64) = (
                row.try_get(4).map_err(sql(what))?,
                row.try_get(5).map_err(sql(what))?,
            );
            let body_sha256: String = row.try_get(7).map_err(sql(what))?;
            digester.unit(
                &UnitFields {
                    generation: run.as_str(),
                    ordinal: from_db(ordinal, "unit ordinal")?,
                    unit_id: row.try_get(1).map_err(sql(what))?,
                    path: row.try_get(2).map_err(sql(what))?,
                    part: part.map(|p| from_db(p, "unit part")).transpose()?,
                    start: from_db(start, "unit start")?,
                    end: from_db(end, "unit end")?,
                    sha256: row.try_get(6).map_err(sql(what))?,
                },
                &body_sha256,
            );
        }
    } else {
        let json: Option<String> = sqlx::query_scalar(super::GENERATION_UNITS)
            .bind(document.as_str())
            .bind(run.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(sql(what))?;
        for unit in units_from_json(document, run, json.as_deref().unwrap_or("[]"))? {
            digester.unit(&UnitFields::of(&unit), &sha256_hex(unit.body.as_bytes()));
        }
    }
    Ok(Some(digester.finish()))
}

/// Moves each expected document's active-generation pointer to `run` ([`enact_step`] on every
/// row, the body hashed inside the transaction, and the staged units digested there too). O(documents): a few statements per document,
/// never per unit.
pub(crate) async fn enact(
    pool: &Pool,
    run: &RunId,
    expectations: &[ExpectedRevision],
) -> AdapterResult<u64> {
    let what = "enacting";
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let rows = read_for_cas(&mut tx, expectations.iter().map(|e| &e.document)).await?;
    let mut to_move = BTreeMap::new();
    for expected in expectations {
        let current = rows.get(&expected.document).and_then(Option::as_ref);
        let records = generations_for_update(&mut tx, &expected.document).await?;
        let staged = staged_digest(&mut tx, &expected.document, run, &records).await?;
        if let EnactStep::Enact { retire } = enact_step(run, expected, current, staged.as_deref())?
            && let Some(current) = current
        {
            to_move.insert(&expected.document, (current, retire));
        }
    }
    for (id, (current, retire)) in &to_move {
        if let Some(previous) = retire {
            set_generation_state(
                &mut tx,
                id,
                previous,
                GenerationState::Active,
                GenerationState::Retired,
            )
            .await?;
        }
        set_generation_state(
            &mut tx,
            id,
            run,
            GenerationState::Staged,
            GenerationState::Active,
        )
        .await?;
        move_marks(&mut tx, id, current, &DocumentState::Cut, Some(run)).await?;
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(to_move.len() as u64)
}

/// Rolls `run` back over the backed-up documents ([`undo_step`] on every row, read inside the
/// transaction, before any change); only the run's own marks are taken back (see the trait).
pub(crate) async fn restore(
    pool: &Pool,
    run: &RunId,
    backup: &Backup,
) -> AdapterResult<Restoration> {
    let what = "rolling back";
    backup.check_for_run(run)?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let rows = read_for_cas(&mut tx, backup.documents.iter().map(|s| &s.document.id)).await?;
    let mut decisions = Vec::with_capacity(backup.documents.len());
    for snapshot in &backup.documents {
        let id = &snapshot.document.id;
        let current = rows.get(id).and_then(Option::as_ref);
        let records = generations_for_update(&mut tx, id).await?;
        let undo = undo_step(run, snapshot, current, &records)?;
        decisions.push((id, current, undo));
    }
    let mut restoration = Restoration::default();
    for (id, current, undo) in &decisions {
        restoration.record(id, undo);
        match (&undo.step, current) {
            (UndoStep::Untouched | UndoStep::LeaveAlone { .. }, _) => continue,
            (UndoStep::Unfence { state }, Some(current)) => {
                move_marks(
                    &mut tx,
                    id,
                    current,
                    state,
                    current.active_generation.as_ref(),
                )
                .await?;
            }
            (UndoStep::Unenact { reactivate, state }, Some(current)) => {
                if let Some(previous) = reactivate {
                    set_generation_state(
                        &mut tx,
                        id,
                        previous,
                        GenerationState::Retired,
                        GenerationState::Active,
                    )
                    .await?;
                }
                move_marks(&mut tx, id, current, state, reactivate.as_ref()).await?;
            }
            _ => {}
        }
        drop_generation(&mut tx, id, run).await?;
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(restoration)
}

/// Journals a run's backup artifact; the same again passes, another is refused.
pub(crate) async fn save_backup(
    pool: &Pool,
    run: &RunId,
    artifact: &str,
    sha256: &str,
) -> AdapterResult<()> {
    let what = "journaling a backup";
    super::check_text("a backup", artifact)?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    if !run_exists(&mut tx, run).await? {
        return Err(run_not_found(run));
    }
    let existing: Option<String> =
        sqlx::query_scalar("SELECT sha256 FROM run_backups WHERE run = $1")
            .bind(run.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(sql(what))?;
    match existing {
        // The column holds the sha256 of the stored text: equal hashes, equal artifacts.
        Some(journaled) if journaled == sha256 && sha256_hex(artifact.as_bytes()) == sha256 => {
            Ok(())
        }
        Some(journaled) => Err(backup_conflict(run, &journaled, sha256)),
        None => {
            sqlx::query("INSERT INTO run_backups (run, sha256, artifact) VALUES ($1, $2, $3)")
                .bind(run.as_str())
                .bind(sha256)
                .bind(artifact)
                .execute(&mut *tx)
                .await
                .map_err(sql(what))?;
            tx.commit().await.map_err(sql(what))
        }
    }
}

/// A run's journaled backup artifact.
pub(crate) async fn load_backup(pool: &Pool, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
    let what = "reading a journaled backup";
    let row = sqlx::query("SELECT artifact, sha256 FROM run_backups WHERE run = $1")
        .bind(run.as_str())
        .fetch_optional(pool)
        .await
        .map_err(sql(what))?;
    row.map(|row| {
        Ok(StoredBackup {
            artifact: row.try_get(0).map_err(sql(what))?,
            sha256: row.try_get(1).map_err(sql(what))?,
        })
    })
    .transpose()
}

// ---- leases ----------------------------------------------------------------------------------

fn lease_request(holder: &str, ttl: Duration) -> AdapterResult<i64> {
    if holder.is_empty() {
        return Err(AdapterError::Invalid(
            "a lease holder must not be empty".into(),
        ));
    }
    super::check_text("a lease holder", holder)?;
    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    if ms <= 0 {
        return Err(AdapterError::Invalid(
            "a lease's time to live must be at least 1 ms".into(),
        ));
    }
    Ok(ms)
}

fn ms(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The lease row of `run` (holder, expiry) and the database's now, locked for update.
async fn lease_row(conn: &mut Conn, run: &RunId) -> AdapterResult<(Option<(String, i64)>, i64)> {
    let what = "reading a lease";
    let now: i64 = sqlx::query_scalar(super::SELECT_NOW_MS)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql(what))?;
    let row = sqlx::query(super::SELECT_LEASE_FOR_UPDATE)
        .bind(run.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(sql(what))?;
    let row = match row {
        Some(row) => Some((
            row.try_get::<String, _>(0).map_err(sql(what))?,
            row.try_get::<i64, _>(1).map_err(sql(what))?,
        )),
        None => None,
    };
    Ok((row, now))
}

/// Every lease, with the database's now, from one snapshot.
pub(crate) async fn load_leases(pool: &Pool) -> AdapterResult<LeaseView> {
    let what = "reading the leases";
    let mut tx = super::begin_read(pool).await.map_err(sql(what))?;
    let now: i64 = sqlx::query_scalar(super::SELECT_NOW_MS)
        .fetch_one(&mut *tx)
        .await
        .map_err(sql(what))?;
    let rows = sqlx::query("SELECT run, holder, expires_at_ms FROM run_leases ORDER BY run")
        .fetch_all(&mut *tx)
        .await
        .map_err(sql(what))?;
    let mut leases = Vec::with_capacity(rows.len());
    for row in &rows {
        leases.push(Lease {
            run: RunId::new(row.try_get::<String, _>(0).map_err(sql(what))?),
            holder: row.try_get(1).map_err(sql(what))?,
            expires_at_ms: ms(row.try_get(2).map_err(sql(what))?),
        });
    }
    tx.commit().await.map_err(sql(what))?;
    Ok(LeaseView {
        now_ms: ms(now),
        leases,
    })
}

/// Sets `holder`'s lease on `run` to expire `ttl_ms` after the database's now.
async fn put_lease(
    conn: &mut Conn,
    run: &RunId,
    holder: &str,
    ttl_ms: i64,
) -> AdapterResult<Lease> {
    let what = "writing a lease";
    let expires: i64 = sqlx::query_scalar(super::PUT_LEASE)
        .bind(run.as_str())
        .bind(holder)
        .bind(ttl_ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql(what))?;
    Ok(Lease {
        run: run.clone(),
        holder: holder.to_owned(),
        expires_at_ms: ms(expires),
    })
}

/// Takes or extends a run's lease (see the trait).
pub(crate) async fn acquire_lease(
    pool: &Pool,
    run: &RunId,
    holder: &str,
    ttl: Duration,
) -> AdapterResult<Lease> {
    let what = "taking a lease";
    let ttl_ms = lease_request(holder, ttl)?;
    super::check_text("a run id", run.as_str())?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    // Two runners inserting the first lease of a run at once serialise on the primary key.
    sqlx::query(
        "INSERT INTO run_leases (run, holder, expires_at_ms) VALUES ($1, $2, 0) \
         ON CONFLICT (run) DO NOTHING",
    )
    .bind(run.as_str())
    .bind(holder)
    .execute(&mut *tx)
    .await
    .map_err(sql(what))?;
    let (row, now) = lease_row(&mut tx, run).await?;
    if let Some((current, expires)) = row
        && current != holder
        && expires > now
    {
        return Err(AdapterError::LeaseHeld {
            run: run.clone(),
            holder: current,
            expires_at: crate::domain::utc_millis(ms(expires)),
        });
    }
    let lease = put_lease(&mut tx, run, holder, ttl_ms).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(lease)
}

/// Extends a live lease of `holder` (see the trait).
pub(crate) async fn renew_lease(
    pool: &Pool,
    run: &RunId,
    holder: &str,
    ttl: Duration,
) -> AdapterResult<Lease> {
    let what = "renewing a lease";
    let ttl_ms = lease_request(holder, ttl)?;
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    let (row, now) = lease_row(&mut tx, run).await?;
    let found = match row {
        None => Some("no lease".to_owned()),
        Some((current, _)) if current != holder => Some(format!("leased by `{current}`")),
        Some((_, expires)) if expires <= now => Some(format!(
            "the lease expired at {}",
            crate::domain::utc_millis(ms(expires))
        )),
        Some(_) => None,
    };
    if let Some(found) = found {
        return Err(AdapterError::LeaseLost {
            run: run.clone(),
            holder: holder.to_owned(),
            found,
        });
    }
    let lease = put_lease(&mut tx, run, holder, ttl_ms).await?;
    tx.commit().await.map_err(sql(what))?;
    Ok(lease)
}

/// Ends `holder`'s lease; anything else passes unchanged (see the trait).
pub(crate) async fn release_lease(pool: &Pool, run: &RunId, holder: &str) -> AdapterResult<()> {
    let what = "releasing a lease";
    let mut tx = super::begin_write(pool).await.map_err(sql(what))?;
    sqlx::query("DELETE FROM run_leases WHERE run = $1 AND holder = $2")
        .bind(run.as_str())
        .bind(holder)
        .execute(&mut *tx)
        .await
        .map_err(sql(what))?;
    tx.commit().await.map_err(sql(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(versions: &[u32]) -> Vec<(i64, String)> {
        versions
            .iter()
            .map(|v| {
                let text = MIGRATIONS
                    .iter()
                    .find(|m| m.version == *v)
                    .map_or("unknown", migration_sql);
                (i64::from(*v), migrations::checksum(text))
            })
            .collect()
    }

    #[test]
    fn schema_gap_names_the_next_action() {
        let all: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(schema_gap(&recorded(&all)), None);
        let missing = schema_gap(&[]).unwrap_or_default();
        assert!(missing.contains("run `iu-cutter init`"), "{missing}");
        let newer = schema_gap(&recorded(&[SCHEMA_VERSION + 1])).unwrap_or_default();
        assert!(newer.contains("newer than this build"), "{newer}");
        let mut edited = recorded(&all);
        edited[0].1 = "0".repeat(64);
        let edited = schema_gap(&edited).unwrap_or_default();
        assert!(edited.contains("changed outside iu-cutter"), "{edited}");
    }
}
