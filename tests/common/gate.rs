//! A loopback HTTP server whose answers a test holds back: each request is announced to the
//! test, and answered only when the test releases it. For the moments between a request and
//! its answer (a token request in flight when a signal comes, a slow step while another
//! process runs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// A request as the gate saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
}

impl Request {
    /// A field of a form body.
    pub fn form(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

/// An answer: status and JSON body.
pub type Answer = (u16, String);

pub struct Gate {
    pub url: String,
    arrived: Receiver<Request>,
    release: Sender<()>,
}

impl Gate {
    /// Serves on a free port; `answer` makes each answer, once the test releases it.
    pub fn start(answer: impl FnMut(&Request) -> Answer + Send + 'static) -> Gate {
        Gate::serving(answer, true)
    }

    /// Serves on a free port, answering at once (requests are still announced).
    pub fn open(answer: impl FnMut(&Request) -> Answer + Send + 'static) -> Gate {
        Gate::serving(answer, false)
    }

    fn serving(answer: impl FnMut(&Request) -> Answer + Send + 'static, hold: bool) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (arrived_tx, arrived) = channel();
        let (release, release_rx) = channel();
        std::thread::spawn(move || serve(listener, answer, arrived_tx, release_rx, hold));
        Gate {
            url,
            arrived,
            release,
        }
    }

    /// Waits for the next request (at most a minute).
    pub fn next(&self) -> Request {
        self.arrived
            .recv_timeout(Duration::from_secs(60))
            .expect("a request reached the gate")
    }

    /// Lets the oldest held request be answered.
    pub fn release(&self) {
        let _ = self.release.send(());
    }

    /// Whether a request came within `wait`.
    pub fn try_next(&self, wait: Duration) -> Option<Request> {
        self.arrived.recv_timeout(wait).ok()
    }
}

fn serve(
    listener: TcpListener,
    mut answer: impl FnMut(&Request) -> Answer,
    arrived: Sender<Request>,
    release: Receiver<()>,
    hold: bool,
) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Some(request) = read_request(&mut stream) else {
            continue;
        };
        let _ = arrived.send(request.clone());
        if hold && release.recv_timeout(Duration::from_secs(60)).is_err() {
            return;
        }
        let (status, body) = answer(&request);
        let _ = write!(
            stream,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The answers of a token endpoint that rotates refresh tokens: each `rt-…` token works once,
/// and the n-th refresh returns `at-n-…` and `rt-n-…`; a spent or unknown one gets
/// `invalid_grant`.
pub fn rotating() -> impl FnMut(&Request) -> Answer + Send + 'static {
    let mut spent = std::collections::HashSet::new();
    let mut issued = 0;
    move |request| {
        let token = request.form("refresh_token").unwrap_or_default();
        if !token.starts_with("rt-") || !spent.insert(token) {
            return (
                400,
                r#"{"error": "invalid_grant", "error_description": "Invalid refresh token."}"#
                    .into(),
            );
        }
        issued += 1;
        (
            200,
            format!(
                r#"{{"access_token": "at-{issued}-0123456789", "refresh_token": "rt-{issued}-0123456789", "expires_in": 3600, "token_type": "Bearer"}}"#
            ),
        )
    }
}
