//! Running prepared flows: `--jobs` at once (a flow never runs beside the flow it takes inputs
//! from, and each flow's output is printed whole and in order), `--repeat` times, each passed
//! flow's outputs handed to the token store before the next flow reads it.

use super::Failure;
use super::setup::{Prepared, load_stored};
use super::ui::{Progress, stderr_color};
use crate::cli::RunCommon;
use dmflow::Category;
use dmflow::report::terminal::{SharedBuffer, Terminal};
use dmflow::run::FlowResult;
use dmflow::tokens::TokenSupport;
use futures_util::StreamExt;
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// Runs every flow (`repeat` times), `jobs` at a time; returns the results in order.
pub async fn execute(
    prepared: &mut Prepared,
    common: &RunCommon,
) -> Result<Vec<FlowResult>, Failure> {
    let jobs = usize::from(common.jobs);
    let mut results = Vec::new();
    let runs: Vec<usize> = (0..prepared.flows.len())
        .flat_map(|i| std::iter::repeat_n(i, common.repeat as usize))
        .collect();
    let progress = Progress::new(runs.len(), jobs > 1);
    let mut position = 0;
    while position < runs.len() {
        // A batch runs in parallel: it ends before a flow that needs a value an earlier flow
        // of the batch outputs, or at `jobs` flows.
        let mut batch = vec![runs[position]];
        let mut outputs: BTreeSet<&str> = prepared.flows[runs[position]].output_names().collect();
        while batch.len() < jobs && position + batch.len() < runs.len() {
            let next = &prepared.flows[runs[position + batch.len()]];
            if next
                .inputs
                .iter()
                .any(|i| outputs.contains(i.name.as_str()))
            {
                break;
            }
            outputs.extend(next.output_names());
            batch.push(runs[position + batch.len()]);
        }
        position += batch.len();
        let flows = &prepared.flows;
        let options = &prepared.options;
        let verbose = common.verbose;
        let live = batch.len() == 1;
        let terminal = &prepared.terminal;
        let outcomes: Vec<(FlowResult, Option<SharedBuffer>)> =
            futures_util::stream::iter(batch.iter().copied())
                .map(|index| async move {
                    let flow = &flows[index];
                    if live {
                        let result = dmflow::run_flow(flow, options, terminal).await;
                        terminal.flow_finished(flow, &result);
                        (result, None)
                    } else {
                        let buffer = SharedBuffer::default();
                        let buffered = Terminal::new(
                            Box::new(buffer.clone()),
                            stderr_color(),
                            options.redactor.clone(),
                            verbose,
                        );
                        let result = dmflow::run_flow(flow, options, &buffered).await;
                        buffered.flow_finished(flow, &result);
                        (result, Some(buffer))
                    }
                })
                .buffered(jobs)
                .collect()
                .await;
        for (result, buffer) in outcomes {
            if let Some(buffer) = buffer {
                progress.suspend(|| terminal.raw(&buffer.take()));
            }
            progress.advance();
            let store = prepared
                .options
                .extensions
                .get::<TokenSupport>()
                .and_then(|s| s.store.clone());
            if let Some(store) = store {
                dmflow::tokens::merge::store_outputs(&store, &result)
                    .await
                    .map_err(|e| Failure::new(Category::Runtime, e.0, None))?;
                load_stored(&mut prepared.options).await?;
            }
            results.push(result);
        }
    }
    progress.finish();
    if common.repeat > 1 {
        repeat_summary(&results, &prepared.terminal);
    }
    Ok(results)
}

/// Timing distribution per flow over its repetitions.
fn repeat_summary(results: &[FlowResult], terminal: &Terminal) {
    let mut by_flow: IndexMap<&str, Vec<f64>> = IndexMap::new();
    for result in results {
        by_flow
            .entry(result.file.as_str())
            .or_default()
            .push(result.duration.as_secs_f64() * 1000.0);
    }
    for (file, mut times) in by_flow {
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        terminal.note(&format!(
            "{file}: {} runs, min {:.1} ms, median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            times.len(),
            at(0.0),
            at(0.5),
            at(0.95),
            at(1.0)
        ));
    }
}
