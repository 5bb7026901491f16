//! Throttling, as operators of gh-ost and pt-online-schema-change expect: a cap on the units a
//! run writes per second and a pause after every batch, so that a run on a busy production
//! database takes its time instead of the application's; and, with a load probe, a back-off
//! while the database is busy ([`BackOff`]).

use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::LoadProbe;

/// The first wait of a back-off; each further one doubles, up to [`BACK_OFF_LONGEST`].
pub const BACK_OFF_FIRST: Duration = Duration::from_millis(100);
/// The longest single wait of a back-off between two readings of the probe: a stop (the kill
/// switch, cancellation) or a drop of the load is noticed within it.
pub const BACK_OFF_LONGEST: Duration = Duration::from_secs(2);

/// Holds a phase's next batch back while `probe` reads above `threshold` (gh-ost's
/// `--max-load`, pt-osc's `--max-load`): read between batches, waiting [`BACK_OFF_FIRST`],
/// then twice as long each time up to [`BACK_OFF_LONGEST`], as long as the load stays high.
#[derive(Clone, Debug)]
pub struct BackOff {
    /// The reading.
    pub probe: Arc<dyn LoadProbe>,
    /// The highest reading at which the run goes on.
    pub threshold: f64,
}

impl BackOff {
    /// The next wait after `previous` (none yet: [`BACK_OFF_FIRST`]).
    pub fn next_wait(previous: Option<Duration>) -> Duration {
        previous.map_or(BACK_OFF_FIRST, |wait| (wait * 2).min(BACK_OFF_LONGEST))
    }
}

/// How fast a run may write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttle {
    /// At most this many units per second, averaged from the phase's start (`None`: as fast as
    /// the store takes them).
    pub max_units_per_second: Option<u32>,
    /// A pause after every batch.
    pub pause_between_batches: Duration,
}

impl Throttle {
    /// The pause alone, for the batches that write no units (the fence, the enact): the rate
    /// cap counts units written, and those batches only move documents' marks.
    pub fn pause_only(&self) -> Throttle {
        Throttle {
            max_units_per_second: None,
            pause_between_batches: self.pause_between_batches,
        }
    }

    /// Whether the throttle slows anything down.
    pub fn is_active(&self) -> bool {
        self.max_units_per_second.is_some() || !self.pause_between_batches.is_zero()
    }
}

/// Paces one phase's batches by a [`Throttle`], and counts the time it made the phase wait.
#[derive(Debug)]
pub struct Pacer {
    throttle: Throttle,
    started: tokio::time::Instant,
    waited: Duration,
    waited_on_load: Duration,
}

impl Pacer {
    /// A pacer whose clock starts now.
    pub fn new(throttle: Throttle) -> Self {
        Pacer {
            throttle,
            started: tokio::time::Instant::now(),
            waited: Duration::ZERO,
            waited_on_load: Duration::ZERO,
        }
    }

    /// After `done` units in all: waits for the batch pause, and as long as the rate cap needs
    /// for `done` units to have taken at least `done / max_units_per_second` seconds.
    pub async fn after_batch(&mut self, done: u64) {
        let mut wait = self.throttle.pause_between_batches;
        if let Some(rate) = self.throttle.max_units_per_second.filter(|rate| *rate > 0) {
            let due = Duration::from_secs_f64(done as f64 / f64::from(rate));
            wait = wait.max(due.saturating_sub(self.started.elapsed()));
        }
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
            self.waited += wait;
        }
    }

    /// How long the pacer made the phase wait.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Counts `wait` held back by the load back-off.
    pub fn waited_on_load_for(&mut self, wait: Duration) {
        self.waited_on_load += wait;
    }

    /// How long the load back-off held the phase back.
    pub fn waited_on_load(&self) -> Duration {
        self.waited_on_load
    }

    /// The pacing evidence of a phase throttled by `throttle` and backed off by `back_off`:
    /// `throttle_waited_ms` when the throttle is active, `load_waited_ms` with a back-off.
    pub fn record_in(
        &self,
        throttle: &Throttle,
        back_off: Option<&BackOff>,
        evidence: &mut iu_cutter_live_execution::Evidence,
    ) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if throttle.is_active() {
            evidence.insert(
                crate::evidence::THROTTLE_WAITED_MS.name().to_owned(),
                ms(self.waited).into(),
            );
        }
        if back_off.is_some() {
            evidence.insert("load_waited_ms".to_owned(), ms(self.waited_on_load).into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_spreads_units_over_time_and_the_pause_adds_to_each_batch() {
        let mut capped = Pacer::new(Throttle {
            max_units_per_second: Some(10),
            pause_between_batches: Duration::ZERO,
        });
        for done in [10, 20, 30] {
            capped.after_batch(done).await;
        }
        // 30 units at 10 per second: 3 s from the start, all of it waiting (no work took time).
        assert_eq!(capped.waited(), Duration::from_secs(3));

        let mut paused = Pacer::new(Throttle {
            max_units_per_second: None,
            pause_between_batches: Duration::from_millis(250),
        });
        paused.after_batch(5).await;
        paused.after_batch(10).await;
        assert_eq!(paused.waited(), Duration::from_millis(500));

        let mut free = Pacer::new(Throttle::default());
        free.after_batch(1_000_000).await;
        assert_eq!(free.waited(), Duration::ZERO);
        assert!(!Throttle::default().is_active());
    }

    #[test]
    fn the_back_off_doubles_up_to_its_longest_wait() {
        let mut waits = Vec::new();
        let mut previous = None;
        for _ in 0..7 {
            let wait = BackOff::next_wait(previous);
            waits.push(wait.as_millis());
            previous = Some(wait);
        }
        assert_eq!(waits, [100, 200, 400, 800, 1600, 2000, 2000]);
    }
}
