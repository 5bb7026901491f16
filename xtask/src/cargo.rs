//! How every task runs cargo: the cargo that runs xtask (`$CARGO`), from the workspace root,
//! building into `CARGO_TARGET_DIR` or `target/`; how a task runs any program in the
//! foreground; and how it reads a finished program's captured output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo that runs xtask.
pub(crate) fn bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo` arguments that build the program, `iu-cutter`, for a debug run.
pub(crate) const BUILD_PROGRAM: [&str; 5] = [
    "build",
    "-p",
    "iu-cutter",
    "--bin",
    "iu-cutter",
];

/// The workspace's root directory.
pub(crate) fn workspace_root() -> Result<PathBuf, String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| "run this through `cargo xtask`".to_string())?;
    PathBuf::from(manifest_dir)
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| "xtask has no parent directory".into())
}

/// Where cargo builds: `CARGO_TARGET_DIR` (relative to `root` unless absolute), or `target/`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// A task's output directory, `name` under the target directory, created if need be.
pub(crate) fn output_dir(root: &Path, name: &str) -> Result<PathBuf, String> {
    let out = target_dir(root).join(name);
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    Ok(out)
}

/// `cargo args` in `root` with `env`, said on stderr first; an error unless it succeeds.
pub(crate) fn run(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let shown = format!("cargo {}", args.join(" "));
    eprintln!("xtask: {shown}");
    foreground(
        Command::new(bin())
            .args(args)
            .envs(env.iter().copied())
            .current_dir(root),
        "cargo",
        &shown,
    )
}

/// Runs `command` (the program `program`, in full `shown`) in the foreground, on the
/// terminal's own input and output; an error unless it succeeds.
pub(crate) fn foreground(command: &mut Command, program: &str, shown: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// A finished program's stdout as text if it succeeded; else the error `failed`, then its
/// stderr.
pub(crate) fn stdout_or(output: &Output, failed: String) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{failed}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}
