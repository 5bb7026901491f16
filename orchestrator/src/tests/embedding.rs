//! What a service embedding the runner relies on: each invocation's report journaled by the
//! runner itself, and the metrics a run records through the `metrics` facade.

use std::sync::{Arc, Mutex};

use iu_cutter_live_execution::RunId;
use iu_cutter_live_execution::prelude::*;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use super::{Harness, TestResult, law_request, lock};
use crate::{Outcome, RunOptions, RunReport, Throttle, metrics as names};

#[tokio::test]
async fn every_invocation_journals_its_own_report_and_a_run_never_begun_none() -> TestResult {
    let h = Harness::new([("law/1", "# L\n\n## A\n\nx\n\n## B\n\ny\n")], true);
    let run = RunId::new("r1");
    let report = h
        .runner
        .run(law_request("r1"), RunOptions::default())
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let journaled = h.sim.load_reports(&run).await?;
    assert_eq!(
        journaled.len(),
        1,
        "the run's report is journaled without being asked"
    );
    assert_eq!(RunReport::from_json(&journaled[0])?, report);

    let rolled_back = h.runner.rollback(&run).await?;
    assert_eq!(rolled_back.outcome, Outcome::RolledBack);
    let journaled = h.sim.load_reports(&run).await?;
    assert_eq!(
        journaled.len(),
        2,
        "the rollback's report follows the run's"
    );
    assert_eq!(RunReport::from_json(&journaled[1])?, rolled_back);

    // Refused at preflight: the run was never begun, so its report is kept nowhere.
    h.switch.set(false);
    let refused = h
        .runner
        .run(law_request("r2"), RunOptions::default())
        .await?;
    assert!(matches!(refused.outcome, Outcome::Refused { .. }));
    assert!(h.sim.load_reports(&RunId::new("r2")).await?.is_empty());
    assert!(
        refused
            .notes
            .iter()
            .all(|n| !n.contains("not in the journal")),
        "{:?}",
        refused.notes
    );
    Ok(())
}

/// One value a metric received: its name, its labels, and the value.
#[derive(Clone, Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// A recorder that keeps every value it is given, in order.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Sample>>>);

impl Captured {
    fn samples(&self, name: &str) -> Vec<Sample> {
        lock(&self.0)
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    fn total(&self, name: &str) -> f64 {
        self.samples(name).iter().map(|s| s.value).sum()
    }

    fn handle(&self, key: &Key) -> Arc<Handle> {
        Arc::new(Handle {
            name: key.name().to_owned(),
            labels: key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect(),
            samples: self.clone(),
        })
    }
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

struct Handle {
    name: String,
    labels: Vec<(String, String)>,
    samples: Captured,
}

impl Handle {
    fn push(&self, value: f64) {
        lock(&self.samples.0).push(Sample {
            name: self.name.clone(),
            labels: self.labels.clone(),
            value,
        });
    }
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        self.push(value as f64);
    }
    fn absolute(&self, value: u64) {
        self.push(value as f64);
    }
}

impl GaugeFn for Handle {
    fn increment(&self, value: f64) {
        self.push(value);
    }
    fn decrement(&self, value: f64) {
        self.push(-value);
    }
    fn set(&self, value: f64) {
        self.push(value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, value: f64) {
        self.push(value);
    }
}

impl Recorder for Captured {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

const DOCUMENTS: [(&str, &str); 2] = [
    ("law/1", "# L1\n\n## A\n\nfirst\n\n## B\n\nsecond\n"),
    ("law/2", "# L2\n\n## A\n\nthird\n"),
];

/// A throttled run, held after write-verify then enacted, on the simulator under a recorder of
/// this thread; what the recorder saw.
fn recorded_run() -> Result<Captured, Box<dyn std::error::Error>> {
    let captured = Captured::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    metrics::with_local_recorder(&captured, || {
        runtime.block_on(async {
            let h = Harness::new(DOCUMENTS, true);
            let throttle = Throttle {
                pause_between_batches: std::time::Duration::from_millis(1),
                ..Throttle::default()
            };
            let options = RunOptions::default()
                .with_batch_units(1)
                .with_throttle(throttle)
                .with_until("write-verify");
            let held = h.runner.run(law_request("r1"), options).await?;
            assert_eq!(held.outcome, Outcome::Pass, "{}", held.to_json());
            let enacted = h
                .runner
                .enact(&RunId::new("r1"), RunOptions::default())
                .await?;
            assert_eq!(enacted.outcome, Outcome::Pass, "{}", enacted.to_json());
            Ok::<_, Box<dyn std::error::Error>>(())
        })
    })?;
    Ok(captured)
}

#[test]
fn a_run_records_outcomes_phase_durations_units_bytes_and_throttle_waits() -> TestResult {
    let captured = recorded_run()?;

    let outcomes = captured.samples(names::OUTCOMES);
    let commands: Vec<_> = outcomes
        .iter()
        .map(|s| (s.label("command"), s.label("outcome"), s.value))
        .collect();
    assert_eq!(
        commands,
        [
            (Some("run"), Some("PASS"), 1.0),
            (Some("enact"), Some("PASS"), 1.0)
        ]
    );

    // Four phases ran in the run, write-verify and lifecycle-enact in the enact.
    let durations = captured.samples(names::PHASE_DURATION);
    let phases: Vec<_> = durations.iter().filter_map(|s| s.label("phase")).collect();
    assert_eq!(
        phases,
        [
            "backup",
            "cut-leg-a",
            "leg-b-record",
            "write-verify",
            "write-verify",
            "lifecycle-enact"
        ]
    );
    assert!(durations.iter().all(|s| s.label("status") == Some("done")));
    assert!(durations.iter().all(|s| s.value >= 0.0 && s.value < 60.0));

    // Three units (two of law/1, one of law/2, after their preambles) or more: whatever the
    // plan holds, the counter says the same as leg-b-record's evidence.
    let written = captured.total(names::UNITS_WRITTEN);
    assert!(written >= 3.0, "{written}");
    let rates = captured.samples(names::UNITS_PER_SECOND);
    assert_eq!(rates.len(), 1);
    assert!(rates[0].value > 0.0 && rates[0].value.is_finite());

    let source_bytes: usize = DOCUMENTS.iter().map(|(_, body)| body.len()).sum();
    assert_eq!(captured.total(names::BYTES_CUT), source_bytes as f64);

    // One unit per batch, a millisecond's pause after each but the last. The fence's and the
    // enact's batches take the pause too, each phase recording its own wait.
    let waits = captured.samples(names::THROTTLE_WAIT);
    let writes: Vec<_> = waits
        .iter()
        .filter(|s| s.label("phase") == Some("leg-b-record"))
        .collect();
    assert_eq!(writes.len(), 1, "{waits:?}");
    assert!(writes[0].value >= (written - 1.0) * 0.001, "{waits:?}");
    Ok(())
}
