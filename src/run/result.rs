//! What a run produced: per step (round trips, failures, error, saved values, notes) and per
//! flow (steps, skipped steps, outputs), and how each ended.

use super::error::StepError;
use super::exchange::Exchange;
use super::extensions::Extensions;
use crate::diagnostic::Pos;
use crate::exit::Category;
use indexmap::IndexMap;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// A failed expectation (or capture).
#[derive(Debug, Clone)]
pub struct Failure {
    /// What was checked: `status`, `header content-type`, `json $.id`, `body`, `save ID`.
    pub subject: String,
    pub message: String,
    pub pos: Pos,
}

/// How a step or flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Errored,
    Skipped,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Errored => "errored",
            Outcome::Skipped => "skipped",
        }
    }
}

/// The result of one step.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: String,
    pub kind: &'static str,
    pub exchanges: Vec<Arc<Exchange>>,
    pub duration: Duration,
    pub failures: Vec<Failure>,
    pub error: Option<StepError>,
    pub saved: IndexMap<String, Value>,
    /// Lines the step wants shown (the authorization URL, a refresh that happened).
    pub notes: Vec<String>,
}

impl StepResult {
    pub fn new(name: &str, kind: &'static str) -> StepResult {
        StepResult {
            name: name.to_string(),
            kind,
            exchanges: Vec::new(),
            duration: Duration::ZERO,
            failures: Vec::new(),
            error: None,
            saved: IndexMap::new(),
            notes: Vec::new(),
        }
    }

    pub fn category(&self) -> Category {
        match &self.error {
            Some(error) => error.category(),
            None if !self.failures.is_empty() => Category::Failed,
            None => Category::Ok,
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self.category() {
            Category::Ok => Outcome::Passed,
            Category::Failed => Outcome::Failed,
            _ => Outcome::Errored,
        }
    }

    /// The last response's status, if any.
    pub fn status(&self) -> Option<u16> {
        self.exchanges.last().map(|e| e.response.status)
    }
}

/// The result of one flow.
#[derive(Debug)]
pub struct FlowResult {
    pub name: String,
    pub file: String,
    pub steps: Vec<StepResult>,
    /// Steps not run after a failure.
    pub skipped: Vec<String>,
    /// A problem before any step ran (missing input, bad default).
    pub setup_error: Option<StepError>,
    pub outputs: IndexMap<String, Value>,
    /// What step kinds and hooks leave for whoever handles the result (the token endpoint a
    /// sign-in used, to record beside the tokens).
    pub artifacts: Extensions,
    pub duration: Duration,
}

impl FlowResult {
    pub fn new(name: &str, file: &str) -> FlowResult {
        FlowResult {
            name: name.to_string(),
            file: file.to_string(),
            steps: Vec::new(),
            skipped: Vec::new(),
            setup_error: None,
            outputs: IndexMap::new(),
            artifacts: Extensions::new(),
            duration: Duration::ZERO,
        }
    }

    /// How serious the flow's ending is: its setup error, else its first unsuccessful step.
    pub fn category(&self) -> Category {
        if let Some(error) = &self.setup_error {
            return error.category();
        }
        self.steps
            .iter()
            .map(StepResult::category)
            .find(|c| *c != Category::Ok)
            .unwrap_or(Category::Ok)
    }

    pub fn outcome(&self) -> Outcome {
        match self.category() {
            Category::Ok => Outcome::Passed,
            Category::Failed => Outcome::Failed,
            _ => Outcome::Errored,
        }
    }

    /// The exit code this flow alone would give.
    pub fn exit_code(&self) -> i32 {
        self.category().exit_code()
    }
}
