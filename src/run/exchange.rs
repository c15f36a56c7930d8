//! What a step sent and what came back: the records captures, checks and reports read. A
//! round trip is kept once, behind an `Arc`, and shared by the journal, the step's result and
//! the reports; bodies are never copied on the way.

use super::json_select::{select, simple_path};
use bytes::Bytes;
use serde_json::Value;
use serde_json_path::JsonPath;
use std::borrow::Cow;
use std::sync::OnceLock;
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
    /// The body parsed as JSON, when it is JSON: read the first time [`ResponseRecord::json`]
    /// is called (a capture or check on a large body may never need the whole tree).
    json: OnceLock<Option<Value>>,
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
        ResponseRecord {
            status,
            headers,
            body,
            json: OnceLock::new(),
            elapsed,
            saved_to: None,
        }
    }

    /// The body parsed as JSON; `None` when it is not JSON.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                looks_like_json(&self.body)
                    .then(|| serde_json::from_str(&self.body).ok())
                    .flatten()
            })
            .as_ref()
    }

    /// Replaces the body with this JSON document.
    pub fn set_json(&mut self, value: Value) {
        self.body = value.to_string();
        self.json = OnceLock::from(Some(value));
    }

    /// What `path` (whose text is `text`) selects in the JSON body: `Err` when the body is not
    /// JSON; one node, or an array of them when several match. A large body not yet parsed is
    /// streamed for a path of names and indices instead of being parsed whole.
    pub fn select(&self, text: &str, path: &JsonPath) -> Result<Option<Value>, NotJson> {
        let streamed = self.json.get().is_none() && self.body.len() >= STREAM_FROM;
        if let Some(segments) = streamed.then(|| simple_path(text)).flatten() {
            if !looks_like_json(&self.body) {
                return Err(NotJson);
            }
            return select(&self.body, &segments).map_err(|_| NotJson);
        }
        let nodes = path.query(self.json().ok_or(NotJson)?).all();
        Ok(match nodes.len() {
            0 => None,
            1 => Some(nodes[0].clone()),
            _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
        })
    }
}

impl ResponseRecord {
    /// Why [`ResponseRecord::json`] is empty although the body parses as JSON but for its
    /// depth: serde_json reads at most [`MAX_JSON_DEPTH`] levels (a guard against stack
    /// exhaustion). `None` for a body that is simply not JSON.
    pub fn json_problem(&self) -> Option<String> {
        if self.json().is_some() || !looks_like_json(&self.body) {
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

/// Bodies from this size on are streamed for simple paths rather than parsed whole (below it,
/// one parse shared by every check costs less than several passes).
const STREAM_FROM: usize = 256 * 1024;

/// The response body is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn large_body() -> ResponseRecord {
        let items: Vec<Value> = (0..20_000)
            .map(|i| serde_json::json!({"id": i, "name": format!("item {i}")}))
            .collect();
        let body = serde_json::json!({"list": items, "last": "end"}).to_string();
        assert!(body.len() >= STREAM_FROM);
        ResponseRecord::from_parts(200, Vec::new(), body, Duration::ZERO)
    }

    fn path(text: &str) -> JsonPath {
        JsonPath::parse(text).unwrap()
    }

    #[test]
    fn a_simple_path_on_a_large_body_is_streamed_without_parsing_it_whole() {
        let response = large_body();
        let found = response.select("$.last", &path("$.last")).unwrap();
        assert_eq!(found, Some(Value::from("end")));
        let found = response.select("$.list[7].name", &path("$.list[7].name"));
        assert_eq!(found.unwrap(), Some(Value::from("item 7")));
        assert!(
            response.json.get().is_none(),
            "the whole tree was not built"
        );
        // A wildcard needs the document: it is parsed once, and later paths use it.
        let names = response.select("$.list[*].id", &path("$.list[*].id"));
        assert_eq!(names.unwrap().unwrap().as_array().unwrap().len(), 20_000);
        assert!(response.json.get().is_some());
        assert_eq!(
            response.select("$.last", &path("$.last")).unwrap(),
            Some(Value::from("end"))
        );
    }

    #[test]
    fn a_large_body_that_is_not_json_is_reported_as_such() {
        let body = format!("{{\"a\": 1, {}", "x".repeat(STREAM_FROM));
        let response = ResponseRecord::from_parts(200, Vec::new(), body, Duration::ZERO);
        assert_eq!(response.select("$.a", &path("$.a")), Err(NotJson));
        let html = format!("<html>{}</html>", "x".repeat(STREAM_FROM));
        let response = ResponseRecord::from_parts(200, Vec::new(), html, Duration::ZERO);
        assert_eq!(response.select("$.a", &path("$.a")), Err(NotJson));
    }
}
