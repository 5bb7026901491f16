//! End to end, on SQLite with the real binary: bad input, unusable backup directories, a stop
//! file mid-run, a tampered backup, an edit underneath a held run, and secrets kept out of
//! output. Each error names the problem and the next action, exits with its documented code,
//! and loses nothing.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::postgres::{Schema, in_schema, userinfo_with_password};
use crate::support::{Error, Run, TestResult, Workdir, wait_for, write_acts};

/// An initialised store, the English preset.
fn store() -> Result<Workdir, crate::support::Error> {
    let wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "legal-en");
    wd.expect(&["init", "--execute"], 0)?;
    Ok(wd)
}

/// An initialised store holding `docs` acts of `articles` articles each.
fn store_of_acts(docs: usize, articles: usize) -> Result<Workdir, crate::support::Error> {
    let wd = store()?;
    write_acts(&wd.path().join("in"), docs, articles)?;
    wd.expect(&["import", "--execute", "in"], 0)?;
    Ok(wd)
}

#[test]
fn nul_bytes_and_invalid_utf8_are_rejected_naming_file_and_offset() -> TestResult {
    let wd = store()?;
    wd.write("in/ok.txt", b"Article 1\nFine.\n")?;
    wd.write("in/nul.txt", b"Article 1\nab\0cd\n")?;
    let nul = wd.expect(&["import", "--execute", "in"], 8)?;
    assert!(
        nul.stderr.contains("nul.txt: NUL byte at byte offset 12"),
        "{nul:?}"
    );
    assert!(nul.stderr.contains("next:"), "{nul:?}");
    assert_eq!(wd.census()?.documents, 0, "nothing imported");

    // The same in a JSON Lines body (`\u0000` is valid JSON).
    wd.write("docs.jsonl", b"{\"id\":\"a\",\"body\":\"x\\u0000y\"}\n")?;
    let jsonl = wd.expect(&["import", "--execute", "docs.jsonl"], 8)?;
    assert!(
        jsonl
            .stderr
            .contains("docs.jsonl:1: NUL byte at byte offset 1"),
        "{jsonl:?}"
    );
    assert_eq!(wd.census()?.documents, 0);

    std::fs::remove_file(wd.path().join("in/nul.txt"))?;
    wd.write("in/latin1.txt", b"Article 1\ncaf\xe9\n")?;
    let utf8 = wd.expect(&["import", "--execute", "in"], 8)?;
    assert!(
        utf8.stderr
            .contains("latin1.txt: invalid UTF-8 at byte offset 13"),
        "{utf8:?}"
    );
    assert!(utf8.stderr.contains("iconv"), "{utf8:?}");
    assert_eq!(wd.census()?.documents, 0);
    Ok(())
}

#[test]
fn an_empty_document_runs_to_pass_with_zero_units() -> TestResult {
    let wd = store()?;
    wd.write("empty.txt", b"")?;
    wd.expect(&["import", "--execute", "empty.txt"], 0)?;
    let run = wd.expect(&["run", "--execute", "--run-id", "e1"], 0)?;
    assert!(run.stdout.contains("outcome: PASS"), "{run:?}");
    let units = wd.expect(&["units", "empty.txt", "--json"], 0)?;
    let units: serde_json::Value = serde_json::from_str(&units.stdout)?;
    assert_eq!(units["active_generation"], "e1", "{units}");
    assert_eq!(units["units"].as_array().map(Vec::len), Some(0), "{units}");
    Ok(())
}

#[test]
fn a_document_with_100_000_markers_plans_and_runs() -> TestResult {
    let wd = store()?;
    let mut body = String::with_capacity(2_000_000);
    for a in 1..=100_000 {
        body.push_str(&format!("## Heading {a}\nx\n"));
    }
    let markdown = [("IU_CUTTER_PRESET", "markdown")];
    let plan = imported_planned_and_passed(&wd, ("many.txt", body), &markdown, "m1")?;
    assert!(plan.stdout.contains("units: 100000"), "{plan:?}");
    assert_eq!(wd.census()?.units, 100_000);
    Ok(())
}

/// 100 MB in one document: import, plan and run on SQLite. Slow in debug builds, so it runs only
/// with `IU_CUTTER_BIG_TESTS=1`.
#[test]
fn a_100_mb_document_imports_plans_and_runs() -> TestResult {
    if std::env::var("IU_CUTTER_BIG_TESTS").map_or(true, |v| v != "1") {
        println!("skipped: set IU_CUTTER_BIG_TESTS=1 to run the 100 MB document test");
        return Ok(());
    }
    let wd = store()?;
    let line = "The holder of a licence shall keep its records for five years and report. ";
    let mut body = String::with_capacity(101 * 1024 * 1024);
    let mut article = 0;
    while body.len() < 100 * 1024 * 1024 {
        article += 1;
        body.push_str(&format!("Article {article}\n"));
        for _ in 0..40 {
            body.push_str(line);
        }
        body.push('\n');
    }
    imported_planned_and_passed(&wd, ("big.txt", body), &[], "big")?;
    Ok(())
}

/// Writes `body` as `file` into `wd` (then lets it go: it may be large), imports it, plans and
/// runs it as `run` (`env` set for the plan and the run), which must pass, and prints how long
/// the three took: the plan's invocation.
fn imported_planned_and_passed(
    wd: &Workdir,
    (file, body): (&str, String),
    env: &[(&str, &str)],
    run: &str,
) -> Result<Run, Error> {
    wd.write(file, body.as_bytes())?;
    drop(body);
    let started = Instant::now();
    wd.expect(&["import", "--execute", file], 0)?;
    let plan = wd.expect_with(&["plan"], env, 0)?;
    let ran = wd.expect_with(&["run", "--execute", "--run-id", run], env, 0)?;
    assert!(ran.stdout.contains("outcome: PASS"), "{ran:?}");
    println!("{file}: import + plan + run in {:?}", started.elapsed());
    Ok(plan)
}

#[test]
fn malformed_configuration_and_unknown_keys_exit_6_naming_the_key() -> TestResult {
    let wd = store()?;
    wd.write("cutter.toml", b"bogus_key = 1\n")?;
    let unknown = wd.expect(&["status"], 6)?;
    assert!(unknown.stderr.contains("bogus_key"), "{unknown:?}");
    assert!(unknown.stderr.contains("next:"), "{unknown:?}");
    wd.write("cutter.toml", b"execution_enabled = \"maybe\n")?;
    let malformed = wd.expect(&["status"], 6)?;
    assert!(malformed.stderr.contains("cutter.toml"), "{malformed:?}");
    Ok(())
}

#[test]
fn bad_database_urls_are_named_and_never_show_the_password() -> TestResult {
    let wd = store()?;
    let mistyped = wd.expect_with(
        &["status"],
        &[(
            "IU_CUTTER_DATABASE_URL",
            "postgress://u:s3cr3t-pw@127.0.0.1:1/x",
        )],
        6,
    )?;
    assert!(
        mistyped.stderr.contains("unsupported database URL"),
        "{mistyped:?}"
    );
    let unreachable = wd.expect_with(
        &["status"],
        &[
            (
                "IU_CUTTER_DATABASE_URL",
                "postgres://u:s3cr3t-pw@127.0.0.1:1/x",
            ),
            ("RUST_LOG", "debug"),
        ],
        7,
    )?;
    assert!(unreachable.stderr.contains("next:"), "{unreachable:?}");
    for run in [&mistyped, &unreachable] {
        assert!(
            !run.stdout.contains("s3cr3t") && !run.stderr.contains("s3cr3t"),
            "the password leaked: {run:?}"
        );
    }
    Ok(())
}

/// The real PostgreSQL URL (`IU_CUTTER_TEST_PG_URL`), a successful live run with
/// `RUST_LOG=debug`: the password is in no output and no report.
#[test]
fn the_password_is_in_no_log_or_report_of_a_postgres_run() -> TestResult {
    let Some(url) =
        iu_cutter_test_env::pg_url("the_password_is_in_no_log_or_report_of_a_postgres_run")
    else {
        return Ok(());
    };
    let secret = userinfo_with_password(&url).ok_or("the PostgreSQL URL carries no password")?;
    // A schema of its own: the server's default one is shared with other checkouts.
    let schema = Schema::create(&url, "pw")?;
    password_run(&in_schema(&url, &schema.name), &secret)
}

/// The flow of the password test on `url`: `secret` is in no output and no report.
fn password_run(url: &str, secret: &str) -> TestResult {
    let wd = store()?;
    wd.write("in/act.txt", b"Article 1\nOne.\nArticle 2\nTwo.\n")?;
    let env = [("IU_CUTTER_DATABASE_URL", url), ("RUST_LOG", "debug")];
    let mut outputs = Vec::new();
    let run_id = format!("pw-{}", std::process::id());
    for args in [
        vec!["init", "--execute"],
        vec!["import", "--execute", "in"],
        vec!["run", "--execute", "--run-id", &run_id, "--id", "act.txt"],
        vec!["status", &run_id, "--json"],
        vec!["rollback", &run_id, "--execute"],
    ] {
        let run = wd.expect_with(&args, &env, 0)?;
        outputs.push(format!("{}{}", run.stdout, run.stderr));
    }
    for entry in std::fs::read_dir(wd.path().join(".iu-cutter/reports"))? {
        outputs.push(std::fs::read_to_string(entry?.path())?);
    }
    for text in &outputs {
        assert!(!text.contains(secret), "the password leaked:\n{text}");
    }
    Ok(())
}

#[test]
fn an_unwritable_backup_directory_refuses_the_run_before_any_mutation() -> TestResult {
    let wd = store_of_acts(2, 5)?;
    let census = wd.census()?;
    // Under a regular file: no directory can be created there, even as root.
    wd.write("not-a-dir", b"")?;
    let refused = wd.expect_with(
        &["run", "--execute", "--run-id", "b1"],
        &[("IU_CUTTER_BACKUP_DIR", "not-a-dir/backups")],
        3,
    )?;
    assert!(refused.stdout.contains("outcome: REFUSED"), "{refused:?}");
    assert!(refused.stderr.contains("backup"), "{refused:?}");
    assert!(refused.stderr.contains("not-a-dir/backups"), "{refused:?}");
    assert!(
        refused.stderr.contains("IU_CUTTER_BACKUP_DIR"),
        "{refused:?}"
    );
    wd.assert_untouched(&census)
}

#[test]
fn a_full_backup_directory_refuses_the_run_before_any_mutation() -> TestResult {
    let wd = store_of_acts(2, 5)?;
    let census = wd.census()?;
    let full = wd.path().join("full");
    std::fs::create_dir_all(&full)?;
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&full)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        println!("skipped: cannot mount a tmpfs (not root, or no mount permission)");
        return Ok(());
    }
    // Fill it.
    let filler = std::fs::write(full.join("filler"), vec![0u8; 256 * 1024]);
    let refused = wd.run_with(
        &["run", "--execute", "--run-id", "f1"],
        &[("IU_CUTTER_BACKUP_DIR", "full")],
    );
    let _ = Command::new("umount").arg(&full).status();
    assert!(filler.is_err(), "the tmpfs did not fill up");
    let refused = refused?.expect(3)?;
    assert!(refused.stderr.contains("backup"), "{refused:?}");
    wd.assert_untouched(&census)
}

#[test]
fn a_stop_file_created_mid_run_refuses_with_a_resume_point_then_resume_passes() -> TestResult {
    let wd = store_of_acts(40, 250)?;
    let (mut child, command) = wd.spawn(&["run", "--execute", "--run-id", "s1"], &[])?;
    // Once the backup is on disk the run has begun mutating; stop it there.
    wait_for(
        &wd.path().join(".iu-cutter/backups/s1.manifest.json"),
        &mut child,
    )?;
    wd.write(".iu-cutter/STOP", b"")?;
    let stopped = Run::of_child(command, child)?.expect(3)?;
    assert!(stopped.stdout.contains("outcome: REFUSED"), "{stopped:?}");
    assert!(stopped.stderr.contains("stop file"), "{stopped:?}");
    // It had journaled the run and its backup: it must not claim that nothing changed.
    let said = format!("{}{}", stopped.stdout, stopped.stderr);
    assert!(
        said.contains("had already changed the store"),
        "{stopped:?}"
    );
    assert!(!said.contains("nothing was mutated"), "{stopped:?}");
    let report = wd.report("s1")?;
    assert!(
        report["outcome"]["resume_from"]
            .as_str()
            .is_some_and(|phase| !phase.is_empty()),
        "a resume point: {report}"
    );
    assert_eq!(wd.census()?.units, 0, "nothing written after the stop");
    std::fs::remove_file(wd.path().join(".iu-cutter/STOP"))?;
    let resumed = wd.expect(&["resume", "s1", "--execute"], 0)?;
    assert!(resumed.stdout.contains("outcome: PASS"), "{resumed:?}");
    assert_eq!(wd.census()?.units, 40 * 251);
    Ok(())
}

/// SIGINT (and SIGTERM) stop a run at its next safe point: the lease is released, the report is
/// written with the phase to resume from, the program exits 130, and the run resumes at once to
/// PASS (an unreleased lease would refuse the resume until it expired).
#[cfg(unix)]
#[test]
fn sigint_stops_at_a_safe_point_releases_the_lease_and_exits_130() -> TestResult {
    for signal in ["-INT", "-TERM"] {
        let wd = store_of_acts(40, 250)?;
        let (mut child, command) = wd.spawn(
            &["run", "--execute", "--run-id", "sig"],
            &[
                ("IU_CUTTER_BATCH_UNITS", "50"),
                ("IU_CUTTER_LEASE_TTL", "60s"),
            ],
        )?;
        wait_for(
            &wd.path().join(".iu-cutter/backups/sig.manifest.json"),
            &mut child,
        )?;
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()?;
        assert!(killed.success());
        let stopped = Run::of_child(command, child)?.expect(130)?;
        assert!(stopped.stdout.contains("outcome: FAILED"), "{stopped:?}");
        assert!(stopped.stderr.contains("next safe point"), "{stopped:?}");
        let report = wd.report("sig")?;
        assert!(
            report["outcome"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("cancelled")),
            "{report}"
        );
        let resumed = wd.expect(&["resume", "sig", "--execute"], 0)?;
        assert!(resumed.stdout.contains("outcome: PASS"), "{resumed:?}");
        assert_eq!(wd.census()?.units, 40 * 251);
    }
    Ok(())
}

/// The backup lives in the store too: a tampered file export is not used (rollback needs no
/// particular host or directory), and backup files are private whatever the umask.
#[test]
fn rollback_restores_from_the_store_when_the_file_export_is_tampered_or_gone() -> TestResult {
    let wd = store_of_acts(2, 5)?;
    let before = wd.census()?;
    wd.expect(&["run", "--execute", "--run-id", "t1"], 0)?;
    let backup = wd.path().join(".iu-cutter/backups/t1.backup.jsonl");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "backup files are private");
        let manifest = wd.path().join(".iu-cutter/backups/t1.manifest.json");
        assert_eq!(
            std::fs::metadata(manifest)?.permissions().mode() & 0o777,
            0o600
        );
        for dir in [".iu-cutter", ".iu-cutter/backups", ".iu-cutter/reports"] {
            let mode = std::fs::metadata(wd.path().join(dir))?.permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{dir} is private");
        }
    }
    let mut bytes = std::fs::read(&backup)?;
    let last = bytes.len().saturating_sub(3);
    bytes[last] ^= 0x01;
    std::fs::write(&backup, bytes)?;
    let rollback = wd.expect(&["rollback", "t1", "--execute"], 0)?;
    assert!(rollback.stdout.contains("ROLLED_BACK"), "{rollback:?}");
    assert_eq!(wd.census()?, before, "back to the pre-run state");

    // Another run, then no backup directory at all.
    wd.expect(&["run", "--execute", "--run-id", "t2"], 0)?;
    std::fs::remove_dir_all(wd.path().join(".iu-cutter/backups"))?;
    wd.expect(&["rollback", "t2", "--execute"], 0)?;
    assert_eq!(wd.census()?, before, "back to the pre-run state");
    Ok(())
}

/// Defect 4 of the no-clobber issue: the store's copy of the backup replaced, its recorded
/// sha256 recomputed to match (and the file export too), is not the backup journaled at backup
/// time: rollback is refused before any change.
#[test]
fn a_tampered_backup_is_refused_by_rollback_and_nothing_changes() -> TestResult {
    let wd = store_of_acts(2, 5)?;
    wd.expect(&["run", "--execute", "--run-id", "t1"], 0)?;
    let census = wd.census()?;
    // The journaled artifact: its row, then its parts in order (migration 9).
    let artifact = wd.text(
        "SELECT artifact || coalesce((SELECT group_concat(backup_part, '' ORDER BY seq) \
         FROM run_backup_parts WHERE run = $1), '') FROM run_backups WHERE run = $1",
        &["t1"],
    )?;
    // Truncated: the last document's snapshot is gone.
    let lines: Vec<&str> = artifact.lines().collect();
    let truncated = format!("{}\n", lines[..lines.len() - 1].join("\n"));
    let sha = iu_cutter_live_execution::sha256_hex(truncated.as_bytes());
    let changed = wd.execute(
        "UPDATE run_backups SET artifact = $1, sha256 = $2 WHERE run = $3",
        &[&truncated, &sha, "t1"],
    )?;
    assert_eq!(changed, 1);
    wd.execute("DELETE FROM run_backup_parts WHERE run = $1", &["t1"])?;
    std::fs::remove_dir_all(wd.path().join(".iu-cutter/backups"))?;
    let rollback = wd.expect(&["rollback", "t1", "--execute"], 3)?;
    let out = format!("{}{}", rollback.stdout, rollback.stderr);
    assert!(
        out.contains("not the one journaled at backup time"),
        "{rollback:?}"
    );
    assert!(out.contains("nothing was changed"), "{rollback:?}");
    assert_eq!(wd.census()?, census, "nothing changed");
    Ok(())
}

/// A writer that ignores fences edits a document of a held run (after its fence and its
/// write-verify): `enact` verifies again, is BLOCKED naming the document, and enacts nothing.
#[test]
fn an_edit_after_the_fence_blocks_the_enact() -> TestResult {
    if Command::new("sqlite3").arg("-version").output().is_err() {
        println!("skipped: no sqlite3 command to play the fence-ignoring writer");
        return Ok(());
    }
    let wd = store_of_acts(2, 5)?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--until",
            "write-verify",
            "--run-id",
            "h1",
        ],
        0,
    )?;
    let edited = Command::new("sqlite3")
        .arg(wd.path().join("iu-cutter.sqlite"))
        .arg(
            "UPDATE documents SET body = body || 'Article 99' || char(10) || 'Sneaked in.', \
             revision = revision + 1, sha256 = '00000000000000000000000000000000000000000000\
             00000000000000000000' WHERE id = 'act-001.txt';",
        )
        .status()?;
    assert!(edited.success());
    let census = wd.census()?;
    let enact = wd.expect(&["enact", "h1", "--execute"], 4)?;
    assert!(enact.stdout.contains("outcome: BLOCKED"), "{enact:?}");
    let all = format!("{}{}", enact.stdout, enact.stderr);
    assert!(all.contains("act-001.txt"), "{enact:?}");
    assert_eq!(wd.census()?, census, "nothing enacted");
    let status = wd.run(&["status", "h1", "--json"])?;
    let status: serde_json::Value = serde_json::from_str(&status.stdout)?;
    assert_ne!(status["status"], "PASS", "{status}");
    Ok(())
}
