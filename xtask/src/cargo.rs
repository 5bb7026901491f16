//! How every task runs cargo: the cargo that runs xtask (`$CARGO`), from the workspace root,
//! building into `CARGO_TARGET_DIR` or `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The cargo that runs xtask.
pub(crate) fn bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

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

/// `cargo args` in `root` with `env`, said on stderr first; an error unless it succeeds.
pub(crate) fn run(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let status = Command::new(bin())
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
