//! A token answer is never thrown away by dmflow: SIGINT and SIGTERM wait until it is stored
//! (then end the process, 130 and 143), a process killed with SIGKILL in that window leaves a
//! record that explains the next `invalid_grant`, a full disk or a read-only store is found
//! before the token request, `logout` revokes nothing it cannot delete, and a sign-in on an
//! unwritable store is refused before it starts.
//!
//! The full disk is a real one: a 256 KiB tmpfs mounted in a user and mount namespace
//! (`unshare --user --map-root-user --mount`, no privilege needed), filled with a file. Where
//! namespaces are not allowed those tests say SKIPPED (and fail under CI=true).

mod common;

use common::gate::{Gate, rotating};
use common::{dmflow_process, output_text};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The profile `p`, its access token expired, its refresh token `rt-old-…`, refreshed at `url`.
fn expired_profile(url: &str) -> Value {
    json!({
        "version": 1,
        "profile": "p",
        "values": {
            "ACCESS_TOKEN": "at-old-0123456789",
            "REFRESH_TOKEN": "rt-old-0123456789",
            "EXPIRES_AT": now() - 10,
            "EXPIRES_IN": 3600,
        },
        "endpoint": {
            "token_url": format!("{url}/token"),
            "client_id": "c1",
            "client_auth": "form",
            "client_secret": "s1-secret-value",
        },
        "updated_at": 0,
        "generation": 1,
    })
}

fn write_profile(state: &Path, profile: &Value) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = state.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let path = dir.join("p.json");
    std::fs::write(&path, serde_json::to_vec_pretty(profile).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn stored_refresh_token(state: &Path) -> String {
    let text = std::fs::read_to_string(state.join("profiles/p.json")).unwrap();
    let data: Value = serde_json::from_str(&text).unwrap();
    data["values"]["REFRESH_TOKEN"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn start(state: &Path, args: &[&str]) -> Child {
    dmflow_process(state)
        .current_dir(common::repo())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A signal sent while the token request is in flight: the answer is stored, then the process
/// ends with the signal's code and says why it waited.
fn signal_during_the_request(args: &[&str], name: &str, code: i32) {
    let state = tempfile::tempdir().unwrap();
    let gate = Gate::start(rotating());
    write_profile(state.path(), &expired_profile(&gate.url));
    let child = start(state.path(), args);
    let request = gate.next();
    assert_eq!(
        request.form("refresh_token").as_deref(),
        Some("rt-old-0123456789")
    );
    signal(&child, name);
    std::thread::sleep(Duration::from_millis(300));
    gate.release();
    let output = child.wait_with_output().unwrap();
    let out = output_text(&output);
    assert_eq!(output.status.code(), Some(code), "{out}");
    assert!(
        out.contains(&format!(
            "SIG{name} received during a token request: stopping as soon as its answer is stored"
        )),
        "{out}"
    );
    assert_eq!(
        stored_refresh_token(state.path()),
        "rt-1-0123456789",
        "the rotated refresh token was stored before the process ended"
    );
}

#[test]
fn sigint_during_a_refresh_waits_for_the_answer_to_be_stored() {
    signal_during_the_request(&["token", "--profile", "p"], "INT", 130);
}

#[test]
fn sigterm_during_a_refresh_step_waits_for_the_answer_to_be_stored() {
    let state = tempfile::tempdir().unwrap();
    let flow = common::write_flow(
        state.path(),
        "refresh.yaml",
        "inputs: [REFRESH_TOKEN]\nsteps:\n  - name: refresh\n    refresh: {}\noutputs: [ACCESS_TOKEN, REFRESH_TOKEN]\n",
    );
    let flow = flow.to_string_lossy().into_owned();
    signal_during_the_request(&["run", "--profile", "p", &flow], "TERM", 143);
}

/// SIGKILL cannot be held off: the provider rotated the refresh token, the answer never
/// reached the store. The next refresh is refused, and dmflow says why instead of only "sign
/// in again".
#[test]
fn a_refresh_killed_in_flight_explains_the_next_invalid_grant() {
    let state = tempfile::tempdir().unwrap();
    let gate = Gate::start(rotating());
    write_profile(state.path(), &expired_profile(&gate.url));
    let mut killed = start(state.path(), &["token", "--profile", "p"]);
    let pid = killed.id();
    gate.next();
    killed.kill().unwrap();
    killed.wait().unwrap();
    gate.release();
    assert_eq!(stored_refresh_token(state.path()), "rt-old-0123456789");

    let next = start(state.path(), &["token", "--profile", "p"]);
    gate.next();
    gate.release();
    let output = next.wait_with_output().unwrap();
    let out = output_text(&output);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "this refresh token had already been sent by dmflow (process {pid}"
        )),
        "{out}"
    );
    assert!(out.contains("the new refresh token was lost"), "{out}");
    assert!(out.contains("sign in again"), "{out}");
}

/// Whether this machine lets a test mount a tmpfs in a user namespace. Says SKIPPED when not
/// (a failure under CI=true, where the tests must run).
fn namespaces() -> bool {
    let works = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        let message = "unprivileged user namespaces are not available (unshare --user --map-root-user --mount)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
    }
    works
}

/// Runs `script` with `sh -e` in a user and mount namespace, with `$DMFLOW` the binary and
/// `$STATE` and `$PROFILES` the state directories.
fn in_namespace(state: &Path, script: &str) -> Output {
    let mut command = std::process::Command::new("unshare");
    command
        .args(["--user", "--map-root-user", "--mount", "sh", "-ec", script])
        .current_dir(common::repo())
        .env("DMFLOW", assert_cmd::cargo::cargo_bin("dmflow"))
        .env("DMFLOW_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .env("STATE", state)
        .env("PROFILES", state.join("profiles"));
    for name in [
        "DMFLOW_PROFILE",
        "DM_API_KEY",
        "DM_API_SECRET",
        "HTTP_PROXY",
        "HTTPS_PROXY",
    ] {
        command.env_remove(name);
    }
    command.output().unwrap()
}

fn read(state: &Path, name: &str) -> String {
    std::fs::read_to_string(state.join(name)).unwrap_or_default()
}

/// A full disk: the refresh is refused before the request (the refresh token is intact), and
/// works once there is room again.
#[test]
fn a_full_disk_is_found_before_the_token_request() {
    if !namespaces() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let gate = Gate::open(rotating());
    let profile = write_profile(state.path(), &expired_profile(&gate.url));
    let before = std::fs::read_to_string(&profile).unwrap();
    std::fs::copy(&profile, state.path().join("fixture.json")).unwrap();
    let output = in_namespace(
        state.path(),
        r#"
        mount -t tmpfs -o size=256k,mode=0700 tmpfs "$PROFILES"
        cp "$STATE/fixture.json" "$PROFILES/p.json"; chmod 600 "$PROFILES/p.json"
        dd if=/dev/zero of="$PROFILES/filler" bs=4k 2>/dev/null || true
        set +e
        "$DMFLOW" token --profile p > "$STATE/out1" 2> "$STATE/err1"; echo $? > "$STATE/code1"
        cp "$PROFILES/p.json" "$STATE/after-full.json"
        rm "$PROFILES/filler"
        "$DMFLOW" token --profile p > "$STATE/out2" 2> "$STATE/err2"; echo $? > "$STATE/code2"
        cp "$PROFILES/p.json" "$STATE/after.json"
        "#,
    );
    assert!(output.status.success(), "{}", output_text(&output));
    let err1 = read(state.path(), "err1");
    assert_eq!(read(state.path(), "code1").trim(), "3", "{err1}");
    assert!(err1.contains("No space left on device"), "{err1}");
    assert!(err1.contains("nothing was sent"), "{err1}");
    assert_eq!(
        read(state.path(), "after-full.json"),
        before,
        "the store is intact"
    );
    let first = gate
        .try_next(Duration::from_millis(100))
        .expect("one request");
    assert_eq!(
        first.form("refresh_token").as_deref(),
        Some("rt-old-0123456789")
    );
    assert!(
        gate.try_next(Duration::from_millis(100)).is_none(),
        "the full disk sent no token request"
    );
    assert_eq!(
        read(state.path(), "code2").trim(),
        "0",
        "{}",
        read(state.path(), "err2")
    );
    assert_eq!(read(state.path(), "out2").trim(), "at-1-0123456789");
    let after: Value = serde_json::from_str(&read(state.path(), "after.json")).unwrap();
    assert_eq!(after["values"]["REFRESH_TOKEN"], "rt-1-0123456789");
}

/// A read-only store: `logout` revokes nothing (the token still works), and a sign-in is
/// refused before it starts.
#[test]
fn an_unwritable_store_stops_logout_and_login_before_they_send_anything() {
    if !namespaces() {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let login = common::dmflow(state.path())
        .current_dir(common::repo())
        .args(["run", "--mock", "flows/login.yaml"])
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", output_text(&login));
    let me = common::write_flow(
        state.path(),
        "me.yaml",
        "inputs: [ACCESS_TOKEN]\nsteps:\n  - name: me\n    http: { url: https://api.dailymotion.com/me, auth: { bearer: <<ACCESS_TOKEN>> } }\n    expect: { status: 200 }\n",
    );
    let output = in_namespace(
        state.path(),
        &format!(
            r#"
        cp "$PROFILES/mock.json" "$STATE/mock.json"
        mount -t tmpfs -o size=1m,mode=0700 tmpfs "$PROFILES"
        cp "$STATE/mock.json" "$PROFILES/mock.json"; chmod 600 "$PROFILES/mock.json"
        mount -o remount,ro "$PROFILES"
        set +e
        "$DMFLOW" logout --mock > /dev/null 2> "$STATE/logout"; echo $? > "$STATE/logout.code"
        "$DMFLOW" run --mock {} > /dev/null 2> "$STATE/me"; echo $? > "$STATE/me.code"
        "$DMFLOW" run --mock flows/login.yaml > /dev/null 2> "$STATE/login"; echo $? > "$STATE/login.code"
        "#,
            me.display()
        ),
    );
    assert!(output.status.success(), "{}", output_text(&output));
    let logout = read(state.path(), "logout");
    assert_eq!(read(state.path(), "logout.code").trim(), "3", "{logout}");
    assert!(logout.contains("Read-only file system"), "{logout}");
    assert!(logout.contains("nothing was revoked"), "{logout}");
    assert!(!logout.contains("revoked the tokens"), "{logout}");
    assert_eq!(
        read(state.path(), "me.code").trim(),
        "0",
        "the token was not revoked: {}",
        read(state.path(), "me")
    );
    let login = read(state.path(), "login");
    assert_eq!(read(state.path(), "login.code").trim(), "3", "{login}");
    assert!(login.contains("cannot be written"), "{login}");
    assert!(!login.contains("authorize"), "no sign-in started: {login}");
}

/// The same refusal without namespaces: the state directory's `profiles` is a file.
#[test]
fn a_sign_in_on_a_store_that_cannot_be_created_is_refused_first() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("profiles"), "").unwrap();
    let output = common::dmflow(state.path())
        .current_dir(common::repo())
        .args(["run", "--mock", "flows/login.yaml"])
        .output()
        .unwrap();
    let out = output_text(&output);
    assert_eq!(output.status.code(), Some(3), "{out}");
    assert!(out.contains("cannot create"), "{out}");
    assert!(out.contains("--no-store"), "{out}");
    assert!(!out.contains("authorize"), "{out}");
}
