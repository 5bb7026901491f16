//! The phase: plan the run from the backup, journal the plan, fence the sources.

use iu_cutter_live_execution::{
    Backup, CutRules, Document, DocumentId, DocumentPlan, Evidence, ExpectedRevision, Plan,
    PlanWriter, RunId, SCHEMA_VERSION, Sha256Digest, plan_head_text,
};
use iu_cutter_phase_core::evidence::PLAN_SHA256;
use iu_cutter_phase_core::{
    BackupReader, BatchTimes, DocumentBatches, Gap, IN_PLACE_BYTES, NextAction, Pacer, PhaseError,
    PhaseRole, PlanReader, RunContext, names,
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
    /// A backup's documents are not in id order (the backup phase writes them so).
    #[error("the backup lists document `{0}` after a document that sorts after it")]
    OutOfOrder(DocumentId),
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
    let bytes = documents.iter().map(|d| d.body.len()).sum();
    off_the_runtime(bytes, move || compute_plan(&documents, &rules)).await?
}

/// Runs `work` (on `bytes` of documents) on tokio's blocking pool when called inside a tokio
/// runtime, else, or when `bytes` is below [`IN_PLACE_BYTES`], right here. A panic in `work` is
/// resumed in the caller, as if `work` had run in place.
async fn off_the_runtime<T, F>(bytes: usize, work: F) -> Result<T, PlanError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Ok(work());
    };
    if bytes < IN_PLACE_BYTES {
        return Ok(work());
    }
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
fn evidence(plan_sha256: String, fenced: usize, summary: &PlanSummary, run: &RunId) -> Evidence {
    let mut evidence = Evidence::from([
        PLAN_SHA256.with(plan_sha256),
        ("documents_fenced".to_owned(), fenced.into()),
        ("units_planned".to_owned(), summary.units.into()),
    ]);
    if let Some(chosen) = summary.presets_chosen() {
        evidence.insert("presets_chosen".to_owned(), chosen.into());
    }
    if !summary.unstructured.is_empty() {
        for (document, bytes) in &summary.unstructured {
            tracing::warn!(
                run = %run,
                document = %document,
                bytes,
                "only a preamble unit: the rules found no structure in this document"
            );
        }
        let names: Vec<String> = summary
            .unstructured
            .iter()
            .map(|(d, _)| d.as_str().to_owned())
            .collect();
        evidence.insert("unstructured_documents".to_owned(), names.into());
    }
    evidence
}

/// What the evidence and the metrics say of a plan, gathered a document at a time.
#[derive(Debug, Default)]
struct PlanSummary {
    units: u64,
    /// Source bytes cut.
    bytes: u64,
    /// Documents per preset `auto` chose.
    presets: std::collections::BTreeMap<&'static str, usize>,
    /// The documents [`is_unstructured`], with their sizes.
    unstructured: Vec<(DocumentId, u64)>,
}

impl PlanSummary {
    fn add(&mut self, document: &DocumentPlan) {
        self.units += document.units.len() as u64;
        self.bytes += document.source_bytes;
        if let Some(preset) = document.preset {
            *self.presets.entry(preset.name()).or_default() += 1;
        }
        if is_unstructured(document) {
            self.unstructured
                .push((document.document.clone(), document.source_bytes));
        }
    }

    /// `legal-en 3, markdown 2`: how many documents each preset cut; `None` when no preset was
    /// chosen (rules other than `auto`).
    fn presets_chosen(&self) -> Option<String> {
        (!self.presets.is_empty()).then(|| {
            self.presets
                .iter()
                .map(|(name, count)| format!("{name} {count}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
    }
}

/// A document larger than this that yields only a preamble unit is worth a warning: its
/// structure was not recognised (a Markdown article cut with a legal preset, say).
pub const UNSTRUCTURED_WARNING_BYTES: u64 = 4 * 1024;

/// A document of more than [`UNSTRUCTURED_WARNING_BYTES`] cut into a single preamble unit.
fn is_unstructured(document: &DocumentPlan) -> bool {
    document.source_bytes > UNSTRUCTURED_WARNING_BYTES
        && document.units.len() == 1
        && document.units.iter().all(|u| u.path == PREAMBLE_PATH)
}

/// The documents of `plan` larger than [`UNSTRUCTURED_WARNING_BYTES`] cut into a single
/// preamble unit: the rules found no structure in them.
pub fn unstructured_documents(plan: &Plan) -> Vec<&DocumentPlan> {
    plan.documents
        .iter()
        .filter(|d| is_unstructured(d))
        .collect()
}

/// How many documents each preset cut, when the rules let the cutter choose (`auto`): e.g.
/// `legal-en 3, markdown 2`; `None` for other rules.
pub fn presets_chosen(plan: &Plan) -> Option<String> {
    let mut summary = PlanSummary::default();
    plan.documents.iter().for_each(|d| summary.add(d));
    summary.presets_chosen()
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
        // Rules that do not compile are refused before anything is read or written.
        Cutter::shared(&ctx.record.rules)
            .map_err(PlanError::Rules)
            .map_err(|e| cannot_plan(&run, e))?;
        let backup = ctx.backup_reader().await?;
        // A plan sealed by an earlier call of this run is compared with, never written again.
        let journaled = ctx.sealed_plan().await?;
        let planned = plan_by_batches(ctx, backup, journaled).await?;
        let plan_sha256 = planned.sha256.clone();
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
        match &planned.journaled {
            Some(journaled) if journaled.sha256 == plan_sha256 => {
                tracing::info!(run = %run, plan_sha256 = %plan_sha256, "plan already journaled");
            }
            Some(journaled) => {
                return Err(plan_changed(&run, journaled, &planned, &ctx.record.rules));
            }
            None => seal(ctx, &run, &planned).await?,
        }

        let mut pacer = Pacer::new(ctx.throttle.pause_only());
        let times = fence(ctx, &run, &planned.fence, &mut pacer).await?;
        tracing::info!(
            run = %run,
            plan_sha256 = %plan_sha256,
            documents = planned.fence.documents,
            units = planned.summary.units,
            batches = times.batches(),
            "plan journaled, sources fenced"
        );

        let mut evidence = evidence(plan_sha256, planned.fence.documents, &planned.summary, &run);
        times.record_in(&mut evidence);
        pacer.record_in(
            &ctx.throttle.pause_only(),
            ctx.back_off.as_ref(),
            &mut evidence,
        );
        ctx.set_bytes_cut(planned.summary.bytes);
        Ok(evidence)
    }
}

/// Seals the parts [`plan_by_batches`] journaled as the run's plan.
async fn seal(ctx: &RunContext, run: &RunId, planned: &Planned) -> Result<(), PhaseError> {
    let head = plan_head_text(SCHEMA_VERSION, &ctx.record.rules);
    match ctx
        .store()
        .seal_plan(run, &head, planned.parts, &planned.sha256)
        .await
    {
        Ok(()) => Ok(()),
        Err(error) => match ctx.sealed_plan().await? {
            // Another process sealed a different plan between our read and our seal.
            Some(other) if other.sha256() != planned.sha256 => Err(plan_gap(
                None,
                format!("plan sha256 {} as the run's only plan", planned.sha256),
                format!(
                    "another plan journaled for this run (sha256 {})",
                    other.sha256()
                ),
                rollback_and_restart(run),
            )),
            _ => Err(error.into()),
        },
    }
}

/// What [`plan_by_batches`] computed: the plan's sha256 and summary, what the fence expects of
/// each backed-up document, and either how many parts it journaled (no plan was sealed yet) or
/// how the plan sealed earlier compares.
struct Planned {
    sha256: String,
    summary: PlanSummary,
    fence: FenceExpectations,
    parts: u64,
    journaled: Option<Journaled>,
}

/// A plan sealed by an earlier call of the run, as the recomputed plan compares with it.
struct Journaled {
    sha256: String,
    rules: CutRules,
    /// The first document (in id order) whose plan differs, or that only one of them plans.
    first_difference: Option<DocumentId>,
}

/// Walks a sealed plan beside the plan being computed, noting the first document that differs.
struct Compare {
    reader: PlanReader,
    pending: std::collections::VecDeque<DocumentPlan>,
    first_difference: Option<DocumentId>,
}

impl Compare {
    async fn next(&mut self) -> Result<Option<DocumentPlan>, PhaseError> {
        while self.pending.is_empty() {
            match self.reader.next_part().await? {
                Some(part) => self.pending.extend(part),
                None => break,
            }
        }
        Ok(self.pending.pop_front())
    }

    async fn document(&mut self, computed: &DocumentPlan) -> Result<(), PhaseError> {
        if self.first_difference.is_some() {
            return Ok(());
        }
        if self.next().await?.as_ref() != Some(computed) {
            self.first_difference = Some(computed.document.clone());
        }
        Ok(())
    }

    async fn finish(mut self) -> Result<Journaled, PhaseError> {
        if self.first_difference.is_none() {
            self.first_difference = self.next().await?.map(|d| d.document);
        }
        Ok(Journaled {
            sha256: self.reader.sha256().to_owned(),
            rules: self.reader.head().rules.clone(),
            first_difference: self.first_difference,
        })
    }
}

/// The plan of the run's backup (as [`plan_for_backup`] computes it), journaled a part at a
/// time as it is cut (unless `journaled`, a plan sealed earlier, is compared with instead), and
/// what the fence expects of the backed-up documents ([`FenceExpectations`]). The backup is read
/// a batch of documents at a time, each batch cut on tokio's blocking pool and dropped, and the
/// plan leaves memory a part at a time: neither the scope's bodies nor its plan is ever in memory
/// whole. The backup must be in id order (the backup phase writes it so), as the plan is.
async fn plan_by_batches(
    ctx: &mut RunContext,
    mut reader: BackupReader,
    journaled: Option<PlanReader>,
) -> Result<Planned, PhaseError> {
    let run = ctx.record.run.clone();
    let cannot_plan = |e: PlanError| cannot_plan(&run, e);
    let rules = ctx.record.rules.clone();
    let batch = ctx.batch_documents.read_size();
    let mut writer = PlanWriter::with_part_bytes(SCHEMA_VERSION, &rules, ctx.plan_part_bytes);
    let mut compare = journaled.map(|reader| Compare {
        reader,
        pending: Default::default(),
        first_difference: None,
    });
    let mut summary = PlanSummary::default();
    let mut fence = FenceExpectations::new(ctx.batch_documents);
    let mut parts = 0u64;
    while let Some(snapshots) = reader.next_batch(batch).await? {
        ctx.check_cancelled()?;
        let batch: Vec<Document> = snapshots.into_iter().map(|s| s.document).collect();
        in_order_after(fence.last.as_ref(), &batch).map_err(cannot_plan)?;
        fence.extend(&batch);
        let rules = rules.clone();
        let bytes = batch.iter().map(|d| d.body.len()).sum();
        let planned = off_the_runtime(bytes, move || compute_plan(&batch, &rules));
        let planned = planned.await.and_then(|plan| plan).map_err(cannot_plan)?;
        for document in &planned.documents {
            summary.add(document);
            if let Some(compare) = compare.as_mut() {
                compare.document(document).await?;
            }
            if let Some(part) = writer.push(document) {
                parts += journal_part(ctx, &run, parts, &part, compare.is_none()).await?;
            }
        }
    }
    let (last, sha256) = writer.finish();
    if let Some(part) = last {
        parts += journal_part(ctx, &run, parts, &part, compare.is_none()).await?;
    }
    let journaled = match compare {
        Some(compare) => Some(compare.finish().await?),
        None => None,
    };
    fence.finish();
    Ok(Planned {
        sha256,
        summary,
        fence,
        parts,
        journaled,
    })
}

/// Why `run` cannot be planned, and what to do.
fn cannot_plan(run: &RunId, e: PlanError) -> PhaseError {
    PhaseError::Precondition(format!(
        "cannot plan run {run}: {e}; fix the cut rules or the document, then roll back this run \
         and start a new one"
    ))
}

/// Journals part `seq` of the plan when `write` (no plan was sealed before); 1 part either way.
async fn journal_part(
    ctx: &RunContext,
    run: &RunId,
    seq: u64,
    part: &str,
    write: bool,
) -> Result<u64, PhaseError> {
    if write {
        ctx.check_cancelled()?;
        ctx.store().save_plan_part(run, seq, part).await?;
    }
    Ok(1)
}

/// The backup's next `batch` follows `last` in strict id order: a document listed twice is
/// [`PlanError::Duplicate`], and a backup out of order is refused (the plan must be in id order,
/// and is built a batch at a time).
fn in_order_after(last: Option<&DocumentId>, batch: &[Document]) -> Result<(), PlanError> {
    let mut previous = last;
    for document in batch {
        match previous {
            Some(before) if *before == document.id => {
                return Err(PlanError::Duplicate(document.id.clone()));
            }
            Some(before) if *before > document.id => {
                return Err(PlanError::OutOfOrder(document.id.clone()));
            }
            _ => previous = Some(&document.id),
        }
    }
    Ok(())
}

/// What the fence expects of the backed-up documents (exactly what the backup saw of each),
/// gathered as the plan is cut, without holding the scope: the fence reads the backup again a
/// batch at a time and checks each batch against the digest noted here before fencing it, so a
/// backup that changed between the two reads fences nothing more. Only with the whole scope in
/// one transaction (`batch_documents = 0`) are the expectations all kept, as that one call
/// needs them all.
struct FenceExpectations {
    batches: DocumentBatches,
    /// Backed-up documents, in id order.
    documents: usize,
    /// The last document's id (the backup must be in strict id order).
    last: Option<DocumentId>,
    /// The current batch's expectations (the whole scope for [`DocumentBatches::WholeScope`]).
    pending: Vec<ExpectedRevision>,
    /// The digest of each full batch read ([`batch_digest`]), in order.
    digests: Vec<Sha256Digest>,
}

impl FenceExpectations {
    fn new(batches: DocumentBatches) -> Self {
        FenceExpectations {
            batches,
            documents: 0,
            last: None,
            pending: Vec::new(),
            digests: Vec::new(),
        }
    }

    /// Notes what the fence expects of `documents` (the next ones of the backup).
    fn extend(&mut self, documents: &[Document]) {
        for document in documents {
            self.pending.push(ExpectedRevision::of(document));
            self.documents += 1;
            if let DocumentBatches::Of(size) = self.batches
                && self.pending.len() >= size.max(1)
            {
                self.digests.push(batch_digest(&self.pending));
                self.pending.clear();
            }
        }
        if let Some(document) = documents.last() {
            self.last = Some(document.id.clone());
        }
    }

    /// After the last document: the last, partial batch's digest.
    fn finish(&mut self) {
        if self.batches != DocumentBatches::WholeScope && !self.pending.is_empty() {
            self.digests.push(batch_digest(&self.pending));
            self.pending.clear();
        }
    }
}

/// sha256 over a fence batch's expectations (every field, as `Debug` spells them), to compare
/// the backup read again with the backup read to cut: within this phase only, never stored.
fn batch_digest(batch: &[ExpectedRevision]) -> Sha256Digest {
    Sha256Digest::of(format!("{batch:?}").as_bytes())
}

/// Fences the backed-up documents in batches of `ctx.batch_documents`, each its own
/// transaction, with a stop (cancellation, a lost lease) honoured and the batch pause taken
/// between two batches. The backup is read again a batch at a time (one transaction of the
/// whole scope fences the expectations kept). A fence stopped part-way is resumed by fencing
/// every document again: a document this run fenced already passes
/// ([`iu_cutter_live_execution::ownership::fence_step`]).
async fn fence(
    ctx: &RunContext,
    run: &RunId,
    expected: &FenceExpectations,
    pacer: &mut Pacer,
) -> Result<BatchTimes, PhaseError> {
    let mut fencing = Fencing {
        total: expected.documents as u64,
        fenced: 0,
        times: BatchTimes::default(),
    };
    let DocumentBatches::Of(size) = ctx.batch_documents else {
        fencing.batch(ctx, run, &expected.pending, pacer).await?;
        return Ok(fencing.times);
    };
    let size = size.max(1);
    // The expectations need no body: read without them.
    let mut reader = ctx.reopen_backup().await?.without_bodies();
    let mut pending: Vec<ExpectedRevision> = Vec::with_capacity(size);
    let mut digests = expected.digests.iter();
    loop {
        let snapshots = reader.next_batch(size).await?;
        let last = snapshots.is_none();
        if let Some(snapshots) = snapshots {
            pending.extend(snapshots.iter().map(|s| ExpectedRevision::of(&s.document)));
        }
        while pending.len() >= size || (last && !pending.is_empty()) {
            let rest = pending.split_off(size.min(pending.len()));
            if digests.next() != Some(&batch_digest(&pending)) {
                return Err(backup_changed(run, &pending));
            }
            fencing.batch(ctx, run, &pending, pacer).await?;
            pending = rest;
        }
        if last {
            break;
        }
    }
    if digests.next().is_some() {
        return Err(backup_changed(run, &[]));
    }
    Ok(fencing.times)
}

/// The fence so far: documents fenced and the batches' times.
struct Fencing {
    total: u64,
    fenced: u64,
    times: BatchTimes,
}

impl Fencing {
    /// Fences `batch` as one transaction, after the stop checks and the pause between two
    /// batches.
    async fn batch(
        &mut self,
        ctx: &RunContext,
        run: &RunId,
        batch: &[ExpectedRevision],
        pacer: &mut Pacer,
    ) -> Result<(), PhaseError> {
        if self.times.batches() > 0 {
            ctx.between_batches(names::CUT_LEG_A, pacer, self.fenced)
                .await?;
        }
        ctx.check_cancelled()?;
        if let Err(e) = self.times.time(ctx.store().fence(run, batch)).await {
            let next = rollback_and_restart_because(
                "the document changed since the backup (or another run holds it)",
                run,
            );
            return Err(ctx
                .blocked_on_conflict(names::CUT_LEG_A, batch, e, next)
                .await);
        }
        self.fenced += batch.len() as u64;
        ctx.progress(names::CUT_LEG_A, self.fenced, self.total);
        Ok(())
    }
}

/// The backup read again to fence is not the backup that was cut: changed underneath the run.
fn backup_changed(run: &RunId, batch: &[ExpectedRevision]) -> PhaseError {
    plan_gap(
        batch.first().map(|e| e.document.clone()),
        "the backup the plan was cut from".to_owned(),
        "other documents when the backup was read again to fence them: the backup artifact \
         changed during this phase"
            .to_owned(),
        rollback_and_restart_because(
            "the backup artifact was changed while the run read it; the documents of this \
             batch and after were not fenced",
            run,
        ),
    )
}

/// The gap when the journal holds a plan other than the one recomputed from the backup.
fn plan_changed(
    run: &RunId,
    journaled: &Journaled,
    planned: &Planned,
    rules: &CutRules,
) -> PhaseError {
    let what = if journaled.rules != *rules {
        "the run's rules differ from the journaled plan's"
    } else {
        "the cut of the backed-up sources differs (a different cut engine?)"
    };
    plan_gap(
        journaled.first_difference.clone(),
        format!("the journaled plan (sha256 {})", journaled.sha256),
        format!("a recomputed plan with sha256 {}: {what}", planned.sha256),
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
