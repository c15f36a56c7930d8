//! Outputs as environment variables: `sh` (also bash/zsh), `fish`, `dotenv`, `json`, and
//! `github` (appended to `$GITHUB_ENV`, with `::add-mask::` lines so Actions hides them).
//!
//! Every format gives back each value exactly, whatever it holds (quotes, backticks, `$()`,
//! backslashes, newlines, CR, control characters, any Unicode), when read by its consumer:
//! `eval "$(dmflow env)"` in sh/dash/bash/zsh, `dmflow env --format fish | source`, a dotenv
//! file through `set -a; . FILE` in sh and through the `dotenvy` crate (what `--env-file`
//! reads), the Actions runner's `$GITHUB_ENV` parser, and any JSON parser; `tests/exports.rs`
//! checks it with random values through the real shells. Nothing in a value is ever run.
//!
//! Two things are refused rather than written: a name that is not a variable name (letters,
//! digits and `_`, not starting with a digit; a store file edited by hand can hold one), and a
//! NUL character in a value, which no environment variable can hold (the `json` format, which
//! escapes it, carries it).

use indexmap::IndexMap;
use serde_json::Value;

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sh,
    Fish,
    Dotenv,
    Json,
    Github,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Sh => "sh",
            Format::Fish => "fish",
            Format::Dotenv => "dotenv",
            Format::Json => "json",
            Format::Github => "github",
        }
    }
}

/// The delimiter of a `$GITHUB_ENV` heredoc, lengthened until the value does not contain it.
const GITHUB_DELIMITER: &str = "DMFLOW_EOF";

/// A value as environment text: strings as they are, other JSON as JSON.
fn text(value: &Value) -> String {
    crate::template::value_to_text(value)
}

/// `'...'` for POSIX shells: everything literal, `'` written as `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// `'...'` for fish, where `\\` and `\'` are the only escapes inside single quotes.
fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// A dotenv value that sh (`set -a; . FILE`) and dotenvy read the same way: single-quoted runs
/// (literal in both), with each `'` and `\` written outside the quotes as `\'` and `\\` (an
/// escape in both). A backslash never sits inside the quotes, where dotenvy's line joiner
/// would take it for an escape of the closing quote.
fn dotenv_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    let mut open = false;
    for c in value.chars() {
        match c {
            '\'' | '\\' => {
                if open {
                    out.push('\'');
                    open = false;
                }
                out.push('\\');
                out.push(c);
            }
            c => {
                if !open {
                    out.push('\'');
                    open = true;
                }
                out.push(c);
            }
        }
    }
    if open {
        out.push('\'');
    }
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

/// `NAME<<DELIMITER`, the value, `DELIMITER`: the multi-line syntax GitHub documents for
/// `$GITHUB_ENV`, with a delimiter that does not occur in the value.
fn github_entry(name: &str, value: &str) -> String {
    let mut delimiter = GITHUB_DELIMITER.to_string();
    while value.contains(&delimiter) {
        delimiter.push('_');
    }
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// A name shown in a message: escapes instead of control characters.
fn shown(name: &str) -> String {
    name.escape_debug().to_string()
}

/// Why these values cannot be written in `format`, if they cannot.
pub fn check(values: &IndexMap<String, Value>, format: Format) -> Result<(), crate::Error> {
    for (name, value) in values {
        if !crate::template::is_variable_name(name) {
            return Err(crate::Error::Export(format!(
                "refusing to export `{}`: not a variable name (letters, digits and _, not \
                 starting with a digit); a flow cannot save such a name, so the token store \
                 was probably edited by hand: remove it there or sign in again",
                shown(name)
            )));
        }
        if format != Format::Json && text(value).contains('\0') {
            return Err(crate::Error::Export(format!(
                "cannot export {name} in the {} format: its value holds a NUL character, which \
                 no environment variable can hold (the json format carries it as \\u0000)",
                format.name()
            )));
        }
    }
    Ok(())
}

/// The text to print for `format` (for `github`, the text to append to `$GITHUB_ENV`).
pub fn render(values: &IndexMap<String, Value>, format: Format) -> Result<String, crate::Error> {
    check(values, format)?;
    let mut out = String::new();
    match format {
        Format::Json => {
            let object: serde_json::Map<String, Value> = values.clone().into_iter().collect();
            out = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default() + "\n";
        }
        _ => {
            for (name, value) in values {
                let value = text(value);
                out.push_str(&match format {
                    Format::Sh => format!("export {name}={}\n", sh_quote(&value)),
                    Format::Fish => format!("set -gx {name} {};\n", fish_quote(&value)),
                    Format::Dotenv => format!("{name}={}\n", dotenv_quote(&value)),
                    _ => github_entry(name, &value),
                });
            }
        }
    }
    Ok(out)
}

/// A workflow command's data as the Actions runner reads it back: `%`, CR and LF escaped.
fn command_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The `::add-mask::` lines for the secret values: the whole value (what the runner masks),
/// and each of its lines of [`crate::secret::MIN_SECRET_LEN`] characters or more, since a
/// command's output reaches the log line by line and older runners mask only what they are
/// given.
pub fn github_masks(values: &IndexMap<String, Value>) -> String {
    let mut out = String::new();
    for (_, value) in values
        .iter()
        .filter(|(name, _)| crate::secret::is_secret_name(name))
    {
        let value = text(value);
        if value.trim().is_empty() {
            continue;
        }
        out.push_str(&format!("::add-mask::{}\n", command_data(&value)));
        for line in value.split(['\r', '\n']) {
            if line != value
                && !line.trim().is_empty()
                && line.chars().count() >= crate::secret::MIN_SECRET_LEN
            {
                out.push_str(&format!("::add-mask::{}\n", command_data(line)));
            }
        }
    }
    out
}

/// Writes the outputs where `format` says: `out` (stdout for the command line), a file, or
/// `$GITHUB_ENV` (with the masks on `out`). Nothing is written when a name or value is refused.
pub fn emit(
    values: &IndexMap<String, Value>,
    format: Format,
    file: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> Result<(), crate::Error> {
    use std::io::Write;
    let text = render(values, format)?;
    let written = |e: std::io::Error| crate::Error::file("write", "the export", e);
    if format == Format::Github {
        let path = match file {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os("GITHUB_ENV")
                .map(std::path::PathBuf::from)
                .ok_or_else(|| crate::Error::Export("the github format appends to $GITHUB_ENV, which is not set (outside GitHub Actions?)".into()))?,
        };
        out.write_all(github_masks(values).as_bytes())
            .map_err(written)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| crate::Error::file("open", &path, e))?;
        return f
            .write_all(text.as_bytes())
            .map_err(|e| crate::Error::file("write", &path, e));
    }
    match file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| crate::Error::file("create", dir, e))?;
            }
            crate::fsutil::write_atomic(path, text.as_bytes())
                .map_err(|e| crate::Error::file("write", path, e))
        }
        None => out.write_all(text.as_bytes()).map_err(written),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> IndexMap<String, Value> {
        let mut v = IndexMap::new();
        v.insert("ACCESS_TOKEN".to_string(), json!("a'b c$HOME\\x"));
        v.insert("COUNT".to_string(), json!(3));
        v.insert("IDS".to_string(), json!(["x1", "x2"]));
        v
    }

    fn one(name: &str, value: &str) -> IndexMap<String, Value> {
        IndexMap::from([(name.to_string(), json!(value))])
    }

    #[test]
    fn sh_quoting_is_literal() {
        let out = render(&values(), Format::Sh).unwrap();
        assert!(
            out.contains(r"export ACCESS_TOKEN='a'\''b c$HOME\x'"),
            "{out}"
        );
        assert!(out.contains("export COUNT='3'"));
        assert!(out.contains(r#"export IDS='["x1","x2"]'"#));
    }

    #[test]
    fn dotenv_keeps_quotes_and_backslashes_outside_single_quotes() {
        let out = render(&one("T", "it's `id` \\ $(x)"), Format::Dotenv).unwrap();
        assert_eq!(out, "T='it'\\''s `id` '\\\\' $(x)'\n");
        assert_eq!(
            render(&one("E", ""), Format::Dotenv).unwrap(),
            "E=''\n",
            "an empty value is written, not left out"
        );
        assert_eq!(render(&one("Q", "'"), Format::Dotenv).unwrap(), "Q=\\'\n");
    }

    #[test]
    fn github_uses_heredocs_and_masks_secrets() {
        let out = render(&values(), Format::Github).unwrap();
        assert!(
            out.starts_with("ACCESS_TOKEN<<DMFLOW_EOF\na'b c$HOME\\x\nDMFLOW_EOF\n"),
            "{out}"
        );
        assert_eq!(github_masks(&values()), "::add-mask::a'b c$HOME\\x\n");
    }

    #[test]
    fn the_heredoc_delimiter_never_occurs_in_the_value() {
        let out = render(&one("V", "x\nDMFLOW_EOF\ny"), Format::Github).unwrap();
        assert_eq!(out, "V<<DMFLOW_EOF_\nx\nDMFLOW_EOF\ny\nDMFLOW_EOF_\n");
    }

    #[test]
    fn masks_escape_what_the_runner_unescapes_and_cover_each_line() {
        let masks = github_masks(&one("MY_SECRET", "50%0A-sure\r\nsecond line\nab"));
        assert_eq!(
            masks,
            "::add-mask::50%250A-sure%0D%0Asecond line%0Aab\n\
             ::add-mask::50%250A-sure\n\
             ::add-mask::second line\n"
        );
        assert_eq!(
            github_masks(&one("MY_SECRET", " \n ")),
            "",
            "blank: no mask"
        );
    }

    #[test]
    fn names_that_are_not_variable_names_are_refused_in_every_format() {
        for format in [
            Format::Sh,
            Format::Fish,
            Format::Dotenv,
            Format::Json,
            Format::Github,
        ] {
            for name in ["X=1; touch pwned; Y", "A\nBASH_ENV", "1X", "", "a.b"] {
                let err = render(&one(name, "v"), format).unwrap_err().to_string();
                assert!(err.contains("not a variable name"), "{err}");
                assert!(!err.contains('\n'), "the name is shown escaped: {err}");
            }
        }
    }

    #[test]
    fn nul_is_refused_except_in_json() {
        let values = one("V", "a\0b");
        for format in [Format::Sh, Format::Fish, Format::Dotenv, Format::Github] {
            let err = render(&values, format).unwrap_err().to_string();
            assert!(err.contains("NUL"), "{err}");
            assert!(err.contains("V"), "{err}");
        }
        assert!(
            render(&values, Format::Json)
                .unwrap()
                .contains(r#""a\u0000b""#)
        );
    }

    #[test]
    fn a_refused_export_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.env");
        let mut values = one("GOOD", "1");
        values.insert("B=D".into(), json!("2"));
        let mut stdout = Vec::new();
        assert!(emit(&values, Format::Github, Some(&path), &mut stdout).is_err());
        assert!(!path.exists() && stdout.is_empty());
        assert!(emit(&values, Format::Sh, None, &mut stdout).is_err());
        assert!(stdout.is_empty());
    }
}
