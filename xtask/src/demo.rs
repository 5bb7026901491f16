//! `cargo xtask demo`: the program end to end on the example corpus, in `target/demo`.
//!
//! Builds the `iu-cutter` binary, wipes and recreates `target/demo`, writes a `cutter.toml`
//! there that enables execution for that throwaway SQLite store only, then runs the real binary
//! in that directory and echoes every command: init, import of `examples/corpus`, a plan per
//! corpus part, a dry run (`--mode simulate`, with its non-mutation attestation), one live run
//! per corpus part, status, and the units of one document.
//!
//! Its second part, in `target/demo/app`, attaches to an application's table instead of
//! importing: `demo_app` (an example of the program's crate, standing in for the user's program)
//! creates `laws` in `app.sqlite`, and iu-cutter, configured with a `[source]` mapping and its
//! kill switch closed, prints what `init` would create, then (each step opened by `--execute`)
//! creates its own tables beside `laws` and runs, reading `laws` and never writing it. The application edits one law; `run --stale` cuts that one only, `export --since` sends
//! only its units, and the application reads the reader view `active_units` before and after.
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

/// A program a step runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// The program, `iu-cutter`.
    Cutter,
    /// The demo's application, `demo_app`.
    App,
}

/// Where a step runs: the import part's directory, or the application's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Import,
    Attach,
}

/// The application's part: its directory under the demo's, and its configuration. The cut rules
/// are `legal-en`'s, whose documents the application holds.
const APP_DIR: &str = "app";
const APP_CONFIG: &str = "\
# cargo xtask demo: iu-cutter attached to an application's own table, `laws`, in app.sqlite.
# The kill switch stays closed here: each mutating step opens it with --execute.
database_url = \"sqlite://app.sqlite\"

[rules]
preset = \"legal-en\"

[source]
table = \"laws\"
id = \"id\"
body = \"content\"
revision = \"updated_at\"
where = \"status = 'published'\"
metadata = [\"title\", \"lang\"]
";

/// One invocation of a program.
struct Step {
    tool: Tool,
    part: Part,
    preset: Option<&'static str>,
    args: Vec<&'static str>,
    /// The exit code the step must end with: 0, or 3 for a step the closed kill switch refuses.
    exit: i32,
}

impl Step {
    fn new(args: &[&'static str]) -> Self {
        Step {
            tool: Tool::Cutter,
            part: Part::Import,
            preset: None,
            args: args.to_vec(),
            exit: 0,
        }
    }

    fn with_preset(preset: &'static str, args: &[&'static str]) -> Self {
        Step {
            preset: Some(preset),
            ..Step::new(args)
        }
    }

    /// `iu-cutter args` in the application's directory.
    fn attached(args: &[&'static str]) -> Self {
        Step {
            part: Part::Attach,
            ..Step::new(args)
        }
    }

    /// `iu-cutter args` in the application's directory, which the closed kill switch refuses
    /// (exit 3) after saying what they would do.
    fn refused(args: &[&'static str]) -> Self {
        Step {
            exit: 3,
            ..Step::attached(args)
        }
    }

    /// `demo_app args` in the application's directory.
    fn app(args: &[&'static str]) -> Self {
        Step {
            tool: Tool::App,
            ..Step::attached(args)
        }
    }

    fn shown(&self) -> String {
        let env = self
            .preset
            .map(|p| format!("IU_CUTTER_PRESET={p} "))
            .unwrap_or_default();
        let tool = match self.tool {
            Tool::Cutter => "iu-cutter",
            Tool::App => "demo_app",
        };
        format!("{env}{tool} {}", self.args.join(" "))
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
    steps.extend(attach_steps());
    steps
}

/// The second part: iu-cutter attached to the application's table.
fn attach_steps() -> Vec<Step> {
    vec![
        Step::app(&["create", "app.sqlite", "../../../examples/corpus/en"]),
        Step::refused(&["init"]),
        Step::attached(&["init", "--execute"]),
        Step::attached(&["run", "--execute", "--run-id", "app-1"]),
        Step::app(&["read", "app.sqlite"]),
        Step::app(&[
            "edit",
            "app.sqlite",
            "2",
            "\nArticle 99. Amendment\nAdded by the application after the first run.\n",
        ]),
        Step::app(&["read", "app.sqlite"]),
        Step::attached(&["run", "--stale", "--execute", "--run-id", "app-2"]),
        Step::attached(&["export", "--since", "app-1"]),
        Step::app(&["read", "app.sqlite"]),
    ]
}

/// Builds the program and the demo's application; their paths.
fn build(root: &Path) -> Result<(PathBuf, PathBuf), String> {
    crate::cargo::run(root, &crate::cargo::BUILD_PROGRAM, &[])?;
    crate::cargo::run(root, &crate::cargo::BUILD_DEMO_APP, &[])?;
    let debug = crate::cargo::target_dir(root).join("debug");
    let exe = std::env::consts::EXE_SUFFIX;
    let binary = debug.join(format!("iu-cutter{exe}"));
    let app = debug.join("examples").join(format!("demo_app{exe}"));
    for built in [&binary, &app] {
        if !built.is_file() {
            return Err(format!("the build left no binary at {}", built.display()));
        }
    }
    Ok((binary, app))
}

/// The value after `prefix` on the first line that starts with it.
fn value<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(str::trim)
}

/// A fresh directory with `config` as its `cutter.toml`.
fn fresh(dir: &Path, config: &str) -> Result<(), String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot wipe {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::write(dir.join("cutter.toml"), config)
        .map_err(|e| format!("cannot write {}/cutter.toml: {e}", dir.display()))
}

/// Runs `step` with the program `binary` in `dir`; its standard output.
fn execute(step: &Step, binary: &Path, dir: &Path) -> Result<String, String> {
    println!("$ {}", step.shown());
    let mut command = Command::new(binary);
    command.args(&step.args).current_dir(dir);
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
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    println!();
    if output.status.code() != Some(step.exit) {
        return Err(format!(
            "step `{}` ended with {} (expected exit code {}); the demo store is left in {} for inspection",
            step.shown(),
            output.status,
            step.exit,
            dir.display()
        ));
    }
    Ok(stdout)
}

/// The summary line of a step, for the steps that have one.
fn summary_line(step: &Step, stdout: &str) -> Option<String> {
    if step.tool != Tool::Cutter {
        return None;
    }
    match step.args.first().copied() {
        Some("run") => {
            let outcome = value(stdout, "outcome:").unwrap_or("?");
            let units = value(stdout, "units:").unwrap_or("?");
            let attested = if stdout.contains("non-mutation attestation: PASS") {
                ", live store attested unchanged"
            } else {
                ""
            };
            Some(format!(
                "{:<62} {outcome}, {units} units{attested}",
                step.shown()
            ))
        }
        Some("units") => {
            let units = value(stdout, "units:").unwrap_or("?");
            Some(format!("{SHOWN_DOCUMENT}: {units} active units"))
        }
        Some("export") => Some(format!(
            "{:<62} {} lines",
            step.shown(),
            stdout.lines().count()
        )),
        _ => None,
    }
}

/// Runs the demo in `root/target/demo`.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let (binary, app) = build(root)?;
    let demo = root.join("target").join("demo");
    fresh(&demo, DEMO_CONFIG)?;
    let attached = demo.join(APP_DIR);
    fresh(&attached, APP_CONFIG)?;
    println!("demo directory: {}", demo.display());
    println!("cutter.toml:\n{DEMO_CONFIG}");
    println!("{APP_DIR}/cutter.toml:\n{APP_CONFIG}");

    let mut summary = Vec::new();
    for step in steps() {
        let dir = match step.part {
            Part::Import => &demo,
            Part::Attach => &attached,
        };
        let program = match step.tool {
            Tool::Cutter => &binary,
            Tool::App => &app,
        };
        let stdout = execute(&step, program, dir)?;
        summary.extend(summary_line(&step, &stdout));
    }
    println!("demo summary ({}):", demo.display());
    for line in summary {
        println!("  {line}");
    }
    Ok(())
}
