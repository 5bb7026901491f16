//! `iu-cutter run --mode simulate`: the dry run, with its non-mutation attestation.
//!
//! 1. The live store is opened through [`ReadOnlyStore`]: its kill switch never opens, so nothing
//!    on this path can mutate it.
//! 2. The census of the scope's documents is taken with the store's change mark, then a copy of
//!    those documents, their generation records and active units (never the whole store's).
//! 3. A simulator is seeded from that snapshot and the run goes there, behind its own, open gate
//!    (the simulation mutates only memory; backups stay in memory too).
//! 4. The same documents' census is taken again, and the store's change log read since the mark.
//!    Censuses equal and no document changed anywhere in the store: the attestation holds and is
//!    printed and recorded; otherwise the command fails (exit 5), whatever the simulated
//!    outcome. Both cost O(scope + changes), not O(store).
//!
//! This is the only module of the program, with `self_check`, that builds a simulator, and it
//! is reached only by `run` when the mode is `simulate`.

use std::sync::Arc;

use iu_cutter_live_execution::{
    Census, DocumentId, ExecutionGate, Guarded, LiveExecutionAdapter, ManualSwitch, RunId,
    ScopeCensus,
};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::{Attestation, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::Simulator;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::output::{census_counts, short, write_report};
use crate::cli::provenance::Identity;
use crate::cli::runner::{RunArgs, finish, read_plan, run_options};
use crate::cli::scope::require_documents;
use crate::cli::store::ReadOnlyStore;

/// What the operator retries after a failure of the dry run.
const RETRY: &str = "the same iu-cutter run --mode simulate command";

/// `iu-cutter run --mode simulate`.
pub(crate) async fn run(config: &Config, args: RunArgs) -> Result<(), CliError> {
    let run = args
        .run_id
        .clone()
        .unwrap_or_else(|| crate::cli::new_run_id("dry"));
    let live = ReadOnlyStore::open(config, "run --mode simulate", RETRY).await?;
    let ids: Vec<DocumentId> = live
        .adapter()
        .load_heads(&args.scope)
        .await
        .map_err(|e| CliError::from_adapter(e, "resolving the dry run's scope", RETRY))?
        .into_iter()
        .map(|head| head.id)
        .collect();
    let before = scope_census(&live, &ids, "taking the scope census before the dry run").await?;
    // The scope's documents only: a dry run costs its scope, not the store.
    let simulator = Simulator::seed_from_scope(live.adapter(), &ids)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the dry run's scope", RETRY))?;
    if args.execute {
        tracing::warn!("--execute is ignored by a dry run: it never mutates the live store");
    }
    let outcome = simulate(config, &args, &run, simulator, &live.identity()).await;

    // The attestation is taken whatever happened to the simulated run.
    let after = scope_census(&live, &ids, "taking the scope census after the dry run").await?;
    let changed = live
        .adapter()
        .changed_since(&before.mark)
        .await
        .map_err(|e| {
            CliError::from_adapter(e, "reading what changed in the live store meanwhile", RETRY)
        })?;
    let attested = Attested::new(config, &run, &before.census, &after.census, &changed);

    // The attestation goes into the report (its own section, and the notes printed with it)
    // and its own file.
    let result = match outcome {
        Ok(mut report) => {
            report.notes.push(attested.line.clone());
            report.attestation = Some(attested.attestation.clone());
            finish(config, None, report, args.json, Some(&attested.recorded)).await
        }
        Err(error) => {
            out!("{}\n{}", attested.line, attested.recorded);
            Err(error)
        }
    };
    if !attested.attestation.unchanged {
        return Err(CliError::failed(
            attested.line,
            "something else wrote to the live store during the dry run (another runner or an \
             import?); run the dry run again when the store is quiet",
        ));
    }
    result
}

/// The census of the live store's documents `ids` with its change mark, taken read-only; `what`
/// names the step in an error.
async fn scope_census(
    live: &ReadOnlyStore,
    ids: &[DocumentId],
    what: &'static str,
) -> Result<ScopeCensus, CliError> {
    live.adapter()
        .scope_census(ids)
        .await
        .map_err(|e| CliError::from_adapter(e, what, RETRY))
}

/// The run `args` asks for, on `simulator` (seeded with the scope), behind its own open gate
/// (the simulation mutates only memory; backups stay in memory too).
async fn simulate(
    config: &Config,
    args: &RunArgs,
    run: &RunId,
    simulator: Simulator,
    identity: &Identity,
) -> Result<RunReport, CliError> {
    let memory_only = ExecutionGate::new().with_source(ManualSwitch::new(
        "simulation (mutates only memory)",
        true,
        "-",
    ));
    let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(simulator, memory_only));
    require_documents(adapter.as_ref(), &args.scope, RETRY).await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let mut request = RunRequest::new(run.clone(), args.scope.clone(), config.rules.clone());
    if let Some(path) = &args.plan {
        request = request.with_expected_plan(read_plan(path)?);
    }
    if args.stale {
        request = request.only_stale();
    }
    runner
        .run(
            request,
            // The dry run's simulator is private to this process: no lease to take.
            RunOptions {
                lease: None,
                ..run_options(config, args.until.as_deref(), args.quiet, identity)
            },
        )
        .await
        .map_err(CliError::from_runner)
}

/// The non-mutation attestation of a dry run, the sentence that states it, and where it was
/// recorded: they go together into the report and the command's output.
struct Attested {
    attestation: Attestation,
    /// `non-mutation attestation: PASS: …` or `…: FAILED: …`, with both censuses.
    line: String,
    /// `attestation: FILE`, or that it was not written.
    recorded: String,
}

impl Attested {
    /// Compares the live store's scope censuses `before` and `after` the dry run `run`, with
    /// the documents `changed` anywhere in the store meanwhile ([`Attestation::of`]), and writes
    /// the attestation to the reports directory.
    fn new(
        config: &Config,
        run: &RunId,
        before: &Census,
        after: &Census,
        changed: &[DocumentId],
    ) -> Self {
        let attestation = Attestation::of(run, config.location(), before, after, changed);
        let line = attestation_line(&attestation, before, after);
        let recorded = record(config, run, &attestation);
        Self {
            attestation,
            line,
            recorded,
        }
    }
}

/// The attestation's sentence: the store unchanged (with its census), or both censuses.
fn attestation_line(attestation: &Attestation, before: &Census, after: &Census) -> String {
    if attestation.unchanged {
        format!(
            "non-mutation attestation: PASS: live store {} unchanged by the dry run (scope \
             census {}, fingerprint {}… before and after; no document changed anywhere in the \
             store)",
            attestation.live_store,
            census_counts(after.documents, after.units),
            short(&after.fingerprint)
        )
    } else {
        format!(
            "non-mutation attestation: FAILED: live store {} changed during the dry run (scope \
             census {}, {}… before; {}, {}… after; {} document(s) changed anywhere in the \
             store{})",
            attestation.live_store,
            census_counts(before.documents, before.units),
            short(&before.fingerprint),
            census_counts(after.documents, after.units),
            short(&after.fingerprint),
            attestation.changed_documents,
            if attestation.changed_sample.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    attestation
                        .changed_sample
                        .iter()
                        .map(DocumentId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )
    }
}

/// Writes the attestation to `<reports>/<run>.attestation.json` and says where it went; a
/// failed write is a warning, not an error (the report still carries the attestation).
fn record(config: &Config, run: &RunId, attestation: &Attestation) -> String {
    let attestation_json = serde_json::to_string_pretty(attestation).unwrap_or_default();
    let attestation_file = write_report(
        &config.reports_dir,
        &format!("{run}.attestation"),
        "run",
        &attestation_json,
    );
    match &attestation_file {
        Ok(path) => format!("attestation: {}", path.display()),
        Err(error) => {
            eprintln!(
                "warning: the attestation was not written to {}: {error}",
                config.reports_dir.display()
            );
            "attestation: not written".to_owned()
        }
    }
}
