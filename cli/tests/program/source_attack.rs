//! Adversarial regressions of the `[source]` feature: an application's table read in place, on
//! SQLite and PostgreSQL, attacked with edits the sync does not see, deleted rows, ids that are
//! not what the mapping assumes, NULL revisions, readers in other time zones and the
//! application's own schema changes.

use crate::support::postgres::{Schema, Server, execute, server};
use crate::support::{Error, Run, STORE, TestResult, Workdir, block_on};

use sqlx::Connection as _;

/// The `[source]` of these tests: `laws(id, content, updated_at, status, title, lang)`.
const CONFIG: &str = "[source]\ntable = \"laws\"\nid = \"id\"\nbody = \"content\"\n\
     revision = \"updated_at\"\nwhere = \"status = 'published'\"\n\
     metadata = [\"title\", \"lang\"]\n";

/// A working directory whose SQLite store is the application's file, holding what `create`
/// (raw SQL) makes; no configuration yet.
fn app_file(create: &str) -> Result<Workdir, Error> {
    let wd = Workdir::new()?;
    std::fs::File::create(wd.path().join(STORE))?;
    wd.sql(create)?;
    Ok(wd)
}

/// [`app_file`] with a `cutter.toml` mapping its table `laws`; `init --execute` done.
fn sqlite_app(create: &str) -> Result<Workdir, Error> {
    let wd = app_file(create)?;
    wd.write("cutter.toml", CONFIG.as_bytes())?;
    wd.expect(&["init", "--execute"], 0)?;
    Ok(wd)
}

/// The application's file holding [`three_laws`], configured with `filter` as `[source] where`
/// (not initialised).
fn three_laws_where(filter: &str) -> Result<Workdir, Error> {
    let wd = app_file(&three_laws())?;
    let config = CONFIG.replace("status = 'published'", filter);
    wd.write("cutter.toml", config.as_bytes())?;
    Ok(wd)
}

/// SQLite: the application's table `laws` as [`CONFIG`] maps it, its id column declared `id` (a
/// type and constraints, or nothing), then `rows`: raw SQL filling it.
fn laws(id: &str, rows: &str) -> String {
    format!(
        "CREATE TABLE laws (id {id}, content TEXT, updated_at BIGINT, status TEXT NOT NULL, \
         title TEXT, lang TEXT); {rows}"
    )
}

/// Raw SQL inserting 1,001 published laws into `laws`, one a number `i` from 10 to 1010, each
/// with the id `id` (an SQL expression of `i`): more than one statement names.
fn many_laws(id: &str) -> String {
    format!(
        "INSERT INTO laws WITH RECURSIVE n(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM n \
         WHERE i < 1010) SELECT {id}, 'Article 1\nX.\n', 1, 'published', 'T', 'en' FROM n;"
    )
}

/// Two published laws whose ids differ only in case, `B` and `b`.
const UPPER_AND_LOWER_B: &str = "INSERT INTO laws VALUES ('B', 'Article 1\nUpper B.\n', 1, 'published', 'B', 'en'); \
     INSERT INTO laws VALUES ('b', 'Article 1\nLower b.\n', 1, 'published', 'b', 'en');";

/// Three published laws with an integer id and an integer revision.
fn three_laws() -> String {
    laws(
        "INTEGER PRIMARY KEY",
        "INSERT INTO laws VALUES (1, 'Article 1\nOne.\n\nArticle 2\nTwo.\n', 1, 'published', 'L1', 'en'); \
         INSERT INTO laws VALUES (2, 'Article 1\nSecond law.\n', 1, 'published', 'L2', 'en'); \
         INSERT INTO laws VALUES (3, 'Article 1\nThird law.\n', 1, 'published', 'L3', 'en');",
    )
}

#[track_caller]
fn lacks(run: &Run, text: &str) {
    let all = run.all();
    assert!(!all.contains(text), "did not expect {text:?} in:\n{all}");
}

/// Asserts that `run` says each of `texts` (`what`: why it must).
#[track_caller]
fn says(run: &Run, texts: &[&str], what: &str) {
    let all = run.all();
    for text in texts {
        assert!(all.contains(text), "{what}: expected {text:?} in:\n{all}");
    }
}

/// The application deletes a row that an earlier run cut, before the next run starts. The sync
/// never retires the tracking copy, so every later full run of the scope cuts the deleted
/// document, and its enact is BLOCKED ("the document changed after write-verify") — rollback and
/// run again, as advised, blocks again, forever; the deleted law's units stay active meanwhile.
#[test]
fn a_row_deleted_before_a_run_does_not_block_every_later_run() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    wd.sql("DELETE FROM laws WHERE id = 3")?;
    let second = wd.run(&["run", "--execute", "--run-id", "r2"])?;
    if second.code != 0 {
        wd.expect(&["rollback", "r2", "--execute"], 0)?;
        // As advised: roll back and run again.
        wd.expect(&["run", "--execute", "--run-id", "r3"], 0)?;
    }
    Ok(())
}

/// The application changes a body without moving its revision column. The sync (reading only
/// rows whose revision moved) never sees it, `run --stale` finds nothing, and every full run is
/// BLOCKED at enact claiming "the application changed the row during the run" — it changed
/// before, and the advice (roll back, run again) blocks again forever. The message should name
/// the real problem: the revision column did not move with the body.
#[test]
fn a_body_changed_without_its_revision_is_named_as_such() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    wd.sql("UPDATE laws SET content = content || 'Article 9\nSilent.\n' WHERE id = 2")?;
    let full = wd.run(&["run", "--execute", "--run-id", "r2"])?;
    lacks(&full, "during the run");
    lacks(&full, "changed after write-verify");
    Ok(())
}

/// Two source rows share an id (no unique key on the column). The sync silently lets the second
/// overwrite the first ("1 new, 1 changed"), and enact then BLOCKS claiming the application
/// changed the row during the run. Duplicate ids are bad input: refuse them by name.
#[test]
fn duplicate_source_ids_are_refused_by_name() -> TestResult {
    let wd = sqlite_app(&laws(
        "TEXT",
        "INSERT INTO laws VALUES ('a', 'Article 1\nFirst a.\n', 1, 'published', 'A', 'en'); \
         INSERT INTO laws VALUES ('a', 'Article 1\nSecond a.\n', 1, 'published', 'B', 'en');",
    ))?;
    let run = wd.run(&["run", "--execute", "--run-id", "r1"])?;
    lacks(&run, "during the run");
    let all = run.all().to_lowercase();
    assert!(
        all.contains("duplicate") || all.contains("more than one"),
        "the duplicate id is named: {all}"
    );
    Ok(())
}

/// SQLite: an id column declared without a type (BLOB affinity) holding integers. Sync reads
/// `CAST(id AS TEXT)` = '1', but enact's check binds '1' as text against the integer 1, finds
/// "no row: deleted from the source", and BLOCKS every run; the reader view's `stale` says true
/// for every document for the same reason.
#[test]
fn an_untyped_integer_id_column_is_enacted() -> TestResult {
    let wd = sqlite_app(&laws(
        "PRIMARY KEY",
        "INSERT INTO laws VALUES (1, 'Article 1\nOne.\n', 1, 'published', 'A', 'en');",
    ))?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    let stale = wd.column("SELECT CAST(stale AS TEXT) FROM iu_cutter_active_units")?;
    assert!(
        stale.iter().all(|s| s == "0"),
        "nothing is stale: {stale:?}"
    );
    Ok(())
}

/// A row whose revision is NULL: the reader view compared `revision = cut_source_revision`,
/// which is NULL, so the document read as stale right after its cut, forever.
#[test]
fn a_null_revision_is_not_stale_right_after_its_cut() -> TestResult {
    let wd = sqlite_app(&laws(
        "INTEGER PRIMARY KEY",
        "INSERT INTO laws VALUES (1, 'Article 1\nOne.\n', NULL, 'published', 'A', 'en');",
    ))?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    let stale = wd.column("SELECT DISTINCT CAST(stale AS TEXT) FROM iu_cutter_active_units")?;
    assert_eq!(stale, ["0"], "just cut, not stale");
    // The body moves, the revision stays NULL: the next sync reads it again (a NULL revision
    // is always read), and `run --stale` cuts it.
    wd.sql("UPDATE laws SET content = content || 'Article 2\nMore.\n' WHERE id = 1")?;
    let stale = wd.expect(&["run", "--execute", "--stale", "--run-id", "r2"], 0)?;
    assert!(stale.stdout.contains("--stale: 1 document(s)"), "{stale:?}");
    let stale = wd.column("SELECT DISTINCT CAST(stale AS TEXT) FROM iu_cutter_active_units")?;
    assert_eq!(stale, ["0"], "cut again, not stale");
    Ok(())
}

/// PostgreSQL set-up for the tests below: the application's schema with `laws` whose revision
/// is a `timestamptz`, iu-cutter's schema, `init --execute` and one run.
fn postgres_app(test: &str) -> Result<Option<(Workdir, Schema, Schema, String)>, Error> {
    let Some(server) = server(test) else {
        return Ok(None);
    };
    let (app, store) = pg_laws(&server, "TEXT", "TIMESTAMPTZ")?;
    execute(
        &server.owner,
        &format!(
            "INSERT INTO {}.laws VALUES \
             (1, E'Article 1\\nOne.\\n', '2024-01-01 10:00:00+00', 'published', 'A', 'en'), \
             (2, E'Article 1\\nTwo.\\n', '2024-01-01 10:00:00+00', 'published', 'B', 'en')",
            app.name
        ),
    )?;
    let wd = Workdir::new()?;
    wd.write("cutter.toml", pg_config(&app, &store).as_bytes())?;
    let url = server.owner.clone();
    wd.expect(&["--database-url", &url, "init", "--execute"], 0)?;
    wd.expect(
        &["--database-url", &url, "run", "--execute", "--run-id", "r1"],
        0,
    )?;
    Ok(Some((wd, app, store, url)))
}

/// One text column of every row of `statement`, run after `set` on one connection.
fn pg_column(url: &str, set: &str, statement: &str) -> Result<Vec<String>, Error> {
    Ok(block_on(async {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(set.to_owned()))
            .execute(&mut conn)
            .await?;
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(statement.to_owned()))
            .fetch_all(&mut conn)
            .await?;
        conn.close().await?;
        Ok::<_, sqlx::Error>(rows)
    })?)
}

/// The view's `stale` compares `CAST(updated_at AS TEXT)` in the *reader's* session with the
/// text iu-cutter recorded in its own (sqlx: TimeZone UTC). A reader whose TimeZone is not UTC
/// (any application outside UTC) sees every document stale, right after its cut.
#[test]
fn stale_does_not_depend_on_the_readers_time_zone_on_postgres() -> TestResult {
    let test = "stale_does_not_depend_on_the_readers_time_zone_on_postgres";
    let Some((_wd, _app, store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    let view = format!(
        "SELECT DISTINCT CAST(stale AS TEXT) FROM {}.active_units",
        store.name
    );
    assert_eq!(pg_column(&url, "SET TimeZone = 'UTC'", &view)?, ["false"]);
    assert_eq!(
        pg_column(&url, "SET TimeZone = 'Europe/Berlin'", &view)?,
        ["false"],
        "nothing changed since the cut, whatever the reader's time zone"
    );
    Ok(())
}

/// The reader view read the application's table, so PostgreSQL recorded a dependency: after
/// `init --execute`, the application could no longer change a mapped column's type, drop a
/// mapped column or drop its table (and `DROP … CASCADE` silently dropped iu-cutter's view).
/// "iu-cutter only ever reads that table" — but it blocked the application's migrations. The
/// view now reads the source through a function (dynamic SQL, no dependency): the application's
/// DDL goes through, the view answers as long as the mapping holds, and a mapping the DDL broke
/// is said by name, by the view and by the next run.
#[test]
fn the_reader_view_does_not_block_the_applications_migrations_on_postgres() -> TestResult {
    let test = "the_reader_view_does_not_block_the_applications_migrations_on_postgres";
    let Some((wd, app, store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    let stale = format!(
        "SELECT CAST(stale AS TEXT) FROM {}.active_units ORDER BY document, ordinal",
        store.name
    );
    assert_eq!(pg_column(&url, "SELECT 1", &stale)?, ["false", "false"]);
    execute(
        &url,
        &format!(
            "UPDATE {}.laws SET content = content || 'More.', updated_at = now() WHERE id = 2",
            app.name
        ),
    )?;
    assert_eq!(pg_column(&url, "SELECT 1", &stale)?, ["false", "true"]);
    for ddl in [
        "ALTER TABLE {app}.laws ALTER COLUMN status TYPE VARCHAR(40)",
        "ALTER TABLE {app}.laws ALTER COLUMN content TYPE VARCHAR(100000)",
    ] {
        execute(&url, &ddl.replace("{app}", &app.name))?;
    }
    assert_eq!(
        pg_column(&url, "SELECT 1", &stale)?,
        ["false", "true"],
        "the mapping still holds: the view answers as before"
    );
    execute(
        &url,
        &format!("ALTER TABLE {}.laws DROP COLUMN updated_at", app.name),
    )?;
    let broken = pg_column(&url, "SELECT 1", &stale)
        .err()
        .ok_or("the view answered without the revision column")?
        .to_string();
    assert!(
        broken.contains("cannot compare the source") && broken.contains("updated_at"),
        "{broken}"
    );
    let run = wd.run(&["--database-url", &url, "run", "--execute", "--run-id", "r2"])?;
    assert_ne!(run.code, 0, "{run:?}");
    says(
        &run,
        &["updated_at", "[source]"],
        "the next run names the broken mapping and what to fix",
    );
    Ok(())
}

/// `where` is "one parameter-free condition", parenthesised into every statement; unbalanced
/// parentheses escape it: `status = 'published') OR (1 = 1` syncs the drafts, and enact's check
/// (`id = $1 AND (…) OR (1 = 1)`) compares another row and BLOCKS with a false "the application
/// changed the row during the run". Refuse it by name, as unbalanced quotes are.
#[test]
fn a_filter_with_unbalanced_parentheses_is_refused() -> TestResult {
    let wd = three_laws_where("status = 'published') OR (1 = 1")?;
    let init = wd.run(&["init", "--execute"])?;
    assert_eq!(init.code, 6, "a configuration error: {init:?}");
    assert!(init.all().contains("parenthes"), "{init:?}");
    Ok(())
}

/// `[source]` naming iu-cutter's own `documents` table (or any of its tables) is accepted: the
/// tracking copies become their own source. It can only be a mistake; refuse it by name. In an
/// application's SQLite file iu-cutter's tables are prefixed, so it is `iu_cutter_documents`
/// there (`documents` is the application's name to use).
#[test]
fn a_source_naming_iu_cutters_own_table_is_refused() -> TestResult {
    let wd = Workdir::new()?;
    wd.write(
        "cutter.toml",
        b"[source]\ntable = \"iu_cutter_documents\"\nid = \"id\"\nbody = \"body\"\n",
    )?;
    let init = wd.run(&["init", "--execute"])?;
    assert_ne!(init.code, 0, "refused: {init:?}");
    assert!(
        init.all().contains("is one of iu-cutter's own tables"),
        "{init:?}"
    );
    // The advice names the real problem, `[source]`, not the database URL.
    assert!(init.all().contains("fix [source] in"), "{init:?}");
    assert!(!init.all().contains("database_url"), "{init:?}");
    Ok(())
}

/// An application's SQLite file that already has a table of one of iu-cutter's prefixed names:
/// `init` refuses, naming it, and changes nothing.
#[test]
fn init_refuses_a_file_holding_a_prefixed_name_already() -> TestResult {
    let wd = app_file(&three_laws())?;
    wd.sql("CREATE TABLE iu_cutter_units (id INTEGER)")?;
    wd.write("cutter.toml", CONFIG.as_bytes())?;
    let init = wd.run(&["init", "--execute"])?;
    assert_ne!(init.code, 0, "refused: {init:?}");
    assert!(init.all().contains("table iu_cutter_units"), "{init:?}");
    assert_eq!(
        wd.column("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?,
        ["iu_cutter_units", "laws"],
        "nothing was changed"
    );
    Ok(())
}

/// A SQLite file holding iu-cutter's tables both prefixed and not: which store is meant cannot
/// be told, so every command refuses, saying what to do.
#[test]
fn a_file_with_both_layouts_is_refused() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.sql(
        "CREATE TABLE schema_migrations (version BIGINT, description TEXT, checksum TEXT, \
         applied_at TEXT)",
    )?;
    let run = wd.run(&["run", "--execute"])?;
    assert_ne!(run.code, 0, "refused: {run:?}");
    assert!(run.all().contains("cannot tell which"), "{run:?}");
    Ok(())
}

/// An application with its own `schema_migrations` (a Rails or Diesel application has one) is
/// not taken for iu-cutter's store: `init` attaches with prefixed tables beside it.
#[test]
fn an_applications_own_schema_migrations_is_left_alone() -> TestResult {
    let wd = app_file(&three_laws())?;
    wd.sql("CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)")?;
    wd.sql("INSERT INTO schema_migrations VALUES ('20240101000000')")?;
    wd.write("cutter.toml", CONFIG.as_bytes())?;
    wd.expect(&["init", "--execute"], 0)?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    assert_eq!(
        wd.column("SELECT version FROM schema_migrations")?,
        ["20240101000000"]
    );
    assert_eq!(
        wd.column("SELECT CAST(count(DISTINCT document) AS TEXT) FROM iu_cutter_active_units")?,
        ["3"]
    );
    Ok(())
}

/// A `where` naming a column that iu-cutter's `documents` table has too (`id`, `state`,
/// `revision`, …) passed `init`'s probe, then every sync with a revision column failed with
/// "ambiguous column name: id": the scan joined `documents` beside the source.
#[test]
fn a_filter_naming_id_syncs() -> TestResult {
    let wd = three_laws_where("status = 'published' AND id <> 3")?;
    wd.expect(&["init", "--execute"], 0)?;
    let run = wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    assert!(run.stdout.contains("2 new"), "{run:?}");
    // The incremental sync reads only what moved.
    wd.sql(
        "UPDATE laws SET content = content || 'Article 3\nMore.\n', updated_at = 2 WHERE id = 2",
    )?;
    let stale = wd.expect(&["run", "--execute", "--stale", "--run-id", "r2"], 0)?;
    assert!(
        stale
            .stdout
            .contains("1 source rows read: 0 new, 1 changed"),
        "{stale:?}"
    );
    assert!(stale.stdout.contains("--stale: 1 document(s)"), "{stale:?}");
    Ok(())
}

/// `[source]` changes after `init --execute` (here the `where`): the reader view keeps
/// comparing with the old mapping (a row the new filter excludes reads as active and not
/// stale), and nothing but `init` ever compares the view with the configuration, so `run` says
/// nothing. A run on a store whose view is not the configuration's should say so, naming
/// `iu-cutter init --execute`.
#[test]
fn a_run_says_when_the_reader_view_is_not_the_configurations() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    wd.write(
        "cutter.toml",
        CONFIG
            .replace("status = 'published'", "status = 'published' AND id <> 3")
            .as_bytes(),
    )?;
    let run = wd.run(&["run", "--execute", "--stale", "--run-id", "r2"])?;
    assert!(run.all().contains("init --execute"), "{run:?}");
    Ok(())
}

/// A body column that is not text (`jsonb`, `bytea`) passes the mapping's probe (which reads no
/// row), then `init --execute` fails replacing the view with "function convert_to(jsonb,
/// unknown) does not exist" and the advice to "check the database", and a sync says the body
/// "cannot be read as UTF-8 text". The problem is the mapping: name `[source] body` and the
/// column's type.
#[test]
fn a_body_column_that_is_not_text_is_named_on_postgres() -> TestResult {
    let test = "a_body_column_that_is_not_text_is_named_on_postgres";
    let Some(server) = server(test) else {
        return Ok(());
    };
    let (app, store) = pg_laws(&server, "JSONB", "BIGINT")?;
    let wd = Workdir::new()?;
    wd.write("cutter.toml", pg_config(&app, &store).as_bytes())?;
    let init = wd.run(&["--database-url", &server.owner, "init", "--execute"])?;
    says(&init, &["[source] body", "jsonb"], "the mapping is named");
    Ok(())
}

/// The application's SQLite file is in rollback-journal mode (`delete`, SQLite's default).
/// `iu-cutter init` without `--execute` ("changes nothing") switches it to WAL, a persistent
/// change of the application's database (new `-wal`/`-shm` files, unusable on network file
/// systems and by SQLite before 3.7), before anything was executed.
#[test]
fn init_without_execute_leaves_the_applications_journal_mode_alone() -> TestResult {
    let wd = app_file(&three_laws())?;
    assert_eq!(wd.column("PRAGMA journal_mode")?, ["delete"]);
    wd.write("cutter.toml", CONFIG.as_bytes())?;
    wd.run(&["init"])?;
    assert_eq!(
        wd.column("PRAGMA journal_mode")?,
        ["delete"],
        "init without --execute changed the application's database"
    );
    Ok(())
}

/// A reader role was granted SELECT on `active_units` (the reader contract); attaching a
/// `[source]` (`init --execute`) replaced the view by DROP and CREATE, which on PostgreSQL
/// drops every grant on it: the application's readers got "permission denied". Replaced in
/// place, the grants stay.
#[test]
fn replacing_the_reader_view_keeps_its_grants_on_postgres() -> TestResult {
    let test = "replacing_the_reader_view_keeps_its_grants_on_postgres";
    let Some(server) = server(test) else {
        return Ok(());
    };
    let (app, store) = pg_laws(&server, "TEXT", "BIGINT")?;
    let wd = Workdir::new()?;
    let schema = format!("schema = \"{}\"\n", store.name);
    wd.write("cutter.toml", schema.as_bytes())?;
    wd.expect(&["--database-url", &server.owner, "init", "--execute"], 0)?;
    let role = server.runtime_role()?;
    execute(
        &server.owner,
        &format!("GRANT USAGE ON SCHEMA {} TO {role}", store.name),
    )?;
    execute(
        &server.owner,
        &format!("GRANT SELECT ON {}.active_units TO {role}", store.name),
    )?;
    let read = format!(
        "SELECT CAST(count(*) AS TEXT) FROM {}.active_units",
        store.name
    );
    assert_eq!(pg_column(&server.runtime, "SELECT 1", &read)?, ["0"]);
    wd.write("cutter.toml", pg_config(&app, &store).as_bytes())?;
    let init = wd.expect(&["--database-url", &server.owner, "init", "--execute"], 0)?;
    assert!(
        init.stdout.contains("now compares the documents with"),
        "{init:?}"
    );
    assert_eq!(
        pg_column(&server.runtime, "SELECT 1", &read)?,
        ["0"],
        "the reader keeps its grant"
    );
    Ok(())
}

/// An application schema holding `laws` with a body column of type `body_type` and a revision
/// column of type `revision_type`, and a schema for iu-cutter's tables, both dropped at the end.
fn pg_laws(
    server: &Server,
    body_type: &str,
    revision_type: &str,
) -> Result<(Schema, Schema), Error> {
    let app = Schema::create(&server.owner, "app")?;
    let store = Schema::create(&server.owner, "iu")?;
    execute(
        &server.owner,
        &format!(
            "CREATE TABLE {}.laws (id BIGINT PRIMARY KEY, content {body_type} NOT NULL, \
             updated_at {revision_type} NOT NULL, status TEXT NOT NULL, title TEXT, lang TEXT)",
            app.name
        ),
    )?;
    Ok((app, store))
}

/// A `cutter.toml` putting iu-cutter's tables in `store` and mapping `laws` of `app`.
fn pg_config(app: &Schema, store: &Schema) -> String {
    format!(
        "schema = \"{}\"\n{}",
        store.name,
        CONFIG.replace("\"laws\"", &format!("\"{}.laws\"", app.name))
    )
}

/// Adversarial (adv35) on `run --stale` continuing its journaled run: `s1` is held after its
/// fence, then the application deletes law 3, and the very command is run again. It noted
/// "left out 1 document(s) no longer in laws: `3`", then continued over the three journaled
/// documents, `3` among them, wrote and verified them, and was BLOCKED at enact saying `3` was
/// deleted "after write-verify". The journaled run cannot leave `3` out, nor enact it: it must
/// say so before doing any of that work, and say to roll it back.
#[test]
fn a_stale_run_continued_over_a_row_deleted_since_says_so() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let stale = ["run", "--execute", "--stale", "--run-id", "s1"];
    wd.expect(&[&stale[..], &["--until", "cut-leg-a"]].concat(), 0)?;
    wd.sql("DELETE FROM laws WHERE id = 3")?;
    let again = wd.run(&stale)?;
    lacks(&again, "left out 1 document(s)");
    lacks(&again, "after write-verify");
    assert!(again.all().contains("rollback s1"), "{}", again.all());
    // The advice, followed.
    wd.expect(&["rollback", "s1", "--execute"], 0)?;
    wd.expect(&["run", "--execute", "--stale", "--run-id", "s2"], 0)?;
    Ok(())
}

/// Adversarial (adv35) on the fix above: the same `run --stale` again under the id of a run
/// that PASSED, after the application deleted one of its rows, must say the run is already
/// journaled as PASS, not advise rolling back an enacted run because a row went since.
#[test]
fn a_passed_stale_run_again_after_a_row_deleted_is_not_rolled_back() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let stale = ["run", "--execute", "--stale", "--run-id", "s1"];
    wd.expect(&stale, 0)?;
    wd.sql("DELETE FROM laws WHERE id = 3")?;
    let again = wd.run(&stale)?;
    lacks(&again, "rollback s1");
    assert!(
        again.all().contains("already journaled as PASS"),
        "{}",
        again.all()
    );
    Ok(())
}

/// Adversarial (adv40): `r2` holds law 1 fenced when the application moves its revision (no
/// body change), and a `run --stale` syncs meanwhile: it records the new revision on the copy
/// but cannot requeue law 1 (fenced), and leaves it out saying that once `r2` is rolled back
/// `run --stale` cuts it if still stale. Rolled back, law 1 was `cut` again over its old
/// generation: the reader view shows it stale (its revision moved since that cut), yet every
/// `run --stale` cut nothing, for good (the sync, finding the revision recorded, never requeues
/// it).
#[test]
fn a_revision_moved_while_held_is_cut_by_stale_after_the_rollback() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    let stale = |law: &str| match law {
        "1" => wd.column(
            "SELECT DISTINCT CAST(stale AS TEXT) FROM iu_cutter_active_units WHERE document = '1'",
        ),
        _ => wd.column("SELECT DISTINCT CAST(stale AS TEXT) FROM iu_cutter_active_units"),
    };
    held_while_revision_moved(
        &wd,
        &[],
        || wd.sql("UPDATE laws SET updated_at = 2 WHERE id = 1"),
        stale,
    )
}

/// [`a_revision_moved_while_held_is_cut_by_stale_after_the_rollback`] on PostgreSQL.
#[test]
fn a_revision_moved_while_held_is_cut_by_stale_after_the_rollback_on_postgres() -> TestResult {
    let test = "a_revision_moved_while_held_is_cut_by_stale_after_the_rollback_on_postgres";
    let Some((wd, app, store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    let touch = || {
        let moved = "updated_at = '2024-03-01 10:00:00+00'";
        execute(
            &url,
            &format!("UPDATE {}.laws SET {moved} WHERE id = 1", app.name),
        )
    };
    let stale = |law: &str| {
        let view = format!(
            "SELECT DISTINCT CASE WHEN stale THEN '1' ELSE '0' END FROM {}.active_units",
            store.name
        );
        match law {
            "1" => pg_column(
                &url,
                "SET TimeZone = 'UTC'",
                &format!("{view} WHERE document = '1'"),
            ),
            _ => pg_column(&url, "SET TimeZone = 'UTC'", &view),
        }
    };
    held_while_revision_moved(&wd, &["--database-url", &url], touch, stale)
}

/// After a run `r1`: `r2` holds every law, `touch` moves law 1's revision, `run --stale` syncs
/// and leaves law 1 out (held), `r2` is rolled back; law 1 is then stale (`stale("1")`, the
/// view's `stale` as `1` or `0`) and the next `run --stale` cuts it, after which nothing is
/// (`stale("")`). Every command follows `base`.
fn held_while_revision_moved<'a>(
    wd: &Workdir,
    base: &[&'a str],
    touch: impl Fn() -> TestResult,
    stale: impl Fn(&str) -> Result<Vec<String>, Error>,
) -> TestResult {
    let with = |args: &[&'a str]| [base, args].concat();
    let held = [
        "run",
        "--execute",
        "--run-id",
        "r2",
        "--until",
        "write-verify",
    ];
    wd.expect(&with(&held), 0)?;
    touch()?;
    let meanwhile = wd.run(&with(&["run", "--execute", "--stale", "--run-id", "s1"]))?;
    assert!(meanwhile.all().contains("run r2"), "{meanwhile:?}");
    wd.expect(&with(&["rollback", "r2", "--execute"]), 0)?;
    assert_eq!(
        stale("1")?,
        ["1"],
        "law 1's revision moved since its active cut"
    );
    let again = wd.expect(&with(&["run", "--execute", "--stale", "--run-id", "s2"]), 0)?;
    assert!(
        again.stdout.contains("--stale: 1 document(s)"),
        "the one stale document is cut: {again:?}"
    );
    assert_eq!(stale("")?, ["0"], "nothing is stale once cut: {again:?}");
    Ok(())
}

/// Adversarial (adv40): a run of one document (`--id 1`) reads every row of the application's
/// table, bodies included, and only then drops those outside its scope: its cost is the
/// table's, and a row it was never asked to cut (here a draft with no body yet, which the
/// application publishes later) refuses it.
#[test]
fn a_run_of_named_ids_reads_only_their_rows() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.sql("INSERT INTO laws VALUES (4, NULL, 1, 'published', 'L4', 'en')")?;
    let one = wd.run(&["run", "--execute", "--id", "1", "--run-id", "r1"])?;
    lacks(&one, "`4`");
    assert_eq!(one.code, 0, "{one:?}");
    let cut = wd.column("SELECT DISTINCT document FROM iu_cutter_active_units")?;
    assert_eq!(cut, ["1"], "{one:?}");
    Ok(())
}

/// The twin of [`a_run_of_named_ids_reads_only_their_rows`] on PostgreSQL, where the ids are
/// compared as text with the `bigint` id column: both laws edited, `--id 2` syncs and cuts law 2
/// only.
#[test]
fn a_run_of_named_ids_syncs_only_their_rows_on_postgres() -> TestResult {
    let test = "a_run_of_named_ids_syncs_only_their_rows_on_postgres";
    let Some((wd, app, store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    execute(
        &url,
        &format!(
            "UPDATE {}.laws SET content = content || E'Article 2\\nMore.\\n', \
             updated_at = '2024-02-01 10:00:00+00'",
            app.name
        ),
    )?;
    let two = [
        "--database-url",
        &url,
        "run",
        "--execute",
        "--id",
        "2",
        "--run-id",
        "r2",
    ];
    let two = wd.expect(&two, 0)?;
    assert!(two.stdout.contains("1 source rows read"), "{two:?}");
    let view = format!(
        "SELECT DISTINCT document || ' ' || generation || ' ' || stale FROM {}.active_units \
         ORDER BY 1",
        store.name
    );
    assert_eq!(
        pg_column(&url, "SET TimeZone = 'UTC'", &view)?,
        ["1 r1 true", "2 r2 false"],
        "{two:?}"
    );
    Ok(())
}

/// Adversarial (adv40): the application moves law 1's revision (no body change) after `r2`
/// re-cut it; `s1`'s sync requeues law 1 (`ready`: the view shows it stale) and `s1` is rolled
/// back, which leaves it `ready` as its backup had it. Then `r2` is rolled back: it put back the
/// state law 1 had before `r2`, `cut`, over the requeue the sync had made, on a generation cut
/// from the older revision. The view shows law 1 stale, and `run --stale` never cuts it.
#[test]
fn a_rollback_keeps_the_requeue_of_a_revision_moved_after_its_enact() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    wd.expect(&["run", "--execute", "--run-id", "r2"], 0)?;
    wd.sql("UPDATE laws SET updated_at = 2 WHERE id = 1")?;
    let stale = ["run", "--execute", "--stale", "--run-id", "s1"];
    wd.expect(&[&stale[..], &["--until", "cut-leg-a"]].concat(), 0)?;
    wd.expect(&["rollback", "s1", "--execute"], 0)?;
    let rolled = wd.expect(&["rollback", "r2", "--execute"], 0)?;
    assert!(rolled.stdout.contains("requeued"), "{rolled:?}");
    let view =
        "SELECT DISTINCT CAST(stale AS TEXT) FROM iu_cutter_active_units WHERE document = '1'";
    assert_eq!(wd.column(view)?, ["1"], "law 1 moved since r1 cut it");
    let again = wd.expect(&["run", "--execute", "--stale", "--run-id", "s2"], 0)?;
    assert!(
        again.stdout.contains("--stale: 1 document(s)"),
        "the one stale document is cut: {again:?}"
    );
    assert_eq!(wd.column(view)?, ["0"], "{again:?}");
    Ok(())
}

/// Adversarial (adv40): a run of one law looked for duplicate ids over the whole table (a scan
/// and a sort of every row, whatever the scope) and was refused by two rows of another id.
/// Its checks cost its scope: the duplicates it names are its own.
#[test]
fn a_run_of_named_ids_checks_only_their_rows_for_duplicates() -> TestResult {
    let wd = sqlite_app(&laws(
        "TEXT",
        "INSERT INTO laws VALUES ('a', 'Article 1\nA.\n', 1, 'published', 'A', 'en'); \
         INSERT INTO laws VALUES ('b', 'Article 1\nFirst b.\n', 1, 'published', 'B', 'en'); \
         INSERT INTO laws VALUES ('b', 'Article 1\nSecond b.\n', 1, 'published', 'B', 'en');",
    ))?;
    let one = wd.run(&["run", "--execute", "--id", "a", "--run-id", "r1"])?;
    assert_eq!(one.code, 0, "{one:?}");
    let both = wd.run(&[
        "run",
        "--execute",
        "--id",
        "a",
        "--id",
        "b",
        "--run-id",
        "r2",
    ])?;
    assert!(both.all().contains("duplicate ids"), "{both:?}");
    Ok(())
}

/// Adversarial (adv40): `r1` has written its units when the application edits law 1 and a
/// `run --stale` syncs the edit into the copy `r1` holds fenced (as a sync does). `resume r1`
/// is BLOCKED at write-verify, rightly, but said law 1 was "written during the run, ignoring
/// the fence" and to "resume the run instead" if it "can be put back as planned": iu-cutter's
/// own sync wrote it, copying the application's edit, which nothing puts back. It must say so,
/// and to roll back and run again.
#[test]
fn a_source_row_edited_before_write_verify_is_named_as_the_applications_edit() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--run-id",
            "r1",
            "--until",
            "leg-b-record",
        ],
        0,
    )?;
    wd.sql("UPDATE laws SET content = content || 'More.\n', updated_at = 2 WHERE id = 1")?;
    wd.expect(&["run", "--execute", "--stale", "--run-id", "r2"], 0)?;
    let resumed = wd.expect(&["resume", "r1", "--execute"], 4)?;
    lacks(&resumed, "ignoring the fence");
    lacks(&resumed, "put back");
    says(
        &resumed,
        &["application changed its row in laws", "rollback r1"],
        "the change named, and the way out",
    );
    Ok(())
}

/// [`a_run_of_named_ids_reads_only_their_rows`] with more ids than a statement names (1,001),
/// which the sync looks up in one pass over the table: a row outside them (here without a body)
/// is skipped unread all the same.
#[test]
fn a_run_of_many_named_ids_reads_only_their_rows() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.sql(&many_laws("i"))?;
    wd.sql("INSERT INTO laws VALUES (2000, NULL, 1, 'published', 'L', 'en')")?;
    let ids: Vec<String> = (10..=1010).map(|i| i.to_string()).collect();
    let many = run_ids(&wd, &["run", "--execute", "--run-id", "r1"], &ids)?;
    assert_eq!(many.code, 0, "{many:?}");
    assert!(many.stdout.contains("1001 source rows read"), "{many:?}");
    Ok(())
}

/// `args` (a `run`) with an `--id` for each of `ids`.
fn run_ids(wd: &Workdir, args: &[&str], ids: &[String]) -> std::io::Result<Run> {
    let mut args = args.to_vec();
    for id in ids {
        args.extend(["--id", id.as_str()]);
    }
    wd.run(&args)
}

/// Adversarial (adv41): [`a_run_of_named_ids_checks_only_their_rows_for_duplicates`] with more
/// ids than a statement names (1,001): the duplicate check then ran over the whole table, and a
/// run of 1,001 laws was refused for two rows of a law it does not name.
#[test]
fn a_run_of_many_named_ids_checks_only_their_rows_for_duplicates() -> TestResult {
    let rows = many_laws("'x' || i")
        + " INSERT INTO laws VALUES ('b', 'Article 1\nFirst b.\n', 1, 'published', 'B', 'en'); \
           INSERT INTO laws VALUES ('b', 'Article 1\nSecond b.\n', 1, 'published', 'B', 'en');";
    let wd = sqlite_app(&laws("TEXT", &rows))?;
    let ids: Vec<String> = (10..=1010).map(|i| format!("x{i}")).collect();
    let many = run_ids(&wd, &["run", "--execute", "--run-id", "r1"], &ids)?;
    assert_eq!(many.code, 0, "{many:?}");
    assert!(many.stdout.contains("1001 source rows read"), "{many:?}");
    let mut with_b = ids;
    with_b.push("b".to_owned());
    let refused = run_ids(&wd, &["run", "--execute", "--run-id", "r2"], &with_b)?;
    assert!(refused.all().contains("`b` (duplicate ids)"), "{refused:?}");
    Ok(())
}

/// Adversarial (adv45): a list of more than 1,000 ids was not narrowed in SQL (the ids were
/// matched as text, which no index served, so one pass over the table was thought the cheapest),
/// and every row of the table was read: a run of 1,001 laws was refused for a row it does not
/// name (an id that is not UTF-8 text), where a run of 1,000 passed. Narrowed through the id's
/// index now, a run of any number of ids reads only its own rows.
#[test]
fn a_run_of_many_named_ids_is_not_refused_for_a_row_it_does_not_name() -> TestResult {
    let rows = many_laws("i")
        + " INSERT INTO laws VALUES (x'ff', 'Article 1\nB.\n', 1, 'published', 'B', 'en');";
    let wd = sqlite_app(&laws("TEXT PRIMARY KEY", &rows))?;
    let ids: Vec<String> = (10..=1010).map(|i| i.to_string()).collect();
    let fewer = run_ids(&wd, &["run", "--execute", "--run-id", "r1"], &ids[..1000])?;
    assert_eq!(fewer.code, 0, "{fewer:?}");
    let many = run_ids(&wd, &["run", "--execute", "--run-id", "r2"], &ids)?;
    assert_eq!(many.code, 0, "{many:?}");
    assert!(many.stdout.contains("1001 source rows read"), "{many:?}");
    Ok(())
}

/// The search for documents gone from the source over a prefix scope read every document of
/// the store (`substr(d.id, …)`); it now reads a range of the id index. The range must still
/// find exactly the prefix's documents gone: not `v0`, just past it, nor `v/` ending in the last
/// character.
#[test]
fn a_prefix_run_leaves_out_exactly_its_documents_gone_from_the_source() -> TestResult {
    let wd = sqlite_app(&laws(
        "TEXT PRIMARY KEY",
        "INSERT INTO laws VALUES ('v/1', 'Article 1\nOne.\n', 1, 'published', 'A', 'en'), \
         ('v/2', 'Article 1\nTwo.\n', 1, 'published', 'B', 'en'), \
         ('v/\u{10FFFF}', 'Article 1\nLast.\n', 1, 'published', 'C', 'en'), \
         ('v0', 'Article 1\nNext.\n', 1, 'published', 'D', 'en'), \
         ('u', 'Article 1\nBefore.\n', 1, 'published', 'E', 'en');",
    ))?;
    let all = wd.run(&["run", "--execute", "--run-id", "r1"])?;
    assert_eq!(all.code, 0, "{all:?}");
    wd.sql("UPDATE laws SET status = 'archived' WHERE id IN ('v/2', 'v0', 'u')")?;
    let prefix = wd.run(&["run", "--execute", "--run-id", "r2", "--prefix", "v/"])?;
    assert_eq!(prefix.code, 0, "{prefix:?}");
    says(
        &prefix,
        &["left out 1 document(s) no longer in laws", "`v/2`"],
        "the prefix's document gone, and only it",
    );
    lacks(&prefix, "`v0`");
    lacks(&prefix, "`u`");
    Ok(())
}

/// Adversarial (adv45): a row whose id is not UTF-8 text (SQLite stores any bytes) failed a
/// run of the whole table as a "database error", in sqlx's words alone ("error occurred while
/// decoding column 0: invalid utf-8 sequence"), naming neither the row's fault nor what to do,
/// where a body that is not UTF-8 or a NULL id is named as the row's fault, to be excluded with
/// `[source] where`.
#[test]
fn a_source_id_that_is_not_utf8_is_named_as_bad_input() -> TestResult {
    let wd = sqlite_app(&laws(
        "TEXT PRIMARY KEY",
        "INSERT INTO laws VALUES ('1', 'Article 1\nOne.\n', 1, 'published', 'A', 'en'); \
         INSERT INTO laws VALUES (x'ff', 'Article 1\nB.\n', 1, 'published', 'B', 'en');",
    ))?;
    let run = wd.run(&["run", "--execute", "--run-id", "r1"])?;
    assert_ne!(run.code, 0, "{run:?}");
    lacks(&run, "database error");
    says(
        &run,
        &["an id that is not UTF-8 text", "[source] where"],
        "the row's fault and the way out",
    );
    Ok(())
}

/// Adversarial (adv40): with a `[source]`, `run` skips the check that its scope names documents
/// (they may not be tracked before the sync) and never makes it after: a mistyped id was
/// dropped in silence (`--id nosuch --id 1` PASSED, cutting law 1), and a prefix naming no row
/// PASSED on nothing. On an imported store both are refused as bad input, naming what is wrong.
#[test]
fn a_scope_naming_no_row_of_the_source_is_refused_by_name() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let typo = wd.run(&[
        "run",
        "--execute",
        "--run-id",
        "r1",
        "--id",
        "nosuch",
        "--id",
        "1",
    ])?;
    assert_ne!(typo.code, 0, "{typo:?}");
    assert!(typo.all().contains("`nosuch`"), "{typo:?}");
    let nothing = wd.run(&["run", "--execute", "--run-id", "r2", "--prefix", "zz"])?;
    assert_ne!(nothing.code, 0, "{nothing:?}");
    assert!(nothing.all().contains("no document"), "{nothing:?}");
    assert_eq!(wd.runs()?, 0, "nothing was journaled");
    Ok(())
}

/// Adversarial (adv41): [`a_scope_naming_no_row_of_the_source_is_refused_by_name`] with an id
/// whose row the application deleted after an earlier run tracked it: the check of the scope
/// passed on the tracking copy, the sync then left the document out as gone, and the run PASSED
/// on nothing (a backup, a plan, an enact of no document), as a prefix naming no row did.
#[test]
fn a_scope_whose_every_row_is_gone_from_the_source_is_refused_by_name() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    wd.expect(&["run", "--execute", "--run-id", "r1"], 0)?;
    wd.sql("DELETE FROM laws WHERE id = 2")?;
    let gone = wd.run(&["run", "--execute", "--run-id", "r2", "--id", "2"])?;
    assert_ne!(gone.code, 0, "{gone:?}");
    assert!(gone.all().contains("`2`"), "{gone:?}");
    assert!(gone.all().contains("nothing was cut"), "{gone:?}");
    assert_eq!(wd.runs()?, 1, "only r1 was journaled");
    Ok(())
}

/// [`a_run_of_many_named_ids_checks_only_their_rows_for_duplicates`] on PostgreSQL, whose ids
/// are counted as they stream from the source: a run of 1,001 laws (of 1,003) syncs and cuts
/// exactly them.
#[test]
fn a_run_of_many_named_ids_syncs_only_their_rows_on_postgres() -> TestResult {
    let test = "a_run_of_many_named_ids_syncs_only_their_rows_on_postgres";
    let Some((wd, app, _store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    execute(
        &url,
        &format!(
            "INSERT INTO {}.laws SELECT i, E'Article 1\\nX.\\n', '2024-01-01 10:00:00+00', \
             'published', 'T', 'en' FROM generate_series(10, 1010) AS i",
            app.name
        ),
    )?;
    let ids: Vec<String> = (10..=1010).map(|i| i.to_string()).collect();
    let run = ["--database-url", &url, "run", "--execute", "--run-id", "r2"];
    let many = run_ids(&wd, &run, &ids)?;
    assert_eq!(many.code, 0, "{many:?}");
    assert!(many.stdout.contains("1001 source rows read"), "{many:?}");
    Ok(())
}

/// Noticed by adv41: over an integer id column (`laws.id BIGINT`), named ids narrowed the scan by
/// their text alone, which no index serves, so a run of one law read the whole table. The ids
/// that read as the column's values now narrow it by them; the others (an id spelt with a
/// leading zero, one out of the type's range, one that is no number) still name no row, and are
/// refused by name, with no cast error.
#[test]
fn named_ids_over_an_integer_id_column_are_matched_exactly_on_postgres() -> TestResult {
    let test = "named_ids_over_an_integer_id_column_are_matched_exactly_on_postgres";
    let Some((wd, _app, _store, url)) = postgres_app(test)? else {
        return Ok(());
    };
    let run = ["--database-url", &url, "run", "--execute", "--run-id"];
    for awkward in ["002", "99999999999999999999", "-0", "two", "2 "] {
        let mut args: Vec<String> = run.iter().map(|a| (*a).to_owned()).collect();
        args.extend(["r-awkward", "--id", "2"].map(str::to_owned));
        args.push(format!("--id={awkward}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let refused = wd.run(&args)?;
        assert_ne!(refused.code, 0, "{awkward}: {refused:?}");
        let all = refused.all();
        assert!(all.contains(&format!("`{awkward}`")), "{awkward}: {all}");
        assert!(all.contains("no row of"), "{awkward}: {all}");
        lacks(&refused, "invalid input syntax");
        lacks(&refused, "out of range");
    }
    let mut args = run.to_vec();
    args.extend(["r2", "--id", "2", "--id=-5"]);
    let missing = wd.run(&args)?;
    assert!(missing.all().contains("`-5`"), "{missing:?}");
    let mut args = run.to_vec();
    args.extend(["r3", "--id", "2"]);
    let one = wd.expect(&args, 0)?;
    assert!(one.stdout.contains("1 source rows read"), "{one:?}");
    Ok(())
}

/// Adversarial (adv41): `r1` (law 2) is held after leg-b-record when the application deletes
/// law 2, and the very command that began `r1` is run again. The sync left law 2 out, and the
/// narrowed scope was refused as another run's: "the journal holds it with a different scope",
/// "continue the journaled run: resume r1" (whose enact refuses law 2). The scope is the one
/// journaled; `r1` is journaled over a deleted row and must be rolled back, as `--stale` says
/// of its own runs.
#[test]
fn a_held_run_again_after_its_row_deleted_says_to_roll_it_back() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let held = ["run", "--execute", "--run-id", "r1", "--id", "2"];
    let mut until = held.to_vec();
    until.extend(["--until", "leg-b-record"]);
    wd.expect(&until, 0)?;
    wd.sql("DELETE FROM laws WHERE id = 2")?;
    let again = wd.run(&held)?;
    assert_ne!(again.code, 0, "{again:?}");
    lacks(&again, "different scope");
    says(
        &again,
        &["no longer in the source", "rollback r1"],
        "the deletion named, and the way out",
    );
    Ok(())
}

/// Adversarial (adv43): the application's id column compares in a case-insensitive
/// (non-deterministic) collation, and two rows have ids differing only in case, `ABC` and `abc`
/// (no unique key; the application tells them apart, and so does iu-cutter: the sync reads and
/// tracks both). Enact's check looked each one's row up by `id = $1` in the column's own
/// collation, which finds both rows: document `abc` was compared with `ABC`'s body, and a run
/// nobody interfered with was BLOCKED, claiming "the application changed the row during the
/// run". A row is the one whose id reads exactly as the document's.
#[test]
fn ids_differing_only_in_case_are_enacted_on_postgres() -> TestResult {
    let test = "ids_differing_only_in_case_are_enacted_on_postgres";
    let Some(server) = server(test) else {
        return Ok(());
    };
    let app = Schema::create(&server.owner, "app")?;
    let store = Schema::create(&server.owner, "iu")?;
    let url = server.owner.clone();
    execute(
        &url,
        &format!(
            "CREATE COLLATION {}.ci (provider = icu, locale = 'und-u-ks-level2', \
             deterministic = false)",
            app.name
        ),
    )?;
    execute(
        &url,
        &format!(
            "CREATE TABLE {0}.laws (id TEXT COLLATE {0}.ci, content TEXT NOT NULL)",
            app.name
        ),
    )?;
    execute(
        &url,
        &format!(
            "INSERT INTO {}.laws VALUES ('ABC', E'Article 1\\nUpper.\\n'), \
             ('abc', E'Article 1\\nLower.\\n')",
            app.name
        ),
    )?;
    let wd = Workdir::new()?;
    let config = format!(
        "schema = \"{}\"\n[source]\ntable = \"{}.laws\"\nid = \"id\"\nbody = \"content\"\n",
        store.name, app.name
    );
    wd.write("cutter.toml", config.as_bytes())?;
    wd.expect(&["--database-url", &url, "init", "--execute"], 0)?;
    let run = wd.run(&["--database-url", &url, "run", "--execute", "--run-id", "r1"])?;
    lacks(&run, "during the run");
    assert_eq!(run.code, 0, "{run:?}");
    let view = format!(
        "SELECT DISTINCT document || ' ' || stale FROM {}.active_units ORDER BY 1",
        store.name
    );
    assert_eq!(
        pg_column(&url, "SET TimeZone = 'UTC'", &view)?,
        ["ABC false", "abc false"],
        "{run:?}"
    );
    // The application edits `abc` alone: its enact is refused by name, `ABC`'s is not.
    execute(
        &url,
        &format!(
            "UPDATE {}.laws SET content = content || E'Article 2\\nMore.\\n' \
             WHERE id COLLATE \"C\" = 'abc'",
            app.name
        ),
    )?;
    let view = format!(
        "SELECT DISTINCT document || ' ' || stale FROM {}.active_units ORDER BY 1",
        store.name
    );
    assert_eq!(
        pg_column(&url, "SET TimeZone = 'UTC'", &view)?,
        ["ABC false", "abc true"],
        "the edit of `abc` alone shows"
    );
    Ok(())
}

/// Adversarial (adv43): [`ids_differing_only_in_case_are_enacted_on_postgres`] on SQLite, where
/// an id column declared `COLLATE NOCASE` groups `B` and `b` as one id for a scope the
/// statements name (refused as duplicates), but a list of more than 1,000 ids is counted
/// exactly: `B` and `b` passed the sync as two documents, and enact's check found `B`'s row for
/// `b`, BLOCKING the run as "the application changed the row during the run".
#[test]
fn ids_differing_only_in_case_are_enacted_on_sqlite() -> TestResult {
    let rows = format!("{UPPER_AND_LOWER_B} {}", many_laws("'x' || i"));
    let wd = sqlite_app(&laws("TEXT COLLATE NOCASE", &rows))?;
    let mut ids: Vec<String> = (10..=1010).map(|i| format!("x{i}")).collect();
    ids.extend(["B".to_owned(), "b".to_owned()]);
    let many = run_ids(&wd, &["run", "--execute", "--run-id", "r1"], &ids)?;
    lacks(&many, "during the run");
    assert_eq!(many.code, 0, "{many:?}");
    Ok(())
}

/// Adversarial (adv45): [`ids_differing_only_in_case_are_enacted_on_sqlite`] with a short list,
/// which the statements name: the duplicate check grouped the rows by `CAST(id AS TEXT)`, which
/// keeps the column's `COLLATE NOCASE`, so `B` and `b`, two documents, were refused as "more
/// than one row of laws has the id `B`", while the same ids in a list of 1,003 were enacted.
#[test]
fn ids_differing_only_in_case_are_not_duplicates_on_sqlite() -> TestResult {
    let wd = sqlite_app(&laws("TEXT COLLATE NOCASE", UPPER_AND_LOWER_B))?;
    let named = wd.run(&[
        "run",
        "--execute",
        "--run-id",
        "r1",
        "--id",
        "B",
        "--id",
        "b",
    ])?;
    lacks(&named, "duplicate ids");
    assert_eq!(named.code, 0, "{named:?}");
    let all = wd.run(&["run", "--execute", "--run-id", "r2"])?;
    lacks(&all, "duplicate ids");
    Ok(())
}

/// `r1` over every law held after write-verify, then the application's `edit`, then `verify r1`:
/// which must not pass.
fn verify_r1_held_after(wd: &Workdir, edit: &str) -> Result<Run, Error> {
    let held = [
        "run",
        "--execute",
        "--run-id",
        "r1",
        "--until",
        "write-verify",
    ];
    wd.expect(&held, 0)?;
    wd.sql(edit)?;
    let verified = wd.run(&["verify", "r1", "--execute"])?;
    lacks(&verified, "outcome: PASS");
    assert_ne!(verified.code, 0, "{verified:?}");
    Ok(verified)
}

/// Adversarial (adv43): `r1` is held after write-verify; the application then rewrites law 1
/// (its revision moves with it); `verify r1`, the review step before `enact`, re-verified the
/// tracking copies only and answered PASS, "verified, not enacted; after review, enact": the
/// staged units no longer reproduce the application's row, and the enact it advises is refused.
/// (`run` with `r1`'s id syncs first, and its verification names the edit.) The verification
/// of a held run must see the source as it is.
#[test]
fn verifying_a_held_run_sees_the_applications_edit_since_the_hold() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let verified = verify_r1_held_after(
        &wd,
        "UPDATE laws SET content = 'Article 1\nRewritten.\n', updated_at = 2 WHERE id = 1",
    )?;
    assert!(verified.all().contains("document `1`"), "{verified:?}");
    // Rolled back as advised, the next run cuts the row as it is now.
    wd.expect(&["rollback", "r1", "--execute"], 0)?;
    wd.expect(&["run", "--execute", "--run-id", "r2"], 0)?;
    let bodies = wd.column("SELECT text FROM iu_cutter_active_units WHERE document = '1'")?;
    assert!(bodies.concat().contains("Rewritten"), "{bodies:?}");
    Ok(())
}

/// Adversarial (adv43): [`verifying_a_held_run_sees_the_applications_edit_since_the_hold`] with
/// law 2 deleted by the application instead: the sync `verify` now makes reports it gone from
/// the source, but the verification of the tracking copies still answered PASS, "after review,
/// enact", an enact that refuses law 2 (no row). The held run is to be rolled back, and
/// `verify` must say so, naming the document.
#[test]
fn verifying_a_held_run_names_a_row_deleted_since_the_hold() -> TestResult {
    let wd = sqlite_app(&three_laws())?;
    let verified = verify_r1_held_after(&wd, "DELETE FROM laws WHERE id = 2")?;
    let all = verified.all();
    assert!(all.contains("document `2`"), "{all}");
    assert!(all.contains("rollback r1"), "{all}");
    Ok(())
}
