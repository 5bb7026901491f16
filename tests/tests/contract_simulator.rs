//! The adapter contract suite against the simulator.

iu_cutter_tests::contract_suite!(iu_cutter_tests::contract::simulator);
