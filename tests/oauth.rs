//! The OAuth2 steps: the login flow against an independent server (oidc-provider), the
//! loopback callback's every case, and the token endpoint's answers.

mod common;

use common::oidc::{CLIENT_ID, CLIENT_SECRET, browser, free_port, oidc, oidc_vars};
use common::{dmflow, server, write_flow};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stored(state: &Path, profile: &str) -> Value {
    let text = std::fs::read_to_string(state.join("profiles").join(format!("{profile}.json")))
        .expect("the store was written");
    serde_json::from_str(&text).unwrap()
}

/// stdout and stderr of a run against a provider that is not Dailymotion: no Dailymotion
/// default or hint may show.
fn all_output(output: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for dailymotion in ["Dailymotion", "dailymotion", "DM_API"] {
        assert!(
            !text.contains(dailymotion),
            "this provider is not Dailymotion, yet {dailymotion:?} shows:\n{text}"
        );
    }
    text
}

#[test]
fn login_against_oidc_provider_with_pkce_then_refresh_keeps_the_rotated_token() {
    let Some(oidc) = oidc() else { return };
    let state = tempfile::tempdir().unwrap();
    let record = state.path().join("callback.url");
    let port = free_port();
    let output = dmflow(state.path())
        .env("TEST_BROWSER_RECORD", &record)
        .args([
            "run",
            "-v",
            "--json",
            "flows/login.yaml",
            "--browser",
            &browser(),
        ])
        .args(oidc_vars(&oidc.issuer, port))
        .current_dir(repo())
        .output()
        .unwrap();
    let text = all_output(&output);
    assert!(output.status.success(), "{text}");
    let profile = stored(state.path(), "default");
    let access = profile["values"]["ACCESS_TOKEN"]
        .as_str()
        .expect("access token stored")
        .to_string();
    let refresh = profile["values"]["REFRESH_TOKEN"]
        .as_str()
        .expect("refresh token stored")
        .to_string();
    let callback = std::fs::read_to_string(&record).unwrap();
    assert!(
        callback.contains("state="),
        "the provider echoed state: {callback}"
    );
    let code = url_param(&callback, "code");
    assert!(
        text.contains("code_challenge_method=S256"),
        "PKCE S256 was used: {text}"
    );
    for secret in [
        access.as_str(),
        refresh.as_str(),
        code.as_str(),
        CLIENT_SECRET,
    ] {
        assert!(
            !text.contains(secret),
            "a secret leaked into the output: {secret}\n{text}"
        );
    }

    // refresh.yaml takes the refresh token from the store and keeps the rotated one.
    let refresh_vars = [
        format!("token_url={}/token", oidc.issuer),
        format!("api={}", oidc.issuer),
        format!("API_KEY={CLIENT_ID}"),
        format!("API_SECRET={CLIENT_SECRET}"),
    ];
    let mut previous = refresh;
    for round in 0..2 {
        let mut cmd = dmflow(state.path());
        cmd.current_dir(repo()).args(["run", "flows/refresh.yaml"]);
        for v in &refresh_vars {
            cmd.args(["--var", v]);
        }
        let output = cmd.output().unwrap();
        let text = all_output(&output);
        assert!(output.status.success(), "round {round}: {text}");
        let now = stored(state.path(), "default")["values"]["REFRESH_TOKEN"]
            .as_str()
            .unwrap()
            .to_string();
        assert_ne!(
            now, previous,
            "round {round}: the rotated refresh token replaced the old one"
        );
        assert!(!all_output(&output).contains(&now));
        previous = now;
    }
}

fn url_param(url: &str, name: &str) -> String {
    url::Url::parse(url.trim())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[test]
fn a_replayed_code_gets_a_clear_invalid_grant() {
    let Some(oidc) = oidc() else { return };
    let state = tempfile::tempdir().unwrap();
    let record = state.path().join("callback.url");
    let port = free_port();
    let first = common::passes(
        dmflow(state.path())
            .env("TEST_BROWSER_RECORD", &record)
            .args([
                "run",
                "--reveal",
                "--json",
                "--no-store",
                "flows/login.yaml",
                "--browser",
                &browser(),
            ])
            .args(oidc_vars(&oidc.issuer, port))
            .current_dir(repo()),
    );
    let json: Value = serde_json::from_slice(&first.stdout).unwrap();
    let verifier = json["flows"][0]["steps"][0]["saved"]["CODE_VERIFIER"]
        .as_str()
        .unwrap()
        .to_string();
    let code = url_param(&std::fs::read_to_string(&record).unwrap(), "code");
    let replay = write_flow(
        state.path(),
        "replay.yaml",
        &format!(
            "inputs: [CODE, VERIFIER]\noauth:\n  token_url: {issuer}/token\n  client_id: {CLIENT_ID}\n  client_secret: {CLIENT_SECRET}\nsteps:\n  - name: exchange again\n    token:\n      code: <<CODE>>\n      code_verifier: <<VERIFIER>>\n      redirect_uri: http://127.0.0.1:{port}/callback\n",
            issuer = oidc.issuer
        ),
    );
    let output = dmflow(state.path())
        .args(["run", "--no-store"])
        .arg(&replay)
        .args([
            "--var",
            &format!("CODE={code}"),
            "--var",
            &format!("VERIFIER={verifier}"),
        ])
        .output()
        .unwrap();
    all_output(&first);
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid_grant"), "{stderr}");
    assert!(stderr.contains("single-use"), "{stderr}");
    assert!(!stderr.contains(&code), "{stderr}");
}

#[test]
fn a_forged_state_is_refused_and_the_real_callback_still_signs_in() {
    let Some(oidc) = oidc() else { return };
    let state = tempfile::tempdir().unwrap();
    let output = dmflow(state.path())
        .env("TEST_BROWSER_TAMPER", "state")
        .args(["run", "--json", "flows/login.yaml", "--browser", &browser()])
        .args(oidc_vars(&oidc.issuer, free_port()))
        .current_dir(repo())
        .output()
        .unwrap();
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused a request to the callback: its state is not the one dmflow sent"),
        "{stderr}"
    );
    assert!(state.path().join("profiles/default.json").exists());
}

#[test]
fn a_denied_consent_ends_with_access_denied() {
    let Some(oidc) = oidc() else { return };
    let state = tempfile::tempdir().unwrap();
    let output = dmflow(state.path())
        .env("TEST_BROWSER_ACTION", "deny")
        .args(["run", "flows/login.yaml", "--browser", &browser()])
        .args(oidc_vars(&oidc.issuer, free_port()))
        .current_dir(repo())
        .output()
        .unwrap();
    let text = all_output(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("access_denied"), "{stderr}");
    assert!(
        stderr.contains("End-User aborted interaction"),
        "the provider's description is shown: {stderr}"
    );
}

// ---- the loopback callback, driven by hand -------------------------------------------------

/// A dmflow run of authorize + callback whose "browser" only writes the URL to a file.
struct Pending {
    child: Child,
    authorize_url: String,
}

/// A flow of authorize + callback, its code as output.
fn callback_flow(dir: &Path, redirect_uri: &str, timeout: &str) -> PathBuf {
    write_flow(
        dir,
        "cb.yaml",
        &format!(
            "oauth:\n  authorize_url: http://127.0.0.1:9/auth\n  client_id: test-client\n  redirect_uri: {redirect_uri}\nsteps:\n  - authorize: {{}}\n  - callback: {{ timeout: {timeout} }}\noutputs: [CODE]\n"
        ),
    )
}

fn start_callback_flow(dir: &Path, port: u16, timeout: &str) -> Pending {
    start_callback_flow_on(dir, "127.0.0.1", port, timeout)
}

fn start_callback_flow_on(dir: &Path, host: &str, port: u16, timeout: &str) -> Pending {
    let flow = callback_flow(dir, &format!("http://{host}:{port}/callback"), timeout);
    let url_file = dir.join("authorize.url");
    let _ = std::fs::remove_file(&url_file);
    let child = Command::new(assert_cmd::cargo::cargo_bin("dmflow"))
        .env("DMFLOW_STATE_DIR", dir)
        .env("NO_COLOR", "1")
        .args(["run", "--reveal", "--json", "--no-store", "--browser"])
        .arg(format!("sh -c 'printf %s \"$0\" > {}'", url_file.display()))
        .arg(&flow)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !url_file.exists() || std::fs::read_to_string(&url_file).unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the browser command never ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    Pending {
        child,
        authorize_url: std::fs::read_to_string(&url_file).unwrap(),
    }
}

impl Pending {
    fn state(&self) -> String {
        url_param(&self.authorize_url, "state")
    }

    /// Delivers this sign-in's callback to `callback` and checks the run passes with its
    /// code; returns the run's stderr.
    fn sign_in(self, callback: &str) -> String {
        let state = self.state();
        let (status, _, _) = http_get(&format!("{callback}?code=the-real-code&state={state}"));
        assert_eq!(status, 200);
        let (code, json, stderr) = self.finish();
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(json["flows"][0]["outputs"]["CODE"], "the-real-code");
        stderr
    }

    fn finish(self) -> (i32, Value, String) {
        let output = self.child.wait_with_output().unwrap();
        let json = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (
            output.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn http_get(url: &str) -> (u16, String, Vec<(String, String)>) {
    http_request("GET", url)
}

fn http_request(method: &str, url: &str) -> (u16, String, Vec<(String, String)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let response = client
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        (status, response.text().await.unwrap(), headers)
    })
}

#[test]
fn callback_accepts_the_right_state_once_and_serves_a_safe_page() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pending = start_callback_flow(dir.path(), port, "20s");
    assert!(pending.authorize_url.contains("code_challenge_method=S256"));
    assert_eq!(
        url_param(&pending.authorize_url, "code_challenge").len(),
        43
    );
    assert_eq!(
        url_param(&pending.authorize_url, "redirect_uri"),
        format!("http://127.0.0.1:{port}/callback")
    );
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        http_get(&format!("{base}/elsewhere")).0,
        404,
        "other paths are not served"
    );
    assert_eq!(
        http_request(
            "POST",
            &format!("{base}/callback?code=x&state={}", pending.state())
        )
        .0,
        405,
        "only GET"
    );
    let (status, page, headers) = http_get(&format!(
        "{base}/callback?code=the-code-123&state={}",
        pending.state()
    ));
    assert_eq!(status, 200);
    assert!(page.contains("You can close this tab"));
    assert!(
        !page.contains("the-code-123"),
        "the page does not echo the code"
    );
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert!(header("content-security-policy").contains("default-src 'none'"));
    let (code, json, stderr) = pending.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["flows"][0]["outputs"]["CODE"], "the-code-123");
    let second = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        second.is_err(),
        "the listener is closed after the first valid callback"
    );
}

#[test]
fn callback_refuses_a_wrong_or_missing_state_and_keeps_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pending = start_callback_flow(dir.path(), port, "20s");
    let base = format!("http://127.0.0.1:{port}/callback");
    for query in [
        "code=code-never-shown-91&state=not-the-state",
        "code=code-never-shown-91",
        // `error=` counts only with the right state: a forged one cannot end the sign-in.
        "error=access_denied&state=not-the-state",
    ] {
        let (status, page, _) = http_get(&format!("{base}?{query}"));
        assert_eq!(status, 400, "{query}");
        assert!(page.contains("Nothing was exchanged"), "{page}");
        assert!(page.contains("still waiting"), "{page}");
    }
    let stderr = pending.sign_in(&base);
    let warnings = stderr
        .matches("warning: refused a request to the callback")
        .count();
    assert_eq!(warnings, 3, "one warning per refused request: {stderr}");
    assert!(
        stderr.contains("its state is not the one dmflow sent"),
        "{stderr}"
    );
    assert!(stderr.contains("it carries no state"), "{stderr}");
    assert!(!stderr.contains("code-never-shown-91"), "{stderr}");
    assert!(!stderr.contains("access_denied"), "{stderr}");
}

#[test]
fn a_flood_of_forged_callbacks_costs_a_few_lines_and_the_real_one_still_gets_through() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pending = start_callback_flow(dir.path(), port, "30s");
    let base = format!("http://127.0.0.1:{port}/callback");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let refused = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let sends = (0..300).map(|i| {
            let request = client.get(format!("{base}?code=c&state=forged-{i}"));
            async move { request.send().await.map(|r| r.status().as_u16()) }
        });
        futures_util::future::join_all(sends).await
    });
    assert!(
        refused
            .iter()
            .all(|status| status.as_ref().is_ok_and(|s| *s == 400)),
        "every forged request is answered 400: {refused:?}"
    );
    let stderr = pending.sign_in(&base);
    assert_eq!(
        stderr
            .matches("warning: refused a request to the callback")
            .count(),
        3,
        "the first few are shown: {stderr}"
    );
    assert!(stderr.contains("they are counted, not shown"), "{stderr}");
    assert!(
        stderr.contains("300 requests to the callback were refused"),
        "{stderr}"
    );
    assert!(stderr.lines().count() < 30, "{stderr}");
}

/// `dmflow run --no-browser` on `flow` with stdin not a terminal.
fn run_no_browser(dir: &Path, flow: &Path) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("dmflow"))
        .env("DMFLOW_STATE_DIR", dir)
        .env("NO_COLOR", "1")
        .args(["run", "--reveal", "--json", "--no-store", "--no-browser"])
        .arg(flow)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn no_browser_without_a_terminal_says_at_once_what_it_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let flow = callback_flow(
        dir.path(),
        &format!("http://127.0.0.1:{port}/callback"),
        "20s",
    );
    let mut child = run_no_browser(dir.path(), &flow);
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let mut authorize_url = String::new();
    while !seen.contains("cannot be pasted") {
        let line = lines
            .next()
            .expect("dmflow says what it waits for before the wait ends")
            .unwrap();
        if let Some(at) = line.find("sign in at: ") {
            authorize_url = line[at + 12..].trim().to_string();
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(seen.contains("stdin is not a terminal"), "{seen}");
    assert!(seen.contains("waiting up to 20.0 s"), "the timeout: {seen}");
    assert!(seen.contains("`timeout:`"), "how to change it: {seen}");
    assert!(
        seen.contains(&format!("http://127.0.0.1:{port}/callback")),
        "{seen}"
    );
    let state = url_param(&authorize_url, "state");
    let (status, _, _) = http_get(&format!(
        "http://127.0.0.1:{port}/callback?code=c-1&state={state}"
    ));
    assert_eq!(status, 200);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["flows"][0]["outputs"]["CODE"], "c-1");
}

#[test]
fn no_browser_without_a_terminal_or_a_loopback_redirect_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let flow = callback_flow(dir.path(), "https://app.example.com/callback", "10m");
    let output = run_no_browser(dir.path(), &flow)
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("nothing can complete this sign-in"),
        "{stderr}"
    );
    assert!(stderr.contains("stdin is not a terminal"), "{stderr}");
}

#[test]
fn callback_reports_the_providers_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let pending = start_callback_flow(dir.path(), port, "20s");
    let (status, page, _) = http_get(&format!(
        "http://127.0.0.1:{port}/callback?error=access_denied&error_description=%3Cb%3ENo%3C%2Fb%3E&state={}",
        pending.state()
    ));
    assert_eq!(status, 200);
    assert!(
        page.contains("&lt;b&gt;No&lt;/b&gt;"),
        "values are escaped: {page}"
    );
    let (code, _, stderr) = pending.finish();
    assert_eq!(code, 1);
    assert!(stderr.contains("access_denied: <b>No</b>"), "{stderr}");
    assert!(stderr.contains("run the flow again"), "{stderr}");
}

#[test]
fn callback_times_out_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let pending = start_callback_flow(dir.path(), free_port(), "1s");
    let (code, _, stderr) = pending.finish();
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("no callback within"), "{stderr}");
    assert!(stderr.contains("timeout:"), "{stderr}");
}

#[test]
fn a_busy_callback_port_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let flow = write_flow(
        dir.path(),
        "busy.yaml",
        &format!(
            "oauth:\n  authorize_url: http://127.0.0.1:9/auth\n  client_id: c\n  redirect_uri: http://127.0.0.1:{port}/callback\nsteps:\n  - authorize: {{}}\n  - callback: {{}}\n"
        ),
    );
    let output = dmflow(dir.path())
        .args(["run", "--no-store", "--browser", "true"])
        .arg(&flow)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{port}: the port is already in use")),
        "{stderr}"
    );
}

// ---- the token endpoint's answers ----------------------------------------------------------

fn token_flow(dir: &Path, case: &str) -> PathBuf {
    write_flow(
        dir,
        &format!("{case}.yaml"),
        &format!(
            "oauth:\n  token_url: {}/token/{case}\n  client_id: c1\n  client_secret: sekret-value-42\nsteps:\n  - name: token\n    token:\n      code: code-value-77\n      redirect_uri: http://127.0.0.1:8080/callback\noutputs: [ACCESS_TOKEN]\n",
            server()
        ),
    )
}

#[test]
fn token_answers_are_read_tolerantly_and_errors_explained() {
    let cases: &[(&str, i32, &[&str])] = &[
        (
            "full",
            0,
            &[
                "\"EXPIRES_IN\": 3600",
                "\"REFRESH_TOKEN\": \"[secret:REFRESH_TOKEN]\"",
                "\"SCOPE\": \"read write\"",
            ],
        ),
        ("minimal", 0, &["\"TOKEN_TYPE\": \"bearer\""]),
        ("string-expiry", 0, &["\"EXPIRES_IN\": 7200"]),
        (
            "invalid-grant",
            1,
            &[
                "400 invalid_grant: Invalid authorization code.",
                "single-use",
            ],
        ),
        (
            "invalid-client",
            1,
            &[
                "401 invalid_client: Bad secret.",
                "check the client_id and client_secret",
            ],
        ),
        (
            "html-500",
            3,
            &["answered 500 with an HTML page", "nothing was stored"],
        ),
        ("json-503", 3, &["503 temporarily_unavailable", "try again"]),
        ("redirect", 1, &["answered 307", "never follow redirects"]),
    ];
    for (case, exit, needles) in cases {
        let dir = tempfile::tempdir().unwrap();
        let output = dmflow(dir.path())
            .args(["run", "--json", "--no-store"])
            .arg(token_flow(dir.path(), case))
            .output()
            .unwrap();
        let text = all_output(&output);
        assert_eq!(output.status.code(), Some(*exit), "{case}: {text}");
        for needle in *needles {
            assert!(
                text.contains(needle),
                "{case}: missing {needle:?} in\n{text}"
            );
        }
        for dailymotion in ["DM_API", "Dailymotion", "dailymotion"] {
            assert!(
                !text.contains(dailymotion),
                "{case}: a local server is not Dailymotion, yet {dailymotion:?} shows\n{text}"
            );
        }
        for secret in [
            "sekret-value-42",
            "code-value-77",
            "at-full-0123456789",
            "rt-full-0123456789",
        ] {
            assert!(!text.contains(secret), "{case}: {secret} leaked\n{text}");
        }
    }
}

#[test]
fn a_client_secret_kept_on_request_lets_token_refresh_without_the_environment() {
    let Some(oidc) = oidc() else { return };
    for keep in [false, true] {
        let state = tempfile::tempdir().unwrap();
        let mut login = dmflow(state.path());
        login
            .current_dir(repo())
            .args(["run", "flows/login.yaml", "--browser", &browser()])
            .args(oidc_vars(&oidc.issuer, free_port()));
        if keep {
            login.arg("--store-client-secret");
        }
        let output = login.output().unwrap();
        assert!(output.status.success(), "{}", all_output(&output));
        let path = state.path().join("profiles/default.json");
        let mut data = stored(state.path(), "default");
        assert_eq!(
            data["endpoint"]["client_secret"].as_str() == Some(CLIENT_SECRET),
            keep
        );
        data["values"]["EXPIRES_AT"] = Value::from(0);
        std::fs::write(&path, serde_json::to_vec(&data).unwrap()).unwrap();
        let token = dmflow(state.path()).arg("token").output().unwrap();
        if keep {
            assert!(token.status.success(), "{}", all_output(&token));
            assert_ne!(
                String::from_utf8_lossy(&token.stdout).trim(),
                data["values"]["ACCESS_TOKEN"].as_str().unwrap()
            );
        } else {
            assert_eq!(
                token.status.code(),
                Some(1),
                "without the secret the provider refuses: {}",
                all_output(&token)
            );
            assert!(
                all_output(&token).contains("invalid_client"),
                "{}",
                all_output(&token)
            );
        }
        assert!(!all_output(&token).contains(CLIENT_SECRET));
    }
}

#[test]
fn callback_listens_on_ipv6_loopback_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: this machine has no IPv6 loopback");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("[::1]:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pending = start_callback_flow_on(dir.path(), "[::1]", port, "20s");
    let (status, _, _) = http_get(&format!(
        "http://[::1]:{port}/callback?code=v6-code&state={}",
        pending.state()
    ));
    assert_eq!(status, 200);
    let (code, json, stderr) = pending.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(json["flows"][0]["outputs"]["CODE"], "v6-code");
}

/// With `--no-browser` on a terminal the user pastes the redirected URL; `script` gives
/// dmflow the terminal, the test plays the user.
fn paste_login(tamper_state: bool) -> (i32, String) {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let mut mock = Command::new(assert_cmd::cargo::cargo_bin("dmflow"))
        .args(["mock", "--port", "0", "--auto-approve", "--state-file"])
        .arg(dir.path().join("emu.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut base = String::new();
    BufReader::new(mock.stdout.take().unwrap())
        .read_line(&mut base)
        .unwrap();
    let base = base.trim().to_string();
    let port = free_port();
    let command = format!(
        "{} run {} --no-browser --no-store --var api={base} --var authorize_url={base}/oauth/authorize --var API_KEY={} --var API_SECRET={} --var redirect_uri=http://127.0.0.1:{port}/callback",
        assert_cmd::cargo::cargo_bin("dmflow").display(),
        repo().join("flows/login.yaml").display(),
        dmflow::mock::state::DEMO_CLIENT_ID,
        dmflow::mock::state::DEMO_CLIENT_SECRET,
    );
    let mut child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("DMFLOW_STATE_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = String::new();
    let started = Instant::now();
    let authorize = loop {
        let mut buf = [0u8; 4096];
        let n = stdout.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(at) = seen.find("sign in at: ")
            && let Some(end) = seen[at..].find(['\r', '\n'])
        {
            break seen[at + 12..at + end].to_string();
        }
        assert!(
            n > 0 && started.elapsed() < Duration::from_secs(20),
            "no authorize URL in: {seen}"
        );
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let location = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = client.get(&authorize).send().await.unwrap();
        response.headers()["location"].to_str().unwrap().to_string()
    });
    // A tampered URL is refused with a warning, and the real one pasted after it completes.
    let pasted = if tamper_state {
        format!("{}\n{location}", location.replace("state=", "state=x"))
    } else {
        location
    };
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(format!("{pasted}\n").as_bytes())
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    let _ = mock.kill();
    let _ = mock.wait();
    (status.code().unwrap_or(-1), seen + &rest)
}

#[test]
fn a_pasted_redirect_url_completes_the_sign_in_and_its_state_is_checked() {
    let (code, out) = paste_login(false);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("paste the URL the browser was sent to"),
        "{out}"
    );
    assert!(out.contains("✓ token"), "{out}");
    let (code, out) = paste_login(true);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("the URL's state is not the one dmflow sent"),
        "{out}"
    );
    assert!(out.contains("✓ token"), "{out}");
}
