//! Whether a run the journal shows running is being worked on, told from its lease on the
//! store's clock: what `status`, `status --json` and the HTTP API show of such a run (the
//! journal alone says `running` forever after its runner was killed).

use iu_cutter_live_execution::{Lease, LeaseView, RunId, RunRecord, RunStatus};
use serde::Serialize;

/// Whether a run the journal shows running is being worked on, by its lease on the store's clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Liveness {
    /// The run.
    pub run: RunId,
    /// `running` (a live lease), `abandoned` (an expired lease: its runner crashed or was
    /// killed) or `stopped` (no lease: its runner released it, having stopped where the kill
    /// switch, the stop file say, refused its next step, including the journal's record of
    /// the stop). Resume or roll back either.
    pub state: &'static str,
    /// The lease's holder, if it has one.
    pub holder: Option<String>,
    /// When the lease expires or expired (UTC).
    pub expires_at: Option<String>,
    /// For an abandoned run with an expired lease: seconds since it expired.
    pub expired_for_s: Option<u64>,
}

/// The liveness of `record` (running runs only) given the store's leases.
pub fn liveness(record: &RunRecord, leases: &LeaseView) -> Option<Liveness> {
    if record.status != RunStatus::Running {
        return None;
    }
    let lease = leases.of(&record.run);
    let live = lease.is_some_and(|l| !leases.expired(l));
    Some(Liveness {
        run: record.run.clone(),
        state: match lease {
            _ if live => "running",
            Some(_) => "abandoned",
            None => "stopped",
        },
        holder: lease.map(|l| l.holder.clone()),
        expires_at: lease.map(Lease::expires_at_utc),
        expired_for_s: lease
            .filter(|l| leases.expired(l))
            .map(|l| leases.now_ms.saturating_sub(l.expires_at_ms) / 1000),
    })
}

impl Liveness {
    /// The status column: `RUNNING (holder)`, `ABANDONED (…)` or `STOPPED (…)`.
    pub fn describe(&self) -> String {
        match (self.state, &self.holder, self.expired_for_s) {
            ("running", Some(holder), _) => format!("RUNNING ({holder})"),
            (_, Some(holder), Some(age)) => {
                format!("ABANDONED ({holder}, lease expired {age}s ago)")
            }
            _ => "STOPPED (no runner holds it; resumable)".to_owned(),
        }
    }
}
