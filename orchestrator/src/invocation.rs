//! One invocation of the runner (run, resume, enact, verify, rollback), from the journal read to
//! the report. Every command goes through the same template:
//!
//! 1. [`Invocation::open_journaled`] reads the run's journal (`run` starts one instead);
//! 2. [`Invocation::admit`]: the store's preflight (the kill switch), the backup store's
//!    preflight while the run has no backup, and the run's lease; from then on every call that
//!    changes the run carries the lease claim, so a runner that lost its lease is refused by the
//!    store itself;
//! 3. [`Invocation::reload`]: the journal again, which the lease's previous holder may have
//!    written since step 1; then the opening census ([`Invocation::take_census_before`]);
//! 4. the command's own work;
//! 5. [`Invocation::finish`]: the heartbeat stopped and the lease released, the closing census,
//!    and the report, whose outcome tells truly what was changed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, AdapterResult, Census, ChangeMark, Claimed, DocumentId, DocumentState, Evidence,
    GenerationState, HEADS_PAGE, LeaseClaim, LiveExecutionAdapter, PhaseRecord, RunId, RunRecord,
    RunStatus, Scope,
};
use iu_cutter_phase_core::evidence::{BACKUP_SHA256, PLAN_SHA256};
use iu_cutter_phase_core::{BackupStore, JournalBackupStore, OpeningCensus, RunEvent};
use tracing::{info, warn};

use crate::error::RunnerError;
use crate::journal::{ROLLBACK_PHASE, RunJournal};
use crate::lease::{self, Heartbeat};
use crate::next::NextAction;
use crate::options::RunOptions;
use crate::pipeline::Pipeline;
use crate::report::{
    CensusSummary, Command, Footprint, Outcome, PhaseEntry, PhaseEntryStatus,
    REPORT_SCHEMA_VERSION, RollbackCheck, RunReport,
};

/// An invocation whose run's journal was read ([`Invocation::open_journaled`]).
// One per invocation, matched once right away: boxing either variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Opened<'a> {
    /// The journal holds the run: the command goes on.
    Journaled(Invocation<'a>, RunRecord),
    /// The journal could not be read: the report says so.
    Unreadable(RunReport),
}

/// What [`Invocation::admit`] tells the operator when it refuses.
pub(crate) struct Admission {
    /// The phase a later attempt continues from.
    pub(crate) resume_from: Option<String>,
    /// The action that tries again.
    pub(crate) again: NextAction,
    /// Whether the backup store must be writable (the run has no backup yet).
    pub(crate) needs_backup: bool,
}

/// The report under construction for one invocation, and the store as this invocation sees it.
pub(crate) struct Invocation<'a> {
    pipeline: &'a Pipeline,
    pub(crate) options: &'a RunOptions,
    pub(crate) run: RunId,
    command: Command,
    /// The store; once the lease is held, the store carrying the lease claim.
    store: Arc<dyn LiveExecutionAdapter>,
    heartbeat: Option<Heartbeat>,
    pub(crate) journal: RunJournal,
    started: Instant,
    started_at: String,
    /// The plan and backup sha256 the journal showed when the invocation began.
    journal_plan_sha256: Option<String>,
    journal_backup_sha256: Option<String>,
    pub(crate) phases: Vec<PhaseEntry>,
    notes: Vec<String>,
    census_before: Option<CensusSummary>,
    /// The opening scope census (its summary, and the ids it covered), until the phases'
    /// context takes it (for the backup phase).
    pub(crate) opening_census: Option<OpeningCensus>,
    /// What the opening census covered: the scope, its documents as resolved then (shared with
    /// the backup phase, never copied), and the store's change mark, for the closing census.
    census_scope: Option<(Scope, Arc<Vec<DocumentId>>, ChangeMark)>,
    pub(crate) census_after: Option<CensusSummary>,
    pub(crate) rollback: Option<RollbackCheck>,
    /// The run's scope, once the journal showed it (to read what the run holds at the end).
    scope: Option<Scope>,
}

impl<'a> Invocation<'a> {
    pub(crate) fn new(
        pipeline: &'a Pipeline,
        command: Command,
        run: RunId,
        options: &'a RunOptions,
    ) -> Self {
        let phases = match command {
            Command::Rollback => vec![PhaseEntry::not_run(ROLLBACK_PHASE)],
            Command::Run | Command::Resume | Command::Enact | Command::Verify => pipeline
                .names()
                .into_iter()
                .map(PhaseEntry::not_run)
                .collect(),
        };
        let store = pipeline.store.clone();
        let journal = RunJournal::new(store.clone(), run.clone(), options.clock.clone());
        let inv = Invocation {
            pipeline,
            options,
            started_at: journal.now(),
            journal,
            run,
            command,
            store,
            heartbeat: None,
            started: Instant::now(),
            journal_plan_sha256: None,
            journal_backup_sha256: None,
            phases,
            notes: Vec::new(),
            census_before: None,
            opening_census: None,
            census_scope: None,
            census_after: None,
            rollback: None,
            scope: None,
        };
        inv.emit(RunEvent::RunStarted {
            run: inv.run.clone(),
        });
        inv
    }

    /// Reads run `run`'s journal and opens the invocation on it. An unknown run is the caller's
    /// error (no report); an unreadable journal ends the invocation `FAILED`.
    pub(crate) async fn open_journaled(
        pipeline: &'a Pipeline,
        command: Command,
        run: &RunId,
        options: &'a RunOptions,
    ) -> Result<Opened<'a>, RunnerError> {
        let loaded = pipeline.store.load_run(run).await;
        let record = match loaded {
            Ok(Some(record)) => record,
            Ok(None) => return Err(RunnerError::UnknownRun(run.clone())),
            Err(error) => {
                let inv = Invocation::new(pipeline, command, run.clone(), options);
                let outcome = Outcome::store_unreadable(
                    format!("cannot read the journal: {error}"),
                    command.again(run),
                );
                return Ok(Opened::Unreadable(inv.finish(outcome, None).await));
            }
        };
        let inv = Invocation::new(pipeline, command, run.clone(), options);
        info!(adapter = %inv.store.info().kind, status = ?record.status, "journaled run loaded");
        Ok(Opened::Journaled(inv, record))
    }

    /// The store as this invocation sees it: once the lease is held, every call that changes
    /// the run carries the lease claim.
    pub(crate) fn store(&self) -> &Arc<dyn LiveExecutionAdapter> {
        &self.store
    }

    /// The backups: journaled in the store (through [`Invocation::store`]) and exported.
    pub(crate) fn backups(&self) -> Arc<dyn BackupStore> {
        Arc::new(JournalBackupStore::new(
            self.store.clone(),
            self.pipeline.export.clone(),
        ))
    }

    /// Steps 2 of the template: the store's preflight, the backup store's (when
    /// `admission.needs_backup`), then the run's lease when the options ask for one. `Err` is
    /// the outcome that ends the invocation; nothing was written.
    pub(crate) async fn admit(&mut self, admission: Admission) -> Result<(), Outcome> {
        let Admission {
            resume_from,
            again,
            needs_backup,
        } = admission;
        if let Err(error) = self.store.preflight().await {
            return Err(preflight_outcome(&self.run, error, resume_from, again));
        }
        if needs_backup && let Err(error) = self.pipeline.export.preflight().await {
            warn!(%error, "refused at preflight: the backup store cannot be written");
            return Err(Outcome::Refused {
                reason: format!("the backup store cannot be written: {error}"),
                switch: "backup_dir".to_owned(),
                next: vec![
                    NextAction::fix(
                        "make backup_dir (IU_CUTTER_BACKUP_DIR) a writable directory with free \
                         space",
                    ),
                    again,
                ],
                resume_from,
            });
        }
        let Some(lease) = &self.options.lease else {
            return Ok(());
        };
        let store = self.pipeline.store.clone();
        let cancel = self.options.cancel.clone();
        let heartbeat = Heartbeat::start(store.clone(), &self.run, lease, cancel)
            .await
            .map_err(|error| lease::refusal(&self.run, error, resume_from, again))?;
        let claim = LeaseClaim {
            run: self.run.clone(),
            holder: lease.holder.clone(),
        };
        self.store = Arc::new(Claimed::new(store, claim));
        self.journal.write_through(self.store.clone());
        self.heartbeat = Some(heartbeat);
        Ok(())
    }

    /// Step 3 of the template: the journal read again, since the lease's previous holder may
    /// have written it after `record` was read (`record` stands if it cannot be read). The
    /// opening census ([`Invocation::take_census_before`]) follows.
    pub(crate) async fn reload(&self, record: RunRecord) -> RunRecord {
        match self.store.load_run(&self.run).await {
            Ok(Some(record)) => record,
            _ => record,
        }
    }

    pub(crate) fn emit(&self, event: RunEvent) {
        self.options.events.emit(event);
    }

    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// [`Invocation::note`], unless the same note is there already (a check made both before
    /// and after taking the lease says it once).
    pub(crate) fn note_once(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Shows the journal's view of each phase (done phases carry their evidence) until this
    /// invocation updates them.
    pub(crate) fn show_journal(&mut self, record: &RunRecord) {
        self.capture_journal_shas(record);
        for entry in &mut self.phases {
            if let Some(journaled) = record.phase(&entry.name) {
                entry.evidence = journaled.evidence.clone();
                entry.detail = journaled.detail.clone();
            }
        }
    }

    /// Remembers the plan and backup sha256 the journal shows, for the report.
    pub(crate) fn capture_journal_shas(&mut self, record: &RunRecord) {
        self.scope = Some(record.scope.clone());
        for phase in &record.phases {
            if let Some(sha) = PLAN_SHA256.get(&phase.evidence) {
                self.journal_plan_sha256 = Some(sha.to_owned());
            }
            if let Some(sha) = BACKUP_SHA256.get(&phase.evidence) {
                self.journal_backup_sha256 = Some(sha.to_owned());
            }
        }
    }

    pub(crate) fn set_entry(
        &mut self,
        index: usize,
        status: PhaseEntryStatus,
        evidence: Evidence,
        detail: Option<String>,
        duration_ms: Option<u64>,
    ) {
        if let Some(entry) = self.phases.get_mut(index) {
            entry.status = status;
            entry.evidence = evidence;
            entry.detail = detail;
            entry.duration_ms = duration_ms;
        }
    }

    /// The opening census: of `scope`'s documents (resolved now, their ids only, the whole
    /// store's a page of heads at a time) with the store's change mark, so that it costs
    /// O(scope) whatever the store's size; the closing census reads the same documents and the
    /// store's change log since the mark.
    pub(crate) async fn take_census_before(&mut self, scope: &Scope) {
        self.take_opening_census(scope, true).await;
    }

    /// [`take_census_before`](Self::take_census_before) for an invocation that runs no phase
    /// (a rollback): the opening census alone, handed to no phase.
    pub(crate) async fn take_census_summary_before(&mut self, scope: &Scope) {
        self.take_opening_census(scope, false).await;
    }

    /// The opening census of `scope`, kept for the phases (`for_phases`) or not. It is read as
    /// a summary either way (no digest per document, which would grow with the scope): the
    /// backup phase, which records the census's digests, reads them again a census line at a
    /// time as it writes them, proven unchanged since this census's mark by the change log.
    async fn take_opening_census(&mut self, scope: &Scope, for_phases: bool) {
        let census = match self.store.scope_ids(scope).await {
            Ok(ids) => self
                .store
                .scope_census_summary(&ids)
                .await
                .map(|c| (Arc::new(ids), c)),
            Err(error) => Err(error),
        };
        match census {
            Ok((ids, census)) => {
                self.census_before = Some(CensusSummary::from(&census.census));
                self.census_scope = Some((scope.clone(), Arc::clone(&ids), census.mark.clone()));
                self.opening_census = for_phases.then_some(OpeningCensus { ids, census });
            }
            Err(error) => self.note(format!("scope census before not taken: {error}")),
        }
    }

    /// The closing census: the opening one's documents again (with those new under the scope
    /// that this run took), the documents outside the scope that the store's change log lists
    /// as changed since the opening, and the documents of the scope deleted meanwhile.
    async fn census_after(&mut self) -> Option<CensusSummary> {
        let (scope, ids, mark) = self.census_scope.as_ref()?;
        let changed = self.store.changed_since(mark).await;
        let (mut taken, mut gone) = match &changed {
            Ok(changed) => self.taken_since_opening(scope, ids, changed).await,
            Err(_) => (Vec::new(), Vec::new()),
        };
        taken.sort();
        taken.dedup();
        // The opening's ids as they are (a copy only when the run took documents beside them).
        let merged;
        let ids: &[DocumentId] = if taken.is_empty() {
            ids
        } else {
            let mut all = ids.to_vec();
            all.extend(taken.iter().cloned());
            all.sort();
            all.dedup();
            merged = all;
            &merged
        };
        // Its summary alone: the closing census is reported, never compared digest by digest,
        // so it is folded as it is read, in memory that does not grow with the scope.
        match self.store.scope_census_summary(ids).await {
            Ok(census) => {
                // Fewer documents counted than asked for: some were deleted since (each is in
                // the change log, since it existed after the opening mark).
                let deleted = match &changed {
                    Ok(changed) if (census.census.documents as usize) < ids.len() => {
                        self.deleted_among(ids, changed).await
                    }
                    _ => Ok(Vec::new()),
                };
                match deleted {
                    Ok(deleted) => gone.extend(deleted),
                    Err(error) => self.note(format!(
                        "which documents of the scope were deleted meanwhile is not known: {error}"
                    )),
                }
                gone.sort();
                gone.dedup();
                let counted = |id: &DocumentId| {
                    taken.binary_search(id).is_ok() || gone.binary_search(id).is_ok()
                };
                let summary = self.summarise(&census.census, changed, counted);
                Some(summary.with_gone(&gone))
            }
            Err(error) => {
                self.note(format!("scope census after not taken: {error}"));
                None
            }
        }
    }

    /// Among `changed` (since the opening census), the documents written under `scope` after it
    /// (so not among its `ids`): those this run then took (its scope was resolved after the
    /// opening census, so it fenced or enacted them, and the closing census must count them),
    /// and those deleted since (the closing census must not call them new). Both empty when
    /// their heads cannot be read (the summary then reports them as new, not cut).
    async fn taken_since_opening(
        &self,
        scope: &Scope,
        ids: &[DocumentId],
        changed: &[DocumentId],
    ) -> (Vec<DocumentId>, Vec<DocumentId>) {
        let new: Vec<DocumentId> = changed
            .iter()
            .filter(|id| ids.binary_search(id).is_err() && scope.contains(id))
            .cloned()
            .collect();
        if new.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let Ok(heads) = self.store.load_heads(&Scope::Ids(new.clone())).await else {
            return (Vec::new(), Vec::new());
        };
        let fenced = DocumentState::Cutting {
            run: self.run.clone(),
        };
        let existing: BTreeSet<&DocumentId> = heads.iter().map(|head| &head.id).collect();
        let gone = new
            .iter()
            .filter(|id| !existing.contains(id))
            .cloned()
            .collect();
        let taken = heads
            .iter()
            .filter(|head| {
                head.state == fenced || head.active_generation.as_ref() == Some(&self.run)
            })
            .map(|head| head.id.clone())
            .collect();
        (taken, gone)
    }

    /// The documents of `ids` that `changed` lists and that no longer exist, their heads read a
    /// page at a time (only the missing ones are kept).
    async fn deleted_among(
        &self,
        ids: &[DocumentId],
        changed: &[DocumentId],
    ) -> AdapterResult<Vec<DocumentId>> {
        let candidates: Vec<&DocumentId> = changed
            .iter()
            .filter(|id| ids.binary_search(id).is_ok())
            .collect();
        let mut gone = Vec::new();
        for page in candidates.chunks(HEADS_PAGE as usize) {
            let wanted = Scope::Ids(page.iter().map(|id| (*id).clone()).collect());
            let heads = self.store.load_heads(&wanted).await?;
            let existing: BTreeSet<&DocumentId> = heads.iter().map(|head| &head.id).collect();
            gone.extend(
                page.iter()
                    .filter(|id| !existing.contains(*id))
                    .map(|id| (*id).clone()),
            );
        }
        Ok(gone)
    }

    /// The summary of `census`, a closing census of the invocation's scope, with the documents
    /// outside the scope changed since the opening census (left out when the change log cannot
    /// be read, which is noted); `counted` says whether `census` counted a document, as in
    /// [`summarise`](Self::summarise) (a census folded as it was read keeps no digests to ask).
    pub(crate) async fn closing_summary(
        &mut self,
        census: &Census,
        counted: impl Fn(&DocumentId) -> bool,
    ) -> CensusSummary {
        let Some((_, _, mark)) = &self.census_scope else {
            return CensusSummary::from(census);
        };
        let changed = self.store.changed_since(mark).await;
        self.summarise(census, changed, counted)
    }

    /// The summary of the closing `census` given what the change log listed since the opening;
    /// `counted` says whether the census counted a document the opening census did not hold.
    fn summarise(
        &mut self,
        census: &Census,
        changed: AdapterResult<Vec<DocumentId>>,
        counted: impl Fn(&DocumentId) -> bool,
    ) -> CensusSummary {
        let Some((scope, ids, _)) = &self.census_scope else {
            return CensusSummary::from(census);
        };
        match changed {
            Ok(changed) => {
                // A document the opening census did not hold (nor the closing one) is either
                // outside the scope, or under a scope such as `All` or a prefix but new since
                // the opening and not taken by this invocation: the report says so.
                let (appeared, outside): (Vec<DocumentId>, Vec<DocumentId>) = changed
                    .into_iter()
                    .filter(|id| ids.binary_search(id).is_err() && !counted(id))
                    .partition(|id| scope.contains(id));
                CensusSummary::with_changed_outside(census, &outside).with_appeared(&appeared)
            }
            Err(error) => {
                self.note(format!(
                    "what changed outside the scope since the opening census is not known: \
                     {error}"
                ));
                CensusSummary::from(census)
            }
        }
    }

    /// Journals a phase transition on a path that already ends the run; a failure is noted.
    pub(crate) async fn best_effort_phase(&mut self, record: &PhaseRecord) {
        if let Err(error) = self.journal.phase(record).await {
            self.note(format!(
                "journal not updated (phase `{}` {:?}): {error}",
                record.name, record.status
            ));
        }
    }

    /// Journals a run status on a path that already ends the run; a failure is noted.
    pub(crate) async fn best_effort_status(&mut self, status: RunStatus) {
        if let Err(error) = self.journal.status(status).await {
            self.note(format!("journal not updated (status {status:?}): {error}"));
        }
    }

    /// The outcome when a journal write fails: `REFUSED` if the kill switch refused it (nothing
    /// more is written), otherwise `FAILED` after a best-effort `Failed` status.
    pub(crate) async fn journal_failure(
        &mut self,
        error: AdapterError,
        resume_from: Option<String>,
        next: Vec<NextAction>,
    ) -> Outcome {
        if !matches!(error, AdapterError::GateClosed { .. }) {
            self.best_effort_status(RunStatus::Failed).await;
        }
        Outcome::refused_or_failed(error, resume_from, |error| {
            (format!("cannot write the journal: {error}"), next)
        })
    }

    /// What the run holds in the store now: its fences, staged generations and enacted
    /// documents over its scope.
    async fn holds(&self) -> Option<Footprint> {
        let scope = self.scope.as_ref()?;
        let heads = self.store.load_heads(scope).await.ok()?;
        let fenced = DocumentState::Cutting {
            run: self.run.clone(),
        };
        let mut footprint = Footprint::default();
        for head in &heads {
            if head.active_generation.as_ref() == Some(&self.run) {
                footprint.documents_enacted += 1;
                continue;
            }
            if head.state == fenced {
                footprint.documents_fenced += 1;
            }
            let generations = self.store.generations(&head.id).await.ok()?;
            if generations
                .iter()
                .any(|g| g.generation == self.run && g.state == GenerationState::Staged)
            {
                footprint.documents_staged += 1;
            }
        }
        Some(footprint)
    }

    /// Who stopped the run through its cancel flag, in the report's words: the heartbeat once
    /// the lease was lost, else the operator (SIGINT, SIGTERM, a server's cancel).
    pub(crate) fn cancelled_by(&self) -> &'static str {
        if self.heartbeat.as_ref().is_some_and(Heartbeat::is_lost) {
            "stopped as its lease was lost"
        } else {
            "cancelled by the operator"
        }
    }

    /// Step 5 of the template: stops the heartbeat and releases the lease (an outcome the lost
    /// lease cut short becomes "lease lost"), takes the closing census (when the invocation got
    /// as far as the opening one), emits `RunFinished` and assembles the report.
    pub(crate) async fn finish(
        mut self,
        outcome: Outcome,
        held_after: Option<String>,
    ) -> RunReport {
        let outcome = match self.heartbeat.take() {
            Some(heartbeat) => heartbeat.finish(outcome).await,
            None => outcome,
        };
        if self.census_before.is_some() && self.census_after.is_none() {
            self.census_after = self.census_after().await;
        }
        let holds = if outcome.is_success() {
            None
        } else {
            self.holds().await
        };
        let outcome = outcome.told_truly(self.journal.mutated(), holds.as_ref());
        info!(outcome = outcome.name(), "finished");
        crate::metrics::invocation(self.command, &outcome, &self.phases);
        self.emit(RunEvent::RunFinished {
            run: self.run.clone(),
            outcome: outcome.name().to_owned(),
        });
        let evidence = |key: iu_cutter_phase_core::evidence::EvidenceKey| {
            self.phases
                .iter()
                .rev()
                .find_map(|p| key.get(&p.evidence).map(str::to_owned))
        };
        let plan_sha256 = evidence(PLAN_SHA256).or(self.journal_plan_sha256.take());
        let backup_sha256 = evidence(BACKUP_SHA256)
            .or_else(|| self.rollback.as_ref().map(|c| c.backup_sha256.clone()))
            .or(self.journal_backup_sha256.take());
        let adapter = self.store.info();
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run: self.run,
            command: self.command,
            mode: if adapter.live { "live" } else { "simulate" }.to_owned(),
            started_at: self.started_at,
            finished_at: self.journal.now(),
            provenance: self.options.provenance.clone(),
            adapter,
            outcome,
            plan_sha256,
            backup_sha256,
            held_after,
            phases: self.phases,
            census_before: self.census_before,
            census_after: self.census_after,
            rollback: self.rollback,
            holds,
            attestation: None,
            notes: self.notes,
            lease_lost: self.journal.lease_lost().cloned(),
            duration_ms: elapsed_ms(self.started),
        }
    }
}

/// `REFUSED` for a closed kill switch, `FAILED` naming `again` for anything else.
fn preflight_outcome(
    run: &RunId,
    error: AdapterError,
    resume_from: Option<String>,
    again: NextAction,
) -> Outcome {
    if let AdapterError::GateClosed { switch, .. } = &error {
        warn!(%switch, "refused at preflight: the kill switch is closed");
    }
    Outcome::refused_or_failed(error, resume_from, |error| {
        warn!(%error, "preflight failed");
        (
            format!("preflight failed for run {run}: {error}"),
            vec![
                NextAction::fix("check that the store is reachable and writable"),
                again,
            ],
        )
    })
}

/// Milliseconds since `since`, saturating.
pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
