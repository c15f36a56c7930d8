//! What a run offers the token machinery (the token store of its profile, the endpoint a
//! sign-in recorded, how to sign in again), and what a flow's token steps leave behind.

use crate::oauth::errors::Advice;
use crate::provider::Profile;
use crate::store::{ProfileStore, TokenEndpoint};
use std::collections::BTreeSet;

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
    /// The generation of the store's values the run was given (see `tokens::merge`).
    pub generation: u64,
    /// The outputs the flow (with its sub-flows) hands to the store when it passes: a token
    /// answer among them is stored the moment it arrives.
    pub hands_over: BTreeSet<String>,
}

impl TokenSupport {
    /// Whether the flow hands tokens to the store.
    pub fn hands_over_tokens(&self) -> bool {
        self.store.is_some()
            && [super::names::ACCESS_TOKEN, super::names::REFRESH_TOKEN]
                .iter()
                .any(|name| self.hands_over.contains(*name))
    }

    pub fn advice(&self, provider: Option<&'static Profile>) -> Advice<'_> {
        Advice {
            provider,
            sign_in: self.sign_in.as_deref(),
        }
    }
}
