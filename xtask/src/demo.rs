//! `cargo xtask demo`: the program end to end on the example corpus, in `target/demo`.
//!
//! Builds the `iu-cutter` binary, wipes and recreates `target/demo`, writes a `cutter.toml`
//! there that enables execution for that throwaway SQLite store only, then runs the real binary
//! in that directory and echoes every command: init, import of `examples/corpus`, a plan per
//! corpus part, a dry run (`--mode simulate`, with its non-mutation attestation), one live run
//! per corpus part, status, and the units of one document.
//!
//! The cut rules are one preset per run, so the corpus is cut in three scoped runs, each with
//! its preset from `IU_CUTTER_PRESET`: `en/` with `legal-en`, `vi/` with `legal-vi`, `md/` with
//! `markdown`. Any step that exits non-zero fails the demo. Inherited `IU_CUTTER_*` variables
//! are removed from the program's environment so that nothing outside the demo directory can be
//! reached (the demo configuration opens the kill switch).
//!
//! Std only, like the rest of xtask's process handling.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The demo configuration: execution explicitly enabled, for this demo store only.
const DEMO_CONFIG: &str = "\
# cargo xtask demo: a throwaway store in target/demo.
# Execution is enabled explicitly, for this demo database only; the program's default is off.
database_url = \"sqlite://demo.sqlite\"
execution_enabled = true
";

/// The corpus, relative to the demo directory.
const CORPUS: &str = "../../examples/corpus";

/// The document whose units are listed at the end.
const SHOWN_DOCUMENT: &str = "vi/luat-giao-dich-dien-tu.txt";

/// One invocation of the program.
struct Step {
    preset: Option<&'static str>,
    args: Vec<&'static str>,
}

impl Step {
    fn new(args: &[&'static str]) -> Self {
        Step {
            preset: None,
            args: args.to_vec(),
        }
    }

    fn with_preset(preset: &'static str, args: &[&'static str]) -> Self {
        Step {
            preset: Some(preset),
            args: args.to_vec(),
        }
    }

    fn shown(&self) -> String {
        let env = self
            .preset
            .map(|p| format!("IU_CUTTER_PRESET={p} "))
            .unwrap_or_default();
        format!("{env}iu-cutter {}", self.args.join(" "))
    }
}

fn steps() -> Vec<Step> {
    let parts = [
        ("legal-en", "en/"),
        ("legal-vi", "vi/"),
        ("markdown", "md/"),
    ];
    let mut steps = vec![
        Step::new(&["init", "--execute"]),
        Step::new(&["import", CORPUS]),
    ];
    for (preset, prefix) in parts {
        steps.push(Step::with_preset(preset, &["plan", "--prefix", prefix]));
    }
    steps.push(Step::with_preset(
        "legal-vi",
        &["run", "--mode", "simulate", "--prefix", "vi/"],
    ));
    for (preset, prefix) in parts {
        steps.push(Step::with_preset(preset, &["run", "--prefix", prefix]));
    }
    steps.push(Step::new(&["status"]));
    steps.push(Step::new(&["units", SHOWN_DOCUMENT]));
    steps
}

fn build(root: &Path) -> Result<PathBuf, String> {
    crate::cargo::run(root, &crate::cargo::BUILD_PROGRAM, &[])?;
    let target = crate::cargo::target_dir(root);
    let binary = target
        .join("debug")
        .join(format!("iu-cutter{}", std::env::consts::EXE_SUFFIX));
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("the build left no binary at {}", binary.display()))
    }
}

/// The value after `prefix` on the first line that starts with it.
fn value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

/// Runs the demo in `root/target/demo`.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let binary = build(root)?;
    let demo = root.join("target").join("demo");
    if demo.exists() {
        fs::remove_dir_all(&demo).map_err(|e| format!("cannot wipe {}: {e}", demo.display()))?;
    }
    fs::create_dir_all(&demo).map_err(|e| format!("cannot create {}: {e}", demo.display()))?;
    fs::write(demo.join("cutter.toml"), DEMO_CONFIG)
        .map_err(|e| format!("cannot write the demo cutter.toml: {e}"))?;
    println!("demo directory: {}", demo.display());
    println!("cutter.toml:\n{DEMO_CONFIG}");

    let mut summary = Vec::new();
    for step in steps() {
        println!("$ {}", step.shown());
        let mut command = Command::new(&binary);
        command.args(&step.args).current_dir(&demo);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("IU_CUTTER_") {
                command.env_remove(key);
            }
        }
        if let Some(preset) = step.preset {
            command.env("IU_CUTTER_PRESET", preset);
        }
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        print!("{stdout}");
        eprint!("{stderr}");
        println!();
        if !output.status.success() {
            return Err(format!(
                "step `{}` failed ({}); the demo store is left in {} for inspection",
                step.shown(),
                output.status,
                demo.display()
            ));
        }
        if step.args.first() == Some(&"run") {
            let outcome = value(&stdout, "outcome:").unwrap_or("?");
            let units = value(&stdout, "units:").unwrap_or("?");
            let attested = if stdout.contains("non-mutation attestation: PASS") {
                ", live store attested unchanged"
            } else {
                ""
            };
            summary.push(format!(
                "{:<62} {outcome}, {units} units{attested}",
                step.shown()
            ));
        }
        if step.args.first() == Some(&"units") {
            let units = value(&stdout, "units:").unwrap_or("?");
            summary.push(format!("{SHOWN_DOCUMENT}: {units} active units"));
        }
    }
    println!("demo summary ({}):", demo.display());
    for line in summary {
        println!("  {line}");
    }
    Ok(())
}
