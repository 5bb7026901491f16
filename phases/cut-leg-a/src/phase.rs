//! The phase: plan the run from the backup, journal the plan, fence the sources.

use std::sync::Arc;

use iu_cutter_live_execution::{
    AdapterError, Backup, CutRules, Document, DocumentId, DocumentPlan, Evidence, ExpectedRevision,
    Plan, RunId, SCHEMA_VERSION, Sha256Digest,
};
use iu_cutter_phase_core::evidence::PLAN_SHA256;
use iu_cutter_phase_core::{
    BatchTimes, Gap, NextAction, Pacer, PhaseError, PhaseRole, RunContext, names,
};

use iu_cutter_cut::{CutError, Cutter, PREAMBLE_PATH, Parallelism};

/// Why a plan could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The rules cannot be compiled.
    #[error("{0}")]
    Rules(#[source] CutError),
    /// One document cannot be cut.
    #[error("document `{document}`: {source}")]
    Cut {
        /// The document.
        document: DocumentId,
        /// Why.
        #[source]
        source: CutError,
    },
    /// A document's body does not hash to its recorded sha256 (a corrupt backup or store row).
    #[error("document `{document}`: body sha256 is {found}, but the row records {recorded}")]
    BodyMismatch {
        /// The document.
        document: DocumentId,
        /// The sha256 the row records.
        recorded: String,
        /// The sha256 of the body.
        found: String,
    },
    /// The same document was given twice.
    #[error("document `{0}` is listed twice")]
    Duplicate(DocumentId),
    /// The runtime shut down while the plan was being computed.
    #[error("the plan was not computed: the program is shutting down")]
    Interrupted,
}

/// The plan for `documents` under `rules`: pure and deterministic.
///
/// Documents are planned in id order whatever the input order; each entry records the
/// document's revision, its sha256 (checked against the body) and length, and its units (exact
/// byte spans covering the body). The rules are compiled once per process ([`Cutter::shared`]).
/// The documents are cut on every core this process may use ([`Parallelism::available`]); the
/// plan is the same, byte for byte, as on one ([`compute_plan_with`]). This blocks for as long
/// as the cut takes: from async code, use [`spawn_compute_plan`].
pub fn compute_plan<'a>(
    documents: impl IntoIterator<Item = &'a Document>,
    rules: &CutRules,
) -> Result<Plan, PlanError> {
    compute_plan_with(documents, rules, Parallelism::available())
}

/// [`compute_plan`] on at most `parallelism` threads.
///
/// The plan does not depend on `parallelism`: results are put back in id order, and when
/// several documents cannot be planned, the error is the one about the first of them in id
/// order, as a sequential cut would have stopped at it (the others are still cut: errors are
/// rare, and stopping early would make the error depend on the threads' timing).
pub fn compute_plan_with<'a>(
    documents: impl IntoIterator<Item = &'a Document>,
    rules: &CutRules,
    parallelism: Parallelism,
) -> Result<Plan, PlanError> {
    let cutter = Cutter::shared(rules).map_err(PlanError::Rules)?;
    let mut documents: Vec<&Document> = documents.into_iter().collect();
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(pair) = documents.windows(2).find(|pair| pair[0].id == pair[1].id) {
        return Err(PlanError::Duplicate(pair[0].id.clone()));
    }
    let documents = parallelism
        .map(&documents, |document| plan_document(&cutter, document))
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        schema_version: SCHEMA_VERSION,
        rules: rules.clone(),
        documents,
    })
}

/// The plan for the documents of a run's backup (what the phase computes and journals).
pub fn plan_for_backup(backup: &Backup, rules: &CutRules) -> Result<Plan, PlanError> {
    plan_for_backup_with(backup, rules, Parallelism::available())
}

/// [`plan_for_backup`] on at most `parallelism` threads (the plan does not depend on it).
pub fn plan_for_backup_with(
    backup: &Backup,
    rules: &CutRules,
    parallelism: Parallelism,
) -> Result<Plan, PlanError> {
    compute_plan_with(
        backup.documents.iter().map(|s| &s.document),
        rules,
        parallelism,
    )
}

/// [`compute_plan`] from async code: the cut runs on tokio's blocking pool, so that the
/// seconds of CPU a large scope takes do not stall the runtime's workers (the lease heartbeat
/// among them). Outside a tokio runtime it runs where it is called.
pub async fn spawn_compute_plan(
    documents: Vec<Document>,
    rules: CutRules,
) -> Result<Plan, PlanError> {
    off_the_runtime(move || compute_plan(&documents, &rules)).await?
}

/// Runs `work` on tokio's blocking pool when called inside a tokio runtime, else right here. A
/// panic in `work` is resumed in the caller, as if `work` had run in place.
async fn off_the_runtime<T, F>(work: F) -> Result<T, PlanError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(work());
    };
    match runtime.spawn_blocking(work).await {
        Ok(value) => Ok(value),
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // A blocking task is only cancelled when the runtime shuts down.
            Err(_) => Err(PlanError::Interrupted),
        },
    }
}

fn plan_document(cutter: &Cutter, document: &Document) -> Result<DocumentPlan, PlanError> {
    let found = Sha256Digest::of(document.body.as_bytes());
    if !found.matches(&document.sha256) {
        return Err(PlanError::BodyMismatch {
            document: document.id.clone(),
            recorded: document.sha256.clone(),
            found: found.hex(),
        });
    }
    let cut = cutter
        .cut_document(document.id.as_str(), &document.body)
        .map_err(|source| PlanError::Cut {
            document: document.id.clone(),
            source,
        })?;
    Ok(DocumentPlan {
        document: document.id.clone(),
        revision: document.revision,
        source_sha256: document.sha256.clone(),
        source_bytes: document.body.len() as u64,
        units: cut.units,
        preset: cut.preset,
    })
}

/// The phase's evidence: the plan's sha256 (text), how many documents were fenced and how many
/// units were planned (counts); which presets `auto` chose (text, e.g. `legal-vi 2, markdown 1`);
/// which documents yielded only a preamble unit (a list, each also logged as a warning).
fn evidence(plan_sha256: String, fenced: usize, plan: &Plan, run: &RunId) -> Evidence {
    let mut evidence = Evidence::from([
        PLAN_SHA256.with(plan_sha256),
        ("documents_fenced".to_owned(), fenced.into()),
        ("units_planned".to_owned(), plan.unit_count().into()),
    ]);
    if let Some(chosen) = presets_chosen(plan) {
        evidence.insert("presets_chosen".to_owned(), chosen.into());
    }
    let unstructured = unstructured_documents(plan);
    if !unstructured.is_empty() {
        for document in &unstructured {
            tracing::warn!(
                run = %run,
                document = %document.document,
                bytes = document.source_bytes,
                "only a preamble unit: the rules found no structure in this document"
            );
        }
        let names: Vec<String> = unstructured
            .iter()
            .map(|d| d.document.as_str().to_owned())
            .collect();
        evidence.insert("unstructured_documents".to_owned(), names.into());
    }
    evidence
}

/// A document larger than this that yields only a preamble unit is worth a warning: its
/// structure was not recognised (a Markdown article cut with a legal preset, say).
pub const UNSTRUCTURED_WARNING_BYTES: u64 = 4 * 1024;

/// The documents of `plan` larger than [`UNSTRUCTURED_WARNING_BYTES`] cut into a single
/// preamble unit: the rules found no structure in them.
pub fn unstructured_documents(plan: &Plan) -> Vec<&DocumentPlan> {
    plan.documents
        .iter()
        .filter(|d| {
            d.source_bytes > UNSTRUCTURED_WARNING_BYTES
                && d.units.len() == 1
                && d.units.iter().all(|u| u.path == PREAMBLE_PATH)
        })
        .collect()
}

/// How many documents each preset cut, when the rules let the cutter choose (`auto`): e.g.
/// `legal-en 3, markdown 2`; `None` for other rules.
pub fn presets_chosen(plan: &Plan) -> Option<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for preset in plan.documents.iter().filter_map(|d| d.preset) {
        match counts.iter_mut().find(|(name, _)| *name == preset.name()) {
            Some((_, count)) => *count += 1,
            None => counts.push((preset.name(), 1)),
        }
    }
    counts.sort();
    (!counts.is_empty()).then(|| {
        counts
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

iu_cutter_phase_core::standard_phase! {
    /// Phase 2: computes the plan from the backup, journals it, and fences every source document
    /// (compare-and-set from its backed-up revision and sha256 to `cutting(run)`), in batches of
    /// `RunContext::batch_documents`, each batch one transaction, all or nothing.
    ///
    /// Evidence: `plan_sha256`, `documents_fenced`, `units_planned`, `batches` and
    /// `longest_batch_ms` (the fence's transactions); under `auto`,
    /// `presets_chosen`; and `unstructured_documents` when a document of more than
    /// [`UNSTRUCTURED_WARNING_BYTES`] yields only a preamble unit. A document that changed
    /// since the backup, or that another run holds, blocks the run naming it; a journaled plan
    /// that differs from the recomputed one blocks it too, and so does a plan whose sha256 is not
    /// the reviewed plan's the run was started with (`RunRecord::expected_plan_sha256`, from
    /// `run --plan`).
    ///
    /// The plan is cut on tokio's blocking pool, on every core this process may use
    /// ([`plan_for_backup`]).
    pub struct CutLegA named names::CUT_LEG_A, role PhaseRole::Plan;
}

impl CutLegA {
    /// This phase's `Phase::run` (see `standard_phase!`).
    async fn run_phase(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        let run = ctx.record.run.clone();
        let (plan, expectations) = plan_by_batches(ctx).await?;
        let plan_sha256 = plan.sha256();
        if let Some(reviewed) = &ctx.record.expected_plan_sha256
            && *reviewed != plan_sha256
        {
            return Err(plan_gap(
                None,
                format!("the reviewed plan (sha256 {reviewed}, from run --plan)"),
                format!("the plan computed from the backup, sha256 {plan_sha256}"),
                vec![
                    NextAction::fix(
                        "the documents changed between the plan check and the backup; nothing \
                         was fenced",
                    ),
                    NextAction::rollback(&run),
                    NextAction::Plan,
                ],
            ));
        }

        match ctx.store().load_plan(&run).await? {
            Some(journaled) if journaled == plan => {
                tracing::info!(run = %run, plan_sha256 = %plan_sha256, "plan already journaled");
            }
            Some(journaled) => return Err(plan_changed(&run, &journaled, &plan)),
            None => match ctx.store().save_plan(&run, &plan).await {
                Ok(()) => {}
                Err(AdapterError::Conflict { found, .. }) => {
                    // Another process journaled a different plan between our read and our write.
                    return Err(plan_gap(
                        None,
                        format!("plan sha256 {plan_sha256} as the run's only plan"),
                        format!("another plan journaled for this run ({found})"),
                        rollback_and_restart(&run),
                    ));
                }
                Err(e) => return Err(e.into()),
            },
        }

        let mut pacer = Pacer::new(ctx.throttle.pause_only());
        let times = fence(ctx, &run, &expectations, &mut pacer).await?;
        tracing::info!(
            run = %run,
            plan_sha256 = %plan_sha256,
            documents = expectations.len(),
            units = plan.unit_count(),
            batches = times.batches(),
            "plan journaled, sources fenced"
        );

        let mut evidence = evidence(plan_sha256, expectations.len(), &plan, &run);
        times.record_in(&mut evidence);
        pacer.record_in(
            &ctx.throttle.pause_only(),
            ctx.back_off.as_ref(),
            &mut evidence,
        );
        ctx.set_plan(Arc::new(plan));
        Ok(evidence)
    }
}

/// The plan of the run's backup (as [`plan_for_backup`] computes it) and what the fence expects
/// of each backed-up document, from the backup read a batch of documents at a time: each batch is
/// cut on tokio's blocking pool and dropped, so that the scope's bodies are never in memory
/// together. The backup is in id order (the backup phase writes it so); the plan is sorted and
/// checked for duplicates across batches all the same, so it is the whole backup's plan.
async fn plan_by_batches(
    ctx: &mut RunContext,
) -> Result<(Plan, Vec<ExpectedRevision>), PhaseError> {
    let run = ctx.record.run.clone();
    let cannot_plan = |e: PlanError| {
        PhaseError::Precondition(format!(
            "cannot plan run {run}: {e}; fix the cut rules or the document, then roll back this \
             run and start a new one"
        ))
    };
    let mut reader = ctx.backup_reader().await?;
    let batch = ctx.batch_documents.read_size();
    let rules = ctx.record.rules.clone();
    let mut documents: Vec<DocumentPlan> = Vec::new();
    let mut expectations = Vec::new();
    while let Some(snapshots) = reader.next_batch(batch).await? {
        ctx.check_cancelled()?;
        let batch: Vec<Document> = snapshots.into_iter().map(|s| s.document).collect();
        expectations.extend(batch.iter().map(ExpectedRevision::of));
        let rules = rules.clone();
        let planned = off_the_runtime(move || compute_plan(&batch, &rules));
        let planned = planned.await.and_then(|plan| plan).map_err(cannot_plan)?;
        documents.extend(planned.documents);
    }
    documents.sort_by(|a, b| a.document.cmp(&b.document));
    if let Some(pair) = documents
        .windows(2)
        .find(|p| p[0].document == p[1].document)
    {
        return Err(cannot_plan(PlanError::Duplicate(pair[0].document.clone())));
    }
    // Rules that do not compile are refused even for a backup of no documents, as before.
    Cutter::shared(&rules)
        .map_err(PlanError::Rules)
        .map_err(cannot_plan)?;
    let plan = Plan {
        schema_version: SCHEMA_VERSION,
        rules,
        documents,
    };
    Ok((plan, expectations))
}

/// Fences `expectations` in batches of `ctx.batch_documents`, each its own transaction, with a
/// stop (cancellation, a lost lease) honoured and the batch pause taken between two batches. A
/// fence stopped part-way is resumed by fencing every document again: a document this run
/// fenced already passes ([`iu_cutter_live_execution::ownership::fence_step`]).
async fn fence(
    ctx: &RunContext,
    run: &RunId,
    expectations: &[ExpectedRevision],
    pacer: &mut Pacer,
) -> Result<BatchTimes, PhaseError> {
    let total = expectations.len() as u64;
    let mut times = BatchTimes::default();
    let mut fenced = 0u64;
    for batch in ctx.batch_documents.split(expectations) {
        if times.batches() > 0 {
            ctx.between_batches(names::CUT_LEG_A, pacer, fenced).await?;
        }
        ctx.check_cancelled()?;
        times
            .time(ctx.store().fence(run, batch))
            .await
            .map_err(|e| {
                PhaseError::blocked_on_conflict(
                    names::CUT_LEG_A,
                    e,
                    rollback_and_restart_because(
                        "the document changed since the backup (or another run holds it)",
                        run,
                    ),
                )
            })?;
        fenced += batch.len() as u64;
        ctx.progress(names::CUT_LEG_A, fenced, total);
    }
    Ok(times)
}

/// The gap when the journal holds a plan other than the one recomputed from the backup.
fn plan_changed(run: &RunId, journaled: &Plan, plan: &Plan) -> PhaseError {
    let document = journaled
        .documents
        .iter()
        .zip(&plan.documents)
        .find(|(a, b)| a != b)
        .map(|(a, _)| a.document.clone());
    let what = if journaled.rules != plan.rules {
        "the run's rules differ from the journaled plan's"
    } else {
        "the cut of the backed-up sources differs (a different cut engine?)"
    };
    plan_gap(
        document,
        format!("the journaled plan (sha256 {})", journaled.sha256()),
        format!("a recomputed plan with sha256 {}: {what}", plan.sha256()),
        rollback_and_restart_because("the plan changed since the run started", run),
    )
}

/// This phase blocked on the run's plan (about `document`, if one), no unit in particular.
fn plan_gap(
    document: Option<DocumentId>,
    expected: String,
    found: String,
    next: Vec<NextAction>,
) -> PhaseError {
    PhaseError::Blocked(Gap {
        phase: names::CUT_LEG_A.to_owned(),
        document,
        unit: None,
        expected,
        found,
        next,
    })
}

/// Roll back `run` and start a new one.
fn rollback_and_restart(run: &RunId) -> Vec<NextAction> {
    vec![NextAction::rollback(run), NextAction::Run { run: None }]
}

/// What happened (`why`, as a [`NextAction::Fix`] to look into), then
/// [`rollback_and_restart`].
fn rollback_and_restart_because(why: &str, run: &RunId) -> Vec<NextAction> {
    let mut next = vec![NextAction::fix(why)];
    next.extend(rollback_and_restart(run));
    next
}

#[cfg(test)]
mod tests;
