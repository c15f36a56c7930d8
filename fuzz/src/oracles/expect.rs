//! Target `expect`: an `expect:` and a `save:` (any keys of a step, written as YAML) checked
//! and captured on any HTTP response, the way a run does it: the step compiled inside a flow
//! (JSONPaths, regexes, statuses and types checked then), then `Checker::check` and each
//! capture's `extract` on the response.
//!
//! The input is the step's YAML, a line `---`, then the response as on the wire: a status
//! line (`HTTP/1.1 200 OK`, or just `200`), header lines, an empty line and the body.
//!
//! Properties: no panic, hang or runaway memory; no failure message and no capture error
//! shows the run's secret (the response may carry it anywhere).

use super::SECRET;
use dmflow::Loader;
use dmflow::diagnostic::Source;
use dmflow::run::exchange::ResponseRecord;
use dmflow::run::expect::Checker;
use dmflow::secret::Redactor;
use std::time::Duration;

/// The flow the step goes into: variables of several types, a secret input.
const HEAD: &str = "inputs: [ACCESS_TOKEN]
vars:
  n: 3
  word: dmflow
  ids: [x1, x2]
steps:
  - name: fuzz
    http: { url: \"http://127.0.0.1:9/\" }
";

pub fn fuzz(data: &[u8]) {
    if let Some(text) = super::text(data) {
        let (step, response) = split(text);
        check(step, response);
    }
}

/// The step's YAML and the response: the text around the first line that is `---`.
pub fn split(text: &str) -> (&str, &str) {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (&text[..at], &text[at + line.len()..]);
        }
        at += line.len();
    }
    (text, "")
}

/// A response as on the wire; the status is 200 when the first line names none.
pub fn response(text: &str) -> ResponseRecord {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().find_map(|w| w.parse::<u16>().ok()))
        .unwrap_or(200);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    ResponseRecord::from_parts(status, headers, body.to_string(), Duration::ZERO)
}

pub fn check(step: &str, response_text: &str) {
    let indented: String = step.lines().map(|l| format!("    {l}\n")).collect();
    let source = Source::new("expect.yaml", format!("{HEAD}{indented}"));
    let Ok(flow) = Loader::new().compile_source(&source) else {
        return;
    };
    let response = response(response_text);
    let cx = super::template::context();
    let redactor = Redactor::new(false);
    redactor.add("ACCESS_TOKEN", SECRET);
    let checker = Checker {
        vars: &cx,
        redactor: &redactor,
    };
    for step in &flow.steps {
        if let Ok(failures) = checker.check(&step.expect, &response) {
            for failure in failures {
                assert!(
                    !failure.message.contains(SECRET),
                    "a failure shows the secret: {}",
                    failure.message
                );
            }
        }
        for capture in &step.save {
            if let Err(message) = capture.extract_masked(&response, &redactor) {
                assert!(
                    !message.contains(SECRET),
                    "a capture error shows the secret: {message}"
                );
            }
        }
    }
}
