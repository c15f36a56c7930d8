//! The commands: load and check flows, set up the run (variables, `--mock`, browser), run,
//! report, and choose the exit code.

use crate::cli::{CheckArgs, Cli, Command, VarArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::flow::{self, Flow};
use crate::report::terminal::Terminal;
use crate::secret::Redactor;
use crate::template::{EnvLookup, Templates};
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::path::Path;

pub fn main(cli: Cli) -> i32 {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::RUNTIME;
        }
    };
    match cli.command {
        Command::Run(args) => runtime.block_on(crate::runner::run_command(args)),
        Command::Test(args) => runtime.block_on(crate::runner::test_command(args)),
        Command::Check(args) => check_command(args),
        Command::Mock(args) => runtime.block_on(crate::mock::serve_command(args)),
        Command::Env(args) => runtime.block_on(crate::token_commands::env_command(args)),
        Command::Token(args) => runtime.block_on(crate::token_commands::token_command(args)),
        Command::Exec(args) => runtime.block_on(crate::token_commands::exec_command(args)),
        Command::Status(args) => runtime.block_on(crate::token_commands::status_command(args)),
        Command::Logout(args) => runtime.block_on(crate::token_commands::logout_command(args)),
    }
}

/// Variables from `--var` and `--env-file`, or the diagnostics that explain why not.
pub struct CliVars {
    pub vars: IndexMap<String, String>,
    pub env_file: IndexMap<String, String>,
}

impl CliVars {
    pub fn names(&self) -> BTreeSet<String> {
        self.vars
            .keys()
            .chain(self.env_file.keys())
            .cloned()
            .collect()
    }
}

pub fn cli_vars(args: &VarArgs) -> Result<CliVars, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut vars = IndexMap::new();
    for pair in &args.vars {
        match pair.split_once('=') {
            Some((name, value)) if valid_name(name) => {
                vars.insert(name.to_string(), value.to_string());
            }
            _ => problems.push(
                Diagnostic::new(format!("--var `{pair}` is not NAME=VALUE"))
                    .help("names are letters, digits and _, not starting with a digit: --var ACCESS_TOKEN=abc"),
            ),
        }
    }
    let mut env_file = IndexMap::new();
    if let Some(path) = &args.env_file {
        match read_env_file(path) {
            Ok(entries) => env_file = entries,
            Err(diag) => problems.push(diag),
        }
    }
    if problems.is_empty() {
        Ok(CliVars { vars, env_file })
    } else {
        Err(problems)
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_env_file(path: &Path) -> Result<IndexMap<String, String>, Diagnostic> {
    let name = path.display().to_string();
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| Diagnostic::new(format!("cannot read the env file {name}: {e}")))?;
    let mut out = IndexMap::new();
    for item in iter {
        match item {
            Ok((k, v)) => {
                out.insert(k, v);
            }
            Err(dotenvy::Error::LineParse(line, index)) => {
                return Err(Diagnostic::new(format!(
                    "{name}: cannot parse the line `{}` (at character {index})",
                    line.trim()
                ))
                .help("each line is NAME=VALUE; quote values with spaces"));
            }
            Err(e) => return Err(Diagnostic::new(format!("{name}: {e}"))),
        }
    }
    Ok(out)
}

/// Loads every flow, then checks each; returns the flows or all the problems.
pub fn load_and_check(
    paths: &[impl AsRef<Path>],
    external: &BTreeSet<String>,
) -> (Vec<Flow>, Vec<Diagnostic>) {
    let templates = Templates::new(EnvLookup::default(), Redactor::new(false));
    let mut flows = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let (flow, mut file_problems) = flow::load_for_check(path.as_ref());
        if let Some(flow) = flow {
            file_problems.extend(flow::check::check(&flow, &templates, external));
            flows.push(flow);
        }
        file_problems.sort_by_key(|p| p.pos.map(|pos| (pos.line, pos.col)));
        problems.extend(file_problems);
    }
    (flows, problems)
}

fn check_command(args: CheckArgs) -> i32 {
    let terminal = Terminal::stderr(Redactor::new(false), false);
    let cli = match cli_vars(&args.vars) {
        Ok(cli) => cli,
        Err(problems) => {
            problems.iter().for_each(|d| terminal.diagnostic(d));
            return exit::INVALID;
        }
    };
    let (flows, problems) = load_and_check(&args.flows, &cli.names());
    for problem in &problems {
        terminal.diagnostic(problem);
    }
    if problems.is_empty() {
        let steps: usize = flows.iter().map(|f| f.steps.len()).sum();
        eprintln!(
            "{} flow{} OK ({steps} step{})",
            flows.len(),
            if flows.len() == 1 { "" } else { "s" },
            if steps == 1 { "" } else { "s" }
        );
        exit::OK
    } else {
        let files: BTreeSet<_> = problems
            .iter()
            .filter_map(|p| p.source.as_ref().map(|s| s.name.clone()))
            .collect();
        eprintln!(
            "{} problem{} in {} file{}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            files.len().max(1),
            if files.len() == 1 { "" } else { "s" }
        );
        exit::INVALID
    }
}
