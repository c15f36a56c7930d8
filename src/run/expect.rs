//! `expect:`: status, headers, JSONPath and body predicates, evaluated on a response.
//!
//! A failure names the expectation, what was expected and what came back; values pass through
//! the redactor before they reach a message.

use super::exchange::ResponseRecord;
use crate::diagnostic::Pos;
use crate::flow::node::{Node, pos_of};
use crate::flow::{Expect, Predicate};
use crate::secret::Redactor;
use crate::template::{TemplateError, Templates, Vars, value_to_text};
use serde_json::Value;

/// A failed expectation.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What was checked: `status`, `header content-type`, `json $.id`, `body`.
    pub subject: String,
    pub message: String,
    pub pos: Pos,
}

/// The statuses `status:` accepts: exact codes and `Nxx` classes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSet(Vec<StatusPattern>);

#[derive(Debug, Clone, PartialEq)]
enum StatusPattern {
    Exact(u16),
    Class(u16),
}

impl StatusSet {
    pub fn from_node(value: &Value) -> Result<StatusSet, String> {
        let one = |v: &Value| -> Result<StatusPattern, String> {
            match v {
                Value::Number(n) => n
                    .as_u64()
                    .filter(|c| (100..=599).contains(c))
                    .map(|c| StatusPattern::Exact(c as u16))
                    .ok_or_else(|| format!("{n} is not an HTTP status (100 to 599)")),
                Value::String(s) if s.contains("<<") => Ok(StatusPattern::Class(0)),
                Value::String(s) => {
                    let lower = s.trim().to_ascii_lowercase();
                    if let Ok(code) = lower.parse::<u16>() {
                        return one_exact(code);
                    }
                    match lower.as_bytes() {
                        [d @ b'1'..=b'5', b'x', b'x'] => {
                            Ok(StatusPattern::Class((d - b'0') as u16))
                        }
                        _ => Err(format!(
                            "`{s}` is not a status: write 200, a list like [200, 201], or a class like 2xx"
                        )),
                    }
                }
                other => Err(format!(
                    "{other} is not a status: write 200, [200, 201] or 2xx"
                )),
            }
        };
        fn one_exact(code: u16) -> Result<StatusPattern, String> {
            if (100..=599).contains(&code) {
                Ok(StatusPattern::Exact(code))
            } else {
                Err(format!("{code} is not an HTTP status (100 to 599)"))
            }
        }
        match value {
            Value::Array(items) if !items.is_empty() => {
                Ok(StatusSet(items.iter().map(one).collect::<Result<_, _>>()?))
            }
            Value::Array(_) => Err("the list of statuses is empty".into()),
            other => Ok(StatusSet(vec![one(other)?])),
        }
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|p| match p {
            StatusPattern::Exact(code) => *code == status,
            StatusPattern::Class(class) => status / 100 == *class,
        })
    }

    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| match p {
                StatusPattern::Exact(c) => c.to_string(),
                StatusPattern::Class(c) => format!("{c}xx"),
            })
            .collect();
        parts.join(" or ")
    }
}

/// What rendering an expected value needs.
pub struct Context<'a> {
    pub templates: &'a Templates,
    pub vars: &'a Vars,
    pub redactor: &'a Redactor,
}

type Rendered<T> = Result<T, (TemplateError, Pos)>;

/// Checks every expectation; returns the failures (empty when all hold).
pub fn check(expect: &Expect, response: &ResponseRecord, cx: &Context) -> Rendered<Vec<Failure>> {
    let mut failures = Vec::new();
    if let Some(status) = &expect.status {
        let rendered = status.render(cx.templates, cx.vars)?;
        match StatusSet::from_node(&rendered) {
            Ok(set) if set.contains(response.status) => {}
            Ok(set) => failures.push(Failure {
                subject: "status".into(),
                message: format!("expected {}, got {}", set.describe(), response.status),
                pos: status.pos(),
            }),
            Err(message) => failures.push(Failure {
                subject: "status".into(),
                message,
                pos: status.pos(),
            }),
        }
    }
    for (name, predicate) in &expect.headers {
        let actual = response.header(name).map(|v| Value::String(v.to_string()));
        let pos = pos_of(predicate);
        if let Some(message) = evaluate(&predicate.value, actual.as_ref(), pos, cx)? {
            failures.push(Failure {
                subject: format!("header {name}"),
                message,
                pos,
            });
        }
    }
    for (path, predicate) in &expect.json {
        let pos = pos_of(predicate);
        let subject = format!("json {path}");
        let Some(body) = &response.json else {
            failures.push(Failure {
                subject,
                message: format!(
                    "the response body is not JSON ({})",
                    describe_body(&response.body, cx.redactor)
                ),
                pos,
            });
            continue;
        };
        let actual = match query(path, body) {
            Ok(actual) => actual,
            Err(message) => {
                failures.push(Failure {
                    subject,
                    message,
                    pos,
                });
                continue;
            }
        };
        if let Some(message) = evaluate(&predicate.value, actual.as_ref(), pos, cx)? {
            failures.push(Failure {
                subject,
                message,
                pos,
            });
        }
    }
    if let Some(predicate) = &expect.body {
        let pos = pos_of(predicate);
        let actual = Value::String(response.body.clone());
        if let Some(message) = evaluate(&predicate.value, Some(&actual), pos, cx)? {
            failures.push(Failure {
                subject: "body".into(),
                message,
                pos,
            });
        }
    }
    Ok(failures)
}

/// Runs a JSONPath: no match gives `None`, one match the value, several a list.
pub fn query(path: &str, body: &Value) -> Result<Option<Value>, String> {
    let compiled = serde_json_path::JsonPath::parse(path)
        .map_err(|e| format!("invalid JSONPath `{path}`: {e}"))?;
    let nodes = compiled.query(body).all();
    Ok(match nodes.len() {
        0 => None,
        1 => Some(nodes[0].clone()),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
    })
}

fn describe_body(body: &str, redactor: &Redactor) -> String {
    if body.is_empty() {
        return "it is empty".into();
    }
    let masked = redactor.mask(body);
    format!("it starts with {}", show_text(&masked))
}

/// A value shown in a message: JSON form, cut at 120 characters.
pub fn show(value: &Value, redactor: &Redactor) -> String {
    show_text(&redactor.mask(&value.to_string()))
}

fn show_text(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

fn render(node: &Node, fallback: Pos, cx: &Context) -> Rendered<Value> {
    node.render(cx.templates, cx.vars)
        .map_err(|(e, pos)| (e, if pos.line == 0 { fallback } else { pos }))
}

/// Evaluates a predicate; `Some(message)` when it does not hold.
fn evaluate(
    p: &Predicate,
    actual: Option<&Value>,
    pos: Pos,
    cx: &Context,
) -> Rendered<Option<String>> {
    let shown = |v: &Value| show(v, cx.redactor);
    if let Some(expected) = p.exists {
        match (expected, actual) {
            (true, None) => return Ok(Some("expected it to exist, but it is missing".into())),
            (false, Some(v)) => {
                return Ok(Some(format!("expected it to be absent, got {}", shown(v))));
            }
            _ => {}
        }
    }
    let needs_value = p.equals.is_some()
        || p.matches.is_some()
        || p.contains.is_some()
        || p.type_.is_some()
        || p.lt.is_some()
        || p.le.is_some()
        || p.gt.is_some()
        || p.ge.is_some();
    let Some(actual) = actual else {
        if needs_value {
            return Ok(Some("expected a value, but it is missing".into()));
        }
        return match &p.not {
            Some(not) => Ok(evaluate(not, None, pos, cx)?
                .is_none()
                .then(|| "expected the negated check to fail, but it holds".into())),
            None => Ok(None),
        };
    };
    if let Some(node) = &p.equals {
        let expected = render(node, pos, cx)?;
        if !loosely_equal(actual, &expected) {
            return Ok(Some(format!(
                "expected {}, got {}",
                shown(&expected),
                shown(actual)
            )));
        }
    }
    if let Some(pattern) = &p.matches {
        let pattern_text = cx
            .templates
            .render(&pattern.value, cx.vars)
            .map_err(|e| (e, pos_of(pattern)))?;
        let regex = match regex::Regex::new(&pattern_text) {
            Ok(r) => r,
            Err(e) => return Ok(Some(format!("invalid regex: {e}"))),
        };
        let text = value_to_text(actual);
        if !regex.is_match(&text) {
            return Ok(Some(format!(
                "expected a match for /{pattern_text}/, got {}",
                shown(actual)
            )));
        }
    }
    if let Some(node) = &p.contains {
        let needle = render(node, pos, cx)?;
        let holds = match actual {
            Value::Array(items) => items.iter().any(|i| loosely_equal(i, &needle)),
            Value::String(s) => s.contains(&value_to_text(&needle)),
            Value::Object(map) => map.contains_key(&value_to_text(&needle)),
            _ => false,
        };
        if !holds {
            return Ok(Some(format!(
                "expected it to contain {}, got {}",
                shown(&needle),
                shown(actual)
            )));
        }
    }
    if let Some(type_name) = &p.type_ {
        let found = type_of(actual);
        let holds = found == type_name.value || (type_name.value == "number" && found == "integer");
        if !holds {
            return Ok(Some(format!(
                "expected a value of type {}, got {found} {}",
                type_name.value,
                shown(actual)
            )));
        }
    }
    for (node, op, accept) in [
        (&p.lt, "<", [true, false, false]),
        (&p.le, "<=", [true, true, false]),
        (&p.gt, ">", [false, false, true]),
        (&p.ge, ">=", [false, true, true]),
    ] {
        let Some(node) = node else { continue };
        let bound = render(node, pos, cx)?;
        let ordering = compare(actual, &bound);
        let holds = match ordering {
            Some(std::cmp::Ordering::Less) => accept[0],
            Some(std::cmp::Ordering::Equal) => accept[1],
            Some(std::cmp::Ordering::Greater) => accept[2],
            None => {
                return Ok(Some(format!(
                    "cannot compare {} {op} {}: both must be numbers or both strings",
                    shown(actual),
                    shown(&bound)
                )));
            }
        };
        if !holds {
            return Ok(Some(format!(
                "expected a value {op} {}, got {}",
                shown(&bound),
                shown(actual)
            )));
        }
    }
    if let Some(not) = &p.not
        && evaluate(not, Some(actual), pos, cx)?.is_none()
    {
        return Ok(Some(format!(
            "expected the negated check to fail, but it holds for {}",
            shown(actual)
        )));
    }
    Ok(None)
}

/// JSON equality where numbers compare by value and a string compares with a scalar's text.
pub fn loosely_equal(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
        (Value::String(a), Value::Number(n)) => a
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(x, y)| x == y),
        (Value::String(a), Value::Bool(b)) => a == if *b { "true" } else { "false" },
        _ => actual == expected,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::String(x), Value::Number(y)) => x.parse::<f64>().ok()?.partial_cmp(&y.as_f64()?),
        _ => None,
    }
}

pub fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Source;
    use crate::template::EnvLookup;
    use serde_json::json;

    fn expect_of(yaml: &str) -> Expect {
        let text = format!("steps:\n  - http: {{url: x}}\n    expect:\n{yaml}");
        let flow = crate::flow::parse_source(&Source::new("t", text)).unwrap();
        flow.steps.into_iter().next().unwrap().expect
    }

    fn run(yaml: &str, status: u16, body: Value) -> Vec<String> {
        let expect = expect_of(yaml);
        let redactor = Redactor::new(false);
        let templates = Templates::new(EnvLookup::default(), redactor.clone());
        let vars: Vars = serde_json::from_value(json!({"ID": "x1", "N": 2})).unwrap();
        let cx = Context {
            templates: &templates,
            vars: &vars,
            redactor: &redactor,
        };
        let response = ResponseRecord::from_parts(
            status,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string(),
            Default::default(),
        );
        check(&expect, &response, &cx)
            .unwrap()
            .into_iter()
            .map(|f| format!("{}: {}", f.subject, f.message))
            .collect()
    }

    #[test]
    fn status_sets() {
        assert!(StatusSet::from_node(&json!(200)).unwrap().contains(200));
        assert!(
            StatusSet::from_node(&json!([200, 201]))
                .unwrap()
                .contains(201)
        );
        assert!(StatusSet::from_node(&json!("2xx")).unwrap().contains(204));
        assert!(!StatusSet::from_node(&json!("2xx")).unwrap().contains(301));
        assert!(StatusSet::from_node(&json!(999)).is_err());
        assert!(StatusSet::from_node(&json!("ok")).is_err());
    }

    #[test]
    fn passing_checks_report_nothing() {
        let body = json!({"id": "x1", "n": 2, "tags": ["a", "b"], "name": "Alice"});
        let yaml = "      status: 200\n      headers:\n        content-type: { matches: json }\n      json:\n        $.id: <<ID>>\n        $.n: { equals: <<N>>, type: integer, gt: 1, le: 2 }\n        $.tags: { contains: b, type: array }\n        $.name: { not: { equals: Bob } }\n        $.missing: { exists: false }\n      body: { contains: Alice }\n";
        assert_eq!(run(yaml, 200, body), Vec::<String>::new());
    }

    #[test]
    fn each_failure_names_what_and_actual() {
        let body = json!({"id": "x2", "n": 5, "tags": []});
        let yaml = "      status: [200, 201]\n      json:\n        $.id: <<ID>>\n        $.n: { lt: 3 }\n        $.tags: { contains: b }\n        $.gone: { exists: true }\n        $['id']: { not: { matches: '^x' } }\n";
        let failures = run(yaml, 404, body);
        assert_eq!(failures[0], "status: expected 200 or 201, got 404");
        assert!(
            failures.contains(&r#"json $.n: expected a value < 3, got 5"#.to_string()),
            "{failures:?}"
        );
        assert!(
            failures.contains(&r#"json $.tags: expected it to contain "b", got []"#.to_string()),
            "{failures:?}"
        );
        assert!(
            failures.contains(&"json $.gone: expected it to exist, but it is missing".to_string()),
            "{failures:?}"
        );
        assert!(
            failures
                .iter()
                .any(|f| f.starts_with("json $['id']: expected the negated check to fail")),
            "{failures:?}"
        );
    }
}
