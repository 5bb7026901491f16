//! Adversarial regressions of the batch statements (60404ad, 582c039) on PostgreSQL: a write
//! reads each table for its whole batch in one statement per 1,000 ids (`ORDER BY id … FOR
//! UPDATE`), then writes each table in one statement. Two runners over overlapping batches of
//! more than one statement, and an application that holds or changes a row the batch waits for
//! (a document in the second statement's ids, a staged unit), or deadlocks with it. Needs
//! `IU_CUTTER_TEST_PG_URL`; without it every test says it is skipped (and fails in CI).

use iu_cutter_live_execution::prelude::*;
use iu_cutter_live_execution::{
    AdapterError, AdapterResult, Document, DocumentId, DocumentState, ExpectedRevision,
    GenerationDigester, LiveExecutionAdapter, RunId, Scope, StagedProof, Unit, UnitFields,
    sha256_hex,
};
use iu_cutter_tests::contract::{conflict, expect, units_for};
use iu_cutter_tests::fixture::{Fixture, PgFixture, SqlFixture, blocks, exec, must, postgres};
use iu_cutter_tests::ok;
use sqlx::Connection;

/// Each check as its own `#[tokio::test]` over a fresh PostgreSQL schema, on four worker threads
/// (its writers run at once), skipped without a database as the fixture says.
mod on_postgres {
    iu_cutter_tests::fixture_tests!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        iu_cutter_tests::fixture::postgres => crate::attack_batch_postgres, fixture;
        overlapping_fences_over_many_statements_admit_one_run_whole,
        an_edit_committed_while_enact_waits_for_its_row_is_a_conflict_naming_it,
        a_staged_unit_rewritten_while_enact_waits_for_it_is_a_conflict_naming_it,
        a_deadlock_with_an_application_is_told_truthfully_and_enact_resumes,
        a_unit_inserted_while_enact_reads_the_units_is_never_enacted,
        a_unit_rewritten_while_enact_waits_is_a_conflict_without_its_change_log_row,
        enact_takes_no_row_lock_on_the_staged_units,
        a_rollback_and_a_purge_of_what_it_needs_at_once_go_one_after_the_other_whole,
        an_edit_committed_while_a_rollback_waits_for_its_row_is_kept_and_listed,
        an_application_writing_staged_units_in_id_order_never_deadlocks_with_enact,
        a_unit_rewritten_past_the_triggers_after_write_verify_is_refused_despite_its_proof,
        adv54_staged_units_changed_after_write_verify_in_other_ways_are_refused_despite_the_proof,
    );
}

/// The scene of the enact attacks: the fixture's store with [`DOCUMENTS`] documents staged by
/// run `A` (and what enact expects of them), and an application's connection inside a
/// transaction.
async fn staged_with_an_application(
    fixture: &PgFixture,
) -> (
    std::sync::Arc<dyn LiveExecutionAdapter>,
    RunId,
    Vec<ExpectedRevision>,
    sqlx::PgConnection,
) {
    let store = fixture.shared();
    let documents = seed(store.as_ref()).await;
    let run = RunId::new("A");
    let expectations = staged(store.as_ref(), &run, &documents).await;
    let mut app = fixture.connection().await;
    must(&mut app, "BEGIN").await;
    (store, run, expectations, app)
}

/// More documents than one statement of a batch read takes (1,000).
const DOCUMENTS: usize = 2_000;

/// An application's edit of document `d/01500`'s body (its revision and sha256 kept true).
const EDIT_1500: &str = "UPDATE documents SET body = 'edited', revision = revision + 1, \
                         sha256 = encode(sha256(convert_to('edited', 'UTF8')), 'hex') \
                         WHERE id = 'd/01500'";

fn doc_id(i: usize) -> DocumentId {
    DocumentId::new(format!("d/{i:05}"))
}

async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(e) => panic!("task: {e}"),
    }
}

/// Puts [`DOCUMENTS`] documents; returns them as stored.
async fn seed(store: &dyn LiveExecutionAdapter) -> Vec<Document> {
    let body = |i| format!("Điều 1. Số {i}.\nĐiều 2. Hết.\n");
    iu_cutter_tests::put_many(store, DOCUMENTS, |i| format!("d/{i:05}"), body).await
}

/// Fences `documents` for `run` and writes two units of each: ready to enact, each expectation
/// carrying the digest of the units written (as write-verify would approve them).
async fn staged(
    store: &dyn LiveExecutionAdapter,
    run: &RunId,
    documents: &[Document],
) -> Vec<ExpectedRevision> {
    let fenced: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    ok(store.fence(run, &fenced).await, "fence");
    let mut expectations = Vec::with_capacity(documents.len());
    let mut units: Vec<Unit> = Vec::new();
    for document in documents {
        let written = units_for(document, run, 2);
        let mut digester = GenerationDigester::new();
        for unit in &written {
            digester.unit(&UnitFields::of(unit), &sha256_hex(unit.body.as_bytes()));
        }
        expectations.push(expect(document).with_staged_units(digester.finish()));
        units.extend(written);
    }
    ok(store.write_units(run, &units).await, "write_units");
    expectations
}

async fn states(store: &dyn LiveExecutionAdapter) -> Vec<(DocumentId, DocumentState)> {
    ok(store.load_heads(&Scope::All).await, "heads")
        .into_iter()
        .map(|h| (h.id, h.state))
        .collect()
}

/// Asserts that every document of `store` is in state `want` (`what` says why it must be).
async fn all_in_state(store: &dyn LiveExecutionAdapter, want: &DocumentState, what: &str) {
    assert!(states(store).await.iter().all(|(_, s)| s == want), "{what}");
}

/// Opens a transaction on `conn` that locks the row of document `id`.
async fn lock_document(conn: &mut sqlx::PgConnection, id: &str) {
    must(conn, "BEGIN").await;
    let lock = format!("SELECT 1 FROM documents WHERE id = '{id}' FOR UPDATE");
    must(conn, &lock).await;
}

/// Enacts `expectations` of `run` in a task, and returns once it waits for a lock `app` holds
/// (or has finished).
async fn enact_waiting_on(
    app: &mut sqlx::PgConnection,
    store: &std::sync::Arc<dyn LiveExecutionAdapter>,
    run: &RunId,
    expectations: Vec<ExpectedRevision>,
) -> tokio::task::JoinHandle<AdapterResult<u64>> {
    let (shared, enact_run) = (store.clone(), run.clone());
    let enact = tokio::spawn(async move { shared.enact(&enact_run, &expectations).await });
    blocks(app, 1, || enact.is_finished()).await;
    enact
}

/// The application's `edit` (one row) committed while enact waits for its row: enact is
/// refused with a conflict naming document `i` (`what` names the edit), and enacts nothing.
/// The store and the application's connection.
async fn enact_over_an_edit(
    fixture: &PgFixture,
    edit: &str,
    i: usize,
    what: &str,
) -> (std::sync::Arc<dyn LiveExecutionAdapter>, sqlx::PgConnection) {
    let (store, run, expectations, mut app) = staged_with_an_application(fixture).await;
    assert_eq!(must(&mut app, edit).await, 1);
    let enact = enact_waiting_on(&mut app, &store, &run, expectations).await;
    must(&mut app, "COMMIT").await;
    match joined(enact).await {
        Err(AdapterError::Conflict { document, .. }) => assert_eq!(document, doc_id(i)),
        other => panic!("enact over {what}: {other:?}"),
    }
    let cutting = DocumentState::Cutting { run };
    all_in_state(store.as_ref(), &cutting, "nothing enacted").await;
    (store, app)
}

/// Two runners fence overlapping batches of 1,600 documents each (two read statements), one in
/// descending id order, the other odd ids first, both queued on the first shared document by a
/// third connection: exactly one fences its whole batch, the other is refused with a conflict
/// naming a shared document, held by the winner, and fences nothing (no deadlock, whatever the
/// order the callers gave). Three rounds.
pub(crate) async fn overlapping_fences_over_many_statements_admit_one_run_whole(
    fixture: &PgFixture,
) {
    let store = fixture.shared();
    seed(store.as_ref()).await;
    let other = fixture.another_process().await;
    let mut holder = fixture.connection().await;
    for round in 0..3 {
        let all = ok(store.load_scope(&Scope::All).await, "load");
        let first: Vec<ExpectedRevision> = all[..1_600].iter().rev().map(expect).collect();
        let tail = &all[400..];
        let odd_first = tail.iter().skip(1).step_by(2).chain(tail.iter().step_by(2));
        let second: Vec<ExpectedRevision> = odd_first.map(expect).collect();
        let (ra, rb) = (
            RunId::new(format!("a{round}")),
            RunId::new(format!("b{round}")),
        );
        lock_document(&mut holder, "d/00400").await;
        let (one, two) = (store.clone(), other.clone());
        let (ra2, rb2) = (ra.clone(), rb.clone());
        let a = tokio::spawn(async move { one.fence(&ra2, &first).await });
        let b = tokio::spawn(async move { two.fence(&rb2, &second).await });
        blocks(&mut holder, 2, || a.is_finished() && b.is_finished()).await;
        must(&mut holder, "ROLLBACK").await;
        let (a, b): (AdapterResult<()>, AdapterResult<()>) = (joined(a).await, joined(b).await);
        assert!(
            a.is_ok() != b.is_ok(),
            "round {round}: one fence wins: {a:?} / {b:?}"
        );
        let (winner, loser, result, winners, losers) = if a.is_ok() {
            (&ra, &rb, b, 0..1_600, 1_600..DOCUMENTS)
        } else {
            (&rb, &ra, a, 400..DOCUMENTS, 0..400)
        };
        match result {
            Err(AdapterError::Conflict {
                document, found, ..
            }) => {
                let shared: Vec<DocumentId> = (400..1_600).map(doc_id).collect();
                assert!(
                    shared.contains(&document),
                    "round {round}: names {document}"
                );
                assert_eq!(found, format!("fenced by run `{winner}`"), "round {round}");
            }
            other => panic!("round {round}: the loser {loser} got {other:?}"),
        }
        let now = states(store.as_ref()).await;
        for (i, (id, state)) in now.iter().enumerate() {
            assert_eq!(id, &doc_id(i));
            let want = if winners.contains(&i) {
                DocumentState::Cutting {
                    run: winner.clone(),
                }
            } else {
                DocumentState::Ready
            };
            assert_eq!(state, &want, "round {round}: {id} ({losers:?} lost)");
        }
        // Undo the winner's fence for the next round: a rollback over many statements too,
        // from a backup of the documents as they were before the round.
        let mut backup = iu_cutter_tests::contract::backup_of(store.as_ref(), winner, &[]).await;
        backup.documents = all
            .iter()
            .map(|document| iu_cutter_live_execution::DocumentSnapshot {
                document: document.clone(),
                generations: Vec::new(),
                active_units: Vec::new(),
            })
            .collect();
        ok(store.restore(winner, &backup).await, "restore the winner");
        let rolled_back = format!("round {round}: rolled back");
        all_in_state(store.as_ref(), &DocumentState::Ready, &rolled_back).await;
    }
    let _ = holder.close().await;
}

/// An application's edit of a document in the second statement of enact's batch read, committed
/// while enact waits for its row: enact reads the edit, is refused with a conflict naming that
/// document, and enacts nothing; the edit is kept.
pub(crate) async fn an_edit_committed_while_enact_waits_for_its_row_is_a_conflict_naming_it(
    fixture: &PgFixture,
) {
    let (store, app) = enact_over_an_edit(fixture, EDIT_1500, 1_500, "an edit").await;
    let edited = ok(
        store.load_scope(&Scope::Ids(vec![doc_id(1_500)])).await,
        "load",
    );
    assert_eq!(edited[0].body, "edited", "the edit is kept");
    let _ = app.close().await;
}

/// An application's rewrite of a staged unit's body (its recorded sha256 kept), committed while
/// enact waits for the unit's row in its one statement over the batch's units: enact hashes the
/// body as committed, is refused naming the document, and enacts nothing.
pub(crate) async fn a_staged_unit_rewritten_while_enact_waits_for_it_is_a_conflict_naming_it(
    fixture: &PgFixture,
) {
    let edit = "UPDATE units SET body = 'x' \
                WHERE document = 'd/01999' AND generation = 'A' AND ordinal = 1";
    let (_, app) = enact_over_an_edit(fixture, edit, 1_999, "a rewritten unit").await;
    let _ = app.close().await;
}

/// An application that locks a document late in enact's batch, then, while enact waits for it,
/// touches one enact already locked: a deadlock. Whichever transaction PostgreSQL aborts, the
/// outcome is told as it is: an enact aborted says so (not a conflict), enacted nothing, and
/// enacts everything when called again; no document is left half enacted.
pub(crate) async fn a_deadlock_with_an_application_is_told_truthfully_and_enact_resumes(
    fixture: &PgFixture,
) {
    let (store, run, expectations, mut app) = staged_with_an_application(fixture).await;
    must(
        &mut app,
        "SELECT 1 FROM documents WHERE id = 'd/01800' FOR UPDATE",
    )
    .await;
    let enact = enact_waiting_on(&mut app, &store, &run, expectations.clone()).await;
    let app_side = exec(
        &mut app,
        "UPDATE documents SET metadata = '{}' WHERE id = 'd/00100'",
    )
    .await;
    match &app_side {
        Ok(_) => must(&mut app, "COMMIT").await,
        Err(_) => must(&mut app, "ROLLBACK").await,
    };
    let first = joined(enact).await;
    match (&app_side, &first) {
        (Err(e), Ok(n)) => {
            assert!(
                e.to_string().contains("deadlock"),
                "the application's error: {e}"
            );
            assert_eq!(*n, DOCUMENTS as u64);
        }
        (Ok(_), Err(e)) => {
            assert!(
                !matches!(e, AdapterError::Conflict { .. }),
                "told as a conflict: {e}"
            );
            assert!(e.to_string().contains("deadlock"), "enact's error: {e}");
            let cutting = DocumentState::Cutting { run: run.clone() };
            all_in_state(store.as_ref(), &cutting, "an aborted enact enacted nothing").await;
            assert_eq!(
                ok(store.enact(&run, &expectations).await, "enact again"),
                DOCUMENTS as u64
            );
        }
        other => panic!("exactly one side of the deadlock is aborted: {other:?}"),
    }
    all_in_state(
        store.as_ref(),
        &DocumentState::Cut,
        "every document enacted",
    )
    .await;
    for i in [0, 999, 1_000, 1_800, 1_999] {
        let active = ok(store.active_units(&doc_id(i)).await, "active_units");
        assert!(
            active.len() == 2 && active.iter().all(|u| u.generation == run),
            "d/{i:05}"
        );
    }
    let _ = app.close().await;
}

/// An application inserts a unit into a staged generation of a document in enact's batch and
/// commits while enact waits for it: enact must not make active a generation holding a unit the
/// run never wrote nor verified. Refused naming the document, or the unit kept out: never
/// enacted with it. (Enact holds the batch's change-log rows before it reads the units; the
/// insert's change-log trigger holds the document's row until the application commits, so
/// enact waits for the insert, then reads it. Before store48 enact locked every staged unit and
/// this application waited on a unit row late in the batch; enact no longer waits on unit rows.)
pub(crate) async fn a_unit_inserted_while_enact_reads_the_units_is_never_enacted(
    fixture: &PgFixture,
) {
    let (store, run, expectations, mut app) = staged_with_an_application(fixture).await;
    let insert = "INSERT INTO units (document, generation, ordinal, unit_id, path, part, \
                  start_byte, end_byte, sha256, body) \
                  VALUES ('d/00005', 'A', 7, 'phantom', 'x', NULL, 0, 1, \
                  encode(sha256(convert_to('x', 'UTF8')), 'hex'), 'x')";
    assert_eq!(must(&mut app, insert).await, 1);
    let enact = enact_waiting_on(&mut app, &store, &run, expectations).await;
    assert!(!enact.is_finished(), "enact waits for the insert");
    must(&mut app, "COMMIT").await;
    let enacted = joined(enact).await;
    let active = ok(store.active_units(&doc_id(5)).await, "active_units");
    assert!(
        active.iter().all(|u| u.unit_id != "phantom"),
        "enact returned {enacted:?} and made active a unit the run never wrote: {:?}",
        active.iter().map(|u| &u.unit_id).collect::<Vec<_>>()
    );
    match enacted {
        Err(AdapterError::Conflict { document, .. }) => assert_eq!(document, doc_id(5)),
        other => panic!("enact over an inserted unit: {other:?}"),
    }
    let _ = app.close().await;
}

/// store48: a document whose change-log row was removed by hand gives enact no row to hold, so
/// its staged units are read locked, as before: an application's rewrite of one of them (its
/// trigger's new log row invisible to enact until it commits), committed while enact waits for
/// the unit's row, is read as committed; enact is refused naming the document.
pub(crate) async fn a_unit_rewritten_while_enact_waits_is_a_conflict_without_its_change_log_row(
    fixture: &PgFixture,
) {
    let (store, run, mut app, owner, enact) =
        enact_waiting_on_a_rewrite_without_its_change_log_row(fixture, "d/01999").await;
    must(&mut app, "COMMIT").await;
    match joined(enact).await {
        Err(AdapterError::Conflict { document, .. }) => assert_eq!(document, doc_id(1_999)),
        other => panic!("enact over a rewritten unit without its log row: {other:?}"),
    }
    let cutting = DocumentState::Cutting { run };
    all_in_state(store.as_ref(), &cutting, "nothing enacted").await;
    let _ = (app.close().await, owner.close().await);
}

/// store48: enact reads the staged units of documents whose change-log rows it holds without a
/// row lock each (at a million units, writing a lock into every unit row cost seconds): a
/// transaction holding a staged unit's row lock, writing nothing, does not hold enact up.
pub(crate) async fn enact_takes_no_row_lock_on_the_staged_units(fixture: &PgFixture) {
    let (store, run, expectations, mut app) = staged_with_an_application(fixture).await;
    let hold = "SELECT 1 FROM units \
                WHERE document = 'd/01999' AND generation = 'A' AND ordinal = 1 FOR UPDATE";
    must(&mut app, hold).await;
    let enacted = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        store.enact(&run, &expectations),
    )
    .await;
    assert!(
        matches!(&enacted, Ok(Ok(n)) if *n == DOCUMENTS as u64),
        "enact waited on a unit's row lock: {enacted:?}"
    );
    must(&mut app, "ROLLBACK").await;
    all_in_state(
        store.as_ref(),
        &DocumentState::Cut,
        "every document enacted",
    )
    .await;
    let _ = app.close().await;
}

/// adv50: an application that rewrites staged units of two documents in id order, the first
/// one's change-log row removed by hand, while enact runs. Enact reads that document's units
/// locked, so it waits for the application's first rewrite; it must not hold anything the
/// application's second rewrite (of a later document) needs meanwhile, or the two deadlock
/// although the application took its rows in id order, the order every writer is promised
/// queues. Before store48 enact locked the staged units in id order and this application went
/// through; since fd8d115 enact holds every other document's change-log row before it reads
/// the first one's units, and the second rewrite's trigger waits for it.
pub(crate) async fn an_application_writing_staged_units_in_id_order_never_deadlocks_with_enact(
    fixture: &PgFixture,
) {
    let (store, run, mut app, owner, enact) =
        enact_waiting_on_a_rewrite_without_its_change_log_row(fixture, "d/00000").await;
    let second = "UPDATE units SET body = 'y' \
                  WHERE document = 'd/00001' AND generation = 'A' AND ordinal = 1";
    let app_side = exec(&mut app, second).await;
    let committed = match &app_side {
        Ok(_) => exec(&mut app, "COMMIT").await,
        Err(_) => exec(&mut app, "ROLLBACK").await,
    };
    let enacted = joined(enact).await;
    assert!(
        app_side.is_ok() && committed.is_ok(),
        "the application, writing in id order, was aborted: {app_side:?}; enact: {enacted:?}"
    );
    match enacted {
        Err(AdapterError::Conflict { document, .. }) => {
            assert!(
                [doc_id(0), doc_id(1)].contains(&document),
                "names {document}"
            )
        }
        other => panic!("enact over rewritten units: {other:?}"),
    }
    let cutting = DocumentState::Cutting { run };
    all_in_state(store.as_ref(), &cutting, "nothing enacted").await;
    let _ = (app.close().await, owner.close().await);
}

/// A rollback of B and a purge of the generation B retired, over the same 2,000 documents (two
/// statements of every batch read) at once, both queued on the last document by a third
/// connection: one goes first whole. Either the rollback made A active again everywhere and the
/// purge is refused naming a document, removing nothing; or the purge removed A everywhere and
/// the rollback left every document alone (nothing to point back to). Never a mix, never a
/// pointer at a purged generation.
pub(crate) async fn a_rollback_and_a_purge_of_what_it_needs_at_once_go_one_after_the_other_whole(
    fixture: &PgFixture,
) {
    let store = fixture.shared();
    let documents = seed(store.as_ref()).await;
    let (a, b) = (RunId::new("A"), RunId::new("B"));
    let expectations = staged(store.as_ref(), &a, &documents).await;
    assert_eq!(
        ok(store.enact(&a, &expectations).await, "enact A"),
        DOCUMENTS as u64
    );
    let ids: Vec<DocumentId> = (0..DOCUMENTS).map(doc_id).collect();
    let backup = iu_cutter_tests::contract::backup_of(store.as_ref(), &b, &ids).await;
    let documents = ok(store.load_scope(&Scope::All).await, "load");
    let expectations = staged(store.as_ref(), &b, &documents).await;
    assert_eq!(
        ok(store.enact(&b, &expectations).await, "enact B"),
        DOCUMENTS as u64
    );
    let targets: Vec<iu_cutter_live_execution::PurgeTarget> = ids
        .iter()
        .rev()
        .map(|document| iu_cutter_live_execution::PurgeTarget {
            document: document.clone(),
            generation: a.clone(),
            active: Some(b.clone()),
        })
        .collect();

    let mut holder = fixture.connection().await;
    lock_document(&mut holder, "d/01999").await;
    let (one, two) = (store.clone(), fixture.another_process().await);
    let rollback_run = b.clone();
    let rollback = tokio::spawn(async move { one.restore(&rollback_run, &backup).await });
    let purge = tokio::spawn(async move { two.purge_generations(&targets).await });
    blocks(&mut holder, 2, || {
        rollback.is_finished() && purge.is_finished()
    })
    .await;
    must(&mut holder, "ROLLBACK").await;
    let (rolled, purged) = (joined(rollback).await, joined(purge).await);
    let rolled = match rolled {
        Ok(restoration) => restoration,
        Err(e) => panic!("the rollback fails whichever goes first: {e}"),
    };
    let heads = ok(store.load_heads(&Scope::All).await, "heads");
    match purged {
        Err(AdapterError::Conflict { document, .. }) => {
            assert!(ids.contains(&document), "names {document}");
            for head in &heads {
                assert_eq!(head.active_generation.as_ref(), Some(&a), "{}", head.id);
                assert_eq!(head.state, DocumentState::Cut, "{}", head.id);
            }
        }
        Ok(n) => {
            assert_eq!(n.len(), DOCUMENTS, "the purge removed A everywhere");
            assert!(
                heads
                    .iter()
                    .all(|h| h.active_generation.as_ref() == Some(&b)),
                "the rollback left every document alone: {rolled:?}"
            );
        }
        Err(e) => panic!("the purge: {e}"),
    }
    for i in [0, 999, 1_000, 1_999] {
        let active = ok(store.active_units(&doc_id(i)).await, "active_units");
        assert_eq!(
            active.len(),
            2,
            "d/{i:05} has its active generation's units"
        );
    }
    let _ = holder.close().await;
}

/// An application's edit of a document in the second statement of a rollback's batch read,
/// committed while the rollback waits for its row: the rollback takes back the run's marks and
/// keeps the edit (body and revision as the application left them), and the change log lists
/// that document alone as changed since the backup's mark: the rollback's windows hide the
/// run's writes of the others, never the edit.
pub(crate) async fn an_edit_committed_while_a_rollback_waits_for_its_row_is_kept_and_listed(
    fixture: &PgFixture,
) {
    let store = fixture.shared();
    let documents = seed(store.as_ref()).await;
    let run = RunId::new("A");
    let ids: Vec<DocumentId> = (0..DOCUMENTS).map(doc_id).collect();
    let scope = ok(store.scope_census(&ids).await, "scope_census");
    let mut backup = iu_cutter_tests::contract::backup_of(store.as_ref(), &run, &ids).await;
    backup.census = scope.census;
    backup.mark = Some(scope.mark.clone());
    staged(store.as_ref(), &run, &documents).await;

    let mut app = fixture.connection().await;
    must(&mut app, "BEGIN").await;
    assert_eq!(must(&mut app, EDIT_1500).await, 1);
    let shared = store.clone();
    let rollback_run = run.clone();
    let rollback = tokio::spawn(async move { shared.restore(&rollback_run, &backup).await });
    blocks(&mut app, 1, || rollback.is_finished()).await;
    must(&mut app, "COMMIT").await;
    let restoration = match joined(rollback).await {
        Ok(restoration) => restoration,
        Err(e) => panic!("rollback over an edit: {e}"),
    };
    let edited = ok(
        store.load_scope(&Scope::Ids(vec![doc_id(1_500)])).await,
        "load",
    );
    assert_eq!(
        edited[0].body, "edited",
        "the edit is kept: {restoration:?}"
    );
    assert_eq!(edited[0].revision, 2);
    all_in_state(
        store.as_ref(),
        &DocumentState::Ready,
        "every fence taken back",
    )
    .await;
    assert!(
        ok(store.generations(&doc_id(1_500)).await, "generations").is_empty(),
        "the run's generation dropped"
    );
    assert_eq!(
        ok(store.changed_since(&scope.mark).await, "changed_since"),
        vec![doc_id(1_500)],
        "the edit alone is listed"
    );
    let _ = app.close().await;
}

/// Adversarial (adv33) on the COPY path of the unit writes under sqlx 0.9.1 (1890239): a
/// trigger on `units` (an application's check constraint, say) refuses one unit of a later
/// write batch of a run, after earlier batches committed. The run fails naming the database's
/// error and where to resume, no unit of the refused batch is left, and the pool's connections
/// (one of them aborted inside its transaction) stay usable: with the trigger dropped the run
/// resumes to PASS, and rolled back leaves the whole store exactly as before it.
#[tokio::test]
async fn a_unit_refused_by_a_trigger_midway_fails_the_run_which_resumes_and_rolls_back()
-> crate::TestResult {
    use iu_cutter_orchestrator::{Outcome, RunOptions};

    let name = "a_unit_refused_by_a_trigger_midway_fails_the_run_which_resumes_and_rolls_back";
    let Some(fixture) = postgres(name).await else {
        return Ok(());
    };
    let store = fixture.shared();
    for i in 0..6 {
        let poison = if i == 4 { "POISON" } else { "fine" };
        let body = format!(
            "Article 1\nOne {i}.\nArticle 2\nTwo {poison}.\nArticle 3\nThree.\nArticle 4\nFour.\n"
        );
        store.put_document(&doc_id(i), &body).await?;
    }
    let before = store.snapshot().await?;
    let raise = "RAISE EXCEPTION 'adv33 refuses %', NEW.document USING ERRCODE = '23514'";
    let runner = refusing_poison(&fixture, "adv33_refuse", raise).await;
    let options = || RunOptions::default().with_batch_units(3);
    let report = runner.run(r1_over_all(), options()).await?;
    let json = report.to_json();
    let Outcome::Failed {
        error, resume_from, ..
    } = &report.outcome
    else {
        return Err(format!("expected FAILED: {json}").into());
    };
    assert!(error.contains("adv33 refuses"), "{json}");
    // sqlx shows a server error with the line of PostgreSQL's own C source that reported it
    // ("… at line 3319"), which an operator reads as a line of something of theirs.
    assert!(!error.contains(" at line "), "{json}");
    assert_eq!(resume_from.as_deref(), Some("leg-b-record"), "{json}");
    // Nothing of the refused document's batch was left behind.
    let mut conn = fixture.connection().await;
    let poisoned: i64 = (sqlx::query_scalar("SELECT COUNT(*) FROM units WHERE document = $1")
        .bind(doc_id(4).as_str())
        .fetch_one(&mut conn)
        .await)?;
    assert_eq!(poisoned, 0, "{json}");
    must(&mut conn, "DROP TRIGGER adv33_refuse ON units").await;
    conn.close().await?;
    let resumed = runner.resume(&RunId::new("r1"), options()).await?;
    assert_eq!(resumed.outcome, Outcome::Pass, "{}", resumed.to_json());
    let rolled = runner.rollback(&RunId::new("r1")).await?;
    assert_eq!(rolled.outcome, Outcome::RolledBack, "{}", rolled.to_json());
    assert!(store.snapshot().await? == before, "rolled back exactly");
    fixture.finish().await;
    Ok(())
}

/// Adversarial (adv34) on what a run's error keeps of a PostgreSQL error: an application's
/// trigger on `units` refuses a unit with a DETAIL (why) and a HINT (what to do). The run fails
/// naming the database's error; an operator must also read the trigger's detail and hint, which
/// the words of a server error (its message alone) dropped.
#[tokio::test]
async fn a_triggers_detail_and_hint_reach_the_failed_runs_error() -> crate::TestResult {
    use iu_cutter_orchestrator::{Outcome, RunOptions};

    let name = "a_triggers_detail_and_hint_reach_the_failed_runs_error";
    let Some(fixture) = postgres(name).await else {
        return Ok(());
    };
    let store = fixture.shared();
    let body = "Article 1\nOne POISON.\nArticle 2\nTwo.\n";
    store.put_document(&doc_id(0), body).await?;
    let raise = "RAISE EXCEPTION 'adv34 refuses %', NEW.document USING ERRCODE = '23514', \
                 DETAIL = 'adv34 units naming POISON await legal review', \
                 HINT = 'adv34 ask the review desk to clear the document'";
    let runner = refusing_poison(&fixture, "adv34_refuse", raise).await;
    let report = runner.run(r1_over_all(), RunOptions::default()).await?;
    let json = report.to_json();
    let Outcome::Failed { error, .. } = &report.outcome else {
        return Err(format!("expected FAILED: {json}").into());
    };
    assert!(error.contains("adv34 refuses"), "{json}");
    assert!(error.contains("await legal review"), "the DETAIL: {json}");
    assert!(error.contains("ask the review desk"), "the HINT: {json}");
    assert!(!error.contains(" at line "), "{json}");
    fixture.finish().await;
    Ok(())
}

/// Installs on the fixture's `units` a trigger `name` that runs `raise` (a `RAISE EXCEPTION …`)
/// for any unit whose body names POISON, as an application's check would: a runner over the
/// fixture's store.
async fn refusing_poison(
    fixture: &PgFixture,
    name: &str,
    raise: &str,
) -> iu_cutter_orchestrator::Runner {
    use iu_cutter_tests::fixture::RawSql;
    let function = format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         IF NEW.body LIKE '%POISON%' THEN {raise}; END IF; RETURN NEW; END $$"
    );
    fixture.execute_raw(&function, &[]).await;
    let trigger = format!(
        "CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON units FOR EACH ROW \
         EXECUTE FUNCTION {name}()"
    );
    fixture.execute_raw(&trigger, &[]).await;
    let backups = std::sync::Arc::new(iu_cutter_phase_core::MemoryBackupStore::new());
    iu_cutter_orchestrator::Runner::new(fixture.shared(), backups)
}

/// `r1` over every document, cut by the English legal preset.
fn r1_over_all() -> iu_cutter_orchestrator::RunRequest {
    let rules =
        iu_cutter_live_execution::CutRules::preset(iu_cutter_live_execution::Preset::LegalEn);
    iu_cutter_orchestrator::RunRequest::new("r1", Scope::All, rules)
}

/// An import writes its documents in the order its files were found (a directory's entries in
/// sorted order, recursively: `a/b.md` before `a-b.md`, though `a-b.md` < `a/b.md` by id), a
/// row lock at a time; a run's fence locks the same documents in id order. Both queued behind an
/// application holding `a-b.md`: the import holds `a/b.md` and waits for `a-b.md`, the fence
/// gets `a-b.md` first and waits for `a/b.md`, and PostgreSQL cancels one of them as a
/// deadlock. Concurrent writers must queue, not deadlock: the import is written whole, and the
/// fence either fences both or is refused as a conflict (a document changed), never aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_import_out_of_id_order_and_a_fence_queue_instead_of_deadlocking() {
    let name = "an_import_out_of_id_order_and_a_fence_queue_instead_of_deadlocking";
    let Some(fixture) = postgres(name).await else {
        return;
    };
    let store = fixture.shared();
    let (dash, slash) = (DocumentId::new("a-b.md"), DocumentId::new("a/b.md"));
    assert!(dash < slash, "the id order this attack needs");
    let seeded = vec![
        (dash.clone(), "Điều 1. Một.\n".to_owned()),
        (slash.clone(), "Điều 1. Hai.\n".to_owned()),
    ];
    let documents = ok(store.put_documents(&seeded).await, "seed");
    let mut app = fixture.connection().await;
    let imported = vec![
        (slash.clone(), "Điều 1. Hai, imported.\n".to_owned()),
        (dash.clone(), "Điều 1. Một, imported.\n".to_owned()),
    ];
    let importing = store.clone();
    let import = async move { importing.put_documents(&imported).await };
    let import = fenced_with(&mut app, &store, &documents, "a-b.md", import).await;
    assert!(import.is_ok(), "the import, queued: {import:?}");
    let _ = app.close().await;
    fixture.finish().await;
}

/// Fences `documents` as run `F` while `app` holds document `locked`'s row, then starts `other`,
/// a second writer of the same rows, once the fence waits; lets the row go once both wait (or
/// are done). The two must queue, not deadlock: the fence fences every document or is refused
/// as a conflict. Returns what `other` came to.
async fn fenced_with<T: Send + 'static>(
    app: &mut sqlx::PgConnection,
    store: &std::sync::Arc<dyn LiveExecutionAdapter>,
    documents: &[Document],
    locked: &str,
    other: impl std::future::Future<Output = AdapterResult<T>> + Send + 'static,
) -> AdapterResult<T> {
    let fenced: Vec<ExpectedRevision> = documents.iter().map(expect).collect();
    lock_document(app, locked).await;
    let (fencing, run) = (store.clone(), RunId::new("F"));
    let fence = tokio::spawn(async move { fencing.fence(&run, &fenced).await });
    blocks(app, 1, || fence.is_finished()).await;
    let other = tokio::spawn(other);
    blocks(app, 2, || fence.is_finished() && other.is_finished()).await;
    must(app, "ROLLBACK").await;
    let (fence, other) = (joined(fence).await, joined(other).await);
    assert!(
        matches!(fence, Ok(()) | Err(AdapterError::Conflict { .. })),
        "the fence, queued: {fence:?}"
    );
    other
}

/// The scene of a test named `name` over an application's table `laws (id, content)`: the
/// fixture (`None`: skipped), the application's connection, which created the table in the
/// fixture's schema with ids of SQL type `id_type` and the rows `rows` (each a SQL `VALUES`
/// list), and a store over it: initialised, connected with the kill switch open, and synced once.
async fn over_laws(
    name: &str,
    id_type: &str,
    rows: &[&str],
) -> Option<(
    PgFixture,
    sqlx::PgConnection,
    iu_cutter_live_execution::Guarded<iu_cutter_live_execution::sql::SqlStore>,
)> {
    use iu_cutter_tests::fixture::open_gate;
    let fixture = postgres(name).await?;
    let mut app = fixture.connection().await;
    let create = format!("CREATE TABLE laws (id {id_type} PRIMARY KEY, content TEXT NOT NULL)");
    must(&mut app, &create).await;
    for row in rows {
        must(&mut app, &format!("INSERT INTO laws VALUES {row}")).await;
    }
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut app)
        .await
        .unwrap_or_default();
    let laws =
        iu_cutter_live_execution::SourceMapping::new(format!("{schema}.laws"), "id", "content");
    let options = fixture.options().clone().with_source(laws);
    ok(
        iu_cutter_live_execution::sql::init_with(&options).await,
        "init",
    );
    let store = ok(
        iu_cutter_live_execution::sql::connect_with(&options, open_gate()).await,
        "connect",
    );
    ok(store.sync_source(&Scope::All, true).await, "first sync");
    Some((fixture, app, store))
}

/// A store over an application's table `laws`: its rows are synced into tracking copies in the
/// order the table is scanned (no `ORDER BY`: heap order, `b` before `a` here), a row lock at a
/// time; a run's fence locks the same documents in id order. Both queued behind an application
/// holding document `a`'s row: the sync holds `b` and waits for `a`, the fence gets `a` first and
/// waits for `b`, and PostgreSQL cancels one of them as a deadlock. Concurrent writers must
/// queue: the sync writes both copies, and the fence fences both or is refused as a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_sync_out_of_id_order_and_a_fence_queue_instead_of_deadlocking() {
    let name = "a_source_sync_out_of_id_order_and_a_fence_queue_instead_of_deadlocking";
    let rows = ["('b', 'Điều 1. Hai.\n')", "('a', 'Điều 1. Một.\n')"];
    let Some((fixture, mut app, store)) = over_laws(name, "TEXT", &rows).await else {
        return;
    };
    let store: std::sync::Arc<dyn LiveExecutionAdapter> = std::sync::Arc::new(store);
    let documents = ok(store.load_scope(&Scope::All).await, "load");
    scanned_b_then_a(&mut app).await;
    must(&mut app, "UPDATE laws SET content = content || 'Sửa.\n'").await;
    scanned_b_then_a(&mut app).await;
    let syncing = store.clone();
    let sync = async move { syncing.sync_source(&Scope::All, true).await };
    let sync = fenced_with(&mut app, &store, &documents, "a", sync).await;
    assert!(sync.is_ok(), "the sync, queued: {sync:?}");
    let _ = app.close().await;
    drop(store);
    fixture.finish().await;
}

/// Asserts that PostgreSQL scans `laws` as `b` before `a`, the order the deadlock attack needs.
async fn scanned_b_then_a(app: &mut sqlx::PgConnection) {
    let scanned: Vec<String> = sqlx::query_scalar("SELECT id FROM laws")
        .fetch_all(app)
        .await
        .unwrap_or_default();
    assert_eq!(scanned, ["b", "a"], "the scan order this attack needs");
}

/// Adversarial (adv45): a store opened over `laws.id INTEGER` reads the id column's type once.
/// The application then widens it (`ALTER … TYPE BIGINT`, the usual way out of 32-bit ids) and
/// inserts law 3,000,000,000 while the store stays open (`serve`, or a run held then enacted in
/// one process). A run naming it synced nothing ("no row": the ids outside `integer`'s range
/// were left out of the narrowing), and enact's check cast the id to `integer` and failed with
/// "out of range". Any integer column is found by its values as `bigint` (the same index).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integer_id_column_widened_while_the_store_is_open_still_finds_its_rows() {
    let name = "an_integer_id_column_widened_while_the_store_is_open_still_finds_its_rows";
    let row = "(1, 'Điều 1. Một.\n')";
    let Some((fixture, mut app, store)) = over_laws(name, "INTEGER", &[row]).await else {
        return;
    };
    must(&mut app, "ALTER TABLE laws ALTER COLUMN id TYPE BIGINT").await;
    must(
        &mut app,
        "INSERT INTO laws VALUES (3000000000, 'Điều 1. Ba tỷ.\n')",
    )
    .await;
    let big = Scope::Ids(vec![DocumentId::new("3000000000")]);
    let synced = ok(store.sync_source(&big, true).await, "sync the new law");
    assert_eq!((synced.read, synced.added), (1, 1), "{synced:?}");
    assert!(synced.gone.is_empty(), "{synced:?}");
    let documents = ok(store.load_scope(&big).await, "load");
    let run = RunId::new("W");
    let expectations = staged(&store, &run, &documents).await;
    assert_eq!(ok(store.enact(&run, &expectations).await, "enact"), 1);
    let _ = app.close().await;
    drop(store);
    fixture.finish().await;
}

/// The scene of the store48 attacks: [`staged_with_an_application`], `document`'s change-log row
/// removed by hand ([`without_its_change_log_row`]), the application's rewrite of its first
/// staged unit (not committed), and enact waiting for that unit's row, which it reads locked. The
/// store, the run, the application's and the owner's connections, and the enact.
async fn enact_waiting_on_a_rewrite_without_its_change_log_row(
    fixture: &PgFixture,
    document: &str,
) -> (
    std::sync::Arc<dyn LiveExecutionAdapter>,
    RunId,
    sqlx::PgConnection,
    sqlx::PgConnection,
    tokio::task::JoinHandle<AdapterResult<u64>>,
) {
    let (store, run, expectations, mut app) = staged_with_an_application(fixture).await;
    let owner = without_its_change_log_row(fixture, document).await;
    let rewrite = format!(
        "UPDATE units SET body = 'x' \
         WHERE document = '{document}' AND generation = 'A' AND ordinal = 1"
    );
    assert_eq!(must(&mut app, &rewrite).await, 1);
    let enact = enact_waiting_on(&mut app, &store, &run, expectations).await;
    assert!(
        !enact.is_finished(),
        "enact waits for the rewrite of {document}'s unit"
    );
    (store, run, app, owner, enact)
}

/// Removes `document`'s change-log row by hand, as an owner might: returns the owner's
/// connection, to be closed by the test.
async fn without_its_change_log_row(fixture: &PgFixture, document: &str) -> sqlx::PgConnection {
    let mut owner = fixture.connection().await;
    let removed = format!("DELETE FROM document_changes WHERE document = '{document}'");
    assert_eq!(must(&mut owner, &removed).await, 1, "{removed}");
    owner
}

/// Adversarial (store50): enact given write-verify's proof ([`StagedProof`]) hashes no body of a
/// staged unit that no transaction wrote since the snapshot write-verify read it after. A unit
/// rewritten after that read with the change-log triggers off (as a disabled trigger or
/// `session_replication_role = replica` writes: the log never hears of it) names a later
/// transaction, so it is hashed, and enact refuses it, enacting nothing. The control: the same
/// proof with a snapshot taken after the rewrite vouches for it, and enact passes the rewritten
/// unit unhashed: the proof, not the log, is what spares the hashing.
pub(crate) async fn a_unit_rewritten_past_the_triggers_after_write_verify_is_refused_despite_its_proof(
    fixture: &PgFixture,
) {
    let Staged {
        store,
        run,
        expectations,
        ids,
    } = Staged::new(fixture).await;
    let read_after = read_after(store.as_ref(), &ids, &run).await;
    let proved = |snapshot: &str| proved(&expectations, snapshot);
    let mut app = fixture.connection().await;
    must(&mut app, "ALTER TABLE units DISABLE TRIGGER USER").await;
    let rewrite = "UPDATE units SET body = 'rewritten' \
                   WHERE document = 'd/01500' AND generation = 'A' AND ordinal = 1";
    must(&mut app, rewrite).await;
    must(&mut app, "ALTER TABLE units ENABLE TRIGGER USER").await;
    let refused = store.enact(&run, &proved(&read_after)).await;
    conflict(refused, "d/01500", "a unit rewritten past the triggers");
    let fenced = DocumentState::Cutting { run: run.clone() };
    all_in_state(store.as_ref(), &fenced, "nothing enacted").await;

    // Every transaction running when the snapshot is taken (other tests') ended, so that it
    // sees the rewrite's as ended.
    let rewriter: i64 = sqlx::query_scalar(
        "SELECT max(CAST(CAST(xmin AS TEXT) AS BIGINT)) FROM units WHERE document = 'd/01500'",
    )
    .fetch_one(&mut app)
    .await
    .unwrap_or_else(|e| panic!("the rewrite's transaction: {e}"));
    let mut after = String::new();
    for _ in 0..200 {
        let (snapshot, oldest): (String, i64) = sqlx::query_as(
            "SELECT CAST(pg_current_snapshot() AS TEXT), \
             CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS TEXT) AS BIGINT)",
        )
        .fetch_one(&mut app)
        .await
        .unwrap_or_else(|e| panic!("a snapshot: {e}"));
        if oldest & 0xffff_ffff > rewriter {
            after = snapshot;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!after.is_empty(), "no snapshot after the rewrite in 10 s");
    let vouched = store.enact(&run, &proved(&after)).await;
    assert_eq!(ok(vouched, "vouched for"), DOCUMENTS as u64);
}

/// Adversarial (adv54): the other ways of changing a staged unit after write-verify's read
/// that store50's proof ([`StagedProof`]) must see, each on its own document, each refused by
/// enact (the proof given is the snapshot write-verify's read came after): a transaction that
/// held a transaction id before that read and commits a rewrite after it; the same from a
/// released savepoint; a unit deleted and another inserted in its place (same count); a unit
/// moved in from another generation of the document (written before the read), replacing one.
/// Each is undone before the next: the units are written back as they were (by a later
/// transaction, so hashed, and matching).
pub(crate) async fn adv54_staged_units_changed_after_write_verify_in_other_ways_are_refused_despite_the_proof(
    fixture: &PgFixture,
) {
    let Staged {
        store,
        run,
        expectations,
        ids,
    } = Staged::new(fixture).await;
    let mut early = fixture.connection().await;
    let mut saver = fixture.connection().await;
    let mut app = fixture.connection().await;
    // Units of another generation `B` of d/00700, committed before write-verify's read.
    must(
        &mut app,
        "INSERT INTO units (document, generation, ordinal, unit_id, path, part, start_byte, \
         end_byte, sha256, body) SELECT document, 'B', ordinal, unit_id, path, part, \
         start_byte, end_byte, sha256, 'moved' FROM units \
         WHERE document = 'd/00700' AND generation = 'A'",
    )
    .await;
    // Transactions holding an id before the read.
    must(&mut early, "BEGIN").await;
    must(&mut early, "SELECT pg_current_xact_id()").await;
    must(&mut saver, "BEGIN").await;
    must(&mut saver, "SELECT pg_current_xact_id()").await;
    let proved = proved(&expectations, &read_after(store.as_ref(), &ids, &run).await);
    let saved = "CREATE TEMP TABLE saved AS SELECT * FROM units WHERE generation = 'A'";
    must(&mut app, saved).await;
    let restore = |doc: &str| {
        format!(
            "BEGIN; DELETE FROM units WHERE document = '{doc}' AND generation = 'A'; \
             INSERT INTO units SELECT * FROM saved WHERE document = '{doc}'; COMMIT"
        )
    };
    let fenced = DocumentState::Cutting { run: run.clone() };
    // Enact refuses `doc`'s change (`what`), enacts nothing, and the change is undone.
    let refused = async |app: &mut sqlx::PgConnection, doc: &str, what: &str| {
        conflict(store.enact(&run, &proved).await, doc, what);
        all_in_state(store.as_ref(), &fenced, &format!("nothing enacted: {what}")).await;
        script(app, &restore(doc)).await;
    };

    // 1. A transaction that held an id before the read commits a rewrite after it.
    let rewrite = |doc: &str| {
        format!(
            "UPDATE units SET body = 'rewritten' \
             WHERE document = '{doc}' AND generation = 'A' AND ordinal = 1"
        )
    };
    must(&mut early, &rewrite("d/00100")).await;
    must(&mut early, "COMMIT").await;
    refused(
        &mut app,
        "d/00100",
        "a rewrite by a transaction older than the read",
    )
    .await;

    // 2. The same, from a released savepoint.
    must(&mut saver, "SAVEPOINT s").await;
    must(&mut saver, &rewrite("d/00200")).await;
    must(&mut saver, "RELEASE SAVEPOINT s").await;
    must(&mut saver, "COMMIT").await;
    refused(&mut app, "d/00200", "a rewrite from a savepoint").await;

    // 3. A unit deleted and another inserted in its place.
    script(
        &mut app,
        "BEGIN; CREATE TEMP TABLE one AS SELECT * FROM units \
         WHERE document = 'd/00300' AND generation = 'A' AND ordinal = 1; \
         DELETE FROM units WHERE document = 'd/00300' AND generation = 'A' AND ordinal = 1; \
         UPDATE one SET body = 'swapped'; INSERT INTO units SELECT * FROM one; \
         DROP TABLE one; COMMIT",
    )
    .await;
    refused(&mut app, "d/00300", "a unit deleted and another inserted").await;

    // 4. A unit moved in from generation `B` (written before the read), replacing one.
    script(
        &mut app,
        "BEGIN; DELETE FROM units WHERE document = 'd/00700' AND generation = 'A' \
         AND ordinal = 1; UPDATE units SET generation = 'A' WHERE document = 'd/00700' \
         AND generation = 'B' AND ordinal = 1; COMMIT",
    )
    .await;
    refused(
        &mut app,
        "d/00700",
        "a unit moved in from another generation",
    )
    .await;

    // The control: all undone, the proof vouches for nothing rewritten, and enact passes.
    let enacted = store.enact(&run, &proved).await;
    assert_eq!(ok(enacted, "all undone"), DOCUMENTS as u64);
}

/// 2,000 documents whose units run `A` staged and fenced, as write-verify finds them.
struct Staged {
    store: std::sync::Arc<dyn LiveExecutionAdapter>,
    run: RunId,
    expectations: Vec<ExpectedRevision>,
    ids: Vec<DocumentId>,
}

impl Staged {
    async fn new(fixture: &PgFixture) -> Self {
        let store = fixture.shared();
        let documents = seed(store.as_ref()).await;
        let run = RunId::new("A");
        let expectations = staged(store.as_ref(), &run, &documents).await;
        let ids = documents.iter().map(|d| d.id.clone()).collect();
        Staged {
            store,
            run,
            expectations,
            ids,
        }
    }
}

/// The snapshot write-verify's digest read of `ids` came after.
async fn read_after(store: &dyn LiveExecutionAdapter, ids: &[DocumentId], run: &RunId) -> String {
    let read = ok(
        store.generation_digests_of(ids, run).await,
        "write-verify's read",
    );
    let Some(read_after) = read.first().and_then(|d| d.read_after.clone()) else {
        panic!("PostgreSQL names the snapshot write-verify read after");
    };
    read_after
}

/// `expectations` with write-verify's proof: the `snapshot` its read came after, 2 units each.
fn proved(expectations: &[ExpectedRevision], snapshot: &str) -> Vec<ExpectedRevision> {
    let proof = StagedProof {
        read_after: snapshot.to_owned(),
        units: 2,
    };
    let with = |e: &ExpectedRevision| e.clone().with_staged_proof(Some(proof.clone()));
    expectations.iter().map(with).collect()
}

/// Runs each statement of `statements` (separated by `;`, none inside a literal) on `conn`.
async fn script(conn: &mut sqlx::PgConnection, statements: &str) {
    for statement in statements
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        must(conn, statement).await;
    }
}
