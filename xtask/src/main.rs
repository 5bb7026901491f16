//! `cargo xtask`: the project's automation, in Rust rather than shell (see matklad's
//! cargo-xtask). One subcommand per task. It depends on little (sha2 for manifests, serde_json
//! for the program's `version --json`, rcgen for pg-setup's test certificates, the
//! dependency-free `iu-cutter-test-env` for the test suites' PostgreSQL rule; archives go
//! through the system `git`, `tar` and `gzip`) so that it builds in seconds, and it calls cargo
//! through `$CARGO`. If `cargo xtask ci` passes locally, CI is green.

mod accuracy;
mod args;
mod bench;
mod cargo;
mod ci;
mod demo;
mod deploy;
mod dist;
mod faults;
mod manifest;
mod postgres;
mod serve;
#[cfg(all(test, unix))]
mod test_support;
#[cfg(test)]
mod tidy;
#[cfg(test)]
mod tidy_sources;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  ci          format check, clippy (warnings denied), the whole test suite (nextest when
              installed), property tests with more cases, the PostgreSQL suites when
              IU_CUTTER_TEST_PG_URL is set (skipped without it; failed without it when CI
              is set), and the cut's accuracy on the gold set against its floors
              (accuracy --check)
  demo        build the program and run it end to end on examples/corpus in target/demo (a
              fresh SQLite store with execution enabled for it only): init, import, plan,
              a dry run, one live run per corpus part, status, units
  accuracy [--check] [--gold DIR]
              cut the gold set (tests/gold: real documents, hand-made labels) with every
              preset and auto, and score the unit boundaries against the labels: precision,
              recall and F1 per document, per preset and micro-averaged (tuned and held-out
              apart), exact documents, label accuracy, losslessness; also in
              target/accuracy/results.md and results.json. --check fails below the floors
              (micro F1 0.98, each preset 0.97, auto within 0.01 of the best preset)
  bench [--quick] [--only cut|store|sim] [--scale [--scale-documents N]]
              build iu-cutter-bench in release mode (feature `peers`) and run it: cut + hash
              against text-splitter, LangChain (a venv in target/bench/venv, set up when
              python3 and pip are available) and a bare sha256; one 50 MB document against
              500 x 100 KB; full live runs on SQLite (and PostgreSQL when IU_CUTTER_TEST_PG_URL
              is set) against a bare insert / COPY; simulated runs per second. Medians of 5
              repetitions, with the targets, in target/bench/results.md and results.json.
              --scale instead seeds stores of 200,000 documents (about 1 GB) and measures a
              1-document run and status against the store's size, a full run's peak RSS
              and longest transaction (each in a child process)
  faults [--trials N] [--race-trials R] [--seed S]
              fault injection: the simulator matrix (every call index x error, crash
              before, crash after, over fixed scenarios: resume reaches the fault-free state,
              rollback the pre-run census), then the real program on SQLite killed with
              SIGKILL at N (default 50) seeded random moments, each resumed to PASS with no
              unit lost or duplicated and rolled back to the pre-run census; two runners
              racing on one scope, R (default 100) trials per store; an edit injected by a
              trigger at every phase boundary on each store (PostgreSQL when
              IU_CUTTER_TEST_PG_URL is set); and a 100 MB document imported, planned and
              run; prints `N passed, M failed` and fails on any loss
  pg-setup    start the local PostgreSQL 15 cluster, create the test roles and database, and
              turn on TLS with a CA it generates (certificates in
              /var/lib/postgresql/iu-cutter-tls; plain TCP keeps working); idempotent;
              prints the URL to export as IU_CUTTER_TEST_PG_URL
  chromium-setup
              install headless Chromium (Debian's `chromium` package, with apt-get) for
              the operator page's test of iu-cutter serve, when it is missing
  load        the load test of iu-cutter serve (not part of ci): the server on the demo
              corpus, a live run executing, 200 concurrent readers of its events and of
              /runs; p50/p99 latency and errors in target/bench/serve-load.txt
  dist        from a clean work tree only: build the release binary and write
              target/dist/iu-cutter-<version>-<shortsha>.tar.gz (sources from `git archive
              HEAD` without secrets, caches or build output; bin/iu-cutter; share/ with
              the shell completions and the man page; DEPLOY-MANIFEST.txt), the manifest beside it, and <tarball>.sha256
  verify-manifest --manifest M --tree DIR
              list the files of DIR missing from, extra to, or modified since manifest M;
              fails on any difference
  deploy --artifact A --to DIR
              check A against A.sha256 (when present), extract it beside DIR, verify it
              against its manifest, run `bin/iu-cutter version --json` and `self-check`, then
              keep DIR as DIR.previous-<time> and promote the new tree; never touches a database
  rollback --to DIR
              restore the newest DIR.previous-<time>, keeping DIR as DIR.rolled-back-<time>
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci::run(rest),
        Some("accuracy") => accuracy::run(rest),
        Some("bench") => bench::run(rest),
        Some("demo") => no_options(rest).and_then(|()| demo::run(&cargo::workspace_root()?)),
        Some("faults") => faults::run(rest),
        Some("pg-setup") => postgres::setup().map(|url| println!("{url}")),
        Some("chromium-setup") => no_options(rest).and_then(|()| serve::chromium_setup()),
        Some("load") => no_options(rest).and_then(|()| serve::load(&cargo::workspace_root()?)),
        Some("dist") => no_options(rest).and_then(|()| run_dist()),
        Some("verify-manifest") => {
            options(rest, &["--manifest", "--tree"]).and_then(|o| verify_manifest(&o[0], &o[1]))
        }
        Some("deploy") => {
            options(rest, &["--artifact", "--to"]).and_then(|o| run_deploy(&o[0], &o[1]))
        }
        Some("rollback") => options(rest, &["--to"]).and_then(|o| run_rollback(&o[0])),
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn no_options(args: &[String]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(arg) => Err(format!("unexpected argument `{arg}`\n\n{USAGE}")),
    }
}

/// The values of `names` (each `--name value` or `--name=value`, each required once), in order.
fn options(args: &[String], names: &[&str]) -> Result<Vec<PathBuf>, String> {
    let mut values: Vec<Option<PathBuf>> = vec![None; names.len()];
    let mut args = args::Args::new(args);
    while let Some(arg) = args.next() {
        let index = names
            .iter()
            .position(|n| *n == arg.name)
            .ok_or_else(|| format!("{}\n\n{USAGE}", arg.unexpected()))?;
        let value = args.value(&arg, "a value")?;
        if values[index].replace(PathBuf::from(value)).is_some() {
            return Err(format!("`{}` is given twice", arg.name));
        }
    }
    names
        .iter()
        .zip(values)
        .map(|(name, value)| value.ok_or_else(|| format!("`{name}` is required\n\n{USAGE}")))
        .collect()
}

fn run_dist() -> Result<(), String> {
    let packed = dist::run(&cargo::workspace_root()?)?;
    for (path, rule) in &packed.left_out {
        eprintln!("xtask dist: left out {path} ({rule})");
    }
    println!(
        "artifact: {} ({} files)",
        packed.tarball.display(),
        packed.files
    );
    println!("manifest: {}", packed.manifest.display());
    println!(
        "sha256:   {}  (also in {})",
        packed.sha256,
        packed.sha256_file.display()
    );
    Ok(())
}

fn verify_manifest(manifest_path: &Path, tree: &Path) -> Result<(), String> {
    let manifest = manifest::Manifest::read(manifest_path)?;
    let diff = manifest::verify(&manifest, tree)?;
    print!("{diff}");
    if diff.is_clean() {
        Ok(())
    } else {
        Err(format!(
            "{} files of {} differ from {}",
            diff.count(),
            tree.display(),
            manifest_path.display()
        ))
    }
}

fn run_deploy(artifact: &Path, to: &Path) -> Result<(), String> {
    let deployed = deploy::deploy(artifact, to, SystemTime::now())?;
    if !deployed.sidecar_checked {
        eprintln!(
            "xtask deploy: note: no {}.sha256 beside the artifact; it was checked against its \
             inner manifest only",
            artifact.display()
        );
    }
    println!(
        "deployed iu-cutter {} ({}) to {}: {} files verified, post-deploy assertions passed",
        deployed.version,
        deployed.commit,
        deployed.dir.display(),
        deployed.files
    );
    match &deployed.previous {
        Some(previous) => println!(
            "the replaced tree is kept as {}; `cargo xtask rollback --to {}` restores it",
            previous.display(),
            deployed.dir.display()
        ),
        None => println!("nothing was installed there before"),
    }
    Ok(())
}

fn run_rollback(to: &Path) -> Result<(), String> {
    let back = deploy::rollback(to, SystemTime::now())?;
    match &back.verified {
        Some((commit, files)) => println!(
            "rolled {} back to {} (commit {commit}, {files} files verified)",
            back.dir.display(),
            back.restored_from.display()
        ),
        None => println!(
            "rolled {} back to {} (it has no DEPLOY-MANIFEST.txt: restored unverified)",
            back.dir.display(),
            back.restored_from.display()
        ),
    }
    if let Some(kept) = &back.kept {
        println!(
            "the replaced tree is kept as {}; to undo: mv {} {} && mv {} {}",
            kept.display(),
            back.dir.display(),
            back.restored_from.display(),
            kept.display(),
            back.dir.display()
        );
    }
    Ok(())
}
