//! A response on its way in, from either client (reqwest, or hyper's for plain loopback HTTP):
//! its head, its body read into memory under a cap or streamed to a file, the request's
//! timeout running until the last byte, and failures put in words a user can act on.

use super::body::Transfer;
use super::keepalive::{Lease, SendError};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Sleep;
use url::Url;

/// A response whose body is still to be read.
pub enum Incoming {
    Reqwest(reqwest::Response),
    /// From the plain client, with the request's deadline and the connection, lent until
    /// the body's end.
    Plain {
        head: hyper::http::response::Parts,
        body: hyper::body::Incoming,
        deadline: Pin<Box<Sleep>>,
        lease: Option<Lease>,
    },
}

/// What went wrong, from either client.
pub enum Failure {
    Reqwest(reqwest::Error),
    Connect(std::io::Error),
    Send(hyper::Error),
    Read(hyper::Error),
    TimedOut,
    /// The body is larger than the cap on bodies kept in memory.
    TooLarge(u64),
    /// A problem on this machine (the file a body is saved to), already in words.
    Local(String),
}

impl Incoming {
    /// Waits for the head of the plain client's response, within `timeout`; the rest of the
    /// timeout is left for the body.
    pub async fn plain(
        sending: impl Future<
            Output = Result<(hyper::Response<hyper::body::Incoming>, Lease), SendError>,
        >,
        timeout: Duration,
    ) -> Result<Incoming, Failure> {
        let mut deadline = Box::pin(tokio::time::sleep(timeout));
        let (response, lease) = tokio::select! {
            biased;
            sent = sending => sent.map_err(|e| match e {
                SendError::Connect(e) => Failure::Connect(e),
                SendError::Http(e) => Failure::Send(e),
            })?,
            () = &mut deadline => return Err(Failure::TimedOut),
        };
        let (head, body) = response.into_parts();
        Ok(Incoming::Plain {
            head,
            body,
            deadline,
            lease: Some(lease),
        })
    }

    pub fn status(&self) -> u16 {
        match self {
            Incoming::Reqwest(response) => response.status().as_u16(),
            Incoming::Plain { head, .. } => head.status.as_u16(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Incoming::Reqwest(response) => response.headers(),
            Incoming::Plain { head, .. } => &head.headers,
        }
    }

    /// The body's length when the server announced it.
    pub fn content_length(&self) -> Option<u64> {
        match self {
            Incoming::Reqwest(response) => response.content_length(),
            Incoming::Plain { body, .. } => hyper::body::Body::size_hint(body).exact(),
        }
    }

    /// The next piece of the body; `None` at its end.
    async fn chunk(&mut self) -> Result<Option<Bytes>, Failure> {
        match self {
            Incoming::Reqwest(response) => response.chunk().await.map_err(Failure::Reqwest),
            Incoming::Plain {
                body,
                deadline,
                lease,
                ..
            } => loop {
                let frame = tokio::select! {
                    biased;
                    frame = body.frame() => frame,
                    () = deadline.as_mut() => return Err(Failure::TimedOut),
                };
                match frame {
                    None => {
                        // Read to the end: the connection can take the next request.
                        if let Some(lease) = lease.take() {
                            lease.release();
                        }
                        return Ok(None);
                    }
                    Some(Err(e)) => return Err(Failure::Read(e)),
                    // Trailers carry no body bytes.
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            },
        }
    }

    /// Reads the body into memory, refusing one larger than `limit`.
    pub async fn read_capped(
        &mut self,
        limit: u64,
        transfer: Option<&Arc<Transfer>>,
    ) -> Result<String, Failure> {
        let announced = self.content_length().unwrap_or(0);
        if announced > limit {
            return Err(Failure::TooLarge(limit));
        }
        // Sized once from Content-Length: no doubling reallocations, whose copies briefly hold
        // a large body two and three times over.
        let mut bytes = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
        while let Some(chunk) = self.chunk().await? {
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                return Err(Failure::TooLarge(limit));
            }
            count_received(transfer, &chunk);
            bytes.extend_from_slice(&chunk);
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Streams the body to a file: written beside it first, then renamed, so a failed
    /// download never leaves a partial file under the name.
    pub async fn download(
        &mut self,
        path: &std::path::Path,
        transfer: Option<&Arc<Transfer>>,
    ) -> Result<u64, Failure> {
        use tokio::io::AsyncWriteExt;
        let cannot =
            |e: std::io::Error| Failure::Local(format!("cannot write {}: {e}", path.display()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await.map_err(cannot)?;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.{}.part", std::process::id()));
        let result = async {
            let mut file = tokio::fs::File::create(&temp).await.map_err(cannot)?;
            let mut written = 0u64;
            while let Some(chunk) = self.chunk().await? {
                file.write_all(&chunk).await.map_err(cannot)?;
                written += chunk.len() as u64;
                count_received(transfer, &chunk);
            }
            file.flush().await.map_err(cannot)?;
            file.sync_all().await.map_err(cannot)?;
            drop(file);
            tokio::fs::rename(&temp, path).await.map_err(cannot)?;
            Ok(written)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result
    }
}

/// Adds a piece of the body to the bytes received, for progress.
fn count_received(transfer: Option<&Arc<Transfer>>, chunk: &Bytes) {
    if let Some(transfer) = transfer {
        transfer
            .received
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

impl Failure {
    /// The failure in words a user can act on, for a request of `method` to `url` (shown
    /// without its query: it may hold a secret).
    pub fn describe(self, method: &reqwest::Method, url: &Url, timeout: Duration) -> String {
        let place = without_query(url);
        let timed_out = || format!("no response within {}", super::duration::show(timeout));
        let what = match &self {
            Failure::TooLarge(limit) => return too_large(*limit),
            Failure::Local(message) => return message.clone(),
            Failure::Reqwest(err) => {
                if let Some(tls) = super::tls::explain(err) {
                    return format!("{method} {place}: {tls}");
                }
                if err.is_timeout() {
                    timed_out()
                } else if err.is_connect() {
                    CANNOT_CONNECT.into()
                } else if err.is_body() || err.is_decode() {
                    UNREADABLE_BODY.into()
                } else {
                    FAILED.into()
                }
            }
            Failure::Connect(_) => CANNOT_CONNECT.into(),
            Failure::Send(_) => FAILED.into(),
            Failure::Read(_) => UNREADABLE_BODY.into(),
            Failure::TimedOut => timed_out(),
        };
        let cause = self.cause();
        if cause.is_empty() {
            format!("{what}: {method} {place}")
        } else {
            format!("{what}: {method} {place} ({cause})")
        }
    }

    /// The innermost error under the client's own (the same for both clients: reqwest wraps
    /// the errors of the hyper client it drives).
    fn cause(&self) -> String {
        let mut source: Option<&(dyn std::error::Error + 'static)> = match self {
            Failure::Reqwest(err) => std::error::Error::source(err),
            Failure::Connect(err) => Some(err),
            Failure::Send(err) => Some(err),
            Failure::Read(err) => Some(err),
            Failure::TimedOut => return "operation timed out".into(),
            Failure::TooLarge(_) | Failure::Local(_) => return String::new(),
        };
        let mut cause = String::new();
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        cause
    }
}

/// The URL without its query (which may hold a secret), for messages.
pub(super) fn without_query(url: &Url) -> Url {
    let mut place = url.clone();
    place.set_query(None);
    place
}

const CANNOT_CONNECT: &str = "cannot connect";
const UNREADABLE_BODY: &str = "the response body could not be read";
const FAILED: &str = "the request failed";

fn too_large(limit: u64) -> String {
    format!(
        "the response body is larger than {}, the most kept in memory: save it to a file with `save_body_to:`, or raise the limit with --limit response-body=SIZE",
        crate::limits::show_size(limit)
    )
}
