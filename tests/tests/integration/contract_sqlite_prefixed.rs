//! The adapter contract suite against a SQLite file shared with an application: iu-cutter's
//! tables prefixed (`iu_cutter_…`), beside the application's own `documents`, `units` and
//! `control`, which every check leaves exactly as they were (the fixture's `finish`).

iu_cutter_tests::sql_store_suites!(iu_cutter_tests::fixture::sqlite_prefixed);
