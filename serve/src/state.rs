//! The server's state: the backend, the token, and one slot per run it has seen (its event
//! channel, the invocation in flight, a dry run's in-memory store and last report).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use iu_cutter_live_execution::{LiveExecutionAdapter, RunId};
use iu_cutter_orchestrator::{RunReport, Runner};
use iu_cutter_phase_core::{CancelFlag, EventSink, RunEvent};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::Backend;
use crate::secret::Secret;

/// Events kept for a slow reader before it misses some (it is told it lagged).
const EVENT_BUFFER: usize = 1024;

/// The shared state of the server (cheap to clone).
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

struct Inner {
    token: Option<Secret>,
    backend: Backend,
    live: Runner,
    metrics: Option<PrometheusHandle>,
    slots: Mutex<HashMap<RunId, Arc<Slot>>>,
    /// This server's dry runs, oldest first: each holds a simulator with a copy of its scope,
    /// so only the last `Backend::dry_runs_kept` are kept.
    dry_runs: Mutex<VecDeque<RunId>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    shutdown: watch::Sender<bool>,
}

/// A dry run's private store: the simulator it ran on and a runner over it, kept so that its
/// units and diff can be reviewed.
#[derive(Clone)]
pub(crate) struct Simulated {
    pub(crate) store: Arc<dyn LiveExecutionAdapter>,
    pub(crate) runner: Arc<Runner>,
}

/// One run as the server knows it.
pub(crate) struct Slot {
    events: broadcast::Sender<RunEvent>,
    state: Mutex<SlotState>,
}

#[derive(Default)]
pub(crate) struct SlotState {
    /// The invocation in flight (its command and cancel flag).
    pub(crate) in_flight: Option<(&'static str, CancelFlag)>,
    /// A dry run's store; `None` for a live run.
    pub(crate) simulated: Option<Simulated>,
    /// The last report an invocation of this server returned.
    pub(crate) last_report: Option<RunReport>,
    /// Why the last invocation ended without a report (invalid options), if it did.
    pub(crate) last_error: Option<String>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            events: broadcast::channel(EVENT_BUFFER).0,
            state: Mutex::new(SlotState::default()),
        }
    }

    /// The slot's state (a poisoned lock only means a panic elsewhere: the state is still
    /// consistent, every update being one assignment).
    pub(crate) fn state(&self) -> MutexGuard<'_, SlotState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new receiver of the run's events.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.events.subscribe()
    }

    /// The sink an invocation reports its events to.
    pub(crate) fn sink(&self) -> Arc<dyn EventSink> {
        Arc::new(Broadcast(self.events.clone()))
    }
}

/// Sends every event to the run's subscribers (none listening is fine).
struct Broadcast(broadcast::Sender<RunEvent>);

impl EventSink for Broadcast {
    fn emit(&self, event: RunEvent) {
        if let RunEvent::PhaseFinished { phase, status, .. } = &event {
            metrics::counter!(
                "iu_cutter_serve_phases_total",
                "phase" => phase.clone(),
                "status" => status.clone()
            )
            .increment(1);
        }
        let _ = self.0.send(event);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl App {
    pub(crate) fn new(
        token: Option<Secret>,
        backend: Backend,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        let live = Runner::new(backend.store.clone(), backend.backups.clone());
        App(Arc::new(Inner {
            token,
            backend,
            live,
            metrics,
            slots: Mutex::new(HashMap::new()),
            dry_runs: Mutex::new(VecDeque::new()),
            tasks: Mutex::new(Vec::new()),
            shutdown: watch::channel(false).0,
        }))
    }

    pub(crate) fn token(&self) -> Option<&Secret> {
        self.0.token.as_ref()
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.0.backend
    }

    /// The runner over the live store.
    pub(crate) fn live(&self) -> &Runner {
        &self.0.live
    }

    pub(crate) fn metrics(&self) -> Option<&PrometheusHandle> {
        self.0.metrics.as_ref()
    }

    /// The slot of `run`, if the server has seen it.
    pub(crate) fn slot(&self, run: &RunId) -> Option<Arc<Slot>> {
        lock(&self.0.slots).get(run).cloned()
    }

    /// The slot of `run`, made when missing.
    pub(crate) fn slot_or_new(&self, run: &RunId) -> Arc<Slot> {
        lock(&self.0.slots)
            .entry(run.clone())
            .or_insert_with(|| Arc::new(Slot::new()))
            .clone()
    }

    /// The slot of `run`, made when missing, and whether it was made by this call (under the
    /// same lock, so two callers never both make it).
    pub(crate) fn slot_or_created(&self, run: &RunId) -> (Arc<Slot>, bool) {
        let mut slots = lock(&self.0.slots);
        match slots.get(run) {
            Some(slot) => (slot.clone(), false),
            None => {
                let slot = Arc::new(Slot::new());
                slots.insert(run.clone(), slot.clone());
                (slot, true)
            }
        }
    }

    /// Every slot, by run id.
    pub(crate) fn slots(&self) -> Vec<(RunId, Arc<Slot>)> {
        lock(&self.0.slots)
            .iter()
            .map(|(run, slot)| (run.clone(), slot.clone()))
            .collect()
    }

    /// A dry run's store, if `run` is one of this server's dry runs.
    pub(crate) fn simulated(&self, run: &RunId) -> Option<Simulated> {
        self.slot(run)
            .and_then(|slot| slot.state().simulated.clone())
    }

    /// Counts `run` as the newest dry run kept, then forgets the oldest settled ones beyond
    /// `Backend::dry_runs_kept`: their slots, simulators and reports go. A dry run in flight is
    /// never forgotten, so more may be kept while many run at once. Returns the forgotten ids.
    pub(crate) fn keep_dry_run(&self, run: &RunId) -> Vec<RunId> {
        let kept = self.0.backend.dry_runs_kept.max(1);
        let mut dry_runs = lock(&self.0.dry_runs);
        // The one invoked last is the newest: reviewing it again keeps it.
        dry_runs.retain(|kept| kept != run);
        dry_runs.push_back(run.clone());
        let mut slots = lock(&self.0.slots);
        let mut forgotten = Vec::new();
        let mut index = 0;
        while dry_runs.len() > kept && index < dry_runs.len() {
            let settled = dry_runs[index] != *run
                && slots
                    .get(&dry_runs[index])
                    .is_none_or(|slot| slot.state().in_flight.is_none());
            match settled.then(|| dry_runs.remove(index)).flatten() {
                Some(old) => {
                    slots.remove(&old);
                    forgotten.push(old);
                }
                None => index += 1,
            }
        }
        forgotten
    }

    /// Whether the server is stopping (no new invocation starts).
    pub(crate) fn is_stopping(&self) -> bool {
        *self.0.shutdown.borrow()
    }

    /// Resolves when the server begins to stop (event streams end then).
    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    /// Keeps `task` to await it on shutdown.
    pub(crate) fn track(&self, task: JoinHandle<()>) {
        let mut tasks = lock(&self.0.tasks);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Stops accepting invocations, ends the event streams and asks every run in flight to
    /// stop at its next safe point.
    pub(crate) fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
        for (_, slot) in self.slots() {
            if let Some((_, cancel)) = &slot.state().in_flight {
                cancel.cancel();
            }
        }
    }

    /// Waits for every invocation task to end (each releases its lease as it stops).
    pub(crate) async fn drain(&self) {
        let tasks = std::mem::take(&mut *lock(&self.0.tasks));
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "an invocation task ended abnormally");
            }
        }
    }
}
