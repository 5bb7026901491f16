//! End to end, on SQLite with the real binary: the conventions a new user expects of a command
//! line tool. JSON errors on stdout with the documented exit codes, JSON log lines with the run
//! and phase, shell completions that parse, `NO_COLOR`, `--database-url`, mistyped URLs refused
//! without creating a file, relative paths of a configuration file, a refused run that leaves
//! no report file, and purge's summary.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{BIN, Error, Run, TestResult, Workdir};

/// A fresh directory, the English preset; with `store`, an initialised store holding two acts.
fn workdir(store: bool) -> Result<Workdir, Error> {
    let wd = Workdir::new()?.with_env("IU_CUTTER_PRESET", "legal-en");
    if store {
        wd.write("in/a.txt", b"Article 1\nOne.\nArticle 2\nTwo.\n")?;
        wd.write("in/b.txt", b"Article 1\nUno.\n")?;
        wd.init_and_import("in")?;
    }
    Ok(wd)
}

/// `{"error": …}` on stdout with the exit code, a kind, a message and a next action; nothing
/// on stderr.
fn json_error(run: &Run, kind: &str) -> Result<Value, Error> {
    let value = run.json()?;
    let error = &value["error"];
    assert_eq!(error["code"], run.code, "{run:?}");
    assert_eq!(error["kind"], kind, "{run:?}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{run:?}"
    );
    assert!(
        error["next_action"].as_str().is_some_and(|m| !m.is_empty()),
        "{run:?}"
    );
    assert!(!run.stderr.contains("error:"), "{run:?}");
    Ok(value)
}

#[test]
fn with_json_every_ending_is_one_json_document_on_stdout_with_its_exit_code() -> TestResult {
    let wd = workdir(true)?;
    // 2: a usage error.
    json_error(&wd.expect(&["status", "--json", "--bogus"], 2)?, "usage")?;
    // 3: REFUSED (the kill switch is closed): the report is the document, its outcome REFUSED.
    let refused = wd.expect(&["run", "--json", "--run-id", "r0"], 3)?;
    assert_eq!(refused.json()?["outcome"]["name"], "REFUSED", "{refused:?}");
    // 4: BLOCKED: a held run whose document changed underneath is blocked at enact.
    wd.expect(
        &[
            "run",
            "--execute",
            "--id",
            "a.txt",
            "--until",
            "write-verify",
            "--run-id",
            "h1",
        ],
        0,
    )?;
    wd.write("edit/a.txt", b"Article 1\nOne, amended.\n")?;
    wd.expect(&["import", "--execute", "edit"], 0)?;
    let blocked = wd.expect(&["enact", "h1", "--execute", "--json"], 4)?;
    assert_eq!(blocked.json()?["outcome"]["name"], "BLOCKED", "{blocked:?}");
    // 6: a configuration error.
    let config = wd.expect_with(&["status", "--json"], &[("IU_CUTTER_BATCH_UNITS", "0")], 6)?;
    json_error(&config, "config")?;
    // 7: the store is unavailable.
    let unavailable = wd.expect_with(
        &["status", "--json"],
        &[("IU_CUTTER_DATABASE_URL", "sqlite://missing.sqlite")],
        7,
    )?;
    json_error(&unavailable, "store_unavailable")?;
    // 8: bad input: a run the journal does not know.
    json_error(&wd.expect(&["report", "nope", "--json"], 8)?, "bad_input")?;
    // Without --json, the same error is two lines on stderr and nothing on stdout.
    let plain = wd.expect(&["report", "nope"], 8)?;
    assert!(plain.stdout.is_empty(), "{plain:?}");
    assert!(
        plain.stderr.contains("error: bad input") && plain.stderr.contains("next: "),
        "{plain:?}"
    );
    Ok(())
}

#[test]
fn json_logs_carry_the_run_and_the_phase() -> TestResult {
    let wd = workdir(true)?;
    let run = wd.expect_with(
        &[
            "--log-format",
            "json",
            "--quiet",
            "run",
            "--execute",
            "--run-id",
            "j1",
        ],
        &[("RUST_LOG", "info")],
        0,
    )?;
    let lines: Vec<Value> = run
        .stderr
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("a log line is not JSON: {e}: {run:?}"))?;
    assert!(lines.len() > 5, "{run:?}");
    for line in &lines {
        assert!(
            line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
        assert_eq!(
            line["span"]["run"], "j1",
            "every line of the run names it: {line}"
        );
    }
    let phases: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["span"]["phase"].as_str())
        .collect();
    for phase in ["backup", "cut-leg-a", "lifecycle-enact"] {
        assert!(phases.contains(&phase), "{phase}: {phases:?}");
    }
    // The variable does the same; a bad value is a configuration error.
    let by_variable = wd.expect_with(
        &["--quiet", "status"],
        &[("RUST_LOG", "debug"), ("IU_CUTTER_LOG_FORMAT", "json")],
        0,
    )?;
    for line in by_variable.stderr.lines() {
        serde_json::from_str::<Value>(line).map_err(|e| format!("{e}: {line}"))?;
    }
    wd.expect_with(&["status"], &[("IU_CUTTER_LOG_FORMAT", "yaml")], 6)?;
    Ok(())
}

#[test]
fn completions_parse_and_the_man_page_renders() -> TestResult {
    let wd = workdir(false)?;
    for (shell, checker, args) in [
        ("bash", "bash", vec!["-n"]),
        ("zsh", "zsh", vec!["-n"]),
        ("fish", "fish", vec!["--no-execute"]),
    ] {
        let script = wd.expect(&["completions", shell], 0)?;
        assert!(script.stdout.contains("iu-cutter"), "{shell}: {script:?}");
        let path = wd.write(&format!("completion.{shell}"), script.stdout.as_bytes())?;
        match Command::new(checker).args(&args).arg(&path).output() {
            Ok(out) => assert!(
                out.status.success(),
                "{shell} does not parse its completions: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(_) => {
                println!("skipped: no {checker} on this machine to parse {shell} completions")
            }
        }
    }
    let powershell = wd.expect(&["completions", "powershell"], 0)?;
    assert!(
        powershell.stdout.contains("Register-ArgumentCompleter"),
        "{powershell:?}"
    );
    wd.expect(&["completions", "tcsh"], 2)?;
    let man = wd.expect(&["manpage"], 0)?;
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH iu-cutter"),
        "{man:?}"
    );
    assert!(
        man.stdout.contains("completions"),
        "the man page lists the commands"
    );
    Ok(())
}

/// SGR sequences (`ESC [ … m`): colour.
fn has_colour(text: &str) -> bool {
    text.split('\u{1b}').skip(1).any(|rest| {
        rest.strip_prefix('[')
            .and_then(|r| r.find('m').map(|end| &r[..end]))
            .is_some_and(|params| params.chars().all(|c| c.is_ascii_digit() || c == ';'))
    })
}

#[test]
fn log_levels_are_coloured_on_a_terminal_unless_no_color() -> TestResult {
    let wd = workdir(true)?;
    // `script` (util-linux, essential on Debian) gives the program a terminal.
    let through_a_terminal = |no_color: Option<&str>| -> Result<Run, std::io::Error> {
        let mut c = wd.clean(Path::new("script"));
        let program = format!("{BIN} --quiet run --mode simulate --execute");
        c.args(["-qec", &program, "/dev/null"]);
        if let Some(value) = no_color {
            c.env("NO_COLOR", value);
        }
        Ok(Run::of(format!("script -qec '{program}'"), c.output()?))
    };
    let coloured = match through_a_terminal(None) {
        Ok(run) => run,
        Err(error) => {
            println!("skipped: cannot run `script` for a terminal: {error}");
            return Ok(());
        }
    };
    // The dry run warns that --execute is ignored.
    assert!(
        coloured.stdout.contains("--execute is ignored"),
        "{coloured:?}"
    );
    assert!(has_colour(&coloured.stdout), "{coloured:?}");
    let plain = through_a_terminal(Some("1"))?;
    assert!(plain.stdout.contains("--execute is ignored"), "{plain:?}");
    assert!(!has_colour(&plain.stdout), "{plain:?}");
    // Not a terminal: no colour either.
    let piped = wd.expect(&["--quiet", "run", "--mode", "simulate", "--execute"], 0)?;
    assert!(!has_colour(&piped.stderr), "{piped:?}");
    Ok(())
}

#[test]
fn a_mistyped_postgres_url_is_refused_without_creating_a_file_or_printing_the_password()
-> TestResult {
    let wd = workdir(false)?;
    for url in [
        "postgres:S3cret@host",
        "u:S3cret@host/db",
        "host=db password=S3cret",
    ] {
        for args in [vec!["init"], vec!["status", "--json"]] {
            let run = wd.run_with(&args, &[("IU_CUTTER_DATABASE_URL", url)])?;
            assert_eq!(run.code, 6, "{url} {args:?}: {run:?}");
            assert!(
                !run.stdout.contains("S3cret") && !run.stderr.contains("S3cret"),
                "the password leaked: {run:?}"
            );
        }
        assert!(
            wd.entries()?.is_empty(),
            "{url}: a file was created: {:?}",
            wd.entries()?
        );
    }
    let run = wd.run_with(
        &["init"],
        &[("IU_CUTTER_DATABASE_URL", "postgres:S3cret@host")],
    )?;
    assert!(
        run.stderr.contains("postgres://"),
        "names the right form: {run:?}"
    );
    Ok(())
}

#[test]
fn the_database_url_flag_wins_over_the_variable() -> TestResult {
    let wd = workdir(true)?;
    let env = [("IU_CUTTER_DATABASE_URL", "sqlite://elsewhere.sqlite")];
    wd.expect_with(&["status"], &env, 7)?;
    let status = wd.expect_with(
        &["--database-url", "iu-cutter.sqlite", "status", "--json"],
        &env,
        0,
    )?;
    assert!(
        status.json()?["store"]
            .as_str()
            .is_some_and(|s| s.contains("iu-cutter.sqlite")),
        "{status:?}"
    );
    assert!(!wd.path().join("elsewhere.sqlite").exists());
    Ok(())
}

#[test]
fn relative_paths_of_a_configuration_file_are_relative_to_its_directory() -> TestResult {
    let wd = workdir(true)?;
    let store = wd.path().join("iu-cutter.sqlite");
    wd.write(
        "conf/cutter.toml",
        format!(
            "database_url = \"sqlite://{}\"\nstop_file = \"STOP\"\nreports_dir = \"reports\"\n\
             backup_dir = \"backups\"\n",
            store.display()
        )
        .as_bytes(),
    )?;
    // The stop file next to the configuration closes the switch, wherever the program starts.
    wd.write("conf/STOP", b"")?;
    let refused = wd.expect(
        &[
            "--config",
            "conf/cutter.toml",
            "run",
            "--execute",
            "--run-id",
            "s1",
        ],
        3,
    )?;
    assert!(refused.stderr.contains("conf/STOP"), "{refused:?}");
    std::fs::remove_file(wd.path().join("conf/STOP"))?;
    // A STOP in the working directory is not the configured one.
    wd.write("STOP", b"")?;
    wd.expect(
        &[
            "--config",
            "conf/cutter.toml",
            "run",
            "--execute",
            "--run-id",
            "s2",
        ],
        0,
    )?;
    assert!(wd.path().join("conf/reports/s2.json").is_file());
    assert!(wd.path().join("conf/backups").is_dir());
    Ok(())
}

#[test]
fn a_run_refused_before_it_began_writes_no_report_file() -> TestResult {
    let wd = workdir(true)?;
    let refused = wd.expect(&["run", "--run-id", "x1"], 3)?;
    assert!(
        refused.stdout.contains("report: not written"),
        "{refused:?}"
    );
    let reports = wd.path().join(".iu-cutter/reports");
    assert!(!reports.join("x1.json").exists(), "{refused:?}");
    // The real run then takes the plain name.
    wd.expect(&["run", "--execute", "--run-id", "x1"], 0)?;
    assert!(reports.join("x1.json").is_file());
    let names: Vec<String> = std::fs::read_dir(&reports)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("x1")).count(),
        2,
        "{names:?}"
    );
    Ok(())
}

#[test]
fn purge_prints_a_summary_and_with_verbose_what_would_make_each_kept_generation_purgeable()
-> TestResult {
    let wd = workdir(true)?;
    wd.expect(&["run", "--execute", "--id", "a.txt", "--run-id", "g1"], 0)?;
    wd.write("in/a.txt", b"Article 1\nOne, amended.\nArticle 2\nTwo.\n")?;
    wd.expect(&["import", "--execute", "in"], 0)?;
    wd.expect(&["run", "--execute", "--id", "a.txt", "--run-id", "g2"], 0)?;

    let summary = wd.expect(&["purge", "--older-than", "30d"], 0)?;
    assert!(summary.stdout.contains("older than 30d"), "{summary:?}");
    assert!(!summary.stdout.contains("4w2d"), "{summary:?}");
    assert!(
        summary
            .stdout
            .contains("retired generations: 1; 0 purged, 1 kept"),
        "{summary:?}"
    );
    assert!(
        !summary.stdout.contains("a.txt"),
        "no per-generation line: {summary:?}"
    );
    assert!(summary.stdout.contains("--verbose"), "{summary:?}");

    let verbose = wd.expect(&["purge", "--older-than", "30d", "--verbose"], 0)?;
    let line = verbose
        .stdout
        .lines()
        .find(|l| l.contains("a.txt") && l.contains("g1"))
        .ok_or_else(|| format!("no line for g1: {verbose:?}"))?;
    assert!(line.contains("kept: "), "{line}");
    assert!(line.contains("purgeable"), "{line}");
    let json = wd
        .expect(&["purge", "--older-than", "30d", "--json"], 0)?
        .json()?;
    assert_eq!(json["older_than"], "30d");
    Ok(())
}
