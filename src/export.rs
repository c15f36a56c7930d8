//! Outputs as environment variables: `sh` (also bash/zsh), `fish`, `dotenv`, `json`, and
//! `github` (appended to `$GITHUB_ENV`, with `::add-mask::` lines so Actions hides them).

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

/// A value as environment text: strings as they are, other JSON as JSON.
fn text(value: &Value) -> String {
    crate::template::value_to_text(value)
}

/// `'...'` for POSIX shells: everything literal, `'` written as `'\''`.
pub fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn fish_quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

fn dotenv_quote(value: &str) -> String {
    if !value.contains('\'') && !value.contains('\n') {
        format!("'{value}'")
    } else {
        let escaped = value
            .replace('\\', r"\\")
            .replace('"', "\\\"")
            .replace('$', r"\$")
            .replace('\n', r"\n");
        format!("\"{escaped}\"")
    }
}

/// The text to print for `format` (for `github`, the text to append to `$GITHUB_ENV`).
pub fn render(values: &IndexMap<String, Value>, format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Sh => values
            .iter()
            .for_each(|(k, v)| out.push_str(&format!("export {k}={}\n", sh_quote(&text(v))))),
        Format::Fish => values
            .iter()
            .for_each(|(k, v)| out.push_str(&format!("set -gx {k} {};\n", fish_quote(&text(v))))),
        Format::Dotenv => values
            .iter()
            .for_each(|(k, v)| out.push_str(&format!("{k}={}\n", dotenv_quote(&text(v))))),
        Format::Json => {
            let object: serde_json::Map<String, Value> = values.clone().into_iter().collect();
            out = serde_json::to_string_pretty(&Value::Object(object)).unwrap_or_default() + "\n";
        }
        Format::Github => {
            for (k, v) in values {
                let value = text(v);
                let mut delimiter = "DMFLOW_EOF".to_string();
                while value.contains(&delimiter) {
                    delimiter.push('_');
                }
                out.push_str(&format!("{k}<<{delimiter}\n{value}\n{delimiter}\n"));
            }
        }
    }
    out
}

/// The `::add-mask::` lines for the secret values (one per line of each value).
pub fn github_masks(values: &IndexMap<String, Value>) -> String {
    values
        .iter()
        .filter(|(k, _)| crate::secret::is_secret_name(k))
        .flat_map(|(_, v)| {
            text(v)
                .lines()
                .map(|l| format!("::add-mask::{l}\n"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Writes the outputs where `format` says: `out` (stdout for the command line), a file, or
/// `$GITHUB_ENV` (with the masks on `out`).
pub fn emit(
    values: &IndexMap<String, Value>,
    format: Format,
    file: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
) -> Result<(), crate::Error> {
    use std::io::Write;
    let text = render(values, format);
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

    #[test]
    fn sh_quoting_is_literal() {
        let out = render(&values(), Format::Sh);
        assert!(
            out.contains(r"export ACCESS_TOKEN='a'\''b c$HOME\x'"),
            "{out}"
        );
        assert!(out.contains("export COUNT='3'"));
        assert!(out.contains(r#"export IDS='["x1","x2"]'"#));
    }

    #[test]
    fn github_uses_heredocs_and_masks_secrets() {
        let out = render(&values(), Format::Github);
        assert!(
            out.starts_with("ACCESS_TOKEN<<DMFLOW_EOF\na'b c$HOME\\x\nDMFLOW_EOF\n"),
            "{out}"
        );
        assert_eq!(github_masks(&values()), "::add-mask::a'b c$HOME\\x\n");
    }
}
