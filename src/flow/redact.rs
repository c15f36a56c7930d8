//! A flow's `redact:` rules for snapshot transcripts: JSONPaths blanked in JSON bodies and
//! saved values, regexes replaced anywhere in the text.

use crate::diagnostic::Diagnostic;
use crate::run::compile::CompileCx;
use crate::yaml::Node;
use regex::Regex;
use serde::Deserialize;

/// A compiled redaction.
#[derive(Debug, Clone)]
pub enum Rule {
    /// Replace every match of this JSONPath in JSON bodies and saved values.
    Json(serde_json_path::JsonPath, String),
    /// Replace every match of this regex in the transcript text.
    Text(Regex, String),
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Redaction")]
pub struct RuleDoc {
    json: Option<String>,
    regex: Option<String>,
    /// The replacement (default `[redacted]`).
    with: Option<String>,
}

/// Compiles one `redact:` entry.
pub fn compile(node: &Node, cx: &mut CompileCx<'_>) -> Option<Rule> {
    let doc: RuleDoc = cx.spec(node)?;
    let with = doc.with.unwrap_or_else(|| "[redacted]".into());
    let result = match (&doc.json, &doc.regex) {
        (Some(path), None) => serde_json_path::JsonPath::parse(path)
            .map(|p| Rule::Json(p, with))
            .map_err(|e| format!("invalid JSONPath `{path}` in redact: {e}")),
        (None, Some(pattern)) => Regex::new(pattern)
            .map(|r| Rule::Text(r, with))
            .map_err(|e| format!("invalid regex in redact: {e}")),
        _ => Err("a redact rule has exactly one of `json:` or `regex:`".into()),
    };
    match result {
        Ok(rule) => Some(rule),
        Err(message) => {
            cx.problem(Diagnostic::new(message).label("this redaction"), node.pos);
            None
        }
    }
}
