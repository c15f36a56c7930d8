//! The emulator's answers that every route shares: Dailymotion's error envelope, the token
//! endpoint's errors (JSON and `WWW-Authenticate`, which the official SDKs read), who the
//! caller is (a token in `Authorization: Bearer`/`OAuth` or `?access_token=`), scope checks,
//! and `fields` selection.
// Helpers return a finished `Response` as their error; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use super::data;
use super::scope::Scope;
use super::state::{Claims, Emulator, TokenProblem};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// `{"error": {...}}` as Dailymotion sends it; `code` mirrors the status.
pub fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {
        "more_info": "https://developer.dailymotion.com/api#error-codes",
        "code": status.as_u16(),
        "message": message,
        "type": kind,
    }});
    (status, Json(body)).into_response()
}

/// A quoted-string parameter value for `WWW-Authenticate`.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .filter(|c| !c.is_control())
        .collect()
}

fn challenge(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

/// Marks an answer as not to be cached (token responses, consent pages).
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A token endpoint error: the RFC 6749 JSON body, and the same `error` and
/// `error_description` in `WWW-Authenticate: Bearer error="…", error_description="…"`, where
/// the official SDKs look first (the Python SDK crashes on a bare JSON error).
pub fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = no_store(
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response(),
    );
    challenge(
        &mut response,
        format!(
            r#"Bearer error="{}", error_description="{}""#,
            quoted(error),
            quoted(description)
        ),
    );
    response
}

fn invalid_token(problem: TokenProblem) -> Response {
    let description = match problem {
        TokenProblem::Expired => "The access token has expired.",
        TokenProblem::Invalid => "The access token is invalid.",
    };
    let mut response = api_error(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        &format!("A valid access token should be provided: {description}"),
    );
    challenge(
        &mut response,
        format!(
            r#"Bearer realm="api.dailymotion.com", error="invalid_token", error_description="{description}""#
        ),
    );
    response
}

/// The token of a request: `Authorization: Bearer`, `Authorization: OAuth`, `?access_token=`,
/// or (for form posts) an `access_token` field.
fn token_of<'a>(headers: &'a HeaderMap, params: &'a HashMap<String, String>) -> Option<&'a str> {
    if let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = value.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth") {
            return Some(token.trim());
        }
        return None;
    }
    params.get("access_token").map(String::as_str)
}

/// The caller: `Ok(None)` without a token, `Err` (401) with a bad one.
pub fn caller(
    emu: &Emulator,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Option<Claims>, Response> {
    match token_of(headers, params) {
        None => Ok(None),
        Some(token) => emu.verify(token, "a").map(Some).map_err(invalid_token),
    }
}

pub fn auth_required() -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "access_forbidden",
        "This route requires an access token: authenticate with OAuth 2.0.",
    )
}

/// The caller's user, for routes that need one.
pub fn signed_in(
    emu: &Emulator,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<(Claims, &'static data::User), Response> {
    let claims = caller(emu, headers, params)?.ok_or_else(auth_required)?;
    let Some(user) = claims.sub.as_deref().and_then(data::user) else {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "access_forbidden",
            "This route needs a user: tokens from the client_credentials grant have none.",
        ));
    };
    Ok((claims, user))
}

/// 403 "Insufficient rights for route …" unless the token holds `scope`.
pub fn require_scope(claims: &Claims, scope: &str, route: &str) -> Result<(), Response> {
    if Scope::granted(&claims.scp, scope) {
        return Ok(());
    }
    Err(insufficient(scope, route))
}

/// The 403 of a route the token's scope does not cover.
pub fn insufficient(scope: &str, route: &str) -> Response {
    let mut response = api_error(
        StatusCode::FORBIDDEN,
        "insufficient_scope",
        &format!("Insufficient rights for route {route}"),
    );
    challenge(
        &mut response,
        format!(
            r#"Bearer realm="api.dailymotion.com", error="insufficient_scope", scope="{scope}""#
        ),
    );
    response
}

pub fn not_found(object: &str, id: &str) -> Response {
    let body = json!({"error": {
        "more_info": "https://developer.dailymotion.com/api#error-codes",
        "code": 404,
        "message": format!("Can't find object {object} for `id' parameter"),
        "type": "not_found",
        "error_data": {"reason": "object_not_found", "object_type": object, "object_id": id, "param": "id"},
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// 400 for a missing form field or query parameter.
pub fn missing(name: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "missing_required_parameter",
        &format!("Missing required `{name}' parameter."),
    )
}

/// 400 for a field or parameter with a value the route does not take.
pub fn invalid(name: &str, why: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "invalid_parameter",
        &format!("Invalid value for `{name}' parameter: {why}"),
    )
}

/// A request's query parameters, in order (names may repeat).
pub fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    let query = uri.query().unwrap_or("");
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Picks `fields` from a full object, in the order asked.
pub fn select(
    full: &Map<String, Value>,
    params: &HashMap<String, String>,
    allowed: &[&str],
    defaults: &[&str],
) -> Result<Value, Response> {
    let wanted: Vec<&str> = match params.get("fields") {
        Some(f) if !f.trim().is_empty() => f
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        _ => defaults.to_vec(),
    };
    let mut out = Map::new();
    for field in wanted {
        if !allowed.contains(&field) {
            return Err(invalid("fields", &format!("unknown field `{field}'")));
        }
        out.insert(
            field.to_string(),
            full.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    Ok(Value::Object(out))
}
