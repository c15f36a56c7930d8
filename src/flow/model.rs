//! A compiled flow: everything checked, every template compiled, ready to run any number of
//! times, on any number of threads.

use crate::compiled::ValueTree;
use crate::diagnostic::{Pos, Source};
use crate::run::capture::Capture;
use crate::run::expect::Expect;
use crate::run::extensions::Extensions;
use crate::run::kind::Action;
use crate::yaml::Spanned;
use std::sync::Arc;

/// A compiled flow.
#[derive(Debug)]
pub struct Flow {
    pub source: Arc<Source>,
    pub name: String,
    pub description: Option<String>,
    pub inputs: Vec<Input>,
    /// Defaults, rendered in order (a default may use the ones above it).
    pub vars: Vec<Var>,
    /// Names of variables to mask in all output, besides those whose names say so.
    pub secrets: Vec<String>,
    /// Compiled sections step kinds read (the `oauth:` settings).
    pub sections: Extensions,
    pub steps: Vec<Step>,
    /// Variables this flow hands on (to `--json`, the token store, env export).
    pub outputs: Vec<Spanned<String>>,
    /// Extra transcript redactions.
    pub redact: Vec<super::redact::Rule>,
}

/// A variable the flow expects from outside.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub optional: bool,
    pub description: Option<String>,
    pub pos: Pos,
}

/// A `vars:` default.
#[derive(Debug)]
pub struct Var {
    pub name: String,
    pub value: ValueTree,
    pub pos: Pos,
}

/// One step of a flow.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    /// The kind's YAML key.
    pub kind: &'static str,
    pub action: Box<dyn Action>,
    pub expect: Expect,
    pub save: Vec<Capture>,
}

impl Flow {
    /// The names of the flow's required inputs.
    pub fn required_inputs(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .filter(|i| !i.optional)
            .map(|i| i.name.as_str())
    }

    pub fn output_names(&self) -> impl Iterator<Item = &str> {
        self.outputs.iter().map(|o| o.value.as_str())
    }
}
