//! Rollback, over the mock (the simulator end-to-end test restores for real).

use iu_cutter_live_execution::{
    AdapterError, Backup, Census, CutRules, Document, DocumentId, DocumentSnapshot, DocumentState,
    GenerationRecord, Kept, LeaseClaim, LiveExecutionAdapter, ManualSwitch, Op, PhaseStatus,
    Preset, Restoration, RunId, RunRecord, RunStatus, SCHEMA_VERSION, Scope, Sha256Digest,
    expect_op, sha256_hex,
};

use std::sync::atomic::AtomicUsize;

use iu_cutter_phase_core::{BackupStore, DirBackupStore, DocumentBatches, encode_backup, names};

use super::*;
use crate::{Outcome, PhaseEntryStatus, ROLLBACK_PHASE, RunReport, Runner};

fn census(fingerprint: &str, digest: Sha256Digest) -> Census {
    Census {
        documents: 1,
        units: 0,
        fingerprint: fingerprint.into(),
        per_document: [(DocumentId::new("law/1"), digest)].into(),
    }
}

/// A digest that no document has: the sha256 of `name`.
fn other(name: &str) -> Sha256Digest {
    Sha256Digest::of(name.as_bytes())
}

/// The digest `law/1` has once the rollback gave back its backed-up rows.
fn restored() -> Sha256Digest {
    let backup = backup("r1");
    iu_cutter_live_execution::document_digest(&backup.documents[0].document, &[], &[])
}

fn backup(run: &str) -> Backup {
    let body = "# Title\n\nText.\n";
    Backup {
        schema_version: SCHEMA_VERSION,
        run: RunId::new(run),
        census: census("pre-run", other("digest-in-the-backup-census")),
        mark: None,
        entries: None,
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

/// Journals run `run` with `status` and the given phases done; a done backup phase journals
/// `backup_sha256` when given.
fn seed(
    journal: &MockJournal,
    run: &str,
    status: RunStatus,
    done: &[&str],
    backup_sha256: Option<&str>,
) {
    let mut record = RunRecord::new(
        RunId::new(run),
        Scope::All,
        CutRules::preset(Preset::Markdown),
    );
    record.status = status;
    record.phases = done
        .iter()
        .map(|name| {
            let mut evidence = evidence_of(name);
            if *name == names::BACKUP
                && let Some(sha) = backup_sha256
            {
                evidence.insert("backup_sha256".into(), sha.into());
            }
            journaled(name, PhaseStatus::Done, evidence, T0)
        })
        .collect();
    lock(journal).insert(RunId::new(run), record);
}

/// What the store's rollback of `law/1` did.
fn undone() -> Restoration {
    Restoration {
        undone: vec![DocumentId::new("law/1")],
        ..Restoration::default()
    }
}

/// A rollback test's world: the run rolled back is always `r1`.
impl World {
    /// Exports `backup` and journals run `r1` with `status`, the phases `done`, and the backup's
    /// sha256, which it returns.
    async fn backed_up(
        &self,
        backup: &Backup,
        status: RunStatus,
        done: &[&str],
    ) -> Result<String, String> {
        let receipt = self.backups.save(backup).await.map_err(|e| e.to_string())?;
        seed(&self.journal, "r1", status, done, Some(&receipt.sha256));
        Ok(receipt.sha256)
    }

    /// A run `r1` that passed, with its backup exported and its sha256 journaled.
    async fn passed_run(&self) -> Result<String, String> {
        self.backed_up(&backup("r1"), RunStatus::Pass, &names::ALL)
            .await
    }

    /// A journaling mock that must not be asked to restore anything.
    fn never_restoring(&self) -> MockLiveExecutionAdapter {
        let mut mock = journaling_mock(&self.journal, &self.log);
        expect_op!(mock, Restore).never();
        mock
    }

    /// A journaling mock for a rollback that gets as far as restoring: its census answers
    /// `census`, `load_heads` answers `heads`, and there are no generations. The test says what
    /// `restore` answers.
    fn restoring(&self, census: Census, heads: Vec<DocumentHead>) -> MockLiveExecutionAdapter {
        let mut mock = journaling_mock_with_heads(&self.journal, &self.log, census, heads);
        answer!(mock, Op::Generations(_) => Ok(Vec::<GenerationRecord>::new()));
        mock
    }

    /// [`World::restoring`] whose `law/1` is as backed up (what an undone, unedited document
    /// shows again).
    fn restored_mock(&self, census: Census) -> MockLiveExecutionAdapter {
        self.restoring(census, vec![backup("r1").documents[0].document.head()])
    }

    /// A runner of the standard fakes over `adapter`.
    fn standard_runner(&self, adapter: impl LiveExecutionAdapter + 'static) -> Runner {
        self.runner_over(adapter, standard_fakes(&self.log))
    }

    /// Rolls `r1` back once over `adapter`.
    async fn rollback(
        &self,
        adapter: impl LiveExecutionAdapter + 'static,
    ) -> Result<RunReport, crate::RunnerError> {
        self.standard_runner(adapter)
            .rollback(&RunId::new("r1"))
            .await
    }

    /// The journal writes and restores the log holds.
    fn journal_writes(&self) -> Vec<String> {
        self.log
            .lines()
            .into_iter()
            .filter(|l| l.starts_with("journal ") || l == "restore")
            .collect()
    }

    /// Resumes `r1` over `runner` and asserts that no phase ran (a run rolled back, or half
    /// rolled back, is never resumed into a cut); returns the report.
    async fn resume_runs_nothing(&self, runner: &Runner) -> Result<RunReport, crate::RunnerError> {
        let resumed = resume(runner).await?;
        assert!(self.log.ran().is_empty(), "{:?}", self.log.ran());
        Ok(resumed)
    }

    /// Asserts that nothing was journaled or restored and `r1` is still `status`.
    fn assert_untouched(&self, status: RunStatus) {
        assert!(self.journal_writes().is_empty(), "{:?}", self.log.lines());
        assert_eq!(self.status(), Some(status));
    }

    /// Rolls back the passed `r1` over a mock that must not restore, expecting a refusal that
    /// changed nothing; returns the refusal's reason and next action.
    async fn refused_untouched(&self) -> Result<(String, String), Box<dyn std::error::Error>> {
        let report = self.rollback(self.never_restoring()).await?;
        let refusal = refused(&report)?;
        self.assert_untouched(RunStatus::Pass);
        Ok((refusal.reason.to_owned(), refusal.how_to_open.to_owned()))
    }
}

#[tokio::test]
async fn rollback_restores_verifies_and_is_not_repeated() -> TestResult {
    let world = World::default();
    let sha = world.passed_run().await?;
    let mut mock = world.restored_mock(census("pre-run", restored()));
    let l = world.log.clone();
    expect_op!(
        mock,
        Restore,
        Op::Restore { run, backup } if run.as_str() == "r1" && backup.documents.len() == 1
    )
    .times(1)
    .returning(move |_, _| {
        l.push("restore");
        Ok(undone().into())
    });
    let runner = world.standard_runner(mock);

    let report = runner.rollback(&RunId::new("r1")).await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.outcome.name(), "ROLLED_BACK");
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup);
    assert!(check.fingerprint_matches_pre_run);
    assert_eq!(check.restored_documents, 1);
    assert_eq!(check.backup_sha256, sha);
    assert!(check.mismatches.is_empty());
    assert_eq!(
        world.journal_writes(),
        [
            "journal rollback Running",
            "restore",
            "journal rollback Done",
            "journal status RolledBack"
        ]
    );
    assert_eq!(world.status(), Some(RunStatus::RolledBack));
    assert_eq!(report.phases.len(), 1);
    assert_eq!(report.phases[0].name, ROLLBACK_PHASE);
    assert_eq!(report.phases[0].status, PhaseEntryStatus::Done);

    // Again: nothing is restored twice (restore is `times(1)`), and the run does not resume.
    let again = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(again.outcome, Outcome::RolledBack);
    assert!(noted(&again, "already rolled back"));
    let resumed = world.resume_runs_nothing(&runner).await?;
    assert_eq!(resumed.outcome, Outcome::RolledBack);
    Ok(())
}

#[tokio::test]
async fn a_changed_store_outside_the_run_is_recorded_but_not_a_failure() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let mut mock = world.restored_mock(census("other", restored()));
    answer!(mock, Op::Restore { .. } => Ok(undone())).times(1);

    let report = world.rollback(mock).await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.census_matches_backup);
    assert!(!check.fingerprint_matches_pre_run);
    assert!(noted(&report, "outside the run"));
    Ok(())
}

#[tokio::test]
async fn a_restore_that_does_not_match_the_backup_is_blocked() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let mut mock = world.restored_mock(census("post", other("digest-2")));
    answer!(mock, Op::Restore { .. } => Ok(undone())).times(1);
    let runner = world.standard_runner(mock);

    let report = runner.rollback(&RunId::new("r1")).await?;

    let gap = blocked(&report)?;
    assert_eq!(gap.phase, ROLLBACK_PHASE);
    assert_eq!(gap.document, Some(DocumentId::new("law/1")));
    assert!(gap.expected.contains(&restored().hex()), "{}", gap.expected);
    assert!(
        gap.found.contains(&other("digest-2").hex()),
        "{}",
        gap.found
    );
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert!(!check.census_matches_backup);
    assert_eq!(check.mismatches.len(), 1);
    assert_eq!(world.status(), Some(RunStatus::Blocked));

    // A half-rolled-back run cannot be resumed into a cut.
    let resumed = world.resume_runs_nothing(&runner).await?;
    assert!(failed(&resumed)?.error.contains("rolled back"));
    Ok(())
}

#[tokio::test]
async fn a_tampered_backup_is_refused_before_anything_changes() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    world.backups.tamper(&RunId::new("r1"), b"{}\n".to_vec());

    let (reason, next) = world.refused_untouched().await?;

    assert!(reason.contains("does not match its manifest"), "{reason}");
    assert!(reason.contains("nothing was changed"), "{reason}");
    assert!(next.contains("intact copy"), "{next}");
    Ok(())
}

/// Defect 4 of the no-clobber issue: a backup replaced whole, manifest recomputed to match, is
/// still not the backup the run journaled, and is never restored from.
#[tokio::test]
async fn a_backup_replaced_with_a_matching_manifest_is_refused() -> TestResult {
    let world = World::default();
    let journaled = world.passed_run().await?;
    let mut truncated = backup("r1");
    truncated.documents.clear();
    let replaced = world.backups.save(&truncated).await?;
    assert_ne!(replaced.sha256, journaled);

    let (reason, _) = world.refused_untouched().await?;

    assert!(reason.contains("not the one journaled"), "{reason}");
    assert!(reason.contains(&journaled), "{reason}");
    Ok(())
}

/// A backup whose body no longer hashes to its recorded sha256 is refused, even when the
/// artifact's own hash is the journaled one (it was corrupt when taken).
#[tokio::test]
async fn a_backup_with_a_corrupt_body_is_refused() -> TestResult {
    let world = World::default();
    let mut corrupt = backup("r1");
    corrupt.documents[0].document.body.push_str("tampered");
    world
        .backed_up(&corrupt, RunStatus::Pass, &names::ALL)
        .await?;

    let (reason, _) = world.refused_untouched().await?;

    assert!(reason.contains("corrupt"), "{reason}");
    Ok(())
}

#[tokio::test]
async fn a_run_that_crashed_during_backup_rolls_back_with_nothing_to_restore() -> TestResult {
    let world = World::default();
    seed(&world.journal, "r1", RunStatus::Running, &[], None);
    lock(&world.journal)
        .get_mut(&RunId::new("r1"))
        .ok_or("seeded")?
        .phases
        .push(journaled(
            names::BACKUP,
            PhaseStatus::Running,
            Evidence::new(),
            T0,
        ));

    let mut mock = world.never_restoring();
    // The parts its backup journaled before the crash are dropped: no resume will replace them.
    expect_op!(mock, DiscardBackupParts)
        .times(1)
        .returning(|_, _| Ok(2u64.into()));
    let report = world.rollback(mock).await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    assert_eq!(report.rollback, None);
    assert_eq!(
        report.phases[0].evidence.get("restored_documents"),
        Some(&EvidenceValue::Count(0))
    );
    assert_eq!(
        report.phases[0].evidence.get("dropped_backup_parts"),
        Some(&EvidenceValue::Count(2))
    );
    assert!(noted(&report, "nothing to restore"));
    assert!(noted(&report, "dropped the 2 journal part(s)"));
    assert_eq!(world.status(), Some(RunStatus::RolledBack));
    Ok(())
}

#[tokio::test]
async fn a_run_without_backup_whose_later_phases_ran_is_not_marked_rolled_back() -> TestResult {
    let world = World::default();
    seed(
        &world.journal,
        "r1",
        RunStatus::Failed,
        &[names::BACKUP, names::CUT_LEG_A],
        None,
    );

    let report = world.rollback(world.never_restoring()).await?;

    let error = failed(&report)?.error;
    assert!(
        error.contains("no journaled backup") && error.contains(names::CUT_LEG_A),
        "{error}"
    );
    world.assert_untouched(RunStatus::Failed);
    Ok(())
}

#[tokio::test]
async fn rollback_with_the_gate_closed_is_refused() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let closed = ManualSwitch::new("test", false, "open the test switch");

    let report = world
        .rollback(behind(world.never_restoring(), &closed))
        .await?;

    let refusal = refused(&report)?;
    assert_eq!(refusal.switch, "test");
    assert_eq!(refusal.resume_from, None);
    assert!(
        refusal
            .reason
            .contains("nothing was changed by this invocation"),
        "{}",
        refusal.reason
    );
    world.assert_untouched(RunStatus::Pass);
    Ok(())
}

#[tokio::test]
async fn rolling_back_an_unknown_run_is_an_error() -> TestResult {
    let world = World::default();
    let runner = world.standard_runner(journaling_mock(&world.journal, &world.log));
    assert!(matches!(
        runner.rollback(&RunId::new("ghost")).await,
        Err(crate::RunnerError::UnknownRun(_))
    ));
    Ok(())
}

#[tokio::test]
async fn documents_the_run_never_touched_are_not_compared() -> TestResult {
    let world = World::default();
    world
        .backed_up(&backup("r1"), RunStatus::Blocked, &[names::BACKUP])
        .await?;
    // Edited since the backup by someone else, never fenced by r1: its digest differs, and that
    // is none of the rollback's business.
    let mut edited = backup("r1").documents[0].document.head();
    edited.revision = 2;
    edited.sha256 = sha256_hex(b"edited");
    let mut mock = world.restoring(census("edited", other("digest-9")), vec![edited]);
    answer!(mock, Op::Restore { .. } => Ok(Restoration {
        untouched: 1,
        ..Restoration::default()
    }))
    .times(1);

    let report = world.rollback(mock).await?;

    assert_eq!(report.outcome, Outcome::RolledBack);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert_eq!(check.untouched_documents, 1);
    assert_eq!(check.restored_documents, 0);
    Ok(())
}

/// A store restoring `world`'s run over `law/1`, which someone edited since the backup: no
/// fence, no generation of r1, the pre-run pointer, as the rollback must leave it.
fn law_1_edited_since_the_backup(world: &World) -> MockLiveExecutionAdapter {
    let body = "# Title\n\nText. Edited.\n";
    let edited = Document {
        id: DocumentId::new("law/1"),
        revision: 2,
        sha256: sha256_hex(body.as_bytes()),
        state: DocumentState::Ready,
        active_generation: None,
        body: body.into(),
    };
    world.restoring(census("edited", other("digest-9")), vec![edited.head()])
}

#[tokio::test]
async fn an_edit_kept_by_the_store_is_reported_and_checked_by_its_marks() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let mut mock = law_1_edited_since_the_backup(&world);
    answer!(mock, Op::Restore { .. } => Ok(Restoration {
        kept_edits: vec![Kept {
            document: DocumentId::new("law/1"),
            reason: "edited since the backup; the edit was kept".into(),
        }],
        ..undone()
    }))
    .times(1);

    let report = world.rollback(mock).await?;

    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.notes);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert_eq!(check.kept_edits.len(), 1);
    assert!(
        !check.census_matches_backup,
        "an edit kept is not as backed up"
    );
    assert!(noted(&report, "edit was kept"));
    assert!(report.to_markdown().contains("edit kept `law/1`"));
    Ok(())
}

/// A document of the scope that the application edited, which the run holds no mark on: left
/// as it is and said, and the evidence does not say that every document matches the backup
/// (`census_matches_backup` said `true` beside the note saying "not as backed up").
#[tokio::test]
async fn a_document_others_changed_is_not_said_to_match_the_backup() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let mut mock = law_1_edited_since_the_backup(&world);
    answer!(mock, Op::Restore { .. } => Ok(undone())).times(1);

    let report = world.rollback(mock).await?;

    assert_eq!(report.outcome, Outcome::RolledBack, "{:?}", report.notes);
    let check = report.rollback.as_ref().ok_or("no rollback check")?;
    assert_eq!(check.changed_by_others, 1);
    assert!(check.mismatches.is_empty());
    assert!(!check.census_matches_backup, "law/1 is not as backed up");
    assert!(
        noted(&report, "not as backed up: `law/1`"),
        "{:?}",
        report.notes
    );
    let evidence = &report.phases[0].evidence;
    assert_eq!(
        evidence.get("census_matches_backup"),
        Some(&false.into()),
        "{evidence:?}"
    );
    Ok(())
}

/// Defect 5 of the no-clobber issue: a later run holds a document; the store refuses the whole
/// rollback before any change, and the run stays as it was (resumable, not rolled back).
#[tokio::test]
async fn a_document_held_by_a_later_run_refuses_the_rollback() -> TestResult {
    let world = World::default();
    world.passed_run().await?;
    let mut mock = world.restoring(census("later", other("digest-3")), Vec::new());
    expect_op!(mock, Restore).times(1).returning(|_, _| {
        Err(AdapterError::HeldByLaterRun {
            document: DocumentId::new("law/1"),
            run: RunId::new("r2"),
            found: "fenced by run `r2`".into(),
        })
    });

    let report = world.rollback(mock).await?;

    let refusal = refused(&report)?;
    let (reason, next) = (refusal.reason, refusal.next);
    assert!(reason.contains("held by run r2"), "{reason}");
    assert!(reason.contains("nothing was changed"), "{reason}");
    assert_eq!(
        next,
        [
            NextAction::rollback(&RunId::new("r2")),
            NextAction::rollback(&RunId::new("r1"))
        ]
    );
    assert_eq!(world.status(), Some(RunStatus::Pass));
    let journaled = lock(&world.journal)
        .get(&RunId::new("r1"))
        .and_then(|r| r.phase(ROLLBACK_PHASE).map(|p| p.status));
    assert_eq!(journaled, Some(PhaseStatus::Failed));
    Ok(())
}

/// `r1`'s backup of two documents, `law/1` and `law/2`, both as [`backup`] has `law/1`.
/// A world whose run `r1` passed every phase over the two documents of
/// [`two_document_backup`], and that backup.
async fn two_documents_passed() -> Result<(World, Backup), Box<dyn std::error::Error>> {
    let world = World::default();
    let backup = two_document_backup();
    world
        .backed_up(&backup, RunStatus::Pass, &names::ALL)
        .await?;
    Ok((world, backup))
}

fn two_document_backup() -> Backup {
    let mut backup = backup("r1");
    let mut second = backup.documents[0].clone();
    second.document.id = DocumentId::new("law/2");
    backup.documents.push(second);
    backup
}

impl World {
    /// Asserts that `report` is a rollback of `r1` stopped after its first batch of one
    /// document, `BLOCKED` for `why`, and journaled so.
    fn rolled_back_in_part(&self, report: &RunReport, why: &str) -> TestResult {
        let gap = blocked(report)?;
        assert!(gap.found.contains(why), "{}", gap.found);
        let how_far = "1 document(s) of the batches before it were rolled back";
        assert!(gap.found.contains(how_far), "{}", gap.found);
        assert_eq!(self.status(), Some(RunStatus::Blocked));
        Ok(())
    }
}

/// Options that restore one document per batch.
fn one_per_batch() -> RunOptions {
    RunOptions::default().with_batch_documents(DocumentBatches::Of(1))
}

/// A later run holds a document of the last batch: the first pass over the backup finds it, and
/// the rollback is refused before its first batch is restored (the store is never asked to
/// restore anything), the run as it was.
#[tokio::test]
async fn a_later_run_holding_a_document_of_any_batch_refuses_before_the_first() -> TestResult {
    let (world, backup) = two_documents_passed().await?;
    // `law/2`: enacted by r1, then fenced by a later run r2.
    let mut taken = backup.documents[1].document.head();
    taken.active_generation = Some(RunId::new("r1"));
    taken.state = DocumentState::Cutting {
        run: RunId::new("r2"),
    };
    let heads = vec![backup.documents[0].document.head(), taken];
    let mut mock = world.restoring(census("pre-run", restored()), heads);
    expect_op!(mock, Restore).never();

    let report = world
        .standard_runner(mock)
        .rollback_with(&RunId::new("r1"), one_per_batch())
        .await?;

    let refusal = refused(&report)?;
    assert!(
        refusal
            .reason
            .contains("document `law/2` is held by run r2"),
        "{}",
        refusal.reason
    );
    assert!(
        refusal.reason.contains("nothing was changed"),
        "{}",
        refusal.reason
    );
    assert_eq!(world.status(), Some(RunStatus::Pass));
    Ok(())
}

/// The store, except that once it has answered `after` calls of `load_heads`, `hook` runs.
struct AfterHeads {
    inner: MockLiveExecutionAdapter,
    seen: AtomicUsize,
    after: usize,
    hook: Box<dyn Fn() + Send + Sync>,
}

#[async_trait]
impl LiveExecutionAdapter for AfterHeads {
    fn info(&self) -> AdapterInfo {
        self.inner.info()
    }

    async fn call<'a>(&self, op: Op<'a>, claim: Option<&'a LeaseClaim>) -> AdapterResult<Reply> {
        let heads = matches!(op, Op::LoadHeads(_));
        let reply = self.inner.call(op, claim).await;
        if heads && self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.after {
            (self.hook)();
        }
        reply
    }
}

/// The backup file is rewritten between the first pass, which checked it, and the second, which
/// restores from it (its manifest left as it was, so the change shows only at the artifact's
/// end): the rollback restores the first batch, which reads back as checked, and stops on the
/// first snapshot that does not, before using it, `BLOCKED`, saying how far it got.
#[tokio::test]
async fn a_backup_changed_after_its_check_is_not_restored_from() -> TestResult {
    let world = World::default();
    let dir = tempfile::tempdir()?;
    let files = DirBackupStore::new(dir.path());
    // Bodies of 1.2 MB: each document's line spans several of the file's parts, so the second
    // is read after the first was restored, and the artifact's end (where its sha256 is
    // checked) after that.
    let mut backup = two_document_backup();
    for snapshot in &mut backup.documents {
        let body = format!("# Title\n\n{}\n", "Text. ".repeat(200_000));
        snapshot.document.sha256 = sha256_hex(body.as_bytes());
        snapshot.document.body = body;
    }
    let receipt = files.save(&backup).await?;
    seed(
        &world.journal,
        "r1",
        RunStatus::Pass,
        &names::ALL,
        Some(&receipt.sha256),
    );
    let mut changed = backup.clone();
    changed.documents[1].document.revision = 7;
    let artifact = dir.path().join("r1.backup.jsonl");
    let heads = backup.documents.iter().map(|s| s.document.head()).collect();
    let mut inner = world.restoring(census("pre-run", restored()), heads);
    answer!(inner, Op::Restore { .. } => Ok(undone())).times(1);
    // The first pass reads the heads of its two batches.
    let store = AfterHeads {
        inner,
        seen: AtomicUsize::new(0),
        after: 2,
        hook: Box::new(move || {
            let written = std::fs::write(&artifact, encode_backup(&changed));
            assert!(written.is_ok(), "{written:?}");
        }),
    };
    let runner = Runner::with_phases(Arc::new(store), Arc::new(files), standard_fakes(&world.log));

    let report = runner
        .rollback_with(&RunId::new("r1"), one_per_batch())
        .await?;

    world.rolled_back_in_part(&report, "the backup changed since it was checked")
}

/// Cancelled (SIGINT, an embedder's flag) after the first batch was restored: the rollback stops
/// before the next one, `BLOCKED`, saying how far it got; the store is never asked for more.
#[tokio::test]
async fn a_rollback_cancelled_between_batches_stops_and_says_how_far_it_got() -> TestResult {
    let (world, backup) = two_documents_passed().await?;
    let heads = backup.documents.iter().map(|s| s.document.head()).collect();
    let mut mock = world.restoring(census("pre-run", restored()), heads);
    let cancel = CancelFlag::new();
    let flag = cancel.clone();
    expect_op!(mock, Restore).times(1).returning(move |_, _| {
        flag.cancel();
        Ok(undone().into())
    });

    let report = world
        .standard_runner(mock)
        .rollback_with(&RunId::new("r1"), one_per_batch().with_cancel(cancel))
        .await?;

    world.rolled_back_in_part(&report, "cancelled between two batches")
}

/// Adversarial (adv30): the kill switch turned off between the rollback's journaled start and
/// its first batch. No document was changed, but the journal shows the rollback begun (the
/// closed switch refuses marking it otherwise), so the run can only be rolled back now: the
/// refusal must say so, never "nothing was changed", and rolling back once the switch is open
/// finishes it.
#[tokio::test]
async fn a_switch_closed_before_the_first_rollback_batch_says_the_run_is_left_to_roll_back()
-> TestResult {
    let Harness { sim, switch, .. } = Harness::new([("law/1", LAW_1)], true);
    // The switch closes when the first `restore` reaches it, and the call goes on to the kill
    // switch's layer, which refuses it: turned off after the rollback journaled its start and
    // before its first batch.
    let closer = switch.clone();
    let close: Pending = Box::pin(async move { closer.set(false) });
    let guarded = Arc::new(Meanwhile::new(
        behind(sim.clone(), &switch),
        iu_cutter_live_execution::OpKind::Restore,
        close,
    ));
    let runner = Runner::new(guarded, Arc::new(MemoryBackupStore::new()));
    let pre_run = sim.state_census();
    let request = RunRequest::new(
        "r1",
        Scope::Ids(vec![DocumentId::new("law/1")]),
        CutRules::preset(Preset::Markdown),
    );
    let held = runner
        .run(
            request,
            RunOptions::default().with_until(names::WRITE_VERIFY),
        )
        .await?;
    assert_eq!(held.outcome, Outcome::Pass, "{}", held.to_json());

    let refused_rollback = runner.rollback(&RunId::new("r1")).await?;
    let Outcome::Refused { reason, next, .. } = &refused_rollback.outcome else {
        return Err(format!("expected REFUSED, got {}", refused_rollback.to_json()).into());
    };
    assert!(
        !reason.contains("nothing was changed"),
        "the journal shows the rollback begun: {reason}"
    );
    assert!(reason.contains("can only be rolled back"), "{reason}");
    assert!(
        next.contains(&NextAction::rollback(&RunId::new("r1"))),
        "{next:?}"
    );

    switch.set(true);
    let enacted = runner
        .enact(&RunId::new("r1"), RunOptions::default())
        .await?;
    assert!(
        matches!(enacted.outcome, Outcome::Failed { .. }),
        "as the refusal said: {}",
        enacted.to_json()
    );
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert_eq!(sim.state_census().per_document, pre_run.per_document);
    Ok(())
}
