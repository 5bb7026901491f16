//! The contract of the scope census and the change log (`scope_census`, `changed_since`), run
//! against every store by [`crate::contract_suite!`], and the checks only SQL stores have (raw
//! SQL by a second connection, a store upgraded to the change log), run by
//! [`crate::change_log_live_suite!`].

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::sql::init_with;
use iu_cutter_live_execution::{
    AdapterError, Census, ChangeMark, Document, DocumentId, LiveExecutionAdapter, PurgeTarget,
    RunId, Sha256Digest,
};

use crate::contract::{cut, reread};
use crate::fixture::{RawSql, Tamper};
use crate::{id, ok, put};

fixture_suite! {
    /// Instantiates the SQL-only checks of the change log as `#[tokio::test]`s over `$fixture`.
    change_log_live_suite {
        (change_log, fixture): [
            raw_sql_of_a_second_connection_is_listed,
            an_update_that_changes_no_row_is_not_a_change,
            a_store_from_before_the_change_log_is_migrated_with_its_documents,
            windows_and_holds_do_not_accumulate,
            a_hold_removed_or_cleared_by_hand_opens_no_window,
            an_edit_of_a_generation_record_undone_while_held_stays_listed,
            a_rollback_refused_by_the_kill_switch_then_retried_hides_no_edit,
        ],
    }
}

fn ids(values: &[&str]) -> Vec<DocumentId> {
    values.iter().map(|v| id(v)).collect()
}

async fn mark(store: &dyn LiveExecutionAdapter, documents: &[&str]) -> ChangeMark {
    ok(store.scope_census(&ids(documents)).await, "scope_census").mark
}

/// The documents `store` lists as changed since `mark`.
pub async fn changed(store: &dyn LiveExecutionAdapter, mark: &ChangeMark) -> Vec<DocumentId> {
    ok(store.changed_since(mark).await, "changed_since")
}

/// `census` restricted to `documents`: its digests of them.
fn digests_of(census: &Census, documents: &[&str]) -> Vec<(DocumentId, Sha256Digest)> {
    census
        .per_document
        .iter()
        .filter(|(id, _)| documents.contains(&id.as_str()))
        .map(|(id, digest)| (id.clone(), *digest))
        .collect()
}

const BODY: &str = "Điều 1. Phạm vi.\nĐiều 2. Đối tượng.\nĐiều 3. Giải thích từ ngữ.\n";

/// A scope census gives the whole census's digests of its documents (ids asked for that do not
/// exist are absent, an id asked twice counts once), and over all the documents it is the whole
/// census, fingerprint included; two scopes that split the store add up to its counts.
pub async fn a_scope_census_is_the_census_of_its_documents(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", BODY).await;
    let b = put(store, "b", "Điều 1. Một.\n").await;
    put(store, "c", "Điều 1. Ba.\nĐiều 2. Bốn.\n").await;
    cut(store, &RunId::new("r1"), &[a.clone(), b], 3).await;
    cut(store, &RunId::new("r2"), &[reread(store, &a).await], 2).await;
    let whole = ok(store.census().await, "census");
    assert_eq!(whole.documents, 3);

    let all = ok(store.scope_census(&ids(&["c", "b", "a"])).await, "all");
    assert_eq!(all.census, whole, "over every document: the whole census");

    let some = ok(
        store.scope_census(&ids(&["c", "a", "missing", "a"])).await,
        "some",
    );
    assert_eq!(
        digests_of(&some.census, &["a", "c", "missing"]),
        digests_of(&whole, &["a", "c"])
    );
    assert_eq!(some.census.documents, 2);
    assert_eq!(some.census.per_document.len(), 2);
    let rest = ok(store.scope_census(&ids(&["b"])).await, "rest");
    assert_eq!(some.census.units + rest.census.units, whole.units);
    assert!(rest.census.units > 0 && some.census.units > 0);
    assert_ne!(some.census.fingerprint, whole.fingerprint);

    let none = ok(store.scope_census(&[]).await, "empty scope");
    assert_eq!((none.census.documents, none.census.units), (0, 0));

    // The summary: the same census without the digest of each document.
    for asked in [&["c", "a", "missing", "a"][..], &["c", "b", "a"], &[]] {
        let full = ok(store.scope_census(&ids(asked)).await, "scope census");
        let summary = ok(store.scope_census_summary(&ids(asked)).await, "summary");
        assert_summary_of(&summary.census, &full.census);
    }
}

/// Adversarial (adv29): ids whose bytewise order differs from a case-folded, locale or
/// per-char-width order (uppercase before lowercase, two-, three- and four-byte UTF-8, a prefix
/// of another) fold into the same summary as the full census, and the store's heads come in the
/// census's key order, the order the backup's whole-store check walks them in.
pub async fn a_scope_census_summary_folds_ids_in_bytewise_order(store: &dyn LiveExecutionAdapter) {
    let names = [
        "a",
        "B",
        "Z",
        "b",
        "é",
        "\u{10000}",
        "\u{FFFD}",
        "Ä",
        "ab",
        "a b",
        "a-",
        "a_",
        "zz",
        "~",
        "中",
        "Ω",
    ];
    for name in names {
        put(store, name, BODY).await;
    }
    let whole = ok(store.census().await, "census");
    let asked = ids(&names);
    let full = ok(store.scope_census(&asked).await, "scope census");
    assert_eq!(full.census, whole);
    let summary = ok(store.scope_census_summary(&asked).await, "summary");
    assert_summary_of(&summary.census, &whole);
    let heads = ok(store.heads_page(None, 1000).await, "heads");
    let head_ids: Vec<&DocumentId> = heads.iter().map(|h| &h.id).collect();
    let census_ids: Vec<&DocumentId> = whole.per_document.keys().collect();
    assert_eq!(head_ids, census_ids, "heads in the census's key order");
    // Paged two at a time, the heads still walk the census's keys once each.
    let mut paged = Vec::new();
    let mut after: Option<DocumentId> = None;
    loop {
        let page = ok(store.heads_page(after.as_ref(), 2).await, "heads page");
        let last = page.len() < 2;
        after = page.last().map(|h| h.id.clone());
        paged.extend(page.into_iter().map(|h| h.id));
        if last {
            break;
        }
    }
    let paged: Vec<&DocumentId> = paged.iter().collect();
    assert_eq!(paged, census_ids, "paged heads in the census's key order");
}

/// `summary` is `census` without its digests per document: the same counts and fingerprint.
fn assert_summary_of(summary: &Census, census: &Census) {
    assert_eq!(
        (summary.documents, summary.units, &summary.fingerprint),
        (census.documents, census.units, &census.fingerprint)
    );
    assert!(summary.per_document.is_empty(), "{summary:?}");
}

/// A scope census of more documents than a store reads in one page (5,000 on PostgreSQL, whose
/// census reads rows a page of documents at a time in its one snapshot) is the whole census:
/// documents cut on either side of a page's edge keep their generations and units, ids asked
/// out of order and twice count once.
pub async fn a_scope_census_over_many_pages_is_the_census_of_its_documents(
    store: &dyn LiveExecutionAdapter,
) {
    let (id, body) = (|i| format!("p/{i:05}"), |i| format!("Điều 1. Số {i}.\n"));
    let stored = crate::put_many(store, 10_001, id, body).await;
    let edges: Vec<Document> = [0, 4_999, 5_000, 10_000]
        .into_iter()
        .filter_map(|i| stored.get(i).cloned())
        .collect();
    cut(store, &RunId::new("r1"), &edges, 2).await;
    let whole = ok(store.census().await, "census");
    assert_eq!(whole.documents, 10_001);

    let mut asked: Vec<DocumentId> = stored.iter().map(|d| d.id.clone()).rev().collect();
    asked.push(DocumentId::new("p/05000"));
    let scoped = ok(store.scope_census(&asked).await, "scope census");
    assert_eq!(scoped.census, whole, "every page read, each document once");
    assert_eq!(scoped.census.units, 8);
    let summary = ok(store.scope_census_summary(&asked).await, "summary");
    assert_summary_of(&summary.census, &whole);
}

/// Nothing is listed while nothing changes; then every change after the mark is, whoever made
/// it: a document put through another handle, a raw edit of one unit's body alone, a DELETE of
/// a retired generation's rows (a purge); listed once each, in id order; a mark taken after a
/// change does not list it.
pub async fn changed_since_lists_every_change_after_the_mark(fixture: &impl Tamper) {
    let store = fixture.adapter();
    let a = put(store, "a", BODY).await;
    let b = put(store, "b", "Điều 1. Một.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let (r1, r2) = (RunId::new("r1"), RunId::new("r2"));
    cut(store, &r1, &[a.clone(), b.clone()], 3).await;

    let first = mark(store, &["a"]).await;
    assert_eq!(changed(store, &first).await, Vec::<DocumentId>::new());
    ok(store.census().await, "a read");
    ok(
        store
            .load_scope(&iu_cutter_live_execution::Scope::All)
            .await,
        "a read",
    );
    assert_lists(store, &first, &[], "reads change nothing").await;

    fixture
        .edit_unit_raw("b", "r1", 1, "edited underneath")
        .await;
    assert_lists(store, &first, &["b"], "a unit-only edit").await;

    let second = mark(store, &["b"]).await;
    assert_eq!(changed(store, &second).await, Vec::<DocumentId>::new());
    let other = fixture.shared();
    ok(other.put_document(&id("c"), "Điều 1. Đổi.\n").await, "put");
    ok(other.put_document(&id("a2"), "Điều 1. Mới.\n").await, "put");
    assert_eq!(changed(store, &second).await, ids(&["a2", "c"]));
    assert_eq!(changed(store, &first).await, ids(&["a2", "b", "c"]));

    cut(store, &r2, &[reread(store, &a).await], 2).await;
    let third = mark(store, &[]).await;
    let purged = ok(
        store
            .purge_generations(&[PurgeTarget {
                document: id("a"),
                generation: r1.clone(),
                active: Some(r2.clone()),
            }])
            .await,
        "purge",
    );
    assert_eq!(purged.len(), 1);
    assert_lists(store, &third, &["a"], "a DELETE").await;
    assert_eq!(changed(store, &first).await, ids(&["a", "a2", "b", "c"]));
}

/// Unit writes alone are changes: a first write (a plain insert on PostgreSQL, from its
/// staging table) and a rewrite of written keys that changes a unit (an upsert) are each listed
/// after a mark taken once the fence is in place; an empty batch is not.
pub async fn unit_writes_are_listed_by_the_change_log(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", BODY).await;
    put(store, "b", "Điều 1. Một.\n").await;
    let r = RunId::new("r1");
    ok(
        store
            .fence(&r, &[iu_cutter_live_execution::ExpectedRevision::of(&a)])
            .await,
        "fence",
    );
    let units = crate::contract::units_for(&a, &r, 3);
    assert!(units.len() >= 2, "{}", units.len());

    let fenced = mark(store, &["a"]).await;
    ok(store.write_units(&r, &[]).await, "an empty batch");
    assert_eq!(changed(store, &fenced).await, Vec::<DocumentId>::new());
    ok(store.write_units(&r, &units).await, "first write");
    assert_lists(store, &fenced, &["a"], "inserted units").await;

    let written = mark(store, &["a"]).await;
    assert_eq!(changed(store, &written).await, Vec::<DocumentId>::new());
    let mut rewritten = units[1..].to_vec();
    rewritten[0].path = "Chương I/Điều 2".into();
    ok(store.write_units(&r, &rewritten).await, "rewrite");
    assert_lists(store, &written, &["a"], "replaced units").await;
}

/// A mark is read only by a store of the backend that issued it: another backend's mark, or
/// one that is not a mark, is refused as invalid.
pub async fn a_mark_of_another_store_kind_is_refused(store: &dyn LiveExecutionAdapter) {
    let own = mark(store, &[]).await;
    let (backend, _) = own.as_str().split_once(':').unwrap_or_default();
    let other = if backend == "sqlite" {
        "postgres"
    } else {
        "sqlite"
    };
    for foreign in [ChangeMark::new(other, 1), ChangeMark::new(backend, "x:y;z")] {
        match store.changed_since(&foreign).await {
            Err(AdapterError::Invalid(text)) => assert!(text.contains(foreign.as_str()), "{text}"),
            other => panic!("{foreign}: expected invalid, got {other:?}"),
        }
    }
}

/// A mark the store has not reached is refused, not read: a store moved or restored behind a
/// run's mark (a PostgreSQL database dumped and restored into another server, whose transaction
/// ids start lower; an older copy of a file) would take changes made there for ones the mark's
/// census saw, and list nothing. A mark the store has reached (its own, the latest) is read.
pub async fn a_mark_ahead_of_the_store_is_refused(store: &dyn LiveExecutionAdapter) {
    let own = mark(store, &[]).await;
    assert_eq!(changed(store, &own).await, Vec::<DocumentId>::new());
    let (backend, _) = own.as_str().split_once(':').unwrap_or_default();
    // Far ahead of any test server: about 2^43 transactions.
    let ahead = if backend == "postgres" {
        ChangeMark::new(backend, "9000000000000:9000000000000:")
    } else {
        ChangeMark::new(backend, 9_000_000_000_000_u64)
    };
    match store.changed_since(&ahead).await {
        Err(AdapterError::Invalid(text)) => {
            assert!(
                text.contains(ahead.as_str()) && text.contains("ahead"),
                "{text}"
            )
        }
        other => panic!("{ahead}: expected invalid, got {other:?}"),
    }
}

/// A rollback is a change like any other for a mark taken while the run held the document: the
/// document differed then (fenced, cut) from what the rollback put back, so `changed_since` of
/// that mark lists it, and a later edit elsewhere is listed too (the log never moves back). A
/// change log that put a rolled-back document's old entry back (issue: a held run's enact
/// blocked by another run's rollback) must keep this: only marks taken before the rolled-back
/// run's first write may stop seeing it.
pub async fn a_rollback_is_a_change_for_a_mark_taken_while_the_run_held_it(
    store: &dyn LiveExecutionAdapter,
) {
    put(store, "a", BODY).await;
    let b = put(store, "b", "Điều 1. Một.\n").await;
    let r = RunId::new("r");
    let backup = crate::contract::backup_of(store, &r, &ids(&["b"])).await;
    cut(store, &r, &[b], 2).await;
    let held = mark(store, &["a"]).await;
    assert_eq!(changed(store, &held).await, Vec::<DocumentId>::new());

    rolled_back_lists(
        store,
        &r,
        &backup,
        &held,
        &["b"],
        "the rollback after the mark",
    )
    .await;
    put(store, "a", "Điều 1. Sửa.\n").await;
    assert_lists(store, &held, &["a", "b"], "an edit after the rollback").await;
}

/// The documents `documents` as stored now.
async fn load(store: &dyn LiveExecutionAdapter, documents: &[&str]) -> Vec<Document> {
    ok(
        store
            .load_scope(&iu_cutter_live_execution::Scope::Ids(ids(documents)))
            .await,
        "load_scope",
    )
}

/// The backup a backup phase takes of `documents`: their scope census, its mark, and their
/// snapshots (no change-log entries: backups no longer record them).
async fn scoped_backup_of(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    documents: &[&str],
) -> iu_cutter_live_execution::Backup {
    let scope = ok(store.scope_census(&ids(documents)).await, "scope_census");
    let mut backup = crate::contract::backup_of(store, run, &ids(documents)).await;
    backup.census = scope.census;
    backup.mark = Some(scope.mark);
    backup
}

/// `documents` as stored now and the expectations a run fences them with.
async fn with_expectations(
    store: &dyn LiveExecutionAdapter,
    documents: &[&str],
) -> (
    Vec<Document>,
    Vec<iu_cutter_live_execution::ExpectedRevision>,
) {
    let documents = load(store, documents).await;
    let expectations = documents.iter().map(crate::contract::expect).collect();
    (documents, expectations)
}

/// Run `run` as the rollback attacks start it: its scoped backup of `documents` taken, then
/// `documents` cut (fenced, written, enacted), so that the run holds them. The run and its
/// backup, to roll it back with.
async fn backed_up_and_cut(
    store: &dyn LiveExecutionAdapter,
    run: &str,
    documents: &[&str],
) -> (RunId, iu_cutter_live_execution::Backup) {
    let run = RunId::new(run);
    let backup = scoped_backup_of(store, &run, documents).await;
    cut(store, &run, &load(store, documents).await, 2).await;
    (run, backup)
}

/// Asserts that `mark` lists exactly `listed` as changed (`why` says which change that is).
async fn assert_lists(
    store: &dyn LiveExecutionAdapter,
    mark: &ChangeMark,
    listed: &[&str],
    why: &str,
) {
    assert_eq!(changed(store, mark).await, ids(listed), "{why}");
}

/// Rolls `run` back to `backup`, then asserts that `mark` lists exactly `listed` as changed
/// (`why` says which change that is): how each attack ends.
async fn rolled_back_lists(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    backup: &iu_cutter_live_execution::Backup,
    mark: &ChangeMark,
    listed: &[&str],
    why: &str,
) {
    ok(store.restore(run, backup).await, "restore");
    assert_lists(store, mark, listed, why).await;
}

/// An application edit of `document`'s body by raw SQL, undone at once (ABA): its body is
/// `body` again, with no revision or sha256 of the store's changed.
async fn edit_and_undo_raw(fixture: &impl Tamper, document: &str, body: &str) {
    fixture.edit_body_raw(document, "Điều 1. Sửa lén.\n").await;
    fixture.edit_body_raw(document, body).await;
}

/// An application edit of the first of the two units `generation` cut of `document`, by raw
/// SQL, undone at once (ABA on a units row).
async fn edit_unit_and_undo_raw(fixture: &impl Tamper, document: &Document, generation: &RunId) {
    let unit = crate::contract::units_for(document, generation, 2).remove(0);
    let (id, run) = (document.id.as_str(), generation.as_str());
    fixture.edit_unit_raw(id, run, 0, "Sửa lén.").await;
    fixture.edit_unit_raw(id, run, 0, &unit.body).await;
}

/// A held run's mark (A) stops seeing another run (B) outside its scope once B is rolled back
/// to exactly what its backup saw: B's documents are not listed. An application edit between
/// A's mark and B's backup still is (B's backup saw it, A did not). The backup's own change-log
/// entries are not read (the store records the run's hold itself): a backup without them, or
/// with one no store writes, hides a rollback from a mark that saw the document just before
/// the run's fence, and from no earlier one.
pub async fn a_rolled_back_run_is_no_change_for_an_earlier_mark(store: &dyn LiveExecutionAdapter) {
    let a = put(store, "a", BODY).await;
    put(store, "b", "Điều 1. Một.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let held = mark(store, &["a"]).await;
    ok(
        store
            .fence(
                &RunId::new("ra"),
                &[iu_cutter_live_execution::ExpectedRevision::of(&a)],
            )
            .await,
        "fence a",
    );
    put(store, "c", "Điều 1. Ba, sửa.\n").await;

    let (r, backup) = backed_up_and_cut(store, "rb", &["b", "c"]).await;
    assert_eq!(changed(store, &held).await, ids(&["a", "b", "c"]));
    rolled_back_lists(
        store,
        &r,
        &backup,
        &held,
        &["a", "c"],
        "b is as the held run's mark saw it; c was edited after that mark",
    )
    .await;

    let old = RunId::new("old");
    let mut backup = scoped_backup_of(store, &old, &["b"]).await;
    let held_old = mark(store, &["a"]).await;
    backup.entries = None;
    cut(store, &old, &load(store, &["b"]).await, 2).await;
    ok(
        store.restore(&old, &backup).await,
        "restore without entries",
    );
    assert_lists(
        store,
        &held,
        &["a", "b", "c"],
        "b changed (the first rollback) after the held run's mark",
    )
    .await;
    assert_lists(
        store,
        &held_old,
        &[],
        "b is as it was just before the fence, which this mark saw",
    )
    .await;

    let odd = RunId::new("odd");
    let mut backup = scoped_backup_of(store, &odd, &["b"]).await;
    let held_b = mark(store, &["a"]).await;
    backup.entries = Some([(id("b"), "not a mark".to_owned())].into());
    cut(store, &odd, &load(store, &["b"]).await, 2).await;
    ok(
        store.restore(&odd, &backup).await,
        "restore with an odd entry",
    );
    assert_lists(store, &held_b, &[], "an entry no store writes is not read").await;
    assert_eq!(changed(store, &held).await, ids(&["a", "b", "c"]));
}

/// Raw SQL over a connection of its own, as an application or psql would: an INSERT, an UPDATE
/// of a generation record alone and a DELETE of a document row are each listed; an UPDATE that
/// changes nothing the census covers (a sync recording metadata) is not.
pub async fn raw_sql_of_a_second_connection_is_listed(fixture: &impl RawSql) {
    let store = fixture.adapter();
    let a = put(store, "a", BODY).await;
    put(store, "b", "Điều 1. Một.\n").await;
    put(store, "gone", "Điều 1. Hết.\n").await;
    cut(store, &RunId::new("r1"), &[a], 2).await;
    let (documents, generations) = (fixture.table("documents"), fixture.table("generations"));

    let before = mark(store, &["a"]).await;
    let metadata = format!("UPDATE {documents} SET metadata = $1 WHERE id = $2");
    assert_eq!(fixture.execute_raw(&metadata, &["{}", "b"]).await, 1);
    assert_eq!(changed(store, &before).await, Vec::<DocumentId>::new());

    let retire = format!("UPDATE {generations} SET state = 'retired' WHERE document = $1");
    assert_eq!(fixture.execute_raw(&retire, &["a"]).await, 1);
    assert_eq!(changed(store, &before).await, ids(&["a"]));

    let after = mark(store, &[]).await;
    let delete = format!("DELETE FROM {documents} WHERE id = $1");
    assert_eq!(fixture.execute_raw(&delete, &["gone"]).await, 1);
    let insert = format!(
        "INSERT INTO {documents} (id, revision, sha256, state, body) \
         VALUES ($1, 1, 'x', 'ready', 'raw')"
    );
    assert_eq!(fixture.execute_raw(&insert, &["raw"]).await, 1);
    assert_eq!(changed(store, &after).await, ids(&["gone", "raw"]));
    assert_eq!(changed(store, &before).await, ids(&["a", "gone", "raw"]));
    let census = ok(store.scope_census(&ids(&["gone", "raw"])).await, "scope");
    assert_eq!(census.census.documents, 1, "the deleted document is absent");
}

/// An UPDATE that leaves every row of `generations` or `units` as it was (an ORM saving
/// unchanged rows, a maintenance script) is not a change, as a document row's is not: a
/// document listed outside a run's scope blocks its write-verify for good (the mark is the
/// backup's) and fails a dry run's attestation, though no census could tell. One that changes
/// one row of a multi-row statement lists that row's document alone, and a unit moved to
/// another document lists both.
pub async fn an_update_that_changes_no_row_is_not_a_change(fixture: &impl RawSql) {
    let store = fixture.adapter();
    let a = put(store, "a", BODY).await;
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    cut(store, &RunId::new("r1"), &[a, b], 2).await;
    let (generations, units) = (fixture.table("generations"), fixture.table("units"));

    let before = mark(store, &[]).await;
    let unchanged = [
        format!("UPDATE {units} SET body = body, sha256 = sha256, path = path"),
        format!("UPDATE {generations} SET state = state, cut_sha256 = cut_sha256"),
        format!("UPDATE {units} SET part = part WHERE document = $1"),
    ];
    for statement in &unchanged {
        let binds: &[&str] = if statement.contains("$1") {
            &["a"]
        } else {
            &[]
        };
        assert!(
            fixture.execute_raw(statement, binds).await > 0,
            "{statement}"
        );
    }
    assert_lists(store, &before, &[], "no row changed").await;

    let one = format!(
        "UPDATE {units} SET body = CASE WHEN document = $1 AND ordinal = 1 THEN 'edited' \
         ELSE body END"
    );
    assert!(fixture.execute_raw(&one, &["b"]).await > 1);
    assert_lists(store, &before, &["b"], "one row of many").await;

    let after = mark(store, &[]).await;
    let moved = format!(
        "UPDATE {units} SET document = 'c', generation = 'r9' \
         WHERE document = $1 AND ordinal = 0"
    );
    assert_eq!(fixture.execute_raw(&moved, &["a"]).await, 1);
    assert_lists(store, &after, &["a", "c"], "moved").await;
}

/// A store whose documents predate the change log (version 7: no log, no triggers) gets it from
/// `init`, every document seeded: nothing is listed until something changes, then the change is.
pub async fn a_store_from_before_the_change_log_is_migrated_with_its_documents(
    fixture: &impl RawSql,
) {
    let store = fixture.adapter();
    let a = put(store, "a", BODY).await;
    put(store, "b", "Điều 1. Một.\n").await;
    cut(store, &RunId::new("r1"), &[a], 2).await;
    for statement in back_to_version_7(fixture) {
        fixture.execute_raw(&statement, &[]).await;
    }
    put(store, "c", "Điều 1. Ba, before the upgrade.\n").await;

    let report = ok(init_with(fixture.options()).await, "init");
    assert_eq!(report.applied, vec![8]);
    let seeded = format!(
        "UPDATE {} SET document = document WHERE document IN ('a', 'b', 'c')",
        fixture.table("document_changes")
    );
    assert_eq!(
        fixture.execute_raw(&seeded, &[]).await,
        3,
        "every document seeded"
    );

    let store = ok(
        iu_cutter_live_execution::sql::connect_with(fixture.options(), crate::fixture::open_gate())
            .await,
        "connect after the upgrade",
    );
    let mark = mark(&store, &["a", "b", "c"]).await;
    assert_eq!(changed(&store, &mark).await, Vec::<DocumentId>::new());
    fixture.edit_unit_raw("a", "r1", 0, "edited").await;
    assert_eq!(changed(&store, &mark).await, ids(&["a"]));
}

/// The statements that take a store back to version 7: the change log, its triggers (and on
/// PostgreSQL their functions) dropped, migration 8 forgotten.
fn back_to_version_7(fixture: &impl RawSql) -> Vec<String> {
    let postgres = fixture.dialect() == "postgres";
    let mut statements = Vec::new();
    for table in ["documents", "generations", "units"] {
        for event in ["insert", "update", "delete"] {
            let trigger = fixture.table(&format!("{table}_log_{event}"));
            statements.push(if postgres {
                format!("DROP TRIGGER {trigger} ON {table}")
            } else {
                format!("DROP TRIGGER {trigger}")
            });
        }
    }
    if postgres {
        for table in ["documents", "generations", "units"] {
            statements.push(format!("DROP TRIGGER {table}_log_truncate ON {table}"));
        }
        statements.push("DROP FUNCTION document_changes_log()".to_owned());
        statements.push("DROP FUNCTION document_changes_log_documents()".to_owned());
        statements.push("DROP FUNCTION document_changes_log_truncate()".to_owned());
    }
    statements.push(format!("DROP TABLE {}", fixture.table("document_changes")));
    statements.push(format!(
        "DELETE FROM {} WHERE version = 8",
        fixture.table("schema_migrations")
    ));
    statements
}

// ---- attacks on rollback windows (each must keep a real change listed) ------------------------

/// An application edit of the rolled-back document after an earlier mark and before the run's
/// backup census stays listed for that mark after the rollback: the backup's census saw it, the
/// mark did not.
pub async fn an_edit_before_the_backup_stays_listed_after_the_rollback(
    store: &dyn LiveExecutionAdapter,
) {
    edit_before_the_backup_stays_listed(store, |_| ()).await;
}

/// An application edit of `b` after a mark and before the backup of a run over it, whose
/// backup `tamper` then edits: the rollback leaves the edit listed for that mark.
async fn edit_before_the_backup_stays_listed(
    store: &dyn LiveExecutionAdapter,
    tamper: impl FnOnce(&mut iu_cutter_live_execution::Backup),
) {
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    put(store, "b", "Điều 1. Một, sửa.\n").await;
    let (r, mut backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    tamper(&mut backup);
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the edit before B").await;
}

/// An edit after the rollback ends its window, and putting the document back as it was (ABA)
/// does not reopen it.
pub async fn an_edit_after_the_rollback_ends_its_window(store: &dyn LiveExecutionAdapter) {
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    rolled_back_lists(store, &r, &backup, &held, &[], "b as the mark saw it").await;
    put(store, "b", "Điều 1. Khác.\n").await;
    assert_lists(store, &held, &["b"], "an edit after").await;
    put(store, "b", "Điều 1. Một.\n").await;
    assert_lists(store, &held, &["b"], "an edit undone").await;
}

/// A second run C over the same document after B's rollback, itself rolled back: an edit
/// between B's rollback and C's backup stays listed for a mark before both, and C's window
/// never covers a mark taken while B held the document.
pub async fn a_second_rolled_back_run_hides_no_edit_between_the_runs(
    store: &dyn LiveExecutionAdapter,
) {
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let (rb, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    let during_b = mark(store, &[]).await;
    ok(store.restore(&rb, &backup).await, "restore B");
    put(store, "b", "Điều 1. Một, sửa.\n").await;
    let (rc, backup) = backed_up_and_cut(store, "rc", &["b"]).await;
    ok(store.restore(&rc, &backup).await, "restore C");
    assert_lists(store, &held, &["b"], "the edit between").await;
    assert_lists(store, &during_b, &["b"], "B's hold").await;
}

/// Two runs rolled back one after the other with no edit between: a mark taken while B held
/// the document is still listed after C's rollback (C's backup saw B's rollback, that mark did
/// not).
pub async fn a_mark_during_the_first_run_sees_the_second_rollback(
    store: &dyn LiveExecutionAdapter,
) {
    put(store, "b", "Điều 1. Một.\n").await;
    let (rb, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    let during_b = mark(store, &[]).await;
    ok(store.restore(&rb, &backup).await, "restore B");
    let (rc, backup) = backed_up_and_cut(store, "rc", &["b"]).await;
    ok(store.restore(&rc, &backup).await, "restore C");
    assert_eq!(changed(store, &during_b).await, ids(&["b"]));
}

/// A rollback of a run that backed a document up but never wrote it opens no window for it:
/// an edit of it after an earlier mark and before the backup stays listed.
pub async fn a_run_that_never_wrote_a_document_opens_no_window_for_it(
    store: &dyn LiveExecutionAdapter,
) {
    put(store, "b", "Điều 1. Một.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let held = mark(store, &[]).await;
    put(store, "c", "Điều 1. Ba, sửa.\n").await;
    let r = RunId::new("rb");
    let backup = scoped_backup_of(store, &r, &["b", "c"]).await;
    cut(store, &r, &load(store, &["b"]).await, 2).await;
    rolled_back_lists(store, &r, &backup, &held, &["c"], "the edit of c").await;
}

/// A backup whose change-log entry is edited by hand to an older one (a well-formed number)
/// must not hide an edit the backup's census saw and an earlier mark did not.
pub async fn a_hand_edited_entry_hides_no_edit(store: &dyn LiveExecutionAdapter) {
    edit_before_the_backup_stays_listed(store, |backup| {
        backup.entries = Some([(id("b"), "1".to_owned())].into())
    })
    .await;
}

/// The same with the entry removed: a backup that names no entry for the document (as for a
/// document the census found absent) must not hide an edit the census saw.
pub async fn a_hand_removed_entry_hides_no_edit(store: &dyn LiveExecutionAdapter) {
    edit_before_the_backup_stays_listed(store, |backup| backup.entries = Some(Default::default()))
        .await;
}

/// An application edit of the document while the run holds it, undone before the rollback
/// (ABA, by raw SQL): `changed_since` lists a change undone since, so a mark taken before the
/// run still lists the document after the rollback, though the rollback put back exactly what
/// the backup's census saw.
pub async fn an_edit_undone_while_the_run_held_it_stays_listed(fixture: &impl Tamper) {
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    edit_and_undo_raw(fixture, "b", "Điều 1. Một.\n").await;
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the edit undone").await;
}

/// PostgreSQL: an application edit that began before the run's backup census and commits after
/// it (the census's snapshot has it in progress) stays listed after the rollback for a mark
/// taken before the edit began: the rollback puts back the run's marks, not the edit, so the
/// document is not as the census saw it and no window opens.
pub async fn an_edit_committing_across_the_backup_census_stays_listed(
    fixture: &crate::fixture::PgFixture,
) {
    use crate::fixture::Fixture as _;
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let mut edit = fixture.connection().await;
    for statement in [
        "BEGIN",
        "UPDATE documents SET body = 'Điều 1. Sửa đồng thời.', revision = revision + 1, \
         sha256 = encode(sha256(convert_to('Điều 1. Sửa đồng thời.', 'UTF8')), 'hex') \
         WHERE id = 'b'",
    ] {
        if let Err(error) = sqlx::query(statement).execute(&mut edit).await {
            panic!("the concurrent edit: {error}");
        }
    }
    let r = RunId::new("rb");
    let backup = scoped_backup_of(store, &r, &["b"]).await;
    if let Err(error) = sqlx::query("COMMIT").execute(&mut edit).await {
        panic!("committing the concurrent edit: {error}");
    }
    cut(store, &r, &load(store, &["b"]).await, 2).await;
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the concurrent edit").await;
}

/// An application edit undone between two of the run's own writes (ABA while held): `b`'s
/// between the fence and its units, `c`'s between its units and the enact. The run's next write
/// finds the document's change-log entry is not the one its previous write left, so the
/// rollback opens no window for either and both stay listed for a mark before the run; `d`,
/// which no one else touched, is put back and opens one.
pub async fn an_edit_undone_between_the_runs_writes_stays_listed(fixture: &impl Tamper) {
    let store = fixture.adapter();
    for (document, body) in [("b", "Điều 1. Hai.\n"), ("c", "Điều 1. Ba.\n")] {
        put(store, document, body).await;
    }
    put(store, "d", "Điều 1. Bốn.\n").await;
    let held = mark(store, &[]).await;
    let r = RunId::new("rb");
    let backup = scoped_backup_of(store, &r, &["b", "c", "d"]).await;
    let (documents, expectations) = with_expectations(store, &["b", "c", "d"]).await;
    ok(store.fence(&r, &expectations).await, "fence");
    edit_and_undo_raw(fixture, "b", "Điều 1. Hai.\n").await;
    crate::contract::write_units(store, &r, &documents, 2).await;
    edit_and_undo_raw(fixture, "c", "Điều 1. Ba.\n").await;
    assert_eq!(ok(store.enact(&r, &expectations).await, "enact"), 3);
    rolled_back_lists(store, &r, &backup, &held, &["b", "c"], "the edits undone").await;
}

/// Window rows end with the document's next change, and a rollback spends its run's holds, so
/// neither table grows with the runs: three runs rolled back over the same two documents leave
/// one window each and no hold; an edit of one (through the store) and of the other (raw SQL)
/// leaves none.
pub async fn windows_and_holds_do_not_accumulate(fixture: &impl RawSql) {
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Hai.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let rows = |table: &str| format!("UPDATE {table} SET document = document");
    let (windows, holds) = (
        rows(&fixture.table("document_change_windows")),
        rows(&fixture.table("document_change_holds")),
    );
    for run in ["r1", "r2", "r3"] {
        let r = RunId::new(run);
        let backup = scoped_backup_of(store, &r, &["b", "c"]).await;
        cut(store, &r, &load(store, &["b", "c"]).await, 2).await;
        assert_eq!(
            fixture.execute_raw(&holds, &[]).await,
            2,
            "{run} holds both"
        );
        ok(store.restore(&r, &backup).await, "restore");
        assert_eq!(
            fixture.execute_raw(&windows, &[]).await,
            2,
            "one window each"
        );
        assert_eq!(fixture.execute_raw(&holds, &[]).await, 0, "holds spent");
    }
    put(store, "b", "Điều 1. Hai, sửa.\n").await;
    assert_eq!(
        fixture.execute_raw(&windows, &[]).await,
        1,
        "b's window ended"
    );
    fixture.edit_body_raw("c", "Điều 1. Ba, sửa.\n").await;
    assert_eq!(
        fixture.execute_raw(&windows, &[]).await,
        0,
        "c's window ended"
    );
}

// ---- attacks on the holds (migration 11): each must keep a real change listed ---------------

/// An application edit of one of the run's own units while the run holds the document, undone
/// before the rollback (ABA on a units row, not the document's): the rollback drops the
/// generation, so the census is as the backup saw it, yet a mark before the run still lists
/// the document.
pub async fn an_edit_of_the_runs_units_undone_while_held_stays_listed(fixture: &impl Tamper) {
    let store = fixture.adapter();
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    edit_unit_and_undo_raw(fixture, &b, &r).await;
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the unit edit undone").await;
}

/// The same on a unit of the document's *previous* generation (an earlier run's, retired by the
/// held run's enact and made active again by its rollback): no write of the rolled-back run
/// touches that row, but the document's log entry moved under the hold.
pub async fn an_edit_of_an_earlier_generation_undone_while_held_stays_listed(
    fixture: &impl Tamper,
) {
    let store = fixture.adapter();
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    let r0 = RunId::new("r0");
    cut(store, &r0, std::slice::from_ref(&b), 2).await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    edit_unit_and_undo_raw(fixture, &b, &r0).await;
    rolled_back_lists(store, &r, &backup, &held, &["b"], "old unit edit undone").await;
}

/// A run that crashed between its fence and its units is resumed and fences again (the same
/// expectations: a raw body edit leaves the revision, so the compare-and-set passes). An
/// application edit undone between the crash and the resume must stay listed after the
/// rollback: the second fence must not restart the hold from the edit's entry in a way that
/// opens a window over it.
pub async fn an_edit_undone_before_a_resumed_fence_stays_listed(fixture: &impl Tamper) {
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let r = RunId::new("rb");
    let backup = scoped_backup_of(store, &r, &["b"]).await;
    let (documents, expectations) = with_expectations(store, &["b"]).await;
    ok(store.fence(&r, &expectations).await, "fence");
    edit_and_undo_raw(fixture, "b", "Điều 1. Một.\n").await;
    let during = mark(store, &[]).await;
    ok(store.fence(&r, &expectations).await, "the resumed fence");
    crate::contract::write_units(store, &r, &documents, 2).await;
    ok(store.enact(&r, &expectations).await, "enact");
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the edit undone").await;
    assert_lists(store, &during, &["b"], "a mark taken while the run held it").await;
}

/// Two runs fencing the same document in turn, the first rolled back before the second
/// fences, an application edit undone while the second holds it: the edit stays listed for a
/// mark before either run and for one between them.
pub async fn alternating_runs_hide_no_edit(fixture: &impl Tamper) {
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Một.\n").await;
    let before = mark(store, &[]).await;
    let (r1, backup1) = backed_up_and_cut(store, "r1", &["b"]).await;
    ok(store.restore(&r1, &backup1).await, "restore r1");
    let between = mark(store, &[]).await;
    let (r2, backup2) = backed_up_and_cut(store, "r2", &["b"]).await;
    edit_and_undo_raw(fixture, "b", "Điều 1. Một.\n").await;
    ok(store.restore(&r2, &backup2).await, "restore r2");
    assert_eq!(changed(store, &before).await, ids(&["b"]));
    assert_lists(store, &between, &["b"], "the edit undone").await;
}

/// The hold table edited by hand in the direction an operator cleaning up would (a hold
/// removed, a hold's last own write cleared): the rollback opens no window, so the rollback
/// stays listed for a mark before the run.
pub async fn a_hold_removed_or_cleared_by_hand_opens_no_window(fixture: &impl RawSql) {
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Hai.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b", "c"]).await;
    let holds = fixture.table("document_change_holds");
    let removed = format!("DELETE FROM {holds} WHERE document = $1");
    assert_eq!(fixture.execute_raw(&removed, &["b"]).await, 1);
    let cleared = format!("UPDATE {holds} SET entry_own = NULL WHERE document = $1");
    assert_eq!(fixture.execute_raw(&cleared, &["c"]).await, 1);
    rolled_back_lists(store, &r, &backup, &held, &["b", "c"], "no window opened").await;
}

/// Runs `edit` in one open transaction of an application connection, then starts `call` (a
/// run's write, which may queue behind that transaction's locks), gives it the chance to queue
/// (until `pg_locks` shows a lock not granted, at most about 2 s: the outcomes asserted after
/// do not depend on whether it did), commits the edit and joins `call`, failing on any error.
async fn race_an_open_edit(
    fixture: &crate::fixture::PgFixture,
    edit: &[&'static str],
    what: &str,
    call: impl std::future::Future<Output = iu_cutter_live_execution::AdapterResult<()>>
    + Send
    + 'static,
) {
    let mut application = fixture.connection().await;
    for statement in std::iter::once("BEGIN").chain(edit.iter().copied()) {
        if let Err(error) = sqlx::query(statement).execute(&mut application).await {
            panic!("the racing edit: {error}");
        }
    }
    let call = tokio::spawn(call);
    let mut watcher = fixture.connection().await;
    for _ in 0..200 {
        let waiting: i64 =
            match sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted")
                .fetch_one(&mut watcher)
                .await
            {
                Ok(n) => n,
                Err(error) => panic!("pg_locks: {error}"),
            };
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if let Err(error) = sqlx::query("COMMIT").execute(&mut application).await {
        panic!("committing the racing edit: {error}");
    }
    match call.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("{what}: {error}"),
        Err(error) => panic!("the {what} task: {error}"),
    }
}

/// PostgreSQL, READ COMMITTED: an application transaction that changes a held document and puts
/// it back (two statements, one transaction) is open while the run's rollback starts, so the
/// rollback waits on its locks, and commits only then. Whichever order the server lets them
/// through, the document stays listed for a mark before the run.
pub async fn an_edit_racing_the_rollback_stays_listed(fixture: &crate::fixture::PgFixture) {
    use crate::fixture::Fixture as _;
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Một.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    let shared = fixture.shared();
    let rollback = async move { shared.restore(&r, &backup).await.map(|_| ()) };
    let edit = [
        "UPDATE documents SET body = 'Điều 1. Sửa lén.' WHERE id = 'b'",
        "UPDATE documents SET body = 'Điều 1. Một.' || chr(10) WHERE id = 'b'",
    ];
    race_an_open_edit(fixture, &edit, "restore", rollback).await;
    assert_lists(store, &held, &["b"], "the racing edit").await;
}

/// An edit of a generation *record* (not a unit, not the document row) undone while the run
/// holds the document: the earlier run's retired record set active and back by raw SQL. The
/// rollback makes it active again, as the backup saw it, yet a mark before the run still lists
/// the document.
pub async fn an_edit_of_a_generation_record_undone_while_held_stays_listed(fixture: &impl RawSql) {
    let store = fixture.adapter();
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    cut(store, &RunId::new("r0"), &[b], 2).await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b"]).await;
    let set = format!(
        "UPDATE {} SET state = $1 WHERE document = 'b' AND generation = 'r0'",
        fixture.table("generations")
    );
    assert_eq!(fixture.execute_raw(&set, &["staged"]).await, 1);
    assert_eq!(fixture.execute_raw(&set, &["retired"]).await, 1);
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the record edit undone").await;
}

/// PostgreSQL, READ COMMITTED: an application transaction that edits a unit of the document's
/// earlier generation and puts it back (ABA, one transaction) is open while the run fences the
/// document, so the fence queues behind its lock on the document's log row and reads the
/// entry only after it commits. The edit committed after the run's backup census, so however
/// the server orders the two, the document stays listed after the rollback for a mark before
/// the run.
pub async fn an_edit_racing_the_fence_stays_listed(fixture: &crate::fixture::PgFixture) {
    use crate::fixture::Fixture as _;
    let store = fixture.adapter();
    let b = put(store, "b", "Điều 1. Một.\nĐiều 2. Hai.\n").await;
    cut(store, &RunId::new("r0"), &[b], 2).await;
    let held = mark(store, &[]).await;
    let r = RunId::new("rb");
    let backup = scoped_backup_of(store, &r, &["b"]).await;
    let (documents, expectations) = with_expectations(store, &["b"]).await;
    let shared = fixture.shared();
    let (run, fenced) = (r.clone(), expectations.clone());
    let fence = async move { shared.fence(&run, &fenced).await };
    let edit = [
        "UPDATE units SET body = body || '!' WHERE document = 'b' AND generation = 'r0' \
         AND ordinal = 0",
        "UPDATE units SET body = left(body, -1) WHERE document = 'b' AND generation = 'r0' \
         AND ordinal = 0",
    ];
    race_an_open_edit(fixture, &edit, "fence", fence).await;
    crate::contract::write_units(store, &r, &documents, 2).await;
    ok(store.enact(&r, &expectations).await, "enact");
    rolled_back_lists(store, &r, &backup, &held, &["b"], "the racing edit").await;
}

/// A rollback refused by the kill switch (the control row closed between the run's writes and
/// its rollback) writes nothing and spends no hold: retried once the switch is open, it opens
/// a window for `c`, which no one touched, and none for `b`, edited and put back by raw SQL
/// while the switch was closed.
pub async fn a_rollback_refused_by_the_kill_switch_then_retried_hides_no_edit(
    fixture: &impl RawSql,
) {
    use iu_cutter_live_execution::sql::set_control;
    let store = fixture.adapter();
    put(store, "b", "Điều 1. Hai.\n").await;
    put(store, "c", "Điều 1. Ba.\n").await;
    let held = mark(store, &[]).await;
    let (r, backup) = backed_up_and_cut(store, "rb", &["b", "c"]).await;
    ok(
        set_control(fixture.options(), false, "mid-rollback").await,
        "close",
    );
    crate::contract::error(
        store.restore(&r, &backup).await,
        AdapterError::is_gate_closed,
        "restore behind a closed switch",
    );
    edit_and_undo_raw(fixture, "b", "Điều 1. Hai.\n").await;
    ok(set_control(fixture.options(), true, "reopen").await, "open");
    rolled_back_lists(store, &r, &backup, &held, &["b"], "c's window, not b's").await;
}
