//! Provider profiles: everything dmflow knows about one OAuth2 API (its hosts and default URLs,
//! scopes, where its secret is usually kept, how it names the user, its list envelope, its
//! error texts), as data. Dailymotion is the first profile.
//!
//! A profile applies when a flow talks to one of its hosts; a flow whose OAuth endpoints are
//! elsewhere sees none of its defaults or hints. A flow that names no endpoint at all gets
//! [`default`], the provider dmflow is made for.

pub mod dailymotion;

use url::Url;

/// A provider's list envelope (`paginate:` defaults).
#[derive(Debug, Clone, Copy)]
pub struct Pagination {
    /// The query parameter that numbers pages.
    pub param: &'static str,
    /// The top-level boolean that says another page exists.
    pub more: &'static str,
    /// The top-level array holding each page's items.
    pub list: &'static str,
}

/// What dmflow knows about one provider.
#[derive(Debug)]
pub struct Profile {
    /// The provider's name, for messages.
    pub name: &'static str,
    /// The hosts it serves (the emulator answers for them under `--mock`).
    pub hosts: &'static [&'static str],
    /// The API's base URL (the `echo` step's default).
    pub api_url: &'static str,
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    /// Where revocation goes, as a path on the token URL's host (`/logout`).
    pub logout_path: Option<&'static str>,
    /// The scopes it knows, current and legacy.
    pub scopes: &'static [&'static str],
    /// The environment variables that usually hold the API key and secret.
    pub key_env: &'static str,
    pub secret_env: &'static str,
    /// The token response field that holds the user's id (read into `USER_ID`).
    pub user_id_field: Option<&'static str>,
    /// Words of its error messages that mean "this token lacks a scope".
    pub scope_error_words: &'static [&'static str],
    /// Where its API puts the message of an error, as a JSON pointer.
    pub error_message_pointer: &'static str,
    /// What to tell a user whose password grant failed.
    pub password_hint: &'static str,
    pub pagination: Pagination,
    /// The `echo` step: the path and the parameter echoed back.
    pub echo_path: &'static str,
    pub echo_param: &'static str,
}

/// Every profile dmflow knows.
pub const PROFILES: &[&Profile] = &[&dailymotion::DAILYMOTION];

impl Profile {
    /// Whether a URL is on one of this provider's hosts.
    pub fn serves(&self, url: &Url) -> bool {
        url.host_str()
            .is_some_and(|host| self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }
}

/// The profile of the provider a URL belongs to.
pub fn for_url(url: &Url) -> Option<&'static Profile> {
    PROFILES.iter().copied().find(|p| p.serves(url))
}

/// The profile of the provider a URL text belongs to.
pub fn for_text(url: &str) -> Option<&'static Profile> {
    Url::parse(url.trim()).ok().as_ref().and_then(for_url)
}

/// The provider a flow talks to when it names no endpoint.
pub fn default() -> &'static Profile {
    &dailymotion::DAILYMOTION
}

/// The loopback redirect URI used when a flow names none (any provider).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8080/callback";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_host() {
        let dm = for_text("https://api.dailymotion.com/oauth/token").unwrap();
        assert_eq!(dm.name, "Dailymotion");
        assert!(for_text("http://127.0.0.1:3000/token").is_none());
        assert!(for_text("not a url").is_none());
    }
}
