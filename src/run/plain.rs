//! Plain `http://` to this machine's own servers (the emulator, a local API) on hyper's
//! HTTP/1.1 connections directly ([`super::keepalive`]). Such a request needs nothing of what
//! reqwest adds around hyper (proxies, TLS, a redirect layer that parses the URL again even
//! with redirects off, a second parse of the response's URL): skipping it saves a fifth of the
//! instructions of a step. Everything else (https, other hosts, files and multipart forms
//! streamed from disk) goes through reqwest. Both clients send the same headers and report
//! failures in the same words.

use super::body::Body;
use super::keepalive::{Connections, Origin};
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::Duration;
use url::{Position, Url};

/// The client for loopback `http://`.
pub type PlainClient = Connections;

/// The `User-Agent` of every request that does not set its own, from either client.
pub const USER_AGENT: &str = concat!("dmflow/", env!("CARGO_PKG_VERSION"));

/// A client set up as the reqwest clients are: Nagle off, connections given up after
/// `connect_timeout`, idle ones kept 90 s.
pub fn client(connect_timeout: Duration) -> PlainClient {
    Connections::new(connect_timeout)
}

/// Whether a request to `target` (on this machine when `loopback`) with `body` can go on the
/// plain client: `http://` to a loopback host, with no body or one already in memory.
pub fn suits(target: &Url, loopback: bool, body: Option<&Body>) -> bool {
    target.scheme() == "http" && loopback && matches!(body, None | Some(Body::Bytes { .. }))
}

/// The request for hyper and where it goes; `None` when a header name or value is one the
/// HTTP crate refuses (reqwest then sends it, and reports the problem in its words). The
/// request line has the path and query (origin-form), and `Host` the URL's host and port
/// unless the request sets its own, as reqwest writes them.
pub fn request(
    method: &hyper::Method,
    target: &Url,
    headers: &[(String, String)],
    extra: &[(HeaderName, HeaderValue)],
    body: Option<&Body>,
) -> Option<(hyper::Request<Full<Bytes>>, Origin)> {
    let origin = Origin {
        host: target.host()?.to_owned(),
        port: target.port_or_known_default()?,
    };
    let uri: hyper::Uri = target[Position::BeforePath..Position::AfterQuery]
        .parse()
        .ok()?;
    // Room for the defaults and `Host` too: the map does not grow on the way.
    let mut map = HeaderMap::with_capacity(headers.len() + extra.len() + 3);
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        map.append(name, HeaderValue::from_str(value).ok()?);
    }
    for (name, value) in extra {
        map.append(name.clone(), value.clone());
    }
    // As reqwest does: the defaults come last, where the request does not set them.
    for (name, value) in [
        (hyper::header::USER_AGENT, USER_AGENT),
        (hyper::header::ACCEPT, "*/*"),
    ] {
        if let hyper::header::Entry::Vacant(slot) = map.entry(name) {
            slot.insert(HeaderValue::from_static(value));
        }
    }
    if let hyper::header::Entry::Vacant(slot) = map.entry(hyper::header::HOST) {
        slot.insert(
            HeaderValue::from_str(&target[Position::BeforeHost..Position::BeforePath]).ok()?,
        );
    }
    let bytes = match body {
        Some(Body::Bytes { bytes, .. }) => bytes.clone(),
        _ => Bytes::new(),
    };
    let mut request = hyper::Request::new(Full::new(bytes));
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri;
    *request.headers_mut() = map;
    Some((request, origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn only_loopback_http_with_bytes_in_memory_takes_the_plain_client() {
        let bytes = Body::raw("x".into());
        let file = Body::File {
            path: "a.mp4".into(),
            content_type: None,
            len: 1,
        };
        assert!(suits(&url("http://127.0.0.1:9/x"), true, None));
        assert!(suits(&url("http://localhost/x"), true, Some(&bytes)));
        assert!(!suits(&url("https://127.0.0.1/x"), true, None));
        assert!(!suits(&url("http://example.com/x"), false, None));
        assert!(!suits(&url("http://127.0.0.1/x"), true, Some(&file)));
    }

    #[test]
    fn a_request_carries_the_default_headers_unless_it_sets_them() {
        let headers = vec![
            ("Accept".to_string(), "application/json".to_string()),
            ("x-a".to_string(), "1".to_string()),
            ("X-A".to_string(), "2".to_string()),
        ];
        let extra = [(hyper::header::COOKIE, HeaderValue::from_static("s=1"))];
        let request = request(
            &hyper::Method::POST,
            &url("http://127.0.0.1:9/p?q=1"),
            &headers,
            &extra,
            Some(&Body::raw("body".into())),
        )
        .unwrap()
        .0;
        let sent = request.headers();
        let accept: Vec<_> = sent.get_all("accept").iter().collect();
        assert_eq!(accept, ["application/json"]);
        let repeated: Vec<_> = sent.get_all("x-a").iter().collect();
        assert_eq!(repeated, ["1", "2"]);
        assert_eq!(sent["user-agent"], super::USER_AGENT);
        assert_eq!(sent["cookie"], "s=1");
        assert_eq!(request.uri(), "/p?q=1");
        assert_eq!(sent["host"], "127.0.0.1:9");
        assert_eq!(request.method(), hyper::Method::POST);
    }

    #[test]
    fn a_header_the_http_crate_refuses_is_left_to_reqwest() {
        let headers = vec![("bad name".to_string(), "v".to_string())];
        let target = url("http://127.0.0.1:9/");
        assert!(request(&hyper::Method::GET, &target, &headers, &[], None).is_none());
        let headers = vec![("x".to_string(), "line\nbreak".to_string())];
        assert!(request(&hyper::Method::GET, &target, &headers, &[], None).is_none());
    }
}
