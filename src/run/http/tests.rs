//! The HTTP side checked on loopback servers: URL handling, what both clients put on the
//! wire, and every way a response can fail, in the words the user reads.

use super::*;
use std::io::{Read, Write};
use std::sync::mpsc;

#[test]
fn loopback_detection() {
    assert!(is_loopback(&Url::parse("http://127.0.0.1:8080/x").unwrap()));
    assert!(is_loopback(&Url::parse("http://[::1]/").unwrap()));
    assert!(is_loopback(&Url::parse("http://LOCALHOST/").unwrap()));
    assert!(!is_loopback(
        &Url::parse("https://api.example.org/").unwrap()
    ));
}

#[test]
fn rewrite_keeps_path_and_query() {
    let rewrite = HostRewrite {
        hosts: vec!["api.example.org".into()],
        target: Url::parse("http://127.0.0.1:5555").unwrap(),
    };
    let out = rewrite
        .apply(&Url::parse("https://api.example.org/me?fields=id").unwrap())
        .unwrap();
    assert_eq!(out.as_str(), "http://127.0.0.1:5555/me?fields=id");
    assert!(
        rewrite
            .apply(&Url::parse("https://example.com/").unwrap())
            .is_none()
    );
}

/// A loopback server for `connections` connections, one request each: it sends the
/// request's head (and body) down the channel, writes `answer` as it is, keeps the
/// connection `hold` long, and closes it. Bytes on the wire, so a test sees exactly what a
/// client sent and a client sees a broken answer as it is.
fn raw_server(
    connections: usize,
    answer: &'static [u8],
    hold: Duration,
) -> (std::net::SocketAddr, mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let complete = |seen: &[u8]| {
                let text = String::from_utf8_lossy(seen);
                let Some((head, body)) = text.split_once("\r\n\r\n") else {
                    return false;
                };
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.parse::<usize>().unwrap());
                body.len() >= length
            };
            while !complete(&seen) {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&seen).into_owned());
            let _ = stream.write_all(answer);
            std::thread::sleep(hold);
        }
    });
    (addr, rx)
}

/// The request's head without its first line, its header lines sorted.
fn header_lines(request: &str) -> Vec<String> {
    let head = request.split("\r\n\r\n").next().unwrap();
    let mut lines: Vec<String> = head.lines().skip(1).map(str::to_string).collect();
    lines.sort();
    lines
}

#[tokio::test]
async fn both_clients_put_the_same_request_on_the_wire() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let (addr, seen) = raw_server(2, OK, Duration::ZERO);
    let target = url(&format!("http://{addr}/p?q=1"));
    let headers = vec![
        ("X-Trace".to_string(), "t1".to_string()),
        ("accept".to_string(), "application/json".to_string()),
    ];
    let body = Body::json(&serde_json::json!({"a": 1}));
    let content_type = HeaderValue::from_static("application/json");
    let extra = [(hyper::header::CONTENT_TYPE, content_type.clone())];
    let (request, origin) =
        plain::request(&hyper::Method::POST, &target, &headers, &extra, Some(&body)).unwrap();
    plain::client(Duration::from_secs(5))
        .send(request, origin)
        .await
        .unwrap();
    let by_hyper = seen.recv().unwrap();
    let clients = Client::new();
    let mut through_reqwest = clients.get(true).ok().unwrap().post(target.clone());
    for (name, value) in &headers {
        through_reqwest = through_reqwest.header(name, value);
    }
    through_reqwest
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    let by_reqwest = seen.recv().unwrap();
    assert_eq!(header_lines(&by_hyper), header_lines(&by_reqwest));
    assert!(
        by_hyper.starts_with("POST /p?q=1 HTTP/1.1\r\n"),
        "{by_hyper}"
    );
    assert!(by_reqwest.starts_with("POST /p?q=1 HTTP/1.1\r\n"));
    assert!(by_hyper.ends_with("\r\n\r\n{\"a\":1}"), "{by_hyper}");
    assert!(header_lines(&by_hyper).contains(&"accept: application/json".to_string()));
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// What sending a GET to the raw server answering `answer` ends with.
async fn failure_of(answer: &'static [u8], hold: Duration, timeout: Duration) -> String {
    let (addr, _) = raw_server(1, answer, hold);
    failure_at(&format!("http://{addr}/x?key=k-secret"), timeout).await
}

async fn failure_at(url: &str, timeout: Duration) -> String {
    let session = Session::new(Client::new(), None);
    let mut prepared = Prepared::new(reqwest::Method::GET, url.parse().unwrap());
    prepared.timeout = timeout;
    match session.send(&prepared).await {
        Ok(exchange) => panic!("a response: {}", exchange.response.status),
        Err(e) => e.0,
    }
}

#[tokio::test]
async fn a_body_cut_short_is_a_body_that_could_not_be_read() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b";
    let message = failure_of(answer, Duration::ZERO, Duration::from_secs(5)).await;
    assert!(
        message.starts_with("the response body could not be read: GET http://127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains("k-secret"), "{message}");
}

#[tokio::test]
async fn the_timeout_runs_until_the_last_byte_of_the_body() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nthe rest is late";
    let message = failure_of(answer, Duration::from_secs(3), Duration::from_millis(200)).await;
    assert!(
        message.starts_with("no response within 200 ms: GET http://127.0.0.1:"),
        "{message}"
    );
    assert!(message.ends_with("/x (operation timed out)"), "{message}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let message = failure_of(b"", Duration::from_secs(3), Duration::from_millis(200)).await;
    assert!(
        message.starts_with("no response within 200 ms"),
        "{message}"
    );
}

#[tokio::test]
async fn a_port_nobody_listens_on_cannot_be_connected_to() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let message = failure_at(
        &format!("http://127.0.0.1:{port}/x"),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        message,
        format!(
            "cannot connect: GET http://127.0.0.1:{port}/x (Connection refused (os error 111))"
        )
    );
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_before_it_is_read() {
    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 100000000000\r\n\r\n";
    let message = failure_of(answer, Duration::ZERO, Duration::from_secs(5)).await;
    assert!(
        message.starts_with("the response body is larger than"),
        "{message}"
    );
}

#[tokio::test]
async fn loopback_http_goes_on_the_plain_client_and_reqwest_is_never_built() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nset-cookie: s=1\r\n\r\nok";
    let (addr, seen) = raw_server(2, OK, Duration::ZERO);
    let client = Client::new();
    let session = Session::new(client.clone(), None);
    let prepared = Prepared::new(reqwest::Method::GET, url(&format!("http://{addr}/a")));
    let exchange = session.send(&prepared).await.unwrap();
    assert_eq!(
        (exchange.response.status, exchange.response.body.as_str()),
        (200, "ok")
    );
    assert!(client.plain.get().is_some());
    assert!(client.direct.get().is_none() && client.proxied.get().is_none());
    // The cookie the server set goes back on the next request.
    session.send(&prepared).await.unwrap();
    let second = seen.iter().nth(1).unwrap();
    assert!(second.contains("\r\ncookie: s=1\r\n"), "{second}");
}

/// A loopback server that answers every request of a connection with `ok`, keeping it open,
/// until the client closes it; it sends down the channel the index of the connection each
/// request came on.
fn keep_alive_server() -> (std::net::SocketAddr, mpsc::Receiver<usize>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (index, stream) in listener.incoming().take(8).enumerate() {
            let mut stream = stream.unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let _ = tx.send(index);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).is_err() {
                            return;
                        }
                    }
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn one_connection_serves_the_steps_one_after_the_other() {
    let (addr, seen) = keep_alive_server();
    let session = Session::new(Client::new(), None);
    let prepared = Prepared::new(reqwest::Method::GET, url(&format!("http://{addr}/a")));
    for _ in 0..3 {
        let exchange = session.send(&prepared).await.unwrap();
        assert_eq!(exchange.response.body, "ok");
    }
    let connections: Vec<usize> = seen.try_iter().collect();
    assert_eq!(
        connections,
        [0, 0, 0],
        "one connection for the three requests"
    );
}

#[tokio::test]
async fn requests_at_the_same_time_each_get_a_connection_then_share_them() {
    let (addr, seen) = keep_alive_server();
    let session = Session::new(Client::new(), None);
    let prepared = Prepared::new(reqwest::Method::GET, url(&format!("http://{addr}/a")));
    let (first, second) = tokio::join!(session.send(&prepared), session.send(&prepared));
    assert_eq!(first.unwrap().response.body, "ok");
    assert_eq!(second.unwrap().response.body, "ok");
    let mut at_once: Vec<usize> = seen.try_iter().collect();
    at_once.sort_unstable();
    assert_eq!(
        at_once,
        [0, 1],
        "one connection each, neither waiting for the other"
    );
    for _ in 0..3 {
        session.send(&prepared).await.unwrap();
    }
    let after: Vec<usize> = seen.try_iter().collect();
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|c| *c < 2),
        "the two idle ones are used again: {after:?}"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced() {
    // Each connection answers one request and is closed without `Connection: close`.
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let (addr, seen) = raw_server(3, OK, Duration::ZERO);
    let session = Session::new(Client::new(), None);
    let prepared = Prepared::new(reqwest::Method::GET, url(&format!("http://{addr}/a")));
    for _ in 0..3 {
        let exchange = session.send(&prepared).await.unwrap();
        assert_eq!(exchange.response.body, "ok");
        // Let the connection see that the server closed it, as it would between two steps.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen.try_iter().count(), 3);
}

#[tokio::test]
async fn a_header_hyper_refuses_goes_through_reqwest_and_fails_in_its_words() {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    let (addr, seen) = raw_server(1, OK, Duration::ZERO);
    let session = Session::new(Client::new(), None);
    let prepared = Prepared::new(reqwest::Method::GET, url(&format!("http://{addr}/x?k=s")))
        .header("x-bad", "line\nbreak");
    let message = session.send(&prepared).await.unwrap_err().0;
    assert_eq!(
        message,
        format!("the request failed: GET http://{addr}/x (failed to parse header value)")
    );
    assert!(seen.try_recv().is_err(), "nothing reached the server");
}

#[tokio::test]
async fn a_content_type_that_is_no_header_value_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    std::fs::write(&path, b"data").unwrap();
    let mut prepared = Prepared::new(reqwest::Method::POST, url("http://127.0.0.1:9/upload"));
    prepared.body = Some(Body::File {
        path,
        content_type: Some("video/mp4\r\nx-injected: 1".into()),
        len: 4,
    });
    let session = Session::new(Client::new(), None);
    let message = session.send(&prepared).await.unwrap_err().0;
    assert!(
        message.starts_with("invalid content type `video/mp4"),
        "{message}"
    );
}
