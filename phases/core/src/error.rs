//! Why a phase stopped.

use std::fmt;

use iu_cutter_live_execution::{AdapterError, DocumentId};
use serde::{Deserialize, Serialize};

use crate::backup_store::BackupError;
use crate::next::{NextAction, in_words};

/// The exact gap a gate found: where, expected versus found, and what to do next.
///
/// In JSON the next actions are `next_actions` (typed) and `next_action`, the same in words, as
/// reports before typed actions had it; a gap of such a report reads its words as one
/// [`NextAction::Fix`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "GapJson", into = "GapJson")]
pub struct Gap {
    /// The phase that found it.
    pub phase: String,
    /// The document, if the gap is about one.
    pub document: Option<DocumentId>,
    /// The unit (stable id or ordinal), if the gap is about one.
    pub unit: Option<String>,
    /// What the gate expected.
    pub expected: String,
    /// What it found.
    pub found: String,
    /// The operator's next actions, in order.
    pub next: Vec<NextAction>,
}

/// [`Gap`] as JSON: its next actions typed and in words.
#[derive(Serialize, Deserialize)]
struct GapJson {
    phase: String,
    document: Option<DocumentId>,
    unit: Option<String>,
    expected: String,
    found: String,
    #[serde(default)]
    next_action: String,
    #[serde(default)]
    next_actions: Vec<NextAction>,
}

impl From<GapJson> for Gap {
    fn from(json: GapJson) -> Self {
        Gap {
            phase: json.phase,
            document: json.document,
            unit: json.unit,
            expected: json.expected,
            found: json.found,
            next: typed_or_words(json.next_actions, json.next_action),
        }
    }
}

impl From<Gap> for GapJson {
    fn from(gap: Gap) -> Self {
        GapJson {
            next_action: in_words(&gap.next),
            phase: gap.phase,
            document: gap.document,
            unit: gap.unit,
            expected: gap.expected,
            found: gap.found,
            next_actions: gap.next,
        }
    }
}

/// The typed actions of a JSON record, or, from a record written before they were typed, its
/// words as one [`NextAction::Fix`].
pub fn typed_or_words(typed: Vec<NextAction>, words: String) -> Vec<NextAction> {
    if typed.is_empty() && !words.is_empty() {
        vec![NextAction::Fix { what: words }]
    } else {
        typed
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.phase)?;
        if let Some(document) = &self.document {
            write!(f, ", document `{document}`")?;
        }
        if let Some(unit) = &self.unit {
            write!(f, ", unit {unit}")?;
        }
        write!(
            f,
            ": expected {}, found {}; next: {}",
            self.expected,
            self.found,
            in_words(&self.next)
        )
    }
}

/// Why a phase did not complete.
#[derive(Debug, thiserror::Error)]
pub enum PhaseError {
    /// A gate found a gap; the run is `BLOCKED`.
    #[error("blocked at {0}")]
    Blocked(Gap),
    /// The store failed or refused (a closed kill switch surfaces here).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The backup artifact could not be written or read.
    #[error(transparent)]
    Backup(BackupError),
    /// The run was cancelled at a phase or batch boundary.
    #[error("cancelled by the operator at a batch boundary")]
    Cancelled,
    /// Something the phase needs is missing (no backup, no plan) or the input is unusable.
    #[error("precondition failed: {0}")]
    Precondition(String),
}

impl PhaseError {
    /// How `phase` reports the store's refusal of its compare-and-set call: a conflict blocks
    /// the run on a gap naming the document, what the call expected and what the store holds,
    /// with `next`; any other refusal stops the phase as it is.
    pub fn blocked_on_conflict(phase: &str, error: AdapterError, next: Vec<NextAction>) -> Self {
        match error {
            AdapterError::Conflict {
                document,
                expected,
                found,
            } => PhaseError::Blocked(Gap {
                phase: phase.to_owned(),
                document: Some(document),
                unit: None,
                expected,
                found,
                next,
            }),
            other => PhaseError::Adapter(other),
        }
    }
}

impl From<BackupError> for PhaseError {
    /// A closed kill switch met while journaling the backup is the switch's refusal, like any
    /// other mutation's.
    fn from(error: BackupError) -> Self {
        match error {
            BackupError::Journal {
                source: gate @ AdapterError::GateClosed { .. },
                ..
            } => PhaseError::Adapter(gate),
            other => PhaseError::Backup(other),
        }
    }
}
