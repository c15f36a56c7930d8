//! Variable names are `[A-Za-z_][A-Za-z0-9_]*` wherever a flow or the command line introduces
//! one, refused by `dmflow check` (and `run`) with exit 2 and `file:line:col`; and a store
//! edited by hand to hold another name is refused by `env` and `exec`, which write nothing.
//!
//! The reproductions: a `save:` name `X=1; touch pwned; Y` ran `touch` through
//! `eval "$(dmflow env)"`, and a name holding a newline wrote `BASH_ENV=...` into
//! `$GITHUB_ENV`.

mod common;

use common::{dmflow, write_flow};
use std::path::Path;

/// A step that is never sent (`check` sends nothing; `run` refuses first).
const STEP: &str = "  - name: one\n    http: { url: \"http://127.0.0.1:9/never\" }\n";

/// (case, flow text, line:col of the name, the name as the message shows it)
fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    vec![
        (
            "save-injection",
            format!("steps:\n{STEP}    save:\n      \"X=1; touch pwned; Y\": $.id\n"),
            "5:7",
            "`X=1; touch pwned; Y` in `save:`",
        ),
        (
            "save-newline",
            format!("steps:\n{STEP}    save:\n      \"A\\nBASH_ENV\": $.id\n"),
            "5:7",
            "`A\\nBASH_ENV` in `save:`",
        ),
        (
            "outputs",
            format!("vars:\n  ok: 1\nsteps:\n{STEP}outputs: [ok, \"ok; id\"]\n"),
            "6:15",
            "`ok; id` in `outputs:`",
        ),
        (
            "vars",
            format!("vars:\n  good: 1\n  bad-name: 2\nsteps:\n{STEP}"),
            "3:3",
            "`bad-name` in `vars:`",
        ),
        (
            "inputs",
            format!("inputs:\n  - GOOD\n  - \"$(id)\"\nsteps:\n{STEP}"),
            "3:5",
            "`$(id)` in `inputs:`",
        ),
        (
            "inputs-map",
            format!("inputs:\n  - {{ name: 1ST, optional: true }}\nsteps:\n{STEP}"),
            "2:13",
            "`1ST` in `inputs:`",
        ),
        (
            "secrets",
            format!("secrets: [MY_KEY, my.key]\nsteps:\n{STEP}"),
            "1:19",
            "`my.key` in `secrets:`",
        ),
        (
            "for-each-as",
            "steps:\n  - name: each\n    for_each: [1, 2]\n    as: \"it em\"\n    http: { url: \"http://127.0.0.1:9/<<it>>\" }\n".to_string(),
            "4:9",
            "`it em` in `as:`",
        ),
        (
            "for-each-index",
            "steps:\n  - name: each\n    for_each: [1, 2]\n    index: 0i\n    http: { url: \"http://127.0.0.1:9/<<item>>\" }\n".to_string(),
            "4:12",
            "`0i` in `index:`",
        ),
        (
            "with",
            "steps:\n  - name: sub\n    flow: { file: sub.yaml, with: { \"a=b\": 1 } }\n".to_string(),
            "3:37",
            "`a=b` in `with:`",
        ),
    ]
}

#[test]
fn every_place_that_introduces_a_name_refuses_a_bad_one_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        dir.path(),
        "sub.yaml",
        &format!("vars:\n  a: 1\nsteps:\n{STEP}"),
    );
    for (case, text, at, shown) in cases() {
        let flow = write_flow(dir.path(), &format!("{case}.yaml"), &text);
        for command in ["check", "run"] {
            let output = dmflow(dir.path())
                .args([command])
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
                stderr.contains(&format!("{shown} is not a variable name")),
                "{case} {command}: no {shown:?} in\n{stderr}"
            );
            assert!(stderr.contains("letters, digits and _"), "{stderr}");
        }
    }
    assert!(
        !dir.path().join("profiles").exists(),
        "nothing was stored by a refused run"
    );
}

#[test]
fn check_json_gives_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let (case, text, at, _) = cases().remove(0);
    let flow = write_flow(dir.path(), &format!("{case}.yaml"), &text);
    let output = dmflow(dir.path())
        .args(["check", "--json"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let problem = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.contains("is not a variable name"))
        })
        .expect("the name is among the problems");
    assert_eq!(format!("{}:{}", problem["line"], problem["column"]), at);
}

#[test]
fn good_names_pass() {
    let dir = tempfile::tempdir().unwrap();
    write_flow(
        dir.path(),
        "sub.yaml",
        &format!("vars:\n  a: 1\nsteps:\n{STEP}"),
    );
    let flow = write_flow(
        dir.path(),
        "good.yaml",
        "inputs: [{ name: _In1, optional: true }]\nvars:\n  v_2: 1\nsecrets: [MY_KEY]\nsteps:\n  - name: each\n    for_each: [1]\n    as: it_em\n    index: i2\n    http: { url: \"http://127.0.0.1:9/<<it_em>>\" }\n    save: { Saved_3: $.id }\n  - name: sub\n    flow: { file: sub.yaml, with: { a: 2 } }\noutputs: [v_2, Saved_3]\n",
    );
    common::passes(dmflow(dir.path()).arg("check").arg(&flow));
}

#[test]
fn command_line_names_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flow = write_flow(dir.path(), "plain.yaml", &format!("steps:\n{STEP}"));
    let output = dmflow(dir.path())
        .args(["check", "--var", "A.B=1"])
        .arg(&flow)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`A.B=1` is not NAME=VALUE"), "{stderr}");

    let env_file = dir.path().join("vars.env");
    std::fs::write(&env_file, "GOOD=1\nweb.port=8080\n").unwrap();
    for command in ["check", "run"] {
        let output = dmflow(dir.path())
            .args([command, "--env-file"])
            .arg(&env_file)
            .arg(&flow)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{command}: {stderr}");
        assert!(
            stderr.contains("`web.port` is not a variable name"),
            "{command}: {stderr}"
        );
    }
}

/// A store holding names no flow could have saved (written by hand).
fn edited_store(state: &Path) {
    common::write_store(
        state,
        &serde_json::json!({
            "version": 1,
            "profile": "default",
            "values": {"ACCESS_TOKEN": "at-0123456789", "X=1; touch pwned; Y": "v", "A\nBASH_ENV": "/tmp/evil", "\u{1b}]0;TITLE\u{7}": "v"},
            "updated_at": 0,
        }),
    );
}

#[test]
fn a_hand_edited_store_is_refused_by_env_and_exec_and_nothing_runs() {
    let state = tempfile::tempdir().unwrap();
    edited_store(state.path());
    let work = tempfile::tempdir().unwrap();

    for format in ["sh", "fish", "dotenv", "json"] {
        let output = dmflow(state.path())
            .args(["env", "--format", format])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{format}: {stderr}");
        assert!(output.stdout.is_empty(), "{format}: nothing is printed");
        assert!(
            stderr.contains("refusing to export `X=1; touch pwned; Y`")
                && stderr.contains("not a variable name")
                && stderr.contains("edited by hand"),
            "{stderr}"
        );
    }

    // `eval "$(dmflow env)"`, as a user would type it.
    let binary = env!("CARGO_BIN_EXE_dmflow");
    let shell = std::process::Command::new("sh")
        .arg("-c")
        .arg("eval \"$(\"$0\" env)\"")
        .arg(binary)
        .current_dir(work.path())
        .env("DMFLOW_STATE_DIR", state.path())
        .output()
        .unwrap();
    assert!(!work.path().join("pwned").exists(), "the name ran `touch`");
    assert!(
        String::from_utf8_lossy(&shell.stderr).contains("refusing to export"),
        "{}",
        String::from_utf8_lossy(&shell.stderr)
    );

    let github_env = work.path().join("github.env");
    std::fs::write(&github_env, "").unwrap();
    let output = dmflow(state.path())
        .env("GITHUB_ENV", &github_env)
        .args(["env", "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&github_env).unwrap(),
        "",
        "no BASH_ENV line reached $GITHUB_ENV"
    );
    assert!(output.stdout.is_empty(), "no masks either");

    let output = dmflow(state.path())
        .args(["exec", "--", "touch", "ran"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(!work.path().join("ran").exists(), "exec ran the command");
}

#[test]
fn status_shows_a_hand_edited_name_escaped() {
    let state = tempfile::tempdir().unwrap();
    edited_store(state.path());
    let output = common::passes(dmflow(state.path()).arg("status"));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(stdout.contains(r"\u{1b}]0;TITLE\u{7} = "), "{stdout}");
    assert!(stdout.contains(r"A\nBASH_ENV = "), "{stdout}");
}
