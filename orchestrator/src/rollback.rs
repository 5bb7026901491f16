//! Rollback: take back a run's own marks (its fence, its generation, its enact) in one store
//! transaction, wherever a document is exactly as the run left it, and verify the result against
//! the backup. The backup is trusted only when it hashes to the sha256 journaled at backup time;
//! a later run holding any of the documents refuses the rollback before any change; an edit
//! made since the backup, by anyone, is kept (see `iu_cutter_live_execution::ownership`).

use std::collections::BTreeMap;
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Backup, Census, DocumentHead, DocumentId, DocumentSnapshot, DocumentState,
    Evidence, GenerationRecord, GenerationState, PhaseStatus, Restoration, RunId, RunRecord,
    RunStatus, Scope, document_digest, sha256_hex,
};
use iu_cutter_phase_core::{BackupReceipt, Gap, names};
use tracing::{Instrument, info, info_span, warn};

use crate::clock;
use crate::error::RunnerError;
use crate::options::RunOptions;
use crate::report::{
    CensusSummary, Command, DigestMismatch, Outcome, PhaseEntryStatus, RollbackCheck, RunReport,
};
use crate::runner::{Invocation, Runner, elapsed_ms, phase_record, preflight_outcome};

/// The journal entry a rollback writes for its run. Reserved: no phase may use this name.
pub const ROLLBACK_PHASE: &str = "rollback";

impl Runner {
    /// Restores run `run`'s documents to their exact pre-run state from its backup, before or
    /// after enact, and verifies them against the backup's census.
    ///
    /// Rollback mutates, so a closed kill switch ends in `REFUSED`. A backup that fails its
    /// manifest check is never restored from. A run without a backup is marked rolled back only
    /// if no phase after backup ran (nothing can have been fenced).
    pub async fn rollback(&self, run: &RunId) -> Result<RunReport, RunnerError> {
        self.rollback_with(run, RunOptions::default()).await
    }

    /// [`Runner::rollback`] with options (events, provenance for the report).
    pub async fn rollback_with(
        &self,
        run: &RunId,
        options: RunOptions,
    ) -> Result<RunReport, RunnerError> {
        let span = info_span!("rollback", run = %run);
        self.rollback_inner(run, &options).instrument(span).await
    }

    async fn rollback_inner(
        &self,
        run: &RunId,
        options: &RunOptions,
    ) -> Result<RunReport, RunnerError> {
        let loaded = self.adapter.load_run(run).await;
        if let Ok(None) = loaded {
            return Err(RunnerError::UnknownRun(run.clone()));
        }
        let mut inv = Invocation::new(self, Command::Rollback, run.clone(), options);
        let again = format!("iu-cutter rollback {run}");
        let record = match loaded {
            Ok(Some(record)) => record,
            Ok(None) => return Err(RunnerError::UnknownRun(run.clone())),
            Err(error) => {
                let outcome = Outcome::Failed {
                    error: format!("cannot read the journal: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
                return Ok(inv.finish(outcome, None).await);
            }
        };
        inv.capture_journal_shas(&record);
        if record.status == RunStatus::RolledBack {
            inv.phases[0].status = PhaseEntryStatus::Skipped;
            if let Some(journaled) = record.phase(ROLLBACK_PHASE) {
                inv.phases[0].evidence = journaled.evidence.clone();
            }
            inv.note(format!(
                "run {run} is already rolled back; nothing was done"
            ));
            return Ok(inv.finish(Outcome::RolledBack, None).await);
        }
        if let Err(error) = self.adapter.preflight().await {
            let outcome = preflight_outcome(run, error, None, again);
            return Ok(inv.finish(outcome, None).await);
        }
        let heartbeat = match self.lease(run, options, None, &again).await {
            Ok(heartbeat) => heartbeat,
            Err(outcome) => return Ok(inv.finish(outcome, None).await),
        };
        let outcome = self.rollback_leased(&record, &again, &mut inv).await;
        let outcome = match heartbeat {
            Some(heartbeat) => heartbeat.finish(outcome).await,
            None => outcome,
        };
        Ok(inv.finish(outcome, None).await)
    }

    /// Rollback once preflight passed and the lease (if any) is held: the backup is checked end
    /// to end (the sha256 journaled at backup time, every body and unit hashed) before anything
    /// is changed.
    async fn rollback_leased(
        &self,
        record: &RunRecord,
        again: &str,
        inv: &mut Invocation<'_>,
    ) -> Outcome {
        let run = &record.run;
        let Some(journaled_sha256) = journaled_backup_sha256(record) else {
            return self.nothing_to_restore(record, inv).await;
        };
        let refused = |reason: String| Outcome::Refused {
            reason: format!("{reason}; nothing was changed"),
            switch: "backup".into(),
            how_to_open: format!(
                "put back an intact copy of the backup artifact (the store's journal holds one; \
                 the file export is in the backup directory), then: {again}"
            ),
            resume_from: None,
        };
        let (backup, receipt) = match self.backups.load(run).await {
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
                "the backup of run {run} is not the one journaled at backup time (journaled \
                 sha256 {journaled_sha256}, found {} at {})",
                receipt.sha256, receipt.location
            ));
        }
        if let Err(error) = backup.check_for_run(run) {
            return refused(format!("the backup cannot be trusted: {error}"));
        }
        self.restore(record, &backup, &receipt, inv).await
    }

    /// A run whose backup phase never finished: nothing after it can have run, so nothing can
    /// hold the run's marks; the store is checked all the same.
    async fn nothing_to_restore(&self, record: &RunRecord, inv: &mut Invocation<'_>) -> Outcome {
        let run = &record.run;
        let again = format!("iu-cutter rollback {run}");
        let later: Vec<&str> = record
            .phases
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.is_after_backup(name))
            .collect();
        if !later.is_empty() {
            return Outcome::Failed {
                error: format!(
                    "run {run} has no journaled backup, yet phases after backup ran ({}); there \
                     is nothing to restore from",
                    later.join(", ")
                ),
                resume_from: None,
                next_action: format!(
                    "nothing was changed; find the run's backup artifact (check the backup \
                     directory in the configuration), then: {again}"
                ),
            };
        }
        match self.marked_documents(record).await {
            Ok(marked) if marked.is_empty() => {}
            Ok(marked) => {
                return Outcome::Failed {
                    error: format!(
                        "run {run} has no journaled backup, yet it holds documents ({}); there \
                         is nothing to restore them from",
                        marked.join(", ")
                    ),
                    resume_from: None,
                    next_action: format!(
                        "nothing was changed; find the run's backup artifact, then: {again}"
                    ),
                };
            }
            Err(error) => {
                return Outcome::Failed {
                    error: format!("cannot read the run's scope: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
            }
        }
        let started = Instant::now();
        let started_at = clock::now_rfc3339();
        inv.phases[0].started_at = Some(started_at.clone());
        let mut evidence = Evidence::new();
        evidence.insert("restored_documents".into(), "0".into());
        let done = phase_record(
            ROLLBACK_PHASE,
            PhaseStatus::Done,
            evidence.clone(),
            None,
            &started_at,
        );
        if let Err(error) = self.adapter.record_phase(run, &done).await {
            return self.rollback_journal_failure(run, error, inv).await;
        }
        inv.mark_mutated();
        if let Err(error) = self
            .adapter
            .set_run_status(run, RunStatus::RolledBack)
            .await
        {
            return self.rollback_journal_failure(run, error, inv).await;
        }
        inv.phases[0].status = PhaseEntryStatus::Done;
        inv.phases[0].evidence = evidence;
        inv.phases[0].duration_ms = Some(elapsed_ms(started));
        inv.note(format!(
            "run {run} has no backup and no phase after backup ran: nothing was fenced, nothing \
             to restore"
        ));
        info!("rolled back: nothing to restore");
        Outcome::RolledBack
    }

    /// The documents of the run's scope that it fences or that are active on its generation.
    async fn marked_documents(&self, record: &RunRecord) -> Result<Vec<String>, AdapterError> {
        let run = &record.run;
        let fenced = DocumentState::Cutting { run: run.clone() };
        Ok(self
            .adapter
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
        &self,
        record: &RunRecord,
        backup: &Backup,
        receipt: &BackupReceipt,
        inv: &mut Invocation<'_>,
    ) -> Outcome {
        let run = &record.run;
        let again = format!("iu-cutter rollback {run}");
        inv.take_census_before().await;
        let started = Instant::now();
        let started_at = clock::now_rfc3339();
        inv.phases[0].started_at = Some(started_at.clone());
        let expected_digests = match self.expected_digests(run, backup).await {
            Ok(expected) => expected,
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("cannot read the generations to restore: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
            }
        };
        let running = phase_record(
            ROLLBACK_PHASE,
            PhaseStatus::Running,
            Evidence::new(),
            None,
            &started_at,
        );
        if let Err(error) = self.adapter.record_phase(run, &running).await {
            return self.rollback_journal_failure(run, error, inv).await;
        }
        inv.mark_mutated();
        let restoration = match self.adapter.restore(run, backup).await {
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
                return self
                    .refused_for_later_run(run, &later, &started_at, inv)
                    .await;
            }
            Err(error) => {
                inv.phases[0].status = entry_status(&error);
                inv.phases[0].detail = Some(error.to_string());
                return self.rollback_journal_failure(run, error, inv).await;
            }
        };
        let census = match self.adapter.census().await {
            Ok(census) => census,
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("undone, but the census to verify it failed: {error}"),
                    resume_from: None,
                    next_action: format!("retry (rolling back is idempotent): {again}"),
                };
            }
        };
        inv.census_after = Some(CensusSummary::from(&census));
        let mismatches = match self
            .verify_restored(run, backup, &restoration, &expected_digests, &census)
            .await
        {
            Ok(mismatches) => mismatches,
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("undone, but reading the documents back failed: {error}"),
                    resume_from: None,
                    next_action: format!("retry (rolling back is idempotent): {again}"),
                };
            }
        };
        let check = RollbackCheck {
            backup_sha256: receipt.sha256.clone(),
            restored_documents: restoration.undone.len() as u64,
            census_matches_backup: mismatches.is_empty(),
            fingerprint_matches_pre_run: census.fingerprint == backup.census.fingerprint,
            pre_run_fingerprint: backup.census.fingerprint.clone(),
            fingerprint_after: census.fingerprint.clone(),
            mismatches,
            untouched_documents: restoration.untouched,
            kept_edits: restoration.kept_edits.clone(),
            left_alone: restoration.left_alone.clone(),
        };
        self.finish_rollback(run, check, &started_at, started, inv)
            .await
    }

    /// Journals the verified rollback: `ROLLED_BACK`, or `BLOCKED` on the first document that
    /// differs from what the rollback should have left, or that it had to leave alone.
    async fn finish_rollback(
        &self,
        run: &RunId,
        check: RollbackCheck,
        started_at: &str,
        started: Instant,
        inv: &mut Invocation<'_>,
    ) -> Outcome {
        let again = format!("iu-cutter rollback {run}");
        let evidence = rollback_evidence(&check);
        inv.phases[0].evidence = evidence.clone();
        inv.phases[0].duration_ms = Some(elapsed_ms(started));
        for kept in &check.kept_edits {
            inv.note(format!("document `{}`: {}", kept.document, kept.reason));
        }
        if !check.fingerprint_matches_pre_run && check.census_matches_backup {
            inv.note(
                "the run's documents match the backup, but the store's fingerprint differs from \
                 the pre-run one: something outside the run changed the store since the backup"
                    .into(),
            );
        }
        if let Some(gap) = rollback_gap(&check, &again) {
            warn!(gap = %gap, "rollback verification failed");
            let detail = gap.to_string();
            inv.phases[0].status = PhaseEntryStatus::Blocked;
            inv.phases[0].detail = Some(detail.clone());
            inv.rollback = Some(check);
            let blocked = phase_record(
                ROLLBACK_PHASE,
                PhaseStatus::Blocked,
                evidence,
                Some(detail),
                started_at,
            );
            inv.best_effort_phase(run, &blocked).await;
            inv.best_effort_status(run, RunStatus::Blocked).await;
            return Outcome::Blocked { gap };
        }
        inv.rollback = Some(check);
        let done = phase_record(
            ROLLBACK_PHASE,
            PhaseStatus::Done,
            evidence,
            None,
            started_at,
        );
        if let Err(error) = self.adapter.record_phase(run, &done).await {
            return self.rollback_journal_failure(run, error, inv).await;
        }
        if let Err(error) = self
            .adapter
            .set_run_status(run, RunStatus::RolledBack)
            .await
        {
            return self.rollback_journal_failure(run, error, inv).await;
        }
        inv.phases[0].status = PhaseEntryStatus::Done;
        info!("rolled back and verified");
        Outcome::RolledBack
    }

    /// `REFUSED`: a later run holds one of the documents. The store changed nothing; the journal
    /// entry (`failed`, with the reason) says so, and the run stays resumable.
    async fn refused_for_later_run(
        &self,
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
        let refused = phase_record(
            ROLLBACK_PHASE,
            PhaseStatus::Failed,
            Evidence::new(),
            Some(reason.clone()),
            started_at,
        );
        inv.best_effort_phase(run, &refused).await;
        inv.phases[0].status = PhaseEntryStatus::Refused;
        inv.phases[0].detail = Some(reason.clone());
        Outcome::Refused {
            reason,
            switch: "later run".into(),
            how_to_open: format!(
                "roll back run {holder} first (iu-cutter rollback {holder} --execute), then: \
                 iu-cutter rollback {run} --execute"
            ),
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
        &self,
        run: &RunId,
        backup: &Backup,
        restoration: &Restoration,
        expected_digests: &BTreeMap<DocumentId, String>,
        census: &Census,
    ) -> Result<Vec<DigestMismatch>, AdapterError> {
        let ids: Vec<DocumentId> = backup
            .documents
            .iter()
            .map(|s| s.document.id.clone())
            .collect();
        let heads: BTreeMap<DocumentId, DocumentHead> = self
            .adapter
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
            let generations = self.adapter.generations(id).await?;
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
                                .cloned()
                                .unwrap_or_else(|| "(not in the backup)".into()),
                            found: found.cloned(),
                        });
                        continue;
                    }
                    if let Some(found) = self.active_units_differ(snapshot).await? {
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
        &self,
        snapshot: &DocumentSnapshot,
    ) -> Result<Option<String>, AdapterError> {
        let Some(active) = &snapshot.document.active_generation else {
            return Ok(None);
        };
        let stored = self
            .adapter
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
        &self,
        run: &RunId,
        backup: &Backup,
    ) -> Result<BTreeMap<DocumentId, String>, AdapterError> {
        let mut expected = BTreeMap::new();
        for snapshot in &backup.documents {
            let id = snapshot.document.id.clone();
            let present: Vec<RunId> = self
                .adapter
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
                    units.extend(
                        self.adapter
                            .generation_units(&id, &record.generation)
                            .await?,
                    );
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
        &self,
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
        let again = format!("retry (restoring is idempotent): iu-cutter rollback {run}");
        self.journal_failure(run, error, None, inv, again).await
    }

    /// Whether a journaled phase comes after backup in this runner's order. Unknown phases, or a
    /// runner without a backup phase, count as after: the safe answer.
    fn is_after_backup(&self, name: &str) -> bool {
        if name == names::BACKUP || name == ROLLBACK_PHASE {
            return false;
        }
        let position = |n: &str| self.phases.iter().position(|p| p.name() == n);
        match (position(names::BACKUP), position(name)) {
            (Some(backup), Some(phase)) => phase > backup,
            _ => true,
        }
    }
}

/// A later run that holds a document the rollback would touch.
struct LaterRun {
    document: DocumentId,
    run: RunId,
    found: String,
}

/// The backup's sha256 as the backup phase journaled it, if that phase finished.
fn journaled_backup_sha256(record: &RunRecord) -> Option<String> {
    record
        .phase(names::BACKUP)
        .filter(|p| p.status == PhaseStatus::Done)
        .and_then(|p| p.evidence.get("backup_sha256"))
        .cloned()
}

fn entry_status(error: &AdapterError) -> PhaseEntryStatus {
    if error.is_gate_closed() {
        PhaseEntryStatus::Refused
    } else {
        PhaseEntryStatus::Failed
    }
}

fn rollback_evidence(check: &RollbackCheck) -> Evidence {
    Evidence::from([
        ("backup_sha256".to_owned(), check.backup_sha256.clone()),
        (
            "restored_documents".to_owned(),
            check.restored_documents.to_string(),
        ),
        ("kept_edits".to_owned(), check.kept_edits.len().to_string()),
        ("left_alone".to_owned(), check.left_alone.len().to_string()),
        (
            "census_matches_backup".to_owned(),
            check.census_matches_backup.to_string(),
        ),
        (
            "fingerprint_matches_pre_run".to_owned(),
            check.fingerprint_matches_pre_run.to_string(),
        ),
        (
            "fingerprint_after".to_owned(),
            check.fingerprint_after.clone(),
        ),
    ])
}

/// The gap of a rollback that did not reach the pre-run state: the first document left alone,
/// else the first document that differs from what the rollback should have left.
fn rollback_gap(check: &RollbackCheck, again: &str) -> Option<Gap> {
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
            next_action: format!(
                "the rest was rolled back; inspect document `{}` (nothing of it was changed), \
                 put it back as the run left it or resolve it by hand, then: {again}",
                first.document
            ),
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
        next_action: format!(
            "find what changed document `{}` during or after the rollback, then retry: {again}",
            first.document
        ),
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
