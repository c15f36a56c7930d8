//! cargo-fuzz target `flow`: see fuzz/README.md and `dmflow_fuzz::oracles::flow`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::flow::fuzz(data));
