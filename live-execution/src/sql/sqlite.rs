//! The SQLite backend (feature `sqlite`, SQLite bundled into the binary): one database file in
//! WAL mode, `synchronous = NORMAL`, foreign keys on, a 5 s busy timeout. Write transactions
//! begin `IMMEDIATE`, so a transaction that will write holds the write lock from its first read
//! and concurrent writers queue instead of failing to upgrade.

use std::path::Path;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::codec::to_db;
use crate::sql::error::{connecting, sql};
use crate::sql::{ConnectOptions, Mode, SLOW_STATEMENT, SLOW_STATEMENT_LEVEL};

// The same operations for both backends: `ops.rs` is compiled once per backend, with `Db`
// naming this one (see `ops.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "ops.rs"]
pub(super) mod ops;

/// The sqlx database of this backend.
pub(crate) type Db = sqlx::Sqlite;
/// Its pool.
pub(crate) type Pool = sqlx::SqlitePool;

/// `AdapterInfo::kind` and the migration text to use.
pub(crate) const KIND: &str = "sqlite";

/// Units per multi-row upsert: 10 parameters each, well under SQLite's 32766.
const UNITS_PER_STATEMENT: usize = 1000;

pub(crate) const MIGRATIONS_TABLE_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
     WHERE type = 'table' AND name = 'schema_migrations')";

/// SQLite has no row locks: `BEGIN IMMEDIATE` already holds the database's write lock.
pub(crate) const SELECT_DOCUMENT_FOR_UPDATE: &str = "SELECT revision, sha256, state, cutting_run, \
     active_generation FROM documents WHERE id = $1";

/// A document row for a compare-and-set, with its body: SQLite has no sha256, so the body is
/// hashed in Rust (an in-process copy) inside the same `IMMEDIATE` transaction.
pub(crate) const SELECT_DOCUMENT_WITH_BODY_FOR_UPDATE: &str = "SELECT revision, sha256, state, \
     cutting_run, active_generation, body FROM documents WHERE id = $1";

/// Whether the sixth column of [`SELECT_DOCUMENT_WITH_BODY_FOR_UPDATE`] is the body's sha256
/// (computed by the database) rather than the body.
pub(crate) const BODY_HASHED_BY_DATABASE: bool = false;

/// A document's generation records, ordered by generation id, locked for the rest of the write
/// transaction (SQLite: `BEGIN IMMEDIATE` already holds the database).
pub(crate) const SELECT_GENERATIONS_FOR_UPDATE: &str = "SELECT document, generation, state \
     FROM generations WHERE document = $1 ORDER BY generation";

/// Unused on SQLite: enact digests the staged units from [`GENERATION_UNITS`] (bodies hashed
/// in-process, inside the `IMMEDIATE` transaction).
pub(crate) const SELECT_STAGED_UNITS_FOR_UPDATE: &str = "";

/// The database clock, in milliseconds since the Unix epoch.
pub(crate) const SELECT_NOW_MS: &str =
    "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

/// A run's lease, locked for the rest of the write transaction.
pub(crate) const SELECT_LEASE_FOR_UPDATE: &str =
    "SELECT holder, expires_at_ms FROM run_leases WHERE run = $1";

/// Sets a run's lease to `$2`, expiring `$3` ms after the database's now.
pub(crate) const PUT_LEASE: &str = "INSERT INTO run_leases (run, holder, expires_at_ms) \
     VALUES ($1, $2, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) + $3) ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, \
     expires_at_ms = excluded.expires_at_ms RETURNING expires_at_ms";

pub(crate) const SELECT_RUN_FOR_UPDATE: &str = "SELECT run FROM runs WHERE run = $1";

/// The census: one row per document, ordered by id, with its generation records and its units'
/// digest fields (no bodies) as JSON arrays. One row per document rather than per unit, because
/// every row costs a hop from sqlx's SQLite worker thread plus an allocation per column, which
/// made a census of 56,000 units four times slower than SQLite's own work.
///
/// The row-shaped census queries are unused here.
pub(crate) const CENSUS_AS_JSON: bool = true;

/// See [`CENSUS_AS_JSON`].
pub(crate) const CENSUS: &str = "\
SELECT d.id, d.revision, d.sha256, d.state, d.cutting_run, d.active_generation,
       (SELECT json_group_array(json_array(g.generation, g.state))
          FROM generations g WHERE g.document = d.id),
       (SELECT json_group_array(json_array(u.generation, u.ordinal, u.unit_id, u.path, u.part,
                                           u.start_byte, u.end_byte, u.sha256))
          FROM units u WHERE u.document = d.id)
  FROM documents d
 ORDER BY d.id";

/// Unused on SQLite (see [`CENSUS_AS_JSON`]).
pub(crate) const CENSUS_DOCUMENTS: &str = "";
/// Unused on SQLite.
pub(crate) const CENSUS_GENERATIONS: &str = "";
/// Unused on SQLite.
pub(crate) const CENSUS_UNITS: &str = "";

/// Unit reads come as one JSON row per document (see the census).
pub(crate) const UNITS_AS_JSON: bool = true;

/// One generation's units of one document as a JSON array (one row, for the reason above).
pub(crate) const GENERATION_UNITS: &str = "\
SELECT json_group_array(json_array(ordinal, unit_id, path, part, start_byte, end_byte, sha256,
                                   body))
  FROM units WHERE document = $1 AND generation = $2";

/// A document's active generation and its units as a JSON array; no row for no document.
pub(crate) const ACTIVE_UNITS: &str = "\
SELECT d.active_generation,
       (SELECT json_group_array(json_array(u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
                                           u.end_byte, u.sha256, u.body))
          FROM units u WHERE u.document = d.id AND u.generation = d.active_generation)
  FROM documents d WHERE d.id = $1";

/// Opens a pool on the file at `path`; only `init` may create it.
pub(super) async fn open(
    options: &ConnectOptions,
    path: &Path,
    mode: Mode,
) -> Result<Pool, AdapterError> {
    let location = options.location();
    if mode == Mode::Use && !path.exists() {
        return Err(AdapterError::Unavailable(format!(
            "no SQLite database at {location}; run `iu-cutter init` with this URL to create it \
             (or fix the path)"
        )));
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(mode == Mode::Init)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
    SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(connect)
        .await
        .map_err(|error| connecting(&location, error, None))
}

/// Begins a transaction that will write.
pub(crate) async fn begin_write(
    pool: &Pool,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Begins a read-only snapshot (WAL readers see one consistent state).
pub(crate) async fn begin_read(pool: &Pool) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// Serialises concurrent `init`s: already done by `BEGIN IMMEDIATE`.
pub(crate) async fn lock_migrations(
    _tx: &mut sqlx::Transaction<'static, Db>,
) -> Result<(), sqlx::Error> {
    Ok(())
}

/// SQLite stores any text.
pub(crate) fn check_text(_what: &str, _text: &str) -> Result<(), AdapterError> {
    Ok(())
}

/// Upserts units with multi-row `INSERT … ON CONFLICT DO UPDATE`, chunked under the
/// bind-parameter limit. `units` holds at most one unit per key.
pub(crate) async fn insert_units(
    conn: &mut <Db as sqlx::Database>::Connection,
    units: &[&Unit],
) -> Result<(), AdapterError> {
    for chunk in units.chunks(UNITS_PER_STATEMENT) {
        let mut rows = Vec::with_capacity(chunk.len());
        for unit in chunk {
            rows.push((
                unit,
                to_db(unit.start, "unit start")?,
                to_db(unit.end, "unit end")?,
            ));
        }
        let mut query = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, \
             end_byte, sha256, body) ",
        );
        query.push_values(rows, |mut row, (unit, start, end)| {
            row.push_bind(unit.document.as_str())
                .push_bind(unit.generation.as_str())
                .push_bind(i64::from(unit.ordinal))
                .push_bind(unit.unit_id.as_str())
                .push_bind(unit.path.as_str())
                .push_bind(unit.part.map(i64::from))
                .push_bind(start)
                .push_bind(end)
                .push_bind(unit.sha256.as_str())
                .push_bind(unit.body.as_str());
        });
        query.push(
            " ON CONFLICT (document, generation, ordinal) DO UPDATE SET \
             unit_id = excluded.unit_id, path = excluded.path, part = excluded.part, \
             start_byte = excluded.start_byte, end_byte = excluded.end_byte, \
             sha256 = excluded.sha256, body = excluded.body",
        );
        query
            .build()
            .execute(&mut *conn)
            .await
            .map_err(sql("writing units"))?;
    }
    Ok(())
}
