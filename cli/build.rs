//! Records the commit the program is built from, for `iu-cutter version`.
//!
//! Runs `git rev-parse HEAD`; without git, or outside a repository (a source tarball), the commit
//! is `unknown`. Cargo reruns this script when HEAD moves (the HEAD file, the branch ref it
//! points at, or the packed refs). No build step needs a database or the network.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn is_full_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn rerun_if_exists(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=IU_CUTTER_BUILD_COMMIT");
    // A packager without git may pass the commit explicitly.
    let explicit = std::env::var("IU_CUTTER_BUILD_COMMIT")
        .ok()
        .filter(|c| is_full_sha(c));
    let commit = explicit
        .or_else(|| git(&["rev-parse", "HEAD"]).filter(|c| is_full_sha(c)))
        .unwrap_or_else(|| "unknown".to_owned());
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]).map(PathBuf::from) {
        rerun_if_exists(&git_dir.join("HEAD"));
        // Branch refs live in the common directory (which differs from the git dir in a worktree).
        let common = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
            .map(PathBuf::from)
            .unwrap_or_else(|| git_dir.clone());
        rerun_if_exists(&common.join("packed-refs"));
        if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
            rerun_if_exists(&common.join(reference));
        }
    }
    println!("cargo:rustc-env=IU_CUTTER_COMMIT={commit}");
}
