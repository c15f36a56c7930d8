//! Flows: the model of a flow file, its parsing with positions, and its static check.
//!
//! [`load`] reads and parses a file into a [`Flow`]: steps with exactly one action each, every
//! template leaf still unrendered and still knowing its line and column.

pub mod check;
pub mod model;
pub mod node;
mod parse;

pub use model::{Capture, CaptureSource, Expect, HttpSpec, Predicate};
pub use parse::{load, load_for_check, parse_recovering, parse_source};

use crate::diagnostic::{Pos, Source};
use crate::oauth::spec::{
    AuthorizeSpec, CallbackSpec, EchoSpec, OAuthSpec, RefreshSpec, TokenSpec,
};
use indexmap::IndexMap;
use node::Node;
use serde_saphyr::Spanned;
use std::sync::Arc;

/// A parsed flow, ready to check or run.
#[derive(Debug)]
pub struct Flow {
    pub source: Arc<Source>,
    pub name: String,
    pub description: Option<String>,
    pub inputs: Vec<Input>,
    pub vars: IndexMap<String, Node>,
    pub secrets: Vec<String>,
    pub oauth: OAuthSpec,
    pub steps: Vec<Step>,
    pub outputs: Vec<(String, Pos)>,
    /// Text `check` had to skip past a problem; names found there are not reported undefined.
    pub unreadable: String,
    /// Extra transcript redactions, with their positions.
    pub redact: Vec<(model::RedactDoc, Pos)>,
}

/// A variable the flow expects from outside.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub optional: bool,
    pub description: Option<String>,
    pub pos: Pos,
}

/// One step of a flow.
#[derive(Debug)]
pub struct Step {
    pub name: String,
    pub pos: Pos,
    pub action: Action,
    pub expect: Expect,
    pub save: IndexMap<String, Spanned<Capture>>,
}

/// What a step does.
#[derive(Debug)]
pub enum Action {
    Http(HttpSpec),
    Authorize(AuthorizeSpec),
    Callback(CallbackSpec),
    Token(TokenSpec),
    Refresh(RefreshSpec),
    Echo(EchoSpec),
}

/// The step kinds, as written in YAML.
pub const ACTIONS: &[&str] = &["http", "authorize", "callback", "token", "refresh", "echo"];

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Http(_) => "http",
            Action::Authorize(_) => "authorize",
            Action::Callback(_) => "callback",
            Action::Token(_) => "token",
            Action::Refresh(_) => "refresh",
            Action::Echo(_) => "echo",
        }
    }

    /// Variables the step defines by itself, besides its `save:` entries.
    pub fn implicit_outputs(&self) -> &'static [&'static str] {
        match self {
            Action::Http(_) | Action::Echo(_) => &[],
            Action::Authorize(_) => &["AUTHORIZE_URL", "REDIRECT_URI", "CODE_VERIFIER"],
            Action::Callback(_) => &["CODE"],
            Action::Token(_) | Action::Refresh(_) => crate::oauth::TOKEN_OUTPUTS,
        }
    }
}
