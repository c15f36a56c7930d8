//! The contract of a step kind. A kind has a YAML key (`http`, `token`...), compiles its spec
//! once when the flow is loaded (reporting every problem it can see then), and runs the
//! compiled form. The engine knows kinds only through these traits; `src/steps/` holds them,
//! one file each.

use super::compile::CompileCx;
use super::context::StepCx;
use super::error::StepError;
use super::exchange::ResponseRecord;
use super::result::Failure;
use crate::diagnostic::Pos;
use crate::yaml::Node;
use futures_util::future::BoxFuture;
use indexmap::IndexMap;
use serde_json::Value;

/// A kind of step.
pub trait StepKind: Send + Sync {
    /// The key that selects it in a step: `http`, `authorize`...
    fn name(&self) -> &'static str;

    /// Compiles the spec under the key. Problems go to `cx`; `None` when nothing can run.
    /// Variables the step defines by itself are declared with [`CompileCx::define`].
    fn compile(&self, spec: &Node, step: Pos, cx: &mut CompileCx<'_>) -> Option<Box<dyn Action>>;

    /// The JSON Schema of the spec under the key, for editors (`dmflow schema`); kinds whose
    /// spec type derives `schemars::JsonSchema` return `generator.subschema_for::<Spec>()`.
    fn schema(&self, _generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "object" })
    }
}

/// A compiled step, ready to run any number of times.
pub trait Action: Send + Sync + std::fmt::Debug {
    fn run<'a, 'b: 'a>(
        &'a self,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<ActionOutput, StepError>>;

    /// Before the first step of a run: renders what can be rendered with the flow's initial
    /// variables and checks it, so that a bad value from `--var` or `vars:` is refused before
    /// anything is sent. Templates that read later steps' outputs are left for the run.
    fn preflight(&self, _cx: &StepCx<'_>) -> Result<(), StepError> {
        Ok(())
    }
}

/// A preflight's verdict on a rendering: a variable not known yet is no problem.
pub fn preflight<T>(rendered: Result<T, StepError>) -> Result<(), StepError> {
    match rendered {
        Err(StepError::Template {
            error: crate::template::TemplateError::Undefined { .. },
            ..
        }) => Ok(()),
        Err(error) => Err(error),
        Ok(_) => Ok(()),
    }
}

/// What an action produced besides its round trips (which the session's journal keeps): the
/// variables it defines, its own checks, notes.
#[derive(Debug, Default)]
pub struct ActionOutput {
    /// Checks the action makes by itself (echo's message).
    pub failures: Vec<Failure>,
    pub outputs: IndexMap<String, Value>,
    pub notes: Vec<String>,
    /// What captures and checks read, when it is not the last response (merged pages).
    pub response: Option<ResponseRecord>,
}
