//! Fault injection and the call log: which operation each call was, how it ended, and faults
//! armed against call indexes or against the nth call of one operation.

use std::fmt;

/// An adapter operation, as the simulator counts, logs and faults it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// `preflight` (read).
    Preflight,
    /// `load_scope` (read).
    LoadScope,
    /// `load_heads` (read).
    LoadHeads,
    /// `generations` (read).
    Generations,
    /// `generation_units` (read).
    GenerationUnits,
    /// `active_units` (read).
    ActiveUnits,
    /// `census` (read).
    Census,
    /// `snapshot` (read).
    Snapshot,
    /// `load_run` (read).
    LoadRun,
    /// `list_runs` (read).
    ListRuns,
    /// `load_plan` (read).
    LoadPlan,
    /// `load_reports` (read).
    LoadReports,
    /// `load_backup` (read).
    LoadBackup,
    /// `load_leases` (read).
    LoadLeases,
    /// `put_documents` (mutating).
    PutDocuments,
    /// `begin_run` (mutating).
    BeginRun,
    /// `record_phase` (mutating).
    RecordPhase,
    /// `set_run_status` (mutating).
    SetRunStatus,
    /// `save_plan` (mutating).
    SavePlan,
    /// `save_report` (mutating).
    SaveReport,
    /// `save_backup` (mutating).
    SaveBackup,
    /// `fence` (mutating).
    Fence,
    /// `write_units` (mutating).
    WriteUnits,
    /// `enact` (mutating).
    Enact,
    /// `restore` (mutating).
    Restore,
    /// `purge_generations` (mutating).
    PurgeGenerations,
    /// `acquire_lease` (mutating: journal state).
    AcquireLease,
    /// `renew_lease` (mutating: journal state).
    RenewLease,
    /// `release_lease` (mutating: journal state).
    ReleaseLease,
}

impl Operation {
    /// Every operation counted by the simulator (`info` is not counted), reads first.
    pub const ALL: [Operation; 29] = [
        Operation::Preflight,
        Operation::LoadScope,
        Operation::LoadHeads,
        Operation::Generations,
        Operation::GenerationUnits,
        Operation::ActiveUnits,
        Operation::Census,
        Operation::Snapshot,
        Operation::LoadRun,
        Operation::ListRuns,
        Operation::LoadPlan,
        Operation::LoadReports,
        Operation::LoadBackup,
        Operation::LoadLeases,
        Operation::PutDocuments,
        Operation::BeginRun,
        Operation::RecordPhase,
        Operation::SetRunStatus,
        Operation::SavePlan,
        Operation::SaveReport,
        Operation::SaveBackup,
        Operation::Fence,
        Operation::WriteUnits,
        Operation::Enact,
        Operation::Restore,
        Operation::PurgeGenerations,
        Operation::AcquireLease,
        Operation::RenewLease,
        Operation::ReleaseLease,
    ];

    /// The trait method's name, e.g. `write_units`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Preflight => "preflight",
            Operation::LoadScope => "load_scope",
            Operation::LoadHeads => "load_heads",
            Operation::Generations => "generations",
            Operation::GenerationUnits => "generation_units",
            Operation::ActiveUnits => "active_units",
            Operation::Census => "census",
            Operation::Snapshot => "snapshot",
            Operation::LoadRun => "load_run",
            Operation::ListRuns => "list_runs",
            Operation::LoadPlan => "load_plan",
            Operation::LoadReports => "load_reports",
            Operation::LoadBackup => "load_backup",
            Operation::LoadLeases => "load_leases",
            Operation::PutDocuments => "put_documents",
            Operation::BeginRun => "begin_run",
            Operation::RecordPhase => "record_phase",
            Operation::SetRunStatus => "set_run_status",
            Operation::SavePlan => "save_plan",
            Operation::SaveReport => "save_report",
            Operation::SaveBackup => "save_backup",
            Operation::Fence => "fence",
            Operation::WriteUnits => "write_units",
            Operation::Enact => "enact",
            Operation::Restore => "restore",
            Operation::PurgeGenerations => "purge_generations",
            Operation::AcquireLease => "acquire_lease",
            Operation::RenewLease => "renew_lease",
            Operation::ReleaseLease => "release_lease",
        }
    }

    /// Whether the operation mutates (and so passes the kill switch behind `Guarded`).
    pub fn is_mutating(self) -> bool {
        matches!(
            self,
            Operation::PutDocuments
                | Operation::BeginRun
                | Operation::RecordPhase
                | Operation::SetRunStatus
                | Operation::SavePlan
                | Operation::SaveReport
                | Operation::SaveBackup
                | Operation::Fence
                | Operation::WriteUnits
                | Operation::Enact
                | Operation::Restore
                | Operation::PurgeGenerations
                | Operation::AcquireLease
                | Operation::RenewLease
                | Operation::ReleaseLease
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an armed fault does to the call it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// The call returns `AdapterError::InjectedFault` without applying anything.
    Error,
    /// The process dies before the call reaches the store: nothing is applied, the simulator is
    /// crashed until [`crate::Simulator::recover`].
    CrashBefore,
    /// The call is applied (atomically), then the process dies before answering: the client gets
    /// an error and never learns the call succeeded; the simulator is crashed until recovered.
    CrashAfter,
}

/// A fault armed against a global call index (the first call of a simulator is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The index of the call it hits.
    pub at_call: u64,
    /// What it does.
    pub kind: FaultKind,
}

impl Fault {
    /// Call `at_call` fails with an injected error.
    pub fn error_at(at_call: u64) -> Self {
        Fault {
            at_call,
            kind: FaultKind::Error,
        }
    }

    /// The simulator crashes before call `at_call` applies.
    pub fn crash_before(at_call: u64) -> Self {
        Fault {
            at_call,
            kind: FaultKind::CrashBefore,
        }
    }

    /// The simulator crashes after call `at_call` applies.
    pub fn crash_after(at_call: u64) -> Self {
        Fault {
            at_call,
            kind: FaultKind::CrashAfter,
        }
    }
}

/// A fault armed against the `occurrence`-th call (from 0) of one operation, counted over the
/// simulator's life whatever each call's outcome — e.g. "crash after the second `write_units`".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OperationFault {
    /// The operation.
    pub operation: Operation,
    /// Which call of that operation, from 0.
    pub occurrence: u64,
    /// What it does.
    pub kind: FaultKind,
}

/// A set of armed faults. Each fault fires at most once; when several match one call, a
/// call-index fault wins over an operation fault, the earliest armed wins among equals, and every
/// matching fault is disarmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    faults: Vec<Fault>,
    operation_faults: Vec<OperationFault>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plan with `fault` armed too.
    pub fn with(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The plan with `fault` armed too.
    pub fn with_operation(mut self, fault: OperationFault) -> Self {
        self.operation_faults.push(fault);
        self
    }

    /// Arms a call-index fault.
    pub fn push(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Arms an operation fault.
    pub fn push_operation(&mut self, fault: OperationFault) {
        self.operation_faults.push(fault);
    }

    /// Armed call-index faults.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Armed operation faults.
    pub fn operation_faults(&self) -> &[OperationFault] {
        &self.operation_faults
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty() && self.operation_faults.is_empty()
    }

    /// Adds every fault of `other`.
    pub fn extend(&mut self, other: FaultPlan) {
        self.faults.extend(other.faults);
        self.operation_faults.extend(other.operation_faults);
    }

    /// Fires (and disarms) the faults matching call `index`, the `occurrence`-th of `operation`.
    pub(crate) fn take(
        &mut self,
        index: u64,
        operation: Operation,
        occurrence: u64,
    ) -> Option<FaultKind> {
        let by_index = self
            .faults
            .iter()
            .find(|f| f.at_call == index)
            .map(|f| f.kind);
        let by_operation = self
            .operation_faults
            .iter()
            .find(|f| f.operation == operation && f.occurrence == occurrence)
            .map(|f| f.kind);
        self.faults.retain(|f| f.at_call != index);
        self.operation_faults
            .retain(|f| !(f.operation == operation && f.occurrence == occurrence));
        by_index.or(by_operation)
    }
}

/// How a logged call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// It returned `Ok`.
    Ok,
    /// It returned this error (rendered).
    Err(String),
}

impl CallOutcome {
    /// Whether the call returned `Ok`.
    pub fn is_ok(&self) -> bool {
        matches!(self, CallOutcome::Ok)
    }
}

/// One call in the simulator's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// Global call index, from 0.
    pub index: u64,
    /// The operation.
    pub operation: Operation,
    /// Whether the operation mutates.
    pub mutating: bool,
    /// Whether a mutating call's effect reached the store (true even when a crash-after fault
    /// made it return an error; always false for reads).
    pub applied: bool,
    /// What the caller got back.
    pub outcome: CallOutcome,
}
