//! `cargo xtask deploy` and `cargo xtask rollback`: a verified, reversible install of a release
//! artifact built by `cargo xtask dist`.
//!
//! Deploy, for `--to DIR`:
//!
//! 1. if `<artifact>.sha256` exists, the artifact's sha256 must equal it;
//! 2. the tarball must hold one top directory and only files and directories, no path leaving
//!    it; it is extracted beside `DIR`, into `DIR.new-<timestamp>` (same filesystem, so the
//!    promotion below is a rename);
//! 3. the extracted tree must match its own `DEPLOY-MANIFEST.txt` exactly;
//! 4. the post-deploy assertions run against the extracted binary (the contract below);
//! 5. the tree is verified again (the program must not have written into it), then `DIR`, if
//!    any, is kept as `DIR.previous-<timestamp>` and the new tree renamed to `DIR`.
//!
//! Any failure before step 5 removes the staging directory: nothing is promoted and `DIR` is
//! untouched. Rollback restores the newest `DIR.previous-*` (verified against its manifest when
//! it has one) and keeps the tree it replaces as `DIR.rolled-back-<timestamp>`, so a rollback
//! can itself be undone; rolling back again goes one release further back.
//!
//! Neither deploy nor rollback touches a database: they move directories and run the program's
//! two read-only commands below.
//!
//! # The program contract
//!
//! The `iu-cutter` binary (package `iu-cutter`) must offer:
//!
//! - `iu-cutter version --json`: exit 0 and print one JSON object
//!   `{"version": "<workspace version>", "commit": "<full sha of the commit it was built from>",
//!   "execution_enabled_default": false, "live_wiring": "<which live stores are compiled in>"}`.
//!   Deploy requires `execution_enabled_default` to be exactly `false` (a release ships with the
//!   kill switch off) and `commit` to equal the manifest's `commit:`.
//! - `iu-cutter self-check`: exit 0 when the installation is healthy, non-zero otherwise. It
//!   must not open a database for writing nor write any file: deploy runs it, with the
//!   extracted tree as working directory, before anything is promoted.
//!
//! Each command gets [`COMMAND_TIME_LIMIT`] before it is killed and the deploy refused.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::dist::{remove_dir_if_exists, run_tool};
use crate::manifest::{self, MANIFEST_NAME, Manifest};

/// How long each post-deploy command may run.
pub(crate) const COMMAND_TIME_LIMIT: Duration = Duration::from_secs(120);

/// The result of a deploy.
#[derive(Debug)]
pub(crate) struct Deployed {
    /// The deployed directory (the `--to`).
    pub(crate) dir: PathBuf,
    /// Where the tree it replaced is kept, if there was one.
    pub(crate) previous: Option<PathBuf>,
    /// The release's version and commit, from its manifest.
    pub(crate) version: String,
    /// The release's full commit sha.
    pub(crate) commit: String,
    /// Files verified against the manifest.
    pub(crate) files: usize,
    /// Whether `<artifact>.sha256` existed and matched.
    pub(crate) sidecar_checked: bool,
}

/// The result of a rollback.
#[derive(Debug)]
pub(crate) struct RolledBack {
    /// The rolled-back directory (the `--to`).
    pub(crate) dir: PathBuf,
    /// The kept copy that is now `dir` (its former name).
    pub(crate) restored_from: PathBuf,
    /// Where the replaced tree is kept, if there was one.
    pub(crate) kept: Option<PathBuf>,
    /// The restored tree's commit and file count, when it had a manifest.
    pub(crate) verified: Option<(String, usize)>,
}

/// Deploys `artifact` to `to`; `now` names the staging and kept directories.
pub(crate) fn deploy(artifact: &Path, to: &Path, now: SystemTime) -> Result<Deployed, String> {
    let stamp = stamp(now);
    if !artifact.is_file() {
        return Err(format!(
            "the artifact {} does not exist; build one with `cargo xtask dist`",
            artifact.display()
        ));
    }
    let sidecar_checked = check_sidecar(artifact)?;
    let top = check_listing(artifact)?;

    let staging = sibling(to, "new", &stamp)?;
    let previous = sibling(to, "previous", &stamp)?;
    let replaces = check_destination(to, &staging, &previous)?;
    fs::create_dir(&staging).map_err(|e| {
        format!(
            "cannot create the staging directory {}: {e}; check that {}'s parent exists and is \
             writable",
            staging.display(),
            to.display()
        )
    })?;
    let result = stage(artifact, &top, &staging, to).and_then(|(manifest, files)| {
        let previous = promote(&staging, to, replaces.then_some(previous.as_path()))?;
        Ok(Deployed {
            dir: to.to_path_buf(),
            previous,
            version: manifest.version,
            commit: manifest.commit,
            files,
            sidecar_checked,
        })
    });
    if result.is_err() {
        remove_dir_if_exists(&staging)?;
    }
    result
}

/// Refuses to deploy over an existing staging or kept directory, or over a `to` that is not a
/// directory; returns whether `to` exists (and is replaced).
fn check_destination(to: &Path, staging: &Path, previous: &Path) -> Result<bool, String> {
    for path in [staging, previous] {
        if fs::symlink_metadata(path).is_ok() {
            return Err(format!(
                "{} already exists; remove it (or wait a second) and deploy again",
                path.display()
            ));
        }
    }
    holds_a_tree(to, "deploy")
}

/// Whether `to` is a directory (to be replaced); nothing there is fine, anything else is refused
/// with the advice to move it away and `retry` again.
fn holds_a_tree(to: &Path, retry: &str) -> Result<bool, String> {
    match fs::symlink_metadata(to) {
        Ok(meta) if meta.is_dir() => Ok(true),
        Ok(_) => Err(format!(
            "{} exists and is not a directory; move it away and {retry} again",
            to.display()
        )),
        Err(_) => Ok(false),
    }
}

/// Steps 2 to 5 short of promotion: extracts `artifact` into `staging`, checks the tree against
/// its manifest and its top directory `top`, runs the post-deploy assertions, and checks the
/// tree again. Returns the manifest and how many files were verified.
fn stage(
    artifact: &Path,
    top: &str,
    staging: &Path,
    to: &Path,
) -> Result<(Manifest, usize), String> {
    run_tool(
        Command::new("tar")
            .args(["-xzf"])
            .arg(artifact)
            .args(["--no-same-owner", "--strip-components=1", "-C"])
            .arg(staging),
    )?;
    let manifest = check_tree(staging, to, "the artifact's tree")?;
    let expected_top = format!("iu-cutter-{}-{}", manifest.version, short(&manifest.commit));
    if top != expected_top {
        return Err(format!(
            "the artifact's top directory is `{top}` but its manifest says `{expected_top}`; \
             refusing to deploy, {} is unchanged. Rebuild it with `cargo xtask dist`",
            to.display()
        ));
    }
    check_program(staging, &manifest)
        .map_err(|e| format!("{e}; refusing to deploy, {} is unchanged", to.display()))?;
    let files = check_tree(staging, to, "after the post-deploy assertions, the tree")?
        .files
        .len();
    Ok((manifest, files))
}

/// Step 5's promotion: keeps the current `to` as `previous` (when there is one to replace),
/// then renames `staging` to `to`. If that rename fails, the kept tree is put back.
fn promote(staging: &Path, to: &Path, previous: Option<&Path>) -> Result<Option<PathBuf>, String> {
    let moving_in = format!("promote {} to", staging.display());
    replace_tree(staging, to, previous, &moving_in, "promoted")?;
    Ok(previous.map(Path::to_path_buf))
}

/// Moves the tree at `to` aside to `aside` (when given), then `incoming` to `to`; if that second
/// rename fails, the tree moved aside is put back. `moving_in` names the second rename in its
/// error (`cannot {moving_in} {to}`); `unchanged` says what a failed first one left undone.
fn replace_tree(
    incoming: &Path,
    to: &Path,
    aside: Option<&Path>,
    moving_in: &str,
    unchanged: &str,
) -> Result<(), String> {
    if let Some(aside) = aside {
        fs::rename(to, aside).map_err(|e| {
            format!(
                "cannot keep {} as {}: {e}; nothing was {unchanged}",
                to.display(),
                aside.display()
            )
        })?;
    }
    fs::rename(incoming, to).map_err(|e| {
        let undo = aside
            .and_then(|aside| {
                let u = fs::rename(aside, to).err()?;
                Some(format!(
                    "; restoring {} also failed ({u}): rename it back to {} by hand",
                    aside.display(),
                    to.display()
                ))
            })
            .unwrap_or_default();
        format!("cannot {moving_in} {}: {e}{undo}", to.display())
    })
}

/// Restores the newest `DIR.previous-*` as `to`, keeping the current tree as
/// `DIR.rolled-back-<timestamp>`.
pub(crate) fn rollback(to: &Path, now: SystemTime) -> Result<RolledBack, String> {
    let stamp = stamp(now);
    let name = dir_name(to)?;
    let parent = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!("{name}.previous-");
    let mut kept_copies: Vec<String> = fs::read_dir(&parent)
        .map_err(|e| format!("cannot list {}: {e}", parent.display()))?
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    kept_copies.sort();
    let Some(newest) = kept_copies.pop() else {
        return Err(format!(
            "no kept copy `{prefix}*` beside {}: there is nothing to roll back to (deploy keeps \
             one per deploy; an earlier rollback may have used the last one)",
            to.display()
        ));
    };
    let restored_from = parent.join(&newest);

    let verified = if restored_from.join(MANIFEST_NAME).is_file() {
        let manifest = Manifest::read(&restored_from.join(MANIFEST_NAME))?;
        let diff = manifest::verify(&manifest, &restored_from)?;
        if !diff.is_clean() {
            return Err(format!(
                "the kept copy {} no longer matches its own manifest ({} files differ); nothing \
                 was changed. Inspect it, or deploy a known-good artifact instead:\n{diff}",
                restored_from.display(),
                diff.count()
            ));
        }
        Some((manifest.commit, diff.matched))
    } else {
        None
    };

    let kept = if holds_a_tree(to, "roll back")? {
        let kept = sibling(to, "rolled-back", &stamp)?;
        if fs::symlink_metadata(&kept).is_ok() {
            return Err(format!(
                "{} already exists; wait a second and roll back again",
                kept.display()
            ));
        }
        Some(kept)
    } else {
        None
    };
    let moving_in = format!("restore {} as", restored_from.display());
    replace_tree(&restored_from, to, kept.as_deref(), &moving_in, "changed")?;
    Ok(RolledBack {
        dir: to.to_path_buf(),
        restored_from,
        kept,
        verified,
    })
}

/// `now` as `YYYYMMDDTHHMMSSZ` (UTC), which sorts as it reads.
pub(crate) fn stamp(now: SystemTime) -> String {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn short(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

fn dir_name(to: &Path) -> Result<String, String> {
    to.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| {
            format!(
                "{} does not name a directory (give a path like /srv/iu-cutter)",
                to.display()
            )
        })
}

/// `DIR.<kind>-<stamp>`, beside `DIR`.
fn sibling(to: &Path, kind: &str, stamp: &str) -> Result<PathBuf, String> {
    Ok(to.with_file_name(format!("{}.{kind}-{stamp}", dir_name(to)?)))
}

/// Checks the artifact against `<artifact>.sha256` when present; `Ok(false)` when absent.
fn check_sidecar(artifact: &Path) -> Result<bool, String> {
    let mut sidecar = artifact.as_os_str().to_owned();
    sidecar.push(".sha256");
    let sidecar = PathBuf::from(sidecar);
    let text = match fs::read_to_string(&sidecar) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read {}: {e}", sidecar.display())),
    };
    let expected = text.split_whitespace().next().unwrap_or_default();
    let found = manifest::sha256_file(artifact)?;
    if expected != found {
        return Err(format!(
            "the artifact {} has sha256 {found} but {} says {expected}: it is corrupt or was \
             tampered with; nothing was extracted. Fetch or rebuild it (`cargo xtask dist`)",
            artifact.display(),
            sidecar.display()
        ));
    }
    Ok(true)
}

/// The artifact's one top directory; refuses members outside it, `..` components, and anything
/// but files and directories.
fn check_listing(artifact: &Path) -> Result<String, String> {
    let refuse = |why: String| {
        format!(
            "the artifact {} {why}; it was not built by `cargo xtask dist`. Nothing was extracted",
            artifact.display()
        )
    };
    let names = run_tool(Command::new("tar").arg("-tzf").arg(artifact))?;
    let mut top: Option<&str> = None;
    for name in names.lines() {
        let first = name.split('/').next().unwrap_or_default();
        if name.starts_with('/') || name.split('/').any(|part| part == "..") || first.is_empty() {
            return Err(refuse(format!(
                "holds the path `{name}`, which leaves its directory"
            )));
        }
        match top {
            None => top = Some(first),
            Some(t) if t == first => {}
            Some(t) => {
                return Err(refuse(format!(
                    "holds more than one top directory (`{t}`, `{first}`)"
                )));
            }
        }
    }
    let top = top.ok_or_else(|| refuse("is empty".into()))?.to_string();
    let long = run_tool(Command::new("tar").arg("-tvzf").arg(artifact))?;
    if let Some(line) = long
        .lines()
        .find(|l| !(l.starts_with('-') || l.starts_with('d')))
    {
        return Err(refuse(format!(
            "holds an entry that is neither a file nor a directory: `{line}`"
        )));
    }
    Ok(top)
}

/// The tree's manifest, when the tree matches it exactly.
fn check_tree(tree: &Path, to: &Path, what: &str) -> Result<Manifest, String> {
    let manifest_path = tree.join(MANIFEST_NAME);
    if !manifest_path.is_file() {
        return Err(format!(
            "the artifact has no {MANIFEST_NAME}: it was not built by `cargo xtask dist`; \
             refusing to deploy, {} is unchanged",
            to.display()
        ));
    }
    let manifest = Manifest::read(&manifest_path)?;
    let diff = manifest::verify(&manifest, tree)?;
    if !diff.is_clean() {
        return Err(format!(
            "{what} does not match its manifest ({} files differ); refusing to deploy, nothing \
             was promoted and {} is unchanged. Rebuild the artifact with `cargo xtask dist` or \
             fetch it again:\n{}",
            diff.count(),
            to.display(),
            diff.to_string().trim_end()
        ));
    }
    Ok(manifest)
}

/// The post-deploy assertions of the program contract, against `tree/bin/iu-cutter`.
fn check_program(tree: &Path, manifest: &Manifest) -> Result<(), String> {
    let bin = tree.join("bin").join("iu-cutter");
    let (ok, stdout, stderr) = run_bounded(&bin, &["version", "--json"], tree)?;
    if !ok {
        return Err(format!(
            "post-deploy assertion failed: `bin/iu-cutter version --json` exited non-zero: {}",
            stderr.trim()
        ));
    }
    let json: serde_json::Value = serde_json::from_str(&stdout).map_err(|e| {
        format!(
            "post-deploy assertion failed: `bin/iu-cutter version --json` did not print JSON \
             ({e}): {}",
            stdout.trim()
        )
    })?;
    match json.get("execution_enabled_default") {
        Some(serde_json::Value::Bool(false)) => {}
        other => {
            return Err(format!(
                "post-deploy assertion failed: `bin/iu-cutter version --json` reports \
                 execution_enabled_default = {}, expected false: a release must ship with the \
                 kill switch off by default. Fix the program's default and rebuild",
                other.map_or_else(|| "(absent)".to_string(), ToString::to_string)
            ));
        }
    }
    match json.get("commit").and_then(serde_json::Value::as_str) {
        Some(commit) if commit == manifest.commit => {}
        other => {
            return Err(format!(
                "post-deploy assertion failed: the binary says it was built from commit {} but \
                 the manifest says {}: the binary is not the one this release was built with. \
                 Rebuild the artifact with `cargo xtask dist`",
                other.unwrap_or("(absent)"),
                manifest.commit
            ));
        }
    }
    let (ok, stdout, stderr) = run_bounded(&bin, &["self-check"], tree)?;
    if !ok {
        return Err(format!(
            "post-deploy assertion failed: `bin/iu-cutter self-check` exited non-zero: {} {}",
            stdout.trim(),
            stderr.trim()
        ));
    }
    Ok(())
}

/// Runs `program args` in `cwd` for at most [`COMMAND_TIME_LIMIT`]: (success, stdout, stderr).
fn run_bounded(
    program: &Path,
    args: &[&str],
    cwd: &Path,
) -> Result<(bool, String, String), String> {
    let shown = format!("bin/iu-cutter {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("post-deploy assertion failed: cannot run `{shown}`: {e}"))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + COMMAND_TIME_LIMIT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "post-deploy assertion failed: `{shown}` did not finish within {}s",
                    COMMAND_TIME_LIMIT.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for `{shown}`: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::dist::{Packed, pack};
    use crate::test_support::{TestResult, fake_binary, fake_binary_script, snapshot, write};
    use std::collections::BTreeMap;

    const V1: &str = "1111111111111111111111111111111111111111";
    const V2: &str = "2222222222222222222222222222222222222222";

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A release artifact of `commit` with a few source files, packed into `root/<name>/`.
    fn artifact(root: &Path, name: &str, commit: &str, binary: &Path) -> Result<Packed, String> {
        let src = root.join(format!("{name}-src"));
        for (rel, body) in [
            ("Cargo.toml", format!("# {name}\n")),
            ("cli/src/main.rs", format!("// {name} {commit}\n")),
            ("README.md", "iu-cutter\n".to_string()),
        ] {
            write(&src.join(rel), &body).map_err(|e| e.to_string())?;
        }
        pack(&src, binary, &root.join(name), "0.1.0", commit)
    }

    fn good_artifact(root: &Path, name: &str, commit: &str) -> Result<Packed, String> {
        let bin = fake_binary(&root.join(format!("{name}-bin")), commit, false)
            .map_err(|e| e.to_string())?;
        artifact(root, name, commit, &bin)
    }

    /// A good artifact of V1 under `root`, repacked after `edit` changed its tree (so that its
    /// `.sha256`, kept when `sealed`, no longer matches; without it only the inner manifest
    /// checks the tree), and where it would be deployed.
    fn tampered(
        root: &Path,
        sealed: bool,
        edit: &dyn Fn(&Path) -> TestResult,
    ) -> Result<(Packed, PathBuf), Box<dyn std::error::Error>> {
        let packed = good_artifact(root, "v1", V1)?;
        if !sealed {
            fs::remove_file(&packed.sha256_file)?;
        }
        repack(&packed.tarball, edit)?;
        Ok((packed, root.join("iu-cutter")))
    }

    /// Deploys a good artifact of `commit` (built under `root/<name>`) to `to` at `secs`.
    fn deploy_good(root: &Path, to: &Path, name: &str, commit: &str, secs: u64) -> TestResult {
        deploy(&good_artifact(root, name, commit)?.tarball, to, at(secs))?;
        Ok(())
    }

    /// Deploys `tarball` to `to`, expecting a refusal that leaves `to` as it was (`before`, or
    /// absent) and nothing beside it; returns the refusal.
    fn refused(
        tarball: &Path,
        to: &Path,
        before: Option<&BTreeMap<String, Vec<u8>>>,
    ) -> Result<String, Box<dyn std::error::Error>> {
        let err = expect_err(deploy(tarball, to, at(1_000)))?;
        match before {
            Some(before) => assert_eq!(&snapshot(to)?, before, "the target changed: {err}"),
            None => assert!(!to.exists(), "the target appeared: {err}"),
        }
        assert_eq!(
            siblings(to)?,
            Vec::<String>::new(),
            "staging left or tree kept: {err}"
        );
        Ok(err)
    }

    /// Names in `dir`'s parent that start with `dir`'s name and a dot.
    fn siblings(to: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let name = to.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let parent = to.parent().ok_or("no parent")?;
        let mut out: Vec<String> = fs::read_dir(parent)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|n| n.starts_with(&format!("{name}.")))
            .collect();
        out.sort();
        Ok(out)
    }

    /// A hand-made tree standing in for what is installed before a deploy.
    fn installed(to: &Path) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
        write(&to.join("bin/iu-cutter"), "#!/bin/sh\necho old\n")?;
        write(&to.join("src/README.md"), "old release\n")?;
        snapshot(to)
    }

    fn expect_err<T: std::fmt::Debug>(result: Result<T, String>) -> Result<String, String> {
        match result {
            Ok(value) => Err(format!("expected a refusal, got {value:?}")),
            Err(e) => Ok(e),
        }
    }

    #[test]
    fn stamps_are_utc_and_sortable() {
        assert_eq!(stamp(at(0)), "19700101T000000Z");
        assert_eq!(stamp(at(951_782_400)), "20000229T000000Z");
        assert_eq!(stamp(at(1_700_000_000)), "20231114T221320Z");
        assert_eq!(stamp(at(4_102_444_799)), "20991231T235959Z");
        assert_eq!(stamp(at(4_107_542_399)), "21000228T235959Z");
    }

    #[test]
    fn a_clean_deploy_promotes_a_tree_matching_its_manifest() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let packed = good_artifact(tmp.path(), "v1", V1)?;
        let to = tmp.path().join("srv").join("iu-cutter");
        fs::create_dir_all(to.parent().ok_or("no parent")?)?;

        let deployed = deploy(&packed.tarball, &to, at(1_000))?;
        assert!(deployed.sidecar_checked);
        assert_eq!(deployed.commit, V1);
        assert_eq!(deployed.previous, None, "nothing was installed before");
        assert_eq!(deployed.files, 9, "4 files and the 5 of share/");
        let manifest = Manifest::read(&packed.manifest)?;
        let diff = manifest::verify(&manifest, &to)?;
        assert!(diff.is_clean(), "{diff}");
        assert_eq!(diff.matched, 9);
        assert_eq!(
            fs::read(to.join(MANIFEST_NAME))?,
            fs::read(&packed.manifest)?
        );
        assert_eq!(siblings(&to)?, Vec::<String>::new(), "staging left behind");

        // Over an installed tree: it is kept, by rename, byte for byte.
        let packed2 = good_artifact(tmp.path(), "v2", V2)?;
        let before = snapshot(&to)?;
        let deployed = deploy(&packed2.tarball, &to, at(2_000))?;
        let kept = to.with_file_name("iu-cutter.previous-19700101T003320Z");
        assert_eq!(deployed.previous.as_deref(), Some(kept.as_path()));
        assert_eq!(snapshot(&kept)?, before);
        assert!(manifest::verify(&Manifest::read(&packed2.manifest)?, &to)?.is_clean());
        assert_eq!(siblings(&to)?, vec!["iu-cutter.previous-19700101T003320Z"]);
        Ok(())
    }

    /// Extracts `tarball`, lets `edit` change the tree, packs it again in place.
    fn repack(tarball: &Path, edit: &dyn Fn(&Path) -> TestResult) -> TestResult {
        let work = tempfile::tempdir()?;
        run_tool(
            Command::new("tar")
                .arg("-xzf")
                .arg(tarball)
                .arg("-C")
                .arg(work.path()),
        )?;
        edit(work.path())?;
        let mut tops: Vec<String> = fs::read_dir(work.path())?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        tops.sort();
        run_tool(
            Command::new("tar")
                .arg("-czf")
                .arg(tarball)
                .arg("-C")
                .arg(work.path())
                .args(&tops),
        )?;
        Ok(())
    }

    #[test]
    fn a_tampered_artifact_is_refused_and_nothing_is_promoted() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (packed, to) = tampered(tmp.path(), true, &|root| {
            write(
                &root.join("iu-cutter-0.1.0-1111111/src/cli/src/main.rs"),
                "// backdoor\n",
            )
        })?;
        let before = installed(&to)?;

        // With the original .sha256 beside it: refused before extraction.
        let err = refused(&packed.tarball, &to, Some(&before))?;
        assert!(err.contains("corrupt or was tampered with"), "{err}");

        // Without it: the inner manifest catches the change.
        fs::remove_file(&packed.sha256_file)?;
        let err = refused(&packed.tarball, &to, Some(&before))?;
        assert!(err.contains("modified: src/cli/src/main.rs"), "{err}");
        assert!(err.contains("refusing to deploy"), "{err}");
        Ok(())
    }

    #[test]
    fn an_added_or_removed_file_is_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (packed, to) = tampered(tmp.path(), false, &|root| {
            let top = root.join("iu-cutter-0.1.0-1111111");
            fs::remove_file(top.join("src/README.md"))?;
            write(&top.join("bin/helper"), "#!/bin/sh\n")
        })?;
        let before = installed(&to)?;
        let err = refused(&packed.tarball, &to, Some(&before))?;
        assert!(err.contains("missing: src/README.md"), "{err}");
        assert!(err.contains("extra: bin/helper"), "{err}");
        Ok(())
    }

    #[test]
    fn an_artifact_with_two_top_directories_is_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let (packed, to) = tampered(tmp.path(), false, &|root| {
            write(&root.join("elsewhere/x"), "x")
        })?;
        let err = refused(&packed.tarball, &to, None)?;
        assert!(err.contains("more than one top directory"), "{err}");
        Ok(())
    }

    #[test]
    fn a_failing_post_deploy_assertion_promotes_nothing() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let to = tmp.path().join("iu-cutter");
        let before = installed(&to)?;
        let json = |commit: &str, enabled: &str| {
            format!(
                r#"{{"version": "0.1.0", "commit": "{commit}", "execution_enabled_default": {enabled}, "live_wiring": "sqlite"}}"#
            )
        };
        let cases = [
            (
                "enabled",
                json(V1, "true"),
                0,
                "execution_enabled_default = true",
            ),
            (
                "absent",
                r#"{"commit": "x"}"#.to_string(),
                0,
                "execution_enabled_default = (absent)",
            ),
            (
                "wrong-commit",
                json(V2, "false"),
                0,
                "built from commit 2222222",
            ),
            (
                "not-json",
                "iu-cutter 0.1.0".to_string(),
                0,
                "did not print JSON",
            ),
            (
                "unhealthy",
                json(V1, "false"),
                3,
                "self-check` exited non-zero",
            ),
        ];
        for (name, version_json, self_check_exit, expected) in cases {
            let bin = fake_binary_script(&tmp.path().join(name), &version_json, self_check_exit)?;
            let packed = artifact(tmp.path(), &format!("{name}-artifact"), V1, &bin)?;
            let err = refused(&packed.tarball, &to, Some(&before))?;
            assert!(
                err.contains("post-deploy assertion failed"),
                "{name}: {err}"
            );
            assert!(err.contains(expected), "{name}: {err}");
        }
        Ok(())
    }

    #[test]
    fn a_program_that_writes_into_its_tree_is_refused() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let to = tmp.path().join("iu-cutter");
        let script_dir = tmp.path().join("writer");
        let bin = fake_binary(&script_dir, V1, false)?;
        let script = fs::read_to_string(&bin)?.replace(
            "self-check) exit 0",
            "self-check) mkdir -p .iu-cutter && : > .iu-cutter/db.sqlite; exit 0",
        );
        fs::write(&bin, script)?;
        let packed = artifact(tmp.path(), "writer-artifact", V1, &bin)?;
        let err = refused(&packed.tarball, &to, None)?;
        assert!(err.contains("after the post-deploy assertions"), "{err}");
        assert!(err.contains("extra: .iu-cutter/db.sqlite"), "{err}");
        Ok(())
    }

    #[test]
    fn rollback_restores_the_previous_tree_byte_for_byte_and_is_reversible() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let to = tmp.path().join("iu-cutter");
        let v0 = installed(&to)?;
        deploy_good(tmp.path(), &to, "v1", V1, 1_000)?;
        let v1 = snapshot(&to)?;
        deploy_good(tmp.path(), &to, "v2", V2, 2_000)?;
        let v2 = snapshot(&to)?;
        assert_ne!(v1, v2);

        let back = rollback(&to, at(3_000))?;
        assert_eq!(snapshot(&to)?, v1, "v1 is back, byte for byte");
        assert_eq!(
            back.verified.as_ref().map(|(c, n)| (c.as_str(), *n)),
            Some((V1, 9))
        );
        assert_eq!(
            back.restored_from,
            to.with_file_name("iu-cutter.previous-19700101T003320Z")
        );
        let kept = back.kept.ok_or("the replaced tree was not kept")?;
        assert_eq!(
            kept,
            to.with_file_name("iu-cutter.rolled-back-19700101T005000Z")
        );
        assert_eq!(snapshot(&kept)?, v2, "the rolled-back tree is kept intact");

        // Again: one release further back, to the hand-made tree (no manifest to verify).
        let back = rollback(&to, at(4_000))?;
        assert_eq!(snapshot(&to)?, v0);
        assert_eq!(back.verified, None);
        assert_eq!(
            siblings(&to)?,
            vec![
                "iu-cutter.rolled-back-19700101T005000Z",
                "iu-cutter.rolled-back-19700101T010640Z"
            ]
        );
        let err = expect_err(rollback(&to, at(5_000)))?;
        assert!(err.contains("nothing to roll back to"), "{err}");
        assert_eq!(snapshot(&to)?, v0);
        Ok(())
    }

    #[test]
    fn rollback_refuses_a_kept_copy_that_no_longer_matches_its_manifest() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let to = tmp.path().join("iu-cutter");
        deploy_good(tmp.path(), &to, "v1", V1, 1_000)?;
        deploy_good(tmp.path(), &to, "v2", V2, 2_000)?;
        let v2 = snapshot(&to)?;
        let kept = to.with_file_name("iu-cutter.previous-19700101T003320Z");
        write(&kept.join("src/README.md"), "edited in place\n")?;
        let err = expect_err(rollback(&to, at(3_000)))?;
        assert!(err.contains("modified: src/README.md"), "{err}");
        assert_eq!(snapshot(&to)?, v2, "nothing changed");
        Ok(())
    }
}
