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
#[derive(Debug)]
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
    /// Why the step did not run (`if:` was false).
    pub skipped: Option<String>,
    /// The attempts before the last one, when the step retried.
    pub attempts: Vec<StepResult>,
    /// One result per item, when the step ran `for_each:`.
    pub iterations: Vec<StepResult>,
    /// The sub-flow's result, when the step ran another flow.
    pub flow: Option<Box<FlowResult>>,
}

impl StepResult {
    /// Drops what only a detailed report reads (requests, responses, saved values, notes), in
    /// this step and the ones it holds; names, outcomes and durations stay.
    fn compact(&mut self) {
        self.exchanges = Vec::new();
        self.saved = IndexMap::new();
        self.notes = Vec::new();
        for inner in self.attempts.iter_mut().chain(self.iterations.iter_mut()) {
            inner.compact();
        }
        if let Some(flow) = &mut self.flow {
            flow.compact();
        }
    }

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
            skipped: None,
            attempts: Vec::new(),
            iterations: Vec::new(),
            flow: None,
        }
    }

    /// How serious the step's ending is: its own error or failures, an item of its loop, its
    /// sub-flow.
    pub fn category(&self) -> Category {
        let own = match &self.error {
            Some(error) => error.category(),
            None if !self.failures.is_empty() => Category::Failed,
            None => Category::Ok,
        };
        let items = self.iterations.iter().map(StepResult::category);
        let inner = self.flow.iter().map(|f| f.category());
        crate::exit::worst(std::iter::once(own).chain(items).chain(inner))
    }

    pub fn outcome(&self) -> Outcome {
        match self.category() {
            Category::Ok if self.skipped.is_some() => Outcome::Skipped,
            Category::Ok => Outcome::Passed,
            Category::Failed => Outcome::Failed,
            _ => Outcome::Errored,
        }
    }

    /// Whether the flow goes on after this step.
    pub fn went_well(&self) -> bool {
        self.category() == Category::Ok
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
    /// Keeps the outline of the run (step names, outcomes, durations) and its outputs: what
    /// `--repeat` holds of a passed run that is not its flow's last, so memory stays flat.
    pub fn compact(&mut self) {
        for step in &mut self.steps {
            step.compact();
        }
    }

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
