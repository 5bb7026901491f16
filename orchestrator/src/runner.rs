//! [`Runner`]: the public face of the runner. Every command is a module of its own over the
//! [`Pipeline`] (the store, the backup export, the phases) and one [`crate::invocation`]
//! template; this file only holds what a caller sees.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, DocumentId, GenerationRecord, LiveExecutionAdapter, RunId,
};
use iu_cutter_phase_core::{BackupStore, Phase};
use tracing::{Instrument, info_span};

use crate::clock::{Clock, SystemClock};
use crate::error::RunnerError;
use crate::export::{self, ExportError, ExportRequest, ExportSummary, Sink};
use crate::generations::{self, DiffError, GenerationDiff, RunDiff};
use crate::options::{RunOptions, RunRequest};
use crate::pipeline::Pipeline;
use crate::purge::{self, PurgeReport};
use crate::report::{Command, RunReport};
use crate::{held, rollback, start};

/// Runs, resumes, enacts, verifies and rolls back runs over one adapter, with an ordered list of
/// phases; purges retired generations and tells their history.
pub struct Runner {
    pipeline: Pipeline,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("adapter", &self.pipeline.store.info())
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
    /// Names must be unique; this is checked when a run starts. Phases are found by their
    /// [`iu_cutter_phase_core::PhaseRole`], never by name. Every backup is journaled in the
    /// store through `adapter`, so that a rollback works from any host, and exported to
    /// `backups`.
    pub fn with_phases(
        adapter: Arc<dyn LiveExecutionAdapter>,
        backups: Arc<dyn BackupStore>,
        phases: Vec<Box<dyn Phase>>,
    ) -> Self {
        Runner {
            pipeline: Pipeline::new(adapter, backups, phases),
        }
    }

    /// The phases' names, in run order.
    pub fn phase_names(&self) -> Vec<&str> {
        self.pipeline.names()
    }

    /// Starts run `request.run` (or continues it, if the journal already holds it with the same
    /// scope and rules; continuing a run held after verification enacts it as [`Runner::enact`]
    /// does, verified again first).
    ///
    /// The adapter's preflight comes first: a closed kill switch ends in `REFUSED` before any
    /// mutation, with no journal entry.
    pub async fn run(
        &self,
        request: RunRequest,
        options: RunOptions,
    ) -> Result<RunReport, RunnerError> {
        let until = self.pipeline.validate(&options)?;
        let span = info_span!("run", run = %request.run);
        let report = start::run(&self.pipeline, request, &options, until)
            .instrument(span)
            .await;
        Ok(self.journaled(report).await)
    }

    /// Continues a journaled run at the first phase the journal does not show done; phases
    /// before it are skipped. A run that passed or was rolled back is not run again. A run held
    /// after verification is enacted as [`Runner::enact`] does it: verified again first, and
    /// refused when its verification is older than `held_max_age`.
    pub async fn resume(&self, run: &RunId, options: RunOptions) -> Result<RunReport, RunnerError> {
        let until = self.pipeline.validate(&options)?;
        let span = info_span!("run", run = %run);
        let report = start::resume(&self.pipeline, run, &options, until)
            .instrument(span)
            .await?;
        Ok(self.journaled(report).await)
    }

    /// Enacts a held run: a run whose journal shows every phase up to write-verify done (it was
    /// run with `until` write-verify, or an enact failed after it).
    ///
    /// The verification must still hold, so it is checked twice before anything moves:
    /// 1. its age: when [`RunOptions::held_max_age`] is set and write-verify's journaled
    ///    completion is older than that (or was not journaled, or lies more than
    ///    [`crate::clock::SKEW_TOLERATED`] ahead of this runner's clock), the outcome is `BLOCKED` naming
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
        self.enact_or_verify(run, options, Command::Enact).await
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
        self.enact_or_verify(run, options, Command::Verify).await
    }

    /// [`Runner::enact`] or [`Runner::verify`], as `command` says, in a span named after it.
    async fn enact_or_verify(
        &self,
        run: &RunId,
        options: RunOptions,
        command: Command,
    ) -> Result<RunReport, RunnerError> {
        self.pipeline.validate(&options)?;
        let span = if command == Command::Enact {
            info_span!("enact", run = %run)
        } else {
            info_span!("verify", run = %run)
        };
        let report = held::enact_or_verify(&self.pipeline, run, &options, command)
            .instrument(span)
            .await?;
        Ok(self.journaled(report).await)
    }

    /// Restores run `run`'s documents to their exact pre-run state from its backup, before or
    /// after enact, and verifies them against the backup's census.
    ///
    /// Rollback mutates, so a closed kill switch ends in `REFUSED`. A backup that fails its
    /// manifest check is never restored from. A run without a backup is marked rolled back only
    /// if no phase after backup ran (nothing can have been fenced).
    pub async fn rollback(&self, run: &RunId) -> Result<RunReport, RunnerError> {
        self.rollback_with(run, RunOptions::default()).await
    }

    /// [`Runner::rollback`] with options (events, lease, provenance for the report).
    pub async fn rollback_with(
        &self,
        run: &RunId,
        options: RunOptions,
    ) -> Result<RunReport, RunnerError> {
        let span = info_span!("rollback", run = %run);
        let report = rollback::rollback(&self.pipeline, run, &options)
            .instrument(span)
            .await?;
        Ok(self.journaled(report).await)
    }

    /// The report of an invocation, journaled as the run's latest ([`Runner::journal_report`]),
    /// so that no caller has to remember to. A run refused before it was journaled does not
    /// exist and has nowhere to keep it: its report is returned as it is. A report the store
    /// would not take says so in its notes (the journal keeps the previous one).
    async fn journaled(&self, mut report: RunReport) -> RunReport {
        // A read, allowed with the kill switch closed (which also refuses the journal write).
        if let Ok(None) = self.pipeline.store.load_run(&report.run).await {
            return report;
        }
        if let Err(error) = self.journal_report(&report).await {
            report
                .notes
                .push(format!("the report is not in the journal: {error}"));
        }
        report
    }

    /// Journals `report` as one invocation's report of its run (the JSON of
    /// [`RunReport::to_json`]); saving the same report again changes nothing. `run`, `resume`,
    /// `enact`, `verify` and `rollback` journal their reports themselves; this is for a report
    /// the caller changed afterwards (e.g. a dry run's attestation). It is a mutation:
    /// behind the kill switch it is refused while the gate is closed, and a run that was never
    /// journaled (refused at preflight) has nowhere to keep it. The report of an invocation whose
    /// journal writes the store refused for a lost lease ([`RunReport::lease_lost`]) is refused
    /// with [`AdapterError::LeaseLost`]: another runner owns the run.
    pub async fn journal_report(&self, report: &RunReport) -> Result<(), AdapterError> {
        // A report of an invocation that lost its lease would sit after the new holder's own
        // as the run's last word: refused, as the store refused its other writes.
        if let Some(lost) = &report.lease_lost {
            return Err(AdapterError::LeaseLost {
                run: report.run.clone(),
                holder: lost.holder.clone(),
                found: lost.found.clone(),
            });
        }
        self.pipeline
            .store
            .save_report(&report.run, &report.to_json())
            .await
    }

    /// Removes retired generations (their records and units) older than `older_than`, keeping
    /// what a rollback of a recent run needs. Ages are measured from now on the
    /// [`SystemClock`]; runs journaled on another [`Clock`] ([`RunOptions::clock`]) are purged
    /// with [`Runner::purge_at`]`(older_than, clock.now())`. See [`Runner::purge_at`] for the
    /// exact rule.
    pub async fn purge(&self, older_than: Duration) -> PurgeReport {
        self.purge_at(older_than, SystemClock.now()).await
    }

    /// [`Runner::purge`], measuring ages from `now` (the journal's times are compared with it;
    /// nothing else reads a clock).
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
    ///    tell which), and so does a run still `Running` whose backup phase is not done (its
    ///    backup may be reading the scope now).
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
        purge::purge(&self.pipeline, older_than, now).await
    }

    /// The generations of `document`, in the order they were enacted (journaled completion of
    /// the enacting phase; undated ones first, by id), the active one last.
    pub async fn generation_history(
        &self,
        document: &DocumentId,
    ) -> Result<Vec<GenerationRecord>, AdapterError> {
        generations::generation_history(&self.pipeline, document).await
    }

    /// Compares two generations of `document`; by default the most recently retired one with the
    /// active one.
    pub async fn diff(
        &self,
        document: &DocumentId,
        generations: Option<(RunId, RunId)>,
    ) -> Result<GenerationDiff, DiffError> {
        generations::diff(&self.pipeline, document, generations).await
    }

    /// Exports the active units line by line into `sink`, as each is read: every one (one page
    /// of `request.page_size` units in memory at a time), or what changed since
    /// `request.since` (see [`ExportRequest`]). Reads only.
    pub async fn export(
        &self,
        request: &ExportRequest,
        sink: &mut Sink<'_>,
    ) -> Result<ExportSummary, ExportError> {
        export::export(&self.pipeline, request, sink).await
    }

    /// Compares `document`'s active generation with the generation `run` wrote of it (staged,
    /// for a held run): what enacting it would change, with the units it compared.
    pub async fn diff_run(&self, document: &DocumentId, run: &RunId) -> Result<RunDiff, DiffError> {
        generations::diff_run(&self.pipeline, document, run).await
    }
}
