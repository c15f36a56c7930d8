//! What a step kind gets while it runs: the variables (to render its templates and to set its
//! outputs), the HTTP session, the run's state and options, and a way to show progress.
//! Requests sent through [`StepCx::send`] pass the run's [`Hook`]s (a token refresh on `401`),
//! so a kind never calls them itself.

use super::error::StepError;
use super::exchange::Exchange;
use super::extensions::Extensions;
use super::http::{Prepared, Session};
use super::result::StepResult;
use crate::compiled::{Text, ValueTree};
use crate::secret::{Redactor, is_secret_name};
use crate::template::{Context, value_to_text};
use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Where a variable's current value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The flow's `vars:` default.
    Default,
    /// The token store of the run's profile.
    Store,
    /// `--env-file`.
    EnvFile,
    /// The process environment.
    Environment,
    /// Set by the environment of the run (the emulator's demo app under `--mock`).
    Override,
    /// `--var`.
    CommandLine,
    /// A step of this run.
    Step,
}

/// Progress shown while a step runs (the sign-in URL, a spinner while waiting for the user).
pub trait Notes: Sync {
    fn note(&self, text: &str);
    fn wait_started(&self, message: &str);
    fn wait_finished(&self);
    /// Bytes moved so far by a large transfer.
    fn progress(&self, label: &str, done: u64, total: Option<u64>);
    fn progress_finished(&self);
}

/// The run-time context of one step.
pub struct StepCx<'a> {
    /// The variables templates see.
    pub vars: &'a mut Context,
    /// Where each variable's value came from.
    pub origins: &'a mut HashMap<String, Origin>,
    pub session: &'a Session,
    pub redactor: &'a Redactor,
    /// Names the flow lists under `secrets:`.
    pub secrets: &'a [String],
    /// State kept by step kinds and hooks for the rest of the run.
    pub state: &'a mut Extensions,
    /// The flow's compiled sections (`oauth:` settings...).
    pub sections: &'a Extensions,
    /// Options of the whole run, by type (how to reach the browser...).
    pub options: &'a Extensions,
    /// What the run leaves in the flow's result for whoever handles it.
    pub artifacts: &'a mut Extensions,
    pub hooks: &'a [Arc<dyn Hook>],
    pub live: &'a dyn Notes,
    pub flow_name: &'a str,
    /// The flow file, as given.
    pub flow_file: &'a str,
    /// The flow file's directory (paths in the flow are relative to it).
    pub flow_dir: &'a std::path::Path,
    /// Variables set by hooks during this step (a refreshed token), shown as saved.
    pub produced: IndexMap<String, Value>,
    /// Notes for the step's report.
    pub notes: Vec<String>,
}

impl StepCx<'_> {
    /// Sets a variable, registering its value as secret when its name, the flow or the caller
    /// says so.
    pub fn set(&mut self, name: &str, value: Value, secret: bool) {
        if secret || is_secret_name(name) || self.secrets.iter().any(|s| s == name) {
            self.redactor.add_json(name, &value);
        }
        self.origins.insert(name.to_string(), Origin::Step);
        self.vars.vars_mut().insert(name, value);
    }

    /// Sets a variable that comes from elsewhere than a step (a stored token's companions).
    pub fn adopt(&mut self, name: &str, value: Value, origin: Origin) {
        if is_secret_name(name) || self.secrets.iter().any(|s| s == name) {
            self.redactor.add_json(name, &value);
        }
        self.origins.insert(name.to_string(), origin);
        self.vars.vars_mut().insert(name, value);
    }

    /// Sets a variable on behalf of a hook: it also shows among the step's saved values.
    pub fn produce(&mut self, name: &str, value: Value) {
        self.set(name, value.clone(), false);
        self.produced.insert(name.to_string(), value);
    }

    /// A variable's value as text.
    pub fn var_text(&self, name: &str) -> Option<String> {
        self.vars.vars.get(name).map(value_to_text)
    }

    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.origins.get(name).copied()
    }

    pub fn render(&self, text: &Text) -> Result<String, StepError> {
        text.render(self.vars).map_err(StepError::from)
    }

    pub fn render_opt(&self, text: Option<&Text>) -> Result<Option<String>, StepError> {
        text.map(|t| self.render(t)).transpose()
    }

    pub fn render_tree(&self, tree: &ValueTree) -> Result<Value, StepError> {
        tree.render(self.vars).map_err(StepError::from)
    }

    /// A note shown now (the sign-in URL).
    pub fn announce(&self, text: &str) {
        self.live.note(&self.redactor.mask(text));
    }

    /// A note for the step's report.
    pub fn note(&mut self, text: impl Into<String>) {
        self.notes.push(text.into());
    }

    /// Sends a request through the engine's hooks (which may refresh a token and retry).
    pub async fn send(&mut self, prepared: &Prepared) -> Result<Arc<Exchange>, StepError> {
        let mut exchange = self
            .session
            .send(prepared)
            .await
            .map_err(|e| StepError::Network(e.0))?;
        let hooks = self.hooks;
        for hook in hooks {
            exchange = hook.after_response(self, prepared, exchange).await?;
        }
        Ok(exchange)
    }
}

/// Hooks: what the engine calls around steps and requests, so that concerns such as tokens
/// (refresh before use, refresh and retry on `401`) stay outside the engine and outside the
/// step kinds. Called by the engine; every method has a default that does nothing.
pub trait Hook: Send + Sync {
    /// Before the first step; a returned step (an automatic refresh) is shown and counts.
    fn before_flow<'a, 'b: 'a>(
        &'a self,
        _cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Option<StepResult>> {
        Box::pin(async { None })
    }

    /// After each response to a request sent through [`StepCx::send`]; may return another
    /// round trip in its place (the retry after a refresh).
    fn after_response<'a, 'b: 'a>(
        &'a self,
        _cx: &'a mut StepCx<'b>,
        _sent: &'a Prepared,
        exchange: Arc<Exchange>,
    ) -> BoxFuture<'a, Result<Arc<Exchange>, StepError>> {
        Box::pin(async move { Ok(exchange) })
    }
}
