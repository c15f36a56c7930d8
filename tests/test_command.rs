//! `dmflow test` for users who do not write Rust, reports, and running many flows.

mod common;

use common::{dmflow, flow_files as flows, repo, write_flow};

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn test_all_flows_with_a_junit_report_and_clean_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snaps");
    let junit = dir.path().join("out.xml");
    common::passes(
        dmflow(dir.path())
            .current_dir(repo())
            .env_remove("CI")
            .args([
                "test",
                "--mock",
                "--snapshots",
                snaps.to_str().unwrap(),
                "--report",
            ])
            .arg(format!("junit={}", junit.display()))
            .args([
                "--report",
                &format!("json={}", dir.path().join("out.json").display()),
            ])
            .args(flows()),
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    // A case per step that ran: a loop's items each, a sub-flow's steps besides its own.
    fn cases(steps: &serde_json::Value) -> usize {
        steps
            .as_array()
            .unwrap()
            .iter()
            .map(|step| match step.get("iterations") {
                Some(items) => cases(items),
                None => 1 + step.get("flow").map_or(0, |f| cases(&f["steps"])),
            })
            .sum()
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    let steps: usize = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| cases(&f["steps"]))
        .sum();
    assert!(steps > 30, "{steps}");
    assert_eq!(
        xml.matches("<testcase ").count(),
        steps + flows().len(),
        "one case per step, and one per flow for its snapshot:\n{xml}"
    );
    assert!(xml.contains(r#"failures="0""#), "{xml}");
    let profile: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("profiles/mock.json")).unwrap(),
    )
    .unwrap();
    let token = profile["values"]["ACCESS_TOKEN"].as_str().unwrap();
    for entry in std::fs::read_dir(&snaps).unwrap() {
        let content = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for secret in [token, dmflow::mock::state::DEMO_CLIENT_SECRET] {
            assert!(
                !content.contains(secret),
                "a secret in a snapshot:\n{content}"
            );
        }
    }
    // The second run compares with what the first wrote.
    common::passes(
        dmflow(dir.path())
            .current_dir(repo())
            .env("CI", "true")
            .args(["test", "--mock", "--snapshots", snaps.to_str().unwrap()])
            .args(flows()),
    );
}

#[test]
fn a_changed_emulator_answer_fails_with_a_diff_of_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snaps");
    let run = |extra: &[&str]| {
        dmflow(dir.path())
            .current_dir(repo())
            .env_remove("CI")
            .args(["test", "--mock", "--snapshots", snaps.to_str().unwrap()])
            .args(extra)
            .arg("flows/password.yaml")
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    let junit = dir.path().join("junit.xml");
    let report = dir.path().join("report.json");
    let changed = run(&[
        "--token-ttl",
        "100",
        "--json",
        "--report",
        &format!("junit={}", junit.display()),
        "--report",
        &format!("json={}", report.display()),
    ]);
    assert_eq!(changed.status.code(), Some(1), "{}", text(&changed));
    let diff_lines = "-  \"expires_in\": 36000,\n+  \"expires_in\": 100,";
    let err = String::from_utf8_lossy(&changed.stderr);
    assert!(err.contains(diff_lines), "{err}");
    assert!(err.contains("✗ snapshot of password"), "{err}");
    assert!(err.contains("1 flow: 0 passed, 1 failed"), "{err}");
    assert!(err.contains("1 snapshot did not match"), "{err}");
    assert!(
        !err.contains('\x1b'),
        "no colour when stderr is not a terminal"
    );
    // The same verdict in --json, in the JSON report and in the JUnit report.
    let doc: serde_json::Value = serde_json::from_slice(&changed.stdout).unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for doc in [&doc, &file] {
        assert_eq!((&doc["ok"], &doc["exit_code"]), (&false.into(), &1.into()));
        assert_eq!(doc["flows"][0]["outcome"], "failed");
        assert_eq!(doc["flows"][0]["snapshot"]["outcome"], "differs");
        let diff = doc["flows"][0]["snapshot"]["diff"].as_str().unwrap();
        assert!(diff.contains(diff_lines), "{diff}");
    }
    let xml = std::fs::read_to_string(&junit).unwrap();
    let failure = xml
        .split("<failure")
        .nth(1)
        .unwrap_or_else(|| panic!("a failing case:\n{xml}"));
    assert!(failure.contains(r#"type="snapshot""#), "{xml}");
    assert!(
        failure.contains("-  &quot;expires_in&quot;: 36000,\n+  &quot;expires_in&quot;: 100,"),
        "the diff in the failure:\n{xml}"
    );
    common::passes(
        dmflow(dir.path())
            .current_dir(repo())
            .env("DMFLOW_UPDATE", "1")
            .args([
                "test",
                "--mock",
                "--token-ttl",
                "100",
                "--snapshots",
                snaps.to_str().unwrap(),
                "flows/password.yaml",
            ]),
    );
    assert!(
        run(&["--token-ttl", "100"]).status.success(),
        "the updated snapshot matches"
    );
}

#[test]
fn a_missing_snapshot_fails_under_ci() {
    let dir = tempfile::tempdir().unwrap();
    let snaps = dir.path().join("snaps");
    let output = dmflow(dir.path())
        .current_dir(repo())
        .env("CI", "true")
        .args([
            "test",
            "--mock",
            "--snapshots",
            snaps.to_str().unwrap(),
            "flows/client-credentials.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("no snapshot at"),
        "{}",
        text(&output)
    );
    assert!(!snaps.join("client-credentials.snap").exists());
}

#[test]
fn redact_rules_add_to_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "videos.yaml",
        "name: redacted\nvars:\n  api: https://api.dailymotion.com\nredact:\n  - json: $.list[*].views_total\n    with: '[views]'\n  - regex: 'x7a\\d+'\nsteps:\n  - http:\n      url: <<api>>/user/x7dmflw/videos\n      query: { fields: 'id,views_total', limit: 2 }\n",
    );
    let snaps = dir.path().join("snaps");
    common::passes(
        dmflow(dir.path())
            .env_remove("CI")
            .args(["test", "--mock", "--snapshots", snaps.to_str().unwrap()])
            .arg(&flow),
    );
    let snap = std::fs::read_to_string(snaps.join("redacted.snap")).unwrap();
    assert!(snap.contains(r#""views_total": "[views]""#), "{snap}");
    assert!(snap.contains(r#""id": "[redacted]""#), "{snap}");
    let bad = write_flow(
        dir.path(),
        "bad.yaml",
        "redact:\n  - json: '$['\nsteps:\n  - http: { url: 'http://127.0.0.1:9/' }\n",
    );
    let check = dmflow(dir.path()).arg("check").arg(&bad).output().unwrap();
    assert_eq!(check.status.code(), Some(2));
    assert!(
        text(&check).contains("invalid JSONPath `$[` in redact"),
        "{}",
        text(&check)
    );
}

#[test]
fn jobs_keep_output_in_order_and_shards_split_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (i, delay) in [(1, 400), (2, 0), (3, 200), (4, 0)] {
        files.push(write_flow(
            dir.path(),
            &format!("f{i}.yaml"),
            &format!("name: f{i}\nsteps:\n  - name: s{i}\n    http: {{ url: '{}/query?delay={delay}' }}\n", common::server()),
        ));
    }
    let output = common::passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--jobs", "4", "--json"])
            .args(&files),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let positions: Vec<usize> = (1..=4)
        .map(|i| stderr.find(&format!("✓ s{i}")).expect("each step line"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "output in input order:\n{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["f1", "f2", "f3", "f4"]);
    let shard = |s: &str| {
        let out = dmflow(dir.path())
            .args(["run", "--no-store", "--json", "--shard", s])
            .args(&files)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        json["flows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(shard("1/2"), ["f1", "f3"]);
    assert_eq!(shard("2/2"), ["f2", "f4"]);
    dmflow(dir.path())
        .args(["run", "--shard", "3/2"])
        .args(&files)
        .assert()
        .code(2);
}

#[test]
fn repeat_reports_the_timing_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "r.yaml",
        &format!(
            "name: r\nsteps:\n  - http: {{ url: '{}/items/1' }}\n",
            common::server()
        ),
    );
    let output = common::passes(
        dmflow(dir.path())
            .args(["run", "--no-store", "--repeat", "5", "--report"])
            .arg(format!("json={}", dir.path().join("r.json").display()))
            .arg(&flow),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("5 runs, min ") && stderr.contains("median") && stderr.contains("p95"),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("r.json")).unwrap()).unwrap();
    let flows = report["flows"].as_array().unwrap();
    assert_eq!(flows.len(), 5);
    // Earlier passed runs are kept as an outline (memory stays flat over many repetitions);
    // the last run keeps its request and response.
    let statuses: Vec<&serde_json::Value> =
        flows.iter().map(|f| &f["steps"][0]["status"]).collect();
    assert_eq!(statuses[..4], [&serde_json::Value::Null; 4], "{report}");
    assert_eq!(statuses[4], 200, "{report}");
    assert!(flows.iter().all(|f| f["steps"][0]["outcome"] == "passed"));
}

#[test]
fn flows_run_after_the_flows_that_provide_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::passes(dmflow(dir.path()).current_dir(repo()).args([
        "run",
        "--mock",
        "--json",
        "flows/videos.yaml",
        "flows/me.yaml",
        "flows/login.yaml",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["login", "me", "videos"],
        "videos takes USER_ID from me, the nearest flow that outputs it; me its token from login"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("running in this order"));
}

#[test]
fn paginate_stops_at_max_pages_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "pages.yaml",
        "name: pages\nsteps:\n  - name: videos\n    http:\n      url: https://api.dailymotion.com/user/x7dmflw/videos\n      query: { fields: id, limit: 20 }\n      paginate: { max_pages: 2 }\n    expect:\n      json:\n        $.page: 2\n        $.has_more: true\n    save:\n      IDS: $.list[*].id\noutputs: [IDS]\n",
    );
    let output = common::passes(
        dmflow(dir.path())
            .args(["run", "--mock", "--no-store", "--json"])
            .arg(&flow),
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids = json["flows"][0]["outputs"]["IDS"].as_array().unwrap();
    assert_eq!(ids.len(), 40, "two pages of 20 merged");
    assert_eq!(ids[39], "x7a00040");
    assert_eq!(json["flows"][0]["steps"][0]["requests"], 2);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("stopped after 2 pages (max_pages): more remain")
    );
}
