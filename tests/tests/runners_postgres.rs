//! Several runners on one PostgreSQL schema (see `iu_cutter_tests::runners`). Needs
//! `IU_CUTTER_TEST_PG_URL`; without it every test says it is skipped and passes.
#![cfg(feature = "postgres")]

use iu_cutter_tests::contract::Fixture;
use iu_cutter_tests::contract::live::postgres;
use iu_cutter_tests::{races, runners};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_scopes_cut_each_document_once() {
    let Some(fixture) = postgres("overlapping_scopes_cut_each_document_once").await else {
        return;
    };
    runners::overlapping_scopes_cut_each_document_once(&fixture).await;
    fixture.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_shards_cut_every_document_exactly_once() {
    let Some(fixture) = postgres("disjoint_shards_cut_every_document_exactly_once").await else {
        return;
    };
    runners::disjoint_shards_cut_every_document_exactly_once(&fixture).await;
    fixture.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_runners_run_resumes_only_after_its_lease_expires() {
    let Some(fixture) =
        postgres("a_crashed_runners_run_resumes_only_after_its_lease_expires").await
    else {
        return;
    };
    runners::a_crashed_runners_run_resumes_only_after_its_lease_expires(&fixture).await;
    fixture.finish().await;
}

/// Two runners racing on one scope (see `iu_cutter_tests::races`): `IU_CUTTER_FAULTS_RACE_TRIALS`
/// trials (3 here; `cargo xtask faults` runs 100), seeded by `IU_CUTTER_FAULTS_SEED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_race_on_one_scope() {
    let trials = races::env_u64("IU_CUTTER_FAULTS_RACE_TRIALS", 3);
    let seed = races::env_u64("IU_CUTTER_FAULTS_SEED", 0x0100_5eed_f00d);
    races::race_trials(|name| async move { postgres(&name).await }, trials, seed)
        .await
        .finish();
}

/// An edit injected by a trigger at every phase boundary (see `iu_cutter_tests::races`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_by_trigger_at_every_phase_boundary() {
    races::edit_trials(|name| async move { postgres(&name).await })
        .await
        .finish();
}
