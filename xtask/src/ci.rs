//! `cargo xtask ci`: every check CI runs, in the order that fails fastest, then the cut's
//! accuracy on the gold set against its floors (`cargo xtask accuracy --check`).

use std::path::PathBuf;
use std::process::Command;

use crate::workspace::{cargo_bin, workspace_root};

/// Property-test cases per proptest block in CI (the default for local `cargo test` is lower).
const CI_PROPTEST_CASES: &str = "256";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let root = workspace_root()?;
    let pg_url = std::env::var("IU_CUTTER_TEST_PG_URL")
        .ok()
        .filter(|u| !u.is_empty());
    // Features qualified with their package: a bare name in a virtual workspace is ambiguous.
    let features = if pg_url.is_some() {
        "iu-cutter-tests/sqlite,iu-cutter-tests/postgres"
    } else {
        "iu-cutter-tests/sqlite"
    };
    // The TLS and least-privilege suites' variables, unless the caller set them.
    let mut suite_env: Vec<(String, String)> = Vec::new();
    if let Some(url) = &pg_url {
        let prepared = crate::postgres::suite_env(url);
        if prepared.is_empty() {
            eprintln!(
                "xtask ci: no test certificates in {}: the TLS and least-privilege suites will \
                 report themselves skipped (run `cargo xtask pg-setup`)",
                crate::postgres::TLS_DIR
            );
        }
        suite_env.extend(
            prepared
                .into_iter()
                .filter(|(key, _)| std::env::var_os(key).is_none()),
        );
    }
    if pg_url.is_none() {
        eprintln!(
            "xtask ci: IU_CUTTER_TEST_PG_URL is not set: the PostgreSQL suites will report \
             themselves skipped (run `cargo xtask pg-setup` and export the URL it prints)"
        );
    }

    cargo(&root, &["fmt", "--all", "--", "--check"], &[])?;
    cargo(
        &root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    let cases = if quick { "32" } else { CI_PROPTEST_CASES };
    let mut env = vec![("PROPTEST_CASES", cases)];
    env.extend(suite_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if has_nextest() {
        cargo(
            &root,
            &[
                "nextest",
                "run",
                "--workspace",
                "--features",
                features,
                "--no-fail-fast",
            ],
            &env,
        )?;
        // nextest does not run doc tests.
        cargo(&root, &["test", "--workspace", "--doc"], &[])?;
    } else {
        cargo(
            &root,
            &[
                "test",
                "--workspace",
                "--features",
                features,
                "--no-fail-fast",
            ],
            &env,
        )?;
    }
    eprintln!("xtask: cargo xtask accuracy --check");
    crate::accuracy::run(&["--check".to_owned()])
}

fn has_nextest() -> bool {
    Command::new(cargo_bin())
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn cargo(root: &PathBuf, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(cargo_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
