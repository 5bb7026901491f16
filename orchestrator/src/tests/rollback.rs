//! Rollback, over the mock (the simulator end-to-end test restores for real).

use std::sync::Arc;

use iu_cutter_live_execution::{
    Backup, Census, CutRules, Document, DocumentId, DocumentSnapshot, DocumentState, ExecutionGate,
    Guarded, LiveExecutionAdapter, ManualSwitch, PhaseStatus, Preset, RunId, RunRecord, RunStatus,
    SCHEMA_VERSION, Scope, sha256_hex,
};
use iu_cutter_phase_core::{BackupStore, MemoryBackupStore, names};

use super::*;
use crate::{Outcome, PhaseEntryStatus, ROLLBACK_PHASE, RunReport, Runner};

fn census(fingerprint: &str, digest: &str) -> Census {
    Census {
        documents: 1,
        units: 0,
        fingerprint: fingerprint.into(),
        per_document: [(DocumentId::new("law/1"), digest.to_owned())].into(),
    }
}

fn backup(run: &str) -> Backup {
    let body = "# Title\n\nText.\n";
    Backup {
        schema_version: SCHEMA_VERSION,
        run: RunId::new(run),
        census: census("pre-run", "digest-1"),
        documents: vec![DocumentSnapshot {
            document: Document {
                id: DocumentId::new("law/1"),
                revision: 1,
                sha256: sha256_hex(body.as_bytes()),
                state: DocumentState::Ready,
                active_generation: None,
                body: body.into(),
            },
            generations: vec![],
            active_units: vec![],
        }],
    }
}

/// The store shows `law/1` in the state `state` with the generations `generations`.
fn expect_document(
    mock: &mut iu_cutter_live_execution::MockLiveExecutionAdapter,
    state: DocumentState,
    active: Option<&str>,
    generations: &[&str],
) {
    let body = "# Title\n\nText.\n";
    let document = Document {
        id: DocumentId::new("law/1"),
        revision: 1,
        sha256: sha256_hex(body.as_bytes()),
        state,
        active_generation: active.map(RunId::new),
        body: body.into(),
    };
    mock.expect_load_scope()
        .returning(move |_| Ok(vec![document.clone()]));
    let records: Vec<iu_cutter_live_execution::GenerationRecord> = generations
        .iter()
        .map(|g| iu_cutter_live_execution::GenerationRecord {
            document: DocumentId::new("law/1"),
            generation: RunId::new(*g),
            state: iu_cutter_live_execution::GenerationState::Retired,
        })
        .collect();
    mock.expect_generations()
        .returning(move |_| Ok(records.clone()));
}

/// Journals run `run` with `status` and the given phases done.
fn seed(journal: &Journal, run: &str, status: RunStatus, done: &[&str]) {
    let mut record = RunRecord::new(
        RunId::new(run),
        Scope::All,
        CutRules::preset(Preset::Markdown),
    );
    record.status = status;
    record.phases = done
        .iter()
        .map(|name| {
            crate::runner::phase_record(name, PhaseStatus::Done, evidence_of(name), None, T0)
        })
        .collect();
    lock(journal).insert(RunId::new(run), record);
}

fn runner(
    adapter: impl LiveExecutionAdapter + 'static,
    backups: &Arc<MemoryBackupStore>,
    log: &Log,
) -> Runner {
    Runner::with_phases(
        Arc::new(adapter),
        backups.clone(),
        recording(&names::ALL, log),
    )
}

fn journal_writes(log: &Log) -> Vec<String> {
    log.lines()
        .into_iter()
        .filter(|l| l.starts_with("journal ") || l == "restore")
        .collect()
}

fn status_of(journal: &Journal, run: &str) -> Option<RunStatus> {
    lock(journal).get(&RunId::new(run)).map(|r| r.status)
}

fn failed_error(report: &RunReport) -> Result<&str, String> {
    match &report.outcome {
        Outcome::Failed { error, .. } => Ok(error),
        other => Err(format!("expected FAILED, got {other:?}")),
    }
}

#[tokio::test]
async fn rollback_restores_verifies_and_is_not_repeated() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    let receipt = backups.save(&backup("r1")).await?;
    let mut mock = journaling_mock_with_census(&journal, &log, census("pre-run", "digest-1"));
    let l = log.clone();
    expect_document(
        &mut mock,
        DocumentState::Cutting {
            run: RunId::new("r1"),
        },
        None,
        &["r1"],
    );
    mock.expect_restore()
        .withf(|run, backup| run.as_str() == "r1" && backup.documents.len() == 1)
        .times(1)
        .returning(move |_, _| {
            l.push("restore");
            Ok(())
        });
    let runner = runner(mock, &backups, &log);

    let report = runner.rollback(&RunId::new("r1")).await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.outcome.name(), "ROLLED_BACK");
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup);
    assert!(check.fingerprint_matches_pre_run);
    assert_eq!(check.restored_documents, 1);
    assert_eq!(check.backup_sha256, receipt.sha256);
    assert!(check.mismatches.is_empty());
    assert_eq!(
        journal_writes(&log),
        [
            "journal rollback Running",
            "restore",
            "journal rollback Done",
            "journal status RolledBack"
        ]
    );
    assert_eq!(status_of(&journal, "r1"), Some(RunStatus::RolledBack));
    assert_eq!(report.phases.len(), 1);
    assert_eq!(report.phases[0].name, ROLLBACK_PHASE);
    assert_eq!(report.phases[0].status, PhaseEntryStatus::Done);

    // Again: nothing is restored twice (restore is `times(1)`), and the run does not resume.
    let again = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(again.outcome, Outcome::RolledBack);
    assert!(
        again
            .notes
            .iter()
            .any(|n| n.contains("already rolled back"))
    );
    let resumed = runner
        .resume(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert_eq!(resumed.outcome, Outcome::RolledBack);
    assert!(log.ran().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_changed_store_outside_the_run_is_recorded_but_not_a_failure() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    let mut mock = journaling_mock_with_census(&journal, &log, census("other", "digest-1"));
    expect_document(
        &mut mock,
        DocumentState::Cutting {
            run: RunId::new("r1"),
        },
        None,
        &["r1"],
    );
    mock.expect_restore().times(1).returning(|_, _| Ok(()));

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup);
    assert!(!check.fingerprint_matches_pre_run);
    assert!(report.notes.iter().any(|n| n.contains("outside the run")));
    Ok(())
}

#[tokio::test]
async fn a_restore_that_does_not_match_the_backup_is_blocked() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    let mut mock = journaling_mock_with_census(&journal, &log, census("post", "digest-2"));
    expect_document(
        &mut mock,
        DocumentState::Cutting {
            run: RunId::new("r1"),
        },
        None,
        &["r1"],
    );
    mock.expect_restore().times(1).returning(|_, _| Ok(()));
    let runner = runner(mock, &backups, &log);

    let report = runner.rollback(&RunId::new("r1")).await?;

    let Outcome::Blocked { gap } = &report.outcome else {
        return Err(format!("expected BLOCKED, got {:?}", report.outcome).into());
    };
    assert_eq!(gap.phase, ROLLBACK_PHASE);
    assert_eq!(gap.document, Some(DocumentId::new("law/1")));
    assert!(gap.expected.contains("digest-1"), "{}", gap.expected);
    assert!(gap.found.contains("digest-2"), "{}", gap.found);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(!check.census_matches_backup);
    assert_eq!(check.mismatches.len(), 1);
    assert_eq!(status_of(&journal, "r1"), Some(RunStatus::Blocked));

    // A half-rolled-back run cannot be resumed into a cut.
    let resumed = runner
        .resume(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert!(failed_error(&resumed)?.contains("rolled back"));
    assert!(log.ran().is_empty());
    Ok(())
}

#[tokio::test]
async fn a_tampered_backup_is_refused_before_anything_changes() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    backups.tamper(&RunId::new("r1"), b"{}\n".to_vec());
    let mut mock = journaling_mock(&journal, &log);
    mock.expect_restore().times(0);

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    assert!(failed_error(&report)?.contains("does not match its manifest"));
    assert!(journal_writes(&log).is_empty());
    assert_eq!(status_of(&journal, "r1"), Some(RunStatus::Pass));
    Ok(())
}

#[tokio::test]
async fn a_run_that_crashed_during_backup_rolls_back_with_nothing_to_restore() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Running, &[]);
    lock(&journal)
        .get_mut(&RunId::new("r1"))
        .ok_or("seeded")?
        .phases
        .push(crate::runner::phase_record(
            names::BACKUP,
            PhaseStatus::Running,
            Evidence::new(),
            None,
            T0,
        ));
    let backups = Arc::new(MemoryBackupStore::new());
    let mut mock = journaling_mock(&journal, &log);
    mock.expect_restore().times(0);

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.rollback, None);
    assert_eq!(
        report.phases[0].evidence.get("restored_documents"),
        Some(&"0".to_owned())
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("nothing to restore"))
    );
    assert_eq!(status_of(&journal, "r1"), Some(RunStatus::RolledBack));
    Ok(())
}

#[tokio::test]
async fn a_run_without_backup_whose_later_phases_ran_is_not_marked_rolled_back() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(
        &journal,
        "r1",
        RunStatus::Failed,
        &[names::BACKUP, names::CUT_LEG_A],
    );
    let backups = Arc::new(MemoryBackupStore::new());
    let mut mock = journaling_mock(&journal, &log);
    mock.expect_restore().times(0);

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    let error = failed_error(&report)?;
    assert!(
        error.contains("no backup") && error.contains(names::CUT_LEG_A),
        "{error}"
    );
    assert!(journal_writes(&log).is_empty());
    assert_eq!(status_of(&journal, "r1"), Some(RunStatus::Failed));
    Ok(())
}

#[tokio::test]
async fn rollback_with_the_gate_closed_is_refused() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    let mut mock = journaling_mock(&journal, &log);
    mock.expect_restore().times(0);
    let guarded = Guarded::new(
        mock,
        ExecutionGate::new().with_source(ManualSwitch::new("test", false, "open the test switch")),
    );

    let report = runner(guarded, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    assert!(matches!(
        &report.outcome,
        Outcome::Refused { switch, resume_from: None, .. } if switch == "test"
    ));
    assert!(journal_writes(&log).is_empty());
    Ok(())
}

#[tokio::test]
async fn rolling_back_an_unknown_run_is_an_error() -> TestResult {
    let log = Log::default();
    let backups = Arc::new(MemoryBackupStore::new());
    let runner = runner(journaling_mock(&Journal::default(), &log), &backups, &log);
    assert!(matches!(
        runner.rollback(&RunId::new("ghost")).await,
        Err(crate::RunnerError::UnknownRun(_))
    ));
    Ok(())
}

#[tokio::test]
async fn documents_the_run_never_touched_are_left_alone() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Blocked, &[names::BACKUP]);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    // Edited since the backup by someone else, never fenced by r1.
    let mut mock = journaling_mock_with_census(&journal, &log, census("edited", "digest-9"));
    expect_document(&mut mock, DocumentState::Ready, None, &[]);
    mock.expect_restore()
        .withf(|_, backup| backup.documents.is_empty())
        .times(1)
        .returning(|_, _| Ok(()));

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    assert!(report.notes.iter().any(|n| n.contains("left as they are")));
    Ok(())
}

#[tokio::test]
async fn a_document_re_cut_by_a_later_run_blocks_the_rollback() -> TestResult {
    let log = Log::default();
    let journal = Journal::default();
    seed(&journal, "r1", RunStatus::Pass, &names::ALL);
    let backups = Arc::new(MemoryBackupStore::new());
    backups.save(&backup("r1")).await?;
    let mut mock = journaling_mock_with_census(&journal, &log, census("later", "digest-3"));
    expect_document(&mut mock, DocumentState::Cut, Some("r2"), &["r1", "r2"]);
    mock.expect_restore().times(0);

    let report = runner(mock, &backups, &log)
        .rollback(&RunId::new("r1"))
        .await?;

    let Outcome::Blocked { gap } = &report.outcome else {
        return Err(format!("expected BLOCKED, got {:?}", report.outcome).into());
    };
    assert_eq!(gap.document, Some(DocumentId::new("law/1")));
    assert!(
        gap.next_action.contains("rollback r2"),
        "{}",
        gap.next_action
    );
    Ok(())
}
