//! Progress events a service embedding the runner can consume.

use iu_cutter_live_execution::RunId;
use serde::Serialize;

/// Something that happened during a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// The run started (or resumed).
    RunStarted {
        /// The run.
        run: RunId,
    },
    /// A phase started.
    PhaseStarted {
        /// The run.
        run: RunId,
        /// The phase.
        phase: String,
    },
    /// A phase made progress.
    Progress {
        /// The run.
        run: RunId,
        /// The phase.
        phase: String,
        /// Items done so far.
        done: u64,
        /// Items in all.
        total: u64,
    },
    /// A phase is holding its next batch back because the database is busy: the load probe
    /// reads above its threshold (`[backoff]`). Sent at every reading while it waits.
    BackingOff {
        /// The run.
        run: RunId,
        /// The phase.
        phase: String,
        /// What was read against what, e.g. `active connections 7 > 3`.
        load: String,
        /// How long this wait has lasted so far, in milliseconds.
        waited_ms: u64,
    },
    /// A phase was skipped because the journal shows it done.
    PhaseSkipped {
        /// The run.
        run: RunId,
        /// The phase.
        phase: String,
    },
    /// A phase ended.
    PhaseFinished {
        /// The run.
        run: RunId,
        /// The phase.
        phase: String,
        /// `done`, `blocked`, `failed`, `refused` or `cancelled`.
        status: String,
    },
    /// The run ended with an outcome (`PASS`, `BLOCKED`, ...).
    RunFinished {
        /// The run.
        run: RunId,
        /// The outcome's name.
        outcome: String,
    },
}

/// Receives run events. Must not block: it is called from the run's task.
pub trait EventSink: Send + Sync {
    /// Called for every event.
    fn emit(&self, event: RunEvent);
}

/// Discards events.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: RunEvent) {}
}

impl<F: Fn(RunEvent) + Send + Sync> EventSink for F {
    fn emit(&self, event: RunEvent) {
        self(event)
    }
}

impl EventSink for std::sync::mpsc::Sender<RunEvent> {
    fn emit(&self, event: RunEvent) {
        // A receiver that went away only means nobody listens any more.
        let _ = self.send(event);
    }
}
