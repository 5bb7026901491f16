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
use std::process::Stdio;
use std::time::{Duration, Instant};

use iu_cutter_live_execution::Census;
use iu_cutter_test_env::{XorShift, env_u64};

use crate::support::{BIN, TestResult, Workdir, write_acts};

const RUN_ID: &str = "kill-1";
const DEFAULT_SEED: u64 = 0x1u64 << 40 | 0x5eed_f00d;

/// The program in `dir`: `program` (a copy of the binary, so that a concurrent cargo build
/// re-linking `target/debug/iu-cutter` cannot pull it away mid-trial), the English preset.
fn workdir(dir: &Path, program: &Path) -> Workdir {
    Workdir::at(dir)
        .with_program(program)
        .with_env("IU_CUTTER_PRESET", "legal-en")
}

/// Runs the program to its end; returns (exit code, stdout + stderr).
fn run(wd: &Workdir, args: &[&str]) -> Result<(i32, String), std::io::Error> {
    let run = wd.run(args)?;
    Ok((run.code, run.all()))
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

/// Whether the journal knows the run (`status RUN` exits 8 for an unknown run).
fn journaled(wd: &Workdir) -> Result<bool, String> {
    let (code, out) = run(wd, &["status", RUN_ID, "--json"]).map_err(|e| e.to_string())?;
    match code {
        0 => Ok(true),
        8 if out.contains("no run") => Ok(false),
        _ => Err(format!("status ended with exit {code}:\n{out}")),
    }
}

/// Where the killed run stood: its journaled status and the phases done.
fn killed_state(wd: &Workdir) -> String {
    match run(wd, &["status", RUN_ID, "--json"]) {
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
fn finish_and_check(wd: &Workdir, reference: &Census) -> Result<(), String> {
    let (code, out) = if journaled(wd)? {
        run(wd, &["resume", RUN_ID, "--execute"]).map_err(|e| e.to_string())?
    } else {
        run(wd, &["run", "--execute", "--run-id", RUN_ID]).map_err(|e| e.to_string())?
    };
    if code != 0 {
        return Err(format!("resume ended with exit {code}:\n{out}"));
    }
    let (code, status) = run(wd, &["status", RUN_ID, "--json"]).map_err(|e| e.to_string())?;
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
    let got = wd.census().map_err(|e| e.to_string())?;
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
fn shown_abandoned(wd: &Workdir) -> Result<(), String> {
    let (code, out) = run(wd, &["status", RUN_ID]).map_err(|e| e.to_string())?;
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
fn rollback_and_check(wd: &Workdir, pre_run: &Census) -> Result<(), String> {
    if journaled(wd)? {
        let (code, out) = run(wd, &["rollback", RUN_ID, "--execute"]).map_err(|e| e.to_string())?;
        if code != 0 {
            return Err(format!("rollback ended with exit {code}:\n{out}"));
        }
    }
    let got = wd.census().map_err(|e| e.to_string())?;
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
    let corpus = root.path().join("corpus");
    write_acts(&corpus, docs, 250)?;
    let corpus = corpus.to_str().ok_or("corpus path")?.to_owned();

    // The template: an initialised store with the corpus imported.
    let template = workdir(&root.path().join("template"), &program);
    std::fs::create_dir_all(template.path())?;
    template.expect(&["init", "--execute"], 0)?;
    template.expect(&["import", "--execute", &corpus], 0)?;
    let pre_run = template.census()?;

    // The fault-free reference, and how long a run takes.
    let reference_dir = workdir(&root.path().join("reference"), &program);
    copy_tree(template.path(), reference_dir.path())?;
    let started = Instant::now();
    reference_dir.expect(&["run", "--execute", "--run-id", RUN_ID], 0)?;
    let run_time = started.elapsed();
    let reference = reference_dir.census()?;
    println!(
        "reference run: {} units in {} ms",
        reference.units - pre_run.units,
        run_time.as_millis()
    );
    assert!(
        reference.units >= 1000,
        "the corpus is too small to kill mid-run"
    );

    let mut rng = XorShift::new(seed);
    let mut passed = 0u64;
    let mut failures = Vec::new();
    let window = (run_time.as_millis() as u64).max(1);
    for trial in 0..trials {
        let wd = workdir(&root.path().join(format!("trial-{trial}")), &program);
        copy_tree(template.path(), wd.path())?;
        let delay = Duration::from_millis(rng.next_u64() % window);
        let mut child = wd
            .command(&["run", "--execute", "--run-id", RUN_ID], &[])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // Real time on purpose: the moment of the kill is how far into a real process's run
        // the trial strikes; no clock of ours decides where that process is.
        std::thread::sleep(delay);
        let killed = child.try_wait()?.is_none();
        child.kill()?; // SIGKILL on Unix
        child.wait()?;
        if killed {
            // The killed runner's lease is live until it expires on the store's clock, and
            // resuming earlier is refused. Rather than wait for that clock, the test moves the
            // lease's expiry into the past, as the passing of time would.
            wd.execute(
                "UPDATE run_leases SET expires_at_ms = 0 WHERE run = $1",
                &[RUN_ID],
            )?;
        }
        let state = killed_state(&wd);
        let killed_copy = workdir(
            &root.path().join(format!("trial-{trial}-rollback")),
            &program,
        );
        copy_tree(wd.path(), killed_copy.path())?;
        let result = shown_abandoned(&wd)
            .and_then(|()| rollback_and_check(&killed_copy, &pre_run))
            .map_err(|e| format!("rollback: {e}"))
            .and_then(|()| finish_and_check(&wd, &reference));
        let _ = std::fs::remove_dir_all(killed_copy.path());
        let _ = std::fs::remove_dir_all(wd.path());
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
