//! Several runners on one SQLite file (see `iu_cutter_tests::runners`): disjoint shards.
#![cfg(feature = "sqlite")]

use iu_cutter_tests::contract::live::sqlite;
use iu_cutter_tests::runners;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn disjoint_shards_cut_every_document_exactly_once() {
    let Some(fixture) = sqlite("disjoint_shards_cut_every_document_exactly_once").await else {
        return;
    };
    runners::disjoint_shards_cut_every_document_exactly_once(&fixture).await;
}
