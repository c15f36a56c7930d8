//! What a run offers the token machinery (the token store of its profile, the endpoint a
//! sign-in recorded, how to sign in again), and what a flow's token steps leave behind.

use crate::oauth::errors::Advice;
use crate::provider::Profile;
use crate::store::{ProfileStore, TokenEndpoint};

/// A run's token settings, kept among the run's options.
#[derive(Debug, Clone, Default)]
pub struct TokenSupport {
    /// The profile's token store: fills inputs, receives outputs, coordinates refreshes with
    /// other processes.
    pub store: Option<ProfileStore>,
    /// How to refresh without a flow's `oauth:` section (recorded by the sign-in).
    pub stored_endpoint: Option<TokenEndpoint>,
    /// Keep the client secret beside the tokens (`--store-client-secret`).
    pub store_client_secret: bool,
    /// A client secret to use when neither the flow nor the store has one (the emulator's demo
    /// app under `--mock`).
    pub secret_fallback: Option<String>,
    /// The command that signs in, for hints (`dmflow run flows/login.yaml`).
    pub sign_in: Option<String>,
    /// How this run was started (`dmflow run --mock`), to say how to run a sign-in again.
    pub run_command: String,
}

impl TokenSupport {
    pub fn advice(&self, provider: Option<&'static Profile>) -> Advice<'_> {
        Advice {
            provider,
            sign_in: self.sign_in.as_deref(),
        }
    }
}
