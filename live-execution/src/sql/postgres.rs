//! The PostgreSQL backend (feature `postgres`), for several runners sharing one database.
//! Compare-and-set rows are read `FOR UPDATE` inside the operation's transaction, so two runs
//! racing for a document serialise on its row and the second sees the first's fence. Snapshots
//! read at `REPEATABLE READ`. Ids are `COLLATE "C"`: ordered bytewise, as in Rust and SQLite.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::codec::to_db;
use crate::sql::error::{connecting, db, sql};
use crate::sql::{ConnectOptions, Mode};

// The same operations for both backends: `ops.rs` is compiled once per backend, with `Db`
// naming this one (see `ops.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "ops.rs"]
pub(super) mod ops;

/// The sqlx database of this backend.
pub(crate) type Db = sqlx::Postgres;
/// Its pool.
pub(crate) type Pool = sqlx::PgPool;

/// `AdapterInfo::kind` and the migration text to use.
pub(crate) const KIND: &str = "postgres";

/// How long to wait for the server to answer a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Units per `UNNEST` statement (arrays are not bound by the parameter limit).
const UNITS_PER_STATEMENT: usize = 5000;

pub(crate) const MIGRATIONS_TABLE_EXISTS: &str =
    "SELECT to_regclass('schema_migrations') IS NOT NULL";

pub(crate) const SELECT_DOCUMENT_FOR_UPDATE: &str = "SELECT revision, sha256, state, cutting_run, \
     active_generation FROM documents WHERE id = $1 FOR UPDATE";

/// A document row for a compare-and-set, locked, with the sha256 of its body as stored, computed
/// by the server (the body never crosses the wire).
pub(crate) const SELECT_DOCUMENT_WITH_BODY_FOR_UPDATE: &str = "SELECT revision, sha256, state, \
     cutting_run, active_generation, encode(sha256(convert_to(body, 'UTF8')), 'hex') \
     FROM documents WHERE id = $1 FOR UPDATE";

/// Whether the sixth column of [`SELECT_DOCUMENT_WITH_BODY_FOR_UPDATE`] is the body's sha256
/// (computed by the database) rather than the body.
pub(crate) const BODY_HASHED_BY_DATABASE: bool = true;

/// A document's generation records, ordered by generation id, locked for the rest of the write
/// transaction.
pub(crate) const SELECT_GENERATIONS_FOR_UPDATE: &str = "SELECT document, generation, state \
     FROM generations WHERE document = $1 ORDER BY generation FOR UPDATE";

/// A generation's units of one document for enact's digest, locked, each with the sha256 of its
/// body computed by the server (no body crosses the wire).
pub(crate) const SELECT_STAGED_UNITS_FOR_UPDATE: &str = "SELECT ordinal, unit_id, path, part, \
     start_byte, end_byte, sha256, encode(sha256(convert_to(body, 'UTF8')), 'hex') FROM units \
     WHERE document = $1 AND generation = $2 ORDER BY ordinal FOR UPDATE";

/// The database clock, in milliseconds since the Unix epoch.
pub(crate) const SELECT_NOW_MS: &str =
    "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)";

/// A run's lease, locked for the rest of the write transaction.
pub(crate) const SELECT_LEASE_FOR_UPDATE: &str =
    "SELECT holder, expires_at_ms FROM run_leases WHERE run = $1 FOR UPDATE";

/// Sets a run's lease to `$2`, expiring `$3` ms after the database's now.
pub(crate) const PUT_LEASE: &str = "INSERT INTO run_leases (run, holder, expires_at_ms) \
     VALUES ($1, $2, CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) + $3) ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, \
     expires_at_ms = excluded.expires_at_ms RETURNING expires_at_ms";

pub(crate) const SELECT_RUN_FOR_UPDATE: &str = "SELECT run FROM runs WHERE run = $1 FOR UPDATE";

/// The census comes as rows of three ordered queries: PostgreSQL streams rows cheaply and reads
/// each table in primary-key order, while building JSON per unit cost it more than it saved
/// (280-310 ms against 110-170 ms for the unit rows of the bench store, in psql).
pub(crate) const CENSUS_AS_JSON: bool = false;

/// Unused on PostgreSQL (see `CENSUS_AS_JSON`).
pub(crate) const CENSUS: &str = "";

/// The census's documents, bytewise by id (the id columns are `COLLATE "C"`).
pub(crate) const CENSUS_DOCUMENTS: &str = "\
SELECT id, revision, sha256, state, cutting_run, active_generation
  FROM documents ORDER BY id";

/// The census's generation records, by document and generation.
pub(crate) const CENSUS_GENERATIONS: &str = "\
SELECT document, generation, state FROM generations ORDER BY document, generation";

/// The census's units' digest fields (no bodies), by document, generation and ordinal.
pub(crate) const CENSUS_UNITS: &str = "\
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256
  FROM units ORDER BY document, generation, ordinal";

/// Unit reads come as one row per unit: PostgreSQL streams rows cheaply, and encoding bodies as
/// JSON only to decode them again made a read-back of 56,000 units twice as slow.
pub(crate) const UNITS_AS_JSON: bool = false;

/// One generation's units of one document, one row per unit.
pub(crate) const GENERATION_UNITS: &str = "\
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256, body
  FROM units WHERE document = $1 AND generation = $2 ORDER BY ordinal";

/// A document's active generation's units, one row per unit.
pub(crate) const ACTIVE_UNITS: &str = "\
SELECT u.document, u.generation, u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
       u.end_byte, u.sha256, u.body
  FROM units u JOIN documents d ON d.id = u.document AND d.active_generation = u.generation
 WHERE d.id = $1 ORDER BY u.ordinal";

/// Plain insert: used when none of the batch's keys exist (the usual first write of a staged
/// generation), about twice as fast as the upsert below.
const INSERT_UNITS: &str = "\
INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, end_byte,
                   sha256, body)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[],
                     $7::int8[], $8::int8[], $9::text[], $10::text[])";

const UPSERT_UNITS: &str = "\
INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, end_byte,
                   sha256, body)
SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::int8[],
                     $7::int8[], $8::int8[], $9::text[], $10::text[])
ON CONFLICT (document, generation, ordinal) DO UPDATE SET
    unit_id = excluded.unit_id, path = excluded.path, part = excluded.part,
    start_byte = excluded.start_byte, end_byte = excluded.end_byte,
    sha256 = excluded.sha256, body = excluded.body";

/// A schema name safe to splice into SQL: letters, digits, `_`, not starting with a digit.
fn schema_name(options: &ConnectOptions) -> Result<Option<&str>, AdapterError> {
    let Some(schema) = options.pg_schema.as_deref() else {
        return Ok(None);
    };
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !schema.starts_with(|c: char| c.is_ascii_digit());
    if valid {
        Ok(Some(schema))
    } else {
        Err(AdapterError::Invalid(format!(
            "PostgreSQL schema `{schema}`: use letters, digits and `_`, not starting with a digit"
        )))
    }
}

/// Opens a pool; with `pg_schema`, every connection's `search_path` is that schema, which `init`
/// creates if missing.
pub(super) async fn open(options: &ConnectOptions, mode: Mode) -> Result<Pool, AdapterError> {
    let location = options.location();
    let schema = schema_name(options)?;
    let mut connect = PgConnectOptions::from_str(options.url.trim()).map_err(|error| {
        AdapterError::Invalid(format!("cannot read the database URL {location}: {error}"))
    })?;
    if let Some(schema) = schema {
        connect = connect.options([("search_path", schema)]);
    }
    // One direct attempt first: a refused connection or bad credentials fail at once (the
    // pool would retry until its timeout), an unanswering host after CONNECT_TIMEOUT.
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&connect)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(error)) => return Err(connecting(&location, error)),
        Err(_) => {
            return Err(AdapterError::Unavailable(format!(
                "cannot connect to {location}: no answer within {} s; check the URL, that the \
                 database server is running and reachable, and the credentials",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(connect);
    if let (Mode::Init, Some(schema)) = (mode, schema) {
        let mut create = sqlx::QueryBuilder::<Db>::new("CREATE SCHEMA IF NOT EXISTS ");
        create.push(schema);
        create
            .build()
            .execute(&pool)
            .await
            .map_err(|error| db("creating the schema", error))?;
    }
    Ok(pool)
}

/// Begins a transaction that will write (rows it must compare are then read `FOR UPDATE`).
pub(crate) async fn begin_write(
    pool: &Pool,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// Begins a read-only snapshot.
pub(crate) async fn begin_read(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
}

/// Serialises concurrent `init`s on the bookkeeping table.
pub(crate) async fn lock_migrations(
    tx: &mut sqlx::Transaction<'static, Db>,
) -> Result<(), sqlx::Error> {
    sqlx::query("LOCK TABLE schema_migrations IN EXCLUSIVE MODE")
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// PostgreSQL text cannot hold NUL characters: refuse them before anything is written.
pub(crate) fn check_text(what: &str, text: &str) -> Result<(), AdapterError> {
    if text.contains('\0') {
        return Err(AdapterError::Invalid(format!(
            "{what} contains a NUL character, which PostgreSQL cannot store"
        )));
    }
    Ok(())
}

/// Whether any unit of `units` already has a row: one index range probe per (document,
/// generation) of the batch.
async fn any_exists(
    conn: &mut <Db as sqlx::Database>::Connection,
    units: &[&Unit],
) -> Result<bool, AdapterError> {
    let mut ranges: BTreeMap<(&str, &str), (u32, u32)> = BTreeMap::new();
    for unit in units {
        let range = ranges
            .entry((unit.document.as_str(), unit.generation.as_str()))
            .or_insert((unit.ordinal, unit.ordinal));
        range.0 = range.0.min(unit.ordinal);
        range.1 = range.1.max(unit.ordinal);
    }
    for ((document, generation), (low, high)) in ranges {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM units WHERE document = $1 AND generation = $2 \
             AND ordinal BETWEEN $3 AND $4)",
        )
        .bind(document)
        .bind(generation)
        .bind(i64::from(low))
        .bind(i64::from(high))
        .fetch_one(&mut *conn)
        .await
        .map_err(sql("writing units"))?;
        if exists {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Writes units with `INSERT … SELECT * FROM UNNEST(arrays)`, one statement per few thousand
/// units: a plain insert when none of their keys exist yet (the caller holds the documents'
/// row locks, so none can appear meanwhile), else `ON CONFLICT DO UPDATE`. `units` holds at
/// most one unit per key.
pub(crate) async fn insert_units(
    conn: &mut <Db as sqlx::Database>::Connection,
    units: &[&Unit],
) -> Result<(), AdapterError> {
    let statement = if any_exists(conn, units).await? {
        UPSERT_UNITS
    } else {
        INSERT_UNITS
    };
    for chunk in units.chunks(UNITS_PER_STATEMENT) {
        let mut document = Vec::with_capacity(chunk.len());
        let mut generation = Vec::with_capacity(chunk.len());
        let mut ordinal = Vec::with_capacity(chunk.len());
        let mut unit_id = Vec::with_capacity(chunk.len());
        let mut path = Vec::with_capacity(chunk.len());
        let mut part = Vec::with_capacity(chunk.len());
        let mut start = Vec::with_capacity(chunk.len());
        let mut end = Vec::with_capacity(chunk.len());
        let mut sha256 = Vec::with_capacity(chunk.len());
        let mut body = Vec::with_capacity(chunk.len());
        for unit in chunk {
            document.push(unit.document.as_str());
            generation.push(unit.generation.as_str());
            ordinal.push(i64::from(unit.ordinal));
            unit_id.push(unit.unit_id.as_str());
            path.push(unit.path.as_str());
            part.push(unit.part.map(i64::from));
            start.push(to_db(unit.start, "unit start")?);
            end.push(to_db(unit.end, "unit end")?);
            sha256.push(unit.sha256.as_str());
            body.push(unit.body.as_str());
        }
        sqlx::query(statement)
            .bind(document)
            .bind(generation)
            .bind(ordinal)
            .bind(unit_id)
            .bind(path)
            .bind(part)
            .bind(start)
            .bind(end)
            .bind(sha256)
            .bind(body)
            .execute(&mut *conn)
            .await
            .map_err(sql("writing units"))?;
    }
    Ok(())
}
