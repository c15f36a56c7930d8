//! The command line in CI: shards that pass on their own, inputs from one provider flow,
//! snapshot verdicts in every report, JSON documents for every ending, `env` and `--export`,
//! the API's own error messages, colour and `--quiet`.

mod common;

use common::{dmflow, flow_files, passes, repo, write_flow};
use serde_json::Value;

fn stdout_json(output: &std::process::Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn names(doc: &Value) -> Vec<String> {
    doc["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_shard_passes_alone_against_the_repository_snapshots() {
    let mut seen = Vec::new();
    for index in 1..=3 {
        let state = tempfile::tempdir().unwrap();
        let output = dmflow(state.path())
            .current_dir(repo())
            .env("CI", "true")
            .args(["test", "--mock", "--json", "--shard", &format!("{index}/3")])
            .args(flow_files())
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "shard {index}/3 on a fresh state directory:\n{}",
            stderr(&output)
        );
        let doc = stdout_json(&output);
        assert!(
            doc["flows"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["snapshot"]["outcome"] == "matched"),
            "{doc:#}"
        );
        seen.extend(names(&doc));
    }
    seen.sort();
    let mut every: Vec<String> = flow_files()
        .iter()
        .map(|f| {
            dmflow::flow::load(&repo().join(f))
                .expect("the flow parses")
                .name
                .clone()
        })
        .collect();
    every.sort();
    assert!(every.len() >= 11, "{every:?}");
    assert_eq!(seen, every, "each flow in exactly one shard");
}

#[test]
fn a_flow_is_not_run_when_its_provider_fails_and_the_api_message_shows() {
    let state = tempfile::tempdir().unwrap();
    let output = dmflow(state.path())
        .current_dir(repo())
        .args(["run", "--mock", "--no-store", "--json"])
        .args([
            "flows/client-credentials.yaml",
            "flows/me.yaml",
            "flows/videos.yaml",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let doc = stdout_json(&output);
    let needs_user = "This route needs a user";
    assert!(
        doc["flows"][1]["steps"][0]["api_message"]
            .as_str()
            .unwrap()
            .contains(needs_user),
        "{doc:#}"
    );
    let not_run = doc["flows"][2]["error"]["message"].as_str().unwrap();
    assert!(
        not_run.contains("not run") && not_run.contains("`USER_ID`") && not_run.contains("`me`"),
        "{not_run}"
    );
    assert!(doc["flows"][2]["steps"].as_array().unwrap().is_empty());
    let err = stderr(&output);
    let step_line = err.find("✗ profile").expect("the failing step's line");
    let said = err
        .find(&format!("Dailymotion said: {needs_user}"))
        .unwrap_or_else(|| panic!("the API's message without -v:\n{err}"));
    assert!(step_line < said, "{err}");
}

#[test]
fn the_api_message_is_masked_and_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let rights = |name: &str, user: &str| {
        write_flow(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nvars:\n  API_KEY: <<env('DM_API_KEY', '')>>\n  API_SECRET: <<env('DM_API_SECRET', '')>>\n  USERNAME: x\n  PASSWORD: x\n  api: https://api.dailymotion.com\noauth:\n  token_url: <<api>>/oauth/token\n  client_id: <<API_KEY>>\n  client_secret: <<API_SECRET>>\nsteps:\n  - name: token\n    token: {{ grant: password, username: <<USERNAME>>, password: <<PASSWORD>> }}\n  - name: players\n    http:\n      url: \"<<api>>/user/{user}/players\"\n      auth: {{ bearer: <<ACCESS_TOKEN>> }}\n    expect: {{ status: 200 }}\n"
            ),
        )
    };
    let output = dmflow(dir.path())
        .args(["run", "--mock", "--no-store", "--reveal"])
        .arg(rights("secret", "<<ACCESS_TOKEN>>"))
        .output()
        .unwrap();
    let revealed = stderr(&output);
    let token = revealed
        .split("Insufficient rights for route GET /user/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("the message names the user id:\n{revealed}"))
        .to_string();
    assert!(token.len() > 20, "{token}");
    let output = dmflow(dir.path())
        .args(["run", "--mock", "--no-store"])
        .arg(rights("secret", "<<ACCESS_TOKEN>>"))
        .arg(rights("escape", "%1B%5B31mred"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("Dailymotion said: Insufficient rights for route GET /user/"),
        "{err}"
    );
    assert!(!err.contains(&token), "the token is masked:\n{err}");
    assert!(err.contains(r"/user/\u{1b}[31mred/players"), "{err}");
    assert!(!err.contains('\x1b'), "no raw escape reaches the terminal");
}

#[test]
fn repeat_takes_a_rotated_refresh_token_from_the_flow_itself_with_statistics() {
    let state = tempfile::tempdir().unwrap();
    let output = passes(
        dmflow(state.path())
            .current_dir(repo())
            .args(["run", "--mock", "--no-store", "--json", "--repeat", "3"])
            .args(["flows/password.yaml", "flows/refresh.yaml"]),
    );
    let doc = stdout_json(&output);
    let repeat = doc["repeat"].as_array().expect("statistics under --repeat");
    assert_eq!(repeat.len(), 2);
    for flow in repeat {
        assert_eq!(flow["runs"], 3);
        let at = |k: &str| flow[k].as_f64().unwrap();
        assert!(
            at("min_ms") <= at("median_ms")
                && at("median_ms") <= at("p95_ms")
                && at("p95_ms") <= at("max_ms"),
            "{flow}"
        );
    }
    assert_eq!(repeat[1]["file"], "flows/refresh.yaml");
}

#[test]
fn two_flows_with_one_name_are_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let flow = |file: &str| {
        write_flow(
            dir.path(),
            file,
            &format!(
                "name: same\nsteps:\n  - http: {{ url: '{}/tracked/twins' }}\n",
                common::server()
            ),
        )
    };
    let (a, b) = (flow("a.yaml"), flow("b.yaml"));
    let snaps = dir.path().join("snaps");
    let output = dmflow(dir.path())
        .args(["test", "--no-store", "--snapshots", snaps.to_str().unwrap()])
        .args([&a, &b])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("a.yaml") && err.contains("b.yaml") && err.contains("same.snap"),
        "{err}"
    );
    assert_eq!(common::hits("twins"), 0, "nothing was sent");
    assert!(!snaps.exists());
}

#[test]
fn json_documents_for_check_and_for_runs_that_never_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_flow(
        dir.path(),
        "bad.yaml",
        "steps:\n  - http: { url: 'http://127.0.0.1:9/', methd: GET }\n",
    );
    let good = write_flow(
        dir.path(),
        "good.yaml",
        "steps:\n  - http: { url: 'http://127.0.0.1:9/' }\n",
    );
    let check = dmflow(dir.path())
        .args(["check", "--json"])
        .args([&good, &bad])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let doc = stdout_json(&check);
    assert_eq!(doc["ok"], false);
    let problem = &doc["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("bad.yaml"),
        "{doc:#}"
    );
    assert_eq!(
        (problem["line"].clone(), problem["column"].is_u64()),
        (2.into(), true),
        "{doc:#}"
    );
    assert!(
        problem["message"].as_str().unwrap().contains("methd"),
        "{doc:#}"
    );
    assert!(problem["help"].is_string(), "{doc:#}");
    assert_eq!(doc["files"].as_array().unwrap().len(), 2);
    let ok = stdout_json(
        &dmflow(dir.path())
            .args(["check", "--json"])
            .arg(&good)
            .output()
            .unwrap(),
    );
    assert_eq!(
        (ok["ok"].clone(), ok["problems"].clone()),
        (Value::Bool(true), Value::Array(vec![]))
    );

    let run = dmflow(dir.path())
        .args(["run", "--no-store", "--json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let doc = stdout_json(&run);
    assert_eq!(
        (doc["ok"].clone(), doc["exit_code"].clone()),
        (Value::Bool(false), 2.into())
    );
    assert!(
        doc["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("methd")
    );

    let usage = dmflow(dir.path())
        .args(["run", "--json", "--shard", "3/2"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let doc = stdout_json(&usage);
    assert_eq!(doc["exit_code"], 2);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--shard"),
        "{doc:#}"
    );
}

#[test]
fn status_and_token_answer_in_json() {
    let state = tempfile::tempdir().unwrap();
    let empty = dmflow(state.path())
        .args(["status", "--mock", "--json"])
        .output()
        .unwrap();
    assert_eq!(stdout_json(&empty)["stored"], false);
    let no_token = dmflow(state.path())
        .args(["token", "--mock", "--json"])
        .output()
        .unwrap();
    assert_eq!(no_token.status.code(), Some(2));
    let doc = stdout_json(&no_token);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no access token"),
        "{doc}"
    );
    passes(
        dmflow(state.path())
            .current_dir(repo())
            .args(["run", "--mock", "flows/password.yaml"]),
    );
    let status = stdout_json(&passes(
        dmflow(state.path()).args(["status", "--mock", "--json"]),
    ));
    let token = stdout_json(&passes(
        dmflow(state.path()).args(["token", "--mock", "--json"]),
    ));
    let access = token["access_token"].as_str().unwrap();
    assert!(access.len() > 20);
    assert_eq!(token["scope"], "userinfo manage_videos");
    assert!(token["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(status["expiry"]["state"], "valid");
    assert_eq!(status["values"]["USER_ID"], "x7dmflw");
    let shown = status["values"]["ACCESS_TOKEN"].as_str().unwrap();
    assert!(
        !shown.contains(access) && shown.contains("characters"),
        "{shown}"
    );
}

#[test]
fn env_prints_stored_outputs_without_an_access_token() {
    let state = tempfile::tempdir().unwrap();
    let flow = write_flow(
        state.path(),
        "greet.yaml",
        &format!(
            "name: greet\nsteps:\n  - http: {{ url: '{}/items/3' }}\n    save: {{ GREETING: $.name }}\noutputs: [GREETING]\n",
            common::server()
        ),
    );
    passes(dmflow(state.path()).arg("run").arg(&flow));
    let env = passes(dmflow(state.path()).arg("env"));
    assert_eq!(
        String::from_utf8_lossy(&env.stdout),
        "export GREETING='widget'\n"
    );
    let github = dmflow(state.path())
        .env_remove("GITHUB_ENV")
        .args(["env", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(github.status.code(), Some(2));
    let err = stderr(&github);
    assert!(
        err.contains("GITHUB_ENV") && !err.contains("--export-file"),
        "{err}"
    );
    let file = state.path().join("github_env");
    passes(
        dmflow(state.path())
            .env("GITHUB_ENV", &file)
            .args(["env", "--format", "github"]),
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("GREETING<<")
    );
    let nothing = dmflow(state.path())
        .args(["env", "--profile", "empty"])
        .output()
        .unwrap();
    assert_eq!(nothing.status.code(), Some(2));
    assert!(stderr(&nothing).contains("nothing is stored"));
}

#[test]
fn export_and_json_never_share_stdout_and_browser_is_refused_with_mock() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(
        dir.path(),
        "out.yaml",
        &format!(
            "name: out\nsteps:\n  - http: {{ url: '{}/tracked/export' }}\n    save: {{ OK: $.ok }}\noutputs: [OK]\n",
            common::server()
        ),
    );
    let both = dmflow(dir.path())
        .args(["run", "--no-store", "--json", "--export", "json"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    assert_eq!(
        stdout_json(&both)["exit_code"],
        2,
        "stdout holds one JSON document"
    );
    assert!(stderr(&both).contains("--export-file"));
    assert_eq!(common::hits("export"), 0, "refused before sending");
    let file = dir.path().join("out.json");
    let split = passes(
        dmflow(dir.path())
            .args([
                "run",
                "--no-store",
                "--json",
                "--export",
                "json",
                "--export-file",
            ])
            .arg(&file)
            .arg(&flow),
    );
    assert_eq!(stdout_json(&split)["ok"], true);
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(exported["OK"], true);

    let browser = dmflow(dir.path())
        .current_dir(repo())
        .args(["run", "--mock", "--browser", "firefox", "flows/echo.yaml"])
        .output()
        .unwrap();
    assert_eq!(browser.status.code(), Some(2));
    assert!(
        stderr(&browser).contains("--browser"),
        "{}",
        stderr(&browser)
    );
    passes(
        dmflow(dir.path())
            .current_dir(repo())
            .env("DMFLOW_BROWSER", "firefox")
            .args(["run", "--mock", "--no-store", "flows/password.yaml"]),
    );
}

#[test]
fn color_follows_the_flag_and_the_environment_and_quiet_shows_only_problems() {
    let dir = tempfile::tempdir().unwrap();
    let flow = |name: &str, path: &str| {
        write_flow(
            dir.path(),
            &format!("{name}.yaml"),
            &format!(
                "name: {name}\nsteps:\n  - name: {name}-step\n    http: {{ url: '{}{path}' }}\n    expect: {{ status: 200 }}\n",
                common::server()
            ),
        )
    };
    let (fine, broken) = (flow("fine", "/items/1"), flow("broken", "/status/500"));
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = dmflow(dir.path());
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let output = cmd
            .arg("run")
            .arg("--no-store")
            .args(args)
            .args([&fine, &broken])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        stderr(&output)
    };
    assert!(
        !run(&[], &[]).contains('\x1b'),
        "auto: stderr is not a terminal"
    );
    assert!(run(&["--color", "always"], &[("NO_COLOR", "1")]).contains('\x1b'));
    assert!(run(&[], &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));
    assert!(!run(&[], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]).contains('\x1b'));
    assert!(!run(&["--color", "never"], &[("CLICOLOR_FORCE", "1")]).contains('\x1b'));

    let quiet = run(&["--quiet"], &[("NO_COLOR", "1")]);
    assert!(
        !quiet.contains("fine-step"),
        "a passed flow is silent:\n{quiet}"
    );
    assert!(quiet.contains("✗ broken-step"), "{quiet}");
    assert!(quiet.contains("2 flows: 1 passed, 1 failed"), "{quiet}");
    let both = dmflow(dir.path())
        .args(["run", "-q", "-v"])
        .arg(&fine)
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}
