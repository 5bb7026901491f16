//! `Timed`: an adapter layer that times every call to the adapter under it, per operation, so
//! that a full run's time can be split into what each store operation cost (the profile of the
//! store benchmarks). It adds two clock reads and a lock per call, nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterInfo, AdapterResult, Backup, Census, Document, DocumentHead, DocumentId,
    ExpectedRevision, GenerationRecord, Lease, LeaseView, LiveExecutionAdapter, PhaseRecord, Plan,
    PurgeTarget, Restoration, RunId, RunRecord, RunStatus, Scope, StoreSnapshot, StoredBackup,
    Unit,
};

/// Calls and total time, per operation name.
pub(crate) type Timings = BTreeMap<&'static str, (u64, Duration)>;

pub(crate) struct Timed {
    inner: Arc<dyn LiveExecutionAdapter>,
    timings: Mutex<Timings>,
}

impl Timed {
    pub(crate) fn new(inner: Arc<dyn LiveExecutionAdapter>) -> Self {
        Timed {
            inner,
            timings: Mutex::new(BTreeMap::new()),
        }
    }

    pub(crate) fn timings(&self) -> Timings {
        self.timings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn time<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        let spent = started.elapsed();
        let mut timings = self.timings.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = timings.entry(name).or_default();
        entry.0 += 1;
        entry.1 += spent;
        out
    }
}

#[async_trait]
impl LiveExecutionAdapter for Timed {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }
    async fn preflight(&self) -> AdapterResult<()> {
        self.time("preflight", self.inner.preflight()).await
    }
    async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>> {
        self.time("load_scope", self.inner.load_scope(scope)).await
    }
    async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
        self.time("load_heads", self.inner.load_heads(scope)).await
    }
    async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>> {
        self.time("generations", self.inner.generations(document))
            .await
    }
    async fn generation_units(
        &self,
        document: &DocumentId,
        generation: &RunId,
    ) -> AdapterResult<Vec<Unit>> {
        self.time(
            "generation_units",
            self.inner.generation_units(document, generation),
        )
        .await
    }
    async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
        self.time("active_units", self.inner.active_units(document))
            .await
    }
    async fn census(&self) -> AdapterResult<Census> {
        self.time("census", self.inner.census()).await
    }
    async fn snapshot(&self) -> AdapterResult<StoreSnapshot> {
        self.time("snapshot", self.inner.snapshot()).await
    }
    async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>> {
        self.time("load_run", self.inner.load_run(run)).await
    }
    async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>> {
        self.time("list_runs", self.inner.list_runs()).await
    }
    async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>> {
        self.time("load_plan", self.inner.load_plan(run)).await
    }
    async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>> {
        self.time("load_reports", self.inner.load_reports(run))
            .await
    }
    async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
        self.time("load_backup", self.inner.load_backup(run)).await
    }
    async fn load_leases(&self) -> AdapterResult<LeaseView> {
        self.time("load_leases", self.inner.load_leases()).await
    }
    async fn put_documents(
        &self,
        documents: &[(DocumentId, String)],
    ) -> AdapterResult<Vec<Document>> {
        self.time("put_documents", self.inner.put_documents(documents))
            .await
    }
    async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord> {
        self.time("begin_run", self.inner.begin_run(record)).await
    }
    async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
        self.time("record_phase", self.inner.record_phase(run, phase))
            .await
    }
    async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
        self.time("set_run_status", self.inner.set_run_status(run, status))
            .await
    }
    async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
        self.time("save_plan", self.inner.save_plan(run, plan))
            .await
    }
    async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()> {
        self.time("save_report", self.inner.save_report(run, report))
            .await
    }
    async fn save_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> AdapterResult<()> {
        self.time("save_backup", self.inner.save_backup(run, artifact, sha256))
            .await
    }
    async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()> {
        self.time("fence", self.inner.fence(run, expectations))
            .await
    }
    async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
        self.time("write_units", self.inner.write_units(run, units))
            .await
    }
    async fn enact(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<u64> {
        self.time("enact", self.inner.enact(run, expectations))
            .await
    }
    async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
        self.time("restore", self.inner.restore(run, backup)).await
    }
    async fn purge_generations(&self, generations: &[PurgeTarget]) -> AdapterResult<u64> {
        self.time(
            "purge_generations",
            self.inner.purge_generations(generations),
        )
        .await
    }
    async fn acquire_lease(
        &self,
        run: &RunId,
        holder: &str,
        ttl: Duration,
    ) -> AdapterResult<Lease> {
        self.time("acquire_lease", self.inner.acquire_lease(run, holder, ttl))
            .await
    }
    async fn renew_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease> {
        self.time("renew_lease", self.inner.renew_lease(run, holder, ttl))
            .await
    }
    async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
        self.time("release_lease", self.inner.release_lease(run, holder))
            .await
    }
}
