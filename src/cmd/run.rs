//! `dmflow run`: run flows, show each step, write reports, export outputs.

use super::Failure;
use super::execute::execute;
use super::setup::prepare;
use crate::cli::{ExportFormat, Report, RunArgs};
use dmflow::Category;
use dmflow::exit::worst;
use dmflow::run::FlowResult;
use dmflow::secret::Redactor;
use dmflow::snapshot::Outcome as Snapshot;
use indexmap::IndexMap;

pub async fn command(args: RunArgs) -> Result<Category, Failure> {
    check_export(&args)?;
    let mut prepared = prepare(&args.common).await?;
    let results = execute(&mut prepared, &args.common).await?;
    prepared.terminal.summary(&results, &[]);
    let mut category = worst(results.iter().map(FlowResult::category));
    let redactor = &prepared.redactor;
    if let Err(message) = write_reports(&args.common.report, &results, redactor, &[]) {
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
    if args.common.json {
        print_json(&results, redactor, &[], category);
    }
    // Nothing reads the results or the compiled flows any more: freeing every response and
    // step one allocation at a time costs more than the process exit that soon follows.
    std::mem::forget(results);
    std::mem::forget(std::mem::take(&mut prepared.plan.flows));
    Ok(category)
}

/// `--export` and `--json` cannot share stdout, and the github format needs a file to append
/// to: both are usage errors, found before anything is sent.
fn check_export(args: &RunArgs) -> Result<(), Failure> {
    let github = args.export == Some(ExportFormat::Github);
    let exporting = args.export.is_some() || args.export_file.is_some();
    if args.common.json && exporting && (args.export_file.is_none() || github) {
        return Err(Failure::new(
            Category::Invalid,
            "--json and --export would both write to stdout",
            Some(if github {
                "the github format prints its ::add-mask:: lines on stdout: leave out --json (--report json=PATH writes the same document to a file)"
            } else {
                "write the export to a file: --export FORMAT --export-file PATH (or the JSON document with --report json=PATH)"
            }),
        ));
    }
    if github && args.export_file.is_none() && std::env::var_os("GITHUB_ENV").is_none() {
        return Err(Failure::new(
            Category::Invalid,
            "--export github appends to $GITHUB_ENV, which is not set (outside GitHub Actions?)",
            Some("name the file: --export github --export-file PATH, or use another format"),
        ));
    }
    Ok(())
}

/// The `--json` document on stdout, ending as the command does.
pub fn print_json(
    results: &[FlowResult],
    redactor: &Redactor,
    verdicts: &[Option<Snapshot>],
    category: Category,
) {
    let mut doc = dmflow::report::json::results(results, redactor, verdicts);
    dmflow::report::json::set_exit(&mut doc, category);
    println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
}

/// Writes the `--report` files.
pub fn write_reports(
    reports: &[Report],
    results: &[FlowResult],
    redactor: &Redactor,
    verdicts: &[Option<Snapshot>],
) -> Result<(), String> {
    for report in reports {
        let (path, text) = match report {
            Report::Junit(path) => (
                path,
                dmflow::report::junit::render(results, redactor, verdicts)
                    .map_err(|e| e.to_string())?,
            ),
            Report::Json(path) => (
                path,
                serde_json::to_string_pretty(&dmflow::report::json::results(
                    results, redactor, verdicts,
                ))
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
