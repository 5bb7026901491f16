//! Fault injection and the call log: which operation each call was, how it ended, and faults
//! armed against call indexes or against the nth call of one operation. [`Faulty`] is the layer
//! that applies them around any store, the simulator's or a real database's.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, LeaseClaim, LiveExecutionAdapter, Op, OpKind, Reply,
};

/// A kind of store call, as fault plans and the call log name it: the seam's one table
/// ([`iu_cutter_live_execution::OPS`]) says what each is.
pub type Operation = OpKind;

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

/// Fault injection, a call log and a mutation counter around any store: every call (but
/// `info`) gets a global index from 0, is logged, and may be hit by an armed fault. A crash
/// fault leaves the layer "down" (every call fails as unavailable) until [`Faulty::recover`],
/// as a killed process is until restarted; the store under it keeps its state, as a database
/// does.
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    state: Mutex<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    /// Why the simulated process is down, if it is.
    crashed: Option<String>,
    next_call: u64,
    occurrences: BTreeMap<OpKind, u64>,
    faults: FaultPlan,
    log: Vec<CallRecord>,
    mutations: u64,
}

/// What the layer decided before a call reached the store.
enum Before {
    /// Refused without reaching the store.
    Refused(AdapterError),
    /// Passed on; a crash-after fault, if armed, fires once it has applied.
    Pass { crash_after: bool },
}

impl<S> Faulty<S> {
    /// `inner` with no faults armed.
    pub fn new(inner: S) -> Self {
        Faulty {
            inner,
            state: Mutex::new(FaultState::default()),
        }
    }

    /// The store under this layer.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // Nothing is left half-updated under this lock, so a poisoned one is safe to reuse.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Arms a fault against a global call index.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Arms a fault against the `occurrence`-th call (from 0) of `operation`.
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

    /// Crashes now (as if killed between calls).
    pub fn crash(&self) {
        let mut state = self.lock();
        let at = state.next_call;
        state.crashed = Some(format!("killed before call {at}"));
    }

    /// Restarts: the crash is cleared; armed faults, counters and the log are kept.
    pub fn recover(&self) {
        self.lock().crashed = None;
    }

    /// Whether the layer is down.
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed.is_some()
    }

    /// Number of calls so far (the index the next call gets).
    pub fn call_count(&self) -> u64 {
        self.lock().next_call
    }

    /// Every call so far, in order.
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.lock().log.clone()
    }

    /// Number of mutating calls whose effect reached the store: every mutating call that
    /// returned `Ok` (idempotent ones that changed nothing included), plus those applied just
    /// before a crash-after fault.
    pub fn mutation_count(&self) -> u64 {
        self.lock().mutations
    }

    /// Takes the call's index and decides, before it reaches the store, whether it does.
    fn before(&self, kind: OpKind) -> (u64, Before) {
        let mut state = self.lock();
        let index = state.next_call;
        state.next_call += 1;
        let counter = state.occurrences.entry(kind).or_insert(0);
        let occurrence = *counter;
        *counter += 1;
        if let Some(reason) = &state.crashed {
            let error = AdapterError::Unavailable(
                format!("simulated crash ({reason}); call recover() to restart").into(),
            );
            return (index, Before::Refused(error));
        }
        match state.faults.take(index, kind, occurrence) {
            Some(FaultKind::Error) => {
                let error = AdapterError::InjectedFault {
                    call: index,
                    operation: kind.name().to_owned(),
                };
                (index, Before::Refused(error))
            }
            Some(FaultKind::CrashBefore) => {
                let reason = format!("crashed before call {index} ({kind})");
                let error = AdapterError::Unavailable(format!("simulated crash ({reason})").into());
                state.crashed = Some(reason);
                (index, Before::Refused(error))
            }
            Some(FaultKind::CrashAfter) => (index, Before::Pass { crash_after: true }),
            None => (index, Before::Pass { crash_after: false }),
        }
    }

    /// Logs the call, counts an applied mutation, and fires a crash-after fault.
    fn after(
        &self,
        index: u64,
        kind: OpKind,
        result: AdapterResult<Reply>,
        reached: bool,
        crash_after: bool,
    ) -> AdapterResult<Reply> {
        let mut state = self.lock();
        let applied = reached && kind.mutates() && result.is_ok();
        if applied {
            state.mutations += 1;
        }
        let result = if crash_after {
            let reason = format!("crashed after call {index} ({kind})");
            // Applied, and the reply lost: what a real store's caller sees as a lost
            // connection, which may have committed (`may_have_been_applied`).
            let error = AdapterError::Unavailable(iu_cutter_live_execution::Unavailability::new(
                iu_cutter_live_execution::UnavailableKind::Connection,
                format!("simulated crash ({reason})"),
            ));
            state.crashed = Some(reason);
            Err(error)
        } else {
            result
        };
        state.log.push(CallRecord {
            index,
            operation: kind,
            mutating: kind.mutates(),
            applied,
            outcome: match &result {
                Ok(_) => CallOutcome::Ok,
                Err(error) => CallOutcome::Err(error.to_string()),
            },
        });
        result
    }
}

#[async_trait]
impl<S: LiveExecutionAdapter> LiveExecutionAdapter for Faulty<S> {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let kind = op.kind();
        match self.before(kind) {
            (index, Before::Refused(error)) => self.after(index, kind, Err(error), false, false),
            (index, Before::Pass { crash_after }) => {
                let result = self.inner.call(op, claim).await;
                self.after(index, kind, result, true, crash_after)
            }
        }
    }
}
