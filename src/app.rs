//! The commands: load and check flows, set up the run (variables, `--mock`, browser), run,
//! report, and choose the exit code.

use crate::cli::{CheckArgs, Cli, Command, RunArgs, VarArgs};
use crate::diagnostic::Diagnostic;
use crate::exit;
use crate::flow::{self, Flow};
use crate::oauth::OAuthRuntime;
use crate::oauth::browser::Browser;
use crate::report::terminal::Terminal;
use crate::run::{self, RunOptions};
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
        Command::Run(args) => runtime.block_on(run_command(args)),
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

async fn run_command(args: RunArgs) -> i32 {
    let redactor = Redactor::new(args.reveal);
    let terminal = Terminal::stderr(redactor.clone(), args.verbose);
    let cli = match cli_vars(&args.vars) {
        Ok(cli) => cli,
        Err(problems) => {
            problems.iter().for_each(|d| terminal.diagnostic(d));
            return exit::INVALID;
        }
    };
    let (flows, problems) = load_and_check(&args.flows, &cli.names());
    if !problems.is_empty() {
        problems.iter().for_each(|d| terminal.diagnostic(d));
        eprintln!(
            "nothing was sent: fix the flow{} first (dmflow check shows the same)",
            if args.flows.len() == 1 { "" } else { "s" }
        );
        return exit::INVALID;
    }
    let browser = if args.mock {
        Browser::Internal
    } else if args.no_browser {
        Browser::Off
    } else if let Some(cmd) = &args.browser {
        Browser::Command(cmd.clone())
    } else {
        Browser::System
    };
    let mut options = RunOptions {
        cli_vars: cli.vars,
        env_file: cli.env_file,
        oauth: OAuthRuntime {
            browser,
            paste: args.no_browser,
            ..OAuthRuntime::default()
        },
        ..RunOptions::default()
    };
    let state_dir = match crate::paths::state_dir(args.store.state_dir.as_ref()) {
        Ok(dir) => dir,
        Err(message) => {
            eprintln!("error: {message}");
            return exit::RUNTIME;
        }
    };
    if !args.no_store {
        let profile = args.store.profile.clone().unwrap_or_else(|| {
            if args.mock {
                crate::store::MOCK_PROFILE
            } else {
                crate::store::DEFAULT_PROFILE
            }
            .to_string()
        });
        let store = match crate::store::ProfileStore::new(&state_dir, &profile) {
            Ok(store) => store,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        };
        if let Err(e) = load_stored(&store, &mut options) {
            eprintln!("error: {e}");
            return exit::RUNTIME;
        }
        options.store = Some(store);
    }
    let _mock = if args.mock {
        match crate::mock::start_for_run(&mut options, &state_dir, args.token_ttl).await {
            Ok(handle) => Some(handle),
            Err(message) => {
                eprintln!("error: {message}");
                return exit::RUNTIME;
            }
        }
    } else {
        None
    };
    let mut results = Vec::new();
    for flow in &flows {
        let result = run::run_flow(flow, &options, &redactor, &terminal).await;
        terminal.flow_finished(flow, &result);
        if let Some(store) = options.store.clone() {
            let saved = run::store_outputs(&store, &result)
                .and_then(|()| load_stored(&store, &mut options));
            if let Err(e) = saved {
                eprintln!("error: {e}");
                results.push(result);
                return exit::RUNTIME;
            }
        }
        results.push(result);
    }
    terminal.summary(&results);
    if args.export.is_some() || args.export_file.is_some() {
        let mut values = IndexMap::new();
        for result in &results {
            values.extend(result.outputs.clone());
        }
        let format = args.export.unwrap_or(crate::export::Format::Dotenv);
        if let Err(message) = crate::export::emit(&values, format, args.export_file.as_deref()) {
            eprintln!("error: {message}");
            return exit::RUNTIME;
        }
    }
    if args.json {
        let doc = crate::report::json::results(&results, &redactor);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    exit::worst(results.iter().map(run::FlowResult::exit_code))
}
