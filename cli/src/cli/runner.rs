//! What the live run (`run`) and the dry run share: what `run` was asked, the options a runner
//! invocation gets from the configuration, the reviewed plan it is held to, and where its report
//! goes. Both command modules build on this one, so neither imports the other's internals.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iu_cutter_live_execution::{LiveExecutionAdapter, Plan, RunId, SCHEMA_VERSION, Scope};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::{LeaseOptions, RunOptions, RunReport, Runner};
use iu_cutter_phase_core::DirBackupStore;

use crate::cli::config::{Config, Mode};
use crate::cli::error::CliError;
use crate::cli::output::{outcome_result, print_report, write_report_files};
use crate::cli::progress::{Display, Progress};
use crate::cli::provenance::{Identity, provenance};
use crate::cli::store::LiveStore;

/// What `run` was asked.
#[derive(Clone, Debug)]
pub(crate) struct RunArgs {
    pub(crate) mode: Option<Mode>,
    pub(crate) until: Option<String>,
    pub(crate) scope: Scope,
    pub(crate) execute: bool,
    pub(crate) run_id: Option<RunId>,
    pub(crate) json: bool,
    /// The reviewed plan (`plan --out`): the run is refused unless it still holds.
    pub(crate) plan: Option<PathBuf>,
    pub(crate) quiet: bool,
    /// Only the stale documents of the scope (`run --stale`).
    pub(crate) stale: bool,
}

/// The options every runner invocation gets from the configuration: batch size, the held-run
/// age limit, the report's provenance (who, by `identity`), the run's lease (a fresh holder
/// naming `identity`, `lease_ttl`), the process's cancellation (SIGINT, SIGTERM), and progress
/// on stderr (none when `quiet`).
pub(crate) fn run_options(
    config: &Config,
    until: Option<&str>,
    quiet: bool,
    identity: &Identity,
) -> RunOptions {
    let options = RunOptions::default()
        .with_batch_units(config.batch_units)
        .with_throttle(config.throttle)
        .with_lease(LeaseOptions::with_holder(
            identity.lease_holder(),
            config.lease_ttl,
        ))
        .with_held_max_age(config.held_max_age)
        .with_provenance(provenance(config, identity))
        .with_cancel(crate::cli::interrupt::cancel_flag())
        .with_events(Arc::new(Progress::new(Display::detect(quiet))));
    match until {
        Some(phase) => options.with_until(phase),
        None => options,
    }
}

/// Reads a plan written by `iu-cutter plan --out FILE`.
pub(crate) fn read_plan(path: &Path) -> Result<Plan, CliError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        CliError::bad_input(
            format!("cannot read the plan file {}: {error}", path.display()),
            "write it with `iu-cutter plan --out FILE` (same scope and rules), then pass it to \
             --plan",
        )
    })?;
    let plan: Plan = serde_json::from_str(&text).map_err(|error| {
        CliError::bad_input(
            format!(
                "{} is not a plan written by iu-cutter plan --out: {error}",
                path.display()
            ),
            "write it again with `iu-cutter plan --out FILE`",
        )
    })?;
    if plan.schema_version != SCHEMA_VERSION {
        return Err(CliError::bad_input(
            format!(
                "{} is a plan of schema version {}, this iu-cutter writes version {SCHEMA_VERSION}",
                path.display(),
                plan.schema_version
            ),
            "write it again with this version: iu-cutter plan --out FILE",
        ));
    }
    Ok(plan)
}

/// A runner on the live store, the store itself (to read the journal) and who acts through it.
pub(crate) struct Live {
    pub(crate) runner: Runner,
    adapter: Arc<dyn LiveExecutionAdapter>,
}

impl Live {
    /// The runner on `store` (backups in the configured directory), and who acts through it.
    pub(crate) fn new(config: &Config, store: LiveStore) -> (Self, Identity) {
        let identity = store.identity();
        let adapter = store.into_adapter();
        let runner = Runner::new(
            adapter.clone(),
            Arc::new(DirBackupStore::new(config.backup_dir.clone())),
        );
        (Self { runner, adapter }, identity)
    }
}

/// Journals the report (through `live`, when given), writes it to the reports directory as
/// JSON and Markdown, prints it, and turns its outcome into the command's result. `extra` is
/// printed after the report (the dry run's attestation line).
///
/// A run refused before it was journaled does not exist: its report is printed but written
/// nowhere, so `reports/<run>.json` stays free for the run that will use the id. A dry run
/// (no `live`: its journal is the simulator's) always writes its files.
pub(crate) async fn finish(
    config: &Config,
    live: Option<&Live>,
    mut report: RunReport,
    json: bool,
    extra: Option<&str>,
) -> Result<(), CliError> {
    let mut exists = true;
    if let Some(live) = live {
        // A read, allowed with the kill switch closed (which also refuses the journal write).
        exists = !matches!(live.adapter.load_run(&report.run).await, Ok(None));
        if !exists {
            report.notes.push(format!(
                "run {} was not journaled (it stopped before it began), so it does not exist: \
                 this report is written neither to the journal nor to {}",
                report.run,
                config.reports_dir.display()
            ));
        } else {
            match live.runner.journal_report(&report).await {
                Ok(()) => {}
                Err(error) => report
                    .notes
                    .push(format!("the report is not in the journal: {error}")),
            }
        }
    }
    let written = if !exists {
        None
    } else {
        match write_report_files(&config.reports_dir, &report) {
            Ok(files) => Some(files),
            Err(error) => {
                eprintln!(
                    "warning: the report was not written to {}: {error}; the journal still holds \
                     the run (iu-cutter status {})",
                    config.reports_dir.display(),
                    report.run
                );
                None
            }
        }
    };
    if json {
        out_json!("{}", report.to_json());
    } else {
        print_report(&report, written.as_ref());
        if let Some(extra) = extra {
            out!("{extra}");
        }
    }
    outcome_result(&report)
}
