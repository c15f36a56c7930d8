//! Target `export`: any name → value map (a JSON object) through every export format
//! (`dmflow env --format`, `run --export`), each read back the way its consumer reads it:
//! `sh` and `dotenv` as a POSIX shell reads `eval` / `set -a; . file` (no expansion may
//! happen), `dotenv` also through the `dotenvy` crate, `fish` as fish reads it, `github` as the
//! Actions runner reads `$GITHUB_ENV` (with an `::add-mask::` line for every line of a secret),
//! `json` as JSON.
//!
//! Properties: no panic; every format gives back exactly the names and values it was given
//! (values as environment text: strings as they are, other JSON as JSON), one assignment per
//! name, nothing outside quoting that a shell would expand or run.

use dmflow::export::{Format, github_masks, render};
use dmflow::template::value_to_text;
use indexmap::IndexMap;
use serde_json::Value;

pub fn fuzz(data: &[u8]) {
    let Some(text) = super::text(data) else {
        return;
    };
    if let Ok(values) = serde_json::from_str::<IndexMap<String, Value>>(text) {
        check(&values);
    }
}

pub fn check(values: &IndexMap<String, Value>) {
    let expected: Vec<(String, String)> = values
        .iter()
        .map(|(k, v)| (k.clone(), value_to_text(v)))
        .collect();
    for (format, read) in [
        (Format::Sh, read_sh as Reader),
        (Format::Fish, read_fish),
        (Format::Dotenv, read_dotenv_sh),
        (Format::Dotenv, read_dotenvy),
        (Format::Github, read_github),
    ] {
        let Some(out) = render(values, format).rendered() else {
            return;
        };
        match read(&out) {
            Ok(read) => assert_eq!(read, expected, "{format:?} reads back otherwise: {out:?}"),
            Err(e) => panic!("{format:?} output does not read back ({e}): {out:?}"),
        }
    }
    let Some(json) = render(values, Format::Json).rendered() else {
        return;
    };
    let json: Value = serde_json::from_str(&json).expect("json is JSON");
    let object: serde_json::Map<String, Value> = values.clone().into_iter().collect();
    assert_eq!(json, Value::Object(object), "json reads back otherwise");
    check_masks(values);
}

/// Every secret that is not blank is masked whole, and each of its lines of 4 characters or
/// more that is not blank too. The runner
/// reads a step's output with .NET's `StreamReader.ReadLine`, which ends a line at `\n`, `\r` or
/// `\r\n`, so each such line must be a whole `::add-mask::` command; it then unescapes the
/// command's data (`%0D`, `%0A`, `%25`), which is what it masks.
fn check_masks(values: &IndexMap<String, Value>) {
    let masks = github_masks(values);
    let masked = read_masks(&masks);
    for (name, value) in values {
        if !dmflow::secret::is_secret_name(name) {
            continue;
        }
        // Blank text cannot be masked (the runner ignores it); every other secret is masked
        // whole, and each of its lines that is not blank and has 4 characters or more too.
        let text = value_to_text(value);
        let maskable = |t: &&str| !t.trim().is_empty();
        let lines = text
            .split(['\n', '\r'])
            .filter(|l| l.chars().count() >= 4)
            .filter(maskable);
        for part in std::iter::once(text.as_str()).filter(maskable).chain(lines) {
            assert!(
                masked.iter().any(|m| m == part),
                "{part:?} of {name} is not masked: {masks:?}"
            );
        }
    }
}

/// The values the Actions runner masks after reading `masks`, a step's output made only of
/// `::add-mask::` commands: it ends lines at `\n`, `\r` or `\r\n` and unescapes each
/// command's data (`%0D`, `%0A`, then `%25`). Panics on a line that is no mask command.
pub fn read_masks(masks: &str) -> Vec<String> {
    masks
        .split(['\n', '\r'])
        .filter(|l| !l.is_empty())
        .map(|l| {
            let data = l
                .strip_prefix("::add-mask::")
                .unwrap_or_else(|| panic!("{l:?} is not a mask command: {masks:?}"));
            data.replace("%0D", "\r")
                .replace("%0A", "\n")
                .replace("%25", "%")
        })
        .collect()
}

/// What `render` gives: the text, or (where dmflow refuses values it cannot export, such as a
/// name that is no variable name) nothing to read back.
trait Rendered {
    fn rendered(self) -> Option<String>;
}

impl Rendered for String {
    fn rendered(self) -> Option<String> {
        Some(self)
    }
}

impl<E> Rendered for Result<String, E> {
    fn rendered(self) -> Option<String> {
        self.ok()
    }
}

type Reader = fn(&str) -> Result<Vec<(String, String)>, String>;

/// The text after `prefix`, or why not.
fn expect<'a>(text: &'a str, prefix: &str) -> Result<&'a str, String> {
    text.strip_prefix(prefix)
        .ok_or_else(|| format!("expected {prefix:?} at {:?}", head(text)))
}

fn head(text: &str) -> String {
    text.chars().take(20).collect()
}

/// A variable name at the start of `text`, as every shell and dotenv reader accepts it.
fn name(text: &str) -> Result<(String, &str), String> {
    let end = text
        .char_indices()
        .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(text.len(), |(i, _)| i);
    if end == 0 {
        return Err(format!("no variable name at {:?}", head(text)));
    }
    Ok((text[..end].to_string(), &text[end..]))
}

/// Characters a POSIX shell takes literally outside quotes in an assignment's value.
fn sh_plain(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c)
}

/// One POSIX shell word, up to an unquoted newline or `;`: its value, and the rest. Anything
/// that would expand (`$`, backticks), glob, or end the command early is an error.
fn sh_word(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' | ';' => return Ok((out, &text[i..])),
            '\'' => loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, c)) => out.push(c),
                    None => return Err("an unterminated '...'".into()),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\n')) => {}
                        Some((_, c @ ('$' | '`' | '"' | '\\'))) => out.push(c),
                        Some((_, c)) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => return Err("an unterminated \"...\"".into()),
                    },
                    Some((_, c @ ('$' | '`'))) => return Err(format!("a live {c} in \"...\"")),
                    Some((_, c)) => out.push(c),
                    None => return Err("an unterminated \"...\"".into()),
                }
            },
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, c)) => out.push(c),
                None => return Err("a backslash at the end".into()),
            },
            c if sh_plain(c) => out.push(c),
            c => return Err(format!("{c:?} outside quotes")),
        }
    }
    Ok((out, ""))
}

/// The end of a command: an optional `;`, then a newline.
fn end_of_command(rest: &str) -> Result<&str, String> {
    expect(rest.strip_prefix(';').unwrap_or(rest), "\n")
}

/// Records `PREFIX NAME SEPARATOR WORD` read with `word`, one per line.
fn read_records(
    mut text: &str,
    prefix: &str,
    separator: &str,
    word: fn(&str) -> Result<(String, &str), String>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    while !text.is_empty() {
        let (name, rest) = name(expect(text, prefix)?)?;
        let (value, rest) = word(expect(rest, separator)?)?;
        text = end_of_command(rest)?;
        out.push((name, value));
    }
    Ok(out)
}

/// `export NAME=WORD` lines, as `eval "$(dmflow env)"` runs them.
fn read_sh(text: &str) -> Result<Vec<(String, String)>, String> {
    read_records(text, "export ", "=", sh_word)
}

/// `NAME=WORD` lines, as `set -a; . file` runs them.
fn read_dotenv_sh(text: &str) -> Result<Vec<(String, String)>, String> {
    read_records(text, "", "=", sh_word)
}

/// The file as the `dotenvy` crate reads it.
fn read_dotenvy(text: &str) -> Result<Vec<(String, String)>, String> {
    dotenvy::from_read_iter(text.as_bytes())
        .map(|item| item.map_err(|e| e.to_string()))
        .collect()
}

/// One fish word: `'...'` (`\'` and `\\` escaped) or `"..."` (`\"`, `\$`, `\\` escaped, no
/// live `$`), up to an unquoted `;` or newline.
fn fish_word(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' | ';' => return Ok((out, &text[i..])),
            '\'' | '"' => loop {
                match chars.next() {
                    Some((_, q)) if q == c => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, e)) if e == c || e == '\\' || (c == '"' && e == '$') => {
                            out.push(e)
                        }
                        Some((_, '\n')) if c == '"' => {}
                        Some((_, e)) => {
                            out.push('\\');
                            out.push(e);
                        }
                        None => return Err("an unterminated quote".into()),
                    },
                    Some((_, '$')) if c == '"' => return Err("a live $ in \"...\"".into()),
                    Some((_, e)) => out.push(e),
                    None => return Err("an unterminated quote".into()),
                }
            },
            c if c.is_ascii_alphanumeric() || "_-./:,+@%=".contains(c) => out.push(c),
            c => return Err(format!("{c:?} outside quotes")),
        }
    }
    Ok((out, ""))
}

/// `set -gx NAME WORD;` lines, as `dmflow env --format fish | source` runs them.
fn read_fish(text: &str) -> Result<Vec<(String, String)>, String> {
    read_records(text, "set -gx ", " ", fish_word)
}

/// `$GITHUB_ENV` as the Actions runner reads it on Linux: lines split at `\n`, empty lines
/// skipped, `NAME=VALUE`, or `NAME<<DELIMITER` then the value's lines up to a line that is
/// exactly the delimiter (the value is the text between, without its last newline).
pub fn read_github(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_string(), line[e + 1..].to_string()))
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("an empty name or delimiter: {line:?}"));
                }
                let mut value = String::new();
                loop {
                    match lines.next() {
                        None => return Err(format!("no closing {delimiter:?}")),
                        Some(l) if l.strip_suffix('\n').unwrap_or(l) == delimiter => break,
                        Some(l) => value.push_str(l),
                    }
                }
                if value.ends_with('\n') {
                    value.pop();
                }
                out.push((name.to_string(), value));
            }
            _ => return Err(format!("neither NAME=VALUE nor NAME<<DELIMITER: {line:?}")),
        }
    }
    Ok(out)
}
