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

/// Slots of live runs kept while idle. Each holds an event buffer of [`EVENT_BUFFER`] events
/// (about 100 KB, allocated when the slot is made): a slot made for every run ever followed or
/// invoked grew a long-lived server's memory without bound.
const IDLE_LIVE_SLOTS_KEPT: usize = 256;

/// The shared state of the server (cheap to clone).
#[derive(Clone)]
pub(crate) struct App(Arc<Inner>);

struct Inner {
    token: Option<Secret>,
    backend: Backend,
    live: Runner,
    metrics: Option<PrometheusHandle>,
    slots: Mutex<HashMap<RunId, Arc<Slot>>>,
    /// The slots' ids, least recently invoked or followed first ([`App::keep`]).
    order: Mutex<VecDeque<RunId>>,
    /// Idle slots of live runs kept ([`IDLE_LIVE_SLOTS_KEPT`]; fewer in tests).
    idle_live_slots_kept: usize,
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

    /// Its kind (0 live, 1 dry) and whether it is idle: nothing in flight, and for a live run
    /// nobody following its events (a forgotten dry run's followers only stop hearing of it).
    fn kind(&self) -> (usize, bool) {
        let state = self.state();
        let dry = state.simulated.is_some();
        let idle = state.in_flight.is_none() && (dry || self.events.receiver_count() == 0);
        (usize::from(dry), idle)
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
        Self::keeping(token, backend, metrics, IDLE_LIVE_SLOTS_KEPT)
    }

    /// [`App::new`] keeping `idle_live_slots_kept` idle slots of live runs.
    fn keeping(
        token: Option<Secret>,
        backend: Backend,
        metrics: Option<PrometheusHandle>,
        idle_live_slots_kept: usize,
    ) -> Self {
        let live = Runner::new(backend.store.clone(), backend.backups.clone());
        App(Arc::new(Inner {
            token,
            backend,
            live,
            metrics,
            slots: Mutex::new(HashMap::new()),
            order: Mutex::new(VecDeque::new()),
            idle_live_slots_kept,
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

    /// The slot of `run`, made when missing, and what `with` returns of it and of whether this
    /// call made it. `with` is called under the lock of the slots: two callers never both make
    /// the slot, and [`App::keep`] cannot forget it before `with` has made it busy (an
    /// invocation in flight, a subscriber).
    pub(crate) fn slot_or_new<T>(
        &self,
        run: &RunId,
        with: impl FnOnce(&Slot, bool) -> T,
    ) -> (Arc<Slot>, T) {
        let mut slots = lock(&self.0.slots);
        let created = !slots.contains_key(run);
        let slot = slots
            .entry(run.clone())
            .or_insert_with(|| Arc::new(Slot::new()))
            .clone();
        let made = with(&slot, created);
        (slot, made)
    }

    /// A new receiver of `run`'s events, from its slot; the slot is made only when `make` (a
    /// journaled run). A dry run forgotten since the caller looked is not made again, empty:
    /// such a slot would read as a live run holding the id.
    pub(crate) fn subscribe(
        &self,
        run: &RunId,
        make: bool,
    ) -> Option<broadcast::Receiver<RunEvent>> {
        let mut slots = lock(&self.0.slots);
        match slots.get(run) {
            Some(slot) => Some(slot.subscribe()),
            None if make => {
                let slot = Arc::new(Slot::new());
                let receiver = slot.subscribe();
                slots.insert(run.clone(), slot);
                Some(receiver)
            }
            None => None,
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

    /// Counts `run` as the newest slot, then forgets the oldest idle slots beyond what is kept:
    /// dry runs beyond `Backend::dry_runs_kept` once settled (their simulators and reports go),
    /// live runs beyond [`IDLE_LIVE_SLOTS_KEPT`] once nothing is in flight and nobody follows
    /// their events (the journal holds their records and reports). `run`'s own slot and any
    /// invocation in flight are never forgotten. Returns the forgotten ids.
    pub(crate) fn keep(&self, run: &RunId) -> Vec<RunId> {
        // Indexed by kind: 0 live, 1 dry.
        let kept = [
            self.0.idle_live_slots_kept,
            self.0.backend.dry_runs_kept.max(1),
        ];
        let mut order = lock(&self.0.order);
        order.retain(|id| id != run);
        order.push_back(run.clone());
        let mut slots = lock(&self.0.slots);
        order.retain(|id| slots.contains_key(id));
        let mut counts = [0, 0];
        for slot in order.iter().filter_map(|id| slots.get(id)) {
            counts[slot.kind().0] += 1;
        }
        let mut forgotten = Vec::new();
        order.retain(|id| {
            let Some(slot) = slots.get(id) else {
                return false;
            };
            let (kind, idle) = slot.kind();
            if id == run || !idle || counts[kind] <= kept[kind] {
                return true;
            }
            counts[kind] -= 1;
            forgotten.push(id.clone());
            false
        });
        for id in &forgotten {
            slots.remove(id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::{CutRules, ExecutionGate, Preset};
    use iu_cutter_orchestrator::RunOptions;
    use iu_cutter_phase_core::MemoryBackupStore;
    use iu_cutter_simulator::Simulator;

    fn app(idle_live_slots_kept: usize, dry_runs_kept: usize) -> App {
        let store: Arc<dyn LiveExecutionAdapter> = Arc::new(Simulator::new());
        let backend = Backend {
            store,
            backups: Arc::new(MemoryBackupStore::new()),
            gate: ExecutionGate::new(),
            rules: CutRules::preset(Preset::Markdown),
            options: RunOptions::default(),
            dry_runs_kept,
        };
        App::keeping(None, backend, None, idle_live_slots_kept)
    }

    fn made(app: &App, run: &str, with: impl FnOnce(&Slot)) -> RunId {
        let run = RunId::new(run);
        app.slot_or_new(&run, |slot, _| with(slot));
        app.keep(&run);
        run
    }

    fn held(app: &App) -> Vec<String> {
        let mut ids: Vec<String> = app
            .slots()
            .into_iter()
            .map(|(id, _)| id.to_string())
            .collect();
        ids.sort();
        ids
    }

    /// A follower of a dry run forgotten while it subscribed made an empty slot, which then
    /// read as a live run holding the id (a dry run under it was refused as taken).
    #[test]
    fn a_follower_makes_a_slot_only_for_a_journaled_run() {
        let app = app(2, 1);
        assert!(app.subscribe(&RunId::new("forgotten"), false).is_none());
        assert!(held(&app).is_empty());
        let receiver = app.subscribe(&RunId::new("journaled"), true);
        assert!(receiver.is_some());
        assert_eq!(held(&app), ["journaled"]);
    }

    /// A slot was made for every run the server invoked or whose events someone followed, each
    /// with an event buffer of about 100 KB, and none was ever dropped.
    #[test]
    fn idle_slots_beyond_those_kept_are_forgotten_and_busy_ones_never() {
        let app = app(2, 1);
        let simulator: Arc<dyn LiveExecutionAdapter> = Arc::new(Simulator::new());
        let dry = Simulated {
            store: simulator.clone(),
            runner: Arc::new(Runner::new(simulator, Arc::new(MemoryBackupStore::new()))),
        };
        made(&app, "dry", |slot| slot.state().simulated = Some(dry));
        let mut follower = None;
        made(&app, "followed", |slot| follower = Some(slot.subscribe()));
        made(&app, "running", |slot| {
            slot.state().in_flight = Some(("run", CancelFlag::new()));
        });
        for idle in ["idle-0", "idle-1", "idle-2"] {
            made(&app, idle, |_| {});
        }
        // Five live slots over a cap of two: the idle ones go, oldest first, but never the one
        // just made, one followed or one running; the dry run counts against its own cap.
        assert_eq!(held(&app), ["dry", "followed", "idle-2", "running"]);
        drop(follower);
        made(&app, "idle-3", |_| {});
        assert_eq!(held(&app), ["dry", "idle-3", "running"]);
        let copy = app.simulated(&RunId::new("dry"));
        made(&app, "dry-2", |slot| slot.state().simulated = copy);
        assert_eq!(held(&app), ["dry-2", "idle-3", "running"]);
    }
}
