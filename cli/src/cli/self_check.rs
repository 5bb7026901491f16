//! `iu-cutter self-check`: the read-only self test run after a deploy.
//!
//! It cuts built-in samples (the example corpus, compiled in) with every preset and checks that
//! each cut is lossless and hashed right, with and without a size limit; then it runs a full run
//! and a rollback on an in-memory simulator and checks the units and the restored state. It
//! reads the configuration (to report a broken one) but opens no database and writes no file.

use std::sync::Arc;

use iu_cutter_cut::{CutUnit, Cutter, check_hashes, check_lossless};
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    CutRules, DocumentId, ExecutionGate, Guarded, LiveExecutionAdapter, ManualSwitch, Preset,
    RunId, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunRequest, Runner};
use iu_cutter_phase_core::{MemoryBackupStore, names};
use iu_cutter_simulator::Simulator;

use crate::cli::config::Config;
use crate::cli::error::CliError;

/// One sample per preset: (document id, preset, text, fewest units expected).
const SAMPLES: [(&str, Preset, &str, usize); 4] = [
    (
        "md/getting-started.md",
        Preset::Markdown,
        include_str!("../../../examples/corpus/md/getting-started.md"),
        4,
    ),
    (
        "en/data-protection-act.txt",
        Preset::LegalEn,
        include_str!("../../../examples/corpus/en/data-protection-act.txt"),
        8,
    ),
    (
        "vi/luat-giao-dich-dien-tu.txt",
        Preset::LegalVi,
        include_str!("../../../examples/corpus/vi/luat-giao-dich-dien-tu.txt"),
        8,
    ),
    (
        "en/service-agreement.txt",
        Preset::Paragraphs,
        include_str!("../../../examples/corpus/en/service-agreement.txt"),
        8,
    ),
];

/// The size limit of the split checks.
const SPLIT_LIMIT: u64 = 200;

struct Checks {
    failed: usize,
    passed: usize,
}

impl Checks {
    fn record(&mut self, name: &str, result: Result<String, String>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                out!("ok    {name}: {detail}");
            }
            Err(why) => {
                self.failed += 1;
                out!("FAIL  {name}: {why}");
            }
        }
    }
}

fn cut(rules: &CutRules, id: &str, text: &str) -> Result<Vec<CutUnit>, String> {
    let cutter = Cutter::new(rules).map_err(|e| e.to_string())?;
    let units = cutter.cut(id, text).map_err(|e| e.to_string())?;
    check_lossless(text, &units).map_err(|e| format!("not lossless: {e}"))?;
    check_hashes(text, &units).map_err(|e| format!("hashes: {e}"))?;
    Ok(units)
}

fn check_preset(id: &str, preset: Preset, text: &str, fewest: usize) -> Result<String, String> {
    let units = cut(&CutRules::preset(preset), id, text)?;
    let structural = units.iter().filter(|u| u.path != "(preamble)").count();
    if units.len() < fewest || structural == 0 {
        return Err(format!(
            "{} units ({structural} below a marker), expected at least {fewest}",
            units.len()
        ));
    }
    let split = cut(
        &CutRules::preset(preset).with_max_unit_bytes(SPLIT_LIMIT),
        id,
        text,
    )?;
    if let Some(big) = split.iter().find(|u| u.byte_len() > SPLIT_LIMIT) {
        return Err(format!(
            "unit {} is {} bytes over the {SPLIT_LIMIT}-byte limit",
            big.ordinal,
            big.byte_len()
        ));
    }
    Ok(format!(
        "{id}: {} units, lossless; {} units at max {SPLIT_LIMIT} bytes, lossless",
        units.len(),
        split.len()
    ))
}

async fn check_simulated_run() -> Result<String, String> {
    let simulator = Arc::new(Simulator::with_documents(
        SAMPLES.iter().map(|(id, _, text, _)| (*id, *text)),
    ));
    let before = simulator.state_census();
    let gate = ExecutionGate::new().with_source(ManualSwitch::new(
        "self-check simulation (memory only)",
        true,
        "-",
    ));
    let adapter: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(simulator.clone(), gate));
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let phases = runner.phase_names().len();
    if phases != names::ALL.len() {
        return Err(format!(
            "the runner has {phases} phases, expected the {} standard ones",
            names::ALL.len()
        ));
    }
    let run = RunId::new("self-check");
    let request = RunRequest::new(run.clone(), Scope::All, CutRules::preset(Preset::LegalEn));
    let report = runner
        .run(request, Default::default())
        .await
        .map_err(|e| e.to_string())?;
    if !report.passed_every_phase() {
        return Err(format!(
            "run ended {}: {:?}",
            report.outcome.name(),
            report.outcome
        ));
    }
    let mut units = 0;
    for (id, _, text, _) in SAMPLES {
        let active = adapter
            .active_units(&DocumentId::new(id))
            .await
            .map_err(|e| e.to_string())?;
        let joined: String = active.iter().map(|u| u.body.as_str()).collect();
        if active.is_empty() || joined != text {
            return Err(format!(
                "{id}: the {} active units do not give back the source",
                active.len()
            ));
        }
        units += active.len();
    }
    let rolled_back = runner.rollback(&run).await.map_err(|e| e.to_string())?;
    if rolled_back.outcome != Outcome::RolledBack {
        return Err(format!("rollback ended {}", rolled_back.outcome.name()));
    }
    if simulator.state_census() != before {
        return Err("after rollback the store differs from its pre-run census".into());
    }
    Ok(format!(
        "{} documents, {units} units: PASS, then ROLLED_BACK to the pre-run census",
        SAMPLES.len()
    ))
}

/// `iu-cutter self-check`.
pub(crate) async fn self_check(config_path: Option<&std::path::Path>) -> Result<(), CliError> {
    let mut checks = Checks {
        failed: 0,
        passed: 0,
    };
    checks.record(
        "configuration",
        Config::load(config_path, None)
            .map(|c| format!("{} (rules {})", c.origin, c.rules_summary()))
            .map_err(|e| format!("{e}; next: {}", e.next_action())),
    );
    for (id, preset, text, fewest) in SAMPLES {
        checks.record(
            &format!("cut {}", preset.name()),
            check_preset(id, preset, text, fewest),
        );
    }
    checks.record("simulated run", check_simulated_run().await);
    out!(
        "self-check: {} passed, {} failed (no database opened, no file written)",
        checks.passed,
        checks.failed
    );
    if checks.failed == 0 {
        Ok(())
    } else {
        Err(CliError::failed(
            format!("self-check: {} check(s) failed", checks.failed),
            "do not use this installation; roll the deploy back (cargo xtask rollback --to DIR) \
             and report the failing checks",
        ))
    }
}
