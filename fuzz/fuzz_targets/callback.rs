//! cargo-fuzz target `callback`: see fuzz/README.md and `dmflow_fuzz::oracles::callback`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::callback::fuzz(data));
