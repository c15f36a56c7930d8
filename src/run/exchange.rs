//! What a step sent and what came back: the records captures, checks and reports read. A
//! round trip is kept once, behind an `Arc`, and shared by the journal, the step's result and
//! the reports; bodies are never copied on the way.

use bytes::Bytes;
use std::borrow::Cow;
use std::time::Duration;

/// The request as sent (after rendering), for reports and `-v`.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Bytes>,
    /// What was sent when the body was not kept (a file, a multipart form).
    pub summary: Option<String>,
}

impl RequestRecord {
    /// The body as text (lossy for bytes that are not UTF-8), or what stands for it.
    pub fn body_text(&self) -> Option<Cow<'_, str>> {
        match (&self.body, &self.summary) {
            (Some(bytes), _) => Some(String::from_utf8_lossy(bytes)),
            (None, Some(summary)) => Some(Cow::Borrowed(summary.as_str())),
            (None, None) => None,
        }
    }
}

/// The response as received.
#[derive(Debug, Clone, Default)]
pub struct ResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<serde_json::Value>,
    pub elapsed: Duration,
    /// Where the body went instead of memory (`save_body_to:`), and its size.
    pub saved_to: Option<(std::path::PathBuf, u64)>,
}

impl ResponseRecord {
    /// The first value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn from_parts(
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        elapsed: Duration,
    ) -> Self {
        let json = looks_like_json(&body)
            .then(|| serde_json::from_str(&body).ok())
            .flatten();
        ResponseRecord {
            status,
            headers,
            body,
            json,
            elapsed,
            saved_to: None,
        }
    }
}

impl ResponseRecord {
    /// Why [`ResponseRecord::json`] is empty although the body parses as JSON but for its
    /// depth: serde_json reads at most [`MAX_JSON_DEPTH`] levels (a guard against stack
    /// exhaustion). `None` for a body that is simply not JSON.
    pub fn json_problem(&self) -> Option<String> {
        if self.json.is_some() || !looks_like_json(&self.body) {
            return None;
        }
        let error = serde_json::from_str::<serde_json::Value>(&self.body).err()?;
        error.to_string().contains("recursion limit").then(|| {
            format!(
                "it nests deeper than {MAX_JSON_DEPTH} levels (line {}, column {}), more than dmflow reads as JSON",
                error.line(),
                error.column()
            )
        })
    }
}

/// How deep a body may nest to be read as JSON: serde_json's own recursion limit.
pub const MAX_JSON_DEPTH: usize = 128;

/// Whether a body may be JSON (saves a failed parse of every HTML page).
fn looks_like_json(body: &str) -> bool {
    matches!(
        body.trim_start().as_bytes().first(),
        Some(b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
    )
}

/// One round trip.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub request: RequestRecord,
    pub response: ResponseRecord,
}
