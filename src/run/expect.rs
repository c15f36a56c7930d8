//! `expect:`: status, headers, JSONPath and body predicates, compiled when the flow is loaded
//! (statuses, regexes, JSONPaths and type names checked then) and evaluated on a response.
//!
//! A failure names the expectation, what was expected and what came back; values pass through
//! the redactor before they reach a message.

use super::compile::CompileCx;
use super::exchange::ResponseRecord;
use super::result::Failure;
use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::memo::Memo;
use crate::secret::Redactor;
use crate::template::{Context, TemplateError, value_to_text};
use crate::yaml::{Node, NodeKind};
use serde_json::Value;
use serde_json_path::JsonPath;
use std::sync::Arc;

/// The JSON types `type:` accepts.
pub const TYPE_NAMES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// The keys of `expect:`.
pub const EXPECT_FIELDS: &[&str] = &["status", "headers", "json", "body"];

/// The predicate operators, as written in YAML.
pub const PREDICATE_OPS: &[&str] = &[
    "equals", "exists", "matches", "contains", "type", "lt", "le", "gt", "ge", "not",
];

/// The statuses `status:` accepts: exact codes and `Nxx` classes.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSet(Vec<StatusPattern>);

#[derive(Debug, Clone, PartialEq)]
enum StatusPattern {
    Exact(u16),
    Class(u16),
}

impl StatusSet {
    pub fn from_value(value: &Value) -> Result<StatusSet, String> {
        fn exact(code: u64) -> Result<StatusPattern, String> {
            if (100..=599).contains(&code) {
                Ok(StatusPattern::Exact(code as u16))
            } else {
                Err(format!("{code} is not an HTTP status (100 to 599)"))
            }
        }
        let one = |v: &Value| -> Result<StatusPattern, String> {
            match v {
                Value::Number(n) => n
                    .as_u64()
                    .ok_or_else(|| format!("{n} is not an HTTP status (100 to 599)"))
                    .and_then(exact),
                Value::String(s) => {
                    let lower = s.trim().to_ascii_lowercase();
                    if let Ok(code) = lower.parse::<u64>() {
                        return exact(code);
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

/// `status:` as compiled: known now, or a template rendered at run time.
#[derive(Debug)]
enum Status {
    Fixed(StatusSet),
    Rendered(ValueTree),
}

/// A regex known now, or a template rendered at run time.
#[derive(Debug)]
enum Pattern {
    Fixed(regex::Regex),
    Rendered(Text),
}

/// A check on one value. Several operators must all hold.
#[derive(Debug, Default)]
pub struct Predicate {
    equals: Option<ValueTree>,
    exists: Option<bool>,
    matches: Option<Pattern>,
    contains: Option<ValueTree>,
    type_: Option<&'static str>,
    bounds: Vec<(Bound, ValueTree)>,
    not: Option<Box<Predicate>>,
    pos: Pos,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Bound {
    fn op(self) -> &'static str {
        match self {
            Bound::Lt => "<",
            Bound::Le => "<=",
            Bound::Gt => ">",
            Bound::Ge => ">=",
        }
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        matches!(
            (self, ordering),
            (Bound::Lt, Less)
                | (Bound::Le, Less | Equal)
                | (Bound::Gt, Greater)
                | (Bound::Ge, Greater | Equal)
        )
    }
}

/// What the response must look like.
#[derive(Debug, Default)]
pub struct Expect {
    status: Option<(Status, Pos)>,
    headers: Vec<(String, Predicate)>,
    json: Vec<(String, Arc<JsonPath>, Predicate)>,
    body: Option<Box<Predicate>>,
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.headers.is_empty()
            && self.json.is_empty()
            && self.body.is_none()
    }

    /// Whether `status:` is given.
    pub fn has_status(&self) -> bool {
        self.status.is_some()
    }
}

/// Parses a JSONPath once per process (flows repeat theirs).
pub fn json_path(text: &str) -> Result<Arc<JsonPath>, String> {
    static PATHS: Memo<Result<Arc<JsonPath>, String>> = Memo::new();
    PATHS.get_or(text, || {
        JsonPath::parse(text)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
}

/// The help for a JSONPath that does not parse.
pub fn jsonpath_help(path: &str) -> &'static str {
    if path.trim_start().starts_with('$') {
        "check the brackets, quotes and dots: `$.list[0].title`, `$['content-type']`, `$.list[*].id`"
    } else {
        "JSONPath (RFC 9535) starts with `$`, like `$.id` or `$.list[0].title`"
    }
}

/// Compiles `expect:`.
pub fn compile(node: &Node, cx: &mut CompileCx<'_>) -> Expect {
    let mut expect = Expect::default();
    for entry in cx.entries(node, "expect") {
        let value = &entry.value;
        match entry.key.as_str() {
            "status" => {
                let tree = cx.node(value);
                let status = match tree.as_const() {
                    Some(fixed) => match StatusSet::from_value(fixed) {
                        Ok(set) => Status::Fixed(set),
                        Err(message) => {
                            cx.problem(Diagnostic::new(message).label("not a status"), value.pos);
                            continue;
                        }
                    },
                    None => Status::Rendered(tree),
                };
                expect.status = Some((status, value.pos));
            }
            "headers" => {
                for header in cx.entries(value, "headers") {
                    let predicate = predicate(&header.value, cx);
                    expect.headers.push((header.key.clone(), predicate));
                }
            }
            "json" => {
                for check in cx.entries(value, "json") {
                    let predicate = predicate(&check.value, cx);
                    match json_path(&check.key) {
                        Ok(path) => expect.json.push((check.key.clone(), path, predicate)),
                        Err(e) => cx.problem(
                            Diagnostic::new(format!("invalid JSONPath `{}`: {e}", check.key))
                                .label("the check of this path")
                                .help(jsonpath_help(&check.key)),
                            check.key_pos,
                        ),
                    }
                }
            }
            "body" => expect.body = Some(Box::new(predicate(value, cx))),
            _ => cx.de_problem(crate::yaml::de::unknown_field(entry, EXPECT_FIELDS)),
        }
    }
    // Kept for the whole run, once per step: no growth slack (a predicate is ~250 bytes).
    expect.headers.shrink_to_fit();
    expect.json.shrink_to_fit();
    expect
}

/// Compiles a predicate: a bare value means `equals`; a mapping lists operators.
fn predicate(node: &Node, cx: &mut CompileCx<'_>) -> Predicate {
    let mut p = Predicate {
        pos: node.pos,
        ..Predicate::default()
    };
    let NodeKind::Map(entries) = &node.kind else {
        p.equals = Some(cx.node(node));
        return p;
    };
    for entry in entries {
        let value = &entry.value;
        match entry.key.as_str() {
            "equals" => p.equals = Some(cx.node(value)),
            "contains" => p.contains = Some(cx.node(value)),
            "lt" => p.bounds.push((Bound::Lt, cx.node(value))),
            "le" => p.bounds.push((Bound::Le, cx.node(value))),
            "gt" => p.bounds.push((Bound::Gt, cx.node(value))),
            "ge" => p.bounds.push((Bound::Ge, cx.node(value))),
            "not" => p.not = Some(Box::new(predicate(value, cx))),
            "exists" => match value.kind {
                NodeKind::Bool(b) => p.exists = Some(b),
                _ => cx.problem(
                    Diagnostic::new(format!(
                        "`exists:` takes true or false, found {}",
                        value.describe()
                    ))
                    .label("expected true or false"),
                    value.pos,
                ),
            },
            "matches" => match value.as_str() {
                Some(text) => {
                    let compiled = cx.text_at(text, value.pos);
                    p.matches = match compiled.as_literal() {
                        Some(literal) => match regex::Regex::new(literal) {
                            Ok(regex) => Some(Pattern::Fixed(regex)),
                            Err(e) => {
                                cx.problem(
                                    Diagnostic::new(format!("invalid regex: {e}")).label("here"),
                                    value.pos,
                                );
                                None
                            }
                        },
                        None => Some(Pattern::Rendered(compiled)),
                    }
                }
                None => cx.problem(
                    Diagnostic::new(format!(
                        "`matches:` takes a regex, found {}",
                        value.describe()
                    ))
                    .label("expected a regex"),
                    value.pos,
                ),
            },
            "type" => {
                let name = value.as_str().unwrap_or_default();
                match TYPE_NAMES.iter().find(|t| **t == name) {
                    Some(known) => p.type_ = Some(known),
                    None => {
                        let help = did_you_mean(name, TYPE_NAMES.iter().copied())
                            .map(|c| format!("did you mean `{c}`? "))
                            .unwrap_or_default()
                            + &format!("types are: {}", TYPE_NAMES.join(", "));
                        cx.problem(
                            Diagnostic::new(format!("unknown type `{name}`"))
                                .label("not a type")
                                .help(help),
                            value.pos,
                        );
                    }
                }
            }
            _ => {
                let mut diag = crate::yaml::de::unknown_field(entry, PREDICATE_OPS);
                diag.message = format!("unknown check `{}`", entry.key);
                diag.label = Some("not a check".into());
                cx.de_problem(diag);
            }
        }
    }
    p
}

/// What evaluating expectations needs.
pub struct Checker<'a> {
    pub vars: &'a Context,
    pub redactor: &'a Redactor,
}

type Rendered<T> = Result<T, (TemplateError, Pos)>;

impl Checker<'_> {
    /// Checks every expectation; returns the failures (empty when all hold).
    pub fn check(&self, expect: &Expect, response: &ResponseRecord) -> Rendered<Vec<Failure>> {
        let mut failures = Vec::new();
        if let Some((status, pos)) = &expect.status {
            let set = match status {
                Status::Fixed(set) => Ok(set.clone()),
                Status::Rendered(tree) => StatusSet::from_value(&tree.render(self.vars)?),
            };
            match set {
                Ok(set) if set.contains(response.status) => {}
                Ok(set) => failures.push(Failure {
                    subject: "status".into(),
                    message: format!("expected {}, got {}", set.describe(), response.status),
                    pos: *pos,
                }),
                Err(message) => failures.push(Failure {
                    subject: "status".into(),
                    message,
                    pos: *pos,
                }),
            }
        }
        for (name, predicate) in &expect.headers {
            let actual = response.header(name).map(|v| Value::String(v.to_string()));
            if let Some(message) = self.evaluate(predicate, actual.as_ref())? {
                failures.push(Failure {
                    subject: format!("header {name}"),
                    message,
                    pos: predicate.pos,
                });
            }
        }
        for (text, path, predicate) in &expect.json {
            let subject = format!("json {text}");
            let Ok(actual) = response.select(text, path) else {
                failures.push(Failure {
                    subject,
                    message: format!(
                        "the response body is not JSON ({})",
                        response
                            .json_problem()
                            .unwrap_or_else(|| describe_body(&response.body, self.redactor))
                    ),
                    pos: predicate.pos,
                });
                continue;
            };
            if let Some(message) = self.evaluate(predicate, actual.as_ref())? {
                failures.push(Failure {
                    subject,
                    message,
                    pos: predicate.pos,
                });
            }
        }
        if let Some(predicate) = &expect.body {
            let actual = Value::String(response.body.clone());
            if let Some(message) = self.evaluate(predicate, Some(&actual))? {
                failures.push(Failure {
                    subject: "body".into(),
                    message,
                    pos: predicate.pos,
                });
            }
        }
        // Rendered statuses and regexes may hold a secret, and so may the messages quoting
        // them: mask every message once here, whatever built it.
        for failure in &mut failures {
            failure.message = self.redactor.mask(&failure.message);
        }
        Ok(failures)
    }

    fn shown(&self, value: &Value) -> String {
        show(value, self.redactor)
    }

    /// Evaluates a predicate; `Some(message)` when it does not hold.
    fn evaluate(&self, p: &Predicate, actual: Option<&Value>) -> Rendered<Option<String>> {
        if let Some(expected) = p.exists {
            match (expected, actual) {
                (true, None) => return Ok(Some("expected it to exist, but it is missing".into())),
                (false, Some(v)) => {
                    return Ok(Some(format!(
                        "expected it to be absent, got {}",
                        self.shown(v)
                    )));
                }
                _ => {}
            }
        }
        let needs_value = p.equals.is_some()
            || p.matches.is_some()
            || p.contains.is_some()
            || p.type_.is_some()
            || !p.bounds.is_empty();
        let Some(actual) = actual else {
            if needs_value {
                return Ok(Some("expected a value, but it is missing".into()));
            }
            return match &p.not {
                Some(not) => Ok(self
                    .evaluate(not, None)?
                    .is_none()
                    .then(|| "expected the negated check to fail, but it holds".into())),
                None => Ok(None),
            };
        };
        if let Some(tree) = &p.equals {
            let expected = tree.render(self.vars)?;
            if !loosely_equal(actual, &expected) {
                return Ok(Some(format!(
                    "expected {}, got {}",
                    self.shown(&expected),
                    self.shown(actual)
                )));
            }
        }
        if let Some(pattern) = &p.matches {
            let rendered;
            let regex = match pattern {
                Pattern::Fixed(regex) => regex,
                Pattern::Rendered(text) => {
                    let source = text.render(self.vars)?;
                    rendered = match regex::Regex::new(&source) {
                        Ok(r) => r,
                        Err(e) => return Ok(Some(format!("invalid regex: {e}"))),
                    };
                    &rendered
                }
            };
            if !regex.is_match(&value_to_text(actual)) {
                return Ok(Some(format!(
                    "expected a match for /{}/, got {}",
                    regex.as_str(),
                    self.shown(actual)
                )));
            }
        }
        if let Some(tree) = &p.contains {
            let needle = tree.render(self.vars)?;
            let holds = match actual {
                Value::Array(items) => items.iter().any(|i| loosely_equal(i, &needle)),
                Value::String(s) => s.contains(&value_to_text(&needle)),
                Value::Object(map) => map.contains_key(&value_to_text(&needle)),
                _ => false,
            };
            if !holds {
                return Ok(Some(format!(
                    "expected it to contain {}, got {}",
                    self.shown(&needle),
                    self.shown(actual)
                )));
            }
        }
        if let Some(type_name) = p.type_ {
            let found = type_of(actual);
            if !(found == type_name || (type_name == "number" && found == "integer")) {
                return Ok(Some(format!(
                    "expected a value of type {type_name}, got {found} {}",
                    self.shown(actual)
                )));
            }
        }
        for (bound, tree) in &p.bounds {
            let limit = tree.render(self.vars)?;
            let op = bound.op();
            match compare(actual, &limit) {
                Some(ordering) if bound.holds(ordering) => {}
                Some(_) => {
                    return Ok(Some(format!(
                        "expected a value {op} {}, got {}",
                        self.shown(&limit),
                        self.shown(actual)
                    )));
                }
                None => {
                    return Ok(Some(format!(
                        "cannot compare {} {op} {}: both must be numbers or both strings",
                        self.shown(actual),
                        self.shown(&limit)
                    )));
                }
            }
        }
        if let Some(not) = &p.not
            && self.evaluate(not, Some(actual))?.is_none()
        {
            return Ok(Some(format!(
                "expected the negated check to fail, but it holds for {}",
                self.shown(actual)
            )));
        }
        Ok(None)
    }
}

fn describe_body(body: &str, redactor: &Redactor) -> String {
    if body.is_empty() {
        return "it is empty".into();
    }
    format!("it starts with {}", show_text(&redactor.mask(body)))
}

/// A value shown in a message: JSON form, cut at 120 characters.
pub fn show(value: &Value, redactor: &Redactor) -> String {
    show_text(&redactor.mask(&value.to_string()))
}

fn show_text(text: &str) -> String {
    const MAX: usize = 120;
    let mut chars = text.char_indices();
    match chars.nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
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
    use crate::template::{EnvAccess, Vars};
    use serde_json::json;

    fn compiled(yaml: &str) -> (Expect, Vec<Diagnostic>) {
        let source = Source::new("t.yaml", yaml);
        let node = crate::yaml::parse(&source).unwrap();
        crate::run::compile::with_test_cx(&source, &["ID", "N"], |cx| compile(&node, cx))
    }

    fn run(yaml: &str, status: u16, body: Value) -> Vec<String> {
        let (expect, problems) = compiled(yaml);
        assert!(problems.is_empty(), "{problems:?}");
        let redactor = Redactor::new(false);
        let mut vars = Vars::new();
        vars.insert("ID", json!("x1"));
        vars.insert("N", json!(2));
        let context = Context::new(vars, EnvAccess::empty());
        let checker = Checker {
            vars: &context,
            redactor: &redactor,
        };
        let response = ResponseRecord::from_parts(
            status,
            vec![("Content-Type".into(), "application/json".into())],
            body.to_string(),
            Default::default(),
        );
        checker
            .check(&expect, &response)
            .unwrap()
            .into_iter()
            .map(|f| format!("{}: {}", f.subject, f.message))
            .collect()
    }

    #[test]
    fn status_sets() {
        assert!(StatusSet::from_value(&json!(200)).unwrap().contains(200));
        assert!(
            StatusSet::from_value(&json!([200, 201]))
                .unwrap()
                .contains(201)
        );
        assert!(StatusSet::from_value(&json!("2xx")).unwrap().contains(204));
        assert!(!StatusSet::from_value(&json!("2xx")).unwrap().contains(301));
        assert!(StatusSet::from_value(&json!(999)).is_err());
        assert!(StatusSet::from_value(&json!("ok")).is_err());
    }

    #[test]
    fn passing_checks_report_nothing() {
        let body = json!({"id": "x1", "n": 2, "tags": ["a", "b"], "name": "Alice"});
        let yaml = "status: 200\nheaders:\n  content-type: { matches: json }\njson:\n  $.id: <<ID>>\n  $.n: { equals: <<N>>, type: integer, gt: 1, le: 2 }\n  $.tags: { contains: b, type: array }\n  $.name: { not: { equals: Bob } }\n  $.missing: { exists: false }\nbody: { contains: Alice }\n";
        assert_eq!(run(yaml, 200, body), Vec::<String>::new());
    }

    #[test]
    fn each_failure_names_what_and_actual() {
        let body = json!({"id": "x2", "n": 5, "tags": []});
        let yaml = "status: [200, 201]\njson:\n  $.id: <<ID>>\n  $.n: { lt: 3 }\n  $.tags: { contains: b }\n  $.gone: { exists: true }\n  $['id']: { not: { matches: '^x' } }\n";
        let failures = run(yaml, 404, body);
        assert_eq!(failures[0], "status: expected 200 or 201, got 404");
        for expected in [
            r#"json $.n: expected a value < 3, got 5"#,
            r#"json $.tags: expected it to contain "b", got []"#,
            "json $.gone: expected it to exist, but it is missing",
        ] {
            assert!(failures.contains(&expected.to_string()), "{failures:?}");
        }
        assert!(
            failures
                .iter()
                .any(|f| f.starts_with("json $['id']: expected the negated check to fail")),
            "{failures:?}"
        );
    }

    #[test]
    fn problems_are_found_when_compiling() {
        let (_, problems) = compiled(
            "status: 999\njson:\n  $[: 1\n  $.a: { type: strng, matches: '(', greater_than: 3 }\nheader: {}\n",
        );
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 6, "{messages:?}");
        assert!(messages[0].contains("999 is not an HTTP status"));
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("invalid JSONPath `$[`"))
        );
        assert!(messages.contains(&"unknown type `strng`"));
        assert!(messages.iter().any(|m| m.starts_with("invalid regex")));
        assert!(messages.contains(&"unknown check `greater_than`"));
        let (_, problems) = compiled("headerz: {}\n");
        assert_eq!(problems[0].message, "unknown field `headerz`");
    }
}
