//! Regression tests from the attack on the seam at c11b997 (the invocation template): each check
//! reproduces one finding, written once and run against every store with
//! [`seam_attack_suite!`]. Found: a `verify` that waited for the lease while another runner
//! enacted the run decided on the journal it read before the lease, reopened the enacted run and
//! held it (or blocked it for good); `enact`, `verify` and `resume` now decide again on the
//! journal reloaded under the lease.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterInfo, AdapterResult, CutRules, DocumentId, LeaseClaim, LiveExecutionAdapter, Op,
    PhaseStatus, Preset, Reply, RunId, RunStatus, Scope,
};
use iu_cutter_orchestrator::{LeaseOptions, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{MemoryBackupStore, names};

use crate::fixture::Tamper;
use crate::ok;

/// Instantiates every check as a `#[tokio::test]` over `$fixture`.
#[macro_export]
macro_rules! seam_attack_suite {
    ($fixture:path) => {
        $crate::seam_attack_suite!(@each $fixture;
            verify_racing_an_enact_never_rewrites_the_enacted_runs_journal,
            verify_racing_an_enact_never_holds_the_enacted_run,
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

fn markdown() -> CutRules {
    CutRules::preset(Preset::Markdown)
}

fn id(value: &str) -> DocumentId {
    DocumentId::new(value)
}

async fn seed(store: &dyn LiveExecutionAdapter) {
    for (document, body) in LAWS {
        ok(store.put_document(&id(document), body).await, "seed");
    }
}

fn report_of<E: std::fmt::Display>(report: Result<RunReport, E>, what: &str) -> RunReport {
    match report {
        Ok(report) => report,
        Err(error) => panic!("{what}: runner error: {error}"),
    }
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
    let held = report_of(
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
            let report = report_of(enacter.enact(&run, leased("enacter")).await, "enact");
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
    let verified = report_of(verifier.verify(&run, leased("verifier")).await, "verify");
    let enacted = enacted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    assert_eq!(
        enacted.as_ref().map(|r| r.outcome.name()),
        Some("PASS"),
        "the other runner enacted the run"
    );

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
