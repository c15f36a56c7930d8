//! What a step kind gets while it is compiled: helpers that turn YAML into compiled
//! [`Text`] and [`ValueTree`] leaves, check that every variable they read is defined by then,
//! and record problems at their position. Everything a kind finds wrong here is reported by
//! `dmflow check`, before anything is sent.

use super::extensions::Extensions;
use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Diagnostic, Pos, Source, did_you_mean};
use crate::template::{Template, TemplateError, is_template};
use crate::yaml::de::{DeError, Problems, from_node};
use crate::yaml::{Entry, Node, NodeKind, Spanned};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The compile-time state of one flow, handed to each step kind in turn.
pub struct CompileCx<'a> {
    pub source: &'a Arc<Source>,
    pub problems: &'a mut Vec<Diagnostic>,
    /// Variables defined so far (inputs, `vars:`, earlier steps' outputs).
    pub known: &'a mut BTreeSet<String>,
    /// What earlier steps provide to later ones (say, a pending authorization).
    pub facts: &'a mut BTreeSet<&'static str>,
    /// Text `check` had to skip past a YAML error; names found there are not reported.
    pub unreadable: &'a str,
    /// The flow's compiled sections (its `oauth:` settings...).
    pub sections: &'a Extensions,
    /// The flow file's directory (paths in the flow are relative to it).
    pub dir: &'a std::path::Path,
    /// Where in the flow we are, for messages: "step `me`".
    pub context: String,
}

impl CompileCx<'_> {
    /// Records a problem at a position of this flow.
    pub fn problem(&mut self, diag: Diagnostic, pos: Pos) {
        self.problems.push(diag.at(self.source, pos));
    }

    /// Records a problem found while reading YAML.
    pub fn de_problem(&mut self, err: DeError) {
        let mut diag = Diagnostic::new(err.message)
            .label(err.label.unwrap_or_else(|| "here".into()))
            .help_opt(err.help);
        if diag.message.starts_with("missing field") {
            diag.label = Some("in this mapping".into());
        }
        self.problem(diag, err.pos);
    }

    /// Reads a kind's spec from its YAML node; problems are recorded, `None` when it cannot
    /// be read at all.
    pub fn spec<'n, T: Deserialize<'n>>(&mut self, node: &'n Node) -> Option<T> {
        let problems = Problems::default();
        let result = from_node::<T>(node, &problems);
        for problem in problems.into_inner() {
            self.de_problem(problem);
        }
        match result {
            Ok(spec) => Some(spec),
            Err(err) => {
                self.de_problem(err);
                None
            }
        }
    }

    /// Whether a variable is defined at this point of the flow.
    pub fn is_defined(&self, name: &str) -> bool {
        self.known.contains(name) || self.unreadable.contains(name)
    }

    /// Declares a variable this step defines.
    pub fn define(&mut self, name: impl Into<String>) {
        self.known.insert(name.into());
    }

    /// Whether `name`, introduced by `what` (`save:`, `vars:`...), is a variable name; if not,
    /// records why at `pos`. Names end up as shell and CI environment variables (`dmflow env`,
    /// `--export`), so nothing else is allowed.
    pub fn variable_name(&mut self, name: &str, what: &str, pos: Pos) -> bool {
        if crate::template::is_variable_name(name) {
            return true;
        }
        self.problem(
            Diagnostic::new(format!(
                "`{}` in `{what}` is not a variable name",
                name.escape_debug()
            ))
            .label("not a variable name")
            .help(
                "a name is letters, digits and _, not starting with a digit (like VIDEO_ID): it \
                 becomes an environment variable in `dmflow env` and `--export`",
            ),
            pos,
        );
        false
    }

    /// Declares that later steps may rely on `fact`.
    pub fn provide(&mut self, fact: &'static str) {
        self.facts.insert(fact);
    }

    pub fn has(&self, fact: &str) -> bool {
        self.facts.contains(fact)
    }

    /// A flow section compiled before the steps.
    pub fn section<T: std::any::Any + Send + Sync>(&self) -> Option<&T> {
        self.sections.get::<T>()
    }

    /// Reports `name` when it is not defined here: the step reads it without naming it
    /// (`echo` reads the access token when `token:` is left out).
    pub fn reads(&mut self, name: &str, field: &str, pos: Pos) {
        if self.is_defined(name) {
            return;
        }
        let context = self.context.clone();
        self.problem(
            Diagnostic::new(format!(
                "{context} reads `{name}` (the default of its `{field}:` field), which is not defined before it"
            ))
            .label("this step")
            .help(format!(
                "declare it under `inputs:` (a sign-in run fills it), set `{field}:` on the step, or pass --var {name}=..."
            )),
            pos,
        );
    }

    /// Compiles a string leaf; on a problem, records it and returns the text as it is.
    pub fn text(&mut self, text: &Spanned<String>) -> Text {
        self.text_at(&text.value, text.pos)
    }

    /// Compiles an optional string leaf.
    pub fn opt_text(&mut self, text: &Option<Spanned<String>>) -> Option<Text> {
        text.as_ref().map(|t| self.text(t))
    }

    pub fn text_at(&mut self, text: &str, pos: Pos) -> Text {
        match self.template(text, pos) {
            Some(template) => Text { template, pos },
            None => Text::literal(text, pos),
        }
    }

    /// Compiles a template and checks its variables; problems are recorded.
    pub fn template(&mut self, text: &str, pos: Pos) -> Option<Arc<Template>> {
        if !is_template(text) {
            return Some(Arc::new(Template::literal(text)));
        }
        let context = self.context.clone();
        match Template::compile_shared(text) {
            Ok(template) => {
                for name in template.variables() {
                    if !self.is_defined(name) {
                        let at = self.source.find_from(pos, name);
                        self.undefined(name, at);
                    }
                }
                Some(template)
            }
            Err(TemplateError::Invalid { message, line }) => {
                let pos = match line {
                    Some(l) if l > 1 => Pos::new(pos.line + l as u32 - 1, 1, 1),
                    _ => pos,
                };
                self.problem(
                    Diagnostic::new(format!("invalid template in {context}: {message}"))
                        .label("in this template")
                        .help("templates use << expr >>, <% block %> and <# comment #>"),
                    pos,
                );
                None
            }
            Err(TemplateError::Unknown {
                what,
                name,
                suggestion,
            }) => {
                let at = self.source.find_from(pos, &name);
                let mut help = suggestion
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                help.push_str(match what {
                    "function" => "functions are env(), uuid(), now() and minijinja's (range, dict, namespace, ...)",
                    "filter" => "filters are b64encode, b64url, b64decode and minijinja's (default, lower, urlencode, tojson, ...)",
                    _ => "tests are minijinja's (defined, none, number, string, ...)",
                });
                self.problem(
                    Diagnostic::new(format!("unknown {what} `{name}` in {context}"))
                        .label(format!("not a {what}"))
                        .help(help),
                    at,
                );
                None
            }
            Err(TemplateError::Undefined { name }) => {
                self.undefined(&name, pos);
                None
            }
        }
    }

    fn undefined(&mut self, name: &str, pos: Pos) {
        let mut help = did_you_mean(name, self.known.iter().map(String::as_str))
            .map(|close| format!("did you mean `{close}`? "))
            .unwrap_or_default();
        help.push_str("define it under `vars:`, save it in an earlier step, pass --var NAME=VALUE, or declare it under `inputs:` if it comes from outside the flow");
        let context = self.context.clone();
        self.problem(
            Diagnostic::new(format!("undefined variable `{name}` in {context}"))
                .label("not defined here")
                .help(help),
            pos,
        );
    }

    /// A URL written literally must parse; a template's literal start must have a scheme.
    pub fn check_url(&mut self, text: &Text) {
        self.literal_url(text);
    }

    /// [`CompileCx::check_url`], keeping the URL when it is written literally and parses: the
    /// run then starts from it instead of parsing it again at every send.
    pub fn literal_url(&mut self, text: &Text) -> Option<url::Url> {
        let (url, problem) = match text.as_literal() {
            Some(literal) => match crate::run::http::check_url_text(literal) {
                Ok(url) => (Some(url), None),
                Err(problem) => (None, Some(problem)),
            },
            None => {
                let source = text.template.source();
                let end = source
                    .find("<<")
                    .or(source.find("<%"))
                    .unwrap_or(source.len());
                let head = &source[..end];
                let problem = (!head.is_empty() && !head.contains(':')).then(|| {
                    (
                        format!("the URL `{source}` has no scheme"),
                        "a URL starts with http:// or https://",
                    )
                });
                (None, problem)
            }
        };
        if let Some((message, help)) = problem {
            self.problem(
                Diagnostic::new(message).label("not a URL").help(help),
                text.pos,
            );
        }
        url
    }

    /// A duration written literally must parse.
    pub fn check_duration(&mut self, text: &Text) {
        if let Some(literal) = text.as_literal()
            && let Err(message) = super::duration::parse(literal)
        {
            self.problem(Diagnostic::new(message).label("not a duration"), text.pos);
        }
    }

    /// A value written literally must be one of `allowed`.
    pub fn check_choice(&mut self, text: &Text, field: &str, allowed: &[&str], help: &str) {
        if let Some(literal) = text.as_literal()
            && !allowed
                .iter()
                .any(|a| a.eq_ignore_ascii_case(literal.trim()))
        {
            let close = did_you_mean(literal, allowed.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            self.problem(
                Diagnostic::new(format!("`{field}: {literal}` is not one dmflow knows"))
                    .label(format!("not a {field}"))
                    .help(format!("{close}{help}")),
                text.pos,
            );
        }
    }

    /// The entries of a mapping (`headers:`, `query:`...); `key:` with nothing is an empty
    /// one; anything else is a problem.
    pub fn entries<'n>(&mut self, node: &'n Node, field: &str) -> &'n [Entry] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            NodeKind::Null => &[],
            _ => {
                self.problem(
                    Diagnostic::new(format!(
                        "`{field}:` takes a mapping, found {}",
                        node.describe()
                    ))
                    .label("expected a mapping"),
                    node.pos,
                );
                &[]
            }
        }
    }

    /// A mapping of texts (`params:`, `form:`, `headers:`): scalars are read as their text.
    pub fn texts(&mut self, node: Option<&Node>, field: &str) -> Vec<(String, Text, Pos)> {
        let Some(node) = node else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in self.entries(node, field) {
            let value = &entry.value;
            let text = match &value.kind {
                NodeKind::String(s) => self.text_at(s, value.pos),
                NodeKind::Number(n) => Text::literal(n.to_string(), value.pos),
                NodeKind::Bool(b) => Text::literal(b.to_string(), value.pos),
                _ => {
                    let line = crate::yaml::source_line(&self.source.text, entry.key_pos.line);
                    let before = line
                        .chars()
                        .take(entry.key_pos.col.saturating_sub(1) as usize)
                        .collect::<String>();
                    // `{ description: a; b, c }`: the comma made `c` a key of its own.
                    let comma = value.is_null() && before.trim_end().ends_with(',');
                    let diag = Diagnostic::new(format!(
                        "`{}` takes text, found {}",
                        entry.key,
                        value.describe()
                    ))
                    .label("expected text");
                    let diag = if comma {
                        diag.help(
                            "inside `{ }` a comma starts a new entry: quote the value that \
                             holds it (`description: \"a; b, c\"`)",
                        )
                    } else {
                        diag
                    };
                    self.problem(diag, value.pos);
                    continue;
                }
            };
            out.push((entry.key.clone(), text, entry.key_pos));
        }
        out
    }

    /// Compiles every string leaf of a YAML value.
    pub fn node(&mut self, node: &Node) -> ValueTree {
        match &node.kind {
            NodeKind::String(s) if is_template(s) => ValueTree::Leaf(self.text_at(s, node.pos)),
            NodeKind::Seq(items) => {
                let compiled: Vec<ValueTree> = items.iter().map(|i| self.node(i)).collect();
                if compiled.iter().all(|c| c.as_const().is_some()) {
                    ValueTree::Const(node.to_json())
                } else {
                    ValueTree::Seq(compiled)
                }
            }
            NodeKind::Map(entries) => {
                let compiled: Vec<(String, ValueTree)> = entries
                    .iter()
                    .map(|e| (e.key.clone(), self.node(&e.value)))
                    .collect();
                if compiled.iter().all(|(_, c)| c.as_const().is_some()) {
                    ValueTree::Const(node.to_json())
                } else {
                    ValueTree::Map(compiled)
                }
            }
            _ => ValueTree::Const(node.to_json()),
        }
    }
}

/// Runs `f` with a compile context over `source` in which `known` are defined, as a step of
/// flow `t` would; returns what `f` made and the problems recorded.
#[cfg(test)]
pub(crate) fn with_test_cx<R>(
    source: &Arc<Source>,
    known: &[&str],
    f: impl FnOnce(&mut CompileCx<'_>) -> R,
) -> (R, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let mut known: BTreeSet<String> = known.iter().map(|k| k.to_string()).collect();
    let mut facts = BTreeSet::new();
    let sections = Extensions::new();
    let mut cx = CompileCx {
        source,
        problems: &mut problems,
        known: &mut known,
        facts: &mut facts,
        unreadable: "",
        sections: &sections,
        dir: std::path::Path::new("."),
        context: "step `t`".into(),
    };
    let made = f(&mut cx);
    (made, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL written without a template is parsed once, here, and kept for every send; a
    /// templated one is left to the run; a literal that is not a URL is a problem.
    #[test]
    fn literal_urls_are_parsed_once_at_compile_time() {
        let source = Source::new("t.yaml", "");
        let pos = Pos::new(1, 1, 1);
        let (urls, problems) = with_test_cx(&source, &["HOST"], |cx| {
            let literal = cx.text_at("http://127.0.0.1:8080/echo?message=hi", pos);
            let templated = cx.text_at("http://<<HOST>>/echo", pos);
            let broken = cx.text_at("http://[::1/x", pos);
            [literal, templated, broken].map(|text| cx.literal_url(&text))
        });
        let [literal, templated, broken] = urls;
        let literal = literal.expect("a literal URL is kept");
        assert_eq!(literal.as_str(), "http://127.0.0.1:8080/echo?message=hi");
        assert!(templated.is_none());
        assert!(broken.is_none());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].message.contains("invalid URL"), "{problems:?}");
    }
}
