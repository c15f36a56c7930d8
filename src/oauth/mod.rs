//! OAuth2 for flows: the `authorize`, `callback`, `token`, `refresh` and `echo` steps, and the
//! automatic refresh of bearer-authenticated calls.
//!
//! The data path is the login lesson's: `authorize` builds the URL (state, PKCE) and starts the
//! loopback listener before the browser opens; `callback` waits for the browser to come back;
//! `token` exchanges the code; `refresh` renews; `echo` proves the token works.

pub mod authorize;
pub mod bearer;
pub mod browser;
pub mod callback;
pub mod echo;
pub mod errors;
pub mod pkce;
pub mod spec;
pub mod token;

use crate::run::http::HostRewrite;

/// The variables `token` and `refresh` define.
pub const TOKEN_OUTPUTS: &[&str] = &[
    "ACCESS_TOKEN",
    "REFRESH_TOKEN",
    "TOKEN_TYPE",
    "SCOPE",
    "USER_ID",
    "EXPIRES_IN",
    "EXPIRES_AT",
];

/// Where the browser comes back when a flow names no redirect URI (Dailymotion compares
/// redirect URIs exactly, so the port is fixed; register this one with your API key).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8080/callback";

/// The Dailymotion API, when a flow names no other.
pub const DEFAULT_API: &str = "https://api.dailymotion.com";

/// How the run reaches the user's browser and the provider; set from the command line.
#[derive(Debug, Clone, Default)]
pub struct OAuthRuntime {
    pub browser: browser::Browser,
    /// The `--mock` rewrite of provider hosts to the emulator.
    pub rewrite: Option<HostRewrite>,
    /// Bind the callback on any free port and say so in `redirect_uri` (the emulator accepts
    /// any loopback port, so parallel runs never collide).
    pub callback_any_port: bool,
    /// Offer to paste the redirected URL on the terminal.
    pub paste: bool,
    /// Record the client secret beside the tokens (`--store-client-secret`), so `dmflow env`
    /// and friends can refresh without `DM_API_SECRET` in the environment.
    pub store_client_secret: bool,
}

/// What the OAuth steps of one flow run hand to each other.
#[derive(Default)]
pub struct FlowOAuthState {
    pub listener: Option<callback::Listener>,
    pub state: Option<String>,
    pub verifier: Option<String>,
    pub redirect_uri: Option<String>,
    pub browser_task: Option<tokio::task::JoinHandle<()>>,
    /// Variables whose value still is the one read from the token store.
    pub stored_names: std::collections::BTreeSet<String>,
    /// The token endpoint used by this run (recorded in the store with its tokens).
    pub endpoint: Option<crate::store::TokenEndpoint>,
    /// The endpoint recorded by an earlier run, for flows without an `oauth:` section.
    pub fallback_endpoint: Option<crate::store::TokenEndpoint>,
}

impl FlowOAuthState {
    /// Stops whatever is still listening or browsing.
    pub fn close(&mut self) {
        self.listener = None;
        if let Some(task) = self.browser_task.take() {
            task.abort();
        }
    }
}
