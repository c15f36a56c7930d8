//! The `token` step (authorization_code, password, client_credentials grants) and the
//! `refresh` step (refresh_token grant): a form POST that never follows redirects, client
//! credentials in the form (what Dailymotion documents) or as HTTP Basic, and a tolerant
//! reading of the answer (`expires_in` missing or a string).

use super::authorize::{pick, scope_text};
use super::errors::{Grant, token_refused};
use super::spec::{RefreshSpec, TokenSpec};
use crate::flow::node::{Node, Text};
use crate::run::exchange::Exchange;
use crate::run::http::{Body, Prepared};
use crate::run::http_step::{parse_url, text};
use crate::run::{ActionOutput, StepContext, StepError};
use base64::Engine as _;
use indexmap::IndexMap;
use serde_json::Value;

/// The client and endpoint of a token request, rendered.
pub struct Client {
    pub token_url: url::Url,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub basic: bool,
}

/// Resolves endpoint and client from the step, else the flow's `oauth:` section.
pub fn client(
    url: &Option<Text>,
    client_id: &Option<Text>,
    client_secret: &Option<Text>,
    client_auth: &Option<Text>,
    cx: &StepContext<'_>,
    step: &str,
) -> Result<Client, StepError> {
    let flow = &cx.flow.oauth;
    let Some(url_text) = pick(url, &flow.token_url) else {
        if let Some(endpoint) = &cx.oauth.fallback_endpoint {
            return stored_client(endpoint, cx);
        }
        return Err(StepError::Invalid {
            message: format!("the {step} step needs the token endpoint"),
            pos: None,
            help: Some("set `url:` on the step, or `token_url:` under the flow's `oauth:`".into()),
        });
    };
    let token_url = parse_url(&text(cx.templates, cx.vars, url_text)?, url_text)?;
    let id_text = pick(client_id, &flow.client_id).ok_or_else(|| StepError::Invalid {
        message: format!("the {step} step needs `client_id`"),
        pos: None,
        help: Some("set `client_id:` on the step, or under the flow's `oauth:`".into()),
    })?;
    let client_id = text(cx.templates, cx.vars, id_text)?;
    let client_secret = match pick(client_secret, &flow.client_secret) {
        Some(t) => Some(text(cx.templates, cx.vars, t)?),
        None => None,
    };
    if let Some(secret) = &client_secret {
        cx.redactor.add("API_SECRET", secret);
    }
    let basic = match pick(client_auth, &flow.client_auth) {
        Some(t) => match text(cx.templates, cx.vars, t)?.trim() {
            "form" | "post" | "body" => false,
            "basic" => true,
            other => {
                return Err(StepError::Invalid {
                    message: format!("`client_auth: {other}` is not a client authentication method"),
                    pos: Some(crate::flow::node::pos_of(t)),
                    help: Some("use `form` (client_id and client_secret in the body) or `basic` (HTTP Basic)".into()),
                });
            }
        },
        None => false,
    };
    Ok(Client {
        token_url,
        client_id,
        client_secret,
        basic,
    })
}

/// A client from the endpoint a login run recorded; the secret comes from the store (if the
/// user chose to keep it there), `API_SECRET`, or `DM_API_SECRET`.
pub fn stored_client(
    endpoint: &crate::store::TokenEndpoint,
    cx: &StepContext<'_>,
) -> Result<Client, StepError> {
    let token_url = url::Url::parse(&endpoint.token_url).map_err(|e| StepError::Invalid {
        message: format!(
            "the stored token URL `{}` is invalid: {e}",
            endpoint.token_url
        ),
        pos: None,
        help: Some("sign in again with flows/login.yaml".into()),
    })?;
    let client_secret = endpoint
        .client_secret
        .clone()
        .or_else(|| {
            cx.vars
                .get("API_SECRET")
                .map(crate::template::value_to_text)
        })
        .or_else(|| std::env::var("DM_API_SECRET").ok());
    if let Some(secret) = &client_secret {
        cx.redactor.add("API_SECRET", secret);
    }
    Ok(Client {
        token_url,
        client_id: endpoint.client_id.clone(),
        client_secret,
        basic: endpoint.client_auth == "basic",
    })
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Sends a token request for a step, and remembers the endpoint for the token store.
pub async fn request(
    client: &Client,
    fields: Vec<(String, String)>,
    grant: Grant,
    cx: &mut StepContext<'_>,
) -> Result<(Exchange, IndexMap<String, Value>), StepError> {
    let answer = send_token_request(cx.http, cx.redactor, client, fields, grant).await?;
    cx.oauth.endpoint = Some(client.endpoint(cx.runtime.store_client_secret));
    Ok(answer)
}

impl Client {
    /// What the token store records of this client: the secret only when the user asked
    /// (`--store-client-secret`).
    pub fn endpoint(&self, with_secret: bool) -> crate::store::TokenEndpoint {
        crate::store::TokenEndpoint {
            token_url: self.token_url.to_string(),
            client_id: self.client_id.clone(),
            client_auth: if self.basic { "basic" } else { "form" }.into(),
            client_secret: self.client_secret.clone().filter(|_| with_secret),
        }
    }
}

/// Sends a token request and turns the answer into the token variables.
pub async fn send_token_request(
    http: &crate::run::http::Http,
    redactor: &crate::secret::Redactor,
    client: &Client,
    mut fields: Vec<(String, String)>,
    grant: Grant,
) -> Result<(Exchange, IndexMap<String, Value>), StepError> {
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
    prepared.body = Body::Form(fields);
    prepared.follow_redirects = false;
    let exchange = http
        .send(prepared)
        .await
        .map_err(|e| StepError::Network(e.0))?;
    let response = &exchange.response;
    if let Some(Value::Object(body)) = &response.json {
        for (key, value) in body {
            if key.to_ascii_lowercase().ends_with("token")
                && let Value::String(s) = value
            {
                redactor.add(&key.to_ascii_uppercase(), s);
            }
        }
    }
    let json = response.json.as_ref().and_then(Value::as_object);
    if (200..300).contains(&response.status)
        && let Some(body) = json
        && let Some(Value::String(_)) = body.get("access_token")
    {
        let outputs = token_outputs(body);
        return Ok((exchange, outputs));
    }
    let status = response.status;
    if let Some(body) = json
        && let Some(Value::String(error)) = body.get("error")
    {
        let description = body.get("error_description").and_then(Value::as_str);
        let err = token_refused(status, error, description, grant);
        return Err(if status >= 500 { as_runtime(err) } else { err });
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
        "the provider had a problem (Dailymotion sometimes answers an HTML error page); nothing was stored or lost; try again in a moment"
    } else if (300..400).contains(&status) {
        "token requests never follow redirects; check the token URL"
    } else {
        "check the token URL and the grant's parameters"
    };
    if status >= 500 || (200..300).contains(&status) {
        Err(StepError::Runtime {
            message,
            help: Some(help.into()),
        })
    } else {
        Err(StepError::Refused {
            message,
            help: Some(help.into()),
        })
    }
}

fn as_runtime(err: StepError) -> StepError {
    match err {
        StepError::Refused { message, help } => StepError::Runtime { message, help },
        other => other,
    }
}

/// ACCESS_TOKEN, REFRESH_TOKEN, TOKEN_TYPE, SCOPE, USER_ID (from `uid`), EXPIRES_IN, EXPIRES_AT from a token
/// response. `expires_in` may be a number or a string, or missing (then no expiry is known).
pub fn token_outputs(body: &serde_json::Map<String, Value>) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for (field, name) in [
        ("access_token", "ACCESS_TOKEN"),
        ("refresh_token", "REFRESH_TOKEN"),
        ("token_type", "TOKEN_TYPE"),
        ("scope", "SCOPE"),
        ("uid", "USER_ID"),
    ] {
        if let Some(value) = body.get(field).and_then(text) {
            out.insert(name.to_string(), Value::String(value));
        }
    }
    let expires_in = body.get("expires_in").and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    });
    if let Some(seconds) = expires_in.filter(|s| s.is_finite() && *s >= 0.0) {
        let seconds = seconds.round() as i64;
        out.insert("EXPIRES_IN".into(), Value::from(seconds));
        out.insert(
            "EXPIRES_AT".into(),
            Value::from(jiff::Timestamp::now().as_second() + seconds),
        );
    }
    out
}

fn optional(t: &Option<Text>, cx: &StepContext<'_>) -> Result<Option<String>, StepError> {
    t.as_ref()
        .map(|t| text(cx.templates, cx.vars, t))
        .transpose()
}

fn scope(step: &Option<Node>, cx: &StepContext<'_>) -> Result<Option<String>, StepError> {
    match step.as_ref().or(cx.flow.oauth.scope.as_ref()) {
        Some(node) => Ok(Some(scope_text(node, cx.templates, cx.vars)?)),
        None => Ok(None),
    }
}

fn var_text(cx: &StepContext<'_>, name: &str) -> Option<String> {
    cx.vars.get(name).map(crate::template::value_to_text)
}

/// The `token` step.
pub async fn run_token(
    spec: &TokenSpec,
    cx: &mut StepContext<'_>,
) -> Result<ActionOutput, StepError> {
    let client = client(
        &spec.url,
        &spec.client_id,
        &spec.client_secret,
        &spec.client_auth,
        cx,
        "token",
    )?;
    let grant_name = optional(&spec.grant, cx)?.unwrap_or_else(|| "authorization_code".into());
    let mut fields: Vec<(String, String)> = vec![("grant_type".into(), grant_name.clone())];
    let grant = match grant_name.as_str() {
        "authorization_code" => {
            let code = match optional(&spec.code, cx)? {
                Some(code) => code,
                None => var_text(cx, "CODE").ok_or_else(|| StepError::Invalid {
                    message: "no authorization code: the token step comes after a callback step, or sets `code:`".into(),
                    pos: None,
                    help: Some("put `- callback: {}` before this step".into()),
                })?,
            };
            cx.redactor.add("CODE", &code);
            fields.push(("code".into(), code));
            let from_authorize = [
                (
                    "redirect_uri",
                    &spec.redirect_uri,
                    cx.oauth.redirect_uri.clone(),
                    "REDIRECT_URI",
                ),
                (
                    "code_verifier",
                    &spec.code_verifier,
                    cx.oauth.verifier.clone(),
                    "CODE_VERIFIER",
                ),
            ];
            // The step's own value, else what the authorize step left, else the variable.
            for (field, own, left, variable) in from_authorize {
                let value = match optional(own, cx)? {
                    Some(value) => Some(value),
                    None => left.or_else(|| var_text(cx, variable)),
                };
                if let Some(value) = value {
                    fields.push((field.into(), value));
                }
            }
            Grant::AuthorizationCode
        }
        "password" => {
            let username = optional(&spec.username, cx)?;
            let password = optional(&spec.password, cx)?;
            let (Some(username), Some(password)) = (username, password) else {
                return Err(StepError::Invalid {
                    message: "the password grant needs `username` and `password`".into(),
                    pos: None,
                    help: Some(
                        "Dailymotion wants the account's email address as the username".into(),
                    ),
                });
            };
            cx.redactor.add("PASSWORD", &password);
            fields.push(("username".into(), username));
            fields.push(("password".into(), password));
            Grant::Password
        }
        "client_credentials" => Grant::ClientCredentials,
        other => {
            return Err(StepError::Invalid {
                message: format!("`grant: {other}` is not a grant the token step knows"),
                pos: spec.grant.as_ref().map(crate::flow::node::pos_of),
                help: Some("use authorization_code (default), password or client_credentials; for refresh_token use a `refresh` step".into()),
            });
        }
    };
    if let Some(scope) = scope(&spec.scope, cx)?
        && grant != Grant::AuthorizationCode
    {
        fields.push(("scope".into(), scope));
    }
    for (name, value) in &spec.params {
        fields.push((name.clone(), text(cx.templates, cx.vars, value)?));
    }
    let (_, outputs) = request(&client, fields, grant, cx).await?;
    Ok(ActionOutput {
        outputs,
        ..ActionOutput::default()
    })
}

/// The `refresh` step.
pub async fn run_refresh(
    spec: &RefreshSpec,
    cx: &mut StepContext<'_>,
) -> Result<ActionOutput, StepError> {
    let client = client(
        &spec.url,
        &spec.client_id,
        &spec.client_secret,
        &spec.client_auth,
        cx,
        "refresh",
    )?;
    let refresh_token = match optional(&spec.refresh_token, cx)? {
        Some(token) => token,
        None => var_text(cx, "REFRESH_TOKEN").ok_or_else(|| StepError::Invalid {
            message: "no refresh token: `REFRESH_TOKEN` is not set".into(),
            pos: None,
            help: Some("sign in first (dmflow run flows/login.yaml), pass --var REFRESH_TOKEN=..., or declare REFRESH_TOKEN under `inputs:`".into()),
        })?,
    };
    let scope = scope(&spec.scope, cx)?;
    let (note, outputs) = refresh_with(&client, &refresh_token, scope, cx).await?;
    Ok(ActionOutput {
        outputs,
        notes: note.into_iter().collect(),
        ..ActionOutput::default()
    })
}

/// The refresh_token grant; keeps the old refresh token when none comes back.
///
/// When the refresh token came from the token store, the refresh happens under the store's
/// lock after re-reading it: if another process rotated the tokens meanwhile, we use its
/// fresh ones (or its new refresh token) instead of spending a dead one, and a rotated pair is
/// written back at once, so it survives whatever happens to the rest of the flow.
pub async fn refresh_with(
    client: &Client,
    refresh_token: &str,
    scope: Option<String>,
    cx: &mut StepContext<'_>,
) -> Result<(Option<String>, IndexMap<String, Value>), StepError> {
    cx.redactor.add("REFRESH_TOKEN", refresh_token);
    let coordinated = cx
        .store
        .filter(|_| cx.oauth.stored_names.contains("REFRESH_TOKEN"))
        .cloned();
    let Some(store) = coordinated else {
        let outputs = refresh_request(client, refresh_token, scope, cx).await?;
        return Ok((None, outputs));
    };
    let lock_store = store.clone();
    let lock = tokio::task::spawn_blocking(move || lock_store.lock())
        .await
        .map_err(|e| StepError::Runtime {
            message: e.to_string(),
            help: None,
        })?
        .map_err(store_error)?;
    let mut data = store.read().map_err(store_error)?;
    let mut token = refresh_token.to_string();
    let mut note = None;
    if let Some(stored) = data.text("REFRESH_TOKEN").filter(|t| *t != refresh_token) {
        cx.redactor.add("REFRESH_TOKEN", &stored);
        if data.text("ACCESS_TOKEN").is_some()
            && !data.needs_refresh(jiff::Timestamp::now().as_second())
        {
            let mut outputs = IndexMap::new();
            for name in super::TOKEN_OUTPUTS {
                if let Some(value) = data.values.get(*name) {
                    outputs.insert(name.to_string(), value.clone());
                }
            }
            drop(lock);
            return Ok((
                Some("another dmflow refreshed the tokens meanwhile: using its fresh ones".into()),
                outputs,
            ));
        }
        note = Some("another dmflow rotated the refresh token meanwhile: used the new one".into());
        token = stored;
    }
    let outputs = refresh_request(client, &token, scope, cx).await?;
    crate::store::merge_tokens(&mut data, &outputs, crate::store::Origin::Refresh);
    store.write_locked(&data).map_err(store_error)?;
    drop(lock);
    Ok((note, outputs))
}

fn store_error(e: crate::store::StoreError) -> StepError {
    StepError::Runtime {
        message: e.0,
        help: None,
    }
}

async fn refresh_request(
    client: &Client,
    refresh_token: &str,
    scope: Option<String>,
    cx: &mut StepContext<'_>,
) -> Result<IndexMap<String, Value>, StepError> {
    let outputs = refresh_grant(cx.http, cx.redactor, client, refresh_token, scope).await?;
    cx.oauth.endpoint = Some(client.endpoint(cx.runtime.store_client_secret));
    Ok(outputs)
}

/// The refresh_token grant itself; keeps the old refresh token when none comes back.
pub async fn refresh_grant(
    http: &crate::run::http::Http,
    redactor: &crate::secret::Redactor,
    client: &Client,
    refresh_token: &str,
    scope: Option<String>,
) -> Result<IndexMap<String, Value>, StepError> {
    redactor.add("REFRESH_TOKEN", refresh_token);
    let mut fields = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
    ];
    if let Some(scope) = scope {
        fields.push(("scope".into(), scope));
    }
    let (_, mut outputs) =
        send_token_request(http, redactor, client, fields, Grant::Refresh).await?;
    if !outputs.contains_key("REFRESH_TOKEN") {
        outputs.insert(
            "REFRESH_TOKEN".into(),
            Value::String(refresh_token.to_string()),
        );
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs(v: Value) -> IndexMap<String, Value> {
        token_outputs(v.as_object().unwrap())
    }

    #[test]
    fn reads_a_dailymotion_token_response() {
        let out = outputs(
            json!({"access_token": "a", "token_type": "Bearer", "expires_in": 36000, "refresh_token": "r", "scope": "manage_videos userinfo", "uid": "x1y2"}),
        );
        assert_eq!(out["ACCESS_TOKEN"], json!("a"));
        assert_eq!(out["REFRESH_TOKEN"], json!("r"));
        assert_eq!(out["SCOPE"], json!("manage_videos userinfo"));
        assert_eq!(out["USER_ID"], json!("x1y2"));
        assert_eq!(out["EXPIRES_IN"], json!(36000));
        let at = out["EXPIRES_AT"].as_i64().unwrap();
        assert!((at - jiff::Timestamp::now().as_second() - 36000).abs() <= 2);
    }

    #[test]
    fn tolerates_odd_expiry() {
        assert_eq!(
            outputs(json!({"access_token": "a", "expires_in": "3600"}))["EXPIRES_IN"],
            json!(3600)
        );
        let none = outputs(json!({"access_token": "a"}));
        assert!(!none.contains_key("EXPIRES_AT"));
        assert!(!none.contains_key("REFRESH_TOKEN"));
        assert!(
            !outputs(json!({"access_token": "a", "expires_in": "soon"})).contains_key("EXPIRES_IN")
        );
    }
}
