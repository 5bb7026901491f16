//! End to end: the real `iu-cutter` binary in a temporary directory, on SQLite.

use std::process::Command;

use crate::support::{TestResult, Workdir, examples};

const SWITCH: &str = "configuration execution_enabled / --execute";
const HOW_TO_OPEN: &str = "pass --execute or set execution_enabled = true in cutter.toml";

fn line_value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
}

#[test]
fn init_import_plan_refuse_run_units_rollback_and_dry_run() -> TestResult {
    let wd = Workdir::new()?;
    let corpus = examples();
    let corpus = corpus.to_str().ok_or("corpus path")?;

    // `init` mutates: without --execute it prints what it would create, creates nothing (not
    // even the SQLite file) and is refused by the kill switch.
    let shown = wd.expect(&["init"], 3)?;
    assert!(shown.stdout.contains("creates in"), "{shown:?}");
    assert!(shown.stdout.contains("view active_units"), "{shown:?}");
    assert!(shown.stdout.contains("nothing was changed"), "{shown:?}");
    assert!(shown.stderr.contains(HOW_TO_OPEN), "{shown:?}");
    assert!(
        !wd.path().join("iu-cutter.sqlite").exists(),
        "init without --execute created the store"
    );
    let init = wd.expect(&["init", "--execute"], 0)?;
    assert!(init.stdout.contains("initialised"), "{init:?}");
    let again = wd.expect(&["init"], 0)?;
    assert!(again.stdout.contains("up to date"), "{again:?}");

    // Importing mutates: refused while the switch is closed, and nothing is imported.
    let refused = wd.expect(&["import", corpus], 3)?;
    assert!(refused.stderr.contains(SWITCH), "{refused:?}");
    assert!(refused.stderr.contains(HOW_TO_OPEN), "{refused:?}");
    assert_eq!(wd.census()?.documents, 0);

    let import = wd.expect(&["import", "--execute", corpus], 0)?;
    assert!(
        import
            .stdout
            .contains("imported: 6, changed: 0, unchanged: 0"),
        "{import:?}"
    );
    assert!(
        import.stdout.contains("vi/luat-giao-dich-dien-tu.txt"),
        "{import:?}"
    );
    // Nothing to write: no mutation, so no switch needed.
    let again = wd.expect(&["import", corpus], 0)?;
    assert!(
        again
            .stdout
            .contains("imported: 0, changed: 0, unchanged: 6"),
        "{again:?}"
    );

    let vi = [("IU_CUTTER_PRESET", "legal-vi")];
    let plan = wd.expect_with(&["plan", "--prefix", "vi/"], &vi, 0)?;
    let plan_sha = line_value(&plan.stdout, "plan sha256:")
        .ok_or_else(|| format!("no plan sha: {plan:?}"))?
        .to_owned();
    assert_eq!(plan_sha.len(), 64);
    assert!(plan.stdout.contains("Chương I"), "{plan:?}");
    let census0 = wd.census()?;
    assert_eq!((census0.documents, census0.units), (6, 0));

    // A live run with the switch closed: REFUSED, exit 3, the switch named, nothing mutated.
    let refused = wd.expect_with(&["run", "--prefix", "vi/", "--run-id", "t-refused"], &vi, 3)?;
    assert!(refused.stdout.contains("outcome: REFUSED"), "{refused:?}");
    assert!(refused.stderr.contains(SWITCH), "{refused:?}");
    assert!(refused.stderr.contains(HOW_TO_OPEN), "{refused:?}");
    assert_eq!(wd.census()?, census0);
    let status = wd.expect(&["status", "--json"], 0)?;
    let status: serde_json::Value = serde_json::from_str(&status.stdout)?;
    assert_eq!(status["runs"].as_array().map(Vec::len), Some(0), "{status}");

    // The stop file closes it even with --execute.
    std::fs::create_dir_all(wd.path().join(".iu-cutter"))?;
    std::fs::write(wd.path().join(".iu-cutter/STOP"), b"")?;
    let stopped = wd.expect_with(&["run", "--execute", "--prefix", "vi/"], &vi, 3)?;
    assert!(stopped.stderr.contains("stop file"), "{stopped:?}");
    assert_eq!(wd.census()?, census0);
    std::fs::remove_file(wd.path().join(".iu-cutter/STOP"))?;

    // With --execute: PASS, and the journaled plan is the one `plan` showed.
    let pass = wd.expect_with(
        &["run", "--execute", "--prefix", "vi/", "--run-id", "t1"],
        &vi,
        0,
    )?;
    assert!(pass.stdout.contains("outcome: PASS"), "{pass:?}");
    let report_path = wd.path().join(".iu-cutter/reports/t1.json");
    assert!(
        pass.stdout.contains("report: .iu-cutter/reports/t1.json"),
        "{pass:?}"
    );
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)?;
    assert_eq!(report["outcome"]["name"], "PASS");
    assert_eq!(report["adapter"]["kind"], "sqlite");
    let phases = report["phases"].as_array().ok_or("phases")?;
    assert_eq!(phases.len(), 5, "{report}");
    let cut = phases
        .iter()
        .find(|p| p["name"] == "cut-leg-a")
        .ok_or("no cut-leg-a")?;
    assert_eq!(cut["evidence"]["plan_sha256"], plan_sha.as_str());
    assert!(
        wd.path()
            .join(".iu-cutter/backups/t1.backup.jsonl")
            .exists()
    );
    assert_ne!(wd.census()?, census0);

    let doc = "vi/luat-giao-dich-dien-tu.txt";
    let units = wd.expect(&["units", doc, "--json"], 0)?;
    let units: serde_json::Value = serde_json::from_str(&units.stdout)?;
    let list = units["units"].as_array().ok_or("units")?;
    assert!(list.len() > 8, "{units}");
    let source = std::fs::read(examples().join(doc))?;
    let mut next = 0;
    for unit in list {
        assert_eq!(unit["start"].as_u64(), Some(next), "{unit}");
        next = unit["end"].as_u64().ok_or("end")?;
    }
    assert_eq!(next, source.len() as u64);
    assert!(
        list.iter().any(|u| u["path"] == "Chương I/Điều 3/Khoản 2"),
        "{units}"
    );
    let table = wd.expect(&["units", doc], 0)?;
    assert!(table.stdout.contains("Chương II/Mục 1/Điều 9"), "{table:?}");

    // Rollback needs the switch too, then restores the pre-run census exactly.
    wd.expect(&["rollback", "t1"], 3)?;
    let rolled = wd.expect(&["rollback", "t1", "--execute"], 0)?;
    assert!(rolled.stdout.contains("outcome: ROLLED_BACK"), "{rolled:?}");
    assert_eq!(wd.census()?, census0);

    // A dry run reads the live store only and attests it.
    let md = [("IU_CUTTER_PRESET", "markdown")];
    let dry = wd.expect_with(
        &[
            "run", "--mode", "simulate", "--prefix", "md/", "--run-id", "d1",
        ],
        &md,
        0,
    )?;
    assert!(dry.stdout.contains("outcome: PASS"), "{dry:?}");
    assert!(dry.stdout.contains("on simulator"), "{dry:?}");
    assert!(
        dry.stdout.contains("non-mutation attestation: PASS"),
        "{dry:?}"
    );
    assert_eq!(wd.census()?, census0);
    let attestation: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        wd.path().join(".iu-cutter/reports/d1.attestation.json"),
    )?)?;
    assert_eq!(attestation["unchanged"], true);
    assert_eq!(attestation["changed_documents"], 0);
    // The census of the dry run's scope (the `md/` documents): the store's census restricted.
    let mut scope = iu_cutter_live_execution::CensusBuilder::new();
    for (id, digest) in census0
        .per_document
        .iter()
        .filter(|(id, _)| id.as_str().starts_with("md/"))
    {
        scope.add(id.clone(), *digest, 0);
    }
    assert_eq!(
        attestation["census_before"]["fingerprint"],
        scope.finish().fingerprint.as_str()
    );
    // The dry run is not journaled in the live store.
    let status = wd.expect(&["status"], 0)?;
    assert!(status.stdout.contains("t1"), "{status:?}");
    assert!(status.stdout.contains("ROLLED_BACK"), "{status:?}");
    assert!(!status.stdout.contains("d1"), "{status:?}");
    // Without --census, status reads the journal only.
    assert!(!status.stdout.contains("fingerprint"), "{status:?}");
    let detail = wd.expect(&["status", "t1", "--json"], 0)?;
    let detail: serde_json::Value = serde_json::from_str(&detail.stdout)?;
    assert_eq!(detail["status"], "ROLLED_BACK");

    // Unknown documents and runs are bad input.
    wd.expect(&["units", "nope.txt"], 8)?;
    wd.expect(&["status", "nope"], 8)?;
    wd.expect(&["run", "--execute", "--prefix", "nothing/"], 8)?;
    Ok(())
}

/// `status` lists the most recent runs from the journal, and reads the whole store only when
/// asked for its census.
#[test]
fn status_shows_the_most_recent_runs_and_the_census_only_when_asked() -> TestResult {
    let wd = Workdir::new()?;
    let corpus = examples();
    wd.expect(&["init", "--execute"], 0)?;
    wd.expect(
        &["import", "--execute", corpus.to_str().ok_or("corpus path")?],
        0,
    )?;
    // Run ids that sort against the order they ran in: "recent" is by time, not by id.
    for (run, prefix, preset) in [("z1", "vi/", "legal-vi"), ("a2", "md/", "markdown")] {
        wd.expect_with(
            &["run", "--execute", "--prefix", prefix, "--run-id", run],
            &[("IU_CUTTER_PRESET", preset)],
            0,
        )?;
    }
    let all: serde_json::Value =
        serde_json::from_str(&wd.expect(&["status", "--json"], 0)?.stdout)?;
    assert!(all.get("census").is_none(), "{all}");
    assert_eq!(all["runs_total"], 2);
    assert_eq!(all["runs"][0]["run"], "z1", "{all}");
    assert_eq!(all["runs"][1]["run"], "a2", "{all}");

    let last: serde_json::Value =
        serde_json::from_str(&wd.expect(&["status", "--limit", "1", "--json"], 0)?.stdout)?;
    assert_eq!(last["runs_total"], 2);
    assert_eq!(last["runs"].as_array().map(Vec::len), Some(1), "{last}");
    assert_eq!(last["runs"][0]["run"], "a2", "the most recent run: {last}");
    let shown = wd.expect(&["status", "--limit", "1"], 0)?;
    assert!(shown.stdout.contains("1 of 2 runs shown"), "{shown:?}");
    assert!(!shown.stdout.contains("z1"), "{shown:?}");
    let none = wd.expect(&["status", "--limit", "0"], 0)?;
    assert!(
        none.stdout.contains("2 runs journaled, none shown"),
        "{none:?}"
    );
    // A held run awaits its enact or rollback: newer runs never hide it.
    for (run, prefix, until) in [("h3", "md/", Some("write-verify")), ("b4", "vi/", None)] {
        let mut args = vec!["run", "--execute", "--prefix", prefix, "--run-id", run];
        args.extend(until.iter().flat_map(|phase| ["--until", *phase]));
        wd.expect(&args, 0)?;
    }
    let held = wd.expect(&["status", "--limit", "1"], 0)?;
    assert!(
        held.stdout.contains("h3") && held.stdout.contains("b4") && !held.stdout.contains("a2"),
        "{held:?}"
    );
    assert!(
        held.stdout
            .contains("2 of 4 runs shown, the 1 most recent and 1 held before them"),
        "{held:?}"
    );
    let only_held = wd.expect(&["status", "--limit", "0"], 0)?;
    assert!(
        only_held
            .stdout
            .contains("1 of 4 runs shown, the held ones (--limit 0)"),
        "{only_held:?}"
    );

    let census: serde_json::Value =
        serde_json::from_str(&wd.expect(&["status", "--census", "--json"], 0)?.stdout)?;
    assert_eq!(
        census["census"]["fingerprint"],
        wd.census()?.fingerprint.as_str()
    );
    let text = wd.expect(&["status", "--census"], 0)?;
    assert!(text.stdout.contains("fingerprint"), "{text:?}");
    Ok(())
}

#[test]
fn an_unreachable_database_is_exit_7_without_secrets_or_fallback() -> TestResult {
    let wd = Workdir::new()?;
    let url = [(
        "IU_CUTTER_DATABASE_URL",
        "postgres://u:secret@127.0.0.1:1/x",
    )];
    for mode in ["live", "simulate"] {
        let run = wd.expect_with(&["run", "--mode", mode, "--execute"], &url, 7)?;
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("secret"), "{run:?}");
        assert!(run.stderr.contains("127.0.0.1:1"), "{run:?}");
        assert!(run.stderr.contains("next:"), "{run:?}");
        if mode == "live" {
            assert!(!all.to_lowercase().contains("simulat"), "{run:?}");
        }
    }
    // No SQLite file yet: unavailable, with `init` as the next action; nothing is created.
    let run = wd.expect(&["plan"], 7)?;
    assert!(run.stderr.contains("iu-cutter init"), "{run:?}");
    assert!(!wd.path().join("iu-cutter.sqlite").exists());
    Ok(())
}

#[test]
fn configuration_errors_name_the_key() -> TestResult {
    let wd = Workdir::new()?;
    std::fs::write(
        wd.path().join("cutter.toml"),
        "execution_enabled = false\nexecution_enable = true\n",
    )?;
    let run = wd.expect(&["plan"], 6)?;
    assert!(run.stderr.contains("execution_enable"), "{run:?}");
    std::fs::remove_file(wd.path().join("cutter.toml"))?;
    let run = wd.expect_with(&["plan"], &[("IU_CUTTER_EXECUTE", "true")], 6)?;
    assert!(run.stderr.contains("IU_CUTTER_EXECUTE"), "{run:?}");
    wd.expect(&["plan", "--config", "missing.toml"], 6)?;
    wd.expect(&["frobnicate"], 2)?;
    Ok(())
}

#[test]
fn invalid_utf8_is_bad_input_naming_file_and_offset() -> TestResult {
    let wd = Workdir::new()?;
    wd.expect(&["init", "--execute"], 0)?;
    let input = wd.path().join("input");
    std::fs::create_dir_all(&input)?;
    std::fs::write(input.join("a-good.txt"), "Article 1\n")?;
    std::fs::write(input.join("b-latin1.txt"), b"Article 1\nCaf\xe9\n")?;
    let run = wd.expect(&["import", "--execute", "input"], 8)?;
    assert!(run.stderr.contains("b-latin1.txt"), "{run:?}");
    assert!(run.stderr.contains("byte offset 13"), "{run:?}");
    assert!(run.stderr.contains("nothing was imported"), "{run:?}");
    assert_eq!(wd.census()?.documents, 0);
    Ok(())
}

#[test]
fn version_reports_the_build() -> TestResult {
    let wd = Workdir::new()?;
    let run = wd.expect(&["version", "--json"], 0)?;
    let json: serde_json::Value = serde_json::from_str(&run.stdout)?;
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["execution_enabled_default"], false);
    assert_eq!(json["live_wiring"], "sqlite,postgres");
    let commit = json["commit"].as_str().ok_or("commit")?;
    assert!(
        commit == "unknown"
            || (commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit}"
    );
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        && out.status.success()
    {
        assert_eq!(commit, String::from_utf8_lossy(&out.stdout).trim());
    }
    Ok(())
}

#[test]
fn self_check_passes_without_touching_the_directory() -> TestResult {
    let wd = Workdir::new()?;
    let run = wd.expect(&["self-check"], 0)?;
    assert!(run.stdout.contains("0 failed"), "{run:?}");
    assert_eq!(
        std::fs::read_dir(wd.path())?.count(),
        0,
        "self-check wrote files"
    );
    Ok(())
}

/// A dry run's report counts its scope as the live store holds it: the simulated run's census
/// before (documents, units across every generation, fingerprint) is the attestation's census of
/// the same documents, as it was when the simulator copied the whole store. A document cut twice
/// keeps its first generation retired, with its units: a copy of the active units alone made the
/// report count fewer units than the store holds, under a fingerprint no live census has.
#[test]
fn a_dry_run_counts_its_scope_as_the_live_store_holds_it() -> TestResult {
    let wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "markdown");
    wd.write("docs/md/a.md", b"# A\nfirst.\n## One\none.\n")?;
    wd.write("docs/md/b.md", b"# B\nbee.\n")?;
    wd.init_and_import("docs")?;
    wd.expect(
        &["run", "--execute", "--prefix", "md/", "--run-id", "r1"],
        0,
    )?;
    // md/a.md changes and is cut again: r1's generation of it is retired, its units kept.
    wd.write(
        "docs/md/a.md",
        b"# A\nfirst, edited.\n## One\none.\n## Two\ntwo.\n",
    )?;
    wd.expect(&["import", "--execute", "docs"], 0)?;
    wd.expect(
        &[
            "run",
            "--execute",
            "--stale",
            "--prefix",
            "md/",
            "--run-id",
            "r2",
        ],
        0,
    )?;

    let dry = wd.expect(
        &[
            "run", "--mode", "simulate", "--prefix", "md/", "--run-id", "d1", "--json",
        ],
        0,
    )?;
    let report = dry.json()?;
    let attested = &report["attestation"]["census_before"];
    let simulated = &report["census_before"];
    assert_eq!(attested["documents"], 2, "{report}");
    assert_eq!(simulated["documents"], attested["documents"], "{report}");
    assert_eq!(simulated["units"], attested["units"], "{report}");
    assert_eq!(
        simulated["fingerprint"], attested["fingerprint"],
        "{report}"
    );
    Ok(())
}
