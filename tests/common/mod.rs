//! Shared test helpers: the dmflow binary in an isolated environment, a local HTTP server to
//! run flows against, and snapshot settings that keep insta's files in `snapshots/`.
#![allow(dead_code)]

pub mod gate;
pub mod oidc;

use assert_cmd::Command;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The dmflow binary with a private state directory, no colour, no browser, no proxy.
pub fn dmflow(state: &std::path::Path) -> Command {
    let mut cmd = Command::cargo_bin("dmflow").expect("the dmflow binary is built");
    cmd.env("DMFLOW_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .env_remove("DMFLOW_BROWSER")
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("DMFLOW_PROFILE")
        .env_remove("DM_API_KEY")
        .env_remove("DM_API_SECRET")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// The same, as a plain process a test can start, signal and wait for.
pub fn dmflow_process(state: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("dmflow"));
    cmd.env("DMFLOW_STATE_DIR", state).env("NO_COLOR", "1");
    for name in [
        "DMFLOW_BROWSER",
        "BROWSER",
        "DISPLAY",
        "DMFLOW_PROFILE",
        "DM_API_KEY",
        "DM_API_SECRET",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

/// Runs a command that must succeed; its output otherwise explains the failure.
pub fn passes(cmd: &mut Command) -> std::process::Output {
    let output = cmd.output().expect("the command runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// insta settings that store snapshots in the top-level `snapshots/` directory.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"\b\d+ ms\b", "[ms]");
    settings.add_filter(r"\b\d+\.\d s\b", "[ms]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
    settings
}

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A command's stdout then stderr, as text (for assertions and their messages).
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs dmflow with `args` from the repository's root, whatever its exit code.
pub fn run_in_repo(state: &std::path::Path, args: &[&str]) -> std::process::Output {
    dmflow(state)
        .current_dir(repo())
        .args(args)
        .output()
        .expect("dmflow runs")
}

/// The files of `flows/`, sorted, relative to the repository (`flows/login.yaml`...).
pub fn flow_files() -> Vec<String> {
    let mut flows: Vec<String> = std::fs::read_dir(repo().join("flows"))
        .expect("flows/ is there")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            format!(
                "flows/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    flows.sort();
    flows
}

/// Writes a flow file into `dir` and returns its path.
/// Writes the store of profile `default` under the state dir `state` as dmflow keeps it
/// (0700 directories, a 0600 file), holding `data` (a hand-made store: `version`, `profile`,
/// `values`, ...).
pub fn write_store(state: &std::path::Path, data: &Value) {
    use std::os::unix::fs::PermissionsExt;
    let dir = state.join("profiles");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(state, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join("default.json");
    std::fs::write(&file, serde_json::to_vec_pretty(data).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

pub fn write_flow(dir: &std::path::Path, name: &str, yaml: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("write flow");
    path
}

/// The base URL of a local test server, started once per test binary.
pub fn server() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let addr = serve_in_background(|listener| async move {
            axum::serve(listener, app()).await.expect("serve");
        });
        format!("http://{addr}")
    })
}

/// Runs `serve` on a loopback listener of a free port, on a thread of its own (with its own
/// runtime) for the rest of the test binary; returns the listener's address.
pub fn serve_in_background<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            tx.send(listener.local_addr().expect("addr")).expect("send");
            serve(listener).await;
        });
    });
    rx.recv().expect("server started")
}

fn app() -> axum::Router {
    axum::Router::new()
        .route("/items", post(create_item))
        .route("/items/{id}", get(get_item))
        .route("/headers", get(echo_headers))
        .route("/form", post(echo_form))
        .route(
            "/text",
            get(|| async { "plain text, not JSON: order-4242 done" }),
        )
        .route("/status/{code}", get(status))
        .route("/redirect", get(|| async { Redirect::to("/items/7") }))
        .route("/cookie/set", get(set_cookie))
        .route("/cookie/check", get(check_cookie))
        .route("/slow", get(slow))
        .route("/basic", get(basic))
        .route("/query", get(echo_query))
        .route(
            "/secret",
            get(|| async { Json(json!({"token": "srv-secret-0123456789"})) }),
        )
        .route("/tracked/{key}", get(tracked))
        .route("/poll/{key}", get(poll))
        .route("/flaky/{key}", get(flaky))
        .route(
            "/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024)),
        )
        .route("/download", get(download))
        .route("/token/{case}", post(token_case))
}

/// Token endpoints that answer each case of RFC 6749 §5.1 and §5.2 (and worse).
async fn token_case(Path(case): Path<String>) -> Response {
    let ok = |body: Value| (StatusCode::OK, Json(body)).into_response();
    match case.as_str() {
        "full" => ok(json!({"access_token": "at-full-0123456789", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-full-0123456789", "scope": "read write", "uid": "x1"})),
        "minimal" => ok(json!({"access_token": "at-min-0123456789", "token_type": "bearer"})),
        "string-expiry" => ok(json!({"access_token": "at-str-0123456789", "token_type": "Bearer", "expires_in": "7200"})),
        "invalid-grant" => (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": "Invalid authorization code."}))).into_response(),
        "invalid-client" => (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "Bad secret."}))).into_response(),
        "html-500" => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/html")], "<html><body>Quelque chose s'est mal passé</body></html>").into_response(),
        "json-503" => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "temporarily_unavailable"}))).into_response(),
        "redirect" => Redirect::temporary("/token/full").into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

static HITS: std::sync::Mutex<Option<HashMap<String, u32>>> = std::sync::Mutex::new(None);

async fn tracked(Path(key): Path<String>) -> Json<Value> {
    let mut hits = HITS.lock().unwrap();
    *hits
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default() += 1;
    Json(json!({"ok": true}))
}

/// `/poll/KEY?after=N`: `{"status": "processing"}` for the first N calls, then `published`.
async fn poll(Path(key): Path<String>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let after: u32 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(2);
    let seen = count(&format!("poll:{key}"));
    let status = if seen > after {
        "published"
    } else {
        "processing"
    };
    Json(json!({"status": status, "calls": seen}))
}

/// `/flaky/KEY?fail=N&code=503`: that status with `Retry-After: 0` for the first N calls.
async fn flaky(Path(key): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let fail: u32 = q.get("fail").and_then(|a| a.parse().ok()).unwrap_or(2);
    let code: u16 = q.get("code").and_then(|a| a.parse().ok()).unwrap_or(503);
    let seen = count(&format!("flaky:{key}"));
    if seen <= fail {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return (
            status,
            [(header::RETRY_AFTER, "0")],
            Json(json!({"calls": seen})),
        )
            .into_response();
    }
    Json(json!({"ok": true, "calls": seen})).into_response()
}

/// `/upload`: the size and SHA-256 of the body, and its content type.
async fn upload(headers: HeaderMap, body: axum::body::Bytes) -> Json<Value> {
    use sha2::Digest;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text = String::from_utf8_lossy(&body);
    let filename = text
        .split("filename=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("");
    Json(json!({
        "bytes": body.len(),
        "sha256": format!("{:x}", sha2::Sha256::digest(&body)),
        "content_type": content_type,
        "filename": filename,
        "has_title": text.contains("name=\"title\"\r\n\r\nMy clip"),
    }))
}

/// `/download?size=N`: N bytes (`0123456789` repeated).
async fn download(Query(q): Query<HashMap<String, String>>) -> Vec<u8> {
    let size: usize = q.get("size").and_then(|a| a.parse().ok()).unwrap_or(1024);
    b"0123456789".iter().copied().cycle().take(size).collect()
}

fn count(key: &str) -> u32 {
    let mut hits = HITS.lock().unwrap();
    let entry = hits
        .get_or_insert_with(HashMap::new)
        .entry(key.to_string())
        .or_default();
    *entry += 1;
    *entry
}

/// How many requests `/tracked/KEY` received.
pub fn hits(key: &str) -> u32 {
    HITS.lock()
        .unwrap()
        .as_ref()
        .and_then(|h| h.get(key).copied())
        .unwrap_or(0)
}

async fn create_item(Json(body): Json<Value>) -> Response {
    let name = body.get("name").cloned().unwrap_or(Value::Null);
    (
        StatusCode::CREATED,
        [(header::LOCATION, "/items/7")],
        Json(json!({"id": 7, "name": name, "tags": ["new"], "price": 9.5})),
    )
        .into_response()
}

async fn get_item(Path(id): Path<u32>, headers: HeaderMap) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Json(json!({"id": id, "name": "widget", "auth": auth, "ok": true})).into_response()
}

async fn echo_headers(headers: HeaderMap) -> Json<Value> {
    let map: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    Json(Value::Object(map))
}

async fn echo_form(axum::Form(form): axum::Form<HashMap<String, String>>) -> Json<Value> {
    Json(json!(form))
}

async fn echo_query(Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    if let Some((_, ms)) = q.iter().find(|(k, _)| k == "delay") {
        tokio::time::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    Json(json!(q))
}

async fn status(Path(code): Path<u16>) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({"status": code}))).into_response()
}

async fn set_cookie() -> Response {
    (
        [(header::SET_COOKIE, "session=abc123; Path=/")],
        Json(json!({"set": true})),
    )
        .into_response()
}

async fn check_cookie(headers: HeaderMap) -> Json<Value> {
    let cookie = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Json(json!({"cookie": cookie}))
}

async fn slow() -> &'static str {
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    "late"
}

async fn basic(headers: HeaderMap) -> Response {
    match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some("Basic dXNlcjpwQHNz") => Json(json!({"user": "user"})).into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "who are you"})),
        )
            .into_response(),
    }
}
