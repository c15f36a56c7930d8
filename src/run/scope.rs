//! Variables and their precedence, lowest first: flow `vars:` defaults → the token store (for
//! declared inputs) → `--env-file` → the process environment (for declared inputs, and through
//! `env()`) → `--var` → values saved by earlier steps.

use super::{RunOptions, StepError};
use crate::flow::Flow;
use crate::secret::{Redactor, is_secret_name};
use crate::template::{Templates, Vars};
use serde_json::Value;

/// The variables a flow starts with.
pub fn initial(
    flow: &Flow,
    options: &RunOptions,
    templates: &Templates,
    redactor: &Redactor,
    from_store: &mut std::collections::BTreeSet<String>,
) -> Result<Vars, StepError> {
    let mut vars = Vars::new();
    let layers = [&options.env_file, &options.overrides, &options.cli_vars];
    for layer in layers {
        for (name, value) in layer {
            assign(
                &mut vars,
                redactor,
                flow,
                name,
                Value::String(value.clone()),
                false,
            );
        }
    }
    let mut missing = Vec::new();
    for input in &flow.inputs {
        let name = &input.name;
        if vars.contains_key(name) {
            continue;
        }
        if let Ok(value) = std::env::var(name) {
            assign(&mut vars, redactor, flow, name, Value::String(value), false);
        } else if let Some(value) = options.stored.get(name) {
            assign(&mut vars, redactor, flow, name, value.clone(), false);
            from_store.insert(name.clone());
        } else if !input.optional {
            missing.push(name.clone());
        }
    }
    // A stored access token comes with what its refresh needs, even if the flow does not ask.
    if from_store.contains("ACCESS_TOKEN") {
        for companion in ["REFRESH_TOKEN", "EXPIRES_AT", "EXPIRES_IN"] {
            if !vars.contains_key(companion)
                && let Some(value) = options.stored.get(companion)
            {
                assign(&mut vars, redactor, flow, companion, value.clone(), false);
                from_store.insert(companion.to_string());
            }
        }
    }
    if !missing.is_empty() {
        let list = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let first = &missing[0];
        return Err(StepError::Invalid {
            message: format!(
                "flow `{}` needs {} {list}, which {} not set",
                flow.name,
                if missing.len() == 1 {
                    "the input"
                } else {
                    "the inputs"
                },
                if missing.len() == 1 { "is" } else { "are" }
            ),
            pos: flow.inputs.iter().find(|i| &i.name == first).map(|i| i.pos),
            help: Some(format!(
                "pass --var {first}=..., export {first}, put it in an --env-file, or first run the flow that outputs it (for tokens: dmflow run flows/login.yaml)"
            )),
        });
    }
    for (name, node) in &flow.vars {
        if vars.contains_key(name) {
            continue;
        }
        let value = node
            .render(templates, &vars)
            .map_err(|(error, pos)| StepError::Template { error, pos })?;
        assign(&mut vars, redactor, flow, name, value, false);
    }
    Ok(vars)
}

/// Sets a variable, registering its value as secret when its name, the flow or the caller says so.
pub fn assign(
    vars: &mut Vars,
    redactor: &Redactor,
    flow: &Flow,
    name: &str,
    value: Value,
    secret: bool,
) {
    if secret || is_secret_name(name) || flow.secrets.iter().any(|s| s == name) {
        redactor.add_json(name, &value);
    }
    vars.insert(name.to_string(), value);
}
