//! What a flow may cost, at most: templates bounded by fuel and output size, `vars:` and steps
//! counted, input files read with a size cap and refused when they are devices, JSON nested too
//! deep refused clearly, and diagnostics of huge lines kept short. Each limit answers with a
//! clear error, exit 2, and can be raised with `--limit NAME=VALUE`.

mod common;

use common::{dmflow, server, write_flow};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs dmflow in `dir` and returns its exit code and stderr.
fn dmflow_in(dir: &Path, args: &[&str]) -> (i32, String) {
    let output = dmflow(dir)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("dmflow runs");
    (output.status.code().unwrap_or(-1), stderr(&output))
}

/// A flow whose one step GETs the test server with `header` as the value of `X-Test`.
fn flow_with_header(vars: &str, header: &str) -> String {
    format!(
        "vars:\n{vars}steps:\n  - name: get\n    http:\n      url: {}/headers\n      headers:\n        X-Test: '{header}'\n",
        server()
    )
}

#[test]
fn a_template_that_doubles_itself_forty_times_is_stopped_by_the_output_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = String::from("  v0: x\n");
    for i in 1..=40 {
        vars.push_str(&format!("  v{i}: '<< v{} ~ v{} >>'\n", i - 1, i - 1));
    }
    write_flow(
        dir.path(),
        "double.yaml",
        &flow_with_header(&vars, "<< v40 >>"),
    );
    let (code, err) = dmflow_in(dir.path(), &["check", "double.yaml"]);
    assert_eq!(code, 0, "statically fine: {err}");
    let (code, err) = dmflow_in(dir.path(), &["run", "double.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("produces more than 16 MiB"), "{err}");
    assert!(err.contains("v24 ~ v24"), "the template is quoted: {err}");
    assert!(err.contains("--limit template-output="), "{err}");
    assert!(
        err.contains("double.yaml:27:8"),
        "at the variable `v25`: {err}"
    );
}

#[test]
fn the_output_limit_can_be_lowered_and_raised() {
    let dir = tempfile::tempdir().unwrap();
    let vars = "  big: '<% for i in range(3000) %>x<% endfor %>'\n";
    write_flow(dir.path(), "big.yaml", &flow_with_header(vars, "<< big >>"));
    let (code, err) = dmflow_in(
        dir.path(),
        &["run", "big.yaml", "--limit", "template-output=2KiB"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("produces more than 2 KiB"), "{err}");
    let (code, err) = dmflow_in(
        dir.path(),
        &["run", "big.yaml", "--limit", "template-output=4KiB"],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_variable_read_alone_is_held_to_the_output_limit_too() {
    // `<< big >>` reads a plain string variable without the template engine: same limit.
    let dir = tempfile::tempdir().unwrap();
    let vars = format!("  big: {}\n", "x".repeat(3000));
    write_flow(
        dir.path(),
        "alone.yaml",
        &flow_with_header(&vars, "<< big >>"),
    );
    let (code, err) = dmflow_in(
        dir.path(),
        &["run", "alone.yaml", "--limit", "template-output=2KiB"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("produces more than 2 KiB"), "{err}");
    let (code, err) = dmflow_in(
        dir.path(),
        &["run", "alone.yaml", "--limit", "template-output=4KiB"],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn nested_loops_over_huge_strings_run_out_of_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let vars = "  s: '<% for i in range(100000) %>a<% endfor %>'\n  spin: '<% for a in s %><% for b in s %><% endfor %><% endfor %>done'\n";
    write_flow(
        dir.path(),
        "spin.yaml",
        &flow_with_header(vars, "<< spin >>"),
    );
    let (code, err) = dmflow_in(dir.path(), &["run", "spin.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("does more work than one template may do"),
        "{err}"
    );
    assert!(
        err.contains("spin.yaml:3:9"),
        "at the variable `spin`: {err}"
    );
    assert!(err.contains("--limit template-fuel="), "{err}");
    // Without fuel this run never ends: the harness's 60 s timeout would fail it.
    let (code, err) = dmflow_in(
        dir.path(),
        &["run", "spin.yaml", "--limit", "template-fuel=500"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("(500 fuel)"),
        "the lowered limit is in force: {err}"
    );
}

#[test]
fn a_template_building_a_value_nested_too_deep_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // 20,000 levels overflowed the stack when the value was printed or dropped.
    let vars = "  deep: '<% set ns = namespace(v=[]) %><% for i in range(20000) %><% set ns.v = [ns.v] %><% endfor %><< ns.v >>'\n";
    write_flow(
        dir.path(),
        "deep.yaml",
        &flow_with_header(vars, "<< deep >>"),
    );
    let (code, err) = dmflow_in(dir.path(), &["run", "deep.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nested deeper than 128 levels"), "{err}");
    // As deep as the fuel allows (about 250,000 levels): dropped without a crash.
    let vars = "  deep: '<% set ns = namespace(v=[]) %><% for i in range(1000) %><% for j in range(1000) %><% set ns.v = [ns.v] %><% endfor %><% endfor %><< ns.v >>'\n";
    write_flow(
        dir.path(),
        "deeper.yaml",
        &flow_with_header(vars, "<< deep >>"),
    );
    let (code, err) = dmflow_in(dir.path(), &["run", "deeper.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("does more work than one template may do"),
        "{err}"
    );
}

/// A flow with `count` entries under `vars:`.
fn many_vars(count: usize) -> String {
    let mut yaml = String::from("vars:\n");
    for i in 0..count {
        yaml.push_str(&format!("  v{i}: {i}\n"));
    }
    yaml + &format!("steps:\n  - http:\n      url: {}/headers\n", server())
}

#[test]
fn vars_beyond_the_limit_are_refused_at_the_key_and_the_limit_can_be_raised() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(dir.path(), "vars.yaml", &many_vars(10_001));
    let (code, err) = dmflow_in(dir.path(), &["check", "vars.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`vars:` has 10001 entries; a flow may have at most 10000"),
        "{err}"
    );
    assert!(err.contains("vars.yaml:1:1"), "{err}");
    assert!(err.contains("--limit vars="), "{err}");
    let (code, err) = dmflow_in(dir.path(), &["check", "vars.yaml", "--limit", "vars=20k"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn steps_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let step = format!("  - http:\n      url: {}/headers\n", server());
    write_flow(
        dir.path(),
        "steps.yaml",
        &format!("steps:\n{}", step.repeat(4)),
    );
    let (code, err) = dmflow_in(dir.path(), &["run", "steps.yaml", "--limit", "steps=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`steps:` has 4 steps; a flow may have at most 3"),
        "{err}"
    );
    assert!(err.contains("steps.yaml:1:1"), "{err}");
    let (code, err) = dmflow_in(dir.path(), &["run", "steps.yaml", "--limit", "steps=4"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_bad_limit_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = dmflow_in(dir.path(), &["check", "x.yaml", "--limit", "varz=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `vars`"), "{err}");
    let (code, err) = dmflow_in(dir.path(), &["check", "x.yaml", "--limit", "vars=many"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a count"), "{err}");
}

#[test]
fn devices_are_refused_as_flows_env_files_and_sub_flows() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err) = dmflow_in(dir.path(), &["check", "/dev/urandom"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    write_flow(dir.path(), "ok.yaml", &many_vars(1));
    let (code, err) = dmflow_in(dir.path(), &["check", "ok.yaml", "--env-file", "/dev/zero"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/dev/zero"), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    write_flow(
        dir.path(),
        "parent.yaml",
        "steps:\n  - name: sub\n    flow: /dev/zero\n",
    );
    let (code, err) = dmflow_in(dir.path(), &["check", "parent.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    assert!(err.contains("parent.yaml:3:"), "at the `flow:` step: {err}");
}

#[test]
fn env_files_and_flow_files_are_read_up_to_their_limit() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(dir.path(), "ok.yaml", &many_vars(1));
    std::fs::write(dir.path().join("big.env"), "A=1\n".repeat(100)).unwrap();
    let (code, err) = dmflow_in(
        dir.path(),
        &[
            "check",
            "ok.yaml",
            "--env-file",
            "big.env",
            "--limit",
            "env-file=100",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("big.env: it is 400 bytes"), "{err}");
    assert!(err.contains("--limit env-file="), "{err}");
    let (code, err) = dmflow_in(dir.path(), &["check", "ok.yaml", "--env-file", "big.env"]);
    assert_eq!(code, 0, "{err}");

    let (code, err) = dmflow_in(dir.path(), &["check", "ok.yaml", "--limit", "flow-file=20"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("a flow file may hold at most 20 bytes"),
        "{err}"
    );
    assert!(err.contains("--limit flow-file="), "{err}");
    write_flow(
        dir.path(),
        "parent.yaml",
        "steps:\n  - name: sub\n    flow: ok.yaml\n",
    );
    let (code, err) = dmflow_in(
        dir.path(),
        &["check", "parent.yaml", "--limit", "flow-file=60"],
    );
    assert_eq!(code, 2, "the sub-flow is bounded too: {err}");
    assert!(err.contains("ok.yaml: it is"), "{err}");
}

/// A one-route HTTP server answering every request with `body` as JSON; returns its base URL.
fn serve_json(body: String) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    base
}

#[test]
fn a_response_nested_deeper_than_json_allows_is_a_clear_failure() {
    // 100,000 levels (parsed whole) and 200,000 (a large body, streamed for a simple path).
    for depth in [100_000, 200_000] {
        let dir = tempfile::tempdir().unwrap();
        let base = serve_json(format!("{}1{}", "[".repeat(depth), "]".repeat(depth)));
        let step = format!("  - name: get\n    http:\n      url: {base}/\n");
        write_flow(
            dir.path(),
            "expect.yaml",
            &format!("steps:\n{step}    expect:\n      json:\n        $[0]: 1\n"),
        );
        write_flow(
            dir.path(),
            "save.yaml",
            &format!("steps:\n{step}    save:\n      FIRST: $[0]\n"),
        );
        for (file, words) in [
            (
                "expect.yaml",
                "the response body is not JSON (it nests deeper than 128 levels",
            ),
            (
                "save.yaml",
                "the response body is not JSON: it nests deeper than 128 levels",
            ),
        ] {
            let (code, err) = dmflow_in(dir.path(), &["run", file]);
            assert_eq!(
                code, 1,
                "{depth} {file}: a failed check, not a crash: {err}"
            );
            assert!(err.contains(words), "{depth} {file}: {err}");
        }
    }
}

#[test]
fn yaml_nested_too_deep_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "vars:\n  v: {}1{}\nsteps: []\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    write_flow(dir.path(), "deep.yaml", &deep);
    let (code, err) = dmflow_in(dir.path(), &["check", "deep.yaml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("deep.yaml:2:"), "{err}");
}

#[test]
fn a_megabyte_key_or_line_is_reported_briefly_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    // An explicit key (`? `): YAML keeps implicit keys under 1024 characters.
    let key = "k".repeat(1 << 20);
    write_flow(
        dir.path(),
        "key.yaml",
        &format!(
            "? {key}\n: 1\nsteps:\n  - http:\n      url: {}/headers\n",
            server()
        ),
    );
    // An unknown field a megabyte to the right of the line's start.
    let pad = " ".repeat(1 << 20);
    let line = format!(
        "  - {{http: {{url: '{}/headers'}},{pad}bogus_field: 1}}",
        server()
    );
    let column = line.find("bogus_field").unwrap() + 1;
    write_flow(dir.path(), "line.yaml", &format!("steps:\n{line}\n"));
    for (file, at) in [("key.yaml", "key.yaml:1:3"), ("line.yaml", "line.yaml:2:")] {
        for command in ["check", "run"] {
            let (code, err) = dmflow_in(dir.path(), &[command, file]);
            assert_eq!(code, 2, "{command} {file}: {err}");
            assert!(err.len() < 8_000, "{command} {file}: {} bytes", err.len());
            assert!(err.contains(at), "{command} {file}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let (_, err) = dmflow_in(dir.path(), &["check", "line.yaml"]);
    assert!(
        err.contains("bogus_field"),
        "the culprit stays in view: {err}"
    );
    assert!(err.contains(&format!("line.yaml:2:{column}")), "{err}");
}
