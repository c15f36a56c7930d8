//! cargo-fuzz target `export`: see fuzz/README.md and `dmflow_fuzz::oracles::export`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::export::fuzz(data));
