//! `dmflow test`: run flows and compare each one's redacted transcript with its snapshot. A
//! failed comparison fails the flow everywhere: the exit code, the terminal (✗ and the diff),
//! `--json` and the reports.

use super::Failure;
use super::execute::execute;
use super::run::{print_json, write_reports};
use super::setup::prepare;
use crate::cli::TestArgs;
use dmflow::Category;
use dmflow::exit::worst;
use dmflow::snapshot::Outcome as Snapshot;
use std::collections::BTreeMap;

pub async fn command(args: TestArgs) -> Result<Category, Failure> {
    let mut prepared = prepare(&args.common).await?;
    check_names(&prepared.listed)?;
    let results = execute(&mut prepared, &args.common).await?;
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let redactor = &prepared.redactor;
    let terminal = &prepared.terminal;
    let mut category = Category::Ok;
    let repeat = args.common.repeat as usize;
    // Each flow's last run is compared with its snapshot.
    let mut verdicts: Vec<Option<Snapshot>> = vec![None; results.len()];
    for (index, flow) in prepared.plan.flows.iter().enumerate() {
        let last = (index + 1) * repeat - 1;
        let Some(result) = results.get(last) else {
            continue;
        };
        let transcript = dmflow::report::transcript::transcript(result, redactor, &flow.redact);
        match dmflow::snapshot::compare(&args.snapshots, flow, &transcript, args.update, ci) {
            Ok(verdict) => {
                terminal.snapshot(&flow.name, &verdict);
                verdicts[last] = Some(verdict);
            }
            Err(message) => {
                eprintln!("error: {message}");
                category = Category::Runtime;
            }
        }
    }
    terminal.summary(&results, &verdicts);
    let failed = verdicts.iter().flatten().filter(|v| v.failed()).count();
    if failed > 0 {
        eprintln!(
            "{failed} snapshot{} did not match",
            if failed == 1 { "" } else { "s" }
        );
    }
    category = worst(
        results
            .iter()
            .zip(&verdicts)
            .map(|(r, v)| dmflow::snapshot::category(r, v.as_ref()))
            .chain([category]),
    );
    if let Err(message) = write_reports(&args.common.report, &results, redactor, &verdicts) {
        eprintln!("error: {message}");
        category = worst([category, Category::Runtime]);
    }
    if args.common.json {
        print_json(&results, redactor, &verdicts, category);
    }
    Ok(category)
}

/// Two flow files whose names give the same snapshot file would overwrite each other's
/// snapshot: a usage error, before anything runs.
fn check_names(listed: &[(String, String)]) -> Result<(), Failure> {
    let mut by_file: BTreeMap<String, Vec<&(String, String)>> = BTreeMap::new();
    for flow in listed {
        let entry = by_file
            .entry(dmflow::snapshot::file_name(&flow.0))
            .or_default();
        if !entry.iter().any(|(_, file)| *file == flow.1) {
            entry.push(flow);
        }
    }
    let clashes: Vec<String> = by_file
        .iter()
        .filter(|(_, flows)| flows.len() > 1)
        .map(|(snap, flows)| {
            let files: Vec<String> = flows
                .iter()
                .map(|(name, file)| format!("{file} (name: {name})"))
                .collect();
            format!("{} all snapshot to {snap}", files.join(", "))
        })
        .collect();
    if clashes.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        Category::Invalid,
        format!(
            "flows would overwrite each other's snapshot: {}",
            clashes.join("; ")
        ),
        Some("give each flow its own `name:`; nothing was run"),
    ))
}
