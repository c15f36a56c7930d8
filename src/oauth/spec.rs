//! The YAML of the OAuth2 steps and of a flow's `oauth:` provider section.
//!
//! A flow names its provider once (`oauth:`: endpoints, client, redirect URI, scopes); the
//! `authorize`, `token` and `refresh` steps inherit those settings and may override any of
//! them. Everything is a template, so keys come from `env()`, `--var` or an `--env-file`.

use crate::flow::node::{Node, Text};
use indexmap::IndexMap;
use serde::Deserialize;

/// The provider settings shared by a flow's OAuth steps and by automatic refresh.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSpec {
    pub authorize_url: Option<Text>,
    pub token_url: Option<Text>,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    /// `form` (client_id and client_secret in the body, what Dailymotion documents) or `basic`.
    pub client_auth: Option<Text>,
    pub redirect_uri: Option<Text>,
    /// A space-separated string or a list.
    pub scope: Option<Node>,
}

/// Opens the browser on the authorization URL (and starts the callback listener first).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeSpec {
    pub url: Option<Text>,
    pub client_id: Option<Text>,
    pub redirect_uri: Option<Text>,
    pub scope: Option<Node>,
    /// `S256` (default), `plain`, or `none`.
    pub pkce: Option<Text>,
    /// Extra query parameters, such as `display: popup`.
    #[serde(default)]
    pub params: IndexMap<String, Text>,
}

/// Waits for the browser to come back to the loopback redirect URI.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSpec {
    /// How long to wait for the user (default `10m`).
    pub timeout: Option<Text>,
}

/// A token request: the code exchange, or the `password` / `client_credentials` grants.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub url: Option<Text>,
    /// `authorization_code` (default), `password` or `client_credentials`.
    pub grant: Option<Text>,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_auth: Option<Text>,
    pub code: Option<Text>,
    pub redirect_uri: Option<Text>,
    pub code_verifier: Option<Text>,
    pub username: Option<Text>,
    pub password: Option<Text>,
    pub scope: Option<Node>,
    #[serde(default)]
    pub params: IndexMap<String, Text>,
}

/// The refresh_token grant.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSpec {
    pub url: Option<Text>,
    pub client_id: Option<Text>,
    pub client_secret: Option<Text>,
    pub client_auth: Option<Text>,
    /// Default `<<REFRESH_TOKEN>>`.
    pub refresh_token: Option<Text>,
    pub scope: Option<Node>,
}

/// `GET <api>/echo?message=...` with the bearer token; checks the message comes back.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoSpec {
    /// The API base URL (default `https://api.dailymotion.com`).
    pub api: Option<Text>,
    pub message: Option<Text>,
    /// Default `<<ACCESS_TOKEN>>`.
    pub token: Option<Text>,
}

impl OAuthSpec {
    /// Every template leaf, for the static check.
    pub fn texts(&self) -> Vec<&Text> {
        [
            &self.authorize_url,
            &self.token_url,
            &self.client_id,
            &self.client_secret,
            &self.client_auth,
            &self.redirect_uri,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
