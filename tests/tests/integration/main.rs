//! The `integration` test binary of the `iu-cutter-tests` crate: one binary, a module per
//! concern (as ripgrep's `tests/tests.rs`), so that the suites link once and share one build.
//!
//! - `contract_simulator`, `contract_sqlite`, `contract_postgres`: the adapter contract, the
//!   live-only checks and the no-clobber suite per store, and each store's connection errors;
//!   `contract_sqlite_prefixed`: the contract on a SQLite file shared with an application;
//! - `runners`: several runners on one store, and the race and edit trials, per SQL store;
//! - `attack_postgres`, `attack_batch_postgres`: overlapping writers on PostgreSQL (the latter
//!   against the batch statements);
//! - `bounded_transactions`: fence and enact in batches, stopped between two, resumed or rolled
//!   back, per store;
//! - `attack_backup_reads`: the backup's batch reads over odd ids, 1,000 and 1,001 ids a batch,
//!   and a document changed or deleted between its two reads, each run rolled back exactly;
//! - `edits_underneath`: an edit between backup and fence;
//! - `out_of_scope`: raw SQL outside a run's scope before write-verify, per SQL store (the
//!   change log against the whole census's promise);
//! - `faults_simulator`: the fault-injection matrix on the simulator;
//! - `load_back_off`: the PostgreSQL load probe a run backs off on between batches;
//! - `properties`, `state_machine`, `differential`: property, model-based and differential
//!   tests (their regressions in `tests/proptest-regressions/`).
//!
//! The PostgreSQL tests need `IU_CUTTER_TEST_PG_URL`: without it they say they are skipped, and
//! in CI they fail (`iu_cutter_test_env`).

/// For each `$check`, one `#[tokio::test]` per store, each handing `$check` the fixture that
/// `iu_cutter_tests::fixture::$store` gives for the test's name (`None` skips the test), and
/// finishing the fixture once the check passed. Attributes written before a test (such as
/// `#[ignore = "…"]`) go on that test.
macro_rules! on_fixtures {
    ($($check:ident: $($(#[$attr:meta])* $test:ident on $store:ident),+ $(,)?);+ $(;)?) => {$($(
        $(#[$attr])*
        #[tokio::test]
        async fn $test() -> $crate::TestResult {
            // `None`: skipped, and the fixture said why (in CI it fails instead).
            match iu_cutter_tests::fixture::$store(stringify!($test)).await {
                Some(fixture) => {
                    $check(&fixture).await?;
                    iu_cutter_tests::fixture::Fixture::finish(fixture).await;
                    Ok(())
                }
                None => Ok(()),
            }
        }
    )+)+};
}

mod attack_backup_reads;
mod attack_batch_postgres;
mod attack_export;
mod attack_postgres;
mod attack_seam;
mod bounded_transactions;
mod contract_postgres;
mod contract_simulator;
mod contract_sqlite;
mod contract_sqlite_prefixed;
mod deleted_meanwhile;
mod differential;
mod edits_underneath;
mod faults_simulator;
mod load_back_off;
mod out_of_scope;
mod properties;
mod runners;
mod state_machine;

/// Two laws in the words of the legal-en preset: `law/1` of two articles, `law/2` of one.
const TWO_LAWS: [(&str, &str); 2] = [
    ("law/1", "Article 1\nOne.\nArticle 2\nTwo.\n"),
    ("law/2", "Article 1\nOnly.\n"),
];

/// What a test that can fail with an error returns.
type TestResult = Result<(), Box<dyn std::error::Error>>;
