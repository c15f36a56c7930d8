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
    parse_source(&read(path)?)
}

/// Reads and parses a flow file for `check`: past a problem, parsing goes on where it can, so
/// every problem of the file is reported at once.
pub fn load_for_check(path: &Path) -> (Option<Flow>, Vec<Diagnostic>) {
    match read(path) {
        Ok(source) => parse_recovering(&source),
        Err(problems) => (None, problems),
    }
}

fn read(path: &Path) -> Result<Arc<Source>, Vec<Diagnostic>> {
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
    Ok(Source::new(name, text))
}

/// Parses a flow from text already read.
pub fn parse_source(source: &Arc<Source>) -> Result<Flow, Vec<Diagnostic>> {
    check_not_empty(source)?;
    let doc = parse_doc(&source.text).map_err(|e| vec![yaml_error(source, &e)])?;
    let (flow, problems) = lower(source, doc);
    if problems.is_empty() {
        Ok(flow)
    } else {
        Err(problems)
    }
}

fn parse_doc(text: &str) -> Result<FlowDoc, serde_saphyr::Error> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options)
}

/// How many times `check` steps past a schema problem in one file.
const MAX_RECOVERIES: usize = 25;

/// Whether serde-saphyr's error comes from the YAML parser (syntax), not from our schema.
fn is_syntax(err: &serde_saphyr::Error) -> bool {
    matches!(
        err.without_snippet(),
        serde_saphyr::Error::ExternalMessage { .. } | serde_saphyr::Error::Eof { .. }
    )
}

/// Parses for `check`, finding as many problems as can be trusted:
/// - a YAML syntax error is found first; the steps before the one it sits in are still
///   checked (the rest of the file cannot be read reliably);
/// - after a schema error (say a misspelt field), the entry is blanked (from its column to the
///   end of its line, and the lines indented under it) and parsing goes on.
///
/// Line and column numbers stay those of the file. Variables that only blanked text could
/// have defined are not reported as undefined (the flow remembers that text).
pub fn parse_recovering(source: &Arc<Source>) -> (Option<Flow>, Vec<Diagnostic>) {
    if let Err(problems) = check_not_empty(source) {
        return (None, problems);
    }
    let mut lines: Vec<String> = source.text.split('\n').map(str::to_string).collect();
    let mut problems: Vec<Diagnostic> = Vec::new();
    let mut blanked = String::new();
    let mut blanked_lines: HashSet<usize> = HashSet::new();
    let options = serde_saphyr::options! { with_snippet: false };
    let truncated = match serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(
        &source.text,
        options,
    ) {
        Err(err) if is_syntax(&err) => {
            let diag = yaml_error(source, &err);
            let line = diag.pos.map(|p| p.line).unwrap_or(1);
            problems.push(diag.help_opt(Some(
                "the steps after this point were not checked: fix this first".into(),
            )));
            let mut cut = enclosing_step_start(&lines, line);
            // Step back further while the kept part still does not parse.
            for _ in 0..MAX_RECOVERIES {
                let kept = lines[..cut.saturating_sub(1).min(lines.len())].join("\n");
                let still_broken = matches!(
                    serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(&kept, serde_saphyr::options! { with_snippet: false }),
                    Err(e) if is_syntax(&e)
                );
                let earlier = enclosing_step_start(&lines, cut.saturating_sub(1));
                if !still_broken || earlier >= cut {
                    break;
                }
                cut = earlier;
            }
            for (index, text) in lines.iter_mut().enumerate().skip(cut.saturating_sub(1)) {
                blanked.push_str(text);
                blanked.push('\n');
                blanked_lines.insert(index + 1);
                text.clear();
            }
            true
        }
        _ => false,
    };
    for _ in 0..MAX_RECOVERIES {
        let text = lines.join("\n");
        let err = match parse_doc(&text) {
            Ok(doc) => {
                let (mut flow, more) = lower(source, doc);
                problems.extend(
                    more.into_iter()
                        .filter(|p| !(truncated && p.message == "the flow has no steps")),
                );
                flow.unreadable = blanked;
                return (Some(flow), problems);
            }
            Err(err) => err,
        };
        let diag = yaml_error(source, &err);
        let unknown_field = matches!(
            err.without_snippet(),
            serde_saphyr::Error::SerdeUnknownField { .. }
        );
        let on_blanked = diag.pos.is_some_and(|p| blanked_lines.contains(&p.line));
        let induced = !blanked.is_empty()
            && (is_syntax(&err) || diag.message.starts_with("missing field") || !unknown_field);
        let repeated = problems
            .iter()
            .any(|p| p.pos == diag.pos && p.message == diag.message);
        if on_blanked || induced || repeated {
            break;
        }
        let Some(pos) = diag.pos else {
            problems.push(diag);
            break;
        };
        problems.push(diag);
        match blank(&mut lines, pos) {
            Some((removed, touched)) => {
                blanked.push_str(&removed);
                blanked_lines.extend(touched);
            }
            None => break,
        }
    }
    (None, problems)
}

/// The line where the step holding `line` starts (a `- ` item at the indentation of the
/// first step), so a cut there keeps whole steps only.
fn enclosing_step_start(lines: &[String], line: usize) -> usize {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let Some(steps) = lines
        .iter()
        .position(|l| l.trim_end() == "steps:" && indent(l) == 0)
    else {
        return line;
    };
    let Some(item_indent) = lines
        .iter()
        .skip(steps + 1)
        .find(|l| l.trim_start().starts_with("- "))
        .map(|l| indent(l))
    else {
        return line;
    };
    (steps + 1..line.min(lines.len()))
        .rev()
        .find(|&i| indent(&lines[i]) == item_indent && lines[i].trim_start().starts_with("- "))
        .map(|i| i + 1)
        .unwrap_or(line)
}

/// Blanks the entry at `pos`: its line from the column on, and the following lines indented
/// deeper than that column. Returns the removed text and the lines touched, or `None` when
/// nothing could be removed.
fn blank(lines: &mut [String], pos: Pos) -> Option<(String, Vec<usize>)> {
    let index = pos.line.checked_sub(1)?;
    let line = lines.get(index)?;
    let start = line
        .char_indices()
        .nth(pos.col.saturating_sub(1))
        .map(|(i, _)| i)
        .unwrap_or(line.len());
    let (start, column) = if line[start..].trim().is_empty() {
        let indent = line.len() - line.trim_start().len();
        (indent, indent)
    } else {
        (start, line[..start].chars().count())
    };
    if line[start..].trim().is_empty() {
        return None;
    }
    let mut removed = line[start..].to_string();
    let kept = line[..start].to_string();
    lines[index] = kept + &" ".repeat(line[start..].chars().count());
    let mut touched = vec![pos.line];
    for (offset, next) in lines.iter_mut().enumerate().skip(index + 1) {
        let indent = next.chars().take_while(|c| *c == ' ').count();
        if next.trim().is_empty() || indent > column {
            removed.push('\n');
            removed.push_str(next);
            *next = String::new();
            touched.push(offset + 1);
        } else {
            break;
        }
    }
    removed.push('\n');
    Some((removed, touched))
}

fn check_not_empty(source: &Arc<Source>) -> Result<(), Vec<Diagnostic>> {
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
    Ok(())
}

/// Checks what serde cannot (one action per step, unique names) and builds the [`Flow`] from
/// the steps that are right, with the problems of the others.
fn lower(source: &Arc<Source>, doc: FlowDoc) -> (Flow, Vec<Diagnostic>) {
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
    let name = doc.name.unwrap_or_else(|| {
        Path::new(&source.name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "flow".into())
    });
    let flow = Flow {
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
        outputs: doc
            .outputs
            .iter()
            .map(|o| (o.value.clone(), pos_of(o)))
            .collect(),
        unreadable: String::new(),
        redact: doc
            .redact
            .iter()
            .map(|r| (r.value.clone(), pos_of(r)))
            .collect(),
    };
    (flow, problems)
}

fn lower_step(index: usize, pos: Pos, doc: StepDoc) -> Result<Step, (String, String)> {
    fn one<T>(
        found: &mut Vec<(&'static str, Action)>,
        name: &'static str,
        spec: Option<Spanned<T>>,
        wrap: fn(T) -> Action,
    ) {
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
    Regex::new(r"^unknown (field|variant) `([^`]*)`, expected (?:one of )?(.*)$")
        .expect("valid regex")
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
            .map(|s| {
                s.trim_matches('`')
                    .trim_start_matches("or ")
                    .trim_matches('`')
            })
            .filter(|s| !s.is_empty())
            .collect();
        let what = if &caps[1] == "field" {
            "field"
        } else {
            "value"
        };
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
        (
            "expected sequence start",
            "expected a list here",
            "write a YAML list: `- item` lines or `[a, b]`",
        ),
        (
            "expected string scalar",
            "expected a string here",
            "write a plain value, like `key: text`",
        ),
        (
            "cannot deserialize null into string",
            "expected a string, found nothing",
            "give it a value, or remove the key",
        ),
        (
            "expected mapping start",
            "expected a mapping here",
            "write `key: value` lines indented under it",
        ),
        (
            "unexpected end of input",
            "the file ends too early",
            "is a value or closing bracket missing?",
        ),
        (
            "found a tab",
            "YAML does not allow tabs for indentation",
            "indent with spaces",
        ),
        (
            "mapping values are not allowed",
            "a `:` is not allowed here",
            "quote the value if it contains `: `",
        ),
        (
            "duplicate",
            "a key appears twice in the same mapping",
            "remove or rename one of them",
        ),
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
        assert!(
            d.help.as_ref().unwrap().starts_with("did you mean `http`?"),
            "{:?}",
            d.help
        );
    }

    #[test]
    fn a_step_needs_exactly_one_action() {
        let errs = parse("steps:\n  - name: p\n  - name: q\n    http: {url: x}\n    echo: {}\n")
            .unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.contains("has no action"));
        assert!(errs[1].message.contains("`http` and `echo`"));
    }

    #[test]
    fn recovery_finds_problems_past_the_first() {
        let text = "name: r\nsteps:\n  - name: one\n    htp:\n      url: x\n    http:\n      url: <<base>>\n      methd: GET\n  - name: two\n    http: { url: <<nope>> }\n";
        let (flow, problems) = parse_recovering(&Source::new("r.yaml", text));
        let messages: Vec<_> = problems
            .iter()
            .map(|p| (p.message.clone(), p.pos.map(|p| p.line)))
            .collect();
        assert_eq!(messages[0], ("unknown field `htp`".to_string(), Some(4)));
        assert_eq!(messages[1], ("unknown field `methd`".to_string(), Some(8)));
        let flow = flow.expect("the rest of the flow is read");
        assert_eq!(flow.steps.len(), 2);
        assert!(flow.unreadable.contains("methd"));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let deep = "a: ".to_string() + &"[".repeat(5000);
        for text in [
            "",
            "\u{0}\u{1}",
            "- a\n- b",
            "steps: 5",
            "<<: {}\nsteps: []",
            &deep,
            "steps:\n\t- x",
            "steps: [ {http: {url: x}}, *nope ]",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
        }
    }
}
