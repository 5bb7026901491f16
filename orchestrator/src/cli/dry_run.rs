//! `iu-cutter run --mode simulate`: the dry run, with its non-mutation attestation.
//!
//! 1. The live store is opened through [`ReadOnlyStore`]: its kill switch never opens, so nothing
//!    on this path can mutate it.
//! 2. Its census is taken, then a snapshot of its documents, generations and units.
//! 3. A simulator is seeded from that snapshot and the run goes there, behind its own, open gate
//!    (the simulation mutates only memory; backups stay in memory too).
//! 4. The live census is taken again. Equal to the first: the attestation holds and is printed
//!    and recorded; different: the command fails (exit 5), whatever the simulated outcome.
//!
//! This is the only module of the program, with `self_check`, that builds a simulator, and it
//! is reached only by `run` when the mode is `simulate`.

use std::sync::Arc;

use iu_cutter_live_execution::{
    Census, ExecutionGate, Guarded, LiveExecutionAdapter, ManualSwitch, SCHEMA_VERSION,
};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_orchestrator::{Attestation, CensusSummary, RunRequest, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::Simulator;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::output::{short, write_report};
use crate::cli::runner::{RunArgs, finish, read_plan, run_options};
use crate::cli::scope::require_documents;
use crate::cli::store::ReadOnlyStore;

/// `iu-cutter run --mode simulate`.
pub(crate) async fn run(config: &Config, args: RunArgs) -> Result<(), CliError> {
    let run = args.run_id.unwrap_or_else(|| crate::cli::new_run_id("dry"));
    let retry = "the same iu-cutter run --mode simulate command";
    let live = ReadOnlyStore::open(config, "run --mode simulate", retry).await?;
    let census = |what: &'static str| {
        let live = &live;
        async move {
            live.adapter()
                .census()
                .await
                .map_err(|e| CliError::from_adapter(e, what, retry))
        }
    };
    let before: Census = census("taking the live store's census before the dry run").await?;
    let snapshot = live
        .adapter()
        .snapshot()
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the live store's snapshot", retry))?;
    if args.execute {
        tracing::warn!("--execute is ignored by a dry run: it never mutates the live store");
    }

    let simulator = Simulator::from_snapshot(snapshot);
    let memory_only = ExecutionGate::new().with_source(ManualSwitch::new(
        "simulation (mutates only memory)",
        true,
        "-",
    ));
    let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(simulator, memory_only));
    let outcome = async {
        require_documents(adapter.as_ref(), &args.scope, retry).await?;
        let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
        let mut request = RunRequest::new(run.clone(), args.scope.clone(), config.rules.clone());
        if let Some(path) = &args.plan {
            request = request.with_expected_plan(read_plan(path)?);
        }
        runner
            .run(
                request,
                // The dry run's simulator is private to this process: no lease to take.
                iu_cutter_orchestrator::RunOptions {
                    lease: None,
                    ..run_options(config, args.until.as_deref(), args.quiet, &live.identity())
                },
            )
            .await
            .map_err(CliError::from_runner)
    }
    .await;

    // The attestation is taken whatever happened to the simulated run.
    let after = census("taking the live store's census after the dry run").await?;
    let attestation = Attestation {
        schema_version: SCHEMA_VERSION,
        run: run.to_string(),
        live_store: config.location(),
        census_before: CensusSummary::from(&before),
        census_after: CensusSummary::from(&after),
        unchanged: before == after,
    };
    let line = if attestation.unchanged {
        format!(
            "non-mutation attestation: PASS: live store {} unchanged by the dry run (census {} \
             documents, {} units, fingerprint {}… before and after)",
            attestation.live_store,
            after.documents,
            after.units,
            short(&after.fingerprint)
        )
    } else {
        format!(
            "non-mutation attestation: FAILED: the census of live store {} changed during the dry \
             run ({} documents, {} units, {}… before; {} documents, {} units, {}… after)",
            attestation.live_store,
            before.documents,
            before.units,
            short(&before.fingerprint),
            after.documents,
            after.units,
            short(&after.fingerprint)
        )
    };
    let attestation_json = serde_json::to_string_pretty(&attestation).unwrap_or_default();
    let attestation_file = write_report(
        &config.reports_dir,
        &format!("{run}.attestation"),
        "run",
        &attestation_json,
    );
    let recorded = match &attestation_file {
        Ok(path) => format!("attestation: {}", path.display()),
        Err(error) => {
            eprintln!(
                "warning: the attestation was not written to {}: {error}",
                config.reports_dir.display()
            );
            "attestation: not written".to_owned()
        }
    };

    // The attestation goes into the report (its own section, and the notes printed with it)
    // and its own file.
    let result = match outcome {
        Ok(mut report) => {
            report.notes.push(line.clone());
            report.attestation = Some(attestation.clone());
            finish(config, None, report, args.json, Some(&recorded)).await
        }
        Err(error) => {
            out!("{line}\n{recorded}");
            Err(error)
        }
    };
    if !attestation.unchanged {
        return Err(CliError::failed(
            line,
            "something else wrote to the live store during the dry run (another runner or an \
             import?); run the dry run again when the store is quiet",
        ));
    }
    result
}
