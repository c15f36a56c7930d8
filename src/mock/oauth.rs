//! The emulator's OAuth 2.0 endpoints: `/oauth/authorize` (consent page, or auto-approve) and
//! `/oauth/token` (authorization_code with PKCE, password, refresh_token with rotation,
//! client_credentials), with Dailymotion's error pairs.
// Handlers return early with a finished `Response` as their error; boxing it would only add
// noise to every route.
#![allow(clippy::result_large_err)]

use super::data;
use super::state::{
    Claims, CodeGrant, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, PendingAuth, SCOPES, now,
    random_id,
};
use axum::Form;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

/// How long a code may wait for its exchange.
const CODE_TTL: i64 = 600;

fn error_page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dailymotion emulator: error</title></head>\
<body><h1>Authorization error</h1><p>{}</p></body></html>",
        crate::html::escape(message)
    );
    (status, Html(html)).into_response()
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return error_page(StatusCode::BAD_REQUEST, "The redirect_uri is not a URL."),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    let mut response = Redirect::to(url.as_str()).into_response();
    *response.status_mut() = StatusCode::FOUND;
    response
}

/// `GET /oauth/authorize`: checks the request, then shows the consent page (or approves).
pub async fn authorize(State(emu): State<Arc<Emulator>>, Query(params): Query<Params>) -> Response {
    let client_id = params.get("client_id").map(String::as_str).unwrap_or("");
    if client_id != DEMO_CLIENT_ID {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("Unknown client_id `{client_id}'."),
        );
    }
    let Some(redirect_uri) = params.get("redirect_uri").cloned() else {
        return error_page(StatusCode::BAD_REQUEST, "Missing redirect_uri parameter.");
    };
    if !emu.redirect_allowed(&redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!(
                "redirect_uri_mismatch: This `redirect_uri' ({redirect_uri}) isn't allowed by `client_id' configuration."
            ),
        );
    }
    let state = params.get("state").cloned();
    let with_state = |pairs: &mut Vec<(&str, String)>| {
        if let Some(s) = &state {
            pairs.push(("state", s.clone()));
        }
    };
    if params.get("response_type").map(String::as_str) != Some("code") {
        let mut pairs = vec![
            ("error", "unsupported_response_type".to_string()),
            (
                "error_description",
                "Only response_type=code is supported.".to_string(),
            ),
        ];
        with_state(&mut pairs);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return redirect_with(&redirect_uri, &refs);
    }
    let scope = params.get("scope").cloned().unwrap_or_default();
    if let Some(bad) = scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .find(|s| !SCOPES.contains(s))
    {
        let mut pairs = vec![
            ("error", "invalid_scope".to_string()),
            ("error_description", format!("Unknown scope `{bad}'.")),
        ];
        with_state(&mut pairs);
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return redirect_with(&redirect_uri, &refs);
    }
    let challenge = match params.get("code_challenge") {
        Some(c) => {
            let method = params
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                let mut pairs = vec![
                    ("error", "invalid_request".to_string()),
                    (
                        "error_description",
                        "code_challenge_method must be S256 or plain.".to_string(),
                    ),
                ];
                with_state(&mut pairs);
                let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                return redirect_with(&redirect_uri, &refs);
            }
            Some((c.clone(), method))
        }
        None => None,
    };
    let pending = PendingAuth {
        client_id: client_id.to_string(),
        redirect_uri,
        scope,
        state,
        challenge,
    };
    if emu.config.auto_approve {
        return approve(&emu, pending);
    }
    let id = random_id(12);
    let page = consent_page(&id, &pending);
    emu.pending().insert(id, pending);
    page
}

fn consent_page(id: &str, pending: &PendingAuth) -> Response {
    let demo = data::user(data::DEMO_USER_ID)
        .map(|u| u.screenname)
        .unwrap_or("demo");
    let scopes = if pending.scope.is_empty() {
        "basic access".to_string()
    } else {
        pending.scope.replace(' ', ", ")
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dailymotion emulator: sign in</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}button{{font-size:1rem;margin-right:1rem}}</style></head>\
<body><h1>Allow the app?</h1><p>Signed in as <strong>{}</strong> (demo user).</p><p>The app asks for: {}.</p>\
<form method=\"post\" action=\"/oauth/authorize\"><input type=\"hidden\" name=\"request\" value=\"{}\">\
<button name=\"decision\" value=\"allow\">Allow</button><button name=\"decision\" value=\"deny\">Deny</button></form></body></html>",
        crate::html::escape(demo),
        crate::html::escape(&scopes),
        crate::html::escape(id)
    );
    let mut response = Html(html).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `POST /oauth/authorize`: the consent page's Allow or Deny.
pub async fn decide(State(emu): State<Arc<Emulator>>, Form(form): Form<Params>) -> Response {
    let id = form.get("request").cloned().unwrap_or_default();
    let Some(pending) = emu.pending().remove(&id) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request is unknown or was already answered.",
        );
    };
    if form.get("decision").map(String::as_str) == Some("allow") {
        return approve(&emu, pending);
    }
    let mut pairs = vec![
        ("error", "access_denied"),
        (
            "error_description",
            "The user denied access to the application.",
        ),
    ];
    if let Some(state) = &pending.state {
        pairs.push(("state", state));
    }
    redirect_with(&pending.redirect_uri, &pairs)
}

fn approve(emu: &Emulator, pending: PendingAuth) -> Response {
    let code = random_id(24);
    emu.codes().insert(
        code.clone(),
        CodeGrant {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri.clone(),
            scope: pending.scope,
            user: data::DEMO_USER_ID.to_string(),
            challenge: pending.challenge,
            expires: now() + CODE_TTL,
            used: false,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &pending.state {
        pairs.push(("state", state));
    }
    redirect_with(&pending.redirect_uri, &pairs)
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut response = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

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

fn issue(
    emu: &Emulator,
    client_id: &str,
    user: Option<&str>,
    scope: &str,
    gid: &str,
    with_refresh: bool,
) -> Response {
    let iat = now();
    let ttl = emu.config.token_ttl;
    let claims = |k: &str, exp: i64| Claims {
        k: k.into(),
        sub: user.map(str::to_string),
        cid: client_id.to_string(),
        scp: scope.to_string(),
        gid: gid.to_string(),
        jti: random_id(9),
        iat,
        exp,
    };
    let mut body = json!({
        "access_token": emu.issue(&claims("a", iat + ttl)),
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scope,
    });
    if with_refresh {
        body["refresh_token"] = json!(emu.issue(&claims("r", iat + 90 * 86_400)));
    }
    if let Some(user) = user {
        body["uid"] = json!(user);
    }
    let mut response = Json(body).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// `POST /oauth/token`.
pub async fn token(
    State(emu): State<Arc<Emulator>>,
    headers: HeaderMap,
    Form(form): Form<Params>,
) -> Response {
    {
        let mut faults = emu.faults();
        if faults.fail_next_token > 0 {
            faults.fail_next_token -= 1;
            let html = "<!doctype html><html><head><title>Erreur</title></head><body><h1>Quelque chose s'est mal passé…</h1></body></html>";
            return (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response();
        }
    }
    let client_id = match client_auth(&headers, &form) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    match field("grant_type") {
        "authorization_code" => {
            let refused = || {
                token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid authorization code.",
                )
            };
            let grant = {
                let mut codes = emu.codes();
                let Some(grant) = codes.get_mut(field("code")) else {
                    return refused();
                };
                if grant.used || grant.expires <= now() || grant.client_id != client_id {
                    return refused();
                }
                grant.used = true;
                grant.clone()
            };
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
                &random_id(9),
                true,
            )
        }
        "password" => {
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
                        field("scope"),
                        &random_id(9),
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
            if !emu.consume_refresh_async(claims.jti.clone()).await {
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
        "client_credentials" => issue(&emu, &client_id, None, field("scope"), &random_id(9), false),
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
