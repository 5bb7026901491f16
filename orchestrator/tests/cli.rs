//! End to end: the real `iu-cutter` binary in a temporary directory, on SQLite.

use iu_cutter_live_execution::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use iu_cutter_live_execution::sql;
use iu_cutter_live_execution::{Census, ExecutionGate};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_iu-cutter");
const SWITCH: &str = "configuration execution_enabled / --execute";
const HOW_TO_OPEN: &str = "pass --execute or set execution_enabled = true in cutter.toml";

/// A working directory for the program, with a clean environment.
struct Workdir {
    dir: tempfile::TempDir,
}

/// The exit code, stdout and stderr of one invocation.
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
    fn new() -> Result<Self, std::io::Error> {
        Ok(Workdir {
            dir: tempfile::tempdir()?,
        })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn database_url(&self) -> String {
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

    /// The census of the working directory's store, read through the live adapter behind a
    /// closed gate.
    fn census(&self) -> Result<Census, Box<dyn std::error::Error>> {
        let url = self.database_url();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let census = runtime.block_on(async move {
            let store = sql::connect(&url, ExecutionGate::new()).await?;
            store.census().await
        })?;
        Ok(census)
    }
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/corpus")
}

fn expect(run: &Run, code: i32) -> Result<(), String> {
    if run.code == code {
        Ok(())
    } else {
        Err(format!("expected exit {code}, got {run:?}"))
    }
}

fn line_value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
}

#[test]
fn init_import_plan_refuse_run_units_rollback_and_dry_run() -> TestResult {
    let wd = Workdir::new()?;
    let corpus = corpus();
    let corpus = corpus.to_str().ok_or("corpus path")?;

    let init = wd.run(&["init"])?;
    expect(&init, 0)?;
    assert!(init.stdout.contains("initialised"), "{init:?}");

    // Importing mutates: refused while the switch is closed, and nothing is imported.
    let refused = wd.run(&["import", corpus])?;
    expect(&refused, 3)?;
    assert!(refused.stderr.contains(SWITCH), "{refused:?}");
    assert!(refused.stderr.contains(HOW_TO_OPEN), "{refused:?}");
    assert_eq!(wd.census()?.documents, 0);

    let import = wd.run(&["import", "--execute", corpus])?;
    expect(&import, 0)?;
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
    let again = wd.run(&["import", corpus])?;
    expect(&again, 0)?; // nothing to write: no mutation, so no switch needed
    assert!(
        again
            .stdout
            .contains("imported: 0, changed: 0, unchanged: 6"),
        "{again:?}"
    );

    let vi = [("IU_CUTTER_PRESET", "legal-vi")];
    let plan = wd.run_with(&["plan", "--prefix", "vi/"], &vi)?;
    expect(&plan, 0)?;
    let plan_sha = line_value(&plan.stdout, "plan sha256:")
        .ok_or_else(|| format!("no plan sha: {plan:?}"))?
        .to_owned();
    assert_eq!(plan_sha.len(), 64);
    assert!(plan.stdout.contains("Chương I"), "{plan:?}");
    let census0 = wd.census()?;
    assert_eq!((census0.documents, census0.units), (6, 0));

    // A live run with the switch closed: REFUSED, exit 3, the switch named, nothing mutated.
    let refused = wd.run_with(&["run", "--prefix", "vi/", "--run-id", "t-refused"], &vi)?;
    expect(&refused, 3)?;
    assert!(refused.stdout.contains("outcome: REFUSED"), "{refused:?}");
    assert!(refused.stderr.contains(SWITCH), "{refused:?}");
    assert!(refused.stderr.contains(HOW_TO_OPEN), "{refused:?}");
    assert_eq!(wd.census()?, census0);
    let status = wd.run(&["status", "--json"])?;
    expect(&status, 0)?;
    let status: serde_json::Value = serde_json::from_str(&status.stdout)?;
    assert_eq!(status["runs"].as_array().map(Vec::len), Some(0), "{status}");

    // The stop file closes it even with --execute.
    std::fs::create_dir_all(wd.path().join(".iu-cutter"))?;
    std::fs::write(wd.path().join(".iu-cutter/STOP"), b"")?;
    let stopped = wd.run_with(&["run", "--execute", "--prefix", "vi/"], &vi)?;
    expect(&stopped, 3)?;
    assert!(stopped.stderr.contains("stop file"), "{stopped:?}");
    assert_eq!(wd.census()?, census0);
    std::fs::remove_file(wd.path().join(".iu-cutter/STOP"))?;

    // With --execute: PASS, and the journaled plan is the one `plan` showed.
    let pass = wd.run_with(
        &["run", "--execute", "--prefix", "vi/", "--run-id", "t1"],
        &vi,
    )?;
    expect(&pass, 0)?;
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
    let units = wd.run(&["units", doc, "--json"])?;
    expect(&units, 0)?;
    let units: serde_json::Value = serde_json::from_str(&units.stdout)?;
    let list = units["units"].as_array().ok_or("units")?;
    assert!(list.len() > 8, "{units}");
    let source = std::fs::read(corpus::file(doc))?;
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
    let table = wd.run(&["units", doc])?;
    expect(&table, 0)?;
    assert!(table.stdout.contains("Chương II/Mục 1/Điều 9"), "{table:?}");

    // Rollback needs the switch too, then restores the pre-run census exactly.
    let refused = wd.run(&["rollback", "t1"])?;
    expect(&refused, 3)?;
    let rolled = wd.run(&["rollback", "t1", "--execute"])?;
    expect(&rolled, 0)?;
    assert!(rolled.stdout.contains("outcome: ROLLED_BACK"), "{rolled:?}");
    assert_eq!(wd.census()?, census0);

    // A dry run reads the live store only and attests it.
    let md = [("IU_CUTTER_PRESET", "markdown")];
    let dry = wd.run_with(
        &[
            "run", "--mode", "simulate", "--prefix", "md/", "--run-id", "d1",
        ],
        &md,
    )?;
    expect(&dry, 0)?;
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
    assert_eq!(
        attestation["census_before"]["fingerprint"],
        census0.fingerprint.as_str()
    );
    // The dry run is not journaled in the live store.
    let status = wd.run(&["status"])?;
    expect(&status, 0)?;
    assert!(status.stdout.contains("t1"), "{status:?}");
    assert!(status.stdout.contains("ROLLED_BACK"), "{status:?}");
    assert!(!status.stdout.contains("d1"), "{status:?}");
    let detail = wd.run(&["status", "t1", "--json"])?;
    expect(&detail, 0)?;
    let detail: serde_json::Value = serde_json::from_str(&detail.stdout)?;
    assert_eq!(detail["status"], "ROLLED_BACK");

    // Unknown documents and runs are bad input.
    expect(&wd.run(&["units", "nope.txt"])?, 8)?;
    expect(&wd.run(&["status", "nope"])?, 8)?;
    expect(&wd.run(&["run", "--execute", "--prefix", "nothing/"])?, 8)?;
    Ok(())
}

mod corpus {
    use std::path::PathBuf;

    pub(super) fn file(id: &str) -> PathBuf {
        super::corpus().join(id)
    }
}

#[test]
fn an_unreachable_database_is_exit_7_without_secrets_or_fallback() -> TestResult {
    let wd = Workdir::new()?;
    let url = [(
        "IU_CUTTER_DATABASE_URL",
        "postgres://u:secret@127.0.0.1:1/x",
    )];
    for mode in ["live", "simulate"] {
        let run = wd.run_with(&["run", "--mode", mode, "--execute"], &url)?;
        expect(&run, 7)?;
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(!all.contains("secret"), "{run:?}");
        assert!(run.stderr.contains("127.0.0.1:1"), "{run:?}");
        assert!(run.stderr.contains("next:"), "{run:?}");
        if mode == "live" {
            assert!(!all.to_lowercase().contains("simulat"), "{run:?}");
        }
    }
    // No SQLite file yet: unavailable, with `init` as the next action; nothing is created.
    let run = wd.run(&["plan"])?;
    expect(&run, 7)?;
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
    let run = wd.run(&["plan"])?;
    expect(&run, 6)?;
    assert!(run.stderr.contains("execution_enable"), "{run:?}");
    std::fs::remove_file(wd.path().join("cutter.toml"))?;
    let run = wd.run_with(&["plan"], &[("IU_CUTTER_EXECUTE", "true")])?;
    expect(&run, 6)?;
    assert!(run.stderr.contains("IU_CUTTER_EXECUTE"), "{run:?}");
    let run = wd.run(&["plan", "--config", "missing.toml"])?;
    expect(&run, 6)?;
    expect(&wd.run(&["frobnicate"])?, 2)?;
    Ok(())
}

#[test]
fn invalid_utf8_is_bad_input_naming_file_and_offset() -> TestResult {
    let wd = Workdir::new()?;
    expect(&wd.run(&["init"])?, 0)?;
    let input = wd.path().join("input");
    std::fs::create_dir_all(&input)?;
    std::fs::write(input.join("a-good.txt"), "Article 1\n")?;
    std::fs::write(input.join("b-latin1.txt"), b"Article 1\nCaf\xe9\n")?;
    let run = wd.run(&["import", "--execute", "input"])?;
    expect(&run, 8)?;
    assert!(run.stderr.contains("b-latin1.txt"), "{run:?}");
    assert!(run.stderr.contains("byte offset 13"), "{run:?}");
    assert!(run.stderr.contains("nothing was imported"), "{run:?}");
    assert_eq!(wd.census()?.documents, 0);
    Ok(())
}

#[test]
fn version_reports_the_build() -> TestResult {
    let wd = Workdir::new()?;
    let run = wd.run(&["version", "--json"])?;
    expect(&run, 0)?;
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
    let run = wd.run(&["self-check"])?;
    expect(&run, 0)?;
    assert!(run.stdout.contains("0 failed"), "{run:?}");
    assert_eq!(
        std::fs::read_dir(wd.path())?.count(),
        0,
        "self-check wrote files"
    );
    Ok(())
}
