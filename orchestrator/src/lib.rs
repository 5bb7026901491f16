//! The runner of iu-cutter, as a library. This is the top of the dependency graph below the
//! program: it composes the phases as an ordered `Vec<Box<dyn Phase>>` over one
//! [`LiveExecutionAdapter`], journals every transition (with its times), resumes a run at the
//! first phase the journal does not show done, enacts a held run after verifying it again,
//! audits an enacted run, rolls a run back to its exact pre-run state from the backup, purges
//! retired generations no rollback needs, and reports every invocation as a serialisable
//! [`RunReport`] (JSON and Markdown) ending in one [`Outcome`], which it journals itself.
//!
//! The `iu-cutter` program (package `iu-cutter`, in `cli/`) is one caller; a service embedding
//! the runner is another. The runner only ever sees the adapter as a trait object, so it cannot
//! tell the simulator from a live store, and cannot fall back from one to the other. It depends
//! on no command-line crate, and on no database driver unless asked: the features `sqlite` and
//! `postgres` bring in the live SQL store (`sql`).
//!
//! Everything an embedder needs is re-exported here: the adapters' constructors
//! ([`Simulator`], `sql::connect` with a feature), the kill switch ([`ExecutionGate`],
//! [`ManualSwitch`]), backups ([`DirBackupStore`]), cancellation ([`CancelFlag`]), progress
//! ([`RunEvent`] through an [`EventSink`], or as an async [`EventStream`]), and metrics
//! ([`metrics`]).
//!
//! # Example
//!
//! A run on the simulator, watched as a stream of events, cancelled after its backup, then
//! resumed to the end; the runner journals both reports.
//!
//! ```
//! use std::sync::Arc;
//!
//! use iu_cutter_orchestrator::prelude::*;
//! use iu_cutter_orchestrator::{
//!     CancelFlag, CutRules, EventSink, MemoryBackupStore, Outcome, Preset, RunEvent, RunId,
//!     RunOptions, RunRequest, Runner, Scope, Simulator, event_stream,
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(Simulator::with_documents([
//!     ("law/1", "# Law 1\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n"),
//! ]));
//! let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
//! let run = RunId::new("run-1");
//!
//! // Progress as an async stream, read by a task of its own.
//! let (sink, mut events) = event_stream();
//! let watcher = tokio::spawn(async move {
//!     let mut seen = Vec::new();
//!     while let Some(event) = events.next().await {
//!         seen.push(event);
//!     }
//!     seen
//! });
//!
//! // Cancel once the backup is done: the run stops at its next safe point.
//! let cancel = CancelFlag::new();
//! let stop = cancel.clone();
//! let events: Arc<dyn EventSink> = Arc::new(move |event: RunEvent| {
//!     if matches!(&event, RunEvent::PhaseFinished { phase, .. } if phase == "backup") {
//!         stop.cancel();
//!     }
//!     sink.emit(event);
//! });
//! let request = RunRequest::new(run.clone(), Scope::All, CutRules::preset(Preset::Markdown));
//! let options = RunOptions::default().with_cancel(cancel).with_events(events);
//! let stopped = runner.run(request, options).await?;
//! assert!(matches!(stopped.outcome, Outcome::Failed { .. }));
//!
//! // The stream ends with the run: every event was observed.
//! let seen = watcher.await?;
//! assert!(seen.iter().any(|e| matches!(e, RunEvent::PhaseFinished { phase, .. } if phase == "backup")));
//! assert!(matches!(seen.last(), Some(RunEvent::RunFinished { outcome, .. }) if outcome == "FAILED"));
//!
//! // Resume where it stopped: the backup is skipped, the rest runs.
//! let resumed = runner.resume(&run, RunOptions::default()).await?;
//! assert_eq!(resumed.outcome, Outcome::Pass);
//!
//! // Both reports are in the journal without the caller saving them.
//! assert_eq!(store.load_reports(&run).await?.len(), 2);
//! # Ok(())
//! # }
//! ```
//!
//! [`LiveExecutionAdapter`]: iu_cutter_live_execution::LiveExecutionAdapter

mod audit;
pub mod clock;
mod drive;
mod error;
mod events;
mod export;
mod generations;
mod held;
mod invocation;
mod journal;
mod lease;
mod liveness;
pub mod metrics;
pub mod next;
mod options;
mod pipeline;
mod purge;
mod report;
mod rollback;
mod runner;
mod scope;
mod start;

#[cfg(test)]
mod tests;

pub use audit::AUDIT_STEP;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RunnerError;
pub use events::{EventStream, StreamSink, event_stream};
pub use export::{
    DEFAULT_PAGE_SIZE, ExportError, ExportLine, ExportRequest, ExportSummary, ExportedUnit,
    RemovedDocument, RemovedUnit, Sink,
};
pub use generations::{
    DiffError, GenerationDiff, RunDiff, UnitChange, UnitDiffEntry, diff_units, keyed,
    missing_generation, state_name,
};
pub use iu_cutter_phase_core::{
    BackupStore, CancelFlag, DirBackupStore, EventSink, Gap, MemoryBackupStore, NoEvents, Phase,
    PhaseRole, RunEvent, Throttle,
};
// What an embedder names to drive a run: ids, scopes, rules, the adapter seam and its kill switch.
/// The live SQL store (features `sqlite`, `postgres`): [`sql::init`] creates or migrates a
/// database, [`sql::connect`] opens it behind the kill switch.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use iu_cutter_live_execution::sql;
pub use iu_cutter_live_execution::{
    AdapterError, CutRules, DocumentId, ExecutionGate, GateSource, Guarded, LiveExecutionAdapter,
    ManualSwitch, Plan, Preset, RunId, Scope, StopFile, prelude,
};
/// The in-memory store of dry runs and tests, with seeded faults.
pub use iu_cutter_simulator::Simulator;
pub use journal::{ROLLBACK_PHASE, rolled_back_in_part};
pub use lease::{DEFAULT_LEASE_TTL, LeaseOptions, default_holder, holder_named};
pub use liveness::{Liveness, liveness};
pub use next::NextAction;
pub use options::{RunOptions, RunRequest, new_run_id};
pub use purge::{PurgeDecision, PurgeEntry, PurgeReport};
pub use report::{
    Attestation, CHANGED_SAMPLE, CensusSummary, Command, DigestMismatch, Footprint, LeaseLost,
    Outcome, PhaseEntry, PhaseEntryStatus, Provenance, REPORT_SCHEMA_VERSION, RollbackCheck,
    RunReport,
};
pub use runner::Runner;
pub use scope::{ScopeError, require_documents};

/// The five standard phases, in run order: backup, cut-leg-a, leg-b-record, write-verify,
/// lifecycle-enact.
pub fn default_phases() -> Vec<Box<dyn Phase>> {
    vec![
        Box::new(iu_cutter_phase_backup::Backup),
        Box::new(iu_cutter_phase_cut_leg_a::CutLegA),
        Box::new(iu_cutter_phase_leg_b_record::LegBRecord),
        Box::new(iu_cutter_phase_write_verify::WriteVerify),
        Box::new(iu_cutter_phase_lifecycle_enact::LifecycleEnact),
    ]
}
