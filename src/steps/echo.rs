//! The `echo` step: `GET <api>/echo?message=...` with the bearer token, and a check that the
//! message comes back. The lesson's "is my token any good?" in one line.

use crate::compiled::Text;
use crate::diagnostic::Pos;
use crate::oauth::settings::flow_provider;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::http::Prepared;
use crate::run::http::parse_url;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::run::result::Failure;
use crate::tokens::names::ACCESS_TOKEN;
use crate::yaml::{Node, Spanned};
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;

pub const DEFAULT_MESSAGE: &str = "hello from dmflow";

/// The `echo` step kind.
pub struct Echo;

/// Calls `/echo` with the access token to check that it works.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Echo")]
struct EchoDoc {
    /// The API base URL (default: the provider's, `https://api.dailymotion.com`).
    api: Option<Spanned<String>>,
    message: Option<Spanned<String>>,
    /// Default `<<ACCESS_TOKEN>>`.
    token: Option<Spanned<String>>,
}

#[derive(Debug)]
struct EchoAction {
    api: Option<Text>,
    message: Option<Text>,
    token: Option<Text>,
    pos: Pos,
}

impl StepKind for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<EchoDoc>()
    }

    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: EchoDoc = cx.spec(spec)?;
        let api = doc.api.as_ref().map(|t| cx.text(t));
        if let Some(api) = &api {
            cx.check_url(api);
        }
        let message = doc.message.as_ref().map(|t| cx.text(t));
        let token = doc.token.as_ref().map(|t| cx.text(t));
        if token.is_none() {
            cx.reads(ACCESS_TOKEN, "token", step);
        }
        Some(Box::new(EchoAction {
            api,
            message,
            token,
            pos: step,
        }))
    }
}

impl Action for EchoAction {
    fn preflight(&self, cx: &StepCx<'_>) -> Result<(), StepError> {
        match &self.api {
            Some(api) => {
                crate::run::kind::preflight(cx.render(api).and_then(|url| parse_url(&url, api.pos)))
            }
            None => Ok(()),
        }
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(async move {
            let mut url = match &self.api {
                Some(t) => parse_url(&cx.render(t)?, t.pos)?,
                None => {
                    let provider = flow_provider(cx).ok_or_else(|| {
                        StepError::invalid(
                            "the echo step needs `api:` (the flow's provider has no default API)",
                            Some(self.pos),
                            Some("set `api:` to the API's base URL"),
                        )
                    })?;
                    url::Url::parse(provider.api_url)
                        .map_err(|e| StepError::runtime(e.to_string(), None))?
                }
            };
            let provider = crate::provider::for_url(&url);
            let (path, param) = provider
                .map(|p| (p.echo_path, p.echo_param))
                .unwrap_or(("/echo", "message"));
            let full = format!("{}{path}", url.path().trim_end_matches('/'));
            url.set_path(&full);
            let message = match &self.message {
                Some(t) => cx.render(t)?,
                None => DEFAULT_MESSAGE.to_string(),
            };
            url.query_pairs_mut().append_pair(param, &message);
            let token = match &self.token {
                Some(t) => cx.render(t)?,
                None => cx.var_text(ACCESS_TOKEN).ok_or_else(|| {
                    StepError::invalid(
                        "no access token: `ACCESS_TOKEN` is not set",
                        Some(self.pos),
                        Some("sign in first, pass --var ACCESS_TOKEN=..., or set `token:` on the echo step"),
                    )
                })?,
            };
            let prepared = Prepared::new(reqwest::Method::GET, url)
                .header("Authorization", format!("Bearer {token}"));
            let exchange = cx.send(&prepared).await?;
            let response = &exchange.response;
            let echoed = response
                .json()
                .and_then(|j| j.get(param))
                .and_then(Value::as_str);
            let mut output = ActionOutput::default();
            if response.status != 200 {
                output.failures.push(Failure {
                    subject: "echo".into(),
                    message: format!("expected 200 from {path}, got {}", response.status),
                    pos: Pos::UNKNOWN,
                });
            } else if echoed != Some(message.as_str()) {
                output.failures.push(Failure {
                    subject: "echo".into(),
                    message: format!(
                        "expected the message {message:?} back, got {}",
                        echoed
                            .map(|m| format!("{m:?}"))
                            .unwrap_or_else(|| "no message".into())
                    ),
                    pos: Pos::UNKNOWN,
                });
            }
            Ok(output)
        })
    }
}
