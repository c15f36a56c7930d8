//! The commands, at the edge: each reads its clap arguments, calls the library, prints, and
//! ends with a [`Category`] that `main` turns into the exit code. A command asked for `--json`
//! prints a JSON document on stdout even when it fails before running anything.

mod check;
mod execute;
mod init;
mod loading;
mod manual;
mod mock;
mod net;
mod plan;
mod run;
mod schema;
mod setup;
mod test;
mod tokens;
mod ui;
mod vars;

use crate::cli::{Cli, Command, Deferred};
use dmflow::Category;
use dmflow::diagnostic::Diagnostic;

/// An error that ends a command, with its category, advice, and the problems behind it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub category: Category,
    pub message: String,
    pub help: Option<String>,
    /// Located problems (invalid flows), already shown on stderr; `--json` lists them.
    pub problems: Vec<Diagnostic>,
}

impl Failure {
    pub fn new(category: Category, message: impl Into<String>, help: Option<&str>) -> Failure {
        Failure {
            category,
            message: message.into(),
            help: help.map(str::to_string),
            problems: Vec::new(),
        }
    }

    pub fn with_problems(mut self, problems: Vec<Diagnostic>) -> Failure {
        self.problems = problems;
        self
    }

    /// Prints the failure on stderr and gives its category.
    pub fn report(&self) -> Category {
        eprintln!("error: {}", dmflow::diagnostic::clean(&self.message));
        if let Some(help) = &self.help {
            eprintln!("  help: {}", dmflow::diagnostic::clean(help));
        }
        self.category
    }

    /// The failure as the `--json` document on stdout.
    pub fn print_json(&self) {
        let doc = dmflow::report::json::failure(
            self.category,
            &self.message,
            self.help.as_deref(),
            &self.problems,
        );
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
}

impl From<dmflow::Error> for Failure {
    fn from(error: dmflow::Error) -> Failure {
        Failure::new(error.category(), error.to_string(), None)
    }
}

/// Whether the command writes a JSON document on stdout.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Run(Deferred(args)) => args.common.json,
        Command::Test(Deferred(args)) => args.common.json,
        Command::Check(Deferred(args)) => args.json,
        Command::Token(Deferred(args)) | Command::Status(Deferred(args)) => args.json,
        _ => false,
    }
}

/// The `--limit` options of the commands that take them.
fn limits(command: &Command) -> &[String] {
    match command {
        Command::Run(Deferred(args)) => &args.common.limits.limits,
        Command::Test(Deferred(args)) => &args.common.limits.limits,
        Command::Check(Deferred(args)) => &args.limits.limits,
        _ => &[],
    }
}

/// The async runtime a command runs on: the emulator serves on two worker threads; everything
/// else runs on the calling thread, where a flow's requests and hyper's connection tasks take
/// turns without cross-thread hand-offs (flows of `--jobs` are interleaved on that one thread too).
fn runtime_for(command: &Command) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match command {
        Command::Mock(_) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        }
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build()
}

/// Runs a command's `work` to its end as a task of `runtime`. A request's answer wakes a task
/// straight from the connection's task, where it would wake the `block_on` future only
/// through one more poll of the I/O driver: a system call a step.
fn on_task<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    work: impl Future<Output = T> + Send + 'static,
) -> T {
    let ended = runtime.block_on(runtime.spawn(work));
    dmflow::report::deferred::flush();
    match ended {
        Ok(value) => value,
        // Only a panic ends the task early (the runtime outlives `block_on`): carry it on.
        Err(error) => std::panic::resume_unwind(
            error
                .try_into_panic()
                .unwrap_or_else(|error| Box::new(error.to_string())),
        ),
    }
}

/// Runs a command.
pub fn main(cli: Cli) -> Category {
    ui::init(&cli.output);
    let json = wants_json(&cli.command);
    // Set before anything reads them: the limits are the process's (clap checked each one).
    let configured =
        dmflow::limits::Limits::with(limits(&cli.command)).and_then(dmflow::limits::configure);
    if let Err(message) = configured {
        let failure = Failure::new(Category::Invalid, format!("--limit: {message}"), None);
        if json {
            failure.print_json();
        }
        return failure.report();
    }
    let runtime = match runtime_for(&cli.command) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Category::Runtime;
        }
    };
    let outcome = match cli.command {
        Command::Run(Deferred(args)) => on_task(&runtime, run::command(args)),
        Command::Test(Deferred(args)) => on_task(&runtime, test::command(args)),
        Command::Check(Deferred(args)) => check::command(args),
        Command::Mock(Deferred(args)) => on_task(&runtime, mock::command(args)),
        Command::Env(Deferred(args)) => on_task(&runtime, tokens::env(args)),
        Command::Token(Deferred(args)) => on_task(&runtime, tokens::token(args)),
        Command::Exec(Deferred(args)) => on_task(&runtime, tokens::exec(args)),
        Command::Status(Deferred(args)) => on_task(&runtime, tokens::status(args)),
        Command::Logout(Deferred(args)) => on_task(&runtime, tokens::logout(args)),
        Command::Completions(Deferred(args)) => manual::completions(args),
        Command::Man(Deferred(args)) => manual::man(args),
        Command::Schema => schema::command(),
        Command::Init(Deferred(args)) => init::command(args),
    };
    outcome.unwrap_or_else(|failure| {
        if json {
            failure.print_json();
        }
        failure.report()
    })
}
