//! `--report junit=PATH`: one test suite per flow, one test case per step (with the failure
//! messages), through quick-junit. Under `dmflow test` each flow also has a `snapshot` case,
//! failing with the diff when the transcript differs.

use crate::run::result::{FlowResult, Outcome, StepResult};
use crate::secret::Redactor;
use crate::snapshot::Outcome as Snapshot;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

/// The report; `verdicts` are `dmflow test`'s snapshot verdicts by result (empty for `run`).
pub fn render(
    results: &[FlowResult],
    redactor: &Redactor,
    verdicts: &[Option<Snapshot>],
) -> Result<String, crate::Error> {
    let mut report = Report::new("dmflow");
    for (index, result) in results.iter().enumerate() {
        let name = if results.iter().filter(|r| r.file == result.file).count() > 1 {
            format!("{} #{}", result.name, index + 1)
        } else {
            result.name.clone()
        };
        let mut suite = TestSuite::new(name);
        suite.set_time(result.duration);
        if let Some(error) = &result.setup_error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(redactor.mask(&error.message()));
            let mut case = TestCase::new("setup", status);
            case.set_classname(result.file.clone());
            suite.add_test_case(case);
        }
        for (name, step) in flatten(&result.steps, "") {
            let mut case = TestCase::new(name, status_of(step, redactor));
            case.set_classname(result.file.clone());
            case.set_time(step.duration);
            suite.add_test_case(case);
        }
        for skipped in &result.skipped {
            let mut case = TestCase::new(skipped.clone(), TestCaseStatus::skipped());
            case.set_classname(result.file.clone());
            suite.add_test_case(case);
        }
        if let Some(verdict) = verdicts.get(index).and_then(Option::as_ref) {
            let status = match verdict.message() {
                None => TestCaseStatus::success(),
                Some(message) => {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message(redactor.mask(&message));
                    status.set_type("snapshot");
                    let description = match verdict.diff() {
                        Some(diff) => format!("{message}\n--- snapshot\n+++ this run\n{diff}"),
                        None => message,
                    };
                    status.set_description(redactor.mask(&description));
                    status
                }
            };
            let mut case = TestCase::new("snapshot", status);
            case.set_classname(result.file.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report
        .to_string()
        .map_err(|e| crate::Error::Report(e.to_string()))
}

/// Every step as a test case: a loop's items (`name[0]`) and a sub-flow's steps
/// (`name / inner`) each on their own.
fn flatten<'a>(steps: &'a [StepResult], prefix: &str) -> Vec<(String, &'a StepResult)> {
    let mut out = Vec::new();
    for step in steps {
        let name = format!("{prefix}{}", step.name);
        if !step.iterations.is_empty() {
            out.extend(flatten(&step.iterations, prefix));
            continue;
        }
        if let Some(inner) = &step.flow {
            out.extend(flatten(&inner.steps, &format!("{name} / ")));
        }
        out.push((name, step));
    }
    out
}

fn status_of(step: &StepResult, redactor: &Redactor) -> TestCaseStatus {
    let outcome = step.outcome();
    let kind = match outcome {
        Outcome::Passed => return TestCaseStatus::success(),
        Outcome::Skipped => return TestCaseStatus::skipped(),
        Outcome::Failed => NonSuccessKind::Failure,
        Outcome::Errored => NonSuccessKind::Error,
    };
    let mut status = TestCaseStatus::non_success(kind);
    let mut lines: Vec<String> = step
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.subject, f.message))
        .collect();
    if let Some(error) = &step.error {
        lines.push(error.to_string());
    }
    if lines.is_empty() {
        lines.push("a step inside it did not pass".into());
    }
    status.set_message(redactor.mask(&lines.join("; ")));
    status.set_type(if outcome == Outcome::Failed {
        "check"
    } else {
        "error"
    });
    status.set_description(redactor.mask(&lines.join("\n")));
    status
}
