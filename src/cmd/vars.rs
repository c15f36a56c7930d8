//! Variables from the command line: `--var NAME=VALUE` and `--env-file`.

use crate::cli::VarArgs;
use dmflow::diagnostic::Diagnostic;
use indexmap::IndexMap;
use std::collections::BTreeSet;
use std::path::Path;

/// Variables from `--var` and `--env-file`.
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

/// Reads `--var` and `--env-file`, or the diagnostics that explain why not.
pub fn read(args: &VarArgs) -> Result<CliVars, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let mut vars = IndexMap::new();
    for pair in &args.vars {
        match pair.split_once('=') {
            Some((name, value)) if dmflow::template::is_variable_name(name) => {
                vars.insert(name.to_string(), value.to_string());
            }
            _ => problems.push(
                Diagnostic::new(format!("--var `{}` is not NAME=VALUE", pair.escape_debug()))
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

/// Reads a dotenv file: a regular file or a pipe (`--env-file <(pass show app)`), at most the
/// `env-file` limit; never a device (`/dev/zero` never ends).
fn read_env_file(path: &Path) -> Result<IndexMap<String, String>, Diagnostic> {
    let name = path.display().to_string();
    let max = dmflow::limits::current().env_file;
    let bytes = dmflow::limits::read_input(path, max, true).map_err(|e| {
        let (message, help) = e.describe(&name, "an env file", "env-file");
        Diagnostic::new(message).help_opt(help)
    })?;
    let iter = dotenvy::from_read_iter(bytes.as_slice());
    let mut out = IndexMap::new();
    for item in iter {
        match item {
            Ok((k, _)) if !dmflow::template::is_variable_name(&k) => {
                return Err(Diagnostic::new(format!(
                    "{name}: `{}` is not a variable name",
                    k.escape_debug()
                ))
                .help("names are letters, digits and _, not starting with a digit (dotenv also allows `.`, dmflow does not)"));
            }
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
