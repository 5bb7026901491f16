//! Rollback: take back a run's own marks (its fence, its generation, its enact) wherever a
//! document is exactly as the run left it, a batch of documents per store transaction, and
//! verify the result against the backup. The backup is trusted only when it hashes to the
//! sha256 journaled at backup time, and it is read through and checked whole before anything is
//! changed, then read again a batch at a time to restore from (memory holds a batch and a digest
//! per document, never the scope's bodies); a later run holding any of the documents refuses the
//! rollback before any change; an edit made since the backup, by anyone, is kept (see
//! `iu_cutter_live_execution::ownership`).

use std::collections::BTreeMap;
use std::time::Instant;

use iu_cutter_live_execution::ownership::{CurrentDocument, undo_step};
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Backup, Census, DocumentHead, DocumentId, DocumentSnapshot, DocumentState,
    Evidence, EvidenceValue, GenerationRecord, GenerationState, Kept, LiveExecutionAdapter,
    PhaseStatus, Restoration, RunId, RunRecord, RunStatus, RunningCensus, Scope, Sha256Digest,
    document_digest, sha256_hex,
};
use iu_cutter_phase_core::evidence::BACKUP_SHA256;
use iu_cutter_phase_core::{
    BackupReader, BackupReceipt, BatchTimes, DocumentBatches, Gap, HeaderDetail, PhaseRole,
};
use tracing::{info, warn};

use crate::error::RunnerError;
use crate::invocation::{Admission, Invocation, Opened, elapsed_ms};
use crate::journal::{ROLLBACK_PHASE, rollback_began};
use crate::next::NextAction;
use crate::options::RunOptions;
use crate::pipeline::Pipeline;
use crate::report::{
    CHANGED_SAMPLE, CensusSummary, Command, DigestMismatch, Outcome, PhaseEntryStatus,
    RollbackCheck, RunReport,
};

/// [`crate::Runner::rollback_with`].
pub(crate) async fn rollback(
    pipeline: &Pipeline,
    run: &RunId,
    options: &RunOptions,
) -> Result<RunReport, RunnerError> {
    let (mut inv, record) =
        match Invocation::open_journaled(pipeline, Command::Rollback, run, options).await? {
            Opened::Journaled(inv, record) => (inv, record),
            Opened::Unreadable(report) => return Ok(report),
        };
    let again = NextAction::rollback(run);
    inv.capture_journal_shas(&record);
    if let Some(outcome) = rolled_back_already(&record, &mut inv) {
        return Ok(inv.finish(outcome, None).await);
    }
    let admission = Admission {
        resume_from: None,
        again: again.clone(),
        needs_backup: false,
    };
    if let Err(outcome) = inv.admit(admission).await {
        return Ok(inv.finish(outcome, None).await);
    }
    // Another runner may have rolled the run back, or gone on with it, since the first read.
    let record = inv.reload(record).await;
    inv.capture_journal_shas(&record);
    if let Some(outcome) = rolled_back_already(&record, &mut inv) {
        return Ok(inv.finish(outcome, None).await);
    }
    let outcome = rollback_leased(pipeline, &record, &again, options, &mut inv).await;
    Ok(inv.finish(outcome, None).await)
}

/// `ROLLED_BACK` with nothing done when the journal shows the run rolled back.
fn rolled_back_already(record: &RunRecord, inv: &mut Invocation<'_>) -> Option<Outcome> {
    if record.status != RunStatus::RolledBack {
        return None;
    }
    inv.phases[0].status = PhaseEntryStatus::Skipped;
    if let Some(journaled) = record.phase(ROLLBACK_PHASE) {
        inv.phases[0].evidence = journaled.evidence.clone();
    }
    inv.note(format!(
        "run {} is already rolled back; nothing was done",
        record.run
    ));
    Some(Outcome::RolledBack)
}

/// Rollback once preflight passed and the lease (if any) is held. Before anything is changed,
/// a first pass reads the whole backup, a batch at a time: it must be the one journaled at backup
/// time and intact end to end (every body and unit hashed, the artifact against its sha256), no
/// later run may hold any of its documents, and it says what each document must look like once
/// rolled back ([`RestorePlan`]). A second pass restores and verifies a batch at a time, so that
/// neither memory nor any store transaction grows with the scope.
async fn rollback_leased(
    pipeline: &Pipeline,
    record: &RunRecord,
    again: &NextAction,
    options: &RunOptions,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let run = &record.run;
    let Some(journaled_sha256) = journaled_backup_sha256(pipeline, record) else {
        return nothing_to_restore(pipeline, record, inv).await;
    };
    // A rollback of the run began before this one (stopped part-way, or killed): the run is
    // rolled back in part whatever this one does, and no stop of it may say otherwise.
    let done = Restored::after(rollback_began(record));
    let unchanged = done.unchanged();
    let refused = |reason: String| Outcome::Refused {
        reason: format!("{reason}; {unchanged}"),
        switch: "backup".into(),
        next: vec![
            NextAction::fix(
                "put back an intact copy of the backup artifact (the store's journal holds one; \
                 the file export is in the backup directory)",
            ),
            again.clone(),
        ],
        resume_from: None,
    };
    let reader = match open_journaled(inv, run, &journaled_sha256, HeaderDetail::Full).await {
        Ok(reader) => reader,
        Err(reason) => return refused(reason),
    };
    let read_size = options.batch_documents.read_size();
    let store = inv.store().clone();
    let plan = match RestorePlan::read(store.as_ref(), run, reader, read_size).await {
        Ok(plan) => plan,
        Err(Unusable::Backup(reason)) => return refused(reason),
        Err(Unusable::Store(error)) => {
            return rollback_failed(
                inv,
                format!("cannot read the documents to restore: {error}; {unchanged}"),
                vec![
                    NextAction::fix("check that the store is reachable"),
                    again.clone(),
                ],
            );
        }
        Err(Unusable::Later(later)) => {
            let started_at = inv.journal.now();
            return stopped_by_later_run(run, &later, &done, &started_at, inv).await;
        }
    };
    // Read again to restore from: the same artifact, or nothing is changed.
    let reader = match open_journaled(inv, run, &journaled_sha256, HeaderDetail::Lean).await {
        Ok(reader) => reader,
        Err(reason) => return refused(reason),
    };
    restore(record, &plan, reader, options, done, inv).await
}

/// The run's backup opened to read, if it is the one journaled at backup time (its manifest's
/// sha256 is `journaled`); else why not.
async fn open_journaled(
    inv: &Invocation<'_>,
    run: &RunId,
    journaled: &str,
    detail: HeaderDetail,
) -> Result<BackupReader, String> {
    let reader = match inv.backups().open_with(run, detail).await {
        Ok(Some(reader)) => reader,
        Ok(None) => {
            return Err(format!(
                "run {run} journaled its backup (sha256 {journaled}), but neither the store nor \
                 the backup directory holds it"
            ));
        }
        Err(error) => {
            warn!(%error, "backup unusable");
            return Err(format!("cannot use the backup: {error}"));
        }
    };
    if reader.sha256() != journaled {
        warn!(journaled = %journaled, found = %reader.sha256(), "backup replaced");
        return Err(format!(
            "the backup of run {run} is not the one journaled at backup time (journaled sha256 \
             {journaled}, found {} at {})",
            reader.sha256(),
            reader.location()
        ));
    }
    Ok(reader)
}

/// What the first pass over a backup established, before anything is changed.
struct RestorePlan {
    /// The backup's header: its census and change mark (its documents are read again, a batch
    /// at a time, to restore).
    head: Backup,
    /// What the first pass learned of the backed-up documents.
    documents: Planned,
    /// The artifact read: its sha256 (the journaled one), where it is, what it holds.
    receipt: BackupReceipt,
}

/// What the first pass learned of the backed-up documents, in the backup's order: the second
/// pass reads the documents in that order again, and finds each one's by its place (a
/// snapshot's digest covers its document's id, so a document out of place reads as a changed
/// backup). No id is kept (the header's census has them), and 32 bytes a document.
#[derive(Default)]
struct Planned {
    /// Each snapshot, digested as the first pass read and checked it: the second pass restores
    /// from a snapshot only if it reads back the same.
    snapshots: Vec<Sha256Digest>,
    /// The digest a document's rollback must give back ([`expected_digest`]), by its place,
    /// where it is not the document's digest in the backup's census: that one is kept already,
    /// and is the expected one unless the store dropped a retired generation since.
    expected: BTreeMap<usize, Sha256Digest>,
}

/// What the first pass learned of one part of the backup, read again: its documents' places in
/// [`Planned`] from `from`, `len` of them (fewer than the part's where the backup grew since).
#[derive(Clone, Copy)]
struct PlannedPart<'p> {
    plan: &'p Planned,
    from: usize,
    len: usize,
}

impl<'p> PlannedPart<'p> {
    /// The `len` documents of `plan` from `from` (fewer past its end).
    fn of(plan: &'p Planned, from: usize, len: usize) -> Self {
        let len = len.min(plan.snapshots.len().saturating_sub(from));
        PlannedPart { plan, from, len }
    }

    /// The snapshot digest of the part's `at`-th document.
    fn snapshot(&self, at: usize) -> Option<Sha256Digest> {
        let at = (at < self.len).then_some(self.from + at)?;
        self.plan.snapshots.get(at).copied()
    }

    /// The digest the part's `at`-th document's rollback must give back; `census` is its digest
    /// in the backup's census.
    fn expected<'a>(
        &'a self,
        at: usize,
        census: Option<&'a Sha256Digest>,
    ) -> Option<&'a Sha256Digest> {
        if at >= self.len {
            return None;
        }
        self.plan.expected.get(&(self.from + at)).or(census)
    }
}

/// Why a rollback cannot start; nothing was changed.
enum Unusable {
    /// The backup is missing, replaced, tampered with or corrupt: why.
    Backup(String),
    /// The store could not be read.
    Store(AdapterError),
    /// A later run holds one of the documents.
    Later(LaterRun),
}

impl RestorePlan {
    /// Reads the whole backup from `reader`, `read_size` documents at a time, and checks it
    /// (see [`rollback_leased`]); only digests are kept.
    async fn read(
        store: &dyn LiveExecutionAdapter,
        run: &RunId,
        mut reader: BackupReader,
        read_size: usize,
    ) -> Result<RestorePlan, Unusable> {
        let mut documents = Planned::default();
        let mut receipt = BackupReceipt {
            sha256: reader.sha256().to_owned(),
            location: reader.location().to_owned(),
            documents: 0,
            units: 0,
        };
        let unusable = |error| Unusable::Backup(format!("cannot use the backup: {error}"));
        while let Some(batch) = reader.next_batch(read_size).await.map_err(unusable)? {
            let part = part_of(reader.head(), batch);
            part.check_for_run(run)
                .map_err(|e| Unusable::Backup(format!("the backup cannot be trusted: {e}")))?;
            plan_part(store, run, &part, &mut documents).await?;
            receipt.documents += part.documents.len() as u64;
            receipt.units += part
                .documents
                .iter()
                .map(|s| s.active_units.len() as u64)
                .sum::<u64>();
        }
        Ok(RestorePlan {
            // The header's census is kept once, not copied while the reader still holds it.
            head: reader.into_head(),
            documents,
            receipt,
        })
    }
}

/// Plans the restore of the documents of `part`: refuses if a later run holds any (as the store
/// would refuse, but before any batch changed anything), and appends their digests to `planned`,
/// in the part's order.
async fn plan_part(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    part: &Backup,
    planned: &mut Planned,
) -> Result<(), Unusable> {
    let heads = heads_of(store, part).await.map_err(Unusable::Store)?;
    for snapshot in &part.documents {
        let id = &snapshot.document.id;
        let generations = store.generations(id).await.map_err(Unusable::Store)?;
        if let Some(head) = heads.get(id) {
            undo_step(run, snapshot, Some(&as_read(head)), &generations).map_err(|error| {
                match error {
                    AdapterError::HeldByLaterRun {
                        document,
                        run,
                        found,
                    } => Unusable::Later(LaterRun {
                        document,
                        run,
                        found,
                    }),
                    other => Unusable::Store(other),
                }
            })?;
        }
        let expected = expected_digest(store, run, snapshot, &generations)
            .await
            .map_err(Unusable::Store)?;
        if part.census.per_document.get(id) != Some(&expected) {
            planned.expected.insert(planned.snapshots.len(), expected);
        }
        planned.snapshots.push(snapshot_digest(snapshot));
    }
    Ok(())
}

/// A document head as [`undo_step`] takes it, to ask it before any change what the store will
/// decide inside its transaction: only its marks matter to that question (whether a later run
/// holds the document), and the head has them; its body's hash is the recorded one.
fn as_read(head: &DocumentHead) -> CurrentDocument {
    CurrentDocument {
        revision: head.revision,
        sha256: head.sha256.clone(),
        body_sha256: head.sha256.clone(),
        state: head.state.clone(),
        active_generation: head.active_generation.clone(),
    }
}

/// A snapshot's digest: its document row, generation records and active units. With
/// [`Backup::check_for_run`] (bodies hash to their recorded sha256), equal digests mean the same
/// snapshot.
fn snapshot_digest(snapshot: &DocumentSnapshot) -> Sha256Digest {
    document_digest(
        &snapshot.document,
        &snapshot.generations,
        &snapshot.active_units,
    )
}

/// The heads of `part`'s documents, by id.
async fn heads_of(
    store: &dyn LiveExecutionAdapter,
    part: &Backup,
) -> Result<BTreeMap<DocumentId, DocumentHead>, AdapterError> {
    let ids = part
        .documents
        .iter()
        .map(|s| s.document.id.clone())
        .collect();
    Ok(store
        .load_heads(&Scope::Ids(ids))
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect())
}

/// A part of the backup: its header with `documents`, and the census's digests of those
/// documents only (what a store reads of it to restore them). The census's counts and
/// fingerprint stay the whole backup's.
fn part_of(head: &Backup, documents: Vec<DocumentSnapshot>) -> Backup {
    let per_document = documents
        .iter()
        .filter_map(|s| head.census.per_document.get_key_value(&s.document.id))
        .map(|(id, digest)| (id.clone(), *digest))
        .collect();
    Backup {
        schema_version: head.schema_version,
        run: head.run.clone(),
        census: Census {
            documents: head.census.documents,
            units: head.census.units,
            fingerprint: head.census.fingerprint.clone(),
            per_document,
        },
        mark: head.mark.clone(),
        entries: None,
        documents,
    }
}

/// A run whose backup phase never finished: nothing after it can have run, so nothing can hold
/// the run's marks; the store is checked all the same.
async fn nothing_to_restore(
    pipeline: &Pipeline,
    record: &RunRecord,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let run = &record.run;
    if let Err(outcome) = check_nothing_held(pipeline, record, inv).await {
        return outcome;
    }
    let started = Instant::now();
    let started_at = inv.journal.now();
    inv.phases[0].started_at = Some(started_at.clone());
    // A backup that failed or was stopped part-way left its parts for a resume to replace; a
    // rolled-back run is never resumed, so nothing else would drop them.
    let dropped = match inv.journal.discard_backup_parts().await {
        Ok(dropped) => dropped,
        Err(error) => return rollback_journal_failure(run, error, inv).await,
    };
    // Said now: the parts are gone whether or not the journal writes below go through (the
    // kill switch may close between them), and a rollback taken again finds none to drop.
    if dropped > 0 {
        inv.note(format!(
            "dropped the {dropped} journal part(s) of run {run}'s unfinished backup"
        ));
    }
    let mut evidence = Evidence::new();
    evidence.insert("restored_documents".into(), EvidenceValue::Count(0));
    evidence.insert("dropped_backup_parts".into(), EvidenceValue::Count(dropped));
    let done = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Done,
        evidence.clone(),
        None,
        &started_at,
    );
    if let Err(error) = inv.journal.phase(&done).await {
        return rollback_journal_failure(run, error, inv).await;
    }
    if let Err(error) = inv.journal.status(RunStatus::RolledBack).await {
        return rollback_journal_failure(run, error, inv).await;
    }
    inv.phases[0].status = PhaseEntryStatus::Done;
    inv.phases[0].evidence = evidence;
    inv.phases[0].duration_ms = Some(elapsed_ms(started));
    inv.note(format!(
        "run {run} has no backup and no phase after backup ran: nothing was fenced, nothing to \
         restore"
    ));
    info!("rolled back: nothing to restore");
    Outcome::RolledBack
}

/// `Err` when a run without a backup shows phases after the backup, or holds documents: there
/// is nothing to restore them from.
async fn check_nothing_held(
    pipeline: &Pipeline,
    record: &RunRecord,
    inv: &Invocation<'_>,
) -> Result<(), Outcome> {
    let run = &record.run;
    let again = NextAction::rollback(run);
    let later: Vec<&str> = record
        .phases
        .iter()
        .map(|p| p.name.as_str())
        .filter(|name| pipeline.is_after_backup(name))
        .collect();
    if !later.is_empty() {
        return Err(Outcome::Failed {
            error: format!(
                "run {run} has no journaled backup, yet phases after backup ran ({}); there is \
                 nothing to restore from",
                later.join(", ")
            ),
            resume_from: None,
            next: vec![
                NextAction::fix(
                    "nothing was changed; find the run's backup artifact (check the backup \
                     directory in the configuration)",
                ),
                again,
            ],
        });
    }
    match marked_documents(inv.store().as_ref(), record).await {
        Ok(marked) if marked.is_empty() => Ok(()),
        Ok(marked) => Err(Outcome::Failed {
            error: format!(
                "run {run} has no journaled backup, yet it holds documents ({}); there is \
                 nothing to restore them from",
                marked.join(", ")
            ),
            resume_from: None,
            next: vec![
                NextAction::fix("nothing was changed; find the run's backup artifact"),
                again,
            ],
        }),
        Err(error) => Err(Outcome::store_unreadable(
            format!("cannot read the run's scope: {error}"),
            again,
        )),
    }
}

/// The documents of the run's scope that it fences or that are active on its generation.
async fn marked_documents(
    store: &dyn LiveExecutionAdapter,
    record: &RunRecord,
) -> Result<Vec<String>, AdapterError> {
    let run = &record.run;
    let fenced = DocumentState::Cutting { run: run.clone() };
    Ok(store
        .load_heads(&record.scope)
        .await?
        .into_iter()
        .filter(|d| d.state == fenced || d.active_generation.as_ref() == Some(run))
        .map(|d| format!("`{}`", d.id))
        .collect())
}

/// Undoes the run's marks a batch of documents at a time, each batch one store transaction, and
/// verifies each batch once it is undone: against the digest of its backed-up rows where nobody
/// edited it since, by its marks where someone did (that edit is kept).
async fn restore(
    record: &RunRecord,
    plan: &RestorePlan,
    mut reader: BackupReader,
    options: &RunOptions,
    mut done: Restored,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let run = &record.run;
    let store = inv.store().clone();
    inv.take_census_summary_before(&record.scope).await;
    let started = Instant::now();
    let started_at = inv.journal.now();
    inv.phases[0].started_at = Some(started_at.clone());
    let running = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Running,
        Evidence::new(),
        None,
        &started_at,
    );
    if let Err(error) = inv.journal.phase(&running).await {
        return rollback_journal_failure(run, error, inv).await;
    }
    // `WholeScope`: the whole backup in one transaction, all or nothing, as configured.
    let size = match options.batch_documents {
        DocumentBatches::Of(n) => n.max(1),
        DocumentBatches::WholeScope => usize::MAX,
    };
    // Where the next part's documents are in the plan: the backup is read in the same order.
    let mut at = 0;
    loop {
        if options.cancel.is_cancelled() {
            return cancelled(run, &done, &started_at, inv).await;
        }
        let part = match reader.next_batch(size).await {
            Ok(Some(batch)) => part_of(&plan.head, batch),
            Ok(None) => break,
            Err(error) => {
                // Tampered with since the first pass, or unreadable now (the store's journal
                // unreachable): the error says which.
                let reason = format!("reading the backup again failed: {error}");
                return backup_changed(run, reason, &done, &started_at, inv).await;
            }
        };
        let planned = PlannedPart::of(&plan.documents, at, part.documents.len());
        at += part.documents.len();
        if let Err(outcome) = restore_part(run, &part, planned, &mut done, &started_at, inv).await {
            return outcome;
        }
    }
    let stitched = std::mem::take(&mut done.census).finish();
    let (census, changed_outside, changed_in_scope) =
        match census_after_restore(store.as_ref(), plan, &record.scope, stitched, inv).await {
            Ok(found) => found,
            Err(error) => {
                let why = format!("undone, but the census to verify it failed: {error}");
                return stopped_by_failure(run, why, &done, &started_at, inv).await;
            }
        };
    let Restored {
        restoration,
        mismatches,
        times,
        undone: done_undone,
        changed_by_others,
        changed_by_others_sample,
        purged_since_backup,
        purged_since_backup_sample,
        ..
    } = done;
    let check = RollbackCheck {
        backup_sha256: plan.receipt.sha256.clone(),
        restored_documents: done_undone,
        // Kept edits, documents left alone and those others changed are not as backed up
        // either: each is noted, and none may read as matching the backup.
        census_matches_backup: mismatches.is_empty()
            && restoration.kept_edits.is_empty()
            && restoration.left_alone.is_empty()
            && changed_by_others == 0,
        fingerprint_matches_pre_run: census.fingerprint == plan.head.census.fingerprint
            && changed_outside.is_empty()
            && !changed_in_scope,
        pre_run_fingerprint: plan.head.census.fingerprint.clone(),
        fingerprint_after: census.fingerprint.clone(),
        changed_outside_scope: changed_outside.into_iter().take(CHANGED_SAMPLE).collect(),
        mismatches,
        untouched_documents: restoration.untouched,
        kept_edits: restoration.kept_edits,
        left_alone: restoration.left_alone,
        changed_by_others,
        changed_by_others_sample,
        purged_since_backup,
        purged_since_backup_sample,
    };
    finish_rollback(run, check, &times, &started_at, started, inv).await
}

/// Restores and verifies one batch, `part`, into `done`; `planned` is what the first pass
/// learned of its documents, in order (fewer than the part's where the backup grew since);
/// `Err` is the outcome that ends the rollback there.
async fn restore_part(
    run: &RunId,
    part: &Backup,
    planned: PlannedPart<'_>,
    done: &mut Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Result<(), Outcome> {
    let store = inv.store().clone();
    if let Some(reason) = differs_from_plan(run, part, planned) {
        return Err(backup_changed(run, reason, done, started_at, inv).await);
    }
    let restoration = match done.times.time(store.restore(run, part)).await {
        Ok(restoration) => restoration,
        Err(AdapterError::HeldByLaterRun {
            document,
            run: holder,
            found,
        }) => {
            let later = LaterRun {
                document,
                run: holder,
                found,
            };
            return Err(stopped_by_later_run(run, &later, done, started_at, inv).await);
        }
        Err(error) => return Err(restore_failed(run, error, done, started_at, inv).await),
    };
    // Committed: part of what the rollback did, whatever the checks below find. The undone
    // documents are counted, not listed (a list would grow with the scope).
    done.undone += restoration.undone.len() as u64;
    done.restoration.absorb(Restoration {
        undone: Vec::new(),
        ..restoration.clone()
    });
    let ids: Vec<DocumentId> = part
        .documents
        .iter()
        .map(|s| s.document.id.clone())
        .collect();
    let census = match store.scope_census(&ids).await {
        Ok(census) => census.census,
        Err(error) => {
            let why = format!("undone, but the census to verify it failed: {error}");
            return Err(stopped_by_failure(run, why, done, started_at, inv).await);
        }
    };
    let verified = verify_restored(store.as_ref(), run, part, &restoration, planned, &census);
    match verified.await {
        Ok(Verified {
            mismatches,
            changed,
            purged,
        }) => {
            done.purged_since_backup += purged.len() as u64;
            let room = CHANGED_SAMPLE.saturating_sub(done.purged_since_backup_sample.len());
            done.purged_since_backup_sample
                .extend(purged.into_iter().take(room));
            done.mismatches.extend(mismatches);
            done.changed_by_others += changed.len() as u64;
            let room = CHANGED_SAMPLE.saturating_sub(done.changed_by_others_sample.len());
            done.changed_by_others_sample
                .extend(changed.into_iter().take(room));
        }
        Err(error) => {
            let why = format!("undone, but reading the documents back failed: {error}");
            return Err(stopped_by_failure(run, why, done, started_at, inv).await);
        }
    }
    if let Err(error) = done.census.extend(census) {
        let why = format!("undone, but the census to verify it failed: {error}");
        return Err(stopped_by_failure(run, why, done, started_at, inv).await);
    }
    Ok(())
}

/// What a rollback has done so far, batch by batch.
#[derive(Default)]
struct Restored {
    /// A rollback of the run began before this one: the run is rolled back in part already.
    began_before: bool,
    /// Documents undone by this rollback (`restoration` lists the kept edits and the documents
    /// left alone, not these).
    undone: u64,
    restoration: Restoration,
    /// The census of the undone batches, each taken once it was undone, folded as it comes (its
    /// digests were compared batch by batch; keeping them would grow with the scope).
    census: RunningCensus,
    mismatches: Vec<DigestMismatch>,
    /// Backed-up documents the run never marked that another run or the application changed
    /// since the backup (left as they are, not compared): how many, and the first of them.
    changed_by_others: u64,
    changed_by_others_sample: Vec<DocumentId>,
    /// Retired generations purged since the backup, not given back: how many, and the first.
    purged_since_backup: u64,
    purged_since_backup_sample: Vec<Kept>,
    times: BatchTimes,
}

impl Restored {
    /// Nothing done yet, by a rollback that follows one that began (`began_before`) or not.
    fn after(began_before: bool) -> Self {
        Restored {
            began_before,
            ..Restored::default()
        }
    }

    /// Whether the store is as it was before any rollback of the run: nothing undone by this
    /// one, and none began before it.
    fn nothing_changed(&self) -> bool {
        !self.began_before && self.undone == 0
    }

    /// What a stop that undid nothing (in this invocation) leaves, in words.
    fn unchanged(&self) -> &'static str {
        if self.began_before {
            "nothing was changed by this invocation, and the run is still rolled back in part by \
             an earlier rollback"
        } else {
            "nothing was changed"
        }
    }

    /// How far the rollback got, in words, for a stop part-way.
    fn how_far(&self) -> String {
        let undone = self.undone;
        if self.began_before {
            format!(
                "an earlier rollback of the run had begun, so the run is rolled back in part: \
                 {undone} more document(s) were rolled back by this one, the rest were not changed"
            )
        } else {
            format!(
                "{undone} document(s) of the batches before it were rolled back, the rest were \
                 not changed"
            )
        }
    }

    /// How far the rollback got, in words, when the store failed a batch without saying
    /// whether it committed ([`AdapterError::may_have_been_applied`]).
    fn how_far_after_unknown(&self) -> String {
        let earlier = if self.began_before {
            "an earlier rollback of the run had begun, so the run is rolled back in part; "
        } else {
            ""
        };
        format!(
            "{earlier}{} document(s) of the batches before this one were rolled back; whether \
             this batch was committed is not known (the store's error does not say), and no \
             batch after it was started",
            self.undone
        )
    }

    /// The evidence of a stop part-way: documents restored, batches and the longest.
    fn evidence(&self) -> Evidence {
        let mut evidence = Evidence::new();
        evidence.insert(
            "restored_documents".into(),
            EvidenceValue::Count(self.undone),
        );
        self.times.record_in(&mut evidence);
        evidence
    }
}

/// The store failed a batch's restore (`error`): a closed kill switch is `REFUSED` (its journal
/// writes are refused too); an error after which the batch may have committed is a stop part-way
/// (`BLOCKED`) that says so; anything else changed nothing, and is `FAILED` while nothing was
/// changed, else a stop part-way. Each says how far the rollback got; rolling back again finishes
/// it.
async fn restore_failed(
    run: &RunId,
    error: AdapterError,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    warn!(%error, "a batch of the rollback failed");
    inv.phases[0].status = entry_status(&error);
    inv.phases[0].detail = Some(error.to_string());
    inv.phases[0].evidence = done.evidence();
    if error.may_have_been_applied() {
        // The store cannot say whether the batch committed (a lost connection, a failed
        // commit): never "nothing was changed"; rolled back in part, perhaps, and finished by
        // rolling back again.
        let found = format!(
            "restoring the next batch failed: {error}; {}",
            done.how_far_after_unknown()
        );
        let gap = unfinished(run, found);
        let evidence = done.evidence();
        return journal_blocked(gap, evidence, started_at, inv).await;
    }
    let how_far = if !done.nothing_changed() {
        done.how_far()
    } else if error.is_gate_closed() {
        // The closed switch refuses the journal's writes too: the rollback's start, journaled
        // before this batch, stays, and a begun rollback ends the run (never "nothing").
        format!(
            "no document was changed, but the journal keeps the rollback's start (the closed \
             switch refuses taking it back), so run {run} can only be rolled back now: roll it \
             back once the switch is open"
        )
    } else {
        "nothing was changed".to_owned()
    };
    match error {
        AdapterError::GateClosed {
            switch,
            how_to_open,
        } => match Outcome::gate_closed(switch, how_to_open, None) {
            Outcome::Refused {
                reason,
                switch,
                mut next,
                resume_from,
            } => {
                next.push(NextAction::rollback(run));
                Outcome::Refused {
                    reason: format!("{reason} before the next batch of the rollback; {how_far}"),
                    switch,
                    next,
                    resume_from,
                }
            }
            other => other,
        },
        error if done.nothing_changed() => {
            // The run stays as it was (its status untouched, its rollback journaled `failed`):
            // a rollback that changed nothing leaves no run rolled back in part.
            let error = format!("restoring a batch failed: {error}; {how_far}");
            let error = journal_unchanged(inv, &error, PhaseEntryStatus::Failed, started_at).await;
            Outcome::Failed {
                error,
                resume_from: None,
                next: retry(&NextAction::rollback(run)),
            }
        }
        error => {
            let why = format!("restoring the next batch failed: {error}");
            stopped_by_failure(run, why, done, started_at, inv).await
        }
    }
}

/// The rollback stops on `why` (a batch the store failed, or a check after a committed batch
/// that could not be made): if it changed the store, `BLOCKED`, rolled back in part, saying how
/// far it got; else `FAILED`. Rolling back again (idempotent) finishes it.
async fn stopped_by_failure(
    run: &RunId,
    why: String,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    if done.nothing_changed() {
        let why = journal_unchanged(inv, &why, PhaseEntryStatus::Failed, started_at).await;
        return rollback_failed(inv, why, retry(&NextAction::rollback(run)));
    }
    warn!(%why, "rollback stopped part-way");
    stopped_part_way(unfinished(run, why), done, started_at, inv).await
}

/// The gap of a rollback stopped before its last batch was restored and verified (`found`
/// says why); rolling back again finishes it.
fn unfinished(run: &RunId, found: String) -> Gap {
    Gap {
        phase: ROLLBACK_PHASE.into(),
        document: None,
        unit: None,
        expected: "every batch of the backup restored and verified".into(),
        found,
        next: retry(&NextAction::rollback(run)),
    }
}

/// Why `part`, read again to restore from, is not what the first pass checked, if it is not:
/// the artifact changed in between (its bytes are checked against the manifest only at its
/// end, too late for the batches before).
fn differs_from_plan(run: &RunId, part: &Backup, planned: PlannedPart<'_>) -> Option<String> {
    if let Err(error) = part.check_for_run(run) {
        return Some(format!("the backup changed since it was checked: {error}"));
    }
    part.documents
        .iter()
        .enumerate()
        .find_map(|(at, snapshot)| {
            let id = &snapshot.document.id;
            let planned = planned.snapshot(at);
            (planned != Some(snapshot_digest(snapshot))).then(|| {
                format!(
                    "the backup changed since it was checked: document `{id}` reads differently \
                 than before the rollback began"
                )
            })
        })
}

/// The rollback stops because its backup changed between the check and the restore (`reason`).
/// Nothing undone yet: refused, and the run stays as it was. Else the batches before stay
/// undone (and verified) and the run is `BLOCKED`: rolled back in part.
async fn backup_changed(
    run: &RunId,
    reason: String,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    warn!(%reason, "rollback stopped");
    let put_back = NextAction::fix(
        "put back an intact copy of the backup artifact (the store's journal holds one; the \
         file export is in the backup directory), and find what changed it",
    );
    let next = vec![put_back, NextAction::rollback(run)];
    if done.nothing_changed() {
        let reason = format!("{reason}; nothing was changed");
        let reason = journal_unchanged(inv, &reason, PhaseEntryStatus::Refused, started_at).await;
        return Outcome::Refused {
            reason,
            switch: "backup".into(),
            next,
            resume_from: None,
        };
    }
    let gap = Gap {
        phase: ROLLBACK_PHASE.into(),
        document: None,
        unit: None,
        expected: "the backup checked before the rollback began".into(),
        found: reason,
        next,
    };
    stopped_part_way(gap, done, started_at, inv).await
}

/// The rollback was cancelled (SIGINT, SIGTERM, the embedder's flag) before its next batch.
/// Nothing undone yet: `FAILED`, the run as it was. Else `BLOCKED`, rolled back in part.
async fn cancelled(
    run: &RunId,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    warn!("rollback cancelled");
    if done.nothing_changed() {
        let error = "cancelled before the first batch was restored; nothing was changed";
        let error = journal_unchanged(inv, error, PhaseEntryStatus::Failed, started_at).await;
        return Outcome::Failed {
            error,
            resume_from: None,
            next: vec![NextAction::rollback(run)],
        };
    }
    let gap = Gap {
        phase: ROLLBACK_PHASE.into(),
        document: None,
        unit: None,
        expected: "every batch of the backup restored".into(),
        found: "cancelled between two batches".into(),
        next: vec![NextAction::rollback(run)],
    };
    stopped_part_way(gap, done, started_at, inv).await
}

/// Journals a rollback stopped part-way as `BLOCKED` (the run is rolled back in part and must
/// not be resumed into a cut; rolling back again, idempotent, finishes it), saying how far it
/// got.
async fn stopped_part_way(
    mut gap: Gap,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    gap.found = format!("{}; {}", gap.found, done.how_far());
    let evidence = done.evidence();
    inv.phases[0].evidence = evidence.clone();
    journal_blocked(gap, evidence, started_at, inv).await
}

/// Journals the rollback and the run `BLOCKED` on `gap`, and reports it so.
async fn journal_blocked(
    gap: Gap,
    evidence: Evidence,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let detail = gap.to_string();
    inv.phases[0].status = PhaseEntryStatus::Blocked;
    inv.phases[0].detail = Some(detail.clone());
    let blocked = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Blocked,
        evidence,
        Some(detail),
        started_at,
    );
    inv.best_effort_phase(&blocked).await;
    inv.best_effort_status(RunStatus::Blocked).await;
    Outcome::Blocked { gap }
}

/// The census to verify a restore against the backup's (`census`, stitched from the undone
/// batches' own), the documents outside the run's `scope` changed since the backup (the
/// store's change log since the backup's mark, outside the backed-up documents), and whether
/// documents of the scope outside the backup changed (added under a prefix since: noted, and
/// the scope is not as before the run). A backup written before scope censuses holds the whole
/// store's census and no mark: the whole store's census, as then (noted), whose fingerprint
/// says whether anything outside the scope changed.
async fn census_after_restore(
    store: &dyn LiveExecutionAdapter,
    plan: &RestorePlan,
    scope: &Scope,
    census: Census,
    inv: &mut Invocation<'_>,
) -> Result<(Census, Vec<DocumentId>, bool), AdapterError> {
    let Some(mark) = &plan.head.mark else {
        inv.note(
            "the backup predates scope censuses (no change mark): the whole store's census was \
             read to verify the rollback"
                .into(),
        );
        let census = store.census().await?;
        inv.census_after = Some(CensusSummary::from(&census));
        return Ok((census, Vec::new(), false));
    };
    let (in_scope, changed_outside): (Vec<DocumentId>, Vec<DocumentId>) = store
        .changed_since(mark)
        .await?
        .into_iter()
        .filter(|id| !in_backup(plan, id))
        .partition(|id| scope.contains(id));
    if !in_scope.is_empty() {
        inv.note(format!(
            "{} document(s) of the run's scope that it never backed up changed since its \
             backup (added since by the application or another writer; not the run's, left as \
             they are, so the scope is not as before the run): {}",
            in_scope.len(),
            in_scope
                .iter()
                .take(CHANGED_SAMPLE)
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let counted = |id: &DocumentId| in_backup(plan, id);
    inv.census_after = Some(inv.closing_summary(&census, counted).await);
    Ok((census, changed_outside, !in_scope.is_empty()))
}

/// Whether the backup holds `id`: its census's documents are the backup's (the backup phase
/// writes a snapshot of each, in the census's order).
fn in_backup(plan: &RestorePlan, id: &DocumentId) -> bool {
    plan.head.census.per_document.contains_key(id)
}

/// Why the scope's fingerprint differs from the pre-run one while every document compared
/// matches the backup, unless the note of the documents others changed says it already.
fn fingerprint_note(check: &RollbackCheck) -> Option<String> {
    if check.fingerprint_matches_pre_run || !check.mismatches.is_empty() {
        return None;
    }
    // Only documents added to the scope since the backup: noted on their own, and the
    // fingerprint of the backed-up documents is the pre-run one.
    if check.changed_outside_scope.is_empty()
        && check.fingerprint_after == check.pre_run_fingerprint
    {
        return None;
    }
    let outside = check
        .changed_outside_scope
        .iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let outside = format!(
        "documents outside the run's scope changed since the backup (something outside the run \
         changed the store; not undone): {outside}"
    );
    if check.changed_by_others > 0 {
        // Those documents are not as backed up: never say the run's documents match it.
        return (!check.changed_outside_scope.is_empty()).then_some(outside);
    }
    // An edit kept over the run's marks is not as backed up either (noted on its own).
    let matched = match (check.kept_edits.is_empty(), check.purged_since_backup == 0) {
        (true, true) => "the run's documents match the backup",
        (false, true) => "the run's other documents match the backup",
        (true, false) => "the run's documents match the backup less the purged generations",
        (false, false) => "the run's other documents match the backup less the purged generations",
    };
    Some(if check.changed_outside_scope.is_empty() {
        format!(
            "{matched}, but the store's fingerprint differs from the pre-run one: something \
             outside the run changed the store since the backup"
        )
    } else {
        format!("{matched}; {outside}")
    })
}

/// The note naming the retired generations a purge removed since the backup, which the
/// rollback did not give back.
fn purged_note(check: &RollbackCheck) -> String {
    format!(
        "{} retired generation(s) of the run's documents were purged since its backup and were \
         not given back (a rollback never recreates a purged generation; those documents were \
         compared with the backup less them): {}",
        check.purged_since_backup,
        sample(
            check
                .purged_since_backup_sample
                .iter()
                .map(|k| format!("`{}`: {}", k.document, k.reason)),
            "; ",
            check.purged_since_backup,
        )
    )
}

/// The note naming the documents of the scope that others changed since the backup.
fn changed_by_others_note(check: &RollbackCheck) -> String {
    format!(
        "{} document(s) of the run's scope were changed since its backup by another run or the \
         application, not by this run: left as they are, so not as backed up: {}",
        check.changed_by_others,
        sample(
            check
                .changed_by_others_sample
                .iter()
                .map(|id| format!("`{id}`")),
            ", ",
            check.changed_by_others,
        )
    )
}

/// The `shown` items of a sample of `total`, joined by `separator`, and how many more there are.
fn sample(shown: impl Iterator<Item = String>, separator: &str, total: u64) -> String {
    let shown: Vec<String> = shown.collect();
    let more = total.saturating_sub(shown.len() as u64);
    let mut said = shown.join(separator);
    if more > 0 {
        said.push_str(&format!(" and {more} more"));
    }
    said
}

/// Journals the verified rollback: `ROLLED_BACK`, or `BLOCKED` on the first document that
/// differs from what the rollback should have left, or that it had to leave alone.
async fn finish_rollback(
    run: &RunId,
    check: RollbackCheck,
    times: &BatchTimes,
    started_at: &str,
    started: Instant,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let again = NextAction::rollback(run);
    let mut evidence = rollback_evidence(&check);
    times.record_in(&mut evidence);
    inv.phases[0].evidence = evidence.clone();
    inv.phases[0].duration_ms = Some(elapsed_ms(started));
    for kept in &check.kept_edits {
        inv.note(format!("document `{}`: {}", kept.document, kept.reason));
    }
    if check.changed_by_others > 0 {
        inv.note(changed_by_others_note(&check));
    }
    if check.purged_since_backup > 0 {
        inv.note(purged_note(&check));
    }
    if let Some(note) = fingerprint_note(&check) {
        inv.note(note);
    }
    if let Some(gap) = rollback_gap(&check, &again) {
        warn!(gap = %gap, "rollback verification failed");
        inv.rollback = Some(check);
        return journal_blocked(gap, evidence, started_at, inv).await;
    }
    inv.rollback = Some(check);
    let done = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Done,
        evidence,
        None,
        started_at,
    );
    if let Err(error) = inv.journal.phase(&done).await {
        return rollback_journal_failure(run, error, inv).await;
    }
    if let Err(error) = inv.journal.status(RunStatus::RolledBack).await {
        return rollback_journal_failure(run, error, inv).await;
    }
    inv.phases[0].status = PhaseEntryStatus::Done;
    info!("rolled back and verified");
    Outcome::RolledBack
}

/// A later run holds one of the documents. While nothing is undone (`done`, none by this
/// invocation nor by an earlier rollback of the run): `REFUSED`, the store changed nothing, the journal entry (`failed`, with the
/// reason) says so, and the run stays resumable. A later run that took a document between two
/// batches, after the first pass found none held: the batches before stay undone, and the run is
/// `BLOCKED`, rolled back in part, until the later run is rolled back and this one again.
async fn stopped_by_later_run(
    run: &RunId,
    later: &LaterRun,
    done: &Restored,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let LaterRun {
        document,
        run: holder,
        found,
    } = later;
    if !done.nothing_changed() {
        warn!(%document, later = %holder, "rollback stopped part-way: a later run holds a document");
        let gap = Gap {
            phase: ROLLBACK_PHASE.into(),
            document: Some(document.clone()),
            unit: None,
            expected: format!("document `{document}` as run {run} left it"),
            found: format!(
                "held by run {holder}, which took it while {run} was being rolled back ({found})"
            ),
            next: vec![NextAction::rollback(holder), NextAction::rollback(run)],
        };
        return stopped_part_way(gap, done, started_at, inv).await;
    }
    warn!(%document, later = %holder, "rollback refused: a later run holds a document");
    let reason = format!(
        "document `{document}` is held by run {holder}, which came after run {run} \
         ({found}); rolling back {run} now would destroy {holder}'s work, so nothing was \
         changed"
    );
    let reason = journal_unchanged(inv, &reason, PhaseEntryStatus::Refused, started_at).await;
    Outcome::Refused {
        reason,
        switch: "later run".into(),
        next: vec![NextAction::rollback(holder), NextAction::rollback(run)],
        resume_from: None,
    }
}

/// Journals the rollback `failed` with `reason` when it stops before changing anything
/// (`failed`, not `blocked`: the run stays as it was, resumable), and reports the step `status`.
/// Returns what the outcome must say: `reason`, or, when the journal refused the write, that the
/// journal keeps the rollback's start, so the run can only be rolled back now (never only
/// "nothing was changed" of a run that now shows a rollback begun).
async fn journal_unchanged(
    inv: &mut Invocation<'_>,
    reason: &str,
    status: PhaseEntryStatus,
    started_at: &str,
) -> String {
    let failed = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Failed,
        Evidence::new(),
        Some(reason.to_owned()),
        started_at,
    );
    let told = match inv.journal.phase(&failed).await {
        Ok(()) => reason.to_owned(),
        Err(error) => format!(
            "{reason}; but the journal could not record that this rollback ended ({error}): it \
             keeps the rollback's start, so the run can only be rolled back now: roll it back \
             again"
        ),
    };
    inv.phases[0].status = status;
    inv.phases[0].detail = Some(told.clone());
    told
}

/// Compares every backed-up document with what the rollback must leave, whether this
/// invocation undid it or an earlier, interrupted or blocked one did (a retry undoes nothing
/// and must still not pass over a difference):
/// - a document that still carries the run's marks differs;
/// - a document another run holds or cut since the backup is not the run's to compare (a
///   rollback that had to undo the run's marks on it was refused before any change);
/// - a document edited since the backup (the store kept the edit) must carry no mark of the
///   run and the pre-run active generation;
/// - any other must equal its backed-up rows: its digest, and its active units' bodies, which
///   the census knows only by their recorded sha256.
async fn verify_restored(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    part: &Backup,
    restoration: &Restoration,
    planned: PlannedPart<'_>,
    census: &Census,
) -> Result<Verified, AdapterError> {
    let heads = heads_of(store, part).await?;
    let mut mismatches = Vec::new();
    let mut changed = Vec::new();
    let mut purged_since = Vec::new();
    for (at, snapshot) in part.documents.iter().enumerate() {
        let id = &snapshot.document.id;
        if restoration.left_alone.iter().any(|k| k.document == *id) {
            continue; // reported on its own, with the reason
        }
        let mismatch = |expected: String, found: String| DigestMismatch {
            document: id.clone(),
            expected,
            found: Some(found),
        };
        let Some(head) = heads.get(id) else {
            if restoration.kept_edits.iter().any(|k| k.document == *id) {
                continue; // deleted since the backup, before this batch: reported as kept
            }
            mismatches.push(DigestMismatch {
                document: id.clone(),
                expected: "the document".into(),
                found: None,
            });
            continue;
        };
        let generations = store.generations(id).await?;
        match classify(run, snapshot, head, &generations) {
            Standing::Marked(found) => mismatches.push(mismatch(
                format!("none of run {run}'s marks and the pre-run active generation"),
                found,
            )),
            // Not the run's to compare, and not as backed up either: said, never counted as a
            // match (an edit the store kept over the run's marks is reported as such already).
            Standing::HeldByAnother | Standing::Edited => {
                if !restoration.kept_edits.iter().any(|k| k.document == *id) {
                    changed.push(id.clone());
                }
            }
            Standing::AsBackedUp => {
                purged_since.extend(purged_generations(run, snapshot, &generations));
                let mut expected = planned
                    .expected(at, part.census.per_document.get(id))
                    .copied();
                let found = census.per_document.get(id);
                if expected.is_some()
                    && expected.as_ref() != found
                    && purged(run, snapshot, &generations)
                {
                    // A purge may have dropped a retired generation since the plan: what the
                    // rollback must give back is then the backup less it, as for a purge before.
                    expected = Some(expected_digest(store, run, snapshot, &generations).await?);
                }
                let expected = expected.as_ref();
                if expected.is_none() || expected != found {
                    mismatches.push(DigestMismatch {
                        document: id.clone(),
                        expected: expected
                            .map_or_else(|| "(not in the backup)".into(), Sha256Digest::hex),
                        found: found.map(Sha256Digest::hex),
                    });
                    continue;
                }
                if let Some(found) = active_units_differ(store, snapshot).await? {
                    mismatches.push(mismatch(
                        "the backed-up active units, byte for byte".into(),
                        found,
                    ));
                }
            }
        }
    }
    Ok(Verified {
        mismatches,
        changed,
        purged: purged_since,
    })
}

/// The retired generations `snapshot` holds (not `run`'s) that are gone from `present`, each as
/// the report names it.
fn purged_generations<'a>(
    run: &'a RunId,
    snapshot: &'a DocumentSnapshot,
    present: &'a [GenerationRecord],
) -> impl Iterator<Item = Kept> + 'a {
    snapshot
        .generations
        .iter()
        .filter(move |g| {
            g.state == GenerationState::Retired
                && g.generation != *run
                && !present.iter().any(|p| p.generation == g.generation)
        })
        .map(|g| Kept {
            document: snapshot.document.id.clone(),
            reason: format!("retired generation `{}`", g.generation),
        })
}

/// Whether a retired generation `snapshot` holds (not `run`'s) is gone from `present`: purged
/// since the backup.
fn purged(run: &RunId, snapshot: &DocumentSnapshot, present: &[GenerationRecord]) -> bool {
    purged_generations(run, snapshot, present).next().is_some()
}

/// What the verification of one restored batch found.
struct Verified {
    /// Documents that differ from what the rollback should have left.
    mismatches: Vec<DigestMismatch>,
    /// Documents the run never marked that others changed since the backup, in batch order.
    changed: Vec<DocumentId>,
    /// Retired generations of the batch's documents purged since the backup, in batch order.
    purged: Vec<Kept>,
}

/// How the document's active units differ from the backed-up ones (bodies hashed now), if
/// they do.
async fn active_units_differ(
    store: &dyn LiveExecutionAdapter,
    snapshot: &DocumentSnapshot,
) -> Result<Option<String>, AdapterError> {
    let Some(active) = &snapshot.document.active_generation else {
        return Ok(None);
    };
    let stored = store
        .generation_units(&snapshot.document.id, active)
        .await?;
    if stored.len() != snapshot.active_units.len() {
        return Ok(Some(format!(
            "{} units in generation {active}, {} backed up",
            stored.len(),
            snapshot.active_units.len()
        )));
    }
    for (unit, backed_up) in stored.iter().zip(&snapshot.active_units) {
        let body_sha256 = sha256_hex(unit.body.as_bytes());
        if unit.ordinal != backed_up.ordinal || body_sha256 != backed_up.sha256 {
            return Ok(Some(format!(
                "unit {} of generation {active} has a body hashing to {body_sha256}, \
                 backed up as {}",
                unit.ordinal, backed_up.sha256
            )));
        }
    }
    Ok(None)
}

/// The digest the rollback of `snapshot`'s document must give back, computed from the backup's
/// own rows: the document row, its generation records (less retired generations purged since
/// the backup, which a rollback does not bring back; `present` are the store's records now), its
/// backed-up active units and, for its other generations (which no run touches), their units
/// as the store holds them.
///
/// Not the backup's census: that was taken as the invocation opened, and another runner may
/// have changed a document between it and the backup's read (then the fence refused, or the
/// rows read are the truth the fence compared against).
async fn expected_digest(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    snapshot: &DocumentSnapshot,
    present: &[GenerationRecord],
) -> Result<Sha256Digest, AdapterError> {
    let id = &snapshot.document.id;
    let mut generations = snapshot.generations.clone();
    generations.retain(|g| {
        g.state != GenerationState::Retired
            || &g.generation == run
            || present.iter().any(|p| p.generation == g.generation)
    });
    let active = snapshot.document.active_generation.as_ref();
    let mut units = snapshot.active_units.clone();
    for record in &generations {
        if Some(&record.generation) != active && &record.generation != run {
            units.extend(store.generation_units(id, &record.generation).await?);
        }
    }
    Ok(document_digest(&snapshot.document, &generations, &units))
}

async fn rollback_journal_failure(
    run: &RunId,
    error: AdapterError,
    inv: &mut Invocation<'_>,
) -> Outcome {
    if inv.phases[0].status == PhaseEntryStatus::NotRun {
        inv.phases[0].status = if error.is_gate_closed() {
            PhaseEntryStatus::Refused
        } else {
            PhaseEntryStatus::Failed
        };
        inv.phases[0].detail = Some(error.to_string());
    }
    let again = vec![
        NextAction::fix("retry: restoring is idempotent"),
        NextAction::rollback(run),
    ];
    inv.journal_failure(error, None, again).await
}

/// A later run that holds a document the rollback would touch.
struct LaterRun {
    document: DocumentId,
    run: RunId,
    found: String,
}

/// The backup's sha256 as the backup phase journaled it, if that phase finished.
fn journaled_backup_sha256(pipeline: &Pipeline, record: &RunRecord) -> Option<String> {
    let name = pipeline.name_of(PhaseRole::Backup)?;
    record
        .phase(name)
        .filter(|p| p.status == PhaseStatus::Done)
        .and_then(|p| BACKUP_SHA256.get(&p.evidence))
        .map(str::to_owned)
}

fn entry_status(error: &AdapterError) -> PhaseEntryStatus {
    if error.is_gate_closed() {
        PhaseEntryStatus::Refused
    } else {
        PhaseEntryStatus::Failed
    }
}

/// Try `again`: rolling back is idempotent.
fn retry(again: &NextAction) -> Vec<NextAction> {
    vec![
        NextAction::fix("retry: rolling back is idempotent"),
        again.clone(),
    ]
}

/// `FAILED` with nothing to resume from, the rollback step marked failed in the report.
fn rollback_failed(inv: &mut Invocation<'_>, error: String, next: Vec<NextAction>) -> Outcome {
    inv.phases[0].status = PhaseEntryStatus::Failed;
    Outcome::Failed {
        error,
        resume_from: None,
        next,
    }
}

fn rollback_evidence(check: &RollbackCheck) -> Evidence {
    Evidence::from([
        BACKUP_SHA256.with(check.backup_sha256.clone()),
        (
            "restored_documents".to_owned(),
            check.restored_documents.into(),
        ),
        ("kept_edits".to_owned(), check.kept_edits.len().into()),
        ("left_alone".to_owned(), check.left_alone.len().into()),
        (
            "census_matches_backup".to_owned(),
            check.census_matches_backup.into(),
        ),
        (
            "fingerprint_matches_pre_run".to_owned(),
            check.fingerprint_matches_pre_run.into(),
        ),
        (
            "fingerprint_after".to_owned(),
            check.fingerprint_after.as_str().into(),
        ),
    ])
}

/// The gap of a rollback that did not reach the pre-run state: the first document left alone,
/// else the first document that differs from what the rollback should have left.
fn rollback_gap(check: &RollbackCheck, again: &NextAction) -> Option<Gap> {
    if let Some(first) = check.left_alone.first() {
        let more = match check.left_alone.len() {
            1 => String::new(),
            n => format!(
                " ({} more documents were left alone; see the report)",
                n - 1
            ),
        };
        return Some(Gap {
            phase: ROLLBACK_PHASE.into(),
            document: Some(first.document.clone()),
            unit: None,
            expected: "the document as the run left it".into(),
            found: format!("{}{more}", first.reason),
            next: vec![
                NextAction::fix(format!(
                    "the rest was rolled back; inspect document `{}` (nothing of it was \
                     changed), put it back as the run left it or resolve it by hand",
                    first.document
                )),
                again.clone(),
            ],
        });
    }
    let first = check.mismatches.first()?;
    let more = match check.mismatches.len() {
        1 => String::new(),
        n => format!(" ({} more documents differ; see the report)", n - 1),
    };
    Some(Gap {
        phase: ROLLBACK_PHASE.into(),
        document: Some(first.document.clone()),
        unit: None,
        expected: format!("{} (from the backup)", first.expected),
        found: match &first.found {
            Some(found) => format!("{found}{more}"),
            None => format!("no such document{more}"),
        },
        next: vec![
            NextAction::fix(format!(
                "find what changed document `{}` during or after the rollback, then retry",
                first.document
            )),
            again.clone(),
        ],
    })
}

/// Where a backed-up document stands after a rollback, for its verification.
enum Standing {
    /// It still carries a mark of the run (the description).
    Marked(String),
    /// Its marks (state, pointer, generation records) are not the backed-up ones and none is the
    /// run's: another run holds it or cut it since the backup, not the rolled-back run's to
    /// compare.
    HeldByAnother,
    /// Its source was edited since the backup (the edit is kept), and it carries no mark of the
    /// run.
    Edited,
    /// Neither: it must be exactly as backed up.
    AsBackedUp,
}

fn classify(
    run: &RunId,
    snapshot: &DocumentSnapshot,
    head: &DocumentHead,
    generations: &[GenerationRecord],
) -> Standing {
    let before = &snapshot.document;
    if head.state == (DocumentState::Cutting { run: run.clone() }) {
        return Standing::Marked(format!("still fenced by run {run}"));
    }
    if head.active_generation.as_ref() == Some(run) {
        return Standing::Marked(format!("still pointed at generation {run}"));
    }
    if generations.iter().any(|g| g.generation == *run) {
        return Standing::Marked(format!("generation {run} still present"));
    }
    if head.revision != before.revision || head.sha256 != before.sha256 {
        return Standing::Edited;
    }
    // The marks as backed up: state, pointer, and the generation records (less retired ones
    // purged since). Anything else was moved by another run since the backup.
    let records_as_backed_up = generations.iter().all(|g| snapshot.generations.contains(g))
        && snapshot.generations.iter().all(|g| {
            g.state == GenerationState::Retired || g.generation == *run || generations.contains(g)
        });
    if head.state != before.state
        || head.active_generation != before.active_generation
        || !records_as_backed_up
    {
        return Standing::HeldByAnother;
    }
    Standing::AsBackedUp
}
