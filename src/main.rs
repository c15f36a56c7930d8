//! The `dmflow` binary: parse the command line, run the command, exit with the code its
//! outcome maps to.

// No unsafe code here: the fuzz targets run without a sanitizer (see fuzz/README.md).
#![forbid(unsafe_code)]

mod cli;
mod cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => usage_error(error),
    };
    let category = cmd::main(cli);
    std::process::ExitCode::from(category.exit_code() as u8)
}

/// A command line clap refuses: its message on stderr (exit 2), and under `--json` a JSON
/// document saying so on stdout too, so that scripts reading stdout always get one.
fn usage_error(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    let informational = matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !informational && std::env::args_os().any(|a| a == "--json") {
        let message = error.render().to_string();
        let message = message.trim().trim_start_matches("error: ");
        let doc = dmflow::report::json::failure(dmflow::Category::Invalid, message, None, &[]);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    }
    error.exit()
}
