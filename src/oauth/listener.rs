//! The loopback callback: a small HTTP server on 127.0.0.1 or [::1] at the port and path of
//! the redirect URI.
//!
//! The server checks the Host header (DNS rebinding), serves only GET on the callback path,
//! compares `state` in constant time before anything else, and answers with a small
//! self-contained page (`no-store`, `no-referrer`, no external assets). A request with a wrong
//! or missing state (any local web page can send one) gets an error page and is reported as
//! [`Event::Refused`], and the wait goes on: only the callback that carries the right state
//! ends it, and only then does `error=` count. A flood costs little: a few connections at once,
//! each with a deadline, no keep-alive, and refusals counted rather than queued. With
//! `--no-browser` on a terminal, the user may paste the redirected URL (or the bare code)
//! instead.

use super::pkce::same;
use crate::run::error::StepError;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 16;
/// How long one connection may take, from accept to the end of the answer.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);
/// Refusals queued for the waiting step; past that they are only counted.
const QUEUED_REFUSALS: usize = 8;

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

/// What the listener reports while the sign-in is pending.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The callback of this sign-in (it carried the right state): the wait is over.
    Callback(Outcome),
    /// A request refused without ending the wait, and how many have been refused so far.
    Refused { reason: Refusal, count: u64 },
}

/// Why a request to the callback was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    WrongState,
    MissingState,
    WrongHost,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::WrongState => {
                "its state is not the one dmflow sent (a stale tab, or a forged request)"
            }
            Refusal::MissingState => "it carries no state (not a callback of this sign-in)",
            Refusal::WrongHost => {
                "it came through another host name than the loopback address (DNS rebinding?)"
            }
        }
    }
}

struct Shared {
    path: String,
    state: String,
    port: u16,
    sender: Mutex<Option<oneshot::Sender<Outcome>>>,
    refusals: mpsc::Sender<Event>,
    refused: AtomicU64,
}

impl Shared {
    /// Counts a refusal and tells the waiting step, unless it has not kept up.
    fn refuse(&self, reason: Refusal) {
        let count = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let _ = self.refusals.try_send(Event::Refused { reason, count });
    }
}

/// A bound, running callback server.
pub struct Listener {
    pub addr: SocketAddr,
    /// The redirect URI as sent (with the real port when the port was chosen for us).
    pub redirect_uri: String,
    receiver: Option<oneshot::Receiver<Outcome>>,
    refusals: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
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
        let (refusals_in, refusals) = mpsc::channel(QUEUED_REFUSALS);
        let shared = Arc::new(Shared {
            path,
            state: state.to_string(),
            port: addr.port(),
            sender: Mutex::new(Some(sender)),
            refusals: refusals_in,
            refused: AtomicU64::new(0),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let task = tokio::spawn(serve(socket, router));
        Ok(Listener {
            addr,
            redirect_uri: uri.to_string(),
            receiver: Some(receiver),
            refusals,
            shared,
            task,
        })
    }

    /// Waits for the next event: a refused request, or the callback of this sign-in (then
    /// `None` ever after).
    pub async fn next(&mut self) -> Option<Event> {
        let receiver = self.receiver.as_mut()?;
        tokio::select! {
            biased;
            outcome = receiver => {
                self.receiver = None;
                outcome.ok().map(Event::Callback)
            }
            Some(event) = self.refusals.recv() => Some(event),
        }
    }

    /// How many requests were refused so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }
}

/// Accepts connections, a few at a time, each served until its deadline at most.
async fn serve(socket: tokio::net::TcpListener, router: axum::Router) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(false);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = match socket.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, or a connection reset before accept: wait a little.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CONNECTION_DEADLINE, connection).await;
            drop(permit);
        });
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
        shared.refuse(Refusal::WrongHost);
        return page(
            StatusCode::BAD_REQUEST,
            "Wrong host",
            "The callback must be reached through the loopback address.",
        );
    }
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let outcome = classify(
        get("state").as_deref(),
        &shared.state,
        get("code"),
        get("error"),
        get("error_description"),
    );
    let refused = match outcome {
        Outcome::StateMismatch => Some(Refusal::WrongState),
        Outcome::MissingState => Some(Refusal::MissingState),
        _ => None,
    };
    if let Some(reason) = refused {
        shared.refuse(reason);
        return page(
            StatusCode::BAD_REQUEST,
            "Sign-in rejected",
            "This request does not belong to the sign-in dmflow started (the state does not match). Nothing was exchanged, and dmflow is still waiting for the real callback.",
        );
    }
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
        Outcome::StateMismatch | Outcome::MissingState | Outcome::Empty => page(
            StatusCode::BAD_REQUEST,
            "Nothing received",
            "The callback carried neither a code nor an error.",
        ),
    };
    let _ = sender.send(outcome);
    response
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
