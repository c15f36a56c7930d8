//! The `dmflow` binary: parse the command line, run the command, exit with the code its
//! outcome maps to.

mod cli;
mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let category = cmd::main(cli);
    std::process::ExitCode::from(category.exit_code() as u8)
}
