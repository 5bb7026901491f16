//! Purging retired generations, keeping what a rollback of a recent run needs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, DocumentId, DocumentSnapshot, GenerationRecord, GenerationState,
    LiveExecutionAdapter, PurgeTarget, RunId, RunRecord, RunStatus, Scope,
};
use iu_cutter_phase_core::{
    BackupError, BackupStore, DEFAULT_BATCH_DOCUMENTS, HeaderDetail, PhaseRole,
};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock;
use crate::generations::JournalTimes;
use crate::next::NextAction;

use crate::pipeline::Pipeline;
use crate::report::{Outcome, REPORT_SCHEMA_VERSION};

/// What purge decided about one retired generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum PurgeDecision {
    /// Retired long enough ago and needed by no rollback: purged (or to be purged).
    Purge,
    /// Retired less than the age ago.
    KeptRecent,
    /// When it was retired cannot be told from the journal (no journaled enact time).
    KeptUndated,
    /// A rollback of this run would restore it.
    KeptForRollback {
        /// The run whose backup lists it.
        run: RunId,
    },
}

/// One retired generation of one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeEntry {
    /// The document.
    pub document: DocumentId,
    /// The generation.
    pub generation: RunId,
    /// When it was retired, as far as the journal tells (UTC RFC 3339).
    pub retired_at: Option<String>,
    /// What purge does with it.
    #[serde(flatten)]
    pub decision: PurgeDecision,
    /// Whether this purge removed it: false for every entry of a purge that removed nothing,
    /// and for a selected one that another purge removed first.
    #[serde(default)]
    pub removed: bool,
}

/// The account of one purge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    /// Schema version of the report JSON.
    pub schema_version: u32,
    /// The age given (`--older-than`).
    pub older_than: String,
    /// The time the ages were measured from (UTC RFC 3339).
    pub now: String,
    /// Every retired generation in the store, with its decision.
    pub generations: Vec<PurgeEntry>,
    /// Generations removed by this purge.
    pub purged: u64,
    /// `PASS` (purged, or nothing to purge), `REFUSED` (the kill switch is closed; nothing was
    /// removed), `FAILED` (the error says whether anything may have been removed) or `BLOCKED`
    /// (a generation changed state meanwhile; nothing removed).
    pub outcome: Outcome,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

impl PurgeReport {
    /// The generations purge selected (gone when the outcome is `PASS`: removed by this purge,
    /// or, as a note then says, by another one meanwhile; [`PurgeReport::purged`] counts this
    /// purge's own).
    pub fn selected(&self) -> impl Iterator<Item = &PurgeEntry> {
        self.generations
            .iter()
            .filter(|e| e.decision == PurgeDecision::Purge)
    }
}

/// [`crate::Runner::purge_at`]: the rule is documented there.
pub(crate) async fn purge(
    pipeline: &Pipeline,
    older_than: Duration,
    now: SystemTime,
) -> PurgeReport {
    let mut report = PurgeReport {
        schema_version: REPORT_SCHEMA_VERSION,
        older_than: clock::format_age(older_than),
        now: clock::rfc3339(now),
        generations: Vec::new(),
        purged: 0,
        outcome: Outcome::Pass,
        notes: Vec::new(),
    };
    let again = NextAction::Purge {
        older_than: report.older_than.clone(),
    };
    let selected = match select(pipeline, older_than, now, &mut report).await {
        Ok(selected) => selected,
        Err(error) => {
            report.outcome = Outcome::store_unreadable(
                format!("cannot read the store to select generations: {error}"),
                again,
            );
            return report;
        }
    };
    if selected.is_empty() {
        report
            .notes
            .push("no retired generation is old enough and unneeded; nothing to purge".into());
        return report;
    }
    if let Err(error) = pipeline.store.preflight().await {
        report.outcome = purge_failure(error, again.clone(), false);
        return report;
    }
    match pipeline.store.purge_generations(&selected).await {
        Ok(removed) => {
            info!(purged = removed.len(), "retired generations purged");
            report.purged = removed.len() as u64;
            let removed: BTreeSet<(&DocumentId, &RunId)> = removed
                .iter()
                .map(|t| (&t.document, &t.generation))
                .collect();
            for entry in &mut report.generations {
                entry.removed = removed.contains(&(&entry.document, &entry.generation));
            }
            note_already_gone(&mut report, selected.len() as u64);
        }
        Err(error) => {
            warn!(%error, "purge failed");
            report.outcome = purge_failure(error, again.clone(), true);
        }
    }
    report
}

/// Says so when fewer generations were removed than selected: the store skips a selected one
/// that is already gone (another purge removed it between selection and removal), so the
/// entries decided `purge` are not all this purge's doing.
fn note_already_gone(report: &mut PurgeReport, selected: u64) {
    let gone = selected.saturating_sub(report.purged);
    if gone > 0 {
        report.notes.push(format!(
            "{gone} of the {selected} selected generations were already gone when this purge \
             removed them (another purge removed them meanwhile); this purge removed {}",
            report.purged
        ));
    }
}

/// Fills `report.generations` and returns the generations to purge.
async fn select(
    pipeline: &Pipeline,
    older_than: Duration,
    now: SystemTime,
    report: &mut PurgeReport,
) -> Result<Vec<PurgeTarget>, AdapterError> {
    let runs = pipeline.store.list_runs().await?;
    let enact = pipeline.name_of(PhaseRole::Enact);
    let times = JournalTimes::new(&runs, enact);
    let age = Age { now, older_than };
    let survey = Survey::take(pipeline.store.as_ref()).await?;
    let needs = RollbackNeeds::find(pipeline, &runs, &times, &age, &survey, report).await;
    let mut selected = Vec::new();
    for (document, records) in &survey.generations {
        let activated = |g: &RunId| times.activated.get(g).copied();
        for record in records
            .iter()
            .filter(|g| g.state == GenerationState::Retired)
        {
            let generation = &record.generation;
            let retired_at = match activated(generation) {
                Some(own) => records
                    .iter()
                    .filter(|g| g.state != GenerationState::Staged)
                    .filter_map(|g| activated(&g.generation))
                    .filter(|at| *at > own)
                    .min(),
                None => survey.active.get(document).and_then(activated),
            };
            let decision = match needs.needed_by(document, generation) {
                Some(run) => PurgeDecision::KeptForRollback { run },
                None if retired_at.is_none() => PurgeDecision::KeptUndated,
                None if !age.is_old(retired_at.as_ref()) => PurgeDecision::KeptRecent,
                None => PurgeDecision::Purge,
            };
            if decision == PurgeDecision::Purge {
                selected.push(PurgeTarget {
                    document: document.clone(),
                    generation: generation.clone(),
                    active: survey.active.get(document).cloned(),
                });
            }
            report.generations.push(PurgeEntry {
                document: document.clone(),
                generation: generation.clone(),
                retired_at: retired_at.map(clock::rfc3339),
                decision,
                removed: false,
            });
        }
    }
    let distinct: BTreeSet<&RunId> = selected.iter().map(|t| &t.generation).collect();
    info!(
        generations = selected.len(),
        runs = distinct.len(),
        "retired generations selected for purge"
    );
    Ok(selected)
}

/// Ages measured from `now`, against `--older-than`.
struct Age {
    now: SystemTime,
    older_than: Duration,
}

impl Age {
    /// Whether `at` is at least `older_than` before `now` (an unknown time is not old).
    fn is_old(&self, at: Option<&SystemTime>) -> bool {
        at.is_some_and(|at| self.now.duration_since(*at).unwrap_or_default() >= self.older_than)
    }
}

/// Every document's generation records, and its active generation.
struct Survey {
    generations: BTreeMap<DocumentId, Vec<GenerationRecord>>,
    active: BTreeMap<DocumentId, RunId>,
}

impl Survey {
    /// The active generation is the document's pointer, as the store's purge compares it: a
    /// record left `active` beside it (a document whose row was deleted alone and written
    /// again keeps its old records) is not the document's active generation.
    async fn take(store: &dyn LiveExecutionAdapter) -> Result<Survey, AdapterError> {
        let heads = store.load_heads(&Scope::All).await?;
        let mut survey = Survey {
            generations: BTreeMap::new(),
            active: BTreeMap::new(),
        };
        // A batch of documents' records a call: one call per document made a purge of a large
        // store as many round trips as it has documents.
        for batch in heads.chunks(DEFAULT_BATCH_DOCUMENTS) {
            let ids: Vec<DocumentId> = batch.iter().map(|h| h.id.clone()).collect();
            for record in store.generations_of(&ids).await? {
                survey
                    .generations
                    .entry(record.document.clone())
                    .or_default()
                    .push(record);
            }
            for head in batch {
                if let Some(active) = &head.active_generation {
                    survey.active.insert(head.id.clone(), active.clone());
                }
                survey.generations.entry(head.id.clone()).or_default();
            }
        }
        Ok(survey)
    }
}

/// Which (document, generation) a rollback may need, and for which run; and the runs whose
/// backup cannot be read, which keep every retired generation in their scope.
struct RollbackNeeds<'r> {
    keep: BTreeMap<(DocumentId, RunId), RunId>,
    keep_scope: Vec<&'r RunRecord>,
}

impl<'r> RollbackNeeds<'r> {
    async fn find(
        pipeline: &Pipeline,
        runs: &'r [RunRecord],
        times: &JournalTimes,
        age: &Age,
        survey: &Survey,
        report: &mut PurgeReport,
    ) -> RollbackNeeds<'r> {
        let mut needs = RollbackNeeds {
            keep: BTreeMap::new(),
            keep_scope: Vec::new(),
        };
        let backups = pipeline.backups();
        for record in runs.iter().filter(|r| r.status != RunStatus::RolledBack) {
            let run = &record.run;
            let young = !age.is_old(times.last_seen.get(run));
            match needs
                .read_backup(backups.as_ref(), run, young, survey)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    if pipeline.done(record, PhaseRole::Backup) {
                        report.notes.push(format!(
                            "run {run}'s backup is missing: every retired generation in its \
                             scope is kept"
                        ));
                        needs.keep_scope.push(record);
                    } else if record.status == RunStatus::Running
                        && pipeline.name_of(PhaseRole::Backup).is_some()
                    {
                        // Its backup may be reading the scope now: a generation removed after
                        // that read is listed in the backup, and the run's rollback needs it.
                        report.notes.push(format!(
                            "run {run} is running and its backup is not finished: every \
                             retired generation in its scope is kept"
                        ));
                        needs.keep_scope.push(record);
                    }
                }
                Err(error) => {
                    report.notes.push(format!(
                        "run {run}'s backup cannot be read ({error}): every retired generation \
                         in its scope is kept"
                    ));
                    needs.keep_scope.push(record);
                }
            }
        }
        needs
    }

    /// Adds what rolling `run` back needs, from its backup read a batch of documents at a time
    /// (never the whole scope's bodies at once); `false` if it has no backup.
    async fn read_backup(
        &mut self,
        backups: &dyn BackupStore,
        run: &RunId,
        young: bool,
        survey: &Survey,
    ) -> Result<bool, BackupError> {
        let Some(mut reader) = backups.open_with(run, HeaderDetail::Lean).await? else {
            return Ok(false);
        };
        while let Some(batch) = reader.next_batch(DEFAULT_BATCH_DOCUMENTS).await? {
            self.add_backup(run, &batch, young, survey);
        }
        Ok(true)
    }

    /// What rolling `run` back restores of the backed-up documents `snapshots`: every generation
    /// record of a young run, and, whatever its age, the pre-run active generation while the run
    /// is not superseded.
    fn add_backup(
        &mut self,
        run: &RunId,
        snapshots: &[DocumentSnapshot],
        young: bool,
        survey: &Survey,
    ) {
        for snapshot in snapshots {
            let id = &snapshot.document.id;
            let pre = snapshot.document.active_generation.as_ref();
            if young {
                for g in &snapshot.generations {
                    self.keep
                        .entry((id.clone(), g.generation.clone()))
                        .or_insert_with(|| run.clone());
                }
            }
            let current = survey.active.get(id);
            let superseded = current.is_some_and(|c| c != run && Some(c) != pre);
            if let Some(pre) = pre
                && !superseded
            {
                self.keep
                    .entry((id.clone(), pre.clone()))
                    .or_insert_with(|| run.clone());
            }
        }
    }

    /// The run a rollback of which needs `generation` of `document`, if any.
    fn needed_by(&self, document: &DocumentId, generation: &RunId) -> Option<RunId> {
        if let Some(run) = self.keep.get(&(document.clone(), generation.clone())) {
            return Some(run.clone());
        }
        self.keep_scope
            .iter()
            .find(|r| r.scope.contains(document))
            .map(|r| r.run.clone())
    }
}

/// The outcome of a purge stopped by `error`; `sent` when the removal itself was sent to the
/// store: a failure other than a refusal may then come after the store committed (its reply
/// lost), so the removal is all or nothing but which of the two cannot be told.
fn purge_failure(error: AdapterError, again: NextAction, sent: bool) -> Outcome {
    match error {
        AdapterError::Conflict {
            document,
            expected,
            found,
        } => Outcome::Blocked {
            gap: iu_cutter_phase_core::Gap {
                phase: "purge".into(),
                document: Some(document),
                unit: None,
                expected,
                found,
                next: vec![
                    NextAction::fix(
                        "nothing was removed; a generation changed state meanwhile, so select \
                         again",
                    ),
                    again,
                ],
            },
        },
        error => Outcome::refused_or_failed(error, None, |error| {
            let what = if sent {
                "purge failed, and whether it removed the selected generations cannot be told \
                 (it removes all or none; the store's answer was lost): run it again, it skips \
                 those already gone"
            } else {
                "purge failed, nothing was removed"
            };
            (
                format!("{what}: {error}"),
                vec![NextAction::fix("fix the cause above"), again],
            )
        }),
    }
}
