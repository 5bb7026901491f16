//! Held runs and their later life: `enact` (verify again, then enact), `verify` (refresh a held
//! run's verification, or audit an enacted or rolled-back run, see [`crate::audit`]), and a
//! held run continued by `run` or `resume`, which must go as `enact` goes, never around it.

use std::time::{Duration, SystemTime};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    DocumentId, DocumentState, GenerationState, RunId, RunRecord, RunStatus, Scope,
};
use iu_cutter_phase_core::{Gap, NextAction, PhaseRole};
use tracing::warn;

use crate::audit;
use crate::clock::{self, Age};
use crate::drive::{drive, reopen};
use crate::error::RunnerError;
use crate::invocation::{Admission, Invocation, Opened};
use crate::journal::rolled_back_in_part;
use crate::options::RunOptions;
use crate::pipeline::Pipeline;
use crate::report::{Command, Outcome, RunReport};

/// [`crate::Runner::enact`] and [`crate::Runner::verify`] once the options are valid.
pub(crate) async fn enact_or_verify(
    pipeline: &Pipeline,
    run: &RunId,
    options: &RunOptions,
    command: Command,
) -> Result<RunReport, RunnerError> {
    let verify_index = pipeline.position(PhaseRole::Verify).ok_or_else(|| {
        RunnerError::InvalidOption(format!(
            "this runner has no verifying phase, so it cannot {}",
            command.name()
        ))
    })?;
    let (mut inv, record) =
        match Invocation::open_journaled(pipeline, command, run, options).await? {
            Opened::Journaled(inv, record) => (inv, record),
            Opened::Unreadable(report) => return Ok(report),
        };
    inv.show_journal(&record);
    let check = JournalCheck {
        pipeline,
        command,
        options,
        verify_index,
    };
    if let Err(outcome) = check.decide(&record, &mut inv).await {
        return Ok(inv.finish(outcome, None).await);
    }
    let verify = pipeline.name(verify_index).unwrap_or_default().to_owned();
    // Enacting or re-verifying journals phases and mutates: one runner at a time, as for run,
    // resume and rollback.
    let admission = Admission {
        resume_from: Some(verify.clone()),
        again: command.again(run),
        needs_backup: false,
    };
    if let Err(outcome) = inv.admit(admission).await {
        return Ok(inv.finish(outcome, None).await);
    }
    // The lease's previous holder may have enacted, rolled back or held the run again while
    // this runner waited: decide again on the journal as it is now, before reopening anything.
    let record = inv.reload(record).await;
    let first_open = match check.decide(&record, &mut inv).await {
        Ok(first_open) => first_open,
        Err(outcome) => return Ok(inv.finish(outcome, None).await),
    };
    if command == Command::Verify
        && let Err(outcome) = sync_held(&record, &verify, &mut inv).await
    {
        return Ok(inv.finish(outcome, None).await);
    }
    inv.take_census_before(&record.scope).await;
    if let Some(outcome) = reopen(pipeline, &record, &mut inv).await {
        return Ok(inv.finish(outcome, None).await);
    }
    let until = (command == Command::Verify).then_some(verify_index);
    if command == Command::Verify && verify_index + 1 < first_open {
        inv.note(format!(
            "phases after `{verify}` are journaled done; only `{verify}` ran again"
        ));
    }
    // Every phase journaled done but the status not (the enacting process stopped before
    // writing it): the run is enacted. Verifying its live units again as staged, and journaling
    // a second enact time hours after the real one, is not finishing it; recording the status is.
    let start = if first_open < pipeline.phases().len() {
        Some(verify_index)
    } else {
        inv.note(format!(
            "run {run} is already enacted (every phase is journaled done, its status was not); \
             nothing was run, its status is recorded"
        ));
        None
    };
    let (outcome, held_after) = drive(pipeline, record, start, until, &mut inv).await;
    Ok(inv.finish(outcome, held_after).await)
}

/// On a store that reads an application's table, brings the tracking copies of the run's scope
/// up to date before `verify` checks the run again, as `run` does before continuing it: a row
/// the application rewrote since the hold is copied (the run keeps its fence, the revision
/// moves) and the verification names it. Without, `verify` compared the staged units with the
/// copies as the run found them and answered PASS, advising an enact that its check of the
/// source then refused. (`enact` checks the source rows inside its own transaction.) A document
/// the run holds whose row is gone from the source blocks the verification (phase `verify`),
/// naming it: the run cannot be enacted, only rolled back.
async fn sync_held(
    record: &RunRecord,
    verify: &str,
    inv: &mut Invocation<'_>,
) -> Result<(), Outcome> {
    let Some(source) = inv.store().info().source else {
        return Ok(());
    };
    let report = inv
        .journal
        .sync_source(&record.scope, true)
        .await
        .map_err(|error| {
            // A closed kill switch refuses the sync as it refuses any write: said as such.
            Outcome::refused_or_failed(error, None, |error| {
                let again = NextAction::Verify {
                    run: record.run.clone(),
                };
                (
                    format!("cannot sync the documents from {source}: {error}"),
                    vec![NextAction::fix("fix what is named above"), again],
                )
            })
        })?;
    inv.note(format!("synced from {source}: {report}"));
    if report.gone.is_empty() {
        return Ok(());
    }
    // Gone documents the run does not hold (left out when it began) are not its concern.
    let fenced = DocumentState::Cutting {
        run: record.run.clone(),
    };
    let heads = inv
        .store()
        .load_heads(&Scope::Ids(report.gone))
        .await
        .map_err(|error| {
            Outcome::store_unreadable(
                format!("cannot read the documents gone from {source}: {error}"),
                NextAction::Verify {
                    run: record.run.clone(),
                },
            )
        })?;
    let Some(gone) = heads.into_iter().find(|head| head.state == fenced) else {
        return Ok(());
    };
    Err(Outcome::Blocked {
        gap: Gap {
            phase: verify.to_owned(),
            document: Some(gone.id),
            unit: None,
            expected: format!("its row in {source}, which the run cut"),
            found: "no row: deleted from the source, or no longer selected by [source] where; \
                    the run cannot be enacted"
                .to_owned(),
            next: vec![NextAction::rollback(&record.run)],
        },
    })
}

/// What `enact` and `verify` decide from a run's journal alone, before and again after taking the
/// lease.
struct JournalCheck<'p> {
    pipeline: &'p Pipeline,
    command: Command,
    options: &'p RunOptions,
    verify_index: usize,
}

impl JournalCheck<'_> {
    /// The outcome to stop with (the run is settled, not verified, or its verification is too
    /// old to enact), or the first phase the journal shows open.
    async fn decide(&self, record: &RunRecord, inv: &mut Invocation<'_>) -> Result<usize, Outcome> {
        let (pipeline, command, run) = (self.pipeline, self.command, &record.run);
        if let Some(outcome) = settled_already(pipeline, record, command, inv).await {
            return Err(outcome);
        }
        let verify = pipeline.name(self.verify_index).unwrap_or_default();
        let first_open = pipeline
            .first_open(record)
            .unwrap_or(pipeline.phases().len());
        if first_open <= self.verify_index {
            return Err(not_verified(pipeline, run, first_open, verify, command));
        }
        if command == Command::Verify
            && let Some(outcome) = enacted_in_part(pipeline, record).await
        {
            return Err(outcome);
        }
        if command == Command::Enact
            && first_open < pipeline.phases().len()
            && let Some(max) = self.options.held_max_age
            && let Some(gap) = stale_verification(record, verify, max, self.options.clock.now())
        {
            if !began_enacting(pipeline, record).await {
                warn!(gap = %gap, "held run's verification is too old");
                return Err(Outcome::Blocked { gap });
            }
            // `verify` refuses a run enacted in part (it is live in part), so blocking here
            // advised a refresh that cannot happen; finishing it still verifies again first.
            let note = format!(
                "run {run}'s enact began and enacted some of its documents: finishing it is not \
                 held to held_max_age ({}), as its verification cannot be refreshed; `{verify}` \
                 ran again first",
                clock::format_age(max)
            );
            inv.note_once(note);
        }
        Ok(first_open)
    }
}

/// Whether `record`'s enact began and enacted some of its documents (see [`enacted_any`]).
async fn began_enacting(pipeline: &Pipeline, record: &RunRecord) -> bool {
    let began = pipeline
        .name_of(PhaseRole::Enact)
        .is_some_and(|enact| record.phase(enact).is_some());
    began && enacted_any(pipeline, record).await
}

/// The outcome of a run that is enacted or rolled back already: `verify` audits it, `enact`
/// has nothing to do (or nothing it may do). `None` for a run still to enact or verify.
async fn settled_already(
    pipeline: &Pipeline,
    record: &RunRecord,
    command: Command,
    inv: &mut Invocation<'_>,
) -> Option<Outcome> {
    let run = &record.run;
    let all_done = pipeline.first_open(record).is_none();
    // A rollback began and stopped part-way (killed, the kill switch closed, which refuses the
    // journal's writes too): the journal may still say `PASS`, the store does not.
    if rolled_back_in_part(record) {
        return Some(Outcome::Failed {
            error: format!(
                "run {run} was being rolled back (its journal has a rollback entry that did not \
                 finish): it is rolled back in part, and cannot be {} as it stands",
                if command == Command::Verify {
                    "verified"
                } else {
                    "enacted"
                }
            ),
            resume_from: None,
            next: vec![NextAction::rollback(run)],
        });
    }
    match record.status {
        RunStatus::RolledBack if command == Command::Verify => {
            Some(audit::rolled_back(record, inv).await)
        }
        // Enacted whatever the status says, once every phase is journaled done (a status write
        // lost after the enact's entry leaves it `running` or `failed`).
        _ if all_done && command == Command::Verify => {
            Some(audit::enacted(pipeline, record, inv).await)
        }
        RunStatus::Pass if all_done => {
            inv.note(format!("run {run} is already enacted; nothing was run"));
            Some(Outcome::Pass)
        }
        RunStatus::RolledBack => Some(Outcome::Refused {
            reason: format!("run {run} was rolled back; there is nothing to enact"),
            switch: command.name().into(),
            next: vec![NextAction::Run { run: None }],
            resume_from: None,
        }),
        _ => None,
    }
}

/// `REFUSED`: the run's verifying phase is not journaled done.
fn not_verified(
    pipeline: &Pipeline,
    run: &RunId,
    first_open: usize,
    verify: &str,
    command: Command,
) -> Outcome {
    let open = pipeline.name(first_open).unwrap_or_default().to_owned();
    Outcome::Refused {
        reason: format!(
            "run {run} is not verified: phase `{open}` is not journaled done, and `{verify}` \
             must be before the run can be {}",
            if command == Command::Enact {
                "enacted"
            } else {
                "verified again"
            }
        ),
        switch: command.name().into(),
        next: vec![
            NextAction::Resume {
                run: run.clone(),
                from: Some(open.clone()),
                until: Some(verify.to_owned()),
            },
            command.again(run),
        ],
        resume_from: Some(open),
    }
}

/// `REFUSED` for `verify` of a run whose enact began and enacted some of its documents (it
/// stopped part-way, or its status was never journaled): they are live, so verifying it again
/// must not journal it held or say it is not enacted; finishing it (`enact` verifies again
/// first) or undoing it is what is left. `None` when its enact never began or enacted nothing.
async fn enacted_in_part(pipeline: &Pipeline, record: &RunRecord) -> Option<Outcome> {
    let run = &record.run;
    let enact = pipeline.name_of(PhaseRole::Enact)?;
    record.phase(enact)?;
    if !enacted_any(pipeline, record).await {
        return None;
    }
    Some(Outcome::Refused {
        reason: format!(
            "run {run} began phase `{enact}` and enacted some of its documents (readers see \
             them): it is past verifying as a held run; enact it to finish (it verifies again \
             first), or roll it back"
        ),
        switch: Command::Verify.name().into(),
        next: vec![
            NextAction::Enact { run: run.clone() },
            NextAction::rollback(run),
        ],
        resume_from: None,
    })
}

/// Whether `record`'s run has enacted a document of its scope: a generation of it active, or
/// retired since by a later run. A store that cannot be read says it may have (`true`).
pub(crate) async fn enacted_any(pipeline: &Pipeline, record: &RunRecord) -> bool {
    let Ok(heads) = pipeline.store.load_heads(&record.scope).await else {
        return true;
    };
    let ids: Vec<DocumentId> = heads.into_iter().map(|h| h.id).collect();
    match pipeline.store.generations_of(&ids).await {
        Ok(generations) => generations
            .iter()
            .any(|g| g.generation == record.run && g.state != GenerationState::Staged),
        Err(_) => true,
    }
}

/// The index of the verifying phase when `record` is held after it: continuing such a run
/// enacts it, which must go as [`crate::Runner::enact`] goes (verify again, `held_max_age`),
/// never around it.
pub(crate) fn held_after_verification(pipeline: &Pipeline, record: &RunRecord) -> Option<usize> {
    let verify_index = pipeline.position(PhaseRole::Verify)?;
    let verified = pipeline.done(record, PhaseRole::Verify);
    (record.status == RunStatus::Held && verified && pipeline.first_open(record).is_some())
        .then_some(verify_index)
}

/// Continues a run held after verification (`run` with its id, or `resume`), once the lease is
/// held: as [`crate::Runner::enact`] does, the verification must be younger than
/// `held_max_age` and runs again before the phases after it.
pub(crate) async fn continue_held(
    pipeline: &Pipeline,
    record: RunRecord,
    verify_index: usize,
    inv: &mut Invocation<'_>,
) -> (Outcome, Option<String>) {
    let run = record.run.clone();
    let verify = pipeline.name(verify_index).unwrap_or_default().to_owned();
    inv.note(format!(
        "run {run} was held after `{verify}`: continuing it enacts it, so it was verified again \
         first (as enacting it does)"
    ));
    if let Some(max) = inv.options.held_max_age
        && let Some(gap) = stale_verification(&record, &verify, max, inv.options.clock.now())
    {
        warn!(gap = %gap, "held run's verification is too old");
        return (Outcome::Blocked { gap }, None);
    }
    if let Some(outcome) = reopen(pipeline, &record, inv).await {
        return (outcome, None);
    }
    drive(pipeline, record, Some(verify_index), None, inv).await
}

/// The gap when the journaled verification (phase `verify`) of a held run is older than `max`
/// at `now` (or undated).
fn stale_verification(
    record: &RunRecord,
    verify: &str,
    max: Duration,
    now: SystemTime,
) -> Option<Gap> {
    let run = &record.run;
    let finished = record.phase(verify).and_then(|p| p.finished_at.clone());
    let age = finished.as_deref().and_then(|at| clock::age_of(at, now));
    let found = match (&finished, age) {
        (Some(at), Some(Age::Ago(age))) if age > max => {
            format!("verified at {at}, {} ago", clock::format_age(age))
        }
        (Some(at), Some(Age::Ahead(ahead))) if ahead > clock::SKEW_TOLERATED => format!(
            "verified at {at}, {} ahead of this runner's clock: the runners' clocks disagree, \
             so the verification's age is unknown",
            clock::format_age(ahead)
        ),
        (Some(_), Some(_)) => return None,
        (Some(at), None) => format!("a verification time that cannot be read (`{at}`)"),
        (None, _) => "no verification time in the journal".to_owned(),
    };
    Some(Gap {
        phase: verify.to_owned(),
        document: None,
        unit: None,
        expected: format!(
            "a verification younger than held_max_age ({})",
            clock::format_age(max)
        ),
        found,
        next: vec![
            NextAction::Verify { run: run.clone() },
            NextAction::Enact { run: run.clone() },
        ],
    })
}
