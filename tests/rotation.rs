//! No run loses a refresh-token rotation: a run's outputs never overwrite a newer rotation
//! another process stored (store generations), many processes refreshing at once keep a
//! working refresh token, and a rotation of a refresh token passed with `--var` is stored,
//! exported and reported.

mod common;

use common::gate::{Gate, rotating};
use common::{dmflow, dmflow_process, output_text, run_in_repo, write_flow};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn stored(state: &Path) -> Value {
    let text = std::fs::read_to_string(state.join("profiles/mock.json")).expect("a store");
    serde_json::from_str(&text).expect("a whole store")
}

fn refresh_token(state: &Path) -> String {
    stored(state)["values"]["REFRESH_TOKEN"]
        .as_str()
        .expect("a stored refresh token")
        .to_string()
}

fn login(state: &Path) {
    let output = run_in_repo(state, &["run", "--mock", "flows/login.yaml"]);
    assert!(output.status.success(), "{}", output_text(&output));
}

/// A refresh, then a step the test holds open (the slow step of the reproduction).
const REFRESH_THEN_WAIT: &str = r#"
name: refresh-then-wait
inputs: [REFRESH_TOKEN]
vars:
  API_KEY: <<env("DM_API_KEY")>>
  API_SECRET: <<env("DM_API_SECRET")>>
  api: https://api.dailymotion.com
oauth:
  token_url: <<api>>/oauth/token
  client_id: <<API_KEY>>
  client_secret: <<API_SECRET>>
steps:
  - name: refresh
    refresh: {}
  - name: slow
    http: { url: "<<gate>>/slow" }
outputs: [ACCESS_TOKEN, REFRESH_TOKEN, EXPIRES_AT, EXPIRES_IN]
"#;

/// Process A refreshes, then waits in a slow step; meanwhile process B refreshes the token A
/// stored. When A ends, the store must still hold B's refresh token (A's is spent), and it
/// must work. Before store generations, A's outputs were merged over B's rotation.
#[test]
fn a_run_never_writes_its_outputs_over_a_newer_rotation() {
    let state = tempfile::tempdir().unwrap();
    login(state.path());
    let first = refresh_token(state.path());
    let gate = Gate::start(|_| (200, "{}".into()));
    let flow = write_flow(state.path(), "refresh-then-wait.yaml", REFRESH_THEN_WAIT);
    let a = dmflow_process(state.path())
        .current_dir(common::repo())
        .args(["run", "--mock"])
        .arg(&flow)
        .args(["--var", &format!("gate={}", gate.url)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    gate.next();
    let after_a = refresh_token(state.path());
    assert_ne!(after_a, first, "A stored its rotation the moment it came");

    let b = run_in_repo(state.path(), &["run", "--mock", "flows/refresh.yaml"]);
    assert!(b.status.success(), "B: {}", output_text(&b));
    let after_b = refresh_token(state.path());
    assert_ne!(after_b, after_a, "B rotated A's refresh token");

    gate.release();
    let a = a.wait_with_output().unwrap();
    assert!(a.status.success(), "A: {}", output_text(&a));
    assert_eq!(
        refresh_token(state.path()),
        after_b,
        "A's older outputs did not replace B's rotation"
    );
    assert!(
        output_text(&a).contains("holds newer tokens than this run's"),
        "A says why it kept B's tokens: {}",
        output_text(&a)
    );
    let again = run_in_repo(state.path(), &["run", "--mock", "flows/refresh.yaml"]);
    assert!(
        again.status.success(),
        "the stored refresh token works: {}",
        output_text(&again)
    );
}

/// Many processes refreshing at once: none fails, and the refresh token left in the store
/// works. (bench/rotation.sh runs the acceptance figure: 20 at once, 5 rounds.)
#[test]
fn concurrent_refresh_flows_all_pass_and_leave_a_working_token() {
    let state = tempfile::tempdir().unwrap();
    login(state.path());
    for round in 0..2 {
        let outputs: Vec<Output> = std::thread::scope(|scope| {
            let runs: Vec<_> = (0..10)
                .map(|_| {
                    scope.spawn(|| {
                        dmflow_process(state.path())
                            .current_dir(common::repo())
                            .args(["run", "--mock", "flows/refresh.yaml"])
                            .output()
                            .unwrap()
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for output in &outputs {
            assert!(
                output.status.success(),
                "round {round}: {}",
                output_text(output)
            );
        }
    }
    let last = run_in_repo(state.path(), &["run", "--mock", "flows/refresh.yaml"]);
    assert!(last.status.success(), "{}", output_text(&last));
}

const ECHO_WITH_VAR_TOKENS: &str = r#"
name: refresh-from-var
inputs: [REFRESH_TOKEN]
oauth:
  token_url: <<endpoint>>/token
  client_id: c1
  client_secret: s1-secret-value
steps:
  - name: refresh
    refresh: {}
"#;

/// A refresh token passed with `--var`: the rotated one reaches the store (which held none),
/// the export and the JSON outputs, with a note, although the flow declares no outputs.
#[test]
fn a_rotation_of_a_var_refresh_token_is_stored_exported_and_reported() {
    let state = tempfile::tempdir().unwrap();
    let endpoint = Gate::open(rotating());
    let flow = write_flow(state.path(), "from-var.yaml", ECHO_WITH_VAR_TOKENS);
    let export = state.path().join("tokens.env");
    let output = dmflow(state.path())
        .args(["run", "--json", "--profile", "ci"])
        .arg(&flow)
        .args(["--var", &format!("endpoint={}", endpoint.url)])
        .args(["--var", "REFRESH_TOKEN=rt-given-0123456789"])
        .arg("--export-file")
        .arg(&export)
        .output()
        .unwrap();
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        doc["flows"][0]["outputs"]["REFRESH_TOKEN"], "[secret:REFRESH_TOKEN]",
        "in the JSON outputs, masked: {doc}"
    );
    assert!(
        out.contains("the refresh token from --var was rotated"),
        "{out}"
    );
    let exported = std::fs::read_to_string(&export).unwrap();
    assert!(exported.contains("rt-1-0123456789"), "{exported}");
    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("profiles/ci.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(profile["values"]["REFRESH_TOKEN"], "rt-1-0123456789");
    assert!(!out.contains("rt-1-0123456789"), "never shown: {out}");
}

/// The same with a store that holds another sign-in's refresh token: that one is left alone,
/// and the rotation still reaches the export, with a note saying why it was not stored.
#[test]
fn a_var_rotation_never_replaces_another_sign_in() {
    let state = tempfile::tempdir().unwrap();
    let endpoint = Gate::open(rotating());
    std::fs::create_dir_all(state.path().join("profiles")).unwrap();
    let other = r#"{"version": 1, "profile": "ci", "values": {"REFRESH_TOKEN": "rt-other-sign-in"}, "updated_at": 0}"#;
    let path = state.path().join("profiles/ci.json");
    std::fs::write(&path, other).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let flow = write_flow(state.path(), "from-var.yaml", ECHO_WITH_VAR_TOKENS);
    let output = dmflow(state.path())
        .args(["run", "--profile", "ci"])
        .arg(&flow)
        .args(["--var", &format!("endpoint={}", endpoint.url)])
        .args(["--var", "REFRESH_TOKEN=rt-given-0123456789"])
        .args(["--export", "dotenv"])
        .output()
        .unwrap();
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("rt-1-0123456789"),
        "{out}"
    );
    assert!(
        out.contains("holds the refresh token of another sign-in"),
        "{out}"
    );
    let profile: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(profile["values"]["REFRESH_TOKEN"], "rt-other-sign-in");
}

const ECHO_WITH_EXPIRED_TOKEN: &str = r#"
name: echo-with-var-tokens
inputs: [ACCESS_TOKEN, REFRESH_TOKEN]
oauth:
  token_url: <<issuer>>/token
  client_id: <<client_id>>
  client_secret: <<client_secret>>
steps:
  - name: echo
    echo: { api: <<issuer>> }
"#;

/// The reproduction against the independent OAuth2 server: tokens passed with `--var`, the
/// access token dead, so `/echo` answers 401 `invalid_token` and the token hook refreshes and
/// retries. The server rotates refresh tokens: the old one is dead after that, so the new one
/// must reach the store and the export.
#[test]
fn an_oidc_rotation_on_a_401_with_var_tokens_reaches_the_store_and_the_export() {
    use common::oidc::{CLIENT_ID, CLIENT_SECRET, browser, free_port, oidc, oidc_vars};
    let Some(server) = oidc() else { return };
    let signed_in = tempfile::tempdir().unwrap();
    let login = dmflow(signed_in.path())
        .current_dir(common::repo())
        .args(["run", "flows/login.yaml", "--browser", &browser()])
        .args(oidc_vars(&server.issuer, free_port()))
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", output_text(&login));
    let profile: Value = serde_json::from_str(
        &std::fs::read_to_string(signed_in.path().join("profiles/default.json")).unwrap(),
    )
    .unwrap();
    let old = profile["values"]["REFRESH_TOKEN"]
        .as_str()
        .unwrap()
        .to_string();

    let state = tempfile::tempdir().unwrap();
    let flow = write_flow(state.path(), "echo.yaml", ECHO_WITH_EXPIRED_TOKEN);
    let export = state.path().join("tokens.env");
    let output = dmflow(state.path())
        .arg("run")
        .arg(&flow)
        .args(["--var", &format!("issuer={}", server.issuer)])
        .args(["--var", &format!("client_id={CLIENT_ID}")])
        .args(["--var", &format!("client_secret={CLIENT_SECRET}")])
        .args(["--var", "ACCESS_TOKEN=expired-access-token-0123"])
        .args(["--var", &format!("REFRESH_TOKEN={old}")])
        .arg("--export-file")
        .arg(&export)
        .output()
        .unwrap();
    let out = output_text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("refreshed it and retried once"), "{out}");
    assert!(
        out.contains("the refresh token from --var was rotated"),
        "{out}"
    );
    let exported: std::collections::HashMap<String, String> = dotenvy::from_path_iter(&export)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let new = exported["REFRESH_TOKEN"].clone();
    assert_ne!(new, old, "the export holds the rotated refresh token");
    let stored: Value = serde_json::from_str(
        &std::fs::read_to_string(state.path().join("profiles/default.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(stored["values"]["REFRESH_TOKEN"], new.as_str());
    assert!(!out.contains(&new), "never shown: {out}");

    // The stored one works, and the server spent the old one (asked last: oidc-provider
    // revokes the whole grant when a spent refresh token comes back).
    let refresh_vars = [
        format!("token_url={}/token", server.issuer),
        format!("api={}", server.issuer),
        format!("API_KEY={CLIENT_ID}"),
        format!("API_SECRET={CLIENT_SECRET}"),
    ];
    let mut with_old = dmflow(state.path());
    with_old
        .current_dir(common::repo())
        .args(["run", "--no-store", "flows/refresh.yaml"])
        .args(["--var", &format!("REFRESH_TOKEN={old}")]);
    let mut with_stored = dmflow(state.path());
    with_stored
        .current_dir(common::repo())
        .args(["run", "flows/refresh.yaml"]);
    for v in &refresh_vars {
        with_old.args(["--var", v]);
        with_stored.args(["--var", v]);
    }
    let works = with_stored.output().unwrap();
    assert!(works.status.success(), "{}", output_text(&works));
    let dead = with_old.output().unwrap();
    assert_eq!(dead.status.code(), Some(1), "{}", output_text(&dead));
    assert!(
        output_text(&dead).contains("invalid_grant"),
        "{}",
        output_text(&dead)
    );
}
