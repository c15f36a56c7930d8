//! What a step sent and what came back: the records captures, checks and reports read.

use std::time::Duration;

/// The request as sent (after rendering), for reports and `-v`.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
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
        let json = serde_json::from_str(&body).ok();
        ResponseRecord {
            status,
            headers,
            body,
            json,
            elapsed,
        }
    }
}

/// One round trip.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    pub request: RequestRecord,
    pub response: ResponseRecord,
}
