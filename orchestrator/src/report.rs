//! The run report: the serialisable account of one invocation (run, resume or rollback).

use iu_cutter_live_execution::{AdapterInfo, Census, DocumentId, Evidence, RunId};
use iu_cutter_phase_core::Gap;
use serde::{Deserialize, Serialize};

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Every phase passed, or the run stopped on purpose after `held_after` (see the report).
    Pass,
    /// A gate found a gap; nothing was destroyed.
    Blocked {
        /// Which gate, where, expected versus found, and the next action.
        gap: Gap,
    },
    /// The kill switch is closed. Nothing was mutated by the refused call.
    Refused {
        /// The source that closed it.
        switch: String,
        /// How to open it.
        how_to_open: String,
        /// The phase a resume starts from, if the run had begun.
        resume_from: Option<String>,
    },
    /// The run's documents are back in their exact pre-run state.
    RolledBack,
    /// An error stopped the invocation.
    Failed {
        /// What went wrong.
        error: String,
        /// The phase a resume starts from, if resuming makes sense.
        resume_from: Option<String>,
        /// The operator's next action.
        next_action: String,
    },
}

impl Outcome {
    /// `PASS`, `BLOCKED`, `REFUSED`, `ROLLED_BACK` or `FAILED`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Blocked { .. } => "BLOCKED",
            Outcome::Refused { .. } => "REFUSED",
            Outcome::RolledBack => "ROLLED_BACK",
            Outcome::Failed { .. } => "FAILED",
        }
    }

    /// True for `PASS` and `ROLLED_BACK`: the invocation did what it was asked.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Pass | Outcome::RolledBack)
    }
}

/// Which runner operation produced a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// A new run.
    Run,
    /// A journaled run continued.
    Resume,
    /// A run restored to its pre-run state.
    Rollback,
}

/// What happened to one phase in this invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseEntryStatus {
    /// Ran and passed.
    Done,
    /// Not run: the journal already showed it done (its journaled evidence is shown).
    Skipped,
    /// Ran and found a gap.
    Blocked,
    /// Ran and failed, or could not be journaled.
    Failed,
    /// Refused by the kill switch.
    Refused,
    /// Stopped by cancellation at a batch boundary.
    Cancelled,
    /// Not reached.
    NotRun,
}

/// One phase's line in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseEntry {
    /// Phase name.
    pub name: String,
    /// What happened to it.
    pub status: PhaseEntryStatus,
    /// Evidence recorded (this invocation's, or the journal's for a skipped phase).
    pub evidence: Evidence,
    /// The error or gap, when it did not pass.
    pub detail: Option<String>,
    /// Time spent running it; `None` when it did not run.
    pub duration_ms: Option<u64>,
}

impl PhaseEntry {
    pub(crate) fn not_run(name: &str) -> Self {
        PhaseEntry {
            name: name.to_owned(),
            status: PhaseEntryStatus::NotRun,
            evidence: Evidence::new(),
            detail: None,
            duration_ms: None,
        }
    }
}

/// The census of the whole store, without the per-document digests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusSummary {
    /// Number of documents.
    pub documents: u64,
    /// Number of units across all generations.
    pub units: u64,
    /// The fingerprint.
    pub fingerprint: String,
}

impl From<&Census> for CensusSummary {
    fn from(census: &Census) -> Self {
        CensusSummary {
            documents: census.documents,
            units: census.units,
            fingerprint: census.fingerprint.clone(),
        }
    }
}

/// A backed-up document whose digest after restore differs from the backup's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestMismatch {
    /// The document.
    pub document: DocumentId,
    /// Digest in the backup's census.
    pub expected: String,
    /// Digest found after the restore; `None` if the document is missing.
    pub found: Option<String>,
}

/// How a rollback was verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackCheck {
    /// sha256 of the backup artifact restored from.
    pub backup_sha256: String,
    /// Documents restored.
    pub restored_documents: u64,
    /// Every backed-up document's digest equals the backup census's digest.
    pub census_matches_backup: bool,
    /// The whole store's fingerprint equals the pre-run fingerprint. False while the scoped
    /// documents match means something outside the run changed the store since the backup.
    pub fingerprint_matches_pre_run: bool,
    /// The fingerprint recorded in the backup.
    pub pre_run_fingerprint: String,
    /// The fingerprint after the restore.
    pub fingerprint_after: String,
    /// Every backed-up document that differs, in id order.
    pub mismatches: Vec<DigestMismatch>,
}

/// The account of one invocation of the runner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The run.
    pub run: RunId,
    /// Which operation this was.
    pub command: Command,
    /// The store it ran against.
    pub adapter: AdapterInfo,
    /// How it ended.
    pub outcome: Outcome,
    /// Set when the run stopped on purpose after this phase (`until`); the journal says `Held`.
    pub held_after: Option<String>,
    /// One entry per phase, in run order (for a rollback, the single `rollback` step).
    pub phases: Vec<PhaseEntry>,
    /// The store's census when this invocation started mutating, if taken.
    pub census_before: Option<CensusSummary>,
    /// The store's census when this invocation ended, if taken.
    pub census_after: Option<CensusSummary>,
    /// The verification of a rollback.
    pub rollback: Option<RollbackCheck>,
    /// Things the operator should know that the outcome does not say.
    pub notes: Vec<String>,
    /// Wall time of the invocation.
    pub duration_ms: u64,
}

impl RunReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The entry of phase `name`, if the report lists it.
    pub fn phase(&self, name: &str) -> Option<&PhaseEntry> {
        self.phases.iter().find(|p| p.name == name)
    }
}
