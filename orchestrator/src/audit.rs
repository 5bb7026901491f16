//! `verify` of a run that is over: a read-only audit of an enacted run against its journal and
//! its last report, or of a rolled-back run against the store. Nothing is written.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Document, DocumentId, DocumentPlan, Evidence, EvidenceValue, GenerationState,
    LiveExecutionAdapter, RunId, RunRecord, Scope, Sha256Digest, sha256_hex,
};
use iu_cutter_phase_core::evidence::PLAN_SHA256;
use iu_cutter_phase_core::{Gap, PhaseError, PhaseRole, PlanReader};
use tracing::{info, warn};

use crate::invocation::{Invocation, elapsed_ms};
use crate::next::NextAction;
use crate::pipeline::Pipeline;
use crate::report::{Outcome, PhaseEntry, PhaseEntryStatus, RunReport};

/// The name of the single step a `verify` of an enacted or rolled-back run reports. It is not
/// journaled: the audit only reads.
pub const AUDIT_STEP: &str = "audit";

/// What an audit step finds: evidence, or the first gap; `Err` when the store cannot be read.
type Audited = Result<Result<Evidence, Gap>, AdapterError>;

/// Read-only audit of an enacted run (see [`crate::Runner::verify`]).
pub(crate) async fn enacted(
    pipeline: &Pipeline,
    record: &RunRecord,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let started = begin(inv);
    let result = audit_enacted(pipeline, record, inv).await;
    finish(&record.run, result, started, inv)
}

/// Read-only audit of a rolled-back run: its generation is gone everywhere.
pub(crate) async fn rolled_back(record: &RunRecord, inv: &mut Invocation<'_>) -> Outcome {
    let started = begin(inv);
    let result = audit_rolled_back(record, inv).await;
    finish(&record.run, result, started, inv)
}

fn begin(inv: &mut Invocation<'_>) -> Instant {
    let mut entry = PhaseEntry::not_run(AUDIT_STEP);
    entry.started_at = Some(inv.journal.now());
    inv.phases = vec![entry];
    Instant::now()
}

async fn audit_enacted(
    pipeline: &Pipeline,
    record: &RunRecord,
    inv: &mut Invocation<'_>,
) -> Audited {
    let run = &record.run;
    let store = inv.store().clone();
    let mut plan = match open_plan(&store, run).await? {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            return Ok(Err(gap(
                run,
                None,
                None,
                "a journaled plan",
                "no plan in the journal",
            )));
        }
        Err(gap) => return Ok(Err(gap)),
    };
    let plan_sha256 = plan.sha256().to_owned();
    if let Err(gap) = check_plan_sha(pipeline, record, &plan_sha256, inv).await? {
        return Ok(Err(gap));
    }
    let mut enacted_runs = EnactedRuns::new(pipeline);
    let mut counts = Counts::default();
    // A part of the plan at a time, with its documents: neither the scope's plan nor its
    // bodies are in memory together.
    while let Some(part) = match next_part(&mut plan, run).await? {
        Ok(part) => part,
        Err(gap) => return Ok(Err(gap)),
    } {
        let documents = documents_of(store.as_ref(), &part).await?;
        for doc_plan in &part {
            let id = &doc_plan.document;
            let Some(document) = documents.get(id) else {
                return Ok(Err(gap(
                    run,
                    Some(id),
                    None,
                    "the document in the store",
                    "no such document",
                )));
            };
            if let Err(gap) = check_generation(
                store.as_ref(),
                run,
                doc_plan,
                document,
                &mut enacted_runs,
                &mut counts,
            )
            .await?
            {
                return Ok(Err(gap));
            }
            if let Err(gap) = check_units(store.as_ref(), run, doc_plan, &mut counts).await? {
                return Ok(Err(gap));
            }
        }
        counts.documents += part.len() as u64;
    }
    Ok(Ok(Evidence::from([
        PLAN_SHA256.with(plan_sha256),
        ("documents_audited".to_owned(), counts.documents.into()),
        ("units_audited".to_owned(), counts.units.into()),
        ("generation_active".to_owned(), counts.active.into()),
        ("generation_retired".to_owned(), counts.retired.into()),
    ])))
}

/// The run's sealed plan opened to be read a part at a time; a plan that cannot be read back as
/// journaled is a gap.
async fn open_plan(
    store: &Arc<dyn LiveExecutionAdapter>,
    run: &RunId,
) -> Result<Result<Option<PlanReader>, Gap>, AdapterError> {
    as_gap(run, PlanReader::open(Arc::clone(store), run).await)
}

/// The plan's next part; a part that is not as journaled (or a plan that does not hash to its
/// sha256 once read through) is a gap.
async fn next_part(
    plan: &mut PlanReader,
    run: &RunId,
) -> Result<Result<Option<Vec<DocumentPlan>>, Gap>, AdapterError> {
    as_gap(run, plan.next_part().await)
}

/// A plan read's result as the audit reports it: the store's failure as such, anything else
/// (a journaled plan changed outside iu-cutter) as a gap.
fn as_gap<T>(run: &RunId, read: Result<T, PhaseError>) -> Result<Result<T, Gap>, AdapterError> {
    match read {
        Ok(value) => Ok(Ok(value)),
        Err(PhaseError::Adapter(error)) => Err(error),
        Err(other) => Ok(Err(gap(
            run,
            None,
            None,
            "a journaled plan that hashes to its journaled sha256",
            other.to_string(),
        ))),
    }
}

/// What the audit of an enacted run counted.
#[derive(Default)]
struct Counts {
    documents: u64,
    active: u64,
    retired: u64,
    units: u64,
}

/// The journaled plan must hash to the sha256 the planning phase journaled, and to the last
/// report's.
async fn check_plan_sha(
    pipeline: &Pipeline,
    record: &RunRecord,
    plan_sha256: &str,
    inv: &mut Invocation<'_>,
) -> Result<Result<(), Gap>, AdapterError> {
    let run = &record.run;
    let found = || format!("a journaled plan hashing to {plan_sha256}");
    if let Some(journaled) = pipeline
        .name_of(PhaseRole::Plan)
        .and_then(|name| record.phase(name))
        .and_then(|p| PLAN_SHA256.get(&p.evidence))
        && journaled != plan_sha256
    {
        let expected = format!("the plan sha256 the planning phase journaled ({journaled})");
        return Ok(Err(gap(run, None, None, expected, found())));
    }
    let reports = inv.store().load_reports(run).await?;
    match reports.last().map(|text| RunReport::from_json(text)) {
        Some(Ok(report)) => {
            if let Some(reported) = &report.plan_sha256
                && reported != plan_sha256
            {
                let expected = format!(
                    "the plan sha256 of the last report ({}, {reported})",
                    report.command.name()
                );
                return Ok(Err(gap(run, None, None, expected, found())));
            }
        }
        Some(Err(error)) => inv.note(format!(
            "the last journaled report of run {run} cannot be read ({error}); audited against \
             the journal only"
        )),
        None => inv.note(format!(
            "run {run} has no journaled report; audited against the journal only"
        )),
    }
    Ok(Ok(()))
}

/// Which runs' enacting phase is journaled done, read run by run as the audit meets them: the
/// runs of the active generations of the scope's documents, not the whole journal.
struct EnactedRuns<'p> {
    pipeline: &'p Pipeline,
    known: BTreeMap<RunId, bool>,
}

impl<'p> EnactedRuns<'p> {
    fn new(pipeline: &'p Pipeline) -> Self {
        EnactedRuns {
            pipeline,
            known: BTreeMap::new(),
        }
    }

    /// Whether `run` is journaled enacted.
    async fn contains(
        &mut self,
        store: &dyn LiveExecutionAdapter,
        run: &RunId,
    ) -> Result<bool, AdapterError> {
        if let Some(enacted) = self.known.get(run) {
            return Ok(*enacted);
        }
        let enacted = store
            .load_run(run)
            .await?
            .is_some_and(|r| self.pipeline.done(&r, PhaseRole::Enact));
        self.known.insert(run.clone(), enacted);
        Ok(enacted)
    }
}

/// The run's generation of the document is active (and its units still tile the body they
/// claim to cut), or retired with a later enacted run's generation active.
async fn check_generation(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    doc_plan: &DocumentPlan,
    document: &Document,
    enacted_runs: &mut EnactedRuns<'_>,
    counts: &mut Counts,
) -> Result<Result<(), Gap>, AdapterError> {
    let id = &doc_plan.document;
    let state = store
        .generations(id)
        .await?
        .into_iter()
        .find(|g| &g.generation == run)
        .map(|g| g.state);
    let retired_by_an_enacted_run = match (state, document.active_generation.as_ref()) {
        (Some(GenerationState::Retired), Some(pointer)) if pointer != run => {
            enacted_runs.contains(store, pointer).await?
        }
        _ => false,
    };
    match (state, document.active_generation.as_ref()) {
        (Some(GenerationState::Active), Some(pointer)) if pointer == run => {
            let body_sha256 = sha256_hex(document.body.as_bytes());
            if body_sha256 != doc_plan.source_sha256 || document.revision != doc_plan.revision {
                let expected = format!(
                    "the body run {run} cut (revision {}, sha256 {})",
                    doc_plan.revision, doc_plan.source_sha256
                );
                let found = format!(
                    "revision {} whose body hashes to {body_sha256}: the document changed since \
                     it was cut, and its active units no longer tile it (stale); cut it again \
                     with a new run",
                    document.revision
                );
                return Ok(Err(gap(run, Some(id), None, expected, found)));
            }
            counts.active += 1;
        }
        (Some(GenerationState::Retired), Some(_)) if retired_by_an_enacted_run => {
            counts.retired += 1;
        }
        (state, pointer) => {
            let expected = format!(
                "generation {run} active, or retired with a later journaled run's generation \
                 active"
            );
            let found = format!(
                "generation {run} {}, active generation {}",
                match state {
                    Some(state) => format!("{state:?}").to_lowercase(),
                    None => "absent (purged?)".into(),
                },
                pointer.map_or("none", RunId::as_str)
            );
            return Ok(Err(gap(run, Some(id), None, expected, found)));
        }
    }
    Ok(Ok(()))
}

/// Every planned unit is stored with its planned ordinal, id, byte range and sha256, and a body
/// that hashes to it.
async fn check_units(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    doc_plan: &DocumentPlan,
    counts: &mut Counts,
) -> Result<Result<(), Gap>, AdapterError> {
    let id = &doc_plan.document;
    let stored = store.generation_units(id, run).await?;
    if stored.len() != doc_plan.units.len() {
        let expected = format!("{} units, as planned", doc_plan.units.len());
        let found = format!("{} units in generation {run}", stored.len());
        return Ok(Err(gap(run, Some(id), None, expected, found)));
    }
    for (planned, unit) in doc_plan.units.iter().zip(&stored) {
        let body_sha = Sha256Digest::of(unit.body.as_bytes());
        let same = unit.ordinal == planned.ordinal
            && planned.unit_id.matches(&unit.unit_id)
            && unit.start == planned.start
            && unit.end == planned.end
            && planned.sha256.matches(&unit.sha256)
            && body_sha == planned.sha256;
        if !same {
            let expected = format!(
                "unit {} `{}` bytes {}..{} sha256 {}",
                planned.ordinal, planned.unit_id, planned.start, planned.end, planned.sha256
            );
            let found = format!(
                "unit {} `{}` bytes {}..{} sha256 {} (body hashes to {body_sha})",
                unit.ordinal, unit.unit_id, unit.start, unit.end, unit.sha256
            );
            return Ok(Err(gap(
                run,
                Some(id),
                Some(planned.unit_id.hex()),
                expected,
                found,
            )));
        }
    }
    counts.units += stored.len() as u64;
    Ok(Ok(()))
}

async fn audit_rolled_back(record: &RunRecord, inv: &mut Invocation<'_>) -> Audited {
    let run = &record.run;
    let store = inv.store().clone();
    let mut plan = match open_plan(&store, run).await? {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            inv.note(format!(
                "run {run} journaled no plan: nothing was fenced or written"
            ));
            return Ok(Ok(Evidence::from([(
                "documents_audited".to_owned(),
                EvidenceValue::Count(0),
            )])));
        }
        Err(gap) => return Ok(Err(gap)),
    };
    let mut audited = 0u64;
    while let Some(part) = match next_part(&mut plan, run).await? {
        Ok(part) => part,
        Err(gap) => return Ok(Err(gap)),
    } {
        let documents = documents_of(store.as_ref(), &part).await?;
        for doc_plan in &part {
            if let Err(gap) = check_no_trace(store.as_ref(), run, doc_plan, &documents).await? {
                return Ok(Err(gap));
            }
        }
        audited += part.len() as u64;
    }
    Ok(Ok(Evidence::from([(
        "documents_audited".to_owned(),
        EvidenceValue::from(audited),
    )])))
}

/// No trace of the rolled-back run's generation on one planned document: not active, no
/// generation record, no units.
async fn check_no_trace(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    doc_plan: &DocumentPlan,
    documents: &BTreeMap<DocumentId, Document>,
) -> Result<Result<(), Gap>, AdapterError> {
    let id = &doc_plan.document;
    let pointer = documents.get(id).and_then(|d| d.active_generation.as_ref());
    let generation = store
        .generations(id)
        .await?
        .into_iter()
        .find(|g| &g.generation == run);
    let units = store.generation_units(id, run).await?.len();
    if pointer == Some(run) || generation.is_some() || units > 0 {
        let found = format!(
            "active generation {}, generation record {}, {units} units",
            pointer.map_or("none", RunId::as_str),
            if generation.is_some() {
                "present"
            } else {
                "absent"
            }
        );
        let expected = format!("no trace of generation {run} (the run was rolled back)");
        return Ok(Err(gap(run, Some(id), None, expected, found)));
    }
    Ok(Ok(()))
}

/// The documents of a part of a plan, by id.
async fn documents_of(
    store: &dyn LiveExecutionAdapter,
    part: &[DocumentPlan],
) -> Result<BTreeMap<DocumentId, Document>, AdapterError> {
    let ids: Vec<DocumentId> = part.iter().map(|d| d.document.clone()).collect();
    Ok(store
        .load_scope(&Scope::Ids(ids))
        .await?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect())
}

fn gap(
    run: &RunId,
    document: Option<&DocumentId>,
    unit: Option<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Gap {
    Gap {
        phase: AUDIT_STEP.to_owned(),
        document: document.cloned(),
        unit,
        expected: expected.into(),
        found: found.into(),
        next: vec![
            NextAction::fix(format!(
                "nothing was changed; find what altered the store since run {run}, then roll it \
                 back or cut the documents again with a new run"
            )),
            NextAction::rollback(run),
            NextAction::Run { run: None },
        ],
    }
}

/// The audit's outcome and its report entry.
fn finish(run: &RunId, result: Audited, started: Instant, inv: &mut Invocation<'_>) -> Outcome {
    let entry = &mut inv.phases[0];
    entry.duration_ms = Some(elapsed_ms(started));
    match result {
        Ok(Ok(evidence)) => {
            entry.status = PhaseEntryStatus::Done;
            entry.evidence = evidence;
            info!("audit passed");
            Outcome::Pass
        }
        Ok(Err(gap)) => {
            warn!(gap = %gap, "audit found a gap");
            entry.status = PhaseEntryStatus::Blocked;
            entry.detail = Some(gap.to_string());
            Outcome::Blocked { gap }
        }
        Err(error) => {
            entry.status = PhaseEntryStatus::Failed;
            entry.detail = Some(error.to_string());
            Outcome::store_unreadable(
                format!("the audit could not read the store: {error}"),
                NextAction::Verify { run: run.clone() },
            )
        }
    }
}
