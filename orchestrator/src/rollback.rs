//! Rollback: restore a run's documents from its backup and verify them against the backup's
//! census.

use std::time::Instant;

use std::collections::BTreeMap;

use iu_cutter_live_execution::{
    AdapterError, Backup, Document, DocumentId, DocumentState, Evidence, GenerationState,
    PhaseStatus, RunId, RunRecord, RunStatus, Scope, document_digest,
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

    /// Rollback once preflight passed and the lease (if any) is held.
    async fn rollback_leased(
        &self,
        record: &RunRecord,
        again: &str,
        inv: &mut Invocation<'_>,
    ) -> Outcome {
        let run = &record.run;
        let loaded = match self.backups.load(run).await {
            Ok(loaded) => loaded,
            Err(error) => {
                warn!(%error, "backup unusable");
                let outcome = Outcome::Failed {
                    error: format!("cannot use the backup: {error}"),
                    resume_from: None,
                    next_action: format!(
                        "nothing was restored; put back an intact copy of the backup artifact \
                         (or check the backup directory in the configuration), then: {again}"
                    ),
                };
                return outcome;
            }
        };
        match loaded {
            Some((backup, receipt)) => self.restore(record, &backup, &receipt, inv).await,
            None => self.nothing_to_restore(record, inv).await,
        }
    }

    /// A run without a backup: fine if nothing after backup ran, since nothing can be fenced.
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
                    "run {run} has no backup, yet phases after backup ran ({}); there is nothing \
                     to restore from",
                    later.join(", ")
                ),
                resume_from: None,
                next_action: format!(
                    "nothing was changed; find the run's backup artifact (check the backup \
                     directory in the configuration), then: {again}"
                ),
            };
        }
        if record
            .phase(names::BACKUP)
            .is_some_and(|p| p.status == PhaseStatus::Done)
        {
            inv.note(format!(
                "the journal shows the backup phase done but the backup store has no artifact \
                 for run {run}; check the backup directory"
            ));
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

    /// Restores from `backup`, then verifies every backed-up document against the backup census.
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

        let touched = match self.touched_documents(run, backup).await {
            Ok(Ok(touched)) => touched,
            Ok(Err(gap)) => {
                warn!(gap = %gap, "rollback refused: a later run re-cut a document");
                inv.phases[0].status = PhaseEntryStatus::Blocked;
                inv.phases[0].detail = Some(gap.to_string());
                return Outcome::Blocked { gap };
            }
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("cannot read the documents to restore: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
            }
        };
        let untouched = backup.documents.len() - touched.documents.len();
        if untouched > 0 {
            inv.note(format!(
                "{untouched} backed-up document(s) were never fenced or written by run {run}; \
                 they were left as they are (restoring them would undo later edits)"
            ));
        }
        let (stripped, expected_digests) = match self.without_purged(run, &touched).await {
            Ok(pair) => pair,
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("cannot read the generations to restore: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
            }
        };
        let purged: Vec<String> = touched
            .documents
            .iter()
            .zip(&stripped.documents)
            .flat_map(|(before, after)| {
                before
                    .generations
                    .iter()
                    .filter(|g| !after.generations.contains(g))
                    .map(|g| format!("{}@{}", g.document, g.generation))
            })
            .collect();
        if !purged.is_empty() {
            inv.note(format!(
                "{} retired generation(s) listed in the backup were purged since ({}); they are \
                 not brought back, and those documents are checked against the backup less them",
                purged.len(),
                purged.join(", ")
            ));
        }
        let backup = &stripped;

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
        if let Err(error) = self.adapter.restore(run, backup).await {
            inv.phases[0].status = if error.is_gate_closed() {
                PhaseEntryStatus::Refused
            } else {
                PhaseEntryStatus::Failed
            };
            inv.phases[0].detail = Some(error.to_string());
            return self.rollback_journal_failure(run, error, inv).await;
        }
        let census = match self.adapter.census().await {
            Ok(census) => census,
            Err(error) => {
                inv.phases[0].status = PhaseEntryStatus::Failed;
                return Outcome::Failed {
                    error: format!("restored, but the census to verify it failed: {error}"),
                    resume_from: None,
                    next_action: format!("retry (restoring is idempotent): {again}"),
                };
            }
        };
        inv.census_after = Some(CensusSummary::from(&census));

        let mismatches: Vec<DigestMismatch> = backup
            .documents
            .iter()
            .filter_map(|snapshot| {
                let id = &snapshot.document.id;
                let expected = expected_digests
                    .get(id)
                    .or_else(|| backup.census.per_document.get(id));
                let found = census.per_document.get(id);
                match (expected, found) {
                    (Some(expected), Some(found)) if expected == found => None,
                    (expected, found) => Some(DigestMismatch {
                        document: id.clone(),
                        expected: expected
                            .cloned()
                            .unwrap_or_else(|| "(absent from the backup census)".into()),
                        found: found.cloned(),
                    }),
                }
            })
            .collect();
        let check = RollbackCheck {
            backup_sha256: receipt.sha256.clone(),
            restored_documents: backup.documents.len() as u64,
            census_matches_backup: mismatches.is_empty(),
            fingerprint_matches_pre_run: census.fingerprint == backup.census.fingerprint,
            pre_run_fingerprint: backup.census.fingerprint.clone(),
            fingerprint_after: census.fingerprint.clone(),
            mismatches,
        };
        let mut evidence = Evidence::new();
        evidence.insert("backup_sha256".into(), check.backup_sha256.clone());
        evidence.insert(
            "restored_documents".into(),
            check.restored_documents.to_string(),
        );
        evidence.insert(
            "census_matches_backup".into(),
            check.census_matches_backup.to_string(),
        );
        evidence.insert(
            "fingerprint_matches_pre_run".into(),
            check.fingerprint_matches_pre_run.to_string(),
        );
        evidence.insert("fingerprint_after".into(), check.fingerprint_after.clone());
        inv.phases[0].evidence = evidence.clone();
        inv.phases[0].duration_ms = Some(elapsed_ms(started));
        if !check.fingerprint_matches_pre_run && check.census_matches_backup {
            inv.note(
                "the run's documents match the backup, but the store's fingerprint differs from \
                 the pre-run one: something outside the run changed the store since the backup"
                    .into(),
            );
        }

        if let Some(first) = check.mismatches.first() {
            let more = match check.mismatches.len() {
                1 => String::new(),
                n => format!(" ({} more documents differ; see the report)", n - 1),
            };
            let gap = Gap {
                phase: ROLLBACK_PHASE.into(),
                document: Some(first.document.clone()),
                unit: None,
                expected: format!("digest {} (from the backup census)", first.expected),
                found: match &first.found {
                    Some(found) => format!("digest {found}{more}"),
                    None => format!("no such document{more}"),
                },
                next_action: format!(
                    "find what changed document `{}` during or after the restore, then retry: \
                     {again}",
                    first.document
                ),
            };
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
                &started_at,
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
            &started_at,
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

    /// The part of `backup` that run `run` touched: documents it fenced, staged or enacted.
    ///
    /// Documents the run never touched (it was blocked at the fence, or crashed before) are left
    /// out, so rolling back never undoes edits made after the backup by someone else. A document
    /// a later run has re-cut since is a gap: that run must be rolled back first.
    async fn touched_documents(
        &self,
        run: &RunId,
        backup: &Backup,
    ) -> Result<Result<Backup, Gap>, AdapterError> {
        let ids: Vec<DocumentId> = backup
            .documents
            .iter()
            .map(|s| s.document.id.clone())
            .collect();
        let current: BTreeMap<DocumentId, Document> = self
            .adapter
            .load_scope(&Scope::Ids(ids))
            .await?
            .into_iter()
            .map(|d| (d.id.clone(), d))
            .collect();
        let mut documents = Vec::new();
        for snapshot in &backup.documents {
            let Some(document) = current.get(&snapshot.document.id) else {
                continue;
            };
            let has_generation = self
                .adapter
                .generations(&document.id)
                .await?
                .iter()
                .any(|g| &g.generation == run);
            let fenced = document.state == (DocumentState::Cutting { run: run.clone() });
            let active = document.active_generation.as_ref();
            if !(fenced || has_generation || active == Some(run)) {
                continue;
            }
            if let Some(later) = active
                .filter(|g| *g != run && Some(*g) != snapshot.document.active_generation.as_ref())
            {
                return Ok(Err(Gap {
                    phase: ROLLBACK_PHASE.into(),
                    document: Some(document.id.clone()),
                    unit: None,
                    expected: format!("active generation {run} or the pre-run one"),
                    found: format!("active generation {later}, from a later run"),
                    next_action: format!(
                        "nothing was restored; roll back run {later} first \
                         (iu-cutter rollback {later}), then: iu-cutter rollback {run}"
                    ),
                }));
            }
            documents.push(snapshot.clone());
        }
        Ok(Ok(Backup {
            documents,
            ..backup.clone()
        }))
    }

    /// `backup` without the retired generation records that no longer exist in the store (purged
    /// since the backup): restoring must not bring back records whose units are gone. For each
    /// document that lost some, the digest its restore must give: the backup's document row,
    /// its remaining generation records, its backed-up active units and, for its other retired
    /// generations (which no run touches), their units as the store holds them.
    async fn without_purged(
        &self,
        run: &RunId,
        backup: &Backup,
    ) -> Result<(Backup, BTreeMap<DocumentId, String>), AdapterError> {
        let mut stripped = backup.clone();
        let mut expected = BTreeMap::new();
        for snapshot in &mut stripped.documents {
            let id = snapshot.document.id.clone();
            let present: Vec<RunId> = self
                .adapter
                .generations(&id)
                .await?
                .into_iter()
                .map(|g| g.generation)
                .collect();
            let before = snapshot.generations.len();
            snapshot.generations.retain(|g| {
                g.state != GenerationState::Retired
                    || &g.generation == run
                    || present.contains(&g.generation)
            });
            if snapshot.generations.len() == before {
                continue;
            }
            let active = snapshot.document.active_generation.as_ref();
            let mut units = snapshot.active_units.clone();
            for record in &snapshot.generations {
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
                document_digest(&snapshot.document, &snapshot.generations, &units),
            );
        }
        Ok((stripped, expected))
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
