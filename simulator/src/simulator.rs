//! [`Simulator`]: the in-memory store ([`MemoryStore`]) behind the fault-injection layer
//! ([`Faulty`]), with the test's view of its state from outside the process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, Census, DocumentId, Lease, LeaseClaim,
    LiveExecutionAdapter, Op, Reply, RunId, Scope, StoreSnapshot, Unavailability, UnavailableKind,
};

use crate::fault::{CallRecord, Fault, FaultKind, FaultPlan, Faulty, Operation};
use crate::store::Store;

/// How many documents [`Simulator::seed_from_scope`] reads a call.
pub const SCOPE_READ_BATCH: usize = 500;

/// How many times [`Simulator::seed_from_scope`] copies a scope that changed underneath it
/// before it gives up.
pub const SEED_ATTEMPTS: usize = 3;

/// The simulator's store: documents, generations, units and the journal in ordered maps behind
/// one lock, with exactly the semantics of the live SQL stores (every call validates its whole
/// request before applying anything, so a failed call changes nothing), and a read-only mode
/// that refuses every mutation.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<Store>,
    read_only: AtomicBool,
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave a half-applied store (mutations validate
        // before applying), so a poisoned lock is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl LiveExecutionAdapter for MemoryStore {
    fn info(&self) -> AdapterInfo {
        AdapterInfo {
            kind: "simulator".to_owned(),
            live: false,
            location: "memory".to_owned(),
            source: None,
        }
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        if op.kind().mutates() && self.read_only.load(Ordering::SeqCst) {
            return Err(AdapterError::ReadOnly);
        }
        let mut store = self.lock();
        if let Some(claim) = claim {
            store.check_claim(claim)?;
        }
        store.apply(op)
    }
}

/// An in-memory store with exactly the semantics of the live SQL stores, behind fault
/// injection.
///
/// Deterministic: ordered maps, no randomness, and a logical clock (for leases) that only
/// [`Simulator::advance_clock`] moves. Every call except `info` gets a global call index from 0,
/// is logged ([`Simulator::call_log`]) and may be hit by an armed [`Fault`] (the [`Faulty`]
/// layer, which wraps a SQL store just as well).
///
/// The `state_*` methods and the constructors are the test's view from outside the process: they
/// are synchronous, are not counted or logged, and work even while the simulator is crashed.
#[derive(Debug)]
pub struct Simulator {
    layers: Faulty<Arc<MemoryStore>>,
}

impl Default for Simulator {
    fn default() -> Self {
        Self::from_store(Store::default())
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

    /// A writable simulator seeded from `adapter`'s snapshot (one read on `adapter`).
    pub async fn seed_from(adapter: &dyn LiveExecutionAdapter) -> AdapterResult<Self> {
        use iu_cutter_live_execution::Reads;
        Ok(Self::from_snapshot(adapter.snapshot().await?))
    }

    /// A writable simulator seeded with `documents` of `adapter` only (a dry run's scope): each
    /// document, its generation records and the units of every generation, the active ones read
    /// [`SCOPE_READ_BATCH`] documents a call, so that seeding costs O(scope) whatever the size of
    /// the store (a full [`snapshot`](iu_cutter_live_execution::Reads::snapshot) copies every
    /// document). The units of staged and retired generations are copied too, one generation a
    /// call: a run reads none of them, but its census counts and digests them, so without them a
    /// dry run's report would count fewer units than the store holds, under a fingerprint no
    /// live census of the scope has.
    ///
    /// The copy is consistent although it takes several reads: it is taken after a change mark
    /// and kept only if no document of the scope changed since the mark; otherwise it is taken
    /// again, [`SEED_ATTEMPTS`] times at most, then refused as
    /// [`UnavailableKind::Busy`](iu_cutter_live_execution::UnavailableKind::Busy) (a dry run
    /// racing a live enact would otherwise copy some documents before it and some after).
    pub async fn seed_from_scope(
        adapter: &dyn LiveExecutionAdapter,
        documents: &[DocumentId],
    ) -> AdapterResult<Self> {
        use iu_cutter_live_execution::Reads;
        let scope: std::collections::BTreeSet<&DocumentId> = documents.iter().collect();
        for _ in 0..SEED_ATTEMPTS {
            let mark = adapter.scope_census_summary(&[]).await?.mark;
            let snapshot = Self::copy_scope(adapter, documents).await?;
            let changed = adapter.changed_since(&mark).await?;
            if !changed.iter().any(|id| scope.contains(id)) {
                return Ok(Self::from_snapshot(snapshot));
            }
        }
        Err(AdapterError::Unavailable(Unavailability::new(
            UnavailableKind::Busy,
            format!(
                "the scope's documents kept changing while the dry run copied them \
                 ({SEED_ATTEMPTS} attempts); nothing was changed: try again when they are quiet"
            ),
        )))
    }

    /// One copy of `documents`, batch by batch (see [`seed_from_scope`](Self::seed_from_scope)).
    async fn copy_scope(
        adapter: &dyn LiveExecutionAdapter,
        documents: &[DocumentId],
    ) -> AdapterResult<StoreSnapshot> {
        use iu_cutter_live_execution::Reads;
        let mut snapshot = StoreSnapshot::default();
        for batch in documents.chunks(SCOPE_READ_BATCH) {
            let scope = Scope::Ids(batch.to_vec());
            let loaded = adapter.load_scope(&scope).await?;
            let generations = adapter.generations_of(batch).await?;
            snapshot.units.extend(adapter.active_units_of(batch).await?);
            let active: std::collections::BTreeMap<&DocumentId, &RunId> = loaded
                .iter()
                .filter_map(|d| d.active_generation.as_ref().map(|g| (&d.id, g)))
                .collect();
            for record in &generations {
                if active.get(&record.document) != Some(&&record.generation) {
                    let units = adapter
                        .generation_units(&record.document, &record.generation)
                        .await?;
                    snapshot.units.extend(units);
                }
            }
            snapshot.documents.extend(loaded);
            snapshot.generations.extend(generations);
        }
        Ok(snapshot)
    }

    /// The same simulator, read-only from now on.
    pub fn read_only(self) -> Self {
        self.memory().read_only.store(true, Ordering::SeqCst);
        self
    }

    /// The same simulator with `plan`'s faults armed too.
    pub fn with_faults(self, plan: FaultPlan) -> Self {
        self.arm(plan);
        self
    }

    fn from_store(store: Store) -> Self {
        Simulator {
            layers: Faulty::new(Arc::new(MemoryStore {
                state: Mutex::new(store),
                read_only: AtomicBool::new(false),
            })),
        }
    }

    fn memory(&self) -> &MemoryStore {
        self.layers.inner()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        self.memory().lock()
    }

    /// How many rollback windows and holds the store keeps.
    #[cfg(test)]
    pub(crate) fn kept_windows_and_holds(&self) -> (usize, usize) {
        self.store().kept_windows_and_holds()
    }

    // ---- faults --------------------------------------------------------------------------

    /// Arms a fault against a global call index.
    pub fn inject(&self, fault: Fault) {
        self.layers.inject(fault);
    }

    /// Arms a fault against the `occurrence`-th call (from 0, over the simulator's life) of
    /// `operation`.
    pub fn inject_on(&self, operation: Operation, occurrence: u64, kind: FaultKind) {
        self.layers.inject_on(operation, occurrence, kind);
    }

    /// Arms every fault of `plan`.
    pub fn arm(&self, plan: FaultPlan) {
        self.layers.arm(plan);
    }

    /// The faults still armed.
    pub fn armed_faults(&self) -> FaultPlan {
        self.layers.armed_faults()
    }

    /// Disarms every fault.
    pub fn disarm(&self) {
        self.layers.disarm();
    }

    /// Crashes the simulated process now (as if killed between calls).
    pub fn crash(&self) {
        self.layers.crash();
    }

    /// Restarts the simulated process: durable state (store and journal) is kept, the crash is
    /// cleared. Armed faults, counters and the log are kept too.
    pub fn recover(&self) {
        self.layers.recover();
    }

    /// Whether the simulated process is down.
    pub fn is_crashed(&self) -> bool {
        self.layers.is_crashed()
    }

    /// Whether mutations are refused.
    pub fn is_read_only(&self) -> bool {
        self.memory().read_only.load(Ordering::SeqCst)
    }

    // ---- observation ---------------------------------------------------------------------

    /// Number of calls so far (the index the next call gets).
    pub fn call_count(&self) -> u64 {
        self.layers.call_count()
    }

    /// Every call so far, in order.
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.layers.call_log()
    }

    /// Number of mutating calls whose effect reached the store: every mutating call that returned
    /// `Ok`, including idempotent ones that changed nothing (a repeated fence, an unchanged
    /// `put_document`), plus those applied just before a crash-after fault.
    pub fn mutation_count(&self) -> u64 {
        self.layers.mutation_count()
    }

    /// Moves the logical clock (which lease expiry is measured against) forward by `by`. Not
    /// counted, not logged; works while crashed (time passes for a dead process too).
    pub fn advance_clock(&self, by: Duration) {
        self.store().advance_clock(by);
    }

    /// The logical clock, in milliseconds (starts at 0).
    pub fn clock_ms(&self) -> u64 {
        self.store().clock_ms()
    }

    /// The lease on `run`, live or expired, if any. Not counted, not logged.
    pub fn state_lease(&self, run: &RunId) -> Option<Lease> {
        self.store().lease(run)
    }

    /// The census of the current state (the same code the adapter's `census` runs).
    pub fn state_census(&self) -> Census {
        self.store().census()
    }

    /// The census fingerprint of the current state.
    pub fn state_fingerprint(&self) -> String {
        self.state_census().fingerprint
    }

    /// A full copy of the current documents, generations and units.
    pub fn state_snapshot(&self) -> StoreSnapshot {
        self.store().snapshot()
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
        self.store()
            .edit_unit_raw(document, generation, ordinal, body)
    }

    /// Replaces a run's journaled backup artifact and its recorded sha256, as raw SQL on the
    /// store's table would (tests of tampering). Not counted, not logged. False when the run has
    /// no journaled backup.
    pub fn state_replace_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> bool {
        self.store().replace_backup(run, artifact, sha256)
    }

    /// Replaces part `seq` (from 0) of a run's sealed plan, as raw SQL on `run_plan_parts`
    /// would. Not counted, not logged. False when the run has no such part.
    pub fn state_replace_plan_part(&self, run: &RunId, seq: u64, text: &str) -> bool {
        self.store().replace_plan_part(run, seq, text)
    }

    /// Replaces a document's body and nothing else, as raw SQL that ignores the revision and
    /// sha256 columns would: the edit that only a compare-and-set hashing the stored body can
    /// see. Not counted, not logged. False when there is no such document.
    pub fn state_edit_body_raw(&self, document: &DocumentId, body: &str) -> bool {
        self.store().edit_body_raw(document, body)
    }
}

#[async_trait]
impl LiveExecutionAdapter for Simulator {
    fn info(&self) -> AdapterInfo {
        self.layers.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        self.layers.call(op, claim).await
    }
}
