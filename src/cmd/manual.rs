//! `dmflow completions SHELL` (clap_complete) and `dmflow man` (clap_mangen): generated from
//! the same clap definition as the command line itself, so they never drift from it.

use super::Failure;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use clap::CommandFactory;
use dmflow::Category;
use std::io::Write;

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> Result<Category, Failure> {
    let mut command = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut command, "dmflow", &mut out);
    write_stdout(&out)
}

/// Prints the main page or one command's page, or writes every page into a directory.
pub fn man(args: ManArgs) -> Result<Category, Failure> {
    let mut command = Cli::command();
    // Built, the commands carry the global options (--color, --quiet) on their own pages.
    command.build();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(
                Category::Runtime,
                format!("cannot create {}: {e}", dir.display()),
                None,
            )
        })?;
        let pages = std::iter::once(("dmflow".to_string(), command.clone())).chain(
            command
                .get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| (format!("dmflow-{}", c.get_name()), page_of(&command, c))),
        );
        for (name, page) in pages {
            let path = dir.join(format!("{name}.1"));
            std::fs::write(&path, render(page)?).map_err(|e| {
                Failure::new(
                    Category::Runtime,
                    format!("cannot write {}: {e}", path.display()),
                    None,
                )
            })?;
            super::ui::note(&format!("wrote {}", path.display()));
        }
        return Ok(Category::Ok);
    }
    let page = match &args.command {
        None => command,
        Some(name) => {
            let sub = command.find_subcommand(name).ok_or_else(|| {
                let known: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                Failure::new(
                    Category::Invalid,
                    format!("no command `{name}`"),
                    Some(&format!("the commands are: {}", known.join(", "))),
                )
            })?;
            page_of(&command, sub)
        }
    };
    write_stdout(&render(page)?)
}

/// A command's page, named `dmflow-NAME` and carrying the program's version.
fn page_of(main: &clap::Command, sub: &clap::Command) -> clap::Command {
    let name = format!("dmflow-{}", sub.get_name());
    let mut page = sub
        .clone()
        .name(name)
        .bin_name(format!("dmflow {}", sub.get_name()));
    if let Some(version) = main.get_version() {
        page = page.version(version.to_string());
    }
    page
}

fn render(command: clap::Command) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .map_err(|e| {
            Failure::new(
                Category::Runtime,
                format!("cannot render the manual: {e}"),
                None,
            )
        })?;
    Ok(out)
}

pub(super) fn write_stdout(bytes: &[u8]) -> Result<Category, Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(Category::Ok),
        // `dmflow man | head` closes the pipe early: not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Category::Ok),
        Err(e) => Err(Failure::new(
            Category::Runtime,
            format!("cannot write to stdout: {e}"),
            None,
        )),
    }
}
