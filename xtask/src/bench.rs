//! `cargo xtask bench`: sets up the Python environment LangChain needs (a venv under
//! `target/bench/venv`, when `python3` with `venv` and `pip` is available), then builds and runs
//! `iu-cutter-bench` in release mode with the `peers` feature. The benchmark program writes
//! `target/bench/results.md` and `results.json` and prints the targets table.
//!
//! `--scale` measures cost against the size of the store instead (`--only scale`): it seeds
//! stores of 200,000 documents (about 1 GB; `--scale-documents N` for another size) on SQLite,
//! and on PostgreSQL when `IU_CUTTER_TEST_PG_URL` is set (`--scale-backend sqlite|postgres` for
//! one of them), and runs the store benchmark at 1,000,000 units (`--store-units N` for another
//! size, also without `--scale`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::args;
use crate::cargo::{self, output_dir, workspace_root};

/// The LangChain release measured (pinned, so that results compare across runs).
const LANGCHAIN_SPEC: &str = "langchain-text-splitters==1.1.3";

/// What `cargo xtask bench` was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) only: Option<String>,
    /// `--scale-documents N`: the large scale store's size.
    pub(crate) scale_documents: Option<u64>,
    /// `--scale-backend sqlite|postgres|both`: the scale figures' backends.
    pub(crate) scale_backend: Option<String>,
    /// `--store-units N`: the store benchmark's size in units.
    pub(crate) store_units: Option<u64>,
}

pub(crate) fn parse(args: &[String]) -> Result<Options, String> {
    args::read(args, Options::default(), |options, arg, args| {
        match arg.name {
            "--quick" => options.quick = arg.flag()?,
            "--scale" => {
                arg.flag()?;
                options.only = Some("scale".to_owned());
            }
            "--scale-documents" => {
                let value = args.value(arg, "a number")?;
                options.scale_documents = Some(documents(value)?);
            }
            "--store-units" => {
                let value = args.value(arg, "a number")?;
                options.store_units = Some(number("--store-units", value)?);
            }
            "--scale-backend" => {
                let value = args.value(arg, "sqlite, postgres or both")?;
                options.scale_backend = Some(backend(value)?);
            }
            "--only" => options.only = Some(only(args.value(arg, "cut, store, sim or scale")?)?),
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn only(value: &str) -> Result<String, String> {
    match value {
        "cut" | "store" | "sim" | "scale" => Ok(value.to_owned()),
        other => Err(format!(
            "`--only` takes cut, store, sim or scale, not `{other}`"
        )),
    }
}

fn backend(value: &str) -> Result<String, String> {
    match value {
        "sqlite" | "postgres" | "both" => Ok(value.to_owned()),
        other => Err(format!(
            "`--scale-backend` takes sqlite, postgres or both, not `{other}`"
        )),
    }
}

fn documents(value: &str) -> Result<u64, String> {
    number("--scale-documents", value)
}

fn number(option: &str, value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("`{option}` takes a number, not `{value}`"))
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let started = Instant::now();
    let root = workspace_root()?;
    let out = output_dir(&root, "bench")?;

    let wants_cut = options.only.as_deref().is_none_or(|o| o == "cut");
    let python = if wants_cut { python_env(&out) } else { None };

    let mut command = Command::new(cargo::bin());
    command
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "-p",
            "iu-cutter-bench",
            "--features",
            "peers",
            "--",
        ])
        .arg("--out")
        .arg(&out);
    if options.quick {
        command.arg("--quick");
    }
    if let Some(only) = &options.only {
        command.args(["--only", only]);
    }
    if let Some(documents) = options.scale_documents {
        command.args(["--scale-documents", &documents.to_string()]);
    }
    if let Some(units) = options.store_units {
        command.args(["--store-units", &units.to_string()]);
    }
    if let Some(backend) = &options.scale_backend {
        command.args(["--scale-backend", backend]);
    }
    if let Some(python) = &python {
        command.arg("--python").arg(python);
    }
    eprintln!("xtask bench: cargo run --release -p iu-cutter-bench --features peers");
    let status = command
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("the benchmark program failed ({status})"));
    }
    eprintln!(
        "xtask bench: done in {:.0} s (build and Python set-up included)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The venv's interpreter with LangChain's splitters installed, or `None` after saying why.
fn python_env(out: &Path) -> Option<PathBuf> {
    let venv = out.join("venv");
    let python = venv.join("bin").join("python");
    let skip = |why: String| {
        eprintln!(
            "xtask bench: LangChain will be skipped: {why} (it needs python3 with the venv \
             module and pip, and PyPI)"
        );
        None
    };
    let has_langchain = |python: &Path| {
        Command::new(python)
            .args(["-c", "import langchain_text_splitters"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if python.exists() && has_langchain(&python) {
        return Some(python);
    }
    if !python.exists() {
        eprintln!("xtask bench: python3 -m venv {}", venv.display());
        match Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(status) => return skip(format!("`python3 -m venv` failed ({status})")),
            Err(e) => return skip(format!("cannot run python3: {e}")),
        }
    }
    eprintln!("xtask bench: pip install {LANGCHAIN_SPEC}");
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", LANGCHAIN_SPEC])
        .status();
    match installed {
        Ok(status) if status.success() && has_langchain(&python) => Some(python),
        Ok(status) => skip(format!("`pip install {LANGCHAIN_SPEC}` failed ({status})")),
        Err(e) => skip(format!("cannot run pip: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Options, String> {
        parse(&crate::args::strings(args))
    }

    #[test]
    fn options() {
        assert_eq!(parsed(&[]), Ok(Options::default()));
        assert_eq!(
            parsed(&["--quick", "--only", "store"]),
            Ok(Options {
                quick: true,
                only: Some("store".into()),
                scale_documents: None,
                scale_backend: None,
                store_units: None,
            })
        );
        assert_eq!(
            parsed(&[
                "--scale",
                "--scale-documents",
                "20000",
                "--scale-backend",
                "postgres"
            ]),
            Ok(Options {
                quick: false,
                only: Some("scale".into()),
                scale_documents: Some(20_000),
                scale_backend: Some("postgres".into()),
                store_units: None,
            })
        );
        assert_eq!(
            parsed(&["--only", "store", "--store-units", "1000000"]).map(|o| o.store_units),
            Ok(Some(1_000_000))
        );
        assert!(parsed(&["--store-units", "lots"]).is_err());
        assert!(parsed(&["--scale-documents", "many"]).is_err());
        assert!(parsed(&["--scale-backend", "mysql"]).is_err());
        assert_eq!(
            parsed(&["--only=sim"]).map(|o| o.only),
            Ok(Some("sim".into()))
        );
        assert!(parsed(&["--only", "everything"]).is_err());
        assert!(parsed(&["--only"]).is_err());
        assert!(parsed(&["--fast"]).is_err());
        assert!(parsed(&["--quick=yes"]).is_err(), "a flag takes no value");
    }
}
