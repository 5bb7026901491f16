//! Where a scale child's memory goes: its resident set sampled every few milliseconds on a
//! thread of its own, each sample charged to the phase the run's events say is running, so the
//! report can say which phase holds the scope (the peak RSS of the whole child says only how
//! much). A phase's figure is the largest resident set seen while it ran; what the process held
//! before it (the backup kept for the later phases, say) is part of it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use iu_cutter_orchestrator::{EventSink, RunEvent};

/// How often the resident set is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// What the runner does outside every phase (opening and closing censuses, journal, report).
const OUTSIDE: &str = "runner";

/// Peak resident set per phase, KiB, sampled while a run goes on.
#[derive(Default)]
struct Peaks {
    current: String,
    peaks: BTreeMap<String, u64>,
}

impl Peaks {
    fn charge(&mut self, rss_kib: u64) {
        let phase = if self.current.is_empty() {
            OUTSIDE
        } else {
            &self.current
        };
        let peak = self.peaks.entry(phase.to_owned()).or_default();
        *peak = (*peak).max(rss_kib);
    }
}

/// The sampler: an [`EventSink`] for the run (it follows phase starts and ends) and the thread
/// that reads the resident set.
pub(crate) struct PhaseRss {
    peaks: Arc<Mutex<Peaks>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The events' side of a [`PhaseRss`], handed to the run.
struct Follower(Arc<Mutex<Peaks>>);

impl EventSink for Follower {
    fn emit(&self, event: RunEvent) {
        let phase = match event {
            RunEvent::PhaseStarted { phase, .. } => phase,
            RunEvent::PhaseFinished { .. } | RunEvent::PhaseSkipped { .. } => String::new(),
            _ => return,
        };
        if let Ok(mut peaks) = self.0.lock() {
            // The phase's first sample now, so a phase shorter than a sampling period shows too.
            peaks.current = phase;
            peaks.charge(rss_kib());
        }
    }
}

impl PhaseRss {
    /// Starts sampling.
    pub(crate) fn start() -> Self {
        let peaks = Arc::new(Mutex::new(Peaks::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peaks, stop) = (Arc::clone(&peaks), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss = rss_kib();
                    if let Ok(mut peaks) = peaks.lock() {
                        peaks.charge(rss);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        PhaseRss {
            peaks,
            stop,
            thread: Some(thread),
        }
    }

    /// The sink to hand the run.
    pub(crate) fn events(&self) -> Arc<dyn EventSink> {
        Arc::new(Follower(Arc::clone(&self.peaks)))
    }

    /// Stops sampling; the peak resident set of each phase (and of the runner outside them),
    /// KiB.
    pub(crate) fn finish(mut self) -> BTreeMap<String, u64> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.peaks
            .lock()
            .map(|peaks| peaks.peaks.clone())
            .unwrap_or_default()
    }
}

/// This process's resident set now, KiB (0 where `/proc` does not say).
fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// The line `field` (e.g. `VmRSS:`) of `/proc/self/status`, KiB (0 where `/proc` does not say).
pub(crate) fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iu_cutter_live_execution::RunId;

    #[test]
    fn each_phase_is_charged_what_was_resident_while_it_ran() {
        let sampler = PhaseRss::start();
        let events = sampler.events();
        let run = RunId::new("r");
        events.emit(RunEvent::PhaseStarted {
            run: run.clone(),
            phase: "backup".to_owned(),
        });
        std::thread::sleep(SAMPLE_EVERY * 4);
        events.emit(RunEvent::PhaseFinished {
            run,
            phase: "backup".to_owned(),
            status: "done".to_owned(),
        });
        let peaks = sampler.finish();
        assert!(peaks.contains_key("backup"), "{peaks:?}");
        assert!(peaks.contains_key(OUTSIDE), "{peaks:?}");
        if cfg!(target_os = "linux") {
            assert!(peaks.values().all(|kib| *kib > 0), "{peaks:?}");
        }
    }
}
