//! The flow language past a fixed list of requests: sub-flows (`flow:`), conditions (`if:`),
//! polling and retries (`retry:`), loops (`for_each:`), files sent and received (`multipart:`,
//! `body: { file }`, `save_body_to:`). Each construct runs against a local server, is refused by
//! `check` when it is wrong (with `file:line:col`, nothing sent), and shows in reports.

mod common;

use common::{dmflow, server, write_flow};
use serde_json::Value;
use std::path::Path;

fn run_json(dir: &Path, flow: &Path, extra: &[&str]) -> (Option<i32>, Value, String) {
    let output = dmflow(dir)
        .args(["run", "--no-store", "--json"])
        .args(extra)
        .arg(flow)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no JSON on stdout ({e}):\n{stderr}"));
    (output.status.code(), json, stderr)
}

fn check(dir: &Path, flow: &Path) -> (Option<i32>, String) {
    let output = dmflow(dir).arg("check").arg(flow).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn if_skips_a_step_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "if.yaml",
        &format!(
            "vars:\n  base: {}\n  count: 2\nsteps:\n  - name: wanted\n    if: <<count > 1>>\n    http: {{ url: '<<base>>/tracked/if-yes' }}\n  - name: not-wanted\n    if: <<count > 5>>\n    http: {{ url: '<<base>>/tracked/if-no' }}\n  - name: after\n    http: {{ url: '<<base>>/tracked/if-after' }}\n",
            server()
        ),
    );
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let steps = &json["flows"][0]["steps"];
    assert_eq!(steps[0]["outcome"], "passed");
    assert_eq!(steps[1]["outcome"], "skipped");
    assert_eq!(steps[1]["skipped"], "if: <<count > 5>> is false");
    assert_eq!(
        steps[2]["outcome"], "passed",
        "a skipped step does not stop the flow"
    );
    assert!(
        stderr.contains("- not-wanted  skipped (if: <<count > 5>> is false)"),
        "{stderr}"
    );
    assert_eq!(common::hits("if-yes"), 1);
    assert_eq!(common::hits("if-no"), 0);
}

#[test]
fn retry_polls_until_a_condition_holds_and_gives_up_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "poll.yaml",
        &format!(
            "vars:\n  base: {}\nsteps:\n  - name: wait\n    http: {{ url: '<<base>>/poll/ok?after=3' }}\n    retry: {{ attempts: 10, interval: 10ms, backoff: 2, max_interval: 40ms, until: \"<<STATUS == 'published'>>\" }}\n    save:\n      STATUS: $.status\n      CALLS: $.calls\noutputs: [STATUS, CALLS]\n",
            server()
        ),
    );
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["flows"][0]["outputs"]["STATUS"], "published");
    assert_eq!(json["flows"][0]["outputs"]["CALLS"], 4);
    assert_eq!(json["flows"][0]["steps"][0]["attempts"], 4);
    assert!(stderr.contains("4 attempts"), "{stderr}");

    let stubborn = write_flow(
        dir.path(),
        "stubborn.yaml",
        &format!(
            "vars:\n  base: {}\nsteps:\n  - name: wait\n    http: {{ url: '<<base>>/poll/never?after=1000' }}\n    retry: {{ attempts: 3, interval: 10ms, until: \"<<STATUS == 'published'>>\" }}\n    save:\n      STATUS: $.status\n",
            server()
        ),
    );
    let (code, json, stderr) = run_json(dir.path(), &stubborn, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    let failure = &json["flows"][0]["steps"][0]["failures"][0];
    assert_eq!(failure["subject"], "retry until");
    assert_eq!(
        failure["message"],
        "<<STATUS == 'published'>> still does not hold after 3 attempts"
    );
    assert_eq!(failure["line"], 6, "the failure points at until:");
}

#[test]
fn retry_on_statuses_and_the_attempt_variable() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "flaky.yaml",
        &format!(
            "vars:\n  base: {}\nsteps:\n  - name: flaky\n    http: {{ url: '<<base>>/flaky/a?fail=2&code=503' }}\n    retry: {{ attempts: 5, interval: 5s, on: [network, 5xx] }}\n    expect: {{ status: 200 }}\n  - name: numbered\n    http: {{ url: '<<base>>/query', query: {{ n: <<attempt>> }} }}\n    retry: {{ attempts: 3, interval: 1ms, until: '<<N == \"3\">>' }}\n    save:\n      N: $[0][1]\noutputs: [N]\n",
            server()
        ),
    );
    let started = std::time::Instant::now();
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["flows"][0]["steps"][0]["attempts"], 3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "Retry-After: 0 was honoured instead of the 5 s interval"
    );
    assert_eq!(json["flows"][0]["outputs"]["N"], "3");

    let down = write_flow(
        dir.path(),
        "down.yaml",
        "steps:\n  - http: { url: 'http://127.0.0.1:9/x' }\n    retry: { attempts: 3, interval: 1ms, on: [network] }\n",
    );
    let (code, json, _) = run_json(dir.path(), &down, &[]);
    assert_eq!(code, Some(3));
    assert_eq!(json["flows"][0]["steps"][0]["attempts"], 3);
}

#[test]
fn for_each_runs_per_item_and_collects_what_it_saves() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "each.yaml",
        &format!(
            "vars:\n  base: {}\n  ids: [3, 5, 8]\nsteps:\n  - name: item\n    for_each: <<ids>>\n    as: id\n    http: {{ url: '<<base>>/items/<<id>>', query: {{ at: <<index>> }} }}\n    expect: {{ json: {{ $.id: <<id>> }} }}\n    save:\n      GOT: $.id\noutputs: [GOT]\n",
            server()
        ),
    );
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        json["flows"][0]["outputs"]["GOT"],
        serde_json::json!([3, 5, 8])
    );
    let items = json["flows"][0]["steps"][0]["iterations"]
        .as_array()
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2]["name"], "item[2]");
    assert!(items[1]["url"].as_str().unwrap().ends_with("/items/5?at=1"));
    assert!(stderr.contains("✓ item  http × 3 items"), "{stderr}");

    let many = write_flow(
        dir.path(),
        "many.yaml",
        &format!(
            "vars:\n  base: {}\nsteps:\n  - for_each: <<range(20) | list>>\n    max_items: 5\n    http: {{ url: '<<base>>/tracked/many' }}\n",
            server()
        ),
    );
    let (code, json, _) = run_json(dir.path(), &many, &[]);
    assert_eq!(code, Some(2));
    assert_eq!(
        json["flows"][0]["steps"][0]["error"]["message"],
        "`for_each:` has 20 items, more than its limit of 5"
    );
    assert_eq!(common::hits("many"), 0);
}

#[test]
fn a_sub_flow_runs_with_parameters_and_hands_on_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("lib")).unwrap();
    write_flow(
        dir.path(),
        "lib/create.yaml",
        &format!(
            "name: create\ninputs: [NAME]\nvars:\n  base: {}\n  suffix: plain\nsteps:\n  - name: post\n    http: {{ method: POST, url: '<<base>>/items', json: {{ name: '<<NAME>>-<<suffix>>' }} }}\n    save:\n      ITEM: $.name\noutputs: [ITEM]\n",
            server()
        ),
    );
    let flow = write_flow(
        dir.path(),
        "main.yaml",
        "name: main\nvars:\n  who: ada\nsteps:\n  - name: make\n    flow: { file: lib/create.yaml, with: { NAME: <<who>>, suffix: fancy } }\n  - name: use\n    if: <<ITEM == 'ada-fancy'>>\n    http: { url: 'http://127.0.0.1:9/unused' }\n    retry: { attempts: 1 }\noutputs: [ITEM]\n",
    );
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    // The second step runs (ITEM is right) and cannot connect: exit 3 proves the output arrived.
    assert_eq!(code, Some(3), "{stderr}");
    let make = &json["flows"][0]["steps"][0];
    assert_eq!(make["kind"], "flow");
    assert_eq!(make["saved"]["ITEM"], "ada-fancy");
    assert_eq!(make["flow"]["steps"][0]["name"], "post");
    assert!(
        stderr.contains("↳ create"),
        "nested in the terminal: {stderr}"
    );
}

#[test]
fn check_refuses_wrong_constructs_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let b = server();
    write_flow(dir.path(), "a.yaml", "steps:\n  - flow: { file: b.yaml }\n");
    write_flow(dir.path(), "b.yaml", "steps:\n  - flow: c.yaml\n");
    write_flow(dir.path(), "c.yaml", "steps:\n  - flow: a.yaml\n");
    write_flow(
        dir.path(),
        "needs.yaml",
        "inputs: [TOKEN_X]\nsteps:\n  - http: { url: 'http://127.0.0.1:9/' }\n",
    );
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("cycle.yaml", "steps:\n  - flow: a.yaml\n".into(), "2:11", "include cycle: "),
        (
            "missing.yaml",
            format!("steps:\n  - http: {{ url: '{b}/tracked/constructs' }}\n  - flow: {{ file: needs.yaml, with: {{}} }}\n"),
            "3:19",
            "needs the input `TOKEN_X`",
        ),
        (
            "unknown-with.yaml",
            "steps:\n  - flow: { file: needs.yaml, with: { TOKEN_Y: 1 } }\n".into(),
            "2:39",
            "needs.yaml has no input or variable `TOKEN_Y`",
        ),
        (
            "if.yaml",
            format!("steps:\n  - http: {{ url: '{b}/tracked/constructs' }}\n  - if: <<nope>>\n    http: {{ url: '{b}/tracked/constructs' }}\n"),
            "3:11",
            "undefined variable `nope`",
        ),
        (
            "until.yaml",
            format!("steps:\n  - http: {{ url: '{b}/tracked/constructs' }}\n    retry: {{ until: <<nada>> }}\n"),
            "3:23",
            "undefined variable `nada`",
        ),
        (
            "each.yaml",
            format!("steps:\n  - http: {{ url: '{b}/tracked/constructs' }}\n  - for_each: 5\n    http: {{ url: '{b}/tracked/constructs' }}\n"),
            "3:15",
            "`for_each:` goes over a list",
        ),
        (
            "multipart.yaml",
            format!("steps:\n  - http: {{ url: '{b}/tracked/constructs' }}\n  - http:\n      method: POST\n      url: {b}/upload\n      multipart:\n        file: {{ file: no-such-video.mp4 }}\n"),
            "7:23",
            "there is no file at",
        ),
        (
            "retry.yaml",
            "steps:\n  - http: { url: 'http://127.0.0.1:9/' }\n    retry: { attempts: 0, intervl: 1s }\n".into(),
            "3:24",
            "`attempts:` is a whole number",
        ),
    ];
    for (name, text, at, words) in cases {
        let flow = write_flow(dir.path(), name, &text);
        let (code, stderr) = check(dir.path(), &flow);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}:{at}")),
            "{name}: no {at} in\n{stderr}"
        );
        assert!(stderr.contains(words), "{name}: no {words:?} in\n{stderr}");
        let output = dmflow(dir.path())
            .args(["run", "--no-store"])
            .arg(&flow)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{name}");
    }
    let (_, cycle) = check(dir.path(), &dir.path().join("cycle.yaml"));
    assert!(
        cycle.contains("a.yaml → ") && cycle.contains("b.yaml → ") && cycle.contains("c.yaml → "),
        "the chain is shown: {cycle}"
    );
    assert_eq!(common::hits("constructs"), 0, "nothing was sent");
}

#[test]
fn files_are_sent_and_received_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.path().join("clip.mp4"), &data).unwrap();
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(&data));
    let flow = write_flow(
        dir.path(),
        "files.yaml",
        &format!(
            "vars:\n  base: {b}\nsteps:\n  - name: form\n    http:\n      method: POST\n      url: <<base>>/upload\n      multipart:\n        title: My clip\n        file: {{ file: clip.mp4 }}\n    expect:\n      json:\n        $.filename: clip.mp4\n        $.has_title: true\n        $.content_type: {{ matches: '^multipart/form-data; boundary=' }}\n  - name: raw\n    http:\n      method: POST\n      url: <<base>>/upload\n      body: {{ file: clip.mp4 }}\n    expect:\n      json:\n        $.bytes: 3000000\n        $.sha256: {sha}\n        $.content_type: video/mp4\n  - name: fetch\n    http:\n      url: <<base>>/download\n      query: {{ size: 2500000 }}\n      save_body_to: out/fetched.bin\n    expect:\n      status: 200\n",
            b = server()
        ),
    );
    let (code, json, stderr) = run_json(dir.path(), &flow, &[]);
    assert_eq!(code, Some(0), "{stderr}\n{json:#}");
    let fetched = std::fs::read(dir.path().join("out/fetched.bin")).unwrap();
    assert_eq!(fetched.len(), 2_500_000);
    assert!(fetched.starts_with(b"0123456789012"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no partial file is left");
    assert_eq!(json["flows"][0]["steps"][0]["status"], 200);
}

/// Each construct's transcript, as `dmflow test` writes it, kept as a snapshot: a skipped
/// step, every attempt of a retry, a loop's items and what they collect, a sub-flow's steps
/// under its name, files sent and received.
#[test]
fn every_construct_leaves_a_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let base = server();
    std::fs::write(dir.path().join("clip.mp4"), b"not really a video\n").unwrap();
    write_flow(
        dir.path(),
        "child.yaml",
        "inputs: [base, WHO]\nsteps:\n  - name: greet\n    http: { url: '<<base>>/query', query: { hello: <<WHO>> } }\n    save: { GREETING: '$[0][1]' }\noutputs: [GREETING]\n",
    );
    let flows = [
        (
            "if",
            "steps:\n  - name: wanted\n    if: <<count > 1>>\n    http: { url: '<<base>>/query', query: { step: wanted } }\n  - name: not-wanted\n    if: <<count > 5>>\n    http: { url: '<<base>>/query', query: { step: not-wanted } }\n",
        ),
        (
            "retry",
            "steps:\n  - name: wait\n    http: { url: '<<base>>/poll/transcript-KEY?after=2' }\n    retry: { attempts: 5, interval: 1ms, until: \"<<STATUS == 'published'>>\" }\n    save: { STATUS: $.status }\n",
        ),
        (
            "each",
            "steps:\n  - name: each\n    for_each: [ada, bob, cy]\n    as: who\n    index: n\n    if: <<who != 'bob'>>\n    http: { url: '<<base>>/query', query: { who: <<who>>, n: <<n>> } }\n    save: { WHO: '$[0][1]' }\n",
        ),
        (
            "sub-flow",
            "steps:\n  - name: hello\n    flow: { file: child.yaml, with: { base: <<base>>, WHO: ada } }\n  - name: after\n    http: { url: '<<base>>/query', query: { got: <<GREETING>> } }\n",
        ),
        (
            "files",
            "steps:\n  - name: form\n    http:\n      method: POST\n      url: <<base>>/upload\n      multipart: { title: My clip, file: { file: clip.mp4 } }\n  - name: raw\n    http:\n      method: POST\n      url: <<base>>/upload\n      body: { file: clip.mp4, content_type: video/mp4 }\n  - name: fetch\n    http: { url: '<<base>>/download?size=1000', save_body_to: out/fetched.bin }\nredact:\n  - { regex: 'boundary=[0-9a-f-]+', with: 'boundary=[boundary]' }\n  - { json: '$.sha256', with: '[sha256]' }\n",
        ),
    ];
    let key = format!("{}", std::process::id());
    let mut paths = Vec::new();
    for (name, steps) in flows {
        let text = format!(
            "name: language-{name}\nvars:\n  base: {base}\n  count: 2\n{}",
            steps.replace("KEY", &key)
        );
        paths.push(write_flow(dir.path(), &format!("{name}.yaml"), &text));
    }
    let snaps = dir.path().join("snaps");
    common::passes(
        dmflow(dir.path())
            .args(["test", "--update", "--no-store", "--snapshots"])
            .arg(&snaps)
            .args(&paths),
    );
    let dir_text = dir.path().display().to_string();
    for (name, _) in flows {
        let text = std::fs::read_to_string(snaps.join(format!("language-{name}.snap")))
            .unwrap()
            .replace(&dir_text, "[dir]")
            .replace(&key, "[key]");
        common::snapshot_settings().bind(|| {
            insta::assert_snapshot!(format!("language_{name}"), text);
        });
    }
}
