//! The schema, as an ordered list of migrations. Each is applied in its own transaction and
//! recorded in `schema_migrations` with the sha256 of its SQL, so that [`super::connect`] can
//! refuse a database whose schema is missing, older, newer, or was changed by hand.
//!
//! Migrations are never edited once released: a change to the schema is a new entry at the end.
//! Each backend has its own text (PostgreSQL orders ids bytewise with `COLLATE "C"`, as Rust and
//! SQLite do), with the same tables, columns and constraints.

use std::fmt::Write as _;
use std::sync::LazyLock;

/// One schema migration.
#[derive(Debug)]
pub(crate) struct Migration {
    /// Applied in increasing order, from 1.
    pub(crate) version: u32,
    /// What it does, recorded with it.
    pub(crate) description: &'static str,
    /// The SQLite text.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) sqlite: &'static str,
    /// The PostgreSQL text.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) postgres: &'static str,
}

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 13;

/// The bookkeeping table, created before any migration runs.
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = "\
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     BIGINT NOT NULL PRIMARY KEY,
    description TEXT   NOT NULL,
    checksum    TEXT   NOT NULL,
    applied_at  TEXT   NOT NULL
)";

/// Every migration, in order. Built on first use, because migration 8's texts are generated
/// (see [`LOGGED_TABLES`]); every text is `'static`, as the dialects hand them out.
pub(crate) static MIGRATIONS: LazyLock<[Migration; SCHEMA_VERSION as usize]> = LazyLock::new(
    || {
        [
            Migration {
                version: 1,
                description: "documents, generations, units, the run journal, plans and the control row",
                sqlite: V1_SQLITE,
                postgres: V1_POSTGRES,
            },
            Migration {
                version: 2,
                description: "phase times and the journal of run reports",
                sqlite: V2_SQLITE,
                postgres: V2_POSTGRES,
            },
            Migration {
                version: 3,
                description: "run leases (one runner per run, with expiry)",
                sqlite: V3_SQLITE,
                postgres: V3_POSTGRES,
            },
            Migration {
                version: 4,
                description: "PostgreSQL: lz4 compression of plans, document bodies and reports",
                sqlite: V4_SQLITE,
                postgres: V4_POSTGRES,
            },
            Migration {
                version: 5,
                description: "run backups kept in the store, so a rollback works from any host",
                sqlite: V5_SQLITE,
                postgres: V5_POSTGRES,
            },
            Migration {
                version: 6,
                description: "typed evidence in the journal: counts are JSON numbers, checks booleans",
                sqlite: V6,
                postgres: V6,
            },
            Migration {
                version: 7,
                description: "source mapping columns, what each generation was cut from, and the \
                      reader contract: the view active_units (version 1)",
                sqlite: V7,
                postgres: V7,
            },
            Migration {
                version: 8,
                description: "the change log: the last change of every document's row, generation \
                      records or units, kept by triggers, so that a census need only read its \
                      scope and what changed since",
                sqlite: V8_SQLITE.as_str(),
                postgres: V8_POSTGRES.as_str(),
            },
            Migration {
                version: 9,
                description: "plans and backups journaled in parts, so that no statement carries \
                      a whole plan or backup",
                sqlite: V9_SQLITE,
                postgres: V9_POSTGRES,
            },
            Migration {
                version: 10,
                description: "rollback windows of the change log: a rollback that puts a document \
                      back exactly as a run's backup census saw it is no change for a mark that \
                      saw that census's state and none of the run's writes",
                sqlite: V10_SQLITE,
                postgres: V10_POSTGRES,
            },
            Migration {
                version: 11,
                description: "rollback windows from the store's own records: each document's \
                      change-log entry before a run's first write of it and after the run's \
                      last, a window bounded by the run's first write, and windows purged by \
                      the next change",
                sqlite: V11_SQLITE,
                postgres: V11_POSTGRES,
            },
            Migration {
                version: 12,
                description: "each phase's first start, kept by every later start (a resume): \
                      what bounds when a resumed enact may first have activated a document",
                sqlite: V12,
                postgres: V12,
            },
            Migration {
                version: 13,
                description: "each run's latest phase start, kept with the run and indexed with its \
                      status: the latest runs and the held ones are read without reading every \
                      run's phases",
                sqlite: V13_SQLITE,
                postgres: V13_POSTGRES,
            },
        ]
    },
);

const V1_SQLITE: &str = r#"
CREATE TABLE documents (
    id                TEXT   NOT NULL PRIMARY KEY,
    revision          BIGINT NOT NULL CHECK (revision >= 1),
    sha256            TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('ready', 'cutting', 'cut')),
    cutting_run       TEXT,
    active_generation TEXT,
    body              TEXT   NOT NULL,
    CHECK ((state = 'cutting') = (cutting_run IS NOT NULL))
);

CREATE TABLE generations (
    document   TEXT NOT NULL REFERENCES documents (id) DEFERRABLE INITIALLY DEFERRED,
    generation TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('staged', 'active', 'retired')),
    PRIMARY KEY (document, generation)
);

CREATE TABLE units (
    document   TEXT   NOT NULL,
    generation TEXT   NOT NULL,
    ordinal    BIGINT NOT NULL CHECK (ordinal >= 0),
    unit_id    TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    part       BIGINT,
    start_byte BIGINT NOT NULL,
    end_byte   BIGINT NOT NULL,
    sha256     TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    PRIMARY KEY (document, generation, ordinal)
);

CREATE TABLE runs (
    run            TEXT   NOT NULL PRIMARY KEY,
    schema_version BIGINT NOT NULL,
    scope          TEXT   NOT NULL,
    rules          TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    -- Reserved for `RunRecord::expected_plan_sha256` (`run --plan`), not yet in the seam.
    expected_plan_sha256 TEXT
);

CREATE TABLE run_phases (
    run      TEXT   NOT NULL REFERENCES runs (run),
    name     TEXT   NOT NULL,
    position BIGINT NOT NULL,
    status   TEXT   NOT NULL,
    evidence TEXT   NOT NULL,
    detail   TEXT,
    PRIMARY KEY (run, name)
);

CREATE TABLE run_plans (
    run    TEXT NOT NULL PRIMARY KEY REFERENCES runs (run),
    plan   TEXT NOT NULL,
    sha256 TEXT NOT NULL
);

CREATE TABLE control (
    id                BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    execution_enabled BOOLEAN NOT NULL,
    reason            TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);

INSERT INTO control (id, execution_enabled, reason, updated_at)
VALUES (1, TRUE, 'created by iu-cutter init (the control row only ever closes execution)',
        CAST(CURRENT_TIMESTAMP AS TEXT));
"#;

const V1_POSTGRES: &str = r#"
CREATE TABLE documents (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    revision          BIGINT NOT NULL CHECK (revision >= 1),
    sha256            TEXT   NOT NULL,
    state             TEXT   NOT NULL CHECK (state IN ('ready', 'cutting', 'cut')),
    cutting_run       TEXT COLLATE "C",
    active_generation TEXT COLLATE "C",
    body              TEXT   NOT NULL,
    CHECK ((state = 'cutting') = (cutting_run IS NOT NULL))
);

CREATE TABLE generations (
    document   TEXT COLLATE "C" NOT NULL REFERENCES documents (id) DEFERRABLE INITIALLY DEFERRED,
    generation TEXT COLLATE "C" NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('staged', 'active', 'retired')),
    PRIMARY KEY (document, generation)
);

CREATE TABLE units (
    document   TEXT COLLATE "C" NOT NULL,
    generation TEXT COLLATE "C" NOT NULL,
    ordinal    BIGINT NOT NULL CHECK (ordinal >= 0),
    unit_id    TEXT   NOT NULL,
    path       TEXT   NOT NULL,
    part       BIGINT,
    start_byte BIGINT NOT NULL,
    end_byte   BIGINT NOT NULL,
    sha256     TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    PRIMARY KEY (document, generation, ordinal)
);

CREATE TABLE runs (
    run            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    schema_version BIGINT NOT NULL,
    scope          TEXT   NOT NULL,
    rules          TEXT   NOT NULL,
    status         TEXT   NOT NULL,
    -- Reserved for `RunRecord::expected_plan_sha256` (`run --plan`), not yet in the seam.
    expected_plan_sha256 TEXT
);

CREATE TABLE run_phases (
    run      TEXT COLLATE "C" NOT NULL REFERENCES runs (run),
    name     TEXT   NOT NULL,
    position BIGINT NOT NULL,
    status   TEXT   NOT NULL,
    evidence TEXT   NOT NULL,
    detail   TEXT,
    PRIMARY KEY (run, name)
);

CREATE TABLE run_plans (
    run    TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES runs (run),
    plan   TEXT NOT NULL,
    sha256 TEXT NOT NULL
);

CREATE TABLE control (
    id                BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    execution_enabled BOOLEAN NOT NULL,
    reason            TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);

INSERT INTO control (id, execution_enabled, reason, updated_at)
VALUES (1, TRUE, 'created by iu-cutter init (the control row only ever closes execution)',
        CAST(CURRENT_TIMESTAMP AS TEXT));
"#;

const V2_SQLITE: &str = r#"
ALTER TABLE run_phases ADD COLUMN started_at TEXT;
ALTER TABLE run_phases ADD COLUMN finished_at TEXT;

CREATE TABLE run_reports (
    run      TEXT   NOT NULL REFERENCES runs (run),
    position BIGINT NOT NULL,
    sha256   TEXT   NOT NULL,
    report   TEXT   NOT NULL,
    PRIMARY KEY (run, position),
    UNIQUE (run, sha256)
);
"#;

const V2_POSTGRES: &str = r#"
ALTER TABLE run_phases ADD COLUMN started_at TEXT;
ALTER TABLE run_phases ADD COLUMN finished_at TEXT;

CREATE TABLE run_reports (
    run      TEXT COLLATE "C" NOT NULL REFERENCES runs (run),
    position BIGINT NOT NULL,
    sha256   TEXT   NOT NULL,
    report   TEXT   NOT NULL,
    PRIMARY KEY (run, position),
    UNIQUE (run, sha256)
);
"#;

// A lease may precede its run's journal entry (the runner leases a run before journaling it),
// so `run` has no foreign key. Expiry is in milliseconds on the database's clock.
const V3_SQLITE: &str = r#"
CREATE TABLE run_leases (
    run           TEXT   NOT NULL PRIMARY KEY,
    holder        TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
"#;

const V3_POSTGRES: &str = r#"
CREATE TABLE run_leases (
    run           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    holder        TEXT   NOT NULL,
    expires_at_ms BIGINT NOT NULL
);
"#;

// SQLite does not compress values: nothing to change, but the versions stay in lockstep so that
// one number names the schema on both backends.
const V4_SQLITE: &str = r#"
SELECT 4;
"#;

// Plans (megabytes of JSON), document bodies and reports are written and read whole, and pglz,
// the default, is slow on them: inserting an 11 MB plan took 0.55 s with pglz and 0.17 s with
// lz4 on PostgreSQL 15 (6.0 MB and 6.3 MB stored), and lz4 also decompresses faster. Only new
// values are affected; rows already stored stay readable as they are. A server built without
// lz4 (`feature_not_supported`) keeps pglz.
const V4_POSTGRES: &str = r#"
DO $$
BEGIN
    ALTER TABLE run_plans ALTER COLUMN plan SET COMPRESSION lz4;
    ALTER TABLE documents ALTER COLUMN body SET COMPRESSION lz4;
    ALTER TABLE run_reports ALTER COLUMN report SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
"#;

// A run's backup artifact (JSON Lines), journaled beside the file export so that `rollback`
// needs no particular host or working directory. `sha256` is that of `artifact`, recorded when it
// was written; the journal also holds it in the backup phase's evidence.
const V5_SQLITE: &str = r#"
CREATE TABLE run_backups (
    run      TEXT NOT NULL PRIMARY KEY REFERENCES runs (run),
    sha256   TEXT NOT NULL,
    artifact TEXT NOT NULL
);
"#;

const V5_POSTGRES: &str = r#"
CREATE TABLE run_backups (
    run      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES runs (run),
    sha256   TEXT NOT NULL,
    artifact TEXT NOT NULL
);

DO $$
BEGIN
    ALTER TABLE run_backups ALTER COLUMN artifact SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
"#;

// No table changes: the journal's evidence columns hold typed JSON from this version on (a count
// is `500`, no longer `"500"`), which a build before it cannot read. The version is what tells
// that build so, as "newer than this build", before it reads a run it would misreport as
// changed outside iu-cutter; this build still reads what the earlier ones wrote.
const V6: &str = "SELECT 1;";

/// The reader view's query, written once: migration 7 creates the view with it, and a store with
/// a source replaces the view with it (its `stale` then also comparing the source row). A macro,
/// so that the migration's text stays one string, checksummed as it always was.
macro_rules! reader_view_select {
    () => {
        r#"SELECT d.id                  AS document,
       g.cut_source_revision AS source_revision,
       CASE WHEN g.cut_sha256 IS NULL THEN d.state = 'ready'
            ELSE d.sha256 <> g.cut_sha256 END AS stale,
       u.unit_id             AS unit_id,
       u.ordinal             AS ordinal,
       u.path                AS path,
       u.part                AS part,
       u.start_byte          AS start_byte,
       u.end_byte            AS end_byte,
       u.body                AS text,
       u.sha256              AS sha256,
       d.metadata            AS metadata,
       g.generation          AS generation,
       (SELECT p.finished_at FROM run_phases p
         WHERE p.run = g.generation AND p.name = 'lifecycle-enact') AS enacted_at
  FROM documents d
  JOIN generations g ON g.document = d.id AND g.generation = d.active_generation
  JOIN units u ON u.document = d.id AND u.generation = d.active_generation"#
    };
}

// The same text on both backends. The reader contract, version 1: the view applications read the live units from. Its columns
// change only in a new migration, which says so in its description and in README ("Reading the
// units"). `stale` is true when the document's copy changed since its active generation was cut
// (a sync or an import brought a new body); for generations enacted before this version, which
// recorded nothing, when the document is `ready` (changed since it was cut).
//
// `documents.source_revision` and `metadata` are the application row's revision (as text) and
// its metadata columns (a JSON object of text values) as last synced; `generations.cut_sha256`
// and `cut_source_revision` are what the generation was cut from, recorded by enact.
const V7: &str = concat!(
    r#"
ALTER TABLE documents ADD COLUMN source_revision TEXT;
ALTER TABLE documents ADD COLUMN metadata TEXT;
ALTER TABLE generations ADD COLUMN cut_sha256 TEXT;
ALTER TABLE generations ADD COLUMN cut_source_revision TEXT;
CREATE INDEX documents_by_state ON documents (state);

CREATE VIEW active_units AS
"#,
    reader_view_select!(),
    ";\n"
);

// The change log (issue 15): one row per document, stamped by triggers on `documents`,
// `generations` and `units` whenever any writer (iu-cutter, another runner, the application's
// raw SQL) inserts, updates or deletes a row of that document, so that "what changed since this
// census" costs the changes, not the store. A census reads its scope and a mark in one snapshot;
// `changed_since(mark)` lists the documents changed in commits that snapshot could not see.
// Every existing document is seeded, so that a store upgraded from version 7 lists nothing
// until something changes.
//
// SQLite: writers are serialised, so a counter is enough: the mark of a change is one more
// than the largest mark in the log (read through the index on `mark`, no second row written
// per change); a census's mark is that largest mark as its snapshot sees it, and every commit
// after the snapshot stamps marks above it. No trigger skips a row that already carries the
// latest mark: that mark may have been committed by an earlier transaction, which a census may
// already have read, so skipping would miss the change (SQLite tells a trigger nothing of its
// transaction). An update that leaves its row as it was is not a change: a document row whose
// census columns and body are unchanged (a sync recording the source's revision or metadata),
// a generation or unit row unchanged in every column (an ORM saving what it read). Outside a
// run's scope such a false change would block its write-verify for good (the mark is the
// backup's) and fail a dry run's attestation. SQLite has no TRUNCATE (a DELETE without WHERE
// fires these triggers: SQLite skips its truncate optimisation on a table with triggers).
const V8_SQLITE_LOG: &str = r#"
CREATE TABLE document_changes (
    document TEXT   NOT NULL PRIMARY KEY,
    mark     BIGINT NOT NULL
);
CREATE INDEX document_changes_by_mark ON document_changes (mark);

INSERT INTO document_changes (document, mark) SELECT id, 0 FROM documents;
"#;

/// Migration 8's SQLite text: the log, then each logged table's triggers.
static V8_SQLITE: LazyLock<String> = LazyLock::new(|| {
    let mut text = String::from(V8_SQLITE_LOG);
    for table in &LOGGED_TABLES {
        for trigger in sqlite_log_triggers(table) {
            text.push('\n');
            text.push_str(&trigger);
        }
    }
    text
});

/// One logged table's SQLite triggers: an insert or delete stamps its row's document with the
/// next mark; an update that changes the row stamps its document, and the one it left.
fn sqlite_log_triggers(logged: &LoggedTable) -> [String; 3] {
    let LoggedTable {
        table,
        document,
        sqlite_changed,
        ..
    } = logged;
    let stamp = |row: &str| {
        format!(
            "    INSERT INTO document_changes (document, mark)
    VALUES ({row}.{document}, coalesce((SELECT max(mark) FROM document_changes), 0) + 1)
    ON CONFLICT (document) DO UPDATE SET mark = excluded.mark;
"
        )
    };
    let (new, old) = (stamp("NEW"), stamp("OLD"));
    [
        format!("CREATE TRIGGER {table}_log_insert AFTER INSERT ON {table} BEGIN\n{new}END;\n"),
        format!(
            "CREATE TRIGGER {table}_log_update AFTER UPDATE ON {table}
WHEN {sqlite_changed}
BEGIN
{new}    INSERT INTO document_changes (document, mark)
    SELECT OLD.{document}, coalesce((SELECT max(mark) FROM document_changes), 0) + 1
     WHERE OLD.{document} IS NOT NEW.{document}
    ON CONFLICT (document) DO UPDATE SET mark = excluded.mark;
END;
"
        ),
        format!("CREATE TRIGGER {table}_log_delete AFTER DELETE ON {table} BEGIN\n{old}END;\n"),
    ]
}

// PostgreSQL: transaction ids are not assigned in commit order, so a counter would miss a
// writer that began before a census and committed after it. Each change is stamped with its
// transaction's id (`pg_current_xact_id()`, 64 bits, never wraps), by statement-level triggers
// over the statement's transition tables: a bulk insert costs one upsert statement, not one per
// row. A census's mark is its snapshot (`pg_current_snapshot()`, the first statement of its
// `REPEATABLE READ` transaction), and the documents changed since are those whose stamp that
// snapshot cannot see. A row keeps only its last writer's id, which is enough: a later writer
// of the same document waits for the earlier one's row lock here, so it commits after it, and is
// invisible to every snapshot the earlier one is invisible to. An aborted transaction's stamp
// is rolled back with it. Ids are upserted in id order, so that two writers lock log rows in
// the same order. An UPDATE stamps only the documents of rows it changed (documents: by id,
// the census columns and the body; generations and units: every column, rows it left as they
// were cancelling out in `EXCEPT ALL`), as on SQLite. TRUNCATE fires no row or transition
// trigger, so a statement trigger on it stamps every document the log knows (the owner alone
// may truncate; it costs the store, as the truncate does). The log is named in the schema of
// the table whose trigger fired (`TG_TABLE_SCHEMA`), never through the writer's `search_path`:
// an application session whose path names another store, or none, writing this store's tables
// by their qualified names, stamps this store's log (through its path it would stamp the other
// store's, and this one would miss the change). `pg_current_xact_id` and `format` are named in
// `pg_catalog` for the same reason. Triggers do not fire under
// `session_replication_role = replica` (see ARCHITECTURE.md).
const V8_POSTGRES_LOG: &str = r#"
CREATE TABLE document_changes (
    document TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    mark     xid8 NOT NULL
);
CREATE INDEX document_changes_by_mark ON document_changes (mark);

INSERT INTO document_changes (document, mark) SELECT id, pg_current_xact_id() FROM documents;

CREATE FUNCTION document_changes_log() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT DISTINCT document, pg_catalog.pg_current_xact_id() FROM new_rows ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT document, pg_catalog.pg_current_xact_id() FROM (
                SELECT document FROM (TABLE new_rows EXCEPT ALL TABLE old_rows) AS added
                UNION
                SELECT document FROM (TABLE old_rows EXCEPT ALL TABLE new_rows) AS removed
            ) AS changed
            ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    ELSE
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT DISTINCT document, pg_catalog.pg_current_xact_id() FROM old_rows ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE FUNCTION document_changes_log_documents() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT id, pg_catalog.pg_current_xact_id() FROM new_rows ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT id, pg_catalog.pg_current_xact_id() FROM (
                SELECT n.id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
                 WHERE o.id IS NULL
                    OR (n.revision, n.sha256, n.state, n.cutting_run, n.active_generation, n.body)
                       IS DISTINCT FROM
                       (o.revision, o.sha256, o.state, o.cutting_run, o.active_generation, o.body)
                UNION
                SELECT o.id FROM old_rows o
                 WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id)
            ) AS changed
            ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    ELSE
        EXECUTE pg_catalog.format('INSERT INTO %I.document_changes (document, mark)
            SELECT id, pg_catalog.pg_current_xact_id() FROM old_rows ORDER BY 1
            ON CONFLICT (document) DO UPDATE SET mark = excluded.mark', TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END
$fn$;
"#;

/// Stamps every document the log knows, for a TRUNCATE (which fires no row trigger).
const V8_POSTGRES_TRUNCATE: &str = r#"
CREATE FUNCTION document_changes_log_truncate() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE pg_catalog.format('UPDATE %1$I.document_changes AS c
           SET mark = pg_catalog.pg_current_xact_id()
          FROM (SELECT document FROM %1$I.document_changes ORDER BY 1 FOR UPDATE) AS locked
         WHERE c.document = locked.document', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;
"#;

/// Migration 8's PostgreSQL text: the log and its functions, each logged table's statement
/// triggers, then the TRUNCATE function and its trigger on each logged table.
static V8_POSTGRES: LazyLock<String> = LazyLock::new(|| {
    let mut text = String::from(V8_POSTGRES_LOG);
    for LoggedTable {
        table,
        postgres_function: function,
        ..
    } in &LOGGED_TABLES
    {
        let _ = write!(
            text,
            "
CREATE TRIGGER {table}_log_insert AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_log_update AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {table}_log_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"
        );
    }
    text.push_str(V8_POSTGRES_TRUNCATE);
    text.push('\n');
    for LoggedTable { table, .. } in &LOGGED_TABLES {
        let _ = write!(
            text,
            "CREATE TRIGGER {table}_log_truncate AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION document_changes_log_truncate();
"
        );
    }
    text
});

/// A table whose rows belong to a document, and so whose changes migration 8 logs.
struct LoggedTable {
    /// Its name, which also names its triggers (`{table}_log_insert`, …).
    table: &'static str,
    /// The column naming the document a row belongs to.
    document: &'static str,
    /// SQLite: the `WHEN` of its update trigger, true when the update changed the row (the
    /// document's census columns and body; every column of the others), wrapped as released.
    sqlite_changed: &'static str,
    /// PostgreSQL: the function its insert, update and delete triggers execute.
    postgres_function: &'static str,
}

/// The logged tables, in the order their triggers were released.
const LOGGED_TABLES: [LoggedTable; 3] = [
    LoggedTable {
        table: "documents",
        document: "id",
        sqlite_changed: "OLD.id IS NOT NEW.id OR OLD.revision IS NOT NEW.revision \
OR OLD.sha256 IS NOT NEW.sha256
  OR OLD.state IS NOT NEW.state OR OLD.cutting_run IS NOT NEW.cutting_run
  OR OLD.active_generation IS NOT NEW.active_generation OR OLD.body IS NOT NEW.body",
        postgres_function: "document_changes_log_documents",
    },
    LoggedTable {
        table: "generations",
        document: "document",
        sqlite_changed: "OLD.document IS NOT NEW.document OR OLD.generation IS NOT NEW.generation
  OR OLD.state IS NOT NEW.state OR OLD.cut_sha256 IS NOT NEW.cut_sha256
  OR OLD.cut_source_revision IS NOT NEW.cut_source_revision",
        postgres_function: "document_changes_log",
    },
    LoggedTable {
        table: "units",
        document: "document",
        sqlite_changed: "OLD.document IS NOT NEW.document OR OLD.generation IS NOT NEW.generation
  OR OLD.ordinal IS NOT NEW.ordinal OR OLD.unit_id IS NOT NEW.unit_id OR OLD.path IS NOT NEW.path
  OR OLD.part IS NOT NEW.part OR OLD.start_byte IS NOT NEW.start_byte
  OR OLD.end_byte IS NOT NEW.end_byte OR OLD.sha256 IS NOT NEW.sha256 OR OLD.body IS NOT NEW.body",
        postgres_function: "document_changes_log",
    },
];

/// The reader view's query as migration 7 defines it (see `reader_view_select!`).
pub(crate) const READER_VIEW_SELECT: &str = reader_view_select!();

/// The objects `texts` create, in order, as `table documents`, `view active_units`, `index …`,
/// `trigger …` (`CREATE TABLE|VIEW|INDEX|TRIGGER [IF NOT EXISTS] name`): what `init` says it creates, and what the
/// grants cover, without anyone listing them by hand.
pub(crate) fn created_objects<'a>(
    texts: impl IntoIterator<Item = &'a str>,
) -> Vec<(String, String)> {
    let mut objects: Vec<(String, String)> = Vec::new();
    for text in texts {
        let mut words = text.split_whitespace();
        while let Some(word) = words.next() {
            if !word.eq_ignore_ascii_case("CREATE") {
                continue;
            }
            let mut rest = words.clone();
            let Some(kind) = rest.next().map(str::to_ascii_lowercase) else {
                continue;
            };
            if !["table", "view", "index", "trigger"].contains(&kind.as_str()) {
                continue;
            }
            let mut name = rest.next();
            if name.is_some_and(|w| w.eq_ignore_ascii_case("IF")) {
                // IF NOT EXISTS
                name = rest.nth(2);
            }
            if let Some(name) = name {
                let name = name.trim_end_matches('(').trim_matches('"').to_owned();
                if !name.is_empty() && !objects.iter().any(|(_, n)| *n == name) {
                    objects.push((kind, name));
                }
            }
        }
    }
    objects
}

// Plans and backups are journaled in parts, a few megabytes a row, so that no statement (and
// no copy the database driver makes of its values) carries a large scope's plan or backup whole.
// `run_plans.plan` holds the plan without its documents and `run_plan_parts` the documents, in
// order, as canonical JSON (`[DOCUMENT,…]`); `run_backups.artifact` followed by the
// `run_backup_parts` in order is the artifact, each part whole lines. The sha256 columns stay
// those of the whole texts. A plan or backup journaled before has no parts.
const V9_SQLITE: &str = r#"
CREATE TABLE run_plan_parts (
    run       TEXT   NOT NULL REFERENCES runs (run),
    seq       BIGINT NOT NULL CHECK (seq >= 0),
    plan_part TEXT   NOT NULL,
    PRIMARY KEY (run, seq)
);

CREATE TABLE run_backup_parts (
    run         TEXT   NOT NULL REFERENCES runs (run),
    seq         BIGINT NOT NULL CHECK (seq >= 0),
    backup_part TEXT   NOT NULL,
    PRIMARY KEY (run, seq)
);
"#;

const V9_POSTGRES: &str = r#"
CREATE TABLE run_plan_parts (
    run       TEXT COLLATE "C" NOT NULL REFERENCES runs (run),
    seq       BIGINT NOT NULL CHECK (seq >= 0),
    plan_part TEXT   NOT NULL,
    PRIMARY KEY (run, seq)
);

CREATE TABLE run_backup_parts (
    run         TEXT COLLATE "C" NOT NULL REFERENCES runs (run),
    seq         BIGINT NOT NULL CHECK (seq >= 0),
    backup_part TEXT   NOT NULL,
    PRIMARY KEY (run, seq)
);

DO $$
BEGIN
    ALTER TABLE run_plan_parts ALTER COLUMN plan_part SET COMPRESSION lz4;
    ALTER TABLE run_backup_parts ALTER COLUMN backup_part SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
"#;

// Rollback windows (migration 10): one row per rolled-back document. `at` is the change log's
// entry the rollback stamped; while the document's entry is still `at` (any later change
// stamps another, and the row no longer applies), `changed_since(mark)` leaves the document out
// for a mark that could see `seen` (the entry the run's backup census read, NULL for none) and
// nothing that census could not (`census`, that census's mark). Written by `restore` alone,
// only for a document its census shows exactly as the backup's census, in the same
// transaction; no trigger watches this table.
const V10_SQLITE: &str = r#"
CREATE TABLE document_change_windows (
    document TEXT   NOT NULL PRIMARY KEY,
    at       BIGINT NOT NULL,
    seen     BIGINT,
    census   BIGINT NOT NULL
);
"#;

const V10_POSTGRES: &str = r#"
CREATE TABLE document_change_windows (
    document TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    at       xid8 NOT NULL,
    seen     xid8,
    census   TEXT NOT NULL
);
"#;

// Rollback windows from the store's own records (migration 11). `document_change_holds` keeps,
// per document, the run that last fenced it and three change-log entries, each written by that
// run's own operations in their transactions: `entry_before`, the document's entry just before
// the fence's writes (NULL: none); `entry_fenced`, the entry the fence's writes left; and
// `entry_own`, the entry the run's last write of the document left, set to NULL for good when
// one of the run's operations finds the document's entry is not the one its previous write
// left (someone else changed the document while the run held it, if only to undo it). A later
// fence of the document, by any run, replaces the row; a rollback consumes it. The windows
// gain `fenced` (the hold's `entry_fenced`): a window covers a mark that saw `seen` and did not
// see `fenced`. The windows opened before, from a backup's own entries, are dropped (their
// rollbacks are changes for every earlier mark again), and any change to a document's log
// entry ends (deletes) its window, so the table holds only windows that still apply. On
// PostgreSQL that trigger's function runs as its owner (`SECURITY DEFINER`, its `search_path`
// fixed, every object named in the firing table's schema), so a writer allowed to write the
// logged tables needs no privilege on the windows to end one.
const V11_SQLITE: &str = r#"
CREATE TABLE document_change_holds (
    document     TEXT   NOT NULL PRIMARY KEY,
    run          TEXT   NOT NULL,
    entry_before BIGINT,
    entry_fenced BIGINT NOT NULL,
    entry_own    BIGINT
);

DELETE FROM document_change_windows;
ALTER TABLE document_change_windows ADD COLUMN fenced BIGINT;

CREATE TRIGGER document_changes_end_window_insert AFTER INSERT ON document_changes BEGIN
    DELETE FROM document_change_windows WHERE document = NEW.document;
END;

CREATE TRIGGER document_changes_end_window_update AFTER UPDATE ON document_changes BEGIN
    DELETE FROM document_change_windows WHERE document = NEW.document;
END;
"#;

const V11_POSTGRES: &str = r#"
CREATE TABLE document_change_holds (
    document     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    run          TEXT COLLATE "C" NOT NULL,
    entry_before xid8,
    entry_fenced xid8 NOT NULL,
    entry_own    xid8
);

DELETE FROM document_change_windows;
ALTER TABLE document_change_windows ADD COLUMN fenced xid8;

CREATE FUNCTION document_changes_end_windows() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    EXECUTE pg_catalog.format('DELETE FROM %I.document_change_windows AS w
        USING changed_rows AS c WHERE w.document = c.document', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER document_changes_end_window_insert AFTER INSERT ON document_changes
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_changes_end_windows();
CREATE TRIGGER document_changes_end_window_update AFTER UPDATE ON document_changes
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION document_changes_end_windows();
"#;

// Rows journaled before this version have no first start (NULL): nothing bounds it, and readers
// fall back to the run's earliest journaled step.
const V12: &str = "ALTER TABLE run_phases ADD COLUMN first_started_at TEXT;";

// `''` for a run that never started a phase: it orders before every time, as the oldest. Times are
// UTC RFC 3339 with milliseconds, which order as text (bytewise on PostgreSQL too, `COLLATE "C"`).
const V13_SQLITE: &str = r#"
ALTER TABLE runs ADD COLUMN last_started_at TEXT NOT NULL DEFAULT '';
UPDATE runs SET last_started_at = COALESCE(
    (SELECT MAX(p.started_at) FROM run_phases AS p WHERE p.run = runs.run), '');
CREATE INDEX runs_by_last_start ON runs (last_started_at, run);
CREATE INDEX runs_by_status ON runs (status, last_started_at, run);
"#;

const V13_POSTGRES: &str = r#"
ALTER TABLE runs ADD COLUMN last_started_at TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE runs SET last_started_at = COALESCE(
    (SELECT MAX(p.started_at COLLATE "C") FROM run_phases AS p WHERE p.run = runs.run), '');
CREATE INDEX runs_by_last_start ON runs (last_started_at, run);
CREATE INDEX runs_by_status ON runs (status, last_started_at, run);
"#;

/// sha256 of a migration's text, as recorded.
pub(crate) fn checksum(sql: &str) -> String {
    crate::census::sha256_hex(sql.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_from_one_and_end_at_schema_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, index + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(SCHEMA_VERSION));
    }

    /// Every released migration's text, by the checksum a migrated store recorded for it: a text
    /// that changes by one byte (an edit, or a generated text drifting from what was released)
    /// makes `connect` refuse every store already migrated.
    #[test]
    fn released_migration_texts_keep_their_checksums() {
        let released: [(u32, &str, &str); 12] = [
            (
                1,
                "6fc4e0433dbdc7927af9407c5ae8b673581d78f5a3893193c7481098cec7fc58",
                "30dcc0978d9e1effc0dece18a8d6d62b29606642c15790f66f0e765c30bcf4b3",
            ),
            (
                2,
                "9b5402fecec5127772fe8bca5bd4f792955c362a8ee21ef3071d427201d1b580",
                "6a3cf20f8a8f4e05b7861db1e1579454f861e543d09419273c13df8e7afad0a5",
            ),
            (
                3,
                "a9ca5083ed21f5bf421aec8d101f8b96d41680dd8ab04b1b4c158412a4ebc362",
                "f410170268a25e1fd0356afcf94967a1b681a87b9fe11a8b0d6a95c3ba9a4735",
            ),
            (
                4,
                "32b7d672145913784d2d5b50de3744136bca17a660673fa6eed40a670cefe0d8",
                "96f73820619cc1fc2430de7efcd4e3db7f128f31d6b781a3685d52a78a064126",
            ),
            (
                5,
                "afd0968ff3ae185294c8e6cdfa8bf78a59236fb5399a061987df68d3e6053d5f",
                "ff9395809494c6dcba699763792b19b011f35615ce4cef43b2d697d3ad54dc1b",
            ),
            (
                6,
                "17db4fd369edb9244b9f91d9aeed145c3d04ad8ba6e95d06247f07a63527d11a",
                "17db4fd369edb9244b9f91d9aeed145c3d04ad8ba6e95d06247f07a63527d11a",
            ),
            (
                7,
                "89899d2a7c655a06e3848e0e24c35160f808b4d53beb80735cf0ff1d0abae5bb",
                "89899d2a7c655a06e3848e0e24c35160f808b4d53beb80735cf0ff1d0abae5bb",
            ),
            (
                8,
                "8bd583b4898eae479bb0bbad2ff261cbc0b231df53b61c91849de3da2c8ea365",
                "7fddb2d6533c4aee4fcfc1c7d462348986027d072deacfa25688b0a27c70c07f",
            ),
            (
                9,
                "f2e7a9b43b3494a6e88f5408bf4839e6767a33a41bfc2678ced7fb7a06a6ecd9",
                "6692ac471146dcc977b6e9661a7aa9a6bbe610049eab0f046ac3f3708850390f",
            ),
            (
                10,
                "e2fccd0181ff5cc65762a8fa4bd5c0e7de27dec0c3895aeee047c5761916162e",
                "33cb58813f8e47a0c3242c4944b38428fddcccb116c71dadf35cd881fd9d0ea2",
            ),
            (
                11,
                "2299525a85127578dfe5b26f9c712d89fb6032619771efc950084bffab085c20",
                "23c2d60416b7fb92a42d40c25e84f72c6a8e6cd7d23a5b9b6178c90ad1dcf5f4",
            ),
            (
                12,
                "b0125513794852b0ed34252493d76a7be6f02c2e43b5d20ff892935635e01650",
                "b0125513794852b0ed34252493d76a7be6f02c2e43b5d20ff892935635e01650",
            ),
        ];
        for (migration, (version, sqlite, postgres)) in MIGRATIONS.iter().zip(released) {
            assert_eq!(migration.version, version);
            assert_eq!(checksum(migration.sqlite), sqlite, "SQLite {version}");
            assert_eq!(
                checksum(migration.postgres),
                postgres,
                "PostgreSQL {version}"
            );
        }
    }

    #[test]
    fn the_reader_view_query_is_migration_7s() {
        let view = format!("CREATE VIEW active_units AS\n{READER_VIEW_SELECT};");
        assert!(V7.contains(&view));
    }

    #[test]
    fn the_created_objects_are_read_from_the_migrations() {
        let objects = created_objects(MIGRATIONS.iter().map(|m| m.sqlite));
        let named = |kind: &str, name: &str| objects.iter().any(|(k, n)| k == kind && n == name);
        assert!(named("table", "documents") && named("table", "run_backups"));
        assert!(named("view", "active_units") && named("index", "documents_by_state"));
        assert!(named("table", "document_changes") && named("trigger", "units_log_delete"));
        assert!(
            !named("table", "schema_migrations"),
            "created before the migrations"
        );
        let postgres = created_objects(MIGRATIONS.iter().map(|m| m.postgres));
        // SQLite has no TRUNCATE, so no trigger on it: everything else is common.
        let (truncate, common): (Vec<_>, Vec<_>) = postgres
            .into_iter()
            .partition(|(kind, name)| kind == "trigger" && name.ends_with("_log_truncate"));
        assert_eq!(objects, common, "the same objects on both backends");
        assert_eq!(truncate.len(), 3, "documents, generations and units");
    }
}
