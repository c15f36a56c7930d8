//! The transcript of a flow run: what snapshot tests compare. Each step's request line,
//! relevant headers, status, response body and saved values, with secrets masked and volatile
//! values (ports, dates, state, PKCE challenges, uuids, expiry instants) redacted, so the same
//! flow against the same server gives the same text.

pub use crate::flow::redact::Rule;
use crate::run::exchange::Exchange;
use crate::run::result::{FlowResult, StepResult};
use crate::secret::Redactor;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// Response headers worth keeping in a transcript (the rest change or say little).
const KEPT_HEADERS: &[&str] = &[
    "content-type",
    "location",
    "www-authenticate",
    "cache-control",
];
/// Request headers worth keeping.
const KEPT_REQUEST_HEADERS: &[&str] = &["content-type", "authorization", "accept"];
/// Query and form parameters whose values change on every run.
const VOLATILE_PARAMS: &[&str] = &["state", "code_challenge", "nonce"];
/// Saved values and JSON fields that are instants.
const VOLATILE_FIELDS: &[&str] = &[
    crate::tokens::names::EXPIRES_AT,
    "expires_at",
    "date",
    "updated_at",
    "obtained_at",
];

static PORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(127\.0\.0\.1|localhost|\[::1\]):\d+").expect("valid regex"));
static PORT_ENCODED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(127\.0\.0\.1|localhost)%3A\d+").expect("valid regex"));
static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
        .expect("valid regex")
});
static ISO_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\b")
        .expect("valid regex")
});

/// Builds the transcript of one flow's run.
pub fn transcript(result: &FlowResult, redactor: &Redactor, rules: &[Rule]) -> String {
    let mut out = format!("flow: {}\n", result.name);
    if let Some(error) = &result.setup_error {
        out.push_str(&format!("error: {}\n", error.message()));
    }
    for step in &result.steps {
        out.push_str(&step_text(step, rules));
    }
    for name in &result.skipped {
        out.push_str(&format!("\n== {name}\nskipped\n"));
    }
    if !result.outputs.is_empty() {
        out.push_str("\noutputs:\n");
        out.push_str(&values_text(&result.outputs, rules));
    }
    let mut text = redactor.mask(&out);
    text = PORT.replace_all(&text, "$1:[port]").into_owned();
    text = PORT_ENCODED.replace_all(&text, "$1%3A[port]").into_owned();
    text = UUID.replace_all(&text, "[uuid]").into_owned();
    text = ISO_TIME.replace_all(&text, "[timestamp]").into_owned();
    for rule in rules {
        if let Rule::Text(regex, replacement) = rule {
            text = regex.replace_all(&text, replacement.as_str()).into_owned();
        }
    }
    text
}

fn step_text(step: &StepResult, rules: &[Rule]) -> String {
    step_text_in(step, rules, "")
}

/// A step's section; a sub-flow's steps follow with the step's name as their prefix, a loop's
/// items each get their own section.
fn step_text_in(step: &StepResult, rules: &[Rule], prefix: &str) -> String {
    let name = format!("{prefix}{}", step.name);
    if !step.iterations.is_empty() {
        let mut out = String::new();
        for item in &step.iterations {
            out.push_str(&step_text_in(item, rules, prefix));
        }
        if !step.saved.is_empty() {
            out.push_str(&format!("\n== {name} ({}, collected)\nsaved:\n", step.kind));
            out.push_str(&values_text(&step.saved, rules));
        }
        return out;
    }
    let mut out = String::new();
    if let Some(inner) = &step.flow {
        out.push_str(&format!("\n== {name} (flow {})\n", inner.name));
        if let Some(error) = &inner.setup_error {
            out.push_str(&format!("error: {}\n", error.message()));
        }
        for inner_step in &inner.steps {
            out.push_str(&step_text_in(inner_step, rules, &format!("{name} / ")));
        }
        for skipped in &inner.skipped {
            out.push_str(&format!("\n== {name} / {skipped}\nskipped\n"));
        }
        out.push_str(&format!("\n== {name} (flow {}, outputs)\n", inner.name));
    } else {
        out.push_str(&format!("\n== {name} ({})\n", step.kind));
    }
    if let Some(reason) = &step.skipped {
        out.push_str(&format!("skipped: {reason}\n"));
    }
    // A retried step shows every attempt; the last one's saved values follow.
    let total = step.attempts.len() + 1;
    for (number, attempt) in step.attempts.iter().enumerate() {
        out.push_str(&format!("-- attempt {} of {total}\n", number + 1));
        for exchange in &attempt.exchanges {
            out.push_str(&exchange_text(exchange, rules));
        }
        for failure in &attempt.failures {
            out.push_str(&format!(
                "failed {}: {}\n",
                failure.subject, failure.message
            ));
        }
        if let Some(error) = &attempt.error {
            out.push_str(&format!("error: {}\n", error.message()));
        }
    }
    if total > 1 {
        out.push_str(&format!("-- attempt {total} of {total}\n"));
    }
    for exchange in &step.exchanges {
        out.push_str(&exchange_text(exchange, rules));
    }
    for failure in &step.failures {
        out.push_str(&format!(
            "failed {}: {}\n",
            failure.subject, failure.message
        ));
    }
    if let Some(error) = &step.error {
        out.push_str(&format!("error: {}\n", error.message()));
    }
    for note in &step.notes {
        out.push_str(&format!("note: {}\n", redact_url_params(note)));
    }
    if !step.saved.is_empty() {
        out.push_str("saved:\n");
        out.push_str(&values_text(&step.saved, rules));
    }
    out
}

fn exchange_text(exchange: &Exchange, rules: &[Rule]) -> String {
    let request = &exchange.request;
    let mut out = format!("> {} {}\n", request.method, redact_url_params(&request.url));
    for (name, value) in &request.headers {
        if KEPT_REQUEST_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            let value = if name.eq_ignore_ascii_case("authorization") {
                value
                    .split_once(' ')
                    .map(|(scheme, _)| format!("{scheme} [secret]"))
                    .unwrap_or_else(|| "[secret]".into())
            } else {
                value.clone()
            };
            out.push_str(&format!("> {}: {value}\n", name.to_ascii_lowercase()));
        }
    }
    if let Some(body) = request.body_text() {
        out.push_str(&format!("> {}\n", redact_form(&body)));
    }
    let response = &exchange.response;
    out.push_str(&format!("< {}\n", response.status));
    let mut headers: Vec<_> = response
        .headers
        .iter()
        .filter(|(k, _)| KEPT_HEADERS.contains(&k.to_ascii_lowercase().as_str()))
        .collect();
    headers.sort();
    for (name, value) in headers {
        out.push_str(&format!(
            "< {}: {}\n",
            name.to_ascii_lowercase(),
            redact_url_params(value)
        ));
    }
    if let Some((path, size)) = &response.saved_to {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        out.push_str(&format!("< [body saved to {name}, {size} bytes]\n"));
    }
    match response.json() {
        Some(json) => {
            let json = redact_json(json, rules);
            out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default());
            out.push('\n');
        }
        None if response.body.is_empty() => {}
        None => {
            out.push_str(response.body.trim_end());
            out.push('\n');
        }
    }
    out
}

fn values_text(values: &indexmap::IndexMap<String, Value>, rules: &[Rule]) -> String {
    let object = Value::Object(values.clone().into_iter().collect());
    let object = redact_json(&object, rules);
    let mut out = String::new();
    if let Value::Object(map) = object {
        for (name, value) in map {
            let shown = match &value {
                Value::String(s) => redact_url_params(s),
                other => other.to_string(),
            };
            out.push_str(&format!("  {name} = {shown}\n"));
        }
    }
    out
}

/// Volatile fields of JSON (instants) and the flow's JSONPath rules.
fn redact_json(value: &Value, rules: &[Rule]) -> Value {
    let mut value = blank_fields(value);
    for rule in rules {
        if let Rule::Json(path, replacement) = rule {
            let locations: Vec<String> = path
                .query_located(&value)
                .all()
                .into_iter()
                .map(|node| node.location().to_json_pointer())
                .collect();
            for pointer in locations {
                if let Some(slot) = value.pointer_mut(&pointer) {
                    *slot = Value::String(replacement.clone());
                }
            }
        }
    }
    value
}

fn blank_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    if VOLATILE_FIELDS.contains(&k.as_str()) && !v.is_null() {
                        (k.clone(), Value::String("[timestamp]".into()))
                    } else {
                        (k.clone(), blank_fields(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(blank_fields).collect()),
        other => other.clone(),
    }
}

/// Replaces volatile query parameter values in a URL (`state=[redacted]`).
fn redact_url_params(text: &str) -> String {
    let mut out = text.to_string();
    for param in VOLATILE_PARAMS {
        let re = Regex::new(&format!(r"([?&]{param}=)[^&\s]*")).expect("valid regex");
        out = re.replace_all(&out, "${1}[redacted]").into_owned();
    }
    out
}

/// The same for a form body.
fn redact_form(body: &str) -> String {
    let mut out = body.to_string();
    for param in VOLATILE_PARAMS {
        let re = Regex::new(&format!(r"(^|&)({param}=)[^&\s]*")).expect("valid regex");
        out = re.replace_all(&out, "${1}${2}[redacted]").into_owned();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_parameters_are_redacted() {
        assert_eq!(
            redact_url_params("http://x/a?response_type=code&state=abc&code_challenge=xyz&scope=a"),
            "http://x/a?response_type=code&state=[redacted]&code_challenge=[redacted]&scope=a"
        );
        assert_eq!(redact_form("state=1&code=2"), "state=[redacted]&code=2");
    }

    #[test]
    fn json_rules_and_instants() {
        let rules = vec![Rule::Json(
            serde_json_path::JsonPath::parse("$.list[*].views").unwrap(),
            "[views]".into(),
        )];
        let value = serde_json::json!({"expires_at": 5, "list": [{"views": 1}, {"views": 2}]});
        assert_eq!(
            redact_json(&value, &rules),
            serde_json::json!({"expires_at": "[timestamp]", "list": [{"views": "[views]"}, {"views": "[views]"}]})
        );
    }
}
