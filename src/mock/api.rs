//! The Data API routes of the emulator: `/echo`, `/auth`, `/me`, `/user/<id>`, `/video/<id>`,
//! the video lists, `/user/<id>/players` (a scope-protected route) and `/logout`, with
//! `fields`, the list envelope, and Dailymotion's error shapes.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::data::{self, USER_DEFAULT_FIELDS, USER_FIELDS, VIDEO_DEFAULT_FIELDS, VIDEO_FIELDS};
use super::state::{Claims, Emulator, TokenProblem};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Params = Query<HashMap<String, String>>;
type Emu = State<Arc<Emulator>>;

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
    let challenge = format!(
        r#"Bearer realm="api.dailymotion.com", error="invalid_token", error_description="{description}""#
    );
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// The token of a request: `Authorization: Bearer`, `Authorization: OAuth`, or `?access_token=`.
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
fn caller(
    emu: &Emulator,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Option<Claims>, Response> {
    match token_of(headers, params) {
        None => Ok(None),
        Some(token) => emu.verify(token, "a").map(Some).map_err(invalid_token),
    }
}

fn auth_required() -> Response {
    api_error(
        StatusCode::FORBIDDEN,
        "access_forbidden",
        "This route requires an access token: authenticate with OAuth 2.0.",
    )
}

/// The caller's user, for routes that need one.
fn signed_in(
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

/// Picks `fields` from a full object, in the order asked.
fn select(
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
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                &format!("Invalid value for `fields' parameter: unknown field `{field}'"),
            ));
        }
        out.insert(
            field.to_string(),
            full.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    Ok(Value::Object(out))
}

fn user_object(
    user: &data::User,
    params: &HashMap<String, String>,
    claims: Option<&Claims>,
    route: &str,
) -> Result<Value, Response> {
    let asks_email = params
        .get("fields")
        .is_some_and(|f| f.split(',').any(|x| x.trim() == "email"));
    if asks_email {
        let own = claims.is_some_and(|c| c.sub.as_deref() == Some(user.id));
        let scoped = claims.is_some_and(|c| c.scp.split(' ').any(|s| s == "email"));
        if !(own && scoped) {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                &format!(
                    "Insufficient rights for route {route}: the `email` field needs the `email` scope."
                ),
            ));
        }
    }
    select(
        &data::full_user(user),
        params,
        USER_FIELDS,
        USER_DEFAULT_FIELDS,
    )
}

pub async fn echo(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    if let Err(response) = caller(&emu, &headers, &params) {
        return response;
    }
    match params.get("message") {
        Some(message) => Json(json!({ "message": message })).into_response(),
        None => api_error(
            StatusCode::BAD_REQUEST,
            "missing_required_parameter",
            "Missing required `message' parameter.",
        ),
    }
}

pub async fn auth(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    let claims = match caller(&emu, &headers, &params) {
        Ok(Some(claims)) => claims,
        Ok(None) => return auth_required(),
        Err(response) => return response,
    };
    let user = claims.sub.as_deref().and_then(data::user);
    let scope: Vec<&str> = claims.scp.split(' ').filter(|s| !s.is_empty()).collect();
    Json(json!({
        "id": user.map(|u| u.id),
        "scope": scope,
        "roles": [],
        "username": user.map(|u| u.username),
        "screenname": user.map(|u| u.screenname),
    }))
    .into_response()
}

pub async fn me(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    match signed_in(&emu, &headers, &params) {
        Ok((claims, user)) => user_object(user, &params, Some(&claims), "GET /me")
            .map(Json)
            .map(IntoResponse::into_response)
            .unwrap_or_else(|r| r),
        Err(response) => response,
    }
}

pub async fn user(
    State(emu): Emu,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let claims = match caller(&emu, &headers, &params) {
        Ok(c) => c,
        Err(response) => return response,
    };
    let Some(user) = data::user(&id) else {
        return not_found("user", &id);
    };
    user_object(user, &params, claims.as_ref(), &format!("GET /user/{id}"))
        .map(Json)
        .map(IntoResponse::into_response)
        .unwrap_or_else(|r| r)
}

fn not_found(object: &str, id: &str) -> Response {
    let body = json!({"error": {
        "more_info": "https://developer.dailymotion.com/api#error-codes",
        "code": 404,
        "message": format!("Can't find object {object} for `id' parameter"),
        "type": "not_found",
        "error_data": {"reason": "object_not_found", "object_type": object, "object_id": id, "param": "id"},
    }});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

pub async fn video(
    State(emu): Emu,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if let Err(response) = caller(&emu, &headers, &params) {
        return response;
    }
    match data::video(&id) {
        Some(full) => select(&full, &params, VIDEO_FIELDS, VIDEO_DEFAULT_FIELDS)
            .map(Json)
            .map(IntoResponse::into_response)
            .unwrap_or_else(|r| r),
        None => not_found("video", &id),
    }
}

/// The list envelope over a user's videos: `page` (1..=100), `limit` (1..=100, default 10).
fn video_list(owner: &data::User, params: &HashMap<String, String>) -> Response {
    let number = |name: &str, default: usize| -> Result<usize, Response> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text.parse::<usize>().ok().filter(|n| (1..=100).contains(n)).ok_or_else(|| {
                api_error(StatusCode::BAD_REQUEST, "invalid_parameter", &format!("Invalid value for `{name}' parameter: expected an integer from 1 to 100."))
            }),
        }
    };
    let (page, limit) = match (number("page", 1), number("limit", 10)) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let start = (page - 1) * limit;
    let mut list = Vec::new();
    for index in start..(start + limit).min(owner.videos) {
        match select(
            &data::full_video(owner, index),
            params,
            VIDEO_FIELDS,
            VIDEO_DEFAULT_FIELDS,
        ) {
            Ok(v) => list.push(v),
            Err(r) => return r,
        }
    }
    Json(json!({
        "page": page,
        "limit": limit,
        "explicit": false,
        "total": owner.videos,
        "has_more": start + limit < owner.videos,
        "list": list,
    }))
    .into_response()
}

pub async fn user_videos(
    State(emu): Emu,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if let Err(response) = caller(&emu, &headers, &params) {
        return response;
    }
    match data::user(&id) {
        Some(owner) => video_list(owner, &params),
        None => not_found("user", &id),
    }
}

pub async fn me_videos(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    match signed_in(&emu, &headers, &params) {
        Ok((_, owner)) => video_list(owner, &params),
        Err(response) => response,
    }
}

/// A route that needs the `manage_players` scope (Dailymotion's own example of a 403).
pub async fn user_players(
    State(emu): Emu,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let (claims, user) = match signed_in(&emu, &headers, &params) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if user.id != id || !claims.scp.split(' ').any(|s| s == "manage_players") {
        let mut response = api_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            &format!("Insufficient rights for route GET /user/{id}/players"),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="api.dailymotion.com", error="insufficient_scope", scope="manage_players""#),
        );
        return response;
    }
    Json(json!({"page": 1, "limit": 10, "explicit": false, "total": 0, "has_more": false, "list": []})).into_response()
}

/// Revokes the token's whole grant (its access and refresh tokens).
pub async fn logout(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    let claims = match caller(&emu, &headers, &params) {
        Ok(Some(claims)) => claims,
        Ok(None) => return auth_required(),
        Err(response) => return response,
    };
    emu.remember_async(move |p| {
        p.revoked_grants.insert(claims.gid);
    })
    .await;
    Json(json!({})).into_response()
}

pub async fn unknown_route(method: Method, uri: Uri) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("Unrecognized route: {method} {}", uri.path()),
    )
}
