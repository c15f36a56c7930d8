//! `POST /oauth/token`: the authorization_code grant (single-use codes bound to the redirect
//! URI and the PKCE verifier), password (the account's email as username), refresh_token
//! (rotation: each refresh token is exchanged once, across processes), and
//! client_credentials (no refresh token). Clients authenticate in the form or with Basic.
//! Every error carries Dailymotion's pair in the JSON body and in `WWW-Authenticate`.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::codes;
use super::data;
use super::reply::{no_store, token_error};
use super::scope::{self, Scope};
use super::state::{Claims, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, REFRESH_TTL, now};
use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

/// The client of a token request: Basic, or `client_id` + `client_secret` in the form.
fn client_auth(headers: &HeaderMap, form: &Params) -> Result<String, Response> {
    let (id, secret) = if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (id, secret) = decoded.split_once(':').unwrap_or((&decoded, ""));
        let unform = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        (unform(id), unform(secret))
    } else {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        )
    };
    if id == DEMO_CLIENT_ID && crate::oauth::pkce::same(&secret, DEMO_CLIENT_SECRET) {
        Ok(id)
    } else {
        Err(token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials.",
        ))
    }
}

/// The scope a grant asks for, through the one parser; unknown names are `invalid_scope`.
fn requested(form: &Params) -> Result<Scope, Response> {
    Scope::parse(form.get("scope").map(String::as_str).unwrap_or("")).map_err(|name| {
        token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &scope::unknown(&name),
        )
    })
}

fn issue(
    emu: &Emulator,
    client_id: &str,
    user: Option<&str>,
    scope: &str,
    gid: &str,
    with_refresh: bool,
) -> Response {
    let iat = now();
    let iau = super::ids::now_us();
    let ttl = emu.config.token_ttl;
    let claims = |k: &str, exp: i64| Claims {
        k: k.into(),
        sub: user.map(str::to_string),
        cid: client_id.to_string(),
        scp: scope.to_string(),
        gid: gid.to_string(),
        jti: super::ids::random_id(9),
        iat,
        exp,
        iau: Some(iau),
    };
    let mut body = json!({
        "access_token": emu.issue(&claims("a", iat + ttl)),
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    });
    if with_refresh {
        body["refresh_token"] = json!(emu.issue(&claims("r", iat + REFRESH_TTL)));
    }
    if let Some(user) = user {
        body["uid"] = json!(user);
    }
    no_store(Json(body).into_response())
}

/// `POST /oauth/token`.
pub async fn token(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    let client_id = match client_auth(&headers, &form) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let new_grant = || super::ids::random_id(9);
    match field("grant_type") {
        "authorization_code" => {
            let refused = || {
                token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid authorization code.",
                )
            };
            let Some(grant) = codes::exchange(&emu, field("code")) else {
                return refused();
            };
            if grant.client_id != client_id {
                return refused();
            }
            if field("redirect_uri") != grant.redirect_uri {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    "redirect_uri_mismatch",
                    &format!(
                        "This `redirect_uri' ({}) isn't allowed by `client_id' configuration.",
                        field("redirect_uri")
                    ),
                );
            }
            if let Some((challenge, method)) = &grant.challenge {
                let verifier = field("code_verifier");
                let computed = if method == "S256" {
                    crate::oauth::pkce::s256(verifier)
                } else {
                    verifier.to_string()
                };
                if verifier.is_empty() || !crate::oauth::pkce::same(&computed, challenge) {
                    return token_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Invalid code_verifier.",
                    );
                }
            }
            issue(
                &emu,
                &client_id,
                Some(&grant.user),
                &grant.scope,
                &new_grant(),
                true,
            )
        }
        "password" => {
            let scope = match requested(&form) {
                Ok(scope) => scope,
                Err(response) => return response,
            };
            let user = data::USERS.iter().find(|u| u.email == field("username"));
            match user {
                Some(u)
                    if u.id == data::DEMO_USER_ID
                        && crate::oauth::pkce::same(field("password"), data::DEMO_PASSWORD) =>
                {
                    issue(
                        &emu,
                        &client_id,
                        Some(u.id),
                        &scope.joined(),
                        &new_grant(),
                        true,
                    )
                }
                _ => token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid credentials.",
                ),
            }
        }
        "refresh_token" => {
            // A scope sent along (the SDKs resend theirs) is checked by the same parser; the
            // new tokens keep the scope the user granted.
            if let Err(response) = requested(&form) {
                return response;
            }
            emu.refresh_from_disk_async().await;
            let refused = || {
                token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token.",
                )
            };
            let Ok(claims) = emu.verify(field("refresh_token"), "r") else {
                return refused();
            };
            if claims.cid != client_id {
                return refused();
            }
            if !emu
                .consume_refresh_async(claims.jti.clone(), claims.exp)
                .await
            {
                return refused();
            }
            issue(
                &emu,
                &client_id,
                claims.sub.as_deref(),
                &claims.scp,
                &claims.gid,
                true,
            )
        }
        "client_credentials" => match requested(&form) {
            Ok(scope) => issue(&emu, &client_id, None, &scope.joined(), &new_grant(), false),
            Err(response) => response,
        },
        "" => token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing grant_type parameter.",
        ),
        other => token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant_type `{other}'."),
        ),
    }
}
