//! Several runners on one store (see `iu_cutter_tests::runners`), and the race and edit trials
//! (`iu_cutter_tests::races`; `cargo xtask faults` runs many more of them), per SQL store.

/// Several runners on one SQLite file: disjoint shards.
mod sqlite {
    iu_cutter_tests::runners_suite!(iu_cutter_tests::fixture::sqlite;
        disjoint_shards_cut_every_document_exactly_once,
    );
}

/// One PostgreSQL schema shared by several runners.
mod postgres {
    iu_cutter_tests::runners_suite!(iu_cutter_tests::fixture::postgres;
        overlapping_scopes_cut_each_document_once,
        disjoint_shards_cut_every_document_exactly_once,
        a_crashed_runners_run_resumes_only_after_its_lease_expires,
    );
}
