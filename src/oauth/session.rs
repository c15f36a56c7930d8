//! What the `authorize` step hands to `callback` and `token` within one flow run: the state
//! and PKCE verifier it sent, the redirect URI, the listener waiting for the browser.

use super::listener::Listener;

/// A sign-in started by `authorize` and not finished yet. Dropping it stops the listener and
/// the built-in browser.
#[derive(Default)]
pub struct Authorization {
    pub listener: Option<Listener>,
    pub state: String,
    pub verifier: Option<String>,
    pub redirect_uri: String,
    pub browser_task: Option<tokio::task::JoinHandle<()>>,
}

impl Authorization {
    /// Stops whatever is still listening or browsing.
    pub fn close(&mut self) {
        self.listener = None;
        if let Some(task) = self.browser_task.take() {
            task.abort();
        }
    }
}

impl Drop for Authorization {
    fn drop(&mut self) {
        self.close();
    }
}

/// The fact `authorize` provides at compile time, which `callback` requires.
pub const PENDING_AUTHORIZATION: &str = "oauth: a pending authorization";
