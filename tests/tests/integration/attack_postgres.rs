//! Adversarial regressions (attack of 4d54ff2) on PostgreSQL, where writers really overlap: a
//! second connection (psql, an application, another runner's purge) holds or deletes a
//! generation row while a rollback or a purge works. Needs `IU_CUTTER_TEST_PG_URL`; without it
//! every test says it is skipped (and fails in CI). Written to fail on 4d54ff2.

use iu_cutter_live_execution::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use iu_cutter_live_execution::{
    CutRules, DocumentId, GenerationState, LiveExecutionAdapter, Preset, PurgeTarget, RunId, Scope,
};
use iu_cutter_orchestrator::{Outcome, RunOptions, RunRequest, Runner};
use iu_cutter_phase_core::MemoryBackupStore;
use iu_cutter_tests::contract::{backup_of, cut, reread};
use iu_cutter_tests::fixture::{Fixture, PgFixture, SqlFixture, blocks, must};
use iu_cutter_tests::ok;
use sqlx::Connection;

/// Each check as its own `#[tokio::test]` over a fresh PostgreSQL schema, on worker threads
/// enough for its writers to run at once, skipped without a database as the fixture says.
mod on_postgres {
    iu_cutter_tests::fixture_tests!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        iu_cutter_tests::fixture::postgres => crate::attack_postgres, fixture;
        restore_never_points_a_document_at_a_generation_deleted_under_it,
    );
    iu_cutter_tests::fixture_tests!(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        iu_cutter_tests::fixture::postgres => crate::attack_postgres, fixture;
        purge_never_removes_a_generation_a_rollback_came_to_need_meanwhile,
    );
}

/// The document's active-generation pointer names a generation record that is active.
async fn pointer_is_sound(store: &dyn LiveExecutionAdapter, id: &DocumentId) -> Result<(), String> {
    let heads = ok(
        store.load_heads(&Scope::Ids(vec![id.clone()])).await,
        "heads",
    );
    let Some(head) = heads.first() else {
        return Err(format!("{id}: gone"));
    };
    let Some(active) = &head.active_generation else {
        return Ok(());
    };
    let records = ok(store.generations(id).await, "generations");
    if records
        .iter()
        .any(|g| &g.generation == active && g.state == GenerationState::Active)
    {
        Ok(())
    } else {
        Err(format!(
            "{id} points at generation `{active}`, which has no active record (records: \
             {records:?})"
        ))
    }
}

/// Promise: "every mutation, rollback included, is a compare-and-set against exactly the state
/// the run saw". Rolling back B (which retired A) makes A active again, but `restore` reads the
/// generation records without locking them and then updates A's record unconditionally,
/// ignoring that the update found no row: when another connection deletes A's retired record
/// in between (here by hand, as a purge does), the document is pointed at a generation that no
/// longer exists, with no units.
pub(crate) async fn restore_never_points_a_document_at_a_generation_deleted_under_it(
    fixture: &PgFixture,
) {
    let store = fixture.adapter();
    let id = DocumentId::new("d");
    let (a, b) = (RunId::new("A"), RunId::new("B"));
    let doc = ok(
        store
            .put_document(&id, "# T\n\nbody\n\n## S\n\nmore\n")
            .await,
        "put",
    );
    cut(store, &a, std::slice::from_ref(&doc), 2).await;
    let doc = reread(store, &doc).await;
    let backup = backup_of(store, &b, std::slice::from_ref(&id)).await;
    cut(store, &b, &[doc], 3).await;

    let mut other = fixture
        .holding("SELECT 1 FROM generations WHERE document = 'd' AND generation = 'A' FOR UPDATE")
        .await;
    let shared = fixture.shared();
    let rollback = tokio::spawn(async move { shared.restore(&RunId::new("B"), &backup).await });
    blocks(&mut other, 1, || rollback.is_finished()).await;
    must(
        &mut other,
        "DELETE FROM units WHERE document = 'd' AND generation = 'A'",
    )
    .await;
    must(
        &mut other,
        "DELETE FROM generations WHERE document = 'd' AND generation = 'A' AND state = 'retired'",
    )
    .await;
    must(&mut other, "COMMIT").await;
    let restored = match rollback.await {
        Ok(result) => result,
        Err(e) => panic!("restore task: {e}"),
    };
    let sound = pointer_is_sound(store, &id).await;
    assert!(
        sound.is_ok(),
        "restore returned {restored:?} and left: {}",
        sound.err().unwrap_or_default()
    );
    let _ = other.close().await;
}

/// Promise (purge): "a run not yet superseded keeps its documents' pre-run generation". Purge
/// selects, then deletes in a later transaction. Rolling back C between the two makes B
/// unsuperseded again, so A (B's pre-run generation) is needed again; the delete must not remove
/// it. The selection is taken by a purge whose kill switch is closed (it selects, then is
/// refused), the rollback comes next, then the selection is handed to the store: its
/// compare-and-set on each document's active generation refuses it, removing nothing.
pub(crate) async fn purge_never_removes_a_generation_a_rollback_came_to_need_meanwhile(
    fixture: &PgFixture,
) {
    let id = DocumentId::new("d");
    ok(
        fixture
            .adapter()
            .put_document(&id, "# T\n\nbody\n\n## S\n\nmore\n")
            .await,
        "put",
    );
    let runner = Runner::new(fixture.shared(), Arc::new(MemoryBackupStore::new()));
    let rules = CutRules::preset(Preset::Markdown);
    for run in ["A", "B", "C"] {
        let report = match runner
            .run(
                RunRequest::new(run, Scope::All, rules.clone()),
                RunOptions::default(),
            )
            .await
        {
            Ok(report) => report,
            Err(e) => panic!("run {run}: {e}"),
        };
        assert_eq!(report.outcome, Outcome::Pass, "run {run}");
    }

    // The purge's selection, as it stands before the rollback.
    let closed = ok(
        iu_cutter_live_execution::sql::connect_with(
            fixture.options(),
            iu_cutter_live_execution::ExecutionGate::new(),
        )
        .await,
        "connect with the switch closed",
    );
    let selecting = Runner::new(Arc::new(closed), Arc::new(MemoryBackupStore::new()));
    let selection = selecting.purge(Duration::ZERO).await;
    let targets: Vec<PurgeTarget> = selection
        .selected()
        .map(|entry| PurgeTarget {
            document: entry.document.clone(),
            generation: entry.generation.clone(),
            active: Some(RunId::new("C")),
        })
        .collect();
    assert!(
        targets.iter().any(|t| t.generation.as_str() == "A"),
        "purge selects A while C is active: {selection:?}"
    );

    let rolled = match runner.rollback(&RunId::new("C")).await {
        Ok(report) => report,
        Err(e) => panic!("rollback C: {e}"),
    };
    assert_eq!(rolled.outcome, Outcome::RolledBack, "rollback C");
    let late = fixture.adapter().purge_generations(&targets).await;
    assert!(
        matches!(
            late,
            Err(iu_cutter_live_execution::AdapterError::Conflict { .. })
        ),
        "a purge chosen before the rollback must remove nothing after it: {late:?}"
    );
    let rolled = match runner.rollback(&RunId::new("B")).await {
        Ok(report) => report,
        Err(e) => panic!("rollback B: {e}"),
    };
    assert_eq!(
        rolled.outcome,
        Outcome::RolledBack,
        "B's pre-run generation A must still be there"
    );
}
