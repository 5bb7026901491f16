//! `cargo xtask faults`: the fault-injection harness.
//!
//! Each suite is one test of a package's one test binary, run alone (`--exact`):
//!
//! 1. The simulator matrix (`tests/tests/integration/faults_simulator.rs`) with
//!    `IU_CUTTER_FAULTS_FULL=1`: every adapter call index × {error, crash before applying, crash
//!    after applying} over a fixed set of scenarios, each resumed to the fault-free end state,
//!    and a rollback from every crash back to the pre-run census.
//! 2. The real program on SQLite (`cli/tests/program/faults.rs`): `iu-cutter run`
//!    killed with SIGKILL at seeded random moments, then resume (PASS, the reference store's
//!    census) and rollback from a copy of the killed state (the pre-run census).
//! 3. Two runners racing on one scope (`tests/tests/integration/runners.rs`, see
//!    `iu_cutter_tests::races`): `--race-trials` (default 100) trials per store at seeded random
//!    offsets; each document is enacted by exactly one of the overlapping runs, the other stops
//!    at its fence having written no unit, and rolling back gives back the pre-run census.
//! 4. An edit injected by a database trigger at every phase boundary, on both stores: no run
//!    ends PASS with units that do not tile the current body, and no rollback reverts the edit.
//! 5. The 100 MB document on SQLite (`cli/tests/program/bad_input.rs`, gated by
//!    `IU_CUTTER_BIG_TESTS=1`: about 25 s in a debug build), counted as one trial.
//!
//! The PostgreSQL trials need `IU_CUTTER_TEST_PG_URL` (`cargo xtask pg-setup` prints one);
//! without it they are skipped, and the task says so. Every suite prints `N passed, M failed`;
//! this task sums them and prints the total the same way. The normal test suite runs the same
//! tests in a small version (and skips the 100 MB one).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::args;
use crate::cargo::{self, workspace_root};

/// SIGKILL trials by default.
const DEFAULT_TRIALS: &str = "50";
/// Race trials per store by default.
const DEFAULT_RACE_TRIALS: &str = "100";
/// The seed of the kill moments by default (printed; pass `--seed` to replay another).
const DEFAULT_SEED: &str = "0x1005eedf00d";

/// `cargo test` of exactly one test of a package's one test binary, with its output.
const fn one_test(
    package: &'static str,
    binary: &'static str,
    test: &'static str,
) -> [&'static str; 9] {
    [
        "test",
        "-p",
        package,
        "--test",
        binary,
        "--",
        "--nocapture",
        "--exact",
        test,
    ]
}

/// [`one_test`] of the `integration` binary of `iu-cutter-tests`.
const fn integration_test(test: &'static str) -> [&'static str; 9] {
    one_test("iu-cutter-tests", "integration", test)
}

/// [`one_test`] of the `program` binary of `iu-cutter`, the real program's tests.
const fn program_test(test: &'static str) -> [&'static str; 9] {
    one_test("iu-cutter", "program", test)
}

/// The simulator matrix (module `faults_simulator`).
const MATRIX: [&str; 9] = integration_test("faults_simulator::fault_matrix_on_the_simulator");
/// SIGKILL of the real program (module `faults`).
const SIGKILL: [&str; 9] =
    program_test("faults::sigkill_at_random_moments_then_resume_or_rollback");
const RACES_SQLITE: [&str; 9] = integration_test("runners::sqlite::two_runners_race_on_one_scope");
const RACES_POSTGRES: [&str; 9] =
    integration_test("runners::postgres::two_runners_race_on_one_scope");
const EDITS_SQLITE: [&str; 9] =
    integration_test("runners::sqlite::edits_by_trigger_at_every_phase_boundary");
const EDITS_POSTGRES: [&str; 9] =
    integration_test("runners::postgres::edits_by_trigger_at_every_phase_boundary");
/// The 100 MB document (module `bad_input`).
const BIG_DOCUMENT: [&str; 9] = program_test("bad_input::a_100_mb_document_imports_plans_and_runs");

/// A test to run: its name, cargo's arguments, its environment.
type Suite<'a> = (&'a str, &'a [&'a str], Vec<(&'a str, &'a str)>);

struct Options {
    trials: String,
    race_trials: String,
    seed: String,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let defaults = Options {
        trials: DEFAULT_TRIALS.to_owned(),
        race_trials: DEFAULT_RACE_TRIALS.to_owned(),
        seed: DEFAULT_SEED.to_owned(),
    };
    args::read(args, defaults, |options, arg, args| {
        let name = arg.name;
        match name {
            "--trials" => options.trials = count(name, args.value(arg, "a value")?)?,
            "--race-trials" => options.race_trials = count(name, args.value(arg, "a value")?)?,
            "--seed" => options.seed = args.value(arg, "a value")?.to_owned(),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

/// `value`, the value of option `name`, once it is known to be a whole number.
fn count(name: &str, value: &str) -> Result<String, String> {
    match value.parse::<u64>() {
        Ok(_) => Ok(value.to_owned()),
        Err(_) => Err(format!("{name}: `{value}` is not a number")),
    }
}

/// The last `N passed, M failed` line of `text`.
fn tally(text: &str) -> Option<(u64, u64)> {
    text.lines().rev().find_map(|line| {
        let (passed, failed) = line.trim().split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    })
}

/// Runs `cargo args` with `env`, echoing its stdout; returns (success, stdout).
fn cargo_echo(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(bool, String), String> {
    eprintln!("xtask faults: cargo {}", args.join(" "));
    let mut child = Command::new(cargo::bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let mut captured = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading cargo's output: {e}"))?;
            println!("{line}");
            captured.push_str(&line);
            captured.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    Ok((status.success(), captured))
}

/// `cargo xtask faults [--trials N] [--race-trials N] [--seed S]`: builds the program, runs every
/// suite of the harness, and fails when any trial lost data or failed.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let root = workspace_root()?;
    let started = Instant::now();
    let (built, _) = cargo_echo(&root, &cargo::BUILD_PROGRAM, &[])?;
    if !built {
        return Err("building iu-cutter failed".into());
    }
    let mut totals = Totals::default();
    for (name, args, env) in &suites(&options) {
        let (ok, out) = cargo_echo(&root, args, env)?;
        totals.add_suite(name, ok, &out);
    }
    // The 100 MB document (too slow for the default suite in debug builds): no tally, pass/fail.
    let (ok, _) = cargo_echo(&root, &BIG_DOCUMENT, &[("IU_CUTTER_BIG_TESTS", "1")])?;
    totals.add_trial(ok, "the 100 MB document test failed");
    eprintln!(
        "xtask faults: seed {}, {} s",
        options.seed,
        started.elapsed().as_secs()
    );
    println!("{} passed, {} failed", totals.passed, totals.failed);
    if totals.failed > 0 || !totals.broken.is_empty() {
        return Err(format!(
            "fault injection found losses or failures: {}",
            totals.broken.join("; ")
        ));
    }
    Ok(())
}

/// The suites that print a tally: the simulator matrix, SIGKILL, races and edits on SQLite, and
/// races and edits on PostgreSQL when `IU_CUTTER_TEST_PG_URL` names one.
fn suites(options: &Options) -> Vec<Suite<'_>> {
    let race_env = vec![
        ("IU_CUTTER_FAULTS_RACE_TRIALS", options.race_trials.as_str()),
        ("IU_CUTTER_FAULTS_SEED", options.seed.as_str()),
    ];
    let mut suites: Vec<Suite<'_>> = vec![
        (
            "simulator matrix",
            &MATRIX,
            vec![("IU_CUTTER_FAULTS_FULL", "1")],
        ),
        (
            "SIGKILL on SQLite",
            &SIGKILL,
            vec![
                ("IU_CUTTER_FAULTS_TRIALS", options.trials.as_str()),
                ("IU_CUTTER_FAULTS_SEED", options.seed.as_str()),
            ],
        ),
        (
            "two runners racing on SQLite",
            &RACES_SQLITE,
            race_env.clone(),
        ),
        ("edits underneath on SQLite", &EDITS_SQLITE, Vec::new()),
    ];
    if std::env::var("IU_CUTTER_TEST_PG_URL").is_ok_and(|url| !url.trim().is_empty()) {
        suites.push((
            "two runners racing on PostgreSQL",
            &RACES_POSTGRES,
            race_env,
        ));
        suites.push((
            "edits underneath on PostgreSQL",
            &EDITS_POSTGRES,
            Vec::new(),
        ));
    } else {
        eprintln!(
            "xtask faults: skipped the PostgreSQL trials: IU_CUTTER_TEST_PG_URL is not set \
             (`cargo xtask pg-setup` prints one)"
        );
    }
    suites
}

/// The trials passed and failed over every suite, and what went wrong besides failed trials.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    broken: Vec<String>,
}

impl Totals {
    /// Adds the tally of suite `name` from its output `out`; `ok` is whether its test passed.
    fn add_suite(&mut self, name: &str, ok: bool, out: &str) {
        match tally(out) {
            Some((p, f)) => {
                eprintln!("xtask faults: {name}: {p} passed, {f} failed");
                self.passed += p;
                self.failed += f;
            }
            None => self
                .broken
                .push(format!("{name}: no tally (the test did not finish)")),
        }
        if !ok {
            self.broken.push(format!("{name}: the test failed"));
        }
    }

    /// Adds a test that counts as one trial, passed when `ok`; `failure` says what went wrong.
    fn add_trial(&mut self, ok: bool, failure: &str) {
        if ok {
            self.passed += 1;
        } else {
            self.failed += 1;
            self.broken.push(failure.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_reads_the_last_line() {
        assert_eq!(tally("x\n3 passed, 1 failed\n"), Some((3, 1)));
        assert_eq!(tally("507 passed, 0 failed"), Some((507, 0)));
        assert_eq!(tally("test result: ok. 1 passed; 0 failed"), None);
    }

    #[test]
    fn options_parse() -> Result<(), String> {
        let o = parse(&["--trials".into(), "7".into(), "--seed=42".into()])?;
        assert_eq!((o.trials.as_str(), o.seed.as_str()), ("7", "42"));
        assert_eq!(o.race_trials, DEFAULT_RACE_TRIALS);
        let o = parse(&["--race-trials=3".into()])?;
        assert_eq!(o.race_trials, "3");
        assert!(parse(&["--race-trials".into(), "x".into()]).is_err());
        assert!(parse(&["--trials".into(), "x".into()]).is_err());
        assert!(parse(&["--other".into()]).is_err());
        Ok(())
    }
}
