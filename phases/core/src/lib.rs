//! What every phase shares. The runner (in `orchestrator`) composes phases as
//! `Vec<Box<dyn Phase>>`; each phase crate depends on this crate and on the seam
//! (`iu-cutter-live-execution`), never on another phase. Phases talk to each other only through
//! durable state: the backup in the [`BackupStore`], the plan and evidence in the journal.
//! A [`RunContext`] caches those for the life of one process and reloads them on resume.

mod backup_store;
mod batches;
mod context;
mod error;
mod events;
pub mod next;
mod plan_copy;
mod planned;
#[cfg(feature = "test-support")]
pub mod testing;
mod throttle;

pub use backup_store::{
    ArtifactParts, BackupError, BackupReader, BackupReceipt, BackupSink, BackupStore,
    CENSUS_LINE_DOCUMENTS, DirBackupStore, HeaderDetail, JournalBackupStore, MemoryBackupStore,
    create_private_dir, create_private_file, decode_backup, encode_backup, write_atomically,
    write_backup,
};
pub use batches::{
    BATCHES, BatchTimes, DEFAULT_BATCH_DOCUMENTS, DocumentBatches, LONGEST_BATCH_MS,
};
pub use context::{CancelFlag, DEFAULT_BATCH_UNITS, OpeningCensus, RunContext};
pub use error::{Gap, PhaseError, typed_or_words};
pub use events::{EventSink, NoEvents, RunEvent};
pub use next::NextAction;
pub use planned::{IN_PLACE_BYTES, PlanReader, PlannedSources, any_source};
pub use throttle::{BACK_OFF_FIRST, BACK_OFF_LONGEST, BackOff, Pacer, Throttle};

use async_trait::async_trait;
use iu_cutter_live_execution::Evidence;

/// Names of the five standard phases, in run order.
pub mod names {
    /// Phase 1.
    pub const BACKUP: &str = "backup";
    /// Phase 2.
    pub const CUT_LEG_A: &str = "cut-leg-a";
    /// Phase 3.
    pub const LEG_B_RECORD: &str = "leg-b-record";
    /// Phase 4.
    pub const WRITE_VERIFY: &str = "write-verify";
    /// Phase 5.
    pub const LIFECYCLE_ENACT: &str = "lifecycle-enact";
    /// All five, in order.
    pub const ALL: [&str; 5] = [
        BACKUP,
        CUT_LEG_A,
        LEG_B_RECORD,
        WRITE_VERIFY,
        LIFECYCLE_ENACT,
    ];
}

/// What a phase is to the runner, beyond its place in the order: the runner finds the phase
/// that backs up, plans, verifies or enacts by its role, never by its name, so that a service
/// can rename, insert or replace phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PhaseRole {
    /// Takes the run's backup, journaling its sha256 as [`evidence::BACKUP_SHA256`]: a rollback
    /// trusts only a backup that hashes to it, and no phase after it can have run without it.
    Backup,
    /// Computes and journals the run's plan, journaling its sha256 as
    /// [`evidence::PLAN_SHA256`].
    Plan,
    /// Verifies the staged generation: a run held after it is "verified, not enacted", and
    /// `enact` runs it again before the phases after it.
    Verify,
    /// Makes the run's generation active.
    Enact,
    /// Anything else (writing units, an approval step, a notification).
    Other,
}

/// The evidence keys the runner reads, typed so that the phase writing one and the runner
/// reading it cannot disagree on a spelling.
pub mod evidence {
    use iu_cutter_live_execution::{Evidence, EvidenceValue};

    /// A key of a phase's evidence whose value is text (a sha256).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct EvidenceKey(&'static str);

    impl EvidenceKey {
        /// The key as journaled.
        pub const fn name(self) -> &'static str {
            self.0
        }

        /// The text `evidence` holds for this key; `None` when it holds none, or a value that
        /// is not text.
        pub fn get(self, evidence: &Evidence) -> Option<&str> {
            evidence.get(self.0).and_then(EvidenceValue::as_text)
        }

        /// The count `evidence` holds for this key; `None` when it holds none, or a value that
        /// is not a count.
        pub fn count(self, evidence: &Evidence) -> Option<u64> {
            evidence.get(self.0).and_then(EvidenceValue::as_count)
        }

        /// `(key, text)`, to build evidence with.
        pub fn with(self, value: impl Into<String>) -> (String, EvidenceValue) {
            (self.0.to_owned(), EvidenceValue::Text(value.into()))
        }
    }

    /// The backup artifact's sha256 ([`super::PhaseRole::Backup`]; rollback's too).
    pub const BACKUP_SHA256: EvidenceKey = EvidenceKey("backup_sha256");
    /// The plan's sha256 ([`super::PhaseRole::Plan`]).
    pub const PLAN_SHA256: EvidenceKey = EvidenceKey("plan_sha256");
    /// Units a phase wrote into the staged generation (a count; the runner's metrics read it).
    pub const UNITS_WRITTEN: EvidenceKey = EvidenceKey("units_written");
    /// Milliseconds a throttle held a phase's writes back (a count; the runner's metrics).
    pub const THROTTLE_WAITED_MS: EvidenceKey = EvidenceKey("throttle_waited_ms");
}

/// One step of a run.
///
/// A phase must be idempotent: running it again after it completed (or after a crash part-way)
/// changes nothing more and returns the same evidence, but for the wall-clock measurements
/// ([`LONGEST_BATCH_MS`], `throttle_waited_ms`, `load_waited_ms`).
#[async_trait]
pub trait Phase: Send + Sync {
    /// The phase's name, as journaled and as given to `--until`.
    fn name(&self) -> &str;

    /// What the phase is to the runner ([`PhaseRole::Other`] unless it backs up, plans,
    /// verifies or enacts).
    fn role(&self) -> PhaseRole {
        PhaseRole::Other
    }

    /// Runs the phase; returns the evidence to journal.
    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError>;
}

/// Declares a standard phase: a unit struct implementing [`Phase`] with the given name and
/// role, whose [`Phase::run`] is the struct's own `async fn run_phase(&self, ctx: &mut
/// RunContext) -> Result<Evidence, PhaseError>`, written beside it.
///
/// Every standard phase is a stateless unit struct whose name and role are constants; stating
/// them once here keeps each phase crate down to what the phase does.
///
/// ```ignore
/// iu_cutter_phase_core::standard_phase! {
///     /// Phase 1: takes (or reuses) the run's backup.
///     pub struct Backup named names::BACKUP, role PhaseRole::Backup;
/// }
///
/// impl Backup {
///     async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> { … }
/// }
/// ```
#[macro_export]
macro_rules! standard_phase {
    ($(#[$attr:meta])* pub struct $phase:ident named $name:expr, role $role:expr;) => {
        $(#[$attr])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $phase;

        #[$crate::__private::async_trait]
        impl $crate::Phase for $phase {
            fn name(&self) -> &str {
                $name
            }

            fn role(&self) -> $crate::PhaseRole {
                $role
            }

            async fn run(
                &self,
                ctx: &mut $crate::RunContext,
            ) -> Result<$crate::__private::Evidence, $crate::PhaseError> {
                self.run_phase(ctx).await
            }
        }
    };
}

/// What [`standard_phase!`] expands to names, reachable from the phase crates through this one.
#[doc(hidden)]
pub mod __private {
    pub use async_trait::async_trait;
    pub use iu_cutter_live_execution::Evidence;
}
