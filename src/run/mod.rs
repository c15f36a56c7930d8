//! The engine: variables → render → send → capture → check, step after step.
//!
//! [`run_flow`] runs one flow and returns a [`FlowResult`]; progress goes to a [`Observer`]
//! as each step ends, so the terminal shows it live while reports are built from the result.

pub mod capture;
pub mod duration;
pub mod exchange;
pub mod expect;
pub mod http;
pub mod http_step;
pub mod paginate;
pub mod scope;

use crate::diagnostic::Pos;
use crate::flow::{Action, Flow, Step};
use crate::oauth;
use crate::secret::Redactor;
use crate::template::{TemplateError, Templates, Vars};
use exchange::Exchange;
use expect::Failure;
use indexmap::IndexMap;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Everything a run needs from outside the flow file.
#[derive(Default)]
pub struct RunOptions {
    /// `--var NAME=VALUE`.
    pub cli_vars: IndexMap<String, String>,
    /// `--env-file` entries.
    pub env_file: IndexMap<String, String>,
    /// Values from the token store, offered to the flow's inputs.
    pub stored: IndexMap<String, Value>,
    /// Variables forced by the environment of the run (the emulator's demo app under `--mock`);
    /// they win over `vars:` defaults but not over `--var`.
    pub overrides: IndexMap<String, String>,
    pub oauth: oauth::OAuthRuntime,
    /// The token store of the run's profile: fills inputs, receives outputs, coordinates
    /// refreshes with other processes.
    pub store: Option<crate::store::ProfileStore>,
    /// How to refresh without a flow's `oauth:` section (recorded by the login run).
    pub stored_endpoint: Option<crate::store::TokenEndpoint>,
}

/// Why a step could not complete.
#[derive(Debug, Clone)]
pub enum StepError {
    /// A template could not be rendered (undefined variable, bad expression).
    Template {
        error: TemplateError,
        pos: Pos,
    },
    /// The step's configuration is wrong at run time (a URL that does not parse, ...).
    Invalid {
        message: String,
        pos: Option<Pos>,
        help: Option<String>,
    },
    /// No response: connection refused, timeout, TLS.
    Network(String),
    /// The provider refused (OAuth errors such as `invalid_grant`, `access_denied`).
    Refused {
        message: String,
        help: Option<String>,
    },
    /// Something around the request failed (busy port, callback timeout).
    Runtime {
        message: String,
        help: Option<String>,
    },
    Interrupted,
}

impl StepError {
    pub fn exit_code(&self) -> i32 {
        match self {
            StepError::Template { .. } | StepError::Invalid { .. } => crate::exit::INVALID,
            StepError::Refused { .. } => crate::exit::FAILED,
            StepError::Network(_) | StepError::Runtime { .. } => crate::exit::RUNTIME,
            StepError::Interrupted => crate::exit::INTERRUPTED,
        }
    }

    pub fn message(&self) -> String {
        match self {
            StepError::Template { error, .. } => error.to_string(),
            StepError::Invalid { message, .. }
            | StepError::Refused { message, .. }
            | StepError::Runtime { message, .. }
            | StepError::Network(message) => message.clone(),
            StepError::Interrupted => "interrupted (Ctrl-C): nothing more was sent".into(),
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            StepError::Invalid { help, .. } | StepError::Refused { help, .. } | StepError::Runtime { help, .. } => {
                help.clone()
            }
            StepError::Template { error: TemplateError::Undefined { .. }, .. } => Some(
                "define it under `vars:`, save it in an earlier step, pass --var NAME=VALUE, or declare it under `inputs:`"
                    .into(),
            ),
            _ => None,
        }
    }

    pub fn pos(&self) -> Option<Pos> {
        match self {
            StepError::Template { pos, .. } => Some(*pos),
            StepError::Invalid { pos, .. } => *pos,
            _ => None,
        }
    }
}

/// How a step or flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Errored,
    Skipped,
}

/// The result of one step.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: String,
    pub kind: &'static str,
    pub exchanges: Vec<Exchange>,
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

    pub fn outcome(&self) -> Outcome {
        if let Some(error) = &self.error {
            if error.exit_code() == crate::exit::FAILED {
                Outcome::Failed
            } else {
                Outcome::Errored
            }
        } else if !self.failures.is_empty() {
            Outcome::Failed
        } else {
            Outcome::Passed
        }
    }

    /// The last response's status, if any.
    pub fn status(&self) -> Option<u16> {
        self.exchanges.last().map(|e| e.response.status)
    }
}

/// The result of one flow.
#[derive(Debug, Clone)]
pub struct FlowResult {
    pub name: String,
    pub file: String,
    pub steps: Vec<StepResult>,
    /// Steps not run after a failure.
    pub skipped: Vec<String>,
    /// A problem before any step ran (missing input, bad default).
    pub setup_error: Option<StepError>,
    pub outputs: IndexMap<String, Value>,
    /// The token endpoint the flow used, to record beside stored tokens.
    pub endpoint: Option<crate::store::TokenEndpoint>,
    pub duration: Duration,
}

impl FlowResult {
    pub fn outcome(&self) -> Outcome {
        if let Some(error) = &self.setup_error {
            return if error.exit_code() == crate::exit::FAILED {
                Outcome::Failed
            } else {
                Outcome::Errored
            };
        }
        self.steps
            .iter()
            .map(StepResult::outcome)
            .find(|o| *o != Outcome::Passed)
            .unwrap_or(Outcome::Passed)
    }

    /// The exit code this flow alone would give.
    pub fn exit_code(&self) -> i32 {
        if let Some(err) = &self.setup_error {
            return err.exit_code();
        }
        for step in &self.steps {
            if let Some(err) = &step.error {
                return err.exit_code();
            }
            if !step.failures.is_empty() {
                return crate::exit::FAILED;
            }
        }
        crate::exit::OK
    }
}

/// Told about progress as it happens.
pub trait Observer: Sync {
    fn flow_started(&self, _flow: &Flow) {}
    fn step_started(&self, _flow: &Flow, _step: &Step) {}
    fn step_note(&self, _flow: &Flow, _note: &str) {}
    /// A step starts waiting for someone (the user in the browser); shown as a spinner.
    fn wait_started(&self, _flow: &Flow, _message: &str) {}
    fn wait_finished(&self, _flow: &Flow) {}
    /// `step` is `None` for steps dmflow adds itself (an automatic refresh).
    fn step_finished(&self, _flow: &Flow, _step: Option<&Step>, _result: &StepResult) {}
}

/// State that OAuth steps hand to each other within one flow run.
pub struct StepContext<'a> {
    pub flow: &'a Flow,
    pub templates: &'a Templates,
    pub vars: &'a mut Vars,
    pub redactor: &'a Redactor,
    pub http: &'a http::Http,
    pub oauth: &'a mut oauth::FlowOAuthState,
    pub runtime: &'a oauth::OAuthRuntime,
    pub observer: &'a dyn Observer,
    /// The profile's token store, when the run has one.
    pub store: Option<&'a crate::store::ProfileStore>,
}

/// What an action produced besides its round trips (which the HTTP journal keeps): the
/// variables it defines by itself, its own checks, notes.
#[derive(Default)]
pub struct ActionOutput {
    /// Checks the action makes by itself (echo's message).
    pub failures: Vec<Failure>,
    pub outputs: IndexMap<String, Value>,
    pub notes: Vec<String>,
    /// What captures and checks read, when it is not the last response (merged pages).
    pub response: Option<exchange::ResponseRecord>,
}

/// Runs one flow from start to end.
pub async fn run_flow(
    flow: &Flow,
    options: &RunOptions,
    redactor: &Redactor,
    observer: &dyn Observer,
) -> FlowResult {
    let started = Instant::now();
    observer.flow_started(flow);
    let templates = Templates::new(
        crate::template::EnvLookup {
            env_file: std::sync::Arc::new(options.env_file.clone()),
        },
        redactor.clone(),
    );
    let mut result = FlowResult {
        name: flow.name.clone(),
        file: flow.source.name.clone(),
        steps: Vec::new(),
        skipped: Vec::new(),
        setup_error: None,
        outputs: IndexMap::new(),
        endpoint: None,
        duration: Duration::ZERO,
    };
    let mut oauth_state = oauth::FlowOAuthState::default();
    let mut vars = match scope::initial(
        flow,
        options,
        &templates,
        redactor,
        &mut oauth_state.stored_names,
    ) {
        Ok(vars) => vars,
        Err(err) => {
            result.setup_error = Some(err);
            result.skipped = flow.steps.iter().map(|s| s.name.clone()).collect();
            result.duration = started.elapsed();
            return result;
        }
    };
    let http = http::Http::new(options.oauth.rewrite.clone());
    oauth_state.fallback_endpoint = options.stored_endpoint.clone();
    let mut stopped = false;
    let mut cx = StepContext {
        flow,
        templates: &templates,
        vars: &mut vars,
        redactor,
        http: &http,
        oauth: &mut oauth_state,
        runtime: &options.oauth,
        observer,
        store: options.store.as_ref(),
    };
    if let Some(refreshed) = oauth::bearer::refresh_if_expiring(&mut cx).await {
        observer.step_finished(flow, None, &refreshed);
        stopped = refreshed.outcome() != Outcome::Passed;
        result.steps.push(refreshed);
    }
    for step in &flow.steps {
        if stopped {
            result.skipped.push(step.name.clone());
            continue;
        }
        observer.step_started(flow, step);
        let step_result = run_step(step, &mut cx).await;
        observer.step_finished(flow, Some(step), &step_result);
        stopped = step_result.outcome() != Outcome::Passed;
        result.steps.push(step_result);
    }
    oauth_state.close();
    result.endpoint = oauth_state.endpoint.clone();
    for (name, _) in &flow.outputs {
        if let Some(value) = vars.get(name) {
            result.outputs.insert(name.clone(), value.clone());
        }
    }
    result.duration = started.elapsed();
    result
}

/// Hands a passed flow's outputs to the token store.
pub fn store_outputs(
    store: &crate::store::ProfileStore,
    result: &FlowResult,
) -> Result<(), crate::store::StoreError> {
    if result.outcome() != Outcome::Passed || result.outputs.is_empty() {
        return Ok(());
    }
    let granted = |kind: &str| {
        result
            .steps
            .iter()
            .any(|s| s.kind == kind && s.saved.contains_key("ACCESS_TOKEN"))
    };
    let origin = if granted("token") {
        crate::store::Origin::Grant
    } else if granted("refresh") {
        crate::store::Origin::Refresh
    } else {
        crate::store::Origin::Other
    };
    store.update(|data| {
        crate::store::merge_tokens(data, &result.outputs, origin);
        if let Some(endpoint) = &result.endpoint {
            // A secret kept by an earlier run stays while the client is the same one.
            let kept = data
                .endpoint
                .as_ref()
                .filter(|old| {
                    old.token_url == endpoint.token_url && old.client_id == endpoint.client_id
                })
                .and_then(|old| old.client_secret.clone());
            data.endpoint = Some(crate::store::TokenEndpoint {
                client_secret: endpoint.client_secret.clone().or(kept),
                ..endpoint.clone()
            });
        }
    })?;
    Ok(())
}

async fn run_step(step: &Step, cx: &mut StepContext<'_>) -> StepResult {
    let mut result = StepResult::new(&step.name, step.action.kind());
    let started = Instant::now();
    let action = run_action(step, cx).await;
    result.exchanges = cx.http.take_journal();
    let output = match action {
        Ok(output) => output,
        Err(err) => {
            result.error = Some(err);
            result.duration = started.elapsed();
            return result;
        }
    };
    result.notes = output.notes;
    result.failures = output.failures;
    let merged = output.response;
    for (name, value) in output.outputs {
        cx.oauth.stored_names.remove(&name);
        scope::assign(cx.vars, cx.redactor, cx.flow, &name, value.clone(), false);
        result.saved.insert(name, value);
    }
    if let Some(response) = merged.or_else(|| result.exchanges.last().map(|e| e.response.clone())) {
        for (name, capture) in &step.save {
            match capture::extract(&capture.value, &response) {
                Ok(value) => {
                    cx.oauth.stored_names.remove(name);
                    scope::assign(
                        cx.vars,
                        cx.redactor,
                        cx.flow,
                        name,
                        value.clone(),
                        capture.value.secret,
                    );
                    result.saved.insert(name.clone(), value);
                }
                Err(message) => result.failures.push(Failure {
                    subject: format!("save {name}"),
                    message,
                    pos: crate::flow::node::pos_of(capture),
                }),
            }
        }
        let check_cx = expect::Context {
            templates: cx.templates,
            vars: cx.vars,
            redactor: cx.redactor,
        };
        match expect::check(&step.expect, &response, &check_cx) {
            Ok(failures) => result.failures.extend(failures),
            Err((error, pos)) => result.error = Some(StepError::Template { error, pos }),
        }
    }
    result.duration = started.elapsed();
    result
}

async fn run_action(step: &Step, cx: &mut StepContext<'_>) -> Result<ActionOutput, StepError> {
    match &step.action {
        Action::Http(spec) => {
            let prepared = http_step::prepare(spec, cx.templates, cx.vars)?;
            match &spec.paginate {
                Some(paginate) => paginate::run(prepared, &paginate.value, cx).await,
                None => oauth::bearer::send_with_refresh(prepared, cx)
                    .await
                    .map(|(_, output)| output),
            }
        }
        Action::Authorize(spec) => oauth::authorize::run(spec, cx).await,
        Action::Callback(spec) => oauth::callback::run(spec, cx).await,
        Action::Token(spec) => oauth::token::run_token(spec, cx).await,
        Action::Refresh(spec) => oauth::token::run_refresh(spec, cx).await,
        Action::Echo(spec) => oauth::echo::run(spec, cx).await,
    }
}

/// A duration as people read it: `850 ms`, `2.4 s`, `3 min`.
pub fn report_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} min", d.as_secs() / 60)
    }
}
