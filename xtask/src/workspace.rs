//! Where the workspace is and which cargo drives it: what every task needs to run cargo on the
//! workspace (kept apart from the tasks, so that tasks calling each other do not import each
//! other's helpers).

use std::path::PathBuf;

/// The cargo that runs this task (`$CARGO`), or `cargo` from the path.
pub(crate) fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The workspace's root directory: xtask's parent.
pub(crate) fn workspace_root() -> Result<PathBuf, String> {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| "run this through `cargo xtask`".to_string())?;
    PathBuf::from(manifest_dir)
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| "xtask has no parent directory".into())
}
