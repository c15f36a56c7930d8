//! Fault injection, for tests of what clients do when things go wrong, and the `/_mock/`
//! control routes: `expire-tokens` (`kind=access|refresh|all`, access by default so that the
//! refresh path can be exercised), `revoke` (`token=`), `fail-next` (a canned answer, any
//! status, body and `Retry-After`, for the next `count` requests of chosen routes),
//! `fail-next-token` (its alias for the token endpoint's HTML 500), `latency` (`ms=`),
//! `reset`, and `app` (the demo app and user).

use super::ledger::Event;
use super::state::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI, Emulator, FailRule};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The page Dailymotion's token endpoint sometimes answers instead of JSON.
const HTML_500: &str = "<!doctype html><html><head><title>Erreur</title></head><body><h1>Quelque chose s'est mal passé…</h1></body></html>";

/// Control routes live here; faults and latency never apply to them.
const CONTROL: &str = "/_mock/";

/// Delays (`latency`) and canned failures (`fail-next`) on every route but the control ones.
pub async fn inject(State(emu): State<Arc<Emulator>>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.starts_with(CONTROL) {
        return next.run(request).await;
    }
    let (delay, rule) = {
        let mut faults = emu.faults();
        let rule = take(&mut faults.fail_next, request.method(), path);
        (faults.latency, rule)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match rule {
        Some(rule) => canned(&rule),
        None => next.run(request).await,
    }
}

fn matches(rule: &FailRule, method: &Method, path: &str) -> bool {
    let path_matches = rule.paths.is_empty()
        || rule.paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == p,
        });
    let method_matches = rule
        .method
        .as_ref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()));
    path_matches && method_matches
}

/// The first rule for this request, one answer of it used up.
fn take(rules: &mut Vec<FailRule>, method: &Method, path: &str) -> Option<FailRule> {
    let at = rules.iter().position(|r| matches(r, method, path))?;
    rules[at].count -= 1;
    let rule = rules[at].clone();
    if rules[at].count == 0 {
        rules.remove(at);
    }
    Some(rule)
}

fn canned(rule: &FailRule) -> Response {
    let status = StatusCode::from_u16(rule.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, rule.body.clone()).into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&rule.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = rule
        .retry_after
        .as_deref()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

/// A control route's parameters: the query, then the urlencoded body (names may repeat).
fn params(uri: &Uri, body: &Bytes) -> Vec<(String, String)> {
    let mut pairs = super::reply::query_pairs(uri);
    pairs.extend(url::form_urlencoded::parse(body).into_owned());
    pairs
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn bad(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

/// The body and content type of a rule: the given body (its type guessed unless said), an
/// HTML error page (`format=html`), or Dailymotion's JSON error envelope.
fn body_of(pairs: &[(String, String)], status: StatusCode) -> (String, String) {
    let given_type = first(pairs, "content_type").map(str::to_string);
    if let Some(body) = first(pairs, "body") {
        let guessed = match body.trim_start().chars().next() {
            Some('{' | '[') => "application/json",
            Some('<') => "text/html; charset=utf-8",
            _ => "text/plain; charset=utf-8",
        };
        return (body.to_string(), given_type.unwrap_or(guessed.into()));
    }
    if first(pairs, "format") == Some("html") {
        return (HTML_500.to_string(), "text/html; charset=utf-8".into());
    }
    let kind = match status.as_u16() {
        429 => "rate_limit_exceeded",
        503 => "service_unavailable",
        500..=599 => "server_error",
        _ => "injected_fault",
    };
    let reason = status.canonical_reason().unwrap_or("error");
    let body = json!({"error": {
        "more_info": "https://developer.dailymotion.com/api#error-codes",
        "code": status.as_u16(),
        "message": format!("{reason} (injected by the emulator)."),
        "type": kind,
    }});
    (body.to_string(), "application/json".into())
}

/// `POST /_mock/fail-next`: `path` (repeatable; exact, or a prefix ending in `*`; none: every
/// route), `method`, `status` (default 500), `body` + `content_type` or `format=html`,
/// `retry_after`, `count` (default 1).
pub async fn fail_next(State(emu): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let pairs = params(&uri, &body);
    let status = match first(&pairs, "status").map(str::parse::<u16>) {
        None => StatusCode::INTERNAL_SERVER_ERROR,
        Some(Ok(code)) if (100..=599).contains(&code) => {
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Some(_) => return bad("status must be an HTTP status code (100-599)"),
    };
    let count = match first(&pairs, "count").map(str::parse::<u32>) {
        None => 1,
        Some(Ok(n)) if (1..=100_000).contains(&n) => n,
        Some(_) => return bad("count must be a number from 1 to 100000"),
    };
    let (body, content_type) = body_of(&pairs, status);
    let rule = FailRule {
        paths: pairs
            .iter()
            .filter(|(k, _)| k == "path")
            .map(|(_, v)| v.clone())
            .collect(),
        method: first(&pairs, "method").map(str::to_ascii_uppercase),
        status: status.as_u16(),
        content_type,
        body,
        retry_after: first(&pairs, "retry_after").map(str::to_string),
        count,
    };
    let described = json!({
        "paths": rule.paths, "method": rule.method, "status": rule.status,
        "count": rule.count, "retry_after": rule.retry_after,
    });
    emu.faults().fail_next.push(rule);
    Json(json!({ "fail_next": described })).into_response()
}

/// `POST /_mock/fail-next-token` (`count`): the token endpoint answers an HTML 500.
pub async fn fail_next_token(State(emu): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let pairs = params(&uri, &body);
    let count = first(&pairs, "count")
        .and_then(|c| c.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    emu.faults().fail_next.push(FailRule {
        paths: vec!["/oauth/token".into(), "/oauth/v1/token".into()],
        method: Some("POST".into()),
        status: 500,
        content_type: "text/html; charset=utf-8".into(),
        body: HTML_500.into(),
        retry_after: None,
        count,
    });
    Json(json!({"fail_next_token": count})).into_response()
}

/// `POST /_mock/expire-tokens` (`kind=access|refresh|all`, default `access`): tokens of that
/// kind issued so far are expired from now on.
pub async fn expire_tokens(State(emu): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let pairs = params(&uri, &body);
    let kind = first(&pairs, "kind").unwrap_or("access");
    let before_us = super::ids::now_us();
    let events = match kind {
        "access" => vec![Event::ExpireAccess { before_us }],
        "refresh" => vec![Event::ExpireRefresh { before_us }],
        "all" => vec![
            Event::ExpireAccess { before_us },
            Event::ExpireRefresh { before_us },
        ],
        _ => return bad("kind must be access, refresh or all"),
    };
    for event in events {
        emu.remember_async(event).await;
    }
    let expired_before = before_us.div_euclid(1_000_000);
    Json(json!({"kind": kind, "expired_before": expired_before})).into_response()
}

/// `POST /_mock/revoke` (`token=`, access or refresh): revokes the token's whole grant.
pub async fn revoke(State(emu): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let pairs = params(&uri, &body);
    let token = first(&pairs, "token").unwrap_or("");
    let claims = emu.verify(token, "r").or_else(|_| emu.verify(token, "a"));
    match claims {
        Ok(claims) => {
            emu.revoke_async(claims.gid).await;
            Json(json!({"revoked": true})).into_response()
        }
        Err(_) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"revoked": false, "error": "unknown or invalid token"})),
        )
            .into_response(),
    }
}

/// `POST /_mock/latency` (`ms=`): every answer is delayed this much.
pub async fn set_latency(State(emu): State<Arc<Emulator>>, uri: Uri, body: Bytes) -> Response {
    let pairs = params(&uri, &body);
    let ms: u64 = first(&pairs, "ms")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    emu.faults().latency = Duration::from_millis(ms);
    Json(json!({"latency_ms": ms})).into_response()
}

/// `POST /_mock/reset`: no pending failures, no latency.
pub async fn reset(State(emu): State<Arc<Emulator>>) -> Response {
    let mut faults = emu.faults();
    faults.fail_next.clear();
    faults.latency = Duration::ZERO;
    Json(json!({"reset": true})).into_response()
}

/// `GET /_mock/app`: the demo app and user.
pub async fn app_info() -> Response {
    Json(json!({
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "redirect_uri": DEMO_REDIRECT_URI,
        "user": {
            "email": super::data::DEMO_EMAIL,
            "password": super::data::DEMO_PASSWORD,
            "id": super::data::DEMO_USER_ID,
        },
    }))
    .into_response()
}
