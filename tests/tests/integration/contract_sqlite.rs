//! The adapter contract suite against SQLite (a new database file per test), plus the checks
//! only live stores have (control row, `init`/`connect`) and SQLite's connection errors.

use iu_cutter_live_execution::AdapterError;
use iu_cutter_live_execution::sql::{ConnectOptions, connect, connect_with, init};
use iu_cutter_tests::contract::error;
use iu_cutter_tests::fixture::{open_gate, refused_connection};
use iu_cutter_tests::ok;

iu_cutter_tests::contract_suite!(iu_cutter_tests::fixture::sqlite);
iu_cutter_tests::change_log_live_suite!(iu_cutter_tests::fixture::sqlite);
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
