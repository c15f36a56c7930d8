//! `--json`: the run as one JSON document on stdout (steps, statuses, timings, failures, the
//! API's error messages, saved outputs with their JSON types, snapshot verdicts, `--repeat`
//! statistics), masked like everything else; and the documents for runs that never started
//! (invalid flows, usage) and for `check`.

use crate::diagnostic::Diagnostic;
use crate::exit::{Category, worst};
use crate::run::result::{FlowResult, StepResult};
use crate::secret::Redactor;
use crate::snapshot::Outcome as Snapshot;
use indexmap::IndexMap;
use serde_json::{Value, json};

/// The whole run; `verdicts` are `dmflow test`'s snapshot verdicts by result (empty for `run`).
/// `ok` and `exit_code` cover the flows and their snapshots; [`set_exit`] corrects them when
/// the command ends worse (a report it could not write).
pub fn results(
    results: &[FlowResult],
    redactor: &Redactor,
    verdicts: &[Option<Snapshot>],
) -> Value {
    let verdict = |i: usize| verdicts.get(i).and_then(Option::as_ref);
    let flows: Vec<Value> = results
        .iter()
        .enumerate()
        .map(|(i, r)| flow(r, verdict(i), redactor))
        .collect();
    let exit = worst(
        results
            .iter()
            .enumerate()
            .map(|(i, r)| crate::snapshot::category(r, verdict(i))),
    );
    let mut doc = json!({
        "ok": exit == Category::Ok,
        "exit_code": exit.exit_code(),
        "flows": flows,
    });
    let timings = timings(results);
    if timings.iter().any(|t| t.runs > 1) {
        doc["repeat"] = timings.iter().map(Timing::to_json).collect();
    }
    doc
}

/// Sets `ok` and `exit_code` to how the command really ends.
pub fn set_exit(doc: &mut Value, category: Category) {
    doc["ok"] = json!(category == Category::Ok);
    doc["exit_code"] = json!(category.exit_code());
}

/// A command that ended before any flow ran: invalid flows, a bad option, a store that cannot
/// be read.
pub fn failure(
    category: Category,
    message: &str,
    help: Option<&str>,
    problems: &[Diagnostic],
) -> Value {
    json!({
        "ok": false,
        "exit_code": category.exit_code(),
        "error": { "message": message, "help": help },
        "problems": self::problems(problems),
        "flows": [],
    })
}

/// Problems as `check --json` gives them: file, line, column (1-based), message, help.
pub fn problems(problems: &[Diagnostic]) -> Value {
    problems
        .iter()
        .map(|p| {
            json!({
                "file": p.source.as_ref().map(|s| s.name.clone()),
                "line": p.pos.map(|pos| pos.line),
                "column": p.pos.map(|pos| pos.col),
                "message": p.message,
                "label": p.label,
                "help": p.help,
            })
        })
        .collect()
}

/// The timing distribution of one flow over its runs (`--repeat`), in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub name: String,
    pub file: String,
    pub runs: usize,
    pub min_ms: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

impl Timing {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "file": self.file,
            "runs": self.runs,
            "min_ms": self.min_ms,
            "median_ms": self.median_ms,
            "p95_ms": self.p95_ms,
            "max_ms": self.max_ms,
        })
    }
}

/// Per flow file, in order of first appearance: min, median, p95 and max of its runs'
/// durations (nearest rank on the sorted times).
pub fn timings(results: &[FlowResult]) -> Vec<Timing> {
    let mut by_file: IndexMap<&str, (&str, Vec<f64>)> = IndexMap::new();
    for result in results {
        by_file
            .entry(result.file.as_str())
            .or_insert_with(|| (result.name.as_str(), Vec::new()))
            .1
            .push(result.duration.as_secs_f64() * 1000.0);
    }
    by_file
        .into_iter()
        .map(|(file, (name, mut times))| {
            times.sort_by(f64::total_cmp);
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            Timing {
                name: name.to_string(),
                file: file.to_string(),
                runs: times.len(),
                min_ms: at(0.0),
                median_ms: at(0.5),
                p95_ms: at(0.95),
                max_ms: at(1.0),
            }
        })
        .collect()
}

/// One step, with its loop's items, earlier attempts and sub-flow nested in it.
fn step(step: &StepResult, redactor: &Redactor) -> Value {
    let last = step.exchanges.last();
    let mut value = json!({
        "name": step.name,
        "kind": step.kind,
        "outcome": step.outcome().name(),
        "method": last.map(|e| e.request.method.clone()),
        "url": last.map(|e| redactor.mask(&e.request.url)),
        "status": step.status(),
        "duration_ms": step.duration.as_secs_f64() * 1000.0,
        "requests": step.exchanges.len(),
        "api_message": super::terminal::api_message(step).map(|(_, m)| redactor.mask(&m)),
        "failures": step.failures.iter().map(|f| json!({
            "subject": f.subject,
            "message": redactor.mask(&f.message),
            "line": (f.pos.line > 0).then_some(f.pos.line),
            "column": (f.pos.line > 0).then_some(f.pos.col),
        })).collect::<Vec<_>>(),
        "error": step.error.as_ref().map(|e| json!({
            "message": redactor.mask(&e.message()),
            "help": e.help().map(|h| redactor.mask(&h)),
            "exit_code": e.category().exit_code(),
        })),
        "saved": redactor.mask_json(&Value::Object(step.saved.clone().into_iter().collect())),
        "notes": step.notes.iter().map(|n| redactor.mask(n)).collect::<Vec<_>>(),
        "attempts": step.attempts.len() + 1,
    });
    if let Some(reason) = &step.skipped {
        value["skipped"] = json!(redactor.mask(reason));
    }
    if !step.iterations.is_empty() {
        value["iterations"] = step
            .iterations
            .iter()
            .map(|i| self::step(i, redactor))
            .collect();
    }
    if let Some(inner) = &step.flow {
        value["flow"] = flow(inner, None, redactor);
    }
    value
}

fn flow(result: &FlowResult, verdict: Option<&Snapshot>, redactor: &Redactor) -> Value {
    let steps: Vec<Value> = result.steps.iter().map(|s| step(s, redactor)).collect();
    let mut doc = json!({
        "name": result.name,
        "file": result.file,
        "outcome": crate::snapshot::outcome(result, verdict).name(),
        "exit_code": crate::snapshot::category(result, verdict).exit_code(),
        "duration_ms": result.duration.as_secs_f64() * 1000.0,
        "error": result.setup_error.as_ref().map(|e| json!({
            "message": redactor.mask(&e.message()),
            "help": e.help().map(|h| redactor.mask(&h)),
            "exit_code": e.category().exit_code(),
        })),
        "steps": steps,
        "skipped": result.skipped,
        "outputs": redactor.mask_json(&Value::Object(result.outputs.clone().into_iter().collect())),
    });
    if let Some(verdict) = verdict {
        doc["snapshot"] = json!({
            "outcome": verdict.name(),
            "path": verdict.path().display().to_string(),
            "message": verdict.message(),
            "diff": verdict.diff().map(|d| redactor.mask(d)),
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn run(file: &str, ms: u64) -> FlowResult {
        let mut result = FlowResult::new("f", file);
        result.duration = Duration::from_millis(ms);
        result
    }

    #[test]
    fn timings_per_file() {
        let results: Vec<FlowResult> = [5, 1, 3, 2, 4]
            .into_iter()
            .map(|ms| run("a.yaml", ms))
            .chain([run("b.yaml", 7)])
            .collect();
        let timings = timings(&results);
        assert_eq!(timings.len(), 2);
        let a = &timings[0];
        assert_eq!(
            (a.runs, a.min_ms, a.median_ms, a.max_ms),
            (5, 1.0, 3.0, 5.0)
        );
        assert_eq!(a.p95_ms, 5.0);
        assert_eq!(timings[1].runs, 1);
        let doc = super::results(&results, &Redactor::new(false), &[]);
        assert_eq!(doc["repeat"][0]["median_ms"], 3.0);
    }

    #[test]
    fn a_failed_snapshot_fails_the_document() {
        let results = vec![run("a.yaml", 1)];
        let verdict = Snapshot::Differs {
            path: "s/f.snap".into(),
            diff: "@@ -1 +1 @@\n-a\n+b\n".into(),
        };
        let doc = super::results(&results, &Redactor::new(false), &[Some(verdict)]);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["exit_code"], 1);
        assert_eq!(doc["flows"][0]["outcome"], "failed");
        assert_eq!(doc["flows"][0]["snapshot"]["outcome"], "differs");
        assert!(
            doc.get("repeat").is_none(),
            "one run per flow: no statistics"
        );
    }
}
