//! The sign-in pages in a real browser: `dmflow run flows/login.yaml` against a standalone
//! `dmflow mock` (consent page on), with Debian's headless Chromium as the browser
//! (tests/browser/browser.mjs, playwright-core). It clicks Allow in one sign-in and Deny in
//! another; the consent page and dmflow's callback pages are checked for their content, for
//! `Cache-Control: no-store`, and for loading nothing from another host. Screenshots are kept
//! under target/tmp/browser/ (the paths are printed).
//!
//! Needs `/usr/bin/chromium` (apt-get install chromium) and `npm ci --prefix tests/browser`;
//! .ci/run installs both. Without them the test is skipped locally and fails under CI=true.

mod common;
mod emu;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Child;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser can run here; says why not (a failure under CI=true).
fn browser_ready() -> bool {
    let missing = if !chromium().exists() {
        Some(format!(
            "{} is missing: apt-get install chromium chromium-driver (.ci/run does)",
            chromium().display()
        ))
    } else if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        Some(
            "playwright-core is not installed: run `npm ci --prefix tests/browser` (.ci/run does)"
                .into(),
        )
    } else {
        None
    };
    match missing {
        None => true,
        Some(message) => {
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED: the real-browser test cannot run: {message}");
            false
        }
    }
}

/// `dmflow mock --port 0` (consent page on); stopped on drop.
struct Mock {
    child: Child,
    base: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mock(state: &Path) -> Mock {
    let (child, base) = emu::spawn_mock(state, &[]);
    Mock { child, base }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Signs in through the browser, which clicks `action`; dmflow's exit code, its output, and
/// the browser's report.
fn sign_in(action: &str) -> (Option<i32>, String, Value) {
    let state = tempfile::tempdir().unwrap();
    let mock = mock(state.path());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser")
        .join(action);
    let _ = std::fs::remove_dir_all(&out);
    let browser = format!(
        "node {}",
        repo().join("tests/browser/browser.mjs").display()
    );
    let base = &mock.base;
    let output = common::dmflow(state.path())
        .current_dir(repo())
        .args([
            "run",
            "flows/login.yaml",
            "--no-store",
            "--browser",
            &browser,
        ])
        .args(["--var", &format!("api={base}")])
        .args(["--var", &format!("authorize_url={base}/oauth/authorize")])
        .args([
            "--var",
            &format!("API_KEY={}", dmflow::mock::state::DEMO_CLIENT_ID),
        ])
        .args([
            "--var",
            &format!("API_SECRET={}", dmflow::mock::state::DEMO_CLIENT_SECRET),
        ])
        .args([
            "--var",
            &format!("redirect_uri=http://127.0.0.1:{}/callback", free_port()),
        ])
        .env("BROWSER_ACTION", action)
        .env("BROWSER_OUT", &out)
        .env("CHROMIUM", chromium())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = wait_for_report(&out.join("report.json"))
        .unwrap_or_else(|| panic!("the browser wrote no report; dmflow said:\n{text}"));
    println!("screenshots of the {action} sign-in: {}", out.display());
    (output.status.code(), text, report)
}

/// dmflow does not wait for its browser: the report comes when the browser is done.
fn wait_for_report(path: &Path) -> Option<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(path) {
            return Some(serde_json::from_str(&text).unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

fn page<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["pages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} page in {report:#}"))
}

fn texts(page: &Value, key: &str) -> Vec<String> {
    page[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_string())
        .collect()
}

/// A page the browser loaded: `no-store`, nothing from another host, a real screenshot.
fn self_contained(page: &Value) {
    assert_eq!(
        page["headers"]["cache-control"], "no-store",
        "{}",
        page["url"]
    );
    for link in texts(page, "links") {
        let external =
            link.starts_with("http://") || link.starts_with("https://") || link.starts_with("//");
        assert!(
            !external || link.starts_with("http://127.0.0.1"),
            "{} names {link}",
            page["url"]
        );
    }
    let shot = std::fs::read(page["screenshot"].as_str().unwrap()).unwrap();
    assert!(
        shot.starts_with(b"\x89PNG") && shot.len() > 2000,
        "a screenshot"
    );
}

fn loopback_only(report: &Value) {
    for url in texts(report, "requests") {
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "the browser loaded {url}"
        );
    }
}

#[test]
fn a_sign_in_where_the_user_clicks_allow_then_one_where_they_click_deny() {
    if !browser_ready() {
        return;
    }
    let (code, text, report) = sign_in("allow");
    assert_eq!(report["error"], Value::Null, "{}", report["error"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("✓ token") && text.contains("✓ echo"),
        "{text}"
    );
    let consent = page(&report, "consent");
    assert_eq!(consent["status"], 200);
    assert_eq!(texts(consent, "headings"), ["Allow the app?"]);
    assert_eq!(
        texts(consent, "items"),
        ["userinfo", "manage_videos"],
        "the scopes requested"
    );
    assert_eq!(texts(consent, "buttons"), ["Allow", "Deny"]);
    assert!(consent["text"].as_str().unwrap().contains("dmflow Demo"));
    self_contained(consent);
    let signed_in = page(&report, "callback");
    assert_eq!(signed_in["status"], 200);
    assert_eq!(texts(signed_in, "headings"), ["Signed in"]);
    assert!(
        signed_in["text"]
            .as_str()
            .unwrap()
            .contains("You can close this tab")
    );
    self_contained(signed_in);
    loopback_only(&report);

    let (code, text, report) = sign_in("deny");
    assert_eq!(report["error"], Value::Null, "{}", report["error"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("access_denied"), "{text}");
    self_contained(page(&report, "consent"));
    let refused = page(&report, "callback");
    assert_eq!(texts(refused, "headings"), ["Sign-in refused"]);
    assert!(
        refused["text"].as_str().unwrap().contains(
            "access_denied: The user denied access to the application. Return to the terminal."
        ),
        "{refused:#}"
    );
    self_contained(refused);
    loopback_only(&report);
}
