//! Whatever `dmflow check` accepts, `run` never refuses for a reason visible before sending:
//! each mistake below sits in step 2, after a request in step 1, and is refused by `check` and
//! by `run` with exit 2 and `file:line:col`, with nothing sent.

mod common;

use common::{dmflow, server, write_flow};

/// (case, the step that holds the mistake, the line:col it is reported at, words of the message)
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "method",
        "    http:\n      method: FOO BAR\n      url: <<base>>/tracked/method\n",
        "9:15",
        "is not an HTTP method",
    ),
    (
        "scheme",
        "    http:\n      url: example.com/tracked/scheme\n",
        "9:12",
        "invalid URL",
    ),
    (
        "pkce",
        "    authorize:\n      url: <<base>>/authorize\n      client_id: c\n      pkce: sha1\n",
        "11:13",
        "`pkce: sha1`",
    ),
    (
        "client-auth",
        "    token:\n      url: <<base>>/token\n      client_id: c\n      client_auth: digest\n      grant: client_credentials\n",
        "11:20",
        "`client_auth: digest`",
    ),
    (
        "grant",
        "    token:\n      url: <<base>>/token\n      client_id: c\n      grant: implicit\n",
        "11:14",
        "`grant: implicit`",
    ),
    (
        "callback",
        "    callback: {}\n",
        "7:5",
        "needs an `authorize` step before it",
    ),
    (
        "header",
        "    http:\n      url: <<base>>/tracked/header\n      headers:\n        X-A: \"a\\r\\nb\"\n",
        "11:14",
        "line break",
    ),
    (
        "filter",
        "    http:\n      url: <<base | nosuchfilter>>/tracked/filter\n",
        "9:21",
        "unknown filter `nosuchfilter`",
    ),
    (
        "function",
        "    http:\n      url: <<base>>/<<nosuchfn()>>\n",
        "9:23",
        "unknown function `nosuchfn`",
    ),
    (
        "duration",
        "    http:\n      url: <<base>>/tracked/duration\n      timeout: soon\n",
        "10:16",
        "is not a duration",
    ),
    (
        "status",
        "    http:\n      url: <<base>>/tracked/status\n    expect:\n      status: 999\n",
        "11:15",
        "999 is not an HTTP status",
    ),
];

#[test]
fn every_mistake_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    for (case, step, at, words) in CASES {
        // The request sits in the step before the mistake.
        let text = format!(
            "name: {case}\nvars:\n  base: {}\nsteps:\n  - name: first\n    http: {{ url: '<<base>>/tracked/{case}' }}\n  - name: second\n{step}",
            server()
        );
        let flow = write_flow(dir.path(), &format!("{case}.yaml"), &text);
        for command in ["check", "run"] {
            let output = dmflow(dir.path())
                .args([command])
                .args(if command == "run" {
                    vec!["--no-store"]
                } else {
                    vec![]
                })
                .arg(&flow)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{case} {command}: {stderr}");
            let location = format!("{case}.yaml:{at}");
            assert!(
                stderr.contains(&location),
                "{case} {command}: no {location} in\n{stderr}"
            );
            assert!(
                stderr.contains(words),
                "{case} {command}: no {words:?} in\n{stderr}"
            );
            assert!(!stderr.contains("panicked"), "{stderr}");
        }
        assert_eq!(common::hits(case), 0, "{case}: a request was sent");
    }
}

#[test]
fn the_same_flows_without_the_mistake_run() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "fine.yaml",
        &format!(
            "vars:\n  base: {}\nsteps:\n  - http: {{ url: '<<base>>/tracked/fine' }}\n  - http:\n      method: <<'get' | upper>>\n      url: <<base>>/tracked/fine\n      timeout: 5s\n      headers: {{ X-A: ok }}\n    expect:\n      status: 2xx\n",
            server()
        ),
    );
    common::passes(dmflow(dir.path()).args(["run", "--no-store"]).arg(&flow));
    assert_eq!(common::hits("fine"), 2);
}

#[test]
fn a_bad_value_from_the_command_line_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "late.yaml",
        &format!(
            "vars:\n  base: {}\n  verb: GET\nsteps:\n  - http: {{ url: '<<base>>/tracked/late' }}\n  - http:\n      method: <<verb>>\n      url: <<base>>/tracked/late\n",
            server()
        ),
    );
    common::passes(dmflow(dir.path()).arg("check").arg(&flow));
    let output = dmflow(dir.path())
        .args(["run", "--no-store", "--var", "verb=FOO BAR"])
        .arg(&flow)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`FOO BAR` is not an HTTP method"),
        "{stderr}"
    );
    assert!(stderr.contains("late.yaml:7:15"), "{stderr}");
    assert_eq!(common::hits("late"), 0, "nothing may be sent");
}

#[test]
fn a_variable_an_earlier_step_saves_is_checked_with_the_value_it_saves() {
    // `verb` starts as no method at all; step 1 saves a good one, which is what step 2 sends.
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "saved.yaml",
        &format!(
            "vars:\n  base: {}\n  verb: FOO BAR\nsteps:\n  - http: {{ url: '<<base>>/query', query: {{ verb: GET }} }}\n    save:\n      verb: $[0][1]\n  - http:\n      method: <<verb>>\n      url: <<base>>/tracked/saved\n",
            server()
        ),
    );
    common::passes(dmflow(dir.path()).args(["run", "--no-store"]).arg(&flow));
    assert_eq!(common::hits("saved"), 1);
}
