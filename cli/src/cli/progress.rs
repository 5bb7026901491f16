//! Progress of the long phases (backup, leg-b-record, write-verify), driven by the runner's
//! `RunEvent::Progress` events: indicatif bars with counts, throughput and ETA when stderr is a
//! terminal; otherwise a one-line status on stderr every 2 s or every 10 %, and at the end of
//! each phase. `--quiet` silences both. Logs are separate (tracing, `RUST_LOG`).

use std::io::IsTerminal as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iu_cutter_phase_core::{EventSink, RunEvent, names};

/// How often the plain status line is printed at most (besides every 10 %).
const LINE_EVERY: Duration = Duration::from_secs(2);

/// What the phase counts, for the phases that report progress.
fn tracked(phase: &str) -> Option<&'static str> {
    match phase {
        names::BACKUP => Some("documents"),
        names::LEG_B_RECORD => Some("units"),
        names::WRITE_VERIFY => Some("documents"),
        _ => None,
    }
}

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Display {
    /// Bars on a terminal.
    Bars,
    /// A status line now and then (stderr is a file or a pipe).
    Lines,
    /// Nothing (`--quiet`).
    Quiet,
}

impl Display {
    /// Bars when stderr is a terminal, lines otherwise, nothing when `quiet`.
    pub(crate) fn detect(quiet: bool) -> Self {
        if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars
        } else {
            Display::Lines
        }
    }
}

/// One phase being tracked.
struct Tracking {
    phase: String,
    what: &'static str,
    started: Instant,
    done: u64,
    total: u64,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
    last_decile: u64,
}

/// Receives run events and shows progress on stderr.
pub(crate) struct Progress {
    display: Display,
    current: Mutex<Option<Tracking>>,
}

impl Progress {
    pub(crate) fn new(display: Display) -> Self {
        Progress {
            display,
            current: Mutex::new(None),
        }
    }

    fn bar(&self, phase: &str) -> Option<ProgressBar> {
        if self.display != Display::Bars {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{prefix:>13} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(phase.to_owned());
        Some(bar)
    }
}

/// The status line of a phase at `done` of `total` after `elapsed`.
pub(crate) fn status_line(
    phase: &str,
    what: &str,
    done: u64,
    total: u64,
    elapsed: Duration,
) -> String {
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let eta = if done >= total {
        "done".to_owned()
    } else if rate > 0.0 {
        format!("ETA {:.0}s", (total - done) as f64 / rate)
    } else {
        "ETA -".to_owned()
    };
    format!("progress: {phase} {done}/{total} {what} ({percent}%), {rate:.0}/s, {eta}")
}

/// Whether the status line is due: at the end, every tenth of the way, or every 2 s.
fn line_due(tracking: &Tracking, now: Instant) -> bool {
    let decile = decile(tracking.done, tracking.total);
    tracking.done >= tracking.total
        || decile > tracking.last_decile
        || tracking
            .last_line
            .is_none_or(|last| now.duration_since(last) >= LINE_EVERY)
}

fn decile(done: u64, total: u64) -> u64 {
    done.saturating_mul(10).checked_div(total).unwrap_or(10)
}

impl EventSink for Progress {
    fn emit(&self, event: RunEvent) {
        if self.display == Display::Quiet {
            return;
        }
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        match event {
            RunEvent::PhaseStarted { phase, .. } => {
                if let Some(what) = tracked(&phase) {
                    *current = Some(Tracking {
                        bar: self.bar(&phase),
                        phase,
                        what,
                        started: Instant::now(),
                        done: 0,
                        total: 0,
                        last_line: None,
                        last_decile: 0,
                    });
                }
            }
            RunEvent::Progress {
                phase, done, total, ..
            } => {
                let Some(tracking) = current.as_mut().filter(|t| t.phase == phase) else {
                    return;
                };
                tracking.done = done;
                tracking.total = total;
                if let Some(bar) = &tracking.bar {
                    let secs = tracking.started.elapsed().as_secs_f64();
                    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
                    bar.set_length(total);
                    bar.set_position(done);
                    bar.set_message(format!("{}, {rate:.0}/s", tracking.what));
                    return;
                }
                let now = Instant::now();
                if line_due(tracking, now) && done < total {
                    tracking.last_line = Some(now);
                    tracking.last_decile = decile(done, total);
                    eprintln!(
                        "{}",
                        status_line(
                            &tracking.phase,
                            tracking.what,
                            done,
                            total,
                            tracking.started.elapsed()
                        )
                    );
                }
            }
            RunEvent::PhaseFinished { phase, status, .. } => {
                let Some(tracking) = current.take_if(|t| t.phase == phase) else {
                    return;
                };
                let line = status_line(
                    &tracking.phase,
                    tracking.what,
                    tracking.done,
                    tracking.total,
                    tracking.started.elapsed(),
                );
                match &tracking.bar {
                    Some(bar) if status == "done" => {
                        bar.finish_with_message(format!("{} {status}", tracking.what))
                    }
                    Some(bar) => bar.abandon_with_message(format!("{} {status}", tracking.what)),
                    None => eprintln!("{line} [{status}]"),
                }
            }
            RunEvent::RunStarted { .. }
            | RunEvent::PhaseSkipped { .. }
            | RunEvent::RunFinished { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_has_counts_rate_and_eta() {
        let line = status_line("leg-b-record", "units", 400, 1000, Duration::from_secs(2));
        assert_eq!(
            line,
            "progress: leg-b-record 400/1000 units (40%), 200/s, ETA 3s"
        );
        let done = status_line("backup", "documents", 6, 6, Duration::from_millis(10));
        assert!(done.ends_with("(100%), 600/s, done"), "{done}");
        let empty = status_line("backup", "documents", 0, 0, Duration::ZERO);
        assert!(empty.contains("0/0 documents (100%)"), "{empty}");
    }

    #[test]
    fn lines_come_every_tenth_or_every_two_seconds() {
        let start = Instant::now();
        let mut t = Tracking {
            phase: "leg-b-record".into(),
            what: "units",
            started: start,
            done: 5,
            total: 100,
            bar: None,
            last_line: Some(start),
            last_decile: 0,
        };
        assert!(!line_due(&t, start + Duration::from_millis(500)));
        assert!(line_due(&t, start + Duration::from_secs(2)));
        t.done = 10;
        assert!(line_due(&t, start + Duration::from_millis(500)));
        t.last_decile = 1;
        t.done = 19;
        assert!(!line_due(&t, start + Duration::from_millis(500)));
        t.done = 100;
        assert!(line_due(&t, start));
    }

    #[test]
    fn only_the_long_phases_are_tracked() {
        assert_eq!(tracked(names::BACKUP), Some("documents"));
        assert_eq!(tracked(names::LEG_B_RECORD), Some("units"));
        assert_eq!(tracked(names::WRITE_VERIFY), Some("documents"));
        assert_eq!(tracked(names::CUT_LEG_A), None);
        assert_eq!(tracked(names::LIFECYCLE_ENACT), None);
    }
}
