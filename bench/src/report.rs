//! Measurements, figures (a ratio or a rate against its target), and their rendering as
//! `results.md` and `results.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

/// Version of `results.json`.
const SCHEMA_VERSION: u32 = 1;

/// The median of `samples` (the mean of the two middle ones for an even count; 0 when empty).
pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs `f` once to warm up, then `reps` times, timing each run; what `f` returns is dropped
/// outside the timing.
pub(crate) fn time<T>(reps: usize, mut f: impl FnMut() -> T) -> Vec<f64> {
    drop(std::hint::black_box(f()));
    (0..reps)
        .map(|_| {
            let started = Instant::now();
            let out = std::hint::black_box(f());
            let secs = started.elapsed().as_secs_f64();
            drop(out);
            secs
        })
        .collect()
}

/// A workload for [`time_interleaved`]: its output is boxed so that dropping it stays outside
/// the timing.
pub(crate) type Workload<'a> = Box<dyn FnMut() -> Box<dyn std::any::Any> + 'a>;

/// Like [`time`] for several workloads at once, interleaved (A, B, C, A, B, C, …) after one
/// warm-up of each, so that a change of load on a shared machine hits all of them alike and
/// their ratios stay meaningful. Returns each workload's samples, in order.
pub(crate) fn time_interleaved(reps: usize, mut workloads: Vec<Workload<'_>>) -> Vec<Vec<f64>> {
    for workload in &mut workloads {
        drop(std::hint::black_box(workload()));
    }
    let mut samples = vec![Vec::with_capacity(reps); workloads.len()];
    for _ in 0..reps {
        for (workload, samples) in workloads.iter_mut().zip(&mut samples) {
            let started = Instant::now();
            let out = std::hint::black_box(workload());
            samples.push(started.elapsed().as_secs_f64());
            drop(out);
        }
    }
    samples
}

/// One timed quantity: its samples (seconds) and what one sample covers.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Measurement {
    /// Stable key, e.g. `cut.iu_cutter`.
    pub(crate) name: String,
    /// What was timed, for people.
    pub(crate) label: String,
    /// Bytes processed per sample, when a throughput makes sense.
    pub(crate) bytes: Option<u64>,
    /// Operations per sample (full runs), when a rate makes sense.
    pub(crate) operations: Option<u64>,
    /// Seconds per sample.
    pub(crate) samples_s: Vec<f64>,
    /// Their median.
    pub(crate) median_s: f64,
    /// `bytes / median_s`, in MB/s (10^6 bytes).
    pub(crate) mb_per_s: Option<f64>,
    /// `operations / median_s`.
    pub(crate) per_s: Option<f64>,
    /// Anything else worth keeping (unit counts, per-phase times, versions).
    pub(crate) detail: BTreeMap<String, Value>,
}

impl Measurement {
    pub(crate) fn new(name: &str, label: &str, samples_s: Vec<f64>) -> Self {
        let median_s = median(&samples_s);
        Measurement {
            name: name.to_owned(),
            label: label.to_owned(),
            bytes: None,
            operations: None,
            samples_s,
            median_s,
            mb_per_s: None,
            per_s: None,
            detail: BTreeMap::new(),
        }
    }

    /// Sets the bytes per sample, hence the throughput.
    pub(crate) fn bytes(mut self, bytes: u64) -> Self {
        self.bytes = Some(bytes);
        self.mb_per_s = (self.median_s > 0.0).then(|| bytes as f64 / self.median_s / 1e6);
        self
    }

    /// Sets the operations per sample, hence the rate.
    pub(crate) fn operations(mut self, operations: u64) -> Self {
        self.operations = Some(operations);
        self.per_s = (self.median_s > 0.0).then(|| operations as f64 / self.median_s);
        self
    }

    pub(crate) fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// Throughput in bytes per second (0 when unknown).
    pub(crate) fn bytes_per_s(&self) -> f64 {
        self.mb_per_s.unwrap_or(0.0) * 1e6
    }
}

/// Which way a target goes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Bound {
    /// The value must be at least the target.
    AtLeast,
    /// The value must be at most the target.
    AtMost,
}

/// Met, missed, or not measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Met,
    Missed,
    Skipped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "**missed**",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the targets table.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Figure {
    /// Stable key, e.g. `cut_vs_text_splitter`.
    pub(crate) key: String,
    /// The figure, as the targets table names it.
    pub(crate) figure: String,
    /// The ratio or rate measured (`None` when skipped).
    pub(crate) value: Option<f64>,
    /// `×` for ratios, `runs/s` for rates.
    pub(crate) unit: String,
    pub(crate) bound: Bound,
    pub(crate) target: f64,
    pub(crate) status: Status,
    /// What the value is made of (the two medians), or why it was skipped.
    pub(crate) note: String,
}

impl Figure {
    /// A measured figure; its status follows from the value and the target.
    pub(crate) fn measured(
        key: &str,
        figure: &str,
        value: f64,
        unit: &str,
        bound: Bound,
        target: f64,
        note: String,
    ) -> Self {
        let met = match bound {
            Bound::AtLeast => value >= target,
            Bound::AtMost => value <= target,
        };
        Figure {
            key: key.to_owned(),
            figure: figure.to_owned(),
            value: Some(value),
            unit: unit.to_owned(),
            bound,
            target,
            status: if met { Status::Met } else { Status::Missed },
            note,
        }
    }

    /// A figure that could not be measured, and why.
    pub(crate) fn skipped(
        key: &str,
        figure: &str,
        unit: &str,
        bound: Bound,
        target: f64,
        why: String,
    ) -> Self {
        Figure {
            key: key.to_owned(),
            figure: figure.to_owned(),
            value: None,
            unit: unit.to_owned(),
            bound,
            target,
            status: Status::Skipped,
            note: why,
        }
    }

    fn value_text(&self) -> String {
        match self.value {
            None => "—".to_owned(),
            Some(v) => format_value(v, &self.unit),
        }
    }

    fn target_text(&self) -> String {
        let op = match self.bound {
            Bound::AtLeast => "≥",
            Bound::AtMost => "≤",
        };
        format!("{op} {}", format_value(self.target, &self.unit))
    }
}

fn format_value(v: f64, unit: &str) -> String {
    if unit == "×" {
        if v >= 100.0 {
            format!("{v:.0}×")
        } else if v >= 10.0 {
            format!("{v:.1}×")
        } else {
            format!("{v:.2}×")
        }
    } else {
        format!("{} {unit}", group_thousands(v.round() as u64))
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Everything one invocation measured.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) schema_version: u32,
    /// The command that produced it.
    pub(crate) command: String,
    pub(crate) quick: bool,
    pub(crate) only: Option<String>,
    pub(crate) repetitions: usize,
    /// Seconds since the Unix epoch when the run started.
    pub(crate) started_unix: u64,
    /// Wall time of the whole benchmark run.
    pub(crate) duration_s: f64,
    pub(crate) machine: BTreeMap<String, Value>,
    pub(crate) settings: BTreeMap<String, Value>,
    pub(crate) figures: Vec<Figure>,
    pub(crate) measurements: Vec<Measurement>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn new(command: String, quick: bool, only: Option<String>, reps: usize) -> Self {
        let started_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut machine = BTreeMap::new();
        machine.insert(
            "cores".to_owned(),
            Value::from(std::thread::available_parallelism().map_or(0, |n| n.get())),
        );
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            machine.insert(
                "load_average_before".to_owned(),
                Value::from(
                    load.split_whitespace()
                        .take(3)
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
            );
        }
        Report {
            schema_version: SCHEMA_VERSION,
            command,
            quick,
            only,
            repetitions: reps,
            started_unix,
            duration_s: 0.0,
            machine,
            settings: BTreeMap::new(),
            figures: Vec::new(),
            measurements: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn setting(&mut self, key: &str, value: impl Into<Value>) {
        self.settings.insert(key.to_owned(), value.into());
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        eprintln!("bench: {note}");
        self.notes.push(note);
    }

    pub(crate) fn add(&mut self, measurement: Measurement) -> Measurement {
        eprintln!(
            "bench: {:<28} median {:>9.4} s{}{}",
            measurement.name,
            measurement.median_s,
            measurement
                .mb_per_s
                .map(|v| format!("  {v:>9.1} MB/s"))
                .unwrap_or_default(),
            measurement
                .per_s
                .map(|v| format!("  {v:>9.1} /s"))
                .unwrap_or_default(),
        );
        self.measurements.push(measurement.clone());
        measurement
    }

    pub(crate) fn figure(&mut self, figure: Figure) {
        self.figures.push(figure);
    }

    /// The targets table alone (what the command prints).
    pub(crate) fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| figure | measured | target | status | made of |\n");
        out.push_str("|---|---|---|---|---|\n");
        for f in &self.figures {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.figure,
                f.value_text(),
                f.target_text(),
                f.status.word(),
                f.note.replace('|', "\\|")
            );
        }
        out
    }

    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# iu-cutter benchmarks\n");
        let _ = writeln!(
            out,
            "Produced by `{}`: medians of {} repetitions (after one warm-up), in {:.0} s. \
             Machine: {} cores, load average before the run {}. MB = 10^6 bytes.\n",
            self.command,
            self.repetitions,
            self.duration_s,
            self.machine
                .get("cores")
                .map(Value::to_string)
                .unwrap_or_default(),
            self.machine
                .get("load_average_before")
                .and_then(Value::as_str)
                .unwrap_or("unknown"),
        );
        out.push_str("## Targets\n\n");
        out.push_str(&self.table());
        out.push_str("\n## Measurements\n\n");
        out.push_str("| measurement | median | throughput / rate | samples (s) |\n");
        out.push_str("|---|---|---|---|\n");
        for m in &self.measurements {
            let rate = match (m.mb_per_s, m.per_s) {
                (Some(mb), _) => format!("{mb:.1} MB/s"),
                (None, Some(per_s)) => format!("{per_s:.1} /s"),
                (None, None) => String::new(),
            };
            let samples = m
                .samples_s
                .iter()
                .map(|s| format!("{s:.4}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "| {} | {:.4} s | {rate} | {samples} |",
                m.label, m.median_s
            );
        }
        if !self.settings.is_empty() {
            out.push_str("\n## Settings\n\n");
            for (key, value) in &self.settings {
                let _ = writeln!(out, "- `{key}`: {value}");
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    /// Writes `results.md` and `results.json` into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let md = dir.join("results.md");
        let json = dir.join("results.json");
        std::fs::write(&md, self.markdown())
            .map_err(|e| format!("cannot write {}: {e}", md.display()))?;
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| format!("cannot serialise the results: {e}"))?;
        std::fs::write(&json, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
        Ok((md, json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_targets() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let f = Figure::measured("k", "f", 4.9, "×", Bound::AtLeast, 5.0, String::new());
        assert_eq!(f.status, Status::Missed);
        let f = Figure::measured("k", "f", 1.4, "×", Bound::AtMost, 1.5, String::new());
        assert_eq!(f.status, Status::Met);
        assert_eq!(f.target_text(), "≤ 1.50×");
        assert_eq!(format_value(1234.4, "runs/s"), "1,234 runs/s");
    }
}
