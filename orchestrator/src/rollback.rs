//! Rollback: take back a run's own marks (its fence, its generation, its enact) in one store
//! transaction, wherever a document is exactly as the run left it, and verify the result against
//! the backup. The backup is trusted only when it hashes to the sha256 journaled at backup time;
//! a later run holding any of the documents refuses the rollback before any change; an edit
//! made since the backup, by anyone, is kept (see `iu_cutter_live_execution::ownership`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Backup, Census, DocumentHead, DocumentId, DocumentSnapshot, DocumentState,
    Evidence, EvidenceValue, GenerationRecord, GenerationState, LiveExecutionAdapter, PhaseStatus,
    Restoration, RunId, RunRecord, RunStatus, Scope, Sha256Digest, document_digest, sha256_hex,
};
use iu_cutter_phase_core::evidence::BACKUP_SHA256;
use iu_cutter_phase_core::{BackupReceipt, Gap, PhaseRole};
use tracing::{info, warn};

use crate::error::RunnerError;
use crate::invocation::{Admission, Invocation, Opened, elapsed_ms};
use crate::journal::ROLLBACK_PHASE;
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
    let outcome = rollback_leased(pipeline, &record, &again, &mut inv).await;
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

/// Rollback once preflight passed and the lease (if any) is held: the backup is checked end to
/// end (the sha256 journaled at backup time, every body and unit hashed) before anything is
/// changed.
async fn rollback_leased(
    pipeline: &Pipeline,
    record: &RunRecord,
    again: &NextAction,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let run = &record.run;
    let Some(journaled_sha256) = journaled_backup_sha256(pipeline, record) else {
        return nothing_to_restore(pipeline, record, inv).await;
    };
    let refused = |reason: String| Outcome::Refused {
        reason: format!("{reason}; nothing was changed"),
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
    let (backup, receipt) = match inv.backups().load(run).await {
        Ok(Some(loaded)) => loaded,
        Ok(None) => {
            return refused(format!(
                "run {run} journaled its backup (sha256 {journaled_sha256}), but neither the \
                 store nor the backup directory holds it"
            ));
        }
        Err(error) => {
            warn!(%error, "backup unusable");
            return refused(format!("cannot use the backup: {error}"));
        }
    };
    if receipt.sha256 != journaled_sha256 {
        warn!(journaled = %journaled_sha256, found = %receipt.sha256, "backup replaced");
        return refused(format!(
            "the backup of run {run} is not the one journaled at backup time (journaled sha256 \
             {journaled_sha256}, found {} at {})",
            receipt.sha256, receipt.location
        ));
    }
    if let Err(error) = backup.check_for_run(run) {
        return refused(format!("the backup cannot be trusted: {error}"));
    }
    restore(record, &backup, &receipt, inv).await
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
    let mut evidence = Evidence::new();
    evidence.insert("restored_documents".into(), EvidenceValue::Count(0));
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
        Err(error) => Err(Outcome::Failed {
            error: format!("cannot read the run's scope: {error}"),
            resume_from: None,
            next: vec![NextAction::fix("check that the store is reachable"), again],
        }),
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

/// Undoes the run's marks from `backup` in one store transaction, then verifies every undone
/// document: against the digest of its backed-up rows where nobody edited it since, by its
/// marks where someone did (that edit is kept).
async fn restore(
    record: &RunRecord,
    backup: &Backup,
    receipt: &BackupReceipt,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let run = &record.run;
    let again = NextAction::rollback(run);
    let store = inv.store().clone();
    inv.take_census_before(&record.scope).await;
    let started = Instant::now();
    let started_at = inv.journal.now();
    inv.phases[0].started_at = Some(started_at.clone());
    let expected_digests = match expected_digests(store.as_ref(), run, backup).await {
        Ok(expected) => expected,
        Err(error) => {
            return rollback_failed(
                inv,
                format!("cannot read the generations to restore: {error}"),
                vec![NextAction::fix("check that the store is reachable"), again],
            );
        }
    };
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
    let restoration = match store.restore(run, backup).await {
        Ok(restoration) => restoration,
        Err(AdapterError::HeldByLaterRun {
            document,
            run: later,
            found,
        }) => {
            let later = LaterRun {
                document,
                run: later,
                found,
            };
            return refused_for_later_run(run, &later, &started_at, inv).await;
        }
        Err(error) => {
            inv.phases[0].status = entry_status(&error);
            inv.phases[0].detail = Some(error.to_string());
            return rollback_journal_failure(run, error, inv).await;
        }
    };
    let (census, changed_outside) = match census_after_restore(store.as_ref(), backup, inv).await {
        Ok(found) => found,
        Err(error) => {
            return rollback_failed(
                inv,
                format!("undone, but the census to verify it failed: {error}"),
                retry(&again),
            );
        }
    };
    let mismatches = match verify_restored(
        store.as_ref(),
        run,
        backup,
        &restoration,
        &expected_digests,
        &census,
    )
    .await
    {
        Ok(mismatches) => mismatches,
        Err(error) => {
            return rollback_failed(
                inv,
                format!("undone, but reading the documents back failed: {error}"),
                retry(&again),
            );
        }
    };
    let check = RollbackCheck {
        backup_sha256: receipt.sha256.clone(),
        restored_documents: restoration.undone.len() as u64,
        census_matches_backup: mismatches.is_empty(),
        fingerprint_matches_pre_run: census.fingerprint == backup.census.fingerprint
            && changed_outside.is_empty(),
        pre_run_fingerprint: backup.census.fingerprint.clone(),
        fingerprint_after: census.fingerprint.clone(),
        changed_outside_scope: changed_outside.into_iter().take(CHANGED_SAMPLE).collect(),
        mismatches,
        untouched_documents: restoration.untouched,
        kept_edits: restoration.kept_edits.clone(),
        left_alone: restoration.left_alone.clone(),
    };
    finish_rollback(run, check, &started_at, started, inv).await
}

/// The census to verify a restore against the backup's, and the documents outside the scope
/// changed since the backup. A backup with a change mark: the census of the backed-up documents
/// (O(scope)) and the store's change log since the mark, outside them. A backup written before
/// scope censuses holds the whole store's census and no mark: the whole store's census, as then
/// (noted), whose fingerprint says whether anything outside the scope changed.
async fn census_after_restore(
    store: &dyn LiveExecutionAdapter,
    backup: &Backup,
    inv: &mut Invocation<'_>,
) -> Result<(Census, Vec<DocumentId>), AdapterError> {
    let Some(mark) = &backup.mark else {
        inv.note(
            "the backup predates scope censuses (no change mark): the whole store's census was \
             read to verify the rollback"
                .into(),
        );
        let census = store.census().await?;
        inv.census_after = Some(CensusSummary::from(&census));
        return Ok((census, Vec::new()));
    };
    let ids: Vec<DocumentId> = backup
        .documents
        .iter()
        .map(|s| s.document.id.clone())
        .collect();
    let census = store.scope_census(&ids).await?.census;
    let backed_up: BTreeSet<&DocumentId> = ids.iter().collect();
    let changed_outside: Vec<DocumentId> = store
        .changed_since(mark)
        .await?
        .into_iter()
        .filter(|id| !backed_up.contains(id))
        .collect();
    inv.census_after = Some(inv.closing_summary(&census).await);
    Ok((census, changed_outside))
}

/// Journals the verified rollback: `ROLLED_BACK`, or `BLOCKED` on the first document that
/// differs from what the rollback should have left, or that it had to leave alone.
async fn finish_rollback(
    run: &RunId,
    check: RollbackCheck,
    started_at: &str,
    started: Instant,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let again = NextAction::rollback(run);
    let evidence = rollback_evidence(&check);
    inv.phases[0].evidence = evidence.clone();
    inv.phases[0].duration_ms = Some(elapsed_ms(started));
    for kept in &check.kept_edits {
        inv.note(format!("document `{}`: {}", kept.document, kept.reason));
    }
    if !check.fingerprint_matches_pre_run && check.census_matches_backup {
        inv.note(if check.changed_outside_scope.is_empty() {
            "the run's documents match the backup, but the store's fingerprint differs from \
             the pre-run one: something outside the run changed the store since the backup"
                .to_owned()
        } else {
            format!(
                "the run's documents match the backup; documents outside the run's scope changed \
                 since the backup (something outside the run changed the store; not undone): {}",
                check
                    .changed_outside_scope
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        });
    }
    if let Some(gap) = rollback_gap(&check, &again) {
        warn!(gap = %gap, "rollback verification failed");
        let detail = gap.to_string();
        inv.phases[0].status = PhaseEntryStatus::Blocked;
        inv.phases[0].detail = Some(detail.clone());
        inv.rollback = Some(check);
        let blocked = inv.journal.phase_record(
            ROLLBACK_PHASE,
            PhaseStatus::Blocked,
            evidence,
            Some(detail),
            started_at,
        );
        inv.best_effort_phase(&blocked).await;
        inv.best_effort_status(RunStatus::Blocked).await;
        return Outcome::Blocked { gap };
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

/// `REFUSED`: a later run holds one of the documents. The store changed nothing; the journal
/// entry (`failed`, with the reason) says so, and the run stays resumable.
async fn refused_for_later_run(
    run: &RunId,
    later: &LaterRun,
    started_at: &str,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let LaterRun {
        document,
        run: holder,
        found,
    } = later;
    warn!(%document, later = %holder, "rollback refused: a later run holds a document");
    let reason = format!(
        "document `{document}` is held by run {holder}, which came after run {run} \
         ({found}); rolling back {run} now would destroy {holder}'s work, so nothing was \
         changed"
    );
    // `Failed`, not `Blocked`: nothing was changed, so the run stays resumable.
    let refused = inv.journal.phase_record(
        ROLLBACK_PHASE,
        PhaseStatus::Failed,
        Evidence::new(),
        Some(reason.clone()),
        started_at,
    );
    inv.best_effort_phase(&refused).await;
    inv.phases[0].status = PhaseEntryStatus::Refused;
    inv.phases[0].detail = Some(reason.clone());
    Outcome::Refused {
        reason,
        switch: "later run".into(),
        next: vec![NextAction::rollback(holder), NextAction::rollback(run)],
        resume_from: None,
    }
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
    backup: &Backup,
    restoration: &Restoration,
    expected_digests: &BTreeMap<DocumentId, Sha256Digest>,
    census: &Census,
) -> Result<Vec<DigestMismatch>, AdapterError> {
    let ids: Vec<DocumentId> = backup
        .documents
        .iter()
        .map(|s| s.document.id.clone())
        .collect();
    let heads: BTreeMap<DocumentId, DocumentHead> = store
        .load_heads(&Scope::Ids(ids))
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let mut mismatches = Vec::new();
    for snapshot in &backup.documents {
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
            Standing::HeldByAnother | Standing::Edited => {}
            Standing::AsBackedUp => {
                let expected = expected_digests.get(id);
                let found = census.per_document.get(id);
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
    Ok(mismatches)
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

/// For each backed-up document, the digest its rollback must give back, computed from the
/// backup's own rows: the document row, its generation records (less retired generations
/// purged since the backup, which a rollback does not bring back), its backed-up active units
/// and, for its other generations (which no run touches), their units as the store holds them.
///
/// Not the backup's census: that was taken as the invocation opened, and another runner may
/// have changed a document between it and the backup's read (then the fence refused, or the
/// rows read are the truth the fence compared against).
async fn expected_digests(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    backup: &Backup,
) -> Result<BTreeMap<DocumentId, Sha256Digest>, AdapterError> {
    let mut expected = BTreeMap::new();
    for snapshot in &backup.documents {
        let id = snapshot.document.id.clone();
        let present: Vec<RunId> = store
            .generations(&id)
            .await?
            .into_iter()
            .map(|g| g.generation)
            .collect();
        let mut generations = snapshot.generations.clone();
        generations.retain(|g| {
            g.state != GenerationState::Retired
                || &g.generation == run
                || present.contains(&g.generation)
        });
        let active = snapshot.document.active_generation.as_ref();
        let mut units = snapshot.active_units.clone();
        for record in &generations {
            if Some(&record.generation) != active && &record.generation != run {
                units.extend(store.generation_units(&id, &record.generation).await?);
            }
        }
        expected.insert(
            id,
            document_digest(&snapshot.document, &generations, &units),
        );
    }
    Ok(expected)
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
