//! End to end, the operator's day on SQLite with the real binary: import, plan (`--out`), a held
//! run checked against the reviewed plan, enact, a second cut and its diff, purge, reports (JSON
//! and Markdown, from the journal and the reports directory), the audit, and rollback. Every
//! output the test relies on is parsed and checked.

use serde_json::Value;

use crate::support::{TestResult, Workdir, examples};

const DOC: &str = "vi/luat-giao-dich-dien-tu.txt";

fn is_sha256(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn phase<'a>(report: &'a Value, name: &str) -> Result<&'a Value, String> {
    report["phases"]
        .as_array()
        .and_then(|phases| phases.iter().find(|p| p["name"] == name))
        .ok_or_else(|| format!("no phase {name} in {report}"))
}

#[test]
fn import_plan_hold_enact_diff_report_verify_purge_and_rollback() -> TestResult {
    // The Vietnamese preset, and `USER` set: the report must not believe it.
    let wd = Workdir::new()?
        .with_env("IU_CUTTER_PRESET", "legal-vi")
        .with_env("USER", "operator-test");
    let corpus = examples();
    let corpus = corpus.to_str().ok_or("corpus path")?;
    wd.expect(&["init", "--execute"], 0)?;
    wd.expect(&["import", "--execute", corpus], 0)?;
    let census0 = wd.census()?;

    // Plan, written to a file: the file is the plan whose sha256 `plan` prints.
    let preview = wd.json(&["plan", "--prefix", "vi/", "--out", "vi.plan.json", "--json"])?;
    assert_eq!(preview["written_to"], "vi.plan.json");
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(wd.path().join("vi.plan.json"))?)?;
    assert_eq!(
        plan["documents"].as_array().map(Vec::len),
        Some(2),
        "{plan}"
    );
    assert!(is_sha256(&preview["plan_sha256"]), "{preview}");
    let table = wd.expect(&["plan", "--prefix", "vi/"], 0)?;
    assert!(table.stdout.contains("largest"), "{table:?}");
    assert!(table.stdout.contains(DOC), "{table:?}");

    // A reviewed plan of another scope no longer matches: REFUSED, exit 3, nothing written.
    let refused = wd.expect(
        &[
            "run",
            "--execute",
            "--prefix",
            "en/",
            "--plan",
            "vi.plan.json",
            "--run-id",
            "wrong",
        ],
        3,
    )?;
    assert!(refused.stdout.contains("outcome: REFUSED"), "{refused:?}");
    assert!(refused.stderr.contains("reviewed plan"), "{refused:?}");
    assert!(refused.stderr.contains("next:"), "{refused:?}");
    assert_eq!(wd.census()?, census0);

    // The held run, with the reviewed plan; progress lines on stderr (not a terminal).
    let hold = wd.expect(
        &[
            "run",
            "--execute",
            "--prefix",
            "vi/",
            "--until",
            "write-verify",
            "--plan",
            "vi.plan.json",
            "--run-id",
            "h1",
        ],
        0,
    )?;
    assert!(
        hold.stdout
            .contains("outcome: PASS (held after write-verify)"),
        "{hold:?}"
    );
    assert!(hold.stderr.contains("progress: leg-b-record"), "{hold:?}");
    assert!(hold.stderr.contains("units (100%)"), "{hold:?}");
    let held = wd.json(&["status", "h1", "--json"])?;
    assert_eq!(held["status"], "HELD");
    assert_eq!(held["expected_plan_sha256"], preview["plan_sha256"]);
    assert!(
        phase(&held, "write-verify")?["finished_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{held}"
    );
    assert_eq!(
        wd.census()?.documents,
        census0.documents,
        "documents appeared"
    );
    let units = wd.json(&["units", DOC, "--json"])?;
    assert_eq!(
        units["units"].as_array().map(Vec::len),
        Some(0),
        "enacted early"
    );

    // Enact: refused with the switch closed, then done (quietly: no progress lines).
    wd.expect(&["enact", "h1"], 3)?;
    let enact = wd.expect(&["enact", "h1", "--execute", "--quiet"], 0)?;
    assert!(enact.stdout.contains("outcome: PASS"), "{enact:?}");
    assert!(!enact.stderr.contains("progress:"), "{enact:?}");
    let units = wd.json(&["units", DOC, "--json"])?;
    assert_eq!(units["active_generation"], "h1");

    // A second cut of one amended document, and the diff of its two generations.
    let amended = wd.path().join("amended");
    std::fs::create_dir_all(amended.join("vi"))?;
    let mut body = std::fs::read_to_string(examples().join(DOC))?;
    body.push_str("\nĐiều 52. Điều khoản chuyển tiếp\n\nNội dung mới của điều này.\n");
    std::fs::write(amended.join(DOC), &body)?;
    wd.expect(&["import", "--execute", "amended"], 0)?;
    wd.expect(
        &["run", "--execute", "--id", DOC, "--run-id", "h2", "--quiet"],
        0,
    )?;
    let diff = wd.json(&["diff", DOC, "--json"])?;
    assert_eq!(diff["generation_a"], "h1");
    assert_eq!(diff["generation_b"], "h2");
    assert_eq!(diff["added"], 1, "{diff}");
    assert_eq!(diff["removed"], 0, "{diff}");
    assert!(diff["unchanged"].as_u64().is_some_and(|n| n > 5), "{diff}");
    let added = diff["units"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["change"] == "added"))
        .ok_or("no added unit")?;
    assert!(
        added["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("Điều 52")),
        "{added}"
    );
    let table = wd.expect(&["diff", DOC], 0)?;
    assert!(table.stdout.contains("h1 -> h2: 1 added"), "{table:?}");
    wd.expect(&["diff", DOC, "h1", "nope"], 8)?;

    // Nothing is old enough to purge: nothing removed, no switch needed.
    let purge = wd.json(&["purge", "--older-than", "30d", "--json"])?;
    assert_eq!(purge["outcome"]["name"], "PASS");
    assert_eq!(purge["purged"], 0);
    let kept = purge["generations"].as_array().ok_or("generations")?;
    assert!(
        kept.iter()
            .any(|g| g["generation"] == "h1" && g["decision"] != "purge"),
        "{purge}"
    );

    // Reports: from the journal, as JSON and Markdown, with every field the operator needs.
    let report = wd.json(&["report", "h2", "--format", "json"])?;
    assert_eq!(report["schema_version"], 5);
    assert_eq!(report["run"], "h2");
    assert_eq!(report["command"], "run");
    assert_eq!(report["mode"], "live");
    assert_eq!(report["outcome"]["name"], "PASS");
    // The user is the process's real uid, not `USER` (which the test sets to operator-test).
    let user = report["provenance"]["user"].as_str().unwrap_or_default();
    assert!(
        !user.is_empty() && user != "operator-test" && user != "unknown",
        "{report}"
    );
    // SQLite has no database role.
    assert!(
        report["provenance"].get("database_user").is_none(),
        "{report}"
    );
    assert!(
        report["provenance"]["host"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(report["provenance"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(report["provenance"]["commit"].is_string());
    assert!(
        is_sha256(&report["provenance"]["config_sha256"]),
        "{report}"
    );
    assert!(is_sha256(&report["plan_sha256"]), "{report}");
    assert!(is_sha256(&report["backup_sha256"]), "{report}");
    assert!(
        report["started_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let phases = report["phases"].as_array().ok_or("phases")?;
    assert_eq!(phases.len(), 5);
    for p in phases {
        assert_eq!(p["status"], "done", "{p}");
        assert!(p["started_at"].is_string(), "{p}");
        assert!(p["duration_ms"].is_u64(), "{p}");
    }
    // h1's latest report is its enact, which verified again before enacting.
    let enacted = wd.json(&["report", "h1", "--json"])?;
    assert_eq!(enacted["command"], "enact");
    assert_eq!(phase(&enacted, "write-verify")?["status"], "done");
    assert_eq!(phase(&enacted, "lifecycle-enact")?["status"], "done");
    assert_eq!(phase(&enacted, "backup")?["status"], "skipped");
    assert_eq!(enacted["plan_sha256"], preview["plan_sha256"]);
    let md = wd.expect(&["report", "h1"], 0)?.stdout;
    assert!(md.contains("report: run `h1`: PASS"), "{md}");
    assert!(md.contains("## Outcome: PASS"), "{md}");
    assert!(
        md.contains("| phase | status | started | duration | evidence |"),
        "{md}"
    );
    assert!(md.contains("| lifecycle-enact | done |"), "{md}");
    assert!(md.contains(&format!("| user | {user}@")), "{md}");
    // The same reports are files too, JSON and Markdown, one pair per invocation.
    let first = wd.report("h1")?;
    assert_eq!(first["command"], "run");
    assert_eq!(first["held_after"], "write-verify");
    let first_md = std::fs::read_to_string(wd.path().join(".iu-cutter/reports/h1.md"))?;
    assert!(first_md.contains("(held after write-verify)"), "{first_md}");
    let enact_files: Vec<String> = std::fs::read_dir(wd.path().join(".iu-cutter/reports"))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("h1.enact-"))
        .collect();
    assert!(
        enact_files.iter().any(|n| n.ends_with(".json"))
            && enact_files.iter().any(|n| n.ends_with(".md")),
        "{enact_files:?}"
    );
    // The refused run was never journaled: it does not exist, so it left no report file that
    // a later run with its id would have to step around, and `report` says it knows no such run
    // (as JSON on stdout, with --json).
    assert!(!wd.path().join(".iu-cutter/reports/wrong.json").exists());
    let wrong = wd.expect(&["report", "wrong", "--json"], 8)?;
    let error: Value = serde_json::from_str(&wrong.stdout)?;
    assert_eq!(error["error"]["kind"], "bad_input", "{wrong:?}");
    assert!(wrong.stderr.is_empty(), "{wrong:?}");

    // The audit of h1: its units against the plan, its generation active or retired by h2.
    let audit = wd.json(&["verify", "h1", "--json"])?;
    assert_eq!(audit["command"], "verify");
    assert_eq!(audit["outcome"]["name"], "PASS");
    let step = phase(&audit, "audit")?;
    // Counts are JSON numbers (report schema 4), not strings.
    assert_eq!(step["evidence"]["generation_retired"], 1, "{audit}");
    assert_eq!(step["evidence"]["generation_active"], 1, "{audit}");

    // Roll both back, newest first: the store is as it was after the import of the amendment.
    let rolled = wd.expect(&["rollback", "h2", "--execute", "--quiet"], 0)?;
    assert!(rolled.stdout.contains("outcome: ROLLED_BACK"), "{rolled:?}");
    wd.expect(&["rollback", "h1", "--execute", "--quiet"], 0)?;
    let after = wd.census()?;
    assert_eq!(after.units, 0);
    assert_eq!(after.documents, census0.documents);
    let rolled_report = wd.json(&["report", "h1", "--json"])?;
    assert_eq!(rolled_report["command"], "rollback");
    assert_eq!(rolled_report["outcome"]["name"], "ROLLED_BACK");
    assert!(is_sha256(&rolled_report["backup_sha256"]));

    // Errors go to stderr with a next action.
    let unknown = wd.expect(&["enact", "nope", "--execute"], 8)?;
    assert!(unknown.stderr.contains("next:"), "{unknown:?}");
    assert!(unknown.stdout.is_empty(), "{unknown:?}");
    Ok(())
}

#[test]
fn a_throttled_run_pauses_between_batches_and_reports_how_long() -> TestResult {
    let wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "legal-en");
    wd.expect(&["init", "--execute"], 0)?;
    let act: String = (1..=6)
        .map(|n| format!("Article {n}\nText {n}.\n"))
        .collect();
    wd.write("in/act.txt", act.as_bytes())?;
    wd.expect(&["import", "--execute", "in"], 0)?;
    let env = [
        ("IU_CUTTER_BATCH_UNITS", "2"),
        ("IU_CUTTER_BATCH_PAUSE", "1s"),
    ];
    let run = wd.expect_with(&["run", "--execute", "--run-id", "slow", "--json"], &env, 0)?;
    let report: Value = serde_json::from_str(&run.stdout)?;
    let written = &phase(&report, "leg-b-record")?["evidence"];
    // Six units in batches of two: a pause after each of the three batches, and the report
    // says how long the writes were held back.
    assert_eq!(written["batches"], 3, "{written}");
    assert_eq!(written["throttle_waited_ms"], 3000, "{written}");
    let plain = wd.expect(&["run", "--execute", "--run-id", "fast", "--json"], 0)?;
    let report: Value = serde_json::from_str(&plain.stdout)?;
    let written = &phase(&report, "leg-b-record")?["evidence"];
    assert!(
        written.get("throttle_waited_ms").is_none(),
        "no throttle, no figure: {written}"
    );
    Ok(())
}
