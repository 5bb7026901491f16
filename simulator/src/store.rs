//! The simulator's durable state and the pure, synchronous semantics of every adapter operation.
//!
//! Each mutating operation validates its whole request first and only then applies it, so an
//! error leaves the store exactly as it was (one transaction, all or nothing).

use std::collections::{BTreeMap, BTreeSet, btree_map};
use std::ops::Bound;
use std::time::Duration;

use iu_cutter_live_execution::conflicts::{
    backup_conflict, empty_page, lease_lost, page_moved, plan_conflict, run_not_found,
};
use iu_cutter_live_execution::ownership::{
    CurrentDocument, EnactStep, FenceStep, Restoration, UndoStep, enact_step, fence_step,
    purge_step, undo_step, write_step,
};
use iu_cutter_live_execution::{
    ActiveUnit, AdapterError, AdapterResult, Backup, Census, CensusBuilder, ChangeMark, Document,
    DocumentDigester, DocumentHead, DocumentId, DocumentState, ExpectedRevision,
    GenerationDigester, GenerationDigests, GenerationRecord, GenerationState, Lease, LeaseClaim,
    LeaseView, Op, PhaseRecord, Plan, PurgeTarget, RecentRuns, Reply, RunId, RunRecord, RunStatus,
    RunningCensus, Scope, ScopeCensus, Sha256Digest, SourceFacts, StoreSnapshot, StoredBackup,
    StoredPlanPart, Unit, UnitCursor, UnitFields, sha256_hex,
};

/// Generation records are keyed by (document, generation): ordered by generation id per document.
type GenerationKey = (DocumentId, RunId);
/// Units are keyed by (document, generation, ordinal): ordered as the census wants them.
type UnitKey = (DocumentId, RunId, u32);

/// Documents, generations, units and the journal, all in ordered maps (deterministic).
#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    documents: BTreeMap<DocumentId, Document>,
    generations: BTreeMap<GenerationKey, GenerationState>,
    units: BTreeMap<UnitKey, Unit>,
    runs: BTreeMap<RunId, RunRecord>,
    plans: BTreeMap<RunId, Plan>,
    /// Plans' documents in parts, by run and place (journaled by parts, or cut so when saved
    /// whole) ...
    plan_parts: BTreeMap<RunId, BTreeMap<u64, String>>,
    /// ... and the sha256 of each sealed plan.
    plan_shas: BTreeMap<RunId, String>,
    reports: BTreeMap<RunId, Vec<String>>,
    backups: BTreeMap<RunId, StoredBackup>,
    /// Backups journaled by parts, by run and place (kept after the seal, to compare).
    backup_parts: BTreeMap<RunId, BTreeMap<u64, String>>,
    /// Run leases (journal state, not in the census).
    leases: BTreeMap<RunId, Lease>,
    /// The logical clock leases expire against, in milliseconds.
    clock_ms: u64,
    /// The change log (the SQL stores' `document_changes`): a counter bumped by every change to
    /// a document, its generations or its units, ...
    changes: u64,
    /// ... the counter value of each document's last change (documents never changed since
    /// the store was seeded are absent: their mark is 0) ...
    last_change: BTreeMap<DocumentId, u64>,
    /// ... and the same, by counter value, so that `changed_since` costs O(changes).
    change_log: BTreeMap<u64, DocumentId>,
    /// The rolled-back documents a mark may stop seeing (the SQL stores'
    /// `document_change_windows`), by document; a document's next change removes its window.
    windows: BTreeMap<DocumentId, Window>,
    /// The run that last fenced each document and what its own writes left in the change log
    /// (the SQL stores' `document_change_holds`).
    holds: BTreeMap<DocumentId, Hold>,
}

/// A rollback that put a document back exactly as it was before its run's fence: while the
/// document's last change is still the rollback's (`at`), a mark that saw the document's entry
/// before the fence (`seen`) and not the fence (`fenced`) saw the state it has again, so
/// `changed_since` of it leaves the document out.
#[derive(Clone, Copy, Debug)]
struct Window {
    at: u64,
    seen: u64,
    fenced: u64,
}

impl Window {
    /// Whether a mark at `mark` is one this window hides the document from.
    fn hides(&self, last_change: u64, mark: u64) -> bool {
        self.at == last_change && self.seen <= mark && mark < self.fenced
    }
}

/// A run's hold of a document in the change log, recorded by the run's own writes: the entry
/// before its fence, the fence's, and the one its last write left (`None` for good once the
/// document changed between two of the run's writes: someone else wrote it while held).
#[derive(Clone, Debug)]
struct Hold {
    run: RunId,
    before: u64,
    fenced: u64,
    own: Option<u64>,
}

/// The backend name in the simulator's change marks.
const MARK_BACKEND: &str = "simulator";

/// The smallest run id: every generation key of a document is ≥ `(document, lowest_run())`.
fn lowest_run() -> RunId {
    RunId::new("")
}

impl Store {
    /// Seeds a store from a snapshot (the journal starts empty). Later rows win on duplicate keys.
    pub(crate) fn from_snapshot(snapshot: StoreSnapshot) -> Self {
        let mut store = Store::default();
        for document in snapshot.documents {
            store.documents.insert(document.id.clone(), document);
        }
        for record in snapshot.generations {
            store
                .generations
                .insert((record.document, record.generation), record.state);
        }
        for unit in snapshot.units {
            store.units.insert(
                (unit.document.clone(), unit.generation.clone(), unit.ordinal),
                unit,
            );
        }
        store
    }

    // ---- helpers -------------------------------------------------------------------------

    /// Records a change to `document` (its row, a generation record or a unit) in the change
    /// log. Every mutation of those calls it, as the SQL stores' triggers fire on every write.
    fn touch(&mut self, document: &DocumentId) {
        self.changes += 1;
        if let Some(previous) = self.last_change.insert(document.clone(), self.changes) {
            self.change_log.remove(&previous);
        }
        self.change_log.insert(self.changes, document.clone());
        self.windows.remove(document);
    }

    /// How many rollback windows and holds the store keeps (tests: neither grows with runs).
    #[cfg(test)]
    pub(crate) fn kept_windows_and_holds(&self) -> (usize, usize) {
        (self.windows.len(), self.holds.len())
    }

    /// The change log's entry of `document` (0: never changed since the store was seeded).
    fn entry(&self, document: &DocumentId) -> u64 {
        self.last_change.get(document).copied().unwrap_or(0)
    }

    /// The entries of `documents` before an operation's writes, for [`Store::record_writes`].
    fn entries_before<'a>(
        &self,
        documents: impl IntoIterator<Item = &'a DocumentId>,
    ) -> BTreeMap<DocumentId, u64> {
        documents
            .into_iter()
            .map(|id| (id.clone(), self.entry(id)))
            .collect()
    }

    /// After another of `run`'s writes: each of its holds of `before`'s documents moves on to
    /// the entry the write left, if the entry before it was the run's last own write.
    fn record_writes(&mut self, run: &RunId, before: &BTreeMap<DocumentId, u64>) {
        for (id, entry) in before {
            let now = self.entry(id);
            if let Some(hold) = self.holds.get_mut(id).filter(|h| h.run == *run) {
                hold.own = hold.own.filter(|own| own == entry).map(|_| now);
            }
        }
    }

    /// The digest and unit count of one document, streamed through the seam's digester in
    /// the contract's order: generations by generation id, then units by (generation,
    /// ordinal) — exactly the maps' key order.
    fn document_census(&self, id: &DocumentId, document: &Document) -> (Sha256Digest, u64) {
        let mut digester = DocumentDigester::new(document);
        for (generation, state) in self.document_generations(id) {
            digester.generation(&GenerationRecord {
                document: id.clone(),
                generation: generation.clone(),
                state,
            });
        }
        for unit in self.document_units(id) {
            digester.unit(unit);
        }
        let units = digester.unit_count();
        (digester.finish(), units)
    }

    fn document_generations<'a>(
        &'a self,
        document: &DocumentId,
    ) -> impl Iterator<Item = (&'a RunId, GenerationState)> + 'a {
        let owned = document.clone();
        self.generations
            .range((document.clone(), lowest_run())..)
            .take_while(move |((d, _), _)| *d == owned)
            .map(|((_, generation), state)| (generation, *state))
    }

    fn document_units<'a>(&'a self, document: &DocumentId) -> impl Iterator<Item = &'a Unit> + 'a {
        let owned = document.clone();
        self.units
            .range((document.clone(), lowest_run(), 0)..)
            .take_while(move |((d, _, _), _)| *d == owned)
            .map(|(_, unit)| unit)
    }

    /// One generation's units of a document, by ordinal.
    fn generation_range(
        &self,
        document: &DocumentId,
        generation: &RunId,
    ) -> btree_map::Range<'_, UnitKey, Unit> {
        self.units.range(
            (document.clone(), generation.clone(), 0)
                ..=(document.clone(), generation.clone(), u32::MAX),
        )
    }

    fn generation_unit_keys(&self, document: &DocumentId, generation: &RunId) -> Vec<UnitKey> {
        self.generation_range(document, generation)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// A document as a compare-and-set sees it: the body hashed as it is stored now.
    fn current(&self, id: &DocumentId) -> Option<CurrentDocument> {
        self.documents.get(id).map(|d| CurrentDocument {
            revision: d.revision,
            sha256: d.sha256.clone(),
            body_sha256: sha256_hex(d.body.as_bytes()),
            state: d.state.clone(),
            active_generation: d.active_generation.clone(),
        })
    }

    /// The digest of `run`'s generation of `document` as stored, bodies hashed; `None` when the
    /// generation has no record.
    fn staged_digest(&self, document: &DocumentId, run: &RunId) -> Option<String> {
        if !self
            .generations
            .contains_key(&(document.clone(), run.clone()))
        {
            return None;
        }
        let mut digester = GenerationDigester::new();
        for unit in self.generation_units(document, run) {
            digester.unit(&UnitFields::of(&unit), &sha256_hex(unit.body.as_bytes()));
        }
        Some(digester.finish())
    }

    // ---- reads ---------------------------------------------------------------------------

    pub(crate) fn load_scope(&self, scope: &Scope) -> Vec<Document> {
        self.in_scope(scope).into_iter().cloned().collect()
    }

    pub(crate) fn load_heads(&self, scope: &Scope) -> Vec<DocumentHead> {
        self.in_scope(scope)
            .into_iter()
            .map(Document::head)
            .collect()
    }

    /// The documents in `scope`, ordered by id.
    fn in_scope(&self, scope: &Scope) -> Vec<&Document> {
        match scope {
            Scope::Ids(ids) => ids
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter_map(|id| self.documents.get(id))
                .collect(),
            Scope::All | Scope::Prefix(_) | Scope::Shard { .. } => self
                .documents
                .values()
                .filter(|d| scope.contains(&d.id))
                .collect(),
        }
    }

    pub(crate) fn generations(&self, document: &DocumentId) -> Vec<GenerationRecord> {
        self.document_generations(document)
            .map(|(generation, state)| GenerationRecord {
                document: document.clone(),
                generation: generation.clone(),
                state,
            })
            .collect()
    }

    /// The generation records of each distinct id of `documents`, in id order.
    pub(crate) fn generations_of(&self, documents: &[DocumentId]) -> Vec<GenerationRecord> {
        let ids: BTreeSet<&DocumentId> = documents.iter().collect();
        ids.into_iter()
            .flat_map(|document| self.generations(document))
            .collect()
    }

    pub(crate) fn generation_units(&self, document: &DocumentId, generation: &RunId) -> Vec<Unit> {
        self.generation_range(document, generation)
            .map(|(_, unit)| unit.clone())
            .collect()
    }

    pub(crate) fn active_units(&self, document: &DocumentId) -> Vec<Unit> {
        match self
            .documents
            .get(document)
            .and_then(|d| d.active_generation.as_ref())
        {
            Some(generation) => self.generation_units(document, generation),
            None => Vec::new(),
        }
    }

    /// The active units of each distinct id of `documents`, in id order.
    pub(crate) fn active_units_of(&self, documents: &[DocumentId]) -> Vec<Unit> {
        let ids: BTreeSet<&DocumentId> = documents.iter().collect();
        ids.into_iter()
            .flat_map(|document| self.active_units(document))
            .collect()
    }

    /// The heads of up to `limit` documents after `after`, by id (see `Reads::heads_page`).
    pub(crate) fn heads_page(
        &self,
        after: Option<&DocumentId>,
        limit: u32,
    ) -> AdapterResult<Vec<DocumentHead>> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let documents = self
            .documents
            .range::<DocumentId, _>((from, Bound::Unbounded));
        page(limit, documents.map(|(_, d)| d.head()))
    }

    /// Up to `limit` units of the active generations after `after`, by (document, ordinal), each
    /// with its document's revision; a cursor whose document moved to another generation is a
    /// conflict (see `Reads::active_units_page`).
    pub(crate) fn active_units_page(
        &self,
        after: Option<&UnitCursor>,
        limit: u32,
    ) -> AdapterResult<Vec<ActiveUnit>> {
        let limit = page_size(limit)?;
        let documents = match after {
            Some(cursor) => {
                let active = self
                    .documents
                    .get(&cursor.document)
                    .and_then(|d| d.active_generation.as_ref());
                if active != Some(&cursor.generation) {
                    return Err(page_moved(cursor, active));
                }
                self.documents.range(cursor.document.clone()..)
            }
            None => self.documents.range(..),
        };
        let mut page = Vec::new();
        for (id, document) in documents {
            let Some(generation) = &document.active_generation else {
                continue;
            };
            let read_up_to = after
                .filter(|cursor| cursor.document == *id)
                .map(|cursor| cursor.ordinal);
            let units = self
                .generation_range(id, generation)
                .filter(|((_, _, ordinal), _)| read_up_to.is_none_or(|last| *ordinal > last));
            for (_, unit) in units {
                if page.len() == limit {
                    return Ok(page);
                }
                page.push(ActiveUnit {
                    unit: unit.clone(),
                    revision: document.revision,
                    // The simulator holds no application rows.
                    source: SourceFacts::default(),
                });
            }
        }
        Ok(page)
    }

    /// The census of the whole store.
    pub(crate) fn census(&self) -> Census {
        let mut builder = CensusBuilder::new();
        for (id, document) in &self.documents {
            let (digest, units) = self.document_census(id, document);
            builder.add(id.clone(), digest, units);
        }
        builder.finish()
    }

    /// [`Self::scope_census`] folded as it is read, without the digest of each document.
    pub(crate) fn scope_census_summary(
        &self,
        documents: &[DocumentId],
    ) -> AdapterResult<ScopeCensus> {
        let mut running = RunningCensus::new();
        let wanted: BTreeSet<&DocumentId> = documents.iter().collect();
        for id in wanted {
            if let Some(document) = self.documents.get(id) {
                let (digest, units) = self.document_census(id, document);
                running.add(id.clone(), &digest, units)?;
            }
        }
        Ok(ScopeCensus {
            census: running.finish(),
            mark: ChangeMark::new(MARK_BACKEND, self.changes),
        })
    }

    /// The census of `documents` alone and the change counter, read under the one lock (one
    /// snapshot).
    pub(crate) fn scope_census(&self, documents: &[DocumentId]) -> ScopeCensus {
        let mut builder = CensusBuilder::new();
        // Each id once: a repeated id would count its units twice.
        let wanted: BTreeSet<&DocumentId> = documents.iter().collect();
        for id in wanted {
            if let Some(document) = self.documents.get(id) {
                let (digest, units) = self.document_census(id, document);
                builder.add(id.clone(), digest, units);
            }
        }
        ScopeCensus {
            census: builder.finish(),
            mark: ChangeMark::new(MARK_BACKEND, self.changes),
        }
    }

    /// The documents changed after `mark`, in id order.
    pub(crate) fn changed_since(&self, mark: &ChangeMark) -> AdapterResult<Vec<DocumentId>> {
        let position = mark.position_for(MARK_BACKEND)?;
        let seen: u64 = position.parse().map_err(|_| {
            AdapterError::Invalid(format!("`{mark}` is not a change mark of the simulator"))
        })?;
        if seen > self.changes {
            return Err(AdapterError::Invalid(format!(
                "the change mark `{mark}` is ahead of this store: it was moved or restored since \
                 the mark was taken, so what changed since cannot be read"
            )));
        }
        let changed: BTreeSet<&DocumentId> = self
            .change_log
            .range(seen.saturating_add(1)..)
            .filter(|(at, id)| !self.windows.get(*id).is_some_and(|w| w.hides(**at, seen)))
            .map(|(_, id)| id)
            .collect();
        Ok(changed.into_iter().cloned().collect())
    }

    pub(crate) fn snapshot(&self) -> StoreSnapshot {
        StoreSnapshot {
            documents: self.documents.values().cloned().collect(),
            generations: self
                .generations
                .iter()
                .map(|((document, generation), state)| GenerationRecord {
                    document: document.clone(),
                    generation: generation.clone(),
                    state: *state,
                })
                .collect(),
            units: self.units.values().cloned().collect(),
        }
    }

    pub(crate) fn load_run(&self, run: &RunId) -> Option<RunRecord> {
        self.runs.get(run).cloned()
    }

    pub(crate) fn list_runs(&self) -> Vec<RunRecord> {
        self.runs.values().cloned().collect()
    }

    pub(crate) fn load_plan(&self, run: &RunId) -> Option<Plan> {
        self.plans.get(run).cloned()
    }

    pub(crate) fn load_reports(&self, run: &RunId) -> Vec<String> {
        self.reports.get(run).cloned().unwrap_or_default()
    }

    pub(crate) fn load_backup(&self, run: &RunId) -> Option<StoredBackup> {
        self.backups.get(run).cloned()
    }

    /// The simulator keeps an artifact whole: it is part 0, and there is no other.
    pub(crate) fn load_backup_part(&self, run: &RunId, part: u64) -> Option<StoredBackup> {
        (part == 0).then(|| self.load_backup(run)).flatten()
    }

    pub(crate) fn load_leases(&self) -> LeaseView {
        LeaseView {
            now_ms: self.clock_ms,
            leases: self.leases.values().cloned().collect(),
        }
    }

    // ---- mutations -----------------------------------------------------------------------

    pub(crate) fn put_documents(
        &mut self,
        documents: &[(DocumentId, String)],
    ) -> AdapterResult<Vec<Document>> {
        for (id, _) in documents {
            DocumentId::check(id.as_str()).map_err(AdapterError::Invalid)?;
        }
        Ok(documents
            .iter()
            .map(|(id, body)| self.put_document(id, body))
            .collect())
    }

    pub(crate) fn put_document(&mut self, id: &DocumentId, body: &str) -> Document {
        match self.documents.get_mut(id) {
            None => {
                let document = Document {
                    id: id.clone(),
                    revision: 1,
                    sha256: sha256_hex(body.as_bytes()),
                    state: DocumentState::Ready,
                    active_generation: None,
                    body: body.to_owned(),
                };
                self.documents.insert(id.clone(), document.clone());
                self.touch(id);
                document
            }
            Some(document) if document.body == body => document.clone(),
            Some(document) => {
                document.revision += 1;
                document.sha256 = sha256_hex(body.as_bytes());
                document.body = body.to_owned();
                // A writer that ignores fences keeps the fence: the holder's enact will then
                // fail its compare-and-set on the revision.
                if !matches!(document.state, DocumentState::Cutting { .. }) {
                    document.state = DocumentState::Ready;
                }
                let document = document.clone();
                self.touch(id);
                document
            }
        }
    }

    /// Replaces a unit's body behind the store's API (tests of tampering).
    pub(crate) fn edit_unit_raw(
        &mut self,
        document: &DocumentId,
        generation: &RunId,
        ordinal: u32,
        body: &str,
    ) -> bool {
        match self
            .units
            .get_mut(&(document.clone(), generation.clone(), ordinal))
        {
            Some(unit) => {
                unit.body = body.to_owned();
                self.touch(document);
                true
            }
            None => false,
        }
    }

    /// Replaces a run's journaled backup behind the store's API (tests of tampering).
    pub(crate) fn replace_backup(&mut self, run: &RunId, artifact: &str, sha256: &str) -> bool {
        match self.backups.get_mut(run) {
            Some(stored) => {
                stored.artifact = artifact.to_owned();
                stored.sha256 = sha256.to_owned();
                true
            }
            None => false,
        }
    }

    /// Replaces part `seq` of a run's sealed plan behind the store's API (tests of tampering).
    pub(crate) fn replace_plan_part(&mut self, run: &RunId, seq: u64, text: &str) -> bool {
        match self
            .plan_parts
            .get_mut(run)
            .and_then(|parts| parts.get_mut(&seq))
        {
            Some(part) if self.plan_shas.contains_key(run) => {
                *part = text.to_owned();
                true
            }
            _ => false,
        }
    }

    /// Replaces a document's body and nothing else, as raw SQL that ignores the revision and
    /// sha256 columns would (tests of edits that bypass the store's API).
    pub(crate) fn edit_body_raw(&mut self, id: &DocumentId, body: &str) -> bool {
        match self.documents.get_mut(id) {
            Some(document) => {
                document.body = body.to_owned();
                self.touch(id);
                true
            }
            None => false,
        }
    }

    pub(crate) fn begin_run(&mut self, record: &RunRecord) -> RunRecord {
        self.runs
            .entry(record.run.clone())
            .or_insert_with(|| record.clone())
            .clone()
    }

    pub(crate) fn record_phase(&mut self, run: &RunId, phase: &PhaseRecord) -> AdapterResult<()> {
        let record = self.runs.get_mut(run).ok_or_else(|| run_not_found(run))?;
        match record.phases.iter_mut().find(|p| p.name == phase.name) {
            // The first start stays the entry's own, as the SQL stores keep it.
            Some(existing) => {
                *existing = PhaseRecord {
                    first_started_at: existing.first_started_at.take(),
                    ..phase.clone()
                }
            }
            None => record.phases.push(PhaseRecord {
                first_started_at: phase.started_at.clone(),
                ..phase.clone()
            }),
        }
        Ok(())
    }

    /// Refuses a run that is not journaled: how every journal write but the run's own begins.
    fn check_journaled(&self, run: &RunId) -> AdapterResult<()> {
        if self.runs.contains_key(run) {
            Ok(())
        } else {
            Err(run_not_found(run))
        }
    }

    pub(crate) fn set_run_status(&mut self, run: &RunId, status: RunStatus) -> AdapterResult<()> {
        let record = self.runs.get_mut(run).ok_or_else(|| run_not_found(run))?;
        record.status = status;
        Ok(())
    }

    pub(crate) fn save_plan(&mut self, run: &RunId, plan: &Plan) -> AdapterResult<()> {
        self.check_journaled(run)?;
        match self.plans.get(run) {
            Some(existing) if existing == plan => Ok(()),
            Some(existing) => Err(plan_conflict(run, &existing.sha256(), &plan.sha256())),
            None => {
                self.plans.insert(run.clone(), plan.clone());
                let parts = iu_cutter_live_execution::plan_parts(
                    plan,
                    iu_cutter_live_execution::PLAN_PART_BYTES,
                );
                self.plan_parts
                    .insert(run.clone(), (0..).zip(parts).collect());
                self.plan_shas.insert(run.clone(), plan.sha256());
                Ok(())
            }
        }
    }

    pub(crate) fn load_plan_part(&self, run: &RunId, part: u64) -> Option<StoredPlanPart> {
        let sha256 = self.plan_shas.get(run)?.clone();
        let text = match part.checked_sub(1) {
            None => {
                let plan = self.plans.get(run)?;
                iu_cutter_live_execution::plan_head_text(plan.schema_version, &plan.rules)
            }
            Some(seq) => self.plan_parts.get(run)?.get(&seq)?.clone(),
        };
        Some(StoredPlanPart { text, sha256 })
    }

    pub(crate) fn save_report(&mut self, run: &RunId, report: &str) -> AdapterResult<()> {
        self.check_journaled(run)?;
        let reports = self.reports.entry(run.clone()).or_default();
        if !reports.iter().any(|r| r == report) {
            reports.push(report.to_owned());
        }
        Ok(())
    }

    pub(crate) fn save_backup(
        &mut self,
        run: &RunId,
        artifact: &str,
        sha256: &str,
    ) -> AdapterResult<()> {
        self.check_journaled(run)?;
        match self.backups.get(run) {
            Some(existing) if existing.artifact == artifact && existing.sha256 == sha256 => Ok(()),
            Some(existing) => Err(backup_conflict(run, &existing.sha256, sha256)),
            None => {
                self.backups.insert(
                    run.clone(),
                    StoredBackup {
                        artifact: artifact.to_owned(),
                        sha256: sha256.to_owned(),
                    },
                );
                Ok(())
            }
        }
    }

    /// Drops the parts of `run`'s backup unless it is sealed (then kept whole); how many.
    pub(crate) fn discard_backup_parts(&mut self, run: &RunId) -> AdapterResult<u64> {
        self.check_journaled(run)?;
        if self.backups.contains_key(run) {
            return Ok(0);
        }
        Ok(self
            .backup_parts
            .remove(run)
            .map_or(0, |parts| parts.len() as u64))
    }

    pub(crate) fn fence(
        &mut self,
        run: &RunId,
        expectations: &[ExpectedRevision],
    ) -> AdapterResult<()> {
        let mut to_fence = Vec::new();
        for expected in expectations {
            let current = self.current(&expected.document);
            if fence_step(run, expected, current.as_ref())? == FenceStep::Fence {
                to_fence.push(&expected.document);
            }
        }
        for id in to_fence {
            if let Some(document) = self.documents.get_mut(id) {
                document.state = DocumentState::Cutting { run: run.clone() };
                // The run's generation begins at the fence, so a document with no units (an
                // empty body) still has a generation to enact.
                self.generations
                    .entry((id.clone(), run.clone()))
                    .or_insert(GenerationState::Staged);
                let before = self.entry(id);
                self.touch(id);
                let fenced = self.entry(id);
                let own = Some(fenced);
                let run = run.clone();
                let hold = Hold {
                    run,
                    before,
                    fenced,
                    own,
                };
                self.holds.insert(id.clone(), hold);
            }
        }
        Ok(())
    }

    pub(crate) fn write_units(&mut self, run: &RunId, units: &[Unit]) -> AdapterResult<u64> {
        for unit in units {
            let document = self.documents.get(&unit.document);
            write_step(run, unit, document.map(|d| &d.state))?;
        }
        let before = self.entries_before(units.iter().map(|u| &u.document));
        for unit in units {
            self.generations
                .entry((unit.document.clone(), run.clone()))
                .or_insert(GenerationState::Staged);
            self.units.insert(
                (unit.document.clone(), run.clone(), unit.ordinal),
                unit.clone(),
            );
            self.touch(&unit.document);
        }
        self.record_writes(run, &before);
        Ok(units.len() as u64)
    }

    pub(crate) fn enact(
        &mut self,
        run: &RunId,
        expectations: &[ExpectedRevision],
    ) -> AdapterResult<u64> {
        let mut to_move = BTreeMap::new();
        for expected in expectations {
            let current = self.current(&expected.document);
            let staged = self.staged_digest(&expected.document, run);
            if let EnactStep::Enact { retire } =
                enact_step(run, expected, current.as_ref(), staged.as_deref())?
            {
                to_move.insert(expected.document.clone(), retire);
            }
        }
        let before = self.entries_before(to_move.keys());
        for (id, retire) in &to_move {
            if let Some(previous) = retire
                && let Some(state) = self.generations.get_mut(&(id.clone(), previous.clone()))
            {
                *state = GenerationState::Retired;
            }
            self.generations
                .insert((id.clone(), run.clone()), GenerationState::Active);
            if let Some(document) = self.documents.get_mut(id) {
                document.active_generation = Some(run.clone());
                document.state = DocumentState::Cut;
            }
            self.touch(id);
        }
        self.record_writes(run, &before);
        Ok(to_move.len() as u64)
    }

    /// Rollback: every decision is taken (and a later run refuses the whole call) before any
    /// change; then only the run's own marks are taken back.
    pub(crate) fn restore(&mut self, run: &RunId, backup: &Backup) -> AdapterResult<Restoration> {
        backup.check_for_run(run)?;
        let mut decisions = Vec::with_capacity(backup.documents.len());
        for snapshot in &backup.documents {
            let id = &snapshot.document.id;
            let current = self.current(id);
            let undo = undo_step(run, snapshot, current.as_ref(), &self.generations(id))?;
            decisions.push((id, undo));
        }
        let mut restoration = Restoration::default();
        for (id, undo) in &decisions {
            restoration.record(id, undo);
            match &undo.step {
                UndoStep::Untouched | UndoStep::LeaveAlone { .. } => continue,
                UndoStep::DropGeneration => {}
                UndoStep::Unfence { state } => {
                    if let Some(document) = self.documents.get_mut(*id) {
                        document.state = state.clone();
                    }
                }
                UndoStep::Unenact { reactivate, state } => {
                    if let Some(previous) = reactivate {
                        self.generations
                            .insert(((*id).clone(), previous.clone()), GenerationState::Active);
                    }
                    if let Some(document) = self.documents.get_mut(*id) {
                        document.active_generation = reactivate.clone();
                        document.state = state.clone();
                    }
                }
            }
            self.generations.remove(&((*id).clone(), run.clone()));
            for key in self.generation_unit_keys(id, run) {
                self.units.remove(&key);
            }
            let before = self.entries_before([*id]);
            self.touch(id);
            self.record_writes(run, &before);
            self.open_window(id, run, backup);
        }
        Ok(restoration)
    }

    /// After `id`'s rollback by `run`: a [`Window`] when the document is exactly as
    /// `backup`'s census saw it, `run`'s hold of it is intact (no one else changed it since the
    /// fence) and that census saw the entry before the fence and not the fence; the hold is
    /// spent. The backup's own entries are not read: edited, they could widen the window.
    fn open_window(&mut self, id: &DocumentId, run: &RunId, backup: &Backup) {
        let Some(hold) = self.holds.get(id).filter(|h| h.run == *run).cloned() else {
            return;
        };
        self.holds.remove(id);
        let census = backup
            .mark
            .as_ref()
            .and_then(|mark| mark.position_for(MARK_BACKEND).ok())
            .and_then(|p| p.parse::<u64>().ok());
        if !census.is_some_and(|c| hold.before <= c && c < hold.fenced) {
            return;
        }
        let at = self.changes;
        let exact = self.documents.get(id).is_some_and(|document| {
            Some(&self.document_census(id, document).0) == backup.census.per_document.get(id)
        });
        if exact && hold.own == Some(at) {
            let (seen, fenced) = (hold.before, hold.fenced);
            self.windows.insert(id.clone(), Window { at, seen, fenced });
        }
    }

    pub(crate) fn purge_generations(
        &mut self,
        targets: &[PurgeTarget],
    ) -> AdapterResult<Vec<PurgeTarget>> {
        let listed: BTreeSet<&PurgeTarget> = targets.iter().collect();
        let mut present = Vec::new();
        for target in listed {
            let key = (target.document.clone(), target.generation.clone());
            let active = self
                .documents
                .get(&target.document)
                .map(|d| d.active_generation.as_ref());
            if purge_step(target, active, self.generations.get(&key).copied())? {
                present.push(target);
            }
        }
        let mut removed = Vec::new();
        for target in present {
            let (document, generation) = (&target.document, &target.generation);
            if self
                .generations
                .remove(&(document.clone(), generation.clone()))
                .is_some()
            {
                removed.push(target.clone());
            }
            for key in self.generation_unit_keys(document, generation) {
                self.units.remove(&key);
            }
            self.touch(document);
        }
        Ok(removed)
    }
}

/// How many rows a page of `limit` may hold; a `limit` of 0 is refused ([`empty_page`]).
fn page_size(limit: u32) -> AdapterResult<usize> {
    if limit == 0 {
        return Err(empty_page());
    }
    Ok(usize::try_from(limit).unwrap_or(usize::MAX))
}

/// The first `limit` of `rows`, as one page (see [`page_size`]).
fn page<T>(limit: u32, rows: impl Iterator<Item = T>) -> AdapterResult<Vec<T>> {
    Ok(rows.take(page_size(limit)?).collect())
}

fn lease_ttl_ms(holder: &str, ttl: Duration) -> AdapterResult<u64> {
    if holder.is_empty() {
        return Err(AdapterError::Invalid(
            "a lease holder must not be empty".into(),
        ));
    }
    let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Err(AdapterError::Invalid(
            "a lease's time to live must be at least 1 ms".into(),
        ));
    }
    Ok(ms)
}

impl Store {
    /// Refuses a call whose lease claim is not a live lease of its holder.
    pub(crate) fn check_claim(&self, claim: &LeaseClaim) -> AdapterResult<()> {
        self.check_lease(&claim.run, &claim.holder)
    }

    /// Refuses unless `holder` holds a live lease on `run`.
    fn check_lease(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
        let lease = self
            .leases
            .get(run)
            .map(|l| (l.holder.as_str(), l.expires_at_ms));
        match lease_lost(run, holder, lease, self.clock_ms) {
            None => Ok(()),
            Some(refusal) => Err(refusal),
        }
    }

    /// Performs one call (the simulator's dispatch: the one place that maps an op to the
    /// store's semantics). A call that returns nothing answers [`Reply::Done`] (`().into()`).
    pub(crate) fn apply(&mut self, op: Op<'_>) -> AdapterResult<Reply> {
        Ok(match op {
            Op::Preflight => Reply::Done,
            Op::LoadScope(scope) => Reply::Documents(self.load_scope(scope)),
            Op::LoadHeads(scope) => Reply::Heads(self.load_heads(scope)),
            Op::HeadsPage { after, limit } => Reply::Heads(self.heads_page(after, limit)?),
            Op::Generations(document) => Reply::Generations(self.generations(document)),
            Op::GenerationsOf(documents) => Reply::Generations(self.generations_of(documents)),
            Op::GenerationUnits {
                document,
                generation,
            } => Reply::Units(self.generation_units(document, generation)),
            Op::GenerationDigests {
                document,
                generation,
            } => Reply::Digests(GenerationDigests::of(
                &self.generation_units(document, generation),
            )),
            Op::GenerationDigestsOf {
                documents,
                generation,
            } => Reply::DigestsOf(
                documents
                    .iter()
                    .map(|document| {
                        GenerationDigests::of(&self.generation_units(document, generation))
                    })
                    .collect(),
            ),
            Op::ActiveUnits(document) => Reply::Units(self.active_units(document)),
            Op::ActiveUnitsOf(documents) => Reply::Units(self.active_units_of(documents)),
            Op::ActiveUnitsPage { after, limit } => {
                Reply::UnitPage(self.active_units_page(after, limit)?)
            }
            Op::SourceFacts { .. } => Reply::Facts(SourceFacts::default()),
            Op::Census => Reply::Census(self.census()),
            Op::ScopeCensus(documents) => Reply::ScopeCensus(self.scope_census(documents)),
            Op::ScopeCensusSummary(documents) => {
                Reply::ScopeCensus(self.scope_census_summary(documents)?)
            }
            Op::ChangedSince(mark) => Reply::Changed(self.changed_since(mark)?),
            Op::Snapshot => Reply::Snapshot(self.snapshot()),
            Op::LoadRun(run) => Reply::Run(self.load_run(run)),
            Op::ListRuns => Reply::Runs(self.list_runs()),
            Op::RecentRuns { limit } => Reply::RecentRuns(RecentRuns::of(self.list_runs(), limit)),
            Op::LoadPlan(run) => Reply::Plan(self.load_plan(run)),
            Op::LoadPlanPart { run, part } => Reply::PlanPart(self.load_plan_part(run, part)),
            Op::LoadReports(run) => Reply::Reports(self.load_reports(run)),
            Op::LoadBackup(run) => Reply::Backup(self.load_backup(run)),
            Op::LoadBackupPart { run, part } => Reply::Backup(self.load_backup_part(run, part)),
            Op::LoadLeases => Reply::Leases(self.load_leases()),
            Op::PutDocuments(documents) => Reply::Documents(self.put_documents(documents)?),
            Op::SyncSource { .. } => return Err(no_source()),
            Op::BeginRun(record) => Reply::Run(Some(self.begin_run(record))),
            Op::RecordPhase { run, phase } => self.record_phase(run, phase)?.into(),
            Op::SetRunStatus { run, status } => self.set_run_status(run, status)?.into(),
            Op::SavePlan { run, plan } => self.save_plan(run, plan)?.into(),
            Op::SavePlanPart { run, seq, part } => {
                self.save_part(Artifact::Plan, run, seq, part)?.into()
            }
            Op::SealPlan {
                run,
                head,
                parts,
                sha256,
            } => self.seal(Artifact::Plan, run, head, parts, sha256)?.into(),
            Op::SaveReport { run, report } => self.save_report(run, report)?.into(),
            Op::SaveBackup {
                run,
                artifact,
                sha256,
            } => self.save_backup(run, artifact, sha256)?.into(),
            Op::SaveBackupPart { run, seq, part } => {
                self.save_part(Artifact::Backup, run, seq, part)?.into()
            }
            Op::SealBackup { run, parts, sha256 } => {
                self.seal(Artifact::Backup, run, "", parts, sha256)?.into()
            }
            Op::DiscardBackupParts { run } => self.discard_backup_parts(run)?.into(),
            Op::Fence { run, expectations } => self.fence(run, expectations)?.into(),
            Op::WriteUnits { run, units } => Reply::Count(self.write_units(run, units)?),
            Op::Enact { run, expectations } => Reply::Count(self.enact(run, expectations)?),
            Op::Restore { run, backup } => Reply::Restoration(self.restore(run, backup)?),
            Op::PurgeGenerations(targets) => Reply::Purged(self.purge_generations(targets)?),
            Op::AcquireLease { run, holder, ttl } => {
                Reply::Lease(self.grant_lease(run, holder, ttl, Self::check_free)?)
            }
            Op::RenewLease { run, holder, ttl } => {
                Reply::Lease(self.grant_lease(run, holder, ttl, Self::check_lease)?)
            }
            Op::ReleaseLease { run, holder } => self.release_lease(run, holder)?.into(),
        })
    }

    pub(crate) fn advance_clock(&mut self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.clock_ms = self.clock_ms.saturating_add(ms);
    }

    pub(crate) fn clock_ms(&self) -> u64 {
        self.clock_ms
    }

    pub(crate) fn lease(&self, run: &RunId) -> Option<Lease> {
        self.leases.get(run).cloned()
    }

    fn put_lease(&mut self, run: &RunId, holder: &str, ttl_ms: u64) -> Lease {
        let lease = Lease {
            run: run.clone(),
            holder: holder.to_owned(),
            expires_at_ms: self.clock_ms.saturating_add(ttl_ms),
        };
        self.leases.insert(run.clone(), lease.clone());
        lease
    }

    /// Gives `holder` the lease on `run` for `ttl` once `check` passes: [`Self::check_free`] to
    /// take (or extend) it, [`Self::check_lease`] to extend only a live lease of `holder`.
    pub(crate) fn grant_lease(
        &mut self,
        run: &RunId,
        holder: &str,
        ttl: Duration,
        check: fn(&Self, &RunId, &str) -> AdapterResult<()>,
    ) -> AdapterResult<Lease> {
        let ttl_ms = lease_ttl_ms(holder, ttl)?;
        check(self, run, holder)?;
        Ok(self.put_lease(run, holder, ttl_ms))
    }

    /// Refuses while another holder than `holder` has a live lease on `run`.
    fn check_free(&self, run: &RunId, holder: &str) -> AdapterResult<()> {
        match self.leases.get(run) {
            Some(current) if current.holder != holder && current.expires_at_ms > self.clock_ms => {
                Err(AdapterError::LeaseHeld {
                    run: run.clone(),
                    holder: current.holder.clone(),
                    expires_at: current.expires_at_utc(),
                })
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn release_lease(&mut self, run: &RunId, holder: &str) -> AdapterResult<()> {
        if self.leases.get(run).is_some_and(|l| l.holder == holder) {
            self.leases.remove(run);
        }
        Ok(())
    }

    /// `run`'s journaled parts of `artifact`, and the sha256 it was sealed with, if it was; a
    /// run not journaled is refused (it has no artifact to journal parts of).
    fn journaled(
        &mut self,
        artifact: Artifact,
        run: &RunId,
    ) -> AdapterResult<(&mut BTreeMap<u64, String>, Option<&str>)> {
        self.check_journaled(run)?;
        Ok(match artifact {
            Artifact::Plan => (
                self.plan_parts.entry(run.clone()).or_default(),
                self.plan_shas.get(run).map(String::as_str),
            ),
            Artifact::Backup => (
                self.backup_parts.entry(run.clone()).or_default(),
                self.backups.get(run).map(|b| b.sha256.as_str()),
            ),
        })
    }

    /// Journals part `seq` of `run`'s `artifact` (see [`journal_part`]).
    fn save_part(
        &mut self,
        artifact: Artifact,
        run: &RunId,
        seq: u64,
        part: &str,
    ) -> AdapterResult<()> {
        let (parts, sealed) = self.journaled(artifact, run)?;
        journal_part(parts, sealed, seq, part, |sealed, offered| {
            artifact.conflict(run, sealed, offered)
        })
    }

    /// Seals `run`'s `artifact` as its journaled parts `0..parts` (any beyond them dropped) under
    /// `sha256`, and `head` (a plan's; a backup has none): the same seal again passes, another
    /// is refused, and a missing part cannot be sealed.
    fn seal(
        &mut self,
        artifact: Artifact,
        run: &RunId,
        head: &str,
        parts: u64,
        sha256: &str,
    ) -> AdapterResult<()> {
        let (journaled, sealed) = self.journaled(artifact, run)?;
        match sealed {
            Some(sealed) if sealed == sha256 => return Ok(()),
            Some(sealed) => return Err(artifact.conflict(run, sealed, sha256)),
            None => {}
        }
        keep_sealed_parts(journaled, parts, artifact.noun(), run)?;
        match artifact {
            Artifact::Plan => {
                // Kept parsed, as the rest of this store reads plans; the hash is the reader's to
                // check.
                let mut plan = iu_cutter_live_execution::parse_plan_head(head)?;
                let mut parsed = iu_cutter_live_execution::PlanVerifier::new(&plan);
                for part in journaled.values() {
                    plan.documents.extend(parsed.part(part)?);
                }
                self.plans.insert(run.clone(), plan);
                self.plan_shas.insert(run.clone(), sha256.to_owned());
            }
            Artifact::Backup => {
                let artifact = journaled.values().map(String::as_str).collect::<String>();
                let stored = StoredBackup {
                    artifact,
                    sha256: sha256.to_owned(),
                };
                self.backups.insert(run.clone(), stored);
            }
        }
        Ok(())
    }
}

/// The two artifacts a run journals in parts and then seals.
#[derive(Clone, Copy)]
enum Artifact {
    Plan,
    Backup,
}

impl Artifact {
    /// Its name in errors.
    fn noun(self) -> &'static str {
        match self {
            Artifact::Plan => "plan",
            Artifact::Backup => "backup",
        }
    }

    /// The conflict of `offered` with what `run`'s artifact was sealed under.
    fn conflict(self, run: &RunId, sealed: &str, offered: &str) -> AdapterError {
        match self {
            Artifact::Plan => plan_conflict(run, sealed, offered),
            Artifact::Backup => backup_conflict(run, sealed, offered),
        }
    }
}

/// The simulator holds iu-cutter's own documents only: it has no application table to read. A
/// dry run of a store with a source cuts the tracking copies as the last live run synced them.
fn no_source() -> AdapterError {
    AdapterError::Invalid(
        "the simulator has no source table: a dry run cuts the documents as the last live run \
         synced them; run live to read the source"
            .to_owned(),
    )
}

/// Journals part `seq` among `parts` (of a plan or a backup, sealed under `sealed` if it is):
/// before the seal a part may be replaced; after it, only the very same part passes, anything
/// else is `conflict(sealed, offered)`.
fn journal_part(
    parts: &mut BTreeMap<u64, String>,
    sealed: Option<&str>,
    seq: u64,
    part: &str,
    conflict: impl FnOnce(&str, &str) -> AdapterError,
) -> AdapterResult<()> {
    if let Some(sealed) = sealed {
        return match parts.get(&seq) {
            Some(text) if text == part => Ok(()),
            _ => Err(conflict(sealed, &format!("another part {seq}"))),
        };
    }
    parts.insert(seq, part.to_owned());
    Ok(())
}

/// Drops the parts journaled from `parts` on, and refuses a seal of `parts` parts of the
/// `noun` of `run` unless every one before is journaled.
fn keep_sealed_parts(
    journaled: &mut BTreeMap<u64, String>,
    parts: u64,
    noun: &str,
    run: &RunId,
) -> AdapterResult<()> {
    journaled.retain(|seq, _| *seq < parts);
    if journaled.len() as u64 != parts {
        return Err(AdapterError::Invalid(format!(
            "the {noun} of run `{run}` cannot be sealed: {} of its {parts} parts are \
             journaled; journal every part first",
            journaled.len()
        )));
    }
    Ok(())
}
