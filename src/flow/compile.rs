//! From a node tree to a compiled [`Flow`]: every field read with its position, every template
//! compiled, every variable checked to be defined before it is used (by `inputs:`, `vars:`
//! above it, `--var`/`--env-file`, or an earlier step), each step handed to its kind. Every
//! problem of the file is reported, each where it is; a problem in one step never hides the
//! next.

use super::model::{Flow, Input, Var};
use crate::diagnostic::{Diagnostic, Source, did_you_mean};
use crate::run::compile::CompileCx;
use crate::run::extensions::Extensions;
use crate::steps::Registry;
use crate::yaml::de::unknown_field;
use crate::yaml::{Node, NodeKind, Spanned};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

/// The keys of an input written as a mapping.
pub const INPUT_FIELDS: &[&str] = &["name", "optional", "description"];

/// What compiling needs besides the file.
pub struct Options<'a> {
    pub registry: &'a Registry,
    /// Names given from outside (`--var`, `--env-file`).
    pub external: &'a BTreeSet<String>,
    /// Text skipped past a YAML syntax error; names found there are not reported undefined.
    pub unreadable: &'a str,
    /// Loads the flow files that steps include (`flow:`).
    pub include: &'a super::step::Include<'a>,
}

/// Compiles a flow; the flow is `None` when its shape cannot be read at all.
pub fn compile(
    source: &Arc<Source>,
    root: &Node,
    options: &Options<'_>,
) -> (Option<Flow>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let NodeKind::Map(entries) = &root.kind else {
        problems.push(
            Diagnostic::new(format!(
                "a flow file is a mapping (`name:`, `steps:`, ...), not {}",
                root.describe()
            ))
            .at(source, root.pos)
            .label("expected a mapping")
            .help("a flow needs at least `steps:`, a list of steps; see README.md"),
        );
        return (None, problems);
    };
    let field = |name: &str| entries.iter().find(|e| e.key == name).map(|e| &e.value);
    let dir = Path::new(&source.name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut known: BTreeSet<String> = options.external.clone();
    let mut facts = BTreeSet::new();
    let mut sections = Extensions::new();
    let text_of = |node: Option<&Node>| node.and_then(|n| n.as_str().map(str::to_string));

    // Unknown top-level keys.
    let mut cx_problems = Vec::new();
    for entry in entries {
        if !super::model::FLOW_FIELDS.contains(&entry.key.as_str()) {
            let mut diag = unknown_field(entry, super::model::FLOW_FIELDS);
            if super::step::STEP_FIELDS.contains(&entry.key.as_str())
                || options.registry.get(&entry.key).is_some()
            {
                diag = diag.help(format!(
                    "`{}` belongs to a step: indent it under an item of `steps:`",
                    entry.key
                ));
            }
            cx_problems.push(
                Diagnostic::new(diag.message)
                    .at(source, diag.pos)
                    .label(diag.label.unwrap_or_default())
                    .help_opt(diag.help),
            );
        }
    }
    problems.extend(cx_problems);

    let name = text_of(field("name")).unwrap_or_else(|| {
        Path::new(&source.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "flow".into())
    });
    let mut cx = CompileCx {
        source,
        problems: &mut problems,
        known: &mut known,
        facts: &mut facts,
        unreadable: options.unreadable,
        sections: &Extensions::new(),
        dir: &dir,
        context: "the flow".into(),
    };
    let inputs = field("inputs")
        .map(|n| inputs(n, &mut cx))
        .unwrap_or_default();
    for input in &inputs {
        cx.variable_name(&input.name, "inputs:", input.pos);
        cx.define(input.name.clone());
    }
    let mut vars = Vec::new();
    if let Some(node) = field("vars") {
        for entry in cx.entries(node, "vars") {
            cx.context = format!("variable `{}`", entry.key);
            cx.variable_name(&entry.key, "vars:", entry.key_pos);
            let value = cx.node(&entry.value);
            cx.define(entry.key.clone());
            vars.push(Var {
                name: entry.key.clone(),
                value,
                pos: entry.value.pos,
            });
        }
    }
    let secrets = field("secrets")
        .map(|n| {
            strings(n, "secrets", &mut cx)
                .into_iter()
                .filter(|s| cx.variable_name(&s.value, "secrets:", s.pos))
                .map(|s| s.value)
                .collect()
        })
        .unwrap_or_default();
    if let Some(node) = field("oauth") {
        cx.context = "the `oauth:` section".into();
        sections.insert(crate::oauth::settings::compile(node, &mut cx));
    }
    let description = text_of(field("description"));
    drop(cx);

    let mut steps = Vec::new();
    match field("steps") {
        None => problems.push(
            Diagnostic::new("missing field `steps`")
                .at(source, root.pos)
                .label("in this mapping")
                .help("a flow needs `steps:`, a list of steps"),
        ),
        Some(node) => {
            let items: &[Node] = match &node.kind {
                NodeKind::Seq(items) => items,
                NodeKind::Null => &[],
                _ if !options.unreadable.is_empty() => &[],
                _ => {
                    problems.push(
                        Diagnostic::new(format!(
                            "`steps:` takes a list, found {}",
                            node.describe()
                        ))
                        .at(source, node.pos)
                        .label("expected a list")
                        .help("write a YAML list: `- name: ...` lines under `steps:`"),
                    );
                    &[]
                }
            };
            if items.is_empty()
                && options.unreadable.is_empty()
                && matches!(node.kind, NodeKind::Seq(_) | NodeKind::Null)
            {
                problems.push(
                    Diagnostic::new("the flow has no steps")
                        .in_file(source)
                        .help("add at least one step under `steps:`"),
                );
            }
            let mut names = HashSet::new();
            steps.reserve_exact(items.len());
            for (index, item) in items.iter().enumerate() {
                let mut cx = CompileCx {
                    source,
                    problems: &mut problems,
                    known: &mut known,
                    facts: &mut facts,
                    unreadable: options.unreadable,
                    sections: &sections,
                    dir: &dir,
                    context: String::new(),
                };
                let at = super::step::StepContext {
                    registry: options.registry,
                    include: options.include,
                    dir: &dir,
                };
                if let Some(step) = super::step::compile(index, item, &at, &mut cx) {
                    if !names.insert(step.name.clone()) {
                        cx.problem(
                            Diagnostic::new(format!("two steps are named `{}`", step.name))
                                .label("second step with this name")
                                .help("step names identify steps in reports; make them unique"),
                            step.pos,
                        );
                    }
                    steps.push(step);
                }
            }
        }
    }

    let mut cx = CompileCx {
        source,
        problems: &mut problems,
        known: &mut known,
        facts: &mut facts,
        unreadable: options.unreadable,
        sections: &sections,
        dir: &dir,
        context: "`outputs:`".into(),
    };
    let outputs = field("outputs")
        .map(|n| strings(n, "outputs", &mut cx))
        .unwrap_or_default();
    for output in &outputs {
        if cx.variable_name(&output.value, "outputs:", output.pos) && !cx.is_defined(&output.value)
        {
            let help = did_you_mean(&output.value, cx.known.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default()
                + "an output must be a variable of the flow: a `vars:` entry, an input or a saved value";
            cx.problem(
                Diagnostic::new(format!("output `{}` is never defined", output.value))
                    .label("not defined here")
                    .help(help),
                output.pos,
            );
        }
    }
    let mut redact = Vec::new();
    if let Some(node) = field("redact") {
        for item in node.as_seq().unwrap_or_default() {
            redact.extend(super::redact::compile(item, &mut cx));
        }
    }
    drop(cx);

    let flow = Flow {
        source: source.clone(),
        dir,
        name,
        description,
        inputs,
        vars,
        secrets,
        sections,
        steps,
        outputs,
        redact,
    };
    (Some(flow), problems)
}

/// A list of strings (`secrets:`, `outputs:`).
fn strings(node: &Node, field: &str, cx: &mut CompileCx<'_>) -> Vec<Spanned<String>> {
    let items: &[Node] = match &node.kind {
        NodeKind::Seq(items) => items,
        NodeKind::Null => &[],
        NodeKind::String(_) => std::slice::from_ref(node),
        _ => {
            cx.problem(
                Diagnostic::new(format!(
                    "`{field}:` takes a list of names, found {}",
                    node.describe()
                ))
                .label("expected a list"),
                node.pos,
            );
            &[]
        }
    };
    items
        .iter()
        .filter_map(|item| match item.as_str() {
            Some(name) => Some(Spanned::new(name.to_string(), item.pos)),
            None => {
                cx.problem(
                    Diagnostic::new(format!("`{field}:` lists names, found {}", item.describe()))
                        .label("expected a name"),
                    item.pos,
                );
                None
            }
        })
        .collect()
}

/// `inputs:`: `NAME` or `{ name: NAME, optional: true, description: ... }`.
fn inputs(node: &Node, cx: &mut CompileCx<'_>) -> Vec<Input> {
    let items = match &node.kind {
        NodeKind::Seq(items) => items.as_slice(),
        NodeKind::Null => &[],
        _ => {
            cx.problem(
                Diagnostic::new(format!("`inputs:` takes a list, found {}", node.describe()))
                    .label("expected a list"),
                node.pos,
            );
            &[]
        }
    };
    let mut out = Vec::new();
    for item in items {
        match &item.kind {
            NodeKind::String(name) => out.push(Input {
                name: name.clone(),
                optional: false,
                description: None,
                pos: item.pos,
            }),
            NodeKind::Map(entries) => {
                let mut input = Input {
                    name: String::new(),
                    optional: false,
                    description: None,
                    pos: item.pos,
                };
                for entry in entries {
                    match (entry.key.as_str(), &entry.value.kind) {
                        ("name", NodeKind::String(name)) => {
                            input.name = name.clone();
                            input.pos = entry.value.pos;
                        }
                        ("optional", NodeKind::Bool(b)) => input.optional = *b,
                        ("description", NodeKind::String(d)) => input.description = Some(d.clone()),
                        ("name" | "optional" | "description", _) => cx.problem(
                            Diagnostic::new(format!(
                                "`{}:` of an input takes {}, found {}",
                                entry.key,
                                if entry.key == "optional" {
                                    "true or false"
                                } else {
                                    "text"
                                },
                                entry.value.describe()
                            ))
                            .label("here"),
                            entry.value.pos,
                        ),
                        _ => cx.de_problem(unknown_field(entry, INPUT_FIELDS)),
                    }
                }
                if input.name.is_empty() {
                    cx.problem(
                        Diagnostic::new("an input needs a `name`")
                            .label("this input")
                            .help("write `- NAME` or `- { name: NAME, optional: true }`"),
                        item.pos,
                    );
                } else {
                    out.push(input);
                }
            }
            _ => cx.problem(
                Diagnostic::new(format!(
                    "an input is a variable name, or {{ name: NAME, optional: true }}; found {}",
                    item.describe()
                ))
                .label("here"),
                item.pos,
            ),
        }
    }
    out
}
