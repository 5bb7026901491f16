//! `iu-cutter report RUN`: a run's latest report, from the journal (or, for a run the journal
//! does not hold, such as a dry run or a refused run, from the reports directory), as Markdown
//! or JSON. Reads only.

use std::path::{Path, PathBuf};

use iu_cutter_live_execution::RunId;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::RunReport;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::store::ReadOnlyStore;

/// How `report` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    /// Markdown (summary, outcome, phase table, census, notes).
    Md,
    /// The report's JSON, as journaled.
    Json,
}

/// The newest report file of `run` in `dir`: `<run>.json` or `<run>.<command>-<stamp>.json`.
fn newest_file(dir: &Path, run: &RunId) -> Option<PathBuf> {
    let exact = format!("{run}.json");
    let prefix = format!("{run}.");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name == exact
                || (name.starts_with(&prefix)
                    && name.ends_with(".json")
                    && !name.contains(".attestation"))
        })
        .filter_map(|entry| Some((entry.metadata().ok()?.modified().ok()?, entry.path())))
        .max()
        .map(|(_, path)| path)
}

/// `iu-cutter report RUN`.
pub(crate) async fn report(
    config: &Config,
    run: RunId,
    format: ReportFormat,
) -> Result<(), CliError> {
    let retry = format!("iu-cutter report {run}");
    let store = ReadOnlyStore::open(config, "report", &retry).await?;
    let journaled = store
        .adapter()
        .load_reports(&run)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the journal", &retry))?;
    let (text, origin) = match journaled.into_iter().last() {
        Some(text) => (text, "the journal".to_owned()),
        None => {
            let path = newest_file(&config.reports_dir, &run).ok_or_else(|| {
                CliError::bad_input(
                    format!(
                        "no report of run `{run}` in the journal or in {}",
                        config.reports_dir.display()
                    ),
                    "list the runs with `iu-cutter status`; a report is written by run, resume, \
                     enact, verify and rollback",
                )
            })?;
            let text = std::fs::read_to_string(&path).map_err(|error| {
                CliError::failed(
                    format!("cannot read {}: {error}", path.display()),
                    format!("check the reports directory, then: {retry}"),
                )
            })?;
            (text, path.display().to_string())
        }
    };
    let report = RunReport::from_json(&text).map_err(|error| {
        CliError::failed(
            format!("the report of run `{run}` from {origin} cannot be read: {error}"),
            "it was written by another version of iu-cutter, or damaged; see the reports \
             directory",
        )
    })?;
    match format {
        ReportFormat::Json => out_json!("{}", report.to_json()),
        ReportFormat::Md => out!("{}", report.to_markdown()),
    }
    Ok(())
}
