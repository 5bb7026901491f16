//! The SQLite backend (feature `sqlite`, SQLite bundled into the binary): one database file in
//! WAL mode, `synchronous = NORMAL`, foreign keys on, a 5 s busy timeout; and its [`Dialect`].
//! Write transactions begin `IMMEDIATE`, so a transaction that will write holds the write lock
//! from its first read and concurrent writers queue instead of failing to upgrade; rows need no
//! locks of their own.

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions as _, Sqlite, Transaction};

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::codec::to_db;
use crate::sql::dialect::{BodyHashing, BulkReads, Dialect, batch_reads, batch_writes};
use crate::sql::error::{connecting, sql};
use crate::sql::layout::{self, Layout, PREFIX};
use crate::sql::migrations::Migration;
use crate::sql::{ConnectOptions, Mode, SLOW_STATEMENT, SLOW_STATEMENT_LEVEL};

/// The SQLite pool.
pub(crate) type Pool = sqlx::SqlitePool;

/// Units per multi-row upsert: 10 parameters each, well under SQLite's 32766.
const UNITS_PER_STATEMENT: usize = 1000;

/// Opens a pool on the file at `path`; only `init` may create it.
pub(super) async fn open(
    options: &ConnectOptions,
    path: &Path,
    mode: Mode,
) -> Result<Pool, AdapterError> {
    let location = options.location();
    if mode != Mode::Init && !path.exists() {
        return Err(AdapterError::unavailable(
            crate::error::UnavailableKind::NeedsInit,
            format!(
                "no SQLite database at {location}; run `iu-cutter init` with this URL to create \
                 it (or fix the path)"
            ),
        ));
    }
    let connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(mode == Mode::Init);
    // Switching to WAL persists in the file: only a command that writes does it, never one that
    // only looks (the file may be an application's, holding its `[source]` table).
    let connect = if mode == Mode::Inspect {
        connect.read_only(true)
    } else {
        connect.journal_mode(SqliteJournalMode::Wal)
    };
    let connect = connect
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

/// The layout of iu-cutter's objects in the file: prefixed where its prefixed migrations table
/// is, plain where its plain one is, `wanted` where neither is yet (`init` then creates it so).
/// A migrations table without a `checksum` column is not iu-cutter's (an application may have
/// its own `schema_migrations`). Both layouts at once is refused: which one is the store?
pub(super) async fn layout(pool: &Pool, wanted: Layout) -> Result<Layout, AdapterError> {
    let (prefixed, plain): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info($1) WHERE name = 'checksum'), \
                EXISTS (SELECT 1 FROM pragma_table_info($2) WHERE name = 'checksum')",
    )
    .bind(format!("{PREFIX}schema_migrations"))
    .bind("schema_migrations")
    .fetch_one(pool)
    .await
    .map_err(sql("reading which tables iu-cutter has in the file"))?;
    match (prefixed, plain) {
        (true, true) => Err(AdapterError::unavailable(
            crate::error::UnavailableKind::EditedSchema,
            format!(
                "the file holds two iu-cutter stores, one with prefixed tables \
                 ({PREFIX}schema_migrations, …) and one without (schema_migrations, …): \
                 iu-cutter cannot tell which is this store's; move one of them to a file of its \
                 own"
            ),
        )),
        (true, false) => Ok(Layout::Prefixed),
        (false, true) => Ok(Layout::Plain),
        (false, false) => Ok(wanted),
    }
}

/// The census's columns of the document `d`, with its generation records and units as JSON
/// arrays: one list for the whole census and the scope census, which differ only in the documents
/// they read. A macro, so that each statement stays one `&'static str`.
macro_rules! census_columns {
    () => {
        "\
SELECT d.id, d.revision, d.sha256, d.state, d.cutting_run, d.active_generation,
       (SELECT json_group_array(json_array(g.generation, g.state))
          FROM generations g WHERE g.document = d.id),
       (SELECT json_group_array(json_array(u.generation, u.ordinal, u.unit_id, u.path, u.part,
                                           u.start_byte, u.end_byte, u.sha256))
          FROM units u WHERE u.document = d.id)
"
    };
}

impl Dialect for Sqlite {
    /// One file: an application table is in the same database as iu-cutter's.
    const DEFAULT_SOURCE_SCHEMA: Option<&'static str> = None;

    /// A cast keeps the column's collation: in `COLLATE NOCASE`, `B` and `b` grouped as one id
    /// and were refused as duplicates.
    const KEY_COLLATE: &'static str = " COLLATE BINARY";

    const SQL_SHA256: Option<&'static str> = None;

    const READER_VIEW_TAG: &'static str =
        "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = $1";

    const TAG_READER_VIEW: Option<&'static str> = None;
    const SOURCE_MOVED_FUNCTION: Option<&'static str> = None;
    const REPLACE_VIEW_IN_PLACE: bool = false;

    const RELATION_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = $1)";

    const COLUMN_TYPE: Option<&'static str> = None;

    /// SQLite has no row locks: `BEGIN IMMEDIATE` already holds the database's write lock.
    const ROW_LOCKS: bool = false;

    /// SQLite has no sha256: the body, an in-process copy, is hashed in Rust inside the same
    /// `IMMEDIATE` transaction.
    const BODY_HASHING: BodyHashing = BodyHashing::InRust;

    /// A SQLite row keeps nothing of the transaction that wrote it, and every other witness of
    /// a write (the change log's marks, `PRAGMA schema_version`) is one a writer can set back
    /// with plain SQL (see ARCHITECTURE.md, `StagedProof`): enact hashes the staged bodies.
    const STAGED_UNCHANGED: Option<&'static str> = None;

    /// One row per document, its generation records and units as JSON arrays: every row costs a
    /// hop from sqlx's SQLite worker thread plus an allocation per column.
    const BULK_READS: BulkReads = BulkReads::Json {
        census: concat!(
            census_columns!(),
            "  FROM documents d
 ORDER BY d.id"
        ),
        // Driven by the list (`CROSS JOIN` keeps it the outer loop, each id a primary-key
        // lookup), so that the cost is the scope's, whatever the store holds.
        scope_census: concat!(
            census_columns!(),
            "  FROM (SELECT DISTINCT value AS id FROM json_each($1)) AS s
 CROSS JOIN documents d
 WHERE d.id = s.id
 ORDER BY d.id"
        ),
        generation_units: "\
SELECT json_group_array(json_array(ordinal, unit_id, path, part, start_byte, end_byte, sha256,
                                   body))
  FROM units WHERE document = $1 AND generation = $2",
        active_units: "\
SELECT d.active_generation,
       (SELECT json_group_array(json_array(u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
                                           u.end_byte, u.sha256, u.body))
          FROM units u WHERE u.document = d.id AND u.generation = d.active_generation)
  FROM documents d WHERE d.id = $1",
        // Driven by the list, as `scope_census`: each id a primary-key lookup.
        active_units_of: "\
SELECT d.id, d.active_generation,
       (SELECT json_group_array(json_array(u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
                                           u.end_byte, u.sha256, u.body))
          FROM units u WHERE u.document = d.id AND u.generation = d.active_generation)
  FROM (SELECT DISTINCT value AS id FROM json_each($1)) AS s
 CROSS JOIN documents d
 WHERE d.id = s.id AND d.active_generation IS NOT NULL
 ORDER BY d.id",
    };

    const MIGRATIONS_TABLE_EXISTS: &'static str =
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)";

    /// The largest mark in the log (through its index): every later commit stamps above it.
    const CHANGE_MARK: &'static str =
        "SELECT CAST(coalesce((SELECT max(mark) FROM document_changes), 0) AS TEXT)";

    /// A window covers a mark at or above the entry before the run's fence and below the
    /// fence's: the counter orders every commit.
    // `INDEXED BY`: without statistics SQLite walks the whole log in id order (for the
    // `ORDER BY`) rather than seek the few entries after the mark and sort them; that made a
    // one-document run's cost grow with the store.
    const CHANGED_SINCE: &'static str = "SELECT c.document \
         FROM document_changes c INDEXED BY document_changes_by_mark \
         WHERE c.mark > CAST($1 AS INTEGER) \
           AND NOT EXISTS (SELECT 1 FROM document_change_windows w \
                WHERE w.document = c.document AND w.at = c.mark \
                  AND w.seen <= CAST($1 AS INTEGER) \
                  AND CAST($1 AS INTEGER) < w.fenced) \
         ORDER BY c.document";

    const OPEN_WINDOW: &'static str = "INSERT INTO document_change_windows \
         (document, at, seen, census, fenced) \
         SELECT c.document, c.mark, h.entry_before, CAST($3 AS INTEGER), h.entry_fenced \
           FROM document_changes c JOIN document_change_holds h ON h.document = c.document \
          WHERE c.document = $1 AND h.run = $2 AND h.entry_own = c.mark \
            AND h.entry_before <= CAST($3 AS INTEGER) \
            AND CAST($3 AS INTEGER) < h.entry_fenced \
         ON CONFLICT (document) DO UPDATE SET at = excluded.at, seen = excluded.seen, \
         census = excluded.census, fenced = excluded.fenced";

    batch_reads!(in_ids: "IN (SELECT value FROM json_each($1))", body: "body");

    batch_writes!(
        rows: "(SELECT json_extract(value, '$[0]') AS c0, json_extract(value, '$[1]') AS c1, \
               json_extract(value, '$[2]') AS c2, json_extract(value, '$[3]') AS c3, \
               json_extract(value, '$[4]') AS c4, json_extract(value, '$[5]') AS c5, \
               json_extract(value, '$[6]') AS c6, json_extract(value, '$[7]') AS c7, \
               json_extract(value, '$[8]') AS c8 FROM json_each($1))",
        in_ids: "IN (SELECT value FROM json_each($1))",
        entry: "INTEGER"
    );

    /// The log's largest mark is at least the mark: the counter never goes back in one file.
    const MARK_REACHED: &'static str = "SELECT CAST($1 AS INTEGER) \
         <= coalesce((SELECT max(mark) FROM document_changes), 0)";

    const MARK_BACKEND: &'static str = "sqlite";

    /// A counter value: decimal digits, within `i64`.
    fn mark_is_well_formed(mark: &str) -> bool {
        mark.parse::<i64>().is_ok_and(|mark| mark >= 0) && !mark.starts_with('+')
    }

    /// `BEGIN IMMEDIATE` already serialises concurrent `init`s.
    const LOCK_MIGRATIONS: Option<&'static str> = None;

    const NOW_MS: &'static str =
        "SELECT CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";

    const PUT_LEASE: &'static str = "INSERT INTO run_leases (run, holder, expires_at_ms) \
         VALUES ($1, $2, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER) + $3) \
         ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, \
         expires_at_ms = excluded.expires_at_ms RETURNING expires_at_ms";

    fn migration_text(migration: &Migration) -> &'static str {
        migration.sqlite
    }

    /// `IMMEDIATE`: the transaction holds the write lock from its first read, so concurrent
    /// writers queue instead of failing to upgrade.
    async fn begin_write(pool: &Pool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// WAL readers see one consistent state.
    async fn begin_read(pool: &Pool) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        pool.begin().await
    }

    /// A file's text encoding is set when it is created (an application's may be UTF-16).
    async fn ids_compare_as_utf8(pool: &Pool) -> Result<bool, sqlx::Error> {
        let encoding: String = sqlx::query_scalar("PRAGMA encoding")
            .fetch_one(pool)
            .await?;
        Ok(encoding == "UTF-8")
    }

    /// SQLite stores any text.
    fn check_text(_what: &str, _text: &str) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Multi-row `INSERT … ON CONFLICT DO UPDATE`, chunked under the bind-parameter limit.
    async fn insert_units(
        conn: &mut SqliteConnection,
        units: &[&Unit],
    ) -> Result<(), AdapterError> {
        let layout = layout::current()
            .ok_or_else(layout::unscoped)
            .map_err(sql("writing units"))?;
        for chunk in units.chunks(UNITS_PER_STATEMENT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for unit in chunk {
                rows.push((
                    unit,
                    to_db(unit.start, "unit start")?,
                    to_db(unit.end, "unit end")?,
                ));
            }
            let mut query = sqlx::QueryBuilder::<Sqlite>::new(layout.own(
                "INSERT INTO units (document, generation, ordinal, unit_id, path, part, \
                 start_byte, end_byte, sha256, body) ",
            ));
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
}

/// The steps of SQLite's plan of `statement` (its `detail` column) with `$1`, `$2`, … bound to
/// `values`: what the tests of a statement's use of an index read.
#[cfg(test)]
pub(crate) async fn query_plan(
    conn: &mut SqliteConnection,
    statement: &str,
    values: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    use sqlx::Row as _;
    let explain = format!("EXPLAIN QUERY PLAN {statement}");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(explain));
    for value in values {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(conn).await?;
    rows.iter().map(|row| row.try_get("detail")).collect()
}

/// A new store of iu-cutter's schema in a temporary directory (dropped with it), and a
/// connection to it.
#[cfg(test)]
pub(crate) async fn scratch_store()
-> Result<(tempfile::TempDir, SqliteConnection), Box<dyn std::error::Error>> {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    crate::sql::init_with(&ConnectOptions::new(url.clone())).await?;
    let conn = SqliteConnection::connect(&url).await?;
    Ok((dir, conn))
}

/// An application's file in a temporary directory (dropped with it), holding what `create`
/// (raw SQL) makes: the directory, the file's URL and a connection to it.
#[cfg(test)]
pub(crate) async fn scratch_app(
    create: &str,
) -> Result<(tempfile::TempDir, String, SqliteConnection), Box<dyn std::error::Error>> {
    use sqlx::Connection as _;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("app.db").display());
    let mut conn = SqliteConnection::connect(&url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(create.to_owned()))
        .execute(&mut conn)
        .await?;
    Ok((dir, url, conn))
}

/// A store of iu-cutter's schema in a UTF-16 (little-endian) file an application made, holding
/// one document `# {id}` of each of `ids`: where SQLite's `BINARY` collation compares UTF-16
/// bytes, not code points (`ÿ` U+00FF after `Ā` U+0100, `𝔸` before `ｚ`).
#[cfg(test)]
pub(crate) async fn utf16_store(
    ids: &[&str],
) -> Result<(tempfile::TempDir, crate::sql::SqlStore), Box<dyn std::error::Error>> {
    use crate::prelude::*;
    let (dir, url, conn) =
        scratch_app("PRAGMA encoding = 'UTF-16le'; CREATE TABLE app_notes (note TEXT);").await?;
    drop(conn);
    crate::sql::init(&url).await?;
    let store = crate::sql::SqlStore::open(&ConnectOptions::new(url)).await?;
    let documents: Vec<(crate::DocumentId, String)> = ids
        .iter()
        .map(|id| (crate::DocumentId::from(*id), format!("# {id}\n")))
        .collect();
    store.put_documents(&documents).await?;
    Ok((dir, store))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cost follows the scope: what changed since a mark is found by seeking the log's mark
    /// index, never by walking the whole log (which SQLite chose without statistics, to save
    /// the sort), in both layouts.
    #[tokio::test]
    async fn changes_since_a_mark_seek_the_mark_index() -> Result<(), Box<dyn std::error::Error>> {
        let (_dir, mut conn) = scratch_store().await?;
        let statement = Layout::Plain.own(Sqlite::CHANGED_SINCE);
        let plan = query_plan(&mut conn, statement, &["0"]).await?;
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH c USING INDEX document_changes_by_mark")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN c")),
            "{plan:?}"
        );
        assert!(
            Layout::Prefixed
                .own(Sqlite::CHANGED_SINCE)
                .contains("INDEXED BY iu_cutter_document_changes_by_mark"),
            "the prefixed layout names its own index"
        );
        Ok(())
    }
}
