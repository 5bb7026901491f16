//! `iu-cutter run`, `resume`, `enact`, `verify` and `rollback` on the live store. Where their
//! reports go is [`crate::cli::runner::finish`].
//!
//! `run` dispatches on the mode exactly once: `live` runs here, on [`LiveStore`] only; `simulate`
//! goes to [`crate::cli::dry_run`], which opens the live store read-only. This module does not
//! know the simulator, so no error on the live path can end up running anywhere but the live
//! store.

use iu_cutter_live_execution::RunId;
use iu_cutter_orchestrator::{RunOptions, RunReport, RunRequest, Runner, RunnerError};

use crate::cli::config::{Config, Mode};
use crate::cli::error::CliError;
use crate::cli::runner::{Live, RunArgs, finish, read_plan, run_options};
use crate::cli::scope::require_documents;
use crate::cli::store::LiveStore;

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

async fn run_live(config: &Config, args: RunArgs) -> Result<(), CliError> {
    let run = args.run_id.unwrap_or_else(|| crate::cli::new_run_id("run"));
    let retry = "the same iu-cutter run command";
    let reviewed = args.plan.as_deref().map(read_plan).transpose()?;
    let store = LiveStore::open(config, args.execute, retry).await?;
    if let Ok(Some(false)) = store.reader_view().await {
        eprintln!(
            "note: the reader view (active_units; iu_cutter_active_units in an application's \
             SQLite file) still compares an earlier [source] than this configuration's; \
             refresh it with: iu-cutter init --execute"
        );
    }
    // With a source table the documents may not be tracked yet: the runner reads them first.
    if config.source.is_none() {
        require_documents(store.adapter(), &args.scope, retry).await?;
    }
    let back_off = store.back_off(config)?;
    let (live, identity) = Live::new(config, store);
    let mut request = RunRequest::new(run, args.scope, config.rules.clone());
    if args.stale {
        request = request.only_stale();
    }
    if let Some(plan) = reviewed {
        request = request.with_expected_plan(plan);
    }
    let mut options = run_options(config, args.until.as_deref(), args.quiet, &identity);
    options.back_off = back_off;
    let report = live
        .runner
        .run(request, options)
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
    on_run(
        config,
        "resume",
        &run,
        until.as_deref(),
        flags,
        Runner::resume,
    )
    .await
}

/// `iu-cutter enact RUN`: verify a held run again, then enact it.
pub(crate) async fn enact(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    on_run(config, "enact", &run, None, flags, Runner::enact).await
}

/// `iu-cutter verify RUN`: refresh a held run's verification, or audit an enacted one.
pub(crate) async fn verify(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    on_run(config, "verify", &run, None, flags, Runner::verify).await
}

/// `iu-cutter rollback RUN`.
pub(crate) async fn rollback(config: &Config, run: RunId, flags: Flags) -> Result<(), CliError> {
    on_run(config, "rollback", &run, None, flags, Runner::rollback_with).await
}

/// What `iu-cutter COMMAND RUN` does on an existing run: opens the live store (a refusal names
/// the same command to run again), has the runner do `op` to `run` with the configured options
/// (`until` a phase, where given), and reports what came back.
async fn on_run(
    config: &Config,
    command: &str,
    run: &RunId,
    until: Option<&str>,
    flags: Flags,
    op: impl AsyncFnOnce(&Runner, &RunId, RunOptions) -> Result<RunReport, RunnerError>,
) -> Result<(), CliError> {
    let retry = format!("iu-cutter {command} {run}");
    let store = LiveStore::open(config, flags.execute, &retry).await?;
    let back_off = store.back_off(config)?;
    let (live, identity) = Live::new(config, store);
    let mut options = run_options(config, until, flags.quiet, &identity);
    options.back_off = back_off;
    let report = op(&live.runner, run, options)
        .await
        .map_err(CliError::from_runner)?;
    finish(config, Some(&live), report, flags.json, None).await
}
