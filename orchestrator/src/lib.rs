//! The runner of iu-cutter, and the `iu-cutter` program. This is the top of the dependency
//! graph: it composes the phases as an ordered `Vec<Box<dyn Phase>>` over one
//! [`LiveExecutionAdapter`], journals every transition (with its times), resumes a run at the
//! first phase the journal does not show done, enacts a held run after verifying it again,
//! audits an enacted run, rolls a run back to its exact pre-run state from the backup, purges
//! retired generations no rollback needs, and reports every invocation as a serialisable
//! [`RunReport`] (JSON and Markdown) ending in one [`Outcome`]. The
//! program built on it is the one place where configuration becomes a concrete adapter (the
//! simulator, or a live store behind the kill switch); the runner itself only ever sees the
//! trait object, so it cannot tell, and cannot fall back from one to the other.
//!
//! [`LiveExecutionAdapter`]: iu_cutter_live_execution::LiveExecutionAdapter

mod audit;
pub mod clock;
mod drive;
mod error;
mod export;
mod generations;
mod held;
mod invocation;
mod journal;
mod lease;
mod options;
mod pipeline;
mod purge;
mod report;
mod rollback;
mod runner;
mod start;

#[cfg(test)]
mod tests;

pub use audit::AUDIT_STEP;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::RunnerError;
pub use export::{
    DEFAULT_PAGE_SIZE, ExportError, ExportLine, ExportRequest, ExportSummary, ExportedUnit,
    RemovedUnit, Sink,
};
pub use generations::{
    DiffError, GenerationDiff, UnitChange, UnitDiffEntry, diff_units, missing_generation,
    state_name,
};
pub use iu_cutter_phase_core::Throttle;
pub use journal::ROLLBACK_PHASE;
pub use lease::{DEFAULT_LEASE_TTL, LeaseOptions, default_holder, holder_named};
pub use options::{RunOptions, RunRequest};
pub use purge::{PurgeDecision, PurgeEntry, PurgeReport};
pub use report::{
    Attestation, CensusSummary, Command, DigestMismatch, Footprint, LeaseLost, Outcome, PhaseEntry,
    PhaseEntryStatus, Provenance, REPORT_SCHEMA_VERSION, RollbackCheck, RunReport,
};
pub use runner::Runner;

use iu_cutter_phase_core::Phase;

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
