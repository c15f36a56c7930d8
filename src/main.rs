//! The `dmflow` binary: parse the command line, run, exit with the code the run chose.

use clap::Parser;

fn main() {
    let cli = dmflow::cli::Cli::parse();
    std::process::exit(dmflow::app::main(cli));
}
