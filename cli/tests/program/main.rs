//! The `program` test binary: the real `iu-cutter` binary end to end, one module per concern
//! (as ripgrep's `tests/tests.rs`), all on the one harness of [`support`].
//!
//! - `cli`: the first-use flow, errors and the build's report of itself;
//! - `operator`: the operator's day (plan, hold, enact, diff, purge, reports, audit, rollback);
//! - `conventions`: JSON output and errors, logs, completions, colour, URLs, paths;
//! - `export`: reading the units out: `units --text`, a held run's staged units, `export`;
//! - `bad_input`: bad input and unusable backup directories, stop files and signals, tampered
//!   backups, secrets kept out of output (and the 100 MB document, `IU_CUTTER_BIG_TESTS=1`);
//! - `attack_ownership`: adversarial regressions of the ownership rules;
//! - `source`, `source_attack`: an application's table as the source, and attacks on it;
//! - `faults`: SIGKILL at seeded moments, then resume or rollback (`cargo xtask faults` runs 50);
//! - `postgres_conn`: TLS and least privilege against the test PostgreSQL server.
//!
//! The PostgreSQL tests need `IU_CUTTER_TEST_PG_URL` (and the variables `cargo xtask ci`
//! derives from it): without them they say they are skipped, and in CI they fail
//! (`iu_cutter_test_env`).

mod attack_ownership;
mod bad_input;
mod cli;
mod conventions;
mod export;
mod faults;
mod operator;
mod postgres_conn;
mod source;
mod source_attack;
mod support;
