//! The phase loop every command that runs phases shares: reopen a journaled run, run its open
//! phases in order between their journal entries, hold it after `until`, and settle each
//! phase's result into the journal, the report and one [`Outcome`].

use std::time::Instant;

use iu_cutter_live_execution::{AdapterError, Evidence, PhaseStatus, RunId, RunRecord, RunStatus};
use iu_cutter_phase_core::{Gap, NextAction, Phase, PhaseError, PhaseRole, RunContext, RunEvent};
use tracing::{Instrument, info, info_span, warn};

use crate::invocation::{Invocation, elapsed_ms};
use crate::journal::{resume_action, rollback_began, upsert};
use crate::pipeline::Pipeline;
use crate::report::{Outcome, PhaseEntryStatus};

/// Checks that a journaled run may continue and marks it running again.
pub(crate) async fn reopen(
    pipeline: &Pipeline,
    record: &RunRecord,
    inv: &mut Invocation<'_>,
) -> Option<Outcome> {
    let run = &record.run;
    if rollback_began(record) {
        return Some(Outcome::Failed {
            error: format!(
                "run {run} was being rolled back (its journal has a rollback entry); it cannot \
                 continue"
            ),
            resume_from: None,
            next: vec![NextAction::rollback(run), NextAction::Run { run: None }],
        });
    }
    if record.status == RunStatus::Running {
        return None;
    }
    match inv.journal.status(RunStatus::Running).await {
        Ok(()) => None,
        Err(error) => {
            let resume_from = pipeline.resume_from(record);
            Some(
                inv.journal_failure(error, resume_from, resume_action(run))
                    .await,
            )
        }
    }
}

/// The phase loop: skips the phases the journal shows done up to the first open one (or up to
/// `start`, when given and earlier: those phases run again), runs the rest in order, stops
/// after `until`. Returns the outcome and the phase the run is held after, if it is.
pub(crate) async fn drive(
    pipeline: &Pipeline,
    record: RunRecord,
    start: Option<usize>,
    until: Option<usize>,
    inv: &mut Invocation<'_>,
) -> (Outcome, Option<String>) {
    let run = record.run.clone();
    let phases = pipeline.phases();
    let first_open = pipeline.first_open(&record).unwrap_or(phases.len());
    let first_open = start.map_or(first_open, |start| start.min(first_open));
    let options = inv.options;
    let mut ctx = RunContext::new(record, inv.store().clone(), inv.backups());
    ctx.events = options.events.clone();
    ctx.cancel = options.cancel.clone();
    ctx.batch_units = options.batch_units;
    ctx.batch_documents = options.batch_documents;
    ctx.throttle = options.throttle;
    ctx.back_off = options.back_off.clone();
    ctx.set_opening_census(inv.opening_census.take());

    for (index, phase) in phases.iter().enumerate() {
        let name = phase.name();
        if index < first_open {
            skip(index, name, &ctx.record, inv);
        } else {
            if options.cancel.is_cancelled() {
                inv.best_effort_status(RunStatus::Failed).await;
                warn!(phase = name, "run cancelled");
                let outcome = Outcome::Failed {
                    error: format!("{} before phase `{name}`", inv.cancelled_by()),
                    resume_from: Some(name.to_owned()),
                    next: resume_action(&run),
                };
                return (outcome, None);
            }
            if let Err(outcome) = run_phase(index, phase.as_ref(), &mut ctx, inv).await {
                return (outcome, None);
            }
        }
        if until == Some(index) && index + 1 < phases.len() {
            if index + 1 < first_open {
                inv.note(format!(
                    "the phases after `{name}` are already journaled done; there was nothing \
                     to hold"
                ));
                continue;
            }
            return hold(pipeline, index, inv).await;
        }
    }
    match inv.journal.status(RunStatus::Pass).await {
        Ok(()) => (Outcome::Pass, None),
        Err(error) => {
            inv.note(
                "every phase is done but the run's status could not be journaled; resuming \
                 only records it"
                    .into(),
            );
            let outcome = inv.journal_failure(error, None, resume_action(&run)).await;
            (outcome, None)
        }
    }
}

/// Reports phase `index` as skipped: the journal shows it done.
fn skip(index: usize, name: &str, record: &RunRecord, inv: &mut Invocation<'_>) {
    let evidence = record
        .phase(name)
        .map(|r| r.evidence.clone())
        .unwrap_or_default();
    inv.set_entry(index, PhaseEntryStatus::Skipped, evidence, None, None);
    inv.emit(RunEvent::PhaseSkipped {
        run: inv.run.clone(),
        phase: name.to_owned(),
    });
    info!(phase = name, "phase skipped: journaled done");
}

/// Journals the run held after phase `index`.
async fn hold(
    pipeline: &Pipeline,
    index: usize,
    inv: &mut Invocation<'_>,
) -> (Outcome, Option<String>) {
    let run = inv.run.clone();
    let name = pipeline.name(index).unwrap_or_default().to_owned();
    let next = pipeline.name(index + 1).map(str::to_owned);
    match inv.journal.status(RunStatus::Held).await {
        Ok(()) => {
            info!(phase = %name, "run held");
            let verified = pipeline.position(PhaseRole::Verify) == Some(index);
            inv.note(if verified {
                format!(
                    "held after `{name}`: verified, not enacted; after review, enact run {run} \
                     (it verifies again first)"
                )
            } else {
                format!("held after `{name}`; resume run {run} to continue")
            });
            (Outcome::Pass, Some(name))
        }
        Err(error) => {
            let outcome = inv.journal_failure(error, next, resume_action(&run)).await;
            (outcome, None)
        }
    }
}

/// Runs one phase between its journal entries. `Err` carries the outcome that ends the run.
async fn run_phase(
    index: usize,
    phase: &dyn Phase,
    ctx: &mut RunContext,
    inv: &mut Invocation<'_>,
) -> Result<(), Outcome> {
    let run = ctx.record.run.clone();
    let name = phase.name().to_owned();
    let started_at = inv.journal.now();
    let running = inv.journal.phase_record(
        &name,
        PhaseStatus::Running,
        Evidence::new(),
        None,
        &started_at,
    );
    if let Err(error) = inv.journal.phase(&running).await {
        let status = entry_status_for(&error);
        inv.set_entry(
            index,
            status,
            Evidence::new(),
            Some(error.to_string()),
            None,
        );
        return Err(inv
            .journal_failure(error, Some(name), resume_action(&run))
            .await);
    }
    upsert(&mut ctx.record, running);
    if let Some(entry) = inv.phases.get_mut(index) {
        entry.started_at = Some(started_at.clone());
    }
    inv.emit(RunEvent::PhaseStarted {
        run: run.clone(),
        phase: name.clone(),
    });

    let started = Instant::now();
    let span = info_span!("phase", run = %run, phase = %name);
    let result = phase.run(ctx).instrument(span).await;
    let ran = Ran {
        index,
        name,
        started_at,
        duration_ms: Some(elapsed_ms(started)),
    };
    match result {
        Ok(evidence) => {
            // The plan phase leaves the bytes it cut in the context; no extra read of the store.
            if phase.role() == PhaseRole::Plan
                && let Some(bytes) = ctx.bytes_cut()
            {
                crate::metrics::plan_cut(bytes);
            }
            journal_done(&ran, evidence, ctx, inv).await
        }
        Err(error) => Err(settle_error(&ran, error, ctx, inv).await),
    }
}

/// A phase that ran: where it stands in the order, when it started, how long it took.
struct Ran {
    index: usize,
    name: String,
    started_at: String,
    duration_ms: Option<u64>,
}

impl Ran {
    fn finished(&self, inv: &Invocation<'_>, status: &str) {
        inv.emit(RunEvent::PhaseFinished {
            run: inv.run.clone(),
            phase: self.name.clone(),
            status: status.to_owned(),
        });
    }
}

/// Journals a phase that passed. A failed journal write ends the run: the phase runs again on
/// resume (phases are idempotent).
async fn journal_done(
    ran: &Ran,
    evidence: Evidence,
    ctx: &mut RunContext,
    inv: &mut Invocation<'_>,
) -> Result<(), Outcome> {
    let done = inv.journal.phase_record(
        &ran.name,
        PhaseStatus::Done,
        evidence.clone(),
        None,
        &ran.started_at,
    );
    if let Err(error) = inv.journal.phase(&done).await {
        let detail = format!(
            "the phase completed but its journal entry failed ({error}); it runs again on resume"
        );
        let status = entry_status_for(&error);
        inv.set_entry(ran.index, status, evidence, Some(detail), ran.duration_ms);
        ran.finished(inv, status.name());
        let run = inv.run.clone();
        return Err(inv
            .journal_failure(error, Some(ran.name.clone()), resume_action(&run))
            .await);
    }
    upsert(&mut ctx.record, done);
    inv.set_entry(
        ran.index,
        PhaseEntryStatus::Done,
        evidence,
        None,
        ran.duration_ms,
    );
    ran.finished(inv, "done");
    info!(phase = %ran.name, "phase done");
    Ok(())
}

/// How a phase's error is settled: what the journal, the report and the outcome say.
struct Settlement {
    /// The phase's journal entry, if one is written. Under a closed kill switch none is: the
    /// journal keeps the phase `Running`, which is what resume needs.
    journaled: Option<PhaseStatus>,
    /// The run's status.
    status: RunStatus,
    entry: PhaseEntryStatus,
    detail: String,
    outcome: Outcome,
}

/// `cancelled_by`: who stopped the run, should the phase say it was cancelled
/// ([`Invocation::cancelled_by`]).
fn settlement(ran: &Ran, run: &RunId, error: PhaseError, cancelled_by: &str) -> Settlement {
    let name = &ran.name;
    match error {
        PhaseError::Blocked(gap) => {
            warn!(phase = %name, gap = %gap, "phase blocked");
            blocked(gap)
        }
        PhaseError::Adapter(AdapterError::GateClosed {
            switch,
            how_to_open,
        }) => {
            warn!(phase = %name, %switch, "kill switch closed during the phase");
            Settlement {
                journaled: None,
                status: RunStatus::Refused,
                entry: PhaseEntryStatus::Refused,
                detail: format!("refused: the kill switch is closed by {switch}"),
                outcome: Outcome::gate_closed(switch, how_to_open, Some(name.clone())),
            }
        }
        PhaseError::Cancelled => {
            warn!(phase = %name, "phase cancelled");
            let detail = format!("{cancelled_by} during phase `{name}`");
            failed(
                PhaseEntryStatus::Cancelled,
                detail.clone(),
                Outcome::Failed {
                    error: detail,
                    resume_from: Some(name.clone()),
                    next: resume_action(run),
                },
            )
        }
        error => {
            let detail = error.to_string();
            warn!(phase = %name, error = %detail, "phase failed");
            failed(
                PhaseEntryStatus::Failed,
                detail.clone(),
                Outcome::Failed {
                    error: format!("phase `{name}` failed: {detail}"),
                    resume_from: Some(name.clone()),
                    next: vec![
                        NextAction::fix("fix the cause above"),
                        NextAction::resume(run),
                    ],
                },
            )
        }
    }
}

fn blocked(gap: Gap) -> Settlement {
    Settlement {
        journaled: Some(PhaseStatus::Blocked),
        status: RunStatus::Blocked,
        entry: PhaseEntryStatus::Blocked,
        detail: gap.to_string(),
        outcome: Outcome::Blocked { gap },
    }
}

fn failed(entry: PhaseEntryStatus, detail: String, outcome: Outcome) -> Settlement {
    Settlement {
        journaled: Some(PhaseStatus::Failed),
        status: RunStatus::Failed,
        entry,
        detail,
        outcome,
    }
}

/// Journals a phase's error (best effort: the run ends either way) and returns the outcome.
async fn settle_error(
    ran: &Ran,
    error: PhaseError,
    ctx: &mut RunContext,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let settled = settlement(ran, &inv.run, error, inv.cancelled_by());
    if let Some(status) = settled.journaled {
        let record = inv.journal.phase_record(
            &ran.name,
            status,
            Evidence::new(),
            Some(settled.detail.clone()),
            &ran.started_at,
        );
        inv.best_effort_phase(&record).await;
        inv.best_effort_status(settled.status).await;
        upsert(&mut ctx.record, record);
    } else {
        // Recording the refusal is itself a mutation the closed gate refuses; try, and say
        // nothing of that.
        let _ = inv.journal.status(settled.status).await;
    }
    inv.set_entry(
        ran.index,
        settled.entry,
        Evidence::new(),
        Some(settled.detail),
        ran.duration_ms,
    );
    ran.finished(inv, settled.entry.name());
    settled.outcome
}

fn entry_status_for(error: &AdapterError) -> PhaseEntryStatus {
    if error.is_gate_closed() {
        PhaseEntryStatus::Refused
    } else {
        PhaseEntryStatus::Failed
    }
}
