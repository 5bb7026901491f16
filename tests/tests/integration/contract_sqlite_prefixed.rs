//! The adapter contract suite against a SQLite file shared with an application: iu-cutter's
//! tables prefixed (`iu_cutter_…`), beside the application's own `documents`, `units` and
//! `control`, which every check leaves exactly as they were (the fixture's `finish`).

iu_cutter_tests::contract_suite!(iu_cutter_tests::fixture::sqlite_prefixed);
iu_cutter_tests::batch_attack_suite!(iu_cutter_tests::fixture::sqlite_prefixed);
iu_cutter_tests::batch_attack_raw_suite!(iu_cutter_tests::fixture::sqlite_prefixed);
iu_cutter_tests::change_log_live_suite!(iu_cutter_tests::fixture::sqlite_prefixed);
