//! The engine's token hook, as the official SDKs behave: a stored access token about to expire
//! is refreshed before the first step; a request whose bearer token gets `401` with
//! `WWW-Authenticate: ... error="invalid_token"` is refreshed once and retried once; a `403`
//! that looks like a missing scope gets a note naming the scope.

use super::client::{Fields, resolve};
use super::merge::TokensSeen;
use super::names::{ACCESS_TOKEN, COMPANIONS, REFRESH_TOKEN};
use super::refresh::for_step;
use super::support::TokenSupport;
use crate::oauth::challenge;
use crate::run::context::Hook;
use crate::run::context::{Origin, StepCx};
use crate::run::error::StepError;
use crate::run::exchange::Exchange;
use crate::run::http::Prepared;
use crate::run::result::StepResult;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Instant;

/// The token hook; add it to a run's hooks.
#[derive(Debug, Default)]
pub struct TokenHook;

impl Hook for TokenHook {
    fn before_flow<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Option<StepResult>> {
        Box::pin(refresh_if_expiring(cx))
    }

    fn after_response<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
        sent: &'a Prepared,
        exchange: Arc<Exchange>,
    ) -> BoxFuture<'a, Result<Arc<Exchange>, StepError>> {
        Box::pin(retry_after_refresh(cx, sent, exchange))
    }
}

/// Before the first step: a stored access token that expires within the skew is refreshed
/// (when the flow can reach a token endpoint), and the refresh shows as a step of its own.
async fn refresh_if_expiring(cx: &mut StepCx<'_>) -> Option<StepResult> {
    let options = cx.options;
    let support = options.get::<TokenSupport>()?;
    TokensSeen::note(cx.artifacts, support.generation);
    if cx.origin(ACCESS_TOKEN) != Some(Origin::Store) {
        return None;
    }
    let store = support.store.as_ref()?;
    let data = store.read_async().await.ok()?;
    // A stored access token comes with what its refresh needs, even if the flow does not ask.
    for companion in COMPANIONS {
        if !cx.vars.vars.contains(companion)
            && let Some(value) = data.values.get(*companion)
        {
            cx.adopt(companion, value.clone(), Origin::Store);
        }
    }
    if cx.origin(REFRESH_TOKEN) != Some(Origin::Store)
        || !data.needs_refresh(jiff::Timestamp::now().as_second())
    {
        return None;
    }
    let started = Instant::now();
    let mut result = StepResult::new("refresh (automatic)", "refresh");
    let client = resolve(Fields::default(), cx, "automatic refresh").ok()?;
    let refresh_token = cx.var_text(REFRESH_TOKEN)?;
    match for_step(cx, &client, &refresh_token, None, false).await {
        Ok(refreshed) => {
            result
                .notes
                .push("the stored access token was about to expire: refreshed it first".into());
            result.notes.extend(refreshed.notes);
            for (name, value) in refreshed.tokens {
                cx.set(&name, value.clone(), false);
                result.saved.insert(name, value);
            }
        }
        Err(error) => result.error = Some(error),
    }
    result.exchanges = cx.session.take_journal();
    result.duration = started.elapsed();
    Some(result)
}

/// After a response: the scope note on `403`, the refresh and retry on an expired token.
async fn retry_after_refresh(
    cx: &mut StepCx<'_>,
    sent: &Prepared,
    exchange: Arc<Exchange>,
) -> Result<Arc<Exchange>, StepError> {
    let status = exchange.response.status;
    let challenge = exchange.response.header("www-authenticate");
    if status == 403 {
        if let Some(note) = scope_note(&exchange, challenge) {
            cx.note(note);
        }
        return Ok(exchange);
    }
    let expired = status == 401
        && challenge
            .and_then(|c| challenge::param(c, "error"))
            .is_some_and(|e| e == "invalid_token");
    let Some(sent_token) = sent.bearer().filter(|_| expired) else {
        return Ok(exchange);
    };
    if cx.var_text(ACCESS_TOKEN).as_deref() != Some(sent_token) {
        return Ok(exchange);
    }
    let Some(refresh_token) = cx.var_text(REFRESH_TOKEN) else {
        return Ok(exchange);
    };
    let Ok(client) = resolve(Fields::default(), cx, "automatic refresh") else {
        return Ok(exchange);
    };
    // The refresh and the retry are boxed: this future is built for every response, and
    // would otherwise be as large as both requests' futures.
    let refreshed = Box::pin(for_step(cx, &client, &refresh_token, None, false)).await?;
    cx.notes.extend(refreshed.notes);
    let tokens = refreshed.tokens;
    let Some(new_token) = tokens.get(ACCESS_TOKEN).map(crate::template::value_to_text) else {
        return Ok(exchange);
    };
    for (name, value) in tokens {
        cx.produce(&name, value);
    }
    cx.note("the access token had expired: refreshed it and retried once");
    let mut retry = sent.clone();
    for (name, value) in retry.headers.iter_mut() {
        if name.eq_ignore_ascii_case("authorization") {
            *value = format!("Bearer {new_token}");
        }
    }
    Box::pin(cx.session.send(&retry))
        .await
        .map_err(|e| StepError::Network(e.0))
}

/// What to tell the user about a 403 that looks like a missing scope.
fn scope_note(exchange: &Exchange, challenge: Option<&str>) -> Option<String> {
    if let Some(scope) = challenge.and_then(|c| challenge::param(c, "scope")) {
        return Some(format!(
            "the token lacks the scope `{scope}`: add it to the flow's scope and sign in again (a session's scope cannot grow)"
        ));
    }
    let url = url::Url::parse(&exchange.request.url).ok()?;
    let provider = crate::provider::for_url(&url)?;
    let message = exchange
        .response
        .json()?
        .pointer(provider.error_message_pointer)?
        .as_str()?;
    let lower = message.to_ascii_lowercase();
    provider
        .scope_error_words
        .iter()
        .any(|w| lower.contains(w))
        .then(|| {
            format!(
                "{message}: the token lacks a scope for this route; add it to the flow's scope and sign in again"
            )
        })
}
