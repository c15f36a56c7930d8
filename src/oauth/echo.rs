//! The `echo` step: `GET <api>/echo?message=...` with the bearer token, and a check that the
//! message comes back. The lesson's "is my token any good?" in one line.

use super::spec::EchoSpec;
use crate::run::expect::Failure;
use crate::run::http::Prepared;
use crate::run::http_step::{parse_url, text};
use crate::run::{ActionOutput, StepContext, StepError};
use serde_json::Value;

pub const DEFAULT_MESSAGE: &str = "hello from dmflow";

pub async fn run(spec: &EchoSpec, cx: &mut StepContext<'_>) -> Result<ActionOutput, StepError> {
    let mut url = match &spec.api {
        Some(t) => parse_url(&text(cx.templates, cx.vars, t)?, t)?,
        None => url::Url::parse(super::DEFAULT_API).expect("default API URL parses"),
    };
    let path = format!("{}/echo", url.path().trim_end_matches('/'));
    url.set_path(&path);
    let message = match &spec.message {
        Some(t) => text(cx.templates, cx.vars, t)?,
        None => DEFAULT_MESSAGE.to_string(),
    };
    url.query_pairs_mut().append_pair("message", &message);
    let token = match &spec.token {
        Some(t) => text(cx.templates, cx.vars, t)?,
        None => cx
            .vars
            .get("ACCESS_TOKEN")
            .map(crate::template::value_to_text)
            .ok_or_else(|| StepError::Invalid {
                message: "no access token: `ACCESS_TOKEN` is not set".into(),
                pos: None,
                help: Some("sign in first (dmflow run flows/login.yaml), pass --var ACCESS_TOKEN=..., or set `token:` on the echo step".into()),
            })?,
    };
    let prepared =
        Prepared::new(reqwest::Method::GET, url).header("Authorization", format!("Bearer {token}"));
    let (exchange, mut output) = super::bearer::send_with_refresh(prepared, cx).await?;
    {
        let response = &exchange.response;
        let echoed = response
            .json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(Value::as_str);
        if response.status != 200 {
            output.failures.push(Failure {
                subject: "echo".into(),
                message: format!("expected 200 from /echo, got {}", response.status),
                pos: crate::diagnostic::Pos::new(0, 0, 0),
            });
        } else if echoed != Some(message.as_str()) {
            output.failures.push(Failure {
                subject: "echo".into(),
                message: format!(
                    "expected the message {:?} back, got {}",
                    message,
                    echoed
                        .map(|m| format!("{m:?}"))
                        .unwrap_or_else(|| "no message".into())
                ),
                pos: crate::diagnostic::Pos::new(0, 0, 0),
            });
        }
    }
    Ok(output)
}
