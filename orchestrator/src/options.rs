//! What a run is asked to do, and how.

use std::fmt;
use std::sync::Arc;

use iu_cutter_live_execution::{CutRules, RunId, Scope};
use iu_cutter_phase_core::{CancelFlag, EventSink, NoEvents};

/// A new run: its id (which also names the generation it writes), its scope and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRequest {
    /// The run's id.
    pub run: RunId,
    /// Which documents it covers.
    pub scope: Scope,
    /// How it cuts them.
    pub rules: CutRules,
}

impl RunRequest {
    /// A request for run `run` over `scope` with `rules`.
    pub fn new(run: impl Into<RunId>, scope: Scope, rules: CutRules) -> Self {
        RunRequest {
            run: run.into(),
            scope,
            rules,
        }
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
    /// Where progress events go.
    pub events: Arc<dyn EventSink>,
    /// Cooperative cancellation, checked before every phase and by the phases at batch
    /// boundaries.
    pub cancel: CancelFlag,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            until: None,
            batch_units: 1000,
            events: Arc::new(NoEvents),
            cancel: CancelFlag::new(),
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
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("until", &self.until)
            .field("batch_units", &self.batch_units)
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}
