//! `dmflow run`: run flows, show each step, write reports, export outputs.

use super::Failure;
use super::execute::execute;
use super::setup::prepare;
use crate::cli::{Report, RunArgs};
use dmflow::Category;
use dmflow::exit::worst;
use dmflow::run::FlowResult;
use dmflow::secret::Redactor;
use indexmap::IndexMap;

pub async fn command(args: RunArgs) -> Result<Category, Failure> {
    let mut prepared = prepare(&args.common).await?;
    let results = execute(&mut prepared, &args.common).await?;
    prepared.terminal.summary(&results);
    let mut category = worst(results.iter().map(FlowResult::category));
    let redactor = &prepared.options.redactor;
    if let Err(message) = write_reports(&args.common.report, &results, redactor, &IndexMap::new()) {
        eprintln!("error: {message}");
        category = worst([category, Category::Runtime]);
    }
    if args.export.is_some() || args.export_file.is_some() {
        let mut values = IndexMap::new();
        for result in &results {
            values.extend(result.outputs.clone());
        }
        let format = args
            .export
            .map(Into::into)
            .unwrap_or(dmflow::export::Format::Dotenv);
        if let Err(message) = dmflow::export::emit(
            &values,
            format,
            args.export_file.as_deref(),
            &mut std::io::stdout(),
        ) {
            eprintln!("error: {message}");
            category = worst([category, Category::Runtime]);
        }
    }
    if args.json {
        let doc = dmflow::report::json::results(&results, redactor);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    Ok(category)
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
                dmflow::report::junit::render(results, redactor, extra_failures)
                    .map_err(|e| e.to_string())?,
            ),
            Report::Json(path) => (
                path,
                serde_json::to_string_pretty(&dmflow::report::json::results(results, redactor))
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
