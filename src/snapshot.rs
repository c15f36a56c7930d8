//! Snapshot files for `dmflow test`: `DIR/<flow name>.snap` holds a flow's redacted
//! transcript. A run compares with it and shows a unified diff on a mismatch; `--update`
//! rewrites it; a missing one is written, except under CI=true.

use crate::flow::Flow;
use std::path::{Path, PathBuf};

const HEADER: &str = "# dmflow snapshot: `dmflow test --update` rewrites this file\n";

pub enum Outcome {
    Matched,
    Written(PathBuf),
    Differs { path: PathBuf, diff: String },
    Missing(PathBuf),
}

pub fn path_for(dir: &Path, flow: &Flow) -> PathBuf {
    let name: String = flow
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.snap"))
}

pub fn compare(
    dir: &Path,
    flow: &Flow,
    transcript: &str,
    update: bool,
    ci: bool,
    color: bool,
) -> Result<Outcome, crate::Error> {
    let path = path_for(dir, flow);
    let wanted = format!("{HEADER}# flow file: {}\n{transcript}", flow.source.name);
    let write = |path: &Path| -> Result<(), crate::Error> {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::file("create", dir, e))?;
        std::fs::write(path, &wanted).map_err(|e| crate::Error::file("write", path, e))
    };
    match std::fs::read_to_string(&path) {
        Ok(stored) if body(&stored) == transcript => Ok(Outcome::Matched),
        Ok(_) if update => write(&path).map(|()| Outcome::Written(path)),
        Ok(stored) => Ok(Outcome::Differs {
            diff: diff(body(&stored), transcript, color),
            path,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if ci && !update {
                Ok(Outcome::Missing(path))
            } else {
                write(&path).map(|()| Outcome::Written(path))
            }
        }
        Err(e) => Err(crate::Error::file("read the snapshot", path, e)),
    }
}

/// The transcript part of a snapshot file (without the header comments).
fn body(stored: &str) -> &str {
    let mut rest = stored;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map(|(_, r)| r).unwrap_or("");
    }
    rest
}

/// A unified diff, `-` the snapshot and `+` this run, coloured when asked.
pub fn diff(old: &str, new: &str, color: bool) -> String {
    let text = similar::TextDiff::from_lines(old, new);
    let mut out = String::new();
    for group in text.grouped_ops(3) {
        out.push_str("@@\n");
        for op in group {
            for change in text.iter_changes(&op) {
                let (sign, code) = match change.tag() {
                    similar::ChangeTag::Delete => ("-", "31"),
                    similar::ChangeTag::Insert => ("+", "32"),
                    similar::ChangeTag::Equal => (" ", ""),
                };
                let line = format!("{sign}{}", change.value());
                let line = if line.ends_with('\n') {
                    line
                } else {
                    line + "\n"
                };
                if color && !code.is_empty() {
                    out.push_str(&format!(
                        "\x1b[{code}m{}\x1b[0m\n",
                        line.trim_end_matches('\n')
                    ));
                } else {
                    out.push_str(&line);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_the_changed_line() {
        let d = diff("a\nb: 1\nc\n", "a\nb: 2\nc\n", false);
        assert!(d.contains("-b: 1\n+b: 2\n"), "{d}");
        assert!(!d.contains('\x1b'));
    }

    #[test]
    fn headers_are_not_compared() {
        assert_eq!(body("# one\n# two\nflow: x\n"), "flow: x\n");
    }
}
