//! The GitHub Action in `action.yml`, without GitHub: its YAML is checked for what the runner
//! needs, and the shell of each step runs here the way the runner runs it (`bash -eo
//! pipefail`, inputs substituted into `env:`, `$GITHUB_ENV`, `$GITHUB_OUTPUT`, `$GITHUB_PATH`
//! as files), with a stand-in `cargo` for the install step.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn action() -> Value {
    let text = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    dmflow::yaml::parse_text(&text)
        .expect("action.yml is YAML")
        .to_json()
}

fn steps() -> Vec<Value> {
    action()["runs"]["steps"].as_array().unwrap().clone()
}

/// `${{ inputs.NAME }}` and `${{ github.action_path }}` as the runner would fill them.
fn substitute(text: &str, inputs: &BTreeMap<&str, &str>) -> String {
    let declared = action()["inputs"].clone();
    let mut out = text.replace("${{ github.action_path }}", &repo().display().to_string());
    while let Some(start) = out.find("${{ inputs.") {
        let end = start + out[start..].find("}}").expect("closed expression") + 2;
        let name = out[start + "${{ inputs.".len()..end - 2].trim();
        let value = inputs
            .get(name)
            .map(|v| v.to_string())
            .or_else(|| declared[name]["default"].as_str().map(str::to_string))
            .unwrap_or_default();
        out.replace_range(start..end, &value);
    }
    out
}

/// What a step leaves behind.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    github_env: String,
    github_output: String,
    github_path: String,
}

/// Runs one step's shell like the runner: `bash --noprofile --norc -eo pipefail`.
fn run_step(
    step: &Value,
    inputs: &BTreeMap<&str, &str>,
    path: &str,
    extra_env: &[(&str, String)],
) -> Ran {
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str| files.path().join(name);
    let mut command = Command::new("bash");
    command
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(step["run"].as_str().unwrap())
        .env_clear()
        .env("PATH", path)
        .env("HOME", files.path())
        .env("NO_COLOR", "1")
        .env("GITHUB_ENV", file("env"))
        .env("GITHUB_OUTPUT", file("output"))
        .env("GITHUB_PATH", file("path"));
    for (name, value) in extra_env {
        command.env(name, value);
    }
    if let Some(env) = step["env"].as_object() {
        for (name, value) in env {
            command.env(name, substitute(value.as_str().unwrap(), inputs));
        }
    }
    let dir = step["working-directory"]
        .as_str()
        .map(|d| repo().join(substitute(d, inputs)))
        .unwrap_or_else(repo);
    let output = command.current_dir(dir).output().expect("bash runs");
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap_or_default();
    Ran {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        github_env: read("env"),
        github_output: read("output"),
        github_path: read("path"),
    }
}

/// PATH with the dmflow under test first.
fn path_with_dmflow() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_dmflow")).parent().unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

#[test]
fn the_action_is_a_composite_action_whose_scripts_never_embed_inputs() {
    let action = action();
    assert_eq!(action["runs"]["using"], "composite");
    let declared = action["inputs"].as_object().unwrap();
    for (name, input) in declared {
        assert!(input["description"].is_string(), "{name} is described");
        let required = input["required"].as_bool().unwrap_or(false);
        assert_eq!(
            required,
            input.get("default").is_none(),
            "{name}: required or defaulted"
        );
    }
    for step in steps() {
        assert_eq!(step["shell"], "bash", "{step}");
        let script = step["run"].as_str().unwrap();
        assert!(
            !script.contains("${{"),
            "inputs go through env:, never into the script:\n{script}"
        );
        let text = step.to_string();
        for used in text.split("${{ inputs.").skip(1) {
            let name = used.split("}}").next().unwrap().trim();
            assert!(declared.contains_key(name), "the input {name} is declared");
        }
    }
    let output = action["outputs"]["exit-code"]["value"].as_str().unwrap();
    assert_eq!(output, "${{ steps.run.outputs.exit-code }}");
    assert!(steps().iter().any(|s| s["id"] == "run"));
}

#[test]
fn the_install_step_installs_the_checked_out_version() {
    let fake = tempfile::tempdir().unwrap();
    let record = fake.path().join("cargo-args");
    let cargo = fake.path().join("cargo");
    std::fs::write(
        &cargo,
        format!("#!/bin/sh\necho \"$@\" > '{}'\n", record.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ran = run_step(
        &steps()[0],
        &BTreeMap::new(),
        &format!("{}:/usr/bin:/bin", fake.path().display()),
        &[],
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(
        std::fs::read_to_string(&record).unwrap().trim(),
        format!("install --locked --quiet --path {}", repo().display())
    );
    assert!(
        ran.github_path.trim_end().ends_with("/.cargo/bin"),
        "{}",
        ran.github_path
    );
}

#[test]
fn the_run_step_exports_masked_outputs_and_reports_the_exit_code() {
    let state = tempfile::tempdir().unwrap();
    let inputs = BTreeMap::from([
        ("flows", "flows/pass*.yaml flows/echo.yaml"),
        ("mock", "true"),
    ]);
    let ran = run_step(
        &steps()[1],
        &inputs,
        &path_with_dmflow(),
        &[("DMFLOW_STATE_DIR", state.path().display().to_string())],
    );
    assert_eq!(ran.code, Some(0), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.github_output.contains("exit-code=0\n"),
        "{}",
        ran.github_output
    );
    assert!(
        ran.stderr.contains("password flows/password.yaml"),
        "the glob expanded:\n{}",
        ran.stderr
    );
    let token = ran
        .github_env
        .split("ACCESS_TOKEN<<")
        .nth(1)
        .and_then(|rest| rest.lines().nth(1))
        .unwrap_or_else(|| panic!("ACCESS_TOKEN in $GITHUB_ENV:\n{}", ran.github_env));
    assert!(
        ran.stdout.contains(&format!("::add-mask::{token}\n")),
        "{}",
        ran.stdout
    );
    assert!(ran.github_env.contains("USER_ID<<"), "{}", ran.github_env);
}

#[test]
fn the_run_step_fails_with_dmflow_and_says_why() {
    let state = tempfile::tempdir().unwrap();
    let snaps = tempfile::tempdir().unwrap();
    let args = format!("--snapshots {}", snaps.path().display());
    let inputs = BTreeMap::from([
        ("flows", "flows/echo.yaml"),
        ("command", "test"),
        ("mock", "true"),
        ("args", args.as_str()),
    ]);
    let ran = run_step(
        &steps()[1],
        &inputs,
        &path_with_dmflow(),
        &[
            ("DMFLOW_STATE_DIR", state.path().display().to_string()),
            ("CI", "true".to_string()),
        ],
    );
    assert_eq!(
        ran.code,
        Some(2),
        "echo alone has no ACCESS_TOKEN:\n{}",
        ran.stderr
    );
    assert!(ran.github_output.contains("exit-code=2\n"));
    assert!(ran.github_env.is_empty(), "test exports nothing");

    let bad = BTreeMap::from([("flows", "flows/echo.yaml"), ("command", "deploy")]);
    let ran = run_step(&steps()[1], &bad, &path_with_dmflow(), &[]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stdout
            .contains("::error title=dmflow::the command input is run or test")
    );

    let none = BTreeMap::from([("flows", "flows/nothing-*.yaml")]);
    let ran = run_step(&steps()[1], &none, &path_with_dmflow(), &[]);
    assert_eq!(ran.code, Some(2));
    assert!(
        ran.stdout
            .contains("no flow file matches 'flows/nothing-*.yaml'"),
        "{}",
        ran.stdout
    );
    assert!(ran.github_output.contains("exit-code=2\n"));
}
