//! Everything a run needs from outside the flow file: variables from the command line and the
//! environment, values from the token store, the HTTP client, hooks, and options for the step
//! kinds by type.

use super::context::Hook;
use super::extensions::Extensions;
use super::http::{Client, HostRewrite};
use crate::secret::Redactor;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The options of a run.
#[derive(Default)]
pub struct RunOptions {
    /// `--var NAME=VALUE`.
    pub cli_vars: IndexMap<String, String>,
    /// `--env-file` entries.
    pub env_file: IndexMap<String, String>,
    /// The process environment (read for declared inputs, and by `env()`).
    pub env: Arc<HashMap<String, String>>,
    /// Values from the token store, offered to the flow's inputs.
    pub stored: IndexMap<String, Value>,
    /// Variables forced by the environment of the run (the emulator's demo app under `--mock`);
    /// they win over `vars:` defaults but not over `--var`.
    pub overrides: IndexMap<String, String>,
    /// The process's HTTP client (share it between runs: its connections are reused).
    pub client: Client,
    /// The `--mock` rewrite of provider hosts to the emulator.
    pub rewrite: Option<HostRewrite>,
    /// Called around steps and requests (the token hook).
    pub hooks: Vec<Arc<dyn Hook>>,
    /// Options for step kinds and hooks, by type.
    pub extensions: Extensions,
    /// The secrets of the run; everything printed is masked with it.
    pub redactor: Redactor,
    /// Where missing inputs usually come from (`for tokens: dmflow run flows/login.yaml`).
    pub input_hint: Option<String>,
}

impl RunOptions {
    /// The process environment, read once.
    pub fn process_env() -> Arc<HashMap<String, String>> {
        Arc::new(std::env::vars().collect())
    }
}
