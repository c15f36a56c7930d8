//! Target `template`: any text as a string leaf of a flow, compiled (`Template::compile`, what
//! loading a flow does to every leaf) and rendered both ways a run does (`render` into text,
//! `render_value` keeping the JSON type) with a few variables of every JSON type.
//!
//! Properties: no panic, hang or runaway memory; text without template syntax comes back as
//! it is; compiling is checking: a template that compiled never fails to render for a reason
//! visible at compile time (syntax, an unknown function, filter or test). A test that
//! `select`, `reject`, `selectattr` or `rejectattr` names is checked at compile time when it
//! and the arguments after it are constants (`select('odd')`); with a variable among them
//! (`select(name)`, `select('divisibleby', n)`) an unknown test shows only when rendering.

use dmflow::secret::Redactor;
use dmflow::template::{Context, EnvAccess, Template, TemplateError, Vars, is_template};
use serde_json::json;

/// What minijinja's error kinds say for problems compiling must already have found.
const COMPILE_TIME: &[&str] = &[
    "syntax error",
    "unknown filter",
    "unknown test",
    "unknown function",
];

/// The variables and environment templates render with.
pub fn context() -> Context {
    let mut vars = Vars::new();
    let values = json!({
        "n": 3,
        "pi": 3.25,
        "word": "dmflow",
        "t": true,
        "nothing": null,
        "ids": ["x1", "x2", 3],
        "user": {"id": "x7", "videos": [{"id": "v1", "title": "A <b>"}], "n": 0},
        "ACCESS_TOKEN": super::SECRET,
    });
    for (name, value) in values.as_object().into_iter().flatten() {
        vars.insert(name.clone(), value.clone());
    }
    let env = EnvAccess::new(
        |name| (name == "DM_API_KEY").then(|| "key-123".to_string()),
        Redactor::new(false),
    );
    Context::new(vars, env)
}

pub fn fuzz(data: &[u8]) {
    if let Some(text) = super::text(data) {
        check(text);
    }
}

pub fn check(text: &str) {
    let Ok(template) = Template::compile(text) else {
        return;
    };
    if !is_template(text) {
        assert_eq!(template.as_literal(), Some(text), "plain text changed");
    }
    let cx = context();
    let errors = [template.render(&cx).err(), template.render_value(&cx).err()];
    for error in errors.into_iter().flatten() {
        if let TemplateError::Invalid { message, .. } = &error {
            let named_by_a_filter = message.starts_with("unknown test")
                && ["select", "reject"].iter().any(|f| text.contains(f));
            assert!(
                named_by_a_filter || !COMPILE_TIME.iter().any(|kind| message.starts_with(kind)),
                "{text:?} compiled, then failed to render: {message}"
            );
        }
    }
}
