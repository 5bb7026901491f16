//! Adversarial (adv32) on the backup's batch reads (perfbk: a batch's generation records and
//! active units read with one call each, its ids bound as one JSON array, 1,000 per statement),
//! on real stores: ids with characters JSON and SQL quote (quotes, backslashes, brackets,
//! `%`/`_`, Unicode, a long id), repeated in the scope, in a batch of exactly 1,000 and 1,001
//! ids; each run is rolled back and the whole store compared with its pre-run state.

use std::sync::Arc;

use iu_cutter_live_execution::StoreSnapshot;
use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::ConnectOptions;
use iu_cutter_live_execution::{
    CutRules, DocumentId, EvidenceValue, LiveExecutionAdapter, OpKind, Preset, PurgeTarget, RunId,
    Scope,
};
use iu_cutter_orchestrator::{Gap, Outcome, RunOptions, RunReport, RunRequest, Runner};
use iu_cutter_phase_core::{DocumentBatches, MemoryBackupStore};
use iu_cutter_tests::application::{AfterFirst, Pending, RawStatements};
use iu_cutter_tests::fixture::{RawSql, SqlFixture};

use crate::TestResult;

// Each check as a test per store it runs on.
on_fixtures! {
    batches_round_trip:
        odd_ids_in_batches_of_1000_and_1001_roll_back_exactly_on_sqlite on sqlite,
        odd_ids_in_batches_of_1000_and_1001_roll_back_exactly_on_postgres on postgres;
    generations_changed_between_the_two_reads:
        generations_purged_between_the_backups_two_reads_roll_back_exactly_on_sqlite on sqlite,
        generations_purged_between_the_backups_two_reads_roll_back_exactly_on_postgres on postgres;
    deleted_between_the_two_reads:
        a_document_deleted_between_the_backups_two_reads_rolls_back_exactly_on_sqlite on sqlite,
        a_document_deleted_between_the_backups_two_reads_rolls_back_exactly_on_postgres on postgres;
    raw_ids_with_control_characters:
        raw_ids_with_control_characters_cut_or_refused_exactly_on_sqlite on sqlite,
        raw_ids_with_control_characters_cut_or_refused_exactly_on_postgres on postgres;
    held_by_another_then_freed:
        a_document_held_by_another_run_blocks_the_backup_then_resumes_on_sqlite on sqlite,
        a_document_held_by_another_run_blocks_the_backup_then_resumes_on_postgres on postgres;
    every_held_document_named:
        every_document_another_run_holds_is_named_by_the_blocked_backup_on_sqlite on sqlite,
        every_document_another_run_holds_is_named_by_the_blocked_backup_on_postgres on postgres;
    every_holder_named:
        every_run_holding_a_refused_document_is_named_on_sqlite on sqlite,
        every_run_holding_a_refused_document_is_named_on_postgres on postgres;
    refused_backup_journals_no_part:
        a_backup_refused_on_its_first_batch_journals_no_part_on_sqlite on sqlite,
        a_backup_refused_on_its_first_batch_journals_no_part_on_postgres on postgres;
    refused_late_journals_no_part:
        a_backup_refused_in_a_later_batch_journals_no_part_on_sqlite on sqlite,
        a_backup_refused_in_a_later_batch_journals_no_part_on_postgres on postgres;
    failed_backup_rolled_back:
        a_failed_backup_rolled_back_leaves_no_part_on_sqlite on sqlite,
        a_failed_backup_rolled_back_leaves_no_part_on_postgres on postgres;
    undropped_parts_told:
        a_blocked_backup_whose_parts_cannot_be_dropped_says_so_on_sqlite on sqlite,
        a_blocked_backup_whose_parts_cannot_be_dropped_says_so_on_postgres on postgres;
    switch_closed_after_dropping_parts:
        a_rollback_refused_after_dropping_parts_says_so_on_sqlite on sqlite,
        a_rollback_refused_after_dropping_parts_says_so_on_postgres on postgres;
    crash_after_seal:
        a_crash_after_the_seal_resumes_and_rolls_back_on_sqlite on sqlite,
        a_crash_after_the_seal_resumes_and_rolls_back_on_postgres on postgres;
    refused_late_then_freed:
        a_backup_refused_in_a_later_batch_then_freed_resumes_whole_on_sqlite on sqlite,
        a_backup_refused_in_a_later_batch_then_freed_resumes_whole_on_postgres on postgres;
    changed_then_held:
        a_document_fenced_by_another_run_while_backed_up_blocks_with_no_part_on_sqlite on sqlite,
        a_document_fenced_by_another_run_while_backed_up_blocks_with_no_part_on_postgres on postgres;
    vanished_then_held:
        a_backup_taken_again_for_a_vanished_document_then_refused_leaves_no_part_on_sqlite on sqlite,
        a_backup_taken_again_for_a_vanished_document_then_refused_leaves_no_part_on_postgres on postgres;
    crashed_then_held:
        a_backup_resumed_after_a_crash_then_refused_leaves_no_part_on_sqlite on sqlite,
        a_backup_resumed_after_a_crash_then_refused_leaves_no_part_on_postgres on postgres;
    changed_then_held_names_every_held:
        a_backup_blocked_on_a_document_fenced_while_backed_up_names_every_held_on_sqlite on sqlite,
        a_backup_blocked_on_a_document_fenced_while_backed_up_names_every_held_on_postgres on postgres;
    a_scope_edited_while_a_dry_run_copies_it_is_copied_after_the_edit:
        a_scope_edited_while_a_dry_run_copies_it_is_copied_after_the_edit_on_sqlite on sqlite,
        a_scope_edited_while_a_dry_run_copies_it_is_copied_after_the_edit_on_postgres on postgres;
    adv54_edited_before_its_census_line:
        adv54_a_document_edited_before_its_census_line_is_read_is_backed_up_as_its_census_says_on_sqlite on sqlite,
        adv54_a_document_edited_before_its_census_line_is_read_is_backed_up_as_its_census_says_on_postgres on postgres;
}

/// 1,001 documents: plain ones, then the odd ones.
fn seeded() -> Vec<(DocumentId, String)> {
    let odd = iu_cutter_tests::awkward_ids();
    let plain = 1_001 - odd.len();
    (0..plain)
        .map(|i| format!("d/{i:04}"))
        .chain(odd)
        .enumerate()
        .map(|(i, id)| {
            let body = format!("Article 1\nFirst {i}.\nArticle 2\nSecond {i}.\n");
            (DocumentId::new(id), body)
        })
        .collect()
}

/// Every document cut by `r0`, then every odd one and every third plain one edited: runs over
/// all 1,001 ids (the odd ones named twice), a backup read a batch of `batch` documents at a
/// time, pass; each rolled back leaves the whole store exactly as before it.
async fn batches_round_trip(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    let documents = seeded();
    adapter.put_documents(&documents).await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let rules = || CutRules::preset(Preset::LegalEn);
    let report = runner
        .run(
            RunRequest::new("r0", Scope::All, rules()),
            RunOptions::default(),
        )
        .await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    let edited: Vec<(DocumentId, String)> = documents
        .iter()
        .enumerate()
        .filter(|(i, (id, _))| i % 3 == 0 || !id.as_str().starts_with("d/"))
        .map(|(_, (id, body))| (id.clone(), format!("{body}Article 3\nAdded.\n")))
        .collect();
    adapter.put_documents(&edited).await?;
    let mut scope: Vec<DocumentId> = documents.iter().rev().map(|(id, _)| id.clone()).collect();
    scope.extend(
        iu_cutter_tests::awkward_ids()
            .into_iter()
            .map(DocumentId::new),
    );
    for (run, batch) in [("r1", 1_000), ("r2", 1_001)] {
        let before = adapter.snapshot().await?;
        let request = RunRequest::new(run, Scope::Ids(scope.clone()), rules());
        let options = RunOptions::default().with_batch_documents(DocumentBatches::Of(batch));
        let report = runner.run(request, options).await?;
        let json = report.to_json();
        assert_eq!(report.outcome, Outcome::Pass, "{json}");
        let backup = &report.phases[0].evidence;
        assert_eq!(
            backup.get("documents"),
            Some(&EvidenceValue::from(1_001u64)),
            "{json}"
        );
        let units: u64 = before
            .units
            .iter()
            .filter(|u| {
                before.documents.iter().any(|d| {
                    d.id == u.document && d.active_generation.as_ref() == Some(&u.generation)
                })
            })
            .count() as u64;
        assert_eq!(
            backup.get("units"),
            Some(&EvidenceValue::from(units)),
            "{json}"
        );
        let what = format!("{run}: the store as before it");
        rolled_back_to(&runner, run, (&adapter, &before), &what).await?;
    }
    Ok(())
}

/// `law/2` cut by `r0` then `r0b` (`r0` retired), then `r1`'s backup reads its generation
/// records, and `r0` of it is purged before its active units are read: the backup must not
/// hold the records as read before the purge under a census of after (the change log lists
/// the purge: the backup is taken again), and `r1` rolled back leaves the store exactly as it
/// was after the purge.
async fn generations_changed_between_the_two_reads(fixture: &impl SqlFixture) -> TestResult {
    changed_between_the_two_reads(fixture, false).await
}

/// As [`generations_changed_between_the_two_reads`], `law/2` deleted (every row of it) instead
/// of purged: the run passes over `law/1` and its rollback leaves the deletion.
async fn deleted_between_the_two_reads(fixture: &impl SqlFixture) -> TestResult {
    changed_between_the_two_reads(fixture, true).await
}

async fn changed_between_the_two_reads(fixture: &impl SqlFixture, delete: bool) -> TestResult {
    let adapter = fixture.shared();
    let law_2 = DocumentId::new("law/2");
    let plain = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let rules = || CutRules::preset(Preset::LegalEn);
    for (run, n) in [("r0", 1), ("r0b", 2)] {
        for id in ["law/1", "law/2"] {
            let body = format!("Article 1\nOne {n}.\nArticle 2\nTwo {n}.\n");
            adapter.put_document(&DocumentId::new(id), &body).await?;
        }
        let report = plain
            .run(
                RunRequest::new(run, Scope::All, rules()),
                RunOptions::default(),
            )
            .await?;
        assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    }
    let mut after_purge = adapter.snapshot().await?;
    let r0 = RunId::new("r0");
    let gone = |document: &DocumentId, generation: &RunId| document == &law_2 && generation == &r0;
    after_purge
        .generations
        .retain(|g| !gone(&g.document, &g.generation));
    after_purge
        .units
        .retain(|u| !gone(&u.document, &u.generation));
    if delete {
        after_purge.documents.retain(|d| d.id != law_2);
        after_purge.generations.retain(|g| g.document != law_2);
        after_purge.units.retain(|u| u.document != law_2);
    }
    // Once, right after the backup's `generations_of` returns and before its
    // `active_units_of`: `r0` of `law/2` purged (or, with `delete`, the whole document deleted
    // by raw SQL there instead).
    let target = PurgeTarget {
        document: law_2.clone(),
        generation: r0.clone(),
        active: Some(RunId::new("r0b")),
    };
    let deletion = delete.then(|| RawStatements::delete_document(fixture.options(), "law/2"));
    let store = adapter.clone();
    let between = AfterFirst::new(&adapter, OpKind::GenerationsOf, async move {
        if let Some(deletion) = deletion {
            let deleted = deletion.execute().await;
            assert!(
                deleted.is_ok(),
                "the deletion between the two reads: {deleted:?}"
            );
        } else {
            let purged = store.purge_generations(&[target]).await;
            assert_eq!(
                purged.ok().map(|p| p.len()),
                Some(1),
                "the purge between the two reads"
            );
        }
    });
    let runner = Runner::new(between.clone(), Arc::new(MemoryBackupStore::new()));
    let report = runner
        .run(
            RunRequest::new("r1", Scope::All, rules()),
            RunOptions::default(),
        )
        .await?;
    let json = report.to_json();
    assert_eq!(report.outcome, Outcome::Pass, "{json}");
    assert!(between.ran().await, "the purge ran between the two reads");
    let json = rolled_back(&runner, "r1").await?.to_json();
    let now = adapter.snapshot().await?;
    assert_eq!(now.documents, after_purge.documents, "documents");
    assert_eq!(now.generations, after_purge.generations, "generations");
    assert!(now.units == after_purge.units, "units: {json}");
    Ok(())
}

/// Inserts `ids` as documents by raw SQL (ids iu-cutter's own writes refuse: control and
/// bidirectional formatting characters), each with a body hashing to its recorded sha256.
async fn insert_raw(options: &ConnectOptions, ids: &[&str]) -> Result<(), sqlx::Error> {
    let prefix = iu_cutter_tests::application::prefix(options);
    let statement = format!(
        "INSERT INTO {prefix}documents (id, revision, sha256, state, body) \
         VALUES ($1, 1, $2, 'ready', $3)"
    );
    let body = "Article 1\nRaw.\n";
    let sha256 = iu_cutter_live_execution::sha256_hex(body.as_bytes());
    let inserts: Vec<(String, Vec<&str>)> = ids
        .iter()
        .map(|id| (statement.clone(), vec![*id, &sha256, body]))
        .collect();
    iu_cutter_tests::application::execute(options, &inserts).await?;
    Ok(())
}

/// Ids with a tab, a newline, a right-to-left override (and, on SQLite, a NUL) written by raw
/// SQL beside a plain document: a run over `All` either passes and rolls back to exactly the
/// store before it, or is refused with nothing written.
async fn raw_ids_with_control_characters(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    adapter
        .put_document(&DocumentId::new("law/1"), "Article 1\nOne.\n")
        .await?;
    let mut ids = vec!["tab\there", "new\nline", "rtl\u{202E}over"];
    if fixture.options().pg_schema.is_none() {
        ids.push("nul\0byte");
    }
    insert_raw(fixture.options(), &ids).await?;
    let before = adapter.snapshot().await?;
    assert_eq!(before.documents.len(), ids.len() + 1);
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let request = RunRequest::new("r1", Scope::All, CutRules::preset(Preset::LegalEn));
    let report = runner.run(request, RunOptions::default()).await?;
    let json = report.to_json();
    match &report.outcome {
        Outcome::Pass => {
            let backed_up = report.phases[0].evidence.get("documents");
            let all = EvidenceValue::from(before.documents.len() as u64);
            assert_eq!(backed_up, Some(&all), "every document backed up: {json}");
            rolled_back_to(&runner, "r1", (&adapter, &before), "as before").await?;
        }
        _ => {
            println!("{json}");
            assert!(
                adapter.snapshot().await? == before,
                "nothing written: {json}"
            );
        }
    }
    Ok(())
}

/// Runs `r2` over `ids` and holds it after its fence (`until cut-leg-a`), as a run waiting for
/// review: it holds `ids` until an operator enacts or rolls it back.
async fn hold_r2(runner: &Runner, ids: Vec<DocumentId>) -> TestResult {
    hold(runner, "r2", ids).await
}

/// As [`hold_r2`], for run `run`.
async fn hold(runner: &Runner, run: &str, ids: Vec<DocumentId>) -> TestResult {
    let request = RunRequest::new(run, Scope::Ids(ids), CutRules::preset(Preset::LegalEn));
    let held = runner
        .run(request, RunOptions::default().with_until("cut-leg-a"))
        .await?;
    assert!(held.held_after.is_some(), "{}", held.to_json());
    Ok(())
}

/// Runs `r1` over `scope`: the gap that BLOCKED it, and its report as JSON (an error for any
/// other outcome).
async fn blocked_r1(
    runner: &Runner,
    scope: Scope,
) -> Result<(iu_cutter_orchestrator::Gap, String), Box<dyn std::error::Error>> {
    let r1 = RunRequest::new("r1", scope, CutRules::preset(Preset::LegalEn));
    let report = runner.run(r1, RunOptions::default()).await?;
    let (gap, json) = blocked(&report)?;
    Ok((gap.clone(), json))
}

/// The gap of a BLOCKED `report`, and the report as JSON (an error for any other outcome).
fn blocked(report: &RunReport) -> Result<(&Gap, String), Box<dyn std::error::Error>> {
    let json = report.to_json();
    match &report.outcome {
        Outcome::Blocked { gap } => Ok((gap, json)),
        _ => Err(format!("expected BLOCKED: {json}").into()),
    }
}

/// Rolls `run` back: its report, which must say ROLLED BACK.
async fn rolled_back(runner: &Runner, run: &str) -> Result<RunReport, Box<dyn std::error::Error>> {
    let rolled = runner.rollback(&RunId::new(run)).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    Ok(rolled)
}

/// Rolls `run` back, which must leave the whole store (`adapter`) exactly as `before` (`what`
/// says which state that is).
async fn rolled_back_to(
    runner: &Runner,
    run: &str,
    (adapter, before): (&Arc<dyn LiveExecutionAdapter>, &StoreSnapshot),
    what: &str,
) -> TestResult {
    let json = rolled_back(runner, run).await?.to_json();
    assert!(adapter.snapshot().await? == *before, "{what}: {json}");
    Ok(())
}

/// Resumes `run` with `options`: its report, which must say PASS.
async fn resumed_pass(
    runner: &Runner,
    run: &str,
    options: RunOptions,
) -> Result<RunReport, Box<dyn std::error::Error>> {
    let resumed = runner.resume(&RunId::new(run), options).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    Ok(resumed)
}

/// Adversarial (adv32) on the backup's refusal of a document another run holds: `r2` fences
/// `law/2` and is held there; `r1` over both laws is BLOCKED in its backup naming `r2`, with
/// nothing written; `r2` rolled back, `r1` resumed passes, and its rollback leaves the whole
/// store exactly as before `r1`.
async fn held_by_another_then_freed(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    iu_cutter_tests::seed(adapter.as_ref(), &crate::TWO_LAWS).await;
    let before = adapter.snapshot().await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let law_2 = DocumentId::new("law/2");
    hold_r2(&runner, vec![law_2.clone()]).await?;
    let with_r2 = adapter.snapshot().await?;
    let (gap, json) = blocked_r1(&runner, Scope::All).await?;
    assert_eq!(gap.phase, "backup", "{json}");
    assert_eq!(gap.document.as_ref(), Some(&law_2), "{json}");
    assert!(gap.found.contains("run r2"), "{json}");
    assert!(
        adapter.snapshot().await? == with_r2,
        "r1 wrote nothing: {json}"
    );
    let store = (&adapter, &before);
    rolled_back_to(&runner, "r2", store, "r2 rolled back exactly").await?;
    resumed_pass(&runner, "r1", RunOptions::default()).await?;
    rolled_back_to(&runner, "r1", store, "r1 rolled back exactly").await?;
    Ok(())
}

/// Adversarial (adv33) on the advice of a backup blocked by another run's fences: `r2` holds
/// `law/2` and `law/3`; `r1` over every law is BLOCKED in its backup. Its gap says that to cut
/// the others now, a new run should leave out the documents it names: followed literally (a new
/// run over every document the gap does not name), that run must pass, not be blocked again on
/// a document the gap kept quiet about. Nothing of `r1` or the new run is left once rolled back.
/// And since `r2` waits for review, the gap says what frees it, not only to wait.
async fn every_held_document_named(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    let laws = ["law/1", "law/2", "law/3", "law/4"];
    for id in laws {
        let body = format!("Article 1\nOne of {id}.\nArticle 2\nTwo.\n");
        adapter.put_document(&DocumentId::new(id), &body).await?;
    }
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    hold_r2(
        &runner,
        vec![DocumentId::new("law/2"), DocumentId::new("law/3")],
    )
    .await?;
    let with_r2 = adapter.snapshot().await?;
    let (gap, json) = blocked_r1(&runner, Scope::Prefix("law/".into())).await?;
    assert!(adapter.snapshot().await? == with_r2, "r1 wrote nothing");
    // The gap's words, as the operator reads them.
    let told = format!("{} {:?}", gap.found, gap.next);
    // `r2` is held for review: no runner will ever enact or roll it back by itself, so "wait"
    // alone never ends; the advice says what the operator does then.
    assert!(
        told.contains("resume, enact or roll back run r2"),
        "what frees a holder no runner runs: {json}"
    );
    let left = leave_out_what_is_named(&runner, "r3", (&gap, &json), &laws).await?;
    // And it names no document that could have been cut.
    let free = vec![DocumentId::new("law/1"), DocumentId::new("law/4")];
    assert_eq!(left, free, "{json}");
    let store = (&adapter, &with_r2);
    rolled_back_to(&runner, "r3", store, "r3 rolled back exactly").await?;
    Ok(())
}

/// Follows a blocked backup's advice literally: a new run `run` over the `ids` its `gap` (of the
/// report `json`) does not name must pass. The ids it ran over.
async fn leave_out_what_is_named(
    runner: &Runner,
    run: &str,
    (gap, json): (&iu_cutter_orchestrator::Gap, &str),
    ids: &[&str],
) -> Result<Vec<DocumentId>, Box<dyn std::error::Error>> {
    let left = not_named(gap, ids);
    let request = RunRequest::new(
        run,
        Scope::Ids(left.clone()),
        CutRules::preset(Preset::LegalEn),
    );
    let report = runner.run(request, RunOptions::default()).await?;
    assert_eq!(
        report.outcome,
        Outcome::Pass,
        "{json}\n{}",
        report.to_json()
    );
    Ok(left)
}

/// Of `ids`, those `gap` does not name (in its document, its finding or its advice): a new run
/// that follows the advice to leave the named ones out.
fn not_named(gap: &iu_cutter_orchestrator::Gap, ids: &[&str]) -> Vec<DocumentId> {
    let told = format!("{} {:?}", gap.found, gap.next);
    ids.iter()
        .filter(|id| {
            !told.contains(&format!("`{id}`"))
                && gap.document.as_ref().is_none_or(|d| d.as_str() != **id)
        })
        .map(|id| DocumentId::new(*id))
        .collect()
}

/// The documents a backup refuses may be held by several runs: `r2` holds `law/2` and `r5`
/// holds `law/3`. Before, the blocked backup's advice named only the first document's holder
/// (`r2`): waiting for it, or rolling it back, left `r1` blocked on `law/3`. Every holder is
/// named, and doing what the advice says to each lets `r1` resume and pass.
async fn every_holder_named(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    for id in ["law/1", "law/2", "law/3"] {
        let body = format!("Article 1\nOne of {id}.\n");
        adapter.put_document(&DocumentId::new(id), &body).await?;
    }
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    hold_r2(&runner, vec![DocumentId::new("law/2")]).await?;
    hold(&runner, "r5", vec![DocumentId::new("law/3")]).await?;
    let (gap, json) = blocked_r1(&runner, Scope::Prefix("law/".into())).await?;
    let told = format!("{} {:?}", gap.found, gap.next);
    assert!(
        told.contains("wait until runs r2 and r5 have enacted or been rolled back"),
        "the advice waits for both holders: {json}"
    );
    for holder in ["r2", "r5"] {
        rolled_back(&runner, holder).await?;
    }
    resumed_pass(&runner, "r1", RunOptions::default()).await?;
    Ok(())
}

/// Adversarial (adv33) on the journal of a blocked backup: `r2` holds `a/00`, first in id order;
/// `r1` over `a/` (more than a journal part, 4 MiB, of bodies) is BLOCKED in its backup, whose
/// gap says nothing was backed up. Before, the backup went on writing every batch to its sink
/// after the refusal was known, and a 4 MiB part of `r1`'s backup stayed in the journal, even
/// once `r1` was rolled back (nothing removes a part no backup was sealed over).
async fn refused_backup_journals_no_part(fixture: &impl RawSql) -> TestResult {
    refused_backup_leaves_no_part(fixture, 12, "a/00", DocumentBatches::default()).await
}

/// Adversarial (adv34) on the journal of a backup refused in a LATER batch than the first:
/// `r2` holds `a/15`, last in id order; `r1` over `a/` (more than a 4 MiB journal part of bodies
/// before `a/15`), read two documents a batch, is BLOCKED in its last batch, its gap saying
/// nothing was backed up. The batches before were written to the sink before the refusal was
/// known: rolled back, `r1` must leave no part of that backup in the journal.
async fn refused_late_journals_no_part(fixture: &impl RawSql) -> TestResult {
    refused_backup_leaves_no_part(fixture, 16, "a/15", DocumentBatches::Of(2)).await
}

/// A backup that fails part-way (here its seal, after every part was journaled) leaves its
/// parts in the journal for a resume to replace. Rolled back instead, the run must drop them
/// (before, they stayed for good: 7 MB for one abandoned run) and say so in its notes.
async fn failed_backup_rolled_back(fixture: &impl RawSql) -> TestResult {
    let failed = failed_backup(fixture).await?;
    let rolled = rolled_back(&failed.runner, "r1").await?;
    failed.assert_parts_dropped(fixture, &rolled).await;
    let json = rolled.to_json();
    assert_eq!(failed.adapter.snapshot().await?, failed.before, "{json}");
    Ok(())
}

/// The scene of the failed-backup tests: what [`failed_backup`] leaves.
struct FailedBackup {
    /// The store (behind the simulator's fault layer).
    adapter: Arc<dyn LiveExecutionAdapter>,
    /// The store before `r1`.
    before: iu_cutter_live_execution::StoreSnapshot,
    /// A runner journaling its backups in the store.
    runner: Runner,
    /// The statement counting `r1`'s journal parts: an update that changes nothing counts the
    /// rows without touching them.
    count: String,
    /// How many parts `r1` journaled (two at least).
    journaled: u64,
}

impl FailedBackup {
    /// Asserts that `rolled`, a rollback of `r1` (taken or refused), dropped every part of r1's
    /// backup from the journal and says so in its notes.
    async fn assert_parts_dropped(&self, fixture: &impl RawSql, rolled: &RunReport) {
        let json = rolled.to_json();
        assert_eq!(fixture.execute_raw(&self.count, &["r1"]).await, 0, "{json}");
        let said = format!("dropped the {} journal part(s)", self.journaled);
        assert!(
            rolled.notes.iter().any(|note| note.contains(&said)),
            "the rollback dropped {} parts and must say so: {json}",
            self.journaled
        );
    }
}

/// Sixteen large laws; `r1` over them, read two a batch, FAILS when the seal of its backup is
/// refused after every part was journaled.
async fn failed_backup(fixture: &impl RawSql) -> Result<FailedBackup, Box<dyn std::error::Error>> {
    use iu_cutter_simulator::FaultKind;
    let (faulty, adapter) = faulty_laws(fixture, 16).await?;
    let before = adapter.snapshot().await?;
    let runner = journaled(adapter.clone());
    faulty.inject_on(OpKind::SealBackup, 0, FaultKind::Error);
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    assert!(
        matches!(report.outcome, Outcome::Failed { .. }),
        "{}",
        report.to_json()
    );
    let parts = fixture.table("run_backup_parts");
    let count = format!("UPDATE {parts} SET run = run WHERE run = $1");
    let journaled = fixture.execute_raw(&count, &["r1"]).await;
    assert!(
        journaled >= 2,
        "the failed backup journaled {journaled} parts"
    );
    Ok(FailedBackup {
        adapter,
        before,
        runner,
        count,
        journaled,
    })
}

/// A blocked backup whose journal parts cannot be dropped (the store refuses the discard: the
/// kill switch closed meanwhile, say) must say so, and what drops them: before, it was only
/// logged, and the gap said nothing was backed up while a 4 MiB part stayed. Its rollback then
/// drops them.
async fn undropped_parts_told(fixture: &impl RawSql) -> TestResult {
    use iu_cutter_simulator::FaultKind;
    let (faulty, adapter) = faulty_laws(fixture, 16).await?;
    let runner = journaled(adapter.clone());
    hold_r2(&runner, vec![DocumentId::new("a/15")]).await?;
    faulty.inject_on(OpKind::DiscardBackupParts, 0, FaultKind::Error);
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    let (gap, json) = blocked(&report)?;
    assert!(
        gap.found.contains("could not be dropped") && gap.found.contains("rollback of run r1"),
        "{json}"
    );
    rolled_back_leaving_no_part(&runner, fixture).await?;
    Ok(())
}

/// Adversarial (adv37): a failed backup's rollback drops its parts, then the kill switch closes
/// before the rollback journals its step. The parts are gone for good, so the refused rollback's
/// report must say it dropped them (the one taken again once the switch is open finds none, and
/// says 0): before, it was refused saying only that the journal could not be written.
async fn switch_closed_after_dropping_parts(fixture: &impl RawSql) -> TestResult {
    use iu_cutter_live_execution::{ExecutionGate, Guarded, ManualSwitch};
    use iu_cutter_phase_core::JournalBackupStore;
    let failed = failed_backup(fixture).await?;
    let switch = ManualSwitch::new("kill switch", true, "open it");
    let gated: Arc<dyn LiveExecutionAdapter> = Arc::new(Guarded::new(
        failed.adapter.clone(),
        ExecutionGate::new().with_source(switch.clone()),
    ));
    let closer = switch.clone();
    let close: Pending = Box::pin(async move { closer.set(false) });
    let store = AfterFirst::new(&gated, OpKind::DiscardBackupParts, close);
    let journal = JournalBackupStore::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let rolling = Runner::new(store, Arc::new(journal));
    let refused = rolling.rollback(&RunId::new("r1")).await?;
    let json = refused.to_json();
    let Outcome::Refused { reason, .. } = &refused.outcome else {
        return Err(format!("expected REFUSED: {json}").into());
    };
    assert!(!reason.contains("nothing was changed"), "{json}");
    failed.assert_parts_dropped(fixture, &refused).await;

    switch.set(true);
    rolled_back_to(
        &rolling,
        "r1",
        (&failed.adapter, &failed.before),
        "as before",
    )
    .await?;
    Ok(())
}

/// Adversarial (adv37): the process dies right after the backup is sealed, before the backup
/// phase is journaled done: the journal holds a sealed backup whose phase record says it never
/// finished. A resume must pass (taking the backup again over the sealed one, or adopting it),
/// and a rollback then restores the store exactly.
async fn crash_after_seal(fixture: &impl RawSql) -> TestResult {
    use iu_cutter_simulator::FaultKind;
    let (faulty, adapter) = faulty_laws(fixture, 4).await?;
    let before = adapter.snapshot().await?;
    let runner = journaled(adapter.clone());
    faulty.inject_on(OpKind::SealBackup, 0, FaultKind::CrashAfter);
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    assert_ne!(report.outcome, Outcome::Pass, "{}", report.to_json());
    faulty.recover();
    resumed_pass(&runner, "r1", RunOptions::default()).await?;
    rolled_back_to(&runner, "r1", (&adapter, &before), "as before").await?;
    Ok(())
}

/// Puts `count` laws of about 385 KB each (`a/00`, `a/01`, …) in the fixture's store: a few fill
/// a 4 MiB journal part of a backup.
async fn large_laws(adapter: &Arc<dyn LiveExecutionAdapter>, count: usize) -> TestResult {
    let line = "Text of a long article, repeated to make a large body.\n";
    for i in 0..count {
        let body = format!("Article 1\n{}", line.repeat(7_000 + i));
        adapter
            .put_document(&DocumentId::new(format!("a/{i:02}")), &body)
            .await?;
    }
    Ok(())
}

/// The scene of both journal tests: `r2` holds `held`; `r1` over `count` large laws, read in
/// `batches`, is BLOCKED in its backup saying nothing was backed up; rolled back, it leaves no
/// part of that backup in the journal.
async fn refused_backup_leaves_no_part(
    fixture: &impl RawSql,
    count: usize,
    held: &str,
    batches: DocumentBatches,
) -> TestResult {
    let adapter = fixture.shared();
    large_laws(&adapter, count).await?;
    let runner = journaled(adapter.clone());
    hold_r2(&runner, vec![DocumentId::new(held)]).await?;
    let options = RunOptions::default().with_batch_documents(batches);
    let report = runner.run(r1_over_a(), options).await?;
    let (gap, json) = blocked(&report)?;
    assert!(gap.found.contains("nothing was backed up"), "{json}");
    rolled_back_leaving_no_part(&runner, fixture).await?;
    Ok(())
}

/// Adversarial (adv34): the backup of `r1`, refused in its last batch (`r2` holds `a/15`) after
/// a journal part of the batches before was written, is resumed once `r2` is rolled back: it
/// backs up all sixteen documents (not the earlier attempt's parts), passes, and its rollback
/// leaves the whole store exactly as before `r2`.
async fn refused_late_then_freed(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    large_laws(&adapter, 16).await?;
    let before = adapter.snapshot().await?;
    let runner = journaled(adapter.clone());
    hold_r2(&runner, vec![DocumentId::new("a/15")]).await?;
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    assert!(
        matches!(report.outcome, Outcome::Blocked { .. }),
        "{}",
        report.to_json()
    );
    rolled_back(&runner, "r2").await?;
    let resumed = resumed_pass(&runner, "r1", in_pairs()).await?;
    assert_eq!(
        resumed.phases[0].evidence.get("documents"),
        Some(&EvidenceValue::from(16u64)),
        "{}",
        resumed.to_json()
    );
    rolled_back_to(&runner, "r1", (&adapter, &before), "r1 rolled back exactly").await?;
    Ok(())
}

/// The scene of the two tests below: `r1` over sixteen large laws (`a/00` … `a/15`, more than
/// a 4 MiB journal part before `a/15`), read two documents a batch; while its first batch is
/// read, `r2` fences `a/00` and holds it (and, with `vanish`, the application deletes `a/15`).
/// `r1` must be BLOCKED naming `a/00` and `r2`, saying nothing was backed up, with no part of
/// its backup left in the journal; then, `r2` rolled back, `r1` resumed passes and rolls back
/// to the store exactly as before it.
async fn held_while_backed_up(fixture: &impl RawSql, vanish: bool) -> TestResult {
    let adapter = fixture.shared();
    large_laws(&adapter, 16).await?;
    let deletion = RawStatements::delete_document(fixture.options(), "a/15");
    let r2_runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let meanwhile: Pending = Box::pin(async move {
        let held = hold_r2(&r2_runner, vec![DocumentId::new("a/00")])
            .await
            .map_err(|e| e.to_string());
        assert!(held.is_ok(), "r2 holds a/00: {held:?}");
        if vanish {
            let deleted = deletion.execute().await;
            assert!(deleted.is_ok(), "a/15 deleted: {deleted:?}");
        }
    });
    let store = AfterFirst::new(&adapter, OpKind::GenerationsOf, meanwhile);
    let runner = journaled(store.clone());
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    assert!(store.ran().await, "r2 fenced meanwhile");
    let (gap, json) = blocked(&report)?;
    assert_eq!(gap.document, Some(DocumentId::new("a/00")), "{json}");
    assert!(gap.found.contains("run r2"), "{json}");
    assert!(gap.found.contains("nothing was backed up"), "{json}");
    let when = "it changed while the backup was written";
    assert_eq!(gap.found.contains(when), !vanish, "{json}");
    no_part_of_r1(fixture, &json).await;
    rolled_back(&runner, "r2").await?;
    let freed = adapter.snapshot().await?;
    resumed_pass(&runner, "r1", in_pairs()).await?;
    rolled_back_to(&runner, "r1", (&adapter, &freed), "r1 rolled back exactly").await?;
    Ok(())
}

/// A runner over `store` whose backups are journaled in it.
fn journaled(store: Arc<dyn LiveExecutionAdapter>) -> Runner {
    use iu_cutter_phase_core::JournalBackupStore;
    let journal = JournalBackupStore::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    Runner::new(store, Arc::new(journal))
}

/// `r1` over every `a/` document.
fn r1_over_a() -> RunRequest {
    RunRequest::new(
        "r1",
        Scope::Prefix("a/".into()),
        CutRules::preset(Preset::LegalEn),
    )
}

/// A run's documents read two a batch.
fn in_pairs() -> RunOptions {
    RunOptions::default().with_batch_documents(DocumentBatches::Of(2))
}

/// How many parts of `r1`'s backup the journal holds.
async fn parts_of_r1(fixture: &impl RawSql) -> u64 {
    let parts = fixture.table("run_backup_parts");
    let count = format!("UPDATE {parts} SET seq = seq WHERE run = $1");
    fixture.execute_raw(&count, &["r1"]).await
}

/// Rolls `r1` back, which must leave no part of its backup in the journal.
async fn rolled_back_leaving_no_part(runner: &Runner, fixture: &impl RawSql) -> TestResult {
    let json = rolled_back(runner, "r1").await?.to_json();
    no_part_of_r1(fixture, &json).await;
    Ok(())
}

/// Asserts that the journal holds no part of `r1`'s backup (`json`: the report that says why).
async fn no_part_of_r1(fixture: &impl RawSql, json: &str) {
    let left = parts_of_r1(fixture).await;
    assert_eq!(
        left, 0,
        "parts of r1's refused backup left in the journal: {json}"
    );
}

/// A store behind the simulator's fault layer.
type FaultyStore = iu_cutter_simulator::Faulty<Arc<dyn LiveExecutionAdapter>>;

/// The fixture's store behind the simulator's fault layer, with `count` [`large_laws`]: the
/// layer (to inject faults with) and the store through it.
async fn faulty_laws(
    fixture: &impl RawSql,
    count: usize,
) -> Result<(Arc<FaultyStore>, Arc<dyn LiveExecutionAdapter>), Box<dyn std::error::Error>> {
    let faulty = Arc::new(iu_cutter_simulator::Faulty::new(fixture.shared()));
    let adapter: Arc<dyn LiveExecutionAdapter> = faulty.clone();
    large_laws(&adapter, count).await?;
    Ok((faulty, adapter))
}

/// Adversarial (adv35) on a document changed while the backup was written and then found held
/// by another run (no test of its own before): `r2` fences `a/00` while `r1`'s backup reads its
/// first batch; the change log lists it once every batch is written (a journal part among them),
/// and `r1` is BLOCKED naming `r2`, its attempt's parts dropped.
async fn changed_then_held(fixture: &impl RawSql) -> TestResult {
    held_while_backed_up(fixture, false).await
}

/// Adversarial (adv35) on a backup taken again because a document vanished: `a/15` is deleted
/// and `a/00` fenced by `r2` while `r1`'s first batch is read. The first attempt journals a part
/// before it finds `a/15` gone; the attempt taken again is refused on `a/00` in its first batch,
/// having journaled nothing. Before, the first attempt's part stayed in the journal of a run
/// BLOCKED as having backed up nothing: the vanished path gave its sink up without dropping it,
/// and the refused attempt dropped only parts it had journaled itself.
async fn vanished_then_held(fixture: &impl RawSql) -> TestResult {
    held_while_backed_up(fixture, true).await
}

/// Adversarial (adv35) on a backup resumed after a crash: `r1`'s runner dies (its task aborted)
/// right after journaling part 0 of its backup; `r2` then fences `a/00` and holds it; `r1`
/// resumed is BLOCKED in its backup, refused in its first batch, saying nothing was backed up.
/// The crashed attempt's part must not stay in the journal of that run (the refused attempt
/// dropped only the parts it had journaled itself: none).
async fn crashed_then_held(fixture: &impl RawSql) -> TestResult {
    let adapter = fixture.shared();
    large_laws(&adapter, 16).await?;
    let (journaled_part, told) = tokio::sync::oneshot::channel();
    let dies: Pending = Box::pin(async move {
        let _ = journaled_part.send(());
        std::future::pending::<()>().await;
    });
    let crashing = journaled(AfterFirst::new(&adapter, OpKind::SaveBackupPart, dies));
    let task = tokio::spawn(async move {
        let report = crashing.run(r1_over_a(), in_pairs()).await;
        report.map(|r| r.to_json()).map_err(|e| e.to_string())
    });
    told.await?;
    task.abort();
    assert!(task.await.is_err(), "r1's runner died in its backup");
    assert_eq!(parts_of_r1(fixture).await, 1, "the crashed attempt's part");
    let runner = journaled(adapter.clone());
    hold_r2(&runner, vec![DocumentId::new("a/00")]).await?;
    let report = runner.resume(&RunId::new("r1"), in_pairs()).await?;
    let (gap, json) = blocked(&report)?;
    assert!(gap.found.contains("nothing was backed up"), "{json}");
    no_part_of_r1(fixture, &json).await;
    Ok(())
}

/// Adversarial (adv35) on the advice of a backup blocked on a document changed while it was
/// written and then found held: `r2` holds `a/03` when `r1` (over `a/00` … `a/03`) begins, and
/// `r3` fences `a/00` while `r1`'s first batch is read. `r1` is BLOCKED naming `a/00` and `r3`;
/// its advice to start a new run leaving out what it names, followed literally, must pass. It
/// named `a/00` alone (the change found first hid the refusal of `a/03`, read held by `r2`), and
/// the new run was blocked on `a/03`.
async fn changed_then_held_names_every_held(fixture: &impl RawSql) -> TestResult {
    let adapter = fixture.shared();
    large_laws(&adapter, 4).await?;
    let plain = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    hold_r2(&plain, vec![DocumentId::new("a/03")]).await?;
    let r3_runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let meanwhile: Pending = Box::pin(async move {
        let held = hold(&r3_runner, "r3", vec![DocumentId::new("a/00")])
            .await
            .map_err(|e| e.to_string());
        assert!(held.is_ok(), "r3 holds a/00: {held:?}");
    });
    let runner = journaled(AfterFirst::new(&adapter, OpKind::GenerationsOf, meanwhile));
    let report = runner.run(r1_over_a(), in_pairs()).await?;
    let (gap, json) = blocked(&report)?;
    assert!(gap.found.contains("run r3"), "{json}");
    let ids = ["a/00", "a/01", "a/02", "a/03"];
    leave_out_what_is_named(&plain, "r4", (gap, &json), &ids).await?;
    Ok(())
}

/// Adversarial (adv40) on `Simulator::seed_from_scope` over real stores: the application edits
/// `law/1` while a dry run copies its scope, right after the copy read the documents' rows (its
/// generation records and units not read yet). The copy must be the store after the edit (taken
/// again), never its rows from before beside its units from after.
async fn a_scope_edited_while_a_dry_run_copies_it_is_copied_after_the_edit(
    fixture: &impl RawSql,
) -> TestResult {
    let adapter = fixture.shared();
    let laws = ["law/1", "law/2"].map(DocumentId::new);
    let body = "Article 1\nOne.\n\nArticle 2\nTwo.\n";
    let documents: Vec<(DocumentId, String)> = laws
        .iter()
        .map(|id| (id.clone(), body.to_owned()))
        .collect();
    adapter.put_documents(&documents).await?;
    let runner = Runner::new(adapter.clone(), Arc::new(MemoryBackupStore::new()));
    let request = RunRequest::new(
        RunId::new("r1"),
        Scope::All,
        CutRules::preset(Preset::LegalEn),
    );
    let passed = runner.run(request, RunOptions::default()).await?;
    assert_eq!(passed.outcome, Outcome::Pass, "{passed:?}");
    let editor = adapter.clone();
    let edit: Pending = Box::pin(async move {
        let edited = editor
            .put_document(&DocumentId::new("law/1"), "Article 1\nEdited.\n")
            .await;
        assert!(edited.is_ok(), "the edit: {edited:?}");
    });
    let copying = AfterFirst::new(&adapter, OpKind::LoadScope, edit);
    let seeded = iu_cutter_simulator::Simulator::seed_from_scope(copying.as_ref(), &laws).await?;
    let scope = Scope::Ids(laws.to_vec());
    let now = adapter.load_scope(&scope).await?;
    assert!(
        now.iter().any(|d| d.body.contains("Edited")),
        "edited meanwhile"
    );
    assert_eq!(
        seeded.load_scope(&scope).await?,
        now,
        "the copy is the store after the edit"
    );
    assert_eq!(
        seeded.scope_census(&laws).await?.census,
        adapter.scope_census(&laws).await?.census,
        "the copy's census is the store's"
    );
    Ok(())
}

/// Adversarial (adv54, mem50's streamed census): `law/2` edited after the backup checked the
/// change log since the runner's opening census (its first `changed_since`) and before the
/// backup reads the census line of `law/2` (a summary's digests read again as each line is
/// written). The backup must hold a census that is the state of the rows it holds (taken again
/// once the change log lists the edit): its census is a census of the store as restored, and
/// `r1` rolled back leaves the store exactly as it was after the edit.
async fn adv54_edited_before_its_census_line(fixture: &impl SqlFixture) -> TestResult {
    let adapter = fixture.shared();
    for id in ["law/1", "law/2"] {
        let body = "Article 1\nOne.\nArticle 2\nTwo.\n";
        adapter.put_document(&DocumentId::new(id), body).await?;
    }
    let pre = adapter.snapshot().await?;
    let store = adapter.clone();
    let between = AfterFirst::new(&adapter, OpKind::ChangedSince, async move {
        let edited = store
            .put_document(&DocumentId::new("law/2"), "Article 1\nEdited.\n")
            .await;
        assert!(edited.is_ok(), "the edit: {edited:?}");
    });
    let backups = Arc::new(MemoryBackupStore::new());
    let runner = Runner::new(between.clone(), backups.clone());
    let report = runner
        .run(
            RunRequest::new("r1", Scope::All, CutRules::preset(Preset::LegalEn)),
            RunOptions::default(),
        )
        .await?;
    assert!(between.ran().await, "the edit ran before the census lines");
    let json = report.to_json();
    assert_eq!(report.outcome, Outcome::Pass, "{json}");
    let (backup, _) = iu_cutter_phase_core::BackupStore::load(backups.as_ref(), &RunId::new("r1"))
        .await?
        .ok_or("no backup")?;
    let json = rolled_back(&runner, "r1").await?.to_json();
    let now = adapter.snapshot().await?;
    let ids = [DocumentId::new("law/1"), DocumentId::new("law/2")];
    let census = adapter.scope_census(&ids).await?.census;
    assert_eq!(
        backup.census, census,
        "the backup's census is the restored store's: {json}"
    );
    assert_eq!(now.documents.len(), 2, "{json}");
    assert!(
        now.documents[0] == pre.documents[0],
        "law/1 as before: {json}"
    );
    assert_eq!(
        now.documents[1].body, "Article 1\nEdited.\n",
        "law/2 as edited: {json}"
    );
    assert!(now.generations == pre.generations, "generations: {json}");
    assert!(now.units == pre.units, "units: {json}");
    Ok(())
}
