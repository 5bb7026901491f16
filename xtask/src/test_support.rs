//! Helpers shared by the unit tests: files, fake program binaries, tree snapshots.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What every test returns.
pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Writes `body` to `path`, creating its parent directories.
pub(crate) fn write(path: &Path, body: &str) -> TestResult {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, body)?;
    Ok(())
}

/// A stand-in for the `iu-cutter` program, as `dir/iu-cutter`: `version --json` prints
/// `version_json`, `self-check` exits with `self_check_exit`, `completions SHELL` and `manpage`
/// print a line naming what they stand for.
pub(crate) fn fake_binary_script(
    dir: &Path,
    version_json: &str,
    self_check_exit: i32,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("iu-cutter");
    let script = format!(
        "#!/bin/sh\n\
         case \"$1\" in\n\
         \x20 version) cat <<'JSON'\n{version_json}\nJSON\n\
         \x20 ;;\n\
         \x20 self-check) exit {self_check_exit} ;;\n\
         \x20 completions) echo \"# completions for $2\" ;;\n\
         \x20 manpage) echo '.TH iu-cutter 1' ;;\n\
         \x20 *) echo \"unknown command $1\" >&2; exit 2 ;;\n\
         esac\n"
    );
    write(&path, &script)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))?;
    Ok(path)
}

/// A fake program honouring the contract for `commit`, healthy, with the given default.
pub(crate) fn fake_binary(
    dir: &Path,
    commit: &str,
    execution_enabled_default: bool,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let json = format!(
        r#"{{"version": "0.1.0", "commit": "{commit}", "execution_enabled_default": {execution_enabled_default}, "live_wiring": "sqlite"}}"#
    );
    fake_binary_script(dir, &json, 0)
}

/// Every file under `root` (recursively) with its bytes.
pub(crate) fn snapshot(
    root: &Path,
) -> Result<BTreeMap<String, Vec<u8>>, Box<dyn std::error::Error>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let rel = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type()?.is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
            } else {
                out.insert(rel, fs::read(entry.path())?);
            }
        }
    }
    Ok(out)
}

/// The member names of a `.tar.gz`, sorted (directories end with `/`).
pub(crate) fn list_tarball(tarball: &Path) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let output = Command::new("tar").arg("-tzf").arg(tarball).output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
    }
    let mut names: Vec<String> = String::from_utf8(output.stdout)?
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    Ok(names)
}
