//! What dmflow must do with any input, one module per fuzz target: never panic, hang or run
//! out of memory, and keep the promises each module names (a compiled flow or a reason, a
//! callback never accepted without its state, exports that read back as written...).
//!
//! Each module offers `fuzz(bytes)`, what its cargo-fuzz target calls, and `check(...)` with
//! typed input, what `tests/fuzz_smoke.rs` (proptest, on stable) and
//! `tests/fuzz_regressions.rs` call. This directory is compiled into both crates (the tests
//! include it by path), so it uses only dmflow and crates dmflow already depends on.

pub mod callback;
pub mod expect;
pub mod export;
pub mod flow;
pub mod store;
pub mod template;

/// The secret of every run the targets make (the access token): it must never show in a
/// message.
pub const SECRET: &str = "s3cr3tFuzzT0ken";

/// The input as text. Targets that take text skip other bytes: dmflow refuses a file that is
/// not UTF-8 before parsing it (`dmflow::flow::load::read`).
pub fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Panics when `text`, meant for a terminal, holds a control character other than newline
/// and tab (an escape sequence from the input would act on the terminal).
pub fn assert_printable(what: &str, text: &str) {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        panic!("{what} holds the control character {c:?}: {text:?}");
    }
}
