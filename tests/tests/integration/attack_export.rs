//! Adversarial (adv39) on `export --since` over real stores: a run whose enact failed part-way
//! (the simulator's fault layer over SQLite or PostgreSQL) before the since-run, its generation
//! retired after it.

use std::collections::BTreeMap;
use std::sync::Arc;

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    CutRules, DocumentId, LiveExecutionAdapter, OpKind, Preset, RunId, Scope,
};
use iu_cutter_orchestrator::{
    ExportError, ExportLine, ExportRequest, Outcome, RunOptions, RunRequest, Runner,
};
use iu_cutter_phase_core::{DocumentBatches, MemoryBackupStore};
use iu_cutter_simulator::{FaultKind, Faulty};
use iu_cutter_tests::fixture::RawSql;

use crate::TestResult;

// Each check as a test per store it runs on.
on_fixtures! {
    since_over_an_enact_failed_before_the_run:
        since_over_an_enact_failed_before_the_run_on_sqlite on sqlite,
        since_over_an_enact_failed_before_the_run_on_postgres on postgres;
    since_over_a_rollback_stopped_part_way:
        since_over_a_rollback_stopped_part_way_on_sqlite on sqlite,
        since_over_a_rollback_stopped_part_way_on_postgres on postgres;
    since_over_a_document_deleted_since:
        since_over_a_document_deleted_since_on_sqlite on sqlite,
        since_over_a_document_deleted_since_on_postgres on postgres;
    since_over_a_document_deleted_and_written_again:
        since_over_a_document_deleted_and_written_again_on_sqlite on sqlite,
        since_over_a_document_deleted_and_written_again_on_postgres on postgres;
    since_over_a_document_deleted_with_its_units_and_written_again:
        since_over_a_document_deleted_with_its_units_and_written_again_on_sqlite on sqlite,
        since_over_a_document_deleted_with_its_units_and_written_again_on_postgres on postgres;
    since_over_a_document_deleted_and_written_again_before_the_run:
        since_over_a_document_deleted_and_written_again_before_the_run_on_sqlite on sqlite,
        since_over_a_document_deleted_and_written_again_before_the_run_on_postgres on postgres;
    since_over_a_document_deleted_with_its_units_before_the_run:
        since_over_a_document_deleted_with_its_units_before_the_run_on_sqlite on sqlite,
        since_over_a_document_deleted_with_its_units_before_the_run_on_postgres on postgres;
    rollback_over_a_document_deleted_and_cut_again:
        rollback_over_a_document_deleted_and_cut_again_on_sqlite on sqlite,
        rollback_over_a_document_deleted_and_cut_again_on_postgres on postgres;
}

/// What an index holds: per (document, unit id), the unit's sha256.
type Index = BTreeMap<(String, String), String>;

/// `lines` applied to `index` (a removal of a unit the index lacks is harmless).
fn applied(mut index: Index, lines: &[ExportLine]) -> Index {
    for line in lines {
        match line {
            ExportLine::Upsert(u) => {
                index.insert(
                    (u.document.to_string(), u.unit_id.clone()),
                    u.sha256.clone(),
                );
            }
            ExportLine::Remove(gone) => {
                index.remove(&(gone.document.to_string(), gone.unit_id.clone()));
            }
            ExportLine::RemoveDocument(gone) => {
                index.retain(|(document, _), _| *document != gone.document.as_str());
            }
        }
    }
    index
}

/// The lines of an export since `since` (every active unit when `None`).
/// The application adds law/3, and r3 cuts it alone.
async fn r3_over_a_new_law_3(store: &dyn LiveExecutionAdapter, runner: &Runner) -> TestResult {
    let law_3 = DocumentId::new("law/3");
    store.put_document(&law_3, "# Three\n\nText.\n").await?;
    pass(runner, "r3", &["law/3"]).await
}

/// A full export, as an index holds it.
async fn full(runner: &Runner) -> Result<Index, ExportError> {
    Ok(applied(Index::new(), &lines(runner, None).await?))
}

/// The lines since `run`, which, applied to `index` (fed when `run` finished), give `now`.
async fn assert_feeds(
    runner: &Runner,
    run: &str,
    index: Index,
    now: &Index,
) -> Result<Vec<ExportLine>, ExportError> {
    let since = lines(runner, Some(run)).await?;
    assert_eq!(applied(index, &since), *now, "{since:?}");
    Ok(since)
}

async fn lines(runner: &Runner, since: Option<&str>) -> Result<Vec<ExportLine>, ExportError> {
    let request = ExportRequest {
        since: since.map(RunId::new),
        ..ExportRequest::default()
    };
    let mut lines = Vec::new();
    runner
        .export(&request, &mut |line: &ExportLine| {
            lines.push(line.clone());
            Ok(())
        })
        .await?;
    Ok(lines)
}

/// Runs `run` over `ids` to PASS.
async fn pass(runner: &Runner, run: &str, ids: &[&str]) -> TestResult {
    let scope = Scope::Ids(ids.iter().map(|id| DocumentId::new(*id)).collect());
    let request = RunRequest::new(run, scope, CutRules::preset(Preset::Markdown));
    let report = runner.run(request, RunOptions::default()).await?;
    assert_eq!(report.outcome, Outcome::Pass, "{}", report.to_json());
    Ok(())
}

/// Puts `documents` (id, body) into `store` and runs `run` over them to PASS.
async fn put_and_pass(
    runner: &Runner,
    store: &Arc<dyn LiveExecutionAdapter>,
    run: &str,
    documents: &[(&str, &str)],
) -> TestResult {
    for (id, body) in documents {
        store.put_document(&DocumentId::new(*id), body).await?;
    }
    let ids: Vec<&str> = documents.iter().map(|(id, _)| *id).collect();
    pass(runner, run, &ids).await
}

/// x's enact fails on its second batch (law/2) after enacting law/1, journaled failed before r3
/// (over law/3) begins; after r3, y cuts law/1 again. When r3 finished, readers saw x's
/// generation of law/1: the lines since r3 take an index fed then to now. They were refused as
/// Unfinished, naming x to resume or roll back, where rolling x back is refused (y holds law/1).
async fn since_over_an_enact_failed_before_the_run(fixture: &impl RawSql) -> TestResult {
    let store = fixture.shared();
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let put = async |id: &str, body: &str| store.put_document(&DocumentId::new(id), body).await;
    let laws = [
        ("law/1", "# One\n\n## A\n\nFirst.\n\n## B\n\nSecond.\n"),
        ("law/2", "# Two\n\n## A\n\nOnly.\n"),
    ];
    put_and_pass(&plain, &store, "r1", &laws).await?;
    put(
        "law/1",
        "# One\n\n## A\n\nFirst, amended.\n\n## C\n\nThird.\n",
    )
    .await?;
    put("law/2", "# Two\n\n## A\n\nOnly, amended.\n").await?;
    let faulty = Arc::new(Faulty::new(store.clone()));
    faulty.inject_on(OpKind::Enact, 1, FaultKind::Error);
    let failing = Runner::new(faulty, Arc::new(MemoryBackupStore::new()));
    let scope = Scope::Ids(vec![DocumentId::new("law/1"), DocumentId::new("law/2")]);
    let request = RunRequest::new("x", scope, CutRules::preset(Preset::Markdown));
    let options = RunOptions::default().with_batch_documents(DocumentBatches::Of(1));
    let report = failing.run(request, options).await?;
    assert!(
        matches!(report.outcome, Outcome::Failed { .. }),
        "{}",
        report.to_json()
    );
    put("law/3", "# Three\n\nText.\n").await?;
    pass(&plain, "r3", &["law/3"]).await?;
    let index = full(&plain).await?;
    assert!(
        lines(&plain, None)
            .await?
            .iter()
            .any(|l| matches!(l, ExportLine::Upsert(u) if u.generation.as_str() == "x")),
        "readers saw x's law/1 when r3 finished"
    );
    put("law/1", "# One\n\n## A\n\nFirst, again.\n").await?;
    pass(&plain, "y", &["law/1"]).await?;
    let since = lines(&plain, Some("r3")).await?;
    let now = full(&plain).await?;
    assert_eq!(applied(index, &since), now, "{since:?}");
    Ok(())
}

/// z, enacted after r1, is rolled back in part (the store fails its second batch): one document
/// back on r1's generation, the other still z's. Since r1 the lines take an index fed after r1
/// to now, whichever document the rollback reached; since z, the export is refused as rolled
/// back.
async fn since_over_a_rollback_stopped_part_way(fixture: &impl RawSql) -> TestResult {
    let store = fixture.shared();
    let plain = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let put = async |id: &str, body: &str| store.put_document(&DocumentId::new(id), body).await;
    for n in 0..3 {
        put(
            &format!("a/{n}"),
            &format!("# A{n}\n\n## One\n\nText {n}.\n"),
        )
        .await?;
    }
    pass(&plain, "r1", &["a/0", "a/1", "a/2"]).await?;
    let index = full(&plain).await?;
    for n in 0..2 {
        put(
            &format!("a/{n}"),
            &format!("# A{n}\n\n## Two\n\nText {n}, amended.\n"),
        )
        .await?;
    }
    pass(&plain, "z", &["a/0", "a/1"]).await?;
    let faulty = Arc::new(Faulty::new(store.clone()));
    faulty.inject_on(OpKind::Restore, 1, FaultKind::Error);
    let failing = Runner::new(faulty, Arc::new(MemoryBackupStore::new()));
    let options = RunOptions::default().with_batch_documents(DocumentBatches::Of(1));
    let stopped = failing.rollback_with(&RunId::new("z"), options).await?;
    assert!(
        matches!(stopped.outcome, Outcome::Blocked { .. }),
        "{}",
        stopped.to_json()
    );
    let since = lines(&plain, Some("r1")).await?;
    let now = full(&plain).await?;
    assert_ne!(index, now, "z's second document is still z's");
    assert_eq!(applied(index, &since), now, "{since:?}");
    match lines(&plain, Some("z")).await {
        Err(ExportError::Since(why)) => assert!(why.contains("rolled back"), "{why}"),
        other => panic!("since z, rolled back in part: {other:?}"),
    }
    Ok(())
}

/// (adv52) law/1 and law/2 cut by r1, an index fed after r1; then the application deletes law/2
/// as iu-cutter asks (its generation records, then its row; its units left, as units have no
/// foreign key). A full export now has no unit of law/2; the lines since r1 walked the heads
/// only, so law/2's units stayed in the index with no tombstone and no refusal. Now the change
/// log names it, and the lines end with a `remove_document` for it.
async fn since_over_a_document_deleted_since(fixture: &impl RawSql) -> TestResult {
    let store = fixture.shared();
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let laws = [
        ("law/1", "# One\n\n## A\n\nFirst.\n\n## B\n\nSecond.\n"),
        ("law/2", "# Two\n\n## A\n\nOnly.\n\n## B\n\nMore.\n"),
    ];
    put_and_pass(&runner, &store, "r1", &laws).await?;
    let index = full(&runner).await?;
    assert!(index.keys().any(|(document, _)| document == "law/2"));
    let generations = fixture.table("generations");
    let documents = fixture.table("documents");
    let delete_records = format!("DELETE FROM {generations} WHERE document = $1");
    fixture.execute_raw(&delete_records, &["law/2"]).await;
    let delete_row = format!("DELETE FROM {documents} WHERE id = $1");
    assert_eq!(fixture.execute_raw(&delete_row, &["law/2"]).await, 1);
    let now = full(&runner).await?;
    let since = assert_feeds(&runner, "r1", index, &now).await?;
    let tombstones: Vec<&DocumentId> = since
        .iter()
        .filter_map(|line| match line {
            ExportLine::RemoveDocument(gone) => Some(&gone.document),
            _ => None,
        })
        .collect();
    assert_eq!(tombstones, [&DocumentId::new("law/2")], "{since:?}");
    Ok(())
}

/// Deletes `id` as an application does (README): its generation records, then its row; its
/// units stay (they have no foreign key).
async fn delete(fixture: &impl RawSql, id: &str) {
    let generations = fixture.table("generations");
    let documents = fixture.table("documents");
    let delete_records = format!("DELETE FROM {generations} WHERE document = $1");
    fixture.execute_raw(&delete_records, &[id]).await;
    let delete_row = format!("DELETE FROM {documents} WHERE id = $1");
    assert_eq!(fixture.execute_raw(&delete_row, &[id]).await, 1);
}

/// The application deletes `id`, its units as `units` says.
async fn delete_with(fixture: &impl RawSql, id: &str, units: Units) {
    if let Units::Deleted = units {
        let units = fixture.table("units");
        let delete_units = format!("DELETE FROM {units} WHERE document = $1");
        assert!(fixture.execute_raw(&delete_units, &[id]).await > 0);
    }
    delete(fixture, id).await;
}

/// What a deletion does with the document's units.
enum Units {
    /// Left in the store (the README's way: records, then row; units have no foreign key).
    Left,
    /// Deleted with the records and the row.
    Deleted,
}

/// law/2 cut by r0; then deleted (its `units` as said) and written again with other sections;
/// then r1 over law/1 alone, to PASS. Returns the store and its runner.
async fn deleted_and_written_again_before_r1(
    fixture: &impl RawSql,
    units: Units,
) -> Result<(Arc<dyn LiveExecutionAdapter>, Runner), Box<dyn std::error::Error>> {
    let store = fixture.shared();
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let put = async |id: &str, body: &str| store.put_document(&DocumentId::new(id), body).await;
    put("law/2", "# Two\n\n## A\n\nOnly.\n\n## B\n\nMore.\n").await?;
    pass(&runner, "r0", &["law/2"]).await?;
    delete_with(fixture, "law/2", units).await;
    put("law/2", "# Two again\n\n## C\n\nOther.\n").await?;
    put("law/1", "# One\n\n## A\n\nFirst.\n").await?;
    pass(&runner, "r1", &["law/1"]).await?;
    Ok((store.clone(), runner))
}

/// (adv53) law/1 and law/2 cut by r1, an index fed after r1; then the application deletes law/2
/// and writes it again under the same id with other sections. Not cut again, the lines since r1
/// must drop law/2's units (a full export has none); cut again by y, they must leave exactly y's
/// units. Both were refused, saying r1's generation of law/2 "was purged since", which no purge
/// did: the document was deleted, and a `remove_document` line before its upserts says exactly
/// that.
async fn since_over_a_document_deleted_and_written_again(fixture: &impl RawSql) -> TestResult {
    deleted_after_r1_and_written_again(fixture, Units::Left).await
}

/// As [`since_over_a_document_deleted_and_written_again`], law/2 deleted with its units (its
/// records, its units, its row). Nothing then says which units r1's generation of law/2 held:
/// the lines since r1 were refused as if that generation "was purged (or the document deleted,
/// its units with it)", and the next step was to export the whole store again. law/2 is
/// exported whole instead, `remove_document` then every active unit: exact either way.
async fn since_over_a_document_deleted_with_its_units_and_written_again(
    fixture: &impl RawSql,
) -> TestResult {
    deleted_after_r1_and_written_again(fixture, Units::Deleted).await
}

/// law/1 and law/2 cut by r1, an index fed; law/2 deleted (its units as `units` says) and
/// written again; the lines since r1 feed the index to now, and again once y cut law/2.
async fn deleted_after_r1_and_written_again(fixture: &impl RawSql, units: Units) -> TestResult {
    let store = fixture.shared();
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let put = async |id: &str, body: &str| store.put_document(&DocumentId::new(id), body).await;
    put("law/1", "# One\n\n## A\n\nFirst.\n").await?;
    put("law/2", "# Two\n\n## A\n\nOnly.\n\n## B\n\nMore.\n").await?;
    pass(&runner, "r1", &["law/1", "law/2"]).await?;
    let index = full(&runner).await?;
    delete_with(fixture, "law/2", units).await;
    put("law/2", "# Two again\n\n## C\n\nOther.\n").await?;
    let now = full(&runner).await?;
    assert!(!now.keys().any(|(document, _)| document == "law/2"));
    assert_feeds(&runner, "r1", index.clone(), &now).await?;
    pass(&runner, "y", &["law/2"]).await?;
    let now = full(&runner).await?;
    assert!(now.keys().any(|(document, _)| document == "law/2"));
    assert_feeds(&runner, "r1", index, &now).await?;
    Ok(())
}

/// (adv53) law/2 cut by r0, then deleted and written again before r1 (over law/1 alone) runs:
/// when r1 finished, law/2 had no active units. The lines since r1 were refused, saying r0's
/// generation of law/2 was "active (or possibly active) when run `r1` finished" and "purged
/// since" (neither is true), and so was every export since any later run, until law/2 was cut
/// again: the refusal's own next step (a full export, then measure from a later run) met it
/// again.
async fn since_over_a_document_deleted_and_written_again_before_the_run(
    fixture: &impl RawSql,
) -> TestResult {
    let (store, runner) = deleted_and_written_again_before_r1(fixture, Units::Left).await?;
    let index = full(&runner).await?;
    assert_feeds(&runner, "r1", index.clone(), &index).await?;
    r3_over_a_new_law_3(store.as_ref(), &runner).await?;
    let index = full(&runner).await?;
    pass(&runner, "y", &["law/2"]).await?;
    let now = full(&runner).await?;
    assert_feeds(&runner, "r3", index, &now).await?;
    Ok(())
}

/// (adv53) law/2 cut by r0, then deleted with its units too (its records, its units, its row)
/// and written again before r1 (over law/1 alone) runs, and not touched since: the change log
/// lists nothing of law/2 since r1's backup, so whatever r0 left of it was gone before r1 ran.
/// The lines since r1 (none) were refused, saying r0's generation was "active (or possibly
/// active) when run `r1` finished" and purged since, and so was every export since any later
/// run until law/2 is cut again.
async fn since_over_a_document_deleted_with_its_units_before_the_run(
    fixture: &impl RawSql,
) -> TestResult {
    let (store, runner) = deleted_and_written_again_before_r1(fixture, Units::Deleted).await?;
    let index = full(&runner).await?;
    r3_over_a_new_law_3(store.as_ref(), &runner).await?;
    let now = full(&runner).await?;
    assert_feeds(&runner, "r1", index, &now).await?;
    Ok(())
}

/// (adv53) law/1 and law/2 cut by r1; the application deletes law/2 (its records, then its row:
/// r1's units of it stay) and writes it again; y cuts the new law/2. Rolling r1 back must put
/// law/1 back as before r1 and leave the new law/2, y's generation of it and the units r1 left
/// under it (y's backup counted them) alone, saying so: nothing of r1's is on it. It was
/// refused, saying the rollback "would destroy y's work", next step: roll y back first.
async fn rollback_over_a_document_deleted_and_cut_again(fixture: &impl RawSql) -> TestResult {
    let store = fixture.shared();
    let runner = Runner::new(store.clone(), Arc::new(MemoryBackupStore::new()));
    let put = async |id: &str, body: &str| store.put_document(&DocumentId::new(id), body).await;
    put("law/1", "# One\n\n## A\n\nFirst.\n").await?;
    put("law/2", "# Two\n\n## A\n\nOnly.\n\n## B\n\nMore.\n").await?;
    pass(&runner, "r1", &["law/1", "law/2"]).await?;
    delete(fixture, "law/2").await;
    put("law/2", "# Two again\n\n## C\n\nOther.\n").await?;
    pass(&runner, "y", &["law/2"]).await?;
    let before = store.snapshot().await?;
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    let json = rolled.to_json();
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{json}");
    assert!(json.contains("cut by run `y`"), "{json}");
    let after = store.snapshot().await?;
    let r1 = RunId::new("r1");
    assert!(
        !after.generations.iter().any(|g| g.generation == r1),
        "{json}"
    );
    assert!(
        !after
            .units
            .iter()
            .any(|u| u.generation == r1 && u.document.as_str() == "law/1"),
        "{json}"
    );
    let law_2 = |s: &iu_cutter_live_execution::StoreSnapshot| {
        let units: Vec<_> = s
            .units
            .iter()
            .filter(|u| u.document.as_str() == "law/2")
            .cloned()
            .collect();
        let records: Vec<_> = s
            .generations
            .iter()
            .filter(|g| g.document.as_str() == "law/2")
            .cloned()
            .collect();
        let document = s
            .documents
            .iter()
            .find(|d| d.id.as_str() == "law/2")
            .cloned();
        (document, records, units)
    };
    assert_eq!(law_2(&after), law_2(&before), "{json}");
    // y still rolls back to exactly its backup, r1's units under law/2 counted as they were.
    let y = runner.rollback(&RunId::new("y")).await?;
    assert_eq!(y.outcome, Outcome::RolledBack, "{}", y.to_json());
    Ok(())
}
