//! Token requests (RFC 6749 §4 and §6): a form POST that never follows redirects, the client's
//! credentials in the form (what Dailymotion documents) or as HTTP Basic, and a tolerant reading
//! of the answer (`expires_in` missing or a string, an HTML error page).

use super::errors::{Advice, Grant};
use crate::run::body::Body;
use crate::run::error::StepError;
use crate::run::exchange::Exchange;
use crate::run::http::{Prepared, Session};
use crate::secret::Redactor;
use crate::tokens::names;
use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::Value;
use std::sync::Arc;

/// The client and endpoint of a token request, rendered.
#[derive(Debug, Clone)]
pub struct Client {
    pub token_url: url::Url,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// HTTP Basic instead of form fields.
    pub basic: bool,
}

/// `form` / `basic`: how the client authenticates; `None` for anything else.
pub fn basic_auth(method: &str) -> Option<bool> {
    match method.trim() {
        "form" | "post" | "body" => Some(false),
        "basic" => Some(true),
        _ => None,
    }
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Sends a token request and turns the answer into the token variables.
pub async fn request(
    session: &Session,
    redactor: &Redactor,
    client: &Client,
    mut fields: Vec<(String, String)>,
    grant: Grant,
    advice: Advice<'_>,
) -> Result<(Arc<Exchange>, IndexMap<String, Value>), StepError> {
    let mut prepared = Prepared::new(reqwest::Method::POST, client.token_url.clone())
        .header("Accept", "application/json");
    if client.basic {
        // RFC 6749 §2.3.1: form-encode both parts before base64.
        let pair = format!(
            "{}:{}",
            form_encode(&client.client_id),
            form_encode(client.client_secret.as_deref().unwrap_or(""))
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        redactor.add("client credentials", &encoded);
        prepared = prepared.header("Authorization", format!("Basic {encoded}"));
    } else {
        fields.push(("client_id".into(), client.client_id.clone()));
        if let Some(secret) = &client.client_secret {
            fields.push(("client_secret".into(), secret.clone()));
        }
    }
    if let Some(secret) = &client.client_secret {
        redactor.add("API_SECRET", secret);
    }
    prepared.body = Some(Body::form(&fields));
    prepared.follow_redirects = false;
    let exchange = session
        .send(&prepared)
        .await
        .map_err(|e| StepError::Network(e.0))?;
    let response = &exchange.response;
    let json = response.json().and_then(Value::as_object);
    if let Some(body) = json {
        for (key, value) in body {
            if key.to_ascii_lowercase().ends_with("token")
                && let Value::String(s) = value
            {
                redactor.add(&key.to_ascii_uppercase(), s);
            }
        }
    }
    if (200..300).contains(&response.status)
        && let Some(body) = json
        && let Some(Value::String(_)) = body.get("access_token")
    {
        let outputs = names::from_response(body, advice.provider);
        return Ok((exchange, outputs));
    }
    let status = response.status;
    if let Some(body) = json
        && let Some(Value::String(error)) = body.get("error")
    {
        let description = body.get("error_description").and_then(Value::as_str);
        return Err(advice.token_refused(status, error, description, grant));
    }
    let what = if response.body.trim_start().starts_with('<') {
        "an HTML page"
    } else if response.body.trim().is_empty() {
        "an empty body"
    } else if json.is_some() {
        "JSON without an access_token"
    } else {
        "a body that is not JSON"
    };
    let message = format!("the token endpoint answered {status} with {what}, not a token");
    let help = if status >= 500 {
        "the provider had a problem (some answer an HTML error page); nothing was stored or lost; try again in a moment"
    } else if (300..400).contains(&status) {
        "token requests never follow redirects; check the token URL"
    } else {
        "check the token URL and the grant's parameters"
    };
    if status >= 500 || (200..300).contains(&status) {
        Err(StepError::runtime(message, Some(help)))
    } else {
        Err(StepError::refused(message, Some(help)))
    }
}

/// A refresh_token grant to send.
pub struct Refresh<'a> {
    pub session: &'a Session,
    pub redactor: &'a Redactor,
    pub client: &'a Client,
    pub refresh_token: &'a str,
    pub scope: Option<String>,
    pub advice: Advice<'a>,
}

impl Refresh<'_> {
    /// Sends the grant; keeps the old refresh token when none comes back.
    pub async fn send(&self, refresh_token: &str) -> Result<IndexMap<String, Value>, StepError> {
        self.redactor.add(names::REFRESH_TOKEN, refresh_token);
        let mut fields = vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), refresh_token.to_string()),
        ];
        if let Some(scope) = &self.scope {
            fields.push(("scope".into(), scope.clone()));
        }
        let (_, mut outputs) = request(
            self.session,
            self.redactor,
            self.client,
            fields,
            Grant::Refresh,
            self.advice,
        )
        .await?;
        if !outputs.contains_key(names::REFRESH_TOKEN) {
            outputs.insert(
                names::REFRESH_TOKEN.into(),
                Value::String(refresh_token.to_string()),
            );
        }
        Ok(outputs)
    }
}
