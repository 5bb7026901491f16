//! The deploy manifest: the sha256 of every file of a release tree, and the check of a tree
//! against it (`cargo xtask verify-manifest`).
//!
//! Format (UTF-8 text, `\n` line ends):
//!
//! ```text
//! # iu-cutter deploy manifest
//! version: 0.1.0
//! commit: 0123456789abcdef0123456789abcdef01234567
//! sha256  <64 lowercase hex>  bin/iu-cutter
//! sha256  <64 lowercase hex>  src/Cargo.toml
//! ```
//!
//! One `sha256` line per regular file, sorted by path; paths are relative to the release tree's
//! top directory, `/`-separated, and never contain `..`. The manifest does not list itself
//! ([`MANIFEST_NAME`] at the top of the tree is skipped by [`build`] and [`verify`]).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The manifest's file name, at the top of a release tree and beside the tarball.
pub(crate) const MANIFEST_NAME: &str = "DEPLOY-MANIFEST.txt";

const HEADER: &str = "# iu-cutter deploy manifest";

/// A parsed or freshly built manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The workspace version the tree was built from.
    pub(crate) version: String,
    /// The full commit sha the tree was built from.
    pub(crate) commit: String,
    /// Relative path → lowercase hex sha256, sorted by path.
    pub(crate) files: BTreeMap<String, String>,
}

/// How a tree differs from a manifest. Every list is sorted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Diff {
    /// In the manifest, absent from the tree.
    pub(crate) missing: Vec<String>,
    /// In the tree, absent from the manifest.
    pub(crate) extra: Vec<String>,
    /// In both, with different content (or not a regular file in the tree).
    pub(crate) modified: Vec<String>,
    /// Files whose content matches.
    pub(crate) matched: usize,
}

impl Diff {
    /// True when the tree matches the manifest exactly.
    pub(crate) fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.modified.is_empty()
    }

    /// How many files differ.
    pub(crate) fn count(&self) -> usize {
        self.missing.len() + self.extra.len() + self.modified.len()
    }
}

impl fmt::Display for Diff {
    /// One line per difference (`missing: p`, `extra: p`, `modified: p`), or `ok: N files match`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_clean() {
            return writeln!(f, "ok: {} files match", self.matched);
        }
        for path in &self.missing {
            writeln!(f, "missing: {path}")?;
        }
        for path in &self.extra {
            writeln!(f, "extra: {path}")?;
        }
        for path in &self.modified {
            writeln!(f, "modified: {path}")?;
        }
        Ok(())
    }
}

impl Manifest {
    /// The manifest as text, in the format of the module documentation.
    pub(crate) fn render(&self) -> String {
        let mut out = format!(
            "{HEADER}\nversion: {}\ncommit: {}\n",
            self.version, self.commit
        );
        for (path, hex) in &self.files {
            out.push_str(&format!("sha256  {hex}  {path}\n"));
        }
        out
    }

    /// Parses the text of a manifest; any line out of format is an error naming its number.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().enumerate();
        let bad = |n: usize, why: &str| format!("manifest line {}: {why}", n + 1);
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(format!("manifest line 1: expected `{HEADER}`")),
        }
        let mut field = |name: &str| -> Result<String, String> {
            match lines.next() {
                Some((n, line)) => line
                    .strip_prefix(&format!("{name}: "))
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| v.trim().to_string())
                    .ok_or_else(|| bad(n, &format!("expected `{name}: …`"))),
                None => Err(format!("manifest ends before its `{name}:` line")),
            }
        };
        let version = field("version")?;
        let commit = field("commit")?;
        let mut files = BTreeMap::new();
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            let rest = line
                .strip_prefix("sha256  ")
                .ok_or_else(|| bad(n, "expected `sha256  <hex>  <path>`"))?;
            let (hex, path) = rest
                .split_once("  ")
                .ok_or_else(|| bad(n, "expected `sha256  <hex>  <path>`"))?;
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad(n, "the sha256 is not 64 lowercase hex digits"));
            }
            check_relative(path).map_err(|why| bad(n, &why))?;
            if path == MANIFEST_NAME {
                return Err(bad(n, "the manifest cannot list itself"));
            }
            if files.insert(path.to_string(), hex.to_string()).is_some() {
                return Err(bad(n, &format!("`{path}` is listed twice")));
            }
        }
        Ok(Self {
            version,
            commit,
            files,
        })
    }

    /// Reads and parses a manifest file.
    pub(crate) fn read(path: &Path) -> Result<Self, String> {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read the manifest {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The manifest of every regular file under `tree` (except a top-level [`MANIFEST_NAME`]).
/// Symbolic links and other special files are refused: a release tree holds none.
pub(crate) fn build(tree: &Path, version: &str, commit: &str) -> Result<Manifest, String> {
    let mut files = BTreeMap::new();
    for (path, entry) in walk(tree)? {
        match entry {
            Entry::File(hex) => {
                files.insert(path, hex);
            }
            Entry::Special => {
                return Err(format!(
                    "{}: `{path}` is not a regular file or directory; a release tree holds only \
                     files and directories",
                    tree.display()
                ));
            }
        }
    }
    Ok(Manifest {
        version: version.to_string(),
        commit: commit.to_string(),
        files,
    })
}

/// Compares `tree` with `manifest`: exactly the missing, extra and modified files.
pub(crate) fn verify(manifest: &Manifest, tree: &Path) -> Result<Diff, String> {
    if !tree.is_dir() {
        return Err(format!("{} is not a directory", tree.display()));
    }
    let found = walk(tree)?;
    let mut diff = Diff::default();
    for (path, expected) in &manifest.files {
        match found.get(path) {
            None => diff.missing.push(path.clone()),
            Some(Entry::File(hex)) if hex == expected => diff.matched += 1,
            Some(_) => diff.modified.push(path.clone()),
        }
    }
    diff.extra = found
        .keys()
        .filter(|path| !manifest.files.contains_key(*path))
        .cloned()
        .collect();
    Ok(diff)
}

/// The lowercase hex sha256 of a file's bytes.
pub(crate) fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file =
        fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A relative manifest path is non-empty, `/`-separated, and has no empty, `.` or `..` part.
fn check_relative(path: &str) -> Result<(), String> {
    if path.is_empty() || path.starts_with('/') || path.contains('\\') {
        return Err(format!("`{path}` is not a relative `/`-separated path"));
    }
    if path.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Err(format!("`{path}` has an empty, `.` or `..` component"));
    }
    Ok(())
}

enum Entry {
    /// A regular file and its sha256.
    File(String),
    /// A symbolic link, socket, device…: never part of a release tree.
    Special,
}

/// Every non-directory entry under `root`, by relative `/`-separated path. Symbolic links are
/// not followed.
fn walk(root: &Path) -> Result<BTreeMap<String, Entry>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries =
            fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
            let name = entry
                .file_name()
                .into_string()
                .map_err(|name| format!("{}: the name {name:?} is not UTF-8", dir.display()))?;
            let rel = format!("{prefix}{name}");
            if rel == MANIFEST_NAME {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?;
            if kind.is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
            } else if kind.is_file() {
                out.insert(rel, Entry::File(sha256_file(&entry.path())?));
            } else {
                out.insert(rel, Entry::Special);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn write(root: &Path, rel: &str, body: &str) -> TestResult {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(path, body)?;
        Ok(())
    }

    #[test]
    fn render_then_parse_round_trips_and_is_sorted() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(dir.path(), "src/b.rs", "b")?;
        write(dir.path(), "src/a.rs", "a")?;
        write(dir.path(), "bin/iu-cutter", "#!/bin/sh\n")?;
        write(dir.path(), MANIFEST_NAME, "ignored")?;
        let manifest = build(dir.path(), "0.1.0", "abc1234")?;
        let text = manifest.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "# iu-cutter deploy manifest");
        assert_eq!(lines[1], "version: 0.1.0");
        assert_eq!(lines[2], "commit: abc1234");
        assert_eq!(
            lines.len(),
            6,
            "three files, the manifest itself not listed"
        );
        assert!(lines[3].ends_with("  bin/iu-cutter"));
        assert!(lines[4].ends_with("  src/a.rs"));
        assert!(lines[5].starts_with(
            "sha256  3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  src/b.rs"
        ));
        assert_eq!(Manifest::parse(&text)?, manifest);
        Ok(())
    }

    #[test]
    fn parse_refuses_paths_that_leave_the_tree() {
        let hex = "0".repeat(64);
        for path in [
            "../etc/passwd",
            "/etc/passwd",
            "a//b",
            "a/./b",
            MANIFEST_NAME,
        ] {
            let text = format!("{HEADER}\nversion: 1\ncommit: c\nsha256  {hex}  {path}\n");
            assert!(Manifest::parse(&text).is_err(), "{path} accepted");
        }
        assert!(Manifest::parse("version: 1\n").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn verify_reports_exactly_the_missing_extra_and_modified_files() -> TestResult {
        let dir = tempfile::tempdir()?;
        for (rel, body) in [("a", "1"), ("d/b", "2"), ("d/c", "3"), ("e", "4")] {
            write(dir.path(), rel, body)?;
        }
        let manifest = build(dir.path(), "0.1.0", "c")?;
        assert_eq!(
            verify(&manifest, dir.path())?.to_string(),
            "ok: 4 files match\n"
        );

        fs::remove_file(dir.path().join("d/b"))?;
        write(dir.path(), "d/new", "5")?;
        write(dir.path(), "e", "4 changed")?;
        std::os::unix::fs::symlink("a", dir.path().join("d/c.tmp"))?;
        fs::remove_file(dir.path().join("d/c"))?;
        std::os::unix::fs::symlink("a", dir.path().join("d/c"))?;

        let diff = verify(&manifest, dir.path())?;
        assert!(!diff.is_clean());
        assert_eq!(diff.missing, vec!["d/b"]);
        assert_eq!(diff.extra, vec!["d/c.tmp", "d/new"]);
        assert_eq!(
            diff.modified,
            vec!["d/c", "e"],
            "a symlink never matches a file"
        );
        assert_eq!(diff.matched, 1);
        assert_eq!(
            diff.to_string(),
            "missing: d/b\nextra: d/c.tmp\nextra: d/new\nmodified: d/c\nmodified: e\n"
        );
        Ok(())
    }
}
