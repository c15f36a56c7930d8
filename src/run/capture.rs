//! `save:`: values taken from a response into variables for later steps, compiled when the
//! flow is loaded (JSONPaths and regexes checked then). Values keep their JSON type (a number
//! stays a number).

use super::compile::CompileCx;
use super::exchange::ResponseRecord;
use super::expect::jsonpath_help;
use crate::diagnostic::{Diagnostic, Pos};
use crate::yaml::{Entry, NodeKind};
use serde_json::Value;
use serde_json_path::JsonPath;

/// The keys of a `save:` entry written as a mapping.
pub const CAPTURE_FIELDS: &[&str] = &["json", "header", "regex", "status", "body", "secret"];

/// Where a saved value comes from.
#[derive(Debug)]
pub enum From {
    /// JSONPath into the JSON body; one match gives the value, several give a list.
    Json(String, std::sync::Arc<JsonPath>),
    Header(String),
    /// First capture group (or the whole match) of a regex on the body text.
    Regex(regex::Regex),
    Status,
    Body,
}

/// One `save:` entry.
#[derive(Debug)]
pub struct Capture {
    pub name: String,
    pub from: From,
    pub secret: bool,
    pub pos: Pos,
}

/// Compiles one `save:` entry: `$.id`, `status`, `body`, or
/// `{ json|header|regex: ..., secret: true }`.
pub fn compile(entry: &Entry, cx: &mut CompileCx<'_>) -> Option<Capture> {
    let name = &entry.key;
    if !cx.variable_name(name, "save:", entry.key_pos) {
        return None;
    }
    let value = &entry.value;
    let mut secret = false;
    let mut sources: Vec<(&str, &crate::yaml::Node)> = Vec::new();
    match &value.kind {
        NodeKind::String(_) => sources.push(("", value)),
        NodeKind::Map(fields) => {
            for field in fields {
                match field.key.as_str() {
                    "secret" => secret = matches!(field.value.kind, NodeKind::Bool(true)),
                    "json" | "header" | "regex" => sources.push((field.key.as_str(), &field.value)),
                    "status" | "body" => {
                        if matches!(field.value.kind, NodeKind::Bool(true)) {
                            sources.push((field.key.as_str(), &field.value));
                        }
                    }
                    _ => cx.de_problem(crate::yaml::de::unknown_field(field, CAPTURE_FIELDS)),
                }
            }
        }
        _ => {}
    }
    let problem = |cx: &mut CompileCx<'_>, message: String, help: &str, pos: Pos| {
        cx.problem(
            Diagnostic::new(message)
                .label(format!("saving `{name}`"))
                .help(help),
            pos,
        );
        None
    };
    let (kind, node) = match sources.as_slice() {
        [one] => *one,
        [] => {
            return problem(
                cx,
                format!("cannot save `{name}` from {}", value.describe()),
                "write a JSONPath starting with `$` (like `$.id`), `status`, `body`, or a map such as { header: Location }",
                value.pos,
            );
        }
        _ => {
            return problem(
                cx,
                format!("`{name}` is saved from several places"),
                "save from one place only: json, header, regex, status or body",
                value.pos,
            );
        }
    };
    let text = node.as_str().map(str::to_string).unwrap_or_default();
    let from = match kind {
        "" if text.starts_with('$') => json(name, &text, node.pos, cx)?,
        "" if text == "status" => From::Status,
        "" if text == "body" => From::Body,
        "" => {
            return problem(
                cx,
                format!("cannot save `{name}` from `{text}`"),
                "write a JSONPath starting with `$` (like `$.id`), `status`, `body`, or a map such as { header: Location }",
                node.pos,
            );
        }
        "json" => json(name, &text, node.pos, cx)?,
        "header" => From::Header(text),
        "regex" => match regex::Regex::new(&text) {
            Ok(regex) => From::Regex(regex),
            Err(e) => return problem(cx, format!("invalid regex: {e}"), "", node.pos),
        },
        "status" => From::Status,
        _ => From::Body,
    };
    Some(Capture {
        name: name.clone(),
        from,
        secret,
        pos: value.pos,
    })
}

fn json(name: &str, path: &str, pos: Pos, cx: &mut CompileCx<'_>) -> Option<From> {
    match super::expect::json_path(path) {
        Ok(compiled) => Some(From::Json(path.to_string(), compiled)),
        Err(e) => {
            cx.problem(
                Diagnostic::new(format!("invalid JSONPath `{path}`: {e}"))
                    .label(format!("saving `{name}`"))
                    .help(jsonpath_help(path)),
                pos,
            );
            None
        }
    }
}

impl Capture {
    /// [`Capture::extract`] as a run reports it: the error masked like every failure message
    /// (the path or regex a flow writes may hold a secret's value).
    pub fn extract_masked(
        &self,
        response: &ResponseRecord,
        redactor: &crate::secret::Redactor,
    ) -> Result<Value, String> {
        self.extract(response)
            .map_err(|message| redactor.mask(&message))
    }

    /// Extracts the value; the error says what was missing.
    pub fn extract(&self, response: &ResponseRecord) -> Result<Value, String> {
        match &self.from {
            From::Status => Ok(Value::from(response.status)),
            From::Body => Ok(response
                .json()
                .cloned()
                .unwrap_or_else(|| Value::String(response.body.clone()))),
            From::Header(name) => response
                .header(name)
                .map(|v| Value::String(v.to_string()))
                .ok_or_else(|| format!("the response has no `{name}` header")),
            From::Json(text, path) => response
                .select(text, path)
                .map_err(|_| {
                    let why = response.json_problem().map(|w| format!(": {w}"));
                    format!(
                        "cannot read {text}: the response body is not JSON{}",
                        why.unwrap_or_default()
                    )
                })?
                .ok_or_else(|| format!("{text} matched nothing in the response")),
            From::Regex(regex) => {
                let caps = regex.captures(&response.body).ok_or_else(|| {
                    format!("/{}/ does not match the response body", regex.as_str())
                })?;
                let found = caps
                    .get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str())
                    .unwrap_or_default();
                Ok(Value::String(found.to_string()))
            }
        }
    }
}
