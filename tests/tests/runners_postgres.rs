//! Several runners on one PostgreSQL schema (see `iu_cutter_tests::runners`). Needs
//! `IU_CUTTER_TEST_PG_URL`; without it every test says it is skipped and passes.
#![cfg(feature = "postgres")]

use iu_cutter_tests::contract::Fixture;
use iu_cutter_tests::contract::live::postgres;
use iu_cutter_tests::runners;

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
