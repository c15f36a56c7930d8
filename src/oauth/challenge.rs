//! `WWW-Authenticate: Bearer realm="...", error="invalid_token", ...` (RFC 6750 §3).

use regex::Regex;
use std::sync::LazyLock;

static AUTH_PARAM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(\w+)="([^"]*)""#).expect("valid regex"));

/// A parameter of a challenge (`error`, `error_description`, `scope`).
pub fn param(header: &str, name: &str) -> Option<String> {
    AUTH_PARAM
        .captures_iter(header)
        .find(|c| c[1].eq_ignore_ascii_case(name))
        .map(|c| c[2].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenge_params() {
        let h = r#"Bearer realm="api.dailymotion.com", error="invalid_token", error_description="The access token has expired.""#;
        assert_eq!(param(h, "error").as_deref(), Some("invalid_token"));
        assert_eq!(
            param(h, "error_description").as_deref(),
            Some("The access token has expired.")
        );
        assert_eq!(param(h, "scope"), None);
    }
}
