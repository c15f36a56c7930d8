//! cargo-fuzz target `store`: see fuzz/README.md and `dmflow_fuzz::oracles::store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::store::fuzz(data));
