//! `cargo xtask dist`: the release artifact.
//!
//! From a clean work tree only, `target/dist/` is cleaned, then filled with:
//!
//! - `iu-cutter-<version>-<shortsha>.tar.gz`, one top directory `iu-cutter-<version>-<shortsha>/`
//!   holding `src/` (`git archive HEAD`, filtered by [`excluded`]), `bin/iu-cutter` (the release
//!   build of the program) and [`MANIFEST_NAME`] (see [`crate::manifest`]);
//! - the same `DEPLOY-MANIFEST.txt` beside the tarball;
//! - `<tarball>.sha256`, in `sha256sum` format (`<hex>  <file name>`): the artifact's own digest,
//!   which cannot be inside it.
//!
//! The archive is built with the system `git`, `tar` (GNU: `--sort=name`, owner and group 0)
//! and `gzip -n`; xtask needs no archive crate.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cargo::stdout_or;
use crate::manifest::{self, MANIFEST_NAME};

/// What `dist` produced.
#[derive(Debug)]
pub(crate) struct Packed {
    /// `…/iu-cutter-<version>-<shortsha>.tar.gz`.
    pub(crate) tarball: PathBuf,
    /// The manifest beside the tarball.
    pub(crate) manifest: PathBuf,
    /// `<tarball>.sha256`.
    pub(crate) sha256_file: PathBuf,
    /// The tarball's sha256, lowercase hex.
    pub(crate) sha256: String,
    /// Files listed in the manifest (the binary and the sources).
    pub(crate) files: usize,
    /// Paths of the source tree left out, each with the rule that excluded it.
    pub(crate) left_out: Vec<(String, &'static str)>,
}

/// Directory names that are caches: never shipped.
const CACHE_DIRS: &[&str] = &[
    ".cache",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "node_modules",
];

/// What the program writes into the artifact about itself: its arguments and the file, under
/// the artifact's top directory, that receives its stdout (the layout packagers install under
/// `/usr/share`).
pub(crate) const GENERATED: [(&[&str], &str); 5] = [
    (
        &["completions", "bash"],
        "share/bash-completion/completions/iu-cutter",
    ),
    (
        &["completions", "zsh"],
        "share/zsh/site-functions/_iu-cutter",
    ),
    (
        &["completions", "fish"],
        "share/fish/vendor_completions.d/iu-cutter.fish",
    ),
    (
        &["completions", "powershell"],
        "share/powershell/iu-cutter.ps1",
    ),
    (&["manpage"], "share/man/man1/iu-cutter.1"),
];

/// Runs `binary` for each of [`GENERATED`] and writes its output under `top`.
fn generate_share(binary: &Path, top: &Path) -> Result<(), String> {
    for (args, rel) in GENERATED {
        let shown = format!("bin/iu-cutter {}", args.join(" "));
        let output = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        if !output.status.success() || output.stdout.is_empty() {
            return Err(format!(
                "`{shown}` failed ({}) or printed nothing: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let path = top.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        fs::write(&path, &output.stdout)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Why a source entry named `name` never enters the artifact, or `None` when it may.
///
/// Applied to every path component, so an excluded directory takes its contents with it, and
/// applied after `git archive`, so a file is left out even if someone committed it.
pub(crate) fn excluded(name: &str) -> Option<&'static str> {
    if name == ".git" {
        Some(".git")
    } else if name == ".env" || name.starts_with(".env.") {
        Some(".env")
    } else if name.ends_with(".pem") {
        Some("*.pem")
    } else if name.ends_with(".key") {
        Some("*.key")
    } else if name.starts_with("id_") {
        Some("id_*")
    } else if name == ".iu-cutter" {
        Some(".iu-cutter/")
    } else if name == "target" {
        Some("target/")
    } else if name.contains(".sqlite") {
        Some("*.sqlite*")
    } else if CACHE_DIRS.contains(&name) {
        Some("cache")
    } else {
        None
    }
}

/// `cargo xtask dist` in the workspace at `root`: refuses a dirty tree, builds the release
/// binary with cargo, packs.
pub(crate) fn run(root: &Path) -> Result<Packed, String> {
    dist(root, &cargo_build_release)
}

/// The whole of `dist` with the build step as a parameter (the tests pass a fake one).
pub(crate) fn dist(
    root: &Path,
    build: &dyn Fn(&Path) -> Result<PathBuf, String>,
) -> Result<Packed, String> {
    ensure_clean(root)?;
    let cargo_toml = root.join("Cargo.toml");
    let text = fs::read_to_string(&cargo_toml)
        .map_err(|e| format!("cannot read {}: {e}", cargo_toml.display()))?;
    let version = workspace_version(&text).ok_or_else(|| {
        format!(
            "{}: no `version` in [workspace.package]",
            cargo_toml.display()
        )
    })?;
    let commit = git(root, &["rev-parse", "--verify", "HEAD"])?;
    let binary = build(root)?;
    // The build must not have changed the tree (an outdated Cargo.lock, a generated file).
    ensure_clean(root)?;

    let work = root.join("target").join("dist-src");
    remove_dir_if_exists(&work)?;
    let tree = work.join("tree");
    fs::create_dir_all(&tree).map_err(|e| format!("cannot create {}: {e}", tree.display()))?;
    let packed = (|| {
        let src_tar = work.join("src.tar");
        git(
            root,
            &[
                "archive",
                "--format=tar",
                "-o",
                &path_str(&src_tar)?,
                "HEAD",
            ],
        )?;
        run_tool(
            Command::new("tar")
                .arg("-xf")
                .arg(&src_tar)
                .arg("-C")
                .arg(&tree),
        )?;
        pack(
            &tree,
            &binary,
            &root.join("target").join("dist"),
            &version,
            &commit,
        )
    })();
    let cleanup = remove_dir_if_exists(&work);
    let packed = packed?;
    cleanup?;
    Ok(packed)
}

/// Refuses a work tree with any change or untracked file (`git status --porcelain`), naming
/// them. Ignored files (`target/`, `.env`) do not count: they never enter `git archive`.
pub(crate) fn ensure_clean(repo: &Path) -> Result<(), String> {
    let status = git(repo, &["status", "--porcelain", "--untracked-files=all"])?;
    if status.is_empty() {
        return Ok(());
    }
    let files: Vec<String> = status.lines().map(|l| format!("  {l}")).collect();
    Err(format!(
        "the work tree of {} is not clean; a release is built from a commit only. Commit or \
         stash these files, then rerun `cargo xtask dist`:\n{}",
        repo.display(),
        files.join("\n")
    ))
}

/// The `version` of `[workspace.package]` in the text of a workspace `Cargo.toml`.
pub(crate) fn workspace_version(cargo_toml: &str) -> Option<String> {
    let mut in_section = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "version"
        {
            let value = value.split('#').next().unwrap_or_default().trim();
            return value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .map(str::to_string);
        }
    }
    None
}

/// Packs `src_tree` (filtered by [`excluded`]) and `binary` into `out_dir`, which is removed
/// and recreated first. Writes the tarball, its `.sha256` and the manifest beside it.
pub(crate) fn pack(
    src_tree: &Path,
    binary: &Path,
    out_dir: &Path,
    version: &str,
    commit: &str,
) -> Result<Packed, String> {
    if version.is_empty()
        || !version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    {
        return Err(format!(
            "`{version}` is not a usable version for a file name"
        ));
    }
    if commit.len() < 7 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("`{commit}` is not a full commit sha"));
    }
    if !binary.is_file() {
        return Err(format!(
            "the program binary {} does not exist",
            binary.display()
        ));
    }
    let name = format!("iu-cutter-{version}-{}", &commit[..7]);

    remove_dir_if_exists(out_dir)?;
    let top = out_dir.join(&name);
    let src = top.join("src");
    let bin = top.join("bin");
    for dir in [&src, &bin] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut left_out = Vec::new();
    copy_filtered(src_tree, &src, "", &mut left_out)?;
    let bin_file = bin.join("iu-cutter");
    fs::copy(binary, &bin_file)
        .map_err(|e| format!("cannot copy {} into the artifact: {e}", binary.display()))?;
    make_executable(&bin_file)?;
    generate_share(&bin_file, &top)?;

    let manifest = manifest::build(&top, version, commit)?;
    let text = manifest.render();
    let manifest_path = out_dir.join(MANIFEST_NAME);
    for path in [top.join(MANIFEST_NAME), manifest_path.clone()] {
        fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }

    let tar_path = out_dir.join(format!("{name}.tar"));
    run_tool(
        Command::new("tar")
            .args([
                "--sort=name",
                "--owner=0",
                "--group=0",
                "--numeric-owner",
                "-cf",
            ])
            .arg(&tar_path)
            .arg("-C")
            .arg(out_dir)
            .arg(&name),
    )?;
    run_tool(Command::new("gzip").args(["-n", "-f"]).arg(&tar_path))?;
    remove_dir_if_exists(&top)?;

    let tarball = out_dir.join(format!("{name}.tar.gz"));
    let sha256 = manifest::sha256_file(&tarball)?;
    let sha256_file = out_dir.join(format!("{name}.tar.gz.sha256"));
    fs::write(&sha256_file, format!("{sha256}  {name}.tar.gz\n"))
        .map_err(|e| format!("cannot write {}: {e}", sha256_file.display()))?;
    Ok(Packed {
        tarball,
        manifest: manifest_path,
        sha256_file,
        sha256,
        files: manifest.files.len(),
        left_out,
    })
}

fn copy_filtered(
    from: &Path,
    to: &Path,
    prefix: &str,
    left_out: &mut Vec<(String, &'static str)>,
) -> Result<(), String> {
    let mut entries = fs::read_dir(from)
        .map_err(|e| format!("cannot list {}: {e}", from.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot list {}: {e}", from.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{}: the name {n:?} is not UTF-8", from.display()))?;
        let rel = format!("{prefix}{name}");
        if let Some(rule) = excluded(&name) {
            left_out.push((rel, rule));
            continue;
        }
        let kind = entry
            .file_type()
            .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?;
        let target = to.join(&name);
        if kind.is_dir() {
            fs::create_dir(&target)
                .map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            copy_filtered(&entry.path(), &target, &format!("{rel}/"), left_out)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)
                .map_err(|e| format!("cannot copy {}: {e}", entry.path().display()))?;
        } else {
            return Err(format!(
                "`{rel}` is a symbolic link or special file; the artifact carries only files. \
                 Replace it with a file, or mark it `export-ignore` in .gitattributes"
            ));
        }
    }
    Ok(())
}

fn cargo_build_release(root: &Path) -> Result<PathBuf, String> {
    let args = [
        "build",
        "--release",
        "--locked",
        "-p",
        "iu-cutter",
        "--bin",
        "iu-cutter",
        "--message-format=json-render-diagnostics",
    ];
    eprintln!("xtask: cargo {}", args.join(" "));
    let output = Command::new(crate::cargo::bin())
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "the release build of the program failed ({}): `cargo {}`. The `iu-cutter` binary of \
             package iu-cutter must build (with the committed Cargo.lock) before a \
             release; fix the build, commit, and rerun `cargo xtask dist`",
            output.status,
            args.join(" ")
        ));
    }
    // The artifact message names the executable, wherever the target directory is.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "iu-cutter")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo built no `iu-cutter` executable".to_string())
}

pub(crate) fn git(repo: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let failed = format!("`git {}` in {} failed", args.join(" "), repo.display());
    let stdout = stdout_or(&output, failed)?;
    Ok(stdout.trim_end().to_string())
}

/// Runs a system tool, its stderr in the error.
pub(crate) fn run_tool(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    stdout_or(&output, format!("{shown} failed ({})", output.status))
}

pub(crate) fn remove_dir_if_exists(dir: &Path) -> Result<(), String> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

fn path_str(path: &Path) -> Result<String, String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::test_support::{TestResult, fake_binary, list_tarball, write};

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    /// Files that must never ship, whether present on disk or committed.
    const SECRETS: &[&str] = &[
        ".env",
        ".env.production",
        "config/.env",
        "certs/server.pem",
        "certs/tls.key",
        "home/.ssh/id_ed25519",
        "home/.ssh/id_rsa.pub",
        ".iu-cutter/state.json",
        "target/release/iu-cutter",
        "phases/backup/target/x",
        "data/store.sqlite",
        "data/store.sqlite-wal",
        "data/store.sqlite3",
        "__pycache__/a.pyc",
        ".cache/b",
        ".git/config",
    ];

    fn secret_free(paths: &[String]) {
        for path in paths {
            let rel = path.split_once("/src/").map_or(path.as_str(), |(_, r)| r);
            assert!(
                !SECRETS
                    .iter()
                    .any(|s| rel == *s || rel.starts_with(&format!("{s}/"))),
                "{path} entered the artifact"
            );
            assert!(
                !rel.split('/').any(|part| excluded(part).is_some()),
                "{path} entered the artifact"
            );
        }
    }

    /// The files (not directories) `packed` holds, sorted, after checking none is a secret.
    fn shipped_files(packed: &Packed) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let files: Vec<String> = list_tarball(&packed.tarball)?
            .into_iter()
            .filter(|p| !p.ends_with('/'))
            .collect();
        secret_free(&files);
        Ok(files)
    }

    /// Every file of a release under its top directory `top`, sorted: the manifest, the binary,
    /// its shell completions and man page, then `sources` under `src/`.
    fn release_files(top: &str, sources: &[&str]) -> Vec<String> {
        [
            "DEPLOY-MANIFEST.txt",
            "bin/iu-cutter",
            "share/bash-completion/completions/iu-cutter",
            "share/fish/vendor_completions.d/iu-cutter.fish",
            "share/man/man1/iu-cutter.1",
            "share/powershell/iu-cutter.ps1",
            "share/zsh/site-functions/_iu-cutter",
        ]
        .iter()
        .map(|file| format!("{top}/{file}"))
        .chain(sources.iter().map(|file| format!("{top}/src/{file}")))
        .collect()
    }

    #[test]
    fn secrets_and_build_output_never_enter_the_artifact() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let src = tmp.path().join("src");
        for rel in SECRETS {
            write(&src.join(rel), "secret")?;
        }
        write(&src.join("Cargo.toml"), "[workspace]\n")?;
        write(
            &src.join("config/example.toml"),
            "execution_enabled = false\n",
        )?;
        let binary = fake_binary(tmp.path(), COMMIT, false)?;
        let out = tmp.path().join("dist");
        let packed = pack(&src, &binary, &out, "0.1.0", COMMIT)?;

        let top = "iu-cutter-0.1.0-0123456";
        assert_eq!(packed.tarball, out.join(format!("{top}.tar.gz")));
        assert_eq!(
            shipped_files(&packed)?,
            release_files(top, &["Cargo.toml", "config/example.toml"])
        );
        let manifest = fs::read_to_string(&packed.manifest)?;
        assert!(!manifest.contains("secret") && !manifest.contains(".env"));
        assert!(
            manifest.contains("share/man/man1/iu-cutter.1"),
            "{manifest}"
        );
        assert_eq!(packed.files, 8);
        let mut rules: Vec<&str> = packed.left_out.iter().map(|(_, rule)| *rule).collect();
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(
            rules,
            vec![
                "*.key",
                "*.pem",
                "*.sqlite*",
                ".env",
                ".git",
                ".iu-cutter/",
                "cache",
                "id_*",
                "target/"
            ]
        );

        let sidecar = fs::read_to_string(&packed.sha256_file)?;
        assert_eq!(sidecar, format!("{}  {top}.tar.gz\n", packed.sha256));
        assert_eq!(packed.sha256, manifest::sha256_file(&packed.tarball)?);
        Ok(())
    }

    #[test]
    fn pack_cleans_the_output_directory_first() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let src = tmp.path().join("src");
        write(&src.join("a"), "a")?;
        let out = tmp.path().join("dist");
        write(&out.join("stale.tar.gz"), "old")?;
        let binary = fake_binary(tmp.path(), COMMIT, false)?;
        pack(&src, &binary, &out, "0.1.0", COMMIT)?;
        assert!(!out.join("stale.tar.gz").exists());
        let mut names: Vec<String> = fs::read_dir(&out)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        assert_eq!(
            names,
            vec![
                "DEPLOY-MANIFEST.txt",
                "iu-cutter-0.1.0-0123456.tar.gz",
                "iu-cutter-0.1.0-0123456.tar.gz.sha256"
            ]
        );
        Ok(())
    }

    #[test]
    fn workspace_version_reads_the_workspace_package_section() {
        let text = "[package]\nversion = \"9.9.9\"\n[workspace.package]\nedition = \"2024\"\n\
                    version = \"0.3.1\" # bumped\n[workspace.dependencies]\nversion = \"1\"\n";
        assert_eq!(workspace_version(text).as_deref(), Some("0.3.1"));
        assert_eq!(workspace_version("[workspace]\n"), None);
    }

    fn git_in(repo: &Path, args: &[&str]) -> Result<String, String> {
        let mut full = vec![
            "-c",
            "user.name=xtask test",
            "-c",
            "user.email=xtask@example.invalid",
            "-c",
            "commit.gpgsign=false",
        ];
        full.extend_from_slice(args);
        git(repo, &full)
    }

    /// A committed repository that (wrongly) tracks a `.env` and a key.
    fn repo_with_secrets() -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
        let repo = tempfile::tempdir()?;
        let root = repo.path();
        git_in(root, &["init", "-q"])?;
        write(
            &root.join("Cargo.toml"),
            "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.2.0\"\n",
        )?;
        write(&root.join("src/lib.rs"), "//! lib\n")?;
        write(&root.join(".gitignore"), "/target\n")?;
        write(&root.join(".env"), "DATABASE_URL=postgres://secret\n")?;
        write(&root.join("deploy/id_ed25519"), "PRIVATE KEY\n")?;
        git_in(root, &["add", "-A", "-f"])?;
        git_in(root, &["commit", "-q", "-m", "initial"])?;
        Ok(repo)
    }

    #[test]
    fn dist_refuses_a_dirty_tree_naming_the_files() -> TestResult {
        let repo = repo_with_secrets()?;
        let root = repo.path();
        ensure_clean(root)?;
        write(&root.join("src/lib.rs"), "//! changed\n")?;
        write(&root.join("notes/new.txt"), "untracked\n")?;
        let built = std::cell::Cell::new(false);
        let err = match dist(root, &|_| {
            built.set(true);
            Err("must not build".into())
        }) {
            Ok(_) => return Err("a dirty tree was packed".into()),
            Err(e) => e,
        };
        assert!(err.contains("not clean"), "{err}");
        assert!(err.contains(" M src/lib.rs"), "{err}");
        assert!(err.contains("?? notes/new.txt"), "{err}");
        assert!(!built.get(), "the build ran before the cleanliness check");
        assert!(!root.join("target/dist").exists());
        Ok(())
    }

    #[test]
    fn dist_packs_head_and_filters_even_tracked_secrets() -> TestResult {
        let repo = repo_with_secrets()?;
        let root = repo.path();
        let head = git(root, &["rev-parse", "HEAD"])?;
        // Present on disk but ignored: must not matter.
        write(&root.join("target/debug/junk"), "junk")?;
        let bin_dir = tempfile::tempdir()?;
        let binary = fake_binary(bin_dir.path(), &head, false)?;
        let packed = dist(root, &|_| Ok(binary.clone()))?;

        let top = format!("iu-cutter-0.2.0-{}", &head[..7]);
        assert_eq!(
            packed.tarball,
            root.join("target/dist").join(format!("{top}.tar.gz"))
        );
        assert_eq!(
            shipped_files(&packed)?,
            release_files(&top, &[".gitignore", "Cargo.toml", "src/lib.rs"])
        );
        let manifest = manifest::Manifest::read(&packed.manifest)?;
        assert_eq!(manifest.commit, head);
        assert_eq!(manifest.version, "0.2.0");
        assert!(
            !root.join("target/dist-src").exists(),
            "work directory left behind"
        );
        Ok(())
    }
}
