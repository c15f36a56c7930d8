//! `/oauth/authorize`: the request checked (client, redirect URI, response type, scope, PKCE),
//! then the consent page with Allow and Deny (or, with auto-approve, the code at once), and
//! the page's answer. A pending sign-in lives in the page's hidden field, sealed, so unanswered
//! pages cost the emulator nothing.

use super::codes::{self, CodeGrant, PendingAuth};
use super::data;
use super::reply::no_store;
use super::scope::{self, Scope};
use super::state::{DEMO_CLIENT_ID, Emulator};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::Arc;

type Params = HashMap<String, String>;

fn error_page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dailymotion emulator: error</title></head>\
<body><h1>Authorization error</h1><p>{}</p></body></html>",
        crate::html::escape(message)
    );
    no_store((status, Html(html)).into_response())
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

/// Sends the browser back to the client with an error (and the client's `state`).
fn refuse(redirect_uri: &str, state: Option<&str>, error: &str, description: &str) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect_with(redirect_uri, &pairs)
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
    if params.get("response_type").map(String::as_str) != Some("code") {
        return refuse(
            &redirect_uri,
            state.as_deref(),
            "unsupported_response_type",
            "Only response_type=code is supported.",
        );
    }
    let scope = match Scope::parse(params.get("scope").map(String::as_str).unwrap_or("")) {
        Ok(scope) => scope,
        Err(name) => {
            return refuse(
                &redirect_uri,
                state.as_deref(),
                "invalid_scope",
                &scope::unknown(&name),
            );
        }
    };
    let challenge = match params.get("code_challenge") {
        Some(c) => {
            let method = params
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into());
            if method != "S256" && method != "plain" {
                return refuse(
                    &redirect_uri,
                    state.as_deref(),
                    "invalid_request",
                    "code_challenge_method must be S256 or plain.",
                );
            }
            Some((c.clone(), method))
        }
        None => None,
    };
    let pending = PendingAuth {
        client_id: client_id.to_string(),
        redirect_uri,
        scope: scope.joined(),
        state,
        challenge,
    };
    if emu.config.auto_approve {
        return approve(&emu, pending);
    }
    consent_page(&codes::consent_request(&emu, pending.clone()), &pending)
}

/// The page that asks the demo user to allow the app, listing each scope requested.
fn consent_page(request: &str, pending: &PendingAuth) -> Response {
    let demo = data::user(data::DEMO_USER_ID)
        .map(|u| u.screenname)
        .unwrap_or("demo");
    let scopes = if pending.scope.is_empty() {
        "<li>basic access (public profile)</li>".to_string()
    } else {
        pending
            .scope
            .split(' ')
            .map(|s| format!("<li><code>{}</code></li>", crate::html::escape(s)))
            .collect()
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Dailymotion emulator: sign in</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.4}}\
ul{{padding-left:1.2rem}}code{{font-size:.95rem}}button{{font-size:1rem;padding:.4rem 1.2rem;margin-right:1rem}}</style></head>\
<body><h1>Allow the app?</h1><p>Signed in as <strong>{}</strong> (demo user).</p>\
<p>The app <code>{}</code> asks for:</p><ul id=\"scopes\">{}</ul>\
<form method=\"post\" action=\"/oauth/authorize\"><input type=\"hidden\" name=\"request\" value=\"{}\">\
<button name=\"decision\" value=\"allow\">Allow</button><button name=\"decision\" value=\"deny\">Deny</button></form>\
<p><small>Dailymotion emulator: nothing leaves this machine.</small></p></body></html>",
        crate::html::escape(demo),
        crate::html::escape(&pending.client_id),
        scopes,
        crate::html::escape(request)
    );
    no_store(Html(html).into_response())
}

/// `POST /oauth/authorize`: the consent page's Allow or Deny.
pub async fn decide(State(emu): State<Arc<Emulator>>, Form(form): Form<Params>) -> Response {
    let request = form.get("request").map(String::as_str).unwrap_or_default();
    let Some(pending) = codes::answer(&emu, request) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in request is unknown, expired or already answered: start the sign-in again.",
        );
    };
    if form.get("decision").map(String::as_str) == Some("allow") {
        return approve(&emu, pending);
    }
    refuse(
        &pending.redirect_uri,
        pending.state.as_deref(),
        "access_denied",
        "The user denied access to the application.",
    )
}

fn approve(emu: &Emulator, pending: PendingAuth) -> Response {
    let code = codes::issue_code(
        emu,
        CodeGrant {
            client_id: pending.client_id,
            redirect_uri: pending.redirect_uri.clone(),
            scope: pending.scope,
            user: data::DEMO_USER_ID.to_string(),
            challenge: pending.challenge,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = &pending.state {
        pairs.push(("state", state));
    }
    redirect_with(&pending.redirect_uri, &pairs)
}
