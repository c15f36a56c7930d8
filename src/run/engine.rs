//! The engine: initial variables → for each step: run its kind → assign its outputs → capture
//! → check. Progress goes to an [`Observer`] as each step ends; the [`FlowResult`] holds
//! everything for reports. The engine knows step kinds and hooks only through their traits.

use super::context::StepCx;
use super::expect::Checker;
use super::extensions::Extensions;
use super::http::Session;
use super::observer::{FlowNotes, Observer};
use super::options::RunOptions;
use super::result::{Failure, FlowResult, Outcome, StepResult};
use crate::flow::model::{Flow, Step};
use crate::template::Context;
use std::collections::HashMap;
use std::time::Instant;

/// What one flow run carries from step to step.
struct Run<'a> {
    flow: &'a Flow,
    options: &'a RunOptions,
    vars: Context,
    origins: HashMap<String, super::context::Origin>,
    session: Session,
    state: Extensions,
    artifacts: Extensions,
    notes: FlowNotes<'a>,
}

impl<'a> Run<'a> {
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
            produced: Default::default(),
            notes: Vec::new(),
        }
    }
}

/// Runs one flow from start to end.
pub async fn run_flow(flow: &Flow, options: &RunOptions, observer: &dyn Observer) -> FlowResult {
    let started = Instant::now();
    observer.flow_started(flow);
    let mut result = FlowResult::new(&flow.name, &flow.source.name);
    let (vars, origins) = match super::scope::initial(flow, options) {
        Ok(initial) => initial,
        Err(err) => {
            result.setup_error = Some(err);
            result.skipped = flow.steps.iter().map(|s| s.name.clone()).collect();
            result.duration = started.elapsed();
            return result;
        }
    };
    let mut run = Run {
        flow,
        options,
        vars,
        origins,
        session: Session::new(options.client.clone(), options.rewrite.clone()),
        state: Extensions::new(),
        artifacts: Extensions::new(),
        notes: FlowNotes { observer, flow },
    };
    // Whatever can be known before sending is checked before sending.
    let cx = run.cx();
    let refused = flow
        .steps
        .iter()
        .find_map(|step| step.action.preflight(&cx).err());
    drop(cx);
    if let Some(error) = refused {
        result.setup_error = Some(error);
        result.skipped = flow.steps.iter().map(|s| s.name.clone()).collect();
        result.duration = started.elapsed();
        return result;
    }
    let mut stopped = false;
    for hook in &options.hooks {
        let mut cx = run.cx();
        if let Some(added) = hook.before_flow(&mut cx).await {
            observer.step_finished(flow, None, &added);
            stopped |= added.outcome() != Outcome::Passed;
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
        stopped = step_result.outcome() != Outcome::Passed;
        result.steps.push(step_result);
    }
    for name in flow.output_names() {
        if let Some(value) = run.vars.vars.get(name) {
            result.outputs.insert(name.to_string(), value.clone());
        }
    }
    result.artifacts = std::mem::take(&mut run.artifacts);
    result.duration = started.elapsed();
    result
}

async fn run_step(step: &Step, run: &mut Run<'_>) -> StepResult {
    let mut result = StepResult::new(&step.name, step.kind);
    let started = Instant::now();
    let mut cx = run.cx();
    let action = step.action.run(&mut cx).await;
    result.exchanges = cx.session.take_journal();
    result.notes = std::mem::take(&mut cx.notes);
    result.saved = std::mem::take(&mut cx.produced);
    let output = match action {
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
        for capture in &step.save {
            match capture.extract(response) {
                Ok(value) => {
                    cx.set(&capture.name, value.clone(), capture.secret);
                    result.saved.insert(capture.name.clone(), value);
                }
                Err(message) => result.failures.push(Failure {
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
        match checker.check(&step.expect, response) {
            Ok(failures) => result.failures.extend(failures),
            Err(err) => result.error = Some(err.into()),
        }
    }
    result.duration = started.elapsed();
    result
}
