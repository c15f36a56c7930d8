//! The commands, at the edge: each reads its clap arguments, calls the library, prints, and
//! ends with a [`Category`] that `main` turns into the exit code.

mod check;
mod execute;
mod mock;
mod run;
mod setup;
mod test;
mod tokens;
mod ui;
mod vars;

use crate::cli::{Cli, Command};
use dmflow::Category;

/// An error that ends a command, with its category and advice.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    pub category: Category,
    pub message: String,
    pub help: Option<String>,
}

impl Failure {
    pub fn new(category: Category, message: impl Into<String>, help: Option<&str>) -> Failure {
        Failure {
            category,
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    /// Prints the failure on stderr and gives its category.
    pub fn report(&self) -> Category {
        eprintln!("error: {}", dmflow::diagnostic::clean(&self.message));
        if let Some(help) = &self.help {
            eprintln!("  help: {help}");
        }
        self.category
    }
}

impl From<dmflow::Error> for Failure {
    fn from(error: dmflow::Error) -> Failure {
        Failure::new(error.category(), error.to_string(), None)
    }
}

/// Runs a command.
pub fn main(cli: Cli) -> Category {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Category::Runtime;
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => runtime.block_on(run::command(args)),
        Command::Test(args) => runtime.block_on(test::command(args)),
        Command::Check(args) => check::command(args),
        Command::Mock(args) => runtime.block_on(mock::command(args)),
        Command::Env(args) => runtime.block_on(tokens::env(args)),
        Command::Token(args) => runtime.block_on(tokens::token(args)),
        Command::Exec(args) => runtime.block_on(tokens::exec(args)),
        Command::Status(args) => runtime.block_on(tokens::status(args)),
        Command::Logout(args) => runtime.block_on(tokens::logout(args)),
    };
    outcome.unwrap_or_else(|failure| failure.report())
}
