//! The engine end to end: the binary runs flows against a local server.

mod common;

use common::{dmflow, server, snapshot_settings, write_flow};
use predicates::str::contains;
use serde_json::Value;

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("--json prints JSON on stdout")
}

#[test]
fn three_steps_share_a_saved_value_and_json_keeps_types() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "items.yaml",
        &format!(
            r#"
name: items
vars:
  base: {base}
steps:
  - name: create
    http:
      method: post
      url: <<base>>/items
      json: {{ name: gadget, count: 3 }}
    expect:
      status: 201
      headers:
        location: /items/7
    save:
      ITEM_ID: $.id
      PRICE: $.price
      TAGS: $.tags
      WHERE: {{ header: Location }}
  - name: read
    http:
      url: <<base>>/items/<<ITEM_ID>>
      auth: {{ bearer: "t-<<ITEM_ID>>" }}
    expect:
      json:
        $.id: <<ITEM_ID>>
        $.auth: "Bearer t-7"
  - name: query
    http:
      url: <<base>>/query
      query: {{ id: <<ITEM_ID>>, tag: [a, b] }}
    expect:
      json:
        $[0]: ["id", "7"]
        $[2]: ["tag", "b"]
outputs: [ITEM_ID, PRICE, TAGS, WHERE]
"#,
            base = server()
        ),
    );
    let output = dmflow(dir.path())
        .args(["run", "--json", "--no-store"])
        .arg(&flow)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let json = stdout_json(&output);
    let outputs = &json["flows"][0]["outputs"];
    assert_eq!(
        outputs["ITEM_ID"],
        Value::from(7),
        "a number stays a number"
    );
    assert_eq!(outputs["PRICE"], Value::from(9.5));
    assert_eq!(outputs["TAGS"], serde_json::json!(["new"]));
    assert_eq!(outputs["WHERE"], Value::from("/items/7"));
    assert_eq!(json["flows"][0]["steps"].as_array().unwrap().len(), 3);
    assert_eq!(json["flows"][0]["steps"][1]["status"], Value::from(200));
    assert!(stderr.contains("✓ create"), "{stderr}");
    assert!(stderr.contains("POST"), "{stderr}");
    assert!(stderr.contains("1 flow: 1 passed"), "{stderr}");
}

#[test]
fn check_reports_typo_undefined_variable_and_syntax_error_of_one_flow() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "three.yaml",
        &format!(
            "name: three\ninputs: [ACCESS_TOKEN]\nsteps:\n  - name: me\n    http:\n      url: {b}/tracked/check\n      methd: GET\n      headers: {{ Authorization: Bearer <<ACESS_TOKEN>> }}\n  - name: videos\n    http:\n      url: \"{b}/tracked/check\n    expect:\n      status: 200\n",
            b = server()
        ),
    );
    for command in ["check", "run"] {
        let output = dmflow(dir.path()).arg(command).arg(&flow).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr =
            String::from_utf8_lossy(&output.stderr).replace(dir.path().to_str().unwrap(), "[dir]");
        assert!(stderr.contains("[dir]/three.yaml:7:7"), "{stderr}");
        assert!(stderr.contains("unknown field `methd`"), "{stderr}");
        assert!(stderr.contains("did you mean `method`?"), "{stderr}");
        assert!(stderr.contains("[dir]/three.yaml:8:42"), "{stderr}");
        assert!(
            stderr.contains("undefined variable `ACESS_TOKEN` in step `me`"),
            "{stderr}"
        );
        assert!(stderr.contains("did you mean `ACCESS_TOKEN`?"), "{stderr}");
        assert!(stderr.contains("[dir]/three.yaml:11:12"), "{stderr}");
        assert!(stderr.contains("unclosed quote"), "{stderr}");
        assert!(
            stderr.contains("^"),
            "a caret points at each problem: {stderr}"
        );
        if command == "check" {
            assert!(stderr.contains("3 problems in 1 file"), "{stderr}");
            snapshot_settings().bind(|| {
                insta::assert_snapshot!(
                    "check_three_problems",
                    stderr.replace(server(), "[server]")
                )
            });
        }
    }
    assert_eq!(common::hits("check"), 0, "nothing may be sent");
}

#[test]
fn check_reports_problems_of_several_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_flow(dir.path(), "a.yaml", "steps:\n  - htp: { url: x }\n");
    let b = write_flow(dir.path(), "b.yaml", "steps:\n  - http: { url: <<x>> }\n");
    let c = write_flow(
        dir.path(),
        "c.yaml",
        "steps:\n  - http: { url: 'http://x' }\n",
    );
    let output = dmflow(dir.path())
        .arg("check")
        .args([&a, &b, &c])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("a.yaml:2:5"), "{stderr}");
    assert!(stderr.contains("b.yaml:2:20"), "{stderr}");
    assert!(stderr.contains("2 problems in 2 files"), "{stderr}");
}

#[test]
fn check_collects_all_template_problems_of_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "many.yaml",
        "steps:\n  - http:\n      url: <<base>>/a\n    save:\n      ID: $.id\n  - http:\n      url: <<bse>>/b/<<ID>>/<<nope>>\n    expect:\n      json:\n        $.x: { type: strng }\n        $[: 1\noutputs: [ID, MISSING]\n",
    );
    let output = dmflow(dir.path())
        .args(["check", "--var", "base=http://x"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "undefined variable `bse`",
        "did you mean `base`?",
        "undefined variable `nope`",
        "unknown type `strng`",
        "invalid JSONPath `$[`",
        "output `MISSING` is never defined",
        "5 problems in 1 file",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}

#[test]
fn run_refuses_an_invalid_flow_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "bad.yaml",
        &format!(
            "steps:\n  - http:\n      url: {b}/tracked/refused\n  - http:\n      url: {b}/tracked/refused/<<ID>>\n",
            b = server()
        ),
    );
    dmflow(dir.path())
        .args(["run", "--no-store"])
        .arg(&flow)
        .assert()
        .code(2)
        .stderr(contains("undefined variable `ID`"))
        .stderr(contains("nothing was sent"));
    assert_eq!(common::hits("refused"), 0);
}

#[test]
fn a_failing_check_names_step_expectation_and_actual() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "fail.yaml",
        &format!(
            "name: fail\nsteps:\n  - name: fetch\n    http:\n      url: {}/items/3\n    expect:\n      status: 200\n      json:\n        $.name: gizmo\n  - name: never\n    http:\n      url: {}/items/4\n",
            server(),
            server()
        ),
    );
    let output = dmflow(dir.path())
        .args(["run", "--no-store"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr =
        String::from_utf8_lossy(&output.stderr).replace(dir.path().to_str().unwrap(), "[dir]");
    assert!(stderr.contains("✗ fetch"), "{stderr}");
    assert!(
        stderr.contains(r#"json $.name: expected "gizmo", got "widget""#),
        "{stderr}"
    );
    assert!(stderr.contains("[dir]/fail.yaml:9:"), "{stderr}");
    assert!(stderr.contains("skipped: never"), "{stderr}");
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("failing_check", stderr.replace(server(), "[server]")));
}

#[test]
fn network_errors_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "down.yaml",
        "steps:\n  - name: down\n    http:\n      url: http://127.0.0.1:9/nothing\n",
    );
    dmflow(dir.path())
        .args(["run", "--no-store"])
        .arg(&flow)
        .assert()
        .code(3)
        .stderr(contains("cannot connect"));
}

#[test]
fn timeouts_are_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "slow.yaml",
        &format!(
            "steps:\n  - name: slow\n    http:\n      url: {}/slow\n      timeout: 300ms\n",
            server()
        ),
    );
    dmflow(dir.path())
        .args(["run", "--no-store"])
        .arg(&flow)
        .assert()
        .code(3)
        .stderr(contains("no response within 300 ms"));
}

#[test]
fn cookies_are_shared_and_redirects_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "cookies.yaml",
        &format!(
            "steps:\n  - http: {{ url: '{b}/cookie/set' }}\n  - http: {{ url: '{b}/cookie/check' }}\n    expect:\n      json:\n        $.cookie: session=abc123\n  - http: {{ url: '{b}/redirect', follow_redirects: false }}\n    expect:\n      status: 3xx\n      headers:\n        location: /items/7\n  - http: {{ url: '{b}/redirect' }}\n    expect:\n      json:\n        $.id: 7\n",
            b = server()
        ),
    );
    common::passes(dmflow(dir.path()).args(["run", "--no-store"]).arg(&flow));
}

#[test]
fn form_basic_auth_and_raw_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "bodies.yaml",
        &format!(
            "vars:\n  PASSWORD: p@ss\nsteps:\n  - http:\n      method: POST\n      url: {b}/form\n      form: {{ a: '1 2', b: <<PASSWORD>> }}\n    expect:\n      json:\n        $.a: '1 2'\n  - http:\n      url: {b}/basic\n      auth: {{ basic: {{ username: user, password: <<PASSWORD>> }} }}\n    expect:\n      status: 200\n  - http:\n      url: {b}/text\n    expect:\n      body: {{ contains: order-4242 }}\n    save:\n      ORDER: {{ regex: 'order-(\\d+)' }}\noutputs: [ORDER]\n",
            b = server()
        ),
    );
    let output = common::passes(
        dmflow(dir.path())
            .args(["run", "--json", "--no-store"])
            .arg(&flow),
    );
    assert_eq!(
        stdout_json(&output)["flows"][0]["outputs"]["ORDER"],
        Value::from("4242")
    );
}

#[test]
fn secrets_are_masked_in_verbose_output_and_json_unless_revealed() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "secret.yaml",
        &format!(
            "inputs: [API_SECRET]\nsecrets: [SESSION]\nsteps:\n  - http:\n      url: {b}/headers\n      headers: {{ X-Key: <<API_SECRET>>, X-Encoded: \"<<API_SECRET|b64encode>>\" }}\n    save:\n      SESSION: $['x-key']\n  - http:\n      url: {b}/secret\n    save:\n      GOT: {{ json: $.token, secret: true }}\noutputs: [SESSION, GOT]\n",
            b = server()
        ),
    );
    let secret = "hunter2-very-secret";
    let output = common::passes(
        dmflow(dir.path())
            .args([
                "run",
                "-v",
                "--json",
                "--no-store",
                "--var",
                &format!("API_SECRET={secret}"),
            ])
            .arg(&flow),
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    for leaked in [secret, encoded.as_str(), "srv-secret-0123456789"] {
        assert!(!all.contains(leaked), "{leaked} leaked:\n{all}");
    }
    assert!(all.contains("[secret:API_SECRET]"), "{all}");
    let revealed = dmflow(dir.path())
        .args([
            "run",
            "-v",
            "--reveal",
            "--no-store",
            "--var",
            &format!("API_SECRET={secret}"),
        ])
        .arg(&flow)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&revealed.stderr).contains(secret));
}

#[test]
fn missing_inputs_are_named_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "needs.yaml",
        "inputs: [ACCESS_TOKEN]\nsteps:\n  - http: { url: 'http://127.0.0.1:9/x', auth: { bearer: <<ACCESS_TOKEN>> } }\n",
    );
    dmflow(dir.path())
        .args(["run", "--no-store"])
        .arg(&flow)
        .assert()
        .code(2)
        .stderr(contains("needs the input `ACCESS_TOKEN`"))
        .stderr(contains("dmflow run flows/login.yaml"));
}

#[test]
fn env_file_values_and_env_function() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "BASE_FROM_FILE=\"__BASE__\"\nNAME=from-file\n".replace("__BASE__", server()),
    )
    .unwrap();
    let flow = write_flow(
        dir.path(),
        "env.yaml",
        "vars:\n  NAME: from-vars\n  base: <<env('BASE_FROM_FILE')>>\n  who: <<env('DMFLOW_TEST_WHO', 'nobody')>>\nsteps:\n  - http:\n      url: <<base>>/query\n      query: { name: <<NAME>>, who: <<who>> }\n    expect:\n      json:\n        $[0][1]: from-file\n        $[1][1]: somebody\n",
    );
    common::passes(
        dmflow(dir.path())
            .env("DMFLOW_TEST_WHO", "somebody")
            .args(["run", "--no-store", "--env-file"])
            .arg(dir.path().join(".env"))
            .arg(&flow),
    );
}

#[test]
fn bad_var_syntax_and_missing_files_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "ok.yaml",
        "steps:\n  - http: { url: 'http://127.0.0.1:9/' }\n",
    );
    dmflow(dir.path())
        .args(["run", "--var", "no-equals"])
        .arg(&flow)
        .assert()
        .code(2)
        .stderr(contains("is not NAME=VALUE"));
    dmflow(dir.path())
        .args(["run", "does-not-exist.yaml"])
        .assert()
        .code(2)
        .stderr(contains("cannot read does-not-exist.yaml"));
    dmflow(dir.path()).args(["frobnicate"]).assert().code(2);
}

#[test]
fn hostile_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.yaml", b"".to_vec()),
        ("binary.yaml", vec![0, 159, 146, 150, 255, 0, 1]),
        (
            "deep.yaml",
            format!("steps: {}", "[".repeat(100_000)).into_bytes(),
        ),
        (
            "merge.yaml",
            b"base: &b {url: x}\nsteps:\n  - http:\n      <<: *b\n".to_vec(),
        ),
        ("tabs.yaml", b"steps:\n\t- http: {url: x}\n".to_vec()),
        (
            "huge.yaml",
            format!(
                "steps:\n{}",
                "  - http: { url: 'http://127.0.0.1:9/' }\n".repeat(60_000)
            )
            .into_bytes(),
        ),
        ("scalar.yaml", b"just a string".to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let output = dmflow(dir.path()).arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            matches!(output.status.code(), Some(0) | Some(2)),
            "{name}: {:?} {stderr}",
            output.status
        );
    }
}

#[test]
fn help_teaches_and_lists_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    dmflow(dir.path())
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("dmflow run --mock flows/login.yaml"))
        .stdout(contains("Exit codes:"))
        .stdout(contains("130"));
    dmflow(dir.path())
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(contains("--env-file"));
}

#[test]
fn loopback_requests_never_go_through_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "direct.yaml",
        &format!("steps:\n  - http: {{ url: '{}/items/1' }}\n", server()),
    );
    common::passes(
        dmflow(dir.path())
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("ALL_PROXY", "http://127.0.0.1:9")
            .args(["run", "--no-store"])
            .arg(&flow),
    );
}

#[test]
fn outputs_of_each_kind_are_part_of_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write_flow(
        dir.path(),
        "ok.yaml",
        &format!(
            "name: ok\nsteps:\n  - name: create\n    http:\n      method: POST\n      url: {b}/items\n      json: {{ name: x }}\n    save:\n      ID: $.id\n  - name: read\n    http: {{ url: '{b}/items/<<ID>>' }}\n",
            b = server()
        ),
    );
    let down = write_flow(
        dir.path(),
        "down.yaml",
        "name: down\nsteps:\n  - name: nowhere\n    http: { url: 'http://127.0.0.1:9/x' }\n",
    );
    let needs = write_flow(
        dir.path(),
        "needs.yaml",
        "name: needs\ninputs: [ACCESS_TOKEN]\nsteps:\n  - http: { url: 'http://127.0.0.1:9/x', auth: { bearer: <<ACCESS_TOKEN>> } }\n",
    );
    let env = write_flow(
        dir.path(),
        "env.yaml",
        "name: env\nvars:\n  key: <<env('DMFLOW_SURELY_UNSET_VAR')>>\nsteps:\n  - http: { url: 'http://127.0.0.1:9/<<key>>' }\n",
    );
    for (name, flow) in [
        ("run_ok", &ok),
        ("run_network_error", &down),
        ("run_missing_input", &needs),
        ("run_unset_env", &env),
    ] {
        let output = dmflow(dir.path())
            .args(["run", "--no-store"])
            .arg(flow)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr)
            .replace(dir.path().to_str().unwrap(), "[dir]")
            .replace(server(), "[server]");
        let shown = format!("exit: {:?}\n{stderr}", output.status.code());
        common::snapshot_settings().bind(|| insta::assert_snapshot!(name, shown));
    }
}

#[test]
fn check_knows_what_oauth_steps_read_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "implicit.yaml",
        "steps:\n  - echo: {}\n  - refresh: { url: 'http://127.0.0.1:9/t', client_id: c }\n  - token: { url: 'http://127.0.0.1:9/t', client_id: c }\n",
    );
    let output = dmflow(dir.path()).arg("check").arg(&flow).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "reads `ACCESS_TOKEN` (the default of its `token:` field)",
        "reads `REFRESH_TOKEN`",
        "reads `CODE`",
        "3 problems",
    ] {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
}
