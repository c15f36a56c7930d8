//! The independent OAuth2 server of the tests (panva's oidc-provider, tests/oidc): started on a
//! free port, and the `--var`s that point the project's flows at it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub const CLIENT_ID: &str = "dmflow-test";
pub const CLIENT_SECRET: &str = "dmflow-test-secret-7f3a9c";

/// oidc-provider on a free port, stopped on drop.
pub struct Oidc {
    child: Child,
    pub issuer: String,
}

impl Drop for Oidc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts oidc-provider, or says why it cannot (skipped locally, a failure under CI=true).
pub fn oidc() -> Option<Oidc> {
    let dir = super::repo().join("tests/oidc");
    if !dir.join("node_modules/oidc-provider").exists() {
        let message =
            "oidc-provider is not installed: run `npm ci --prefix tests/oidc` (.ci/run does)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("SKIPPED: {message}");
        return None;
    }
    let mut child = Command::new("node")
        .arg(dir.join("server.mjs"))
        .arg("0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("issuer line");
    Some(Oidc {
        child,
        issuer: line.trim().to_string(),
    })
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn browser() -> String {
    format!(
        "node {}",
        super::repo().join("tests/oidc/browser.mjs").display()
    )
}

/// `--var`s that point flows/login.yaml and flows/refresh.yaml at oidc-provider.
pub fn oidc_vars(issuer: &str, port: u16) -> Vec<String> {
    [
        format!("api={issuer}"),
        format!("authorize_url={issuer}/auth"),
        format!("token_url={issuer}/token"),
        "scope=openid offline_access".to_string(),
        format!("redirect_uri=http://127.0.0.1:{port}/callback"),
        format!("API_KEY={CLIENT_ID}"),
        format!("API_SECRET={CLIENT_SECRET}"),
    ]
    .into_iter()
    .flat_map(|v| ["--var".to_string(), v])
    .collect()
}
