//! The `callback` step: waits for the browser to come back to the redirect URI that
//! `authorize` listens on (or, with `--no-browser` on a terminal, for the redirected URL pasted
//! by the user), up to its timeout or Ctrl-C.

use crate::compiled::Text;
use crate::diagnostic::{Diagnostic, Pos};
use crate::oauth::listener::{Outcome, parse_pasted};
use crate::oauth::session::{Authorization, PENDING_AUTHORIZATION};
use crate::oauth::settings::OAuthRuntime;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::http::report_duration;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;

/// How long `callback` waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// The `callback` step kind.
pub struct Callback;

/// Waits on the loopback redirect URI for the authorization code, and checks `state`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Callback")]
struct CallbackDoc {
    /// How long to wait for the user (default `10m`).
    timeout: Option<Spanned<String>>,
}

#[derive(Debug)]
struct CallbackAction {
    timeout: Option<Text>,
    pos: Pos,
}

impl StepKind for Callback {
    fn name(&self) -> &'static str {
        "callback"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<CallbackDoc>()
    }

    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: CallbackDoc = cx.spec(spec)?;
        let timeout = doc.timeout.as_ref().map(|t| cx.text(t));
        if let Some(timeout) = &timeout {
            cx.check_duration(timeout);
        }
        if !cx.has(PENDING_AUTHORIZATION) {
            cx.problem(
                Diagnostic::new("a `callback` step needs an `authorize` step before it")
                    .label("this step")
                    .help("put `- authorize: {}` before the callback step"),
                step,
            );
        }
        cx.define("CODE");
        Some(Box::new(CallbackAction { timeout, pos: step }))
    }
}

impl Action for CallbackAction {
    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(self.wait(cx))
    }
}

impl CallbackAction {
    async fn wait(&self, cx: &mut StepCx<'_>) -> Result<ActionOutput, StepError> {
        let timeout = match &self.timeout {
            Some(t) => crate::run::duration::parse_at(&cx.render(t)?, t.pos)?,
            None => DEFAULT_TIMEOUT,
        };
        let options = cx.options;
        let runtime = options.get::<OAuthRuntime>().cloned().unwrap_or_default();
        let live = cx.live;
        let Some(pending) = cx.state.get_mut::<Authorization>() else {
            return Err(StepError::invalid(
                "a `callback` step needs an `authorize` step before it",
                Some(self.pos),
                Some("put `- authorize: {}` before the callback step"),
            ));
        };
        let expected_state = pending.state.clone();
        let paste = runtime.paste && std::io::stdin().is_terminal();
        if paste {
            live.note("after signing in, paste the URL the browser was sent to (or just the code) and press Enter");
        }
        let waiting_on = pending.redirect_uri.clone();
        let listener = pending.listener.as_mut();
        let from_server = async {
            match listener {
                Some(l) => l.wait().await,
                None => std::future::pending().await,
            }
        };
        let from_paste = async {
            if !paste {
                return std::future::pending().await;
            }
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(line)) if line.trim().is_empty() => continue,
                    Ok(Some(line)) => return Some(parse_pasted(&line, &expected_state)),
                    _ => return std::future::pending().await,
                }
            }
        };
        live.wait_started(&format!(
            "waiting for the browser to come back to {waiting_on} (Ctrl-C cancels)"
        ));
        let outcome = tokio::select! {
            outcome = from_server => Ok(outcome),
            outcome = from_paste => Ok(outcome),
            _ = tokio::time::sleep(timeout) => Err(StepError::runtime(
                format!("no callback within {}: the browser never came back to the redirect URI", report_duration(timeout)),
                Some("finish signing in within the time, or raise `timeout:` on the callback step (it is 10m by default)"),
            )),
            _ = tokio::signal::ctrl_c() => Err(StepError::Interrupted),
        };
        live.wait_finished();
        if let Some(pending) = cx.state.get_mut::<Authorization>() {
            pending.close();
        }
        match outcome? {
            Some(Outcome::Code(code)) => {
                let mut output = ActionOutput::default();
                output.outputs.insert("CODE".into(), Value::String(code));
                Ok(output)
            }
            Some(Outcome::ProviderError { error, description }) => Err(
                crate::oauth::errors::authorization_refused(&error, description.as_deref()),
            ),
            Some(Outcome::StateMismatch) => Err(StepError::refused(
                "the callback's state does not match the one dmflow sent: refused before any token request",
                Some("this can be a forged callback (CSRF) or a stale browser tab; sign in again"),
            )),
            Some(Outcome::MissingState) => Err(StepError::refused(
                "the callback carries no state: refused before any token request",
                Some(
                    "the provider must echo the `state` parameter; sign in again from the URL dmflow printed",
                ),
            )),
            Some(Outcome::Empty) | None => Err(StepError::refused(
                "the callback carries neither a code nor an error",
                None,
            )),
        }
    }
}
