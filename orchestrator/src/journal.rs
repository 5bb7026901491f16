//! The run's journal as one invocation writes it: every phase transition and run status goes
//! through [`RunJournal`], which also remembers whether the invocation has changed the store
//! yet, so that no outcome can claim that nothing was changed after a write. Its times come
//! from the invocation's [`Clock`].

use std::sync::Arc;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, AdapterResult, Evidence, LiveExecutionAdapter, PhaseRecord, PhaseStatus, RunId,
    RunRecord, RunStatus, Scope, SyncReport,
};

use crate::clock::{self, Clock};
use crate::next::NextAction;
use crate::report::{LeaseLost, Outcome};

/// The journal entry a rollback writes for its run. Reserved: no phase may use this name.
pub const ROLLBACK_PHASE: &str = "rollback";

/// One invocation's writes to its run's journal.
pub(crate) struct RunJournal {
    store: Arc<dyn LiveExecutionAdapter>,
    run: RunId,
    mutated: bool,
    /// The store's refusal of a write because this invocation's lease was lost.
    lease_lost: Option<LeaseLost>,
    clock: Arc<dyn Clock>,
}

impl RunJournal {
    /// The journal of `run`, written through `store`, with times read from `clock`.
    pub(crate) fn new(
        store: Arc<dyn LiveExecutionAdapter>,
        run: RunId,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RunJournal {
            store,
            run,
            mutated: false,
            lease_lost: None,
            clock,
        }
    }

    /// Now on the journal's clock, as the journal writes times ([`clock::rfc3339`]).
    pub(crate) fn now(&self) -> String {
        clock::rfc3339(self.clock.now())
    }

    /// A journal entry for phase `name`, started at `started_at`; any status but `Running` is
    /// stamped finished now.
    pub(crate) fn phase_record(
        &self,
        name: &str,
        status: PhaseStatus,
        evidence: Evidence,
        detail: Option<String>,
        started_at: &str,
    ) -> PhaseRecord {
        PhaseRecord {
            name: name.to_owned(),
            status,
            evidence,
            detail,
            started_at: Some(started_at.to_owned()),
            first_started_at: None,
            finished_at: (status != PhaseStatus::Running).then(|| self.now()),
        }
    }

    /// Writes from now on go through `store` (the same store, now carrying the lease claim).
    pub(crate) fn write_through(&mut self, store: Arc<dyn LiveExecutionAdapter>) {
        self.store = store;
    }

    /// Whether a write of this invocation has succeeded: the store was changed.
    pub(crate) fn mutated(&self) -> bool {
        self.mutated
    }

    /// Why the store refused a write for a lost lease, if it did: another runner owns the run
    /// now, so nothing of this invocation, its report included, belongs in the run's journal.
    pub(crate) fn lease_lost(&self) -> Option<&LeaseLost> {
        self.lease_lost.as_ref()
    }

    /// Brings the tracking copies of `scope`'s source rows up to date: a write of this
    /// invocation as soon as it changed any.
    pub(crate) async fn sync_source(
        &mut self,
        scope: &Scope,
        every_row: bool,
    ) -> AdapterResult<SyncReport> {
        let report = self.store.sync_source(scope, every_row).await?;
        self.mutated |= report.added + report.changed + report.touched > 0;
        Ok(report)
    }

    /// Drops the journal parts of the run's unsealed backup; how many. A write of this
    /// invocation as soon as it dropped any (a refusal after it must not say nothing changed).
    pub(crate) async fn discard_backup_parts(&mut self) -> AdapterResult<u64> {
        let dropped = self.store.discard_backup_parts(&self.run).await;
        if let Err(AdapterError::LeaseLost { .. }) = &dropped {
            return self.wrote(dropped);
        }
        self.mutated |= dropped.as_ref().is_ok_and(|n| *n > 0);
        dropped
    }

    fn wrote<T>(&mut self, result: AdapterResult<T>) -> AdapterResult<T> {
        self.mutated |= result.is_ok();
        if let Err(AdapterError::LeaseLost { holder, found, .. }) = &result {
            self.lease_lost.get_or_insert_with(|| LeaseLost {
                holder: holder.clone(),
                found: found.clone(),
            });
        }
        result
    }

    /// Journals the run (or returns the journaled one with the same id).
    pub(crate) async fn begin(&mut self, fresh: &RunRecord) -> AdapterResult<RunRecord> {
        let result = self.store.begin_run(fresh).await;
        self.wrote(result)
    }

    /// Journals a phase transition.
    pub(crate) async fn phase(&mut self, record: &PhaseRecord) -> AdapterResult<()> {
        let result = self.store.record_phase(&self.run, record).await;
        self.wrote(result)
    }

    /// Journals the run's status.
    pub(crate) async fn status(&mut self, status: RunStatus) -> AdapterResult<()> {
        let result = self.store.set_run_status(&self.run, status).await;
        self.wrote(result)
    }
}

/// Mirrors a phase transition in an in-memory copy of the journal, so later phases see it.
pub(crate) fn upsert(record: &mut RunRecord, phase: PhaseRecord) {
    match record.phases.iter_mut().find(|p| p.name == phase.name) {
        Some(existing) => *existing = phase,
        None => record.phases.push(phase),
    }
}

/// The outcome of a journaled run that must not run again. A passed run whose rollback began
/// and was stopped part-way (a closed kill switch refuses the journal's writes too, so its status
/// still says `PASS`) is not passed any more: `None`, and continuing it fails naming the rollback.
pub(crate) fn finished_outcome(record: &RunRecord) -> Option<Outcome> {
    match record.status {
        RunStatus::Pass if rollback_began(record) => None,
        RunStatus::Pass => Some(Outcome::Pass),
        RunStatus::RolledBack => Some(Outcome::RolledBack),
        _ => None,
    }
}

/// Whether `record` shows a rollback that began, finished or was stopped part-way: that ends the
/// run. One that failed before changing anything (a later run held a document, the store
/// refused) leaves it as it was.
pub(crate) fn rollback_began(record: &RunRecord) -> bool {
    record.phase(ROLLBACK_PHASE).is_some_and(|p| {
        matches!(
            p.status,
            PhaseStatus::Running | PhaseStatus::Done | PhaseStatus::Blocked
        )
    })
}

/// Whether `record` is a run rolled back in part: its rollback began and did not finish (stopped
/// part-way, killed, or refused by the kill switch, which refuses the journal's writes too, so
/// its status may still say `PASS`). Rolling it back again finishes it; nothing else may continue
/// it.
pub fn rolled_back_in_part(record: &RunRecord) -> bool {
    record.status != RunStatus::RolledBack && rollback_began(record)
}

/// The next action that continues a journaled run where it stopped.
pub(crate) fn resume_action(run: &RunId) -> Vec<NextAction> {
    vec![NextAction::resume(run)]
}
