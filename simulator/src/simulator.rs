//! [`Simulator`]: the in-memory [`LiveExecutionAdapter`] with call counting, a call log, a
//! mutation counter, fault injection and a read-only mode.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, Backup, Census, Document, DocumentHead, DocumentId,
    ExpectedRevision, GenerationRecord, Lease, LeaseView, LiveExecutionAdapter, PhaseRecord, Plan,
    PurgeTarget, Restoration, RunId, RunRecord, RunStatus, Scope, StoreSnapshot, StoredBackup,
    Unit,
};

use crate::fault::{
    CallOutcome, CallRecord, Fault, FaultKind, FaultPlan, Operation, OperationFault,
};
use crate::store::Store;

/// An in-memory store with exactly the semantics of the live SQL stores.
///
/// Deterministic: ordered maps, no randomness, and a logical clock (for leases) that only
/// [`Simulator::advance_clock`] moves. Every adapter call except `info` gets a
/// global call index from 0, is logged ([`Simulator::call_log`]) and may be hit by an armed
/// [`Fault`]. Mutations validate the whole request before applying anything, so a failed call
/// changes nothing.
///
/// The `state_*` methods and the constructors are the test's view from outside the process: they
/// are synchronous, are not counted or logged, and work even while the simulator is crashed.
#[derive(Debug, Default)]
pub struct Simulator {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    store: Store,
    read_only: bool,
    /// Why the simulated process is down, if it is.
    crashed: Option<String>,
    next_call: u64,
    occurrences: BTreeMap<Operation, u64>,
    faults: FaultPlan,
    log: Vec<CallRecord>,
    mutations: u64,
}

impl Inner {
    fn dispatch<T>(
        &mut self,
        index: u64,
        operation: Operation,
        occurrence: u64,
        apply: impl FnOnce(&mut Store) -> AdapterResult<T>,
    ) -> (AdapterResult<T>, bool) {
        if let Some(reason) = &self.crashed {
            return (
                Err(AdapterError::Unavailable(format!(
                    "simulated crash ({reason}); call recover() to restart"
                ))),
                false,
            );
        }
        let fault = self.faults.take(index, operation, occurrence);
        match fault {
            Some(FaultKind::Error) => {
                return (
                    Err(AdapterError::InjectedFault {
                        call: index,
                        operation: operation.name().to_owned(),
                    }),
                    false,
                );
            }
            Some(FaultKind::CrashBefore) => {
                let reason = format!("crashed before call {index} ({operation})");
                let error = AdapterError::Unavailable(format!("simulated crash ({reason})"));
                self.crashed = Some(reason);
                return (Err(error), false);
            }
            Some(FaultKind::CrashAfter) | None => {}
        }
        let mutating = operation.is_mutating();
        let result = if mutating && self.read_only {
            Err(AdapterError::ReadOnly)
        } else {
            apply(&mut self.store)
        };
        let applied = mutating && result.is_ok();
        if applied {
            self.mutations += 1;
        }
        if fault == Some(FaultKind::CrashAfter) {
            let reason = format!("crashed after call {index} ({operation})");
            let error = AdapterError::Unavailable(format!("simulated crash ({reason})"));
            self.crashed = Some(reason);
            return (Err(error), applied);
        }
        (result, applied)
    }
}

impl Simulator {
    /// An empty, writable simulator with no faults armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A simulator holding these documents (each as if `put_document` had been called, in order;
    /// a repeated id with a different body bumps its revision). Not counted, not logged.
    pub fn with_documents<I, K, B>(documents: I) -> Self
    where
        I: IntoIterator<Item = (K, B)>,
        K: Into<DocumentId>,
        B: AsRef<str>,
    {
        let mut store = Store::default();
        for (id, body) in documents {
            store.put_document(&id.into(), body.as_ref());
        }
        Self::from_store(store)
    }

    /// A writable simulator seeded with another store's documents, generations and units. The
    /// journal starts empty.
    pub fn from_snapshot(snapshot: StoreSnapshot) -> Self {
        Self::from_store(Store::from_snapshot(snapshot))
    }

    /// A read-only simulator seeded from a snapshot: every mutating call returns
    /// [`AdapterError::ReadOnly`] and applies nothing.
    pub fn read_only_from(snapshot: StoreSnapshot) -> Self {
        Self::from_snapshot(snapshot).read_only()
    }

    /// A writable simulator seeded from `adapter.snapshot()` (one read on `adapter`).
    pub async fn seed_from(adapter: &dyn LiveExecutionAdapter) -> AdapterResult<Self> {
        Ok(Self::from_snapshot(adapter.snapshot().await?))
    }

    /// The same simulator, read-only from now on.
    pub fn read_only(self) -> Self {
        self.lock().read_only = true;
        self
    }

    /// The same simulator with `plan`'s faults armed too.
    pub fn with_faults(self, plan: FaultPlan) -> Self {
        self.arm(plan);
        self
    }

    fn from_store(store: Store) -> Self {
        Simulator {
            inner: Mutex::new(Inner {
                store,
                ..Inner::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied store (mutations validate
        // before applying), so a poisoned lock is safe to reuse.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn call<T>(
        &self,
        operation: Operation,
        apply: impl FnOnce(&mut Store) -> AdapterResult<T>,
    ) -> AdapterResult<T> {
        let mut inner = self.lock();
        let index = inner.next_call;
        inner.next_call += 1;
        let counter = inner.occurrences.entry(operation).or_insert(0);
        let occurrence = *counter;
        *counter += 1;
        let (result, applied) = inner.dispatch(index, operation, occurrence, apply);
        inner.log.push(CallRecord {
            index,
            operation,
            mutating: operation.is_mutating(),
            applied,
            outcome: match &result {
                Ok(_) => CallOutcome::Ok,
                Err(error) => CallOutcome::Err(error.to_string()),
            },
        });
        result
    }

    // ---- faults --------------------------------------------------------------------------

    /// Arms a fault against a global call index.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Arms a fault against the `occurrence`-th call (from 0, over the simulator's life) of
    /// `operation`.
    pub fn inject_on(&self, operation: Operation, occurrence: u64, kind: FaultKind) {
        self.lock().faults.push_operation(OperationFault {
            operation,
            occurrence,
            kind,
        });
    }

    /// Arms every fault of `plan`.
    pub fn arm(&self, plan: FaultPlan) {
        self.lock().faults.extend(plan);
    }

    /// The faults still armed.
    pub fn armed_faults(&self) -> FaultPlan {
        self.lock().faults.clone()
    }

    /// Disarms every fault.
    pub fn disarm(&self) {
        self.lock().faults = FaultPlan::new();
    }

    /// Crashes the simulated process now (as if killed between calls).
    pub fn crash(&self) {
        let mut inner = self.lock();
        let at = inner.next_call;
        inner.crashed = Some(format!("killed before call {at}"));
    }

    /// Restarts the simulated process: durable state (store and journal) is kept, the crash is
    /// cleared. Armed faults, counters and the log are kept too.
    pub fn recover(&self) {
        self.lock().crashed = None;
    }

    /// Whether the simulated process is down.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed.is_some()
    }

    /// Whether mutations are refused.
    pub fn is_read_only(&self) -> bool {
        self.lock().read_only
    }

    // ---- observation ---------------------------------------------------------------------

    /// Number of calls so far (the index the next call gets).
    pub fn call_count(&self) -> u64 {
        self.lock().next_call
    }

    /// Every call so far, in order.
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.lock().log.clone()
    }

    /// Number of mutating calls whose effect reached the store: every mutating call that returned
    /// `Ok`, including idempotent ones that changed nothing (a repeated fence, an unchanged
    /// `put_document`), plus those applied just before a crash-after fault.
    pub fn mutation_count(&self) -> u64 {
        self.lock().mutations
    }

    /// Moves the logical clock (which lease expiry is measured against) forward by `by`. Not
    /// counted, not logged; works while crashed (time passes for a dead process too).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().store.advance_clock(by);
    }

    /// The logical clock, in milliseconds (starts at 0).
    pub fn clock_ms(&self) -> u64 {
        self.lock().store.clock_ms()
    }

    /// The lease on `run`, live or expired, if any. Not counted, not logged.
    pub fn state_lease(&self, run: &RunId) -> Option<Lease> {
        self.lock().store.lease(run)
    }

    /// The census of the current state (the same code the adapter's `census` runs).
    pub fn state_census(&self) -> Census {
        self.lock().store.census()
    }

    /// The census fingerprint of the current state.
    pub fn state_fingerprint(&self) -> String {
        self.state_census().fingerprint
    }

    /// A full copy of the current documents, generations and units.
    pub fn state_snapshot(&self) -> StoreSnapshot {
        self.lock().store.snapshot()
    }

    /// Replaces one unit's body and nothing else (its recorded sha256 untouched), as raw SQL on
    /// the units table would. Not counted, not logged. False when there is no such unit.
    pub fn state_edit_unit_raw(
        &self,
        document: &DocumentId,
        generation: &RunId,
        ordinal: u32,
        body: &str,
    ) -> bool {
        self.lock()
            .store
            .edit_unit_raw(document, generation, ordinal, body)
    }

    /// Replaces a run's journaled backup artifact and its recorded sha256, as raw SQL on the
    /// store's table would (tests of tampering). Not counted, not logged. False when the run has
    /// no journaled backup.
    pub fn state_replace_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> bool {
        self.lock().store.replace_backup(run, artifact, sha256)
    }

    /// Replaces a document's body and nothing else, as raw SQL that ignores the revision and
    /// sha256 columns would: the edit that only a compare-and-set hashing the stored body can
    /// see. Not counted, not logged. False when there is no such document.
    pub fn state_edit_body_raw(&self, document: &DocumentId, body: &str) -> bool {
        self.lock().store.edit_body_raw(document, body)
    }
}

#[async_trait]
impl LiveExecutionAdapter for Simulator {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: "simulator".to_owned(),
            live: false,
            location: "memory".to_owned(),
        }
    }

    async fn preflight(&self) -> AdapterResult<()> {
        self.call(Operation::Preflight, |_| Ok(()))
    }

    async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>> {
        self.call(Operation::LoadScope, |s| Ok(s.load_scope(scope)))
    }

    async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
        self.call(Operation::LoadHeads, |s| Ok(s.load_heads(scope)))
    }

    async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>> {
        self.call(Operation::Generations, |s| Ok(s.generations(document)))
    }

    async fn generation_units(
        &self,
        document: &DocumentId,
        generation: &RunId,
    ) -> AdapterResult<Vec<Unit>> {
        self.call(Operation::GenerationUnits, |s| {
            Ok(s.generation_units(document, generation))
        })
    }

    async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
        self.call(Operation::ActiveUnits, |s| Ok(s.active_units(document)))
    }

    async fn census(&self) -> AdapterResult<Census> {
        self.call(Operation::Census, |s| Ok(s.census()))
    }

    async fn snapshot(&self) -> AdapterResult<StoreSnapshot> {
        self.call(Operation::Snapshot, |s| Ok(s.snapshot()))
    }

    async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>> {
        self.call(Operation::LoadRun, |s| Ok(s.load_run(run)))
    }

    async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>> {
        self.call(Operation::ListRuns, |s| Ok(s.list_runs()))
    }

    async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>> {
        self.call(Operation::LoadPlan, |s| Ok(s.load_plan(run)))
    }

    async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>> {
        self.call(Operation::LoadReports, |s| Ok(s.load_reports(run)))
    }

    async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
        self.call(Operation::LoadBackup, |s| Ok(s.load_backup(run)))
    }

    async fn load_leases(&self) -> AdapterResult<LeaseView> {
        self.call(Operation::LoadLeases, |s| Ok(s.load_leases()))
    }

    async fn put_documents(
        &self,
        documents: &[(DocumentId, String)],
    ) -> AdapterResult<Vec<Document>> {
        self.call(Operation::PutDocuments, |s| s.put_documents(documents))
    }

    async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord> {
        self.call(Operation::BeginRun, |s| Ok(s.begin_run(record)))
    }

    async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
        self.call(Operation::RecordPhase, |s| s.record_phase(run, phase))
    }

    async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
        self.call(Operation::SetRunStatus, |s| s.set_run_status(run, status))
    }

    async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
        self.call(Operation::SavePlan, |s| s.save_plan(run, plan))
    }

    async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()> {
        self.call(Operation::SaveReport, |s| s.save_report(run, report))
    }

    async fn save_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> AdapterResult<()> {
        self.call(Operation::SaveBackup, |s| {
            s.save_backup(run, artifact, sha256)
        })
    }

    async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()> {
        self.call(Operation::Fence, |s| s.fence(run, expectations))
    }

    async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
        self.call(Operation::WriteUnits, |s| s.write_units(run, units))
    }

    async fn enact(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<u64> {
        self.call(Operation::Enact, |s| s.enact(run, expectations))
    }

    async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
        self.call(Operation::Restore, |s| s.restore(run, backup))
    }

    async fn purge_generations(&self, generations: &[PurgeTarget]) -> AdapterResult<u64> {
        self.call(Operation::PurgeGenerations, |s| {
            s.purge_generations(generations)
        })
    }

    async fn acquire_lease(
        &self,
        run: &RunId,
        holder: &str,
        ttl: Duration,
    ) -> AdapterResult<Lease> {
        self.call(Operation::AcquireLease, |s| {
            s.acquire_lease(run, holder, ttl)
        })
    }

    async fn renew_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease> {
        self.call(Operation::RenewLease, |s| s.renew_lease(run, holder, ttl))
    }

    async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
        self.call(Operation::ReleaseLease, |s| s.release_lease(run, holder))
    }
}
