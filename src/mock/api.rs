//! The Data API's reading routes: `/echo`, `/auth`, `/me`, `/user/<id>`, `/video/<id>`, the
//! video lists (the fixed data set, then uploaded videos), `/user/<id>/players` (a
//! scope-protected route) and `/logout`, with `fields`, the list envelope, and Dailymotion's
//! error shapes.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::data::{self, USER_DEFAULT_FIELDS, USER_FIELDS, VIDEO_DEFAULT_FIELDS, VIDEO_FIELDS};
use super::reply::{api_error, auth_required, caller, insufficient, not_found, select, signed_in};
use super::scope::Scope;
use super::state::{Claims, Emulator};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Params = Query<HashMap<String, String>>;
type Emu = State<Arc<Emulator>>;

fn user_object(
    emu: &Emulator,
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
        let scoped = claims.is_some_and(|c| Scope::granted(&c.scp, "email"));
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
    let mut full = data::full_user(user);
    let public = {
        let encoding = emu.config.encoding;
        let videos = emu.videos();
        videos.of(user.id).filter(|v| v.public(encoding)).count()
    };
    full.insert("videos_total".into(), json!(user.videos + public));
    select(&full, params, USER_FIELDS, USER_DEFAULT_FIELDS)
}

fn answer(result: Result<Value, Response>) -> Response {
    result
        .map(|v| Json(v).into_response())
        .unwrap_or_else(|r| r)
}

pub async fn echo(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    if let Err(response) = caller(&emu, &headers, &params) {
        return response;
    }
    match params.get("message") {
        Some(message) => Json(json!({ "message": message })).into_response(),
        None => super::reply::missing("message"),
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
        Ok((claims, user)) => answer(user_object(&emu, user, &params, Some(&claims), "GET /me")),
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
    let route = format!("GET /user/{id}");
    answer(user_object(&emu, user, &params, claims.as_ref(), &route))
}

/// Whether the caller is `owner`.
fn is(claims: Option<&Claims>, owner: &str) -> bool {
    claims.is_some_and(|c| c.sub.as_deref() == Some(owner))
}

pub async fn video(
    State(emu): Emu,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    let claims = match caller(&emu, &headers, &params) {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    if let Some(full) = data::video(&id) {
        return answer(select(&full, &params, VIDEO_FIELDS, VIDEO_DEFAULT_FIELDS));
    }
    let encoding = emu.config.encoding;
    let full = {
        let mut videos = emu.videos();
        match videos.get_mut(&id) {
            Some(v) if is(claims.as_ref(), &v.owner) || v.public(encoding) => {
                v.read();
                Some(v.fields(encoding))
            }
            _ => None,
        }
    };
    match full {
        Some(full) => answer(select(&full, &params, VIDEO_FIELDS, VIDEO_DEFAULT_FIELDS)),
        None => not_found("video", &id),
    }
}

/// The list envelope over a user's videos (the fixed ones, then those uploaded, of which
/// others see only the published, public, processed ones): `page` (1..=100), `limit`
/// (1..=100, default 10).
fn video_list(
    emu: &Emulator,
    owner: &data::User,
    own: bool,
    params: &HashMap<String, String>,
) -> Response {
    let number = |name: &str, default: usize| -> Result<usize, Response> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| super::reply::invalid(name, "expected an integer from 1 to 100.")),
        }
    };
    let (page, limit) = match (number("page", 1), number("limit", 10)) {
        (Ok(p), Ok(l)) => (p, l),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let uploaded: Vec<Map<String, Value>> = {
        let encoding = emu.config.encoding;
        let videos = emu.videos();
        videos
            .of(owner.id)
            .filter(|v| own || v.public(encoding))
            .map(|v| v.fields(encoding))
            .collect()
    };
    let total = owner.videos + uploaded.len();
    let start = (page - 1) * limit;
    let mut list = Vec::new();
    for index in start..(start + limit).min(total) {
        let full = if index < owner.videos {
            data::full_video(owner, index)
        } else {
            uploaded[index - owner.videos].clone()
        };
        match select(&full, params, VIDEO_FIELDS, VIDEO_DEFAULT_FIELDS) {
            Ok(v) => list.push(v),
            Err(r) => return r,
        }
    }
    Json(json!({
        "page": page,
        "limit": limit,
        "explicit": false,
        "total": total,
        "has_more": start + limit < total,
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
    let claims = match caller(&emu, &headers, &params) {
        Ok(claims) => claims,
        Err(response) => return response,
    };
    match data::user(&id) {
        Some(owner) => video_list(&emu, owner, is(claims.as_ref(), owner.id), &params),
        None => not_found("user", &id),
    }
}

pub async fn me_videos(State(emu): Emu, headers: HeaderMap, Query(params): Params) -> Response {
    match signed_in(&emu, &headers, &params) {
        Ok((_, owner)) => video_list(&emu, owner, true, &params),
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
    if user.id != id || !Scope::granted(&claims.scp, "manage_players") {
        return insufficient("manage_players", &format!("GET /user/{id}/players"));
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
    emu.revoke_async(claims.gid).await;
    Json(json!({})).into_response()
}

pub async fn unknown_route(method: Method, uri: Uri) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "not_found",
        &format!("Unrecognized route: {method} {}", uri.path()),
    )
}
