//! Domain types shared by every store, phase and report.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rules::CutRules;

/// Version of every serialised boundary type (plans, backups, journal records, reports).
pub const SCHEMA_VERSION: u32 = 1;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a string.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }
    };
}

string_id!(
    /// Identifies a source document (a law, a contract, an article).
    DocumentId
);
string_id!(
    /// Identifies a run. A run's units form the *generation* named by the same id.
    RunId
);

/// Where a document stands in its lifecycle.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DocumentState {
    /// Imported (or edited since its last cut); no run holds it.
    Ready,
    /// Fenced by a run: no other run may cut it until that run enacts or rolls back.
    Cutting {
        /// The run holding the fence.
        run: RunId,
    },
    /// Cut: its active generation matches its body.
    Cut,
}

/// A source document as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// The document's id.
    pub id: DocumentId,
    /// Bumped on every change of the body.
    pub revision: u64,
    /// sha256 (lowercase hex) of the body's bytes.
    pub sha256: String,
    /// Lifecycle state.
    pub state: DocumentState,
    /// The generation readers see, if the document was ever cut.
    pub active_generation: Option<RunId>,
    /// The text, exactly as stored.
    pub body: String,
}

/// The state of one document's generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GenerationState {
    /// Written by a run, invisible to readers until enacted.
    Staged,
    /// The document's current units.
    Active,
    /// Superseded by a later generation; kept until purged.
    Retired,
}

/// One document's generation record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GenerationRecord {
    /// The document.
    pub document: DocumentId,
    /// The generation (the run that wrote it).
    pub generation: RunId,
    /// Its state.
    pub state: GenerationState,
}

/// An information unit: an exact byte span of a document, in one generation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unit {
    /// The source document.
    pub document: DocumentId,
    /// The generation this unit belongs to.
    pub generation: RunId,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Stable id derived from the document id and structural path, not from content.
    pub unit_id: String,
    /// Hierarchical path, e.g. `Chương II/Điều 44`.
    pub path: String,
    /// Part number when an oversize unit was split.
    pub part: Option<u32>,
    /// First byte of the span in the source.
    pub start: u64,
    /// One past the last byte of the span.
    pub end: u64,
    /// sha256 (lowercase hex) of the body.
    pub sha256: String,
    /// The unit's text: `source[start..end]`.
    pub body: String,
}

/// Which documents a run covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Scope {
    /// Every document in the store.
    All,
    /// Exactly these documents.
    Ids(Vec<DocumentId>),
    /// Documents whose id starts with this prefix.
    Prefix(String),
}

impl Scope {
    /// Whether `id` is in scope.
    pub fn contains(&self, id: &DocumentId) -> bool {
        match self {
            Scope::All => true,
            Scope::Ids(ids) => ids.contains(id),
            Scope::Prefix(prefix) => id.as_str().starts_with(prefix.as_str()),
        }
    }
}

/// One planned unit: the cut of a document, without the text (the text is the source's span).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlannedUnit {
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Stable unit id.
    pub unit_id: String,
    /// Hierarchical path.
    pub path: String,
    /// Part number of a split unit.
    pub part: Option<u32>,
    /// First byte of the span.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// sha256 of the span.
    pub sha256: String,
}

/// The cut of one document.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentPlan {
    /// The document.
    pub document: DocumentId,
    /// The revision that was cut (from the backup).
    pub revision: u64,
    /// sha256 of the source that was cut.
    pub source_sha256: String,
    /// Length of the source in bytes.
    pub source_bytes: u64,
    /// The units, in order; their spans cover the source exactly.
    pub units: Vec<PlannedUnit>,
}

/// The plan of a run: what will be written. Pure function of the backed-up sources and the rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Plan {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The rules that produced it.
    pub rules: CutRules,
    /// One entry per scoped document, in id order.
    pub documents: Vec<DocumentPlan>,
}

impl Plan {
    /// sha256 of the plan's canonical JSON (field order fixed, documents in id order).
    pub fn sha256(&self) -> String {
        // Serialising plain structs, vectors and strings cannot fail.
        let bytes = serde_json::to_vec(self).unwrap_or_default();
        crate::sha256_hex(&bytes)
    }

    /// Total number of planned units.
    pub fn unit_count(&self) -> u64 {
        self.documents.iter().map(|d| d.units.len() as u64).sum()
    }
}

/// A fingerprint of the whole store (documents, generations, units; not the journal).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// Number of documents.
    pub documents: u64,
    /// Number of units across all generations.
    pub units: u64,
    /// sha256 over every document's digest, in id order.
    pub fingerprint: String,
    /// Digest of each document with its generations and units.
    pub per_document: BTreeMap<DocumentId, String>,
}

/// Everything a run may touch for one document, as it was before the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentSnapshot {
    /// The document row.
    pub document: Document,
    /// All its generation records.
    pub generations: Vec<GenerationRecord>,
    /// The units of its active generation.
    pub active_units: Vec<Unit>,
}

/// The pre-run state of a run's scope plus the census of the whole store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The run this backup belongs to.
    pub run: RunId,
    /// Census of the whole store when the backup was taken.
    pub census: Census,
    /// The scoped documents, in id order.
    pub documents: Vec<DocumentSnapshot>,
}

impl Backup {
    /// Checks that this backup can restore run `run`: it belongs to that run, and every snapshot
    /// holds only its own document's generation records and active units. Every store calls this
    /// before restoring, so they refuse the same malformed backups with the same messages.
    pub fn check_for_run(&self, run: &RunId) -> Result<(), crate::AdapterError> {
        use crate::AdapterError::Invalid;
        if self.run != *run {
            return Err(Invalid(format!(
                "the backup belongs to run `{}`, not to run `{run}`",
                self.run
            )));
        }
        for snapshot in &self.documents {
            let id = &snapshot.document.id;
            if let Some(record) = snapshot.generations.iter().find(|g| g.document != *id) {
                return Err(Invalid(format!(
                    "the backup of document `{id}` holds a generation record of document `{}`",
                    record.document
                )));
            }
            let active = snapshot.document.active_generation.as_ref();
            if let Some(unit) = snapshot
                .active_units
                .iter()
                .find(|u| u.document != *id || Some(&u.generation) != active)
            {
                return Err(Invalid(format!(
                    "the backup of document `{id}` holds unit {} of document `{}`, generation \
                     `{}`, which is not the document's active generation",
                    unit.ordinal, unit.document, unit.generation
                )));
            }
        }
        Ok(())
    }
}

/// A full copy of a store's documents, generations and units (seeds a simulator).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSnapshot {
    /// Every document.
    pub documents: Vec<Document>,
    /// Every generation record.
    pub generations: Vec<GenerationRecord>,
    /// Every unit.
    pub units: Vec<Unit>,
}

/// What a fence or enact expects a document to still be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedRevision {
    /// The document.
    pub document: DocumentId,
    /// Revision read at backup.
    pub revision: u64,
    /// Body sha256 read at backup.
    pub sha256: String,
}

/// Evidence a phase records: small named facts (hashes, counts).
pub type Evidence = BTreeMap<String, String>;

/// Where a journaled run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started, not finished (or crashed: resume it).
    Running,
    /// Stopped on purpose after a phase (`until`); continue with resume.
    Held,
    /// Every phase passed.
    Pass,
    /// A gate found a gap.
    Blocked,
    /// The kill switch was closed or a precondition failed.
    Refused,
    /// Restored to the pre-run state.
    RolledBack,
    /// An error; resumable.
    Failed,
}

/// Where a journaled phase stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Started, not finished.
    Running,
    /// Finished; its evidence is recorded.
    Done,
    /// Stopped at a gap.
    Blocked,
    /// Stopped by an error.
    Failed,
}

/// One phase in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// Phase name, e.g. `backup`.
    pub name: String,
    /// Status.
    pub status: PhaseStatus,
    /// Evidence recorded when done.
    pub evidence: Evidence,
    /// Error or gap description when blocked or failed.
    pub detail: Option<String>,
    /// When the phase (last) started, UTC RFC 3339, as the runner journals it. Journal only:
    /// never part of the census or of the evidence.
    #[serde(default)]
    pub started_at: Option<String>,
    /// When it reached its status (done, blocked, failed), UTC RFC 3339; `None` while running.
    /// A held run's write-verify completion is what `enact` measures `held_max_age` against.
    #[serde(default)]
    pub finished_at: Option<String>,
}

/// A run in the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The run.
    pub run: RunId,
    /// Its scope.
    pub scope: Scope,
    /// Its rules.
    pub rules: CutRules,
    /// sha256 of the plan the operator reviewed and started the run with (`run --plan`), if
    /// any: cut-leg-a blocks when the plan computed from the backup has another sha256.
    #[serde(default)]
    pub expected_plan_sha256: Option<String>,
    /// Status.
    pub status: RunStatus,
    /// Phases started so far, in order.
    pub phases: Vec<PhaseRecord>,
}

impl RunRecord {
    /// A fresh run record with no phases.
    pub fn new(run: RunId, scope: Scope, rules: CutRules) -> Self {
        RunRecord {
            schema_version: SCHEMA_VERSION,
            run,
            scope,
            rules,
            expected_plan_sha256: None,
            status: RunStatus::Running,
            phases: Vec::new(),
        }
    }

    /// The journaled record of phase `name`, if it started.
    pub fn phase(&self, name: &str) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// What kind of store an adapter talks to; reports and the no-fallback check read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterInfo {
    /// `simulator`, `sqlite` or `postgres`.
    pub kind: String,
    /// True for a real database.
    pub live: bool,
    /// Where it points, with any password removed.
    pub location: String,
}
