//! Several runners on one SQLite file (see `iu_cutter_tests::runners`): disjoint shards.
#![cfg(feature = "sqlite")]

use iu_cutter_tests::contract::live::sqlite;
use iu_cutter_tests::{races, runners};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_shards_cut_every_document_exactly_once() {
    let Some(fixture) = sqlite("disjoint_shards_cut_every_document_exactly_once").await else {
        return;
    };
    runners::disjoint_shards_cut_every_document_exactly_once(&fixture).await;
}

/// Two runners racing on one scope (see `iu_cutter_tests::races`): `IU_CUTTER_FAULTS_RACE_TRIALS`
/// trials (3 here; `cargo xtask faults` runs 100), seeded by `IU_CUTTER_FAULTS_SEED`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_race_on_one_scope() {
    let trials = races::env_u64("IU_CUTTER_FAULTS_RACE_TRIALS", 3);
    let seed = races::env_u64("IU_CUTTER_FAULTS_SEED", 0x0100_5eed_f00d);
    races::race_trials(|name| async move { sqlite(&name).await }, trials, seed)
        .await
        .finish();
}

/// An edit injected by a trigger at every phase boundary (see `iu_cutter_tests::races`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_by_trigger_at_every_phase_boundary() {
    races::edit_trials(|name| async move { sqlite(&name).await })
        .await
        .finish();
}
