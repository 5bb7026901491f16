//! `iu-cutter diff DOC [GEN_A GEN_B]` (reads only) and `iu-cutter purge --older-than AGE` (a
//! mutation behind the kill switch).

use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{DocumentId, RunId};
use iu_cutter_orchestrator::clock;
use iu_cutter_orchestrator::{
    DiffError, PurgeDecision, PurgeEntry, PurgeReport, Runner, UnitChange,
};
use iu_cutter_phase_core::DirBackupStore;

use crate::cli::config::Config;
use crate::cli::error::CliError;
use crate::cli::output::{print_json, result_of, table};
use crate::cli::store::{LiveStore, ReadOnlyStore};

fn change_name(change: UnitChange) -> &'static str {
    match change {
        UnitChange::Added => "added",
        UnitChange::Removed => "removed",
        UnitChange::Changed => "changed",
        UnitChange::Unchanged => "unchanged",
    }
}

/// Which generations `diff` compares.
#[derive(Clone, Debug)]
pub(crate) enum DiffOf {
    /// The most recently retired one with the active one.
    Latest,
    /// These two, older first.
    Pair(RunId, RunId),
    /// The active one with the one this run wrote (`--run`, a held run's staged units).
    Run(RunId),
}

/// `iu-cutter diff DOC [GEN_A GEN_B | --run RUN]`.
pub(crate) async fn diff(
    config: &Config,
    document: DocumentId,
    of: DiffOf,
    json: bool,
) -> Result<(), CliError> {
    let retry = format!("iu-cutter diff {document}");
    let store = ReadOnlyStore::open(config, "diff", &retry).await?;
    let runner = Runner::new(
        store.into_adapter(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    let diff = match &of {
        DiffOf::Latest => runner.diff(&document, None).await,
        DiffOf::Pair(a, b) => runner.diff(&document, Some((a.clone(), b.clone()))).await,
        DiffOf::Run(run) => runner.diff_run(&document, run).await.map(|d| d.diff),
    };
    let diff = diff.map_err(|error| match error {
        DiffError::Adapter(e) => CliError::from_adapter(e, "reading the generations", &retry),
        DiffError::Generations(why) => CliError::bad_input(
            why,
            match &of {
                DiffOf::Run(run) => format!(
                    "see what run {run} covers with `iu-cutter status {run}`; compare \
                         generations the document has with: iu-cutter diff {document} GEN_A GEN_B"
                ),
                _ => format!(
                    "list the document's generations with `iu-cutter units {document}` and \
                         `iu-cutter status`, then: iu-cutter diff {document} GEN_A GEN_B"
                ),
            },
        ),
    })?;
    if json {
        print_json(&diff);
        return Ok(());
    }
    out!(
        "document {}: generation {} -> {}: {} added, {} removed, {} changed, {} unchanged",
        diff.document,
        diff.generation_a.as_ref().map_or("none", RunId::as_str),
        diff.generation_b,
        diff.added,
        diff.removed,
        diff.changed,
        diff.unchanged
    );
    let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), |b| b.to_string());
    table(
        &["change", "unit id", "path", "bytes"],
        diff.units.iter().map(|u| {
            vec![
                change_name(u.change).to_owned(),
                u.unit_id.clone(),
                u.path.clone(),
                format!("{} -> {}", bytes(u.bytes_a), bytes(u.bytes_b)),
            ]
        }),
    );
    Ok(())
}

/// An age as the operator wrote it (`30d`) and what it means: the report and the hints show it
/// as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Age {
    pub(crate) text: String,
    pub(crate) duration: Duration,
}

impl Age {
    /// Parses `--older-than` (`30d`, `12h`, `1w`).
    pub(crate) fn parse(text: &str) -> Result<Age, String> {
        Ok(Age {
            text: text.trim().to_owned(),
            duration: clock::parse_age(text)?,
        })
    }
}

/// What `purge` was asked.
#[derive(Clone, Debug)]
pub(crate) struct PurgeArgs {
    /// `--older-than`.
    pub(crate) older_than: Age,
    /// `--execute`.
    pub(crate) execute: bool,
    /// `--verbose`: one line per retired generation.
    pub(crate) verbose: bool,
    /// `--json`.
    pub(crate) json: bool,
}

/// What would make a kept generation purgeable, or `-` for one that purge selects.
fn purgeable_when(entry: &PurgeEntry, age: &str, older_than: Duration) -> String {
    match &entry.decision {
        PurgeDecision::Purge => "-".to_owned(),
        PurgeDecision::KeptRecent => {
            let at = entry
                .retired_at
                .as_deref()
                .and_then(clock::parse_rfc3339)
                .and_then(|retired| retired.checked_add(older_than))
                .map(clock::rfc3339);
            match at {
                Some(at) => format!("purgeable from {at} ({age} after its retirement)"),
                None => format!("purgeable {age} after its retirement"),
            }
        }
        PurgeDecision::KeptUndated => "not purgeable by age: the journal holds no time of its \
                                       retirement"
            .to_owned(),
        PurgeDecision::KeptForRollback { run } => format!(
            "purgeable once run {run} is rolled back, or once {run} is older than {age} and a \
             later run has re-cut the document"
        ),
    }
}

fn decision_name(entry: &PurgeEntry, purged: bool) -> String {
    match &entry.decision {
        PurgeDecision::Purge if entry.removed => "purged".to_owned(),
        // Selected, and gone when this purge removed the others: another purge's doing.
        PurgeDecision::Purge if purged => "selected, already gone (another purge)".to_owned(),
        PurgeDecision::Purge => "selected (not purged)".to_owned(),
        PurgeDecision::KeptRecent => "kept: retired too recently".to_owned(),
        PurgeDecision::KeptUndated => "kept: retirement time not journaled".to_owned(),
        PurgeDecision::KeptForRollback { run } => format!("kept: rollback of run {run} needs it"),
    }
}

/// `iu-cutter purge --older-than AGE`: a summary, and with `--verbose` one line per retired
/// generation saying what would make a kept one purgeable.
pub(crate) async fn purge(config: &Config, args: PurgeArgs) -> Result<(), CliError> {
    let age = args.older_than.text.as_str();
    let retry = format!("iu-cutter purge --older-than {age} --execute");
    let store = LiveStore::open(config, args.execute, &retry).await?;
    let runner = Runner::new(
        store.into_adapter(),
        Arc::new(DirBackupStore::new(config.backup_dir.clone())),
    );
    let mut report = runner.purge(args.older_than.duration).await;
    report.older_than = age.to_owned();
    if args.json {
        print_json(&report);
        return result_of(&report.outcome);
    }
    out!(
        "purge of retired generations older than {age} on {} (now {})",
        config.location(),
        report.now
    );
    let purged = report.outcome.is_success();
    let counts = DecisionCounts::of(&report);
    print_purge_summary(&report, &counts, age, purged);
    if args.verbose && !report.generations.is_empty() {
        print_generation_table(&report, &args, purged);
    } else if counts.kept() > 0 {
        print_kept_hints(&report, &counts, &args);
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

/// How many retired generations purge selected, and how many it kept for each reason.
struct DecisionCounts {
    selected: usize,
    recent: usize,
    undated: usize,
    for_rollback: usize,
}

impl DecisionCounts {
    fn of(report: &PurgeReport) -> Self {
        let count = |wanted: fn(&PurgeDecision) -> bool| {
            report
                .generations
                .iter()
                .filter(|e| wanted(&e.decision))
                .count()
        };
        Self {
            selected: count(|d| *d == PurgeDecision::Purge),
            recent: count(|d| *d == PurgeDecision::KeptRecent),
            undated: count(|d| *d == PurgeDecision::KeptUndated),
            for_rollback: count(|d| matches!(d, PurgeDecision::KeptForRollback { .. })),
        }
    }

    /// The generations kept, whatever the reason.
    fn kept(&self) -> usize {
        self.recent + self.undated + self.for_rollback
    }
}

/// The line that counts the retired generations: selected (or purged), and kept by reason.
fn print_purge_summary(report: &PurgeReport, counts: &DecisionCounts, age: &str, purged: bool) {
    if report.generations.is_empty() {
        out!("no retired generation in the store");
    } else {
        out!(
            "retired generations: {}; {} {}, {} kept ({} retired less than {age} ago, {} needed \
             by a rollback, {} with no journaled retirement)",
            report.generations.len(),
            counts.selected,
            // A selected generation another purge removed meanwhile is gone but was not
            // removed by this one (a note says so): "purged" would overstate this purge.
            if !purged {
                "selected"
            } else if report.purged == counts.selected as u64 {
                "purged"
            } else {
                "selected and gone"
            },
            counts.kept(),
            counts.recent,
            counts.for_rollback,
            counts.undated
        );
    }
}

/// `--verbose`: every retired generation, its decision, and what would make it purgeable.
fn print_generation_table(report: &PurgeReport, args: &PurgeArgs, purged: bool) {
    table(
        &[
            "document",
            "generation",
            "retired at",
            "decision",
            "what would make it purgeable",
        ],
        report.generations.iter().map(|e| {
            vec![
                e.document.to_string(),
                e.generation.to_string(),
                e.retired_at.clone().unwrap_or_else(|| "-".to_owned()),
                decision_name(e, purged),
                purgeable_when(e, &args.older_than.text, args.older_than.duration),
            ]
        }),
    );
}

/// Without `--verbose`, when generations were kept: when the next one becomes old enough, how a
/// generation a rollback needs becomes purgeable, and how to see each one.
fn print_kept_hints(report: &PurgeReport, counts: &DecisionCounts, args: &PurgeArgs) {
    let age = args.older_than.text.as_str();
    if let Some(next) = report
        .generations
        .iter()
        .filter(|e| e.decision == PurgeDecision::KeptRecent)
        .filter_map(|e| e.retired_at.as_deref().and_then(clock::parse_rfc3339))
        .min()
        .and_then(|retired| retired.checked_add(args.older_than.duration))
    {
        out!(
            "the next retired generation becomes old enough at {}",
            clock::rfc3339(next)
        );
    }
    if counts.for_rollback > 0 {
        out!(
            "a generation a rollback needs becomes purgeable once its run is rolled back, or \
             is older than {age} and its documents are re-cut by a later run"
        );
    }
    out!(
        "each generation, and what would make it purgeable: iu-cutter purge --older-than \
         {age} --verbose"
    );
}

#[cfg(test)]
mod tests {
    use iu_cutter_live_execution::{DocumentId, RunId};
    use iu_cutter_orchestrator::{PurgeDecision, PurgeEntry};

    use super::decision_name;

    /// Of two purges at once, the one whose selection the other removed first labelled it
    /// "purged" in its `--verbose` table: the store now says which generations each removed.
    #[test]
    fn a_selected_generation_is_purged_only_if_this_purge_removed_it() {
        let entry = |removed| PurgeEntry {
            document: DocumentId::new("law/1"),
            generation: RunId::new("r1"),
            retired_at: None,
            decision: PurgeDecision::Purge,
            removed,
        };
        assert_eq!(decision_name(&entry(true), true), "purged");
        assert_eq!(
            decision_name(&entry(false), true),
            "selected, already gone (another purge)"
        );
        assert_eq!(decision_name(&entry(false), false), "selected (not purged)");
    }
}
