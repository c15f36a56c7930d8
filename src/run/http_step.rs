//! The generic `http` step: render the spec into a request and send it.

use super::StepError;
use super::http::{Body, Prepared};
use crate::flow::HttpSpec;
use crate::flow::node::{Text, pos_of};
use crate::template::{Templates, Vars, value_to_text};
use base64::Engine as _;
use std::str::FromStr;

/// Renders a text leaf, turning a template error into a step error at its position.
pub fn text(templates: &Templates, vars: &Vars, text: &Text) -> Result<String, StepError> {
    templates
        .render(&text.value, vars)
        .map_err(|error| StepError::Template {
            error,
            pos: pos_of(text),
        })
}

/// Parses a rendered URL, pointing at the template on failure.
pub fn parse_url(rendered: &str, at: &Text) -> Result<url::Url, StepError> {
    let url = url::Url::parse(rendered.trim()).map_err(|e| StepError::Invalid {
        message: format!("invalid URL `{rendered}`: {e}"),
        pos: Some(pos_of(at)),
        help: Some("a URL starts with http:// or https://".into()),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(StepError::Invalid {
            message: format!("unsupported URL scheme `{}`", url.scheme()),
            pos: Some(pos_of(at)),
            help: Some("dmflow speaks http:// and https://".into()),
        });
    }
    Ok(url)
}

/// Builds the request an `http` step sends.
pub fn prepare(spec: &HttpSpec, templates: &Templates, vars: &Vars) -> Result<Prepared, StepError> {
    let method = match &spec.method {
        Some(m) => {
            let rendered = text(templates, vars, m)?.trim().to_ascii_uppercase();
            reqwest::Method::from_str(&rendered).map_err(|_| StepError::Invalid {
                message: format!("`{rendered}` is not an HTTP method"),
                pos: Some(pos_of(m)),
                help: Some("use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS".into()),
            })?
        }
        None => reqwest::Method::GET,
    };
    let mut url = parse_url(&text(templates, vars, &spec.url)?, &spec.url)?;
    if !spec.query.is_empty() {
        let mut pairs = Vec::new();
        for (key, node) in &spec.query {
            let value = node
                .render(templates, vars)
                .map_err(|(error, pos)| StepError::Template { error, pos })?;
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::Array(items) => {
                    pairs.extend(items.iter().map(|v| (key.clone(), value_to_text(v))))
                }
                other => pairs.push((key.clone(), value_to_text(&other))),
            }
        }
        url.query_pairs_mut().extend_pairs(pairs);
    }
    let mut prepared = Prepared::new(method, url);
    for (name, value) in &spec.headers {
        prepared
            .headers
            .push((name.clone(), text(templates, vars, value)?));
    }
    if let Some(auth) = &spec.auth {
        let auth_pos = pos_of(auth);
        let header = match (&auth.value.bearer, &auth.value.basic) {
            (Some(token), None) => format!("Bearer {}", text(templates, vars, token)?),
            (None, Some(basic)) => {
                let user = text(templates, vars, &basic.username)?;
                let password = text(templates, vars, &basic.password)?;
                let encoded =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                format!("Basic {encoded}")
            }
            _ => {
                return Err(StepError::Invalid {
                    message: "`auth:` needs exactly one of `bearer` or `basic`".into(),
                    pos: Some(auth_pos),
                    help: Some("auth: { bearer: <<ACCESS_TOKEN>> } or auth: { basic: { username: u, password: p } }".into()),
                });
            }
        };
        prepared.headers.push(("Authorization".into(), header));
    }
    let bodies = [
        spec.json.is_some(),
        spec.form.is_some(),
        spec.body.is_some(),
    ];
    if bodies.iter().filter(|b| **b).count() > 1 {
        return Err(StepError::Invalid {
            message: "a request has one body: choose one of `json`, `form` or `body`".into(),
            pos: Some(pos_of(&spec.url)),
            help: None,
        });
    }
    if let Some(json) = &spec.json {
        prepared.body = Body::Json(
            json.render(templates, vars)
                .map_err(|(error, pos)| StepError::Template { error, pos })?,
        );
    }
    if let Some(form) = &spec.form {
        let mut fields = Vec::new();
        for (key, value) in form {
            fields.push((key.clone(), text(templates, vars, value)?));
        }
        prepared.body = Body::Form(fields);
    }
    if let Some(body) = &spec.body {
        prepared.body = Body::Raw(text(templates, vars, body)?);
    }
    if let Some(timeout) = &spec.timeout {
        let rendered = text(templates, vars, timeout)?;
        prepared.timeout =
            super::duration::parse(&rendered).map_err(|message| StepError::Invalid {
                message,
                pos: Some(pos_of(timeout)),
                help: None,
            })?;
    }
    prepared.follow_redirects = spec.follow_redirects.unwrap_or(true);
    Ok(prepared)
}
