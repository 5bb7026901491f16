//! Who may change a document, decided once: the compare-and-set rules of fence, enact and
//! rollback, as pure functions every store calls inside its mutating transaction (the SQL stores
//! on rows read and locked there, the simulator on its maps). No store writes these rules again,
//! so they cannot drift apart; the contract suite checks that every store applies them.
//!
//! The rule behind all three: a run may change a document only while the document is exactly as
//! the run saw it at backup ([`ExpectedRevision`]: revision, body, state and active generation)
//! or exactly as the run itself left it (fenced by it, or enacted on its generation). The body is
//! compared by the sha256 of the text *as stored*, computed inside the transaction, so an edit
//! that bypassed the revision and sha256 columns (raw SQL) is caught too.
//!
//! A run owns only its marks: its fence, its generation (record and units) and, once enacted,
//! the document's active-generation pointer. Rollback takes back exactly those marks and never
//! writes a body or a revision, so an edit made since the backup, by anyone, survives it.

use serde::{Deserialize, Serialize};

use crate::conflicts::{
    describe_revision, describe_state, document_not_found, fence_lost, foreign_unit,
};
use crate::domain::{
    DocumentId, DocumentSnapshot, DocumentState, ExpectedRevision, GenerationRecord,
    GenerationState, PurgeTarget, RunId, Unit,
};
use crate::error::AdapterError;

/// A document as a store holds it at the moment of a compare-and-set, read inside the mutating
/// transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentDocument {
    /// The revision column.
    pub revision: u64,
    /// The sha256 column (what the store recorded for the body).
    pub sha256: String,
    /// sha256 of the body as stored now, computed inside the transaction.
    pub body_sha256: String,
    /// Lifecycle state.
    pub state: DocumentState,
    /// The active-generation pointer.
    pub active_generation: Option<RunId>,
}

impl CurrentDocument {
    /// Whether the document's source (revision and body) is still the one `expected` saw.
    fn source_unchanged(&self, expected: &ExpectedRevision) -> bool {
        self.revision == expected.revision
            && self.sha256 == expected.sha256
            && self.body_sha256 == expected.sha256
    }

    /// How the source differs from what `expected` saw, for a conflict's `found`.
    fn describe_source(&self) -> String {
        if self.body_sha256 == self.sha256 {
            describe_revision(self.revision, &self.sha256)
        } else {
            format!(
                "{}, but the stored body hashes to {} (edited without updating its sha256 \
                 column: raw SQL?)",
                describe_revision(self.revision, &self.sha256),
                self.body_sha256
            )
        }
    }
}

fn describe_pointer(active: Option<&RunId>) -> String {
    match active {
        Some(generation) => format!("active generation `{generation}`"),
        None => "no active generation".to_owned(),
    }
}

fn describe_marks(state: &DocumentState, active: Option<&RunId>) -> String {
    format!("{}, {}", describe_state(state), describe_pointer(active))
}

/// What a fence does to one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceStep {
    /// Move it to `Cutting(run)` and open the run's staged generation.
    Fence,
    /// The run fenced it already (a repeated call): nothing to do.
    AlreadyFenced,
}

/// Whether `run` may fence the document now `current`, having seen it as `expected` at backup:
/// its revision, body, state and active generation must be exactly those, and no other run may
/// hold it. A document `run` already fenced passes while it is otherwise unchanged.
pub fn fence_step(
    run: &RunId,
    expected: &ExpectedRevision,
    current: Option<&CurrentDocument>,
) -> Result<FenceStep, AdapterError> {
    let current = current.ok_or_else(|| document_not_found(&expected.document))?;
    let conflict = |expected_text: String, found: String| AdapterError::Conflict {
        document: expected.document.clone(),
        expected: expected_text,
        found,
    };
    if let DocumentState::Cutting { run: holder } = &current.state
        && holder != run
    {
        return Err(conflict(
            format!("not fenced by another run (to be fenced by run `{run}`)"),
            format!("fenced by run `{holder}`"),
        ));
    }
    if !current.source_unchanged(expected) {
        return Err(conflict(
            describe_revision(expected.revision, &expected.sha256),
            current.describe_source(),
        ));
    }
    if current.state == (DocumentState::Cutting { run: run.clone() }) {
        if current.active_generation != expected.active_generation {
            return Err(conflict(
                describe_pointer(expected.active_generation.as_ref()),
                describe_pointer(current.active_generation.as_ref()),
            ));
        }
        return Ok(FenceStep::AlreadyFenced);
    }
    if current.state != expected.state || current.active_generation != expected.active_generation {
        // Another run fenced and enacted it since the backup (or something moved its pointer):
        // cutting it now would overwrite that run's result.
        return Err(conflict(
            format!(
                "{} as at the backup",
                describe_marks(&expected.state, expected.active_generation.as_ref())
            ),
            format!(
                "{} (cut by another run since the backup?)",
                describe_marks(&current.state, current.active_generation.as_ref())
            ),
        ));
    }
    Ok(FenceStep::Fence)
}

/// What an enact does to one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnactStep {
    /// Point the document at the run's generation, retire `retire` (the previous active
    /// generation, if any), and mark the document `Cut`.
    Enact {
        /// The generation that stops being active.
        retire: Option<RunId>,
    },
    /// The run enacted it already (a repeated call, or a resume after a stop part-way through
    /// the enact): nothing to do, even if the document was edited since (that edit is the
    /// application's new revision, which the reader view shows as stale; it is not undone).
    AlreadyEnacted,
}

/// Whether `run` may enact the document now `current`, fenced by it at `expected`: the fence must
/// still be the run's, the revision, the stored body and the active generation exactly those the
/// run saw at backup, and, when `expected.staged_units` is given, the run's generation as stored
/// (`staged`: its [`crate::GenerationDigester`] digest, `None` when the record is missing)
/// exactly the one the run verified. A document whose active generation is already the run's
/// passes as [`EnactStep::AlreadyEnacted`] whatever its state and body: only this run's enact
/// points it there, so an earlier call of the run enacted it, and anything since is someone
/// else's change to keep.
pub fn enact_step(
    run: &RunId,
    expected: &ExpectedRevision,
    current: Option<&CurrentDocument>,
    staged: Option<&str>,
) -> Result<EnactStep, AdapterError> {
    let current = current.ok_or_else(|| document_not_found(&expected.document))?;
    if current.active_generation.as_ref() == Some(run) {
        return Ok(EnactStep::AlreadyEnacted);
    }
    let fenced = DocumentState::Cutting { run: run.clone() };
    if current.state != fenced || !current.source_unchanged(expected) {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: format!(
                "fenced by run `{run}` at {}",
                describe_revision(expected.revision, &expected.sha256)
            ),
            found: format!(
                "{} at {}",
                describe_state(&current.state),
                current.describe_source()
            ),
        });
    }
    if current.active_generation != expected.active_generation {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: describe_pointer(expected.active_generation.as_ref()),
            found: describe_pointer(current.active_generation.as_ref()),
        });
    }
    let Some(staged) = staged else {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: format!("a staged generation `{run}` (write its units first)"),
            found: format!("no generation `{run}`"),
        });
    };
    if let Some(verified) = &expected.staged_units
        && verified != staged
    {
        return Err(AdapterError::Conflict {
            document: expected.document.clone(),
            expected: format!("generation `{run}` as verified (units digest {verified})"),
            found: format!(
                "units digest {staged}: its units were changed, added or removed after \
                 write-verify"
            ),
        });
    }
    Ok(EnactStep::Enact {
        retire: current.active_generation.clone(),
    })
}

/// What a rollback does to one backed-up document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoStep {
    /// The run never fenced, staged or enacted it: nothing to undo.
    Untouched,
    /// Lift the run's fence (the document goes back to `state`) and drop the run's generation.
    Unfence {
        /// The state it goes back to.
        state: DocumentState,
    },
    /// Point the document back at `reactivate` (its pre-run active generation, made active
    /// again), drop the run's generation, and put the document in `state`.
    Unenact {
        /// The pre-run active generation.
        reactivate: Option<RunId>,
        /// The state it goes back to.
        state: DocumentState,
    },
    /// Only the run's staged generation is left (its fence is gone): drop it.
    DropGeneration,
    /// The document is no longer as the run left it, and not held by a later run either: it is
    /// left exactly as it is.
    LeaveAlone {
        /// Why, for the report.
        reason: String,
    },
}

/// A rollback's decision for one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undo {
    /// What to do.
    pub step: UndoStep,
    /// When the document's source was edited since the backup: how (the edit is kept).
    pub kept_edit: Option<String>,
}

/// What rolling back `run` may do to a backed-up document, now `current` with the generation
/// records `generations`.
///
/// A document `run` never fenced, staged or enacted is [`UndoStep::Untouched`], whoever holds it
/// now. Otherwise this fails with [`AdapterError::HeldByLaterRun`] when a run other than `run`
/// has fenced the document, made its generation active, or written a generation of it since the
/// backup: the whole rollback must then be refused before any change (the later run goes
/// first).
/// Otherwise the document is undone only where it is exactly as `run` left it; its body and
/// revision are never touched. A document whose source was edited since the backup loses the
/// run's marks but keeps the edit, and goes back to `Ready` (no cut matches its body).
pub fn undo_step(
    run: &RunId,
    before: &DocumentSnapshot,
    current: Option<&CurrentDocument>,
    generations: &[GenerationRecord],
) -> Result<Undo, AdapterError> {
    let Some(current) = current else {
        // Backed up, so it existed then: another writer deleted it since, with whatever of the
        // run's it held (only generation rows can outlive it). That deletion is its change, kept
        // and reported as an edit is; whatever of the run's is left is dropped.
        let touched = generations.iter().any(|g| g.generation == *run);
        return Ok(Undo {
            step: if touched {
                UndoStep::DropGeneration
            } else {
                UndoStep::Untouched
            },
            kept_edit: Some(format!(
                "deleted since the backup ({}); the deletion was kept",
                describe_revision(before.document.revision, &before.document.sha256)
            )),
        });
    };
    let own_generation = generations.iter().find(|g| g.generation == *run);
    let fenced = current.state == (DocumentState::Cutting { run: run.clone() });
    let enacted = current.active_generation.as_ref() == Some(run);
    if !fenced && !enacted && own_generation.is_none() {
        // Nothing of the run's to take back, whoever holds the document now.
        return Ok(Undo {
            step: UndoStep::Untouched,
            kept_edit: None,
        });
    }
    check_no_later_run(run, before, current, generations)?;
    let expected = ExpectedRevision::of(&before.document);
    let edited = !current.source_unchanged(&expected);
    // The run's enact left it `Cut`; `Ready` now is another writer's: a sync requeues a document
    // whose source revision moved (the reader view shows it stale until it is cut again). Put
    // back to its pre-run `Cut`, on a generation cut from an older revision still, it stayed
    // stale with nothing to requeue it again.
    let requeued = enacted && !edited && current.state == DocumentState::Ready;
    let kept_edit = if edited {
        Some(format!(
            "edited since the backup ({} → {}); the edit was kept",
            describe_revision(expected.revision, &expected.sha256),
            current.describe_source()
        ))
    } else {
        requeued.then(|| {
            "requeued since the run's enact (its source moved): left ready, to be cut again"
                .to_owned()
        })
    };
    let state = match (&kept_edit, &before.document.state) {
        (None, DocumentState::Ready | DocumentState::Cut) => before.document.state.clone(),
        // No cut matches an edited body; and a backup never shows a document fenced by another
        // run that this run then touched (its fence would have failed).
        _ => DocumentState::Ready,
    };
    let pre_run = before.document.active_generation.clone();
    let step = if enacted {
        unenact(run, pre_run, state, generations)
    } else if fenced {
        if current.active_generation == pre_run {
            UndoStep::Unfence { state }
        } else {
            UndoStep::LeaveAlone {
                reason: format!(
                    "fenced by run `{run}`, but its pointer moved from the pre-run {} to {} \
                     without this run",
                    describe_pointer(pre_run.as_ref()),
                    describe_pointer(current.active_generation.as_ref())
                ),
            }
        }
    } else {
        match own_generation.map(|g| g.state) {
            Some(GenerationState::Staged) => UndoStep::DropGeneration,
            Some(state) => UndoStep::LeaveAlone {
                reason: format!(
                    "its generation `{run}` is {} while the document is {}: not as this run \
                     left it",
                    generation_state_name(state),
                    describe_marks(&current.state, current.active_generation.as_ref())
                ),
            },
            None => UndoStep::Untouched,
        }
    };
    Ok(Undo {
        kept_edit: kept_edit.filter(|_| !matches!(step, UndoStep::LeaveAlone { .. })),
        step,
    })
}

/// Moving the pointer back needs the pre-run generation still there to make active again.
fn unenact(
    run: &RunId,
    pre_run: Option<RunId>,
    state: DocumentState,
    generations: &[GenerationRecord],
) -> UndoStep {
    if let Some(previous) = &pre_run
        && !generations
            .iter()
            .any(|g| g.generation == *previous && g.state == GenerationState::Retired)
    {
        return UndoStep::LeaveAlone {
            reason: format!(
                "enacted by run `{run}`, but its pre-run generation `{previous}` is no longer \
                 kept as a retired generation (purged, or changed around iu-cutter), so there \
                 is nothing to point back to"
            ),
        };
    }
    UndoStep::Unenact {
        reactivate: pre_run,
        state,
    }
}

/// Refuses when a run other than `run` holds the document or wrote a generation of it since the
/// backup.
fn check_no_later_run(
    run: &RunId,
    before: &DocumentSnapshot,
    current: &CurrentDocument,
    generations: &[GenerationRecord],
) -> Result<(), AdapterError> {
    let later = |other: &RunId, found: String| AdapterError::HeldByLaterRun {
        document: before.document.id.clone(),
        run: other.clone(),
        found,
    };
    if let DocumentState::Cutting { run: holder } = &current.state
        && holder != run
    {
        return Err(later(holder, format!("fenced by run `{holder}`")));
    }
    // Generations the backup knew (and the run's own) are not a later run's.
    let known = |generation: &RunId| {
        generation == run
            || Some(generation) == before.document.active_generation.as_ref()
            || before
                .generations
                .iter()
                .any(|g| g.generation == *generation)
    };
    if let Some(active) = &current.active_generation
        && !known(active)
    {
        return Err(later(
            active,
            format!("its active generation is `{active}`"),
        ));
    }
    if let Some(record) = generations.iter().find(|g| !known(&g.generation)) {
        return Err(later(
            &record.generation,
            format!(
                "it has a {} generation `{}` written after the backup",
                generation_state_name(record.state),
                record.generation
            ),
        ));
    }
    Ok(())
}

fn generation_state_name(state: GenerationState) -> &'static str {
    match state {
        GenerationState::Staged => "staged",
        GenerationState::Active => "active",
        GenerationState::Retired => "retired",
    }
}

/// Whether `run` may stage `unit`, its document in `state` as read inside the write (`None`: no
/// such document): the unit must be of the run's own generation, and its document fenced by the
/// run. A write checks every unit so before it stages any.
pub fn write_step(
    run: &RunId,
    unit: &Unit,
    state: Option<&DocumentState>,
) -> Result<(), AdapterError> {
    if unit.generation != *run {
        return Err(foreign_unit(run, unit));
    }
    let Some(state) = state else {
        return Err(document_not_found(&unit.document));
    };
    if !matches!(state, DocumentState::Cutting { run: fencing } if fencing == run) {
        return Err(fence_lost(run, &unit.document, state));
    }
    Ok(())
}

/// Whether a purge may remove `target` now: `Ok(true)` when its generation is still retired and
/// the document's active generation is still the one the purge saw when it chose it (`active`:
/// `None` for a document that is gone), `Ok(false)` when the generation is already gone
/// (purged: idempotent). A generation that became staged or active, or a document whose
/// pointer moved since (an enact or a rollback may need it again), is a conflict: the whole
/// purge removes nothing.
pub fn purge_step(
    target: &PurgeTarget,
    active: Option<Option<&RunId>>,
    state: Option<GenerationState>,
) -> Result<bool, AdapterError> {
    let generation = &target.generation;
    let conflict = |expected: String, found: String| AdapterError::Conflict {
        document: target.document.clone(),
        expected,
        found,
    };
    match state {
        None => Ok(false),
        Some(GenerationState::Retired) => {
            let now = active.flatten();
            if now == target.active.as_ref() {
                Ok(true)
            } else {
                Err(conflict(
                    format!(
                        "{} as when purge chose generation `{generation}`",
                        describe_pointer(target.active.as_ref())
                    ),
                    format!(
                        "{}: a run was enacted or rolled back since, and may need it; run \
                         purge again",
                        describe_pointer(now)
                    ),
                ))
            }
        }
        Some(state) => Err(conflict(
            format!("generation `{generation}` retired"),
            format!("generation `{generation}` {}", generation_state_name(state)),
        )),
    }
}

/// What a rollback did, document by document: returned by
/// [`crate::LiveExecutionAdapter::restore`] and shown in the rollback's report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restoration {
    /// Documents whose changes by the run were undone (fence lifted, generation dropped,
    /// pointer moved back), in id order.
    pub undone: Vec<DocumentId>,
    /// Of those, the ones whose source someone edited since the backup: the edit was kept; and
    /// the backed-up documents someone deleted since: the deletion was kept.
    pub kept_edits: Vec<Kept>,
    /// Documents the run had touched that are no longer as it left them: left exactly as they
    /// are, with the reason.
    pub left_alone: Vec<Kept>,
    /// Backed-up documents the run never touched (nothing to undo).
    pub untouched: u64,
}

/// A document a rollback did not (entirely) restore, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The document.
    pub document: DocumentId,
    /// Why, in a sentence.
    pub reason: String,
}

impl Restoration {
    /// Records one document's decision.
    pub fn record(&mut self, document: &DocumentId, undo: &Undo) {
        match &undo.step {
            // Deleted since the backup: nothing to undo, and not untouched either.
            UndoStep::Untouched if undo.kept_edit.is_some() => {
                if let Some(reason) = &undo.kept_edit {
                    self.kept_edits.push(Kept {
                        document: document.clone(),
                        reason: reason.clone(),
                    });
                }
            }
            UndoStep::Untouched => self.untouched += 1,
            UndoStep::LeaveAlone { reason } => self.left_alone.push(Kept {
                document: document.clone(),
                reason: reason.clone(),
            }),
            UndoStep::Unfence { .. } | UndoStep::Unenact { .. } | UndoStep::DropGeneration => {
                self.undone.push(document.clone());
                if let Some(reason) = &undo.kept_edit {
                    self.kept_edits.push(Kept {
                        document: document.clone(),
                        reason: reason.clone(),
                    });
                }
            }
        }
    }

    /// Adds what a later part of the same rollback did (a rollback restores its backup a batch
    /// of documents at a time, each batch its own store call).
    pub fn absorb(&mut self, later: Restoration) {
        self.undone.extend(later.undone);
        self.kept_edits.extend(later.kept_edits);
        self.left_alone.extend(later.left_alone);
        self.untouched += later.untouched;
    }
}

#[cfg(test)]
mod tests;
