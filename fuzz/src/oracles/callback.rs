//! Target `callback`: any query string on the sign-in callback (`/callback?state=...&code=...`),
//! through `listener::classify_query`, what the loopback listener does with a request's query,
//! and through `parse_pasted`, what `--no-browser` does with a pasted redirect URL.
//!
//! Properties: no panic; the outcome agrees with an independent reading of the query
//! (`application/x-www-form-urlencoded`, first value of a name wins): a code or a provider's
//! error is accepted only with the expected state, the code is the one sent, a missing state
//! and a wrong one are told apart; a pasted URL carrying the query means the same.

use dmflow::oauth::listener::{Outcome, classify_query, parse_pasted};

/// The state of the sign-in the callbacks answer.
pub const STATE: &str = "st4te-Fuzz_0";

pub fn fuzz(data: &[u8]) {
    if let Some(query) = super::text(data) {
        check(query);
    }
}

/// The first value of `name` in a form-encoded query, read without the `url` crate.
pub fn param(query: &str, name: &str) -> Option<String> {
    let decode = |text: &str| {
        let spaced = text.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned()
    };
    query
        .split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| piece.split_once('=').unwrap_or((piece, "")))
        .find(|(key, _)| decode(key) == name)
        .map(|(_, value)| decode(value))
}

pub fn check(query: &str) {
    let outcome = classify_query(query, STATE);
    let state = param(query, "state");
    let error = param(query, "error");
    let expected = match (&state, &error, param(query, "code")) {
        (None, _, _) => Outcome::MissingState,
        (Some(s), _, _) if s != STATE => Outcome::StateMismatch,
        (_, Some(error), _) => Outcome::ProviderError {
            error: error.clone(),
            description: param(query, "error_description"),
        },
        (_, None, Some(code)) if !code.is_empty() => Outcome::Code(code),
        _ => Outcome::Empty,
    };
    assert_eq!(outcome, expected, "query {query:?}");
    // A URL keeps the query as it is, except what URL parsing itself changes: a `#` starts
    // the fragment, tabs and line breaks are dropped, a pasted line is trimmed.
    let untouched =
        !query.contains('#') && !query.chars().any(char::is_control) && query.trim_end() == query;
    if untouched {
        let pasted = parse_pasted(&format!("http://127.0.0.1:8080/callback?{query}"), STATE);
        assert_eq!(pasted, outcome, "pasted URL with query {query:?}");
    }
}
