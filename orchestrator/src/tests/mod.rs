//! Runner tests: small fake phases over the seam's mock adapter (wrapped in the kill switch where
//! the test is about the switch), and the five real phases over the simulator.

/// An expectation on a mock for the ops `$pattern` matches, answered from the op's fields:
/// `answer!(mock, Op::LoadRun(run) => Ok(journal.get(run).cloned()))`. `$answer` is an
/// `AdapterResult` of what the role trait's method returns (anything a `Reply` converts from),
/// as the per-method mocks returned it. Chain `.times(..)` or `.in_sequence(..)` on the result.
macro_rules! answer {
    ($mock:expr, $pattern:pat => $answer:expr) => {
        $mock
            .expect_call()
            .withf(|op, _| {
                // The pattern's bindings are for the answer; here it only selects the op.
                #[allow(unused_variables)]
                let selected = matches!(op, $pattern);
                selected
            })
            .returning(move |op, _| match op {
                $pattern => $crate::tests::into_reply($answer),
                other => unreachable!("an expectation answered an op it does not match: {other:?}"),
            })
    };
}

mod embedding;
mod evidence;
mod export;
mod lease;
mod next;
mod operator;
mod pipeline;
mod rollback;
mod run;
mod scope_census;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, Census, ChangeMark, CutRules, DocumentHead,
    DocumentId, Evidence, EvidenceValue, ExecutionGate, Guarded, LiveExecutionAdapter,
    ManualSwitch, MockLiveExecutionAdapter, Op, PhaseRecord, PhaseStatus, Preset, Reply, RunId,
    RunRecord, RunStatus, Scope, ScopeCensus, StoredBackup,
};
use iu_cutter_phase_core::{
    CancelFlag, EventSink, Gap, MemoryBackupStore, Phase, PhaseError, PhaseRole, RunContext,
    RunEvent,
};
use iu_cutter_simulator::Simulator;

use crate::{NextAction, Outcome, RunOptions, RunReport, RunRequest, Runner};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A journal time for records built by hand.
const T0: &str = "2025-01-31T12:00:00.000Z";

/// A journal entry built by hand for phase `name`, started at `started_at` and (unless
/// `Running`) finished at [`T0`].
fn journaled(name: &str, status: PhaseStatus, evidence: Evidence, started_at: &str) -> PhaseRecord {
    PhaseRecord {
        name: name.to_owned(),
        status,
        evidence,
        detail: None,
        started_at: Some(started_at.to_owned()),
        first_started_at: None,
        finished_at: (status != PhaseStatus::Running).then(|| T0.to_owned()),
    }
}

/// `census` as a mock's scope census, with a mock change mark.
fn scope_census(census: &Census) -> ScopeCensus {
    ScopeCensus {
        census: census.clone(),
        mark: ChangeMark::new("mock", 0),
    }
}

/// The reply to an op, from what the role trait's method returns (see [`answer!`]).
fn into_reply<T: Into<Reply>>(answer: AdapterResult<T>) -> AdapterResult<Reply> {
    answer.map(Into::into)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A shared, ordered log: phases write `ran <name>`, the journaling mock writes `journal ...`.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        lock(&self.0).push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// Only the `ran ...` lines.
    fn ran(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with("ran "))
            .collect()
    }
}

fn evidence_of(name: &str) -> Evidence {
    let mut evidence = Evidence::new();
    evidence.insert("ran".into(), name.into());
    evidence
}

impl Log {
    /// What a fake phase that passes does: logs `ran <name>` and gives [`evidence_of`] it.
    fn ran_phase(&self, name: &str) -> Evidence {
        self.push(format!("ran {name}"));
        evidence_of(name)
    }
}

/// What a [`Fake`] phase does when it runs.
enum Act {
    /// Logs and passes.
    Pass,
    /// Logs and finds a gap ([`test_gap`]).
    Block,
    /// The first time, closes the kill switch, waits `wait` (a leased run's heartbeats go on
    /// meanwhile) and then tries a mutation, as an operator closing the switch mid-run would
    /// make it fail; afterwards, logs and passes. See [`Act::close_gate`].
    CloseGate {
        switch: ManualSwitch,
        wait: Duration,
        fired: AtomicBool,
    },
    /// Returns a closed-gate adapter error without a guard in between (a raw adapter refusing).
    ReturnGateClosed,
    /// Logs and asks the run to stop (as an operator pressing Ctrl-C during it would), then
    /// stops at its own boundary check.
    Cancel(CancelFlag),
    /// Logs, asks the run to stop and passes: a phase that asks at its very end.
    PassThenCancel(CancelFlag),
    /// Passes, unless cancellation was asked for: then stops as a phase does at a batch boundary.
    StopAtBoundary,
}

impl Act {
    /// [`Act::CloseGate`] of `switch`, waiting `wait` between closing it and the mutation.
    fn close_gate(switch: &ManualSwitch, wait: Duration) -> Act {
        Act::CloseGate {
            switch: switch.clone(),
            wait,
            fired: AtomicBool::new(false),
        }
    }
}

/// A fake phase: a name, a role (the runner finds the backup, plan, verify and enact phases by
/// role, so a fake standing in for one must claim its role), the log it writes, and what it does.
struct Fake {
    name: String,
    role: PhaseRole,
    log: Log,
    act: Act,
}

#[async_trait]
impl Phase for Fake {
    fn name(&self) -> &str {
        &self.name
    }

    fn role(&self) -> PhaseRole {
        self.role
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        match &self.act {
            Act::Pass => {}
            Act::Block => {
                self.log.push(format!("ran {}", self.name));
                return Err(PhaseError::Blocked(test_gap(&self.name)));
            }
            Act::CloseGate {
                switch,
                wait,
                fired,
            } => {
                if !fired.swap(true, Ordering::SeqCst) {
                    switch.set(false);
                    tokio::time::sleep(*wait).await;
                    ctx.check_cancelled()?;
                    ctx.store().fence(&ctx.record.run, &[]).await?;
                    return Err(PhaseError::Precondition(
                        "the guard let a mutation through a closed switch".into(),
                    ));
                }
            }
            Act::ReturnGateClosed => {
                return Err(AdapterError::GateClosed {
                    switch: "stop file /run/iu-cutter.stop".into(),
                    how_to_open: "remove /run/iu-cutter.stop".into(),
                }
                .into());
            }
            Act::Cancel(cancel) => {
                let evidence = self.log.ran_phase(&self.name);
                cancel.cancel();
                ctx.check_cancelled()?;
                return Ok(evidence);
            }
            Act::PassThenCancel(cancel) => {
                let evidence = self.log.ran_phase(&self.name);
                cancel.cancel();
                return Ok(evidence);
            }
            Act::StopAtBoundary => ctx.check_cancelled()?,
        }
        Ok(self.log.ran_phase(&self.name))
    }
}

/// A [`Fake`] phase `name` in no particular role that does `act`.
fn fake(name: &str, log: &Log, act: Act) -> Box<dyn Phase> {
    Box::new(Fake {
        name: name.to_owned(),
        role: PhaseRole::Other,
        log: log.clone(),
        act,
    })
}

/// A [`Fake`] phase `name` that logs and passes.
fn recorder(name: &str, log: &Log) -> Box<dyn Phase> {
    fake(name, log, Act::Pass)
}

/// [`recorder`]s of `names`, in order.
fn recording(names: &[&str], log: &Log) -> Vec<Box<dyn Phase>> {
    names.iter().map(|name| recorder(name, log)).collect()
}

/// Fakes of the five standard phases that log and pass, each with its real phase's name and
/// role.
fn standard_fakes(log: &Log) -> Vec<Box<dyn Phase>> {
    crate::default_phases()
        .iter()
        .map(|real| {
            Box::new(Fake {
                name: real.name().to_owned(),
                role: real.role(),
                log: log.clone(),
                act: Act::Pass,
            }) as Box<dyn Phase>
        })
        .collect()
}

fn test_gap(phase: &str) -> Gap {
    Gap {
        phase: phase.into(),
        document: Some(DocumentId::new("law/1")),
        unit: None,
        expected: "revision 3".into(),
        found: "revision 4".into(),
        next: vec![NextAction::rollback(&RunId::new("r1"))],
    }
}

fn request(run: &str) -> RunRequest {
    RunRequest::new(run, Scope::All, CutRules::preset(Preset::Markdown))
}

fn mock_info() -> AdapterInfo {
    AdapterInfo {
        kind: "mock".into(),
        live: false,
        location: "memory".into(),
        source: None,
    }
}

/// The journal as the mock keeps it (named apart from the `Journal` role trait).
type MockJournal = Arc<Mutex<BTreeMap<RunId, RunRecord>>>;

/// A mock that journals for real (begin_run, record_phase, set_run_status, load_run), logs each
/// journal write, passes preflight, and answers `census` with an empty census.
fn journaling_mock(journal: &MockJournal, log: &Log) -> MockLiveExecutionAdapter {
    journaling_mock_with_census(journal, log, Census::default())
}

/// [`journaling_mock`] whose `census` answers `census`.
fn journaling_mock_with_census(
    journal: &MockJournal,
    log: &Log,
    census: Census,
) -> MockLiveExecutionAdapter {
    journaling_mock_with_heads(journal, log, census, Vec::new())
}

/// [`journaling_mock_with_census`] whose `load_heads` answers `heads`, whatever the scope.
fn journaling_mock_with_heads(
    journal: &MockJournal,
    log: &Log,
    census: Census,
    heads: Vec<DocumentHead>,
) -> MockLiveExecutionAdapter {
    let mut mock = MockLiveExecutionAdapter::new();
    mock.expect_info().returning(mock_info);
    answer!(mock, Op::Preflight => Ok(()));
    let scoped = scope_census(&census);
    answer!(mock, Op::Census => Ok(census.clone()));
    // The scope census answers the same census, whatever the documents; nothing changed.
    let summary = ScopeCensus {
        census: Census {
            per_document: Default::default(),
            ..scoped.census.clone()
        },
        ..scoped.clone()
    };
    answer!(mock, Op::ScopeCensus(_) => Ok(scoped.clone()));
    answer!(mock, Op::ScopeCensusSummary(_) => Ok(summary.clone()));
    answer!(mock, Op::ChangedSince(_) => Ok(Vec::<DocumentId>::new()));
    let j = journal.clone();
    answer!(mock, Op::LoadRun(run) => Ok(lock(&j).get(run).cloned()));
    let (j, l) = (journal.clone(), log.clone());
    answer!(mock, Op::BeginRun(record) => {
        l.push(format!("journal begin {}", record.run));
        Ok(Some(
            lock(&j)
                .entry(record.run.clone())
                .or_insert_with(|| record.clone())
                .clone(),
        ))
    });
    let (j, l) = (journal.clone(), log.clone());
    answer!(mock, Op::RecordPhase { run, phase } => {
        l.push(format!("journal {} {:?}", phase.name, phase.status));
        let mut journal = lock(&j);
        let record = journal
            .get_mut(run)
            .ok_or_else(|| AdapterError::NotFound(format!("run {run}")))?;
        match record.phases.iter_mut().find(|p| p.name == phase.name) {
            Some(existing) => *existing = phase.clone(),
            None => record.phases.push(phase.clone()),
        }
        Ok(())
    });
    // Backups journaled in the store: kept beside the journal, like a store would.
    let backups: Arc<Mutex<BTreeMap<RunId, StoredBackup>>> = Arc::default();
    let (b, l) = (backups.clone(), log.clone());
    answer!(mock, Op::SaveBackup { run, artifact, sha256 } => {
        l.push(format!("journal backup {run}"));
        lock(&b).insert(
            run.clone(),
            StoredBackup {
                artifact: artifact.to_owned(),
                sha256: sha256.to_owned(),
            },
        );
        Ok(())
    });
    // Or a part at a time, then sealed.
    let parts: Arc<Mutex<BTreeMap<(RunId, u64), String>>> = Arc::default();
    let p = parts.clone();
    answer!(mock, Op::SaveBackupPart { run, seq, part } => {
        lock(&p).insert((run.clone(), seq), part.to_owned());
        Ok(())
    });
    let (b, l) = (backups.clone(), log.clone());
    answer!(mock, Op::SealBackup { run, parts: count, sha256 } => {
        l.push(format!("journal backup {run}"));
        let parts = lock(&parts);
        let artifact = (0..count)
            .map(|seq| parts.get(&(run.clone(), seq)).cloned().unwrap_or_default())
            .collect();
        lock(&b).insert(
            run.clone(),
            StoredBackup {
                artifact,
                sha256: sha256.to_owned(),
            },
        );
        Ok(())
    });
    let b = backups.clone();
    answer!(mock, Op::LoadBackup(run) => Ok(lock(&b).get(run).cloned()));
    // The mock keeps a backup whole: it is part 0.
    answer!(mock, Op::LoadBackupPart { run, part } => {
        Ok(lock(&backups).get(run).cloned().filter(|_| part == 0))
    });
    let h = heads.clone();
    answer!(mock, Op::LoadHeads(_) => Ok(h.clone()));
    // The whole store's ids are read a page of heads at a time.
    answer!(mock, Op::HeadsPage { after, limit } => {
        let page: Vec<DocumentHead> = heads
            .iter()
            .filter(|head| after.is_none_or(|after| head.id > *after))
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(page)
    });
    // The runner journals each invocation's report; kept nowhere here (the log is the phases').
    answer!(mock, Op::SaveReport { .. } => Ok(()));
    let (j, l) = (journal.clone(), log.clone());
    answer!(mock, Op::SetRunStatus { run, status } => {
        l.push(format!("journal status {status:?}"));
        let mut journal = lock(&j);
        let record = journal
            .get_mut(run)
            .ok_or_else(|| AdapterError::NotFound(format!("run {run}")))?;
        record.status = status;
        Ok(())
    });
    mock
}

/// A mocked test's world: the log the fakes and the journaling mock write, the journal that
/// mock keeps, and the backup store. Its run is `r1`.
#[derive(Default)]
struct World {
    log: Log,
    journal: MockJournal,
    backups: Arc<MemoryBackupStore>,
}

impl World {
    /// A runner of `phases` over `adapter` and this world's backups.
    fn runner_over(
        &self,
        adapter: impl LiveExecutionAdapter + 'static,
        phases: Vec<Box<dyn Phase>>,
    ) -> Runner {
        Runner::with_phases(Arc::new(adapter), self.backups.clone(), phases)
    }

    /// A runner of `phases` over a [`journaling_mock`] of this world.
    fn runner(&self, phases: Vec<Box<dyn Phase>>) -> Runner {
        self.runner_over(journaling_mock(&self.journal, &self.log), phases)
    }

    /// The journal's record of `r1`.
    fn record(&self) -> Result<RunRecord, String> {
        lock(&self.journal)
            .get(&RunId::new("r1"))
            .cloned()
            .ok_or_else(|| "run r1 not journaled".to_owned())
    }

    /// `r1`'s journaled status.
    fn status(&self) -> Option<RunStatus> {
        self.record().ok().map(|r| r.status)
    }
}

/// Runs `law_request(run)` held after write-verify, and checks it passed.
async fn held_law_run(runner: &Runner, run: &str) -> Result<RunReport, Box<dyn std::error::Error>> {
    held_run(
        runner,
        law_request(run),
        iu_cutter_phase_core::names::WRITE_VERIFY,
    )
    .await
}

/// Runs `request` held after the phase `until`, and checks it passed.
async fn held_run(
    runner: &Runner,
    request: RunRequest,
    until: &str,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let held = runner
        .run(request, RunOptions::default().with_until(until))
        .await?;
    assert_eq!(held.outcome, Outcome::Pass, "{}", held.to_json());
    Ok(held)
}

/// Resumes `r1` with the default options.
async fn resume(runner: &Runner) -> Result<RunReport, crate::RunnerError> {
    runner
        .resume(&RunId::new("r1"), RunOptions::default())
        .await
}

/// Whether the report has a note that contains `text`.
fn noted(report: &RunReport, text: &str) -> bool {
    report.notes.iter().any(|n| n.contains(text))
}

/// Collects events.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<RunEvent>>>);

impl EventSink for Events {
    fn emit(&self, event: RunEvent) {
        lock(&self.0).push(event);
    }
}

impl Events {
    fn options(&self) -> RunOptions {
        RunOptions::default().with_events(Arc::new(self.clone()))
    }

    /// Compact form: `started`, `phase-started a`, `skipped a`, `finished a done`, `PASS`.
    fn compact(&self) -> Vec<String> {
        lock(&self.0)
            .iter()
            .map(|e| match e {
                RunEvent::RunStarted { .. } => "started".to_owned(),
                RunEvent::PhaseStarted { phase, .. } => format!("phase-started {phase}"),
                RunEvent::Progress { phase, .. } => format!("progress {phase}"),
                RunEvent::BackingOff { phase, .. } => format!("backing-off {phase}"),
                RunEvent::PhaseSkipped { phase, .. } => format!("skipped {phase}"),
                RunEvent::PhaseFinished { phase, status, .. } => {
                    format!("finished {phase} {status}")
                }
                RunEvent::RunFinished { outcome, .. } => outcome.clone(),
            })
            .collect()
    }
}

/// The fields of a `REFUSED` outcome.
struct Refusal<'a> {
    reason: &'a str,
    switch: &'a str,
    /// The next actions in words.
    how_to_open: String,
    next: &'a [NextAction],
    resume_from: Option<&'a str>,
}

/// The report's outcome as a [`Refusal`], or an error naming the outcome it is instead.
fn refused(report: &RunReport) -> Result<Refusal<'_>, String> {
    match &report.outcome {
        Outcome::Refused {
            reason,
            switch,
            next,
            resume_from,
        } => Ok(Refusal {
            reason,
            switch,
            how_to_open: crate::next::in_words(next),
            next,
            resume_from: resume_from.as_deref(),
        }),
        other => Err(format!("expected REFUSED, got {other:?}")),
    }
}

/// The fields of a `FAILED` outcome.
struct Failure<'a> {
    error: &'a str,
    resume_from: Option<&'a str>,
    /// The next actions in words.
    next_action: String,
    next: &'a [NextAction],
}

/// The report's outcome as a [`Failure`], or an error naming the outcome it is instead.
fn failed(report: &RunReport) -> Result<Failure<'_>, String> {
    match &report.outcome {
        Outcome::Failed {
            error,
            resume_from,
            next,
        } => Ok(Failure {
            error,
            resume_from: resume_from.as_deref(),
            next_action: crate::next::in_words(next),
            next,
        }),
        other => Err(format!("expected FAILED, got {other:?}")),
    }
}

/// The gap of a `BLOCKED` outcome, or an error naming the outcome it is instead.
fn blocked(report: &RunReport) -> Result<&Gap, String> {
    match &report.outcome {
        Outcome::Blocked { gap } => Ok(gap),
        other => Err(format!("expected BLOCKED, got {other:?}")),
    }
}

/// `adapter` behind a kill switch whose only source is `switch`.
fn behind<A: LiveExecutionAdapter>(adapter: A, switch: &ManualSwitch) -> Guarded<A> {
    Guarded::new(adapter, ExecutionGate::new().with_source(switch.clone()))
}

/// What a test's layer around the store does before it passes each call on.
#[async_trait]
trait BeforeCall: Send + Sync {
    /// Runs before `op` reaches the store.
    async fn before(&self, op: &Op<'_>);
}

/// The store, with `hook` run before each call: [`Recorded`] and [`Meanwhile`].
struct Hooked<A, H> {
    inner: A,
    hook: H,
}

#[async_trait]
impl<A: LiveExecutionAdapter, H: BeforeCall> LiveExecutionAdapter for Hooked<A, H> {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(
        &self,
        op: Op<'a>,
        claim: Option<&'a iu_cutter_live_execution::LeaseClaim>,
    ) -> AdapterResult<Reply> {
        self.hook.before(&op).await;
        self.inner.call(op, claim).await
    }
}

/// The store, recording in order what `note` makes of each call (nothing of those it gives
/// `None` for): what a test counts of a run's calls, such as the parts of a backup it read.
type Recorded<A, T> = Hooked<A, Record<T>>;

/// What [`Recorded`] records, and how.
struct Record<T> {
    note: fn(&Op<'_>) -> Option<T>,
    seen: Arc<Mutex<Vec<T>>>,
}

impl<A, T> Recorded<A, T> {
    fn new(inner: A, note: fn(&Op<'_>) -> Option<T>) -> Self {
        Hooked {
            inner,
            hook: Record {
                note,
                seen: Arc::default(),
            },
        }
    }

    /// What was recorded so far, shared with the store.
    fn seen(&self) -> Arc<Mutex<Vec<T>>> {
        Arc::clone(&self.hook.seen)
    }
}

#[async_trait]
impl<T: Send + 'static> BeforeCall for Record<T> {
    async fn before(&self, op: &Op<'_>) {
        if let Some(noted) = (self.note)(op) {
            lock(&self.seen).push(noted);
        }
    }
}

/// Work another client does, run once by [`Meanwhile`].
type Pending = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The store, except that just before its `nth` call of `kind` (counted from 1), `meanwhile`
/// (another client's whole invocation) runs to its end: a window between two reads of one
/// invocation, made deterministic.
type Meanwhile<A> = Hooked<A, BeforeNth>;

/// When [`Meanwhile`] runs what.
struct BeforeNth {
    kind: iu_cutter_live_execution::OpKind,
    nth: usize,
    seen: std::sync::atomic::AtomicUsize,
    meanwhile: tokio::sync::Mutex<Option<Pending>>,
}

impl<A> Meanwhile<A> {
    /// `meanwhile` runs before the first call of `kind`.
    fn new(inner: A, kind: iu_cutter_live_execution::OpKind, meanwhile: Pending) -> Self {
        Self::before_nth(inner, kind, 1, meanwhile)
    }

    /// `meanwhile` runs before the `nth` call of `kind`.
    fn before_nth(
        inner: A,
        kind: iu_cutter_live_execution::OpKind,
        nth: usize,
        meanwhile: Pending,
    ) -> Self {
        Hooked {
            inner,
            hook: BeforeNth {
                kind,
                nth,
                seen: std::sync::atomic::AtomicUsize::new(0),
                meanwhile: tokio::sync::Mutex::new(Some(meanwhile)),
            },
        }
    }
}

#[async_trait]
impl BeforeCall for BeforeNth {
    async fn before(&self, op: &Op<'_>) {
        if op.kind() == self.kind && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.nth {
            let pending = self.meanwhile.lock().await.take();
            if let Some(pending) = pending {
                pending.await;
            }
        }
    }
}

/// Two laws the real phases cut into several units each.
const LAW_1: &str = "# Law one\n\nPreamble.\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n";
const LAW_2: &str = "Intro.\n\n# Part A\n\nText A.\n\n# Part B\n\nText B.\n";

/// The documents under `law/`.
fn laws() -> Scope {
    Scope::Prefix("law/".into())
}

/// A run of `run` over [`laws`] with the markdown rules.
fn law_request(run: &str) -> RunRequest {
    RunRequest::new(run, laws(), CutRules::preset(Preset::Markdown))
}

/// Asserts that `report` enacted a run of the five real phases held after write-verify: the
/// three before it skipped, write-verify run again, and lifecycle-enact run.
fn assert_enacted_from_held(report: &RunReport) {
    use crate::PhaseEntryStatus::{Done, Skipped};
    let statuses: Vec<_> = report.phases.iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [Skipped, Skipped, Skipped, Done, Done],
        "{}",
        report.to_json()
    );
}

/// The five real phases over a simulator, behind a kill switch of their own.
struct Harness {
    sim: Arc<Simulator>,
    switch: ManualSwitch,
    runner: Runner,
}

impl Harness {
    /// Over a simulator holding `documents`, the switch open as `open` says.
    fn new<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str)>, open: bool) -> Self {
        let sim = Arc::new(Simulator::with_documents(documents));
        let switch = ManualSwitch::new("test", open, "open the test switch");
        let runner = Runner::new(
            Arc::new(behind(sim.clone(), &switch)),
            Arc::new(MemoryBackupStore::new()),
        );
        Harness {
            sim,
            switch,
            runner,
        }
    }
}

/// The mutations that reached `sim`, but for the journaled reports: what an invocation changed
/// of the store's state (the runner journals every invocation's report of an existing run,
/// refused or not, as the program did before).
fn changes(sim: &Simulator) -> usize {
    sim.call_log()
        .iter()
        .filter(|call| {
            call.applied && call.operation != iu_cutter_live_execution::OpKind::SaveReport
        })
        .count()
}

/// Run `run` as the simulator journaled it.
async fn stored_run(sim: &Simulator, run: &str) -> Result<RunRecord, Box<dyn std::error::Error>> {
    Ok(
        iu_cutter_live_execution::prelude::Journal::load_run(sim, &RunId::new(run))
            .await?
            .ok_or_else(|| format!("run {run} not journaled"))?,
    )
}
