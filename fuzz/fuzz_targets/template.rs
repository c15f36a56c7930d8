//! cargo-fuzz target `template`: see fuzz/README.md and `dmflow_fuzz::oracles::template`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dmflow_fuzz::oracles::template::fuzz(data));
