//! Regression tests from the seam attack of c11b997 (`iu_cutter_tests::seam_attack`), on the
//! simulator and SQLite.

mod simulator {
    iu_cutter_tests::seam_attack_suite!(iu_cutter_tests::fixture::simulator);
}

mod sqlite {
    iu_cutter_tests::seam_attack_suite!(iu_cutter_tests::fixture::sqlite);
}
