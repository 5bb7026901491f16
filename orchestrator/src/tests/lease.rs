//! Run leases over the simulator's logical clock: a live lease refuses another runner, an
//! expired one lets it take over, a lost lease stops the run.

use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{Lease, LiveExecutionAdapter, PhaseStatus, RunId, RunStatus};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_phase_core::{MemoryBackupStore, names};
use iu_cutter_simulator::Simulator;

use super::*;
use crate::{LeaseOptions, Outcome, Runner};
use iu_cutter_live_execution::ManualSwitch;

const LAW: &str = "# Law\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n";

fn simulator() -> Arc<Simulator> {
    Arc::new(Simulator::with_documents([("law/1", LAW), ("law/2", LAW)]))
}

/// Options that take a lease for `holder`, `ttl` long.
fn leased_for(holder: &str, ttl: Duration) -> RunOptions {
    RunOptions::default().with_lease(LeaseOptions::with_holder(holder, ttl))
}

/// [`leased_for`] thirty seconds.
fn leased(holder: &str) -> RunOptions {
    leased_for(holder, Duration::from_secs(30))
}

/// Another runner, `holder`, takes the lease of `run` for thirty seconds.
async fn taken_by(sim: &Simulator, run: &RunId, holder: &str) -> AdapterResult<Lease> {
    sim.acquire_lease(run, holder, Duration::from_secs(30))
        .await
}

/// The reason and next action of a refusal by the lease.
fn refused_reason(report: &RunReport) -> Result<String, String> {
    let refusal = refused(report)?;
    assert_eq!(refusal.switch, "lease");
    Ok(format!("{} / {}", refusal.reason, refusal.how_to_open))
}

#[tokio::test]
async fn a_crashed_runners_run_is_resumable_by_another_only_after_its_lease_expires() -> TestResult
{
    let sim = simulator();
    let backups = Arc::new(MemoryBackupStore::new());
    let adapter: Arc<dyn LiveExecutionAdapter> = sim.clone();
    let first = Runner::new(adapter.clone(), backups.clone());
    let run = RunId::new("r1");
    // The first runner stops after cut-leg-a and "crashes" holding the lease (never renewed).
    let report = first
        .run(
            law_request("r1"),
            leased("a@h:1:x").with_until(names::CUT_LEG_A),
        )
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert_eq!(sim.state_lease(&run), None, "released at the end");
    let crashed = taken_by(&sim, &run, "a@h:1:x").await?;

    let second = Runner::new(adapter.clone(), backups.clone());
    let mutations = changes(&sim);
    let report = second.resume(&run, leased("b@h:2:y")).await?;
    let text = refused_reason(&report)?;
    assert!(text.contains("a@h:1:x"), "names the holder: {text}");
    assert!(
        text.contains(&crashed.expires_at_utc()),
        "names the expiry: {text}"
    );
    assert_eq!(changes(&sim), mutations, "nothing mutated");
    assert_eq!(sim.state_lease(&run), Some(crashed.clone()));

    sim.advance_clock(Duration::from_secs(29));
    let report = second.resume(&run, leased("b@h:2:y")).await?;
    refused_reason(&report)?;

    sim.advance_clock(Duration::from_secs(1));
    let report = second.resume(&run, leased("b@h:2:y")).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    assert_eq!(
        sim.load_run(&run).await?.map(|r| r.status),
        Some(RunStatus::Pass)
    );
    assert_eq!(sim.state_lease(&run), None, "released at the end");
    let lost = sim
        .renew_lease(&run, "a@h:1:x", Duration::from_secs(30))
        .await;
    assert!(
        matches!(lost, Err(AdapterError::LeaseLost { .. })),
        "the crashed holder cannot renew: {lost:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_new_run_whose_lease_is_held_is_refused_before_it_is_journaled() -> TestResult {
    let sim = simulator();
    let run = RunId::new("r2");
    taken_by(&sim, &run, "other@h:9:z").await?;
    let runner = Runner::new(sim.clone(), Arc::new(MemoryBackupStore::new()));
    let report = runner.run(law_request("r2"), leased("me@h:1:x")).await?;
    assert!(refused_reason(&report)?.contains("other@h:9:z"));
    assert_eq!(sim.load_run(&run).await?, None, "nothing journaled");
    // Rollback is refused the same way.
    let report = runner.run(law_request("r3"), RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass);
    taken_by(&sim, &RunId::new("r3"), "other@h:9:z").await?;
    let report = runner
        .rollback_with(&RunId::new("r3"), leased("me@h:1:x"))
        .await?;
    assert!(refused_reason(&report)?.contains("other@h:9:z"));
    Ok(())
}

/// Lets the lease expire and hands it to another holder, then waits for the heartbeat to notice;
/// with `stops`, it then stops as the real phases do at their next batch boundary
/// (`PhaseError::Cancelled`), else it finishes.
struct Steal {
    sim: Arc<Simulator>,
    stops: bool,
}

#[async_trait]
impl Phase for Steal {
    fn name(&self) -> &str {
        "steal"
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        self.sim.advance_clock(Duration::from_secs(1));
        // Another runner takes the lease in the store: a phase's own store has no lease role.
        self.sim
            .acquire_lease(&ctx.record.run, "thief@h:3:z", Duration::from_secs(60))
            .await?;
        // Time passes (paused in the test: the runtime jumps ahead) until the heartbeat notices.
        for _ in 0..200 {
            if ctx.cancel.is_cancelled() {
                if self.stops {
                    return Err(PhaseError::Cancelled);
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(evidence_of("steal"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_stops_the_run_at_the_next_boundary() -> TestResult {
    let sim = simulator();
    let log = Log::default();
    let mut phases: Vec<Box<dyn Phase>> = vec![Box::new(Steal {
        sim: sim.clone(),
        stops: false,
    })];
    phases.extend(recording(&["after"], &log));
    let runner = Runner::with_phases(sim.clone(), Arc::new(MemoryBackupStore::new()), phases);
    let options = leased_for("me@h:1:x", Duration::from_millis(30));
    let report = runner.run(request("r4"), options).await?;
    let failure = failed(&report)?;
    assert!(failure.error.contains("lease lost"), "{}", failure.error);
    // The lease is a fencing token: the loser cannot even journal `steal` done (the store
    // refuses its claimed write), so a resume starts again at `steal`.
    assert_eq!(failure.resume_from, Some("steal"), "{}", failure.error);
    assert!(log.ran().is_empty(), "the phase after the loss did not run");
    let journaled = stored_run(&sim, "r4").await?;
    assert_eq!(
        journaled.phase("steal").map(|p| p.status),
        Some(PhaseStatus::Running),
        "the loser wrote to the journal after losing its lease"
    );
    assert_eq!(
        sim.state_lease(&RunId::new("r4")).map(|l| l.holder),
        Some("thief@h:3:z".to_owned()),
        "the loser does not release the new holder's lease"
    );
    Ok(())
}

/// A run stopped because its lease was lost says so, never that an operator cancelled it: the
/// heartbeat stops the run through the operator's cancel flag, and the phase's entry and the
/// outcome said "cancelled by the operator" though nobody had.
#[tokio::test(start_paused = true)]
async fn a_run_stopped_by_a_lost_lease_does_not_blame_the_operator() -> TestResult {
    let sim = simulator();
    let phases: Vec<Box<dyn Phase>> = vec![Box::new(Steal {
        sim: sim.clone(),
        stops: true,
    })];
    let runner = Runner::with_phases(sim.clone(), Arc::new(MemoryBackupStore::new()), phases);
    let options = leased_for("me@h:1:x", Duration::from_millis(30));
    let report = runner.run(request("r9"), options).await?;
    let failure = failed(&report)?;
    assert!(failure.error.contains("lease lost"), "{}", failure.error);
    assert!(!failure.error.contains("operator"), "{}", failure.error);
    let entry = report.phases.iter().find(|p| p.name == "steal");
    let detail = entry.and_then(|p| p.detail.clone()).unwrap_or_default();
    assert!(detail.contains("lease"), "{detail}");
    assert!(!detail.contains("operator"), "{detail}");
    Ok(())
}

#[tokio::test]
async fn enact_and_verify_of_a_held_run_wait_for_its_lease() -> TestResult {
    let sim = simulator();
    let run = RunId::new("r5");
    let runner = Runner::new(sim.clone(), Arc::new(MemoryBackupStore::new()));
    let report = runner
        .run(
            law_request("r5"),
            leased("me@h:1:x").with_until(names::WRITE_VERIFY),
        )
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "held after write-verify");
    // Another runner holds the run (a resume in progress, say).
    taken_by(&sim, &run, "other@h:9:z").await?;
    let census = sim.state_census();
    let mutations = changes(&sim);
    let report = runner.enact(&run, leased("me@h:1:x")).await?;
    let reason = refused_reason(&report)?;
    assert!(reason.contains("other@h:9:z"), "{reason}");
    assert_eq!(
        refused(&report)?.next.last(),
        Some(&NextAction::Enact { run: run.clone() }),
        "{reason}"
    );
    let report = runner.verify(&run, leased("me@h:1:x")).await?;
    assert!(refused_reason(&report)?.contains("other@h:9:z"));
    assert_eq!(changes(&sim), mutations, "nothing mutated while refused");
    assert_eq!(sim.state_census(), census);
    assert_eq!(
        sim.load_run(&run).await?.map(|r| r.status),
        Some(RunStatus::Held),
        "the run is still held"
    );
    // Once the other runner is done, enact takes the lease, enacts, and gives it back.
    sim.release_lease(&run, "other@h:9:z").await?;
    let report = runner.enact(&run, leased("me@h:1:x")).await?;
    assert_eq!(report.outcome, Outcome::Pass);
    assert_eq!(
        sim.load_run(&run).await?.map(|r| r.status),
        Some(RunStatus::Pass)
    );
    assert_eq!(sim.state_lease(&run), None, "released at the end");
    Ok(())
}

/// A switch closed mid-run is told apart from a lost lease: the heartbeat keeps the lease (its
/// renewals do not pass the switch), the run's next mutation is refused naming the switch, and
/// the lease is released at the end so that the run can be resumed at once.
#[tokio::test(start_paused = true)]
async fn a_switch_closed_mid_run_is_a_refusal_not_a_lost_lease() -> TestResult {
    let sim = simulator();
    let switch = ManualSwitch::new("test switch", true, "open the test switch");
    let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(behind(sim.clone(), &switch));
    // Several heartbeat periods pass between closing the switch and the mutation.
    let closes = Act::close_gate(&switch, Duration::from_millis(200));
    let phases = vec![fake("closes", &Log::default(), closes)];
    let runner = Runner::with_phases(adapter, Arc::new(MemoryBackupStore::new()), phases);
    let options = leased_for("me@h:1:x", Duration::from_millis(30));
    let report = runner.run(request("r6"), options).await?;
    let refusal = refused(&report)?;
    assert_eq!(refusal.switch, "test switch");
    let reason = refusal.reason;
    assert!(!reason.contains("lease"), "{reason}");
    assert!(reason.contains("had already changed the store"), "{reason}");
    assert_eq!(sim.state_lease(&RunId::new("r6")), None, "released");
    Ok(())
}

/// A runner paused between two batches of its backup, past its lease (a zombie), while another
/// takes the run over and finishes it, backup exported to the same directory. The zombie's
/// backup file was the new holder's (one temporary name per run): what it had written, flushed
/// as it gave up, landed in the file the new holder had renamed into place, so the exported
/// backup no longer matched its manifest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_backup_never_writes_into_the_new_holders_exported_backup() -> TestResult {
    let sim = simulator();
    let dir = tempfile::tempdir()?;
    let files = Arc::new(iu_cutter_phase_core::DirBackupStore::new(dir.path()));
    let run = RunId::new("r7");
    let ttl = Duration::from_secs(30);
    let takeover = Runner::new(sim.clone(), files.clone());
    let finished = Arc::new(std::sync::Mutex::new(None));
    let meanwhile: Pending = {
        let (sim, run, finished) = (sim.clone(), run.clone(), finished.clone());
        Box::pin(async move {
            sim.advance_clock(ttl * 2);
            // An edit, so that the two attempts' backups differ.
            let edited = sim
                .put_document(
                    &DocumentId::new("law/2"),
                    "# Law\n\n## Article 1\n\nEdited.\n",
                )
                .await;
            assert!(edited.is_ok(), "{edited:?}");
            let report = takeover.resume(&run, leased("new@h:2:y")).await;
            *finished.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
        })
    };
    let zombie = Runner::new(
        Arc::new(Meanwhile::before_nth(
            sim.clone(),
            iu_cutter_live_execution::OpKind::LoadScope,
            2,
            meanwhile,
        )),
        files.clone(),
    );
    let options = leased_for("zombie@h:1:x", ttl)
        .with_batch_documents(iu_cutter_phase_core::DocumentBatches::Of(1));
    let report = zombie.run(law_request("r7"), options).await?;
    assert_ne!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let taken = finished
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .ok_or("the takeover never ran")??;
    assert_eq!(taken.outcome, Outcome::Pass, "{}", taken.to_json());
    let journaled = sim
        .load_backup_part(&run, 0)
        .await?
        .ok_or("no journaled backup")?;
    match iu_cutter_phase_core::BackupStore::load(files.as_ref(), &run).await {
        Ok(Some((_, receipt))) => assert_eq!(receipt.sha256, journaled.sha256),
        other => panic!(
            "the exported backup of the run is not the new holder's: {other:?} (files: {:?})",
            std::fs::read_dir(dir.path())?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect::<Vec<_>>()
        ),
    }
    let mut left: Vec<_> = std::fs::read_dir(dir.path())?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["r7.backup.jsonl", "r7.manifest.json"],
        "no attempt's file is left"
    );
    Ok(())
}
