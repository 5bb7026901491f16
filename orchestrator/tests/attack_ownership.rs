//! Adversarial regressions (attack of 4d54ff2), end to end on SQLite with the real binary: edits
//! of the run's own staged units after write-verify, held runs continued by `resume` or `run`,
//! `verify` of an enacted run after edits, rollbacks of runs that touched nothing, retried
//! rollbacks, and a rollback's claim of the pre-run state. Each test states the promise it
//! checks; they were written to fail on 4d54ff2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_iu-cutter");

struct Workdir {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Workdir {
    /// A store with three Markdown documents `d/doc1.md` .. `d/doc3.md` of three sections each.
    fn new() -> Result<Self, Box<dyn std::error::Error>> {
        let wd = Workdir {
            dir: tempfile::tempdir()?,
        };
        expect(&wd.run(&["init"])?, 0)?;
        for i in 1..=3 {
            wd.write(
                &format!("docs/d/doc{i}.md"),
                format!("# Doc {i}\n\nintro {i}\n\n## A\n\nalpha {i}\n\n## B\n\nbeta {i}\n")
                    .as_bytes(),
            )?;
        }
        expect(&wd.run(&["import", "--execute", "docs"])?, 0)?;
        Ok(wd)
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self) -> String {
        format!(
            "sqlite://{}",
            self.path().join("iu-cutter.sqlite").display()
        )
    }

    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Run, std::io::Error> {
        let mut command = Command::new(BIN);
        command.args(args).current_dir(self.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("IU_CUTTER_") || key == "RUST_LOG" {
                command.env_remove(key);
            }
        }
        command.env("IU_CUTTER_PRESET", "markdown");
        command.env("IU_CUTTER_LEASE_TTL", "3s");
        command.envs(env.iter().copied());
        let Output {
            status,
            stdout,
            stderr,
        } = command.output()?;
        Ok(Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    fn run(&self, args: &[&str]) -> Result<Run, std::io::Error> {
        self.run_with(args, &[])
    }

    /// Runs raw SQL on the store (several statements allowed), as an application, a trigger
    /// installed by a DBA, or an attacker would.
    fn sql(&self, statements: &str) -> Result<(), Box<dyn std::error::Error>> {
        let url = self.url();
        let statements = statements.to_owned();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
                .execute(&pool)
                .await?;
            pool.close().await;
            Ok::<(), sqlx::Error>(())
        })?)
    }

    /// One text column of every row of `query`.
    fn column(&self, query: &'static str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let url = self.url();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await?;
            let rows = sqlx::query_scalar::<_, String>(query)
                .fetch_all(&pool)
                .await?;
            pool.close().await;
            Ok::<Vec<String>, sqlx::Error>(rows)
        })?)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
        let path = self.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Every document whose state is `cut` has active units that tile its body exactly:
    /// contiguous from 0, each the body's bytes at its range, ending at the body's length.
    fn units_tile_every_cut_body(&self) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let url = self.url();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(runtime.block_on(async move {
            let pool = sqlx::SqlitePool::connect(&url).await?;
            let docs: Vec<(String, String, Option<String>)> = sqlx::query_as(
                "SELECT id, body, active_generation FROM documents WHERE state = 'cut' \
                 ORDER BY id",
            )
            .fetch_all(&pool)
            .await?;
            let mut broken = Vec::new();
            for (id, body, active) in docs {
                let units: Vec<(i64, i64, String)> = sqlx::query_as(
                    "SELECT start_byte, end_byte, body FROM units WHERE document = $1 \
                     AND generation = $2 ORDER BY ordinal",
                )
                .bind(&id)
                .bind(active.unwrap_or_default())
                .fetch_all(&pool)
                .await?;
                let mut at = 0usize;
                let mut ok = true;
                for (start, end, text) in units {
                    let (start, end) = (start as usize, end as usize);
                    if start != at || body.as_bytes().get(start..end) != Some(text.as_bytes()) {
                        ok = false;
                        break;
                    }
                    at = end;
                }
                if !ok || at != body.len() {
                    broken.push(id);
                }
            }
            pool.close().await;
            Ok::<Vec<String>, sqlx::Error>(broken)
        })?)
    }

    fn states(&self) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        self.column(
            "SELECT id || ' ' || state || ' ' || COALESCE(cutting_run, '-') || ' ' || \
             COALESCE(active_generation, '-') FROM documents ORDER BY id",
        )
    }
}

fn expect(run: &Run, code: i32) -> Result<(), String> {
    if run.code == code {
        Ok(())
    } else {
        Err(format!("expected exit {code}, got {run:?}"))
    }
}

/// Promise: "PASS with units that do not tile the body at enact" never happens. A writer (here a
/// trigger, as a DBA or a buggy application would install) changes one of the run's staged
/// units after write-verify read them back and before lifecycle-enact moves the pointer.
/// lifecycle-enact's compare-and-set covers the document row (revision, body hash, state,
/// pointer) but not the generation it makes active, so the tampered unit goes live with PASS.
#[test]
fn a_staged_unit_changed_after_write_verify_is_never_enacted() -> TestResult {
    for (name, edit) in [
        (
            "rewritten",
            "UPDATE units SET body = 'TAMPERED' WHERE document = 'd/doc1.md' \
             AND generation = new.run AND ordinal = 1;",
        ),
        (
            "deleted",
            "DELETE FROM units WHERE document = 'd/doc1.md' AND generation = new.run \
             AND ordinal = 2;",
        ),
    ] {
        let wd = Workdir::new()?;
        wd.sql(&format!(
            "CREATE TRIGGER tamper AFTER UPDATE ON run_phases \
             WHEN new.name = 'write-verify' AND new.status = 'done' BEGIN {edit} END;"
        ))?;
        let run = wd.run(&["run", "--execute", "--run-id", "A"])?;
        let broken = wd.units_tile_every_cut_body()?;
        assert!(
            broken.is_empty(),
            "{name}: documents enacted with units that do not tile their body: {broken:?}\n{run:?}"
        );
        assert!(
            !run.stdout.contains("outcome: PASS"),
            "{name}: PASS although a staged unit changed before the enact: {run:?}"
        );
    }
    Ok(())
}

/// Promise (README, held runs): a held run is enacted only after write-verify runs again, and
/// not at all once its verification is older than `held_max_age`. `resume RUN` and `run
/// --run-id RUN` continue a held run at lifecycle-enact, skipping both checks.
#[test]
fn resume_or_run_of_a_held_run_verifies_it_again_before_enacting() -> TestResult {
    // 1. A staged unit edited while the run is held: `enact` blocks; `resume` must too.
    let wd = Workdir::new()?;
    let held = wd.run(&[
        "run",
        "--execute",
        "--run-id",
        "A",
        "--until",
        "write-verify",
    ])?;
    expect(&held, 0)?;
    wd.sql(
        "UPDATE units SET body = 'EVIL' WHERE generation = 'A' AND document = 'd/doc1.md' \
         AND ordinal = 1",
    )?;
    let resumed = wd.run(&["resume", "A", "--execute"])?;
    let broken = wd.units_tile_every_cut_body()?;
    assert!(
        broken.is_empty() && !resumed.stdout.contains("outcome: PASS"),
        "resume enacted a held run without verifying it again: broken {broken:?}\n{resumed:?}"
    );

    // 2. A verification older than held_max_age: `enact` blocks ("verify first"); `run` with
    // the same id must not enact it anyway.
    let wd = Workdir::new()?;
    let age = [("IU_CUTTER_HELD_MAX_AGE", "1s")];
    let held = wd.run_with(
        &[
            "run",
            "--execute",
            "--run-id",
            "B",
            "--until",
            "write-verify",
        ],
        &age,
    )?;
    expect(&held, 0)?;
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let enact = wd.run_with(&["enact", "B", "--execute"], &age)?;
    expect(&enact, 4)?;
    let again = wd.run_with(&["run", "--execute", "--run-id", "B"], &age)?;
    assert!(
        !again.stdout.contains("outcome: PASS"),
        "`run --run-id B` enacted a held run whose verification `enact` had just refused as \
         stale: {again:?}"
    );
    Ok(())
}

/// Promise: `verify RUN` re-audits an enacted run. After the document's body changed (raw SQL
/// keeping revision and sha256, or an import that revises it and sets it `ready`), the active
/// units no longer tile the body, yet the audit says PASS: it checks the units against the plan
/// but never the document they were cut from.
#[test]
fn verify_of_an_enacted_run_notices_an_edited_body() -> TestResult {
    let wd = Workdir::new()?;
    expect(&wd.run(&["run", "--execute", "--run-id", "A"])?, 0)?;
    wd.sql("UPDATE documents SET body = '# Doc 1\n\nsomething else\n' WHERE id = 'd/doc1.md'")?;
    let raw = wd.run(&["verify", "A"])?;
    assert!(
        !raw.stdout.contains("outcome: PASS"),
        "verify passed an enacted run whose document body was rewritten: {raw:?}"
    );

    let wd = Workdir::new()?;
    expect(&wd.run(&["run", "--execute", "--run-id", "A"])?, 0)?;
    wd.write("docs/d/doc2.md", b"# Doc 2 edited\n\nnew text\n")?;
    expect(&wd.run(&["import", "--execute", "docs"])?, 0)?;
    let imported = wd.run(&["verify", "A"])?;
    assert!(
        !imported.stdout.contains("outcome: PASS"),
        "verify passed an enacted run whose document was re-imported (state ready): \
         {imported:?}"
    );
    Ok(())
}

/// Promises: "messages tell the truth" and "any run can be rolled back". A run that fenced,
/// staged and enacted nothing (blocked at its fence by another run, or held after backup) is
/// refused a rollback, with the reason that the other run "came after" it and that rolling it
/// back "would destroy" the other run's work, and the advice to roll the other run back first.
/// Both claims are false, and following the advice destroys good work for nothing.
#[test]
fn a_run_that_touched_nothing_rolls_back_without_the_other_runs_rollback() -> TestResult {
    // A holds the documents; B, started after A, is blocked at its fence.
    let wd = Workdir::new()?;
    let a = wd.run(&[
        "run",
        "--execute",
        "--run-id",
        "A",
        "--until",
        "write-verify",
    ])?;
    expect(&a, 0)?;
    let b = wd.run(&["run", "--execute", "--run-id", "B"])?;
    expect(&b, 4)?;
    let before = wd.states()?;
    let rollback = wd.run(&["rollback", "B", "--execute"])?;
    assert!(
        !rollback.stderr.contains("which came after run B"),
        "A came before B, and B touched nothing of A's: {rollback:?}"
    );
    expect(&rollback, 0)?;
    assert_eq!(wd.states()?, before, "A's fences are untouched");

    // B held after its backup (it never fenced); C then cut the documents.
    let wd = Workdir::new()?;
    let b = wd.run(&["run", "--execute", "--run-id", "B", "--until", "backup"])?;
    expect(&b, 0)?;
    expect(&wd.run(&["run", "--execute", "--run-id", "C"])?, 0)?;
    let before = wd.states()?;
    let rollback = wd.run(&["rollback", "B", "--execute"])?;
    assert!(
        !rollback.stderr.contains("roll back run C first"),
        "rolling B back needs nothing of C's: {rollback:?}"
    );
    expect(&rollback, 0)?;
    assert_eq!(wd.states()?, before, "C's enacted documents are untouched");
    Ok(())
}

/// Promise: "never ROLLED_BACK when not back to the pre-run state". A rollback whose
/// verification found a document different from the backup ends BLOCKED and says "retry". The
/// retry finds nothing left to undo, verifies only what it undid itself (nothing), and reports
/// ROLLED_BACK with "the run's documents match the backup", although nothing changed in between
/// and the document still differs.
#[test]
fn a_retried_rollback_does_not_turn_a_mismatch_into_rolled_back() -> TestResult {
    let wd = Workdir::new()?;
    expect(
        &wd.run(&["run", "--execute", "--run-id", "A", "--id", "d/doc1.md"])?,
        0,
    )?;
    wd.write(
        "docs/d/doc1.md",
        b"# Doc 1\n\nintro 1 changed\n\n## A\n\nalpha 1\n",
    )?;
    expect(&wd.run(&["import", "--execute", "docs"])?, 0)?;
    expect(
        &wd.run(&["run", "--execute", "--run-id", "B", "--id", "d/doc1.md"])?,
        0,
    )?;
    // Someone rewrites a unit of A's (now retired) generation, hash included.
    let tampered = "tampered";
    wd.sql(&format!(
        "UPDATE units SET body = '{tampered}', sha256 = '{}' WHERE generation = 'A' \
         AND ordinal = 1",
        iu_cutter_live_execution::sha256_hex(tampered.as_bytes())
    ))?;
    let first = wd.run(&["rollback", "B", "--execute"])?;
    expect(&first, 4)?;
    let second = wd.run(&["rollback", "B", "--execute"])?;
    assert!(
        !second.stdout.contains("outcome: ROLLED_BACK"),
        "the first rollback found d/doc1.md different from the backup; nothing changed since, \
         yet the retry says ROLLED_BACK: {second:?}"
    );
    Ok(())
}

/// Promise: "rolled back to the exact pre-run state", verified against the backup. The census
/// digests a unit by its recorded sha256, never its body, so a unit body rewritten by raw SQL
/// (sha256 column untouched) is invisible: the rollback reports the census and the fingerprint
/// matching the pre-run ones, with no kept edit, while the active units differ from the
/// backup's (which holds their bodies).
#[test]
fn a_rollback_does_not_claim_the_pre_run_state_over_rewritten_unit_bodies() -> TestResult {
    let wd = Workdir::new()?;
    expect(
        &wd.run(&["run", "--execute", "--run-id", "A", "--id", "d/doc1.md"])?,
        0,
    )?;
    wd.write(
        "docs/d/doc1.md",
        b"# Doc 1\n\nintro 1 changed\n\n## A\n\nalpha 1\n",
    )?;
    expect(&wd.run(&["import", "--execute", "docs"])?, 0)?;
    expect(
        &wd.run(&["run", "--execute", "--run-id", "B", "--id", "d/doc1.md"])?,
        0,
    )?;
    wd.sql("UPDATE units SET body = 'tampered' WHERE generation = 'A' AND ordinal = 1")?;
    let rollback = wd.run(&["rollback", "B", "--execute", "--json"])?;
    let report: serde_json::Value = serde_json::from_str(&rollback.stdout)?;
    let check = &report["rollback"];
    let claims_pre_run = report["outcome"]["name"] == "ROLLED_BACK"
        && check["fingerprint_matches_pre_run"] == true
        && check["kept_edits"].as_array().is_some_and(Vec::is_empty);
    assert!(
        !claims_pre_run,
        "the active unit of d/doc1.md is not the backed-up one, yet the rollback claims the \
         exact pre-run state: {check}"
    );
    Ok(())
}
