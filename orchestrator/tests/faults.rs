//! Crash safety of the real program on SQLite: `iu-cutter run` killed with SIGKILL at seeded
//! random moments, then `iu-cutter resume RUN --execute` (or `run` again with the same run id
//! when the kill came before the run was journaled). Every trial must end PASS with the store
//! equal, census for census (every document, generation and unit), to a fault-free reference
//! store's; and, from a copy of the killed state, `iu-cutter rollback RUN --execute` must restore
//! the pre-run census.
//!
//! `IU_CUTTER_FAULTS_TRIALS` (default 5; `cargo xtask faults` sets 50) trials, seeded by
//! `IU_CUTTER_FAULTS_SEED` (default fixed, printed). The test prints a tally line
//! `N passed, M failed`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use iu_cutter_live_execution::sql;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{Census, ExecutionGate};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_iu-cutter");
const RUN_ID: &str = "kill-1";
const DEFAULT_SEED: u64 = 0x1u64 << 40 | 0x5eed_f00d;
const DB: &str = "iu-cutter.sqlite";

/// A tiny xorshift64*: deterministic, seedable, no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// The program, copied once into the test's temporary directory so that a concurrent cargo
/// build re-linking `target/debug/iu-cutter` cannot pull it away mid-trial.
static PROGRAM: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(PROGRAM.get().map_or(Path::new(BIN), |p| p.as_path()));
    command.args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("IU_CUTTER_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("IU_CUTTER_PRESET", "legal-en");
    // A killed runner keeps its lease until it expires; a short lease keeps the trials quick.
    command.env("IU_CUTTER_LEASE_TTL", "1s");
    command
}

/// Longer than the lease the trials run with, so a killed runner's lease has expired.
const LEASE_EXPIRY_WAIT: Duration = Duration::from_millis(1200);

/// Runs the program to its end; returns (exit code, stdout + stderr).
fn run(dir: &Path, args: &[&str]) -> Result<(i32, String), std::io::Error> {
    let Output {
        status,
        stdout,
        stderr,
    } = command(dir, args).output()?;
    Ok((
        status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    ))
}

fn census(dir: &Path) -> Result<Census, Box<dyn std::error::Error>> {
    let url = format!("sqlite://{}", dir.join(DB).display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(async move {
        let store = sql::connect(&url, ExecutionGate::new()).await?;
        let census = store.census().await;
        // Closed before returning: a connection still closing in sqlx's worker thread removes
        // SQLite's -wal and -shm files while the caller copies the directory (a trial once
        // failed with ENOENT in `copy_tree`).
        store.close().await;
        census
    })?)
}

/// A deterministic corpus: `docs` documents of `articles` articles each.
fn write_corpus(dir: &Path, docs: usize, articles: usize) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(dir)?;
    for d in 0..docs {
        let mut body = format!("Chapter I\nGeneral provisions of act {d}\n");
        for a in 1..=articles {
            body.push_str(&format!(
                "Article {a}\nThe holder of licence {d}-{a} shall keep records for {} years, \
                 and report them to the authority named in article {}.\n",
                (d * 7 + a) % 13 + 1,
                (a * 31 + d) % articles + 1
            ));
        }
        std::fs::write(dir.join(format!("act-{d:03}.txt")), body)?;
    }
    Ok(())
}

/// Copies a directory tree (the store, its WAL files, backups and reports).
fn copy_tree(from: &Path, to: &Path) -> Result<(), std::io::Error> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target).map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("copying {}: {error}", entry.path().display()),
                )
            })?;
        }
    }
    Ok(())
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            }
        })
        .unwrap_or(default)
}

/// Whether the journal knows the run (`status RUN` exits 8 for an unknown run).
fn journaled(dir: &Path) -> Result<bool, String> {
    let (code, out) = run(dir, &["status", RUN_ID, "--json"]).map_err(|e| e.to_string())?;
    match code {
        0 => Ok(true),
        8 if out.contains("no run") => Ok(false),
        _ => Err(format!("status ended with exit {code}:\n{out}")),
    }
}

/// Where the killed run stood: its journaled status and the phases done.
fn killed_state(dir: &Path) -> String {
    match run(dir, &["status", RUN_ID, "--json"]) {
        Ok((0, out)) => match serde_json::from_str::<serde_json::Value>(&out) {
            Ok(status) => {
                let done: Vec<&str> = status["phases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["status"] == "done")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                format!("{}, done: [{}]", status["status"], done.join(" "))
            }
            Err(e) => format!("status unreadable: {e}"),
        },
        Ok((8, _)) => "not journaled".to_owned(),
        Ok((code, _)) => format!("status exit {code}"),
        Err(e) => e.to_string(),
    }
}

/// Resumes the killed run (or starts it again if it was never journaled) to PASS, then checks
/// the store against the reference census.
fn finish_and_check(dir: &Path, reference: &Census) -> Result<(), String> {
    let (code, out) = if journaled(dir)? {
        run(dir, &["resume", RUN_ID, "--execute"]).map_err(|e| e.to_string())?
    } else {
        run(dir, &["run", "--execute", "--run-id", RUN_ID]).map_err(|e| e.to_string())?
    };
    if code != 0 {
        return Err(format!("resume ended with exit {code}:\n{out}"));
    }
    let (code, status) = run(dir, &["status", RUN_ID, "--json"]).map_err(|e| e.to_string())?;
    let status: serde_json::Value =
        serde_json::from_str(&status).map_err(|e| format!("status --json (exit {code}): {e}"))?;
    if status["status"] != "PASS" {
        return Err(format!("run status is not PASS: {status}"));
    }
    let verified = status["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["name"] == "write-verify" && p["status"] == "done");
    if !verified {
        return Err(format!("write-verify is not done: {status}"));
    }
    let got = census(dir).map_err(|e| e.to_string())?;
    if &got != reference {
        return Err(format!(
            "store differs from the reference: {} documents, {} units (reference {} and {})",
            got.documents, got.units, reference.documents, reference.units
        ));
    }
    Ok(())
}

/// A killed runner whose lease has expired: a run the journal shows running must be shown as
/// abandoned, with its holder, never as running.
fn shown_abandoned(dir: &Path) -> Result<(), String> {
    let (code, out) = run(dir, &["status", RUN_ID]).map_err(|e| e.to_string())?;
    match code {
        8 => Ok(()), // never journaled
        0 if out.contains("status: RUNNING") => Err(format!(
            "a killed run with an expired lease shows as running:\n{out}"
        )),
        0 if out.contains("status: ABANDONED") || !out.contains("RUNNING") => Ok(()),
        _ => Err(format!("status ended with exit {code}:\n{out}")),
    }
}

/// From a copy of the killed state: rollback restores the pre-run census.
fn rollback_and_check(dir: &Path, pre_run: &Census) -> Result<(), String> {
    if journaled(dir)? {
        let (code, out) =
            run(dir, &["rollback", RUN_ID, "--execute"]).map_err(|e| e.to_string())?;
        if code != 0 {
            return Err(format!("rollback ended with exit {code}:\n{out}"));
        }
    }
    let got = census(dir).map_err(|e| e.to_string())?;
    if &got != pre_run {
        return Err(format!(
            "census after rollback differs from the pre-run census ({} units, pre-run {})",
            got.units, pre_run.units
        ));
    }
    Ok(())
}

#[test]
fn sigkill_at_random_moments_then_resume_or_rollback() -> TestResult {
    let trials = env_u64("IU_CUTTER_FAULTS_TRIALS", 5);
    let seed = env_u64("IU_CUTTER_FAULTS_SEED", DEFAULT_SEED);
    let docs = env_u64("IU_CUTTER_FAULTS_DOCS", 20) as usize;
    println!("sigkill trials: {trials}, seed {seed:#x}, {docs} documents x 250 articles");
    let root = tempfile::tempdir()?;
    let program = root.path().join("iu-cutter");
    std::fs::copy(BIN, &program)?;
    let _ = PROGRAM.set(program);
    let corpus = root.path().join("corpus");
    write_corpus(&corpus, docs, 250)?;
    let corpus = corpus.to_str().ok_or("corpus path")?.to_owned();

    // The template: an initialised store with the corpus imported.
    let template = root.path().join("template");
    std::fs::create_dir_all(&template)?;
    let (code, out) = run(&template, &["init"])?;
    assert_eq!(code, 0, "init: {out}");
    let (code, out) = run(&template, &["import", "--execute", &corpus])?;
    assert_eq!(code, 0, "import: {out}");
    let pre_run = census(&template)?;

    // The fault-free reference, and how long a run takes.
    let reference_dir = root.path().join("reference");
    copy_tree(&template, &reference_dir)?;
    let started = Instant::now();
    let (code, out) = run(&reference_dir, &["run", "--execute", "--run-id", RUN_ID])?;
    let run_time = started.elapsed();
    assert_eq!(code, 0, "reference run: {out}");
    let reference = census(&reference_dir)?;
    println!(
        "reference run: {} units in {} ms",
        reference.units - pre_run.units,
        run_time.as_millis()
    );
    assert!(
        reference.units >= 1000,
        "the corpus is too small to kill mid-run"
    );

    let mut rng = XorShift(seed.max(1));
    let mut passed = 0u64;
    let mut failures = Vec::new();
    let window = (run_time.as_millis() as u64).max(1);
    for trial in 0..trials {
        let dir = root.path().join(format!("trial-{trial}"));
        copy_tree(&template, &dir)?;
        let delay = Duration::from_millis(rng.next() % window);
        let mut child = command(&dir, &["run", "--execute", "--run-id", RUN_ID])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        std::thread::sleep(delay);
        let killed = child.try_wait()?.is_none();
        child.kill()?; // SIGKILL on Unix
        child.wait()?;
        if killed {
            // The killed runner's lease is live until it expires: resuming earlier is refused.
            std::thread::sleep(LEASE_EXPIRY_WAIT);
        }
        let state = killed_state(&dir);
        let killed_copy = root.path().join(format!("trial-{trial}-rollback"));
        copy_tree(&dir, &killed_copy)?;
        let result = shown_abandoned(&dir)
            .and_then(|()| rollback_and_check(&killed_copy, &pre_run))
            .map_err(|e| format!("rollback: {e}"))
            .and_then(|()| finish_and_check(&dir, &reference));
        let _ = std::fs::remove_dir_all(&killed_copy);
        let _ = std::fs::remove_dir_all(&dir);
        let moment = format!(
            "trial {trial}: kill at {} ms ({state}){}",
            delay.as_millis(),
            if killed { "" } else { " (already exited)" }
        );
        match result {
            Ok(()) => {
                println!("{moment}: PASS");
                passed += 1;
            }
            Err(e) => {
                println!("{moment}: FAIL {e}");
                failures.push(moment);
            }
        }
    }
    println!("{passed} passed, {} failed", failures.len());
    assert!(failures.is_empty(), "failed: {failures:?}");
    Ok(())
}
