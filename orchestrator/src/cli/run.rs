//! `iu-cutter run`, `resume`, `enact`, `verify` and `rollback` on the live store, and where
//! every report goes (the reports directory, as JSON and Markdown, and the journal).
//!
//! `run` dispatches on the mode exactly once: `live` runs here, on [`LiveStore`] only; `simulate`
//! goes to [`crate::cli::dry_run`], which opens the live store read-only. This module does not
//! know the simulator, so no error on the live path can end up running anywhere but the live
//! store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iu_cutter_live_execution::{
    DocumentId, LiveExecutionAdapter, Plan, RunId, SCHEMA_VERSION, Scope,
};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::{LeaseOptions, RunOptions, RunReport, RunRequest, Runner};
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
}

/// How `enact`, `verify`, `resume` and `rollback` were asked to run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    pub(crate) execute: bool,
    pub(crate) json: bool,
    pub(crate) quiet: bool,
}

/// `iu-cutter run`.
pub(crate) async fn run(config: &Config, args: RunArgs) -> Result<(), CliError> {
    match args.mode.unwrap_or(config.mode) {
        Mode::Live => run_live(config, args).await,
        Mode::Simulate => crate::cli::dry_run::run(config, args).await,
    }
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
    runner: Runner,
    adapter: Arc<dyn LiveExecutionAdapter>,
}

/// The runner on `store`, and who acts through it.
fn runner(config: &Config, store: LiveStore) -> (Live, Identity) {
    let identity = store.identity();
    let adapter = store.into_adapter();
    let runner = Runner::new(
        adapter.clone(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    (Live { runner, adapter }, identity)
}

async fn run_live(config: &Config, args: RunArgs) -> Result<(), CliError> {
    let run = args.run_id.unwrap_or_else(|| crate::cli::new_run_id("run"));
    let retry = "the same iu-cutter run command";
    let reviewed = args.plan.as_deref().map(read_plan).transpose()?;
    let store = LiveStore::open(config, args.execute, retry).await?;
    require_documents(store.adapter(), &args.scope, retry).await?;
    let (live, identity) = runner(config, store);
    let mut request = RunRequest::new(run, args.scope, config.rules.clone());
    if let Some(plan) = reviewed {
        request = request.with_expected_plan(plan);
    }
    let report = live
        .runner
        .run(
            request,
            run_options(config, args.until.as_deref(), args.quiet, &identity),
        )
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, args.json, None).await
}

/// `iu-cutter resume RUN`.
pub(crate) async fn resume(
    config: &Config,
    run: RunId,
    until: Option<String>,
    flags: Flags,
) -> Result<(), CliError> {
    let retry = format!("iu-cutter resume {run}");
    let store = LiveStore::open(config, flags.execute, &retry).await?;
    let (live, identity) = runner(config, store);
    let report = live
        .runner
        .resume(
            &run,
            run_options(config, until.as_deref(), flags.quiet, &identity),
        )
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, flags.json, None).await
}

/// `iu-cutter enact RUN`: verify a held run again, then enact it.
pub(crate) async fn enact(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    let retry = format!("iu-cutter enact {run}");
    let store = LiveStore::open(config, flags.execute, &retry).await?;
    let (live, identity) = runner(config, store);
    let report = live
        .runner
        .enact(&run, run_options(config, None, flags.quiet, &identity))
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, flags.json, None).await
}

/// `iu-cutter verify RUN`: refresh a held run's verification, or audit an enacted one.
pub(crate) async fn verify(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    let retry = format!("iu-cutter verify {run}");
    let store = LiveStore::open(config, flags.execute, &retry).await?;
    let (live, identity) = runner(config, store);
    let report = live
        .runner
        .verify(&run, run_options(config, None, flags.quiet, &identity))
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, flags.json, None).await
}

/// `iu-cutter rollback RUN`.
pub(crate) async fn rollback(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    let retry = format!("iu-cutter rollback {run}");
    let store = LiveStore::open(config, flags.execute, &retry).await?;
    let (live, identity) = runner(config, store);
    let report = live
        .runner
        .rollback_with(&run, run_options(config, None, flags.quiet, &identity))
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, flags.json, None).await
}

/// Refuses a scope that names no document (a mistyped prefix must not "pass" on nothing), or
/// ids that are not in the store.
pub(crate) async fn require_documents(
    adapter: &dyn LiveExecutionAdapter,
    scope: &Scope,
    retry: &str,
) -> Result<(), CliError> {
    let documents = adapter
        .load_scope(scope)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the scope", retry))?;
    if let Scope::Ids(ids) = scope {
        let missing: Vec<&DocumentId> = ids
            .iter()
            .filter(|id| !documents.iter().any(|d| &d.id == *id))
            .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|id| format!("`{id}`")).collect();
            return Err(CliError::bad_input(
                format!("no document {} in the store", names.join(", ")),
                "check the ids (`iu-cutter plan` lists the documents) or import them first",
            ));
        }
    }
    if documents.is_empty() {
        return Err(CliError::bad_input(
            format!("no document in scope {}", scope_text(scope)),
            "import documents first (iu-cutter import PATH) or fix --prefix/--id; `iu-cutter \
             plan` lists the documents in scope",
        ));
    }
    Ok(())
}

/// A scope as the command line writes it.
pub(crate) fn scope_text(scope: &Scope) -> String {
    match scope {
        Scope::All => "--all".to_owned(),
        Scope::Ids(ids) => ids
            .iter()
            .map(|id| format!("--id {id}"))
            .collect::<Vec<_>>()
            .join(" "),
        Scope::Prefix(prefix) => format!("--prefix {prefix}"),
        Scope::Shard { base, index, count } => {
            format!("{} --shard {index}/{count}", scope_text(base))
        }
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
