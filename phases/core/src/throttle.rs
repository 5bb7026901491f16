//! Throttling, as operators of gh-ost and pt-online-schema-change expect: a cap on the units a
//! run writes per second and a pause after every batch, so that a run on a busy production
//! database takes its time instead of the application's.

use std::time::Duration;

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
}

impl Pacer {
    /// A pacer whose clock starts now.
    pub fn new(throttle: Throttle) -> Self {
        Pacer {
            throttle,
            started: tokio::time::Instant::now(),
            waited: Duration::ZERO,
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
}
