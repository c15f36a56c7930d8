//! Calls with a bearer token, as the official SDKs make them: on `401` with
//! `WWW-Authenticate: ... error="invalid_token"`, refresh once and retry once, when the flow
//! has a refresh token and a token endpoint. A `403` for a missing scope gets a note that
//! names the scope (or the route) to ask for.

use super::token::{client, refresh_with};
use crate::run::exchange::Exchange;
use crate::run::http::Prepared;
use crate::run::{ActionOutput, StepContext, StepError, StepResult};
use crate::template::value_to_text;
use regex::Regex;
use std::sync::LazyLock;

static AUTH_PARAM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"(\w+)="([^"]*)""#).expect("valid regex"));

/// A `WWW-Authenticate` parameter (`error`, `error_description`, `scope`).
pub fn challenge_param(header: &str, name: &str) -> Option<String> {
    AUTH_PARAM
        .captures_iter(header)
        .find(|c| c[1].eq_ignore_ascii_case(name))
        .map(|c| c[2].to_string())
}

/// The bearer token a prepared request carries, if any.
fn bearer_of(prepared: &Prepared) -> Option<String> {
    prepared.headers.iter().find_map(|(k, v)| {
        if k.eq_ignore_ascii_case("authorization") {
            v.strip_prefix("Bearer ").map(str::to_string)
        } else {
            None
        }
    })
}

/// Sends, and on an expired token refreshes once and retries once. Returns the last round
/// trip and what the refresh produced (new tokens, a note).
pub async fn send_with_refresh(
    prepared: Prepared,
    cx: &mut StepContext<'_>,
) -> Result<(Exchange, ActionOutput), StepError> {
    let first = cx
        .http
        .send(prepared.clone())
        .await
        .map_err(|e| StepError::Network(e.0))?;
    let mut output = ActionOutput::default();
    let status = first.response.status;
    let challenge = first
        .response
        .header("www-authenticate")
        .map(str::to_string);
    if status == 403 {
        if let Some(note) = scope_note(&first, challenge.as_deref()) {
            output.notes.push(note);
        }
        return Ok((first, output));
    }
    let expired = status == 401
        && challenge
            .as_deref()
            .and_then(|c| challenge_param(c, "error"))
            .is_some_and(|e| e == "invalid_token");
    let (Some(sent_token), true) = (bearer_of(&prepared), expired) else {
        return Ok((first, output));
    };
    let current = cx.vars.get("ACCESS_TOKEN").map(value_to_text);
    let Some(refresh_token) = cx.vars.get("REFRESH_TOKEN").map(value_to_text) else {
        return Ok((first, output));
    };
    if current.as_deref() != Some(sent_token.as_str()) {
        return Ok((first, output));
    }
    let Ok(client) = client(&None, &None, &None, &None, cx, "automatic refresh") else {
        return Ok((first, output));
    };
    let (note, tokens) = refresh_with(&client, &refresh_token, None, cx).await?;
    output.notes.extend(note);
    let Some(new_token) = tokens.get("ACCESS_TOKEN").map(value_to_text) else {
        return Ok((first, output));
    };
    for (name, value) in &tokens {
        cx.oauth.stored_names.remove(name);
        crate::run::scope::assign(cx.vars, cx.redactor, cx.flow, name, value.clone(), false);
    }
    output
        .notes
        .push("the access token had expired: refreshed it and retried once".into());
    let mut retry = prepared;
    for (name, value) in retry.headers.iter_mut() {
        if name.eq_ignore_ascii_case("authorization") {
            *value = format!("Bearer {new_token}");
        }
    }
    let second = cx
        .http
        .send(retry)
        .await
        .map_err(|e| StepError::Network(e.0))?;
    output.outputs.extend(tokens);
    Ok((second, output))
}

/// Before the first step: a stored access token that expires within the skew is refreshed
/// (when the flow can reach a token endpoint), and the refresh shows as a step of its own.
pub async fn refresh_if_expiring(cx: &mut StepContext<'_>) -> Option<StepResult> {
    if !cx.oauth.stored_names.contains("ACCESS_TOKEN")
        || !cx.oauth.stored_names.contains("REFRESH_TOKEN")
    {
        return None;
    }
    let store = cx.store?;
    let data = store.read().ok()?;
    if !data.needs_refresh(jiff::Timestamp::now().as_second()) {
        return None;
    }
    let started = std::time::Instant::now();
    let mut result = StepResult::new("refresh (automatic)", "refresh");
    let client = client(&None, &None, &None, &None, cx, "automatic refresh").ok()?;
    let refresh_token = cx.vars.get("REFRESH_TOKEN").map(value_to_text)?;
    match refresh_with(&client, &refresh_token, None, cx).await {
        Ok((note, tokens)) => {
            result
                .notes
                .push("the stored access token was about to expire: refreshed it first".into());
            result.notes.extend(note);
            for (name, value) in tokens {
                cx.oauth.stored_names.remove(&name);
                crate::run::scope::assign(
                    cx.vars,
                    cx.redactor,
                    cx.flow,
                    &name,
                    value.clone(),
                    false,
                );
                result.saved.insert(name, value);
            }
        }
        Err(error) => result.error = Some(error),
    }
    result.exchanges = cx.http.take_journal();
    result.duration = started.elapsed();
    Some(result)
}

/// What to tell the user about a 403 that looks like a missing scope.
fn scope_note(exchange: &Exchange, challenge: Option<&str>) -> Option<String> {
    if let Some(scope) = challenge.and_then(|c| challenge_param(c, "scope")) {
        return Some(format!(
            "the token lacks the scope `{scope}`: add it to the flow's scope and sign in again (a session's scope cannot grow)"
        ));
    }
    let message = exchange
        .response
        .json
        .as_ref()?
        .pointer("/error/message")?
        .as_str()?;
    let lower = message.to_ascii_lowercase();
    if lower.contains("insufficient") || lower.contains("unsufficient") || lower.contains("scope") {
        return Some(format!(
            "{message}: the token lacks a scope for this route; add it to the flow's scope and sign in again"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenge_params() {
        let h = r#"Bearer realm="api.dailymotion.com", error="invalid_token", error_description="The access token has expired.""#;
        assert_eq!(
            challenge_param(h, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(
            challenge_param(h, "error_description").as_deref(),
            Some("The access token has expired.")
        );
        assert_eq!(challenge_param(h, "scope"), None);
    }
}
