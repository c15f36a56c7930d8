//! Kept-alive HTTP/1.1 connections for the plain client ([`super::plain`]), on hyper's
//! connection API. A request takes an idle connection to its origin (or opens one) and has it
//! to itself until its response has been read to the end; the connection then waits for the
//! next request. hyper-util's pool did the same with a hashed key, a task spawned per request
//! to put the connection back, and a checkout future: a tenth of a step's instructions.
//!
//! A connection the server closed while idle gives the request back unsent (hyper's
//! `try_send_request`), and the request goes on the next connection: as the pool retried a
//! request on a connection closed before it was written.

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

type Sender = SendRequest<Full<Bytes>>;

/// A connection idle longer than this is closed rather than used (as reqwest's pools do).
const IDLE_FOR: Duration = Duration::from_secs(90);

/// Where a connection goes: a loopback host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub host: url::Host<String>,
    pub port: u16,
}

/// Why a request was not sent or got no response.
#[derive(Debug)]
pub enum SendError {
    /// No connection could be opened.
    Connect(std::io::Error),
    /// The connection failed before the response's head came.
    Http(hyper::Error),
}

/// The idle connections of a process (or of one `--jobs` worker's runtime). Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    shared: Arc<Shared>,
}

struct Shared {
    connect_timeout: Duration,
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    origin: Origin,
    sender: Sender,
    since: Instant,
}

/// A connection lent to one request; [`Lease::release`] once its response is read to the end.
pub struct Lease {
    shared: Arc<Shared>,
    origin: Origin,
    sender: Sender,
}

impl Lease {
    /// Makes the connection available to the next request to its origin.
    pub fn release(self) {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.push(Idle {
            origin: self.origin,
            sender: self.sender,
            since: Instant::now(),
        });
    }
}

impl Connections {
    pub fn new(connect_timeout: Duration) -> Connections {
        Connections {
            shared: Arc::new(Shared {
                connect_timeout,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Sends `request` (origin-form URI, `Host` set) to `origin`; its response's head, and the
    /// connection it came on.
    pub async fn send(
        &self,
        mut request: hyper::Request<Full<Bytes>>,
        origin: Origin,
    ) -> Result<(hyper::Response<hyper::body::Incoming>, Lease), SendError> {
        loop {
            let (mut sender, reused) = match self.take_idle(&origin) {
                Some(sender) => (sender, true),
                // Boxed: connecting (a name lookup among it) is rare and its future large,
                // and every step's future would otherwise carry it.
                None => (Box::pin(self.connect(&origin)).await?, false),
            };
            if reused && sender.ready().await.is_err() {
                continue; // closed while idle
            }
            match sender.try_send_request(request).await {
                Ok(response) => return Ok((response, self.lease(origin, sender))),
                Err(mut failed) => match failed.take_message() {
                    // Each idle connection is tried once; a new one is not tried again.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(SendError::Http(failed.into_error())),
                },
            }
        }
    }

    fn lease(&self, origin: Origin, sender: Sender) -> Lease {
        Lease {
            shared: self.shared.clone(),
            origin,
            sender,
        }
    }

    /// The most recently used idle connection to `origin`; those idle too long are closed.
    fn take_idle(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.shared.idle.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        idle.retain(|c| now.duration_since(c.since) < IDLE_FOR && !c.sender.is_closed());
        let at = idle.iter().rposition(|c| c.origin == *origin)?;
        Some(idle.swap_remove(at).sender)
    }

    /// A new connection, driven by a task of the current runtime.
    async fn connect(&self, origin: &Origin) -> Result<Sender, SendError> {
        let connecting = async {
            match &origin.host {
                url::Host::Ipv4(ip) => {
                    TcpStream::connect(SocketAddr::from((*ip, origin.port))).await
                }
                url::Host::Ipv6(ip) => {
                    TcpStream::connect(SocketAddr::from((*ip, origin.port))).await
                }
                url::Host::Domain(name) => TcpStream::connect((name.as_str(), origin.port)).await,
            }
        };
        let stream = tokio::time::timeout(self.shared.connect_timeout, connecting)
            .await
            .map_err(|_| {
                SendError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                ))
            })?
            .map_err(SendError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}
