//! Exporting the active units as a stream of lines (`iu-cutter export`), for search indexes and
//! retrieval pipelines: every active unit, or with `since` only what changed since a run.
//!
//! A full export reads the store through [`Reads::active_units_page`], one page at a time, and
//! hands each line to the caller's sink as it is read: its memory is one page, whatever the size
//! of the store. An export since a run walks the documents' heads a page at a time
//! ([`Reads::heads_page`]) and holds the units of one changed document at a time (and, for a
//! suspected lost baseline, the ids of the documents one run planned).
//!
//! **Since a run.** `since = RUN` exports, per document, the difference between its *baseline*
//! and its active generation now: an `upsert` for each unit added or changed, a `remove` for each
//! unit gone. The baseline of a document is the generation readers saw right after RUN enacted:
//! RUN's own generation of it when RUN enacted it; otherwise the generation enacted last (by the
//! journal's lifecycle-enact completion times) no later than RUN's, or none (every active unit is
//! then added). Units are matched across the two generations by stable unit id, as `diff` matches
//! them ([`crate::generations::pair_units`]); a matched unit is *changed* when its text (sha256),
//! path, part, ordinal or byte range differs, so that an index holding every field of the line
//! stays exact. Applying the lines of `since = RUN`, in order, to a full export taken right after
//! RUN gives a full export taken now, but for the fields of unchanged units that say where they
//! come from (generation, revision, source revision, metadata), which keep the values last sent:
//! an edit of the application's metadata columns alone changes no unit.
//!
//! A document deleted since RUN has no head and no generation records left to diff: the store's
//! change log still names it ([`Reads::changed_since`] of the change mark RUN's backup
//! journaled), and the export ends with one [`ExportLine::RemoveDocument`] per such document.
//! A document deleted and written again under its id has a head, but its baseline went with its
//! generation records: where the deleted generation's units are still in the store (a purge or
//! a rollback drops them with the record; a deletion of records and row leaves them), its lines
//! are a [`ExportLine::RemoveDocument`] followed by an upsert of every active unit.
//!
//! Where a document's baseline can no longer be told — the journal shows that a run enacted a
//! generation of it that was (or may have been) active at RUN's end and has since been purged or
//! rolled back, or a run's enact straddled RUN's end so that which generation readers saw cannot
//! be told — its removals cannot be measured either: the document is exported whole, a
//! [`ExportLine::RemoveDocument`] followed by an upsert of every active unit, which is exact
//! whatever the index held of it, and counted in [`ExportSummary::documents_replaced`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    ActiveUnit, AdapterError, ChangeMark, DocumentHead, DocumentId, GenerationRecord,
    GenerationState, PhaseStatus, RunId, RunRecord, RunStatus, SourceFacts, Unit, UnitCursor,
};
use iu_cutter_phase_core::{PhaseError, PhaseRole, PlanReader};
use serde::Serialize;

use crate::clock;
use crate::generations::{JournalTimes, pair_units};
use crate::journal::{ROLLBACK_PHASE, rollback_began};
use crate::pipeline::Pipeline;

/// Units per page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// What to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportRequest {
    /// Only what changed since this run (see the module's docs); every active unit when `None`.
    pub since: Option<RunId>,
    /// Units (with `since`, document heads) per page read from the store, at least 1: the
    /// memory an export holds.
    pub page_size: u32,
}

impl Default for ExportRequest {
    fn default() -> Self {
        ExportRequest {
            since: None,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One line of an export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ExportLine {
    /// A unit to insert, or to replace by (document, unit id).
    Upsert(ExportedUnit),
    /// A unit to delete by (document, unit id): it is no longer active.
    Remove(RemovedUnit),
    /// Every unit of a document to delete (`since` only): the document was deleted since the
    /// run, its generation records with it, so which units it had can no longer be told; an
    /// index drops whatever it holds of the document. A document exported whole (written again
    /// under its id since, or its baseline gone: see [`ExportSummary::documents_replaced`]) has
    /// an upsert of every active unit after this line.
    RemoveDocument(RemovedDocument),
}

impl ExportLine {
    /// The document the line is about.
    pub fn document(&self) -> &DocumentId {
        match self {
            ExportLine::Upsert(unit) => &unit.document,
            ExportLine::Remove(unit) => &unit.document,
            ExportLine::RemoveDocument(gone) => &gone.document,
        }
    }
}

/// An active unit as exported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportedUnit {
    /// The document.
    pub document: DocumentId,
    /// The stable unit id (from the document id and the unit's path, never its content).
    pub unit_id: String,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// The unit's path, e.g. `Chương II/Điều 44`.
    pub path: String,
    /// The part, when an oversize unit was split; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// First byte of the unit in the document.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
    /// sha256 (lowercase hex) of the text.
    pub sha256: String,
    /// The generation (run) the unit belongs to.
    pub generation: RunId,
    /// The document's revision when the unit was read.
    pub revision: u64,
    /// The application's revision the unit's generation was cut from, under a source mapping
    /// with a `revision` column (the reader view's `source_revision`); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_revision: Option<String>,
    /// The document's metadata columns as last synced, under a source mapping with `metadata`
    /// (the reader view's `metadata`); omitted otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The unit's text, exactly the document's bytes `start..end`.
    pub text: String,
}

impl ExportedUnit {
    /// `unit` of a document at `revision`, with what its source row adds.
    fn of(unit: &Unit, revision: u64, source: &SourceFacts) -> Result<Self, ExportError> {
        Ok(ExportedUnit {
            document: unit.document.clone(),
            unit_id: unit.unit_id.clone(),
            ordinal: unit.ordinal,
            path: unit.path.clone(),
            part: unit.part,
            start: unit.start,
            end: unit.end,
            sha256: unit.sha256.clone(),
            generation: unit.generation.clone(),
            revision,
            source_revision: source.revision.clone(),
            metadata: source
                .metadata
                .as_deref()
                .map(|text| metadata_object(&unit.document, text))
                .transpose()?,
            text: unit.body.clone(),
        })
    }
}

/// The metadata a store holds for `document` (a JSON object's text, as the sync wrote it), as an
/// object: anything else means the store was written by something other than iu-cutter.
fn metadata_object(
    document: &DocumentId,
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, ExportError> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        _ => Err(ExportError::Corrupt(format!(
            "the metadata of document `{document}` is not a JSON object: something other than \
             iu-cutter wrote it; a live `run` syncs it again from the source"
        ))),
    }
}

/// A unit that is no longer active (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedUnit {
    /// The document.
    pub document: DocumentId,
    /// The stable unit id.
    pub unit_id: String,
    /// The generation it was last active in (the baseline).
    pub generation: RunId,
}

/// A document deleted since the run (a tombstone for all its units).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RemovedDocument {
    /// The document.
    pub document: DocumentId,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Documents with at least one line.
    pub documents: u64,
    /// `upsert` lines.
    pub upserts: u64,
    /// `remove` lines.
    pub removals: u64,
    /// `remove_document` lines: documents deleted since the run, and documents exported whole
    /// (a `remove_document`, then every active unit) because their baseline can no longer be
    /// told.
    pub documents_removed: u64,
    /// Of those, documents exported whole: deleted and written again since the run, or their
    /// baseline (the generation readers saw when the run finished) rolled back or purged since,
    /// or not to be told from the journal.
    pub documents_replaced: u64,
    /// Pages read from the store (of units; with `since`, of document heads).
    pub pages: u64,
}

impl ExportSummary {
    /// Counts `line` under its kind.
    fn count(&mut self, line: &ExportLine) {
        match line {
            ExportLine::Upsert(_) => self.upserts += 1,
            ExportLine::Remove(_) => self.removals += 1,
            ExportLine::RemoveDocument(_) => self.documents_removed += 1,
        }
    }
}

/// Why an export stopped. Lines written before it stay written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The store failed.
    #[error(transparent)]
    Adapter(AdapterError),
    /// The sink refused a line (an unwritable file, a full disk).
    #[error("cannot write the export: {0}")]
    Sink(std::io::Error),
    /// A document was enacted or rolled back while its units were being read.
    #[error("{0}")]
    Moved(String),
    /// `since` names a run whose baseline cannot be told.
    #[error("{0}")]
    Since(String),
    /// A run's enact stopped part-way (blocked or failed between two batches): the generations it
    /// enacted are active with no enact time, so no baseline can be told until that run is
    /// resumed or rolled back.
    #[error("{why}")]
    Unfinished {
        /// The run to resume or roll back.
        run: RunId,
        /// What was found.
        why: String,
    },
    /// The store holds something iu-cutter never writes.
    #[error("{0}")]
    Corrupt(String),
}

impl From<AdapterError> for ExportError {
    fn from(error: AdapterError) -> Self {
        match error {
            AdapterError::Conflict {
                document,
                expected,
                found,
            } => ExportError::Moved(format!(
                "document `{document}` changed while it was being exported ({expected} when the \
                 export began reading it, {found} now): a run enacted or rolled it back"
            )),
            other => ExportError::Adapter(other),
        }
    }
}

/// Where an export's lines go: called once per line, in order, as each is read.
pub type Sink<'s> = dyn FnMut(&ExportLine) -> std::io::Result<()> + Send + 's;

/// Runs `request` on `pipeline`'s store, handing every line to `sink`.
pub(crate) async fn export(
    pipeline: &Pipeline,
    request: &ExportRequest,
    sink: &mut Sink<'_>,
) -> Result<ExportSummary, ExportError> {
    match &request.since {
        None => export_all(pipeline, request.page_size, sink).await,
        Some(run) => export_since(pipeline, run, request.page_size, sink).await,
    }
}

/// Every active unit, one page at a time.
async fn export_all(
    pipeline: &Pipeline,
    page_size: u32,
    sink: &mut Sink<'_>,
) -> Result<ExportSummary, ExportError> {
    let mut summary = ExportSummary::default();
    let mut cursor: Option<UnitCursor> = None;
    loop {
        let page: Vec<ActiveUnit> = pipeline
            .store
            .active_units_page(cursor.as_ref(), page_size)
            .await?;
        summary.pages += 1;
        for active in &page {
            if cursor
                .as_ref()
                .is_none_or(|c| c.document != active.unit.document)
            {
                summary.documents += 1;
            }
            sink(&ExportLine::Upsert(ExportedUnit::of(
                &active.unit,
                active.revision,
                &active.source,
            )?))
            .map_err(ExportError::Sink)?;
            summary.upserts += 1;
            cursor = Some(UnitCursor::after(&active.unit));
        }
        if page.len() < page_size as usize {
            return Ok(summary);
        }
    }
}

/// What changed since `run`, document by document.
async fn export_since(
    pipeline: &Pipeline,
    run: &RunId,
    page_size: u32,
    sink: &mut Sink<'_>,
) -> Result<ExportSummary, ExportError> {
    let runs = pipeline.store.list_runs().await?;
    let since = Since::new(run, &runs, pipeline.name_of(PhaseRole::Enact))?;
    // Read before the heads: a document deleted after this read is deleted after the export
    // began, and the next export's to tell.
    let log = changed_since_run(pipeline, &runs, run).await?;
    let mut headless = log.changed.clone();
    let mut plans = PlannedDocuments::default();
    let mut summary = ExportSummary::default();
    // Every document's head (not only those with active units: a document whose units all
    // vanished needs its tombstones), a page at a time.
    let mut after: Option<DocumentId> = None;
    loop {
        let heads = pipeline.store.heads_page(after.as_ref(), page_size).await?;
        summary.pages += 1;
        for head in &heads {
            headless.remove(&head.id);
            let on = (&since, &log);
            since_document(pipeline, on, &mut plans, head, &mut summary, sink).await?;
        }
        if heads.len() < page_size as usize {
            break;
        }
        after = heads.last().map(|h| h.id.clone());
    }
    // Changed since the run and without a row now: deleted (a document the index never held
    // costs it a tombstone that removes nothing).
    for document in headless {
        let line = ExportLine::RemoveDocument(RemovedDocument { document });
        emit(std::slice::from_ref(&line), &mut summary, sink)?;
    }
    Ok(summary)
}

/// What the change log says since RUN's backup read the store.
struct ChangeLog {
    /// The documents changed since (a superset of those deleted since RUN ended), in id order.
    changed: BTreeSet<DocumentId>,
    /// When RUN's backup first began: before its census took the mark.
    backup_began: Option<SystemTime>,
}

impl ChangeLog {
    /// Whether `suspect`'s generation of `document`, gone now, was gone already when RUN's
    /// backup read the store: the suspect's enact ended before that backup began, and the log
    /// lists no change of the document since (a rollback that put it back as a run's backup saw
    /// it, hidden by its window, is of a run whose writes came after the mark: it is another
    /// suspect, enacted later). Readers then never saw it after RUN.
    fn gone_before(&self, since: &Since<'_>, document: &DocumentId, suspect: &RunId) -> bool {
        let ended = since.times.activated.get(suspect);
        !self.changed.contains(document)
            && ended
                .zip(self.backup_began)
                .is_some_and(|(end, began)| *end < began)
    }
}

/// The documents the change log lists as changed since `run`'s backup read the store (its
/// journaled `change_mark`), in id order: a superset of those deleted since `run` ended. A
/// deleted document's generation records go with it, so the change log is what still names it.
async fn changed_since_run(
    pipeline: &Pipeline,
    runs: &[RunRecord],
    run: &RunId,
) -> Result<ChangeLog, ExportError> {
    let backup = runs
        .iter()
        .find(|r| &r.run == run)
        .zip(pipeline.name_of(PhaseRole::Backup))
        .and_then(|(record, backup)| record.phase(backup));
    let backup_began = backup
        .and_then(|phase| {
            phase
                .first_started_at
                .as_deref()
                .or(phase.started_at.as_deref())
        })
        .and_then(clock::parse_rfc3339);
    let mark = backup
        .and_then(|phase| phase.evidence.get("change_mark"))
        .and_then(|value| value.as_text())
        .and_then(|text| text.split_once(':'))
        .map(|(backend, position)| ChangeMark::new(backend, position));
    let Some(mark) = mark else {
        return Err(ExportError::Since(format!(
            "run `{run}` journaled no change mark (its backup was taken before the store kept a \
             change log), so the documents deleted since it cannot be told: take a full export, \
             then measure from a later run"
        )));
    };
    let changed = pipeline
        .store
        .changed_since(&mark)
        .await?
        .into_iter()
        .collect();
    Ok(ChangeLog {
        changed,
        backup_began,
    })
}

/// The lines of one document since the run: refused when its baseline is gone.
async fn since_document(
    pipeline: &Pipeline,
    (since, log): (&Since<'_>, &ChangeLog),
    plans: &mut PlannedDocuments,
    head: &DocumentHead,
    summary: &mut ExportSummary,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    let records = pipeline.store.generations(&head.id).await?;
    let baseline = match since.baseline(&records) {
        Ok(baseline) => baseline,
        Err(Unknowable::Undated(undated)) => {
            return Err(since.undated(pipeline, &head.id, undated).await);
        }
        Err(Unknowable::Straddled(straddled)) => {
            let why = since.straddled(&head.id, straddled);
            return since_replaced(pipeline, head, &why, summary, sink).await;
        }
    };
    if let Some(resumed) = since.resumed_since(pipeline, &records).await? {
        return Err(since.undated(pipeline, &head.id, resumed).await);
    }
    let mut lost = None;
    for suspect in since.suspects(&head.id, &records, baseline.as_ref()) {
        if !plans.lists(pipeline, &suspect.run, &head.id).await? {
            continue;
        }
        if deleted_under(pipeline, &head.id, &suspect.run).await? {
            let why = format!(
                "document `{}` was deleted and written again under its id since run `{}`",
                head.id, since.run
            );
            return since_replaced(pipeline, head, &why, summary, sink).await;
        }
        let suspect = rolled_back_since(pipeline, suspect).await?;
        // A rollback since the change log was read is not in it: only a suspect that the
        // journal, read again after the records, shows not rolled back can be told gone before.
        if !suspect.rolled_back && log.gone_before(since, &head.id, &suspect.run) {
            continue;
        }
        lost.get_or_insert(suspect);
    }
    if let Some(suspect) = lost {
        let why = since.lost(&head.id, suspect);
        return since_replaced(pipeline, head, &why, summary, sink).await;
    }
    let lines = document_changes(pipeline, head, baseline.as_ref()).await?;
    emit(&lines, summary, sink)
}

/// `suspect` as the journal, read again now, tells it: the journal was read when the export
/// began, and a rollback since (not a purge) is what took its generation.
async fn rolled_back_since(pipeline: &Pipeline, suspect: Suspect) -> Result<Suspect, AdapterError> {
    let rolled_back = suspect.rolled_back
        || pipeline
            .store
            .load_run(&suspect.run)
            .await?
            .is_some_and(|r| r.status == RunStatus::RolledBack || rollback_began(&r));
    Ok(Suspect {
        rolled_back,
        ..suspect
    })
}

/// Whether `run`'s units of `document` are still in the store while its generation record is
/// gone: a purge and a rollback drop a generation's units with its record, an application
/// deleting the document (its records, then its row) leaves them (units have no foreign key).
/// The document was deleted, and what is under its id now was written again since.
async fn deleted_under(
    pipeline: &Pipeline,
    document: &DocumentId,
    run: &RunId,
) -> Result<bool, AdapterError> {
    Ok(!pipeline
        .store
        .generation_units(document, run)
        .await?
        .is_empty())
}

/// The lines of a document whose baseline can no longer be told (`why`: deleted and written
/// again, its baseline rolled back or purged since, or which generation it was not to be told
/// from the journal): a `remove_document`, then every active unit. Whatever the index held of
/// the document, it then holds exactly what a full export would, which removals measured
/// against a baseline could not say. (An export that refused here sent its user to export the
/// whole store again.)
async fn since_replaced(
    pipeline: &Pipeline,
    head: &DocumentHead,
    why: &str,
    summary: &mut ExportSummary,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    tracing::info!(document = %head.id, "exported whole: {why}");
    summary.documents_replaced += 1;
    let mut lines = vec![ExportLine::RemoveDocument(RemovedDocument {
        document: head.id.clone(),
    })];
    lines.extend(document_changes(pipeline, head, None).await?);
    emit(&lines, summary, sink)
}

/// Hands `lines` (one document's) to `sink`, counted.
fn emit(
    lines: &[ExportLine],
    summary: &mut ExportSummary,
    sink: &mut Sink<'_>,
) -> Result<(), ExportError> {
    if !lines.is_empty() {
        summary.documents += 1;
    }
    for line in lines {
        summary.count(line);
        sink(line).map_err(ExportError::Sink)?;
    }
    Ok(())
}

/// The lines that take `head`'s document from `baseline` to its active generation: upserts in
/// the active generation's order, then removals in the baseline's order.
async fn document_changes(
    pipeline: &Pipeline,
    head: &DocumentHead,
    baseline: Option<&RunId>,
) -> Result<Vec<ExportLine>, ExportError> {
    let active = head.active_generation.as_ref();
    if active == baseline {
        return Ok(Vec::new());
    }
    let units_of = async |generation: Option<&RunId>| match generation {
        Some(generation) => pipeline.store.generation_units(&head.id, generation).await,
        None => Ok(Vec::new()),
    };
    let before = units_of(baseline).await?;
    let after = units_of(active).await?;
    // A purge between reading the records and the baseline's units would leave the baseline
    // looking empty, and its units' removals unsaid; a rollback of the active generation since
    // its head was read (a page of heads ago) would leave that looking empty, every unit of the
    // baseline removed: check that both are still there.
    let records = pipeline.store.generations(&head.id).await?;
    let gone = |generation: &RunId| !records.iter().any(|g| &g.generation == generation);
    if let Some(baseline) = baseline.filter(|b| gone(b)) {
        return Err(ExportError::Moved(format!(
            "generation `{baseline}` of document `{}` was purged while it was being exported",
            head.id
        )));
    }
    if let Some(active) = active.filter(|a| gone(a)) {
        return Err(ExportError::Moved(format!(
            "generation `{active}` of document `{}` is gone since its head was read (rolled back, \
             or the document deleted) while it was being exported",
            head.id
        )));
    }
    let source = match active {
        Some(generation) => pipeline.store.source_facts(&head.id, generation).await?,
        None => SourceFacts::default(),
    };
    let mut lines = Vec::new();
    for pair in pair_units(&before, &after) {
        match (pair.before, pair.after) {
            (Some(old), Some(new)) if same_line(old, new) => {}
            (_, Some(new)) => lines.push(ExportLine::Upsert(ExportedUnit::of(
                new,
                head.revision,
                &source,
            )?)),
            (Some(old), None) => lines.push(ExportLine::Remove(RemovedUnit {
                document: head.id.clone(),
                unit_id: old.unit_id.clone(),
                generation: old.generation.clone(),
            })),
            (None, None) => {}
        }
    }
    Ok(lines)
}

/// Whether two units of one unit id export the same line but for the generation and revision.
fn same_line(a: &Unit, b: &Unit) -> bool {
    fn line(u: &Unit) -> (&str, &str, Option<u32>, u32, u64, u64) {
        (&u.sha256, &u.path, u.part, u.ordinal, u.start, u.end)
    }
    line(a) == line(b)
}

/// Why a document's baseline cannot be told from its generation records.
pub(crate) enum Unknowable<'g> {
    /// This generation was active at some time, but the journal holds no enact time for it.
    Undated(&'g RunId),
    /// This generation, retired since, was enacted by a run that began (its first journaled
    /// step) no later than RUN finished and whose enact ended after: it may or may not have been
    /// active then.
    Straddled(&'g RunId),
}

/// A run that may have enacted a document's baseline and left no generation of it.
#[derive(Clone, Debug)]
pub(crate) struct Suspect {
    run: RunId,
    rolled_back: bool,
}

/// The journal as `since = RUN` reads it: when RUN and every other run enacted, and which runs
/// were rolled back when.
pub(crate) struct Since<'r> {
    run: RunId,
    /// When RUN's lifecycle-enact finished.
    at: SystemTime,
    runs: &'r [RunRecord],
    times: JournalTimes,
    /// The name of the enacting phase.
    enact_phase: Option<String>,
}

impl<'r> Since<'r> {
    /// The baseline's clock for `run`: refused when the journal does not know it, it never
    /// enacted, or it was rolled back.
    pub(crate) fn new(
        run: &RunId,
        runs: &'r [RunRecord],
        enact_phase: Option<&str>,
    ) -> Result<Self, ExportError> {
        let Some(record) = runs.iter().find(|r| &r.run == run) else {
            return Err(ExportError::Since(format!("no run `{run}` in the journal")));
        };
        if record.status == RunStatus::RolledBack || rollback_began(record) {
            return Err(ExportError::Since(format!(
                "run `{run}` was rolled back (or its rollback began and stopped part-way): the \
                 generations it enacted are gone, so nothing can be measured from it"
            )));
        }
        let times = JournalTimes::new(runs, enact_phase);
        let stopped = enact_phase
            .and_then(|name| record.phase(name))
            .is_some_and(|p| {
                // Running: still enacting, or its process died part-way (the journal says
                // running until it is resumed or rolled back); either way it has no end yet.
                matches!(
                    p.status,
                    PhaseStatus::Blocked | PhaseStatus::Failed | PhaseStatus::Running
                )
            });
        if stopped && !times.activated.contains_key(run) {
            return Err(ExportError::Unfinished {
                run: run.clone(),
                why: format!(
                    "run `{run}` began its enact and has not finished it (stopped part-way, or \
                     still running): it has no end to measure from until it is resumed to the \
                     end (or rolled back, which leaves nothing to measure from); where it can \
                     be neither, measure from another run that finished before the index was \
                     last exported, or take a full export"
                ),
            });
        }
        let Some(at) = times.activated.get(run).copied() else {
            return Err(ExportError::Since(format!(
                "run `{run}` never enacted (the journal shows no finished lifecycle-enact): \
                 `--since` measures from the end of an enacted run"
            )));
        };
        Ok(Since {
            run: run.clone(),
            at,
            runs,
            times,
            enact_phase: enact_phase.map(str::to_owned),
        })
    }

    /// The generation of `document` readers saw right after RUN enacted, from its generation
    /// records: RUN's own when RUN enacted it, otherwise the one enacted last no later than RUN.
    /// A generation that was active at some time but whose enact time the journal lacks makes
    /// the baseline unknowable: that generation is the error ([`Since::undated`] says why).
    pub(crate) fn baseline<'g>(
        &self,
        records: &'g [GenerationRecord],
    ) -> Result<Option<RunId>, Unknowable<'g>> {
        let enacted = records
            .iter()
            .filter(|g| g.state != GenerationState::Staged);
        if enacted.clone().any(|g| g.generation == self.run) {
            return Ok(Some(self.run.clone()));
        }
        // The active generation is the one enacted last: enacted no later than RUN, it was
        // active when RUN finished, whatever the times of those it retired (one of them may be
        // undated, its run's enact stopped part-way). A run enacted meanwhile and undone since
        // holds no generation and is a suspect.
        let active = enacted.clone().find(|g| g.state == GenerationState::Active);
        if let Some(active) = active
            && self
                .times
                .activated
                .get(&active.generation)
                .is_some_and(|at| *at <= self.at)
        {
            return Ok(Some(active.generation.clone()));
        }
        let mut best: Option<(SystemTime, &RunId)> = None;
        for record in enacted {
            let Some(at) = self.dated(records, record) else {
                return Err(Unknowable::Undated(&record.generation));
            };
            // Dated after RUN by its enact's end, it may still have been active when RUN
            // finished (an enact activates its first batches' documents well before it ends, and
            // a resumed one is dated by its last end): retired since, its units may be what an
            // index holds, and a baseline older than it would leave them there. The active
            // generation is told whatever it retired (the lines reach it from either).
            if record.state != GenerationState::Active
                && at > self.at
                && self.began_by_run(&record.generation)
            {
                return Err(Unknowable::Straddled(&record.generation));
            }
            if at <= self.at && best.is_none_or(|(t, _)| at >= t) {
                best = Some((at, &record.generation));
            }
        }
        Ok(best.map(|(_, generation)| generation.clone()))
    }

    /// When `record` (an enacted generation of `records`' document) was activated, for ordering
    /// it among the others: its run's enact end. A generation whose run's enact stopped
    /// part-way (journaled blocked or failed) has no end, but it was activated between its run's
    /// first journaled start and that stop: when the stop came no later than RUN finished and no
    /// other generation of the document may have been enacted within that span (a run's enact
    /// of a document follows its fence of it, so the activations of one document never
    /// overlap), its place is told, and the stop dates it. `None`: it cannot be told.
    fn dated(&self, records: &[GenerationRecord], record: &GenerationRecord) -> Option<SystemTime> {
        if let Some(at) = self.times.activated.get(&record.generation) {
            return Some(*at);
        }
        let (from, to) = self.stopped(&record.generation)?;
        let apart = |other: &GenerationRecord| {
            let Some(at) = self.times.activated.get(&other.generation).copied() else {
                return false;
            };
            let began = self
                .runs
                .iter()
                .find(|r| r.run == other.generation)
                .and_then(|r| self.enacting(r))
                .map(|(earliest, _)| earliest);
            at < from || began.is_some_and(|earliest| earliest > to)
        };
        let others = records
            .iter()
            .filter(|g| g.state != GenerationState::Staged && g.generation != record.generation);
        (to <= self.at && others.clone().all(apart)).then_some(to)
    }

    /// The span in which `run`'s enact may have activated documents when it is journaled stopped
    /// part-way (blocked or failed, so no attempt of it is running): from its first journaled
    /// start to that stop.
    fn stopped(&self, run: &RunId) -> Option<(SystemTime, SystemTime)> {
        let record = self.runs.iter().find(|r| &r.run == run)?;
        let enact = record.phase(self.enact_phase.as_deref()?)?;
        if !matches!(enact.status, PhaseStatus::Blocked | PhaseStatus::Failed) {
            return None;
        }
        let to = enact
            .finished_at
            .as_deref()
            .and_then(clock::parse_rfc3339)?;
        let (from, _) = self.enacting(record)?;
        Some((from, to))
    }

    /// The first of `records`' generations dated by its run's stop ([`Since::dated`]) whose run
    /// the journal, read again after the records, no longer shows stopped there: resumed since
    /// the export read the journal, it may have activated the generation just now.
    async fn resumed_since<'g>(
        &self,
        pipeline: &Pipeline,
        records: &'g [GenerationRecord],
    ) -> Result<Option<&'g RunId>, AdapterError> {
        let Some(name) = self.enact_phase.as_deref() else {
            return Ok(None);
        };
        for record in records
            .iter()
            .filter(|g| g.state != GenerationState::Staged)
        {
            let run = &record.generation;
            if self.times.activated.contains_key(run) || self.stopped(run).is_none() {
                continue;
            }
            let stop = |r: &RunRecord| r.phase(name).map(|p| (p.status, p.finished_at.clone()));
            let then = self.runs.iter().find(|r| &r.run == run).and_then(stop);
            let now = pipeline.store.load_run(run).await?;
            if now.as_ref().and_then(stop) != then {
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// Why `generation` of `document` has no enact time in the journal the export read: a run
    /// that has enacted it, or is enacting it, since then (the journal read again says so) is
    /// told apart, since exporting again once it has finished is all it takes; otherwise the
    /// journal holds no such time at all and the baseline cannot be told.
    async fn undated(
        &self,
        pipeline: &Pipeline,
        document: &DocumentId,
        generation: &RunId,
    ) -> ExportError {
        let now = match pipeline.store.load_run(generation).await {
            Ok(record) => record,
            Err(error) => return ExportError::Adapter(error),
        };
        let enact = now
            .as_ref()
            .zip(self.enact_phase.as_deref())
            .and_then(|(record, name)| record.phase(name))
            .map(|p| p.status);
        match enact {
            // Already enacting in the journal the export read: not "meanwhile". It may still be
            // running, or its process died part-way (nothing finishes it then but a resume or a
            // rollback): exporting again alone may never help.
            Some(PhaseStatus::Running) if self.was_enacting(generation) => {
                return ExportError::Unfinished {
                    run: generation.clone(),
                    why: format!(
                        "run `{generation}` enacted document `{document}` and its enact has not \
                         finished (it is still running, or its process stopped part-way): the \
                         journal holds no enact time for it, so whether it was active when run \
                         `{}` finished cannot be told; if it is still running, wait for it{}",
                        self.run, NEITHER
                    ),
                };
            }
            Some(PhaseStatus::Running | PhaseStatus::Done) => {
                return ExportError::Moved(format!(
                    "run `{generation}` enacted document `{document}` while the export read it"
                ));
            }
            Some(stopped @ (PhaseStatus::Blocked | PhaseStatus::Failed)) => {
                let stopped = if stopped == PhaseStatus::Blocked {
                    "blocked"
                } else {
                    "failed"
                };
                return ExportError::Unfinished {
                    run: generation.clone(),
                    why: format!(
                        "run `{generation}` enacted document `{document}`, then its enact \
                         stopped part-way ({stopped}): the journal holds no enact time for it, \
                         so whether it was active when run `{}` finished cannot be told{}",
                        self.run, NEITHER
                    ),
                };
            }
            None => {}
        }
        ExportError::Since(format!(
            "the journal holds no enact time for generation `{generation}` of document \
             `{document}`, so it cannot tell whether it was active when run `{}` finished",
            self.run
        ))
    }

    /// The runs that may have enacted `document` after `baseline` and no later than RUN yet hold
    /// no generation of it now: their generation would be the true baseline, purged or rolled
    /// back since. Each is confirmed (or not) by its journaled plan. A run rolled back before RUN
    /// finished is none: its generation was no longer active then.
    pub(crate) fn suspects(
        &self,
        document: &DocumentId,
        records: &[GenerationRecord],
        baseline: Option<&RunId>,
    ) -> Vec<Suspect> {
        let baseline_at = baseline.and_then(|b| self.times.activated.get(b)).copied();
        let held: BTreeSet<&RunId> = records.iter().map(|g| &g.generation).collect();
        self.runs
            .iter()
            .filter(|r| !held.contains(&r.run) && r.scope.contains(document))
            .filter_map(|r| {
                let (earliest, latest) = self.enacting(r)?;
                let after_baseline = baseline_at.is_none_or(|b| latest.is_none_or(|l| l > b));
                let rolled_back = r.status == RunStatus::RolledBack || rollback_began(r);
                let undone_before = rolled_back && rolled_back_at(r).is_some_and(|t| t <= self.at);
                (earliest <= self.at && after_baseline && !undone_before).then(|| Suspect {
                    run: r.run.clone(),
                    rolled_back,
                })
            })
            .collect()
    }

    /// When `record` may have enacted a document, if its enact ever began: from its enact's
    /// first start (an enact committed batch by batch activates its first documents well before
    /// it finishes, and a resumed one starts again later) to its enact's end, or to its rollback
    /// when its enact never finished (`None`: not known). A journal written before phases kept
    /// their first start bounds it by the earliest time any of the run's phases journals.
    fn enacting(&self, record: &RunRecord) -> Option<(SystemTime, Option<SystemTime>)> {
        let name = self.enact_phase.as_deref()?;
        let enact = record.phase(name)?;
        let earliest = enact
            .first_started_at
            .as_deref()
            .and_then(clock::parse_rfc3339)
            .or_else(|| {
                record
                    .phases
                    .iter()
                    .filter_map(|p| p.started_at.as_deref())
                    .filter_map(clock::parse_rfc3339)
                    .min()
            })?;
        let latest = match self.times.activated.get(&record.run) {
            Some(at) => Some(*at),
            None => rolled_back_at(record),
        };
        Some((earliest, latest))
    }

    /// Whether the journal the export read already showed `run`'s enact running.
    fn was_enacting(&self, run: &RunId) -> bool {
        self.runs
            .iter()
            .find(|r| &r.run == run)
            .zip(self.enact_phase.as_deref())
            .and_then(|(record, name)| record.phase(name))
            .is_some_and(|p| p.status == PhaseStatus::Running)
    }

    /// Whether `run`'s enact began (by its first journaled start) no later than RUN finished.
    fn began_by_run(&self, run: &RunId) -> bool {
        self.runs
            .iter()
            .find(|r| &r.run == run)
            .and_then(|r| self.enacting(r))
            .is_some_and(|(earliest, _)| earliest <= self.at)
    }

    /// Why `document` is exported whole: its baseline may have been `straddled`'s generation.
    pub(crate) fn straddled(&self, document: &DocumentId, straddled: &RunId) -> String {
        format!(
            "generation `{straddled}` of document `{document}` was enacted by a run that began \
             before run `{}` finished and whose enact ended after (an enact stopped part-way and \
             resumed, or one running alongside, activates its first documents early), and it is \
             retired since: whether readers saw it when run `{}` finished, and so which units \
             to remove, cannot be told",
            self.run, self.run
        )
    }

    /// Why `document` is exported whole: its baseline, `suspect`'s generation, is gone.
    pub(crate) fn lost(&self, document: &DocumentId, suspect: Suspect) -> String {
        format!(
            "generation `{}` of document `{document}`, active (or possibly active) when run `{}` \
             finished, was {} \
             since: the units it held, and so the removals since run `{}`, can no longer be told",
            suspect.run,
            self.run,
            if suspect.rolled_back {
                "rolled back"
            } else {
                // Without units left, a deletion of the document by the application (its
                // units with it) looks the same.
                "purged (or the document deleted, its units with it)"
            },
            self.run
        )
    }
}

/// The way out of an undated generation whose run can be neither resumed to the end (it blocks
/// again on a document a later run cut since) nor rolled back (that later run holds it): no
/// since-run avoids the undated generation, a full export does.
const NEITHER: &str = "; if that run can be neither resumed to the end nor rolled back (a later \
                       run holds the document), take a full export";

/// When `record` was rolled back, from its journaled rollback step.
fn rolled_back_at(record: &RunRecord) -> Option<SystemTime> {
    record
        .phase(ROLLBACK_PHASE)
        .and_then(|p| p.finished_at.as_deref())
        .and_then(clock::parse_rfc3339)
}

/// The documents each run's journaled plan lists, read once per run and only for suspects.
#[derive(Default)]
struct PlannedDocuments(BTreeMap<RunId, BTreeSet<DocumentId>>);

impl PlannedDocuments {
    /// Whether `run`'s plan lists `document` (a run without a journaled plan cut nothing).
    async fn lists(
        &mut self,
        pipeline: &Pipeline,
        run: &RunId,
        document: &DocumentId,
    ) -> Result<bool, AdapterError> {
        if !self.0.contains_key(run) {
            // Read a part at a time: a large run's plan is never in memory whole.
            let documents = PlanReader::document_ids(Arc::clone(&pipeline.store), run)
                .await
                .map_err(|e| match e {
                    PhaseError::Adapter(e) => e,
                    other => AdapterError::Invalid(other.to_string()),
                })?
                .unwrap_or_default()
                .into_iter()
                .collect();
            self.0.insert(run.clone(), documents);
        }
        Ok(self.0.get(run).is_some_and(|d| d.contains(document)))
    }
}
