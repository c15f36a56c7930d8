//! The `authorize` step: build the authorization URL (state, PKCE S256 by default, scopes,
//! extra parameters), start the callback listener, then send the user's browser there.

use super::browser::{self, Opened};
use super::callback::Listener;
use super::pkce;
use super::spec::AuthorizeSpec;
use crate::flow::node::{Node, Text, pos_of};
use crate::run::http_step::{parse_url, text};
use crate::run::{ActionOutput, StepContext, StepError};
use crate::template::{Templates, Vars, value_to_text};
use serde_json::Value;

/// Picks the step's setting, else the flow's `oauth:` one.
pub fn pick<'a>(step: &'a Option<Text>, flow: &'a Option<Text>) -> Option<&'a Text> {
    step.as_ref().or(flow.as_ref())
}

/// A scope written as a string or a list, as one space-separated string.
pub fn scope_text(node: &Node, templates: &Templates, vars: &Vars) -> Result<String, StepError> {
    let value = node
        .render(templates, vars)
        .map_err(|(error, pos)| StepError::Template { error, pos })?;
    Ok(match value {
        Value::Array(items) => items
            .iter()
            .map(value_to_text)
            .collect::<Vec<_>>()
            .join(" "),
        other => value_to_text(&other),
    })
}

fn required<'a>(value: Option<&'a Text>, field: &str, step: &str) -> Result<&'a Text, StepError> {
    value.ok_or_else(|| StepError::Invalid {
        message: format!("the {step} step needs `{field}`"),
        pos: None,
        help: Some(format!(
            "set `{field}:` on the step, or once for the flow under `oauth:`"
        )),
    })
}

pub async fn run(
    spec: &AuthorizeSpec,
    cx: &mut StepContext<'_>,
) -> Result<ActionOutput, StepError> {
    let flow_oauth = &cx.flow.oauth;
    let url_text = required(
        pick(&spec.url, &flow_oauth.authorize_url),
        "url (the authorization endpoint)",
        "authorize",
    )?;
    let client_id_text = required(
        pick(&spec.client_id, &flow_oauth.client_id),
        "client_id",
        "authorize",
    )?;
    let mut url = parse_url(&text(cx.templates, cx.vars, url_text)?, url_text)?;
    let client_id = text(cx.templates, cx.vars, client_id_text)?;
    let redirect = match pick(&spec.redirect_uri, &flow_oauth.redirect_uri) {
        Some(t) => parse_url(&text(cx.templates, cx.vars, t)?, t)?,
        None => url::Url::parse(super::DEFAULT_REDIRECT_URI).expect("default redirect URI parses"),
    };
    let scope = match spec.scope.as_ref().or(flow_oauth.scope.as_ref()) {
        Some(node) => Some(scope_text(node, cx.templates, cx.vars)?),
        None => None,
    };
    let pkce_mode = match &spec.pkce {
        Some(t) => {
            let mode = text(cx.templates, cx.vars, t)?;
            match mode.to_ascii_lowercase().as_str() {
                "s256" => "S256",
                "plain" => "plain",
                "none" | "off" | "false" => "none",
                other => {
                    return Err(StepError::Invalid {
                        message: format!("`pkce: {other}` is not a PKCE method"),
                        pos: Some(pos_of(t)),
                        help: Some("use S256 (the default), plain, or none".into()),
                    });
                }
            }
        }
        None => "S256",
    };

    let state = pkce::new_state();
    cx.oauth.close();
    let (listener, redirect_uri) =
        match Listener::bind(&redirect, &state, cx.runtime.callback_any_port).await {
            Ok(listener) => {
                let uri = if cx.runtime.callback_any_port {
                    listener.redirect_uri.clone()
                } else {
                    redirect_text(&spec.redirect_uri, &flow_oauth.redirect_uri, cx, &redirect)?
                };
                (Some(listener), uri)
            }
            Err(StepError::Invalid { .. }) if cx.runtime.paste => (None, redirect.to_string()),
            Err(err) => return Err(err),
        };

    let verifier = (pkce_mode != "none").then(pkce::new_verifier);
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("response_type", "code");
        query.append_pair("client_id", &client_id);
        query.append_pair("redirect_uri", &redirect_uri);
        if let Some(scope) = &scope {
            query.append_pair("scope", scope);
        }
        query.append_pair("state", &state);
        if let Some(verifier) = &verifier {
            let challenge = if pkce_mode == "S256" {
                pkce::s256(verifier)
            } else {
                verifier.clone()
            };
            query.append_pair("code_challenge", &challenge);
            query.append_pair("code_challenge_method", pkce_mode);
        }
        for (name, value) in &spec.params {
            query.append_pair(name, &text(cx.templates, cx.vars, value)?);
        }
    }
    if let Some(verifier) = &verifier {
        cx.redactor.add("CODE_VERIFIER", verifier);
    }
    let authorize_url = url.to_string();
    cx.observer.step_note(
        cx.flow,
        &format!("sign in at: {}", cx.redactor.mask(&authorize_url)),
    );
    let internal_target = cx.http.target(&url);
    let mut notes = Vec::new();
    match browser::open(&cx.runtime.browser, &authorize_url, Some(internal_target)) {
        Opened::Yes(note) => notes.push(note),
        Opened::No(note) => cx.observer.step_note(cx.flow, &note),
        Opened::Task(task) => cx.oauth.browser_task = Some(task),
    }

    cx.oauth.listener = listener;
    cx.oauth.state = Some(state);
    cx.oauth.verifier = verifier.clone();
    cx.oauth.redirect_uri = Some(redirect_uri.clone());
    let mut output = ActionOutput {
        notes,
        ..ActionOutput::default()
    };
    output
        .outputs
        .insert("AUTHORIZE_URL".into(), Value::String(authorize_url));
    output
        .outputs
        .insert("REDIRECT_URI".into(), Value::String(redirect_uri));
    if let Some(verifier) = verifier {
        output
            .outputs
            .insert("CODE_VERIFIER".into(), Value::String(verifier));
    }
    Ok(output)
}

/// The redirect URI exactly as the user wrote it (rendered), never normalised: providers
/// compare it byte for byte.
fn redirect_text(
    step: &Option<Text>,
    flow: &Option<Text>,
    cx: &StepContext<'_>,
    parsed: &url::Url,
) -> Result<String, StepError> {
    match pick(step, flow) {
        Some(t) => Ok(text(cx.templates, cx.vars, t)?.trim().to_string()),
        None => Ok(parsed.as_str().to_string()),
    }
}
