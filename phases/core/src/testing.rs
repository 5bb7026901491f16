//! What the phase crates' tests share (feature `test-support`, enabled from their
//! `[dev-dependencies]` only): the run they run, the documents and backup they start from, the
//! context a phase runs in, a plan's spans, and running a phase that must fail.

use std::sync::Arc;
use std::sync::mpsc::Receiver;

use iu_cutter_live_execution::{
    AdapterError, Backup, Census, CutRules, Document, DocumentId, DocumentSnapshot, DocumentState,
    LeaseClaim, LiveExecutionAdapter, Op, PLAN_PART_BYTES, Plan, PlannedUnit, Reply, RunId,
    RunRecord, SCHEMA_VERSION, Scope, Sha256Digest, StoredPlanPart, UnitId, plan_head_text,
    plan_parts, sha256_hex,
};

use crate::{
    BackupStore, Gap, MemoryBackupStore, NextAction, Phase, PhaseError, RunContext, RunEvent,
};

/// The run every phase test runs.
pub const RUN: &str = "run-1";

/// Document `id` at `revision` holding `body`, ready to cut (no active generation); a test
/// changes the state or generation it needs with `Document { state, ..document(..) }`.
pub fn document(id: &str, revision: u64, body: &str) -> Document {
    Document {
        id: DocumentId::new(id),
        revision,
        sha256: sha256_hex(body.as_bytes()),
        state: DocumentState::Ready,
        active_generation: None,
        body: body.to_owned(),
    }
}

/// The backup [`RUN`] took of `documents` (no generation records or active units) with
/// `census`, in id order as the backup phase writes them.
pub fn backup_of(census: Census, documents: impl IntoIterator<Item = Document>) -> Backup {
    let mut documents: Vec<Document> = documents.into_iter().collect();
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    Backup {
        schema_version: SCHEMA_VERSION,
        run: RunId::new(RUN),
        census,
        mark: None,
        entries: None,
        documents: documents
            .into_iter()
            .map(|document| DocumentSnapshot {
                document,
                generations: vec![],
                active_units: vec![],
            })
            .collect(),
    }
}

/// The context of [`RUN`] over `scope`, cut by `rules`, calling `store`; its backup store
/// holds `backup` when one is given (where the phases after the backup read it), else nothing.
pub async fn context(
    store: impl LiveExecutionAdapter + 'static,
    scope: Scope,
    rules: CutRules,
    backup: Option<&Backup>,
) -> Result<RunContext, PhaseError> {
    let backups = Arc::new(MemoryBackupStore::new());
    if let Some(backup) = backup {
        backups.save(backup).await?;
    }
    let record = RunRecord::new(RunId::new(RUN), scope, rules);
    Ok(RunContext::new(record, Arc::new(store), backups))
}

/// The planned units that cut `body` at the byte offsets `ends` (each unit ends where the next
/// starts; the first starts at 0): unit `i` has the id named `unit_id(i)` ([`named_unit_id`]),
/// the path `p{i}` and its span's sha256.
pub fn spans(body: &str, ends: &[usize], unit_id: impl Fn(usize) -> String) -> Vec<PlannedUnit> {
    let mut start = 0;
    ends.iter()
        .enumerate()
        .map(|(i, &end)| {
            let unit = PlannedUnit {
                ordinal: i as u32,
                unit_id: named_unit_id(&unit_id(i)),
                path: format!("p{i}").into(),
                part: None,
                start: start as u64,
                end: end as u64,
                sha256: Sha256Digest::of(&body.as_bytes()[start..end]),
            };
            start = end;
            unit
        })
        .collect()
}

/// A unit id for tests, named by `name`: the first bytes of the sha256 of the name (distinct
/// names, distinct ids).
pub fn named_unit_id(name: &str) -> UnitId {
    UnitId::of_digest(&Sha256Digest::of(name.as_bytes()))
}

/// Sends `ctx`'s events to the returned receiver, for [`progress`] to read.
pub fn record_events(ctx: &mut RunContext) -> Receiver<RunEvent> {
    let (tx, rx) = std::sync::mpsc::channel();
    ctx.events = Arc::new(tx);
    rx
}

/// The (done, total) of every progress event sent so far, in order.
pub fn progress(events: &Receiver<RunEvent>) -> Vec<(u64, u64)> {
    events
        .try_iter()
        .filter_map(|e| match e {
            RunEvent::Progress { done, total, .. } => Some((done, total)),
            _ => None,
        })
        .collect()
}

/// Runs `phase`, which must fail: its error, or, if it passed, an error that says what it
/// `accepted` and the evidence it gave.
pub async fn failure(
    phase: &dyn Phase,
    ctx: &mut RunContext,
    accepted: &str,
) -> Result<PhaseError, String> {
    match phase.run(ctx).await {
        Err(err) => Ok(err),
        Ok(evidence) => Err(format!("{accepted}: passed with {evidence:?}")),
    }
}

/// Runs `phase` with its run cancelled (as by the operator, or by a lost lease) at the first
/// event `at` accepts, and checks that the phase stops as cancelled.
pub async fn cancelled_at(
    phase: &dyn Phase,
    ctx: &mut RunContext,
    at: impl Fn(&RunEvent) -> bool + Send + Sync + 'static,
) -> Result<(), String> {
    let cancel = ctx.cancel.clone();
    ctx.events = Arc::new(move |event: RunEvent| {
        if at(&event) {
            cancel.cancel();
        }
    });
    match failure(phase, ctx, "cancellation ignored").await? {
        PhaseError::Cancelled => Ok(()),
        other => Err(format!("expected a cancellation, got {other}")),
    }
}

/// The gap `phase` blocked on, which must tell the operator to roll [`RUN`] back; or an error
/// naming how it failed otherwise.
pub fn blocked(err: PhaseError, phase: &str) -> Result<Gap, String> {
    let gap = match err {
        PhaseError::Blocked(gap) => gap,
        other => return Err(format!("expected a gap, got {other}")),
    };
    if gap.phase != phase {
        return Err(format!("expected a gap of {phase}, got {gap}"));
    }
    if !gap.next.contains(&NextAction::rollback(&RunId::new(RUN))) {
        return Err(format!("the gap does not say to roll back: {gap}"));
    }
    Ok(gap)
}

/// A gated call's refusal while the kill switch `switch` is closed.
pub fn gate_closed(switch: &str, how_to_open: &str) -> AdapterError {
    AdapterError::GateClosed {
        switch: switch.to_owned(),
        how_to_open: how_to_open.to_owned(),
    }
}

/// Whether a phase stopped on the closed kill switch, passing the store's refusal on unchanged.
pub fn stopped_by_gate(err: &PhaseError) -> bool {
    matches!(err, PhaseError::Adapter(AdapterError::GateClosed { .. }))
}

/// A compare-and-set call's refusal: `document` is not what the call expected.
pub fn conflict(document: &str, expected: &str, found: &str) -> AdapterError {
    AdapterError::Conflict {
        document: DocumentId::new(document),
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

/// A store's answers to `load_plan_part` once it sealed `plan` (part 0 its head, then its
/// parts, then none): what a mock returns for [`Op::LoadPlanPart`], however often the phase reads
/// the plan through.
pub fn sealed_plan(
    plan: &Plan,
) -> impl Fn(Op<'_>, Option<&LeaseClaim>) -> Result<Reply, AdapterError> + Send + 'static {
    let head = plan_head_text(plan.schema_version, &plan.rules);
    let parts = plan_parts(plan, PLAN_PART_BYTES);
    let sha256 = plan.sha256();
    move |op, _| {
        let Op::LoadPlanPart { part, .. } = op else {
            return Err(AdapterError::Invalid(format!("{op:?} is not a plan read")));
        };
        let text = match part.checked_sub(1) {
            None => Some(head.clone()),
            Some(seq) => usize::try_from(seq)
                .ok()
                .and_then(|i| parts.get(i).cloned()),
        };
        Ok(Reply::PlanPart(text.map(|text| StoredPlanPart {
            text,
            sha256: sha256.clone(),
        })))
    }
}
