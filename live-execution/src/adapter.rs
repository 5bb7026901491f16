//! The `LiveExecutionAdapter` trait: coarse operations, each one transaction on a real store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    AdapterInfo, Backup, Census, Document, DocumentHead, DocumentId, ExpectedRevision,
    GenerationRecord, Lease, LeaseView, PhaseRecord, Plan, PurgeTarget, RunId, RunRecord,
    RunStatus, Scope, StoreSnapshot, StoredBackup, Unit,
};
use crate::error::AdapterError;
use crate::ownership::Restoration;

/// Result of an adapter call.
pub type AdapterResult<T> = Result<T, AdapterError>;

/// The seam between the phases and a store (the simulator or a live database).
///
/// Every operation is one transaction: it applies entirely or not at all. Mutating operations
/// are idempotent so that a crashed run can repeat its last call on resume. Implementations must
/// agree exactly on semantics; one contract suite checks them all.
///
/// Read operations: `info`, `preflight`, `load_scope`, `load_heads`, `generations`,
/// `generation_units`, `active_units`, `census`, `snapshot`, `load_run`, `list_runs`,
/// `load_plan`, `load_reports`, `load_backup`, `load_leases`.
/// Everything else mutates and, behind [`crate::Guarded`], passes the kill switch first, except
/// `renew_lease` and `release_lease`, which only extend or give up a claim taken through it.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LiveExecutionAdapter: Send + Sync {
    /// What this adapter talks to.
    fn info(&self) -> AdapterInfo;

    /// Checks, without mutating anything, that a run may start: the kill switch is open and the
    /// store is reachable. The runner calls it before the first mutation.
    async fn preflight(&self) -> AdapterResult<()>;

    /// The documents in `scope`, ordered by id.
    async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>>;

    /// The heads of the documents in `scope` (everything but the body), ordered by id: exactly
    /// [`Document::head`] of each document [`load_scope`](Self::load_scope) would return.
    async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>>;

    /// All generation records of a document, ordered by generation id.
    async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>>;

    /// The units of one generation of a document, ordered by ordinal.
    async fn generation_units(
        &self,
        document: &DocumentId,
        generation: &RunId,
    ) -> AdapterResult<Vec<Unit>>;

    /// The units readers see for a document (its active generation), ordered by ordinal.
    async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>>;

    /// The census of the whole store (documents, generations, units; not the journal).
    async fn census(&self) -> AdapterResult<Census>;

    /// A full copy of documents, generations and units.
    async fn snapshot(&self) -> AdapterResult<StoreSnapshot>;

    /// A journaled run.
    async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>>;

    /// Every journaled run, ordered by run id.
    async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>>;

    /// The plan journaled for a run.
    async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>>;

    /// The reports journaled for a run ([`LiveExecutionAdapter::save_report`]), oldest first;
    /// empty when there are none or the run is not journaled.
    async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>>;

    /// A run's backup as journaled by [`save_backup`](Self::save_backup): the artifact's text
    /// and the sha256 recorded with it. `None` when the run has none in the store.
    async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>>;

    /// Every lease in the store with the store's clock now, so that a reader can tell a live
    /// lease from an expired one (an abandoned run) without trusting its own clock.
    async fn load_leases(&self) -> AdapterResult<LeaseView>;

    /// Creates documents or replaces their bodies, all in one transaction: all of them or none.
    /// A changed body bumps the revision and, unless a run holds the document, returns it to
    /// `Ready`; an unchanged body changes nothing. An id repeated in the batch is written in turn,
    /// as separate calls would write it. An id that is empty or holds a control character or a bidirectional
    /// override ([`DocumentId::check`]) is [`AdapterError::Invalid`], and nothing is written.
    /// Returns the documents as stored, in the order given.
    async fn put_documents(
        &self,
        documents: &[(DocumentId, String)],
    ) -> AdapterResult<Vec<Document>>;

    /// [`put_documents`](Self::put_documents) of one document.
    async fn put_document(&self, id: &DocumentId, body: &str) -> AdapterResult<Document> {
        let mut stored = self.put_documents(&[(id.clone(), body.to_owned())]).await?;
        stored
            .pop()
            .ok_or_else(|| AdapterError::NotFound(format!("document `{id}` after writing it")))
    }

    /// Journals a new run; if the run exists, returns the journaled record unchanged.
    async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord>;

    /// Journals a phase transition (insert or replace by phase name).
    async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()>;

    /// Journals a run's status.
    async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()>;

    /// Journals a run's plan (idempotent; a different plan for the same run is a conflict).
    async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()>;

    /// Journals one invocation's report of a journaled run (its JSON text, kept verbatim), after
    /// the ones already journaled. Saving a text the run already holds changes nothing
    /// (idempotent). Fails with [`AdapterError::NotFound`] when the run is not journaled.
    async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()>;

    /// Journals a run's backup artifact (its text, with the sha256 of that text), so that a
    /// rollback can restore from any host. Idempotent: the same artifact again passes; another
    /// artifact for the same run is [`AdapterError::Invalid`] (a run has one backup). Fails with
    /// [`AdapterError::NotFound`] when the run is not journaled.
    async fn save_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> AdapterResult<()>;

    /// Compare-and-set: moves every expected document from exactly the state the run saw at
    /// backup (revision, body as stored, state, active generation:
    /// [`crate::ownership::fence_step`]) to `Cutting(run)` and creates `run`'s staged generation
    /// record for it (so a document with no units still has a generation to enact). All or
    /// nothing; a document already fenced by `run` passes. Fails with [`AdapterError::Conflict`]
    /// naming the first document that differs or is held by another run.
    async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()>;

    /// Writes a batch of units into `run`'s staged generation (insert or replace by document and
    /// ordinal). Every unit's document must be fenced by `run`. Returns the units written.
    async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64>;

    /// Makes `run`'s generation active for each expected document: the pointer moves, the previous
    /// generation is retired, the document becomes `Cut`. Compare-and-set, inside the one
    /// transaction, on the run's fence and on exactly what the run saw at backup, the body
    /// hashed as stored ([`crate::ownership::enact_step`]), so an edit by anyone, raw SQL
    /// included, is caught here; all or nothing; already enacted documents pass. Returns
    /// documents moved.
    async fn enact(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<u64>;

    /// Rolls back `run` over the backed-up documents, in one transaction: undoes the run's own
    /// marks (its fence, its generation, its enact) wherever a document is exactly as the run
    /// left it, and nothing else ([`crate::ownership::undo_step`]). Never writes a body or a
    /// revision: an edit made since the backup is kept, and the document goes back to `Ready`.
    /// Fails with [`AdapterError::HeldByLaterRun`], changing nothing, while another run holds
    /// any of the documents or wrote a generation of it since the backup. Validates the backup
    /// first ([`Backup::check_for_run`]). Idempotent: a second call finds nothing to undo.
    /// Returns what was undone, kept and left alone.
    async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration>;

    /// Removes each listed generation of its document, record and units, in one transaction (all
    /// or nothing). Only `Retired` generations are removed, and only while the document's active
    /// generation is still the one the caller saw ([`crate::ownership::purge_step`]): a listed
    /// generation that is `Staged` or `Active` fails with [`AdapterError::Conflict`] naming its
    /// document (expected `generation `G` retired`, found `generation `G` staged|active`), so
    /// does a document whose pointer moved since, and nothing is removed. A listed generation
    /// that does not exist passes (already purged: idempotent). A target listed twice counts
    /// once. Returns the generations removed.
    async fn purge_generations(&self, generations: &[PurgeTarget]) -> AdapterResult<u64>;

    /// Takes the lease on `run` for `holder`, expiring `ttl` from now on the store's clock (the
    /// database's; the simulator's logical clock). Succeeds when the run has no lease, when its
    /// lease has expired (`expires_at_ms <= now`), or when `holder` already holds it (the lease
    /// is then extended). Otherwise fails with [`AdapterError::LeaseHeld`] naming the holder and
    /// its expiry, and changes nothing. The run need not be journaled yet. Leases are journal
    /// state: never in the census, a snapshot or a backup. An empty holder or a zero `ttl` is
    /// [`AdapterError::Invalid`].
    async fn acquire_lease(&self, run: &RunId, holder: &str, ttl: Duration)
    -> AdapterResult<Lease>;

    /// Extends `holder`'s live lease on `run` to `ttl` from now. Fails with
    /// [`AdapterError::LeaseLost`], changing nothing, when the run has no lease, another holder
    /// holds it, or it has expired (even if nobody took it since: the holder must stop). An
    /// empty holder or a zero `ttl` is [`AdapterError::Invalid`].
    async fn renew_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease>;

    /// Ends `holder`'s lease on `run`. Idempotent: when the run has no lease or another holder
    /// holds it, nothing changes and the call passes.
    async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()>;
}

macro_rules! forward_adapter {
    ($target:ty, $($generics:tt)*) => {
        #[async_trait]
        impl<$($generics)*> LiveExecutionAdapter for $target {
            fn info(&self) -> AdapterInfo {
                (**self).info()
            }
            async fn preflight(&self) -> AdapterResult<()> {
                (**self).preflight().await
            }
            async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>> {
                (**self).load_scope(scope).await
            }
            async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
                (**self).load_heads(scope).await
            }
            async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>> {
                (**self).generations(document).await
            }
            async fn generation_units(&self, document: &DocumentId, generation: &RunId) -> AdapterResult<Vec<Unit>> {
                (**self).generation_units(document, generation).await
            }
            async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
                (**self).active_units(document).await
            }
            async fn census(&self) -> AdapterResult<Census> {
                (**self).census().await
            }
            async fn snapshot(&self) -> AdapterResult<StoreSnapshot> {
                (**self).snapshot().await
            }
            async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>> {
                (**self).load_run(run).await
            }
            async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>> {
                (**self).list_runs().await
            }
            async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>> {
                (**self).load_plan(run).await
            }
            async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>> {
                (**self).load_reports(run).await
            }
            async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
                (**self).load_backup(run).await
            }
            async fn load_leases(&self) -> AdapterResult<LeaseView> {
                (**self).load_leases().await
            }
            async fn put_documents(&self, documents: &[(DocumentId, String)]) -> AdapterResult<Vec<Document>> {
                (**self).put_documents(documents).await
            }
            async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord> {
                (**self).begin_run(record).await
            }
            async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
                (**self).record_phase(run, phase).await
            }
            async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
                (**self).set_run_status(run, status).await
            }
            async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
                (**self).save_plan(run, plan).await
            }
            async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()> {
                (**self).save_report(run, report).await
            }
            async fn save_backup(&self, run: &RunId, artifact: &str, sha256: &str) -> AdapterResult<()> {
                (**self).save_backup(run, artifact, sha256).await
            }
            async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()> {
                (**self).fence(run, expectations).await
            }
            async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
                (**self).write_units(run, units).await
            }
            async fn enact(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<u64> {
                (**self).enact(run, expectations).await
            }
            async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
                (**self).restore(run, backup).await
            }
            async fn purge_generations(&self, generations: &[PurgeTarget]) -> AdapterResult<u64> {
                (**self).purge_generations(generations).await
            }
            async fn acquire_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease> {
                (**self).acquire_lease(run, holder, ttl).await
            }
            async fn renew_lease(&self, run: &RunId, holder: &str, ttl: Duration) -> AdapterResult<Lease> {
                (**self).renew_lease(run, holder, ttl).await
            }
            async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
                (**self).release_lease(run, holder).await
            }
        }
    };
}

// Wrappers nest freely: a guard around an `Arc<Simulator>`, a `Box<dyn …>` handed to the runner.
forward_adapter!(Arc<A>, A: LiveExecutionAdapter + ?Sized);
forward_adapter!(Box<A>, A: LiveExecutionAdapter + ?Sized);
