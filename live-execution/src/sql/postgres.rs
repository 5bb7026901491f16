//! The PostgreSQL backend (feature `postgres`), for several runners sharing one database: the
//! connection (TLS, schema, roles and grants) and its [`Dialect`].
//! Compare-and-set rows are read `FOR UPDATE` inside the operation's transaction, so two runs
//! racing for a document serialise on its row and the second sees the first's fence. Snapshots
//! read at `REPEATABLE READ`. Ids are `COLLATE "C"`: ordered bytewise, as in Rust and SQLite.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection, Postgres, Transaction};
use url::Url;

use crate::domain::Unit;
use crate::error::AdapterError;
use crate::sql::dialect::{BodyHashing, BulkReads, Dialect, batch_reads, batch_writes};
use crate::sql::error::{SqlError, TlsAsked, connecting, db, sql};
use crate::sql::migrations::Migration;
use crate::sql::pg_copy;
use crate::sql::{ConnectOptions, Mode, SLOW_STATEMENT, SLOW_STATEMENT_LEVEL};

/// The PostgreSQL pool.
pub(crate) type Pool = sqlx::PgPool;

/// How long to wait for the server to answer a new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of binary `COPY` data encoded before they are sent: the encoded batch is never held
/// whole, whatever the batch's size.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// The sha256 of a stored body, computed by the server.
macro_rules! body_sha256 {
    () => {
        "encode(sha256(convert_to(body, 'UTF8')), 'hex')"
    };
}

impl Dialect for Postgres {
    /// iu-cutter's own schema is the connection's `search_path`: an application table is named
    /// with its schema, `public` when none is written.
    const DEFAULT_SOURCE_SCHEMA: Option<&'static str> = Some("public");

    const KEY_COLLATE: &'static str = " COLLATE \"C\"";

    const SQL_SHA256: Option<&'static str> = Some("encode(sha256(convert_to({}, 'UTF8')), 'hex')");

    const READER_VIEW_TAG: &'static str = "SELECT obj_description(to_regclass($1), 'pg_class')";

    const TAG_READER_VIEW: Option<&'static str> = Some("COMMENT ON VIEW active_units IS '{}'");
    /// `STABLE` (it never writes: PostgreSQL refuses a write in it) and `SECURITY DEFINER`
    /// with a fixed `search_path`, so that readers need no privilege on the source table, as
    /// with a view that read it; the statement is built by `init` from validated, quoted
    /// identifiers and the checked filter, and dollar-quoted (neither may hold a `$`). A mapping
    /// the application's DDL broke is said by name, with the next action.
    const SOURCE_MOVED_FUNCTION: Option<&'static str> = Some(
        r#"CREATE OR REPLACE FUNCTION source_moved(document TEXT, cut_sha256 TEXT,
                                        cut_source_revision TEXT)
RETURNS BOOLEAN LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    moved BOOLEAN;
BEGIN
    EXECUTE $q${query}$q$ INTO moved USING document, cut_sha256, cut_source_revision;
    RETURN moved;
EXCEPTION WHEN undefined_column OR undefined_table OR undefined_function
               OR datatype_mismatch OR invalid_text_representation OR cannot_coerce THEN
    RAISE EXCEPTION 'iu-cutter''s reader view cannot compare the source {table}: %', SQLERRM
        USING HINT = 'the table no longer has what [source] maps; fix [source] in cutter.toml, '
                     'then run iu-cutter init --execute';
END
$fn$"#,
    );

    const REPLACE_VIEW_IN_PLACE: bool = true;

    /// In the first schema of the `search_path` only: iu-cutter's own, never the application's.
    const RELATION_EXISTS: &'static str = "SELECT EXISTS (SELECT 1 FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relname = $1 AND n.nspname = current_schema())";

    const COLUMN_TYPE: Option<&'static str> = Some(
        "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped",
    );

    /// Compare-and-set rows are read `FOR UPDATE`, so two runs racing for a document serialise
    /// on its row and the second sees the first's fence.
    const ROW_LOCKS: bool = true;

    /// The body never crosses the wire.
    const BODY_HASHING: BodyHashing = BodyHashing::InServer {
        staged_units: crate::sql::dialect::for_update!(
            "SELECT ordinal, unit_id, path, part, start_byte, end_byte, sha256, \
             encode(sha256(convert_to(body, 'UTF8')), 'hex')",
            ", document FROM units WHERE generation = $2 AND document = ANY (ARRAY(\
             SELECT json_array_elements_text(CAST($1 AS json)))) \
             ORDER BY document, ordinal"
        ),
        // The concatenation is an uncorrelated subquery, computed once per statement: the
        // document's bodies are joined and hashed in the server, and never sent.
        generation_digests: concat!(
            "SELECT ordinal, unit_id, path, part, start_byte, end_byte, sha256, ",
            body_sha256!(),
            ", CAST(octet_length(convert_to(body, 'UTF8')) AS BIGINT), \
             (SELECT encode(sha256(convert_to(string_agg(c.body, '' ORDER BY c.ordinal), \
                                              'UTF8')), 'hex') \
                FROM units c WHERE c.document = $1 AND c.generation = $2) \
             FROM units WHERE document = $1 AND generation = $2 ORDER BY ordinal"
        ),
        // Each document's concatenation computed once, by a grouped subquery joined to its
        // units: one statement for a batch of documents instead of one per document. Both sides
        // name the ids, so that each reads the batch's units by the primary key (the join alone
        // let the outer side scan the whole generation: 15.5 s for 1 M units, three calls).
        generation_digests_of: "\
SELECT u.ordinal, u.unit_id, u.path, u.part, u.start_byte, u.end_byte, u.sha256,
       encode(sha256(convert_to(u.body, 'UTF8')), 'hex'),
       CAST(octet_length(convert_to(u.body, 'UTF8')) AS BIGINT), c.concatenated, u.document
  FROM units u
  JOIN (SELECT document,
               encode(sha256(convert_to(string_agg(body, '' ORDER BY ordinal), 'UTF8')), 'hex')
                 AS concatenated
          FROM units
         WHERE generation = $2
           AND document = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
         GROUP BY document) c ON c.document = u.document
 WHERE u.generation = $2
   AND u.document = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 ORDER BY u.document, u.ordinal",
    };

    /// A unit row's `xmin` is the transaction (or subtransaction) that wrote that version of it:
    /// an update or a re-insert, through triggers or not (`session_replication_role = replica`),
    /// makes a new version with a later one. `xmin` is 32 bits: it is widened against the newest
    /// transaction (`last`), which is exact for any transaction less than 2^31 old, and the
    /// snapshot must be that recent and not ahead of the server, else nothing is proved. Compared
    /// with the snapshot's `xmin` (every transaction below it had ended when it was taken), not
    /// its list of running ones: a subtransaction's id is never in that list, but is above its
    /// parent's, so it is below `xmin` only if its parent had ended. `xmin` below 3 (frozen or
    /// bootstrap ids) proves nothing.
    const STAGED_UNCHANGED: Option<&'static str> = Some(
        "\
SELECT u.document, CAST(count(*) AS BIGINT),
       coalesce(bool_and(x.raw >= 3
                         AND n.last - ((n.last - x.raw) & 4294967295) < s.xmin
                         AND s.xmin <= n.last + 1
                         AND s.xmin > n.last - 2147483648), FALSE)
  FROM units u
 CROSS JOIN LATERAL (SELECT CAST(CAST(u.xmin AS TEXT) AS BIGINT) AS raw) x
 CROSS JOIN (SELECT CAST(CAST(pg_snapshot_xmax(pg_current_snapshot()) AS TEXT) AS BIGINT) - 1
                    AS last) n
 CROSS JOIN (SELECT CAST(CAST(pg_snapshot_xmin(CAST($3 AS pg_snapshot)) AS TEXT) AS BIGINT)
                    AS xmin) s
 WHERE u.generation = $2
   AND u.document = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 GROUP BY u.document",
    );

    /// Ordered rows: the census as three ordered queries in one snapshot (280-310 ms against
    /// 110-170 ms for the unit rows of the bench store as JSON, in psql), and unit reads one row
    /// per unit (encoding bodies as JSON only to decode them again made a read-back of 56,000
    /// units twice as slow). Ids are `COLLATE "C"`: ordered bytewise, as in Rust and SQLite.
    const BULK_READS: BulkReads = BulkReads::Rows {
        census_documents: "\
SELECT id, revision, sha256, state, cutting_run, active_generation
  FROM documents ORDER BY id",
        census_generations: "\
SELECT document, generation, state FROM generations ORDER BY document, generation",
        census_units: "\
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256
  FROM units ORDER BY document, generation, ordinal",
        // The ids as an array, so that each table is read by its primary key's index.
        scope_census: [
            "\
SELECT id, revision, sha256, state, cutting_run, active_generation
  FROM documents WHERE id = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 ORDER BY id",
            "\
SELECT document, generation, state FROM generations
 WHERE document = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 ORDER BY document, generation",
            "\
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256
  FROM units WHERE document = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 ORDER BY document, generation, ordinal",
        ],
        generation_units: "\
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256, body
  FROM units WHERE document = $1 AND generation = $2 ORDER BY ordinal",
        active_units: "\
SELECT u.document, u.generation, u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
       u.end_byte, u.sha256, u.body
  FROM documents d JOIN units u ON u.document = d.id AND u.generation = d.active_generation
 WHERE d.id = $1 ORDER BY u.ordinal",
        active_units_of: "\
SELECT u.document, u.generation, u.ordinal, u.unit_id, u.path, u.part, u.start_byte,
       u.end_byte, u.sha256, u.body
  FROM documents d JOIN units u ON u.document = d.id AND u.generation = d.active_generation
 WHERE d.id = ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))
 ORDER BY u.document, u.ordinal",
    };

    const MIGRATIONS_TABLE_EXISTS: &'static str = "SELECT to_regclass($1) IS NOT NULL";

    /// The snapshot itself (`xmin:xmax:xip,…`): as the first statement of a `REPEATABLE READ`
    /// transaction, the one every later statement of it reads.
    const CHANGE_MARK: &'static str = "SELECT CAST(pg_current_snapshot() AS TEXT)";

    /// Stamped by a transaction the snapshot cannot see: below its `xmin` every transaction
    /// had ended when it was taken (the index on `mark` bounds the scan).
    /// A window covers the mark when the mark sees the entry before the run's fence and not the
    /// fence's: the document's writers commit in the order of their stamps (each waits for
    /// the previous one's lock on its log row), and every later write of the run was given
    /// its id after the fence committed, so after any snapshot that did not see the fence.
    const CHANGED_SINCE: &'static str = "SELECT c.document FROM document_changes c \
         WHERE c.mark >= pg_snapshot_xmin(CAST($1 AS pg_snapshot)) \
           AND NOT pg_visible_in_snapshot(c.mark, CAST($1 AS pg_snapshot)) \
           AND NOT EXISTS (SELECT 1 FROM document_change_windows w \
                WHERE w.document = c.document AND w.at = c.mark \
                  AND pg_visible_in_snapshot(w.seen, CAST($1 AS pg_snapshot)) \
                  AND NOT pg_visible_in_snapshot(w.fenced, CAST($1 AS pg_snapshot))) \
         ORDER BY c.document";

    /// Only over this transaction's own stamp: a document the rollback did not stamp is left.
    const OPEN_WINDOW: &'static str = "INSERT INTO document_change_windows \
         (document, at, seen, census, fenced) \
         SELECT c.document, c.mark, h.entry_before, $3, h.entry_fenced \
           FROM document_changes c JOIN document_change_holds h ON h.document = c.document \
          WHERE c.document = $1 AND h.run = $2 AND h.entry_own = c.mark \
            AND c.mark = pg_current_xact_id() \
            AND pg_visible_in_snapshot(h.entry_before, CAST($3 AS pg_snapshot)) \
            AND NOT pg_visible_in_snapshot(h.entry_fenced, CAST($3 AS pg_snapshot)) \
         ON CONFLICT (document) DO UPDATE SET at = excluded.at, seen = excluded.seen, \
         census = excluded.census, fenced = excluded.fenced";

    // The ids as an array, so that each table is read by its primary key's index, in its order.
    batch_reads!(
        in_ids: "= ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))",
        body: "encode(sha256(convert_to(body, 'UTF8')), 'hex')"
    );

    batch_writes!(
        rows: "(SELECT e->>0 AS c0, e->>1 AS c1, e->>2 AS c2, e->>3 AS c3, e->>4 AS c4, \
               e->>5 AS c5, e->>6 AS c6, e->>7 AS c7, e->>8 AS c8 \
               FROM json_array_elements(CAST($1 AS json)) AS e)",
        in_ids: "= ANY (ARRAY(SELECT json_array_elements_text(CAST($1 AS json))))",
        entry: "xid8"
    );

    /// Every transaction the mark's snapshot knew of (below its `xmax`) has an id this server
    /// has given out: a server whose ids are behind is another one (a logical dump and
    /// restore), where ids the mark takes for committed ones are new.
    const MARK_REACHED: &'static str = "SELECT pg_snapshot_xmax(CAST($1 AS pg_snapshot)) \
         <= pg_snapshot_xmax(pg_current_snapshot())";

    const MARK_BACKEND: &'static str = "postgres";

    /// `xmin:xmax:` and the in-progress ids, comma-separated: digits, two colons, commas.
    fn mark_is_well_formed(mark: &str) -> bool {
        let mut parts = mark.split(':');
        let numbers = |part: Option<&str>| {
            part.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        };
        numbers(parts.next())
            && numbers(parts.next())
            && parts
                .next()
                .is_some_and(|xip| xip.is_empty() || xip.split(',').all(|x| numbers(Some(x))))
            && parts.next().is_none()
    }

    /// Serialises concurrent `init`s on the bookkeeping table.
    const LOCK_MIGRATIONS: Option<&'static str> =
        Some("LOCK TABLE schema_migrations IN EXCLUSIVE MODE");

    const NOW_MS: &'static str =
        "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT)";

    const PUT_LEASE: &'static str = "INSERT INTO run_leases (run, holder, expires_at_ms) \
         VALUES ($1, $2, CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000) AS BIGINT) \
         + $3) ON CONFLICT (run) DO UPDATE SET holder = excluded.holder, \
         expires_at_ms = excluded.expires_at_ms RETURNING expires_at_ms";

    fn migration_text(migration: &Migration) -> &'static str {
        migration.postgres
    }

    /// A plain transaction: the rows it must compare are read `FOR UPDATE`.
    async fn begin_write(pool: &Pool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin().await
    }

    /// `REPEATABLE READ READ ONLY`: one snapshot.
    async fn begin_read(pool: &Pool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
    }

    /// iu-cutter's ids are `COLLATE "C"`: bytewise in the database's encoding, which keeps code
    /// point order in UTF-8 (and `SQL_ASCII`, which stores the client's UTF-8 as it is).
    async fn ids_compare_as_utf8(pool: &Pool) -> Result<bool, sqlx::Error> {
        let encoding: String = sqlx::query_scalar("SELECT current_setting('server_encoding')")
            .fetch_one(pool)
            .await?;
        Ok(matches!(encoding.as_str(), "UTF8" | "SQL_ASCII"))
    }

    /// PostgreSQL text cannot hold NUL characters.
    fn check_text(what: &str, text: &str) -> Result<(), AdapterError> {
        if text.contains('\0') {
            return Err(AdapterError::Invalid(format!(
                "{what} contains a NUL character, which PostgreSQL cannot store"
            )));
        }
        Ok(())
    }

    /// A binary `COPY` of the batch into the session's staging table, then one `INSERT …
    /// SELECT` from it into `units`: a plain insert when none of their keys exist yet (the
    /// caller holds the documents' row locks, so none can appear meanwhile), else `ON CONFLICT
    /// DO UPDATE`. The `INSERT` fires the change log's statement triggers on `units` as any
    /// insert does (the staging table has none); the staging table is emptied at commit and its
    /// rows roll back with the transaction.
    async fn insert_units(conn: &mut PgConnection, units: &[&Unit]) -> Result<(), AdapterError> {
        if units.is_empty() {
            return Ok(());
        }
        let statement = if any_exists(conn, units).await? {
            UPSERT_STAGED_UNITS
        } else {
            INSERT_STAGED_UNITS
        };
        ensure_staging(conn).await?;
        let staged = copy_to_staging(conn, units).await?;
        let written = sqlx::query(statement)
            .execute(&mut *conn)
            .await
            .map_err(sql(WRITING_UNITS))?
            .rows_affected();
        // Each staged row is one unit of the batch, inserted or replaced once (the batch has at
        // most one unit per key); anything else means the staging table held other rows.
        if staged != units.len() as u64 || written != staged {
            return Err(AdapterError::Database(Box::new(SqlError::new(format!(
                "writing units: {} units in the batch, {staged} staged, {written} written",
                units.len()
            )))));
        }
        Ok(())
    }
}

/// What a failure of the unit writes is told as.
const WRITING_UNITS: &str = "writing units";

/// The session's staging table, where [`Dialect::insert_units`] copies a batch before inserting
/// it: temporary (never WAL-logged, invisible to other sessions), emptied at every commit.
const STAGING_TABLE: &str = "pg_temp.iu_cutter_staged_units";

/// Whether the session's staging table exists (its name, schema-qualified, is `$1`).
const STAGING_EXISTS: &str = "SELECT to_regclass($1) IS NOT NULL";

/// Plain insert: used when none of the batch's keys exist (the usual first write of a staged
/// generation), about twice as fast as the upsert below.
const INSERT_STAGED_UNITS: &str = "\
INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, end_byte,
                   sha256, body)
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256, body
  FROM pg_temp.iu_cutter_staged_units";

const UPSERT_STAGED_UNITS: &str = "\
INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, end_byte,
                   sha256, body)
SELECT document, generation, ordinal, unit_id, path, part, start_byte, end_byte, sha256, body
  FROM pg_temp.iu_cutter_staged_units
ON CONFLICT (document, generation, ordinal) DO UPDATE SET
    unit_id = excluded.unit_id, path = excluded.path, part = excluded.part,
    start_byte = excluded.start_byte, end_byte = excluded.end_byte,
    sha256 = excluded.sha256, body = excluded.body";

/// Creates the session's staging table unless it exists: once per connection, as a rule (a
/// transaction that rolls back takes its creation with it, and the next one creates it again).
/// Checked first rather than `IF NOT EXISTS`, whose notice would be logged at every batch.
async fn ensure_staging(conn: &mut PgConnection) -> Result<(), AdapterError> {
    let exists: bool = sqlx::query_scalar(STAGING_EXISTS)
        .bind(STAGING_TABLE)
        .fetch_one(&mut *conn)
        .await
        .map_err(sql(WRITING_UNITS))?;
    if exists {
        return Ok(());
    }
    let create = format!(
        "CREATE TEMPORARY TABLE iu_cutter_staged_units ({}) ON COMMIT DELETE ROWS",
        pg_copy::STAGING_COLUMNS
    );
    // A constant text: the table's name and pg_copy's column list.
    sqlx::query(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await
        .map_err(|error| db("creating the staging table for unit writes", error))?;
    Ok(())
}

/// Sends `units` to the staging table as one binary `COPY`, encoded [`COPY_CHUNK_BYTES`] at a
/// time; returns the rows the server copied. A unit that cannot be encoded aborts the `COPY`
/// (and the caller's transaction with it) before the server stores anything.
async fn copy_to_staging(conn: &mut PgConnection, units: &[&Unit]) -> Result<u64, AdapterError> {
    let statement = "COPY pg_temp.iu_cutter_staged_units FROM STDIN (FORMAT binary)";
    let mut copy = conn
        .copy_in_raw(statement)
        .await
        .map_err(sql(WRITING_UNITS))?;
    let mut buffer = Vec::with_capacity(COPY_CHUNK_BYTES);
    pg_copy::header(&mut buffer);
    for unit in units {
        if let Err(error) = pg_copy::unit_tuple(&mut buffer, unit) {
            // The server answers an abort with the error it was asked to raise.
            let _ = copy.abort(error.to_string()).await;
            return Err(error);
        }
        if buffer.len() >= COPY_CHUNK_BYTES {
            copy.send(std::mem::take(&mut buffer))
                .await
                .map_err(sql(WRITING_UNITS))?;
            buffer.reserve(COPY_CHUNK_BYTES);
        }
    }
    pg_copy::trailer(&mut buffer);
    copy.send(buffer).await.map_err(sql(WRITING_UNITS))?;
    copy.finish().await.map_err(sql(WRITING_UNITS))
}

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

/// The sslmodes PostgreSQL's libpq knows, all accepted (`allow` connects without TLS, as sqlx
/// implements it).
const SSL_MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// One TLS setting: the URL's query keys that set it (sqlx's spellings) and its variable.
struct TlsKey {
    name: &'static str,
    url_keys: &'static [&'static str],
    variable: &'static str,
}

impl TlsKey {
    /// The setting `name`, set by any of `url_keys` in the URL or by the variable `variable`.
    const fn new(
        name: &'static str,
        url_keys: &'static [&'static str],
        variable: &'static str,
    ) -> Self {
        TlsKey {
            name,
            url_keys,
            variable,
        }
    }
}

const SSLMODE: TlsKey = TlsKey::new("sslmode", &["sslmode", "ssl-mode"], "PGSSLMODE");
const SSLROOTCERT: TlsKey = TlsKey::new(
    "sslrootcert",
    &["sslrootcert", "ssl-root-cert", "ssl-ca"],
    "PGSSLROOTCERT",
);
const SSLCERT: TlsKey = TlsKey::new("sslcert", &["sslcert", "ssl-cert"], "PGSSLCERT");
const SSLKEY: TlsKey = TlsKey::new("sslkey", &["sslkey", "ssl-key"], "PGSSLKEY");

/// A setting's value and where it came from: the URL wins over the variable, as in sqlx.
fn setting(
    url: &Url,
    key: &TlsKey,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, String)> {
    let from_url = url
        .query_pairs()
        .filter(|(k, _)| key.url_keys.contains(&k.as_ref()))
        .last()
        .map(|(_, v)| (v.into_owned(), "from the URL".to_owned()));
    from_url.or_else(|| {
        env(key.variable)
            .filter(|v| !v.is_empty())
            .map(|v| (v, format!("from {}", key.variable)))
    })
}

/// The TLS settings of a connection to `url`, from its query and the `PGSSL*` variables (read
/// through `env`), checked before connecting: an unknown sslmode, a certificate or key file that
/// does not exist, or a client certificate without its key (or the reverse) is refused here,
/// naming the setting and where it came from.
pub(crate) fn tls_asked(
    url: &Url,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<TlsAsked, AdapterError> {
    let (mode, mode_origin) = setting(url, &SSLMODE, env)
        .unwrap_or_else(|| ("prefer".to_owned(), "the default".to_owned()));
    let mode = mode.to_ascii_lowercase();
    if !SSL_MODES.contains(&mode.as_str()) {
        return Err(AdapterError::Invalid(format!(
            "sslmode `{mode}` ({mode_origin}) is not an sslmode: use one of {}",
            SSL_MODES.join(", ")
        )));
    }
    let mut described = vec![format!("sslmode={mode} ({mode_origin})")];
    let mut files = Vec::new();
    for key in [&SSLROOTCERT, &SSLCERT, &SSLKEY] {
        let Some((value, origin)) = setting(url, key, env) else {
            files.push(None);
            continue;
        };
        let inline = value.trim_start().starts_with("-----BEGIN");
        if !inline && !std::path::Path::new(&value).is_file() {
            return Err(AdapterError::Invalid(format!(
                "{}={value} ({origin}): no such file",
                key.name
            )));
        }
        let shown = if inline {
            "<inline PEM>"
        } else {
            value.as_str()
        };
        described.push(format!("{}={shown} ({origin})", key.name));
        files.push(Some(origin));
    }
    if let [_, cert, key] = files.as_slice()
        && cert.is_some() != key.is_some()
    {
        return Err(AdapterError::Invalid(
            "a client certificate needs its key: set both sslcert and sslkey (or PGSSLCERT and \
             PGSSLKEY), or neither"
                .to_owned(),
        ));
    }
    Ok(TlsAsked {
        mode,
        described: described.join(", "),
    })
}

/// The process environment, as [`tls_asked`] reads it.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Opens a pool; with `pg_schema`, every connection's `search_path` is that schema, which `init`
/// creates if missing.
pub(super) async fn open(options: &ConnectOptions, mode: Mode) -> Result<Pool, AdapterError> {
    let location = options.location();
    let schema = schema_name(options)?;
    let url = Url::parse(options.url.trim()).map_err(|error| {
        AdapterError::Invalid(format!("cannot read the database URL {location}: {error}"))
    })?;
    let tls = tls_asked(&url, &process_env)?;
    let mut connect = PgConnectOptions::from_str(options.url.trim())
        .map_err(|error| {
            AdapterError::Invalid(format!("cannot read the database URL {location}: {error}"))
        })?
        .log_slow_statements(SLOW_STATEMENT_LEVEL, SLOW_STATEMENT);
    let mut settings: Vec<(&str, String)> = Vec::new();
    if let Some(schema) = schema {
        settings.push(("search_path", schema.to_owned()));
    }
    if let Some(timeouts) = options.pg_timeouts {
        settings.push(("lock_timeout", format!("{}ms", timeouts.lock.as_millis())));
        settings.push((
            "statement_timeout",
            format!("{}ms", timeouts.statement.as_millis()),
        ));
    }
    if !settings.is_empty() {
        connect = connect.options(settings.iter().map(|(k, v)| (*k, v.as_str())));
    }
    // One direct attempt first: a refused connection or bad credentials fail at once (the
    // pool would retry until its timeout), an unanswering host after CONNECT_TIMEOUT.
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&connect)).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
        Ok(Err(error)) => return Err(connecting(&location, error, Some(&tls))),
        Err(_) => {
            return Err(AdapterError::unavailable(
                crate::error::UnavailableKind::Connection,
                format!(
                    "cannot connect to {location}: no answer within {} s; check the URL, that \
                     the database server is running and reachable, and the credentials",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(5)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(connect);
    if let (Mode::Init, Some(schema)) = (mode, schema) {
        let mut create = sqlx::QueryBuilder::<Postgres>::new("CREATE SCHEMA IF NOT EXISTS ");
        create.push(schema);
        create
            .build()
            .execute(&pool)
            .await
            .map_err(|error| db("creating the schema", error))?;
    }
    Ok(pool)
}

/// iu-cutter's own tables, read from the text of its migrations (`CREATE TABLE [IF NOT EXISTS]
/// name`), so that a table a later migration adds is granted without anyone listing it here.
pub(crate) fn own_tables() -> Vec<String> {
    let texts = std::iter::once(crate::sql::migrations::CREATE_MIGRATIONS_TABLE).chain(
        crate::sql::migrations::MIGRATIONS
            .iter()
            .map(|m| m.postgres),
    );
    crate::sql::migrations::created_objects(texts)
        .into_iter()
        .filter(|(kind, _)| kind == "table")
        .map(|(_, name)| name)
        .collect()
}

/// The bookkeeping table, which the runtime role only reads (to check the schema version).
const MIGRATIONS_TABLE: &str = "schema_migrations";

/// The reader contract's view, which the runtime role reads too (`export`, `units`).
const READER_VIEW: &str = "active_units";

/// `"name"`, with any `"` doubled: a PostgreSQL identifier that is safe to splice into SQL.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statements that give `role` exactly what every command but `init` needs in `schema`:
/// USAGE on the schema, SELECT on `schema_migrations`, and SELECT, INSERT, UPDATE and DELETE on
/// iu-cutter's other tables. Nothing else: no CREATE, no TRUNCATE, no other table. A source table
/// mapped later needs one more statement, `GRANT SELECT ON <source> TO <role>`.
pub(crate) fn runtime_grants(schema: &str, role: &str) -> Vec<String> {
    let (schema, role_q) = (quote_ident(schema), quote_ident(role));
    let tables = own_tables();
    let data: Vec<String> = tables
        .iter()
        .filter(|t| *t != MIGRATIONS_TABLE)
        .map(|t| format!("{schema}.{}", quote_ident(t)))
        .collect();
    vec![
        format!("GRANT USAGE ON SCHEMA {schema} TO {role_q}"),
        format!(
            "GRANT SELECT ON {schema}.{} TO {role_q}",
            quote_ident(MIGRATIONS_TABLE)
        ),
        format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {} TO {role_q}",
            data.join(", ")
        ),
        format!(
            "GRANT SELECT ON {schema}.{} TO {role_q}",
            quote_ident(READER_VIEW)
        ),
    ]
}

/// Runs [`runtime_grants`] for the connection's current schema, in one transaction; returns the
/// schema and the statements run.
pub(crate) async fn grant_runtime(
    pool: &Pool,
    role: &str,
) -> Result<(String, Vec<String>), AdapterError> {
    if role.is_empty() || role.len() > 63 {
        return Err(AdapterError::Invalid(format!(
            "`{role}` is not a PostgreSQL role name (1 to 63 characters)"
        )));
    }
    let mut tx = pool.begin().await.map_err(sql("starting the grants"))?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut *tx)
        .await
        .map_err(sql("reading the current schema"))?;
    let schema = schema.ok_or_else(|| {
        AdapterError::unavailable(
            crate::error::UnavailableKind::NeedsInit,
            "the connection has no current schema (search_path names none that exists); run \
             `iu-cutter init` first",
        )
    })?;
    let statements = runtime_grants(&schema, role);
    for statement in &statements {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut *tx)
            .await
            .map_err(|error| db(&format!("granting ({statement})"), error))?;
    }
    tx.commit().await.map_err(sql("committing the grants"))?;
    Ok((schema, statements))
}

/// The schemas of the connection's `search_path` that exist but that the role may not use:
/// PostgreSQL then resolves nothing in them, so a store without `USAGE` looks uninitialised.
pub(crate) async fn schemas_without_usage(pool: &Pool) -> Result<Vec<String>, AdapterError> {
    sqlx::query_scalar(
        "SELECT CAST(nspname AS TEXT) FROM pg_namespace \
         WHERE nspname = ANY(string_to_array(replace(replace(current_setting('search_path'), \
               ' ', ''), '\"', ''), ',')) \
           AND NOT has_schema_privilege(oid, 'USAGE') ORDER BY nspname",
    )
    .fetch_all(pool)
    .await
    .map_err(sql("reading the search_path's privileges"))
}

/// The database role this connection acts as (`current_user`), for the audit trail.
pub(crate) async fn current_user(pool: &Pool) -> Result<String, AdapterError> {
    sqlx::query_scalar("SELECT CAST(current_user AS TEXT)")
        .fetch_one(pool)
        .await
        .map_err(sql("reading current_user"))
}

/// Whether any unit of `units` already has a row: one index range probe per (document,
/// generation) of the batch.
async fn any_exists(conn: &mut PgConnection, units: &[&Unit]) -> Result<bool, AdapterError> {
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
        .map_err(sql(WRITING_UNITS))?;
        if exists {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn asked(url: &str, env: &[(&str, &str)]) -> Result<TlsAsked, AdapterError> {
        let url = Url::parse(url).map_err(|e| AdapterError::Invalid(e.to_string()))?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = move |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        tls_asked(&url, &lookup)
    }

    #[test]
    fn own_tables_are_read_from_the_migrations() {
        let tables = own_tables();
        for table in [
            "schema_migrations",
            "documents",
            "generations",
            "units",
            "runs",
            "control",
            "run_leases",
        ] {
            assert!(tables.iter().any(|t| t == table), "{table}: {tables:?}");
        }
        assert!(
            !tables.iter().any(|t| t.eq_ignore_ascii_case("if")),
            "{tables:?}"
        );
    }

    #[test]
    fn runtime_grants_name_every_table_and_only_dml() {
        let grants = runtime_grants("iu", "iu_runtime");
        assert_eq!(grants[0], "GRANT USAGE ON SCHEMA \"iu\" TO \"iu_runtime\"");
        assert_eq!(
            grants[1],
            "GRANT SELECT ON \"iu\".\"schema_migrations\" TO \"iu_runtime\""
        );
        assert!(
            grants[2].starts_with("GRANT SELECT, INSERT, UPDATE, DELETE ON \"iu\".\"documents\", "),
            "{grants:?}"
        );
        assert!(
            !grants
                .iter()
                .any(|g| g.contains("CREATE") || g.contains("ALL"))
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn sslmode_comes_from_the_url_then_pgsslmode_then_the_default() -> TestResult {
        let tls = asked("postgres://h/db", &[])?;
        assert_eq!(tls.mode, "prefer");
        assert_eq!(tls.described, "sslmode=prefer (the default)");
        let tls = asked("postgres://h/db", &[("PGSSLMODE", "require")])?;
        assert_eq!(tls.described, "sslmode=require (from PGSSLMODE)");
        let tls = asked(
            "postgres://h/db?sslmode=verify-full",
            &[("PGSSLMODE", "disable")],
        )?;
        assert_eq!(tls.described, "sslmode=verify-full (from the URL)");
        Ok(())
    }

    #[test]
    fn certificate_files_are_checked_and_named_with_their_origin() -> TestResult {
        let dir = std::env::temp_dir().join(format!("iu-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let ca = dir.join("ca.crt");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\n")?;
        let ca = ca.display().to_string();
        let tls = asked(
            "postgres://h/db?sslmode=verify-ca",
            &[("PGSSLROOTCERT", ca.as_str())],
        )?;
        assert_eq!(
            tls.described,
            format!("sslmode=verify-ca (from the URL), sslrootcert={ca} (from PGSSLROOTCERT)")
        );
        let missing = asked("postgres://h/db?sslrootcert=/nonexistent/ca.crt", &[]);
        assert!(
            matches!(&missing, Err(AdapterError::Invalid(m)) if m.contains("sslrootcert=/nonexistent/ca.crt (from the URL): no such file")),
            "{missing:?}"
        );
        let half = asked(&format!("postgres://h/db?sslcert={ca}"), &[]);
        assert!(
            matches!(&half, Err(AdapterError::Invalid(m)) if m.contains("needs its key")),
            "{half:?}"
        );
        let both = asked(
            &format!("postgres://h/db?sslcert={ca}"),
            &[("PGSSLKEY", ca.as_str())],
        )?;
        assert!(both.described.contains("sslkey="), "{both:?}");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn an_unknown_sslmode_is_refused_wherever_it_comes_from() {
        for (url, env) in [
            ("postgres://h/db?sslmode=on", vec![]),
            ("postgres://h/db", vec![("PGSSLMODE", "yes")]),
        ] {
            let result = asked(url, &env);
            assert!(
                matches!(&result, Err(AdapterError::Invalid(m)) if m.contains("is not an sslmode")),
                "{url} {env:?}: {result:?}"
            );
        }
    }
}
