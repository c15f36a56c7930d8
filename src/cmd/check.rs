//! `dmflow check`: compile flows without sending anything; every problem of every file.

use super::Failure;
use crate::cli::CheckArgs;
use dmflow::Category;
use dmflow::secret::Redactor;
use std::collections::BTreeSet;

pub fn command(args: CheckArgs) -> Result<Category, Failure> {
    let terminal = super::ui::terminal(Redactor::new(false), false);
    let cli = match super::vars::read(&args.vars) {
        Ok(cli) => cli,
        Err(problems) => {
            problems.iter().for_each(|d| terminal.diagnostic(d));
            return Ok(Category::Invalid);
        }
    };
    let loader = dmflow::Loader::new().external(cli.names());
    let mut steps = 0;
    let mut problems = Vec::new();
    for path in &args.flows {
        match dmflow::flow::load::read(path) {
            Ok(source) => {
                let (flow, mut found) = loader.compile_recovering(&source);
                steps += flow.map(|f| f.steps.len()).unwrap_or(0);
                found.sort_by_key(|p| p.pos.map(|pos| (pos.line, pos.col)));
                problems.extend(found);
            }
            Err(diag) => problems.push(diag),
        }
    }
    for problem in &problems {
        terminal.diagnostic(problem);
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    if problems.is_empty() {
        let flows = args.flows.len();
        eprintln!(
            "{flows} flow{} OK ({steps} step{})",
            plural(flows),
            plural(steps)
        );
        return Ok(Category::Ok);
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
    Ok(Category::Invalid)
}
