//! cargo-fuzz target `expect`: see fuzz/README.md and `dmflow_fuzz::oracles::expect`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::expect::fuzz(data));
