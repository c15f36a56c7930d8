//! `save:`: values taken from a response into variables for later steps. Values keep their
//! JSON type (a number stays a number).

use super::exchange::ResponseRecord;
use super::expect::query;
use crate::flow::{Capture, CaptureSource};
use serde_json::Value;

/// Extracts one capture; the error says what was missing.
pub fn extract(capture: &Capture, response: &ResponseRecord) -> Result<Value, String> {
    match &capture.source {
        CaptureSource::Status => Ok(Value::from(response.status)),
        CaptureSource::Body => Ok(response
            .json
            .clone()
            .unwrap_or_else(|| Value::String(response.body.clone()))),
        CaptureSource::Header(name) => response
            .header(name)
            .map(|v| Value::String(v.to_string()))
            .ok_or_else(|| format!("the response has no `{name}` header")),
        CaptureSource::Json(path) => {
            let body = response
                .json
                .as_ref()
                .ok_or_else(|| format!("cannot read {path}: the response body is not JSON"))?;
            query(path, body)?.ok_or_else(|| format!("{path} matched nothing in the response"))
        }
        CaptureSource::Regex(pattern) => {
            let regex = regex::Regex::new(pattern).map_err(|e| format!("invalid regex: {e}"))?;
            let caps = regex
                .captures(&response.body)
                .ok_or_else(|| format!("/{pattern}/ does not match the response body"))?;
            let found = caps
                .get(1)
                .or_else(|| caps.get(0))
                .map(|m| m.as_str())
                .unwrap_or_default();
            Ok(Value::String(found.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response() -> ResponseRecord {
        ResponseRecord::from_parts(
            201,
            vec![("Location".into(), "/v/9".into())],
            json!({"id": "x1", "n": 3, "list": [{"a": 1}, {"a": 2}]}).to_string(),
            Default::default(),
        )
    }

    fn cap(source: CaptureSource) -> Capture {
        Capture {
            source,
            secret: false,
        }
    }

    #[test]
    fn captures_keep_types() {
        let r = response();
        assert_eq!(
            extract(&cap(CaptureSource::Json("$.n".into())), &r).unwrap(),
            json!(3)
        );
        assert_eq!(
            extract(&cap(CaptureSource::Json("$.list[*].a".into())), &r).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            extract(&cap(CaptureSource::Status), &r).unwrap(),
            json!(201)
        );
        assert_eq!(
            extract(&cap(CaptureSource::Header("location".into())), &r).unwrap(),
            json!("/v/9")
        );
        assert_eq!(
            extract(&cap(CaptureSource::Regex(r#""id":"(\w+)""#.into())), &r).unwrap(),
            json!("x1")
        );
        assert_eq!(
            extract(&cap(CaptureSource::Body), &r).unwrap()["id"],
            json!("x1")
        );
    }

    #[test]
    fn missing_values_say_why() {
        let r = response();
        assert!(
            extract(&cap(CaptureSource::Json("$.nope".into())), &r)
                .unwrap_err()
                .contains("matched nothing")
        );
        assert!(
            extract(&cap(CaptureSource::Header("X-Nope".into())), &r)
                .unwrap_err()
                .contains("X-Nope")
        );
    }
}
