//! The generic `http` step: a method, a URL with its query, headers, one body (`json`, `form` or
//! `body`), `auth`, a timeout, redirects, and `paginate:` to follow a list from page to page.
//! Methods, header names and values, URLs and durations written literally are checked when the
//! flow is compiled.

use super::files::{self, BodyShape, FileBody, MultipartShape};
use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Diagnostic, Pos};
use crate::flow::shape::ScalarMap;
use crate::provider::Profile;
use crate::run::body::Body;
use crate::run::compile::CompileCx;
use crate::run::context::StepCx;
use crate::run::error::StepError;
use crate::run::exchange::Exchange;
use crate::run::http::Prepared;
use crate::run::http::parse_url;
use crate::run::kind::{Action, ActionOutput, StepKind};
use crate::template::value_to_text;
use crate::yaml::{Node, NodeKind, Spanned};
use base64::Engine as _;
use futures_util::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::str::FromStr;
use std::sync::Arc;

/// The `http` step kind.
pub struct Http;

/// An HTTP request: any endpoint, any method, with checks and saved values.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Http")]
struct HttpDoc {
    /// GET (default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS.
    method: Option<Spanned<String>>,
    /// The URL: `<<api>>/video/<<VIDEO_ID>>`.
    url: Spanned<String>,
    /// Query parameters, added to the URL's own.
    #[schemars(with = "Option<ScalarMap>")]
    query: Option<Node>,
    /// Request headers.
    #[schemars(with = "Option<ScalarMap>")]
    headers: Option<Node>,
    /// A JSON body (any YAML value).
    json: Option<Node>,
    /// An `application/x-www-form-urlencoded` body.
    #[schemars(with = "Option<ScalarMap>")]
    form: Option<Node>,
    /// A `multipart/form-data` body: text fields and `{ file, filename, content_type }` files.
    #[schemars(with = "Option<std::collections::BTreeMap<String, MultipartShape>>")]
    multipart: Option<Node>,
    /// A raw body, or `{ file, content_type }` to send a file.
    #[schemars(with = "Option<BodyShape>")]
    body: Option<Node>,
    /// Write a successful response's body to this file (streamed) instead of keeping it.
    save_body_to: Option<Spanned<String>>,
    /// `{ bearer: <<ACCESS_TOKEN>> }` or `{ basic: { username, password } }`.
    auth: Option<Spanned<AuthDoc>>,
    /// `30s`, `500ms`, `2m`; default 30s.
    timeout: Option<Spanned<String>>,
    /// Follow redirects (default true, at most 10).
    follow_redirects: Option<bool>,
    /// Follow `has_more` from page to page, merging the lists.
    paginate: Option<Spanned<PaginateDoc>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Auth")]
struct AuthDoc {
    bearer: Option<Spanned<String>>,
    basic: Option<BasicDoc>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BasicAuth")]
struct BasicDoc {
    username: Spanned<String>,
    password: Spanned<String>,
}

/// Page through a list envelope (Dailymotion's: `page`, `has_more`, `list`). Checks and
/// captures see the last page with the list holding the items of every page fetched.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Paginate")]
struct PaginateDoc {
    /// The query parameter that numbers pages (default: the provider's).
    param: Option<String>,
    /// The top-level boolean that says another page exists (default: the provider's).
    more: Option<String>,
    /// The top-level array holding each page's items (default: the provider's).
    list: Option<String>,
    /// At most this many pages (default 10).
    max_pages: Option<u32>,
}

pub const DEFAULT_MAX_PAGES: u32 = 10;

#[derive(Debug)]
enum Method {
    Fixed(reqwest::Method),
    Rendered(Text),
}

#[derive(Debug)]
enum BodySpec {
    Json(ValueTree),
    Form(Vec<(String, Text)>),
    Raw(Text),
    Files(FileBody),
}

#[derive(Debug)]
enum Auth {
    Bearer(Text),
    Basic(Text, Text),
}

#[derive(Debug)]
struct Paginate {
    param: Option<String>,
    more: Option<String>,
    list: Option<String>,
    max_pages: u32,
    pos: Pos,
}

/// A compiled `http` step.
#[derive(Debug)]
struct HttpAction {
    method: Method,
    url: Text,
    /// The URL, parsed once, when it is written without a template.
    literal_url: Option<Box<url::Url>>,
    query: Vec<(String, ValueTree)>,
    headers: Vec<(String, Text)>,
    body: Option<Box<BodySpec>>,
    auth: Option<Box<Auth>>,
    timeout: Option<Text>,
    follow_redirects: bool,
    paginate: Option<Box<Paginate>>,
    save_body_to: Option<Text>,
}

fn method_of(text: &str) -> Option<reqwest::Method> {
    let upper = text.trim().to_ascii_uppercase();
    reqwest::Method::from_str(&upper).ok()
}

const METHOD_HELP: &str = "use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS";

impl StepKind for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<HttpDoc>()
    }

    fn compile(&self, spec: &Node, _step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>> {
        let doc: HttpDoc = cx.spec(spec)?;
        let method = match &doc.method {
            None => Method::Fixed(reqwest::Method::GET),
            Some(text) => {
                let compiled = cx.text(text);
                match compiled.as_literal() {
                    Some(literal) => match method_of(literal) {
                        Some(method) => Method::Fixed(method),
                        None => {
                            cx.problem(
                                Diagnostic::new(format!("`{literal}` is not an HTTP method"))
                                    .label("not a method")
                                    .help(METHOD_HELP),
                                text.pos,
                            );
                            Method::Fixed(reqwest::Method::GET)
                        }
                    },
                    None => Method::Rendered(compiled),
                }
            }
        };
        let url = cx.text(&doc.url);
        let literal_url = cx.literal_url(&url).map(Box::new);
        let mut query = Vec::new();
        if let Some(node) = &doc.query {
            for entry in cx.entries(node, "query") {
                query.push((entry.key.clone(), cx.node(&entry.value)));
            }
        }
        let mut headers = Vec::new();
        for (name, value, name_pos) in cx.texts(doc.headers.as_ref(), "headers") {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                cx.problem(
                    Diagnostic::new(format!("`{name}` is not a valid header name"))
                        .label("not a header name")
                        .help("header names are letters, digits and `-` (templates are not allowed in names)"),
                    name_pos,
                );
                continue;
            }
            if let Some(literal) = value.as_literal()
                && reqwest::header::HeaderValue::from_str(literal).is_err()
            {
                cx.problem(
                    Diagnostic::new(format!(
                        "the value of header `{name}` holds a line break or a control character"
                    ))
                    .label("not a header value")
                    .help("header values are one line of text"),
                    value.pos,
                );
            }
            headers.push((name, value));
        }
        let given: Vec<&str> = [
            doc.json.as_ref().map(|_| "json"),
            doc.form.as_ref().map(|_| "form"),
            doc.multipart.as_ref().map(|_| "multipart"),
            doc.body.as_ref().map(|_| "body"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            cx.problem(
                Diagnostic::new(format!(
                    "a request has one body, this one has {}",
                    given
                        .iter()
                        .map(|g| format!("`{g}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ))
                .label("this request")
                .help("choose one of `json`, `form`, `multipart` or `body`"),
                doc.url.pos,
            );
        }
        let body = if let Some(json) = &doc.json {
            Some(BodySpec::Json(cx.node(json)))
        } else if doc.form.is_some() {
            let fields = cx.texts(doc.form.as_ref(), "form");
            Some(BodySpec::Form(
                fields.into_iter().map(|(k, t, _)| (k, t)).collect(),
            ))
        } else if let Some(multipart) = &doc.multipart {
            files::compile_multipart(multipart, cx).map(BodySpec::Files)
        } else {
            match doc.body.as_ref().map(|b| (b, &b.kind)) {
                None => None,
                Some((b, NodeKind::Map(_))) => files::compile_file_body(b, cx).map(BodySpec::Files),
                Some((b, NodeKind::String(text))) => Some(BodySpec::Raw(cx.text_at(text, b.pos))),
                Some((b, _)) => {
                    cx.problem(
                        Diagnostic::new(format!("`body:` takes text or {{ file: ... }}, found {}", b.describe()))
                            .label("here")
                            .help("body: \"raw text\", or body: { file: video.mp4 }; for JSON use `json:`"),
                        b.pos,
                    );
                    None
                }
            }
        };
        let auth = match &doc.auth {
            None => None,
            Some(auth) => match (&auth.value.bearer, &auth.value.basic) {
                (Some(token), None) => Some(Auth::Bearer(cx.text(token))),
                (None, Some(basic)) => Some(Auth::Basic(
                    cx.text(&basic.username),
                    cx.text(&basic.password),
                )),
                _ => {
                    cx.problem(
                        Diagnostic::new("`auth:` needs exactly one of `bearer` or `basic`")
                            .label("this auth")
                            .help("auth: { bearer: <<ACCESS_TOKEN>> } or auth: { basic: { username: u, password: p } }"),
                        auth.pos,
                    );
                    None
                }
            },
        };
        let timeout = doc.timeout.as_ref().map(|t| cx.text(t));
        if let Some(timeout) = &timeout {
            cx.check_duration(timeout);
        }
        let paginate = doc.paginate.as_ref().map(|p| Paginate {
            param: p.value.param.clone(),
            more: p.value.more.clone(),
            list: p.value.list.clone(),
            max_pages: p.value.max_pages.unwrap_or(DEFAULT_MAX_PAGES).max(1),
            pos: p.pos,
        });
        if let Some(p) = &paginate
            && (p.param.is_none() || p.more.is_none() || p.list.is_none())
            && let Some(literal) = url.as_literal()
            && crate::provider::for_text(literal).is_none()
        {
            cx.problem(
                Diagnostic::new("`paginate:` needs `param`, `more` and `list` for this API")
                    .label("paginate")
                    .help("dmflow knows the list envelope of its providers only (Dailymotion's: param: page, more: has_more, list: list)"),
                p.pos,
            );
        }
        Some(Box::new(HttpAction {
            method,
            url,
            literal_url,
            query,
            headers,
            body: body.map(Box::new),
            auth: auth.map(Box::new),
            timeout,
            follow_redirects: doc.follow_redirects.unwrap_or(true),
            paginate: paginate.map(Box::new),
            save_body_to: cx.opt_text(&doc.save_body_to),
        }))
    }
}

impl HttpAction {
    /// Renders the request.
    fn prepare(&self, cx: &StepCx<'_>) -> Result<Prepared, StepError> {
        let method = match &self.method {
            Method::Fixed(method) => method.clone(),
            Method::Rendered(text) => {
                let rendered = cx.render(text)?;
                method_of(&rendered).ok_or_else(|| {
                    StepError::invalid(
                        format!("`{}` is not an HTTP method", rendered.trim()),
                        Some(text.pos),
                        Some(METHOD_HELP),
                    )
                })?
            }
        };
        let mut url = match &self.literal_url {
            Some(url) => url.as_ref().clone(),
            None => parse_url(&cx.render(&self.url)?, self.url.pos)?,
        };
        if !self.query.is_empty() {
            let mut pairs = Vec::new();
            for (key, tree) in &self.query {
                match cx.render_tree(tree)? {
                    Value::Null => {}
                    Value::Array(items) => {
                        pairs.extend(items.iter().map(|v| (key.clone(), value_to_text(v))))
                    }
                    other => pairs.push((key.clone(), value_to_text(&other))),
                }
            }
            url.query_pairs_mut().extend_pairs(pairs);
        }
        let mut prepared = Prepared::new(method, url);
        for (name, text) in &self.headers {
            let value = cx.render(text)?;
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(StepError::invalid(
                    format!(
                        "the value of header `{name}` holds a line break or a control character"
                    ),
                    Some(text.pos),
                    Some("header values are one line of text"),
                ));
            }
            prepared.headers.push((name.clone(), value));
        }
        match self.auth.as_deref() {
            Some(Auth::Bearer(token)) => prepared.headers.push((
                "Authorization".into(),
                format!("Bearer {}", cx.render(token)?),
            )),
            Some(Auth::Basic(user, password)) => {
                let pair = format!("{}:{}", cx.render(user)?, cx.render(password)?);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                prepared
                    .headers
                    .push(("Authorization".into(), format!("Basic {encoded}")));
            }
            None => {}
        }
        prepared.body = match self.body.as_deref() {
            None => None,
            Some(BodySpec::Json(tree)) => Some(Body::json(&cx.render_tree(tree)?)),
            Some(BodySpec::Form(fields)) => {
                let mut rendered = Vec::with_capacity(fields.len());
                for (key, text) in fields {
                    rendered.push((key.clone(), cx.render(text)?));
                }
                Some(Body::form(&rendered))
            }
            Some(BodySpec::Raw(text)) => Some(Body::raw(cx.render(text)?)),
            Some(BodySpec::Files(files)) => Some(files.render(cx)?),
        };
        if let Some(path) = &self.save_body_to {
            prepared.save_to = Some(files::resolve(cx.flow_dir, &cx.render(path)?));
        }
        let large = prepared
            .body
            .as_ref()
            .is_some_and(|b| b.len() >= PROGRESS_FROM);
        if large || prepared.save_to.is_some() {
            prepared.transfer = Some(Default::default());
        }
        if let Some(timeout) = &self.timeout {
            prepared.timeout = crate::run::duration::parse_at(&cx.render(timeout)?, timeout.pos)?;
        }
        prepared.follow_redirects = self.follow_redirects;
        Ok(prepared)
    }
}

impl Action for HttpAction {
    fn preflight(&self, cx: &StepCx<'_>) -> Result<(), StepError> {
        crate::run::kind::preflight(self.prepare(cx))
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>> {
        Box::pin(async move {
            let prepared = self.prepare(cx)?;
            match &self.paginate {
                Some(paginate) => pages(prepared, paginate, cx).await,
                None => {
                    send_watched(cx, &prepared).await?;
                    Ok(ActionOutput::default())
                }
            }
        })
    }
}

/// Transfers from this size on show progress (on a terminal).
pub const PROGRESS_FROM: u64 = 4 * 1024 * 1024;

/// Sends through the hooks; a large transfer reports its progress while it runs.
async fn send_watched(
    cx: &mut StepCx<'_>,
    prepared: &Prepared,
) -> Result<std::sync::Arc<crate::run::exchange::Exchange>, StepError> {
    let Some(transfer) = prepared.transfer.clone() else {
        return cx.send(prepared).await;
    };
    let live = cx.live;
    let label = format!("{} {}", prepared.method, prepared.url.path());
    let send = cx.send(prepared);
    tokio::pin!(send);
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(100));
    let outcome = loop {
        tokio::select! {
            outcome = &mut send => break outcome,
            _ = ticker.tick() => {
                use std::sync::atomic::Ordering::Relaxed;
                let total = transfer.to_send.load(Relaxed) + transfer.to_receive.load(Relaxed);
                let done = transfer.sent() + transfer.received();
                if total >= PROGRESS_FROM || done >= PROGRESS_FROM {
                    live.progress(&label, done, (total > 0).then_some(total));
                }
            }
        }
    };
    live.progress_finished();
    outcome
}

/// Fetches page 1, 2, ... while the list envelope says there are more, up to `max_pages`;
/// checks and captures then see the last page with its list holding every page's items.
async fn pages(
    first: Prepared,
    spec: &Paginate,
    cx: &mut StepCx<'_>,
) -> Result<ActionOutput, StepError> {
    let provider: Option<&Profile> = crate::provider::for_url(&first.url);
    let pick = |own: &Option<String>, default: fn(&Profile) -> &'static str| {
        own.clone()
            .or_else(|| provider.map(|p| default(p).to_string()))
    };
    let (Some(param), Some(more), Some(list)) = (
        pick(&spec.param, |p| p.pagination.param),
        pick(&spec.more, |p| p.pagination.more),
        pick(&spec.list, |p| p.pagination.list),
    ) else {
        return Err(StepError::invalid(
            "`paginate:` needs `param`, `more` and `list` for this API",
            Some(spec.pos),
            Some("dmflow knows the list envelope of its providers only"),
        ));
    };
    let start: u64 = first
        .url
        .query_pairs()
        .find(|(k, _)| *k == param)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1);
    let others: Vec<(String, String)> = first
        .url
        .query_pairs()
        .filter(|(k, _)| *k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut output = ActionOutput::default();
    let mut items: Vec<Value> = Vec::new();
    let mut last: Option<Arc<Exchange>> = None;
    let mut request = first;
    for (fetched, page) in (start..start + u64::from(spec.max_pages)).enumerate() {
        request
            .url
            .query_pairs_mut()
            .clear()
            .extend_pairs(&others)
            .append_pair(&param, &page.to_string());
        let exchange = cx.send(&request).await?;
        let response = &exchange.response;
        let success = (200..300).contains(&response.status);
        let mut has_more = false;
        if let Some(Value::Object(object)) = response.json() {
            if let Some(Value::Array(page_items)) = object.get(&list) {
                items.extend(page_items.iter().cloned());
            }
            has_more = object.get(&more) == Some(&Value::Bool(true));
        }
        last = Some(exchange.clone());
        if !success || !has_more {
            break;
        }
        if fetched + 1 == spec.max_pages as usize {
            output.notes.push(format!(
                "stopped after {} pages (max_pages): more remain",
                spec.max_pages
            ));
        }
    }
    let mut response = last.map(|exchange| exchange.response.clone());
    if let Some(merged) = response.as_mut()
        && let Some(Value::Object(object)) = merged.json()
    {
        let mut object = object.clone();
        object.insert(list, Value::Array(items));
        merged.set_json(Value::Object(object));
    }
    output.response = response;
    Ok(output)
}
#[cfg(test)]
mod size {
    /// A flow of 10,000 requests holds 10,000 of these: rare parts (`body:`, `auth:`,
    /// `paginate:`) are boxed so that a plain GET does not pay for them.
    #[test]
    fn a_compiled_request_stays_small() {
        let size = std::mem::size_of::<super::HttpAction>();
        assert!(size <= 192, "HttpAction is {size} bytes");
    }
}
