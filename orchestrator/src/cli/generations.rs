//! `iu-cutter diff DOC [GEN_A GEN_B]` (reads only) and `iu-cutter purge --older-than AGE` (a
//! mutation behind the kill switch).

use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{DocumentId, RunId};
use iu_cutter_orchestrator::clock::format_age;
use iu_cutter_orchestrator::{DiffError, PurgeDecision, Runner, UnitChange};
use iu_cutter_phase_core::DirBackupStore;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::output::{result_of, table};
use crate::cli::store::{LiveStore, ReadOnlyStore};

fn change_name(change: UnitChange) -> &'static str {
    match change {
        UnitChange::Added => "added",
        UnitChange::Removed => "removed",
        UnitChange::Changed => "changed",
        UnitChange::Unchanged => "unchanged",
    }
}

/// `iu-cutter diff DOC [GEN_A GEN_B]`.
pub(crate) async fn diff(
    config: &Config,
    document: DocumentId,
    generations: Option<(RunId, RunId)>,
    json: bool,
) -> Result<(), CliError> {
    let retry = format!("iu-cutter diff {document}");
    let store = ReadOnlyStore::open(config, "diff", &retry).await?;
    let runner = Runner::new(
        store.into_adapter(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    let diff = runner
        .diff(&document, generations)
        .await
        .map_err(|error| match error {
            DiffError::Adapter(e) => CliError::from_adapter(e, "reading the generations", &retry),
            DiffError::Generations(why) => CliError::bad_input(
                why,
                format!(
                    "list the document's generations with `iu-cutter units {document}` and \
                     `iu-cutter status`, then: iu-cutter diff {document} GEN_A GEN_B"
                ),
            ),
        })?;
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&diff).unwrap_or_default()
        );
        return Ok(());
    }
    out!(
        "document {}: generation {} -> {}: {} added, {} removed, {} changed, {} unchanged",
        diff.document,
        diff.generation_a,
        diff.generation_b,
        diff.added,
        diff.removed,
        diff.changed,
        diff.unchanged
    );
    let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), |b| b.to_string());
    let rows: Vec<Vec<String>> = diff
        .units
        .iter()
        .map(|u| {
            vec![
                change_name(u.change).to_owned(),
                u.unit_id.clone(),
                u.path.clone(),
                format!("{} -> {}", bytes(u.bytes_a), bytes(u.bytes_b)),
            ]
        })
        .collect();
    table(&["change", "unit id", "path", "bytes"], &rows);
    Ok(())
}

/// `iu-cutter purge --older-than AGE`.
pub(crate) async fn purge(
    config: &Config,
    older_than: Duration,
    execute: bool,
    json: bool,
) -> Result<(), CliError> {
    let retry = format!(
        "iu-cutter purge --older-than {} --execute",
        format_age(older_than)
    );
    let store = LiveStore::open(config, execute, &retry).await?;
    let runner = Runner::new(
        store.into_adapter(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    let report = runner.purge(older_than).await;
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return result_of(&report.outcome);
    }
    out!(
        "purge of retired generations older than {} on {} (now {})",
        report.older_than,
        config.location(),
        report.now
    );
    if report.generations.is_empty() {
        out!("no retired generation in the store");
    } else {
        let rows: Vec<Vec<String>> = report
            .generations
            .iter()
            .map(|e| {
                let decision = match &e.decision {
                    PurgeDecision::Purge if report.outcome.is_success() => "purged".to_owned(),
                    PurgeDecision::Purge => "selected (not purged)".to_owned(),
                    PurgeDecision::KeptRecent => "kept: retired too recently".to_owned(),
                    PurgeDecision::KeptUndated => "kept: retirement time not journaled".to_owned(),
                    PurgeDecision::KeptForRollback { run } => {
                        format!("kept: rollback of run {run} needs it")
                    }
                };
                vec![
                    e.document.to_string(),
                    e.generation.to_string(),
                    e.retired_at.clone().unwrap_or_else(|| "-".to_owned()),
                    decision,
                ]
            })
            .collect();
        table(&["document", "generation", "retired at", "decision"], &rows);
    }
    for note in &report.notes {
        out!("note: {note}");
    }
    out!(
        "outcome: {}; generations purged: {} of {} selected",
        report.outcome.name(),
        report.purged,
        report.selected().count()
    );
    result_of(&report.outcome)
}
