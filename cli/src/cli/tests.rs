//! Tests of the command line's shape and of the program's structure.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn spawned_tasks_such_as_the_lease_heartbeat_run_while_the_run_computes() -> TestResult {
    // The run's future blocks its thread while it cuts; the heartbeat, a spawned task, must
    // still tick (on a current-thread runtime it would not tick once).
    let runtime = runtime()?;
    let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = ticks.clone();
    let observed = runtime.block_on(async move {
        let heartbeat = tokio::spawn(async move {
            loop {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(300));
        let observed = ticks.load(std::sync::atomic::Ordering::SeqCst);
        heartbeat.abort();
        observed
    });
    assert!(
        observed >= 3,
        "the spawned task ticked {observed} times while the main future blocked for 300 ms"
    );
    Ok(())
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn every_command_has_an_example_and_the_top_help_has_the_exit_codes() {
    let mut cli = Cli::command();
    let top = cli.render_long_help().to_string();
    for code in [
        "0  PASS",
        "2  usage",
        "3  REFUSED",
        "4  BLOCKED",
        "5  FAILED",
        "6  config",
    ] {
        assert!(top.contains(code), "top-level help lacks `{code}`:\n{top}");
    }
    for code in [
        "7  store unavailable",
        "8  bad input",
        "IU_CUTTER_DATABASE_URL",
    ] {
        assert!(top.contains(code), "top-level help lacks `{code}`:\n{top}");
    }
    let mut missing = Vec::new();
    for sub in cli.get_subcommands_mut() {
        let name = sub.get_name().to_owned();
        let help = sub.render_long_help().to_string();
        if !help.contains("Example:") {
            missing.push(name.clone());
        }
        for nested in sub.get_subcommands_mut() {
            if !nested.render_long_help().to_string().contains("Example:") {
                missing.push(format!("{name} {}", nested.get_name()));
            }
        }
    }
    missing.retain(|name| name != "help" && !name.ends_with(" help"));
    assert!(
        missing.is_empty(),
        "commands without an example: {missing:?}"
    );
}

#[test]
fn scope_selectors_are_exclusive_and_default_to_all() -> TestResult {
    let parsed = Cli::try_parse_from(["iu-cutter", "run", "--id", "a", "--id", "b"])?;
    let Command::Run { scope, .. } = parsed.command else {
        return Err("not run".into());
    };
    assert_eq!(
        scope.scope(),
        Scope::Ids(vec![DocumentId::new("a"), DocumentId::new("b")])
    );
    let parsed = Cli::try_parse_from(["iu-cutter", "plan"])?;
    let Command::Plan { scope, .. } = parsed.command else {
        return Err("not plan".into());
    };
    assert_eq!(scope.scope(), Scope::All);
    assert!(Cli::try_parse_from(["iu-cutter", "run", "--all", "--prefix", "vi/"]).is_err());
    assert!(Cli::try_parse_from(["iu-cutter", "run", "--until", "nope"]).is_err());
    assert!(Cli::try_parse_from(["iu-cutter", "run", "--run-id", "../x"]).is_err());
    Ok(())
}

#[test]
fn run_ids_are_file_safe_and_distinct() {
    let a = new_run_id("run");
    let b = new_run_id("run");
    for id in [&a, &b] {
        assert!(parse_run_id(id.as_str()).is_ok(), "{id}");
        assert!(id.as_str().starts_with("run-20"), "{id}");
    }
    assert_ne!(a, b);
    let stamp = timestamp();
    assert_eq!(stamp.len(), 15, "{stamp}");
}

fn cli_sources() -> Result<Vec<(PathBuf, String)>, Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path)?;
                files.push((path, text));
            }
        }
    }
    Ok(files)
}

/// Live mode never falls back to the simulator: only the dry run and the self-check build one,
/// and the dry run is reached only from the `Mode::Simulate` arm of `run`.
#[test]
fn only_the_dry_run_and_the_self_check_can_build_a_simulator() -> TestResult {
    let files = cli_sources()?;
    assert!(files.len() > 10, "sources not found");
    let name = |path: &Path| path.file_name().map(|n| n.to_string_lossy().into_owned());
    for (path, text) in &files {
        let file = name(path).unwrap_or_default();
        // Tests may drive the runner on a simulator; the program may not.
        let in_tests = path.components().any(|c| c.as_os_str() == "tests");
        if file == "tests.rs" || in_tests {
            continue;
        }
        let builds = text.contains("iu_cutter_simulator") || text.contains("Simulator::");
        let allowed = file == "dry_run.rs" || file == "self_check.rs";
        assert!(
            !builds || allowed,
            "{} uses the simulator; only cli/dry_run.rs and cli/self_check.rs may",
            path.display()
        );
        if file != "mod.rs" && file != "dry_run.rs" {
            let calls: Vec<&str> = text.lines().filter(|l| l.contains("dry_run::")).collect();
            if file == "run.rs" {
                assert_eq!(
                    calls,
                    ["        Mode::Simulate => crate::cli::dry_run::run(config, args).await,"],
                    "the dry run must be reached only from the Mode::Simulate arm"
                );
            } else {
                assert!(calls.is_empty(), "{} reaches the dry run", path.display());
            }
        }
    }
    Ok(())
}

#[test]
fn shard_is_validated_and_partitions_the_scope() -> TestResult {
    let parsed = Cli::try_parse_from(["iu-cutter", "run", "--prefix", "vi/", "--shard", "1/4"])?;
    let Command::Run { scope, shard, .. } = parsed.command else {
        return Err("not run".into());
    };
    assert_eq!(scope.scope(), Scope::Prefix("vi/".into()));
    assert_eq!(shard, Some((1, 4)));
    for bad in ["4/4", "0/0", "1", "a/b", "x1/4", "1/4/2"] {
        let error = match Cli::try_parse_from(["iu-cutter", "run", "--shard", bad]) {
            Ok(_) => return Err(format!("--shard {bad} was accepted").into()),
            Err(error) => error,
        };
        assert_eq!(error.exit_code(), 2, "{bad}: a usage error");
        assert!(error.to_string().contains("--shard"), "{bad}: {error}");
    }
    Ok(())
}

/// README's grant statements are the ones `init --grant-runtime` runs: the documentation cannot
/// drift from the code (a new migration's table shows up in both, or the test fails).
#[test]
fn readme_shows_the_grants_init_runs() -> TestResult {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("-- which creates the tables, then runs exactly:")
        .ok_or("README lost its grants")?;
    let block = &readme[start..];
    let block = block
        .split_once('\n')
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.split_once("```"))
        .map(|(sql, _)| sql)
        .ok_or("README's grants block is not closed")?;
    let shown = block.split_whitespace().collect::<Vec<_>>().join(" ");
    let code: Vec<String> =
        iu_cutter_live_execution::sql::runtime_grant_statements("iu_cutter", "iu_runtime")
            .into_iter()
            .map(|statement| format!("{statement};"))
            .collect();
    assert_eq!(shown, code.join(" "));
    Ok(())
}
