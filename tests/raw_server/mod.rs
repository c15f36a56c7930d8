//! A loopback HTTP server that answers fixed bytes per path, exactly as given: status line,
//! headers and body may hold anything a hostile or broken server could send (escape
//! sequences, C1 controls, bare CRs), which a well-behaved framework would refuse to write.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;

/// An answer: the status line's code and reason, headers, and the body.
pub struct Answer {
    pub status: &'static str,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(status: &'static str, body: &serde_json::Value) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".into(), b"application/json".to_vec())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn text(status: &'static str, body: &[u8]) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type".into(), b"text/plain".to_vec())],
            body: body.to_vec(),
        }
    }

    pub fn header(mut self, name: &str, value: &[u8]) -> Answer {
        self.headers.push((name.to_string(), value.to_vec()));
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {}\r\n", self.status).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(
            format!(
                "Content-Length: {}\r\nConnection: close\r\n\r\n",
                self.body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&self.body);
        out
    }
}

/// Starts the server on a free loopback port (a thread of this test process) and returns its
/// base URL; an unknown path gets 404.
pub fn serve(answers: HashMap<&'static str, Answer>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    let answers: HashMap<String, Vec<u8>> = answers
        .into_iter()
        .map(|(path, answer)| (path.to_string(), answer.bytes()))
        .collect();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head_end = request
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(request.len(), |at| at + 4);
            let line = String::from_utf8_lossy(&request[..head_end]).into_owned();
            // Read the request's body too: closing with unread bytes resets the connection.
            let length: usize = line
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = request.len() - head_end;
            while body < length {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => body += n,
                }
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap_or("/")
                .to_string();
            let not_found = Answer::text("404 Not Found", b"no such path").bytes();
            let _ = stream.write_all(answers.get(&path).unwrap_or(&not_found));
        }
    });
    base
}
