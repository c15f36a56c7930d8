//! One step, compiled: its name, exactly one action (a step kind, or `flow:` for a sub-flow),
//! what wraps it (`if:`, `for_each:`, `retry:`), then its checks and captures.

use super::model::{ForEach, Retry, Step, StepAction, SubFlow};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::run::compile::CompileCx;
use crate::run::expect::StatusSet;
use crate::steps::Registry;
use crate::yaml::de::unknown_field;
use crate::yaml::{Entry, Node, NodeKind, Spanned};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The keys of a step besides its action.
pub const STEP_FIELDS: &[&str] = &[
    "name",
    "description",
    "if",
    "for_each",
    "as",
    "index",
    "max_items",
    "retry",
    "expect",
    "save",
];

/// The key of a sub-flow step.
pub const FLOW_KEY: &str = "flow";

/// The keys of `retry:`.
pub const RETRY_FIELDS: &[&str] = &[
    "attempts",
    "interval",
    "backoff",
    "max_interval",
    "until",
    "on",
    "timeout",
];

/// Most attempts a `retry:` may make.
pub const MAX_ATTEMPTS: u32 = 1000;

/// Loads a sub-flow for a step: the file as written, relative to the including flow.
pub type Include<'a> = dyn Fn(&Path) -> Result<Arc<super::model::Flow>, Vec<Diagnostic>> + 'a;

/// What a step needs besides its node.
pub struct StepContext<'a> {
    pub registry: &'a Registry,
    pub include: &'a Include<'a>,
    /// The including flow's directory.
    pub dir: &'a Path,
}

/// Compiles one step; `None` when it cannot run (its problems are recorded).
pub fn compile(
    index: usize,
    node: &Node,
    at: &StepContext<'_>,
    cx: &mut CompileCx<'_>,
) -> Option<Step> {
    let registry = at.registry;
    let NodeKind::Map(entries) = &node.kind else {
        cx.problem(
            Diagnostic::new(format!(
                "step {} is {}, not a mapping",
                index + 1,
                node.describe()
            ))
            .label("this step")
            .help(format!(
                "a step is a mapping with one action: {}, or flow",
                registry.names().join(", ")
            )),
            node.pos,
        );
        return None;
    };
    let field = |key: &str| entries.iter().find(|e| e.key == key);
    let mut actions: Vec<&Entry> = Vec::new();
    let mut unknown = false;
    let mut expected: Vec<&str> = STEP_FIELDS.to_vec();
    expected.extend(registry.names());
    expected.push(FLOW_KEY);
    for entry in entries {
        let key = entry.key.as_str();
        if key == FLOW_KEY || registry.get(key).is_some() {
            actions.push(entry);
        } else if !STEP_FIELDS.contains(&key) {
            unknown = true;
            let mut diag = unknown_field(entry, &expected);
            if super::model::FLOW_FIELDS.contains(&key) {
                diag = diag.help(format!(
                    "`{key}` belongs to the flow, not to a step: move it to the top level"
                ));
            } else if matches!(key, "headers" | "json" | "body") {
                diag = diag.help(format!(
                    "`{key}` belongs under the request (`http:`) for what is sent, or under \
                     `expect:` for what must come back"
                ));
            } else if crate::run::expect::EXPECT_FIELDS.contains(&key) {
                diag = diag.help(format!("`{key}` belongs under `expect:`"));
            } else if matches!(key, "url" | "method" | "query" | "form" | "timeout") {
                diag = diag.help(format!("`{key}` belongs under the request: `http:`"));
            } else if RETRY_FIELDS.contains(&key) {
                diag = diag.help(format!("`{key}` belongs under `retry:`"));
            }
            cx.de_problem(diag);
        }
    }
    let name = match field("name") {
        Some(entry) => match entry.value.as_str() {
            Some(text) => Some(text.to_string()),
            None => {
                cx.problem(
                    Diagnostic::new(format!(
                        "a step's `name:` is text, found {}",
                        entry.value.describe()
                    ))
                    .label("expected text"),
                    entry.value.pos,
                );
                None
            }
        },
        None => None,
    };
    // How the problems below name the step (made only when there is one).
    let label = || match &name {
        Some(n) => format!("step `{n}`"),
        None => format!("step {}", index + 1),
    };
    let action_entry = match actions.as_slice() {
        [one] => *one,
        [] if unknown => return None,
        [] => {
            cx.problem(
                Diagnostic::new(format!("{} has no action", label()))
                    .label("this step")
                    .help(format!(
                        "give it exactly one of: {}, or flow (another flow file)",
                        registry.names().join(", ")
                    )),
                node.pos,
            );
            return None;
        }
        _ => {
            let found: Vec<String> = actions.iter().map(|e| format!("`{}`", e.key)).collect();
            cx.problem(
                Diagnostic::new(format!(
                    "{} has {}: a step does one thing",
                    label(),
                    found.join(" and ")
                ))
                .label("this step")
                .help("split it into one step per action"),
                node.pos,
            );
            return None;
        }
    };
    let kind: &'static str = match registry.get(&action_entry.key) {
        Some(kind) => kind.name(),
        None => FLOW_KEY,
    };
    let name = name.unwrap_or_else(|| format!("{}-{kind}", index + 1));
    cx.context.clear();
    // Writing into a String cannot fail.
    let _ = write!(cx.context, "step `{name}`");

    // What wraps the action, in the order it is evaluated: the loop's item first, then `if:`.
    let each =
        field("for_each").map(|e| for_each(e, field("as"), field("index"), field("max_items"), cx));
    let each = match each {
        Some(Some(each)) => {
            cx.define(each.item.clone());
            cx.define(each.index.clone());
            Some(Box::new(each))
        }
        Some(None) => None,
        None => {
            for orphan in ["as", "index", "max_items"] {
                if let Some(entry) = field(orphan) {
                    cx.problem(
                        Diagnostic::new(format!("`{orphan}:` goes with `for_each:`"))
                            .label("no for_each on this step")
                            .help("add `for_each: <<LIST>>`, or remove this line"),
                        entry.key_pos,
                    );
                }
            }
            None
        }
    };
    let condition =
        field("if").map(|entry| cx.text_at(&scalar_text(&entry.value), entry.value.pos));
    if field("retry").is_some() {
        cx.define(Retry::ATTEMPT);
    }

    if kind == FLOW_KEY {
        for field_name in ["save", "expect"] {
            if let Some(entry) = field(field_name) {
                cx.problem(
                    Diagnostic::new(format!("a `flow:` step has no `{field_name}:`"))
                        .label("on a sub-flow")
                        .help(
                            "a sub-flow hands on its `outputs:`; check and save in its own steps",
                        ),
                    entry.key_pos,
                );
            }
        }
    }
    let action = match registry.get(&action_entry.key) {
        Some(kind) => kind
            .compile(&action_entry.value, node.pos, cx)
            .map(StepAction::Kind),
        None => sub_flow(&action_entry.value, at, cx).map(StepAction::Flow),
    };
    let mut captures = Vec::new();
    if let Some(save) = field("save") {
        for entry in cx.entries(&save.value, "save") {
            captures.extend(crate::run::capture::compile(entry, cx));
        }
    }
    captures.shrink_to_fit();
    // Checks and `until:` see what the step saved.
    for entry in field("save")
        .and_then(|s| s.value.as_map())
        .unwrap_or_default()
    {
        cx.define(entry.key.clone());
    }
    let retry = field("retry")
        .and_then(|e| retry(&e.value, cx))
        .map(Box::new);
    let expect = field("expect")
        .map(|e| crate::run::expect::compile(&e.value, cx))
        .unwrap_or_default();
    Some(Step {
        name,
        pos: node.pos,
        kind,
        action: action?,
        condition,
        each,
        retry,
        expect,
        save: captures,
    })
}

/// A scalar's text (`if: true` is the text `true`).
fn scalar_text(node: &Node) -> String {
    match &node.kind {
        NodeKind::String(s) => s.clone(),
        NodeKind::Null => String::new(),
        _ => node.to_json().to_string(),
    }
}

/// `for_each: <<LIST>>` with `as:`, `index:` and `max_items:`.
fn for_each(
    entry: &Entry,
    item: Option<&Entry>,
    index: Option<&Entry>,
    max: Option<&Entry>,
    cx: &mut CompileCx<'_>,
) -> Option<ForEach> {
    let items = cx.node(&entry.value);
    let mut ok = true;
    if let Some(fixed) = items.as_const()
        && !fixed.is_array()
    {
        cx.problem(
            Diagnostic::new(format!(
                "`for_each:` goes over a list, and this is {}",
                entry.value.describe()
            ))
            .label("not a list")
            .help("write a list (`[a, b]`) or a template that gives one (`<<IDS>>`)"),
            entry.value.pos,
        );
        ok = false;
    }
    let mut name_of = |field: Option<&Entry>, default: &str, cx: &mut CompileCx<'_>| -> String {
        let Some(field) = field else {
            return default.to_string();
        };
        let what = format!("{}:", field.key);
        match field.value.as_str() {
            Some(name) if cx.variable_name(name, &what, field.value.pos) => name.to_string(),
            Some(_) => {
                ok = false;
                default.to_string()
            }
            None => {
                cx.problem(
                    Diagnostic::new(format!(
                        "`{what}` names a variable, found {}",
                        field.value.describe()
                    ))
                    .label("not a variable name"),
                    field.value.pos,
                );
                ok = false;
                default.to_string()
            }
        }
    };
    let item = name_of(item, "item", cx);
    let index = name_of(index, "index", cx);
    let max = match max.map(|m| &m.value) {
        None => ForEach::DEFAULT_MAX,
        Some(node) => match node.to_json().as_u64() {
            Some(n) if n >= 1 => n as usize,
            _ => {
                cx.problem(
                    Diagnostic::new("`max_items:` is a whole number of at least 1").label("here"),
                    node.pos,
                );
                ForEach::DEFAULT_MAX
            }
        },
    };
    ok.then(|| ForEach {
        items,
        pos: entry.value.pos,
        item,
        index,
        max,
    })
}

/// A duration written in `retry:`.
fn duration(node: &Node, cx: &mut CompileCx<'_>) -> Option<Duration> {
    match crate::run::duration::parse(&scalar_text(node)) {
        Ok(d) => Some(d),
        Err(message) => {
            cx.problem(Diagnostic::new(message).label("not a duration"), node.pos);
            None
        }
    }
}

/// `retry:`: `{ attempts, interval, backoff, max_interval, until, on, timeout }`.
fn retry(node: &Node, cx: &mut CompileCx<'_>) -> Option<Retry> {
    let mut retry = Retry {
        attempts: 3,
        interval: Duration::from_secs(1),
        backoff: 1.0,
        max_interval: Duration::from_secs(30),
        until: None,
        on_network: false,
        on_status: None,
        timeout: None,
        pos: node.pos,
    };
    let mut ok = true;
    for entry in cx.entries(node, "retry") {
        let value = &entry.value;
        match entry.key.as_str() {
            "attempts" => match value.to_json().as_u64() {
                Some(n) if (1..=MAX_ATTEMPTS as u64).contains(&n) => retry.attempts = n as u32,
                _ => {
                    cx.problem(
                        Diagnostic::new(format!(
                            "`attempts:` is a whole number from 1 to {MAX_ATTEMPTS}"
                        ))
                        .label("here"),
                        value.pos,
                    );
                    ok = false;
                }
            },
            "interval" => retry.interval = duration(value, cx).unwrap_or(retry.interval),
            "max_interval" => {
                retry.max_interval = duration(value, cx).unwrap_or(retry.max_interval)
            }
            "timeout" => retry.timeout = duration(value, cx),
            "backoff" => match value.to_json().as_f64() {
                Some(b) if (1.0..=10.0).contains(&b) => retry.backoff = b,
                _ => {
                    cx.problem(
                        Diagnostic::new("`backoff:` multiplies the interval after each attempt: a number from 1 to 10")
                            .label("here"),
                        value.pos,
                    );
                    ok = false;
                }
            },
            "until" => match scalar_text(value).as_str() {
                // The default, spelled out: retry while the step's `expect:` fails.
                "expect" => retry.until = None,
                text if text.contains("<<") => retry.until = Some(cx.text_at(text, value.pos)),
                _ => {
                    cx.problem(
                        Diagnostic::new("`until:` is a condition, and this text never changes")
                            .label("not a template")
                            .help("write an expression such as `until: <<STATUS == \"published\">>`, or `until: expect` to retry while the step's checks fail"),
                        value.pos,
                    );
                    ok = false;
                }
            },
            "on" => {
                let items: Vec<&Node> = match &value.kind {
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => vec![value],
                };
                let mut statuses = Vec::new();
                for item in items {
                    let text = scalar_text(item);
                    if text == "network" {
                        retry.on_network = true;
                    } else {
                        statuses.push(item.to_json());
                    }
                }
                if !statuses.is_empty() {
                    match StatusSet::from_value(&serde_json::Value::Array(statuses)) {
                        Ok(set) => retry.on_status = Some(set),
                        Err(message) => {
                            cx.problem(
                                Diagnostic::new(message).label("here").help(
                                    "`on:` lists `network` and statuses: [network, 429, 5xx]",
                                ),
                                value.pos,
                            );
                            ok = false;
                        }
                    }
                }
            }
            _ => {
                cx.de_problem(unknown_field(entry, RETRY_FIELDS));
                ok = false;
            }
        }
    }
    if retry.max_interval < retry.interval {
        retry.max_interval = retry.interval;
    }
    ok.then_some(retry)
}

/// The names under `outputs:` of a flow file that does not compile, if it parses.
fn declared_outputs(path: &Path) -> Vec<String> {
    let max = crate::limits::current().flow_file;
    let text = crate::limits::read_input(path, max, false).map(String::from_utf8);
    let Ok(Ok(text)) = text else {
        return Vec::new();
    };
    let Ok(root) = crate::yaml::parse_text(&text) else {
        return Vec::new();
    };
    match root.to_json().get("outputs") {
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// `flow: { file: login.yaml, with: { ... } }`, or `flow: login.yaml`.
fn sub_flow(node: &Node, at: &StepContext<'_>, cx: &mut CompileCx<'_>) -> Option<SubFlow> {
    let (file, with) = match &node.kind {
        NodeKind::String(file) => (Spanned::new(file.clone(), node.pos), None),
        NodeKind::Map(entries) => {
            let mut file = None;
            let mut with = None;
            for entry in entries {
                match entry.key.as_str() {
                    "file" => {
                        file = entry
                            .value
                            .as_str()
                            .map(|f| Spanned::new(f.to_string(), entry.value.pos))
                    }
                    "with" => with = Some(&entry.value),
                    _ => cx.de_problem(unknown_field(entry, &["file", "with"])),
                }
            }
            let Some(file) = file else {
                cx.problem(
                    Diagnostic::new("a sub-flow needs `file:`, the flow file to run")
                        .label("this sub-flow")
                        .help("flow: { file: login.yaml, with: { scope: manage_videos } }"),
                    node.pos,
                );
                return None;
            };
            (file, with)
        }
        _ => {
            cx.problem(
                Diagnostic::new(format!(
                    "`flow:` takes a file or {{ file, with }}, found {}",
                    node.describe()
                ))
                .label("here"),
                node.pos,
            );
            return None;
        }
    };
    let path = at.dir.join(&file.value);
    let flow = match (at.include)(&path) {
        Ok(flow) => flow,
        Err(problems) => {
            let message = problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default();
            let include_problem =
                message.starts_with("include cycle") || message.starts_with("cannot read");
            if include_problem {
                let first = &problems[0];
                cx.problem(
                    Diagnostic::new(first.message.clone())
                        .label("this sub-flow")
                        .help_opt(first.help.clone()),
                    file.pos,
                );
            } else {
                cx.problems.extend(problems);
                // Its outputs are still this flow's variables: no undefined-variable echoes.
                for output in declared_outputs(&path) {
                    cx.define(output);
                }
                cx.problem(
                    Diagnostic::new(format!("the sub-flow {} has problems (above)", file.value))
                        .label("this sub-flow")
                        .help(format!("dmflow check {} shows them alone", path.display())),
                    file.pos,
                );
            }
            return None;
        }
    };
    // `with:` sets the sub-flow's inputs and variables, like --var does for a flow.
    let settable: Vec<&str> = flow
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .chain(flow.vars.iter().map(|v| v.name.as_str()))
        .collect();
    let mut given = Vec::new();
    if let Some(with) = with {
        for entry in cx.entries(with, "with") {
            if !cx.variable_name(&entry.key, "with:", entry.key_pos) {
                continue;
            }
            if !settable.contains(&entry.key.as_str()) {
                let help = did_you_mean(&entry.key, settable.iter().copied())
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default()
                    + &format!("its inputs and variables are: {}", settable.join(", "));
                cx.problem(
                    Diagnostic::new(format!(
                        "{} has no input or variable `{}`",
                        file.value, entry.key
                    ))
                    .label("not in the sub-flow")
                    .help(help),
                    entry.key_pos,
                );
                continue;
            }
            given.push((entry.key.clone(), cx.node(&entry.value)));
        }
    }
    for input in flow.inputs.iter().filter(|i| !i.optional) {
        let passed =
            given.iter().any(|(name, _)| *name == input.name) || cx.is_defined(&input.name);
        if !passed {
            cx.problem(
                Diagnostic::new(format!(
                    "the sub-flow {} needs the input `{}`, which this step does not give",
                    file.value, input.name
                ))
                .label("this sub-flow")
                .help(format!(
                    "add `{}: ...` under `with:`, or define `{}` before this step",
                    input.name, input.name
                )),
                file.pos,
            );
        }
    }
    for output in flow.output_names() {
        cx.define(output.to_string());
    }
    Some(SubFlow {
        file: file.value,
        flow,
        with: given,
    })
}
