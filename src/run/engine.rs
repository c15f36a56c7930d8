//! The engine: initial variables → for each step: `for_each:` → `if:` → `retry:` around one
//! attempt (run the kind or the sub-flow → assign its outputs → capture → check). Progress goes
//! to an [`Observer`] as each step ends; the [`FlowResult`] holds everything for reports. The
//! engine knows step kinds and hooks only through their traits.

use super::context::{Origin, StepCx};
use super::error::StepError;
use super::expect::Checker;
use super::extensions::Extensions;
use super::http::Session;
use super::observer::{FlowNotes, Observer};
use super::options::RunOptions;
use super::result::{Failure, FlowResult, Outcome, StepResult};
use super::scope::Given;
use crate::flow::model::{Flow, ForEach, Retry, Step, StepAction, SubFlow};
use crate::template::Context;
use futures_util::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a `Retry-After` answer is waited for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// What one flow run carries from step to step.
struct Run<'a> {
    flow: &'a Flow,
    options: &'a RunOptions,
    observer: &'a dyn Observer,
    vars: Context,
    origins: HashMap<String, Origin>,
    session: Arc<Session>,
    state: Extensions,
    artifacts: Extensions,
    notes: FlowNotes<'a>,
}

impl Run<'_> {
    fn cx(&mut self) -> StepCx<'_> {
        StepCx {
            vars: &mut self.vars,
            origins: &mut self.origins,
            session: &self.session,
            redactor: &self.options.redactor,
            secrets: &self.flow.secrets,
            state: &mut self.state,
            sections: &self.flow.sections,
            options: &self.options.extensions,
            artifacts: &mut self.artifacts,
            hooks: &self.options.hooks,
            live: &self.notes,
            flow_name: &self.flow.name,
            flow_file: &self.flow.source.name,
            flow_dir: &self.flow.dir,
            produced: Default::default(),
            notes: Vec::new(),
        }
    }
}

/// Whatever can be known before sending, checked before sending: each step rendered with the
/// flow's initial variables ([`super::kind::Action::preflight`]), the first refusal returned.
/// A variable an earlier step saves is left out from there on, since the step will see the
/// saved value: a template reading it waits for the run.
fn preflight(run: &mut Run<'_>) -> Option<StepError> {
    let flow = run.flow;
    let initial = run.vars.clone();
    let cx = run.cx();
    let refused = flow.steps.iter().find_map(|step| {
        let refused = match &step.action {
            StepAction::Kind(action) => action.preflight(&cx).err(),
            StepAction::Flow(_) => None,
        };
        for capture in &step.save {
            if cx.vars.vars.contains(&capture.name) {
                cx.vars.vars_mut().remove(&capture.name);
            }
        }
        refused
    });
    drop(cx);
    run.vars = initial;
    refused
}

/// Runs one flow from start to end.
pub async fn run_flow(flow: &Flow, options: &RunOptions, observer: &dyn Observer) -> FlowResult {
    run_with(flow, options, observer, Vec::new(), None).await
}

/// Runs a flow with values from a caller, on the caller's HTTP session when it has one.
pub fn run_with<'a>(
    flow: &'a Flow,
    options: &'a RunOptions,
    observer: &'a dyn Observer,
    given: Vec<Given>,
    session: Option<Arc<Session>>,
) -> BoxFuture<'a, FlowResult> {
    Box::pin(async move {
        let started = Instant::now();
        observer.flow_started(flow);
        let mut result = run_steps(flow, options, observer, given, session).await;
        result.duration = started.elapsed();
        observer.flow_ended(flow, &result);
        result
    })
}

async fn run_steps(
    flow: &Flow,
    options: &RunOptions,
    observer: &dyn Observer,
    given: Vec<Given>,
    session: Option<Arc<Session>>,
) -> FlowResult {
    let mut result = FlowResult::new(&flow.name, &flow.source.name);
    let refuse = |mut result: FlowResult, error: StepError| {
        result.setup_error = Some(error);
        result.skipped = flow.steps.iter().map(|s| s.name.clone()).collect();
        result
    };
    // A flow that runs on its caller's session is a sub-flow.
    let sub_flow = session.is_some();
    let (vars, origins) = match super::scope::initial(flow, options, &given, sub_flow) {
        Ok(initial) => initial,
        Err(error) => return refuse(result, error),
    };
    let session = session.unwrap_or_else(|| {
        Arc::new(Session::new(
            options.client.clone(),
            options.rewrite.clone(),
        ))
    });
    let mut run = Run {
        flow,
        options,
        observer,
        vars,
        origins,
        session,
        state: Extensions::new(),
        artifacts: Extensions::new(),
        notes: FlowNotes { observer, flow },
    };
    if let Some(error) = preflight(&mut run) {
        return refuse(result, error);
    }
    let mut stopped = false;
    for hook in &options.hooks {
        let mut cx = run.cx();
        if let Some(added) = hook.before_flow(&mut cx).await {
            observer.step_finished(flow, None, &added);
            stopped |= !added.went_well();
            result.steps.push(added);
        }
    }
    for step in &flow.steps {
        if stopped {
            result.skipped.push(step.name.clone());
            continue;
        }
        observer.step_started(flow, step);
        let step_result = run_step(step, &mut run).await;
        observer.step_finished(flow, Some(step), &step_result);
        stopped = !step_result.went_well();
        result.steps.push(step_result);
    }
    for name in flow.output_names() {
        if let Some(value) = run.vars.vars.get(name) {
            result.outputs.insert(name.to_string(), value.clone());
        }
    }
    result.artifacts = std::mem::take(&mut run.artifacts);
    result
}

async fn run_step(step: &Step, run: &mut Run<'_>) -> StepResult {
    match &step.each {
        None => run_once(step, run).await,
        Some(each) => run_each(step, each, run).await,
    }
}

/// `for_each:`: one run per item; what the step saves collects into lists.
async fn run_each(step: &Step, each: &ForEach, run: &mut Run<'_>) -> StepResult {
    let started = Instant::now();
    let mut result = StepResult::new(&step.name, step.kind);
    let items = match each.items.render(&run.vars) {
        Ok(Value::Array(items)) => items,
        Ok(other) => {
            result.error = Some(StepError::invalid(
                format!(
                    "`for_each:` goes over a list, and this is {}",
                    super::expect::type_of(&other)
                ),
                Some(each.pos),
                Some(
                    "give it a list, such as a value saved with a JSONPath matching several items",
                ),
            ));
            return result;
        }
        Err(error) => {
            result.error = Some(error.into());
            return result;
        }
    };
    if items.len() > each.max {
        result.error = Some(StepError::invalid(
            format!(
                "`for_each:` has {} items, more than its limit of {}",
                items.len(),
                each.max
            ),
            Some(each.pos),
            Some("raise `max_items:` on the step if that many is intended"),
        ));
        return result;
    }
    let mut lists: indexmap::IndexMap<String, Vec<Value>> = indexmap::IndexMap::new();
    for (index, item) in items.into_iter().enumerate() {
        let mut cx = run.cx();
        cx.set(&each.item, item, false);
        cx.set(&each.index, Value::from(index), false);
        drop(cx);
        let mut one = run_once(step, run).await;
        one.name = format!("{}[{index}]", step.name);
        for (name, value) in &one.saved {
            lists.entry(name.clone()).or_default().push(value.clone());
        }
        let stop = !one.went_well();
        result.iterations.push(one);
        if stop {
            break;
        }
    }
    let mut cx = run.cx();
    for (name, values) in lists {
        let list = Value::Array(values);
        cx.set(&name, list.clone(), false);
        result.saved.insert(name, list);
    }
    result.duration = started.elapsed();
    result
}

/// Whether a rendered condition holds: false, null, 0, "", "false", "0", [] and {} do not.
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "0" | "no" | "none" | "null"
        ),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}

/// `if:`, then the step (with its retries).
async fn run_once(step: &Step, run: &mut Run<'_>) -> StepResult {
    if let Some(condition) = &step.condition {
        match condition.render_value(&run.vars) {
            Ok(value) if !truthy(&value) => {
                let mut result = StepResult::new(&step.name, step.kind);
                result.skipped = Some(format!(
                    "if: {} is {}",
                    condition.template.source().trim(),
                    run.options.redactor.mask(&value.to_string())
                ));
                return result;
            }
            Ok(_) => {}
            Err(error) => {
                let mut result = StepResult::new(&step.name, step.kind);
                result.error = Some(error.into());
                return result;
            }
        }
    }
    match &step.retry {
        None => attempt(step, run).await,
        Some(retry) => retried(step, retry, run).await,
    }
}

/// What to do after an attempt.
enum Next {
    Done,
    /// Again, after the server's `Retry-After` when it gave one.
    Again(Option<Duration>),
}

/// `retry:`: attempts until the step passes (or `until:` holds), waiting longer each time.
async fn retried(step: &Step, retry: &Retry, run: &mut Run<'_>) -> StepResult {
    let started = Instant::now();
    let mut earlier = Vec::new();
    let mut wait = retry.interval;
    for number in 1..=retry.attempts {
        run.cx().set(Retry::ATTEMPT, Value::from(number), false);
        let mut result = attempt(step, run).await;
        let next = decide(retry, &result, run);
        let pause = match &next {
            Next::Again(Some(after)) => (*after).min(MAX_RETRY_AFTER),
            _ => wait,
        };
        let out_of_time = retry
            .timeout
            .is_some_and(|limit| started.elapsed() + pause > limit);
        if matches!(next, Next::Done) || number == retry.attempts || out_of_time {
            if let (Next::Again(_), Some(until)) = (&next, &retry.until)
                && result.went_well()
            {
                result.failures.push(Failure {
                    subject: "retry until".into(),
                    message: format!(
                        "{} still does not hold after {number} attempt{}{}",
                        until.template.source().trim(),
                        if number == 1 { "" } else { "s" },
                        if out_of_time { " (retry timeout)" } else { "" }
                    ),
                    pos: until.pos,
                });
            }
            if number > 1 {
                result.notes.push(format!("{number} attempts"));
            }
            result.attempts = earlier;
            result.duration = started.elapsed();
            return result;
        }
        earlier.push(result);
        run.notes.observer.wait_started(
            run.flow,
            &format!(
                "{}: attempt {} of {} in {}",
                step.name,
                number + 1,
                retry.attempts,
                super::duration::show(pause)
            ),
        );
        let interrupted = tokio::select! {
            _ = tokio::time::sleep(pause) => false,
            _ = tokio::signal::ctrl_c() => true,
        };
        run.notes.observer.wait_finished(run.flow);
        if interrupted {
            let mut result = StepResult::new(&step.name, step.kind);
            result.error = Some(StepError::Interrupted);
            result.attempts = earlier;
            result.duration = started.elapsed();
            return result;
        }
        wait = wait.mul_f64(retry.backoff).min(retry.max_interval);
    }
    unreachable!("the last attempt returns")
}

/// Whether an attempt calls for another.
fn decide(retry: &Retry, result: &StepResult, run: &Run<'_>) -> Next {
    let last = result.exchanges.last();
    if let (Some(set), Some(exchange)) = (&retry.on_status, last)
        && set.contains(exchange.response.status)
    {
        let after = exchange
            .response
            .header("retry-after")
            .and_then(retry_after);
        return Next::Again(after);
    }
    if let Some(error) = &result.error {
        return match error {
            StepError::Network(_) if retry.on_network => Next::Again(None),
            _ => Next::Done,
        };
    }
    match &retry.until {
        Some(until) => match until.render_value(&run.vars) {
            Ok(value) if truthy(&value) => Next::Done,
            _ => Next::Again(None),
        },
        None if !result.failures.is_empty() => Next::Again(None),
        None => Next::Done,
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub fn retry_after(header: &str) -> Option<Duration> {
    let header = header.trim();
    if let Ok(seconds) = header.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = jiff::fmt::rfc2822::parse(header).ok()?.timestamp();
    let now = jiff::Timestamp::now();
    Some(Duration::from_secs(
        at.duration_since(now).as_secs().max(0) as u64
    ))
}

/// One attempt of a step: its action, its outputs, its captures and checks.
async fn attempt(step: &Step, run: &mut Run<'_>) -> StepResult {
    match &step.action {
        StepAction::Kind(_) => attempt_kind(step, run).await,
        StepAction::Flow(sub) => attempt_flow(step, sub, run).await,
    }
}

async fn attempt_kind(step: &Step, run: &mut Run<'_>) -> StepResult {
    let StepAction::Kind(action) = &step.action else {
        unreachable!("a step kind's action")
    };
    let mut result = StepResult::new(&step.name, step.kind);
    let started = Instant::now();
    let mut cx = run.cx();
    let outcome = action.run(&mut cx).await;
    result.exchanges = cx.session.take_journal();
    result.notes = std::mem::take(&mut cx.notes);
    result.saved = std::mem::take(&mut cx.produced);
    let output = match outcome {
        Ok(output) => output,
        Err(err) => {
            result.error = Some(err);
            result.duration = started.elapsed();
            return result;
        }
    };
    result.notes.extend(output.notes);
    result.failures = output.failures;
    for (name, value) in output.outputs {
        cx.set(&name, value.clone(), false);
        result.saved.insert(name, value);
    }
    let response = output
        .response
        .as_ref()
        .or_else(|| result.exchanges.last().map(|e| &e.response));
    if let Some(response) = response {
        let mut failures = Vec::new();
        for capture in &step.save {
            match capture.extract_masked(response, cx.redactor) {
                Ok(value) => {
                    cx.set(&capture.name, value.clone(), capture.secret);
                    result.saved.insert(capture.name.clone(), value);
                }
                Err(message) => failures.push(Failure {
                    subject: format!("save {}", capture.name),
                    message,
                    pos: capture.pos,
                }),
            }
        }
        let checker = Checker {
            vars: cx.vars,
            redactor: cx.redactor,
        };
        // What the response is comes first, what could not be taken from it after.
        match checker.check(&step.expect, response) {
            Ok(found) => result.failures.extend(found),
            Err(err) => result.error = Some(err.into()),
        }
        if !step.expect.has_status() && response.status >= 400 {
            result.failures.insert(
                0,
                Failure {
                    subject: "status".into(),
                    message: format!(
                        "expected a success, got {} (write `expect: {{ status: {} }}` if this answer is the one you want)",
                        response.status, response.status
                    ),
                    pos: step.pos,
                },
            );
        }
        result.failures.extend(failures);
    }
    result.duration = started.elapsed();
    result
}

/// A sub-flow: its `with:` values and the caller's inputs go in, its outputs come out.
async fn attempt_flow(step: &Step, sub: &SubFlow, run: &mut Run<'_>) -> StepResult {
    let started = Instant::now();
    let mut result = StepResult::new(&step.name, step.kind);
    let mut given = Vec::new();
    for (name, tree) in &sub.with {
        match tree.render(&run.vars) {
            Ok(value) => given.push(Given {
                name: name.clone(),
                value,
                origin: Origin::Step,
            }),
            Err(error) => {
                result.error = Some(error.into());
                return result;
            }
        }
    }
    for input in &sub.flow.inputs {
        if given.iter().any(|g| g.name == input.name) {
            continue;
        }
        if let Some(value) = run.vars.vars.get(&input.name) {
            given.push(Given {
                name: input.name.clone(),
                value: value.clone(),
                origin: run
                    .origins
                    .get(&input.name)
                    .copied()
                    .unwrap_or(Origin::Step),
            });
        }
    }
    let inner = run_with(
        &sub.flow,
        run.options,
        run.observer,
        given,
        Some(run.session.clone()),
    )
    .await;
    let mut cx = run.cx();
    if inner.outcome() == Outcome::Passed {
        for (name, value) in &inner.outputs {
            cx.set(name, value.clone(), false);
            result.saved.insert(name.clone(), value.clone());
        }
    }
    drop(cx);
    let mut inner = inner;
    run.artifacts.absorb(std::mem::take(&mut inner.artifacts));
    result.flow = Some(Box::new(inner));
    result.duration = started.elapsed();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn truthiness() {
        for yes in [
            json!(true),
            json!(1),
            json!("yes"),
            json!("published"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(truthy(&yes), "{yes}");
        }
        for no in [
            json!(false),
            json!(0),
            json!(""),
            json!("false"),
            json!("0"),
            json!(null),
            json!([]),
            json!({}),
        ] {
            assert!(!truthy(&no), "{no}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
