//! Driving an in-process emulator with a plain HTTP client, as real client code would: the
//! emulator on a free port, and the requests of a sign-in.
#![allow(dead_code)]

use dmflow::mock::state::{Config, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_REDIRECT_URI};
use dmflow::oauth::pkce;
use serde_json::Value;
use std::collections::HashMap;

pub struct Emu {
    pub base: String,
    pub client: reqwest::Client,
    pub running: dmflow::mock::Running,
}

/// A plain client: no proxy, redirects not followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub async fn emulator(config: Config) -> Emu {
    let running = dmflow::mock::start(config, 0).await.unwrap();
    Emu {
        base: running.base_url(),
        client: client(),
        running,
    }
}

/// Sign-ins approved at once.
pub fn auto() -> Config {
    Config {
        auto_approve: true,
        ..Config::default()
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A response's status, headers and JSON body (`Null` when not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value, reqwest::header::HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, headers)
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    /// A form POST with a bearer token.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self.client.post(self.url(path)).form(form);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap()).await
    }

    /// A token request with the demo app's credentials in the form.
    pub async fn token_full(
        &self,
        form: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut fields: Vec<(&str, &str)> = vec![
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
        ];
        fields.extend_from_slice(form);
        self.post("/oauth/token", None, &fields).await
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let (status, body, _) = self.token_full(form).await;
        (status, body)
    }

    /// The refresh_token grant.
    pub async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// The authorization_code grant with the PKCE verifier.
    pub async fn exchange(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// Runs authorize (auto-approved) and returns the redirect's query.
    pub async fn authorize(&self, extra: &[(&str, &str)]) -> HashMap<String, String> {
        let mut query = vec![
            ("response_type", "code"),
            ("client_id", DEMO_CLIENT_ID),
            ("redirect_uri", DEMO_REDIRECT_URI),
            ("state", "s-1"),
        ];
        if !extra.iter().any(|(k, _)| *k == "scope") {
            query.push(("scope", "userinfo manage_videos"));
        }
        query.extend_from_slice(extra);
        let response = self
            .client
            .get(self.url("/oauth/authorize"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 302);
        redirect_query(&response)
    }

    /// Signs in (authorization code + PKCE) with `scope`; the token response.
    pub async fn sign_in_with(&self, scope: &str) -> Value {
        let verifier = pkce::new_verifier();
        let challenge = pkce::s256(&verifier);
        let query = self
            .authorize(&[
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("scope", scope),
            ])
            .await;
        let (status, body) = self.exchange(&query["code"], &verifier).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn sign_in(&self) -> Value {
        self.sign_in_with("userinfo manage_videos").await
    }

    /// An access token with `scope`.
    pub async fn access_token(&self, scope: &str) -> String {
        self.sign_in_with(scope).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

/// `dmflow mock --port 0` with `extra` arguments on a state directory: the child and the base
/// URL it printed.
pub fn spawn_mock(state: &std::path::Path, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("dmflow"))
        .args(["mock", "--port", "0"])
        .args(extra)
        .env("DMFLOW_STATE_DIR", state)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("http://127.0.0.1:"), "{line}");
    (child, line.trim().to_string())
}

/// The query of a redirect's `Location`.
pub fn redirect_query(response: &reqwest::Response) -> HashMap<String, String> {
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// What the official Python SDK (0.2.5) reads from `WWW-Authenticate` on a 400/401/403:
/// `.*error="(.*?)"(?:, error_description="(.*?)")?`.
pub fn sdk_reads(challenge: &str) -> Option<(String, Option<String>)> {
    let pattern = regex::Regex::new(r#".*error="(.*?)"(?:, error_description="(.*?)")?"#).unwrap();
    let found = pattern.captures(challenge)?;
    Some((
        found[1].to_string(),
        found.get(2).map(|m| m.as_str().to_string()),
    ))
}
