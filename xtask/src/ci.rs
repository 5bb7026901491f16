//! `cargo xtask ci`: every check CI runs, in the order that fails fastest, then the cut's
//! accuracy on the gold set against its floors (`cargo xtask accuracy --check`).

use std::process::Command;

use crate::cargo::{self, workspace_root};

/// Property-test cases per proptest block in CI (the default for local `cargo test` is lower).
const CI_PROPTEST_CASES: &str = "256";

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = quick(args)?;
    let root = workspace_root()?;
    let suite_env = postgres_env();
    cargo::run(&root, &["fmt", "--all", "--", "--check"], &[])?;
    cargo::run(
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
        cargo::run(
            &root,
            &["nextest", "run", "--workspace", "--no-fail-fast"],
            &env,
        )?;
        // nextest does not run doc tests.
        cargo::run(&root, &["test", "--workspace", "--doc"], &[])?;
    } else {
        cargo::run(&root, &["test", "--workspace", "--no-fail-fast"], &env)?;
    }
    eprintln!("xtask: cargo xtask accuracy --check");
    crate::accuracy::run(&["--check".to_owned()])
}

/// Whether `--quick` was given; any other argument is refused (a typo such as `--quik` must not
/// run the full suite silently, nor a misplaced option be dropped).
fn quick(args: &[String]) -> Result<bool, String> {
    let mut quick = false;
    for arg in crate::args::Args::new(args) {
        match arg.name {
            "--quick" => quick = arg.flag()?,
            _ => {
                return Err(format!(
                    "{}; `cargo xtask ci` takes only --quick",
                    arg.unexpected()
                ));
            }
        }
    }
    Ok(quick)
}

/// The PostgreSQL suites' variables besides `IU_CUTTER_TEST_PG_URL` (the TLS and least-privilege
/// suites'), derived from it unless the caller set them, after saying what will happen to those
/// suites: with the URL they run; without it they are skipped, or fail when `CI` is set (the rule
/// of `iu-cutter-test-env`).
fn postgres_env() -> Vec<(String, String)> {
    let Some(url) = std::env::var(iu_cutter_test_env::PG_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        let fate = if iu_cutter_test_env::in_ci() {
            "CI is set, so they will FAIL"
        } else {
            "they will report themselves skipped"
        };
        eprintln!(
            "xtask ci: IU_CUTTER_TEST_PG_URL is not set: the PostgreSQL suites need it, and {fate} \
             (run `cargo xtask pg-setup` and export the URL it prints)"
        );
        return Vec::new();
    };
    let prepared = crate::postgres::suite_env(&url);
    if prepared.is_empty() {
        eprintln!(
            "xtask ci: no test certificates in {}: the TLS and least-privilege suites will report \
             themselves skipped, or fail in CI (run `cargo xtask pg-setup`)",
            crate::postgres::TLS_DIR
        );
    }
    prepared
        .into_iter()
        .filter(|(key, _)| std::env::var_os(key).is_none())
        .collect()
}

fn has_nextest() -> bool {
    Command::new(cargo::bin())
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::quick;
    use crate::args::strings;

    #[test]
    fn ci_takes_only_quick_and_refuses_anything_else() {
        assert_eq!(quick(&[]), Ok(false));
        assert_eq!(quick(&strings(&["--quick"])), Ok(true));
        let typo = quick(&strings(&["--quik"]));
        assert!(
            typo.as_ref()
                .is_err_and(|e| e.contains("`--quik`") && e.contains("--quick")),
            "{typo:?}"
        );
        assert!(quick(&strings(&["--quick=yes"])).is_err());
        assert!(quick(&strings(&["--quick", "extra"])).is_err());
    }
}
