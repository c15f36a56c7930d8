//! A compiled flow: everything checked, every template compiled, ready to run any number of
//! times, on any number of threads.

use crate::compiled::{Text, ValueTree};
use crate::diagnostic::{Pos, Source};
use crate::run::capture::Capture;
use crate::run::expect::{Expect, StatusSet};
use crate::run::extensions::Extensions;
use crate::run::kind::Action;
use crate::yaml::Spanned;
use std::sync::Arc;
use std::time::Duration;

/// The keys of a flow file.
pub const FLOW_FIELDS: &[&str] = &[
    "name",
    "description",
    "inputs",
    "vars",
    "secrets",
    "oauth",
    "steps",
    "outputs",
    "redact",
];

/// A compiled flow.
#[derive(Debug)]
pub struct Flow {
    pub source: Arc<Source>,
    /// Where the file is, for the paths it names (sub-flows, files to send, files to write).
    pub dir: std::path::PathBuf,
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
    /// The kind's YAML key (`flow` for a sub-flow).
    pub kind: &'static str,
    pub action: StepAction,
    /// `if:`: the step runs only when this renders truthy.
    pub condition: Option<Text>,
    /// `for_each:`: the step runs once per item.
    pub each: Option<Box<ForEach>>,
    /// `retry:`: the step runs again while it fails, until a condition holds, or on errors.
    pub retry: Option<Box<Retry>>,
    pub expect: Expect,
    pub save: Vec<Capture>,
}

/// What a step does.
#[derive(Debug)]
pub enum StepAction {
    /// A step kind's compiled action.
    Kind(Box<dyn Action>),
    /// Another flow file, run with parameters; its outputs become variables.
    Flow(SubFlow),
}

/// `flow: { file: login.yaml, with: { scope: manage_videos } }`.
#[derive(Debug)]
pub struct SubFlow {
    /// The path as written.
    pub file: String,
    pub flow: Arc<Flow>,
    /// Values for the sub-flow's variables, rendered in the caller.
    pub with: Vec<(String, ValueTree)>,
}

/// `for_each: <<LIST>>` with `as:` (default `item`) and `index:` (default `index`).
#[derive(Debug)]
pub struct ForEach {
    pub items: ValueTree,
    pub pos: Pos,
    pub item: String,
    pub index: String,
    /// At most this many items (default [`ForEach::DEFAULT_MAX`], `max_items:`).
    pub max: usize,
}

impl ForEach {
    pub const DEFAULT_MAX: usize = 1000;
}

impl Retry {
    /// The variable that numbers the attempts of a retried step (1, 2, ...).
    pub const ATTEMPT: &'static str = "attempt";
}

/// `retry: { attempts, interval, backoff, max_interval, until, on, timeout }`.
#[derive(Debug, Clone)]
pub struct Retry {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub interval: Duration,
    pub backoff: f64,
    pub max_interval: Duration,
    /// Retry until this renders truthy (else: while the step's checks fail).
    pub until: Option<Text>,
    /// Also retry on network errors.
    pub on_network: bool,
    /// Also retry on these statuses, waiting what `Retry-After` says when it says so.
    pub on_status: Option<StatusSet>,
    /// The longest the step may take with all its attempts.
    pub timeout: Option<Duration>,
    pub pos: Pos,
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

#[cfg(test)]
mod tests {
    /// `dmflow check` of a 10,000-step flow holds 10,000 of these: the rare parts
    /// (`for_each:`, `retry:`, a `body:` check) are boxed so that a plain step does not pay
    /// for them.
    #[test]
    fn a_compiled_step_stays_small() {
        let size = std::mem::size_of::<super::Step>();
        assert!(size <= 320, "Step is {size} bytes");
    }
}
