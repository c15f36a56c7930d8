//! `dmflow test`: run flows and compare each one's redacted transcript with its snapshot.

use super::Failure;
use super::execute::execute;
use super::run::write_reports;
use super::setup::prepare;
use crate::cli::TestArgs;
use dmflow::Category;
use dmflow::exit::worst;
use dmflow::run::FlowResult;
use dmflow::snapshot::Outcome;
use indexmap::IndexMap;

pub async fn command(args: TestArgs) -> Result<Category, Failure> {
    let mut prepared = prepare(&args.common).await?;
    let results = execute(&mut prepared, &args.common).await?;
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    let redactor = &prepared.options.redactor;
    let terminal = &prepared.terminal;
    let mut mismatches: IndexMap<String, String> = IndexMap::new();
    let mut category = worst(results.iter().map(FlowResult::category));
    let last_runs = results
        .chunks(args.common.repeat as usize)
        .filter_map(|runs| runs.last());
    for (flow, result) in prepared.flows.iter().zip(last_runs) {
        let transcript = dmflow::report::transcript::transcript(result, redactor, &flow.redact);
        let color = super::ui::stderr_color();
        match dmflow::snapshot::compare(&args.snapshots, flow, &transcript, args.update, ci, color)
        {
            Ok(Outcome::Matched) => {}
            Ok(Outcome::Written(path)) => {
                terminal.note(&format!("wrote the snapshot {}", path.display()))
            }
            Ok(Outcome::Differs { path, diff }) => {
                terminal.raw(&format!(
                    "snapshot {} differs from this run:\n{diff}",
                    path.display()
                ));
                mismatches.insert(
                    result.name.clone(),
                    format!("the transcript differs from {}", path.display()),
                );
            }
            Ok(Outcome::Missing(path)) => {
                terminal.raw(&format!(
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
                category = worst([category, Category::Runtime]);
            }
        }
    }
    terminal.summary(&results);
    if !mismatches.is_empty() {
        eprintln!(
            "{} snapshot{} did not match",
            mismatches.len(),
            if mismatches.len() == 1 { "" } else { "s" }
        );
        category = worst([category, Category::Failed]);
    }
    if let Err(message) = write_reports(&args.common.report, &results, redactor, &mismatches) {
        eprintln!("error: {message}");
        category = worst([category, Category::Runtime]);
    }
    Ok(category)
}
