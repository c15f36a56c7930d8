//! Sending requests. One [`Client`] per process (its connection pools serve every step, flow,
//! repetition and job); one [`Session`] per flow run, with the run's cookie jar, the `--mock`
//! host rewrite and the journal of round trips. Redirects are followed here, hop by hop, so
//! cookies set on the way are kept and every hop is in the journal. Loopback traffic never
//! goes through a proxy.

use super::body::{Body, Transfer};
use super::cookies::Jar;
use super::exchange::{Exchange, RequestRecord, ResponseRecord};
use super::incoming::{Failure, Incoming};
use super::plain::{self, PlainClient};
use reqwest::header::HeaderValue;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use url::Url;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 10;

/// A request ready to send: everything rendered.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
    pub timeout: Duration,
    pub follow_redirects: bool,
    /// Stream a successful response's body to this file instead of keeping it.
    pub save_to: Option<std::path::PathBuf>,
    /// Counts the bytes sent and received, for progress.
    pub transfer: Option<Arc<Transfer>>,
}

impl Prepared {
    pub fn new(method: reqwest::Method, url: Url) -> Prepared {
        Prepared {
            method,
            url,
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
            follow_redirects: true,
            save_to: None,
            transfer: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Prepared {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The bearer token the request carries, if any.
    pub fn bearer(&self) -> Option<&str> {
        self.headers.iter().find_map(|(k, v)| {
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.strip_prefix("Bearer "))
                .flatten()
        })
    }
}

/// Sends requests for the original hosts to another base URL (the emulator under `--mock`).
#[derive(Debug, Clone)]
pub struct HostRewrite {
    pub hosts: Vec<String>,
    pub target: Url,
}

impl HostRewrite {
    pub fn apply(&self, url: &Url) -> Option<Url> {
        let host = url.host_str()?;
        if !self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return None;
        }
        let mut out = self.target.clone();
        out.set_path(url.path());
        out.set_query(url.query());
        Some(out)
    }
}

/// A failure to get any response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct NetError(pub String);

/// How the process's HTTP clients reach servers (the command line's TLS and proxy options).
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    /// Send everything that is not loopback through this proxy (`--proxy`); by default the
    /// environment's proxies (`HTTPS_PROXY`, `NO_PROXY`...) are used.
    pub proxy: Option<String>,
    /// Trust the certificates of this PEM file besides the system's (`--cacert`).
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate (`--insecure`).
    pub insecure: bool,
    /// The largest response body kept in memory (default [`DEFAULT_MAX_BODY`]); a larger one
    /// is an error unless the step saves it to a file.
    pub max_body: Option<u64>,
}

/// The largest response body kept in memory unless told otherwise: 64 MiB.
pub const DEFAULT_MAX_BODY: u64 = 64 * 1024 * 1024;

/// The HTTP clients of the process: one through the proxies, one direct (for loopback), and
/// hyper's own for plain `http://` on loopback ([`plain`]), each built the first time it is
/// needed. Cheap to clone.
#[derive(Clone, Default)]
pub struct Client {
    config: Arc<ClientConfig>,
    proxied: Arc<OnceLock<reqwest::Client>>,
    direct: Arc<OnceLock<reqwest::Client>>,
    plain: Arc<OnceLock<PlainClient>>,
}

impl Client {
    pub fn new() -> Client {
        Client::default()
    }

    pub fn with_config(config: ClientConfig) -> Client {
        Client {
            config: Arc::new(config),
            ..Client::default()
        }
    }

    /// A client with the same settings and connection pools of its own, for another thread's
    /// runtime (a connection is driven by the runtime that opened it).
    pub fn with_own_pools(&self) -> Client {
        Client {
            config: self.config.clone(),
            ..Client::default()
        }
    }

    fn plain(&self) -> &PlainClient {
        self.plain.get_or_init(|| plain::client(CONNECT_TIMEOUT))
    }

    fn get(&self, direct: bool) -> Result<&reqwest::Client, NetError> {
        let cell = if direct { &self.direct } else { &self.proxied };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(plain::USER_AGENT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // dmflow retries as the flow says (`retry:`); reqwest's own policy (HTTP/2 NACKs)
            // would copy every request in case it has to send it again.
            .retry(reqwest::retry::never().max_retries_per_request(0));
        let config = &self.config;
        if direct {
            builder = builder.no_proxy();
        } else if let Some(proxy) = &config.proxy {
            let proxy = reqwest::Proxy::all(proxy)
                .map_err(|e| NetError(format!("--proxy {proxy}: {e}")))?;
            builder = builder.proxy(proxy);
        }
        if let Some(file) = &config.ca_file {
            let pem = std::fs::read(file)
                .map_err(|e| NetError(format!("cannot read {}: {e}", file.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                NetError(format!("{} holds no PEM certificate: {e}", file.display()))
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        if config.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else if config.ca_file.is_none() {
            let tls = super::tls::lazy_platform_config()
                .map_err(|e| NetError(format!("cannot set up TLS: {e}")))?;
            builder = builder.tls_backend_preconfigured(tls);
        }
        let client = builder
            .build()
            .map_err(|e| NetError(format!("cannot set up the HTTP client: {e}")))?;
        Ok(cell.get_or_init(|| client))
    }
}

/// A request after a redirect.
struct Hop {
    method: reqwest::Method,
    url: Url,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

/// The HTTP side of one flow run.
pub struct Session {
    client: Client,
    jar: Jar,
    rewrite: Option<HostRewrite>,
    /// Every round trip since the last [`Session::take_journal`], in order: a step's report
    /// shows all its requests, including those before an error.
    journal: Mutex<Vec<Arc<Exchange>>>,
}

impl Session {
    pub fn new(client: Client, rewrite: Option<HostRewrite>) -> Session {
        Session {
            client,
            jar: Jar::default(),
            rewrite,
            journal: Mutex::new(Vec::new()),
        }
    }

    /// The round trips made since the last call.
    pub fn take_journal(&self) -> Vec<Arc<Exchange>> {
        std::mem::take(&mut *self.journal.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The URL a request really goes to (after the `--mock` rewrite).
    pub fn target(&self, url: &Url) -> Url {
        self.rewrite
            .as_ref()
            .and_then(|r| r.apply(url))
            .unwrap_or_else(|| url.clone())
    }

    /// Sends a request (following redirects when it says so) and reads the whole response.
    /// The request is copied only when a redirect changes it.
    pub async fn send(&self, prepared: &Prepared) -> Result<Arc<Exchange>, NetError> {
        let mut hop: Option<Hop> = None;
        for count in 0..=MAX_REDIRECTS {
            let (method, url, headers, body) = match &hop {
                Some(h) => (&h.method, &h.url, h.headers.as_slice(), h.body.as_ref()),
                None => (
                    &prepared.method,
                    &prepared.url,
                    prepared.headers.as_slice(),
                    prepared.body.as_ref(),
                ),
            };
            let exchange = self.send_once(method, url, headers, body, prepared).await?;
            let status = exchange.response.status;
            let location = exchange.response.header("location");
            let (true, Some(location)) = (
                prepared.follow_redirects && matches!(status, 301 | 302 | 303 | 307 | 308),
                location,
            ) else {
                return Ok(exchange);
            };
            if count == MAX_REDIRECTS {
                break;
            }
            let next = url
                .join(location)
                .map_err(|e| NetError(format!("the server redirected to an invalid URL: {e}")))?;
            let mut following = Hop {
                method: method.clone(),
                url: next,
                headers: headers.to_vec(),
                body: body.cloned(),
            };
            if status == 303 || (matches!(status, 301 | 302) && *method == reqwest::Method::POST) {
                following.method = reqwest::Method::GET;
                following.body = None;
                following
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            }
            if following.url.origin() != url.origin() {
                following
                    .headers
                    .retain(|(k, _)| !k.eq_ignore_ascii_case("authorization"));
            }
            hop = Some(following);
        }
        Err(NetError(format!(
            "too many redirects (more than {MAX_REDIRECTS}): {} {}",
            prepared.method,
            super::incoming::without_query(&prepared.url)
        )))
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        url: &Url,
        headers: &[(String, String)],
        body: Option<&Body>,
        prepared: &Prepared,
    ) -> Result<Arc<Exchange>, NetError> {
        let target = self.target(url);
        let mut record = RequestRecord {
            method: method.as_str().to_owned(),
            url: url.as_str().to_owned(),
            headers: headers.to_vec(),
            body: None,
            summary: None,
        };
        let mut extra = Vec::new();
        if let Some(cookies) = self.jar.header(&target) {
            extra.push((reqwest::header::COOKIE, cookies));
        }
        if let Some(body) = body {
            if let Some(content_type) = body.content_type()
                && !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                let value = HeaderValue::from_str(content_type)
                    .map_err(|e| NetError(format!("invalid content type `{content_type}`: {e}")))?;
                extra.push((reqwest::header::CONTENT_TYPE, value));
                record
                    .headers
                    .push(("content-type".into(), content_type.into()));
            }
            (record.body, record.summary) = body.record();
            if let Some(transfer) = &prepared.transfer {
                transfer.to_send.store(body.len(), Ordering::Relaxed);
            }
        }
        let fail = |e: Failure| NetError(e.describe(method, url, prepared.timeout));
        let started = Instant::now();
        let loopback = is_loopback(&target);
        let plain = plain::suits(&target, loopback, body)
            .then(|| plain::request(method, &target, headers, &extra, body))
            .flatten();
        let mut response = match plain {
            Some((request, origin)) => {
                let client = self.client.plain();
                Incoming::plain(client.send(request, origin), prepared.timeout)
                    .await
                    .map_err(fail)?
            }
            None => {
                let client = self.client.get(loopback)?;
                let mut request = client
                    .request(method.clone(), target.clone())
                    .timeout(prepared.timeout);
                for (name, value) in headers {
                    request = request.header(name.as_str(), value.as_str());
                }
                for (name, value) in extra {
                    request = request.header(name, value);
                }
                if let Some(body) = body {
                    request = body
                        .apply(request, prepared.transfer.as_ref())
                        .await
                        .map_err(|e| NetError(e.to_string()))?;
                }
                Incoming::Reqwest(
                    request
                        .send()
                        .await
                        .map_err(|e| fail(Failure::Reqwest(e)))?,
                )
            }
        };
        let status = response.status();
        self.jar.store(
            response
                .headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter(),
            &target,
        );
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                let value = match v.to_str() {
                    Ok(text) => text.to_owned(),
                    Err(_) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
                };
                (k.as_str().to_owned(), value)
            })
            .collect();
        if let (Some(transfer), Some(length)) = (&prepared.transfer, response.content_length()) {
            transfer.to_receive.store(length, Ordering::Relaxed);
        }
        let saving = prepared
            .save_to
            .as_ref()
            .filter(|_| (200..300).contains(&status));
        let transfer = prepared.transfer.as_ref();
        let (body, saved_to) = match saving {
            Some(path) => {
                let written = response.download(path, transfer).await.map_err(fail)?;
                (String::new(), Some((path.clone(), written)))
            }
            None => {
                let limit = self.client.config.max_body.unwrap_or(DEFAULT_MAX_BODY);
                (
                    response.read_capped(limit, transfer).await.map_err(fail)?,
                    None,
                )
            }
        };
        let elapsed = started.elapsed();
        let mut response = ResponseRecord::from_parts(status, headers, body, elapsed);
        response.saved_to = saved_to;
        let exchange = Arc::new(Exchange {
            request: record,
            response,
        });
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(exchange.clone());
        Ok(exchange)
    }
}

/// Parses a rendered URL, pointing at the template on failure.
pub fn parse_url(
    rendered: &str,
    pos: crate::diagnostic::Pos,
) -> Result<url::Url, super::error::StepError> {
    check_url_text(rendered).map_err(|(message, help)| super::error::StepError::Invalid {
        message,
        pos: Some(pos),
        help: Some(help.into()),
    })
}

pub fn check_url_text(text: &str) -> Result<url::Url, (String, &'static str)> {
    let url = super::url_parse::parse(text.trim()).map_err(|e| {
        (
            format!("invalid URL `{text}`: {e}"),
            "a URL starts with http:// or https://",
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err((
            format!("unsupported URL scheme `{}`", url.scheme()),
            "dmflow speaks http:// and https://",
        ));
    }
    Ok(url)
}

/// Whether a URL points at this machine (such traffic never goes through a proxy).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests;
