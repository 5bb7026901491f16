//! The runner's metrics, through the [`metrics`](https://docs.rs/metrics) facade: a service
//! that installs a recorder (a Prometheus exporter, say) sees them; without one, every call is a
//! no-op on the facade's default recorder. The names are the constants below; ARCHITECTURE.md
//! lists them with their labels.

use iu_cutter_phase_core::evidence::{THROTTLE_WAITED_MS, UNITS_WRITTEN as UNITS_WRITTEN_KEY};
use metrics::{counter, gauge, histogram};

use crate::report::{Command, Outcome, PhaseEntry, PhaseEntryStatus};

/// Counter: invocations ended, by `command` (`run`, `resume`, ...) and `outcome` (`PASS`, ...).
pub const OUTCOMES: &str = "iu_cutter_outcomes_total";
/// Histogram, seconds: how long each phase that ran took, by `phase` and `status`
/// (`done`, `blocked`, `failed`, `refused`, `cancelled`).
pub const PHASE_DURATION: &str = "iu_cutter_phase_duration_seconds";
/// Counter: units written into staged generations (the `units_written` evidence of a phase).
pub const UNITS_WRITTEN: &str = "iu_cutter_units_written_total";
/// Gauge: units per second of the last phase that wrote units, by `phase`.
pub const UNITS_PER_SECOND: &str = "iu_cutter_units_per_second";
/// Counter: bytes of source text cut into plans.
pub const BYTES_CUT: &str = "iu_cutter_bytes_cut_total";
/// Histogram, seconds: how long a throttle held a phase's writes back, by `phase` (only with a
/// throttle).
pub const THROTTLE_WAIT: &str = "iu_cutter_throttle_wait_seconds";
/// Counter: lease renewals the store confirmed.
pub const LEASE_RENEWALS: &str = "iu_cutter_lease_renewals_total";

/// Records what one invocation did: its outcome, and per phase that ran its duration, the units
/// it wrote (and how fast) and how long its throttle waited.
pub(crate) fn invocation(command: Command, outcome: &Outcome, phases: &[PhaseEntry]) {
    counter!(OUTCOMES, "command" => command.name(), "outcome" => outcome.name()).increment(1);
    for entry in phases {
        let Some(ms) = entry.duration_ms else {
            continue;
        };
        let seconds = ms as f64 / 1000.0;
        histogram!(PHASE_DURATION, "phase" => entry.name.clone(), "status" => entry.status.name())
            .record(seconds);
        if entry.status != PhaseEntryStatus::Done {
            continue;
        }
        if let Some(units) = UNITS_WRITTEN_KEY.count(&entry.evidence) {
            counter!(UNITS_WRITTEN).increment(units);
            // A phase faster than a millisecond is timed as one: the rate errs low, never
            // infinite.
            let rate = units as f64 / seconds.max(0.001);
            gauge!(UNITS_PER_SECOND, "phase" => entry.name.clone()).set(rate);
        }
        if let Some(waited) = THROTTLE_WAITED_MS.count(&entry.evidence) {
            histogram!(THROTTLE_WAIT, "phase" => entry.name.clone()).record(waited as f64 / 1000.0);
        }
    }
}

/// Records the source bytes of a plan just cut.
pub(crate) fn plan_cut(bytes: u64) {
    counter!(BYTES_CUT).increment(bytes);
}

/// Records a lease renewal the store confirmed.
pub(crate) fn lease_renewed() {
    counter!(LEASE_RENEWALS).increment(1);
}
