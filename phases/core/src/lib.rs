//! What every phase shares. The runner (in `orchestrator`) composes phases as
//! `Vec<Box<dyn Phase>>`; each phase crate depends on this crate and on the seam
//! (`iu-cutter-live-execution`), never on another phase. Phases talk to each other only through
//! durable state: the backup in the [`BackupStore`], the plan and evidence in the journal.
//! A [`RunContext`] caches those for the life of one process and reloads them on resume.

mod backup_store;
mod context;
mod error;
mod events;

pub use backup_store::{
    BackupError, BackupReceipt, BackupStore, DirBackupStore, JournalBackupStore, MemoryBackupStore,
    create_private_dir, create_private_file, decode_backup, encode_backup, write_atomically,
};
pub use context::{CancelFlag, DEFAULT_BATCH_UNITS, RunContext};
pub use error::{Gap, PhaseError};
pub use events::{EventSink, NoEvents, RunEvent};

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

/// One step of a run.
///
/// A phase must be idempotent: running it again after it completed (or after a crash part-way)
/// changes nothing more and returns the same evidence.
#[async_trait]
pub trait Phase: Send + Sync {
    /// The phase's name, as journaled and as given to `--until`.
    fn name(&self) -> &str;

    /// Runs the phase; returns the evidence to journal.
    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError>;
}
