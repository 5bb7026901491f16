//! The seam: [`LiveExecutionAdapter`], a store as one method (`call` an [`Op`], get a
//! [`Reply`]), and the role traits everyone calls it through ([`Reads`], [`Cuts`], [`Plans`],
//! [`Journal`], [`Leases`], [`Admin`]), each implemented once for every store by building the op
//! and unpacking the reply. A wrapper (the kill switch, timing, fault injection, a lease claim)
//! implements `call` alone; the phases receive a [`PhaseStore`], which offers only the roles they
//! use.
//!
//! The role traits' doc comments are the contract; one contract suite checks every store
//! against them. Every call is one transaction: it applies entirely or not at all. Mutations are
//! idempotent so that a crashed run can repeat its last call on resume.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{
    ActiveUnit, AdapterInfo, Backup, Census, ChangeMark, Document, DocumentHead, DocumentId,
    ExpectedRevision, GenerationDigests, GenerationRecord, Lease, LeaseView, PhaseRecord, Plan,
    PurgeTarget, RecentRuns, RunId, RunRecord, RunStatus, Scope, ScopeCensus, SourceFacts,
    StoreSnapshot, StoredBackup, StoredPlanPart, Unit, UnitCursor,
};
use crate::error::AdapterError;
use crate::op::{LeaseClaim, Op, OpKind, Reply};
use crate::ownership::Restoration;
use crate::source::SyncReport;

/// Result of a store call.
pub type AdapterResult<T> = Result<T, AdapterError>;

/// A store (the simulator, a live database) or a layer around one.
///
/// Which calls mutate, which the kill switch gates and which carry a lease claim is said once,
/// in [`crate::OPS`]. Implementations must agree exactly on semantics; one contract suite checks
/// them all.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait LiveExecutionAdapter: Send + Sync {
    /// What this store talks to.
    fn info(&self) -> AdapterInfo;

    /// Performs one call. `claim`, when given, is the caller's lease on the run the call changes
    /// ([`crate::OpSpec::claimed`]): the store refuses the call, changing nothing, unless the
    /// claim's holder still holds a live lease on that run, checked inside the call's
    /// transaction.
    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply>;
}

macro_rules! forward_adapter {
    ($target:ty, $($generics:tt)*) => {
        #[async_trait]
        impl<$($generics)*> LiveExecutionAdapter for $target {
            fn info(&self) -> AdapterInfo {
                (**self).info()
            }
            async fn call<'a>(
                &self,
                op: Op<'a>,
                claim: Option<&'a LeaseClaim>,
            ) -> AdapterResult<Reply> {
                (**self).call(op, claim).await
            }
        }
    };
}

// Layers nest freely: a guard around an `Arc<Simulator>`, a `Box<dyn …>` handed to the runner.
forward_adapter!(Arc<A>, A: LiveExecutionAdapter + ?Sized);
forward_adapter!(Box<A>, A: LiveExecutionAdapter + ?Sized);
forward_adapter!(&A, A: LiveExecutionAdapter + ?Sized);

/// Makes the call `Op::$kind` with its arguments, if any (with no claim: `Claimed` adds it), and
/// unpacks its reply, which must be `Reply::$variant` (`Reply::Done` when no variant is named).
macro_rules! call {
    (@op $self:ident, $op:expr, $kind:ident) => {
        match $self.call($op, None).await? {
            Reply::Done => Ok(()),
            other => Err(other.unexpected(OpKind::$kind)),
        }
    };
    (@op $self:ident, $op:expr, $kind:ident => $variant:ident) => {
        match $self.call($op, None).await? {
            Reply::$variant(value) => Ok(value),
            other => Err(other.unexpected(OpKind::$kind)),
        }
    };
    ($self:ident, $kind:ident $(=> $variant:ident)?) => {
        call!(@op $self, Op::$kind, $kind $(=> $variant)?)
    };
    ($self:ident, $kind:ident $args:tt $(=> $variant:ident)?) => {
        call!(@op $self, Op::$kind $args, $kind $(=> $variant)?)
    };
}

/// Declares a role trait and implements it once for every store: each method is written once,
/// its doc comment the trait's contract and its body (building the op and unpacking the reply
/// with `call!`) the blanket implementation's. The `provided` methods are the trait's own, built
/// on the others.
macro_rules! role {
    (
        $(#[$attr:meta])*
        pub trait $role:ident {
            $($(#[$doc:meta])* async fn $name:ident $params:tt -> $ret:ty $body:block)*
        }
        $(provided { $($provided:tt)* })?
    ) => {
        $(#[$attr])*
        #[async_trait]
        pub trait $role: Send + Sync {
            $($(#[$doc])* async fn $name $params -> $ret;)*
            $($($provided)*)?
        }

        #[async_trait]
        impl<S: LiveExecutionAdapter + ?Sized> $role for S {
            $(async fn $name $params -> $ret $body)*
        }
    };
}

/// Heads a page of [`Reads::scope_ids`] reads when the scope is the whole store.
pub const HEADS_PAGE: u32 = 5000;

role! {
    /// What a run reads of documents, generations and units. Reads never pass the kill switch.
    pub trait Reads {
        /// The documents in `scope`, ordered by id.
        async fn load_scope(&self, scope: &Scope) -> AdapterResult<Vec<Document>> {
            call!(self, LoadScope(scope) => Documents)
        }

        /// The heads of the documents in `scope` (everything but the body), ordered by id: exactly
        /// [`Document::head`] of each document [`load_scope`](Self::load_scope) would return.
        async fn load_heads(&self, scope: &Scope) -> AdapterResult<Vec<DocumentHead>> {
            call!(self, LoadHeads(scope) => Heads)
        }

        /// One page of every document's head: at most `limit` heads ([`Document::head`]) of the
        /// documents whose id sorts (bytewise) after `after` (from the first document when `None`),
        /// ordered by id. A page with fewer than `limit` heads is the last. Each page is one read;
        /// nothing is held between pages, so a caller walks a store of any size one page at a time.
        /// A `limit` of 0 is [`AdapterError::Invalid`].
        async fn heads_page(
            &self,
            after: Option<&DocumentId>,
            limit: u32,
        ) -> AdapterResult<Vec<DocumentHead>> {
            call!(self, HeadsPage { after, limit } => Heads)
        }

        /// All generation records of a document, ordered by generation id.
        async fn generations(&self, document: &DocumentId) -> AdapterResult<Vec<GenerationRecord>> {
            call!(self, Generations(document) => Generations)
        }

        /// The generation records of each of `documents` in one call: exactly the records
        /// [`generations`](Self::generations) returns for each distinct id, the ids taken in id
        /// order (bytewise) whatever their order in `documents`; an id without records, or without
        /// a document, adds none. One consistent read, whose statements stay small however many ids
        /// it is given (a store reads a bounded number of ids per statement): what a caller that
        /// reads a batch of documents asks instead of one call per document. Costs O(documents
        /// asked for), whatever the store's size.
        async fn generations_of(
            &self,
            documents: &[DocumentId],
        ) -> AdapterResult<Vec<GenerationRecord>> {
            call!(self, GenerationsOf(documents) => Generations)
        }

        /// The units of one generation of a document, ordered by ordinal.
        async fn generation_units(
            &self,
            document: &DocumentId,
            generation: &RunId,
        ) -> AdapterResult<Vec<Unit>> {
            call!(self, GenerationUnits { document, generation } => Units)
        }

        /// The units of one generation of a document as digests, ordered by ordinal: every column
        /// but the body, the sha256 and byte length of each body as stored, and the sha256 of the
        /// bodies concatenated in ordinal order; exactly [`GenerationDigests::of`] the units
        /// [`generation_units`](Self::generation_units) would return (no units: none, and the
        /// sha256 of no bytes). A store may compute them where the bodies are, without sending
        /// them.
        async fn generation_digests(
            &self,
            document: &DocumentId,
            generation: &RunId,
        ) -> AdapterResult<GenerationDigests> {
            call!(self, GenerationDigests { document, generation } => Digests)
        }

        /// [`generation_digests`](Self::generation_digests) of each of `documents` in generation
        /// `generation`, in one call (write-verify asks a batch of documents at a time): one answer
        /// per id, in the order of `documents`, each exactly what
        /// [`generation_digests`](Self::generation_digests) answers for it alone.
        async fn generation_digests_of(
            &self,
            documents: &[DocumentId],
            generation: &RunId,
        ) -> AdapterResult<Vec<GenerationDigests>> {
            call!(self, GenerationDigestsOf { documents, generation } => DigestsOf)
        }

        /// The units readers see for a document (its active generation), ordered by ordinal.
        async fn active_units(&self, document: &DocumentId) -> AdapterResult<Vec<Unit>> {
            call!(self, ActiveUnits(document) => Units)
        }

        /// The units readers see for each of `documents` in one call: exactly the units
        /// [`active_units`](Self::active_units) returns for each distinct id, the ids taken in id
        /// order (bytewise) whatever their order in `documents`; an id without an active
        /// generation, or without a document, adds none. One consistent read, in statements of a
        /// bounded number of ids, as [`generations_of`](Self::generations_of).
        async fn active_units_of(&self, documents: &[DocumentId]) -> AdapterResult<Vec<Unit>> {
            call!(self, ActiveUnitsOf(documents) => Units)
        }

        /// One page of the units readers see, across documents: the units of every document's
        /// active generation, ordered by document id (bytewise) then ordinal, each with its
        /// document's revision read in the same snapshot ([`ActiveUnit`]); at most `limit` of them,
        /// starting just after `after` (from the first unit of the store when `None`). A page with
        /// fewer than `limit` units is the last. Each page is one consistent read; the store is not
        /// held between pages, so a caller reads a store of any size one page at a time (keyset
        /// pagination: the cursor is a key, never an offset).
        ///
        /// A cursor continues its document in the generation the previous page read it in: when
        /// that document's active generation is no longer `after.generation` (it was enacted or
        /// rolled back between the two pages), the page fails with [`AdapterError::Conflict`]
        /// naming the document (expected `active generation `G``, found `active generation `H`` or
        /// `no active generation`), so that no reader ever stitches two generations of one document
        /// together; the caller starts again. A `limit` of 0 is [`AdapterError::Invalid`].
        async fn active_units_page(
            &self,
            after: Option<&UnitCursor>,
            limit: u32,
        ) -> AdapterResult<Vec<ActiveUnit>> {
            call!(self, ActiveUnitsPage { after, limit } => UnitPage)
        }

        /// What a source mapping adds to `document`'s `generation` ([`SourceFacts`]): the source
        /// revision the generation was cut from and the document's metadata, as the reader view
        /// shows them; empty for a document without a source row, or a generation that recorded
        /// none (it was never enacted, or was enacted before schema v7).
        async fn source_facts(
            &self,
            document: &DocumentId,
            generation: &RunId,
        ) -> AdapterResult<SourceFacts> {
            call!(self, SourceFacts { document, generation } => Facts)
        }

        /// The census of the whole store (documents, generations, units; not the journal).
        async fn census(&self) -> AdapterResult<Census> {
            call!(self, Census => Census)
        }

        /// The census of `documents` alone ([`census`](Self::census) restricted to them: the same
        /// digests, the fingerprint over that subset; an id that does not exist is absent) and the
        /// store's [`ChangeMark`], both read in one snapshot, so that
        /// [`changed_since`](Self::changed_since) of the mark lists exactly what this census could
        /// not see. Costs O(documents asked for), whatever the store's size.
        async fn scope_census(&self, documents: &[DocumentId]) -> AdapterResult<ScopeCensus> {
            call!(self, ScopeCensus(documents) => ScopeCensus)
        }

        /// [`scope_census`](Self::scope_census) without the digest of each document
        /// ([`Census::per_document`] empty; the counts, fingerprint and mark the same): what a
        /// caller that only reports or compares the summary needs, in memory that does not grow
        /// with `documents`.
        async fn scope_census_summary(
            &self,
            documents: &[DocumentId],
        ) -> AdapterResult<ScopeCensus> {
            call!(self, ScopeCensusSummary(documents) => ScopeCensus)
        }

        /// The ids, in id order (bytewise), of every document whose row, generation records or
        /// units changed in a commit that the [`scope_census`](Self::scope_census) which issued
        /// `mark` could not see, by anyone (another runner, raw SQL); a change undone since (ABA)
        /// is still listed. Costs O(changes since the mark). A mark issued by another store is
        /// [`AdapterError::Invalid`].
        async fn changed_since(&self, mark: &ChangeMark) -> AdapterResult<Vec<DocumentId>> {
            call!(self, ChangedSince(mark) => Changed)
        }

        /// A full copy of documents, generations and units.
        async fn snapshot(&self) -> AdapterResult<StoreSnapshot> {
            call!(self, Snapshot => Snapshot)
        }
    }
    provided {
        /// The ids of `scope`'s documents, in id order. The whole store is walked a page of
        /// [`heads_page`](Self::heads_page) at a time ([`HEADS_PAGE`] heads), so that a large
        /// store's heads are never all in memory together; other scopes name or prefix their
        /// documents and are read at once ([`load_heads`](Self::load_heads)).
        async fn scope_ids(&self, scope: &Scope) -> AdapterResult<Vec<DocumentId>> {
            if *scope != Scope::All {
                let heads = self.load_heads(scope).await?;
                let mut ids: Vec<DocumentId> = heads.into_iter().map(|head| head.id).collect();
                ids.sort();
                return Ok(ids);
            }
            let mut ids: Vec<DocumentId> = Vec::new();
            loop {
                let page = self.heads_page(ids.last(), HEADS_PAGE).await?;
                let last_page = page.len() < HEADS_PAGE as usize;
                ids.extend(page.into_iter().map(|head| head.id));
                if last_page {
                    return Ok(ids);
                }
            }
        }
    }
}

role! {
    /// A run's compare-and-set mutations, the only writes a run's phases make to documents,
    /// generations and units; each passes the kill switch and carries the run's lease claim.
    pub trait Cuts {
        /// Compare-and-set: moves every expected document from exactly the state the run saw at
        /// backup (revision, body as stored, state, active generation:
        /// [`crate::ownership::fence_step`]) to `Cutting(run)` and creates `run`'s staged
        /// generation record for it (so a document with no units still has a generation to enact).
        /// All or nothing; a document already fenced by `run` passes. Fails with
        /// [`AdapterError::Conflict`] naming the first document that differs or is held by another
        /// run.
        async fn fence(&self, run: &RunId, expectations: &[ExpectedRevision]) -> AdapterResult<()> {
            call!(self, Fence { run, expectations })
        }

        /// Writes a batch of units into `run`'s staged generation (insert or replace by document
        /// and ordinal). Every unit's document must be fenced by `run`. Returns the units written.
        async fn write_units(&self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
            call!(self, WriteUnits { run, units } => Count)
        }

        /// Makes `run`'s generation active for each expected document: the pointer moves, the
        /// previous generation is retired, the document becomes `Cut`. Compare-and-set, inside the
        /// one transaction, on the run's fence and on exactly what the run saw at backup, the body
        /// hashed as stored ([`crate::ownership::enact_step`]), so an edit by anyone, raw SQL
        /// included, is caught here; all or nothing; already enacted documents pass (a document
        /// whose active generation is `run`'s, even one edited since: that edit is kept). Returns
        /// documents moved.
        async fn enact(
            &self,
            run: &RunId,
            expectations: &[ExpectedRevision],
        ) -> AdapterResult<u64> {
            call!(self, Enact { run, expectations } => Count)
        }
    }
}

role! {
    /// A run's plan in the journal.
    pub trait Plans {
        /// The plan journaled for a run.
        async fn load_plan(&self, run: &RunId) -> AdapterResult<Option<Plan>> {
            call!(self, LoadPlan(run) => Plan)
        }

        /// Journals a run's plan (idempotent; a different plan for the same run is a conflict).
        async fn save_plan(&self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
            call!(self, SavePlan { run, plan })
        }

        /// Part `part` of a run's sealed plan, with the plan's sha256: part 0 is its head (the
        /// canonical text of the plan without its documents), part `n` the `n`th part of its
        /// documents; `None` past the last part, or when the run has no sealed plan. A plan
        /// journaled whole ([`save_plan`](Self::save_plan)) is read the same way. A reader hashes
        /// the parts it reads ([`crate::PlanVerifier`]) and compares with the sha256.
        async fn load_plan_part(
            &self,
            run: &RunId,
            part: u64,
        ) -> AdapterResult<Option<StoredPlanPart>> {
            call!(self, LoadPlanPart { run, part } => PlanPart)
        }

        /// Journals part `seq` of a run's plan (from 0: the canonical text of a run of its document
        /// plans, as [`crate::PlanWriter`] cuts them), ahead of [`seal_plan`](Self::seal_plan):
        /// until the plan is sealed a part may be replaced; once it is, only the same part passes.
        async fn save_plan_part(&self, run: &RunId, seq: u64, part: &str) -> AdapterResult<()> {
            call!(self, SavePlanPart { run, seq, part })
        }

        /// Makes the `parts` parts journaled for a run (any beyond them dropped), under `head` and
        /// `sha256`, the run's plan; the same seal again passes, another plan is refused, and a
        /// plan missing a part cannot be sealed. Nothing is the run's plan before this.
        async fn seal_plan(
            &self,
            run: &RunId,
            head: &str,
            parts: u64,
            sha256: &str,
        ) -> AdapterResult<()> {
            call!(self, SealPlan { run, head, parts, sha256 })
        }
    }
}

role! {
    /// Runs, phases, reports and backups in the journal (never in the census).
    pub trait Journal {
        /// A journaled run.
        async fn load_run(&self, run: &RunId) -> AdapterResult<Option<RunRecord>> {
            call!(self, LoadRun(run) => Run)
        }

        /// Every journaled run, ordered by run id.
        async fn list_runs(&self) -> AdapterResult<Vec<RunRecord>> {
            call!(self, ListRuns => Runs)
        }

        /// The `limit` most recent journaled runs, and how many runs the journal holds: what a
        /// listing of the latest runs reads, whatever the journal's size (only those runs' scopes
        /// and phases are read). Ordered as [`RecentRuns`] says.
        async fn recent_runs(&self, limit: u64) -> AdapterResult<RecentRuns> {
            call!(self, RecentRuns { limit } => RecentRuns)
        }

        /// The reports journaled for a run ([`LiveExecutionAdapter::save_report`]), oldest first;
        /// empty when there are none or the run is not journaled.
        async fn load_reports(&self, run: &RunId) -> AdapterResult<Vec<String>> {
            call!(self, LoadReports(run) => Reports)
        }

        /// A run's backup as journaled by [`save_backup`](Self::save_backup): the artifact's text
        /// and the sha256 recorded with it. `None` when the run has none in the store.
        async fn load_backup(&self, run: &RunId) -> AdapterResult<Option<StoredBackup>> {
            call!(self, LoadBackup(run) => Backup)
        }

        /// Part `part` (from 0) of a run's journaled backup artifact, with the sha256 recorded for
        /// the whole artifact: the artifact is its parts concatenated in order, so that a reader
        /// never holds more of it than one part. Part 0 exists (it may be empty) whenever the run
        /// has a backup in the store; `None` past the last part, or when the run has none.
        async fn load_backup_part(
            &self,
            run: &RunId,
            part: u64,
        ) -> AdapterResult<Option<StoredBackup>> {
            call!(self, LoadBackupPart { run, part } => Backup)
        }

        /// Journals a new run; if the run exists, returns the journaled record unchanged.
        async fn begin_run(&self, record: &RunRecord) -> AdapterResult<RunRecord> {
            call!(self, BeginRun(record) => Run)?
                .ok_or_else(|| crate::conflicts::run_not_found(&record.run))
        }

        /// Journals a phase transition (insert or replace by phase name). The entry's
        /// [`first_started_at`](PhaseRecord::first_started_at) is the `started_at` of the write
        /// that inserted it, whatever later writes carry: the store keeps a phase's first start.
        async fn record_phase(&self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
            call!(self, RecordPhase { run, phase })
        }

        /// Journals a run's status.
        async fn set_run_status(&self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
            call!(self, SetRunStatus { run, status })
        }

        /// Journals one invocation's report of a journaled run (its JSON text, kept verbatim),
        /// after the ones already journaled. Saving a text the run already holds changes nothing
        /// (idempotent). Fails with [`AdapterError::NotFound`] when the run is not journaled.
        async fn save_report(&self, run: &RunId, report: &str) -> AdapterResult<()> {
            call!(self, SaveReport { run, report })
        }

        /// Journals a run's backup artifact (its text, with the sha256 of that text), so that a
        /// rollback can restore from any host. Idempotent: the same artifact again passes; another
        /// artifact for the same run is [`AdapterError::Invalid`] (a run has one backup). Fails
        /// with [`AdapterError::NotFound`] when the run is not journaled.
        async fn save_backup(
            &self,
            run: &RunId,
            artifact: &str,
            sha256: &str,
        ) -> AdapterResult<()> {
            call!(self, SaveBackup { run, artifact, sha256 })
        }

        /// Journals part `seq` (from 0) of a run's backup artifact, whole lines of it, ahead of
        /// [`seal_backup`](Self::seal_backup), so that no call carries a large backup whole. Until
        /// the backup is sealed a part may be journaled again (the later text replaces it); once
        /// sealed, the same text again passes and another is [`AdapterError::Invalid`] (a run has
        /// one backup). Fails with [`AdapterError::NotFound`] when the run is not journaled.
        async fn save_backup_part(&self, run: &RunId, seq: u64, part: &str) -> AdapterResult<()> {
            call!(self, SaveBackupPart { run, seq, part })
        }

        /// Makes the `parts` parts journaled for a run
        /// ([`save_backup_part`](Self::save_backup_part), from 0 to `parts - 1`) the run's backup,
        /// whose sha256 is `sha256` (the parts concatenated in order): from then on it reads back
        /// as if [`save_backup`](Self::save_backup) had journaled that text whole. Parts after the
        /// last (an abandoned attempt's) are dropped. The same seal again passes; another sha256 is
        /// [`AdapterError::Invalid`], and so is a missing part. Fails with
        /// [`AdapterError::NotFound`] when the run is not journaled.
        async fn seal_backup(&self, run: &RunId, parts: u64, sha256: &str) -> AdapterResult<()> {
            call!(self, SealBackup { run, parts, sha256 })
        }

        /// Drops the parts journaled for a run's backup
        /// ([`save_backup_part`](Self::save_backup_part)) when it was never sealed: an attempt
        /// abandoned, as a backup refused after some of its parts were journaled, or a run whose
        /// backup never finished rolled back. Returns how many parts were dropped: 0 when there
        /// were none, or when the backup is sealed (a sealed backup is kept whole). Fails with
        /// [`AdapterError::NotFound`] when the run is not journaled.
        async fn discard_backup_parts(&self, run: &RunId) -> AdapterResult<u64> {
            call!(self, DiscardBackupParts { run } => Count)
        }
    }
}

role! {
    /// Run leases: one runner per run, with expiry on the store's clock.
    pub trait Leases {
        /// Every lease in the store with the store's clock now, so that a reader can tell a live
        /// lease from an expired one (an abandoned run) without trusting its own clock.
        async fn load_leases(&self) -> AdapterResult<LeaseView> {
            call!(self, LoadLeases => Leases)
        }

        /// Takes the lease on `run` for `holder`, expiring `ttl` from now on the store's clock (the
        /// database's; the simulator's logical clock). Succeeds when the run has no lease, when its
        /// lease has expired (`expires_at_ms <= now`), or when `holder` already holds it (the lease
        /// is then extended). Otherwise fails with [`AdapterError::LeaseHeld`] naming the holder
        /// and its expiry, and changes nothing. The run need not be journaled yet. Leases are
        /// journal state: never in the census, a snapshot or a backup. An empty holder or a zero
        /// `ttl` is [`AdapterError::Invalid`].
        async fn acquire_lease(
            &self,
            run: &RunId,
            holder: &str,
            ttl: Duration,
        ) -> AdapterResult<Lease> {
            call!(self, AcquireLease { run, holder, ttl } => Lease)
        }

        /// Extends `holder`'s live lease on `run` to `ttl` from now. Fails with
        /// [`AdapterError::LeaseLost`], changing nothing, when the run has no lease, another holder
        /// holds it, or it has expired (even if nobody took it since: the holder must stop). An
        /// empty holder or a zero `ttl` is [`AdapterError::Invalid`].
        async fn renew_lease(
            &self,
            run: &RunId,
            holder: &str,
            ttl: Duration,
        ) -> AdapterResult<Lease> {
            call!(self, RenewLease { run, holder, ttl } => Lease)
        }

        /// Ends `holder`'s lease on `run`. Idempotent: when the run has no lease or another holder
        /// holds it, nothing changes and the call passes.
        async fn release_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
            call!(self, ReleaseLease { run, holder })
        }
    }
}

role! {
    /// What happens outside a run's phases: the preflight, importing documents, rolling a run
    /// back, purging retired generations.
    pub trait Admin {
        /// Checks, without mutating anything, that a run may start: the kill switch is open and the
        /// store is reachable. The runner calls it before the first mutation.
        async fn preflight(&self) -> AdapterResult<()> {
            call!(self, Preflight)
        }

        /// Creates documents or replaces their bodies, all in one transaction: all of them or none.
        /// A changed body bumps the revision and, unless a run holds the document, returns it to
        /// `Ready`; an unchanged body changes nothing. An id repeated in the batch is written in
        /// turn, as separate calls would write it. An id that is empty or holds a control character
        /// or a bidirectional override ([`DocumentId::check`]) is [`AdapterError::Invalid`], and
        /// nothing is written. Returns the documents as stored, in the order given.
        async fn put_documents(
            &self,
            documents: &[(DocumentId, String)],
        ) -> AdapterResult<Vec<Document>> {
            call!(self, PutDocuments(documents) => Documents)
        }

        /// Rolls back `run` over the backed-up documents, in one transaction: undoes the run's own
        /// marks (its fence, its generation, its enact) wherever a document is exactly as the run
        /// left it, and nothing else ([`crate::ownership::undo_step`]). Never writes a body or a
        /// revision: an edit made since the backup is kept, and the document goes back to `Ready`.
        /// Fails with [`AdapterError::HeldByLaterRun`], changing nothing, while another run holds
        /// any of the documents or wrote a generation of it since the backup. Validates the backup
        /// first ([`Backup::check_for_run`]). Idempotent: a second call finds nothing to undo.
        /// Returns what was undone, kept and left alone.
        async fn restore(&self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
            call!(self, Restore { run, backup } => Restoration)
        }

        /// Brings the tracking copies of the source rows in `scope` up to date, on a store with a
        /// [`crate::SourceMapping`] ([`AdapterInfo::source`]); the source is only read. A new row
        /// becomes a `Ready` document at revision 1; a changed body is written as
        /// [`put_documents`](Self::put_documents) writes one (revision bumped, `Ready` unless a run
        /// holds it, whose enact then fails its compare-and-set); a new revision or metadata with
        /// the same body is recorded without a bump, a moved revision putting a `Cut` document back
        /// to `Ready` (its reader view rows are stale until a run cuts it again). Works in batches,
        /// each its own transaction, in memory bounded by the batch. A store without a mapping
        /// refuses with [`AdapterError::Invalid`], changing nothing.
        ///
        /// With `every_row`, every source row of the scope is read and its body compared, so a body
        /// the application changed without moving the revision column is caught (and counted in
        /// [`SyncReport::silent`]); without it, only rows whose revision moved are read.
        async fn sync_source(&self, scope: &Scope, every_row: bool) -> AdapterResult<SyncReport> {
            call!(self, SyncSource { scope, every_row } => Synced)
        }

        /// Removes each listed generation of its document, record and units, in one transaction
        /// (all or nothing). Only `Retired` generations are removed, and only while the document's
        /// active generation is still the one the caller saw ([`crate::ownership::purge_step`]): a
        /// listed generation that is `Staged` or `Active` fails with [`AdapterError::Conflict`]
        /// naming its document (expected `generation `G` retired`, found `generation `G`
        /// staged|active`), so does a document whose pointer moved since, and nothing is removed. A
        /// listed generation that does not exist passes (already purged: idempotent). A target
        /// listed twice counts once. Returns the generations removed, each once, in order (not
        /// those already gone): what this call did, for a caller to tell apart from what another
        /// purge did meanwhile.
        async fn purge_generations(
            &self,
            generations: &[PurgeTarget],
        ) -> AdapterResult<Vec<PurgeTarget>> {
            call!(self, PurgeGenerations(generations) => Purged)
        }
    }
    provided {
        /// [`put_documents`](Self::put_documents) of one document.
        async fn put_document(&self, id: &DocumentId, body: &str) -> AdapterResult<Document> {
            let mut stored = self.put_documents(&[(id.clone(), body.to_owned())]).await?;
            stored
                .pop()
                .ok_or_else(|| AdapterError::NotFound(format!("document `{id}` after writing it")))
        }
    }
}

/// What a phase may use: reads, its compare-and-set cuts, and its plan. The runner hands the
/// phases this, never the whole store: no phase can journal, lease, restore or purge.
pub trait PhaseStore: Reads + Cuts + Plans {}

impl<T: Reads + Cuts + Plans + ?Sized> PhaseStore for T {}

/// Every role of a store: what the runner and the program use.
pub trait Store: Reads + Cuts + Plans + Journal + Leases + Admin {}

impl<T: Reads + Cuts + Plans + Journal + Leases + Admin + ?Sized> Store for T {}
