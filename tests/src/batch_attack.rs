//! Attacks on the SQL stores' batch statements (`BatchReads`, `BatchWrites`: a write's documents
//! bound as one JSON array of ids, its rows as one JSON array of arrays of strings and nulls),
//! run against every store by [`crate::batch_attack_suite!`] (the simulator says what is right)
//! and, where they need raw SQL, against the SQL stores by [`crate::batch_attack_raw_suite!`].
//!
//! What they hold the stores to: an id round-trips through the JSON binding whatever its
//! characters (quotes, backslashes, JSON and SQL syntax, digits that read as numbers, non-ASCII,
//! long), a conflict names the exact document, a duplicated id in one call is the document once,
//! and the holds and rollback windows kept by the batch writes list exactly the edits of others.

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    Backup, Document, DocumentId, DocumentState, ExpectedRevision, GenerationState,
    LiveExecutionAdapter, PurgeTarget, RunId, Scope, Unit,
};

use crate::contract::{backup_of, conflict, expect, units_for};
use crate::fixture::RawSql;
use crate::{id, ok};

fixture_suite! {
    /// Instantiates the checks every store runs as `#[tokio::test]`s over `$fixture`.
    batch_attack_suite {
        (batch_attack, adapter): [
            ids_of_any_characters_go_through_every_batch_write,
            a_call_naming_a_document_twice_writes_it_once,
        ],
    }
}

fixture_suite! {
    /// Instantiates the checks that need raw SQL as `#[tokio::test]`s over `$fixture`.
    batch_attack_raw_suite {
        (batch_attack, fixture): [a_revision_beyond_a_json_double_is_compared_exactly],
    }
}

/// [`crate::awkward_ids`], as document ids.
fn awkward_ids() -> Vec<DocumentId> {
    crate::awkward_ids()
        .into_iter()
        .map(DocumentId::new)
        .collect()
}

/// A body for `id`: two articles, so that each document has two units.
fn body_of(id: &DocumentId) -> String {
    format!("Điều 1. {}.\nĐiều 2. Hết.\n", id.as_str().len())
}

/// Puts each of `ids` with its [`body_of`] in one call: the documents as stored.
async fn put_each(store: &dyn LiveExecutionAdapter, ids: &[DocumentId]) -> Vec<Document> {
    let bodies: Vec<(DocumentId, String)> = ids.iter().map(|i| (i.clone(), body_of(i))).collect();
    ok(store.put_documents(&bodies).await, "put_documents")
}

/// `ids` as stored now.
async fn load(store: &dyn LiveExecutionAdapter, ids: &[DocumentId]) -> Vec<Document> {
    ok(
        store.load_scope(&Scope::Ids(ids.to_vec())).await,
        "load_scope",
    )
}

/// The backup a backup phase would take of `ids`, with the scope's census and mark.
async fn scoped_backup(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    ids: &[DocumentId],
) -> Backup {
    let scope = ok(store.scope_census(ids).await, "scope_census");
    let mut backup = backup_of(store, run, ids).await;
    backup.census = scope.census;
    backup.mark = Some(scope.mark);
    backup
}

/// Fences `documents` for `run` as stored now, writes two units each in one call, and enacts.
async fn cut_all(store: &dyn LiveExecutionAdapter, run: &RunId, ids: &[DocumentId]) -> u64 {
    let documents = load(store, ids).await;
    let expectations: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    ok(store.fence(run, &expectations).await, "fence");
    let units: Vec<Unit> = documents
        .iter()
        .flat_map(|d| units_for(d, run, 2))
        .collect();
    ok(store.write_units(run, &units).await, "write_units");
    ok(store.enact(run, &expectations).await, "enact")
}

/// The generation records of `document` as (generation, state).
async fn records(
    store: &dyn LiveExecutionAdapter,
    document: &DocumentId,
) -> Vec<(String, GenerationState)> {
    ok(store.generations(document).await, "generations")
        .into_iter()
        .map(|g| (g.generation.as_str().to_owned(), g.state))
        .collect()
}

/// Every batch write (fence, write units, enact with a retirement, purge, rollback before and
/// after enact) of documents whose ids are [`awkward_ids`], with the conflicts naming them
/// exactly; the rollbacks' windows hide the runs' own writes and no one else's.
pub async fn ids_of_any_characters_go_through_every_batch_write(store: &dyn LiveExecutionAdapter) {
    let ids = awkward_ids();
    let stored = put_each(store, &ids).await;
    assert_eq!(stored.len(), ids.len(), "every id is its own document");
    for (document, asked) in stored.iter().zip(&ids) {
        assert_eq!(&document.id, asked, "put_documents answers in order");
    }

    // A stale expectation of each awkward id in turn refuses the fence naming exactly that id.
    let r1 = RunId::new("r1");
    for stale_at in [0, 1, 4, 7, 19, ids.len() - 1] {
        let mut expectations: Vec<ExpectedRevision> = stored.iter().map(expect).collect();
        expectations[stale_at].revision += 1;
        let what = format!("stale fence of {:?}", ids[stale_at].as_str());
        conflict(
            store.fence(&r1, &expectations).await,
            ids[stale_at].as_str(),
            &what,
        );
    }
    let unfenced = load(store, &ids).await;
    assert!(
        unfenced.iter().all(|d| d.state == DocumentState::Ready),
        "the refused fences wrote nothing"
    );

    assert_eq!(
        cut_all(store, &r1, &ids).await,
        ids.len() as u64,
        "r1 enacts every id"
    );
    let r2 = RunId::new("r2");
    assert_eq!(
        cut_all(store, &r2, &ids).await,
        ids.len() as u64,
        "r2 enacts every id"
    );
    for document in &ids {
        let active = ok(store.active_units(document).await, "active_units");
        assert_eq!(active.len(), 2, "{document:?}");
        assert!(
            active
                .iter()
                .all(|u| u.generation == r2 && u.document == *document)
        );
        let want = vec![
            ("r1".to_owned(), GenerationState::Retired),
            ("r2".to_owned(), GenerationState::Active),
        ];
        assert_eq!(records(store, document).await, want, "{document:?}");
    }
    let targets: Vec<PurgeTarget> = ids
        .iter()
        .map(|i| PurgeTarget {
            document: i.clone(),
            generation: r1.clone(),
            active: Some(r2.clone()),
        })
        .collect();
    // Each removed once, in order.
    let mut removed = targets.clone();
    removed.sort();
    assert_eq!(
        ok(store.purge_generations(&targets).await, "purge"),
        removed
    );

    // r3 fenced and staged, then an edit by someone else of two awkward ids while r3 holds
    // them, then r3 rolled back before enact: the windows hide r3's writes, never the edits.
    let r3 = RunId::new("r3");
    let backup = scoped_backup(store, &r3, &ids).await;
    let documents = load(store, &ids).await;
    let expectations: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    ok(store.fence(&r3, &expectations).await, "fence r3");
    let units: Vec<Unit> = documents
        .iter()
        .flat_map(|d| units_for(d, &r3, 2))
        .collect();
    ok(store.write_units(&r3, &units).await, "write_units r3");
    let edited = [ids[0].clone(), ids[ids.len() - 1].clone()];
    for document in &edited {
        ok(store.put_document(document, "Điều 1. Sửa.\n").await, "edit");
    }
    ok(store.restore(&r3, &backup).await, "restore r3");
    let mark = backup
        .mark
        .clone()
        .unwrap_or_else(|| panic!("a scoped backup has a mark"));
    let mut listed = ok(store.changed_since(&mark).await, "changed_since");
    listed.sort();
    let mut want = edited.to_vec();
    want.sort();
    assert_eq!(listed, want, "the edits of others alone are listed");

    // r4 cut after the edits, then rolled back after enact: r2 is active again everywhere.
    let r4 = RunId::new("r4");
    let backup = scoped_backup(store, &r4, &ids).await;
    assert_eq!(cut_all(store, &r4, &ids).await, ids.len() as u64);
    ok(store.restore(&r4, &backup).await, "restore r4");
    let scope = ok(store.scope_census(&ids).await, "scope_census");
    assert_eq!(scope.census, backup.census, "r4's rollback is exact");
    let mark = backup
        .mark
        .unwrap_or_else(|| panic!("a scoped backup has a mark"));
    assert_eq!(
        ok(store.changed_since(&mark).await, "changed_since"),
        Vec::<DocumentId>::new(),
        "a rolled-back run is no change for its backup's mark"
    );
}

/// A call that names a document twice (a fence, an enact, a unit written twice, a rollback
/// whose backup holds the document twice) writes it once, as one naming would, on every store.
pub async fn a_call_naming_a_document_twice_writes_it_once(store: &dyn LiveExecutionAdapter) {
    let ids = [id("d\"1"), id("d\\2"), id("d3")];
    put_each(store, &ids).await;
    let r1 = RunId::new("r1");
    assert_eq!(cut_all(store, &r1, &ids).await, 3);

    let r2 = RunId::new("r2");
    let mut backup = backup_of(store, &r2, &ids).await;
    let documents = load(store, &ids).await;
    let twice: Vec<ExpectedRevision> = documents.iter().chain(&documents).map(expect).collect();
    ok(store.fence(&r2, &twice).await, "fence naming each twice");
    let units: Vec<Unit> = documents
        .iter()
        .flat_map(|d| units_for(d, &r2, 2))
        .collect();
    let doubled: Vec<Unit> = units.iter().chain(&units).cloned().collect();
    assert_eq!(
        ok(store.write_units(&r2, &doubled).await, "write_units"),
        12
    );
    assert_eq!(
        ok(store.enact(&r2, &twice).await, "enact naming each twice"),
        3,
        "each document is enacted once"
    );
    for document in &ids {
        let want = vec![
            ("r1".to_owned(), GenerationState::Retired),
            ("r2".to_owned(), GenerationState::Active),
        ];
        assert_eq!(records(store, document).await, want, "{document:?}");
    }
    let again = backup.documents.clone();
    backup.documents.extend(again);
    ok(
        store.restore(&r2, &backup).await,
        "restore naming each twice",
    );
    assert_eq!(
        ok(store.census().await, "census"),
        backup.census,
        "exact rollback"
    );
    for document in &ids {
        let want = vec![("r1".to_owned(), GenerationState::Active)];
        assert_eq!(records(store, document).await, want, "{document:?}");
    }
}

/// A revision past 2^53 (set by raw SQL, as an application with its own counter may) is
/// compared exactly by the batch compare-and-set, which binds it as JSON text: a fence and an
/// enact of it go through, and one expecting the neighbouring revision (the same double) is
/// refused naming the document.
pub async fn a_revision_beyond_a_json_double_is_compared_exactly(fixture: &impl RawSql) {
    let store = fixture.adapter();
    let big: u64 = (1 << 53) + 1;
    let ids = [id("big\"1"), id("plain")];
    put_each(store, &ids).await;
    let documents = fixture.table("documents");
    let statement = format!("UPDATE {documents} SET revision = CAST($1 AS BIGINT) WHERE id = $2");
    let big_text = big.to_string();
    assert_eq!(
        fixture
            .execute_raw(&statement, &[big_text.as_str(), ids[0].as_str()])
            .await,
        1
    );
    let stored = load(store, &ids).await;
    assert_eq!(stored[0].revision, big, "the revision reads back exactly");
    let r = RunId::new("r1");
    let mut near = stored.clone();
    near[0].revision = big - 1;
    let near: Vec<ExpectedRevision> = near.iter().map(expect).collect();
    conflict(
        store.fence(&r, &near).await,
        ids[0].as_str(),
        "a neighbouring revision",
    );
    assert_eq!(cut_all(store, &r, &ids).await, 2);
    let after = load(store, &ids).await;
    assert_eq!(after[0].revision, big);
    assert_eq!(after[0].state, DocumentState::Cut);
}
