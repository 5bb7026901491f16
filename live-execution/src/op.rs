//! Every call on a store as a value ([`Op`]) that a wrapper can inspect, the one table that
//! says what each kind of call is ([`OpKind`]: its name, its role, whether it mutates, whether
//! the kill switch gates it), and the store's answer ([`Reply`]).
//!
//! This is tower's shape: a store is one method, `call(op)`, and a cross-cutting layer (the kill
//! switch, timing, fault injection, a call log, a read-only view, a lease claim) is a wrapper
//! that looks at the op and passes it on, written once however many calls there are. The typed
//! methods everyone calls (`store.fence(run, expectations)`) are the role traits of
//! [`crate::adapter`], which build the op and unpack the reply.

use std::time::Duration;

use crate::domain::{
    ActiveUnit, Backup, Census, ChangeMark, Document, DocumentHead, DocumentId, ExpectedRevision,
    GenerationDigests, GenerationRecord, Lease, LeaseView, PhaseRecord, Plan, PurgeTarget,
    RecentRuns, RunId, RunRecord, RunStatus, Scope, ScopeCensus, SourceFacts, StoreSnapshot,
    StoredBackup, StoredPlanPart, Unit, UnitCursor,
};
use crate::error::AdapterError;
use crate::ownership::Restoration;
use crate::source::SyncReport;

/// One call on a store, borrowing its arguments.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    /// Checks that a run may start: the kill switch is open and the store is reachable.
    Preflight,
    /// The documents in a scope, ordered by id.
    LoadScope(&'a Scope),
    /// The heads (no bodies) of the documents in a scope, ordered by id.
    LoadHeads(&'a Scope),
    /// One page of every document's head, ordered by id: keyset pagination.
    HeadsPage {
        /// The last document of the previous page; `None` for the first page.
        after: Option<&'a DocumentId>,
        /// At most this many heads (at least 1).
        limit: u32,
    },
    /// A document's generation records, ordered by generation id.
    Generations(&'a DocumentId),
    /// The generation records of each of some documents, by document id, then generation id.
    GenerationsOf(&'a [DocumentId]),
    /// One generation's units of a document, ordered by ordinal.
    GenerationUnits {
        /// The document.
        document: &'a DocumentId,
        /// The generation.
        generation: &'a RunId,
    },
    /// One generation's units of a document as digests (no bodies), ordered by ordinal, with
    /// the sha256 of their bodies concatenated.
    GenerationDigests {
        /// The document.
        document: &'a DocumentId,
        /// The generation.
        generation: &'a RunId,
    },
    /// [`Op::GenerationDigests`] of each of some documents, in one call: one answer per id, in
    /// the order given.
    GenerationDigestsOf {
        /// The documents.
        documents: &'a [DocumentId],
        /// The generation.
        generation: &'a RunId,
    },
    /// The units readers see for a document (its active generation).
    ActiveUnits(&'a DocumentId),
    /// The units readers see for each of some documents, by document id, then ordinal.
    ActiveUnitsOf(&'a [DocumentId]),
    /// One page of every document's active units, in (document, ordinal) order: keyset
    /// pagination, so a reader of the whole store holds one page at a time.
    ActiveUnitsPage {
        /// Where the previous page ended; `None` for the first page.
        after: Option<&'a UnitCursor>,
        /// At most this many units (at least 1).
        limit: u32,
    },
    /// What a source mapping adds to a document's generation (its cut revision, the document's
    /// metadata).
    SourceFacts {
        /// The document.
        document: &'a DocumentId,
        /// The generation.
        generation: &'a RunId,
    },
    /// The census of the whole store.
    Census,
    /// The census of some documents and the change mark, in one read snapshot.
    ScopeCensus(&'a [DocumentId]),
    /// [`Op::ScopeCensus`] without the per-document digests: its memory does not grow with the
    /// documents.
    ScopeCensusSummary(&'a [DocumentId]),
    /// The documents changed in a commit a scope census's mark could not see.
    ChangedSince(&'a ChangeMark),
    /// Every document, generation record and unit.
    Snapshot,
    /// A journaled run.
    LoadRun(&'a RunId),
    /// Every journaled run.
    ListRuns,
    /// The most recent journaled runs, at most `limit` ([`RecentRuns`]).
    RecentRuns {
        /// How many runs at most.
        limit: u64,
    },
    /// A run's journaled plan.
    LoadPlan(&'a RunId),
    /// One part of a run's sealed plan, by its index: 0 its head, then its documents' parts.
    LoadPlanPart {
        /// The run.
        run: &'a RunId,
        /// The part's index, from 0.
        part: u64,
    },
    /// A run's journaled reports, oldest first.
    LoadReports(&'a RunId),
    /// A run's journaled backup artifact.
    LoadBackup(&'a RunId),
    /// One part of a run's journaled backup artifact, by its index.
    LoadBackupPart {
        /// The run.
        run: &'a RunId,
        /// The part's index, from 0.
        part: u64,
    },
    /// Every lease, with the store's clock.
    LoadLeases,
    /// Creates documents or replaces their bodies, all or none.
    PutDocuments(&'a [(DocumentId, String)]),
    /// Brings the tracking copies of the source rows in a scope up to date.
    SyncSource {
        /// The scope.
        scope: &'a Scope,
        /// Compare every row's body, not only the rows whose revision column moved.
        every_row: bool,
    },
    /// Journals a new run (or returns the journaled one).
    BeginRun(&'a RunRecord),
    /// Journals a phase transition; the store keeps the entry's first start
    /// ([`LiveExecutionAdapter::record_phase`](crate::LiveExecutionAdapter::record_phase)).
    RecordPhase {
        /// The run.
        run: &'a RunId,
        /// The phase record.
        phase: &'a PhaseRecord,
    },
    /// Journals a run's status.
    SetRunStatus {
        /// The run.
        run: &'a RunId,
        /// Its status.
        status: RunStatus,
    },
    /// Journals a run's plan.
    SavePlan {
        /// The run.
        run: &'a RunId,
        /// Its plan.
        plan: &'a Plan,
    },
    /// Journals one part of a run's plan (canonical `[DOCUMENT,…]`), before the plan is sealed.
    SavePlanPart {
        /// The run.
        run: &'a RunId,
        /// The part's place among the run's journaled parts, from 0.
        seq: u64,
        /// The part's text.
        part: &'a str,
    },
    /// Makes the parts journaled for a run the run's plan.
    SealPlan {
        /// The run.
        run: &'a RunId,
        /// The plan's head: the canonical text of the plan without its documents.
        head: &'a str,
        /// How many parts the plan has.
        parts: u64,
        /// The plan's sha256 ([`Plan::sha256`]).
        sha256: &'a str,
    },
    /// Journals one invocation's report of a run.
    SaveReport {
        /// The run.
        run: &'a RunId,
        /// The report's JSON text.
        report: &'a str,
    },
    /// Journals a run's backup artifact.
    SaveBackup {
        /// The run.
        run: &'a RunId,
        /// The artifact's text.
        artifact: &'a str,
        /// Its sha256.
        sha256: &'a str,
    },
    /// Journals one part of a run's backup artifact, before the backup is sealed.
    SaveBackupPart {
        /// The run.
        run: &'a RunId,
        /// The part's place among the run's journaled parts, from 0.
        seq: u64,
        /// The part's text (whole lines).
        part: &'a str,
    },
    /// Drops the parts journaled for a run's backup that was never sealed.
    DiscardBackupParts {
        /// The run.
        run: &'a RunId,
    },
    /// Makes the parts journaled for a run the run's backup.
    SealBackup {
        /// The run.
        run: &'a RunId,
        /// How many parts the artifact has.
        parts: u64,
        /// The sha256 of the parts concatenated in order.
        sha256: &'a str,
    },
    /// Compare-and-set fence.
    Fence {
        /// The run.
        run: &'a RunId,
        /// What the run saw at backup.
        expectations: &'a [ExpectedRevision],
    },
    /// Writes a batch of units into the run's staged generation.
    WriteUnits {
        /// The run.
        run: &'a RunId,
        /// The units.
        units: &'a [Unit],
    },
    /// Compare-and-set enact.
    Enact {
        /// The run.
        run: &'a RunId,
        /// What the run saw at backup and verified.
        expectations: &'a [ExpectedRevision],
    },
    /// Rolls a run's own marks back over its backup.
    Restore {
        /// The run.
        run: &'a RunId,
        /// Its backup.
        backup: &'a Backup,
    },
    /// Removes retired generations, all or nothing.
    PurgeGenerations(&'a [PurgeTarget]),
    /// Takes or extends a run's lease.
    AcquireLease {
        /// The run.
        run: &'a RunId,
        /// Who takes it.
        holder: &'a str,
        /// For how long.
        ttl: Duration,
    },
    /// Extends a live lease of the holder.
    RenewLease {
        /// The run.
        run: &'a RunId,
        /// Who holds it.
        holder: &'a str,
        /// For how long.
        ttl: Duration,
    },
    /// Ends the holder's lease.
    ReleaseLease {
        /// The run.
        run: &'a RunId,
        /// Who holds it.
        holder: &'a str,
    },
}

/// Which part of the seam a call belongs to; each is one role trait of [`crate::adapter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// What a run reads of documents, generations and units ([`crate::Reads`]).
    Reads,
    /// The run's compare-and-set mutations: fence, write units, enact ([`crate::Cuts`]).
    Cuts,
    /// The run's plan ([`crate::Plans`]).
    Plans,
    /// Runs, phases, reports and backups ([`crate::Journal`]).
    Journal,
    /// Run leases ([`crate::Leases`]).
    Leases,
    /// Everything outside a run's phases: preflight, import, rollback, purge ([`crate::Admin`]).
    Admin,
}

/// Declares [`OpKind`] and [`OPS`] from one list, so that no kind can be declared without its
/// row, nor its row stand at another index than the kind's.
macro_rules! op_table {
    ($($kind:ident: $name:literal, $role:ident, $access:ident;)*) => {
        /// What kind of call an [`Op`] is: the one table of the seam.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)] // Each variant is the op of the same name.
        pub enum OpKind {
            $($kind,)*
        }

        /// Every kind of call, reads first. The one place that says which calls mutate, which
        /// the kill switch gates and which carry a lease claim: `Guarded`, the simulator's fault
        /// injection and mutation counter, the timing layer and the tests all read it.
        pub const OPS: [OpSpec; [$($name),*].len()] =
            [$(spec(OpKind::$kind, $name, Role::$role, Access::$access)),*];
    };
}

// Each row: the kind, the typed method's name, its role, how it touches the store.
op_table! {
    Preflight: "preflight", Admin, GatedRead;
    LoadScope: "load_scope", Reads, Read;
    LoadHeads: "load_heads", Reads, Read;
    HeadsPage: "heads_page", Reads, Read;
    Generations: "generations", Reads, Read;
    GenerationsOf: "generations_of", Reads, Read;
    GenerationUnits: "generation_units", Reads, Read;
    GenerationDigests: "generation_digests", Reads, Read;
    GenerationDigestsOf: "generation_digests_of", Reads, Read;
    ActiveUnits: "active_units", Reads, Read;
    ActiveUnitsOf: "active_units_of", Reads, Read;
    ActiveUnitsPage: "active_units_page", Reads, Read;
    SourceFacts: "source_facts", Reads, Read;
    Census: "census", Reads, Read;
    ScopeCensus: "scope_census", Reads, Read;
    ScopeCensusSummary: "scope_census_summary", Reads, Read;
    ChangedSince: "changed_since", Reads, Read;
    Snapshot: "snapshot", Reads, Read;
    LoadRun: "load_run", Journal, Read;
    ListRuns: "list_runs", Journal, Read;
    RecentRuns: "recent_runs", Journal, Read;
    LoadPlan: "load_plan", Plans, Read;
    LoadPlanPart: "load_plan_part", Plans, Read;
    LoadReports: "load_reports", Journal, Read;
    LoadBackup: "load_backup", Journal, Read;
    LoadBackupPart: "load_backup_part", Journal, Read;
    LoadLeases: "load_leases", Leases, Read;
    PutDocuments: "put_documents", Admin, Write;
    SyncSource: "sync_source", Admin, Write;
    BeginRun: "begin_run", Journal, ClaimedWrite;
    RecordPhase: "record_phase", Journal, ClaimedWrite;
    SetRunStatus: "set_run_status", Journal, ClaimedWrite;
    SavePlan: "save_plan", Plans, ClaimedWrite;
    SavePlanPart: "save_plan_part", Plans, ClaimedWrite;
    SealPlan: "seal_plan", Plans, ClaimedWrite;
    SaveReport: "save_report", Journal, Write;
    SaveBackup: "save_backup", Journal, ClaimedWrite;
    SaveBackupPart: "save_backup_part", Journal, ClaimedWrite;
    DiscardBackupParts: "discard_backup_parts", Journal, ClaimedWrite;
    SealBackup: "seal_backup", Journal, ClaimedWrite;
    Fence: "fence", Cuts, ClaimedWrite;
    WriteUnits: "write_units", Cuts, ClaimedWrite;
    Enact: "enact", Cuts, ClaimedWrite;
    Restore: "restore", Admin, ClaimedWrite;
    PurgeGenerations: "purge_generations", Admin, Write;
    AcquireLease: "acquire_lease", Leases, Write;
    RenewLease: "renew_lease", Leases, LeaseUpkeep;
    ReleaseLease: "release_lease", Leases, LeaseUpkeep;
}

/// One row of the table: what a kind of call is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpSpec {
    /// The kind.
    pub kind: OpKind,
    /// The typed method's name, e.g. `write_units`.
    pub name: &'static str,
    /// Its role.
    pub role: Role,
    /// Whether it changes the store (documents, generations, units, the journal or leases).
    pub mutates: bool,
    /// Whether the kill switch refuses it while closed: every mutation but renewing and
    /// releasing a lease (which only extend or give up a claim taken through the switch), and
    /// the preflight, which asks the switch.
    pub gated: bool,
    /// Whether it changes a run's state, and so carries the run's lease claim
    /// ([`crate::LeaseClaim`]) when the caller holds one.
    pub claimed: bool,
}

/// How a kind of call touches the store: the combinations of [`OpSpec::mutates`],
/// [`OpSpec::gated`] and [`OpSpec::claimed`] that the table uses, each named.
#[derive(Clone, Copy)]
enum Access {
    /// Reads: neither gated nor claimed.
    Read,
    /// The preflight: changes nothing, but asks the kill switch.
    GatedRead,
    /// A gated mutation that changes no one run's state, so it carries no claim.
    Write,
    /// A gated mutation of one run's state, which carries the run's lease claim.
    ClaimedWrite,
    /// Renewing or releasing a lease: a mutation the kill switch does not gate.
    LeaseUpkeep,
}

const fn spec(kind: OpKind, name: &'static str, role: Role, access: Access) -> OpSpec {
    let (mutates, gated, claimed) = match access {
        Access::Read => (false, false, false),
        Access::GatedRead => (false, true, false),
        Access::Write => (true, true, false),
        Access::ClaimedWrite => (true, true, true),
        Access::LeaseUpkeep => (true, false, false),
    };
    OpSpec {
        kind,
        name,
        role,
        mutates,
        gated,
        claimed,
    }
}

impl OpKind {
    /// Every kind, in the table's order.
    pub fn all() -> impl Iterator<Item = OpKind> {
        OPS.iter().map(|s| s.kind)
    }

    /// This kind's row of [`OPS`].
    pub fn spec(self) -> &'static OpSpec {
        // The table lists every kind, in declaration order (a test checks it).
        &OPS[self as usize]
    }

    /// The typed method's name, e.g. `write_units`.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether the call changes the store.
    pub fn mutates(self) -> bool {
        self.spec().mutates
    }

    /// Whether the kill switch gates the call.
    pub fn gated(self) -> bool {
        self.spec().gated
    }

    /// Its role.
    pub fn role(self) -> Role {
        self.spec().role
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Op<'_> {
    /// What kind of call this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Preflight => OpKind::Preflight,
            Op::LoadScope(_) => OpKind::LoadScope,
            Op::LoadHeads(_) => OpKind::LoadHeads,
            Op::HeadsPage { .. } => OpKind::HeadsPage,
            Op::Generations(_) => OpKind::Generations,
            Op::GenerationsOf(_) => OpKind::GenerationsOf,
            Op::GenerationUnits { .. } => OpKind::GenerationUnits,
            Op::GenerationDigests { .. } => OpKind::GenerationDigests,
            Op::GenerationDigestsOf { .. } => OpKind::GenerationDigestsOf,
            Op::ActiveUnits(_) => OpKind::ActiveUnits,
            Op::ActiveUnitsOf(_) => OpKind::ActiveUnitsOf,
            Op::ActiveUnitsPage { .. } => OpKind::ActiveUnitsPage,
            Op::SourceFacts { .. } => OpKind::SourceFacts,
            Op::Census => OpKind::Census,
            Op::ScopeCensus(_) => OpKind::ScopeCensus,
            Op::ScopeCensusSummary(_) => OpKind::ScopeCensusSummary,
            Op::ChangedSince(_) => OpKind::ChangedSince,
            Op::Snapshot => OpKind::Snapshot,
            Op::LoadRun(_) => OpKind::LoadRun,
            Op::ListRuns => OpKind::ListRuns,
            Op::RecentRuns { .. } => OpKind::RecentRuns,
            Op::LoadPlan(_) => OpKind::LoadPlan,
            Op::LoadPlanPart { .. } => OpKind::LoadPlanPart,
            Op::LoadReports(_) => OpKind::LoadReports,
            Op::LoadBackup(_) => OpKind::LoadBackup,
            Op::LoadBackupPart { .. } => OpKind::LoadBackupPart,
            Op::LoadLeases => OpKind::LoadLeases,
            Op::PutDocuments(_) => OpKind::PutDocuments,
            Op::SyncSource { .. } => OpKind::SyncSource,
            Op::BeginRun(_) => OpKind::BeginRun,
            Op::RecordPhase { .. } => OpKind::RecordPhase,
            Op::SetRunStatus { .. } => OpKind::SetRunStatus,
            Op::SavePlan { .. } => OpKind::SavePlan,
            Op::SavePlanPart { .. } => OpKind::SavePlanPart,
            Op::SealPlan { .. } => OpKind::SealPlan,
            Op::SaveReport { .. } => OpKind::SaveReport,
            Op::SaveBackup { .. } => OpKind::SaveBackup,
            Op::SaveBackupPart { .. } => OpKind::SaveBackupPart,
            Op::DiscardBackupParts { .. } => OpKind::DiscardBackupParts,
            Op::SealBackup { .. } => OpKind::SealBackup,
            Op::Fence { .. } => OpKind::Fence,
            Op::WriteUnits { .. } => OpKind::WriteUnits,
            Op::Enact { .. } => OpKind::Enact,
            Op::Restore { .. } => OpKind::Restore,
            Op::PurgeGenerations(_) => OpKind::PurgeGenerations,
            Op::AcquireLease { .. } => OpKind::AcquireLease,
            Op::RenewLease { .. } => OpKind::RenewLease,
            Op::ReleaseLease { .. } => OpKind::ReleaseLease,
        }
    }

    /// The run whose state this call changes, for the calls that carry a lease claim
    /// ([`OpSpec::claimed`]).
    pub fn claimed_run(&self) -> Option<&RunId> {
        match self {
            Op::BeginRun(record) => Some(&record.run),
            Op::RecordPhase { run, .. }
            | Op::SetRunStatus { run, .. }
            | Op::SavePlan { run, .. }
            | Op::SavePlanPart { run, .. }
            | Op::SealPlan { run, .. }
            | Op::SaveBackup { run, .. }
            | Op::SaveBackupPart { run, .. }
            | Op::DiscardBackupParts { run }
            | Op::SealBackup { run, .. }
            | Op::Fence { run, .. }
            | Op::WriteUnits { run, .. }
            | Op::Enact { run, .. }
            | Op::Restore { run, .. } => Some(run),
            _ => None,
        }
    }
}

/// Declares [`Reply`] from one table of its kinds: each with its payload, which converts into
/// it (so that a store, or a test double, answers with `Ok(value.into())`), and its words in
/// [`Reply::unexpected`].
macro_rules! replies {
    ($($variant:ident($payload:ty) => $words:literal,)*) => {
        /// A store's answer to an [`Op`]; each op has exactly one kind of reply.
        #[derive(Clone, Debug)]
        #[allow(missing_docs)] // Each variant carries what its ops return.
        pub enum Reply {
            Done,
            $($variant($payload),)*
        }

        impl Reply {
            /// What the reply is, in an error's words.
            fn words(&self) -> &'static str {
                match self {
                    Reply::Done => "done",
                    $(Reply::$variant(_) => $words,)*
                }
            }
        }

        $(
            impl From<$payload> for Reply {
                fn from(value: $payload) -> Self {
                    Reply::$variant(value)
                }
            }
        )*
    };
}

replies! {
    Count(u64) => "a count",
    Documents(Vec<Document>) => "documents",
    Heads(Vec<DocumentHead>) => "heads",
    Generations(Vec<GenerationRecord>) => "generation records",
    Units(Vec<Unit>) => "units",
    Digests(GenerationDigests) => "unit digests",
    DigestsOf(Vec<GenerationDigests>) => "unit digests of documents",
    UnitPage(Vec<ActiveUnit>) => "a page of active units",
    Facts(SourceFacts) => "source facts",
    Census(Census) => "a census",
    ScopeCensus(ScopeCensus) => "a scope census",
    Changed(Vec<DocumentId>) => "changed document ids",
    Snapshot(StoreSnapshot) => "a snapshot",
    Run(Option<RunRecord>) => "a run",
    Runs(Vec<RunRecord>) => "runs",
    RecentRuns(RecentRuns) => "the most recent runs",
    Plan(Option<Plan>) => "a plan",
    PlanPart(Option<StoredPlanPart>) => "a part of a plan",
    Reports(Vec<String>) => "reports",
    Backup(Option<StoredBackup>) => "a backup",
    Leases(LeaseView) => "leases",
    Lease(Lease) => "a lease",
    Restoration(Restoration) => "a restoration",
    Synced(SyncReport) => "a sync report",
    Purged(Vec<PurgeTarget>) => "purged generations",
}

impl Reply {
    /// The error for a reply of the wrong kind: a store that answers an op with another op's
    /// reply is broken, and says so instead of panicking.
    pub(crate) fn unexpected(self, kind: OpKind) -> AdapterError {
        AdapterError::Invalid(format!(
            "the store answered `{kind}` with an unexpected reply ({})",
            self.words()
        ))
    }
}

impl From<()> for Reply {
    fn from((): ()) -> Self {
        Reply::Done
    }
}

/// An expectation on a [`crate::MockLiveExecutionAdapter`] for one kind of call: a
/// `mock.expect_call()` that matches only ops of `$kind` (an [`OpKind`] variant), to chain
/// `.times(..)`, `.in_sequence(..)` or `.returning(|op, claim| Ok(value.into()))` on (not
/// `.withf(..)`, which would replace the match: give a pattern instead). With a pattern, the
/// guard may use the test's values (an id from a loop, the expected plan): the matcher owns
/// what it uses.
///
/// Mockall answers a call with the first expectation set (FIFO) that matches it and is not
/// yet saturated; a `.times(0)` expectation is saturated from the start, so a call it would
/// refuse finds no expectation and panics (the `mock_tests` below pin this).
#[cfg(feature = "mock")]
#[macro_export]
macro_rules! expect_op {
    ($mock:expr, $kind:ident) => {
        $mock
            .expect_call()
            .withf(|op, _| op.kind() == $crate::OpKind::$kind)
    };
    ($mock:expr, $kind:ident, $pattern:pat $(if $guard:expr)?) => {
        $mock
            .expect_call()
            .withf(move |op, _| matches!(op, $pattern $(if $guard)?))
    };
}

/// Refuses, on a [`crate::MockLiveExecutionAdapter`], every mutating call ([`OpSpec::mutates`])
/// but those of the kinds in `own` (a phase's own mutations, or none for a phase that only
/// reads): one `.times(0)` expectation over exactly those calls. A call no expectation answers
/// panics anyway; this set says so where a reader looks, and, saturated from the start, it never
/// shadows an answer set before or after it (see [`expect_op!`](crate::expect_op)). Reads and
/// the `own` kinds are left to the test's other expectations.
#[cfg(feature = "mock")]
pub fn refuse_mutations_except(mock: &mut crate::MockLiveExecutionAdapter, own: &[OpKind]) {
    let own = own.to_vec();
    mock.expect_call()
        .withf(move |op, _| op.kind().mutates() && !own.contains(&op.kind()))
        .times(0);
}

/// Refuses, on a [`crate::MockLiveExecutionAdapter`], every call of the kinds in `kinds`: one
/// `.times(0)` expectation over exactly those calls, the same as an
/// [`expect_op!`](crate::expect_op)`(mock, Kind).times(0)` for each (saturated from the start,
/// it shadows no other expectation).
#[cfg(feature = "mock")]
pub fn refuse_calls(mock: &mut crate::MockLiveExecutionAdapter, kinds: &[OpKind]) {
    let kinds = kinds.to_vec();
    mock.expect_call()
        .withf(move |op, _| kinds.contains(&op.kind()))
        .times(0);
}

/// The lease a caller holds on a run, sent with every call that changes that run's state
/// ([`OpSpec::claimed`]): the store checks, inside the call's own transaction, that `holder`
/// still holds a live lease on `run`, and refuses the call with
/// [`AdapterError::LeaseLost`] otherwise. A runner paused past its lease (a stopped process, a
/// long garbage collection, a slow disk) and woken after another runner took over can then
/// write nothing: the lease is a fencing token, not only a flag checked between phases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseClaim {
    /// The run.
    pub run: RunId,
    /// Who holds its lease.
    pub holder: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_kind_once_in_declaration_order() {
        for (index, spec) in OPS.iter().enumerate() {
            assert_eq!(spec.kind as usize, index, "{}", spec.name);
        }
        let names: std::collections::BTreeSet<&str> = OPS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), OPS.len());
    }

    #[test]
    fn only_mutations_are_gated_or_claimed_and_reads_are_neither() {
        for spec in OPS {
            if !spec.mutates {
                assert!(!spec.claimed, "{}", spec.name);
                assert!(
                    !spec.gated || spec.kind == OpKind::Preflight,
                    "{}",
                    spec.name
                );
            }
        }
        let ungated: Vec<&str> = OPS
            .iter()
            .filter(|s| s.mutates && !s.gated)
            .map(|s| s.name)
            .collect();
        assert_eq!(ungated, ["renew_lease", "release_lease"]);
    }
}

#[cfg(all(test, feature = "mock"))]
mod mock_tests {
    use crate::prelude::*;
    use crate::{MockLiveExecutionAdapter, Op, RunId, Scope};

    #[tokio::test]
    async fn a_mock_answers_one_kind_of_call_and_refuses_the_others() {
        let mut mock = MockLiveExecutionAdapter::new();
        crate::expect_op!(mock, LoadScope)
            .times(1)
            .returning(|_, _| Ok(Vec::<crate::Document>::new().into()));
        crate::expect_op!(mock, Fence, Op::Fence { run, .. } if run.as_str() == "r1")
            .times(1)
            .returning(|_, _| Ok(().into()));
        assert!(
            mock.load_scope(&Scope::All)
                .await
                .is_ok_and(|d| d.is_empty())
        );
        assert!(mock.fence(&RunId::new("r1"), &[]).await.is_ok());
    }

    /// What the phase and runner tests rely on: mockall answers with the first expectation set
    /// that matches and is not saturated, so a refusal of every mutation set after (or before)
    /// a specific answer never shadows it, and a call beyond every answer panics.
    #[tokio::test]
    async fn expectations_match_first_set_first_and_skip_saturated_ones() {
        let run = RunId::new("r1");
        let mut mock = MockLiveExecutionAdapter::new();
        crate::expect_op!(mock, WriteUnits, Op::WriteUnits { units, .. } if units.is_empty())
            .times(1)
            .returning(|_, _| Ok(1u64.into()));
        crate::refuse_mutations_except(&mut mock, &[]);
        crate::expect_op!(mock, WriteUnits)
            .times(1)
            .returning(|_, _| Ok(2u64.into()));
        assert_eq!(mock.write_units(&run, &[]).await.ok(), Some(1), "first set");
        assert_eq!(
            mock.write_units(&run, &[]).await.ok(),
            Some(2),
            "saturated: skipped"
        );

        let mock = std::sync::Arc::new(mock);
        let third = tokio::spawn({
            let mock = mock.clone();
            async move { mock.write_units(&RunId::new("r1"), &[]).await.is_ok() }
        });
        assert!(
            third.await.is_err_and(|e| e.is_panic()),
            "a third call is refused"
        );
        let fence = tokio::spawn(async move { mock.fence(&RunId::new("r1"), &[]).await.is_ok() });
        assert!(
            fence.await.is_err_and(|e| e.is_panic()),
            "so is any mutation"
        );
    }

    /// The panic message of `call` on a mock whose only expectation refuses every mutation but
    /// the fence: mockall calls a lone saturated expectation that matches the call (`should not
    /// have been called`) and finds none for a call it does not match (`No matching expectation
    /// found`).
    async fn refusal_of<Call>(
        call: impl FnOnce(std::sync::Arc<MockLiveExecutionAdapter>) -> Call,
    ) -> String
    where
        Call: std::future::Future<Output = ()> + Send + 'static,
    {
        let mut mock = MockLiveExecutionAdapter::new();
        crate::refuse_mutations_except(&mut mock, &[crate::OpKind::Fence]);
        match tokio::spawn(call(std::sync::Arc::new(mock))).await {
            Ok(()) => "answered".to_owned(),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default()
            }
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn the_refusal_matches_every_mutation_but_the_phases_own_and_no_read() {
        let refused = "should not have been called";
        let unmatched = "No matching expectation found";
        let write =
            refusal_of(|m| async move { drop(m.write_units(&RunId::new("r1"), &[]).await) }).await;
        assert!(write.contains(refused), "write_units: {write}");
        let enact =
            refusal_of(|m| async move { drop(m.enact(&RunId::new("r1"), &[]).await) }).await;
        assert!(enact.contains(refused), "enact: {enact}");
        let fence =
            refusal_of(|m| async move { drop(m.fence(&RunId::new("r1"), &[]).await) }).await;
        assert!(fence.contains(unmatched), "fence, the phase's own: {fence}");
        let read = refusal_of(|m| async move { drop(m.load_scope(&Scope::All).await) }).await;
        assert!(read.contains(unmatched), "load_scope, a read: {read}");
    }
}
