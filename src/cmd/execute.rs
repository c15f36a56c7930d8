//! Running planned flows: `--jobs` at once (a flow never runs beside a flow whose outputs it
//! takes), `--repeat` times, each flow's inputs from its providers' latest passed run (see
//! [`super::plan`]), each passed flow's outputs handed to the token store. A flow whose
//! provider did not pass is not run. Output is printed whole and in order when flows run at
//! once; under `--quiet`, only for flows that did not pass.
//!
//! Flows that run at once run on threads of their own ([`Workers`]), so `--jobs 2` uses two
//! cores; under `--mock` they take turns on the calling thread, where the emulator serves.

use super::Failure;
use super::plan::Plan;
use super::setup::Prepared;
use super::ui::{Progress, stderr_color};
use crate::cli::RunCommon;
use dmflow::flow::Flow;
use dmflow::flow::model::Step;
use dmflow::report::terminal::{SharedBuffer, Terminal};
use dmflow::run::http::Client;
use dmflow::run::observer::Observer;
use dmflow::run::result::{Outcome, StepResult};
use dmflow::run::{FlowResult, StepError};
use futures_util::StreamExt;
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// The latest passed run of each flow: its place in the run and its outputs.
type Passed = Vec<Option<(usize, IndexMap<String, Value>)>>;

/// A flow's inputs, or the input whose provider (by index) has not passed.
type Inputs = Result<IndexMap<String, Value>, (String, usize)>;

/// Runs every flow (`repeat` times), `jobs` at a time; returns the results in running order.
pub async fn execute(
    prepared: &mut Prepared,
    common: &RunCommon,
) -> Result<Vec<FlowResult>, Failure> {
    let jobs = usize::from(common.jobs);
    let quiet = super::ui::quiet();
    let count = prepared.plan.flows.len();
    let runs: Vec<usize> = (0..count)
        .flat_map(|i| std::iter::repeat_n(i, common.repeat as usize))
        .collect();
    let progress = Progress::new(runs.len(), jobs > 1);
    let mut passed: Passed = vec![None; count];
    let mut results: Vec<FlowResult> = Vec::new();
    // Where each flow's latest run is in `results`: a passed run is compacted once a newer run
    // of the same flow exists (--repeat), so a long repetition does not hold every response.
    let mut last_run: Vec<Option<usize>> = vec![None; count];
    let workers = (jobs > 1 && runs.len() > 1 && !prepared.mock)
        .then(|| Workers::new(jobs.min(runs.len()), prepared.client()))
        .transpose()
        .map_err(thread_failure)?;
    let mut position = 0;
    while position < runs.len() {
        let batch = next_batch(&prepared.plan.flows, &runs[position..], jobs);
        let prepared_ref = &*prepared;
        let held = quiet || batch.len() > 1;
        let verbose = common.verbose;
        let outcomes: Vec<(FlowResult, Option<String>)> = match &workers {
            Some(workers) if batch.len() > 1 => {
                let inputs: Vec<(usize, Inputs)> = batch
                    .iter()
                    .map(|&index| (index, inputs_for(&prepared_ref.plan, index, &passed)))
                    .collect();
                workers
                    .run(inputs, |(index, inputs), client| {
                        run_one(prepared_ref, index, inputs, true, verbose, Some(client))
                    })
                    .map_err(thread_failure)?
            }
            _ => futures_util::stream::iter(batch.iter().copied())
                .map(|index| {
                    let inputs = inputs_for(&prepared_ref.plan, index, &passed);
                    async move { run_one(prepared_ref, index, inputs, held, verbose, None).await }
                })
                .buffered(jobs)
                .collect()
                .await,
        };
        for (mut result, held_output) in outcomes {
            let index = runs[position];
            position += 1;
            if let Some(text) = held_output {
                progress.suspend(|| prepared.terminal.raw(&text));
            }
            progress.advance();
            let store = prepared.store().cloned();
            let notes = dmflow::tokens::merge::hand_over(store.as_ref(), &mut result)
                .await
                .map_err(super::setup::store_failure)?;
            notes.iter().for_each(|n| prepared.terminal.note(n));
            // The next run starts from what this one stored (none follows the last).
            if store.is_some() && position < runs.len() {
                prepared.reload().await?;
            }
            if result.outcome() == Outcome::Passed {
                passed[index] = Some((position, result.outputs.clone()));
            }
            results.push(result);
            if let Some(earlier) = last_run[index].replace(results.len() - 1)
                && results[earlier].outcome() == Outcome::Passed
            {
                results[earlier].compact();
            }
        }
    }
    progress.finish();
    if common.repeat > 1 {
        for t in dmflow::report::json::timings(&results) {
            prepared.terminal.notice(&format!(
                "{}: {} runs, min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                t.file, t.runs, t.min_ms, t.median_ms, t.p95_ms, t.max_ms
            ));
        }
    }
    Ok(results)
}

/// The threads flows run on at once: each with a runtime and HTTP client of its own, kept for
/// the whole run so that its connections serve every batch it runs.
struct Workers {
    slots: Vec<(tokio::runtime::Runtime, Client)>,
    /// Each thread's stack: the main thread's, as templates and values recurse as deep there.
    stack: usize,
}

impl Workers {
    fn new(jobs: usize, client: &Client) -> std::io::Result<Workers> {
        let slots = (0..jobs)
            .map(|_| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                Ok((runtime, client.with_own_pools()))
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Workers {
            slots,
            stack: 8 << 20,
        })
    }

    /// Runs `work` on each item, each on a thread of its own with its runtime and client, and
    /// waits for all of them (the calling thread only waits: nothing they need runs on it).
    /// `Err` when the system would not start a thread (the threads started are waited for).
    fn run<I, T, F>(
        &self,
        items: Vec<I>,
        work: impl Fn(I, Client) -> F + Sync,
    ) -> std::io::Result<Vec<T>>
    where
        I: Send,
        T: Send,
        F: std::future::Future<Output = T>,
    {
        debug_assert!(
            items.len() <= self.slots.len(),
            "a batch holds at most --jobs runs"
        );
        let work = &work;
        std::thread::scope(|scope| {
            let mut threads = Vec::with_capacity(items.len());
            for (item, (runtime, client)) in items.into_iter().zip(&self.slots) {
                let job = move || runtime.block_on(work(item, client.clone()));
                threads.push(
                    std::thread::Builder::new()
                        .name("dmflow-job".into())
                        .stack_size(self.stack)
                        .spawn_scoped(scope, job)?,
                );
            }
            Ok(threads
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect())
        })
    }
}

impl Drop for Workers {
    /// The runtimes are dropped inside the caller's runtime, where waiting is not allowed: their
    /// idle connections are let go without waiting.
    fn drop(&mut self) {
        for (runtime, _) in self.slots.drain(..) {
            runtime.shutdown_background();
        }
    }
}

/// The system would not give `--jobs` its runtimes or threads.
fn thread_failure(error: std::io::Error) -> Failure {
    Failure::new(
        dmflow::Category::Runtime,
        format!("cannot start the threads of --jobs: {error}"),
        Some("run with fewer --jobs"),
    )
}

/// The runs that start together: up to `jobs`, ending before a flow that takes an input an
/// earlier flow of the batch outputs (its provider, or itself under `--repeat`).
fn next_batch(flows: &[Flow], runs: &[usize], jobs: usize) -> Vec<usize> {
    let mut batch = vec![runs[0]];
    let mut outputs: BTreeSet<&str> = flows[runs[0]].output_names().collect();
    for &next in runs.iter().skip(1).take(jobs - 1) {
        let flow = &flows[next];
        if flow
            .inputs
            .iter()
            .any(|i| outputs.contains(i.name.as_str()))
        {
            break;
        }
        outputs.extend(flow.output_names());
        batch.push(next);
    }
    batch
}

/// The values a flow takes from its providers: for each bound input, the latest passed run of
/// its provider (or of the flow itself, when it outputs the input too). `Err` names a required
/// input whose provider has not passed.
fn inputs_for(plan: &Plan, flow: usize, passed: &Passed) -> Inputs {
    let mut inputs = IndexMap::new();
    let own: BTreeSet<&str> = plan.flows[flow].output_names().collect();
    for (name, provider) in &plan.providers[flow] {
        let latest = [*provider, flow]
            .into_iter()
            .filter(|&candidate| candidate == *provider || own.contains(name.as_str()))
            .filter_map(|candidate| passed[candidate].as_ref())
            .max_by_key(|(at, _)| *at);
        let required = plan.flows[flow]
            .inputs
            .iter()
            .any(|i| i.name == *name && !i.optional);
        match latest {
            Some((_, outputs)) => {
                if let Some(value) = outputs.get(name) {
                    inputs.insert(name.clone(), value.clone());
                }
            }
            None if required => return Err((name.clone(), *provider)),
            None => {}
        }
    }
    Ok(inputs)
}

/// Runs one flow (or says why it is not run); with `held`, its lines are returned instead of
/// printed (under `--quiet`, only when it did not pass). `client` replaces the process's for a
/// flow on a worker thread.
async fn run_one(
    prepared: &Prepared,
    index: usize,
    inputs: Inputs,
    held: bool,
    verbose: bool,
    client: Option<Client>,
) -> (FlowResult, Option<String>) {
    let flow = &prepared.plan.flows[index];
    let live = &prepared.terminal;
    let hold = held.then(|| Held::new(prepared, verbose));
    let observer: &dyn Observer = match &hold {
        Some(hold) => hold,
        None => live,
    };
    let result = match inputs {
        Ok(inputs) => {
            let mut options = prepared.options(flow, inputs);
            if let Some(client) = client {
                options.client = client;
            }
            dmflow::run_flow(flow, &options, observer).await
        }
        Err((input, provider)) => {
            observer.flow_started(flow);
            let result = not_run(flow, &input, &prepared.plan.flows[provider]);
            observer.flow_ended(flow, &result);
            result
        }
    };
    match hold {
        Some(hold) => {
            hold.target(live).flow_finished(flow, &result);
            let show = !super::ui::quiet() || result.outcome() != Outcome::Passed;
            let text = hold.take();
            (result, show.then_some(text).filter(|t| !t.is_empty()))
        }
        None => {
            live.flow_finished(flow, &result);
            (result, None)
        }
    }
}

/// The result of a flow that is not run because the flow its input comes from did not pass.
fn not_run(flow: &Flow, input: &str, provider: &Flow) -> FlowResult {
    let mut result = FlowResult::new(&flow.name, &flow.source.name);
    result.setup_error = Some(StepError::refused(
        format!(
            "not run: its input `{input}` comes from the flow `{}` ({}), which did not pass",
            provider.name, provider.source.name
        ),
        Some(&format!(
            "fix `{}` first, or give the value yourself: --var {input}=...",
            provider.name
        )),
    ));
    result.skipped = flow.steps.iter().map(|s| s.name.clone()).collect();
    result
}

/// A flow's lines kept back until it ends. When it waits for someone in the browser (not
/// under `--mock`), what it has so far is shown at once and the rest goes live: the sign-in
/// URL must be seen.
struct Held<'a> {
    buffer: SharedBuffer,
    buffered: Terminal,
    live: &'a Terminal,
    released: AtomicBool,
    release_on_wait: bool,
}

impl<'a> Held<'a> {
    fn new(prepared: &'a Prepared, verbose: bool) -> Held<'a> {
        let buffer = SharedBuffer::default();
        let buffered = Terminal::new(
            Box::new(buffer.clone()),
            stderr_color(),
            prepared.redactor.clone(),
            verbose,
        );
        Held {
            buffer,
            buffered,
            live: &prepared.terminal,
            released: AtomicBool::new(false),
            release_on_wait: !prepared.mock,
        }
    }

    fn target(&self, live: &'a Terminal) -> &Terminal {
        if self.released.load(Ordering::SeqCst) {
            live
        } else {
            &self.buffered
        }
    }

    fn take(&self) -> String {
        self.buffer.take()
    }
}

/// Every event goes on, to the buffer or (once released) the terminal.
impl Observer for Held<'_> {
    fn flow_started(&self, flow: &Flow) {
        Observer::flow_started(self.target(self.live), flow);
    }
    fn flow_ended(&self, flow: &Flow, result: &dmflow::run::result::FlowResult) {
        Observer::flow_ended(self.target(self.live), flow, result);
    }
    fn progress(&self, flow: &Flow, label: &str, done: u64, total: Option<u64>) {
        Observer::progress(self.target(self.live), flow, label, done, total);
    }
    fn progress_finished(&self, flow: &Flow) {
        Observer::progress_finished(self.target(self.live), flow);
    }
    fn step_started(&self, flow: &Flow, step: &Step) {
        Observer::step_started(self.target(self.live), flow, step);
    }
    fn note(&self, flow: &Flow, note: &str) {
        Observer::note(self.target(self.live), flow, note);
    }
    fn wait_started(&self, flow: &Flow, message: &str) {
        if self.release_on_wait && !self.released.swap(true, Ordering::SeqCst) {
            self.live.raw(&self.buffer.take());
        }
        Observer::wait_started(self.target(self.live), flow, message);
    }
    fn wait_finished(&self, flow: &Flow) {
        Observer::wait_finished(self.target(self.live), flow);
    }
    fn step_finished(&self, flow: &Flow, step: Option<&Step>, result: &StepResult) {
        Observer::step_finished(self.target(self.live), flow, step, result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Each flow of a batch runs on a thread of its own, at the same time as the others: each
    /// item waits (bounded) for the other to have started, which one thread could not do.
    #[test]
    fn a_batch_runs_on_threads_of_its_own_at_once() {
        let workers = Workers::new(2, &Client::new()).unwrap();
        let (first_tx, first_rx) = mpsc::channel::<()>();
        let (second_tx, second_rx) = mpsc::channel::<()>();
        let items = vec![(first_tx, second_rx), (second_tx, first_rx)];
        let threads = workers
            .run(items, |(arrived, other), _client| async move {
                arrived.send(()).unwrap();
                let met = other.recv_timeout(Duration::from_secs(20)).is_ok();
                (std::thread::current().id(), met)
            })
            .unwrap();
        assert_eq!(threads.len(), 2);
        assert!(
            threads.iter().all(|(_, met)| *met),
            "the two ran one after the other"
        );
        assert_ne!(threads[0].0, threads[1].0);
        assert_ne!(threads[0].0, std::thread::current().id());
    }

    /// A thread the system will not start ends the run with an error that says so, after the
    /// threads already started have finished; nothing panics.
    #[test]
    fn a_thread_that_cannot_start_is_an_error() {
        let mut workers = Workers::new(2, &Client::new()).unwrap();
        workers.stack = 1 << 50; // more address space than the process has
        let outcome = workers.run(vec![1, 2], |n, _client| async move { n });
        let error = outcome.expect_err("no thread has a petabyte of stack");
        let failure = thread_failure(error);
        assert_eq!(failure.category, dmflow::Category::Runtime);
        assert!(
            failure
                .message
                .contains("cannot start the threads of --jobs"),
            "{}",
            failure.message
        );
    }
}
