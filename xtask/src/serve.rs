//! The tasks of `iu-cutter serve`'s tests: `chromium-setup` installs headless Chromium from
//! Debian's packages for the operator page's test, and `load` runs the server's load test.

use std::path::Path;
use std::process::Command;

use crate::cargo;

/// Where Chromium is: `IU_CUTTER_CHROMIUM`, or `chromium` / `chromium-browser` on the PATH.
fn chromium() -> Option<String> {
    if let Ok(path) = std::env::var("IU_CUTTER_CHROMIUM") {
        return Some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .map(|p| p.display().to_string())
}

/// `cargo xtask chromium-setup`: installs Debian's `chromium` with apt-get when it is missing;
/// nothing when it is there.
pub(crate) fn chromium_setup() -> Result<(), String> {
    if let Some(path) = chromium() {
        eprintln!("xtask: Chromium is installed: {path}");
        return Ok(());
    }
    let apt = |args: &[&str]| -> Result<(), String> {
        eprintln!("xtask: apt-get {}", args.join(" "));
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| {
                format!(
                    "cannot run apt-get ({e}): install Chromium by hand, or set IU_CUTTER_CHROMIUM"
                )
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "apt-get {} failed ({status}); as root it installs Debian's chromium package",
                args.join(" ")
            ))
        }
    };
    // The package lists may be stale or absent on a fresh machine: install, else update first.
    if apt(&["install", "-y", "--no-install-recommends", "chromium"]).is_err() {
        apt(&["update"])?;
        apt(&["install", "-y", "--no-install-recommends", "chromium"])?;
    }
    chromium()
        .map(|path| eprintln!("xtask: Chromium installed: {path}"))
        .ok_or_else(|| "apt-get succeeded but no chromium is on the PATH".to_string())
}

/// `cargo xtask load`: the server's load test (`serve/examples/load.rs`); its figures go to
/// `target/bench/serve-load.txt`.
pub(crate) fn load(root: &Path) -> Result<(), String> {
    let out = cargo::output_dir(root, "bench")?.join("serve-load.txt");
    let out = out.display().to_string();
    cargo::run(
        root,
        &[
            "run",
            "-p",
            "iu-cutter-serve",
            "--example",
            "load",
            "--",
            &out,
        ],
        &[],
    )
}
