//! Simulator benchmark: full runs (all five phases, through the `Runner`, over the in-memory
//! simulator behind the kill switch, backups in memory: what a dry run or a property test does)
//! per second, each on one small document.

use std::sync::Arc;
use std::time::Instant;

use iu_cutter_live_execution::{
    CutRules, ExecutionGate, Guarded, LiveExecutionAdapter, ManualSwitch, Preset, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_simulator::Simulator;

use crate::corpus::Doc;
use crate::report::{Bound, Figure, Measurement, Report};

pub(crate) struct SimSettings {
    pub(crate) reps: usize,
    /// Full runs per repetition.
    pub(crate) runs: usize,
    pub(crate) max_unit_bytes: u64,
}

fn runner_over(doc: &Doc) -> Runner {
    let sim = Simulator::with_documents([(doc.id.as_str(), doc.text.as_str())]);
    let gate = ExecutionGate::new().with_source(ManualSwitch::new(
        "benchmark switch",
        true,
        "open the benchmark switch",
    ));
    let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(sim, gate));
    Runner::new(adapter, Arc::new(MemoryBackupStore::new()))
}

/// Runs `runners.len()` full runs, one per runner; returns the seconds they took.
async fn runs(runners: &[Runner], rules: &CutRules) -> Result<f64, String> {
    let started = Instant::now();
    for runner in runners {
        let request = RunRequest::new("sim-run", Scope::All, rules.clone());
        let report = runner
            .run(request, RunOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        if report.outcome != Outcome::Pass {
            return Err(format!(
                "a simulated run ended {}: {}",
                report.outcome.name(),
                serde_json::to_string(&report).unwrap_or_default()
            ));
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// What the simulated runs need: a current-thread runtime and the rules they cut with.
fn setup(settings: &SimSettings) -> Result<(tokio::runtime::Runtime, CutRules), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let rules = CutRules::preset(Preset::LegalVi).with_max_unit_bytes(settings.max_unit_bytes);
    Ok((runtime, rules))
}

/// Only the simulated runs, for a profiler.
pub(crate) fn profile(doc: &Doc, settings: &SimSettings) -> Result<(), String> {
    let (runtime, rules) = setup(settings)?;
    let mut secs = 0.0;
    for _ in 0..settings.reps {
        let runners: Vec<Runner> = (0..settings.runs).map(|_| runner_over(doc)).collect();
        secs += runtime.block_on(runs(&runners, &rules))?;
    }
    eprintln!(
        "profile sim: {} runs in {secs:.3} s",
        settings.runs * settings.reps
    );
    Ok(())
}

pub(crate) fn run(doc: &Doc, settings: &SimSettings, report: &mut Report) -> Result<(), String> {
    let (runtime, rules) = setup(settings)?;
    let units = iu_cutter_cut::Cutter::new(&rules)
        .and_then(|c| c.cut(&doc.id, &doc.text))
        .map_err(|e| e.to_string())?
        .len();
    // What compiling the rules costs: once per process (`Cutter::shared`), not once per run.
    let compile = crate::report::time(settings.reps, || {
        (0..100)
            .map(|_| iu_cutter_cut::Cutter::new(&rules))
            .collect::<Vec<_>>()
    });
    let compile_us = crate::report::median(&compile) / 100.0 * 1e6;
    let mut samples = Vec::with_capacity(settings.reps);
    // Repetition 0 warms up and is not counted. Each run gets a fresh simulator, built untimed.
    for rep in 0..=settings.reps {
        let runners: Vec<Runner> = (0..settings.runs).map(|_| runner_over(doc)).collect();
        let secs = runtime.block_on(runs(&runners, &rules))?;
        if rep > 0 {
            samples.push(secs);
        }
    }
    let m = report.add(
        Measurement::new(
            "sim.full_runs",
            &format!(
                "simulator: {} full runs, each over one {:.1} KB Vietnamese law ({units} units)",
                settings.runs,
                doc.text.len() as f64 / 1e3
            ),
            samples,
        )
        .operations(settings.runs as u64)
        .detail("document_bytes", doc.text.len() as u64)
        .detail("units_per_run", units as u64)
        .detail("cutter_new_us", compile_us),
    );
    report.figure(Figure::measured(
        "sim_runs_per_s",
        "simulator, small documents: full runs per second",
        m.per_s.unwrap_or_default(),
        "runs/s",
        Bound::AtLeast,
        1000.0,
        format!(
            "one {:.1} KB document, {units} units per run; {:.0} µs per run (the cut rules are \
             compiled once per process, Cutter::shared; compiling them per run would add \
             {compile_us:.0} µs)",
            doc.text.len() as f64 / 1e3,
            m.median_s / settings.runs.max(1) as f64 * 1e6
        ),
    ));
    Ok(())
}
