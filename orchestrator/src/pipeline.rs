//! The runner's fixed parts: the store it works on, where backups are exported, and its ordered
//! phases, looked up by role rather than by name so that a service may rename, insert or replace
//! phases. Every command module works on a [`Pipeline`]; [`crate::Runner`] is the public face.

use std::sync::Arc;

use iu_cutter_live_execution::{LiveExecutionAdapter, PhaseStatus, RunRecord};
use iu_cutter_phase_core::{BackupStore, JournalBackupStore, Phase, PhaseRole};

use crate::error::RunnerError;
use crate::journal::ROLLBACK_PHASE;
use crate::options::RunOptions;

/// The store, the backup export and the phases of one runner.
pub(crate) struct Pipeline {
    /// The store as configured (the simulator, or a live store behind the kill switch).
    pub(crate) store: Arc<dyn LiveExecutionAdapter>,
    /// Where backups are exported besides the store's journal.
    pub(crate) export: Arc<dyn BackupStore>,
    phases: Vec<Box<dyn Phase>>,
}

impl Pipeline {
    pub(crate) fn new(
        store: Arc<dyn LiveExecutionAdapter>,
        export: Arc<dyn BackupStore>,
        phases: Vec<Box<dyn Phase>>,
    ) -> Self {
        Pipeline {
            store,
            export,
            phases,
        }
    }

    /// The backups, journaled in the store and exported, for reading outside a run's lease
    /// (an invocation writes through the store carrying its lease claim).
    pub(crate) fn backups(&self) -> Arc<dyn BackupStore> {
        Arc::new(JournalBackupStore::new(
            self.store.clone(),
            self.export.clone(),
        ))
    }

    /// The phases, in run order.
    pub(crate) fn phases(&self) -> &[Box<dyn Phase>] {
        &self.phases
    }

    /// The phases' names, in run order.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.phases.iter().map(|p| p.name()).collect()
    }

    /// The name of phase `index`.
    pub(crate) fn name(&self, index: usize) -> Option<&str> {
        self.phases.get(index).map(|p| p.name())
    }

    /// The index of the phase with `role` (the first, should several claim it).
    pub(crate) fn position(&self, role: PhaseRole) -> Option<usize> {
        self.phases.iter().position(|p| p.role() == role)
    }

    /// The name of the phase with `role`.
    pub(crate) fn name_of(&self, role: PhaseRole) -> Option<&str> {
        self.position(role).and_then(|i| self.name(i))
    }

    /// Whether `record` shows the phase with `role` done.
    pub(crate) fn done(&self, record: &RunRecord, role: PhaseRole) -> bool {
        self.name_of(role)
            .and_then(|name| record.phase(name))
            .is_some_and(|p| p.status == PhaseStatus::Done)
    }

    /// Index of the first phase the journal does not show done; `None` when all are done.
    pub(crate) fn first_open(&self, record: &RunRecord) -> Option<usize> {
        self.phases
            .iter()
            .position(|p| record.phase(p.name()).map(|r| r.status) != Some(PhaseStatus::Done))
    }

    /// The name of the first phase the journal does not show done: where a resume starts.
    pub(crate) fn resume_from(&self, record: &RunRecord) -> Option<String> {
        self.first_open(record)
            .and_then(|i| self.name(i))
            .map(str::to_owned)
    }

    /// Whether a journaled phase comes after the backup in this order. Unknown phases, or a
    /// runner without a backup phase, count as after: the safe answer.
    pub(crate) fn is_after_backup(&self, name: &str) -> bool {
        let backup = self.position(PhaseRole::Backup);
        if name == ROLLBACK_PHASE || backup.and_then(|i| self.name(i)) == Some(name) {
            return false;
        }
        match (backup, self.phases.iter().position(|p| p.name() == name)) {
            (Some(backup), Some(phase)) => phase > backup,
            _ => true,
        }
    }

    /// Checks the options against the phases; returns the index of the `until` phase.
    pub(crate) fn validate(&self, options: &RunOptions) -> Result<Option<usize>, RunnerError> {
        for (i, phase) in self.phases.iter().enumerate() {
            if phase.name() == ROLLBACK_PHASE {
                return Err(RunnerError::ReservedPhase(ROLLBACK_PHASE.into()));
            }
            if self.phases[..i].iter().any(|p| p.name() == phase.name()) {
                return Err(RunnerError::DuplicatePhase(phase.name().to_owned()));
            }
        }
        if options.batch_units == 0 {
            return Err(RunnerError::InvalidOption(
                "batch_units must be at least 1".into(),
            ));
        }
        options
            .until
            .as_deref()
            .map(|until| {
                self.phases
                    .iter()
                    .position(|p| p.name() == until)
                    .ok_or_else(|| RunnerError::UnknownPhase {
                        phase: until.to_owned(),
                        known: self.names().join(", "),
                    })
            })
            .transpose()
    }
}
