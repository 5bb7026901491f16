//! Documents deleted by the application while a run works, on real stores (the simulator has no
//! delete): the closing census must tell the truth about them. A document of the run's scope
//! that the run cut and that was deleted before the run ended is neither "new under the scope,
//! not cut by this run" nor left unmentioned: the report says it is gone (adv30).

use std::sync::Arc;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::ConnectOptions;
use iu_cutter_live_execution::{
    CutRules, DocumentId, DocumentState, EvidenceValue, LiveExecutionAdapter, Preset, RunId, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunReport, RunRequest, Runner, default_phases};
use iu_cutter_phase_core::{MemoryBackupStore, Phase};
use iu_cutter_tests::application::{self, PutDocument, RawStatements};
use iu_cutter_tests::fixture::SqlFixture;
use sqlx::Connection;

use crate::TestResult;

// Each check as a test per store it runs on.
on_fixtures! {
    a_rollback_keeps_the_deletion:
        a_rollback_after_a_cut_document_was_deleted_keeps_the_deletion_on_sqlite on sqlite,
        a_rollback_after_a_cut_document_was_deleted_keeps_the_deletion_on_postgres on postgres;
    a_cut_document_deleted_is_reported_gone:
        a_cut_document_deleted_after_the_enact_is_reported_gone_on_sqlite on sqlite,
        a_cut_document_deleted_after_the_enact_is_reported_gone_on_postgres on postgres;
    a_new_document_cut_then_deleted_is_reported_gone:
        a_new_document_cut_then_deleted_is_reported_gone_on_sqlite on sqlite,
        a_new_document_cut_then_deleted_is_reported_gone_on_postgres on postgres;
    a_held_run_enacted_after_a_deletion:
        a_held_run_enacted_after_a_deletion_blocks_then_rolls_back_on_sqlite on sqlite,
        a_held_run_enacted_after_a_deletion_blocks_then_rolls_back_on_postgres on postgres;
    a_document_deleted_before_the_fence:
        a_document_deleted_before_the_fence_blocks_naming_it_on_sqlite on sqlite,
        a_document_deleted_before_the_fence_blocks_naming_it_on_postgres on postgres;
    a_document_deleted_before_the_enact:
        a_document_deleted_before_the_enact_blocks_naming_it_on_sqlite on sqlite,
        a_document_deleted_before_the_enact_blocks_naming_it_on_postgres on postgres;
    deleted_but_its_units:
        a_rollback_drops_the_units_a_deletion_left_behind_on_sqlite on sqlite,
        a_rollback_drops_the_units_a_deletion_left_behind_on_postgres on postgres;
    deleted_but_its_units_then_written_again:
        a_rollback_after_a_partial_deletion_and_a_rewrite_restores_exactly_on_sqlite on sqlite,
        a_rollback_after_a_partial_deletion_and_a_rewrite_restores_exactly_on_postgres on postgres;
    units_without_a_row_are_in_no_census:
        units_a_deletion_left_without_a_row_are_in_no_census_on_sqlite on sqlite,
        units_a_deletion_left_without_a_row_are_in_no_census_on_postgres on postgres;
    a_rollback_over_units_left_without_a_record:
        a_rollback_over_units_left_without_a_record_restores_exactly_on_sqlite on sqlite,
        a_rollback_over_units_left_without_a_record_restores_exactly_on_postgres on postgres;
    purge_reads_the_pointer:
        purge_reads_a_documents_pointer_not_a_record_left_active_on_sqlite on sqlite;
    an_active_record_deleted_before_the_run:
        an_active_record_deleted_before_the_run_is_not_called_concurrent_on_sqlite on sqlite,
        an_active_record_deleted_before_the_run_is_not_called_concurrent_on_postgres on postgres;
    an_active_record_retired_before_the_run:
        an_active_record_retired_before_the_run_is_not_called_concurrent_on_sqlite on sqlite,
        an_active_record_retired_before_the_run_is_not_called_concurrent_on_postgres on postgres;
    a_retired_record_deleted_after_the_run:
        a_retired_record_deleted_after_the_run_rolls_back_on_sqlite on sqlite,
        a_retired_record_deleted_after_the_run_rolls_back_on_postgres on postgres;
}

/// A run over `All` of `law/1` and `law/2`, with `extra` phases inserted at their index in the
/// five phases (in order): its report.
async fn run_with(
    fixture: &impl SqlFixture,
    extra: Vec<(usize, Box<dyn Phase>)>,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let adapter: Arc<dyn LiveExecutionAdapter> = fixture.shared();
    iu_cutter_tests::seed(adapter.as_ref(), &crate::TWO_LAWS).await;
    let mut phases = default_phases();
    for (at, phase) in extra {
        phases.insert(at.min(phases.len()), phase);
    }
    let runner = Runner::with_phases(adapter, Arc::new(MemoryBackupStore::new()), phases);
    let report = runner
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::LegalEn)),
            RunOptions::default(),
        )
        .await?;
    Ok(report)
}

/// [`run_with`] with no other writer, which must pass: `law/1` and `law/2` cut by `r1`.
async fn both_cut_by_r1(fixture: &impl SqlFixture) -> TestResult {
    let report = run_with(fixture, Vec::new()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    Ok(())
}

/// [`run_with`], another writer deleting `law/2` before phase number `at` starts
/// (`usize::MAX`: after the run's last phase).
async fn run_deleting_law_2(
    fixture: &impl SqlFixture,
    at: usize,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let delete = RawStatements::delete_document(fixture.options(), "law/2");
    run_with(fixture, vec![(at, Box::new(delete))]).await
}

/// A document the run cut (it was in the opening census), deleted after the run enacted it:
/// the closing census says it is gone.
async fn a_cut_document_deleted_is_reported_gone(fixture: &impl SqlFixture) -> TestResult {
    let report = run_deleting_law_2(fixture, usize::MAX).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.documents, 1, "{}", report.to_json());
    assert_eq!(after.gone_from_scope, Some(1), "{}", report.to_json());
    assert_eq!(after.gone_from_scope_sample, [DocumentId::new("law/2")]);
    assert_eq!(after.appeared_in_scope, None, "{}", report.to_json());
    let markdown = report.to_markdown();
    assert!(
        markdown.contains("1 deleted meanwhile (`law/2`)"),
        "{markdown}"
    );
    Ok(())
}

/// A document written after the opening census and before the backup (so cut by the run under
/// `All`), then deleted after the run enacted it: never "new under the scope, not cut by this
/// run (run again to cut them)"; the closing census says it is gone.
async fn a_new_document_cut_then_deleted_is_reported_gone(fixture: &impl SqlFixture) -> TestResult {
    let put = PutDocument {
        name: "application-writes",
        application: fixture.another_process().await,
        document: DocumentId::new("law/3"),
        body: "Article 1\nNew.\n",
    };
    let delete = RawStatements::delete_document(fixture.options(), "law/3");
    let report = run_with(
        fixture,
        vec![(0, Box::new(put)), (usize::MAX, Box::new(delete))],
    )
    .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let enacted = report
        .phase("lifecycle-enact")
        .and_then(|p| p.evidence.get("documents_enacted").cloned());
    assert_eq!(
        enacted,
        Some(EvidenceValue::Count(3)),
        "the run cut law/3: {}",
        report.to_json()
    );
    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.appeared_in_scope, None, "{}", report.to_json());
    assert_eq!(after.gone_from_scope, Some(1), "{}", report.to_json());
    assert_eq!(after.gone_from_scope_sample, [DocumentId::new("law/3")]);
    assert_eq!(after.documents, 2, "{}", report.to_json());
    Ok(())
}

/// The same run rolled back: the deleted document's rows are all gone (the run's generation and
/// units with it), so there is nothing of the run's left to take back, and the deletion is the
/// application's change, kept and reported as such (as an edit is), never "a document the run
/// never touched" nor a mismatch that blocks every later rollback.
async fn a_rollback_keeps_the_deletion(fixture: &impl SqlFixture) -> TestResult {
    let report = run_deleting_law_2(fixture, usize::MAX).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let runner = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert_eq!(check.untouched_documents, 0, "the run cut both: {json}");
    assert!(check.mismatches.is_empty(), "{json}");
    assert_eq!(check.kept_edits.len(), 1, "{json}");
    assert_eq!(check.kept_edits[0].document, DocumentId::new("law/2"));
    assert!(check.kept_edits[0].reason.contains("deleted"), "{json}");
    assert!(!check.census_matches_backup, "law/2 is gone: {json}");
    assert!(!check.fingerprint_matches_pre_run, "law/2 is gone: {json}");
    // law/1 is as before the run.
    let heads = fixture.adapter().load_heads(&Scope::All).await?;
    assert_eq!(heads.len(), 1);
    assert_eq!(heads[0].active_generation, None, "{heads:?}");
    Ok(())
}

/// A run held after write-verify, then one of its documents deleted by the application (every
/// row of it), then enacted: the enact blocks naming the document, and a rollback afterwards
/// restores the other document exactly and reports the deletion as kept.
async fn a_held_run_enacted_after_a_deletion(fixture: &impl SqlFixture) -> TestResult {
    let adapter: Arc<dyn LiveExecutionAdapter> = fixture.shared();
    iu_cutter_tests::seed(adapter.as_ref(), &crate::TWO_LAWS).await;
    let before = adapter.snapshot().await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let held = runner
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::LegalEn)),
            RunOptions::default().with_until("write-verify"),
        )
        .await?;
    assert!(held.outcome.is_success(), "{}", held.to_json());
    RawStatements::delete_document(fixture.options(), "law/2")
        .execute()
        .await?;

    let enacted = runner
        .enact(&RunId::new("r1"), RunOptions::default())
        .await?;
    let Outcome::Blocked { gap } = &enacted.outcome else {
        return Err(format!("expected BLOCKED, got {}", enacted.to_json()).into());
    };
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{gap}");
    assert!(!gap.next.is_empty(), "{gap}");

    let rolled = runner.rollback(&RunId::new("r1")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert!(check.mismatches.is_empty(), "{json}");
    assert_eq!(check.kept_edits.len(), 1, "{json}");
    assert_eq!(check.kept_edits[0].document, DocumentId::new("law/2"));
    let after = adapter.snapshot().await?;
    assert_eq!(
        after.documents,
        before.documents[..1],
        "law/1 exactly as before"
    );
    assert!(
        after.units.is_empty() && after.generations.is_empty(),
        "{after:?}"
    );
    Ok(())
}

/// A document deleted between the backup and the fence: the run blocks at the fence naming it,
/// having fenced nothing of it; its closing census says it is gone; the rollback keeps the
/// deletion and leaves the other document exactly as before the run.
async fn a_document_deleted_before_the_fence(fixture: &impl SqlFixture) -> TestResult {
    deleted_before(fixture, 1, "cut-leg-a").await
}

/// The same deletion between write-verify and the enact, in one invocation: the enact blocks
/// naming the document (never FAILED with a resume that meets it again), and a rollback leaves
/// the other document exactly as before the run.
async fn a_document_deleted_before_the_enact(fixture: &impl SqlFixture) -> TestResult {
    deleted_before(fixture, 4, "lifecycle-enact").await
}

/// `law/2` deleted by another writer before phase number `at` starts: the run blocks in
/// `phase` naming it, its closing census says it is gone, and the rollback keeps the deletion
/// and leaves `law/1` ready, with no generation or unit left.
async fn deleted_before(fixture: &impl SqlFixture, at: usize, phase: &str) -> TestResult {
    let report = run_deleting_law_2(fixture, at).await?;
    let Outcome::Blocked { gap } = &report.outcome else {
        return Err(format!("expected BLOCKED, got {}", report.to_json()).into());
    };
    assert_eq!(gap.phase, phase, "{gap}");
    assert!(gap.found.contains("deleted"), "{gap}");
    assert_eq!(gap.document, Some(DocumentId::new("law/2")), "{gap}");
    let after = report.census_after.as_ref().ok_or("no closing census")?;
    assert_eq!(after.gone_from_scope_sample, [DocumentId::new("law/2")]);

    let runner = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    let check = rolled.rollback.as_ref().ok_or("no rollback check")?;
    assert_eq!(check.kept_edits.len(), 1, "{json}");
    let snapshot = fixture.adapter().snapshot().await?;
    assert_eq!(snapshot.documents.len(), 1);
    assert_eq!(snapshot.documents[0].state, DocumentState::Ready, "{json}");
    assert!(snapshot.generations.is_empty() && snapshot.units.is_empty());
    Ok(())
}

/// Deletes `law/2`'s generation records and its row, but not its units (units have no foreign
/// key to force it), as an application's raw SQL that knows only the tables it must clear might.
async fn delete_law_2_but_not_its_units(options: &ConnectOptions) -> Result<(), sqlx::Error> {
    let prefix = application::prefix(options);
    let mut statements = vec![
        format!("DELETE FROM {prefix}generations WHERE document = 'law/2'"),
        format!("DELETE FROM {prefix}documents WHERE id = 'law/2'"),
    ];
    if options.pg_schema.is_some() {
        // On PostgreSQL both in one transaction, over the one connection `execute` uses there.
        statements.insert(0, "BEGIN".to_owned());
        statements.push("COMMIT".to_owned());
    }
    let statements: Vec<(String, Vec<&str>)> =
        statements.into_iter().map(|s| (s, Vec::new())).collect();
    application::execute(options, &statements).await?;
    Ok(())
}

/// A cut document deleted by the application with its generation records but not its units,
/// then written again as it was before the run: a rollback of the run takes back what is left
/// of the run (its units) and leaves the document exactly as backed up; never a rollback
/// blocked for good on a mismatch made of the run's own rows.
async fn a_rollback_drops_the_units_a_deletion_left(
    fixture: &impl SqlFixture,
    written_again: bool,
) -> TestResult {
    both_cut_by_r1(fixture).await?;
    let before = fixture.adapter().snapshot().await?;
    delete_law_2_but_not_its_units(fixture.options()).await?;
    if written_again {
        fixture
            .adapter()
            .put_document(&DocumentId::new("law/2"), "Article 1\nOnly.\n")
            .await?;
    }
    let runner = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    let after = fixture.adapter().snapshot().await?;
    let left: Vec<_> = after
        .units
        .iter()
        .filter(|u| u.generation == RunId::new("r1"))
        .map(|u| (u.document.clone(), u.ordinal))
        .collect();
    assert!(
        left.is_empty(),
        "the run's units left behind: {left:?}; {json}"
    );
    assert!(after.generations.is_empty(), "{after:?}");
    let ids: Vec<&DocumentId> = after.documents.iter().map(|d| &d.id).collect();
    let expected: Vec<&DocumentId> = before
        .documents
        .iter()
        .map(|d| &d.id)
        .filter(|id| written_again || id.as_str() != "law/2")
        .collect();
    assert_eq!(ids, expected, "{json}");
    Ok(())
}

async fn deleted_but_its_units(fixture: &impl SqlFixture) -> TestResult {
    a_rollback_drops_the_units_a_deletion_left(fixture, false).await
}

async fn deleted_but_its_units_then_written_again(fixture: &impl SqlFixture) -> TestResult {
    a_rollback_drops_the_units_a_deletion_left(fixture, true).await
}

/// `law/2` cut by `r1` (with `law/1`), then edited and cut again by `r2` alone, then deleted
/// by the application with its generation records but not its units (both runs' stay): the
/// store's census (whole, or of a scope naming `law/2`) counts no document for units without
/// a row, as on every store, so `r2` rolls back, keeping the deletion and dropping only its
/// own units, and a purge can still read the store.
async fn units_without_a_row_are_in_no_census(fixture: &impl SqlFixture) -> TestResult {
    both_cut_by_r1(fixture).await?;
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    adapter
        .put_document(&law_2, "Article 1\nEdited.\nArticle 2\nMore.\n")
        .await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let scope = Scope::Ids(vec![law_2.clone()]);
    let report = runner
        .run(
            RunRequest::new("r2", scope, CutRules::preset(Preset::LegalEn)),
            RunOptions::default(),
        )
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let census_before = adapter.census().await?;
    delete_law_2_but_not_its_units(fixture.options()).await?;

    let census = adapter.census().await?;
    assert_eq!(census.documents, 1, "{census:?}");
    let law_1 = adapter
        .scope_census(&[DocumentId::new("law/1")])
        .await?
        .census;
    assert_eq!(census.per_document, law_1.per_document);
    assert_eq!(
        census.per_document.get(&DocumentId::new("law/1")),
        census_before.per_document.get(&DocumentId::new("law/1"))
    );
    let scoped = adapter
        .scope_census(&[DocumentId::new("law/1"), law_2.clone()])
        .await?;
    assert_eq!(scoped.census, census);

    let rolled = runner.rollback(&RunId::new("r2")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    let snapshot = adapter.snapshot().await?;
    let left: Vec<&str> = snapshot
        .units
        .iter()
        .filter(|u| u.document == law_2)
        .map(|u| u.generation.as_str())
        .collect();
    assert!(
        !left.is_empty() && left.iter().all(|g| *g == "r1"),
        "only r1's units are left of law/2: {left:?}"
    );
    let purge = runner.purge(std::time::Duration::ZERO).await;
    assert_eq!(purge.outcome, Outcome::Pass, "{purge:?}");
    Ok(())
}

/// `law/2` cut by `r1`, then deleted by the application with its records but not its units,
/// then written again under the same id (so `r1`'s units are its rows again, with no record),
/// then cut by `r2`: `r2` rolls back to exactly its backup, the units it found there counted
/// as they were, never a mismatch that blocks the rollback for good.
async fn a_rollback_over_units_left_without_a_record(fixture: &impl SqlFixture) -> TestResult {
    both_cut_by_r1(fixture).await?;
    delete_law_2_but_not_its_units(fixture.options()).await?;
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    adapter.put_document(&law_2, "Article 1\nAgain.\n").await?;
    let before = adapter.census().await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let report = runner
        .run(
            RunRequest::new(
                "r2",
                Scope::Ids(vec![law_2]),
                CutRules::preset(Preset::LegalEn),
            ),
            RunOptions::default(),
        )
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let rolled = runner.rollback(&RunId::new("r2")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    assert_eq!(adapter.census().await?, before, "{json}");
    Ok(())
}

/// Deletes `law/2`'s row alone over a connection that does not enforce foreign keys (SQLite's
/// default outside iu-cutter, as the `sqlite3` shell): its generation records and units stay.
async fn delete_law_2_row_alone(options: &ConnectOptions) -> Result<(), sqlx::Error> {
    use sqlx::sqlite::SqliteConnectOptions;
    use std::str::FromStr;
    let connect = SqliteConnectOptions::from_str(&options.url)?.foreign_keys(false);
    let mut conn = sqlx::SqliteConnection::connect_with(&connect).await?;
    sqlx::query("DELETE FROM documents WHERE id = 'law/2'")
        .execute(&mut conn)
        .await?;
    conn.close().await
}

/// `law/2` cut by `r1`, then its row deleted alone (its records stay, `r1`'s still `active`),
/// then written again and cut by `r2` and `r3`: the document's active generation is its
/// pointer, `r3`, whatever records are left from before; so purge keeps `r2` for `r3`'s
/// rollback while `r3` may be rolled back, and never blocks at every attempt on a pointer it
/// misread.
async fn purge_reads_the_pointer(fixture: &impl SqlFixture) -> TestResult {
    both_cut_by_r1(fixture).await?;
    delete_law_2_row_alone(fixture.options()).await?;
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    for (run, body) in [("r2", "Article 1\nAgain.\n"), ("r3", "Article 1\nThird.\n")] {
        adapter.put_document(&law_2, body).await?;
        let scope = Scope::Ids(vec![law_2.clone()]);
        let request = RunRequest::new(run, scope, CutRules::preset(Preset::LegalEn));
        let report = runner.run(request, RunOptions::default()).await?;
        assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    }
    let purge = runner.purge(std::time::Duration::ZERO).await;
    assert_eq!(purge.outcome, Outcome::Pass, "{purge:?}");
    let r2 = purge
        .generations
        .iter()
        .find(|e| e.document == law_2 && e.generation.as_str() == "r2")
        .ok_or("r2 listed")?;
    assert_eq!(
        r2.decision,
        iu_cutter_orchestrator::PurgeDecision::KeptForRollback {
            run: RunId::new("r3")
        },
        "{purge:?}"
    );
    Ok(())
}

/// Runs `statement` (`{prefix}` standing for the store's schema prefix) over a connection of
/// its own, as an application's raw SQL would.
async fn raw_sql(options: &ConnectOptions, statement: &str) -> Result<(), sqlx::Error> {
    let prefix = application::prefix(options);
    let statement = statement.replace("{prefix}", &prefix);
    application::execute(options, &[(statement, Vec::new())]).await?;
    Ok(())
}

/// Deletes `law/2`'s record of generation `r1` alone (no foreign key ties a document's
/// active-generation pointer to its record): its row and its units stay.
const DELETE_R1_RECORD: &str =
    "DELETE FROM {prefix}generations WHERE document = 'law/2' AND generation = 'r1'";

/// Marks `law/2`'s record of generation `r1`, its active one, retired.
const RETIRE_R1_RECORD: &str = "UPDATE {prefix}generations SET state = 'retired' \
                                WHERE document = 'law/2' AND generation = 'r1'";

/// Found by adv32: `law/2` cut by `r1`, then `r1`'s record of it (its active generation) deleted
/// by raw SQL, all before `r2` starts. `r2` fenced, wrote and verified, then its enact could not
/// retire the pre-run active generation and was refused as "a concurrent change (the record is
/// gone or in another state)", telling the operator the document "changed or was deleted after
/// write-verify": nothing had, and every later run over the document would meet the same end.
/// The backup, which reads the document's pointer and records, refuses it at once, naming the
/// generation and what to do, with nothing saved or fenced: the store is exactly as before.
async fn an_active_record_deleted_before_the_run(fixture: &impl SqlFixture) -> TestResult {
    active_record_changed_before_the_run(fixture, DELETE_R1_RECORD).await
}

/// Found by adv32: as [`an_active_record_deleted_before_the_run`], `r1`'s record of `law/2` set
/// `retired` instead of deleted: the enact was refused the same way, "a concurrent change".
async fn an_active_record_retired_before_the_run(fixture: &impl SqlFixture) -> TestResult {
    active_record_changed_before_the_run(fixture, RETIRE_R1_RECORD).await
}

/// `law/2` cut by `r1`, then `statement` run on `r1`'s record of it, then `law/2` edited and
/// run over by `r2`: BLOCKED in backup naming `r1`, nothing written.
async fn active_record_changed_before_the_run(
    fixture: &impl SqlFixture,
    statement: &str,
) -> TestResult {
    both_cut_by_r1(fixture).await?;
    raw_sql(fixture.options(), statement).await?;
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    adapter.put_document(&law_2, "Article 1\nAgain.\n").await?;
    let before = adapter.snapshot().await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let scope = Scope::Ids(vec![law_2.clone()]);
    let request = RunRequest::new("r2", scope, CutRules::preset(Preset::LegalEn));
    let report = runner.run(request, RunOptions::default()).await?;
    let json = report.to_json();
    let Outcome::Blocked { gap } = &report.outcome else {
        return Err(format!("expected BLOCKED: {json}").into());
    };
    assert_eq!(
        gap.phase, "backup",
        "refused before anything is fenced: {json}"
    );
    assert_eq!(gap.document.as_ref(), Some(&law_2), "{json}");
    let said = gap.to_string();
    assert!(
        !said.contains("concurrent"),
        "nothing was concurrent: {json}"
    );
    assert!(
        said.contains("`r1`"),
        "names the generation without a record: {json}"
    );
    assert!(
        !said.contains("narrow the run's scope"),
        "r2's scope is journaled: {json}"
    );
    assert_eq!(adapter.snapshot().await?, before, "nothing written: {json}");
    Ok(())
}

/// Adversarial (adv32): `law/2` cut by `r1`, then by `r2` alone (`r1` retired), then `r1`'s
/// record of it deleted by raw SQL (as a hand-made purge that forgot the units): rolling `r2`
/// back must make `r1` active again and leave `law/2` exactly as before `r2`, or refuse with a
/// true message and nothing changed. Found sound: the rollback is BLOCKED on `law/2`, saying its
/// pre-run generation `r1` is no longer there, having changed nothing.
async fn a_retired_record_deleted_after_the_run(fixture: &impl SqlFixture) -> TestResult {
    both_cut_by_r1(fixture).await?;
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let scope = Scope::Ids(vec![law_2.clone()]);
    adapter.put_document(&law_2, "Article 1\nAgain.\n").await?;
    let before_r2 = adapter.snapshot().await?;
    let request = RunRequest::new("r2", scope, CutRules::preset(Preset::LegalEn));
    let report = runner.run(request, RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    raw_sql(fixture.options(), DELETE_R1_RECORD).await?;
    let deleted = adapter.snapshot().await?;
    let rolled = runner.rollback(&RunId::new("r2")).await?;
    let json = rolled.to_json();
    match &rolled.outcome {
        Outcome::RolledBack => {
            let now = adapter.snapshot().await?;
            assert_eq!(now.documents, before_r2.documents, "{json}");
        }
        other => {
            assert!(!format!("{other:?}").contains("concurrent"), "{json}");
            assert!(
                adapter.snapshot().await? == deleted,
                "nothing changed: {json}"
            );
        }
    }
    Ok(())
}
