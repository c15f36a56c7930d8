//! The fuzz targets' oracles, one module per target. Each module has `fuzz(data)` (what the
//! cargo-fuzz target calls with raw bytes) and `check(...)` (the same with typed input, what
//! the stable property test `tests/fuzz_smoke.rs` and the regressions in
//! `tests/fuzz_regressions.rs` call). A property that does not hold panics.

pub mod oracles;
