//! The variables a flow starts with, and their precedence, lowest first: flow `vars:` defaults
//! → the token store (for declared inputs) → `--env-file` → the process environment (for
//! declared inputs, and through `env()`) → `--var` → what a calling flow gives (`with:`) →
//! values saved by earlier steps. A sub-flow's inputs never come from the token store: its
//! caller decides what it runs with.

use super::context::Origin;
use super::error::StepError;
use super::options::RunOptions;
use crate::flow::model::Flow;
use crate::secret::is_secret_name;
use crate::template::{Context, EnvAccess, Vars};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// A value a caller hands to a flow it runs (`with:`, or its own value of an input).
#[derive(Debug, Clone)]
pub struct Given {
    pub name: String,
    pub value: Value,
    pub origin: Origin,
}

/// The environment `env()` reads: the process first, then the `--env-file` entries.
pub fn env_access(options: &RunOptions) -> Arc<EnvAccess> {
    let env = options.env.clone();
    let file = options.env_file.clone();
    EnvAccess::new(
        move |name| env.get(name).cloned().or_else(|| file.get(name).cloned()),
        options.redactor.clone(),
    )
}

/// The variables a flow starts with, and where each came from.
pub fn initial(
    flow: &Flow,
    options: &RunOptions,
    given: &[Given],
    sub_flow: bool,
) -> Result<(Context, HashMap<String, Origin>), StepError> {
    let mut vars = Vars::new();
    let mut origins = HashMap::new();
    let mut set = |vars: &mut Vars, name: &str, value: Value, origin: Origin| {
        if is_secret_name(name) || flow.secrets.iter().any(|s| s == name) {
            options.redactor.add_json(name, &value);
        }
        vars.insert(name, value);
        origins.insert(name.to_string(), origin);
    };
    let layers = [
        (&options.env_file, Origin::EnvFile),
        (&options.overrides, Origin::Override),
        (&options.cli_vars, Origin::CommandLine),
    ];
    for (layer, origin) in layers {
        for (name, value) in layer {
            set(&mut vars, name, Value::String(value.clone()), origin);
        }
    }
    // What a calling flow gives (`with:`, its own inputs) wins over the command line.
    for given in given {
        set(&mut vars, &given.name, given.value.clone(), given.origin);
    }
    let mut missing = Vec::new();
    for input in &flow.inputs {
        let name = &input.name;
        if vars.contains(name) {
            continue;
        }
        if let Some(value) = options.env.get(name) {
            set(
                &mut vars,
                name,
                Value::String(value.clone()),
                Origin::Environment,
            );
        } else if let Some(value) = options.stored.get(name).filter(|_| !sub_flow) {
            set(&mut vars, name, value.clone(), Origin::Store);
        } else if !input.optional {
            missing.push(name.clone());
        }
    }
    if let Some(first) = missing.first() {
        let list = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let (what, verb) = if missing.len() == 1 {
            ("the input", "is")
        } else {
            ("the inputs", "are")
        };
        return Err(StepError::Invalid {
            message: format!(
                "flow `{}` needs {what} {list}, which {verb} not set",
                flow.name
            ),
            pos: flow.inputs.iter().find(|i| &i.name == first).map(|i| i.pos),
            help: Some(format!(
                "pass --var {first}=..., export {first}, put it in an --env-file, or first run the flow that outputs it{}",
                options
                    .input_hint
                    .as_deref()
                    .map(|hint| format!(" ({hint})"))
                    .unwrap_or_default()
            )),
        });
    }
    let mut context = Context::new(vars, env_access(options));
    for var in &flow.vars {
        if context.vars.contains(&var.name) {
            continue;
        }
        let value = var.value.render(&context)?;
        if is_secret_name(&var.name) || flow.secrets.iter().any(|s| s == &var.name) {
            options.redactor.add_json(&var.name, &value);
        }
        context.vars_mut().insert(&var.name, value);
        origins.insert(var.name.clone(), Origin::Default);
    }
    Ok((context, origins))
}
