//! The clock and the random ids the emulator stamps on what it issues.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Now, in unix seconds.
pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// Now, in unix microseconds.
pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// `bytes` random bytes, base64url.
pub fn random_id(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(crate::oauth::pkce::random_bytes(bytes))
}

/// A random 64-bit number (single-use markers).
pub fn random_u64() -> u64 {
    let bytes = crate::oauth::pkce::random_bytes(8);
    u64::from_le_bytes(bytes.try_into().expect("eight bytes"))
}
