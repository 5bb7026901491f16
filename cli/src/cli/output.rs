//! Printing: tables, reports, and where the report was written.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use iu_cutter_orchestrator::{CensusSummary, DocumentId, Outcome, PhaseEntryStatus, RunReport};

use crate::cli::error::CliError;

/// `1.2 KiB`, `980 B`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// The first 12 characters of a hash.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A census's counts: `N documents, M units`.
pub(crate) fn census_counts(documents: u64, units: u64) -> String {
    format!("{documents} documents, {units} units")
}

/// Shortens values that look like sha256 hex.
fn shorten_value(value: &str) -> String {
    if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        format!("{}…", short(value))
    } else {
        value.to_owned()
    }
}

/// Prints `value` as pretty JSON on stdout: the command's one JSON document.
pub(crate) fn print_json(value: &impl serde::Serialize) {
    out_json!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints rows as left-aligned columns.
pub(crate) fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.into_iter().collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::from(" ");
        for (i, cell) in cells.iter().enumerate() {
            out.push(' ');
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 1));
            }
        }
        out!("{}", out.trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A journaled run status as the outcomes spell it (`PASS`, `ROLLED_BACK`, …).
pub(crate) fn run_status_name(status: iu_cutter_live_execution::RunStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{status:?}"))
}

/// The evidence as `key=value` pairs, hashes shortened.
pub(crate) fn evidence_line(evidence: &iu_cutter_live_execution::Evidence) -> String {
    evidence
        .iter()
        .map(|(k, v)| format!("{k}={}", shorten_value(&v.to_string())))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the closing census says happened meanwhile, as a suffix of the census line: documents
/// outside the scope that changed, documents new under the scope that the run did not cut, and
/// documents of the scope deleted meanwhile.
fn meanwhile(after: &CensusSummary) -> String {
    let listed = |ids: &[DocumentId]| {
        ids.iter()
            .map(|id| id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut said = String::new();
    if let Some(count @ 1..) = after.changed_outside_scope {
        said.push_str(&format!(
            "; {count} document(s) outside the scope changed meanwhile: {}",
            listed(&after.changed_outside_scope_sample)
        ));
    }
    if let Some(count @ 1..) = after.appeared_in_scope {
        said.push_str(&format!(
            "; {count} document(s) new under the scope meanwhile, not cut by this run (run \
             again to cut them): {}",
            listed(&after.appeared_in_scope_sample)
        ));
    }
    if let Some(count @ 1..) = after.gone_from_scope {
        said.push_str(&format!(
            "; {count} document(s) of the scope deleted meanwhile: {}",
            listed(&after.gone_from_scope_sample)
        ));
    }
    said
}

/// Prints a report: the outcome, the phase table, notes, and where the report is.
pub(crate) fn print_report(report: &RunReport, written: Option<&ReportFiles>) {
    let adapter = &report.adapter;
    out!(
        "{} {} on {} ({}), {} mode",
        report.command.name(),
        report.run,
        adapter.kind,
        adapter.location,
        report.mode
    );
    let held = report
        .held_after
        .as_deref()
        .map(|phase| format!(" (held after {phase})"))
        .unwrap_or_default();
    out!("outcome: {}{held}", report.outcome.name());
    table(
        &["phase", "status", "time", "evidence"],
        report.phases.iter().map(|p| {
            let mut evidence = evidence_line(&p.evidence);
            if let Some(detail) = &p.detail
                && p.status != PhaseEntryStatus::Done
            {
                if !evidence.is_empty() {
                    evidence.push_str("; ");
                }
                evidence.push_str(detail);
            }
            vec![
                p.name.clone(),
                p.status.name().to_owned(),
                p.duration_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default(),
                evidence,
            ]
        }),
    );
    if let Some(units) = planned_units(report) {
        out!("units: {units}");
    }
    if let Some(chosen) = cut_evidence(report, "presets_chosen") {
        out!("presets chosen (auto): {chosen}");
    }
    if let Some(documents) = cut_evidence(report, "unstructured_documents") {
        eprintln!("{}", unstructured_warning(&documents));
    }
    if let (Some(before), Some(after)) = (&report.census_before, &report.census_after) {
        out!(
            "scope census ({}): {} ({}…) -> {} ({}…){}",
            adapter.kind,
            census_counts(before.documents, before.units),
            short(&before.fingerprint),
            census_counts(after.documents, after.units),
            short(&after.fingerprint),
            meanwhile(after)
        );
    }
    if let Some(check) = &report.rollback {
        out!(
            "rollback check: {} document(s) restored from backup {}…; census matches backup: {}; \
             scope fingerprint matches pre-run and nothing outside it changed: {}",
            check.restored_documents,
            short(&check.backup_sha256),
            check.census_matches_backup,
            check.fingerprint_matches_pre_run
        );
    }
    for note in &report.notes {
        out!("note: {note}");
    }
    match written {
        Some(files) => {
            out!("report: {}", files.json.display());
            out!("report (markdown): {}", files.markdown.display());
        }
        None => out!("report: not written"),
    }
}

/// The units the run planned, from the cut-leg-a evidence.
/// A piece of cut-leg-a's evidence, from whichever phase recorded it.
fn cut_evidence(report: &RunReport, key: &str) -> Option<String> {
    report
        .phases
        .iter()
        .find_map(|p| p.evidence.get(key).map(ToString::to_string))
}

/// The warning for documents that yield only a preamble unit (`documents`: their names, joined).
pub(crate) fn unstructured_warning(documents: &str) -> String {
    format!(
        "warning: only a preamble unit, no structure recognised, in documents larger than {} KB: \
         {documents}; if they have structure, set [rules] preset (or levels) to match it \
         (iu-cutter plan previews the cut)",
        iu_cutter_phase_cut_leg_a::UNSTRUCTURED_WARNING_BYTES / 1024
    )
}

fn planned_units(report: &RunReport) -> Option<String> {
    report
        .phases
        .iter()
        .find_map(|p| p.evidence.get("units_planned").map(ToString::to_string))
}

/// The command's result for a report's outcome.
pub(crate) fn outcome_result(report: &RunReport) -> Result<(), CliError> {
    result_of(&report.outcome)
}

/// The command's result for an outcome.
pub(crate) fn result_of(outcome: &Outcome) -> Result<(), CliError> {
    match outcome {
        Outcome::Pass | Outcome::RolledBack => Ok(()),
        Outcome::Refused {
            reason,
            switch,
            next,
            ..
        } => Err(CliError::Refused {
            reason: reason.clone(),
            switch: switch.clone(),
            how_to_open: super::next::render(next),
        }),
        Outcome::Blocked { gap } => Err(CliError::Blocked {
            gap: Box::new(gap.clone()),
        }),
        Outcome::Failed {
            error,
            resume_from,
            next,
        } => Err(CliError::failed(
            match resume_from {
                Some(phase) => format!("{error} (resume starts at phase {phase})"),
                None => error.clone(),
            },
            super::next::render(next),
        )),
    }
}

/// A file name safe for a run id (the runner's ids are already restricted; this is a guard).
fn file_stem(run: &str) -> String {
    run.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a report's two files went.
#[derive(Clone, Debug)]
pub(crate) struct ReportFiles {
    /// The JSON.
    pub(crate) json: PathBuf,
    /// The Markdown.
    pub(crate) markdown: PathBuf,
}

/// The stems one invocation's report files may take, in order: `dir/<run>`, then
/// `dir/<run>.<command>-<stamp>`, then `-2`, `-3` … of that.
fn report_stems<'a>(dir: &'a Path, run: &str, command: &str) -> impl Iterator<Item = PathBuf> + 'a {
    let stem = file_stem(run);
    let base = format!("{stem}.{command}-{}", crate::cli::timestamp());
    std::iter::once(dir.join(stem))
        .chain(std::iter::once(dir.join(&base)))
        .chain((2_u64..).map(move |n| dir.join(format!("{base}-{n}"))))
}

/// `stem` with `.ext` appended (run ids may hold dots, so never `with_extension`).
fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    PathBuf::from(format!("{}.{ext}", stem.display()))
}

/// A temporary name beside `path` that no other writer uses (this process, this call): two
/// invocations writing reports of one run at once each write their own.
fn own_temporary(path: &Path) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    PathBuf::from(format!(
        "{}.{}-{call}.tmp",
        path.display(),
        std::process::id()
    ))
}

/// Writes `text`, and a final newline, to a new private file `path`, synced.
/// Reports are private to the owner, like backups: mode 0600 in a 0700 directory, whatever the
/// umask (they name documents, the store's location and the operator).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = iu_cutter_phase_core::create_private_file(path)?;
    file.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    file.sync_all()
}

/// Writes `text` to `path` whole, only if no file is there: `AlreadyExists` otherwise, and
/// the file there is left as it is. A name checked free and then renamed over could be taken
/// by another invocation in between, and its report replaced.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = own_temporary(path);
    write_private(&tmp, text)?;
    // A hard link is made only where nothing is: the whole file appears at once, or not at all.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            // A file system without hard links: take the name by creating it, then fill it.
            fill_new(path, |file| {
                file.write_all(text.as_bytes())?;
                if !text.ends_with('\n') {
                    file.write_all(b"\n")?;
                }
                file.sync_all()
            })
        }
        other => other,
    }
}

/// Creates `path` where nothing is and fills it with `fill`; a fill that fails removes the
/// file it created, so that no partial report stays under the name.
fn fill_new(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    fill(&mut file).inspect_err(|_| {
        drop(file);
        let _ = std::fs::remove_file(path);
    })
}

/// Writes each `(suffix, text)` of `files` as `<stem>.<suffix>` under the first of `stems`
/// where every one of them is free; the stem taken. A stem where one is taken is left as it
/// was: the files this call wrote under it (only ever where nothing was) are removed.
fn write_first_free(
    mut stems: impl Iterator<Item = PathBuf>,
    files: &[(&str, &str)],
) -> std::io::Result<PathBuf> {
    'stems: loop {
        let Some(stem) = stems.next() else {
            return Err(std::io::Error::other("no free name for the report"));
        };
        for (written, (suffix, text)) in files.iter().enumerate() {
            let Err(e) = write_new(&with_suffix(&stem, suffix), text) else {
                continue;
            };
            // The files written under this stem are this call's: none stays beside a report
            // said not to be written.
            for (suffix, _) in &files[..written] {
                std::fs::remove_file(with_suffix(&stem, suffix))?;
            }
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                continue 'stems;
            }
            return Err(e);
        }
        return Ok(stem);
    }
}

/// Writes `json` to `dir/<run>.json`, or, if that exists, `dir/<run>.<command>-<stamp>.json`:
/// whole, and never over another file. Returns the path.
pub(crate) fn write_report(
    dir: &Path,
    run: &str,
    command: &str,
    json: &str,
) -> std::io::Result<PathBuf> {
    iu_cutter_phase_core::create_private_dir(dir)?;
    let stem = write_first_free(report_stems(dir, run, command), &[("json", json)])?;
    Ok(with_suffix(&stem, "json"))
}

/// Writes a run report as `<stem>.json` and `<stem>.md` in `dir` (the stem as
/// [`write_report`] chooses it, and its Markdown free too), each whole and never over another
/// file.
pub(crate) fn write_report_files(dir: &Path, report: &RunReport) -> std::io::Result<ReportFiles> {
    iu_cutter_phase_core::create_private_dir(dir)?;
    let stems = report_stems(dir, report.run.as_str(), report.command.name());
    let (json, markdown) = (report.to_json(), report.to_markdown());
    let stem = write_first_free(stems, &[("json", &json), ("md", &markdown)])?;
    Ok(ReportFiles {
        json: with_suffix(&stem, "json"),
        markdown: with_suffix(&stem, "md"),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::{Arc, Barrier};

    use super::*;

    /// Two invocations reporting on one run at once (two `verify`s, say) both found `RUN.json`
    /// free and both wrote it through one temporary name: a report was lost, replaced by the
    /// other or failed. Each now takes a name of its own, and every report stays whole.
    #[test]
    fn reports_written_at_once_each_keep_a_file_of_their_own()
    -> Result<(), Box<dyn std::error::Error>> {
        const WRITERS: usize = 6;
        for _ in 0..20 {
            let dir = tempfile::tempdir()?;
            let start = Arc::new(Barrier::new(WRITERS));
            let writers: Vec<_> = (0..WRITERS)
                .map(|writer| {
                    let (dir, start) = (dir.path().to_owned(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let json = format!("{{\"writer\": {writer}}}");
                        write_report(&dir, "r1", "verify", &json).map(|path| (path, json))
                    })
                })
                .collect();
            let mut paths = BTreeSet::new();
            for writer in writers {
                let (path, json) = writer.join().map_err(|_| "a writer panicked")??;
                assert_eq!(std::fs::read_to_string(&path)?, format!("{json}\n"));
                paths.insert(path);
            }
            assert_eq!(paths.len(), WRITERS, "{paths:?}");
            let left: Vec<_> = std::fs::read_dir(dir.path())?
                .map(|entry| entry.map(|e| e.file_name()))
                .collect::<Result<_, _>>()?;
            assert_eq!(left.len(), WRITERS, "no temporary file left: {left:?}");
        }
        Ok(())
    }

    /// A `RUN.md` the run did not write (an operator's notes, a report whose JSON was moved
    /// away) was renamed over once `RUN.json` was free: the report's Markdown must take a name
    /// of its own, and the file there stays as it was.
    #[test]
    fn a_markdown_file_already_there_is_never_replaced() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let notes = dir.path().join("RUN.md");
        std::fs::write(&notes, "the operator's notes\n")?;
        let report = RunReport::from_json(
            r#"{"schema_version": 5, "run": "RUN", "command": "run",
                "adapter": {"kind": "sqlite", "live": true, "location": "x", "source": null},
                "outcome": {"name": "PASS"}, "held_after": null, "phases": [],
                "census_before": null, "census_after": null, "rollback": null,
                "notes": [], "duration_ms": 1}"#,
        )?;
        let files = write_report_files(dir.path(), &report)?;
        assert_eq!(std::fs::read_to_string(&notes)?, "the operator's notes\n");
        assert_ne!(files.markdown, notes);
        let markdown = std::fs::read_to_string(&files.markdown)?;
        assert_eq!(markdown.trim_end(), report.to_markdown().trim_end());
        assert_eq!(files.json.with_extension("md"), files.markdown);
        Ok(())
    }

    /// A report whose Markdown could not be written (here a name too long for the file
    /// system) is said not to be written: its JSON, written first, stayed under its name
    /// (adv47).
    #[test]
    fn a_report_that_fails_part_way_leaves_none_of_its_files()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let stem = dir.path().join("RUN");
        let long = "m".repeat(300);
        let failed = write_first_free(
            std::iter::once(stem.clone()),
            &[("json", "{}"), (long.as_str(), "# RUN")],
        );
        assert!(failed.is_err(), "{failed:?}");
        assert!(!with_suffix(&stem, "json").exists(), "the JSON stayed");
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        Ok(())
    }

    /// Where hard links fail, a report takes its name by creating the file, then fills it: a
    /// fill that failed left a partial report under the name (adv47).
    #[test]
    fn a_file_whose_fill_fails_is_removed() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("RUN.json");
        let failed = fill_new(&path, |file| {
            file.write_all(b"{\"half\":")?;
            Err(std::io::Error::other("the disk is full"))
        });
        assert!(failed.is_err());
        assert!(!path.exists(), "a partial report stayed");
        fill_new(&path, |file| file.write_all(b"{}"))?;
        assert_eq!(std::fs::read_to_string(&path)?, "{}");
        Ok(())
    }
}
