//! What a run is asked to do, and how.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use iu_cutter_live_execution::{CutRules, Plan, RunId, Scope};
use iu_cutter_phase_core::{BackOff, CancelFlag, DocumentBatches, EventSink, NoEvents, Throttle};

use crate::clock::{Clock, SystemClock};
use crate::lease::LeaseOptions;
use crate::report::Provenance;

/// A fresh run id, `<prefix>-<UTC time to the second>-<8 hex digits>`, for a run its caller did
/// not name. The digits hash the time to the nanosecond, the process id and a counter of this
/// process with a randomly keyed hasher ([`RandomState`], seeded by the operating system), so that
/// two processes naming runs in the same second (two servers, a server and the command line) do
/// not pick the same id. A caller still refuses a generated id the journal already holds: run
/// again under a journaled id continues that run, and a generated id names a new one.
pub fn new_run_id(prefix: &str) -> RunId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    run_id_at(prefix, SystemTime::now(), count, &RandomState::new())
}

/// [`new_run_id`] at `now`, the `count`th of this process, keyed by `keys`.
fn run_id_at(prefix: &str, now: SystemTime, count: u64, keys: &RandomState) -> RunId {
    let mut hasher = keys.build_hasher();
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
        .hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    count.hash(&mut hasher);
    let digits = hasher.finish() >> 32;
    RunId::new(format!(
        "{prefix}-{}-{digits:08x}",
        crate::clock::compact(now)
    ))
}

#[cfg(test)]
mod run_id_tests {
    use super::*;

    /// Two processes naming their first run at the same instant (servers in two containers,
    /// both process 1) must not pick the same id: `serve` named runs `run-<seconds>-<counter>`,
    /// so both got `run-…-0`, and the second POST continued the first server's journaled run.
    /// What differs between two processes is the hasher's keys, which the system seeds.
    #[test]
    fn two_processes_at_the_same_instant_pick_different_ids() {
        let now = SystemTime::now();
        let first = run_id_at("run", now, 0, &RandomState::new());
        let second = run_id_at("run", now, 0, &RandomState::new());
        assert_ne!(first, second);
        for id in [&first, &second] {
            assert!(RunId::check(id.as_str()).is_ok(), "{id}");
            assert!(id.as_str().starts_with("run-20"), "{id}");
        }
    }

    #[test]
    fn ids_of_one_process_are_distinct() {
        let ids: std::collections::BTreeSet<RunId> =
            (0..10_000).map(|_| new_run_id("dry")).collect();
        assert_eq!(ids.len(), 10_000);
    }
}

/// A new run: its id (which also names the generation it writes), its scope and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRequest {
    /// The run's id.
    pub run: RunId,
    /// Which documents it covers.
    pub scope: Scope,
    /// How it cuts them.
    pub rules: CutRules,
    /// The plan the operator reviewed (`plan --out`, then `run --plan`): before anything is
    /// written the run computes its plan again and is `REFUSED` unless the sha256 is equal; the
    /// sha256 is journaled with the run, and cut-leg-a blocks if the plan computed from the
    /// backup differs from it.
    pub expected_plan: Option<Plan>,
    /// Cut only the documents of `scope` that are stale: never cut, or changed since their
    /// active generation was cut (state `Ready` once a store with a source has synced it). The
    /// run's journaled scope is then exactly those documents.
    pub stale_only: bool,
}

impl RunRequest {
    /// A request for run `run` over `scope` with `rules`.
    pub fn new(run: impl Into<RunId>, scope: Scope, rules: CutRules) -> Self {
        RunRequest {
            run: run.into(),
            scope,
            rules,
            expected_plan: None,
            stale_only: false,
        }
    }

    /// Cuts only the stale documents of the scope (see [`RunRequest::stale_only`]).
    pub fn only_stale(mut self) -> Self {
        self.stale_only = true;
        self
    }

    /// Runs only if the plan is still `plan` (see [`RunRequest::expected_plan`]).
    pub fn with_expected_plan(mut self, plan: Plan) -> Self {
        self.expected_plan = Some(plan);
        self
    }
}

/// How a run or resume proceeds. Start from [`RunOptions::default`] and adjust with the
/// `with_*` methods.
#[derive(Clone)]
pub struct RunOptions {
    /// Stop after this phase (the run is then journaled `Held`); resume continues after it.
    pub until: Option<String>,
    /// Units per write or read batch (at least 1).
    pub batch_units: usize,
    /// Documents per fence or enact transaction ([`DocumentBatches::WholeScope`]: the whole
    /// scope in one, atomic across it).
    pub batch_documents: DocumentBatches,
    /// How fast the run may write (a rate cap, a pause between batches); none by default.
    pub throttle: Throttle,
    /// Holds batches back while the database is busy (a load probe above its threshold); none
    /// by default.
    pub back_off: Option<BackOff>,
    /// Where progress events go.
    pub events: Arc<dyn EventSink>,
    /// Cooperative cancellation, checked before every phase and by the phases at batch
    /// boundaries.
    pub cancel: CancelFlag,
    /// How old a held run's verification may be when it is enacted (by [`RunOptions::clock`]);
    /// older, [`Runner::enact`] is `BLOCKED` until `verify` runs write-verify again. `None`: no
    /// limit.
    ///
    /// [`Runner::enact`]: crate::Runner::enact
    pub held_max_age: Option<Duration>,
    /// Who runs the invocation and with what, copied into the report.
    pub provenance: Option<Provenance>,
    /// Hold the run's lease while working on it (`run`, `resume`, `rollback`): another runner
    /// holding a live lease makes the invocation `REFUSED`; a lost lease stops it `FAILED`.
    /// `None` (the library default): no lease, for a store only one runner uses. The program
    /// always sets it. The heartbeat that renews the lease is a spawned task: drive a leased
    /// run on a multi-thread runtime, or a long synchronous stretch (cutting a large scope)
    /// keeps the heartbeat from renewing in time.
    pub lease: Option<LeaseOptions>,
    /// Where the invocation reads the time: the journal's phase times, the report's
    /// `started_at` and `finished_at`, and the age checked against `held_max_age`. The
    /// [`SystemClock`] by default; a test gives a [`crate::clock::ManualClock`] and moves it on
    /// instead of sleeping. Lease expiry is measured on the store's clock, not this one.
    pub clock: Arc<dyn Clock>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            until: None,
            batch_units: iu_cutter_phase_core::DEFAULT_BATCH_UNITS,
            batch_documents: DocumentBatches::default(),
            throttle: Throttle::default(),
            back_off: None,
            events: Arc::new(NoEvents),
            cancel: CancelFlag::new(),
            held_max_age: None,
            provenance: None,
            lease: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl RunOptions {
    /// Stops after phase `phase` (validated against the runner's phases when the run starts).
    pub fn with_until(mut self, phase: impl Into<String>) -> Self {
        self.until = Some(phase.into());
        self
    }

    /// Units per batch.
    pub fn with_batch_units(mut self, units: usize) -> Self {
        self.batch_units = units;
        self
    }

    /// Fences and enacts `batches` of documents per transaction.
    pub fn with_batch_documents(mut self, batches: DocumentBatches) -> Self {
        self.batch_documents = batches;
        self
    }

    /// Paces the writes by `throttle`.
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Backs off between batches while `back_off`'s probe reads above its threshold.
    pub fn with_back_off(mut self, back_off: BackOff) -> Self {
        self.back_off = Some(back_off);
        self
    }

    /// Sends progress events to `events`.
    pub fn with_events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = events;
        self
    }

    /// Uses `cancel` (keep a clone to cancel the run from another task).
    pub fn with_cancel(mut self, cancel: CancelFlag) -> Self {
        self.cancel = cancel;
        self
    }

    /// Refuses to enact a held run verified longer than `age` ago.
    pub fn with_held_max_age(mut self, age: Duration) -> Self {
        self.held_max_age = Some(age);
        self
    }

    /// Holds the run's lease as `lease.holder` (see [`RunOptions::lease`]).
    pub fn with_lease(mut self, lease: LeaseOptions) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Reads the time from `clock` (see [`RunOptions::clock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records `provenance` in the report.
    pub fn with_provenance(mut self, provenance: Provenance) -> Self {
        self.provenance = Some(provenance);
        self
    }
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("until", &self.until)
            .field("batch_units", &self.batch_units)
            .field("batch_documents", &self.batch_documents)
            .field("throttle", &self.throttle)
            .field("back_off", &self.back_off)
            .field("cancel", &self.cancel)
            .field("held_max_age", &self.held_max_age)
            .field("provenance", &self.provenance)
            .finish_non_exhaustive()
    }
}
