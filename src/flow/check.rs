//! The static check: everything that can be known about a flow without sending a request.
//!
//! Every `<<VAR>>` must be defined before it is used: by `vars:` (above it), the flow's
//! `inputs:`, `--var` / `--env-file`, an earlier step's `save:` or an OAuth step's outputs.
//! JSONPaths, regexes, type names and status patterns are compiled. All problems are reported
//! at once.

use super::node::{Node, Text, pos_of};
use super::{Action, CaptureSource, Flow, Step};
use crate::diagnostic::{Diagnostic, Pos, did_you_mean};
use crate::template::{TemplateError, Templates};
use std::collections::BTreeSet;

/// The JSON types `type:` accepts.
pub const TYPE_NAMES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// Checks a flow. `external` holds the names given from outside (`--var`, `--env-file`).
pub fn check(flow: &Flow, templates: &Templates, external: &BTreeSet<String>) -> Vec<Diagnostic> {
    let mut checker = Checker {
        flow,
        templates,
        known: external.clone(),
        problems: Vec::new(),
    };
    checker.run();
    checker.problems
}

struct Checker<'a> {
    flow: &'a Flow,
    templates: &'a Templates,
    known: BTreeSet<String>,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn run(&mut self) {
        let flow = self.flow;
        self.known
            .extend(flow.inputs.iter().map(|input| input.name.clone()));
        for (name, node) in &flow.vars {
            self.check_node(node, &format!("variable `{name}`"));
            self.known.insert(name.clone());
        }
        for text in flow.oauth.texts() {
            self.check_text(text, "the `oauth:` section");
        }
        if let Some(scope) = &flow.oauth.scope {
            self.check_node(scope, "the `oauth:` section");
        }
        for step in &flow.steps {
            self.check_step(step);
        }
        for (rule, pos) in &flow.redact {
            if let Err(message) = crate::report::transcript::compile(rule) {
                self.problem(Diagnostic::new(message).label("this redaction"), *pos);
            }
        }
        for (name, pos) in &flow.outputs {
            if !self.known.contains(name) && !flow.unreadable.contains(name.as_str()) {
                self.undefined(name, *pos, "`outputs:`", false);
            }
        }
    }

    fn check_step(&mut self, step: &Step) {
        let context = format!("step `{}`", step.name);
        let (texts, nodes) = action_leaves(&step.action);
        for text in texts {
            self.check_text(text, &context);
        }
        for node in nodes {
            self.check_node(node, &context);
        }
        if let Some((name, what)) = implicit_use(&step.action)
            && !self.known.contains(name)
        {
            let help = format!(
                "declare it under `inputs:` (a sign-in run fills it), set `{what}:` on the step, or pass --var {name}=..."
            );
            self.problem(
                Diagnostic::new(format!(
                    "{context} reads `{name}` (the default of its `{what}:` field), which is not defined before it"
                ))
                .label("this step")
                .help(help),
                step.pos,
            );
        }
        if let Action::Http(http) = &step.action
            && let Some(timeout) = &http.timeout
            && !Templates::is_template(&timeout.value)
            && let Err(message) = crate::run::duration::parse(&timeout.value)
        {
            self.problem(
                Diagnostic::new(message).label("not a duration"),
                pos_of(timeout),
            );
        }
        let expect = &step.expect;
        if let Some(status) = &expect.status {
            if let Err(message) = crate::run::expect::StatusSet::from_node(&status.to_json()) {
                self.problem(Diagnostic::new(message).label("not a status"), status.pos());
            }
            self.check_node(status, &context);
        }
        let predicates = expect
            .headers
            .values()
            .chain(expect.json.values())
            .chain(expect.body.iter());
        for predicate in predicates {
            let at = pos_of(predicate);
            for node in predicate.value.nodes() {
                let node_pos = if node.pos().line == 0 { at } else { node.pos() };
                for (text, pos) in node.strings() {
                    let pos = if pos.line == 0 { node_pos } else { pos };
                    self.check_template(text, pos, &context);
                }
            }
            for pattern in predicate.value.patterns() {
                self.check_text(pattern, &context);
                if !Templates::is_template(&pattern.value)
                    && let Err(e) = regex::Regex::new(&pattern.value)
                {
                    self.problem(
                        Diagnostic::new(format!("invalid regex: {e}")).label("here"),
                        pos_of(pattern),
                    );
                }
            }
            for type_name in predicate.value.types() {
                if !TYPE_NAMES.contains(&type_name.value.as_str()) {
                    let help = did_you_mean(&type_name.value, TYPE_NAMES.iter().copied())
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default()
                        + &format!("types are: {}", TYPE_NAMES.join(", "));
                    self.problem(
                        Diagnostic::new(format!("unknown type `{}`", type_name.value))
                            .label("not a type")
                            .help(help),
                        pos_of(type_name),
                    );
                }
            }
        }
        for (path, predicate) in &expect.json {
            if let Err(e) = serde_json_path::JsonPath::parse(path) {
                self.problem(
                    Diagnostic::new(format!("invalid JSONPath `{path}`: {e}"))
                        .label("the check of this path")
                        .help(
                            "JSONPath (RFC 9535) starts with `$`, like `$.id` or `$.list[0].title`",
                        ),
                    pos_of(predicate),
                );
            }
        }
        for (name, capture) in &step.save {
            let pos = pos_of(capture);
            match &capture.value.source {
                CaptureSource::Json(path) => {
                    if let Err(e) = serde_json_path::JsonPath::parse(path) {
                        self.problem(
                            Diagnostic::new(format!("invalid JSONPath `{path}`: {e}"))
                                .label(format!("saving `{name}`"))
                                .help("JSONPath (RFC 9535) starts with `$`, like `$.id` or `$.list[0].title`"),
                            pos,
                        );
                    }
                }
                CaptureSource::Regex(pattern) => {
                    if let Err(e) = regex::Regex::new(pattern) {
                        self.problem(
                            Diagnostic::new(format!("invalid regex: {e}"))
                                .label(format!("saving `{name}`")),
                            pos,
                        );
                    }
                }
                _ => {}
            }
        }
        self.known
            .extend(step.action.implicit_outputs().iter().map(|s| s.to_string()));
        self.known.extend(step.save.keys().cloned());
    }

    fn check_node(&mut self, node: &Node, context: &str) {
        for (text, pos) in node.strings() {
            self.check_template(text, pos, context);
        }
    }

    fn check_text(&mut self, text: &Text, context: &str) {
        self.check_template(&text.value, pos_of(text), context);
    }

    fn check_template(&mut self, text: &str, pos: Pos, context: &str) {
        match self.templates.variables(text) {
            Ok(names) => {
                for name in names {
                    if !self.known.contains(&name) && !self.flow.unreadable.contains(name.as_str())
                    {
                        let at = self.flow.source.find_from(pos, &name);
                        self.undefined(&name, at, context, true);
                    }
                }
            }
            Err(TemplateError::Invalid { message, line }) => {
                let pos = match line {
                    Some(l) if l > 1 => Pos::new(pos.line + l - 1, 1, 1),
                    _ => pos,
                };
                self.problem(
                    Diagnostic::new(format!("invalid template in {context}: {message}"))
                        .label("in this template")
                        .help("templates use << expr >>, <% block %> and <# comment #>"),
                    pos,
                );
            }
            Err(TemplateError::Undefined { name }) => self.undefined(&name, pos, context, true),
        }
    }

    fn undefined(&mut self, name: &str, pos: Pos, context: &str, used: bool) {
        let suggestion = did_you_mean(name, self.known.iter().map(String::as_str));
        let mut help = match suggestion {
            Some(close) => format!("did you mean `{close}`? "),
            None => String::new(),
        };
        help.push_str(if used {
            "define it under `vars:`, save it in an earlier step, pass --var NAME=VALUE, or declare it under `inputs:` if it comes from outside the flow"
        } else {
            "an output must be a variable of the flow: a `vars:` entry, an input or a saved value"
        });
        let message = if used {
            format!("undefined variable `{name}` in {context}")
        } else {
            format!("output `{name}` is never defined")
        };
        self.problem(
            Diagnostic::new(message)
                .label("not defined here")
                .help(help),
            pos,
        );
    }

    fn problem(&mut self, diag: Diagnostic, pos: Pos) {
        self.problems.push(diag.at(&self.flow.source, pos));
    }
}

/// The variable a step reads when a field is left out: `echo` uses the access token,
/// `refresh` the refresh token, the code exchange the callback's code.
fn implicit_use(action: &Action) -> Option<(&'static str, &'static str)> {
    match action {
        Action::Echo(e) if e.token.is_none() => Some(("ACCESS_TOKEN", "token")),
        Action::Refresh(r) if r.refresh_token.is_none() => Some(("REFRESH_TOKEN", "refresh_token")),
        Action::Token(t)
            if t.code.is_none()
                && t.grant
                    .as_ref()
                    .is_none_or(|g| g.value == "authorization_code") =>
        {
            Some(("CODE", "code"))
        }
        _ => None,
    }
}

/// The template leaves of an action: plain texts and YAML nodes.
fn action_leaves(action: &Action) -> (Vec<&Text>, Vec<&Node>) {
    match action {
        Action::Http(h) => {
            let mut texts: Vec<&Text> = [&h.method, &h.body, &h.timeout]
                .into_iter()
                .flatten()
                .collect();
            texts.push(&h.url);
            texts.extend(h.headers.values());
            texts.extend(h.form.iter().flat_map(|f| f.values()));
            if let Some(auth) = &h.auth {
                texts.extend(auth.value.bearer.iter());
                if let Some(basic) = &auth.value.basic {
                    texts.push(&basic.username);
                    texts.push(&basic.password);
                }
            }
            let nodes = h.query.values().chain(h.json.iter()).collect();
            (texts, nodes)
        }
        Action::Authorize(a) => {
            let mut texts: Vec<&Text> = [&a.url, &a.client_id, &a.redirect_uri, &a.pkce]
                .into_iter()
                .flatten()
                .collect();
            texts.extend(a.params.values());
            (texts, a.scope.iter().collect())
        }
        Action::Callback(c) => (c.timeout.iter().collect(), vec![]),
        Action::Token(t) => {
            let mut texts: Vec<&Text> = [
                &t.url,
                &t.grant,
                &t.client_id,
                &t.client_secret,
                &t.client_auth,
                &t.code,
                &t.redirect_uri,
                &t.code_verifier,
                &t.username,
                &t.password,
            ]
            .into_iter()
            .flatten()
            .collect();
            texts.extend(t.params.values());
            (texts, t.scope.iter().collect())
        }
        Action::Refresh(r) => (
            [
                &r.url,
                &r.client_id,
                &r.client_secret,
                &r.client_auth,
                &r.refresh_token,
            ]
            .into_iter()
            .flatten()
            .collect(),
            r.scope.iter().collect(),
        ),
        Action::Echo(e) => (
            [&e.api, &e.message, &e.token]
                .into_iter()
                .flatten()
                .collect(),
            vec![],
        ),
    }
}
