//! The adapter contract suite and the no-clobber suite against the simulator.

iu_cutter_tests::contract_suite!(iu_cutter_tests::fixture::simulator);
iu_cutter_tests::batch_attack_suite!(iu_cutter_tests::fixture::simulator);
iu_cutter_tests::no_clobber_suite!(iu_cutter_tests::fixture::simulator);
