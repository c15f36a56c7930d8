//! `dmflow check`: compile flows without sending anything; every problem of every file, on
//! stderr, and with `--json` as one document on stdout.

use super::Failure;
use crate::cli::CheckArgs;
use dmflow::Category;
use dmflow::secret::Redactor;
use serde_json::json;
use std::collections::BTreeSet;

pub fn command(args: CheckArgs) -> Result<Category, Failure> {
    let terminal = super::ui::terminal(Redactor::new(false), false);
    let cli = super::vars::read(&args.vars).map_err(|problems| {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        Failure::new(
            Category::Invalid,
            "the command line's variables are invalid",
            None,
        )
        .with_problems(problems)
    })?;
    let loader = dmflow::Loader::new().external(cli.names());
    let mut steps = 0;
    let mut problems = Vec::new();
    let mut checked = Vec::new();
    for path in &args.flows {
        match dmflow::flow::load::read(path) {
            Ok(source) => {
                let (flow, mut found) = loader.compile_recovering(&source);
                let count = flow.as_ref().map_or(0, |f| f.steps.len());
                // Only counted: freeing a large compiled flow one allocation at a time costs
                // more than the process exit that soon follows.
                std::mem::forget(flow);
                steps += count;
                found.sort_by_key(|p| p.pos.map(|pos| (pos.line, pos.col)));
                checked.push(json!({
                    "file": source.name,
                    "steps": count,
                    "problems": found.len(),
                }));
                problems.extend(found);
            }
            Err(diag) => {
                checked
                    .push(json!({ "file": path.display().to_string(), "steps": 0, "problems": 1 }));
                problems.push(diag);
            }
        }
    }
    for problem in &problems {
        terminal.diagnostic(problem);
    }
    let category = if problems.is_empty() {
        Category::Ok
    } else {
        Category::Invalid
    };
    if args.json {
        let doc = json!({
            "ok": problems.is_empty(),
            "exit_code": category.exit_code(),
            "files": checked,
            "problems": dmflow::report::json::problems(&problems),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if problems.is_empty() {
        let flows = args.flows.len();
        eprintln!(
            "{flows} flow{} OK ({steps} step{})",
            plural(flows),
            plural(steps)
        );
        return Ok(category);
    }
    let files: BTreeSet<_> = problems
        .iter()
        .filter_map(|p| p.source.as_ref().map(|s| s.name.clone()))
        .collect();
    eprintln!(
        "{} problem{} in {} file{}",
        problems.len(),
        plural(problems.len()),
        files.len().max(1),
        plural(files.len().max(1))
    );
    Ok(category)
}
