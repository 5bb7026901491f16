//! Adversarial regressions (attack of 4d54ff2), end to end on SQLite with the real binary: edits
//! of the run's own staged units after write-verify, held runs continued by `resume` or `run`,
//! `verify` of an enacted run after edits, rollbacks of runs that touched nothing, retried
//! rollbacks, and a rollback's claim of the pre-run state. Each test states the promise it
//! checks; they were written to fail on 4d54ff2.

use crate::support::{Error, TestResult, Workdir};

/// A store with three Markdown documents `d/doc1.md` .. `d/doc3.md` of three sections each, the
/// Markdown preset and a 3 s lease.
fn store() -> Result<Workdir, Error> {
    let wd = Workdir::new()?
        .with_env("IU_CUTTER_PRESET", "markdown")
        .with_env("IU_CUTTER_LEASE_TTL", "3s");
    for i in 1..=3 {
        wd.write(
            &format!("docs/d/doc{i}.md"),
            format!("# Doc {i}\n\nintro {i}\n\n## A\n\nalpha {i}\n\n## B\n\nbeta {i}\n").as_bytes(),
        )?;
    }
    wd.init_and_import("docs")?;
    Ok(wd)
}

/// [`store`] with `run` held after write-verify: every document fenced, its units staged.
fn held_after_write_verify(run: &str) -> Result<Workdir, Error> {
    let wd = store()?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--run-id",
            run,
            "--until",
            "write-verify",
        ],
        0,
    )?;
    Ok(wd)
}

/// [`store`] where run A cut `d/doc1.md`, the file was then edited and imported again, and run B
/// cut the new revision (A's generation retired).
fn cut_edited_and_cut_again() -> Result<Workdir, Error> {
    let wd = store()?;
    wd.expect(
        &["run", "--execute", "--run-id", "A", "--id", "d/doc1.md"],
        0,
    )?;
    wd.write(
        "docs/d/doc1.md",
        b"# Doc 1\n\nintro 1 changed\n\n## A\n\nalpha 1\n",
    )?;
    wd.expect(&["import", "--execute", "docs"], 0)?;
    wd.expect(
        &["run", "--execute", "--run-id", "B", "--id", "d/doc1.md"],
        0,
    )?;
    Ok(wd)
}

/// Every document whose state is `cut` has active units that tile its body exactly:
/// contiguous from 0, each the body's bytes at its range, ending at the body's length. Returns
/// the documents that do not.
fn units_tile_every_cut_body(wd: &Workdir) -> Result<Vec<String>, Error> {
    wd.with_pool(async |pool| {
        let docs: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, body, active_generation FROM documents WHERE state = 'cut' ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        let mut broken = Vec::new();
        for (id, body, active) in docs {
            let units: Vec<(i64, i64, String)> = sqlx::query_as(
                "SELECT start_byte, end_byte, body FROM units WHERE document = $1 \
                 AND generation = $2 ORDER BY ordinal",
            )
            .bind(&id)
            .bind(active.unwrap_or_default())
            .fetch_all(pool)
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
        Ok(broken)
    })
}

/// Each document's id, state, fencing run and active generation.
fn states(wd: &Workdir) -> Result<Vec<String>, Error> {
    wd.column(
        "SELECT id || ' ' || state || ' ' || COALESCE(cutting_run, '-') || ' ' || \
         COALESCE(active_generation, '-') FROM documents ORDER BY id",
    )
}

/// Rolls back run B, which touched nothing: the rollback passes without the false claim `wrong`
/// (`why` says why it is false) and leaves every document's state as it was.
fn rolling_b_back_changes_nothing(wd: &Workdir, wrong: &str, why: &str) -> TestResult {
    let before = states(wd)?;
    let rollback = wd.run(&["rollback", "B", "--execute"])?;
    assert!(!rollback.stderr.contains(wrong), "{why}: {rollback:?}");
    rollback.expect(0)?;
    assert_eq!(
        states(wd)?,
        before,
        "the other run's documents are untouched"
    );
    Ok(())
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
        let wd = store()?;
        wd.sql(&format!(
            "CREATE TRIGGER tamper AFTER UPDATE ON run_phases \
             WHEN new.name = 'write-verify' AND new.status = 'done' BEGIN {edit} END;"
        ))?;
        let run = wd.run(&["run", "--execute", "--run-id", "A"])?;
        let broken = units_tile_every_cut_body(&wd)?;
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
    let wd = held_after_write_verify("A")?;
    wd.sql(
        "UPDATE units SET body = 'EVIL' WHERE generation = 'A' AND document = 'd/doc1.md' \
         AND ordinal = 1",
    )?;
    let resumed = wd.run(&["resume", "A", "--execute"])?;
    let broken = units_tile_every_cut_body(&wd)?;
    assert!(
        broken.is_empty() && !resumed.stdout.contains("outcome: PASS"),
        "resume enacted a held run without verifying it again: broken {broken:?}\n{resumed:?}"
    );

    // 2. A verification older than held_max_age: `enact` blocks ("verify first"); `run` with
    // the same id must not enact it anyway.
    let wd = held_after_write_verify("B")?;
    // The verification is made old by its journaled time (the clock `enact` reads it against)
    // rather than by waiting: older than the default held_max_age of 24 hours.
    let aged = wd.execute(
        "UPDATE run_phases SET finished_at = $1 WHERE run = $2 AND name = 'write-verify'",
        &["2000-01-01T00:00:00.000Z", "B"],
    )?;
    assert_eq!(aged, 1, "the held run's write-verify is journaled");
    wd.expect(&["enact", "B", "--execute"], 4)?;
    let again = wd.run(&["run", "--execute", "--run-id", "B"])?;
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
    let wd = store()?;
    wd.expect(&["run", "--execute", "--run-id", "A"], 0)?;
    wd.sql("UPDATE documents SET body = '# Doc 1\n\nsomething else\n' WHERE id = 'd/doc1.md'")?;
    let raw = wd.run(&["verify", "A"])?;
    assert!(
        !raw.stdout.contains("outcome: PASS"),
        "verify passed an enacted run whose document body was rewritten: {raw:?}"
    );

    let wd = store()?;
    wd.expect(&["run", "--execute", "--run-id", "A"], 0)?;
    wd.write("docs/d/doc2.md", b"# Doc 2 edited\n\nnew text\n")?;
    wd.expect(&["import", "--execute", "docs"], 0)?;
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
    let wd = held_after_write_verify("A")?;
    wd.expect(&["run", "--execute", "--run-id", "B"], 4)?;
    rolling_b_back_changes_nothing(
        &wd,
        "which came after run B",
        "A came before B, and B touched nothing of A's",
    )?;

    // B held after its backup (it never fenced); C then cut the documents.
    let wd = store()?;
    wd.expect(
        &["run", "--execute", "--run-id", "B", "--until", "backup"],
        0,
    )?;
    wd.expect(&["run", "--execute", "--run-id", "C"], 0)?;
    rolling_b_back_changes_nothing(
        &wd,
        "roll back run C first",
        "rolling B back needs nothing of C's",
    )?;
    Ok(())
}

/// Promise: "never ROLLED_BACK when not back to the pre-run state". A rollback whose
/// verification found a document different from the backup ends BLOCKED and says "retry". The
/// retry finds nothing left to undo, verifies only what it undid itself (nothing), and reports
/// ROLLED_BACK with "the run's documents match the backup", although nothing changed in between
/// and the document still differs.
#[test]
fn a_retried_rollback_does_not_turn_a_mismatch_into_rolled_back() -> TestResult {
    let wd = cut_edited_and_cut_again()?;
    // Someone rewrites a unit of A's (now retired) generation, hash included.
    let tampered = "tampered";
    wd.sql(&format!(
        "UPDATE units SET body = '{tampered}', sha256 = '{}' WHERE generation = 'A' \
         AND ordinal = 1",
        iu_cutter_live_execution::sha256_hex(tampered.as_bytes())
    ))?;
    wd.expect(&["rollback", "B", "--execute"], 4)?;
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
    let wd = cut_edited_and_cut_again()?;
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
