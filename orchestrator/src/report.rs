//! The run report: the serialisable account of one invocation (run, resume, enact, verify or
//! rollback), in JSON ([`RunReport::to_json`]) and Markdown ([`RunReport::to_markdown`]).

use std::fmt::Write as _;

#[cfg(doc)]
use iu_cutter_live_execution::EvidenceValue;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, Census, DocumentId, Evidence, Kept, RunId,
};
use iu_cutter_phase_core::next::in_words;
use iu_cutter_phase_core::{Gap, NextAction, typed_or_words};
use serde::{Deserialize, Serialize};

/// Version of the report's JSON. 2 added the run's times, mode, provenance, plan and backup
/// sha256, per-phase start times, the refusal's reason and the dry run's attestation; 3 what the
/// run holds in the store (`holds`) and the rollback's kept edits and documents left alone; 4
/// typed the phases' evidence values ([`EvidenceValue`]): a count is a JSON number (`500`, was
/// `"500"`), a check a boolean (`true`, was `"true"`), a list of names an array
/// (`unstructured_documents`, was one string joined by `, `); sha256s and other text stay
/// strings. A phase a version-4 report shows as skipped carries the evidence its journal holds:
/// from a run journaled before typing, strings as they were written. The Markdown is unchanged.
/// 5 typed the next actions: `next_actions` ([`NextAction`]s) in a `REFUSED` or `FAILED` outcome
/// and in a gap, next to the former text fields (`how_to_open`, `next_action`), which now hold
/// the same actions in words; from an older report the words read as one [`NextAction::Fix`].
pub const REPORT_SCHEMA_VERSION: u32 = 5;

/// How an invocation ended.
///
/// In JSON, the next actions of `REFUSED` and `FAILED` are `next_actions` (typed), and in words
/// as reports before typed actions had them (`how_to_open`, `next_action`); a report of such a
/// version reads its words as one [`NextAction::Fix`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "OutcomeJson", into = "OutcomeJson")]
pub enum Outcome {
    /// Every phase passed, or the run stopped on purpose after `held_after` (see the report).
    Pass,
    /// A gate found a gap; nothing was destroyed.
    Blocked {
        /// Which gate, where, expected versus found, and the next action.
        gap: Gap,
    },
    /// The kill switch is closed, or a precondition failed (a plan that no longer matches, a
    /// run that is not held, a later run holding the documents). The reason says whether the
    /// invocation had changed anything before it was refused.
    Refused {
        /// Why, in one sentence.
        #[serde(default)]
        reason: String,
        /// The source that closed it, or the switch or option whose precondition failed (e.g.
        /// `--plan`).
        switch: String,
        /// What the operator does next, in order (opening the switch, for a closed one).
        next: Vec<NextAction>,
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
        /// What the operator does next, in order.
        next: Vec<NextAction>,
    },
}

/// How the reason of a refusal by the kill switch begins.
const GATE_CLOSED: &str = "the kill switch is closed";

/// [`Outcome`] as JSON: the next actions typed, and in words under their former names.
#[derive(Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "SCREAMING_SNAKE_CASE")]
enum OutcomeJson {
    Pass,
    Blocked {
        gap: Gap,
    },
    Refused {
        #[serde(default)]
        reason: String,
        switch: String,
        #[serde(default)]
        how_to_open: String,
        #[serde(default)]
        next_actions: Vec<NextAction>,
        resume_from: Option<String>,
    },
    RolledBack,
    Failed {
        error: String,
        resume_from: Option<String>,
        #[serde(default)]
        next_action: String,
        #[serde(default)]
        next_actions: Vec<NextAction>,
    },
}

impl From<OutcomeJson> for Outcome {
    fn from(json: OutcomeJson) -> Self {
        match json {
            OutcomeJson::Pass => Outcome::Pass,
            OutcomeJson::Blocked { gap } => Outcome::Blocked { gap },
            OutcomeJson::Refused {
                reason,
                switch,
                how_to_open,
                next_actions,
                resume_from,
            } => {
                // A report written before typed actions: its closed switch's words open it.
                let next = if next_actions.is_empty() && reason.starts_with(GATE_CLOSED) {
                    vec![NextAction::OpenKillSwitch {
                        switch: switch.clone(),
                        how: how_to_open,
                    }]
                } else {
                    typed_or_words(next_actions, how_to_open)
                };
                Outcome::Refused {
                    reason,
                    switch,
                    next,
                    resume_from,
                }
            }
            OutcomeJson::RolledBack => Outcome::RolledBack,
            OutcomeJson::Failed {
                error,
                resume_from,
                next_action,
                next_actions,
            } => Outcome::Failed {
                error,
                resume_from,
                next: typed_or_words(next_actions, next_action),
            },
        }
    }
}

impl From<Outcome> for OutcomeJson {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Pass => OutcomeJson::Pass,
            Outcome::Blocked { gap } => OutcomeJson::Blocked { gap },
            Outcome::Refused {
                reason,
                switch,
                next,
                resume_from,
            } => OutcomeJson::Refused {
                reason,
                switch,
                how_to_open: in_words(&next),
                next_actions: next,
                resume_from,
            },
            Outcome::RolledBack => OutcomeJson::RolledBack,
            Outcome::Failed {
                error,
                resume_from,
                next,
            } => OutcomeJson::Failed {
                error,
                resume_from,
                next_action: in_words(&next),
                next_actions: next,
            },
        }
    }
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

    /// `FAILED` because the store could not be read (`error` says what): check that the store is
    /// reachable, then `again`.
    pub(crate) fn store_unreadable(error: String, again: NextAction) -> Self {
        Outcome::Failed {
            error,
            resume_from: None,
            next: vec![NextAction::fix("check that the store is reachable"), again],
        }
    }

    /// True for `PASS` and `ROLLED_BACK`: the invocation did what it was asked.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Pass | Outcome::RolledBack)
    }

    /// `REFUSED` because the kill switch `switch` is closed; opening it (`how_to_open`) is the
    /// next action. The reason says what the refused invocation had already changed: see
    /// [`Outcome::told_truly`].
    pub fn gate_closed(switch: String, how_to_open: String, resume_from: Option<String>) -> Self {
        Outcome::Refused {
            reason: format!("{GATE_CLOSED} by {switch}"),
            next: vec![NextAction::OpenKillSwitch {
                switch: switch.clone(),
                how: how_to_open,
            }],
            switch,
            resume_from,
        }
    }

    /// `REFUSED` when `error` is the kill switch's refusal; otherwise `FAILED`, with the error and
    /// the next action that `failed` words for it.
    pub(crate) fn refused_or_failed(
        error: AdapterError,
        resume_from: Option<String>,
        failed: impl FnOnce(AdapterError) -> (String, Vec<NextAction>),
    ) -> Outcome {
        match error {
            AdapterError::GateClosed {
                switch,
                how_to_open,
            } => Outcome::gate_closed(switch, how_to_open, resume_from),
            error => {
                let (error, next) = failed(error);
                Outcome::Failed {
                    error,
                    resume_from,
                    next,
                }
            }
        }
    }

    /// The outcome with its reason completed by what is true of the store: whether this
    /// invocation had changed anything before it stopped (`mutated`), and what the run holds in
    /// the store now (`holds`). A refusal after a mutation never says that nothing was changed.
    pub fn told_truly(self, mutated: bool, holds: Option<&Footprint>) -> Self {
        let Outcome::Refused {
            reason,
            switch,
            next,
            resume_from,
        } = self
        else {
            return self;
        };
        if reason.contains("nothing was") {
            return Outcome::Refused {
                reason,
                switch,
                next,
                resume_from,
            };
        }
        let changed = if mutated {
            "this invocation had already changed the store before it stopped"
        } else {
            "nothing was changed by this invocation"
        };
        let holding = match holds {
            Some(footprint) if !footprint.is_empty() => {
                format!("; the run holds {}", footprint.describe())
            }
            _ => String::new(),
        };
        // A run stopped part-way (between two batches of its enact, say) is not lost: say so.
        let resumable = match &resume_from {
            Some(phase) if mutated => {
                format!("; it is resumable from `{phase}` once the switch is open")
            }
            _ => String::new(),
        };
        Outcome::Refused {
            reason: format!("{reason}; {changed}{holding}{resumable}"),
            switch,
            next,
            resume_from,
        }
    }

    /// What the operator does next, as the outcome says it (empty for `PASS` and
    /// `ROLLED_BACK`); [`RunReport::next_actions`] completes it with what the report knows.
    pub fn next(&self) -> &[NextAction] {
        match self {
            Outcome::Pass | Outcome::RolledBack => &[],
            Outcome::Blocked { gap } => &gap.next,
            Outcome::Refused { next, .. } | Outcome::Failed { next, .. } => next,
        }
    }
}

/// What a run holds in the store: its marks, read from the store when an invocation ends short
/// of `PASS` (so that a stopped run says what it had changed and what to undo or finish).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Footprint {
    /// Scoped documents fenced by the run.
    pub documents_fenced: u64,
    /// Scoped documents with a staged generation of the run (units written, not enacted).
    pub documents_staged: u64,
    /// Scoped documents whose active generation is the run's.
    pub documents_enacted: u64,
}

impl Footprint {
    /// True when the run holds nothing in the store.
    pub fn is_empty(&self) -> bool {
        *self == Footprint::default()
    }

    /// E.g. `3 documents fenced, 3 with staged units, 0 enacted`.
    pub fn describe(&self) -> String {
        format!(
            "{} document(s) fenced, {} with staged units, {} enacted",
            self.documents_fenced, self.documents_staged, self.documents_enacted
        )
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
    /// A held run verified again and enacted.
    Enact,
    /// A held run verified again, or an enacted run audited.
    Verify,
    /// A run restored to its pre-run state.
    Rollback,
}

impl Command {
    /// `run`, `resume`, `enact`, `verify` or `rollback`.
    pub fn name(self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Resume => "resume",
            Command::Enact => "enact",
            Command::Verify => "verify",
            Command::Rollback => "rollback",
        }
    }
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

/// The store's refusal of an invocation's write for a lost lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseLost {
    /// The holder the invocation ran as.
    pub holder: String,
    /// What the store holds instead (another holder's lease, an expired one, none).
    pub found: String,
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
    /// When it started in this invocation (UTC RFC 3339); `None` when it did not run.
    #[serde(default)]
    pub started_at: Option<String>,
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
            started_at: None,
            duration_ms: None,
        }
    }
}

impl PhaseEntryStatus {
    /// `done`, `skipped`, `blocked`, `failed`, `refused`, `cancelled` or `not run`.
    pub fn name(self) -> &'static str {
        match self {
            PhaseEntryStatus::Done => "done",
            PhaseEntryStatus::Skipped => "skipped",
            PhaseEntryStatus::Blocked => "blocked",
            PhaseEntryStatus::Failed => "failed",
            PhaseEntryStatus::Refused => "refused",
            PhaseEntryStatus::Cancelled => "cancelled",
            PhaseEntryStatus::NotRun => "not run",
        }
    }
}

/// Who ran an invocation, with what: filled in by the program (see `RunOptions::provenance`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The operating-system user: the name of the process's real uid (the program reads it from
    /// the system, never from `USER`), `uid N` when the uid has no name, or `unknown`.
    pub user: String,
    /// The database role the invocation acted as (PostgreSQL's `current_user`); absent on
    /// SQLite, which has no users, and in reports written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_user: Option<String>,
    /// The host (`HOSTNAME` or `/etc/hostname`), or `unknown`.
    pub host: String,
    /// The iu-cutter version.
    pub version: String,
    /// The commit it was built from, or `unknown`.
    pub commit: String,
    /// sha256 of the effective configuration, serialised canonically without secrets.
    pub config_sha256: String,
}

/// A dry run's proof that the live store was only read: the census of the dry run's scope
/// before and after, and every document of the store changed in between (anywhere, by anyone).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// Schema version of this boundary type.
    pub schema_version: u32,
    /// The dry run.
    pub run: String,
    /// The live store, password removed.
    pub live_store: String,
    /// The census of the dry run's scope before the dry run.
    pub census_before: CensusSummary,
    /// The census of the same documents after.
    pub census_after: CensusSummary,
    /// How many documents of the whole store, in the scope or not, the store's change log lists
    /// as changed since the census before.
    #[serde(default)]
    pub changed_documents: u64,
    /// The first of them, in id order (at most [`CHANGED_SAMPLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_sample: Vec<DocumentId>,
    /// Whether nothing changed: the two scope censuses are equal (every document's digest
    /// included) and the change log lists no document anywhere in the store.
    pub unchanged: bool,
}

impl Attestation {
    /// The attestation of dry run `run` on `live_store`: `before` is the live scope census taken
    /// before it, `after` the census of the same documents after, `changed` what the store's
    /// change log lists after `before`'s mark (anywhere in the store). Unchanged only when the
    /// two censuses are equal and nothing at all changed: a change anywhere, even undone since,
    /// fails it, as a whole-store fingerprint change would.
    pub fn of(
        run: &RunId,
        live_store: String,
        before: &Census,
        after: &Census,
        changed: &[DocumentId],
    ) -> Self {
        Attestation {
            schema_version: iu_cutter_live_execution::SCHEMA_VERSION,
            run: run.to_string(),
            live_store,
            census_before: CensusSummary::from(before),
            census_after: CensusSummary::from(after),
            changed_documents: changed.len() as u64,
            changed_sample: changed.iter().take(CHANGED_SAMPLE).cloned().collect(),
            unchanged: before == after && changed.is_empty(),
        }
    }
}

/// How many changed document ids a report lists (the count is always given).
pub const CHANGED_SAMPLE: usize = 10;

/// The census of a scope (the documents an invocation works on), without the per-document
/// digests; the closing one also says what changed outside the scope meanwhile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusSummary {
    /// Number of documents in the scope.
    pub documents: u64,
    /// Number of units across all their generations.
    pub units: u64,
    /// The fingerprint over the scope's documents.
    pub fingerprint: String,
    /// On the closing census: how many documents outside the scope the store's change log
    /// lists as changed since the opening census (another runner, an import, raw SQL). Absent
    /// on the opening census, or when the change log could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_outside_scope: Option<u64>,
    /// The first of them, in id order (at most [`CHANGED_SAMPLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_outside_scope_sample: Vec<DocumentId>,
    /// On the closing census: how many documents the scope matches (`All`, a prefix, a shard)
    /// that the opening census did not hold, because they were written since. The invocation
    /// did not cut them; another run does. Absent when none or not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appeared_in_scope: Option<u64>,
    /// The first of them, in id order (at most [`CHANGED_SAMPLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appeared_in_scope_sample: Vec<DocumentId>,
    /// On the closing census: how many documents of the scope (the opening census's, or new
    /// since) were deleted since the opening census, by another writer: no longer counted, and
    /// neither new nor left to cut. Absent when none or not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_from_scope: Option<u64>,
    /// The first of them, in id order (at most [`CHANGED_SAMPLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone_from_scope_sample: Vec<DocumentId>,
}

impl From<&Census> for CensusSummary {
    fn from(census: &Census) -> Self {
        CensusSummary {
            documents: census.documents,
            units: census.units,
            fingerprint: census.fingerprint.clone(),
            changed_outside_scope: None,
            changed_outside_scope_sample: Vec::new(),
            appeared_in_scope: None,
            appeared_in_scope_sample: Vec::new(),
            gone_from_scope: None,
            gone_from_scope_sample: Vec::new(),
        }
    }
}

impl CensusSummary {
    /// The summary of a closing census, with the documents outside the scope that changed since
    /// the opening one.
    pub fn with_changed_outside(census: &Census, changed_outside: &[DocumentId]) -> Self {
        CensusSummary {
            changed_outside_scope: Some(changed_outside.len() as u64),
            changed_outside_scope_sample: changed_outside
                .iter()
                .take(CHANGED_SAMPLE)
                .cloned()
                .collect(),
            ..CensusSummary::from(census)
        }
    }

    /// The same summary with `appeared`, the documents under the scope written since the
    /// opening census (left absent when there are none).
    pub fn with_appeared(self, appeared: &[DocumentId]) -> Self {
        if appeared.is_empty() {
            return self;
        }
        CensusSummary {
            appeared_in_scope: Some(appeared.len() as u64),
            appeared_in_scope_sample: appeared.iter().take(CHANGED_SAMPLE).cloned().collect(),
            ..self
        }
    }

    /// The same summary with `gone`, the documents of the scope deleted since the opening
    /// census, in id order (left absent when there are none).
    pub fn with_gone(self, gone: &[DocumentId]) -> Self {
        if gone.is_empty() {
            return self;
        }
        CensusSummary {
            gone_from_scope: Some(gone.len() as u64),
            gone_from_scope_sample: gone.iter().take(CHANGED_SAMPLE).cloned().collect(),
            ..self
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
    /// Every backed-up document's digest equals the backup census's digest: none differs
    /// ([`mismatches`](Self::mismatches)), and none was left as someone else made it (kept
    /// edits, documents left alone, documents changed by others).
    pub census_matches_backup: bool,
    /// The scope's fingerprint equals the pre-run one and nothing outside the scope changed
    /// since the backup (the store's change log lists nothing; a backup written before scope
    /// censuses compares the whole store's fingerprints instead). False while the scoped
    /// documents match means something outside the run changed the store since the backup.
    pub fingerprint_matches_pre_run: bool,
    /// The fingerprint recorded in the backup (over the scope; the whole store's in a backup
    /// written before scope censuses).
    pub pre_run_fingerprint: String,
    /// The same fingerprint after the restore.
    pub fingerprint_after: String,
    /// Documents outside the scope changed since the backup, in id order (at most
    /// [`CHANGED_SAMPLE`]): reported, never undone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_outside_scope: Vec<DocumentId>,
    /// Every backed-up document that differs, in id order.
    pub mismatches: Vec<DigestMismatch>,
    /// Backed-up documents the run never touched (nothing to undo, nothing compared).
    #[serde(default)]
    pub untouched_documents: u64,
    /// Undone documents that someone edited since the backup: the run's marks were taken back,
    /// the edit was kept; and backed-up documents someone deleted since: the deletion was kept.
    #[serde(default)]
    pub kept_edits: Vec<Kept>,
    /// Documents the run had touched that were no longer as it left them: left as they are.
    #[serde(default)]
    pub left_alone: Vec<Kept>,
    /// Backed-up documents the run never marked that another run or the application changed
    /// since the backup: not the run's to undo, left as they are, and not compared with the
    /// backup (so not counted as matching it).
    #[serde(default)]
    pub changed_by_others: u64,
    /// The first of them, in id order (at most [`CHANGED_SAMPLE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_by_others_sample: Vec<DocumentId>,
    /// Retired generations of backed-up documents that a purge removed since the backup: not
    /// given back (a rollback never recreates a purged generation), each such document compared
    /// with the backup less them. How many.
    #[serde(default)]
    pub purged_since_backup: u64,
    /// The first of them (at most [`CHANGED_SAMPLE`]), each with the generation in its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub purged_since_backup_sample: Vec<Kept>,
}

/// The account of one invocation of the runner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Schema version of this boundary type ([`REPORT_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The run.
    pub run: RunId,
    /// Which operation this was.
    pub command: Command,
    /// `live` (a real database) or `simulate` (the simulator).
    #[serde(default)]
    pub mode: String,
    /// When the invocation started (UTC RFC 3339).
    #[serde(default)]
    pub started_at: String,
    /// When it ended (UTC RFC 3339).
    #[serde(default)]
    pub finished_at: String,
    /// Who ran it and with what; `None` when the embedding program gave none.
    #[serde(default)]
    pub provenance: Option<Provenance>,
    /// The store it ran against.
    pub adapter: AdapterInfo,
    /// How it ended.
    pub outcome: Outcome,
    /// sha256 of the run's plan (cut-leg-a's evidence), once planned.
    #[serde(default)]
    pub plan_sha256: Option<String>,
    /// sha256 of the run's backup artifact, once taken.
    #[serde(default)]
    pub backup_sha256: Option<String>,
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
    /// What the run holds in the store when the invocation ended short of `PASS` or
    /// `ROLLED_BACK` (read from the store); `None` otherwise, or when it could not be read.
    #[serde(default)]
    pub holds: Option<Footprint>,
    /// A dry run's non-mutation attestation.
    #[serde(default)]
    pub attestation: Option<Attestation>,
    /// Things the operator should know that the outcome does not say.
    pub notes: Vec<String>,
    /// Set when the store refused this invocation's journal write because its lease was lost:
    /// another runner owns the run, so this report must not enter the run's journal
    /// ([`crate::Runner::journal_report`] refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_lost: Option<LeaseLost>,
    /// Wall time of the invocation.
    pub duration_ms: u64,
}

impl RunReport {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a report written by [`RunReport::to_json`] (a report of schema version 1 reads
    /// too: the fields added since are empty; evidence of a report before version 4, all
    /// strings, reads as text).
    pub fn from_json(text: &str) -> Result<RunReport, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The entry of phase `name`, if the report lists it.
    pub fn phase(&self, name: &str) -> Option<&PhaseEntry> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// Whether the run passed with every phase the report lists done.
    pub fn passed_every_phase(&self) -> bool {
        self.outcome == Outcome::Pass
            && self
                .phases
                .iter()
                .all(|p| p.status == PhaseEntryStatus::Done)
    }

    /// The report as Markdown: a summary table, the outcome with its gap, reason or error and
    /// next action, the phase table, the census, the rollback check, the attestation and notes.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let held = self
            .held_after
            .as_deref()
            .map(|phase| format!(" (held after {phase})"))
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "# iu-cutter {} report: run `{}`: {}{held}\n",
            self.command.name(),
            self.run,
            self.outcome.name()
        );
        key_value_table(&mut md, self.summary_rows());
        let _ = writeln!(md, "\n## Outcome: {}{held}\n", self.outcome.name());
        self.outcome_markdown(&mut md);
        self.phases_markdown(&mut md);
        self.census_markdown(&mut md);
        if let Some(check) = &self.rollback {
            rollback_markdown(&mut md, check);
        }
        self.closing_markdown(&mut md);
        md
    }

    /// The summary table's rows: what ran, where, when, by whom, and with which plan and backup.
    fn summary_rows(&self) -> Vec<(&'static str, String)> {
        let mut summary: Vec<(&str, String)> = vec![
            ("run", code(self.run.as_str())),
            ("command", self.command.name().to_owned()),
            (
                "mode",
                format!(
                    "{} ({} at {})",
                    or_unknown(&self.mode),
                    self.adapter.kind,
                    code(&self.adapter.location)
                ),
            ),
            ("started", or_unknown(&self.started_at)),
            (
                "finished",
                format!(
                    "{} ({} ms)",
                    or_unknown(&self.finished_at),
                    self.duration_ms
                ),
            ),
        ];
        if let Some(p) = &self.provenance {
            let role = p
                .database_user
                .as_deref()
                .map(|role| format!(" (database role {role})"))
                .unwrap_or_default();
            summary.push(("user", format!("{}@{}{role}", p.user, p.host)));
            summary.push((
                "iu-cutter",
                format!("{} (commit {})", p.version, code(&p.commit)),
            ));
            summary.push(("configuration sha256", code(&p.config_sha256)));
        }
        summary.push(("plan sha256", optional_code(self.plan_sha256.as_deref())));
        summary.push((
            "backup sha256",
            optional_code(self.backup_sha256.as_deref()),
        ));
        summary
    }

    /// The body of the outcome section: a sentence for a success, the gap, reason or error (with
    /// the next action) as a table otherwise.
    fn outcome_markdown(&self, md: &mut String) {
        match &self.outcome {
            Outcome::Pass => md.push_str(match &self.held_after {
                Some(_) => "Every phase up to the hold passed; the run is held, not enacted.\n",
                None => "Every phase passed.\n",
            }),
            Outcome::RolledBack => {
                md.push_str(match self.rollback.as_ref().map(|c| c.kept_edits.len()) {
                    Some(n) if n > 0 => {
                        "Everything the run changed was taken back; documents edited since the \
                         backup keep their edit (see the rollback check).\n"
                    }
                    _ => "The run's documents are back in their exact pre-run state.\n",
                })
            }
            Outcome::Blocked { gap } => {
                md.push_str("A gate found a gap; nothing was destroyed.\n\n");
                key_value_table(
                    md,
                    [
                        ("gate", gap.phase.clone()),
                        (
                            "document",
                            optional_code(gap.document.as_ref().map(|d| d.as_str())),
                        ),
                        ("unit", optional_code(gap.unit.as_deref())),
                        ("expected", gap.expected.clone()),
                        ("found", gap.found.clone()),
                        ("next action", in_words(&gap.next)),
                    ],
                );
            }
            Outcome::Refused {
                reason,
                switch,
                next,
                resume_from,
            } => {
                let mut rows = vec![
                    ("reason", reason.clone()),
                    ("switch", switch.clone()),
                    ("next action", in_words(next)),
                ];
                if let Some(phase) = resume_from {
                    rows.push(("resume from", phase.clone()));
                }
                key_value_table(md, rows);
            }
            Outcome::Failed {
                error,
                resume_from,
                next,
            } => key_value_table(
                md,
                [
                    ("error", error.clone()),
                    (
                        "resume from",
                        resume_from.as_deref().unwrap_or("-").to_owned(),
                    ),
                    ("next action", in_words(next)),
                ],
            ),
        }
    }

    /// The phase table: each phase's status, start, duration and evidence (with the detail of a
    /// phase that did not pass).
    fn phases_markdown(&self, md: &mut String) {
        md.push_str("\n## Phases\n\n| phase | status | started | duration | evidence |\n");
        md.push_str("|---|---|---|---|---|\n");
        for phase in &self.phases {
            let mut evidence: Vec<String> = phase
                .evidence
                .iter()
                .map(|(k, v)| format!("`{k}={v}`"))
                .collect();
            if let Some(detail) = &phase.detail
                && phase.status != PhaseEntryStatus::Done
            {
                evidence.push(detail.clone());
            }
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                cell(&phase.name),
                phase.status.name(),
                cell(phase.started_at.as_deref().unwrap_or("-")),
                phase
                    .duration_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_else(|| "-".to_owned()),
                cell(&evidence.join(" "))
            );
        }
    }

    /// The census section, when either census was taken.
    fn census_markdown(&self, md: &mut String) {
        if self.census_before.is_none() && self.census_after.is_none() {
            return;
        }
        md.push_str(
            "\n## Scope census\n\n| when | documents in scope | units | fingerprint | \
             changed outside the scope since before |\n",
        );
        md.push_str("|---|---|---|---|---|\n");
        for (when, census) in [
            ("before", &self.census_before),
            ("after", &self.census_after),
        ] {
            if let Some(c) = census {
                let _ = writeln!(
                    md,
                    "| {when} | {} | {} | {} | {} |",
                    c.documents,
                    c.units,
                    code(&c.fingerprint),
                    cell(&changed_cell(c))
                );
            }
        }
    }

    /// The sections after the rollback check: what the run holds, the dry run's attestation and
    /// the notes, each only when there is something to say.
    fn closing_markdown(&self, md: &mut String) {
        if let Some(holds) = &self.holds {
            let _ = writeln!(
                md,
                "\n## What the run holds in the store\n\n{}. {}",
                holds.describe(),
                if holds.is_empty() {
                    "Nothing to undo."
                } else {
                    "Finish it (resume, or enact a held run) or undo it (rollback); see the next \
                     action above."
                }
            );
        }
        if let Some(a) = &self.attestation {
            let verdict = if a.unchanged { "PASS" } else { "FAILED" };
            let _ = writeln!(
                md,
                "\n## Non-mutation attestation: {verdict}\n\nLive store {}: scope census {} \
                 documents, {} units, fingerprint {} before; {} documents, {} units, fingerprint \
                 {} after; {} document(s) of the whole store changed in between{}.",
                code(&a.live_store),
                a.census_before.documents,
                a.census_before.units,
                code(&a.census_before.fingerprint),
                a.census_after.documents,
                a.census_after.units,
                code(&a.census_after.fingerprint),
                a.changed_documents,
                ids_suffix(&a.changed_sample)
            );
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {}", note.replace('\n', " "));
            }
        }
    }
}

/// The rollback check section: the verification's figures, then one row per kept edit,
/// The census table's last cell: the count of documents changed outside the scope, with the
/// first ids; `-` where not known.
fn changed_cell(census: &CensusSummary) -> String {
    let changed = match census.changed_outside_scope {
        None => "-".to_owned(),
        Some(count) => format!(
            "{count}{}",
            ids_suffix(&census.changed_outside_scope_sample)
        ),
    };
    let appeared = match census.appeared_in_scope {
        None => changed,
        Some(count) => format!(
            "{changed}; {count} new under the scope, not cut by this run{}",
            ids_suffix(&census.appeared_in_scope_sample)
        ),
    };
    match census.gone_from_scope {
        None => appeared,
        Some(count) => format!(
            "{appeared}; {count} deleted meanwhile{}",
            ids_suffix(&census.gone_from_scope_sample)
        ),
    }
}

/// ` (`a`, `b`)` for a non-empty list of ids, nothing otherwise.
fn ids_suffix(ids: &[DocumentId]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = ids.iter().map(|id| code(id.as_str())).collect();
    format!(" ({})", listed.join(", "))
}

/// document left alone and digest mismatch.
fn rollback_markdown(md: &mut String, check: &RollbackCheck) {
    md.push_str("\n## Rollback check\n\n");
    let mut rows: Vec<(String, String)> = vec![
        ("backup sha256".into(), code(&check.backup_sha256)),
        (
            "documents restored".into(),
            check.restored_documents.to_string(),
        ),
        (
            "census matches backup".into(),
            check.census_matches_backup.to_string(),
        ),
        (
            "scope fingerprint matches pre-run, nothing outside the scope changed".into(),
            check.fingerprint_matches_pre_run.to_string(),
        ),
        (
            "changed outside the scope since the backup (not undone)".into(),
            if check.changed_outside_scope.is_empty() {
                "none".to_owned()
            } else {
                ids_suffix(&check.changed_outside_scope).trim().to_owned()
            },
        ),
        (
            "documents never touched by the run".into(),
            check.untouched_documents.to_string(),
        ),
    ];
    // The document ids go into the key as they are (in backticks), the reasons are escaped.
    for (what, kept) in check
        .kept_edits
        .iter()
        .map(|kept| ("edit kept", kept))
        .chain(check.left_alone.iter().map(|kept| ("left alone", kept)))
    {
        rows.push((format!("{what} `{}`", kept.document), kept.reason.clone()));
    }
    key_value_table(md, rows);
    // The digests are written as they are: code spans of hex, nothing to escape.
    for mismatch in &check.mismatches {
        let _ = writeln!(
            md,
            "| mismatch `{}` | expected {}, found {} |",
            mismatch.document,
            code(&mismatch.expected),
            optional_code(mismatch.found.as_deref())
        );
    }
}

/// A two-column table without headings (`| | |`), one row per `(key, value)`; values are made
/// safe for a cell, keys are written as given.
fn key_value_table<K: std::fmt::Display>(
    md: &mut String,
    rows: impl IntoIterator<Item = (K, String)>,
) {
    md.push_str("| | |\n|---|---|\n");
    for (key, value) in rows {
        let _ = writeln!(md, "| {key} | {} |", cell(&value));
    }
}

/// Text safe inside a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'"))
}

fn optional_code(text: Option<&str>) -> String {
    text.map(code).unwrap_or_else(|| "-".to_owned())
}

fn or_unknown(text: &str) -> String {
    if text.is_empty() {
        "unknown".to_owned()
    } else {
        text.to_owned()
    }
}
