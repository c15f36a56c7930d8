//! Snapshot files for `dmflow test`: `DIR/<flow name>.snap` holds a flow's redacted
//! transcript. A run compares with it and gives a unified diff on a mismatch; `--update`
//! rewrites it; a missing one is written, except under CI=true. A failed comparison fails the
//! flow, in the exit code and in every report.

use crate::exit::Category;
use crate::flow::Flow;
use crate::run::result::{FlowResult, Outcome as RunOutcome};
use std::path::{Path, PathBuf};

const HEADER: &str = "# dmflow snapshot: `dmflow test --update` rewrites this file\n";

/// The verdict on one flow's transcript.
#[derive(Debug, Clone)]
pub enum Outcome {
    Matched(PathBuf),
    Written(PathBuf),
    /// `diff` is plain text: `-` lines from the snapshot, `+` lines from this run.
    Differs {
        path: PathBuf,
        diff: String,
    },
    /// Not written because CI=true.
    Missing(PathBuf),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(self, Outcome::Differs { .. } | Outcome::Missing(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Matched(_) => "matched",
            Outcome::Written(_) => "written",
            Outcome::Differs { .. } => "differs",
            Outcome::Missing(_) => "missing",
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            Outcome::Matched(p) | Outcome::Written(p) | Outcome::Missing(p) => p,
            Outcome::Differs { path, .. } => path,
        }
    }

    pub fn diff(&self) -> Option<&str> {
        match self {
            Outcome::Differs { diff, .. } => Some(diff),
            _ => None,
        }
    }

    /// Why the verdict fails the flow.
    pub fn message(&self) -> Option<String> {
        match self {
            Outcome::Differs { path, .. } => Some(format!(
                "the transcript differs from the snapshot {}",
                path.display()
            )),
            Outcome::Missing(path) => Some(format!(
                "no snapshot at {} (CI=true: not written; run dmflow test --update)",
                path.display()
            )),
            _ => None,
        }
    }
}

/// How serious a flow's ending is once its snapshot is judged: a failed verdict makes a
/// passed flow fail.
pub fn category(result: &FlowResult, verdict: Option<&Outcome>) -> Category {
    let ran = result.category();
    if verdict.is_some_and(Outcome::failed) {
        crate::exit::worst([ran, Category::Failed])
    } else {
        ran
    }
}

/// The flow's outcome once its snapshot is judged.
pub fn outcome(result: &FlowResult, verdict: Option<&Outcome>) -> RunOutcome {
    match category(result, verdict) {
        Category::Ok => RunOutcome::Passed,
        Category::Failed => RunOutcome::Failed,
        _ => RunOutcome::Errored,
    }
}

/// Where a flow's snapshot lives: `DIR/<flow name>.snap`.
pub fn path_for(dir: &Path, flow: &Flow) -> PathBuf {
    dir.join(file_name(&flow.name))
}

/// The snapshot file name of a flow name (characters other than letters, digits, `-`, `_`
/// and `.` become `_`).
pub fn file_name(flow_name: &str) -> String {
    let name: String = flow_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{name}.snap")
}

pub fn compare(
    dir: &Path,
    flow: &Flow,
    transcript: &str,
    update: bool,
    ci: bool,
) -> Result<Outcome, crate::Error> {
    let path = path_for(dir, flow);
    let wanted = format!("{HEADER}# flow file: {}\n{transcript}", flow.source.name);
    let write = |path: &Path| -> Result<(), crate::Error> {
        std::fs::create_dir_all(dir).map_err(|e| crate::Error::file("create", dir, e))?;
        std::fs::write(path, &wanted).map_err(|e| crate::Error::file("write", path, e))
    };
    match std::fs::read_to_string(&path) {
        Ok(stored) if body(&stored) == transcript => Ok(Outcome::Matched(path)),
        Ok(_) if update => write(&path).map(|()| Outcome::Written(path)),
        Ok(stored) => Ok(Outcome::Differs {
            diff: diff(body(&stored), transcript),
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

/// A unified diff, `-` the snapshot and `+` this run, with `@@ -l,n +l,n @@` hunk headers.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(false)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_the_changed_line() {
        let d = diff("a\nb: 1\nc\n", "a\nb: 2\nc\n");
        assert!(d.contains("-b: 1\n+b: 2\n"), "{d}");
        assert!(d.starts_with("@@ -1,3 +1,3 @@\n"), "{d}");
        assert!(!d.contains('\x1b'));
    }

    #[test]
    fn headers_are_not_compared() {
        assert_eq!(body("# one\n# two\nflow: x\n"), "flow: x\n");
    }
}
