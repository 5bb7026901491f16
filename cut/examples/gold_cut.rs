//! Cuts documents with every preset and prints, as one JSON document on stdout, where each unit
//! starts (1-based line) and its path: the raw material of `cargo xtask accuracy`, which scores
//! it against the hand-made labels of the gold set (`tests/gold/`).
//!
//! ```text
//! cargo run -p iu-cutter-cut --example gold_cut -- tests/gold/docs/gpl-3.txt …
//! ```
//!
//! Each cut is checked independently of the engine's own check: the units must concatenate to
//! the source, byte for byte (`lossless`).

use std::process::ExitCode;

use iu_cutter_cut::{CutUnit, Cutter};
use iu_cutter_live_execution::{CutRules, Preset};
use serde_json::{Value, json};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: gold_cut DOCUMENT…");
        return ExitCode::from(2);
    }
    match run(&paths) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("gold_cut: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(paths: &[String]) -> Result<Value, String> {
    let cutters = Preset::ALL
        .into_iter()
        .map(|preset| {
            Cutter::new(&CutRules::preset(preset))
                .map(|cutter| (preset, cutter))
                .map_err(|e| format!("{}: {e}", preset.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut documents = Vec::with_capacity(paths.len());
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let mut cuts = serde_json::Map::new();
        for (preset, cutter) in &cutters {
            let cut = cutter
                .cut_document(path, &text)
                .map_err(|e| format!("{path} ({}): {e}", preset.name()))?;
            let lossless = rebuilds(&text, &cut.units);
            let units: Vec<Value> = cut
                .units
                .iter()
                .filter(|unit| matches!(unit.part, None | Some(1)))
                .map(|unit| json!({ "line": line_of(&text, unit.start), "path": unit.path }))
                .collect();
            cuts.insert(
                preset.name().to_owned(),
                json!({
                    "chosen": cut.preset.map(Preset::name),
                    "lossless": lossless,
                    "units": units,
                }),
            );
        }
        documents.push(json!({ "document": path, "cuts": cuts }));
    }
    Ok(json!({ "documents": documents }))
}

/// The 1-based number of the line that byte `at` is on.
fn line_of(text: &str, at: u64) -> usize {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(text.len());
    1 + text
        .as_bytes()
        .iter()
        .take(at)
        .filter(|&&b| b == b'\n')
        .count()
}

/// Whether the units, concatenated in order, are the text.
fn rebuilds(text: &str, units: &[CutUnit]) -> bool {
    let mut rebuilt = String::with_capacity(text.len());
    for unit in units {
        match unit.text(text) {
            Some(span) => rebuilt.push_str(span),
            None => return false,
        }
    }
    rebuilt == text
}
