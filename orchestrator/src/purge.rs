//! Purging retired generations, keeping what a rollback of a recent run needs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, DocumentId, GenerationState, PhaseStatus, PurgeTarget, RunId, RunRecord,
    RunStatus,
};

use crate::generations::JournalTimes;
use iu_cutter_phase_core::names;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock;
use crate::report::{Outcome, REPORT_SCHEMA_VERSION};
use crate::runner::Runner;

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
    /// removed), `FAILED` or `BLOCKED` (a generation changed state meanwhile; nothing removed).
    pub outcome: Outcome,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

impl PurgeReport {
    /// The generations purge selected (removed when the outcome is `PASS`).
    pub fn selected(&self) -> impl Iterator<Item = &PurgeEntry> {
        self.generations
            .iter()
            .filter(|e| e.decision == PurgeDecision::Purge)
    }
}

impl Runner {
    /// Removes retired generations (their records and units) older than `older_than`, keeping
    /// what a rollback of a recent run needs. See [`Runner::purge_at`] for the exact rule.
    pub async fn purge(&self, older_than: Duration) -> PurgeReport {
        self.purge_at(older_than, SystemTime::now()).await
    }

    /// [`Runner::purge`], measuring ages from `now`.
    ///
    /// A generation `G` of document `D` is purged only when all of these hold:
    ///
    /// 1. `G` is `Retired` in the store (active and staged generations are never purged; the
    ///    store refuses them);
    /// 2. `G` was retired at least `older_than` before `now`. Its retirement time comes from the
    ///    journal: the lifecycle-enact completion of the first generation of `D` enacted after
    ///    `G`, or, when `G`'s own enact time is not journaled, that of `D`'s active generation
    ///    (a later bound, so the age errs young). Without a journaled time, `G` is kept;
    /// 3. no run that a rollback may still need lists it: for every journaled run `R` that is
    ///    not rolled back and whose backup holds `D`,
    ///    - if `R` is younger than `older_than` (its latest journaled phase time is less than
    ///      `older_than` before `now`, or undated), every generation record of `D` in `R`'s
    ///      backup is kept: rolling `R` back restores those records and checks them, with their
    ///      units, against the backup's census;
    ///    - whatever `R`'s age, while `R` is not superseded on `D` (`D`'s active generation is
    ///      still `R`'s or `D`'s pre-run one), `D`'s pre-run active generation in `R`'s backup
    ///      is kept: rolling `R` back makes it active again.
    ///
    ///    A run whose backup phase is done but whose artifact is missing or unreadable keeps
    ///    every retired generation of every document in its scope (its backup cannot be read to
    ///    tell which).
    ///
    /// A rollback after a purge still restores its documents exactly (the pre-run active
    /// generation and its units come from the backup), less the retired generations purged
    /// since its backup: it does not bring those back, checks those documents against the
    /// backup less them, and says which in its notes.
    ///
    /// The selected generations are removed in one transaction (all or nothing), each only while
    /// its document's active generation is still the one seen when it was selected (a rollback
    /// or an enact in between may need it again: the purge then removes nothing, `BLOCKED`, and
    /// can simply be run again); removal is a mutation behind the kill switch. With nothing selected, nothing is written and the
    /// switch is not needed.
    pub async fn purge_at(&self, older_than: Duration, now: SystemTime) -> PurgeReport {
        let mut report = PurgeReport {
            schema_version: REPORT_SCHEMA_VERSION,
            older_than: clock::format_age(older_than),
            now: clock::rfc3339(now),
            generations: Vec::new(),
            purged: 0,
            outcome: Outcome::Pass,
            notes: Vec::new(),
        };
        let again = format!(
            "iu-cutter purge --older-than {} --execute",
            report.older_than
        );
        let selected = match self.select(older_than, now, &mut report).await {
            Ok(selected) => selected,
            Err(error) => {
                report.outcome = Outcome::Failed {
                    error: format!("cannot read the store to select generations: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
                return report;
            }
        };
        if selected.is_empty() {
            report
                .notes
                .push("no retired generation is old enough and unneeded; nothing to purge".into());
            return report;
        }
        if let Err(error) = self.adapter.preflight().await {
            report.outcome = purge_failure(error, &again);
            return report;
        }
        match self.adapter.purge_generations(&selected).await {
            Ok(purged) => {
                info!(purged, "retired generations purged");
                report.purged = purged;
            }
            Err(error) => {
                warn!(%error, "purge failed; nothing was removed");
                report.outcome = purge_failure(error, &again);
            }
        }
        report
    }

    /// Fills `report.generations` and returns the generations to purge.
    async fn select(
        &self,
        older_than: Duration,
        now: SystemTime,
        report: &mut PurgeReport,
    ) -> Result<Vec<PurgeTarget>, AdapterError> {
        let runs = self.adapter.list_runs().await?;
        let times = JournalTimes::new(&runs);
        let is_old = |at: Option<&SystemTime>| {
            at.is_some_and(|at| now.duration_since(*at).unwrap_or_default() >= older_than)
        };

        let documents: Vec<DocumentId> = self
            .adapter
            .census()
            .await?
            .per_document
            .into_keys()
            .collect();
        let mut generations = BTreeMap::new();
        let mut active = BTreeMap::new();
        for document in &documents {
            let records = self.adapter.generations(document).await?;
            if let Some(record) = records.iter().find(|g| g.state == GenerationState::Active) {
                active.insert(document.clone(), record.generation.clone());
            }
            generations.insert(document.clone(), records);
        }

        // Which (document, generation) a rollback may need, and for which run.
        let mut keep: BTreeMap<(DocumentId, RunId), RunId> = BTreeMap::new();
        let mut keep_scope: Vec<&RunRecord> = Vec::new();
        for record in runs.iter().filter(|r| r.status != RunStatus::RolledBack) {
            let run = &record.run;
            let young = !is_old(times.last_seen.get(run));
            let backup = match self.backups.load(run).await {
                Ok(Some((backup, _))) => backup,
                Ok(None) => {
                    if record
                        .phase(names::BACKUP)
                        .is_some_and(|p| p.status == PhaseStatus::Done)
                    {
                        report.notes.push(format!(
                            "run {run}'s backup is missing: every retired generation in its \
                             scope is kept"
                        ));
                        keep_scope.push(record);
                    }
                    continue;
                }
                Err(error) => {
                    report.notes.push(format!(
                        "run {run}'s backup cannot be read ({error}): every retired generation \
                         in its scope is kept"
                    ));
                    keep_scope.push(record);
                    continue;
                }
            };
            for snapshot in &backup.documents {
                let id = &snapshot.document.id;
                let pre = snapshot.document.active_generation.as_ref();
                if young {
                    for g in &snapshot.generations {
                        keep.entry((id.clone(), g.generation.clone()))
                            .or_insert_with(|| run.clone());
                    }
                }
                let current = active.get(id);
                let superseded = current.is_some_and(|c| c != run && Some(c) != pre);
                if let Some(pre) = pre
                    && !superseded
                {
                    keep.entry((id.clone(), pre.clone()))
                        .or_insert_with(|| run.clone());
                }
            }
        }

        let mut selected = Vec::new();
        for (document, records) in &generations {
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
                    None => active.get(document).and_then(activated),
                };
                let scoped = keep_scope.iter().find(|r| r.scope.contains(document));
                let decision = if let Some(run) = keep.get(&(document.clone(), generation.clone()))
                {
                    PurgeDecision::KeptForRollback { run: run.clone() }
                } else if let Some(record) = scoped {
                    PurgeDecision::KeptForRollback {
                        run: record.run.clone(),
                    }
                } else if retired_at.is_none() {
                    PurgeDecision::KeptUndated
                } else if !is_old(retired_at.as_ref()) {
                    PurgeDecision::KeptRecent
                } else {
                    PurgeDecision::Purge
                };
                if decision == PurgeDecision::Purge {
                    selected.push(PurgeTarget {
                        document: document.clone(),
                        generation: generation.clone(),
                        active: active.get(document).cloned(),
                    });
                }
                report.generations.push(PurgeEntry {
                    document: document.clone(),
                    generation: generation.clone(),
                    retired_at: retired_at.map(clock::rfc3339),
                    decision,
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
}

fn purge_failure(error: AdapterError, again: &str) -> Outcome {
    match error {
        AdapterError::GateClosed {
            switch,
            how_to_open,
        } => Outcome::gate_closed(switch, how_to_open, None),
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
                next_action: format!(
                    "nothing was removed; a generation changed state meanwhile, so select again: \
                     {again}"
                ),
            },
        },
        error => Outcome::Failed {
            error: format!("purge failed, nothing was removed: {error}"),
            resume_from: None,
            next_action: format!("fix the cause above, then: {again}"),
        },
    }
}
