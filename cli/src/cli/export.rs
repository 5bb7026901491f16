//! `iu-cutter export [--since RUN] [--out FILE]`: the active units as JSON Lines (reads only),
//! written line by line as the runner reads them, to stdout or to a file that appears whole.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use iu_cutter_live_execution::RunId;
use iu_cutter_orchestrator::{ExportError, ExportLine, ExportRequest, ExportSummary, Runner};
use iu_cutter_phase_core::{DirBackupStore, create_private_file};

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::store::ReadOnlyStore;

/// What `export` was asked.
#[derive(Clone, Debug)]
pub(crate) struct ExportArgs {
    /// `--since`.
    pub(crate) since: Option<RunId>,
    /// `--out`: the file to write instead of stdout.
    pub(crate) out: Option<PathBuf>,
    /// `--page-size`.
    pub(crate) page_size: u32,
}

/// One JSON object per line into `writer`.
fn write_line(writer: &mut impl Write, line: &ExportLine) -> std::io::Result<()> {
    serde_json::to_writer(&mut *writer, line)?;
    writer.write_all(b"\n")
}

/// `iu-cutter export`.
pub(crate) async fn export(config: &Config, args: ExportArgs) -> Result<(), CliError> {
    let retry = match &args.since {
        Some(run) => format!("iu-cutter export --since {run}"),
        None => "iu-cutter export".to_owned(),
    };
    let store = ReadOnlyStore::open(config, "export", &retry).await?;
    let runner = Runner::new(
        store.into_adapter(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    let request = ExportRequest {
        since: args.since.clone(),
        page_size: args.page_size,
    };
    match &args.out {
        None => to_stdout(&runner, &request, &retry).await,
        Some(path) => to_file(&runner, &request, path, &retry).await,
    }
}

/// Streams to stdout; a reader that leaves early (`export | head`) ends the export quietly.
async fn to_stdout(runner: &Runner, request: &ExportRequest, retry: &str) -> Result<(), CliError> {
    let mut writer = BufWriter::new(std::io::stdout());
    let mut sink = |line: &ExportLine| write_line(&mut writer, line);
    let exported = runner.export(request, &mut sink).await;
    let result = exported.and_then(|summary| {
        writer.flush().map_err(ExportError::Sink)?;
        Ok(summary)
    });
    match result {
        Ok(summary) => {
            eprintln!("{}", summary_line(&summary, request));
            Ok(())
        }
        Err(ExportError::Sink(e)) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
        Err(error) => Err(export_error(error, request, "stdout", retry)),
    }
}

/// Writes `FILE.PID.partial` (mode 0600: units hold the documents' text) and renames it to
/// `path` once every line is written and synced, so that `path` is never a cut-off export. The
/// process id keeps two exports to one file apart: sharing one partial file, the first to finish
/// renamed it while the other still wrote into it, and `path` ended a mix of both.
async fn to_file(
    runner: &Runner,
    request: &ExportRequest,
    path: &Path,
    retry: &str,
) -> Result<(), CliError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    let shown = path.display().to_string();
    let file = create_private_file(&partial).map_err(|e| cannot_write(&partial, &e))?;
    let mut writer = BufWriter::new(file);
    let mut sink = |line: &ExportLine| write_line(&mut writer, line);
    let exported = runner.export(request, &mut sink).await;
    let result = exported.and_then(|summary| {
        let file: File = writer
            .into_inner()
            .map_err(|e| ExportError::Sink(e.into_error()))?;
        file.sync_all().map_err(ExportError::Sink)?;
        Ok(summary)
    });
    let summary = match result {
        Ok(summary) => summary,
        Err(error) => {
            // Nothing half-written is left behind; the error says why.
            let _ = std::fs::remove_file(&partial);
            return Err(export_error(error, request, &shown, retry));
        }
    };
    if let Err(e) = std::fs::rename(&partial, path) {
        // The lines are written but cannot be put in place: they go too, as on any failure.
        let _ = std::fs::remove_file(&partial);
        return Err(cannot_write(path, &e));
    }
    out!("{} to {shown}", summary_line(&summary, request));
    Ok(())
}

fn cannot_write(path: &Path, error: &std::io::Error) -> CliError {
    CliError::failed(
        format!("cannot write {}: {error}", path.display()),
        "choose a writable --out path (its directory must exist), or leave --out out to write \
         to stdout",
    )
}

/// `exported N units of M documents` (and the removals of `--since`).
fn summary_line(summary: &ExportSummary, request: &ExportRequest) -> String {
    match &request.since {
        Some(run) => format!(
            "exported the changes since run {run}: {} upserts and {} removals in {} documents{}",
            summary.upserts,
            summary.removals,
            summary.documents,
            removed_documents(summary)
        ),
        None => format!(
            "exported {} active units of {} documents ({} pages of at most {})",
            summary.upserts, summary.documents, summary.pages, request.page_size
        ),
    }
}

/// What the `remove_document` lines of `--since` were: documents deleted, and documents
/// exported whole (their baseline gone, or deleted and written again).
fn removed_documents(summary: &ExportSummary) -> String {
    let replaced = summary.documents_replaced;
    let deleted = summary.documents_removed.saturating_sub(replaced);
    let mut said = String::new();
    if deleted > 0 {
        said.push_str(&format!(", {deleted} of them deleted (remove_document)"));
    }
    if replaced > 0 {
        said.push_str(&format!(
            ", {replaced} exported whole (remove_document, then every active unit: their \
             state when the run finished can no longer be told)"
        ));
    }
    said
}

fn export_error(error: ExportError, request: &ExportRequest, to: &str, retry: &str) -> CliError {
    match error {
        ExportError::Adapter(e) => CliError::from_adapter(e, "reading the active units", retry),
        ExportError::Sink(e) => CliError::failed(
            format!("cannot write the export to {to}: {e}"),
            format!("free space or choose another --out, then: {retry}"),
        ),
        ExportError::Moved(why) => CliError::failed(
            why,
            format!(
                "run the export again while no run enacts or rolls back and no purge runs \
                 (iu-cutter status shows the running runs): {retry}"
            ),
        ),
        ExportError::Since(why) => CliError::bad_input(
            why,
            match &request.since {
                Some(run) => format!(
                    "export everything again (iu-cutter export) and rebuild from it, or name \
                     another enacted run after which you exported (iu-cutter status lists runs; \
                     not {run})"
                ),
                None => format!("then: {retry}"),
            },
        ),
        ExportError::Unfinished { run, why } => CliError::failed(
            why,
            format!(
                "if run {run} is still running, wait for it; otherwise finish it first \
                 (iu-cutter resume {run} --execute, or iu-cutter rollback {run} --execute), \
                 then: {retry}{}",
                if request.since.as_ref() == Some(&run) {
                    // Resuming it may block again and rolling it back may be refused (a later
                    // run holds its documents): the ways that need neither.
                    "; or name another enacted run that finished before you last exported \
                     (iu-cutter status lists runs), or export everything again (iu-cutter export)"
                } else {
                    "; if it can be neither resumed nor rolled back, export everything again \
                     (iu-cutter export) and rebuild from it"
                }
            ),
        ),
        ExportError::Corrupt(why) => CliError::failed(
            why,
            format!("run `iu-cutter run` (it syncs the source's rows again), then: {retry}"),
        ),
    }
}

#[cfg(test)]
mod tests;
