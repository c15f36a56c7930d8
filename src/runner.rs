//! `run` and `test`: set a run up (variables, token store, `--mock`, browser), order the flows
//! (a flow runs after the listed flows that output its inputs), run them (`--jobs` at once,
//! output kept in order, `--repeat` times), hand outputs to the store, and report.

use crate::app::{cli_vars, load_and_check};
use crate::cli::{Report, RunArgs, RunCommon, TestArgs};
use crate::exit;
use crate::flow::Flow;
use crate::oauth::OAuthRuntime;
use crate::oauth::browser::Browser;
use crate::report::terminal::{SharedBuffer, Terminal};
use crate::run::{self, FlowResult, RunOptions};
use crate::secret::Redactor;
use futures_util::StreamExt;
use indexmap::IndexMap;
use std::collections::BTreeSet;

/// A prepared run: flows in running order, options, and what must outlive the run.
pub struct Prepared {
    pub flows: Vec<Flow>,
    pub options: RunOptions,
    pub redactor: Redactor,
    pub terminal: Terminal,
    _mock: Option<crate::mock::Running>,
}

/// Everything before the first request. `Err` carries the exit code (problems are printed).
pub async fn prepare(common: &RunCommon) -> Result<Prepared, i32> {
    let redactor = Redactor::new(common.reveal);
    let terminal = Terminal::stderr(redactor.clone(), common.verbose);
    let cli = cli_vars(&common.vars).map_err(|problems| {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        exit::INVALID
    })?;
    let (flows, problems) = load_and_check(&common.flows, &cli.names());
    if !problems.is_empty() {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        eprintln!(
            "nothing was sent: fix the flow{} first (dmflow check shows the same)",
            if common.flows.len() == 1 { "" } else { "s" }
        );
        return Err(exit::INVALID);
    }
    let mut flows = order_by_inputs(flows, &terminal);
    if let Some((index, count)) = common.shard {
        flows = flows
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % count == index - 1)
            .map(|(_, f)| f)
            .collect();
        if flows.is_empty() {
            eprintln!("shard {index}/{count} has no flows");
        }
    }
    let browser = if common.mock {
        Browser::Internal
    } else if common.no_browser {
        Browser::Off
    } else if let Some(cmd) = &common.browser {
        Browser::Command(cmd.clone())
    } else {
        Browser::System
    };
    let mut options = RunOptions {
        cli_vars: cli.vars,
        env_file: cli.env_file,
        oauth: OAuthRuntime {
            browser,
            paste: common.no_browser,
            store_client_secret: common.store_client_secret,
            ..OAuthRuntime::default()
        },
        ..RunOptions::default()
    };
    let fail = |message: String, code: i32| {
        eprintln!("error: {message}");
        code
    };
    let state_dir = crate::paths::state_dir(common.store.state_dir.as_ref())
        .map_err(|m| fail(m, exit::RUNTIME))?;
    if !common.no_store {
        let profile = common.store.profile.clone().unwrap_or_else(|| {
            if common.mock {
                crate::store::MOCK_PROFILE
            } else {
                crate::store::DEFAULT_PROFILE
            }
            .to_string()
        });
        let store = crate::store::ProfileStore::new(&state_dir, &profile)
            .map_err(|e| fail(e.0, exit::INVALID))?;
        load_stored(&store, &mut options).map_err(|e| fail(e.0, exit::RUNTIME))?;
        options.store = Some(store);
    }
    let mock = if common.mock {
        Some(
            crate::mock::start_for_run(&mut options, &state_dir, common.token_ttl)
                .await
                .map_err(|m| fail(m, exit::RUNTIME))?,
        )
    } else {
        None
    };
    Ok(Prepared {
        flows,
        options,
        redactor,
        terminal,
        _mock: mock,
    })
}

/// Offers the profile's stored values to the run.
fn load_stored(
    store: &crate::store::ProfileStore,
    options: &mut RunOptions,
) -> Result<(), crate::store::StoreError> {
    let data = store.read()?;
    options.stored = data.values;
    options.stored_endpoint = data.endpoint;
    Ok(())
}

/// Keeps the given order, except that a flow whose required input another listed flow
/// outputs runs after that flow. Returns the flows in running order.
pub fn order_by_inputs(flows: Vec<Flow>, terminal: &Terminal) -> Vec<Flow> {
    let required = |f: &Flow| -> BTreeSet<String> {
        f.inputs
            .iter()
            .filter(|i| !i.optional)
            .map(|i| i.name.clone())
            .collect()
    };
    let provided =
        |f: &Flow| -> BTreeSet<String> { f.outputs.iter().map(|(n, _)| n.clone()).collect() };
    let all_outputs: BTreeSet<String> = flows.iter().flat_map(provided).collect();
    let mut remaining: Vec<Option<Flow>> = flows.into_iter().map(Some).collect();
    let mut available = BTreeSet::new();
    let mut ordered = Vec::new();
    while ordered.len() < remaining.len() {
        let ready = remaining.iter().position(|slot| {
            slot.as_ref().is_some_and(|f| {
                required(f)
                    .iter()
                    .all(|n| available.contains(n) || !all_outputs.contains(n))
            })
        });
        let index = ready.unwrap_or_else(|| {
            remaining
                .iter()
                .position(Option::is_some)
                .expect("a flow remains")
        });
        let flow = remaining[index].take().expect("the slot is full");
        available.extend(provided(&flow));
        ordered.push((index, flow));
    }
    if ordered.windows(2).any(|w| w[0].0 > w[1].0) {
        let names: Vec<&str> = ordered
            .iter()
            .map(|(_, f)| f.source.name.as_str())
            .collect();
        terminal.note(&format!(
            "running in this order, so each flow comes after the flows that output its inputs: {}",
            names.join(", ")
        ));
    }
    ordered.into_iter().map(|(_, f)| f).collect()
}

/// Runs every flow (`repeat` times), `jobs` at a time; returns the results in order.
pub async fn execute(prepared: &mut Prepared, common: &RunCommon) -> Result<Vec<FlowResult>, i32> {
    let jobs = usize::from(common.jobs);
    let mut results = Vec::new();
    let runs: Vec<(usize, u32)> = (0..prepared.flows.len())
        .flat_map(|i| (0..common.repeat).map(move |r| (i, r)))
        .collect();
    let progress = crate::report::terminal::Progress::new(runs.len(), jobs > 1);
    let mut position = 0;
    while position < runs.len() {
        // A batch runs in parallel: it ends before a flow that needs a value an earlier flow
        // of the batch outputs, or at `jobs` flows.
        let mut batch = vec![runs[position]];
        let mut outputs: BTreeSet<String> = prepared.flows[runs[position].0]
            .outputs
            .iter()
            .map(|(n, _)| n.clone())
            .collect();
        while batch.len() < jobs && position + batch.len() < runs.len() {
            let next = &prepared.flows[runs[position + batch.len()].0];
            if next.inputs.iter().any(|i| outputs.contains(&i.name)) {
                break;
            }
            outputs.extend(next.outputs.iter().map(|(n, _)| n.clone()));
            batch.push(runs[position + batch.len()]);
        }
        position += batch.len();
        let flows = &prepared.flows;
        let options = &prepared.options;
        let redactor = &prepared.redactor;
        let verbose = common.verbose;
        let live = batch.len() == 1;
        let terminal = &prepared.terminal;
        let outcomes: Vec<(FlowResult, Option<SharedBuffer>)> =
            futures_util::stream::iter(batch.iter().copied())
                .map(|(index, _)| async move {
                    let flow = &flows[index];
                    if live {
                        let result = run::run_flow(flow, options, redactor, terminal).await;
                        terminal.flow_finished(flow, &result);
                        (result, None)
                    } else {
                        let buffer = SharedBuffer::default();
                        let buffered = Terminal::new(
                            Box::new(buffer.clone()),
                            crate::report::terminal::stderr_color(),
                            redactor.clone(),
                            verbose,
                        );
                        let result = run::run_flow(flow, options, redactor, &buffered).await;
                        buffered.flow_finished(flow, &result);
                        (result, Some(buffer))
                    }
                })
                .buffered(jobs)
                .collect()
                .await;
        for ((index, _), (result, buffer)) in batch.iter().zip(outcomes) {
            if let Some(buffer) = buffer {
                progress.suspend(|| terminal.raw(&buffer.take()));
            }
            progress.advance();
            if let Some(store) = prepared.options.store.clone() {
                run::store_outputs(&store, &result)
                    .and_then(|()| load_stored(&store, &mut prepared.options))
                    .map_err(|e| {
                        eprintln!("error: {e}");
                        exit::RUNTIME
                    })?;
            }
            let _ = index;
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

/// Writes the `--report` files.
pub fn write_reports(
    reports: &[Report],
    results: &[FlowResult],
    redactor: &Redactor,
    extra_failures: &IndexMap<String, String>,
) -> Result<(), String> {
    for report in reports {
        let (path, text) = match report {
            Report::Junit(path) => (
                path,
                crate::report::junit::render(results, redactor, extra_failures)?,
            ),
            Report::Json(path) => (
                path,
                serde_json::to_string_pretty(&crate::report::json::results(results, redactor))
                    .unwrap_or_default(),
            ),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(path, text)
            .map_err(|e| format!("cannot write the report {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Prepares and runs; `Err` is the exit code of a run that could not start or store.
async fn prepare_and_execute(common: &RunCommon) -> Result<(Prepared, Vec<FlowResult>), i32> {
    let mut prepared = prepare(common).await?;
    let results = execute(&mut prepared, common).await?;
    Ok((prepared, results))
}

/// `dmflow run`.
pub async fn run_command(args: RunArgs) -> i32 {
    let (prepared, results) = match prepare_and_execute(&args.common).await {
        Ok(done) => done,
        Err(code) => return code,
    };
    prepared.terminal.summary(&results);
    let mut code = exit::worst(results.iter().map(FlowResult::exit_code));
    if let Err(message) = write_reports(
        &args.common.report,
        &results,
        &prepared.redactor,
        &IndexMap::new(),
    ) {
        eprintln!("error: {message}");
        code = exit::worst([code, exit::RUNTIME]);
    }
    if args.export.is_some() || args.export_file.is_some() {
        let mut values = IndexMap::new();
        for result in &results {
            values.extend(result.outputs.clone());
        }
        let format = args.export.unwrap_or(crate::export::Format::Dotenv);
        if let Err(message) = crate::export::emit(&values, format, args.export_file.as_deref()) {
            eprintln!("error: {message}");
            code = exit::worst([code, exit::RUNTIME]);
        }
    }
    if args.json {
        let doc = crate::report::json::results(&results, &prepared.redactor);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    code
}

/// `dmflow test`.
pub async fn test_command(args: TestArgs) -> i32 {
    let (prepared, results) = match prepare_and_execute(&args.common).await {
        Ok(done) => done,
        Err(code) => return code,
    };
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let mut mismatches: IndexMap<String, String> = IndexMap::new();
    let mut code = exit::worst(results.iter().map(FlowResult::exit_code));
    let last_runs = results
        .chunks(args.common.repeat as usize)
        .filter_map(|runs| runs.last());
    for (flow, result) in prepared.flows.iter().zip(last_runs) {
        let transcript = crate::report::transcript::transcript(
            result,
            &prepared.redactor,
            &crate::report::transcript::rules(flow),
        );
        let outcome = crate::snapshot::compare(&args.snapshots, flow, &transcript, args.update, ci);
        match outcome {
            Ok(crate::snapshot::Outcome::Matched) => {}
            Ok(crate::snapshot::Outcome::Written(path)) => prepared
                .terminal
                .note(&format!("wrote the snapshot {}", path.display())),
            Ok(crate::snapshot::Outcome::Differs { path, diff }) => {
                prepared.terminal.raw(&format!(
                    "snapshot {} differs from this run:\n{diff}",
                    path.display()
                ));
                mismatches.insert(
                    result.name.clone(),
                    format!("the transcript differs from {}", path.display()),
                );
            }
            Ok(crate::snapshot::Outcome::Missing(path)) => {
                prepared.terminal.raw(&format!(
                    "no snapshot at {} (CI=true: not writing it; run dmflow test --update)\n",
                    path.display()
                ));
                mismatches.insert(
                    result.name.clone(),
                    format!("no snapshot at {}", path.display()),
                );
            }
            Err(message) => {
                eprintln!("error: {message}");
                code = exit::worst([code, exit::RUNTIME]);
            }
        }
    }
    prepared.terminal.summary(&results);
    if !mismatches.is_empty() {
        eprintln!(
            "{} snapshot{} did not match",
            mismatches.len(),
            if mismatches.len() == 1 { "" } else { "s" }
        );
        code = exit::worst([code, exit::FAILED]);
    }
    if let Err(message) = write_reports(
        &args.common.report,
        &results,
        &prepared.redactor,
        &mismatches,
    ) {
        eprintln!("error: {message}");
        code = exit::worst([code, exit::RUNTIME]);
    }
    code
}
