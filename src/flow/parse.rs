//! YAML → [`Flow`]: serde-saphyr with positions, then one action per step.
//!
//! serde-saphyr stops at the first YAML or schema error; we turn it into a [`Diagnostic`] that
//! speaks the flow's language (no Rust types), with a "did you mean" for misspelt fields.

use super::model::{FlowDoc, StepDoc};
use super::node::pos_of;
use super::{ACTIONS, Action, Flow, Step};
use crate::diagnostic::{Diagnostic, Pos, Source, did_you_mean};
use regex::Regex;
use serde_saphyr::Spanned;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, LazyLock};

/// Flow files above this size are refused rather than parsed.
pub const MAX_FLOW_BYTES: u64 = 8 * 1024 * 1024;

/// Reads and parses a flow file. Every problem comes back as a diagnostic.
pub fn load(path: &Path) -> Result<Flow, Vec<Diagnostic>> {
    let name = path.display().to_string();
    let fail = |message: String| vec![Diagnostic::new(message)];
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read {name}: {e}")))?;
    if meta.is_dir() {
        return Err(fail(format!("{name} is a directory, not a flow file")));
    }
    if meta.len() > MAX_FLOW_BYTES {
        return Err(fail(format!(
            "{name} is {} bytes; flow files are limited to {MAX_FLOW_BYTES} bytes",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {name}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        fail(format!(
            "{name} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse_source(&Source::new(name, text))
}

/// Parses a flow from text already read.
pub fn parse_source(source: &Arc<Source>) -> Result<Flow, Vec<Diagnostic>> {
    if source.text.trim().is_empty()
        || source
            .text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(vec![
            Diagnostic::new("the flow file is empty")
                .in_file(source)
                .help("a flow needs at least `steps:`, a list of steps; see README.md"),
        ]);
    }
    let options = serde_saphyr::options! { with_snippet: false };
    let doc: FlowDoc = serde_saphyr::from_str_with_options(&source.text, options)
        .map_err(|e| vec![yaml_error(source, &e)])?;
    lower(source, doc)
}

/// Checks what serde cannot (one action per step, unique names) and builds the [`Flow`].
fn lower(source: &Arc<Source>, doc: FlowDoc) -> Result<Flow, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    let mut names = HashSet::new();
    if doc.steps.is_empty() {
        problems.push(
            Diagnostic::new("the flow has no steps")
                .in_file(source)
                .help("add at least one step under `steps:`"),
        );
    }
    for (index, spanned) in doc.steps.into_iter().enumerate() {
        let pos = pos_of(&spanned);
        match lower_step(index, pos, spanned.value) {
            Ok(step) => {
                if !names.insert(step.name.clone()) {
                    problems.push(
                        Diagnostic::new(format!("two steps are named `{}`", step.name))
                            .at(source, pos)
                            .label("second step with this name")
                            .help("step names identify steps in reports; make them unique"),
                    );
                }
                steps.push(step);
            }
            Err((message, help)) => problems.push(
                Diagnostic::new(message)
                    .at(source, pos)
                    .label("this step")
                    .help(help),
            ),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let name = doc.name.unwrap_or_else(|| {
        Path::new(&source.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "flow".into())
    });
    Ok(Flow {
        source: source.clone(),
        name,
        description: doc.description,
        inputs: doc
            .inputs
            .iter()
            .map(|i| super::Input {
                name: i.value.name.clone(),
                optional: i.value.optional,
                description: i.value.description.clone(),
                pos: pos_of(i),
            })
            .collect(),
        vars: doc.vars,
        secrets: doc.secrets,
        oauth: doc.oauth.unwrap_or_default(),
        steps,
        outputs: doc.outputs.iter().map(|o| (o.value.clone(), pos_of(o))).collect(),
    })
}

fn lower_step(index: usize, pos: Pos, doc: StepDoc) -> Result<Step, (String, String)> {
    fn one<T>(found: &mut Vec<(&'static str, Action)>, name: &'static str, spec: Option<Spanned<T>>, wrap: fn(T) -> Action) {
        if let Some(spec) = spec {
            found.push((name, wrap(spec.value)));
        }
    }
    let mut found = Vec::new();
    one(&mut found, "http", doc.http, Action::Http);
    one(&mut found, "authorize", doc.authorize, Action::Authorize);
    one(&mut found, "callback", doc.callback, Action::Callback);
    one(&mut found, "token", doc.token, Action::Token);
    one(&mut found, "refresh", doc.refresh, Action::Refresh);
    one(&mut found, "echo", doc.echo, Action::Echo);
    let label = doc
        .name
        .as_ref()
        .map(|n| format!("step `{}`", n.value))
        .unwrap_or_else(|| format!("step {}", index + 1));
    let action = match found.len() {
        1 => found.remove(0).1,
        0 => {
            return Err((
                format!("{label} has no action"),
                format!("give it exactly one of: {}", ACTIONS.join(", ")),
            ));
        }
        _ => {
            let kinds: Vec<_> = found.iter().map(|(k, _)| format!("`{k}`")).collect();
            return Err((
                format!("{label} has {}: a step does one thing", kinds.join(" and ")),
                "split it into one step per action".into(),
            ));
        }
    };
    let name = doc
        .name
        .map(|n| n.value)
        .unwrap_or_else(|| format!("{}-{}", index + 1, action.kind()));
    Ok(Step {
        name,
        pos,
        action,
        expect: doc.expect.unwrap_or_default(),
        save: doc.save,
    })
}

static LOCATION_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r" at line \d+, column \d+$").expect("valid regex"));
static UNKNOWN_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^unknown (field|variant) `([^`]*)`, expected (?:one of )?(.*)$").expect("valid regex")
});
static MISSING_FIELD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^missing field `([^`]*)`$").expect("valid regex"));

/// Turns a serde-saphyr error into a diagnostic in the flow's terms.
fn yaml_error(source: &Arc<Source>, err: &serde_saphyr::Error) -> Diagnostic {
    let raw = err.without_snippet().to_string();
    let raw = LOCATION_SUFFIX.replace(raw.trim(), "").into_owned();
    let (message, label, help) = humanize(&raw);
    let diag = Diagnostic::new(message).label(label).help_opt(help);
    match err.location() {
        Some(loc) if loc.line() > 0 => {
            let mut pos = Pos::from_location(&loc);
            if let Some(caps) = UNKNOWN_FIELD.captures(&raw) {
                pos.len = caps[2].chars().count().max(1);
            } else {
                pos.len = 1;
            }
            diag.at(source, pos)
        }
        _ => diag.in_file(source),
    }
}

/// (message, label, help) for a raw serde/YAML message.
fn humanize(raw: &str) -> (String, String, Option<String>) {
    if let Some(caps) = UNKNOWN_FIELD.captures(raw) {
        let name = &caps[2];
        let expected: Vec<&str> = caps[3]
            .split(", ")
            .map(|s| s.trim_matches('`').trim_start_matches("or ").trim_matches('`'))
            .filter(|s| !s.is_empty())
            .collect();
        let what = if &caps[1] == "field" { "field" } else { "value" };
        let mut help = format!("expected one of: {}", expected.join(", "));
        if let Some(close) = did_you_mean(name, expected.iter().copied()) {
            help = format!("did you mean `{close}`? {help}");
        }
        return (
            format!("unknown {what} `{name}`"),
            format!("unknown {what}"),
            Some(help),
        );
    }
    if let Some(caps) = MISSING_FIELD.captures(raw) {
        let field = &caps[1];
        let help = match field {
            "steps" => "a flow needs `steps:`, a list of steps".to_string(),
            "url" => "add `url:` with the address to call".to_string(),
            other => format!("add `{other}:`"),
        };
        return (
            format!("missing field `{field}`"),
            "in this mapping".into(),
            Some(help),
        );
    }
    let replacements: &[(&str, &str, &str)] = &[
        ("expected sequence start", "expected a list here", "write a YAML list: `- item` lines or `[a, b]`"),
        ("expected string scalar", "expected a string here", "write a plain value, like `key: text`"),
        ("cannot deserialize null into string", "expected a string, found nothing", "give it a value, or remove the key"),
        ("expected mapping start", "expected a mapping here", "write `key: value` lines indented under it"),
        ("unexpected end of input", "the file ends too early", "is a value or closing bracket missing?"),
        ("found a tab", "YAML does not allow tabs for indentation", "indent with spaces"),
        ("mapping values are not allowed", "a `:` is not allowed here", "quote the value if it contains `: `"),
        ("duplicate", "a key appears twice in the same mapping", "remove or rename one of them"),
    ];
    for (needle, message, help) in replacements {
        if raw.contains(needle) {
            return (message.to_string(), raw.to_string(), Some(help.to_string()));
        }
    }
    (raw.to_string(), "here".into(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Flow, Vec<Diagnostic>> {
        parse_source(&Source::new("t.yaml", text))
    }

    #[test]
    fn parses_a_flow() {
        let flow = parse(
            "name: me\nvars:\n  api: http://x\nsteps:\n  - name: p\n    http:\n      url: <<api>>/me\n    save:\n      ID: $.id\n",
        )
        .unwrap();
        assert_eq!(flow.name, "me");
        assert_eq!(flow.steps.len(), 1);
        assert_eq!(flow.steps[0].action.kind(), "http");
    }

    #[test]
    fn unknown_field_suggests_the_close_one() {
        let errs = parse("steps:\n  - name: p\n    htp:\n      url: x\n").unwrap_err();
        let d = &errs[0];
        assert_eq!(d.message, "unknown field `htp`");
        assert_eq!(d.pos, Some(Pos::new(3, 5, 3)));
        assert!(d.help.as_ref().unwrap().starts_with("did you mean `http`?"), "{:?}", d.help);
    }

    #[test]
    fn a_step_needs_exactly_one_action() {
        let errs = parse("steps:\n  - name: p\n  - name: q\n    http: {url: x}\n    echo: {}\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.contains("has no action"));
        assert!(errs[1].message.contains("`http` and `echo`"));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let deep = "a: ".to_string() + &"[".repeat(5000);
        for text in ["", "\u{0}\u{1}", "- a\n- b", "steps: 5", "<<: {}\nsteps: []", &deep, "steps:\n\t- x", "steps: [ {http: {url: x}}, *nope ]"] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }
}
