//! Exit codes scripts can rely on (also in `--help` and README.md).

/// Every flow passed.
pub const OK: i32 = 0;
/// A check failed: an `expect:` did not hold, a capture found nothing, or the provider refused
/// (OAuth errors such as `invalid_grant` or `access_denied`).
pub const FAILED: i32 = 1;
/// The flow or the command line is invalid: YAML, schema, undefined variable, missing input.
pub const INVALID: i32 = 2;
/// No usable answer: network error, timeout, busy callback port, provider 5xx.
pub const RUNTIME: i32 = 3;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// The text `--help` shows.
pub const HELP: &str = "Exit codes:
  0    every flow passed
  1    a check failed (expect:, save:, or the provider refused, e.g. invalid_grant)
  2    invalid flow or usage (YAML, unknown field, undefined variable, missing input)
  3    network or runtime error (connection, timeout, busy port, provider 5xx)
  130  interrupted (Ctrl-C)";

/// The most serious of several exit codes (runtime > invalid > failed > ok; Ctrl-C wins).
pub fn worst(codes: impl IntoIterator<Item = i32>) -> i32 {
    let rank = |c: i32| match c {
        INTERRUPTED => 4,
        RUNTIME => 3,
        INVALID => 2,
        FAILED => 1,
        _ => 0,
    };
    codes.into_iter().max_by_key(|c| rank(*c)).unwrap_or(OK)
}
