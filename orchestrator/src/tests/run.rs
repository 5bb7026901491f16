//! Run and resume.

use iu_cutter_live_execution::{
    AdapterError, CutRules, LiveExecutionAdapter, ManualSwitch, MockLiveExecutionAdapter,
    PhaseStatus, Preset, RunId, RunStatus, Scope,
};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{Op, expect_op};
use iu_cutter_phase_core::{CancelFlag, Phase};
use mockall::Sequence;

use super::*;
use crate::{Outcome, PhaseEntryStatus, RunReport, Runner, RunnerError};

/// A runner of `phases` over `adapter`, in a world of its own.
fn runner(adapter: impl LiveExecutionAdapter + 'static, phases: Vec<Box<dyn Phase>>) -> Runner {
    World::default().runner_over(adapter, phases)
}

fn statuses(report: &RunReport) -> Vec<(String, PhaseEntryStatus)> {
    report
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.status))
        .collect()
}

impl World {
    /// Resumes `r1` and checks that it passes, that the phases ran as `ran` says over the whole
    /// test, and that the journal holds the run as passed.
    async fn resumes_to_pass(&self, runner: &Runner, ran: &[&str]) -> TestResult {
        let resumed = resume(runner).await?;
        assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
        assert_eq!(self.log.ran(), ran);
        assert_eq!(self.status(), Some(RunStatus::Pass));
        Ok(())
    }
}

#[tokio::test]
async fn closed_gate_at_preflight_refuses_before_any_mutation() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    mock.expect_info().returning(mock_info);
    expect_op!(mock, Preflight).times(1).returning(|_, _| {
        Err(AdapterError::GateClosed {
            switch: "configuration (execution_enabled)".into(),
            how_to_open: "set execution_enabled = true or pass --execute".into(),
        })
    });
    // The runner asks whether the run exists before journaling its report: it does not.
    answer!(mock, Op::LoadRun(_) => Ok(None::<RunRecord>)).times(1);
    // No mutation of any kind (the table of ops says which are), journal entries included.
    mock.expect_call()
        .withf(|op, _| op.kind().mutates())
        .never();
    let log = Log::default();
    let events = Events::default();
    let runner = runner(mock, recording(&["a", "b"], &log));

    let report = runner.run(request("r1"), events.options()).await?;

    let refusal = refused(&report)?;
    assert_eq!(refusal.switch, "configuration (execution_enabled)");
    assert!(
        refusal.how_to_open.contains("--execute"),
        "{}",
        refusal.how_to_open
    );
    assert_eq!(refusal.resume_from, None);
    assert_eq!(report.outcome.name(), "REFUSED");
    assert!(log.ran().is_empty());
    assert!(
        report
            .phases
            .iter()
            .all(|p| p.status == PhaseEntryStatus::NotRun)
    );
    assert_eq!(report.census_before, None);
    assert_eq!(events.compact(), ["started", "REFUSED"]);
    Ok(())
}

#[tokio::test]
async fn other_preflight_errors_fail_with_a_next_action() -> TestResult {
    let mut mock = MockLiveExecutionAdapter::new();
    mock.expect_info().returning(mock_info);
    expect_op!(mock, Preflight)
        .returning(|_, _| Err(AdapterError::Unavailable("connection refused".into())));
    expect_op!(mock, BeginRun).never();
    answer!(mock, Op::LoadRun(_) => Ok(None::<RunRecord>));
    expect_op!(mock, SaveReport).never();
    let runner = runner(mock, recording(&["a"], &Log::default()));

    let report = runner.run(request("r1"), RunOptions::default()).await?;

    let failure = failed(&report)?;
    assert_eq!(failure.resume_from, None);
    assert!(
        failure.error.contains("connection refused"),
        "{}",
        failure.error
    );
    assert_eq!(
        failure.next.last(),
        Some(&NextAction::Run {
            run: Some(RunId::new("r1"))
        }),
        "{}",
        failure.next_action
    );
    Ok(())
}

#[tokio::test]
async fn phases_run_in_order_between_running_and_done_journal_entries() -> TestResult {
    let log = Log::default();
    let mut mock = MockLiveExecutionAdapter::new();
    let mut seq = Sequence::new();
    mock.expect_info().returning(mock_info);
    answer!(mock, Op::Preflight => Ok(()))
        .times(1)
        .in_sequence(&mut seq);
    answer!(mock, Op::HeadsPage { .. } => Ok(Vec::<DocumentHead>::new()))
        .times(1)
        .in_sequence(&mut seq);
    // The opening census is a summary (its digests are read again by the backup, a census
    // line at a time).
    answer!(mock, Op::ScopeCensusSummary(_) => Ok(scope_census(&Census::default())))
        .times(1)
        .in_sequence(&mut seq);
    let begun: Arc<Mutex<Option<RunRecord>>> = Arc::default();
    let b = begun.clone();
    answer!(mock, Op::BeginRun(record) => {
        *lock(&b) = Some(record.clone());
        Ok(Some(record.clone()))
    })
    .times(1)
    .in_sequence(&mut seq);
    for name in ["a", "b", "c"] {
        for status in [PhaseStatus::Running, PhaseStatus::Done] {
            let l = log.clone();
            expect_op!(
                mock,
                RecordPhase,
                Op::RecordPhase { run, phase }
                    if run.as_str() == "r1" && phase.name == name && phase.status == status
            )
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |op, _| {
                let Op::RecordPhase { phase, .. } = op else {
                    unreachable!("matched only record_phase, got {}", op.kind());
                };
                assert_eq!(phase.evidence.is_empty(), status == PhaseStatus::Running);
                l.push(format!("journal {} {status:?}", phase.name));
                Ok(().into())
            });
        }
    }
    answer!(
        mock,
        Op::SetRunStatus {
            status: RunStatus::Pass,
            ..
        } => Ok(())
    )
    .times(1)
    .in_sequence(&mut seq);
    answer!(mock, Op::ChangedSince(_) => Ok(Vec::<DocumentId>::new()))
        .times(1)
        .in_sequence(&mut seq);
    // The closing census: its summary alone.
    answer!(mock, Op::ScopeCensusSummary(_) => Ok(scope_census(&Census::default())))
        .times(1)
        .in_sequence(&mut seq);
    // Last, the runner journals its own report of the run it began.
    answer!(mock, Op::LoadRun(_) => Ok(lock(&begun).clone()))
        .times(1)
        .in_sequence(&mut seq);
    let l = log.clone();
    answer!(mock, Op::SaveReport { run, .. } => {
        l.push(format!("journal report {run}"));
        Ok(())
    })
    .times(1)
    .in_sequence(&mut seq);
    let events = Events::default();
    let runner = runner(mock, recording(&["a", "b", "c"], &log));

    let report = runner.run(request("r1"), events.options()).await?;

    assert_eq!(report.outcome, Outcome::Pass);
    assert_eq!(report.held_after, None);
    assert_eq!(
        log.lines(),
        [
            "journal a Running",
            "ran a",
            "journal a Done",
            "journal b Running",
            "ran b",
            "journal b Done",
            "journal c Running",
            "ran c",
            "journal c Done",
            "journal report r1",
        ]
    );
    assert!(report.phases.iter().all(|p| {
        p.status == PhaseEntryStatus::Done
            && p.duration_ms.is_some()
            && p.evidence.get("ran").and_then(EvidenceValue::as_text) == Some(p.name.as_str())
    }));
    assert_eq!(
        events.compact(),
        [
            "started",
            "phase-started a",
            "finished a done",
            "phase-started b",
            "finished b done",
            "phase-started c",
            "finished c done",
            "PASS",
        ]
    );
    assert!(report.census_before.is_some() && report.census_after.is_some());
    Ok(())
}

#[tokio::test]
async fn a_blocked_phase_stops_the_run_and_journals_the_gap() -> TestResult {
    let world = World::default();
    let phases = vec![
        recorder("a", &world.log),
        fake("b", &world.log, Act::Block),
        recorder("c", &world.log),
    ];
    let runner = world.runner(phases);

    let report = runner.run(request("r1"), RunOptions::default()).await?;

    assert_eq!(report.outcome, Outcome::Blocked { gap: test_gap("b") });
    assert_eq!(world.log.ran(), ["ran a", "ran b"]);
    assert_eq!(
        statuses(&report),
        [
            ("a".into(), PhaseEntryStatus::Done),
            ("b".into(), PhaseEntryStatus::Blocked),
            ("c".into(), PhaseEntryStatus::NotRun),
        ]
    );
    let record = world.record()?;
    assert_eq!(record.status, RunStatus::Blocked);
    let b = record.phase("b").ok_or("b not journaled")?;
    assert_eq!(b.status, PhaseStatus::Blocked);
    assert_eq!(
        b.detail.as_deref(),
        Some(test_gap("b").to_string().as_str())
    );
    assert!(record.phase("c").is_none());
    Ok(())
}

#[tokio::test]
async fn until_holds_the_run_and_resume_continues_after_it() -> TestResult {
    let world = World::default();
    let runner = world.runner(recording(&["a", "b", "c"], &world.log));

    let held = runner
        .run(request("r1"), RunOptions::default().with_until("b"))
        .await?;

    assert_eq!(held.outcome, Outcome::Pass);
    assert_eq!(held.held_after.as_deref(), Some("b"));
    assert_eq!(world.log.ran(), ["ran a", "ran b"]);
    assert_eq!(world.record()?.status, RunStatus::Held);
    assert_eq!(
        held.phase("c").map(|p| p.status),
        Some(PhaseEntryStatus::NotRun)
    );

    let events = Events::default();
    let resumed = runner.resume(&RunId::new("r1"), events.options()).await?;

    assert_eq!(resumed.outcome, Outcome::Pass);
    assert_eq!(resumed.held_after, None);
    assert_eq!(world.log.ran(), ["ran a", "ran b", "ran c"]);
    assert_eq!(
        statuses(&resumed),
        [
            ("a".into(), PhaseEntryStatus::Skipped),
            ("b".into(), PhaseEntryStatus::Skipped),
            ("c".into(), PhaseEntryStatus::Done),
        ]
    );
    // Skipped phases show their journaled evidence.
    assert_eq!(
        resumed.phase("a").and_then(|p| p.evidence.get("ran")),
        Some(&"a".into())
    );
    assert_eq!(
        events.compact(),
        [
            "started",
            "skipped a",
            "skipped b",
            "phase-started c",
            "finished c done",
            "PASS"
        ]
    );
    assert_eq!(world.record()?.status, RunStatus::Pass);

    // A passed run is not run again, by resume or by run.
    let again = resume(&runner).await?;
    assert_eq!(again.outcome, Outcome::Pass);
    assert!(noted(&again, "already journaled as PASS"));
    let rerun = runner.run(request("r1"), RunOptions::default()).await?;
    assert_eq!(rerun.outcome, Outcome::Pass);
    assert_eq!(world.log.ran(), ["ran a", "ran b", "ran c"]);
    Ok(())
}

#[tokio::test]
async fn until_the_last_phase_is_an_ordinary_pass() -> TestResult {
    let world = World::default();
    let runner = world.runner(recording(&["a", "b"], &world.log));
    let report = runner
        .run(request("r1"), RunOptions::default().with_until("b"))
        .await?;
    assert_eq!((report.outcome, report.held_after), (Outcome::Pass, None));
    assert_eq!(world.record()?.status, RunStatus::Pass);
    Ok(())
}

#[tokio::test]
async fn resume_after_a_crash_skips_done_phases_and_reruns_the_interrupted_one() -> TestResult {
    let world = World::default();
    let mut record = RunRecord::new(
        RunId::new("r1"),
        Scope::All,
        CutRules::preset(Preset::Markdown),
    );
    record.phases = vec![
        journaled("a", PhaseStatus::Done, evidence_of("a"), T0),
        journaled("b", PhaseStatus::Running, Evidence::new(), T0),
    ];
    lock(&world.journal).insert(RunId::new("r1"), record);
    let runner = world.runner(recording(&["a", "b", "c"], &world.log));

    let report = resume(&runner).await?;

    assert_eq!(report.outcome, Outcome::Pass);
    assert_eq!(world.log.ran(), ["ran b", "ran c"]);
    // The run was `Running` (a crash): no status change before the phases.
    assert_eq!(
        world.log.lines().first().map(String::as_str),
        Some("journal b Running")
    );
    Ok(())
}

#[tokio::test]
async fn misuse_is_an_error_and_touches_nothing() -> TestResult {
    // No expectations: any adapter call would panic.
    let misused = runner(
        MockLiveExecutionAdapter::new(),
        recording(&["a", "b"], &Log::default()),
    );
    match misused
        .run(request("r1"), RunOptions::default().with_until("nope"))
        .await
    {
        Err(RunnerError::UnknownPhase { phase, known }) => {
            assert_eq!(phase, "nope");
            assert_eq!(known, "a, b");
        }
        other => return Err(format!("expected UnknownPhase, got {other:?}").into()),
    }
    assert!(matches!(
        misused
            .resume(&RunId::new("r1"), RunOptions::default().with_until("nope"))
            .await,
        Err(RunnerError::UnknownPhase { .. })
    ));
    assert!(matches!(
        misused
            .run(request("r1"), RunOptions::default().with_batch_units(0))
            .await,
        Err(RunnerError::InvalidOption(_))
    ));
    let log = Log::default();
    let duplicate = runner(
        MockLiveExecutionAdapter::new(),
        recording(&["a", "a"], &log),
    );
    assert!(matches!(
        duplicate.run(request("r1"), RunOptions::default()).await,
        Err(RunnerError::DuplicatePhase(name)) if name == "a"
    ));
    let reserved = runner(
        MockLiveExecutionAdapter::new(),
        recording(&["rollback"], &log),
    );
    assert!(matches!(
        reserved.run(request("r1"), RunOptions::default()).await,
        Err(RunnerError::ReservedPhase(_))
    ));
    Ok(())
}

#[tokio::test]
async fn resuming_an_unknown_run_is_an_error() -> TestResult {
    let world = World::default();
    let runner = world.runner(recording(&["a"], &world.log));
    let result = runner
        .resume(&RunId::new("ghost"), RunOptions::default())
        .await;
    assert!(matches!(result, Err(RunnerError::UnknownRun(run)) if run.as_str() == "ghost"));
    Ok(())
}

#[tokio::test]
async fn a_run_id_reused_with_other_rules_fails() -> TestResult {
    let world = World::default();
    let runner = world.runner(recording(&["a"], &world.log));
    runner.run(request("r1"), RunOptions::default()).await?;

    let other = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::LegalVi));
    let report = runner.run(other, RunOptions::default()).await?;

    let error = failed(&report)?.error;
    assert!(error.contains("already used"), "{error}");
    assert_eq!(world.log.ran(), ["ran a"]);
    Ok(())
}

#[tokio::test]
async fn cancellation_fails_with_a_resume_point_and_resume_completes() -> TestResult {
    let world = World::default();
    let cancel = CancelFlag::new();
    let phases = vec![
        fake("a", &world.log, Act::Cancel(cancel.clone())),
        recorder("b", &world.log),
    ];
    let runner = world.runner(phases);

    // The phase that cancels fails at its own boundary check.
    let report = runner
        .run(
            request("r1"),
            RunOptions::default().with_cancel(cancel.clone()),
        )
        .await?;
    let failure = failed(&report)?;
    assert!(failure.error.contains("cancelled"), "{}", failure.error);
    assert_eq!(failure.resume_from, Some("a"));
    assert_eq!(failure.next, [NextAction::resume(&RunId::new("r1"))]);
    assert_eq!(
        report.phase("a").map(|p| p.status),
        Some(PhaseEntryStatus::Cancelled)
    );
    let record = world.record()?;
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.phase("a").map(|p| p.status),
        Some(PhaseStatus::Failed)
    );
    assert_eq!(world.log.ran(), ["ran a"]);

    // With a fresh flag, resume runs `a` again (it was not done) and then `b`.
    world
        .resumes_to_pass(&runner, &["ran a", "ran a", "ran b"])
        .await
}

#[tokio::test]
async fn cancellation_between_phases_stops_before_the_next_one() -> TestResult {
    let world = World::default();
    let cancel = CancelFlag::new();
    // `a` passes and then asks to stop (its own check comes after the request, so make it
    // pass: a phase that asks at its very end); `b` must not start.
    let phases = vec![
        fake("a", &world.log, Act::PassThenCancel(cancel.clone())),
        fake("b", &world.log, Act::StopAtBoundary),
    ];
    let runner = world.runner(phases);

    let report = runner
        .run(request("r1"), RunOptions::default().with_cancel(cancel))
        .await?;

    assert_eq!(failed(&report)?.resume_from, Some("b"));
    assert_eq!(world.log.ran(), ["ran a"]);
    let record = world.record()?;
    assert!(record.phase("b").is_none(), "b must not have started");
    assert_eq!(record.status, RunStatus::Failed);

    // A fresh flag: resume skips `a` and runs `b`.
    world.resumes_to_pass(&runner, &["ran a", "ran b"]).await
}

#[tokio::test]
async fn a_closed_gate_mid_run_refuses_with_a_resume_point_and_resume_completes() -> TestResult {
    let world = World::default();
    let switch = ManualSwitch::new("test switch", true, "flip the test switch back on");
    let guarded = behind(journaling_mock(&world.journal, &world.log), &switch);
    let closes = Act::close_gate(&switch, Duration::ZERO);
    let phases = vec![
        recorder("a", &world.log),
        fake("b", &world.log, closes),
        recorder("c", &world.log),
    ];
    let runner = world.runner_over(guarded, phases);

    let report = runner.run(request("r1"), RunOptions::default()).await?;

    let refusal = refused(&report)?;
    assert_eq!(refusal.switch, "test switch");
    assert_eq!(refusal.how_to_open, "flip the test switch back on");
    assert_eq!(refusal.resume_from, Some("b"));
    assert_eq!(world.log.ran(), ["ran a"]);
    // The refusal could not be journaled: the phase is still `Running`, the run too.
    let record = world.record()?;
    assert_eq!(
        record.phase("b").map(|p| p.status),
        Some(PhaseStatus::Running)
    );
    assert_eq!(record.status, RunStatus::Running);

    // Still closed: resume is refused at preflight, naming where it would start.
    assert_eq!(refused(&resume(&runner).await?)?.resume_from, Some("b"));

    switch.set(true);
    world
        .resumes_to_pass(&runner, &["ran a", "ran b", "ran c"])
        .await
}

#[tokio::test]
async fn a_raw_gate_closed_error_from_a_phase_is_refused_not_failed() -> TestResult {
    let world = World::default();
    let phases = vec![
        recorder("a", &world.log),
        fake("b", &world.log, Act::ReturnGateClosed),
    ];
    let runner = world.runner(phases);

    let report = runner.run(request("r1"), RunOptions::default()).await?;

    assert_eq!(
        report.outcome,
        Outcome::gate_closed(
            "stop file /run/iu-cutter.stop".into(),
            "remove /run/iu-cutter.stop".into(),
            Some("b".into()),
        )
        .told_truly(true, None)
    );
    // The run was journaled and phase `a` ran: the refusal must not claim nothing changed.
    let reason = refused(&report)?.reason;
    assert!(
        reason.contains("had already changed the store") && !reason.contains("nothing was"),
        "{reason}"
    );
    assert_eq!(
        report.phase("b").map(|p| p.status),
        Some(PhaseEntryStatus::Refused)
    );
    let record = world.record()?;
    assert_eq!(
        record.phase("b").map(|p| p.status),
        Some(PhaseStatus::Running)
    );
    Ok(())
}

#[tokio::test]
async fn other_phase_errors_fail_with_the_phase_to_resume_from() -> TestResult {
    struct Broken;
    #[async_trait::async_trait]
    impl Phase for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        async fn run(&self, _ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
            Err(AdapterError::Unavailable("disk on fire".into()).into())
        }
    }
    let world = World::default();
    let runner = world.runner(vec![Box::new(Broken)]);

    let report = runner.run(request("r1"), RunOptions::default()).await?;

    let failure = failed(&report)?;
    assert!(failure.error.contains("disk on fire"), "{}", failure.error);
    assert_eq!(failure.resume_from, Some("broken"));
    assert_eq!(
        failure.next.last(),
        Some(&NextAction::resume(&RunId::new("r1"))),
        "{}",
        failure.next_action
    );
    let record = world.record()?;
    assert_eq!(record.status, RunStatus::Failed);
    let broken = record.phase("broken").ok_or("not journaled")?;
    assert_eq!(broken.status, PhaseStatus::Failed);
    assert!(
        broken
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("disk on fire"))
    );
    Ok(())
}

#[tokio::test]
async fn the_report_serialises_with_its_schema_version_and_outcome_name() -> TestResult {
    let world = World::default();
    let runner = world.runner(recording(&["a"], &world.log));
    let report = runner.run(request("r1"), RunOptions::default()).await?;
    let json: serde_json::Value = serde_json::from_str(&report.to_json())?;
    assert_eq!(json["schema_version"], crate::REPORT_SCHEMA_VERSION);
    assert_eq!(json["schema_version"], 5);
    assert_eq!(json["command"], "run");
    assert_eq!(json["outcome"]["name"], "PASS");
    assert_eq!(json["adapter"]["kind"], "mock");
    assert_eq!(json["phases"][0]["status"], "done");
    let back: RunReport = serde_json::from_value(json)?;
    assert_eq!(back, report);
    Ok(())
}

#[test]
fn the_run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let runner = runner(MockLiveExecutionAdapter::new(), Vec::new());
    let run = runner.run(request("r1"), RunOptions::default());
    assert_send(&run);
    let id = RunId::new("r1");
    let resume = runner.resume(&id, RunOptions::default());
    assert_send(&resume);
    let rollback = runner.rollback(&id);
    assert_send(&rollback);
}

#[test]
fn a_version_1_report_still_reads() -> TestResult {
    let v1 = r#"{"schema_version":1,"run":"r1","command":"run",
        "adapter":{"kind":"sqlite","live":true,"location":"sqlite://x"},
        "outcome":{"name":"REFUSED","switch":"s","how_to_open":"h","resume_from":null},
        "held_after":null,"phases":[{"name":"backup","status":"not-run","evidence":{},
        "detail":null,"duration_ms":null}],"census_before":null,"census_after":null,
        "rollback":null,"notes":[],"duration_ms":3}"#;
    let report = RunReport::from_json(v1)?;
    assert_eq!(report.schema_version, 1);
    assert_eq!(report.outcome.name(), "REFUSED");
    // Its next action in words reads as a fix in those words.
    assert_eq!(report.outcome.next(), [NextAction::fix("h")]);
    assert!(report.provenance.is_none() && report.plan_sha256.is_none());
    assert!(report.to_markdown().contains("| backup | not run |"));
    Ok(())
}

/// Two stores share one backup directory (a database initialised again with its `backup_dir`
/// kept, or a staging store beside production) and each runs `r1`. The second store's journal
/// holds no backup of its `r1`, so its backup phase read the directory's: the first store's,
/// "reused" it as its own, and cut-leg-a then blocked saying law/1 "changed since the backup",
/// which it never did (the backup was another store's). A run takes its own backup, or is
/// refused naming the directory's; the first store's files stay as they were.
#[tokio::test]
async fn a_run_never_takes_another_stores_backup_for_its_own() -> TestResult {
    let dir = tempfile::tempdir()?;
    let files = Arc::new(iu_cutter_phase_core::DirBackupStore::new(dir.path()));
    let first = Arc::new(Simulator::with_documents([
        ("law/1", LAW_1),
        ("law/2", LAW_2),
    ]));
    let report = Runner::new(first, files.clone())
        .run(law_request("r1"), RunOptions::default())
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let artifact = dir.path().join("r1.backup.jsonl");
    let theirs = std::fs::read(&artifact)?;
    let second = Arc::new(Simulator::with_documents([
        ("law/1", "# Other law\n\n## Article 9\n\nNinth.\n"),
        ("law/2", LAW_2),
    ]));
    let report = Runner::new(second.clone(), files.clone())
        .run(law_request("r1"), RunOptions::default())
        .await?;
    let json = report.to_json();
    match &report.outcome {
        Outcome::Pass => assert!(
            second
                .load_backup_part(&RunId::new("r1"), 0)
                .await?
                .is_some(),
            "passed without a backup of its own: {json}"
        ),
        Outcome::Refused { reason, .. } => {
            assert!(reason.contains(&dir.path().display().to_string()), "{json}");
        }
        Outcome::Failed { error, .. } => {
            assert!(error.contains(&dir.path().display().to_string()), "{json}");
        }
        _ => panic!("the second store's r1 ran on the first store's backup: {json}"),
    }
    assert_eq!(
        std::fs::read(&artifact)?,
        theirs,
        "the first store's backup file"
    );
    // What the refusal leaves rolls back without that file.
    let before = second.snapshot().await?;
    let rolled = Runner::new(second.clone(), files.clone())
        .rollback(&RunId::new("r1"))
        .await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(second.snapshot().await?, before, "{}", rolled.to_json());
    assert_eq!(std::fs::read(&artifact)?, theirs, "the first store's file");
    Ok(())
}

/// The store, recording which parts of a journaled backup are read (`load_backup_part`).
fn backup_parts_read<A>(inner: A) -> Recorded<A, u64> {
    Recorded::new(inner, |op| match op {
        Op::LoadBackupPart { part, .. } => Some(*part),
        _ => None,
    })
}

/// The parts `store` read after the header's (part 0), in the order they were read.
fn after_the_first<A>(store: &Recorded<A, u64>) -> Vec<u64> {
    lock(&store.seen())
        .iter()
        .copied()
        .filter(|p| *p > 0)
        .collect()
}

/// Issue 15 (store47): every phase read the backup's rows from the journal again, about ten
/// times a run, seconds each on a million units, though the export beside it held the very
/// bytes. The journal's copy is now read through once, by cut-leg-a's check before the fence;
/// every other read takes the export's file, which hashes to the sha256 the journal sealed.
#[tokio::test]
async fn the_journaled_backup_is_read_through_once_when_its_export_is_identical() -> TestResult {
    let dir = tempfile::tempdir()?;
    let files = Arc::new(iu_cutter_phase_core::DirBackupStore::new(dir.path()));
    let sim = Simulator::with_documents([("law/1", LAW_1), ("law/2", LAW_2)]);
    let store = Arc::new(backup_parts_read(sim));
    let report = Runner::new(store.clone(), files)
        .run(law_request("r1"), RunOptions::default())
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let read = after_the_first(&store);
    let mut once = read.clone();
    once.sort_unstable();
    once.dedup();
    assert!(!read.is_empty(), "the journal's copy was never checked");
    assert_eq!(read, once, "parts of the journal read more than once");
    Ok(())
}

/// An export whose bytes are not those the journal sealed (changed after the backup, its
/// manifest left as it was) is not read: the run goes on from the journal, as before exports
/// were read at all.
#[tokio::test]
async fn an_export_changed_after_the_backup_is_not_read_in_place_of_the_journal() -> TestResult {
    let dir = tempfile::tempdir()?;
    let files = Arc::new(iu_cutter_phase_core::DirBackupStore::new(dir.path()));
    let store = Arc::new(backup_parts_read(Simulator::with_documents([
        ("law/1", LAW_1),
        ("law/2", LAW_2),
    ])));
    let runner = Runner::new(store.clone(), files);
    held_law_run(&runner, "r1").await?;
    let artifact = dir.path().join("r1.backup.jsonl");
    let text = std::fs::read_to_string(&artifact)?;
    std::fs::write(&artifact, text.replace("Second.", "Second!"))?;
    let checked = after_the_first(&store).len();
    let report = runner
        .enact(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert!(
        after_the_first(&store).len() > checked,
        "the enact read no part of the journal"
    );
    Ok(())
}

/// The export's file, rewritten in place (same file, as `cp` over it does) by the third read
/// that hashed it once armed (write-verify's, then the enact's check, then the enact's read it
/// acts on): between the hash and the read, the race of the export read.
struct RewrittenAfterTheHash {
    inner: iu_cutter_phase_core::DirBackupStore,
    path: std::path::PathBuf,
    /// Reads of the export that hashed it since armed (`None`: not armed).
    reads: Mutex<Option<u32>>,
    from: &'static str,
    to: &'static str,
}

#[async_trait]
impl iu_cutter_phase_core::BackupStore for RewrittenAfterTheHash {
    async fn save(
        &self,
        backup: &iu_cutter_live_execution::Backup,
    ) -> Result<iu_cutter_phase_core::BackupReceipt, iu_cutter_phase_core::BackupError> {
        self.inner.save(backup).await
    }

    async fn load(
        &self,
        run: &RunId,
    ) -> Result<
        Option<(
            iu_cutter_live_execution::Backup,
            iu_cutter_phase_core::BackupReceipt,
        )>,
        iu_cutter_phase_core::BackupError,
    > {
        self.inner.load(run).await
    }

    async fn open_with(
        &self,
        run: &RunId,
        detail: iu_cutter_phase_core::HeaderDetail,
    ) -> Result<Option<iu_cutter_phase_core::BackupReader>, iu_cutter_phase_core::BackupError> {
        self.inner.open_with(run, detail).await
    }

    async fn create(
        &self,
        head: &iu_cutter_live_execution::Backup,
    ) -> Result<Box<dyn iu_cutter_phase_core::BackupSink + '_>, iu_cutter_phase_core::BackupError>
    {
        self.inner.create(head).await
    }

    async fn preflight(&self) -> Result<(), iu_cutter_phase_core::BackupError> {
        self.inner.preflight().await
    }

    async fn parts_hashing_to(
        &self,
        run: &RunId,
        sha256: &str,
    ) -> Option<(String, Box<dyn iu_cutter_phase_core::ArtifactParts>)> {
        let parts = self.inner.parts_hashing_to(run, sha256).await;
        let second = {
            let mut reads = lock(&self.reads);
            if let Some(n) = reads.as_mut() {
                *n += 1;
            }
            *reads == Some(3)
        };
        if second && let Ok(text) = std::fs::read_to_string(&self.path) {
            // Truncated and written again: the very file the reader holds open.
            let _ = std::fs::write(&self.path, text.replace(self.from, self.to));
        }
        parts
    }
}

/// adv48: the export's file is hashed, then read again to be acted on; rewritten in place
/// between the two (an operator's `cp` over it, another host's sync), the enact acted on the
/// first batches of bytes that do not hash to the journal's sha256 (it sent their revision as
/// the expected one) and said the document had changed: the document had not, the file had. A
/// backup is proven before it is acted on: the rewritten bytes are refused as not the backup's,
/// before anything is enacted.
#[tokio::test]
async fn an_export_rewritten_between_its_hash_and_its_read_is_never_acted_on() -> TestResult {
    let dir = tempfile::tempdir()?;
    let files = Arc::new(RewrittenAfterTheHash {
        inner: iu_cutter_phase_core::DirBackupStore::new(dir.path()),
        path: dir.path().join("r1.backup.jsonl"),
        reads: Mutex::new(None),
        from: "\"revision\":1",
        to: "\"revision\":9",
    });
    // More than a read of the file (a megabyte) after law/1: law/1 is handed out before the
    // reader reaches the end, where the sha256 is settled.
    let long = "## Article\n\nText of the article.\n\n".repeat(40_000);
    let sim = Arc::new(Simulator::with_documents([
        ("law/1", LAW_1.to_owned()),
        ("law/2", LAW_2.to_owned()),
        ("law/3", long),
    ]));
    let runner = Runner::new(sim.clone(), files.clone());
    held_law_run(&runner, "r1").await?;
    let before = sim.state_snapshot();
    *lock(&files.reads) = Some(0);
    let options =
        RunOptions::default().with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1));
    let report = runner.enact(&RunId::new("r1"), options).await?;
    let text = report.to_json().to_string();
    assert_ne!(report.outcome, Outcome::Pass, "{text}");
    assert!(
        text.contains("does not match its manifest"),
        "not named as tampered: {text}"
    );
    assert!(sim.state_snapshot() == before, "the store changed: {text}");
    Ok(())
}
