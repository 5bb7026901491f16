//! Bounded transactions, end to end on SQLite: a held run enacted one document per
//! transaction, with a pause between batches, is stopped by the stop file after its first
//! enact batch; the program says it is `REFUSED`, that one document was enacted and where to
//! resume; resuming enacts the rest, rolling back restores the exact pre-run store.

use std::time::{Duration, Instant};

use iu_cutter_live_execution::Census;

use crate::support::postgres::Schema;
use crate::support::{Error, Run, TestResult, Workdir, write_acts};

const DOCS: usize = 4;

/// A store of `DOCS` acts and its census, then run `b1` held after write-verify.
fn held_run() -> Result<(Workdir, Census), Error> {
    let wd = Workdir::with_acts("in", DOCS, 3)?;
    let before = wd.census()?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--run-id",
            "b1",
            "--until",
            "write-verify",
        ],
        0,
    )?;
    Ok((wd, before))
}

/// The documents whose active generation is `b1`.
fn enacted(wd: &Workdir) -> Result<usize, Error> {
    Ok(wd
        .column("SELECT id FROM documents WHERE active_generation = 'b1'")?
        .len())
}

/// Enacts `b1` one document per transaction, 2 s apart, and creates the stop file as soon as
/// the first document is enacted: the program's report of the stopped enact.
fn stopped_after_the_first_enact_batch(wd: &Workdir) -> Result<Run, Error> {
    let env = [
        ("IU_CUTTER_BATCH_DOCUMENTS", "1"),
        ("IU_CUTTER_BATCH_PAUSE", "2s"),
    ];
    let (mut child, command) = wd.spawn(&["enact", "b1", "--execute"], &env)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while enacted(wd)? == 0 && Instant::now() < deadline && child.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    wd.write(".iu-cutter/STOP", b"")?;
    let stopped = Run::of_child(command, child)?.expect(3)?;
    let said = stopped.all();
    assert!(said.contains("outcome: REFUSED"), "{stopped:?}");
    assert!(said.contains("1 enacted"), "says how many: {stopped:?}");
    assert!(
        said.contains("resumable from `lifecycle-enact`"),
        "where to resume: {stopped:?}"
    );
    assert_eq!(enacted(wd)?, 1, "no batch after the stop");
    std::fs::remove_file(wd.path().join(".iu-cutter/STOP"))?;
    // Stopped, not abandoned: its runner released it, and it is resumable.
    let status = wd.expect(&["status", "b1"], 0)?;
    assert!(status.stdout.contains("status: STOPPED"), "{status:?}");
    assert!(!status.stdout.contains("ABANDONED"), "{status:?}");
    assert!(status.stdout.contains("iu-cutter resume b1"), "{status:?}");
    Ok(stopped)
}

/// [`held_run`], its enact stopped after the first batch
/// ([`stopped_after_the_first_enact_batch`]).
fn stopped_held_run() -> Result<(Workdir, Census), Error> {
    let (wd, before) = held_run()?;
    stopped_after_the_first_enact_batch(&wd)?;
    Ok((wd, before))
}

#[test]
fn an_enact_stopped_between_batches_says_what_it_enacted_and_resumes() -> TestResult {
    let (wd, _) = stopped_held_run()?;
    let resumed = wd.expect(&["resume", "b1", "--execute"], 0)?;
    assert!(resumed.stdout.contains("outcome: PASS"), "{resumed:?}");
    assert_eq!(enacted(&wd)?, DOCS);
    Ok(())
}

#[test]
fn an_enact_stopped_between_batches_rolls_back_to_the_exact_pre_run_state() -> TestResult {
    let (wd, before) = stopped_held_run()?;
    let rolled = wd.expect(&["rollback", "b1", "--execute"], 0)?;
    assert!(rolled.stdout.contains("ROLLED_BACK"), "{rolled:?}");
    assert_eq!(wd.census()?, before, "the exact pre-run census");
    Ok(())
}

/// [`held_run`] `b1`, its `enact` killed (SIGKILL) after its first one-document batch, and its
/// lease expired (moved past on the store's clock).
fn enact_killed_after_its_first_batch() -> Result<Workdir, Error> {
    let (wd, _) = held_run()?;
    let env = [
        ("IU_CUTTER_BATCH_DOCUMENTS", "1"),
        ("IU_CUTTER_BATCH_PAUSE", "5s"),
    ];
    let (mut child, _) = wd.spawn(&["enact", "b1", "--execute"], &env)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while enacted(&wd)? == 0 && Instant::now() < deadline && child.try_wait()?.is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill()?; // SIGKILL on Unix
    child.wait()?;
    assert_eq!(enacted(&wd)?, 1, "killed after its first batch");
    // The killed runner's lease would expire on the store's clock; the test moves it past.
    wd.execute(
        "UPDATE run_leases SET expires_at_ms = 0 WHERE run = $1",
        &["b1"],
    )?;
    Ok(wd)
}

/// D1 of the fourth attack, on the real program: `enact` killed (SIGKILL) after its first
/// one-document batch, then an `import` edits the document it had enacted. `resume` must pass
/// (the edited document counts as enacted, its edit kept, shown stale), not block saying that
/// nothing was enacted.
#[test]
fn an_enact_killed_mid_batch_resumes_past_an_edit_of_an_enacted_document() -> TestResult {
    let wd = enact_killed_after_its_first_batch()?;
    let id = wd
        .column("SELECT id FROM documents WHERE active_generation = 'b1'")?
        .pop()
        .ok_or("nothing enacted")?;
    wd.write(
        &format!("edit/{id}"),
        b"Chapter I\nRewritten by the application.\n",
    )?;
    wd.expect(&["import", "--execute", "edit"], 0)?;

    let resumed = wd.expect(&["resume", "b1", "--execute"], 0)?;

    assert!(resumed.stdout.contains("outcome: PASS"), "{resumed:?}");
    assert_eq!(
        enacted(&wd)?,
        DOCS,
        "every document on the run's generation"
    );
    let body = wd.text("SELECT body FROM documents WHERE id = $1", &[&id])?;
    assert!(body.contains("Rewritten"), "the edit is kept: {body}");
    Ok(())
}

/// Adversarial (adv43): `enact` killed (SIGKILL) after its first batch, its lease expired. The
/// text of `status b1` says the run is ABANDONED (its runner is gone), and `status --json` lists
/// its liveness, but `status b1 --json`, what a monitor polls for one run, printed only the
/// journal's record: `"status": "running"`, forever, with nothing saying nobody runs it.
#[test]
fn status_of_a_killed_run_in_json_says_it_is_abandoned() -> TestResult {
    let wd = enact_killed_after_its_first_batch()?;
    let text = wd.expect(&["status", "b1"], 0)?;
    assert!(text.stdout.contains("status: ABANDONED"), "{text:?}");
    let json = wd.json(&["status", "b1", "--json"])?;
    assert_eq!(json["run"], "b1", "{json}");
    assert_eq!(json["liveness"]["state"], "abandoned", "{json}");
    // The listing says the same of it.
    let listed = wd.json(&["status", "--json"])?;
    assert_eq!(listed["liveness"][0]["state"], "abandoned", "{listed}");
    Ok(())
}

/// Adversarial (adv43): the rollback of `b1` (held after write-verify) began, and the kill
/// switch closed before it ended: the closed switch refuses the journal's record of its end
/// too, so the journal keeps `"status": "HELD"` beside a rollback phase still running (what the
/// statement below writes, as such a rollback leaves it). `status b1` shows it ROLLED BACK IN
/// PART, but `status b1 --json` and `status --json` printed `"status": "HELD"` and nothing
/// else: a client reading them would enact a run that is rolled back in part.
#[test]
fn status_in_json_says_when_a_rollback_stopped_part_way() -> TestResult {
    let (wd, _) = held_run()?;
    wd.execute(
        "INSERT INTO run_phases (run, name, position, status, evidence, detail, started_at, \
         finished_at) VALUES ($1, 'rollback', 5, 'running', '{}', NULL, \
         '2099-01-01T00:00:00.000Z', NULL)",
        &["b1"],
    )?;
    let text = wd.expect(&["status", "b1"], 0)?;
    assert!(text.stdout.contains("ROLLED BACK IN PART"), "{text:?}");
    let json = wd.json(&["status", "b1", "--json"])?;
    assert_eq!(json["status"], "HELD", "{json}");
    assert_eq!(json["rolled_back_in_part"], true, "{json}");
    let listed = wd.json(&["status", "--json"])?;
    assert_eq!(listed["runs"][0]["rolled_back_in_part"], true, "{listed}");
    Ok(())
}

#[test]
fn a_load_back_off_on_sqlite_is_a_configuration_error_before_anything_is_written() -> TestResult {
    let wd = Workdir::with_acts("in", 1, 2)?;
    let before = wd.census()?;
    let refused = wd.expect_with(
        &["run", "--execute"],
        &[("IU_CUTTER_BACKOFF_MAX_ACTIVE_CONNECTIONS", "3")],
        6,
    )?;
    assert!(refused.stderr.contains("needs PostgreSQL"), "{refused:?}");
    wd.assert_untouched(&before)?;
    // `serve` is refused as `run` is: it left the back-off out of its invocations and served.
    let (mut server, shown) = wd.spawn(
        &["serve", "--execute"],
        &[
            ("IU_CUTTER_BACKOFF_MAX_ACTIVE_CONNECTIONS", "3"),
            ("IU_CUTTER_SERVE_BIND", "127.0.0.1:0"),
        ],
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if server.try_wait()?.is_none() {
        server.kill()?;
    }
    let served = Run::of_child(shown, server)?;
    assert_eq!(served.code, 6, "{served:?}");
    assert!(served.stderr.contains("needs PostgreSQL"), "{served:?}");
    wd.assert_untouched(&before)
}

#[test]
fn a_run_on_postgres_reads_its_load_probe_between_batches_and_reports_the_wait() -> TestResult {
    let test = "a_run_on_postgres_reads_its_load_probe_between_batches_and_reports_the_wait";
    let Some(url) = iu_cutter_test_env::pg_url(test) else {
        return Ok(());
    };
    let schema = Schema::create(&url, "backoff")?;
    let wd = Workdir::new()?
        .with_env("IU_CUTTER_PRESET", "legal-en")
        .with_env("IU_CUTTER_DATABASE_URL", &url)
        .with_env("IU_CUTTER_SCHEMA", &schema.name);
    write_acts(&wd.path().join("in"), 3, 2)?;
    wd.init_and_import("in")?;
    // A probe that writes is a configuration error before anything is written.
    let refused = wd.expect_with(
        &["run", "--execute"],
        &[
            ("IU_CUTTER_BACKOFF_PROBE", "DELETE FROM documents"),
            ("IU_CUTTER_BACKOFF_THRESHOLD", "3"),
        ],
        6,
    )?;
    assert!(refused.stderr.contains("one SELECT"), "{refused:?}");
    let report = wd
        .expect_with(
            &["run", "--execute", "--json"],
            &[
                ("IU_CUTTER_BACKOFF_PROBE", "SELECT 1"),
                ("IU_CUTTER_BACKOFF_THRESHOLD", "3"),
                ("IU_CUTTER_BATCH_DOCUMENTS", "1"),
            ],
            0,
        )?
        .json()?;
    let phases = report["phases"].as_array().ok_or("no phases")?;
    for phase in ["cut-leg-a", "leg-b-record", "lifecycle-enact"] {
        let evidence = &phases.iter().find(|p| p["name"] == phase).ok_or(phase)?["evidence"];
        assert_eq!(evidence["load_waited_ms"], 0, "{phase}: {evidence}");
    }
    let enact = &phases
        .iter()
        .find(|p| p["name"] == "lifecycle-enact")
        .ok_or("no enact")?["evidence"];
    assert_eq!(enact["batches"], 3, "{enact}");
    assert_eq!(enact["enact_atomic_across_scope"], false, "{enact}");
    Ok(())
}

/// `serve` on port 0 (any free port) printed `http://127.0.0.1:0/`, an address nobody can
/// open: it prints the address it bound, which answers.
#[test]
fn serve_on_port_0_prints_the_address_it_bound() -> TestResult {
    use std::io::{BufRead, BufReader, Read, Write};
    let wd = Workdir::with_acts("in", 1, 1)?;
    let (mut server, shown) = wd.spawn(&["serve"], &[("IU_CUTTER_SERVE_BIND", "127.0.0.1:0")])?;
    let stderr = server.stderr.take().ok_or("stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let address = loop {
        let Some(line) = lines.next() else {
            server.kill()?;
            return Err(format!("{shown}: no address printed").into());
        };
        let line = line?;
        if let Some(rest) = line.strip_prefix("iu-cutter serve: http://") {
            break rest.split('/').next().unwrap_or_default().to_owned();
        }
    };
    let answered = (|| -> Result<String, std::io::Error> {
        let mut stream = std::net::TcpStream::connect(&address)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "GET /runs HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    })();
    server.kill()?;
    server.wait()?;
    assert!(!address.ends_with(":0"), "{address}");
    let answer = answered?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{address}: {answer}");
    Ok(())
}
