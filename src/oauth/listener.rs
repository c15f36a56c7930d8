//! The loopback callback: a one-shot HTTP server (axum) on 127.0.0.1 or [::1] at the port and
//! path of the redirect URI.
//!
//! The server checks the Host header (DNS rebinding), serves only GET on the callback path,
//! compares `state` in constant time before anything else, answers with a small self-contained
//! page (`no-store`, `no-referrer`, no external assets) and stops after the first callback
//! that carries the right state. With `--no-browser` on a terminal, the user may paste the
//! redirected URL (or the bare code) instead.

use super::pkce::same;
use crate::run::error::StepError;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, oneshot};

/// What came back on the redirect URI.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Code(String),
    /// The provider said no (`error=access_denied` and friends, RFC 6749 §4.1.2.1).
    ProviderError {
        error: String,
        description: Option<String>,
    },
    StateMismatch,
    MissingState,
    /// The right state but neither `code` nor `error`.
    Empty,
}

struct Shared {
    path: String,
    state: String,
    port: u16,
    sender: Mutex<Option<oneshot::Sender<Outcome>>>,
    done: Notify,
}

/// A bound, running callback server.
pub struct Listener {
    pub addr: SocketAddr,
    /// The redirect URI as sent (with the real port when the port was chosen for us).
    pub redirect_uri: String,
    receiver: Option<oneshot::Receiver<Outcome>>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.done.notify_waiters();
        self.task.abort();
    }
}

impl Listener {
    /// Binds the loopback address of `redirect_uri` (port 0 with `any_port`) and starts serving.
    pub async fn bind(
        redirect_uri: &url::Url,
        state: &str,
        any_port: bool,
    ) -> Result<Listener, StepError> {
        let ip: std::net::IpAddr = match redirect_uri.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => ip.into(),
            Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
                std::net::Ipv4Addr::LOCALHOST.into()
            }
            _ => {
                return Err(StepError::Invalid {
                    message: format!("the redirect URI {redirect_uri} is not on this machine, so dmflow cannot receive the callback"),
                    pos: None,
                    help: Some("use a loopback redirect URI such as http://127.0.0.1:8080/callback (and register it with your API key), or run with --no-browser and paste the redirected URL".into()),
                });
            }
        };
        if redirect_uri.scheme() != "http" {
            return Err(StepError::Invalid {
                message: format!(
                    "the redirect URI {redirect_uri} must use http:// (a loopback listener has no certificate)"
                ),
                pos: None,
                help: None,
            });
        }
        let port = if any_port {
            0
        } else {
            redirect_uri.port_or_known_default().unwrap_or(80)
        };
        let socket = tokio::net::TcpListener::bind((ip, port)).await.map_err(|e| {
            let (message, help) = if e.kind() == std::io::ErrorKind::AddrInUse {
                (
                    format!("cannot listen for the callback on {ip}:{port}: the port is already in use"),
                    format!("another program (or another dmflow) holds port {port}; stop it, or register another redirect URI with your API key and set it as oauth.redirect_uri"),
                )
            } else {
                (
                    format!("cannot listen for the callback on {ip}:{port}: {e}"),
                    "ports below 1024 need privileges; choose a higher port in the redirect URI".to_string(),
                )
            };
            StepError::Runtime { message, help: Some(help) }
        })?;
        let addr = socket.local_addr().map_err(|e| StepError::Runtime {
            message: e.to_string(),
            help: None,
        })?;
        let mut uri = redirect_uri.clone();
        if any_port {
            let _ = uri.set_port(Some(addr.port()));
        }
        let path = if uri.path().is_empty() {
            "/".to_string()
        } else {
            uri.path().to_string()
        };
        let (sender, receiver) = oneshot::channel();
        let shared = Arc::new(Shared {
            path,
            state: state.to_string(),
            port: addr.port(),
            sender: Mutex::new(Some(sender)),
            done: Notify::new(),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let stop = shared.clone();
        let task = tokio::spawn(async move {
            let shutdown = async move { stop.done.notified().await };
            let _ = axum::serve(socket, router)
                .with_graceful_shutdown(shutdown)
                .await;
        });
        Ok(Listener {
            addr,
            redirect_uri: uri.to_string(),
            receiver: Some(receiver),
            shared,
            task,
        })
    }

    /// Waits for the first callback with the right state (or a state problem).
    pub async fn wait(&mut self) -> Option<Outcome> {
        let receiver = self.receiver.take()?;
        receiver.await.ok()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if uri.path() != shared.path {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This address only answers the sign-in callback.",
        );
    }
    if method != Method::GET {
        let mut response = page(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            "The sign-in callback only accepts GET.",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    if !host_is_loopback(&headers, shared.port) {
        return page(
            StatusCode::BAD_REQUEST,
            "Wrong host",
            "The callback must be reached through the loopback address.",
        );
    }
    let outcome = classify_query(uri.query().unwrap_or(""), &shared.state);
    let sender = shared
        .sender
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    let Some(sender) = sender else {
        return page(
            StatusCode::GONE,
            "Already done",
            "This sign-in has already completed. You can close this tab.",
        );
    };
    let response = match &outcome {
        Outcome::Code(_) => page(
            StatusCode::OK,
            "Signed in",
            "dmflow received the authorization. You can close this tab and return to the terminal.",
        ),
        Outcome::ProviderError { error, description } => page(
            StatusCode::OK,
            "Sign-in refused",
            &format!(
                "The provider answered {error}{}. Return to the terminal.",
                description
                    .as_ref()
                    .map(|d| format!(": {}", d.trim_end_matches('.')))
                    .unwrap_or_default()
            ),
        ),
        Outcome::StateMismatch | Outcome::MissingState => page(
            StatusCode::BAD_REQUEST,
            "Sign-in rejected",
            "This callback does not belong to the sign-in dmflow started (the state does not match). Nothing was exchanged.",
        ),
        Outcome::Empty => page(
            StatusCode::BAD_REQUEST,
            "Nothing received",
            "The callback carried neither a code nor an error.",
        ),
    };
    let _ = sender.send(outcome);
    shared.done.notify_waiters();
    response
}

/// Decides what a callback's query string (`state=...&code=...`, form-encoded) means.
pub fn classify_query(query: &str, expected: &str) -> Outcome {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    classify(
        get("state").as_deref(),
        expected,
        get("code"),
        get("error"),
        get("error_description"),
    )
}

/// Decides what a callback means. The state is compared first, in constant time.
pub fn classify(
    state: Option<&str>,
    expected: &str,
    code: Option<String>,
    error: Option<String>,
    description: Option<String>,
) -> Outcome {
    let Some(state) = state else {
        return Outcome::MissingState;
    };
    if !same(state, expected) {
        return Outcome::StateMismatch;
    }
    if let Some(error) = error {
        return Outcome::ProviderError { error, description };
    }
    match code {
        Some(code) if !code.is_empty() => Outcome::Code(code),
        _ => Outcome::Empty,
    }
}

fn host_is_loopback(headers: &HeaderMap, port: u16) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
        || (port == 80 && ["127.0.0.1", "localhost", "[::1]"].contains(&host))
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>dmflow: {title}</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}h1{{font-size:1.4rem}}</style>\
</head><body><h1>{title}</h1><p>{}</p></body></html>",
        crate::html::escape(message),
        title = crate::html::escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Parses what a user pasted: the redirected URL (state checked) or a bare code.
pub fn parse_pasted(line: &str, expected_state: &str) -> Outcome {
    let line = line.trim();
    if line.starts_with("http://") || line.starts_with("https://") {
        let Ok(url) = url::Url::parse(line) else {
            return Outcome::Empty;
        };
        let get = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        return classify(
            get("state").as_deref(),
            expected_state,
            get("code"),
            get("error"),
            get("error_description"),
        );
    }
    if line.is_empty() {
        Outcome::Empty
    } else {
        Outcome::Code(line.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_checks_state_first() {
        assert_eq!(
            classify(None, "s", Some("c".into()), None, None),
            Outcome::MissingState
        );
        assert_eq!(
            classify(Some("x"), "s", Some("c".into()), None, None),
            Outcome::StateMismatch
        );
        assert_eq!(
            classify(Some("x"), "s", None, Some("access_denied".into()), None),
            Outcome::StateMismatch
        );
        assert_eq!(
            classify(Some("s"), "s", Some("c".into()), None, None),
            Outcome::Code("c".into())
        );
        assert_eq!(
            classify(
                Some("s"),
                "s",
                None,
                Some("access_denied".into()),
                Some("no".into())
            ),
            Outcome::ProviderError {
                error: "access_denied".into(),
                description: Some("no".into())
            }
        );
        assert_eq!(classify(Some("s"), "s", None, None, None), Outcome::Empty);
    }

    #[test]
    fn pasted_urls_and_codes() {
        assert_eq!(
            parse_pasted("http://127.0.0.1:8080/callback?code=abc&state=s", "s"),
            Outcome::Code("abc".into())
        );
        assert_eq!(
            parse_pasted("http://127.0.0.1:8080/callback?code=abc&state=t", "s"),
            Outcome::StateMismatch
        );
        assert_eq!(parse_pasted("  abc \n", "s"), Outcome::Code("abc".into()));
    }
}
