//! The adapter contract suite against SQLite (a new database file per test), plus the checks
//! only live stores have (control row, `init`/`connect`) and SQLite's connection errors.

use iu_cutter_live_execution::AdapterError;
use iu_cutter_live_execution::sql::{ConnectOptions, connect, connect_with, init};
use iu_cutter_tests::change_log::changed;
use iu_cutter_tests::contract::error;
use iu_cutter_tests::fixture::{open_gate, refused_connection};
use iu_cutter_tests::ok;

iu_cutter_tests::sql_store_suites!(iu_cutter_tests::fixture::sqlite);
iu_cutter_tests::live_suite!(iu_cutter_tests::fixture::sqlite);
iu_cutter_tests::no_clobber_suite!(iu_cutter_tests::fixture::sqlite);

fn temp_dir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

/// `connect` never creates a database: a missing file is a clear error and stays missing.
#[tokio::test]
async fn connect_to_a_missing_file_names_it_and_creates_nothing() {
    let dir = temp_dir();
    let path = dir.path().join("absent.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let text = refused_connection(&ConnectOptions::new(url), "missing file").await;
    assert!(text.contains("absent.db"), "{text}");
    assert!(text.contains("iu-cutter init"), "{text}");
    assert!(!path.exists(), "connect created the file");
}

/// A SQLite file without iu-cutter's schema is refused with the next action.
#[tokio::test]
async fn connect_without_the_schema_says_run_init() {
    let dir = temp_dir();
    let path = dir.path().join("other.db");
    if let Err(e) = std::fs::write(&path, b"") {
        panic!("cannot write {}: {e}", path.display());
    }
    let err = refused_connection(
        &ConnectOptions::new(path.display().to_string()),
        "no schema",
    )
    .await;
    assert!(err.contains("run `iu-cutter init`"), "{err}");
    let report = ok(init(&path.display().to_string()).await, "init");
    assert_eq!(
        report.applied,
        (1..=iu_cutter_live_execution::sql::DATABASE_SCHEMA_VERSION).collect::<Vec<_>>()
    );
    ok(
        connect_with(
            &ConnectOptions::new(path.display().to_string()),
            open_gate(),
        )
        .await,
        "connect after init",
    );
}

/// Unsupported URLs are refused, never mapped onto something else.
#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in ["mysql://u:hunter2@h/db", "sqlite::memory:", ""] {
        let err = error(
            connect(url, open_gate()).await,
            |e| matches!(e, AdapterError::Invalid(_)),
            url,
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}

/// The SQLite twin of PostgreSQL's `search_path` case: a session opened on another store's
/// file that attaches this one and writes its tables through the alias stamps this store's log
/// (a trigger's statements name tables of its own database), never the other's. Naming the log
/// `main.document_changes` in the triggers would break exactly this.
#[tokio::test]
async fn a_writer_that_attaches_the_store_stamps_its_log() {
    use iu_cutter_live_execution::prelude::*;
    use iu_cutter_live_execution::{DocumentId, LiveExecutionAdapter};
    use iu_cutter_tests::fixture::{Fixture, SqlFixture};
    use sqlx::Connection;

    let name = "a_writer_that_attaches_the_store_stamps_its_log";
    let (Some(this), Some(other)) = (
        iu_cutter_tests::fixture::sqlite(name).await,
        iu_cutter_tests::fixture::sqlite(&format!("{name}_other")).await,
    ) else {
        return;
    };
    let store: &dyn LiveExecutionAdapter = this.adapter();
    let a = DocumentId::new("a");
    ok(store.put_document(&a, "Điều 1. A.").await, "put a");
    ok(
        other.adapter().put_document(&a, "Điều 1. A, there.").await,
        "put there",
    );
    let census = ok(store.scope_census(&[]).await, "mark");
    let other_census = ok(other.adapter().scope_census(&[]).await, "the other's mark");

    let file = |options: &ConnectOptions| {
        let url = options.url.trim_start_matches("sqlite://");
        url.split('?').next().unwrap_or_default().to_owned()
    };
    let mut writer = match sqlx::SqliteConnection::connect(&other.options().url).await {
        Ok(conn) => conn,
        Err(e) => panic!("connect: {e}"),
    };
    for statement in [
        format!("ATTACH DATABASE '{}' AS s", file(this.options())),
        "UPDATE s.documents SET revision = revision + 1 WHERE id = 'a'".to_owned(),
        "DETACH DATABASE s".to_owned(),
    ] {
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut writer)
            .await
        {
            panic!("{statement}: {e}");
        }
    }
    let _ = writer.close().await;
    assert_eq!(
        changed(store, &census.mark).await,
        vec![a],
        "this store's log"
    );
    assert_eq!(
        changed(other.adapter(), &other_census.mark).await,
        [],
        "the other store's log is left alone"
    );
}

/// Adversarial (store55): on SQLite, enact given write-verify's proof ([`StagedProof`]) still
/// hashes the staged bodies, because no witness a proof could read survives a writer: a unit
/// rewritten after write-verify's read, with the change log copied before and put back after
/// (plain SQL on an ordinary table), leaves the log's high-water mark, the document's entry,
/// the `schema_version` cookie and the count of staged units as write-verify saw them. Enact
/// must refuse it, and enacts nothing.
#[tokio::test]
async fn a_unit_rewritten_with_the_change_log_put_back_is_refused_despite_a_proof() {
    use iu_cutter_live_execution::prelude::*;
    use iu_cutter_live_execution::{RunId, StagedProof};
    use iu_cutter_tests::contract::{conflict, expect, staged_digest, units_for};
    use iu_cutter_tests::fixture::{Fixture, SqlFixture};
    use sqlx::Connection as _;

    let Some(fixture) = iu_cutter_tests::fixture::sqlite("rewritten_log_put_back").await else {
        return;
    };
    let store = fixture.adapter();
    let a = iu_cutter_tests::put(store, "a", "Điều 1. Một.\nĐiều 2. Hai.\nĐiều 3. Ba.\n").await;
    let r = RunId::new("r");
    ok(store.fence(&r, &[expect(&a)]).await, "fence");
    let units = units_for(&a, &r, 3);
    ok(store.write_units(&r, &units).await, "write");
    let read = ok(
        store
            .generation_digests_of(std::slice::from_ref(&a.id), &r)
            .await,
        "write-verify's read",
    );
    let read_after = read[0].read_after.clone().unwrap_or_else(|| "none".into());

    let witnesses = "SELECT (SELECT max(mark) FROM document_changes), \
         (SELECT mark FROM document_changes WHERE document = 'a'), \
         (SELECT schema_version FROM pragma_schema_version), \
         (SELECT count(*) FROM units WHERE document = 'a' AND generation = 'r')";
    let mut app = sql_ok(
        sqlx::SqliteConnection::connect(&fixture.options().url).await,
        "the application's connection",
    );
    let before: (i64, i64, i64, i64) = sql_ok(
        sqlx::query_as(witnesses).fetch_one(&mut app).await,
        "the witnesses before",
    );
    for statement in [
        "CREATE TEMP TABLE saved AS SELECT document, mark FROM document_changes",
        "UPDATE units SET body = 'sửa lén' WHERE document = 'a' AND generation = 'r' \
         AND ordinal = 1",
        "DELETE FROM document_changes",
        "INSERT INTO document_changes (document, mark) SELECT document, mark FROM temp.saved",
    ] {
        sql_ok(sqlx::query(statement).execute(&mut app).await, statement);
    }
    let after: (i64, i64, i64, i64) = sql_ok(
        sqlx::query_as(witnesses).fetch_one(&mut app).await,
        "the witnesses after",
    );
    assert_eq!(after, before, "a witness moved: the rewrite was not hidden");
    sql_ok(app.close().await, "closing the application's connection");

    let before = ok(store.snapshot().await, "snapshot");
    let proved = expect(&a)
        .with_staged_units(staged_digest(&units))
        .with_staged_proof(Some(StagedProof {
            read_after,
            units: units.len() as u64,
        }));
    conflict(
        store.enact(&r, &[proved]).await,
        "a",
        "rewritten, the log put back",
    );
    assert_eq!(
        ok(store.snapshot().await, "snapshot"),
        before,
        "the refused enact changed the store"
    );
}

/// `result`'s value, or a panic naming `what`.
fn sql_ok<T>(result: Result<T, sqlx::Error>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what}: {error}"),
    }
}
