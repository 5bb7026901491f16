//! `iu-cutter plan`: what a run would write, per document, and the plan's sha256. Reads only.
//!
//! The plan is computed by the very function the cut-leg-a phase uses
//! ([`iu_cutter_phase_cut_leg_a::compute_plan`], on tokio's blocking pool and every core), on
//! the documents as the store holds them now, so a run started on the same documents journals a
//! plan with the same sha256. `--out FILE` writes the plan itself (its JSON); `run --plan FILE`
//! then runs only while it still holds.

use std::path::Path;

use iu_cutter_live_execution::{Plan, Scope};

use iu_cutter_live_execution::prelude::*;
use iu_cutter_phase_cut_leg_a::{PlanError, spawn_compute_plan, unstructured_documents};
use serde::Serialize;

use crate::cli::config::{Config, rules_summary};
use crate::cli::error::CliError;
use crate::cli::output::{human_bytes, print_json, table, unstructured_warning};
use crate::cli::scope::scope_text;
use crate::cli::store::ReadOnlyStore;

#[derive(Serialize)]
struct DocumentPreview<'a> {
    document: &'a str,
    revision: u64,
    source_bytes: u64,
    units: usize,
    largest_unit_bytes: u64,
    first_paths: Vec<&'a str>,
    /// The preset `auto` chose for the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<&'static str>,
}

#[derive(Serialize)]
struct PlanPreview<'a> {
    plan_sha256: String,
    rules: String,
    documents: Vec<DocumentPreview<'a>>,
    units: u64,
    /// Documents larger than a few KB that yield only a preamble unit.
    unstructured: Vec<&'a str>,
    /// Where `--out` wrote the plan.
    written_to: Option<String>,
}

/// How many unit paths are shown per document.
const SHOWN_PATHS: usize = 3;

/// Writes the plan's JSON to `path` (through a temporary file and a rename).
fn write_plan(plan: &Plan, path: &Path) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(plan).unwrap_or_default();
    let tmp = std::path::PathBuf::from(format!("{}.tmp", path.display()));
    std::fs::write(&tmp, format!("{text}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|error| {
            let _ = std::fs::remove_file(&tmp);
            CliError::bad_input(
                format!("cannot write the plan to {}: {error}", path.display()),
                "choose a writable path for --out",
            )
        })
}

/// `iu-cutter plan`.
pub(crate) async fn plan(
    config: &Config,
    scope: &Scope,
    json: bool,
    out: Option<&Path>,
) -> Result<Plan, CliError> {
    let retry = "iu-cutter plan";
    let store = ReadOnlyStore::open(config, "plan", retry).await?;
    let documents = store
        .adapter()
        .load_scope(scope)
        .await
        .map_err(|e| CliError::from_adapter(e, "reading the scope", retry))?;
    let plan = spawn_compute_plan(documents, config.rules.clone())
        .await
        .map_err(|error| match error {
            PlanError::Rules(_) => CliError::config(
                error.to_string(),
                "fix [rules] in cutter.toml or IU_CUTTER_PRESET",
            ),
            PlanError::Interrupted => CliError::failed(error.to_string(), retry),
            other => CliError::bad_input(
                other.to_string(),
                "re-import the document (iu-cutter import) or leave it out of the scope",
            ),
        })?;
    if let Some(path) = out {
        write_plan(&plan, path)?;
    }
    let preview = preview(&plan, out);
    if json {
        print_json(&preview);
        return Ok(plan);
    }
    out!(
        "plan for {} on {} ({}): nothing is written",
        scope_text(scope),
        config.location(),
        preview.rules
    );
    print_documents(&preview.documents);
    if !preview.unstructured.is_empty() {
        eprintln!("{}", unstructured_warning(&preview.unstructured.join(", ")));
    }
    out!(
        "documents: {}, units: {}",
        preview.documents.len(),
        preview.units
    );
    out!("plan sha256: {}", preview.plan_sha256);
    if let Some(path) = &preview.written_to {
        out!(
            "plan written to {path}; run it with: iu-cutter run {} --plan {path} --execute",
            scope_text(scope)
        );
    }
    if preview.documents.is_empty() {
        out!("note: no document in scope; import some with `iu-cutter import PATH`");
    }
    Ok(plan)
}

/// What `plan` shows of a plan (and prints as JSON with `--json`).
fn preview<'a>(plan: &'a Plan, out: Option<&Path>) -> PlanPreview<'a> {
    PlanPreview {
        written_to: out.map(|p| p.display().to_string()),
        plan_sha256: plan.sha256(),
        rules: rules_summary(&plan.rules),
        units: plan.unit_count(),
        unstructured: unstructured_documents(plan)
            .iter()
            .map(|d| d.document.as_str())
            .collect(),
        documents: plan
            .documents
            .iter()
            .map(|d| DocumentPreview {
                document: d.document.as_str(),
                revision: d.revision,
                source_bytes: d.source_bytes,
                units: d.units.len(),
                largest_unit_bytes: d.units.iter().map(|u| u.end - u.start).max().unwrap_or(0),
                first_paths: d
                    .units
                    .iter()
                    .take(SHOWN_PATHS)
                    .map(|u| u.path.as_str())
                    .collect(),
                preset: d.preset.map(|p| p.name()),
            })
            .collect(),
    }
}

/// The documents' table; under `auto`, with the preset that cut each document.
fn print_documents(documents: &[DocumentPreview<'_>]) {
    let chose = documents.iter().any(|d| d.preset.is_some());
    let rows: Vec<Vec<String>> = documents
        .iter()
        .map(|d| {
            let mut paths = d.first_paths.join(" | ");
            if d.units > d.first_paths.len() {
                paths.push_str(" | …");
            }
            let mut row = vec![
                d.document.to_owned(),
                d.revision.to_string(),
                human_bytes(d.source_bytes),
                d.units.to_string(),
                human_bytes(d.largest_unit_bytes),
            ];
            if chose {
                row.push(d.preset.unwrap_or("-").to_owned());
            }
            row.push(paths);
            row
        })
        .collect();
    let mut headers = vec!["document", "rev", "size", "units", "largest"];
    if chose {
        headers.push("preset");
    }
    headers.push("first paths");
    table(&headers, rows);
}
