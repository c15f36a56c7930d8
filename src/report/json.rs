//! `--json`: the run as one JSON document on stdout (steps, statuses, timings, failures and
//! saved outputs with their JSON types), masked like everything else.

use crate::run::result::{FlowResult, Outcome, StepResult};
use crate::secret::Redactor;
use serde_json::{Value, json};

fn outcome_name(o: Outcome) -> &'static str {
    o.name()
}

/// The whole run.
pub fn results(results: &[FlowResult], redactor: &Redactor) -> Value {
    let flows: Vec<Value> = results.iter().map(|r| flow(r, redactor)).collect();
    let exit = crate::exit::worst(results.iter().map(FlowResult::category));
    json!({
        "ok": exit == crate::exit::Category::Ok,
        "exit_code": exit.exit_code(),
        "flows": flows,
    })
}

/// One step, with its loop's items, earlier attempts and sub-flow nested in it.
fn step(step: &StepResult, redactor: &Redactor) -> Value {
    let last = step.exchanges.last();
    let mut value = json!({
        "name": step.name,
        "kind": step.kind,
        "outcome": outcome_name(step.outcome()),
        "method": last.map(|e| e.request.method.clone()),
        "url": last.map(|e| redactor.mask(&e.request.url)),
        "status": step.status(),
        "duration_ms": step.duration.as_secs_f64() * 1000.0,
        "requests": step.exchanges.len(),
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
        value["iterations"] = Value::Array(
            step.iterations
                .iter()
                .map(|i| self::step(i, redactor))
                .collect(),
        );
    }
    if let Some(inner) = &step.flow {
        value["flow"] = flow(inner, redactor);
    }
    value
}

fn flow(result: &FlowResult, redactor: &Redactor) -> Value {
    let steps: Vec<Value> = result.steps.iter().map(|s| step(s, redactor)).collect();
    json!({
        "name": result.name,
        "file": result.file,
        "outcome": outcome_name(result.outcome()),
        "exit_code": result.exit_code(),
        "duration_ms": result.duration.as_secs_f64() * 1000.0,
        "error": result.setup_error.as_ref().map(|e| json!({
            "message": redactor.mask(&e.message()),
            "help": e.help().map(|h| redactor.mask(&h)),
            "exit_code": e.category().exit_code(),
        })),
        "steps": steps,
        "skipped": result.skipped,
        "outputs": redactor.mask_json(&Value::Object(result.outputs.clone().into_iter().collect())),
    })
}
