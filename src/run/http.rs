//! Sending requests: one reqwest stack per run, a cookie jar shared by every step, proxies
//! from the environment except for loopback, and the `--mock` host rewrite.

use super::exchange::{Exchange, RequestRecord, ResponseRecord};
use reqwest::cookie::Jar;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The body of a prepared request.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
    Raw(String),
}

/// A request ready to send: everything rendered.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub method: reqwest::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub timeout: Duration,
    pub follow_redirects: bool,
}

impl Prepared {
    pub fn new(method: reqwest::Method, url: Url) -> Prepared {
        Prepared {
            method,
            url,
            headers: Vec::new(),
            body: Body::None,
            timeout: DEFAULT_TIMEOUT,
            follow_redirects: true,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Prepared {
        self.headers.push((name.to_string(), value.into()));
        self
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
#[derive(Debug, Clone)]
pub struct NetError(pub String);

/// The HTTP stack of one run.
pub struct Http {
    jar: Arc<Jar>,
    clients: Mutex<HashMap<(bool, bool), reqwest::Client>>,
    rewrite: Option<HostRewrite>,
    /// Every round trip since the last [`Http::take_journal`], in order: a step's report shows
    /// all its requests, including those before an error.
    journal: Mutex<Vec<Exchange>>,
}

impl Http {
    pub fn new(rewrite: Option<HostRewrite>) -> Http {
        Http {
            jar: Arc::new(Jar::default()),
            clients: Mutex::new(HashMap::new()),
            rewrite,
            journal: Mutex::new(Vec::new()),
        }
    }

    /// The round trips made since the last call.
    pub fn take_journal(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.journal.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The URL a request really goes to (after the `--mock` rewrite).
    pub fn target(&self, url: &Url) -> Url {
        self.rewrite
            .as_ref()
            .and_then(|r| r.apply(url))
            .unwrap_or_else(|| url.clone())
    }

    fn client(&self, follow: bool, direct: bool) -> Result<reqwest::Client, NetError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&(follow, direct)) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .cookie_provider(self.jar.clone())
            .user_agent(concat!("dmflow/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .redirect(if follow {
                reqwest::redirect::Policy::limited(10)
            } else {
                reqwest::redirect::Policy::none()
            });
        if direct {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| NetError(format!("cannot set up the HTTP client: {e}")))?;
        clients.insert((follow, direct), client.clone());
        Ok(client)
    }

    /// Sends a request and reads the whole response.
    pub async fn send(&self, prepared: Prepared) -> Result<Exchange, NetError> {
        let target = self.target(&prepared.url);
        let client = self.client(prepared.follow_redirects, is_loopback(&target))?;
        let mut record = RequestRecord {
            method: prepared.method.to_string(),
            url: prepared.url.to_string(),
            headers: prepared.headers.clone(),
            body: None,
        };
        let mut request = client
            .request(prepared.method.clone(), target.clone())
            .timeout(prepared.timeout);
        for (name, value) in &prepared.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match &prepared.body {
            Body::None => {}
            Body::Json(value) => {
                record.body = Some(value.to_string());
                if !has_header(&prepared.headers, "content-type") {
                    record
                        .headers
                        .push(("content-type".into(), "application/json".into()));
                }
                request = request.json(value);
            }
            Body::Form(fields) => {
                let encoded = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(fields)
                    .finish();
                record.body = Some(encoded);
                if !has_header(&prepared.headers, "content-type") {
                    record.headers.push((
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                request = request.form(fields);
            }
            Body::Raw(text) => {
                record.body = Some(text.clone());
                request = request.body(text.clone());
            }
        }
        let started = Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| NetError(describe(&e, &prepared)))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| NetError(describe(&e, &prepared)))?;
        let elapsed = started.elapsed();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let exchange = Exchange {
            request: record,
            response: ResponseRecord::from_parts(status, headers, body, elapsed),
        };
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(exchange.clone());
        Ok(exchange)
    }
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
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

/// A network error in words a user can act on (no URL query: it may hold a secret).
fn describe(err: &reqwest::Error, prepared: &Prepared) -> String {
    let mut place = prepared.url.clone();
    place.set_query(None);
    let what = if err.is_timeout() {
        format!(
            "no response within {}",
            super::report_duration(prepared.timeout)
        )
    } else if err.is_connect() {
        "cannot connect".to_string()
    } else if err.is_redirect() {
        "too many redirects".to_string()
    } else if err.is_body() || err.is_decode() {
        "the response body could not be read".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        format!("{what}: {} {place}", prepared.method)
    } else {
        format!("{what}: {} {place} ({cause})", prepared.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback(&Url::parse("http://127.0.0.1:8080/x").unwrap()));
        assert!(is_loopback(&Url::parse("http://[::1]/").unwrap()));
        assert!(is_loopback(&Url::parse("http://LOCALHOST/").unwrap()));
        assert!(!is_loopback(
            &Url::parse("https://api.dailymotion.com/").unwrap()
        ));
    }

    #[test]
    fn rewrite_keeps_path_and_query() {
        let rewrite = HostRewrite {
            hosts: vec!["api.dailymotion.com".into()],
            target: Url::parse("http://127.0.0.1:5555").unwrap(),
        };
        let out = rewrite
            .apply(&Url::parse("https://api.dailymotion.com/me?fields=id").unwrap())
            .unwrap();
        assert_eq!(out.as_str(), "http://127.0.0.1:5555/me?fields=id");
        assert!(
            rewrite
                .apply(&Url::parse("https://example.com/").unwrap())
                .is_none()
        );
    }
}
