//! The runner: run, resume, and the phase loop they share.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Census, CutRules, DocumentState, Evidence, GenerationState, LiveExecutionAdapter,
    PhaseRecord, PhaseStatus, Plan, RunId, RunRecord, RunStatus, Scope,
};
use iu_cutter_phase_core::{
    BackupStore, JournalBackupStore, Phase, PhaseError, RunContext, RunEvent, names,
};
use iu_cutter_phase_cut_leg_a::compute_plan;
use tracing::{Instrument, info, info_span, warn};

use crate::clock;
use crate::error::RunnerError;
use crate::lease::{self, Heartbeat};
use crate::options::{RunOptions, RunRequest};
use crate::report::{
    CensusSummary, Command, Footprint, Outcome, PhaseEntry, PhaseEntryStatus,
    REPORT_SCHEMA_VERSION, RunReport,
};
use crate::rollback::ROLLBACK_PHASE;

/// Runs, resumes and rolls back runs over one adapter, with an ordered list of phases.
pub struct Runner {
    pub(crate) adapter: Arc<dyn LiveExecutionAdapter>,
    pub(crate) backups: Arc<dyn BackupStore>,
    pub(crate) phases: Vec<Box<dyn Phase>>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("adapter", &self.adapter.info())
            .field("phases", &self.phase_names())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// A runner with the five standard phases ([`crate::default_phases`]).
    pub fn new(adapter: Arc<dyn LiveExecutionAdapter>, backups: Arc<dyn BackupStore>) -> Self {
        Self::with_phases(adapter, backups, crate::default_phases())
    }

    /// A runner with its own ordered phases, e.g. the five with an approval step inserted.
    /// Names must be unique; this is checked when a run starts. Backups are journaled in the
    /// store through `adapter` and exported to `backups`.
    pub fn with_phases(
        adapter: Arc<dyn LiveExecutionAdapter>,
        backups: Arc<dyn BackupStore>,
        phases: Vec<Box<dyn Phase>>,
    ) -> Self {
        // Every backup is journaled in the store too, so that a rollback works from any host;
        // the given store keeps the export copy.
        let backups: Arc<dyn BackupStore> =
            Arc::new(JournalBackupStore::new(adapter.clone(), backups));
        Runner {
            adapter,
            backups,
            phases,
        }
    }

    /// The phases' names, in run order.
    pub fn phase_names(&self) -> Vec<&str> {
        self.phases.iter().map(|p| p.name()).collect()
    }

    /// Starts run `request.run` (or continues it, if the journal already holds it with the same
    /// scope and rules; continuing a run held after write-verify enacts it as
    /// [`Runner::enact`] does, verified again first).
    ///
    /// The adapter's preflight comes first: a closed kill switch ends in `REFUSED` before any
    /// mutation, with no journal entry.
    pub async fn run(
        &self,
        request: RunRequest,
        options: RunOptions,
    ) -> Result<RunReport, RunnerError> {
        let until = self.validate(&options)?;
        let span = info_span!("run", run = %request.run);
        Ok(self
            .run_inner(request, &options, until)
            .instrument(span)
            .await)
    }

    /// The index of write-verify when `record` is held after it: continuing such a run enacts
    /// it, which must go as [`Runner::enact`] goes (verify again, `held_max_age`), never around
    /// it.
    fn held_after_verification(&self, record: &RunRecord) -> Option<usize> {
        let verify_index = self
            .phases
            .iter()
            .position(|p| p.name() == names::WRITE_VERIFY)?;
        let verified = record
            .phase(names::WRITE_VERIFY)
            .is_some_and(|p| p.status == PhaseStatus::Done);
        (record.status == RunStatus::Held && verified && self.first_open(record).is_some())
            .then_some(verify_index)
    }

    /// Continues a run held after write-verify (`run` with its id, or `resume`), once the
    /// lease is held: as [`Runner::enact`] does, the verification must be younger than
    /// `held_max_age` and runs again before the phases after it.
    async fn continue_held(
        &self,
        record: RunRecord,
        verify_index: usize,
        inv: &mut Invocation<'_>,
    ) -> (Outcome, Option<String>) {
        let run = record.run.clone();
        inv.note(format!(
            "run {run} was held after `{}`: continuing it enacts it, so it was verified again \
             first (as iu-cutter enact {run} does)",
            names::WRITE_VERIFY
        ));
        if let Some(max) = inv.options.held_max_age
            && let Some(gap) = self.stale_verification(&record, max)
        {
            warn!(gap = %gap, "held run's verification is too old");
            return (Outcome::Blocked { gap }, None);
        }
        if let Some(outcome) = self.reopen(&record, inv).await {
            return (outcome, None);
        }
        self.drive(record, Some(verify_index), None, inv).await
    }

    /// Continues a journaled run at the first phase the journal does not show done; phases
    /// before it are skipped. A run that passed or was rolled back is not run again. A run held
    /// after write-verify is enacted as [`Runner::enact`] does it: verified again first, and
    /// refused when its verification is older than `held_max_age`.
    pub async fn resume(&self, run: &RunId, options: RunOptions) -> Result<RunReport, RunnerError> {
        let until = self.validate(&options)?;
        let span = info_span!("run", run = %run);
        self.resume_inner(run, &options, until)
            .instrument(span)
            .await
    }

    /// Journals `report` as one invocation's report of its run (the JSON of
    /// [`RunReport::to_json`]); saving the same report again changes nothing. It is a mutation:
    /// behind the kill switch it is refused while the gate is closed, and a run that was never
    /// journaled (refused at preflight) has nowhere to keep it.
    pub async fn journal_report(&self, report: &RunReport) -> Result<(), AdapterError> {
        self.adapter
            .save_report(&report.run, &report.to_json())
            .await
    }

    /// Checks the options against the phases; returns the index of the `until` phase.
    pub(crate) fn validate(&self, options: &RunOptions) -> Result<Option<usize>, RunnerError> {
        for (i, phase) in self.phases.iter().enumerate() {
            if phase.name() == ROLLBACK_PHASE {
                return Err(RunnerError::ReservedPhase(ROLLBACK_PHASE.into()));
            }
            if self.phases[..i].iter().any(|p| p.name() == phase.name()) {
                return Err(RunnerError::DuplicatePhase(phase.name().to_owned()));
            }
        }
        if options.batch_units == 0 {
            return Err(RunnerError::InvalidOption(
                "batch_units must be at least 1".into(),
            ));
        }
        options
            .until
            .as_deref()
            .map(|until| {
                self.phases
                    .iter()
                    .position(|p| p.name() == until)
                    .ok_or_else(|| RunnerError::UnknownPhase {
                        phase: until.to_owned(),
                        known: self.phase_names().join(", "),
                    })
            })
            .transpose()
    }

    async fn run_inner(
        &self,
        request: RunRequest,
        options: &RunOptions,
        until: Option<usize>,
    ) -> RunReport {
        let run = request.run.clone();
        let mut inv = Invocation::new(self, Command::Run, run.clone(), options);
        info!(adapter = %inv.adapter_kind(), "run starting");

        let expected_plan_sha256 = request.expected_plan.as_ref().map(|plan| plan.sha256());
        if let Some(expected) = &request.expected_plan
            && let Some(outcome) = self.check_expected_plan(&request, expected).await
        {
            return inv.finish(outcome, None).await;
        }
        if let Err(error) = self.adapter.preflight().await {
            let outcome = preflight_outcome(&run, error, None, format!("iu-cutter run {run}"));
            return inv.finish(outcome, None).await;
        }
        if let Some(outcome) = self
            .backup_preflight(None, format!("iu-cutter run {run}"))
            .await
        {
            return inv.finish(outcome, None).await;
        }
        let heartbeat = match self
            .lease(&run, options, None, &format!("iu-cutter run {run}"))
            .await
        {
            Ok(heartbeat) => heartbeat,
            Err(outcome) => return inv.finish(outcome, None).await,
        };
        let (outcome, held_after) = self
            .run_journaled(
                request.scope,
                request.rules,
                expected_plan_sha256,
                until,
                &mut inv,
            )
            .await;
        let outcome = match heartbeat {
            Some(heartbeat) => heartbeat.finish(outcome).await,
            None => outcome,
        };
        inv.finish(outcome, held_after).await
    }

    /// Takes the run's lease when the options ask for one (see [`RunOptions::lease`]).
    pub(crate) async fn lease(
        &self,
        run: &RunId,
        options: &RunOptions,
        resume_from: Option<String>,
        again: &str,
    ) -> Result<Option<Heartbeat>, Outcome> {
        let Some(lease) = &options.lease else {
            return Ok(None);
        };
        Heartbeat::start(self.adapter.clone(), run, lease, options.cancel.clone())
            .await
            .map(Some)
            .map_err(|error| lease::refusal(run, error, resume_from, again))
    }

    /// `run` once preflight passed (and the lease is held): journals the run and drives it.
    async fn run_journaled(
        &self,
        scope: Scope,
        rules: CutRules,
        expected_plan_sha256: Option<String>,
        until: Option<usize>,
        inv: &mut Invocation<'_>,
    ) -> (Outcome, Option<String>) {
        let run = inv.run.clone();
        inv.take_census_before().await;

        let mut fresh = RunRecord::new(run.clone(), scope, rules);
        fresh.expected_plan_sha256 = expected_plan_sha256;
        let record = match self.adapter.begin_run(&fresh).await {
            Ok(record) => {
                inv.mark_mutated();
                record
            }
            Err(error) => {
                let outcome = match error {
                    AdapterError::GateClosed {
                        switch,
                        how_to_open,
                    } => Outcome::gate_closed(switch, how_to_open, None),
                    error => Outcome::Failed {
                        error: format!("cannot journal the run: {error}"),
                        resume_from: None,
                        next_action: format!(
                            "check that the store is reachable, then: iu-cutter run {run}"
                        ),
                    },
                };
                return (outcome, None);
            }
        };
        if record.scope != fresh.scope
            || record.rules != fresh.rules
            || (fresh.expected_plan_sha256.is_some()
                && record.expected_plan_sha256 != fresh.expected_plan_sha256)
        {
            let outcome = Outcome::Failed {
                error: format!(
                    "run id `{run}` already used: the journal holds it with a different scope, \
                     rules or reviewed plan"
                ),
                resume_from: None,
                next_action: format!(
                    "choose a new run id, or continue the journaled run: iu-cutter resume {run}"
                ),
            };
            return (outcome, None);
        }
        inv.show_journal(&record);
        if let Some(outcome) = finished_outcome(&record) {
            inv.note(format!(
                "run {run} is already journaled as {}; nothing was run",
                outcome.name()
            ));
            return (outcome, None);
        }
        if !record.phases.is_empty() {
            inv.note(format!(
                "run {run} was already journaled with the same scope and rules; continued it"
            ));
        }
        if until.is_none()
            && let Some(verify_index) = self.held_after_verification(&record)
        {
            return self.continue_held(record, verify_index, inv).await;
        }
        if let Some(outcome) = self.reopen(&record, inv).await {
            return (outcome, None);
        }
        self.drive(record, None, until, inv).await
    }

    /// `REFUSED` (nothing read is written) when the plan computed now, the way cut-leg-a will
    /// compute it, is not the reviewed plan `expected`; `None` when they are equal.
    async fn check_expected_plan(&self, request: &RunRequest, expected: &Plan) -> Option<Outcome> {
        let run = &request.run;
        let documents = match self.adapter.load_scope(&request.scope).await {
            Ok(documents) => documents,
            Err(error) => {
                return Some(Outcome::Failed {
                    error: format!("cannot read the scope to check the reviewed plan: {error}"),
                    resume_from: None,
                    next_action: format!(
                        "check that the store is reachable, then: iu-cutter run --run-id {run} \
                         --plan FILE"
                    ),
                });
            }
        };
        let current = match compute_plan(&documents, &request.rules) {
            Ok(plan) => plan,
            Err(error) => {
                return Some(Outcome::Failed {
                    error: format!("cannot compute the plan to compare: {error}"),
                    resume_from: None,
                    next_action: "fix the rules or the document, then plan again \
                                  (iu-cutter plan --out FILE)"
                        .into(),
                });
            }
        };
        let (expected_sha, current_sha) = (expected.sha256(), current.sha256());
        if expected_sha == current_sha {
            info!(plan_sha256 = %current_sha, "the reviewed plan still holds");
            return None;
        }
        let what = plan_difference(expected, &current);
        warn!(expected = %expected_sha, found = %current_sha, "the reviewed plan no longer holds");
        Some(Outcome::Refused {
            reason: format!(
                "the reviewed plan (sha256 {expected_sha}) no longer matches what would run \
                 (sha256 {current_sha}): {what}; nothing was run or written"
            ),
            switch: "--plan".into(),
            how_to_open: "review the plan again (iu-cutter plan --out FILE with the same scope \
                          and rules), then run with the new file"
                .into(),
            resume_from: None,
        })
    }

    async fn resume_inner(
        &self,
        run: &RunId,
        options: &RunOptions,
        until: Option<usize>,
    ) -> Result<RunReport, RunnerError> {
        let loaded = self.adapter.load_run(run).await;
        if let Ok(None) = loaded {
            return Err(RunnerError::UnknownRun(run.clone()));
        }
        let mut inv = Invocation::new(self, Command::Resume, run.clone(), options);
        let record = match loaded {
            Ok(Some(record)) => record,
            Ok(None) => return Err(RunnerError::UnknownRun(run.clone())),
            Err(error) => {
                let outcome = Outcome::Failed {
                    error: format!("cannot read the journal: {error}"),
                    resume_from: None,
                    next_action: format!(
                        "check that the store is reachable, then: iu-cutter resume {run}"
                    ),
                };
                return Ok(inv.finish(outcome, None).await);
            }
        };
        info!(adapter = %inv.adapter_kind(), status = ?record.status, "run resuming");
        inv.show_journal(&record);
        if let Some(outcome) = finished_outcome(&record) {
            inv.note(format!(
                "run {run} is already journaled as {}; nothing was run",
                outcome.name()
            ));
            return Ok(inv.finish(outcome, None).await);
        }
        let resume_from = self
            .first_open(&record)
            .map(|i| self.phases[i].name().to_owned());
        if let Err(error) = self.adapter.preflight().await {
            let outcome =
                preflight_outcome(run, error, resume_from, format!("iu-cutter resume {run}"));
            return Ok(inv.finish(outcome, None).await);
        }
        let backed_up = record
            .phases
            .iter()
            .any(|p| p.name == names::BACKUP && p.status == PhaseStatus::Done);
        if !backed_up
            && let Some(outcome) = self
                .backup_preflight(resume_from.clone(), format!("iu-cutter resume {run}"))
                .await
        {
            return Ok(inv.finish(outcome, None).await);
        }
        let again = format!("iu-cutter resume {run}");
        let heartbeat = match self.lease(run, options, resume_from, &again).await {
            Ok(heartbeat) => heartbeat,
            Err(outcome) => return Ok(inv.finish(outcome, None).await),
        };
        // The journal read above may predate the lease's previous holder's last writes.
        let record = match self.adapter.load_run(run).await {
            Ok(Some(record)) => record,
            _ => record,
        };
        inv.take_census_before().await;
        let held = until
            .is_none()
            .then(|| self.held_after_verification(&record))
            .flatten();
        let (outcome, held_after) = match held {
            Some(verify_index) => self.continue_held(record, verify_index, &mut inv).await,
            None => match self.reopen(&record, &mut inv).await {
                Some(outcome) => (outcome, None),
                None => self.drive(record, None, until, &mut inv).await,
            },
        };
        let outcome = match heartbeat {
            Some(heartbeat) => heartbeat.finish(outcome).await,
            None => outcome,
        };
        Ok(inv.finish(outcome, held_after).await)
    }

    /// Index of the first phase the journal does not show done; `None` when all are done.
    pub(crate) fn first_open(&self, record: &RunRecord) -> Option<usize> {
        self.phases
            .iter()
            .position(|p| record.phase(p.name()).map(|r| r.status) != Some(PhaseStatus::Done))
    }

    /// Checks that a journaled run may continue and marks it running again.
    pub(crate) async fn reopen(
        &self,
        record: &RunRecord,
        inv: &mut Invocation<'_>,
    ) -> Option<Outcome> {
        let run = &record.run;
        // A rollback that began, finished or was stopped part-way ends the run; one that failed
        // before changing anything (a later run held a document, the store refused) leaves it
        // as it was.
        if record.phase(ROLLBACK_PHASE).is_some_and(|p| {
            matches!(
                p.status,
                PhaseStatus::Running | PhaseStatus::Done | PhaseStatus::Blocked
            )
        }) {
            return Some(Outcome::Failed {
                error: format!(
                    "run {run} was being rolled back (its journal has a rollback entry); it \
                     cannot continue"
                ),
                resume_from: None,
                next_action: format!(
                    "finish the rollback (iu-cutter rollback {run}), then start a new run"
                ),
            });
        }
        if record.status == RunStatus::Running {
            return None;
        }
        let resume_from = self
            .first_open(record)
            .map(|i| self.phases[i].name().to_owned());
        match self.adapter.set_run_status(run, RunStatus::Running).await {
            Ok(()) => {
                inv.mark_mutated();
                None
            }
            Err(error) => Some(
                self.journal_failure(run, error, resume_from, inv, resume_action(run))
                    .await,
            ),
        }
    }

    /// The phase loop: skips the phases the journal shows done up to the first open one (or up
    /// to `start`, when given and earlier: those phases run again), runs the rest in order,
    /// stops after `until`.
    pub(crate) async fn drive(
        &self,
        record: RunRecord,
        start: Option<usize>,
        until: Option<usize>,
        inv: &mut Invocation<'_>,
    ) -> (Outcome, Option<String>) {
        let run = record.run.clone();
        let first_open = self.first_open(&record).unwrap_or(self.phases.len());
        let first_open = start.map_or(first_open, |start| start.min(first_open));
        let options = inv.options;
        let mut ctx = RunContext::new(record, self.adapter.clone(), self.backups.clone());
        ctx.events = options.events.clone();
        ctx.cancel = options.cancel.clone();
        ctx.batch_units = options.batch_units;
        ctx.set_opening_census(inv.opening_census.take());

        for (index, phase) in self.phases.iter().enumerate() {
            let name = phase.name();
            if index < first_open {
                let evidence = ctx
                    .record
                    .phase(name)
                    .map(|r| r.evidence.clone())
                    .unwrap_or_default();
                inv.set_entry(index, PhaseEntryStatus::Skipped, evidence, None, None);
                inv.emit(RunEvent::PhaseSkipped {
                    run: run.clone(),
                    phase: name.to_owned(),
                });
                info!(phase = name, "phase skipped: journaled done");
            } else {
                if options.cancel.is_cancelled() {
                    inv.best_effort_status(&run, RunStatus::Failed).await;
                    warn!(phase = name, "run cancelled");
                    let outcome = Outcome::Failed {
                        error: format!("cancelled by the operator before phase `{name}`"),
                        resume_from: Some(name.to_owned()),
                        next_action: resume_action(&run),
                    };
                    return (outcome, None);
                }
                if let Err(outcome) = self.run_phase(index, phase.as_ref(), &mut ctx, inv).await {
                    return (outcome, None);
                }
            }
            if until == Some(index) && index + 1 < self.phases.len() {
                if index + 1 < first_open {
                    inv.note(format!(
                        "the phases after `{name}` are already journaled done; there was \
                         nothing to hold"
                    ));
                    continue;
                }
                let next = self.phases[index + 1].name().to_owned();
                return match self.adapter.set_run_status(&run, RunStatus::Held).await {
                    Ok(()) => {
                        info!(phase = name, "run held");
                        inv.note(if name == names::WRITE_VERIFY {
                            format!(
                                "held after `{name}`: verified, not enacted; after review, \
                                 enact it with: iu-cutter enact {run} --execute (it verifies \
                                 again first)"
                            )
                        } else {
                            format!("held after `{name}`; continue with: iu-cutter resume {run}")
                        });
                        (Outcome::Pass, Some(name.to_owned()))
                    }
                    Err(error) => (
                        self.journal_failure(&run, error, Some(next), inv, resume_action(&run))
                            .await,
                        None,
                    ),
                };
            }
        }
        match self.adapter.set_run_status(&run, RunStatus::Pass).await {
            Ok(()) => (Outcome::Pass, None),
            Err(error) => {
                inv.note(
                    "every phase is done but the run's status could not be journaled; resuming \
                     only records it"
                        .into(),
                );
                (
                    self.journal_failure(&run, error, None, inv, resume_action(&run))
                        .await,
                    None,
                )
            }
        }
    }

    /// Runs one phase between its journal entries. `Err` carries the outcome that ends the run.
    async fn run_phase(
        &self,
        index: usize,
        phase: &dyn Phase,
        ctx: &mut RunContext,
        inv: &mut Invocation<'_>,
    ) -> Result<(), Outcome> {
        let run = ctx.record.run.clone();
        let name = phase.name().to_owned();
        let started_at = clock::now_rfc3339();
        let running = phase_record(
            &name,
            PhaseStatus::Running,
            Evidence::new(),
            None,
            &started_at,
        );
        if let Err(error) = self.adapter.record_phase(&run, &running).await {
            let status = entry_status_for(&error);
            inv.set_entry(
                index,
                status,
                Evidence::new(),
                Some(error.to_string()),
                None,
            );
            return Err(self
                .journal_failure(&run, error, Some(name), inv, resume_action(&run))
                .await);
        }
        inv.mark_mutated();
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
        let duration = Some(elapsed_ms(started));

        let finished = |inv: &mut Invocation<'_>, status: &str| {
            inv.emit(RunEvent::PhaseFinished {
                run: run.clone(),
                phase: name.clone(),
                status: status.to_owned(),
            })
        };
        match result {
            Ok(evidence) => {
                let done = phase_record(
                    &name,
                    PhaseStatus::Done,
                    evidence.clone(),
                    None,
                    &started_at,
                );
                if let Err(error) = self.adapter.record_phase(&run, &done).await {
                    let detail = format!(
                        "the phase completed but its journal entry failed ({error}); it runs \
                         again on resume"
                    );
                    let status = entry_status_for(&error);
                    inv.set_entry(index, status, evidence, Some(detail), duration);
                    finished(
                        inv,
                        if status == PhaseEntryStatus::Refused {
                            "refused"
                        } else {
                            "failed"
                        },
                    );
                    return Err(self
                        .journal_failure(&run, error, Some(name.clone()), inv, resume_action(&run))
                        .await);
                }
                upsert(&mut ctx.record, done);
                inv.set_entry(index, PhaseEntryStatus::Done, evidence, None, duration);
                finished(inv, "done");
                info!(phase = %name, "phase done");
                Ok(())
            }
            Err(PhaseError::Blocked(gap)) => {
                let detail = gap.to_string();
                warn!(phase = %name, gap = %detail, "phase blocked");
                let blocked = phase_record(
                    &name,
                    PhaseStatus::Blocked,
                    Evidence::new(),
                    Some(detail.clone()),
                    &started_at,
                );
                inv.best_effort_phase(&run, &blocked).await;
                inv.best_effort_status(&run, RunStatus::Blocked).await;
                upsert(&mut ctx.record, blocked);
                inv.set_entry(
                    index,
                    PhaseEntryStatus::Blocked,
                    Evidence::new(),
                    Some(detail),
                    duration,
                );
                finished(inv, "blocked");
                Err(Outcome::Blocked { gap })
            }
            Err(PhaseError::Adapter(AdapterError::GateClosed {
                switch,
                how_to_open,
            })) => {
                warn!(phase = %name, %switch, "kill switch closed during the phase");
                // The journal keeps the phase `Running`, which is what resume needs. Recording the
                // refusal is itself a mutation the closed gate refuses; try, and ignore that.
                let _ = self.adapter.set_run_status(&run, RunStatus::Refused).await;
                let detail = format!("refused: the kill switch is closed by {switch}");
                inv.set_entry(
                    index,
                    PhaseEntryStatus::Refused,
                    Evidence::new(),
                    Some(detail),
                    duration,
                );
                finished(inv, "refused");
                Err(Outcome::gate_closed(
                    switch,
                    how_to_open,
                    Some(name.clone()),
                ))
            }
            Err(PhaseError::Cancelled) => {
                warn!(phase = %name, "phase cancelled");
                let detail = format!("cancelled by the operator during phase `{name}`");
                let failed = phase_record(
                    &name,
                    PhaseStatus::Failed,
                    Evidence::new(),
                    Some(detail.clone()),
                    &started_at,
                );
                inv.best_effort_phase(&run, &failed).await;
                inv.best_effort_status(&run, RunStatus::Failed).await;
                upsert(&mut ctx.record, failed);
                inv.set_entry(
                    index,
                    PhaseEntryStatus::Cancelled,
                    Evidence::new(),
                    Some(detail.clone()),
                    duration,
                );
                finished(inv, "cancelled");
                Err(Outcome::Failed {
                    error: detail,
                    resume_from: Some(name.clone()),
                    next_action: resume_action(&run),
                })
            }
            Err(error) => {
                let detail = error.to_string();
                warn!(phase = %name, error = %detail, "phase failed");
                let failed = phase_record(
                    &name,
                    PhaseStatus::Failed,
                    Evidence::new(),
                    Some(detail.clone()),
                    &started_at,
                );
                inv.best_effort_phase(&run, &failed).await;
                inv.best_effort_status(&run, RunStatus::Failed).await;
                upsert(&mut ctx.record, failed);
                inv.set_entry(
                    index,
                    PhaseEntryStatus::Failed,
                    Evidence::new(),
                    Some(detail.clone()),
                    duration,
                );
                finished(inv, "failed");
                Err(Outcome::Failed {
                    error: format!("phase `{name}` failed: {detail}"),
                    resume_from: Some(name.clone()),
                    next_action: format!("fix the cause above, then: {}", resume_action(&run)),
                })
            }
        }
    }

    /// The outcome when a journal write fails: `REFUSED` if the kill switch refused it (nothing
    /// more is written), otherwise `FAILED` after a best-effort `Failed` status.
    pub(crate) async fn journal_failure(
        &self,
        run: &RunId,
        error: AdapterError,
        resume_from: Option<String>,
        inv: &mut Invocation<'_>,
        next_action: String,
    ) -> Outcome {
        match error {
            AdapterError::GateClosed {
                switch,
                how_to_open,
            } => Outcome::gate_closed(switch, how_to_open, resume_from),
            error => {
                inv.best_effort_status(run, RunStatus::Failed).await;
                Outcome::Failed {
                    error: format!("cannot write the journal: {error}"),
                    resume_from,
                    next_action,
                }
            }
        }
    }
}

/// The outcome of a journaled run that must not run again.
fn finished_outcome(record: &RunRecord) -> Option<Outcome> {
    match record.status {
        RunStatus::Pass => Some(Outcome::Pass),
        RunStatus::RolledBack => Some(Outcome::RolledBack),
        _ => None,
    }
}

impl Runner {
    /// `REFUSED` when the backup store cannot be written now (a read-only or full backup
    /// directory): checked after the gate, before the run's first mutation, so that nothing is
    /// mutated by a run that could not back up.
    async fn backup_preflight(
        &self,
        resume_from: Option<String>,
        retry: String,
    ) -> Option<Outcome> {
        let error = self.backups.preflight().await.err()?;
        warn!(%error, "refused at preflight: the backup store cannot be written");
        Some(Outcome::Refused {
            reason: format!("the backup store cannot be written: {error}"),
            switch: "backup_dir".to_owned(),
            how_to_open: format!(
                "make backup_dir (IU_CUTTER_BACKUP_DIR) a writable directory with free space, \
                 then: {retry}"
            ),
            resume_from,
        })
    }
}

/// `REFUSED` for a closed kill switch, `FAILED` with `next_action` for anything else.
pub(crate) fn preflight_outcome(
    run: &RunId,
    error: AdapterError,
    resume_from: Option<String>,
    next_action: String,
) -> Outcome {
    match error {
        AdapterError::GateClosed {
            switch,
            how_to_open,
        } => {
            warn!(%switch, "refused at preflight: the kill switch is closed");
            Outcome::gate_closed(switch, how_to_open, resume_from)
        }
        error => {
            warn!(%error, "preflight failed");
            Outcome::Failed {
                error: format!("preflight failed for run {run}: {error}"),
                resume_from,
                next_action: format!(
                    "check that the store is reachable and writable, then: {next_action}"
                ),
            }
        }
    }
}

pub(crate) fn resume_action(run: &RunId) -> String {
    format!("iu-cutter resume {run}")
}

/// A journal entry for phase `name`, started at `started_at`; any status but `Running` is
/// stamped finished now.
pub(crate) fn phase_record(
    name: &str,
    status: PhaseStatus,
    evidence: Evidence,
    detail: Option<String>,
    started_at: &str,
) -> PhaseRecord {
    PhaseRecord {
        name: name.to_owned(),
        status,
        evidence,
        detail,
        started_at: Some(started_at.to_owned()),
        finished_at: (status != PhaseStatus::Running).then(clock::now_rfc3339),
    }
}

/// What differs between the reviewed plan and the plan computed now, in a few words.
fn plan_difference(expected: &Plan, current: &Plan) -> String {
    if expected.rules != current.rules {
        return "the cut rules differ".into();
    }
    let ids = |plan: &Plan| -> Vec<String> {
        plan.documents
            .iter()
            .map(|d| d.document.to_string())
            .collect()
    };
    if ids(expected) != ids(current) {
        let (e, c) = (ids(expected), ids(current));
        if let Some(gone) = e.iter().find(|id| !c.contains(id)) {
            return format!("document `{gone}` is no longer in scope");
        }
        if let Some(new) = c.iter().find(|id| !e.contains(id)) {
            return format!("document `{new}` is now in scope");
        }
    }
    match expected
        .documents
        .iter()
        .zip(&current.documents)
        .find(|(a, b)| a != b)
    {
        Some((a, b)) if a.revision != b.revision || a.source_sha256 != b.source_sha256 => format!(
            "document `{}` changed (reviewed revision {}, now revision {})",
            a.document, a.revision, b.revision
        ),
        Some((a, _)) => format!("the cut of document `{}` differs", a.document),
        None => "the plans differ".into(),
    }
}

fn entry_status_for(error: &AdapterError) -> PhaseEntryStatus {
    if error.is_gate_closed() {
        PhaseEntryStatus::Refused
    } else {
        PhaseEntryStatus::Failed
    }
}

/// Mirrors `record_phase` in the context's copy of the journal, so later phases see it.
fn upsert(record: &mut RunRecord, phase: PhaseRecord) {
    match record.phases.iter_mut().find(|p| p.name == phase.name) {
        Some(existing) => *existing = phase,
        None => record.phases.push(phase),
    }
}

/// The evidence key of the plan's sha256 (cut-leg-a).
const PLAN_SHA256: &str = "plan_sha256";
/// The evidence key of the backup's sha256 (backup, rollback).
const BACKUP_SHA256: &str = "backup_sha256";

pub(crate) fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The report under construction for one invocation.
pub(crate) struct Invocation<'a> {
    runner: &'a Runner,
    pub(crate) options: &'a RunOptions,
    pub(crate) run: RunId,
    command: Command,
    started: Instant,
    started_at: String,
    /// The plan and backup sha256 the journal showed when the invocation began.
    journal_plan_sha256: Option<String>,
    journal_backup_sha256: Option<String>,
    pub(crate) phases: Vec<PhaseEntry>,
    notes: Vec<String>,
    census_before: Option<CensusSummary>,
    /// The opening census in full, until the phases' context takes it (for the backup phase).
    pub(crate) opening_census: Option<Census>,
    pub(crate) census_after: Option<CensusSummary>,
    pub(crate) rollback: Option<crate::report::RollbackCheck>,
    /// The run's scope, once the journal showed it (to read what the run holds at the end).
    scope: Option<Scope>,
    /// Whether this invocation has changed the store (its first journal write succeeded).
    mutated: bool,
}

impl<'a> Invocation<'a> {
    pub(crate) fn new(
        runner: &'a Runner,
        command: Command,
        run: RunId,
        options: &'a RunOptions,
    ) -> Self {
        let phases = match command {
            Command::Rollback => vec![PhaseEntry::not_run(ROLLBACK_PHASE)],
            Command::Run | Command::Resume | Command::Enact | Command::Verify => runner
                .phases
                .iter()
                .map(|p| PhaseEntry::not_run(p.name()))
                .collect(),
        };
        let inv = Invocation {
            runner,
            options,
            run,
            command,
            started: Instant::now(),
            started_at: clock::now_rfc3339(),
            journal_plan_sha256: None,
            journal_backup_sha256: None,
            phases,
            notes: Vec::new(),
            census_before: None,
            opening_census: None,
            census_after: None,
            rollback: None,
            scope: None,
            mutated: false,
        };
        inv.emit(RunEvent::RunStarted {
            run: inv.run.clone(),
        });
        inv
    }

    pub(crate) fn adapter_kind(&self) -> String {
        self.runner.adapter.info().kind
    }

    pub(crate) fn emit(&self, event: RunEvent) {
        self.options.events.emit(event);
    }

    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    /// Shows the journal's view of each phase (done phases carry their evidence) until this
    /// invocation updates them.
    pub(crate) fn show_journal(&mut self, record: &RunRecord) {
        self.capture_journal_shas(record);
        for entry in &mut self.phases {
            if let Some(journaled) = record.phase(&entry.name) {
                entry.evidence = journaled.evidence.clone();
                entry.detail = journaled.detail.clone();
            }
        }
    }

    /// Records that this invocation changed the store (a journal write succeeded), so that a
    /// later refusal does not claim that nothing was changed.
    pub(crate) fn mark_mutated(&mut self) {
        self.mutated = true;
    }

    /// What the run holds in the store now: its fences, staged generations and enacted
    /// documents over its scope.
    async fn holds(&self) -> Option<Footprint> {
        let scope = self.scope.as_ref()?;
        let adapter = &self.runner.adapter;
        let heads = adapter.load_heads(scope).await.ok()?;
        let fenced = DocumentState::Cutting {
            run: self.run.clone(),
        };
        let mut footprint = Footprint::default();
        for head in &heads {
            if head.active_generation.as_ref() == Some(&self.run) {
                footprint.documents_enacted += 1;
                continue;
            }
            if head.state == fenced {
                footprint.documents_fenced += 1;
            }
            let generations = adapter.generations(&head.id).await.ok()?;
            if generations
                .iter()
                .any(|g| g.generation == self.run && g.state == GenerationState::Staged)
            {
                footprint.documents_staged += 1;
            }
        }
        Some(footprint)
    }

    /// Remembers the plan and backup sha256 the journal shows, for the report.
    pub(crate) fn capture_journal_shas(&mut self, record: &RunRecord) {
        self.scope = Some(record.scope.clone());
        for phase in &record.phases {
            if let Some(sha) = phase.evidence.get(PLAN_SHA256) {
                self.journal_plan_sha256 = Some(sha.clone());
            }
            if let Some(sha) = phase.evidence.get(BACKUP_SHA256) {
                self.journal_backup_sha256 = Some(sha.clone());
            }
        }
    }

    pub(crate) fn set_entry(
        &mut self,
        index: usize,
        status: PhaseEntryStatus,
        evidence: Evidence,
        detail: Option<String>,
        duration_ms: Option<u64>,
    ) {
        if let Some(entry) = self.phases.get_mut(index) {
            entry.status = status;
            entry.evidence = evidence;
            entry.detail = detail;
            entry.duration_ms = duration_ms;
        }
    }

    pub(crate) async fn take_census_before(&mut self) {
        let census = self.census("before").await;
        self.census_before = census.as_ref().map(CensusSummary::from);
        self.opening_census = census;
    }

    async fn census(&mut self, when: &str) -> Option<Census> {
        match self.runner.adapter.census().await {
            Ok(census) => Some(census),
            Err(error) => {
                self.note(format!("census {when} not taken: {error}"));
                None
            }
        }
    }

    /// Journals a phase transition on a path that already ends the run; a failure is noted.
    pub(crate) async fn best_effort_phase(&mut self, run: &RunId, record: &PhaseRecord) {
        if let Err(error) = self.runner.adapter.record_phase(run, record).await {
            self.note(format!(
                "journal not updated (phase `{}` {:?}): {error}",
                record.name, record.status
            ));
        }
    }

    /// Journals a run status on a path that already ends the run; a failure is noted.
    pub(crate) async fn best_effort_status(&mut self, run: &RunId, status: RunStatus) {
        if let Err(error) = self.runner.adapter.set_run_status(run, status).await {
            self.note(format!("journal not updated (status {status:?}): {error}"));
        }
    }

    /// Takes the closing census (when the invocation got as far as the opening one), emits
    /// `RunFinished` and assembles the report.
    pub(crate) async fn finish(
        mut self,
        outcome: Outcome,
        held_after: Option<String>,
    ) -> RunReport {
        if self.census_before.is_some() && self.census_after.is_none() {
            self.census_after = self.census("after").await.as_ref().map(CensusSummary::from);
        }
        let holds = if outcome.is_success() {
            None
        } else {
            self.holds().await
        };
        let outcome = outcome.told_truly(self.mutated, holds.as_ref());
        info!(outcome = outcome.name(), "finished");
        self.emit(RunEvent::RunFinished {
            run: self.run.clone(),
            outcome: outcome.name().to_owned(),
        });
        let evidence = |key: &str| {
            self.phases
                .iter()
                .rev()
                .find_map(|p| p.evidence.get(key).cloned())
        };
        let plan_sha256 = evidence(PLAN_SHA256).or(self.journal_plan_sha256.take());
        let backup_sha256 = evidence(BACKUP_SHA256)
            .or_else(|| self.rollback.as_ref().map(|c| c.backup_sha256.clone()))
            .or(self.journal_backup_sha256.take());
        let adapter = self.runner.adapter.info();
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run: self.run,
            command: self.command,
            mode: if adapter.live { "live" } else { "simulate" }.to_owned(),
            started_at: self.started_at,
            finished_at: clock::now_rfc3339(),
            provenance: self.options.provenance.clone(),
            adapter,
            outcome,
            plan_sha256,
            backup_sha256,
            held_after,
            phases: self.phases,
            census_before: self.census_before,
            census_after: self.census_after,
            rollback: self.rollback,
            holds,
            attestation: None,
            notes: self.notes,
            duration_ms: elapsed_ms(self.started),
        }
    }
}
