//! The kill switch: an [`ExecutionGate`] made of sources, and [`Guarded`], the layer that wraps
//! any adapter and checks the gate before every mutating call.
//!
//! The gate opens only when at least one source opens it (the configuration's
//! `execution_enabled`, or `--execute`) and no source closes it (a stop file, the control row in
//! the database). It is checked at every mutating call, never cached, so closing it mid-run stops
//! the run at its next mutation.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::adapter::{AdapterResult, LiveExecutionAdapter};
use crate::domain::{
    AdapterInfo, Backup, Census, Document, DocumentHead, DocumentId, ExpectedRevision,
    GenerationRecord, Lease, LeaseView, PhaseRecord, Plan, PurgeTarget, RunId, RunRecord,
    RunStatus, Scope, StoreSnapshot, StoredBackup, Unit,
};
use crate::error::AdapterError;
use crate::ownership::Restoration;

/// What one source says about execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// This source enables execution.
    Open,
    /// This source has no opinion (a stop file that is absent).
    Abstain,
    /// This source forbids execution.
    Closed {
        /// How the operator opens it again.
        how_to_open: String,
    },
}

/// One source of the kill switch.
#[async_trait]
pub trait GateSource: Send + Sync + fmt::Debug {
    /// Short name shown in refusals, e.g. `configuration (execution_enabled)`.
    fn name(&self) -> String;
    /// The source's current verdict. Read afresh at every call.
    async fn verdict(&self) -> Result<Verdict, AdapterError>;
}

/// A switch held in memory: the configuration and `--execute`, or a handle a service or a test
/// flips while a run is going.
#[derive(Clone, Debug)]
pub struct ManualSwitch {
    name: String,
    how_to_open: String,
    open: Arc<AtomicBool>,
}

impl ManualSwitch {
    /// A switch named `name`, initially `open` or closed; `how_to_open` is the next action shown
    /// when it refuses.
    pub fn new(name: impl Into<String>, open: bool, how_to_open: impl Into<String>) -> Self {
        ManualSwitch {
            name: name.into(),
            how_to_open: how_to_open.into(),
            open: Arc::new(AtomicBool::new(open)),
        }
    }

    /// Opens or closes the switch; every clone sees it.
    pub fn set(&self, open: bool) {
        self.open.store(open, Ordering::SeqCst);
    }

    /// Whether it is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl GateSource for ManualSwitch {
    fn name(&self) -> String {
        self.name.clone()
    }

    async fn verdict(&self) -> Result<Verdict, AdapterError> {
        Ok(if self.is_open() {
            Verdict::Open
        } else {
            Verdict::Closed {
                how_to_open: self.how_to_open.clone(),
            }
        })
    }
}

/// A stop file: while it exists, execution is closed for every runner that watches it.
#[derive(Clone, Debug)]
pub struct StopFile {
    path: PathBuf,
}

impl StopFile {
    /// Watches `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StopFile { path: path.into() }
    }
}

#[async_trait]
impl GateSource for StopFile {
    fn name(&self) -> String {
        format!("stop file {}", self.path.display())
    }

    async fn verdict(&self) -> Result<Verdict, AdapterError> {
        Ok(if self.path.exists() {
            Verdict::Closed {
                how_to_open: format!("remove {} once it is safe to run", self.path.display()),
            }
        } else {
            Verdict::Abstain
        })
    }
}

/// The kill switch: every source is asked at every check.
#[derive(Clone, Debug, Default)]
pub struct ExecutionGate {
    sources: Vec<Arc<dyn GateSource>>,
}

impl ExecutionGate {
    /// A gate with no sources: closed, since nothing enabled execution.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source.
    pub fn with_source(mut self, source: impl GateSource + 'static) -> Self {
        self.sources.push(Arc::new(source));
        self
    }

    /// Adds a shared source.
    pub fn with_shared_source(mut self, source: Arc<dyn GateSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Ok when at least one source opens the gate and none closes it; otherwise the refusal
    /// names the source that closed it and how to open it.
    pub async fn check(&self) -> Result<(), AdapterError> {
        let mut opened = false;
        for source in &self.sources {
            match source.verdict().await? {
                Verdict::Open => opened = true,
                Verdict::Abstain => {}
                Verdict::Closed { how_to_open } => {
                    return Err(AdapterError::GateClosed {
                        switch: source.name(),
                        how_to_open,
                    });
                }
            }
        }
        if opened {
            Ok(())
        } else {
            Err(AdapterError::GateClosed {
                switch: "default (no source enabled execution)".into(),
                how_to_open: "set execution_enabled = true in the configuration or pass --execute"
                    .into(),
            })
        }
    }
}

/// Wraps an adapter so that every mutating call passes the kill switch first.
///
/// Reads pass straight through. The live SQL adapter is only handed out wrapped in this type.
#[derive(Debug)]
pub struct Guarded<A> {
    inner: A,
    gate: ExecutionGate,
}

impl<A: LiveExecutionAdapter> Guarded<A> {
    /// Wraps `inner` behind `gate`.
    pub fn new(inner: A, gate: ExecutionGate) -> Self {
        Guarded { inner, gate }
    }

    /// The gate.
    pub fn gate(&self) -> &ExecutionGate {
        &self.gate
    }

    /// The wrapped adapter, within this crate only: handing it out would let callers mutate
    /// past the gate. Only the SQL store uses it (to close its pool).
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn inner(&self) -> &A {
        &self.inner
    }
}

#[async_trait]
impl<A: LiveExecutionAdapter> LiveExecutionAdapter for Guarded<A> {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }
    async fn preflight(&self) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.preflight().await
    }
    async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>> {
        self.inner.load_scope(scope).await
    }
    async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
        self.inner.load_heads(scope).await
    }
    async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>> {
        self.inner.generations(document).await
    }
    async fn generation_units(
        &self,
        document: &DocumentId,
        generation: &RunId,
    ) -> AdapterResult<Vec<Unit>> {
        self.inner.generation_units(document, generation).await
    }
    async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
        self.inner.active_units(document).await
    }
    async fn census(&self) -> AdapterResult<Census> {
        self.inner.census().await
    }
    async fn snapshot(&self) -> AdapterResult<StoreSnapshot> {
        self.inner.snapshot().await
    }
    async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>> {
        self.inner.load_run(run).await
    }
    async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>> {
        self.inner.list_runs().await
    }
    async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>> {
        self.inner.load_plan(run).await
    }
    async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>> {
        self.inner.load_reports(run).await
    }
    async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
        self.inner.load_backup(run).await
    }
    async fn load_leases(&self) -> AdapterResult<LeaseView> {
        self.inner.load_leases().await
    }
    async fn put_documents(
        &self,
        documents: &[(DocumentId, String)],
    ) -> AdapterResult<Vec<Document>> {
        self.gate.check().await?;
        self.inner.put_documents(documents).await
    }
    async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord> {
        self.gate.check().await?;
        self.inner.begin_run(record).await
    }
    async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.record_phase(run, phase).await
    }
    async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.set_run_status(run, status).await
    }
    async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.save_plan(run, plan).await
    }
    async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.save_report(run, report).await
    }
    async fn save_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.save_backup(run, artifact, sha256).await
    }
    async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()> {
        self.gate.check().await?;
        self.inner.fence(run, expectations).await
    }
    async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
        self.gate.check().await?;
        self.inner.write_units(run, units).await
    }
    async fn enact(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<u64> {
        self.gate.check().await?;
        self.inner.enact(run, expectations).await
    }
    async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
        self.gate.check().await?;
        self.inner.restore(run, backup).await
    }
    async fn purge_generations(&self, generations: &[PurgeTarget]) -> AdapterResult<u64> {
        self.gate.check().await?;
        self.inner.purge_generations(generations).await
    }
    async fn acquire_lease(
        &self,
        run: &RunId,
        holder: &str,
        ttl: Duration,
    ) -> AdapterResult<Lease> {
        self.gate.check().await?;
        self.inner.acquire_lease(run, holder, ttl).await
    }
    // Not gated: renewing only extends a claim this holder already took (through the gate), and
    // changes no document, unit or journal entry. Were it gated, closing the switch would make
    // the heartbeat lose the lease and the run would stop as "lease lost" instead of "refused by
    // the switch"; ungated, the run's next real mutation meets the closed switch and says so.
    async fn renew_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease> {
        self.inner.renew_lease(run, holder, ttl).await
    }
    // Not gated: releasing only gives up this holder's claim and changes no document, unit or
    // journal entry. A run stopped by the switch must still let go of its lease, or its resume
    // would be refused until the lease expired.
    async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
        self.inner.release_lease(run, holder).await
    }
}
