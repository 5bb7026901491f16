//! Cutting the documents where they live: an application's own table (`[source]`), edited by
//! the application throughout, on SQLite and on PostgreSQL, with the real binary.
//!
//! One scenario on both backends: attach, run, a held run and its enact, edits that make
//! documents stale (the reader view says so at once), incremental runs (`run --stale` cuts only
//! the edited documents), an edit landing between write-verify and enact (BLOCKED, nothing
//! enacted), and rollbacks. Meanwhile a writer keeps updating every row of the table. At the end
//! the table is exactly what the application wrote: the initial rows, the test's edits and the
//! writer's counter, nothing else; on PostgreSQL every iu-cutter command after `init` runs as a
//! role that may only SELECT from the table, so iu-cutter cannot have written it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{Connection as _, Row as _};

use crate::support::postgres::{Schema, execute, in_schema, server};
use crate::support::{Error, Run, TestResult, Workdir, block_on, examples};

/// Where the application's table lives.
#[derive(Clone, Debug)]
enum App {
    /// In the SQLite file iu-cutter uses too.
    Sqlite(PathBuf),
    /// In schema `app` of the PostgreSQL database at `url` (the owner's).
    Postgres { url: String, app: String },
}

impl App {
    /// The application table's qualified name.
    fn table(&self) -> String {
        match self {
            App::Sqlite(_) => "laws".to_owned(),
            App::Postgres { app, .. } => format!("{app}.laws"),
        }
    }

    /// Runs `statement` (with text parameters `binds`) as the application; every column of every
    /// row as text.
    fn sql(&self, statement: &str, binds: &[&str]) -> Result<Vec<Vec<Option<String>>>, Error> {
        let statement = statement.replace("{laws}", &self.table());
        block_on(async {
            match self {
                App::Sqlite(path) => {
                    let url = format!("sqlite://{}", path.display());
                    fetch_text(
                        sqlx::SqliteConnection::connect(&url).await?,
                        statement,
                        binds,
                    )
                    .await
                }
                App::Postgres { url, .. } => {
                    fetch_text(sqlx::PgConnection::connect(url).await?, statement, binds).await
                }
            }
        })
        .map_err(Error::from)
    }

    /// Creates the table and fills it with `documents` (id, body), all published but the last.
    fn create(&self, documents: &[(i64, String)]) -> Result<(), Error> {
        self.sql(
            "CREATE TABLE {laws} (id BIGINT PRIMARY KEY, content TEXT NOT NULL, \
             updated_at BIGINT NOT NULL, status TEXT NOT NULL, title TEXT, lang TEXT, \
             views BIGINT NOT NULL DEFAULT 0, units TEXT NOT NULL DEFAULT 'metric')",
            &[],
        )?;
        for (index, (id, body)) in documents.iter().enumerate() {
            let status = if index + 1 == documents.len() {
                "draft"
            } else {
                "published"
            };
            self.sql(
                &format!(
                    "INSERT INTO {{laws}} (id, content, updated_at, status, title, lang) \
                     VALUES ({id}, $1, 1, $2, $3, 'en')"
                ),
                &[body, status, &format!("Law {id}")],
            )?;
        }
        Ok(())
    }

    /// The application edits document `id`: appends `text` and moves `updated_at`.
    fn edit(&self, id: i64, text: &str) -> Result<(), Error> {
        self.sql(
            &format!(
                "UPDATE {{laws}} SET content = content || $1, updated_at = updated_at + 1 \
                 WHERE id = {id}"
            ),
            &[text],
        )?;
        Ok(())
    }

    /// Every row, every column but the writer's counter, as text, by id.
    fn rows(&self) -> Result<Vec<Vec<Option<String>>>, Error> {
        self.sql(
            "SELECT CAST(id AS TEXT), content, CAST(updated_at AS TEXT), status, title, lang \
             FROM {laws} ORDER BY id",
            &[],
        )
    }

    /// The writer's counter of every row.
    fn views(&self) -> Result<Vec<u64>, Error> {
        self.sql("SELECT CAST(views AS TEXT) FROM {laws} ORDER BY id", &[])?
            .into_iter()
            .map(|row| {
                let text = row.into_iter().next().flatten().ok_or("no views")?;
                Ok(text.parse::<u64>()?)
            })
            .collect()
    }
}

/// Every column of every row `statement` returns on `conn`, as text.
async fn fetch_text<C>(
    mut conn: C,
    statement: String,
    binds: &[&str],
) -> Result<Vec<Vec<Option<String>>>, sqlx::Error>
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
    for<'q> &'q str: sqlx::Encode<'q, C::Database> + sqlx::Type<C::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, C::Database> + sqlx::Type<C::Database>,
    usize: sqlx::ColumnIndex<<C::Database as sqlx::Database>::Row>,
{
    let mut query = sqlx::query(sqlx::AssertSqlSafe(statement));
    for bind in binds {
        query = query.bind(*bind);
    }
    let rows = query.fetch_all(&mut conn).await?;
    conn.close().await?;
    rows.iter()
        .map(|row| (0..row.len()).map(|i| row.try_get(i)).collect())
        .collect()
}

/// Asserts that `output` holds `text`.
#[track_caller]
fn says(output: &str, text: &str) {
    assert!(output.contains(text), "expected {text:?} in:\n{output}");
}

/// The reader view's rows: document -> (generation, stale, the units' text in order).
type View = BTreeMap<String, (String, bool, String)>;

/// Reads `active_units` as an application would, through iu-cutter's schema.
fn view(app: &App, store: &str) -> Result<View, Error> {
    let statement = format!(
        "SELECT document, generation, CAST(stale AS TEXT) AS stale_text, text, \
         CAST(ordinal AS TEXT) AS ordinal_text, \
         metadata FROM {store}active_units ORDER BY document, ordinal"
    );
    let mut view = View::new();
    for row in app.sql(&statement, &[])? {
        let [document, generation, stale, text, _, metadata] =
            <[Option<String>; 6]>::try_from(row).map_err(|_| "six columns")?;
        let document = document.ok_or("document")?;
        let metadata = metadata.ok_or("metadata")?;
        assert!(metadata.contains("\"title\":\"Law "), "{metadata}");
        let stale = matches!(stale.as_deref(), Some("1" | "true"));
        let entry = view
            .entry(document)
            .or_insert_with(|| (generation.clone().unwrap_or_default(), stale, String::new()));
        assert_eq!(
            Some(&entry.0),
            generation.as_ref(),
            "one generation per document"
        );
        assert_eq!(entry.1, stale, "one stale flag per document");
        entry.2.push_str(&text.ok_or("text")?);
    }
    Ok(view)
}

/// The corpus of real public documents shipped in `examples/corpus`, as numbered rows.
fn corpus() -> Result<Vec<(i64, String)>, Error> {
    let mut files = Vec::new();
    for dir in ["en", "md", "vi"] {
        for entry in std::fs::read_dir(examples().join(dir))? {
            files.push(entry?.path());
        }
    }
    files.sort();
    files
        .iter()
        .enumerate()
        .map(|(index, path)| Ok((index as i64 + 1, std::fs::read_to_string(path)?)))
        .collect()
}

/// A writer that updates every row's counter until stopped; how many of its updates landed.
struct Writer {
    stop: Arc<AtomicBool>,
    landed: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(app: &App) -> Writer {
        let (stop, landed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (app, stop_, landed_) = (app.clone(), stop.clone(), landed.clone());
        let thread = std::thread::spawn(move || {
            while !stop_.load(Ordering::Relaxed) {
                // A busy database (SQLite's one writer) refuses an update now and then: the
                // application retries, and only what landed counts.
                if app.sql("UPDATE {laws} SET views = views + 1", &[]).is_ok() {
                    landed_.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Writer {
            stop,
            landed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> Result<u64, Error> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| "the writer panicked")?;
        }
        Ok(self.landed.load(Ordering::Relaxed))
    }
}

/// How the scenario runs the program on one backend.
struct Program<'a> {
    wd: &'a Workdir,
    /// The URL every command after `init` uses.
    url: String,
}

impl Program<'_> {
    fn run(&self, args: &[&str], code: i32) -> Result<Run, Error> {
        self.wd
            .run_with(
                &[&["--database-url", self.url.as_str()], args].concat(),
                &[],
            )?
            .expect(code)
    }

    /// `run --stale` held after write-verify as run `run`.
    fn hold_stale(&self, run: &str) -> Result<Run, Error> {
        let args = ["run", "--execute", "--stale", "--run-id", run];
        self.run(&[&args[..], &["--until", "write-verify"]].concat(), 0)
    }
}

/// The scenario; `store` prefixes the view's name (PostgreSQL: iu-cutter's schema).
fn scenario(app: &App, program: &Program<'_>, store: &str) -> TestResult {
    let documents = corpus()?;
    let published: Vec<&(i64, String)> = documents[..documents.len() - 1].iter().collect();
    let mut expected: BTreeMap<String, String> = published
        .iter()
        .map(|(id, body)| (id.to_string(), body.clone()))
        .collect();
    let writer = Writer::start(app);

    // Attach and cut: exactly the published rows, each as its units, none stale.
    let first = program.run(&["run", "--execute", "--run-id", "r1"], 0)?;
    says(&first.stdout, "synced from");
    let seen = view(app, store)?;
    assert_eq!(seen.len(), expected.len(), "the draft is not cut: {seen:?}");
    for (id, body) in &expected {
        let (generation, stale, text) = &seen[id];
        assert_eq!((generation.as_str(), *stale), ("r1", false), "{id}");
        assert_eq!(text, body, "{id}: the units are the body, byte for byte");
    }

    // The application edits document 1: stale at once, for readers.
    app.edit(1, "\n\nArticle 99\nAdded by the application.\n")?;
    *expected.get_mut("1").ok_or("doc 1")? += "\n\nArticle 99\nAdded by the application.\n";
    let seen = view(app, store)?;
    assert!(
        seen["1"].1,
        "document 1 is stale once its row moved: {seen:?}"
    );
    assert!(seen.iter().filter(|(id, _)| *id != "1").all(|(_, v)| !v.1));

    // An incremental run cuts document 1 only, held for review; readers still see r1.
    let held = program.hold_stale("r2")?;
    says(&held.stdout, "--stale: 1 document(s)");
    assert_eq!(view(app, store)?["1"].0, "r1");
    program.run(&["enact", "r2", "--execute"], 0)?;
    let seen = view(app, store)?;
    assert_eq!(seen["1"], ("r2".to_owned(), false, expected["1"].clone()));
    assert!(
        seen.iter()
            .filter(|(id, _)| *id != "1")
            .all(|(_, v)| v.0 == "r1")
    );

    // An index that holds the export taken after r1 needs only document 1's changes.
    let since = program.run(&["export", "--since", "r1"], 0)?;
    let lines: Vec<serde_json::Value> = since
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert!(!lines.is_empty(), "{since:?}");
    assert!(
        lines.iter().all(|line| line["document"] == "1"),
        "{since:?}"
    );
    // Each line carries what the reader view shows: the row's revision the units were cut from
    // and the document's metadata columns.
    let cut_from = lines[0]["source_revision"]
        .as_str()
        .ok_or("source_revision")?;
    for line in &lines {
        assert_eq!(line["source_revision"], cut_from, "{line}");
        let title = line["metadata"]["title"].as_str().ok_or("metadata.title")?;
        assert!(title.starts_with("Law "), "{line}");
        assert!(line["metadata"]["lang"].is_string(), "{line}");
    }
    let full = program.run(&["export"], 0)?;
    for line in full.stdout.lines() {
        let line: serde_json::Value = serde_json::from_str(line)?;
        assert!(line["source_revision"].is_string(), "{line}");
        assert!(line["metadata"].is_object(), "{line}");
        if line["document"] == "1" {
            assert_eq!(line["source_revision"], cut_from, "{line}");
        } else {
            assert_ne!(line["source_revision"], cut_from, "{line}");
        }
    }
    let exported: String = full
        .stdout
        .lines()
        .map(serde_json::from_str::<serde_json::Value>)
        .filter_map(Result::ok)
        .filter(|line| line["document"] == "1")
        .filter_map(|line| line["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        exported, expected["1"],
        "the export holds the document, byte for byte"
    );

    // Document 2 is edited, cut and held; the application edits it again before enact: BLOCKED,
    // nothing enacted, and readers still see r1 (stale).
    app.edit(2, "\nFirst edit.\n")?;
    program.hold_stale("r3")?;
    app.edit(2, "\nSecond edit, during the run.\n")?;
    *expected.get_mut("2").ok_or("doc 2")? += "\nFirst edit.\n\nSecond edit, during the run.\n";
    let blocked = program.run(&["enact", "r3", "--execute"], 4)?;
    says(
        &blocked.stderr,
        "the application changed the row during the run",
    );
    let seen = view(app, store)?;
    assert_eq!((seen["2"].0.as_str(), seen["2"].1), ("r1", true));
    program.run(&["rollback", "r3", "--execute"], 0)?;

    // The next incremental run reads the edit and cuts document 2 only; its rollback puts r1
    // back for readers, stale again.
    let again = program.run(&["run", "--execute", "--stale", "--run-id", "r4"], 0)?;
    says(&again.stdout, "--stale: 1 document(s)");
    let seen = view(app, store)?;
    assert_eq!(seen["2"], ("r4".to_owned(), false, expected["2"].clone()));
    assert!(seen.values().all(|v| !v.1), "nothing stale: {seen:?}");
    program.run(&["rollback", "r4", "--execute"], 0)?;
    let seen = view(app, store)?;
    assert_eq!((seen["2"].0.as_str(), seen["2"].1), ("r1", true));
    let recut = program.run(&["run", "--execute", "--stale", "--run-id", "r5"], 0)?;
    says(&recut.stdout, "--stale: 1 document(s)");

    // The table is what the application wrote, and only that.
    let landed = writer.finish()?;
    assert!(landed > 0, "the writer never wrote");
    let mut bodies: BTreeMap<String, String> = documents
        .iter()
        .map(|(id, body)| (id.to_string(), body.clone()))
        .collect();
    bodies.extend(expected);
    for row in app.rows()? {
        let id = row[0].clone().ok_or("id")?;
        let edits = match id.as_str() {
            "1" => "2",
            "2" => "3",
            _ => "1",
        };
        let status = if id == documents.len().to_string() {
            "draft"
        } else {
            "published"
        };
        let expected_row = vec![
            Some(id.clone()),
            Some(bodies[&id].clone()),
            Some(edits.to_owned()),
            Some(status.to_owned()),
            Some(format!("Law {id}")),
            Some("en".to_owned()),
        ];
        assert_eq!(
            row, expected_row,
            "row {id} holds only the application's writes"
        );
    }
    assert!(
        app.views()?.iter().all(|views| *views == landed),
        "every update of the writer landed, none lost"
    );

    // A row the application takes out of the source (here: no longer published) is left out of
    // a full run, which would otherwise block at enact for want of its row; its units stay, stale.
    app.sql("UPDATE {laws} SET status = 'archived' WHERE id = 3", &[])?;
    let full = program.run(&["run", "--execute", "--run-id", "r6"], 0)?;
    says(&full.stdout, "left out 1 document(s) no longer in");
    let seen = view(app, store)?;
    assert_eq!(
        (seen["3"].0.as_str(), seen["3"].1),
        ("r1", true),
        "{seen:?}"
    );
    assert!(seen.iter().filter(|(id, _)| *id != "3").all(|(_, v)| !v.1));

    // D4 of the fourth attack: the application moves only the revision of one document, and
    // the revision and a metadata column of another. Both show stale, and `run --stale` cuts
    // exactly them, which clears it; a metadata change alone (a third) is not stale, the view
    // reading the metadata as the last sync copied it.
    let (revised, renamed, retitled) = ("4", "5", "1");
    app.sql(
        &format!("UPDATE {{laws}} SET updated_at = updated_at + 1 WHERE id = {revised}"),
        &[],
    )?;
    app.sql(
        &format!(
            "UPDATE {{laws}} SET updated_at = updated_at + 1, title = 'Law {renamed}, renamed' \
             WHERE id = {renamed}"
        ),
        &[],
    )?;
    app.sql(
        &format!("UPDATE {{laws}} SET title = 'Law {retitled}, renamed' WHERE id = {retitled}"),
        &[],
    )?;
    let seen = view(app, store)?;
    assert!(
        seen[revised].1 && seen[renamed].1 && !seen[retitled].1,
        "{seen:?}"
    );
    let touched = program.run(&["run", "--execute", "--stale", "--run-id", "r7"], 0)?;
    says(&touched.stdout, "--stale: 2 document(s)");
    let seen = view(app, store)?;
    assert_eq!(
        (seen[revised].0.as_str(), seen[renamed].0.as_str()),
        ("r7", "r7")
    );
    assert!(
        seen.iter().filter(|(id, _)| *id != "3").all(|(_, v)| !v.1),
        "nothing stale after run --stale: {seen:?}"
    );
    Ok(())
}

/// The configuration of the scenario's source.
fn source_config(table: &str, schema: Option<&str>) -> String {
    let schema = schema
        .map(|s| format!("schema = \"{s}\"\n"))
        .unwrap_or_default();
    format!(
        "{schema}[source]\ntable = \"{table}\"\nid = \"id\"\nbody = \"content\"\n\
         revision = \"updated_at\"\nwhere = \"status = 'published' AND units = 'metric'\"\n\
         metadata = [\"title\", \"lang\"]\n"
    )
}

/// The application's own tables named as iu-cutter's would be without a prefix, with rows.
const APP_TABLES: &str = "CREATE TABLE documents (id INTEGER PRIMARY KEY, title TEXT); \
     CREATE TABLE units (id INTEGER PRIMARY KEY, name TEXT); \
     CREATE VIEW active_units AS SELECT name FROM units; \
     INSERT INTO documents VALUES (1, 'the application''s document'); \
     INSERT INTO units VALUES (1, 'metre'), (2, 'second')";

/// The application's own `documents` and `units`, every row as text.
fn app_tables(app: &App) -> Result<Vec<Vec<Option<String>>>, Error> {
    let mut rows = app.sql(
        "SELECT CAST(id AS TEXT), title FROM documents ORDER BY id",
        &[],
    )?;
    rows.extend(app.sql("SELECT CAST(id AS TEXT), name FROM units ORDER BY id", &[])?);
    rows.extend(app.sql(
        "SELECT name, sql FROM sqlite_master WHERE name = 'active_units'",
        &[],
    )?);
    Ok(rows)
}

/// In the application's SQLite file, iu-cutter's tables are prefixed (`iu_cutter_…`): the
/// application's own `documents`, `units` and view `active_units` stay as they were, and a
/// `[source] where` naming the application's column `units` is the application's, never
/// iu-cutter's table.
#[test]
fn an_application_table_is_cut_in_place_on_sqlite_while_the_application_writes() -> TestResult {
    let wd = Workdir::new()?;
    let file = wd.path().join("app.sqlite");
    let app = App::Sqlite(file.clone());
    std::fs::File::create(&file)?;
    app.create(&corpus()?)?;
    for statement in APP_TABLES.split("; ") {
        app.sql(statement, &[])?;
    }
    let before = app_tables(&app)?;
    assert_eq!(before.len(), 4, "{before:?}");
    wd.write("cutter.toml", source_config("laws", None).as_bytes())?;
    let program = Program {
        wd: &wd,
        url: format!("sqlite://{}", file.display()),
    };
    let plan = program.run(&["init"], 3)?;
    says(
        &plan.stdout,
        "table iu_cutter_documents, table iu_cutter_generations",
    );
    says(&plan.stdout, "view iu_cutter_active_units");
    let init = program.run(&["init", "--execute"], 0)?;
    says(
        &init.stdout,
        "view iu_cutter_active_units now compares the documents with laws",
    );
    scenario(&app, &program, "iu_cutter_")?;
    assert_eq!(
        app_tables(&app)?,
        before,
        "the application's own tables are untouched"
    );
    let ours = app.sql(
        "SELECT name FROM sqlite_master WHERE substr(name, 1, 10) = 'iu_cutter_' ORDER BY name",
        &[],
    )?;
    // iu-cutter's objects under the prefix are exactly these: tables, indexes, the reader view and
    // the change log's triggers (migrations 8 and 11); the application's own are compared above.
    let expected: Vec<String> = [
        "active_units",
        "control",
        "document_change_holds",
        "document_change_windows",
        "document_changes",
        "document_changes_by_mark",
        "document_changes_end_window_insert",
        "document_changes_end_window_update",
        "documents",
        "documents_by_state",
        "documents_log_delete",
        "documents_log_insert",
        "documents_log_update",
        "generations",
        "generations_log_delete",
        "generations_log_insert",
        "generations_log_update",
        "run_backup_parts",
        "run_backups",
        "run_leases",
        "run_phases",
        "run_plan_parts",
        "run_plans",
        "run_reports",
        "runs",
        "runs_by_last_start",
        "runs_by_status",
        "schema_migrations",
        "units",
        "units_log_delete",
        "units_log_insert",
        "units_log_update",
    ]
    .iter()
    .map(|name| format!("iu_cutter_{name}"))
    .collect();
    let names: Vec<String> = ours
        .iter()
        .filter_map(|row| row.first().cloned().flatten())
        .collect();
    assert_eq!(names, expected, "iu-cutter's objects, prefixed");
    Ok(())
}

#[test]
fn an_application_table_is_cut_in_place_on_postgres_by_a_role_that_may_only_read_it() -> TestResult
{
    let Some(server) =
        server("an_application_table_is_cut_in_place_on_postgres_by_a_role_that_may_only_read_it")
    else {
        return Ok(());
    };
    let application = Schema::create(&server.owner, "app")?;
    let store = Schema::create(&server.owner, "iu")?;
    let app = App::Postgres {
        url: server.owner.clone(),
        app: application.name.clone(),
    };
    app.create(&corpus()?)?;
    let role = server.runtime_role()?;
    let wd = Workdir::new()?;
    let table = format!("{}.laws", application.name);
    wd.write(
        "cutter.toml",
        source_config(&table, Some(&store.name)).as_bytes(),
    )?;
    // The owner creates iu-cutter's schema (and the view, which reads the table as its owner)…
    let owner = Program {
        wd: &wd,
        url: server.owner.clone(),
    };
    owner.run(&["init", "--execute", "--grant-runtime", &role], 0)?;
    // …and gives the runtime role SELECT on the application's table, nothing more.
    execute(
        &server.owner,
        &format!("GRANT USAGE ON SCHEMA {} TO {role}", application.name),
    )?;
    execute(&server.owner, &format!("GRANT SELECT ON {table} TO {role}"))?;
    let runtime_plain = in_schema(&server.runtime, &store.name);
    let write = execute(&runtime_plain, &format!("UPDATE {table} SET views = 0"));
    assert!(
        write
            .as_ref()
            .is_err_and(|e| e.to_string().contains("permission denied")),
        "the runtime role must not be able to write the source: {write:?}"
    );
    let runtime = Program {
        wd: &wd,
        url: server.runtime.clone(),
    };
    scenario(&app, &runtime, &format!("{}.", store.name))
}

#[test]
fn import_names_the_fields_it_does_not_keep_and_refuses_a_store_with_a_source() -> TestResult {
    let wd = Workdir::new()?;
    wd.expect(&["init", "--execute"], 0)?;
    wd.write(
        "in/laws.jsonl",
        b"{\"id\": \"a\", \"body\": \"Article 1\\nOne.\\n\", \"title\": \"A\", \"lang\": \"en\"}\n",
    )?;
    let imported = wd.expect(&["import", "--execute", "in"], 0)?;
    says(
        &imported.stderr,
        "JSON Lines fields not imported: lang, title",
    );

    // A store that reads an application's table takes no imports: they would never be synced.
    wd.write("cutter.toml", source_config("laws", None).as_bytes())?;
    let refused = wd.expect(&["import", "--execute", "in"], 8)?;
    says(&refused.stderr, "reads its documents from the table laws");
    assert_eq!(wd.census()?.documents, 1, "nothing more was imported");
    Ok(())
}
