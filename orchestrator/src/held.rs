//! Held runs and their later life: `enact` (verify again, then enact) and `verify` (refresh a
//! held run's verification, or audit an enacted or rolled-back run against its journal and
//! report).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, Document, DocumentId, Evidence, GenerationState, PhaseStatus, Plan, RunId,
    RunRecord, RunStatus, Scope, sha256_hex,
};
use iu_cutter_phase_core::{Gap, names};
use tracing::{Instrument, info, info_span, warn};

use crate::clock;
use crate::error::RunnerError;
use crate::options::RunOptions;
use crate::report::{Command, Outcome, PhaseEntry, PhaseEntryStatus, RunReport};
use crate::runner::{Invocation, Runner, elapsed_ms, preflight_outcome};

/// The name of the single step a `verify` of an enacted or rolled-back run reports. It is not
/// journaled: the audit only reads.
pub const AUDIT_STEP: &str = "audit";

impl Runner {
    /// Enacts a held run: a run whose journal shows every phase up to write-verify done (it was
    /// run with `until` write-verify, or an enact failed after it).
    ///
    /// The verification must still hold, so it is checked twice before anything moves:
    /// 1. its age: when [`RunOptions::held_max_age`] is set and write-verify's journaled
    ///    completion is older than that (or was not journaled), the outcome is `BLOCKED` naming
    ///    `iu-cutter verify RUN`, and nothing is written;
    /// 2. its substance: write-verify runs again (it is read-only and idempotent): the staged
    ///    generation against the plan, every document still fenced by this run at its
    ///    backed-up revision and sha256, and the census outside the scope unchanged since the
    ///    backup. A gap there is `BLOCKED` too.
    ///
    /// Then the phases after write-verify run (lifecycle-enact, and any inserted after it). A run
    /// not yet verified is `REFUSED`; a run already enacted is `PASS` with nothing done. With
    /// [`RunOptions::lease`], the run's lease is taken after preflight, as `resume` takes it: a
    /// live lease of another holder makes the invocation `REFUSED`, naming the holder, before
    /// anything is written.
    pub async fn enact(&self, run: &RunId, options: RunOptions) -> Result<RunReport, RunnerError> {
        self.validate(&options)?;
        let span = info_span!("enact", run = %run);
        self.held_inner(run, &options, Command::Enact)
            .instrument(span)
            .await
    }

    /// Verifies a run again.
    ///
    /// - A held run (verified, not enacted): write-verify runs again and, passing, journals a
    ///   fresh completion time, so that [`Runner::enact`] accepts the run again within
    ///   `held_max_age`. The run stays held. It takes the run's lease as `enact` does.
    /// - An enacted run (`PASS`): a read-only audit against the journal and the last journaled
    ///   report: the journaled plan hashes to the report's and cut-leg-a's plan sha256; every
    ///   planned unit is in the store with its planned ordinal, id, byte range and sha256 (and a
    ///   body that hashes to it); the run's generation is active for each document, or retired
    ///   with a later journaled run's generation active.
    /// - A rolled-back run: a read-only audit that its generation is gone and no document points
    ///   at it.
    ///
    /// A gap is `BLOCKED` with the document and unit.
    pub async fn verify(&self, run: &RunId, options: RunOptions) -> Result<RunReport, RunnerError> {
        self.validate(&options)?;
        let span = info_span!("verify", run = %run);
        self.held_inner(run, &options, Command::Verify)
            .instrument(span)
            .await
    }

    async fn held_inner(
        &self,
        run: &RunId,
        options: &RunOptions,
        command: Command,
    ) -> Result<RunReport, RunnerError> {
        let verify_index = self
            .phases
            .iter()
            .position(|p| p.name() == names::WRITE_VERIFY)
            .ok_or_else(|| {
                RunnerError::InvalidOption(format!(
                    "this runner has no `{}` phase, so it cannot {}",
                    names::WRITE_VERIFY,
                    command.name()
                ))
            })?;
        let loaded = self.adapter.load_run(run).await;
        if let Ok(None) = loaded {
            return Err(RunnerError::UnknownRun(run.clone()));
        }
        let mut inv = Invocation::new(self, command, run.clone(), options);
        let again = format!("iu-cutter {} {run}", command.name());
        let record = match loaded {
            Ok(Some(record)) => record,
            Ok(None) => return Err(RunnerError::UnknownRun(run.clone())),
            Err(error) => {
                let outcome = Outcome::Failed {
                    error: format!("cannot read the journal: {error}"),
                    resume_from: None,
                    next_action: format!("check that the store is reachable, then: {again}"),
                };
                return Ok(inv.finish(outcome, None).await);
            }
        };
        info!(adapter = %inv.adapter_kind(), status = ?record.status, "journaled run loaded");
        inv.show_journal(&record);
        let all_done = self.first_open(&record).is_none();
        match record.status {
            RunStatus::RolledBack if command == Command::Verify => {
                inv.phases = vec![PhaseEntry::not_run(AUDIT_STEP)];
                let outcome = self.audit_rolled_back(&record, &mut inv).await;
                return Ok(inv.finish(outcome, None).await);
            }
            RunStatus::Pass if all_done && command == Command::Verify => {
                inv.phases = vec![PhaseEntry::not_run(AUDIT_STEP)];
                let outcome = self.audit_enacted(&record, &mut inv).await;
                return Ok(inv.finish(outcome, None).await);
            }
            RunStatus::Pass if all_done => {
                inv.note(format!("run {run} is already enacted; nothing was run"));
                return Ok(inv.finish(Outcome::Pass, None).await);
            }
            RunStatus::RolledBack => {
                let outcome = Outcome::Refused {
                    reason: format!("run {run} was rolled back; there is nothing to enact"),
                    switch: command.name().into(),
                    how_to_open: "start a new run (iu-cutter run)".into(),
                    resume_from: None,
                };
                return Ok(inv.finish(outcome, None).await);
            }
            _ => {}
        }
        let first_open = self.first_open(&record).unwrap_or(self.phases.len());
        if first_open <= verify_index {
            let open = self.phases[first_open].name().to_owned();
            let outcome = Outcome::Refused {
                reason: format!(
                    "run {run} is not verified: phase `{open}` is not journaled done, and \
                     `{}` must be before the run can be {}",
                    names::WRITE_VERIFY,
                    if command == Command::Enact {
                        "enacted"
                    } else {
                        "verified again"
                    }
                ),
                switch: command.name().into(),
                how_to_open: format!(
                    "continue it up to the hold (iu-cutter resume {run} --until {} --execute), \
                     review, then: {again} --execute",
                    names::WRITE_VERIFY
                ),
                resume_from: Some(open),
            };
            return Ok(inv.finish(outcome, None).await);
        }
        if command == Command::Enact
            && let Some(max) = options.held_max_age
            && let Some(gap) = self.stale_verification(&record, max)
        {
            warn!(gap = %gap, "held run's verification is too old");
            return Ok(inv.finish(Outcome::Blocked { gap }, None).await);
        }
        if let Err(error) = self.adapter.preflight().await {
            let outcome = preflight_outcome(
                run,
                error,
                Some(names::WRITE_VERIFY.to_owned()),
                format!("{again} --execute"),
            );
            return Ok(inv.finish(outcome, None).await);
        }
        // Enacting or re-verifying journals phases and mutates: one runner at a time, as for
        // run, resume and rollback.
        let heartbeat = match self
            .lease(
                run,
                options,
                Some(names::WRITE_VERIFY.to_owned()),
                &format!("{again} --execute"),
            )
            .await
        {
            Ok(heartbeat) => heartbeat,
            Err(outcome) => return Ok(inv.finish(outcome, None).await),
        };
        // The journal read above may predate the lease's previous holder's last writes.
        let record = match self.adapter.load_run(run).await {
            Ok(Some(record)) => record,
            _ => record,
        };
        inv.take_census_before().await;
        let (outcome, held_after) = match self.reopen(&record, &mut inv).await {
            Some(outcome) => (outcome, None),
            None => {
                let until = (command == Command::Verify).then_some(verify_index);
                if command == Command::Verify && verify_index + 1 < first_open {
                    inv.note(format!(
                        "phases after `{}` are journaled done; only write-verify ran again",
                        names::WRITE_VERIFY
                    ));
                }
                self.drive(record, Some(verify_index), until, &mut inv)
                    .await
            }
        };
        let outcome = match heartbeat {
            Some(heartbeat) => heartbeat.finish(outcome).await,
            None => outcome,
        };
        Ok(inv.finish(outcome, held_after).await)
    }

    /// The gap when the journaled verification of a held run is older than `max` (or undated).
    pub(crate) fn stale_verification(
        &self,
        record: &RunRecord,
        max: std::time::Duration,
    ) -> Option<Gap> {
        let run = &record.run;
        let finished = record
            .phase(names::WRITE_VERIFY)
            .and_then(|p| p.finished_at.clone());
        let age = finished
            .as_deref()
            .and_then(|at| clock::age_of(at, SystemTime::now()));
        let found = match (&finished, age) {
            (Some(at), Some(age)) if age > max => {
                format!("verified at {at}, {} ago", clock::format_age(age))
            }
            (Some(_), Some(_)) => return None,
            (Some(at), None) => format!("a verification time that cannot be read (`{at}`)"),
            (None, _) => "no verification time in the journal".to_owned(),
        };
        Some(Gap {
            phase: names::WRITE_VERIFY.to_owned(),
            document: None,
            unit: None,
            expected: format!(
                "a verification younger than held_max_age ({})",
                clock::format_age(max)
            ),
            found,
            next_action: format!(
                "verify the held run again (iu-cutter verify {run} --execute), then: \
                 iu-cutter enact {run} --execute"
            ),
        })
    }

    /// Read-only audit of an enacted run (see [`Runner::verify`]).
    async fn audit_enacted(&self, record: &RunRecord, inv: &mut Invocation<'_>) -> Outcome {
        let run = &record.run;
        let started = std::time::Instant::now();
        inv.phases[0].started_at = Some(clock::now_rfc3339());
        let result = self.audit_enacted_inner(record, inv).await;
        inv.phases[0].duration_ms = Some(elapsed_ms(started));
        finish_audit(run, result, inv)
    }

    async fn audit_enacted_inner(
        &self,
        record: &RunRecord,
        inv: &mut Invocation<'_>,
    ) -> Result<Result<Evidence, Gap>, AdapterError> {
        let run = &record.run;
        let Some(plan) = self.adapter.load_plan(run).await? else {
            return Ok(Err(audit_gap(
                run,
                None,
                None,
                "a journaled plan".into(),
                "no plan in the journal".into(),
            )));
        };
        let plan_sha256 = plan.sha256();
        if let Some(journaled) = record
            .phase(names::CUT_LEG_A)
            .and_then(|p| p.evidence.get("plan_sha256"))
            && *journaled != plan_sha256
        {
            return Ok(Err(audit_gap(
                run,
                None,
                None,
                format!("the plan sha256 cut-leg-a journaled ({journaled})"),
                format!("a journaled plan hashing to {plan_sha256}"),
            )));
        }
        let reports = self.adapter.load_reports(run).await?;
        match reports.last().map(|text| RunReport::from_json(text)) {
            Some(Ok(report)) => {
                if let Some(reported) = &report.plan_sha256
                    && *reported != plan_sha256
                {
                    return Ok(Err(audit_gap(
                        run,
                        None,
                        None,
                        format!(
                            "the plan sha256 of the last report ({}, {reported})",
                            report.command.name()
                        ),
                        format!("a journaled plan hashing to {plan_sha256}"),
                    )));
                }
            }
            Some(Err(error)) => inv.note(format!(
                "the last journaled report of run {run} cannot be read ({error}); audited \
                 against the journal only"
            )),
            None => inv.note(format!(
                "run {run} has no journaled report; audited against the journal only"
            )),
        }

        let enacted_runs: BTreeSet<RunId> = self
            .adapter
            .list_runs()
            .await?
            .into_iter()
            .filter(|r| {
                r.phase(names::LIFECYCLE_ENACT)
                    .is_some_and(|p| p.status == PhaseStatus::Done)
            })
            .map(|r| r.run)
            .collect();
        let documents = documents_of(self, &plan).await?;
        let (mut active, mut retired, mut units) = (0u64, 0u64, 0u64);
        for doc_plan in &plan.documents {
            let id = &doc_plan.document;
            let Some(document) = documents.get(id) else {
                return Ok(Err(audit_gap(
                    run,
                    Some(id),
                    None,
                    "the document in the store".into(),
                    "no such document".into(),
                )));
            };
            let state = self
                .adapter
                .generations(id)
                .await?
                .into_iter()
                .find(|g| &g.generation == run)
                .map(|g| g.state);
            match (state, document.active_generation.as_ref()) {
                (Some(GenerationState::Active), Some(pointer)) if pointer == run => {
                    // The units readers see must still tile the body they claim to cut.
                    let body_sha256 = sha256_hex(document.body.as_bytes());
                    if body_sha256 != doc_plan.source_sha256
                        || document.revision != doc_plan.revision
                    {
                        return Ok(Err(audit_gap(
                            run,
                            Some(id),
                            None,
                            format!(
                                "the body run {run} cut (revision {}, sha256 {})",
                                doc_plan.revision, doc_plan.source_sha256
                            ),
                            format!(
                                "revision {} whose body hashes to {body_sha256}: the document \
                                 changed since it was cut, and its active units no longer tile \
                                 it (stale); cut it again with a new run",
                                document.revision
                            ),
                        )));
                    }
                    active += 1;
                }
                (Some(GenerationState::Retired), Some(pointer))
                    if pointer != run && enacted_runs.contains(pointer) =>
                {
                    retired += 1
                }
                (state, pointer) => {
                    return Ok(Err(audit_gap(
                        run,
                        Some(id),
                        None,
                        format!(
                            "generation {run} active, or retired with a later journaled run's \
                             generation active"
                        ),
                        format!(
                            "generation {run} {}, active generation {}",
                            match state {
                                Some(state) => format!("{state:?}").to_lowercase(),
                                None => "absent (purged?)".into(),
                            },
                            pointer.map_or("none", RunId::as_str)
                        ),
                    )));
                }
            }
            let stored = self.adapter.generation_units(id, run).await?;
            if stored.len() != doc_plan.units.len() {
                return Ok(Err(audit_gap(
                    run,
                    Some(id),
                    None,
                    format!("{} units, as planned", doc_plan.units.len()),
                    format!("{} units in generation {run}", stored.len()),
                )));
            }
            for (planned, unit) in doc_plan.units.iter().zip(&stored) {
                let body_sha = sha256_hex(unit.body.as_bytes());
                let same = unit.ordinal == planned.ordinal
                    && unit.unit_id == planned.unit_id
                    && unit.start == planned.start
                    && unit.end == planned.end
                    && unit.sha256 == planned.sha256
                    && body_sha == planned.sha256;
                if !same {
                    return Ok(Err(audit_gap(
                        run,
                        Some(id),
                        Some(planned.unit_id.clone()),
                        format!(
                            "unit {} `{}` bytes {}..{} sha256 {}",
                            planned.ordinal,
                            planned.unit_id,
                            planned.start,
                            planned.end,
                            planned.sha256
                        ),
                        format!(
                            "unit {} `{}` bytes {}..{} sha256 {} (body hashes to {body_sha})",
                            unit.ordinal, unit.unit_id, unit.start, unit.end, unit.sha256
                        ),
                    )));
                }
            }
            units += stored.len() as u64;
        }
        Ok(Ok(Evidence::from([
            ("plan_sha256".to_owned(), plan_sha256),
            (
                "documents_audited".to_owned(),
                plan.documents.len().to_string(),
            ),
            ("units_audited".to_owned(), units.to_string()),
            ("generation_active".to_owned(), active.to_string()),
            ("generation_retired".to_owned(), retired.to_string()),
        ])))
    }

    /// Read-only audit of a rolled-back run: its generation is gone everywhere.
    async fn audit_rolled_back(&self, record: &RunRecord, inv: &mut Invocation<'_>) -> Outcome {
        let run = &record.run;
        let started = std::time::Instant::now();
        inv.phases[0].started_at = Some(clock::now_rfc3339());
        let result = async {
            let Some(plan) = self.adapter.load_plan(run).await? else {
                inv.note(format!(
                    "run {run} journaled no plan: nothing was fenced or written"
                ));
                return Ok(Ok(Evidence::from([(
                    "documents_audited".to_owned(),
                    "0".to_owned(),
                )])));
            };
            let documents = documents_of(self, &plan).await?;
            for doc_plan in &plan.documents {
                let id = &doc_plan.document;
                let pointer = documents.get(id).and_then(|d| d.active_generation.as_ref());
                let generation = self
                    .adapter
                    .generations(id)
                    .await?
                    .into_iter()
                    .find(|g| &g.generation == run);
                let units = self.adapter.generation_units(id, run).await?.len();
                if pointer == Some(run) || generation.is_some() || units > 0 {
                    return Ok(Err(audit_gap(
                        run,
                        Some(id),
                        None,
                        format!("no trace of generation {run} (the run was rolled back)"),
                        format!(
                            "active generation {}, generation record {}, {units} units",
                            pointer.map_or("none", RunId::as_str),
                            if generation.is_some() {
                                "present"
                            } else {
                                "absent"
                            }
                        ),
                    )));
                }
            }
            Ok::<_, AdapterError>(Ok(Evidence::from([(
                "documents_audited".to_owned(),
                plan.documents.len().to_string(),
            )])))
        }
        .await;
        inv.phases[0].duration_ms = Some(elapsed_ms(started));
        finish_audit(run, result, inv)
    }
}

/// The documents a plan names, by id.
async fn documents_of(
    runner: &Runner,
    plan: &Plan,
) -> Result<BTreeMap<DocumentId, Document>, AdapterError> {
    let ids: Vec<DocumentId> = plan.documents.iter().map(|d| d.document.clone()).collect();
    Ok(runner
        .adapter
        .load_scope(&Scope::Ids(ids))
        .await?
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect())
}

fn audit_gap(
    run: &RunId,
    document: Option<&DocumentId>,
    unit: Option<String>,
    expected: String,
    found: String,
) -> Gap {
    Gap {
        phase: AUDIT_STEP.to_owned(),
        document: document.cloned(),
        unit,
        expected,
        found,
        next_action: format!(
            "nothing was changed; find what altered the store since run {run}, then roll it back \
             (iu-cutter rollback {run} --execute) or cut the documents again with a new run"
        ),
    }
}

/// The audit's outcome and its report entry.
fn finish_audit(
    run: &RunId,
    result: Result<Result<Evidence, Gap>, AdapterError>,
    inv: &mut Invocation<'_>,
) -> Outcome {
    let entry = &mut inv.phases[0];
    match result {
        Ok(Ok(evidence)) => {
            entry.status = PhaseEntryStatus::Done;
            entry.evidence = evidence;
            info!("audit passed");
            Outcome::Pass
        }
        Ok(Err(gap)) => {
            warn!(gap = %gap, "audit found a gap");
            entry.status = PhaseEntryStatus::Blocked;
            entry.detail = Some(gap.to_string());
            Outcome::Blocked { gap }
        }
        Err(error) => {
            entry.status = PhaseEntryStatus::Failed;
            entry.detail = Some(error.to_string());
            Outcome::Failed {
                error: format!("the audit could not read the store: {error}"),
                resume_from: None,
                next_action: format!(
                    "check that the store is reachable, then: iu-cutter verify {run}"
                ),
            }
        }
    }
}
