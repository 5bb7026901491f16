//! Regression tests from the attack on the seam at c11b997 (the invocation template): each check
//! reproduces one finding, written once and run against every store with
//! [`seam_attack_suite!`]. Found: a `verify` that waited for the lease while another runner
//! enacted the run decided on the journal it read before the lease, reopened the enacted run and
//! held it (or blocked it for good); `enact`, `verify` and `resume` now decide again on the
//! journal reloaded under the lease. And a runner that lost its lease journaled its report after
//! the new holder's; the report of an invocation whose writes were refused for a lost lease is
//! now refused too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, AdapterInfo, AdapterResult, Evidence, LeaseClaim, LiveExecutionAdapter, Op,
    PhaseStatus, Reply, RunId, RunStatus, Scope,
};
use iu_cutter_orchestrator::{LeaseOptions, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{MemoryBackupStore, Phase, PhaseError, RunContext, names};

use crate::fixture::Tamper;
use crate::{id, markdown, ok, ok_report, run_as_zombie};

/// Instantiates every check as a `#[tokio::test]` over `$fixture`.
#[macro_export]
macro_rules! seam_attack_suite {
    ($fixture:path) => {
        $crate::seam_attack_suite!(@each $fixture;
            verify_racing_an_enact_never_rewrites_the_enacted_runs_journal,
            verify_racing_an_enact_never_holds_the_enacted_run,
            a_zombies_report_is_not_the_last_word_on_a_run_another_runner_finished,
        );
    };
    (@each $fixture:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(fixture) = $fixture(stringify!($check)).await else {
                    return;
                };
                $crate::seam_attack::$check(&fixture).await;
                $crate::fixture::Fixture::finish(fixture).await;
            }
        )*
    };
}

type Pending = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The store, except that the first time `holder` asks for a lease, `meanwhile` (another
/// runner's whole invocation) runs to its end first: the window between an invocation's first
/// journal read ([`Invocation::open_journaled`]) and its lease, made deterministic.
struct Meanwhile {
    inner: Arc<dyn LiveExecutionAdapter>,
    holder: String,
    meanwhile: tokio::sync::Mutex<Option<Pending>>,
}

#[async_trait]
impl LiveExecutionAdapter for Meanwhile {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        if let Op::AcquireLease { holder, .. } = op
            && holder == self.holder
        {
            let pending = self.meanwhile.lock().await.take();
            if let Some(pending) = pending {
                pending.await;
            }
        }
        self.inner.call(op, claim).await
    }
}

const LAWS: [(&str, &str); 2] = [
    (
        "law/1",
        "# Law 1\n\nPreamble.\n\n## Article 1\n\nFirst.\n\n## Article 2\n\nSecond.\n",
    ),
    ("law/2", "# Law 2\n\n## Article 1\n\nOnly.\n"),
];

async fn seed(store: &dyn LiveExecutionAdapter) {
    crate::seed(store, &LAWS).await;
}

/// The report another task of the test left in `slot`, which must be a PASS (`what` says whose).
fn take_passed(slot: &Mutex<Option<RunReport>>, what: &str) -> Option<RunReport> {
    let report = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    assert_eq!(
        report.as_ref().map(|r| r.outcome.name()),
        Some("PASS"),
        "{what}"
    );
    report
}

fn leased(holder: &str) -> RunOptions {
    RunOptions::default().with_lease(LeaseOptions::with_holder(holder, Duration::from_secs(60)))
}

/// Finding: `verify` of a held run reads the journal, takes the lease, reloads the journal, and
/// then never looks at it again (orchestrator/src/held.rs `enact_or_verify`: `settled_already`
/// runs on the first read only). If another runner enacted the run in between (`enact`, to
/// PASS), the reloaded journal says PASS with every phase done, yet `verify` reopens it
/// (`reopen`: status back to RUNNING), re-runs write-verify and then *holds* it: the journal of an
/// enacted run now says HELD "verified, not enacted", and the report says the same. With a
/// document imported outside the run's scope meanwhile (an ordinary application write), the
/// re-run write-verify blocks and the enacted run is journaled BLOCKED with write-verify
/// BLOCKED: `verify` can never audit it again, `resume` and `enact` block on it forever.
pub async fn verify_racing_an_enact_never_rewrites_the_enacted_runs_journal(fixture: &impl Tamper) {
    verify_racing_an_enact(fixture, true).await;
}

/// The same race with nothing else written meanwhile: the enacted run is journaled HELD, its
/// `verify` report says "held after write-verify: verified, not enacted", and every later
/// `verify` re-runs write-verify and holds it again instead of auditing it.
pub async fn verify_racing_an_enact_never_holds_the_enacted_run(fixture: &impl Tamper) {
    verify_racing_an_enact(fixture, false).await;
}

async fn verify_racing_an_enact(fixture: &impl Tamper, import_meanwhile: bool) {
    let store = fixture.adapter();
    seed(store).await;
    let run = RunId::new("held");
    let scope = Scope::Ids(vec![id("law/1"), id("law/2")]);
    let first = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let held = ok_report(
        first
            .run(
                RunRequest::new("held", scope, markdown()),
                RunOptions::default().with_until(names::WRITE_VERIFY),
            )
            .await,
        "run --until write-verify",
    );
    assert_eq!(held.outcome.name(), "PASS", "{:?}", held.outcome);

    // The other runner: `enact held` to PASS, then an application imports a document outside
    // the run's scope.
    let enacter = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let shared = fixture.shared();
    let enacted: Arc<Mutex<Option<RunReport>>> = Arc::new(Mutex::new(None));
    let pending: Pending = {
        let (run, enacted) = (run.clone(), enacted.clone());
        Box::pin(async move {
            let report = ok_report(enacter.enact(&run, leased("enacter")).await, "enact");
            *enacted.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
            if import_meanwhile {
                ok(
                    shared.put_document(&id("other/9"), "# Other\n").await,
                    "an application's import outside the scope",
                );
            }
        })
    };
    let racing: Arc<dyn LiveExecutionAdapter> = Arc::new(Meanwhile {
        inner: fixture.shared(),
        holder: "verifier".into(),
        meanwhile: tokio::sync::Mutex::new(Some(pending)),
    });
    let verifier = Runner::new(racing, Arc::new(MemoryBackupStore::new()));
    let verified = ok_report(verifier.verify(&run, leased("verifier")).await, "verify");
    take_passed(&enacted, "the other runner enacted the run");

    let journal = ok(store.load_run(&run).await, "journal");
    let journal = journal.unwrap_or_else(|| panic!("run `held` is journaled"));
    let verify_entry = journal.phase(names::WRITE_VERIFY).map(|p| p.status);
    assert_eq!(
        (journal.status, verify_entry),
        (RunStatus::Pass, Some(PhaseStatus::Done)),
        "an enacted run's journal was rewritten by a `verify` that read it before the enact \
         (its report: {} held_after={:?} {:?}; notes {:?})",
        verified.outcome.name(),
        verified.held_after,
        verified.outcome,
        verified.notes,
    );
}

/// Pauses the process past its lease the first time it runs (a zombie), lets another runner
/// (`takeover`) resume the run to its end meanwhile, then returns as if nothing happened.
struct PauseWhileAnotherFinishes {
    paused: AtomicBool,
    ttl: Duration,
    pause: Arc<dyn Fn(Duration) + Send + Sync>,
    takeover: Mutex<Option<Runner>>,
    finished: Arc<Mutex<Option<RunReport>>>,
}

#[async_trait]
impl Phase for PauseWhileAnotherFinishes {
    fn name(&self) -> &str {
        "pause"
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        if self.paused.swap(true, Ordering::SeqCst) {
            return Ok(Evidence::new());
        }
        (self.pause)(self.ttl * 4);
        let takeover = self
            .takeover
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(takeover) = takeover {
            let run = ctx.record.run.clone();
            let report = ok_report(takeover.resume(&run, leased("takeover")).await, "takeover");
            *self.finished.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
        }
        Ok(Evidence::new())
    }
}

/// Finding: `save_report` is a mutation of a run's journal that `OPS` does not mark claimed
/// (live-execution/src/op.rs), so no store checks the caller's lease for it
/// (sql/ops/journal.rs `save_report` begins with `begin_on_run(pool, run, None, ..)`). A zombie
/// (paused past its lease while another runner took the run over and finished it PASS) is
/// refused every journal write, ends FAILED "lease lost", and then the runner journals its
/// report (as it does every invocation's): the run's last report, the
/// one `iu-cutter report RUN` shows and `verify` audits an enacted run against
/// (orchestrator/src/audit.rs `check_plan_sha`), is the zombie's FAILED, written after the
/// takeover's PASS.
pub async fn a_zombies_report_is_not_the_last_word_on_a_run_another_runner_finished(
    fixture: &impl Tamper,
) {
    let store = fixture.adapter();
    seed(store).await;
    let ttl = Duration::from_millis(300);
    let finished = Arc::new(Mutex::new(None));
    let phase = Arc::new(PauseWhileAnotherFinishes {
        paused: AtomicBool::new(false),
        ttl,
        pause: fixture.pause(),
        takeover: Mutex::new(None),
        finished: finished.clone(),
    });
    let phases = |phase: &Arc<PauseWhileAnotherFinishes>| {
        let mut phases = iu_cutter_orchestrator::default_phases();
        phases.insert(1, Box::new(SharedPhase(phase.clone())) as Box<dyn Phase>);
        phases
    };
    let takeover = Runner::with_phases(
        fixture.shared(),
        Arc::new(MemoryBackupStore::new()),
        phases(&phase),
    );
    *phase
        .takeover
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(takeover);
    let zombie = Runner::with_phases(
        fixture.shared(),
        Arc::new(MemoryBackupStore::new()),
        phases(&phase),
    );
    let report = run_as_zombie(&zombie, ttl).await;
    let finished = take_passed(&finished, "the takeover finished the run");
    assert_eq!(report.outcome.name(), "FAILED", "{:?}", report.outcome);
    let run = RunId::new("rz");
    if let Some(takeover_report) = &finished {
        ok(
            zombie.journal_report(takeover_report).await,
            "the takeover's program journals its report",
        );
    }
    // What the zombie's program does next, as after every invocation.
    let saved = zombie.journal_report(&report).await;
    let reports = ok(store.load_reports(&run).await, "reports");
    let last = reports
        .last()
        .map(|text| RunReport::from_json(text).map(|r| r.outcome.name().to_owned()));
    assert!(
        matches!(saved, Err(AdapterError::LeaseLost { .. }))
            || matches!(&last, Some(Ok(name)) if name == "PASS"),
        "a zombie journaled its FAILED report over a run another runner finished PASS: \
         save_report gave {saved:?}; the last report is now {last:?} ({} reports)",
        reports.len()
    );
}

/// A phase shared between two runners' pipelines.
struct SharedPhase(Arc<PauseWhileAnotherFinishes>);

#[async_trait]
impl Phase for SharedPhase {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn run(&self, ctx: &mut RunContext) -> Result<Evidence, PhaseError> {
        self.0.run(ctx).await
    }
}
