//! The `callback` step: waits for the browser to come back to the redirect URI that
//! `authorize` listens on (or, with `--no-browser` on a terminal, for the redirected URL pasted
//! by the user), up to its timeout or Ctrl-C. Requests that are not this sign-in's callback
//! (a wrong or missing state) are refused with a warning, and the wait goes on; only the first
//! few warnings are shown, the rest are counted.

use crate::compiled::Text;
use crate::diagnostic::{Diagnostic, Pos};
use crate::oauth::listener::{Event, Outcome, Refusal, parse_pasted};
use crate::oauth::session::{Authorization, PENDING_AUTHORIZATION};
use crate::oauth::settings::OAuthRuntime;
use crate::run::compile::CompileCx;
use crate::run::context::{Notes, StepCx};
use crate::run::duration::show as report_duration;
use crate::run::error::StepError;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::io::IsTerminal;
use std::time::Duration;

/// How long `callback` waits by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Refused requests shown one by one; the rest are counted.
const SHOWN_REFUSALS: u64 = 3;

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
        let terminal = std::io::stdin().is_terminal();
        let paste = runtime.paste && terminal;
        let waiting_on = pending.redirect_uri.clone();
        if runtime.paste && !terminal {
            if pending.listener.is_none() {
                return Err(StepError::invalid(
                    format!(
                        "nothing can complete this sign-in: the redirect URI {waiting_on} is not on this machine, and the redirected URL cannot be pasted because stdin is not a terminal"
                    ),
                    Some(self.pos),
                    Some(
                        "run it in a terminal with --no-browser (then paste the URL the browser was sent to), or use a loopback redirect URI such as http://127.0.0.1:8080/callback",
                    ),
                ));
            }
            live.note(&format!(
                "waiting up to {} for the browser to come back to {waiting_on}: open the sign-in URL above in a browser on this machine (over SSH, forward the port first: ssh -L {port}:127.0.0.1:{port} HOST); stdin is not a terminal, so the redirected URL cannot be pasted; `timeout:` on the callback step sets the wait",
                report_duration(timeout),
                port = pending.listener.as_ref().map(|l| l.addr.port()).unwrap_or(8080),
            ));
        }
        if paste {
            live.note("after signing in, paste the URL the browser was sent to (or just the code) and press Enter");
        }
        let mut listener = pending.listener.as_mut();
        let mut pasted = paste.then(|| {
            use tokio::io::AsyncBufReadExt;
            tokio::io::BufReader::new(tokio::io::stdin()).lines()
        });
        live.wait_started(&format!(
            "waiting for the browser to come back to {waiting_on} (Ctrl-C cancels)"
        ));
        let deadline = tokio::time::Instant::now() + timeout;
        let mut shown = Shown::default();
        let outcome = loop {
            let waited = {
                let from_server = async {
                    match listener.as_mut() {
                        Some(l) => l.next().await,
                        None => std::future::pending().await,
                    }
                };
                let from_paste = async {
                    match pasted.as_mut() {
                        Some(lines) => lines.next_line().await.ok().flatten(),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    event = from_server => Waited::Server(event),
                    line = from_paste => Waited::Pasted(line),
                    _ = tokio::time::sleep_until(deadline) => Waited::TimedOut,
                    _ = tokio::signal::ctrl_c() => Waited::Interrupted,
                }
            };
            match waited {
                Waited::Server(Some(Event::Refused { reason, count })) => {
                    shown.refused(live, reason.describe(), count)
                }
                Waited::Server(Some(Event::Callback(outcome))) => break Ok(Some(outcome)),
                Waited::Server(None) => break Ok(None),
                Waited::Pasted(Some(line)) if line.trim().is_empty() => {}
                Waited::Pasted(Some(line)) => match parse_pasted(&line, &expected_state) {
                    Outcome::StateMismatch => shown.pasted(live, Refusal::WrongState),
                    Outcome::MissingState => shown.pasted(live, Refusal::MissingState),
                    outcome => break Ok(Some(outcome)),
                },
                // stdin closed: only the browser can answer now.
                Waited::Pasted(None) => pasted = None,
                Waited::TimedOut => {
                    break Err(StepError::runtime(
                        format!(
                            "no callback within {}: the browser never came back to the redirect URI",
                            report_duration(timeout)
                        ),
                        Some(
                            "finish signing in within the time, or raise `timeout:` on the callback step (it is 10m by default)",
                        ),
                    ));
                }
                Waited::Interrupted => break Err(StepError::Interrupted),
            }
        };
        let refused = listener.as_ref().map(|l| l.refused()).unwrap_or(0);
        shown.summary(live, refused);
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
            Some(Outcome::StateMismatch | Outcome::MissingState | Outcome::Empty) | None => Err(
                StepError::refused("the callback carries neither a code nor an error", None),
            ),
        }
    }
}

/// What one turn of the wait brought.
enum Waited {
    Server(Option<Event>),
    Pasted(Option<String>),
    TimedOut,
    Interrupted,
}

/// The warnings of one wait: the first few refusals one by one, then a count.
#[derive(Default)]
struct Shown {
    lines: u64,
    counted: bool,
}

impl Shown {
    fn refused(&mut self, live: &dyn Notes, why: &str, count: u64) {
        if count <= SHOWN_REFUSALS {
            self.lines += 1;
            live.note(&format!(
                "warning: refused a request to the callback: {why}; still waiting for the sign-in"
            ));
        } else if !self.counted {
            self.counted = true;
            live.note("warning: more requests to the callback are being refused; they are counted, not shown");
        }
    }

    fn pasted(&mut self, live: &dyn Notes, why: Refusal) {
        let why = match why {
            Refusal::MissingState => "the URL carries no state",
            _ => "the URL's state is not the one dmflow sent (an older sign-in?)",
        };
        live.note(&format!(
            "warning: {why}; paste the URL of this sign-in (or just its code)"
        ));
    }

    fn summary(&self, live: &dyn Notes, refused: u64) {
        if refused > self.lines {
            live.note(&format!(
                "warning: {refused} requests to the callback were refused while waiting"
            ));
        }
    }
}
