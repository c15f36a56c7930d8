//! The variables a token response defines, and how the response maps onto them.

use crate::provider::Profile;
use indexmap::IndexMap;
use serde_json::Value;

pub const ACCESS_TOKEN: &str = "ACCESS_TOKEN";
pub const REFRESH_TOKEN: &str = "REFRESH_TOKEN";
pub const TOKEN_TYPE: &str = "TOKEN_TYPE";
pub const SCOPE: &str = "SCOPE";
pub const USER_ID: &str = "USER_ID";
pub const EXPIRES_IN: &str = "EXPIRES_IN";
pub const EXPIRES_AT: &str = "EXPIRES_AT";

/// The variables `token` and `refresh` define.
pub const TOKEN_OUTPUTS: &[&str] = &[
    ACCESS_TOKEN,
    REFRESH_TOKEN,
    TOKEN_TYPE,
    SCOPE,
    USER_ID,
    EXPIRES_IN,
    EXPIRES_AT,
];

/// What a stored access token brings along when a flow reads it: its refresh needs them.
pub const COMPANIONS: &[&str] = &[REFRESH_TOKEN, EXPIRES_AT, EXPIRES_IN];

/// The token variables of a successful token response. `expires_in` may be a number or a
/// string, or missing (then no expiry is known); the user id comes from the provider's field
/// (Dailymotion's `uid`).
pub fn from_response(
    body: &serde_json::Map<String, Value>,
    provider: Option<&Profile>,
) -> IndexMap<String, Value> {
    let mut out = IndexMap::new();
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let user_field = provider.and_then(|p| p.user_id_field);
    let fields = [
        (Some("access_token"), ACCESS_TOKEN),
        (Some("refresh_token"), REFRESH_TOKEN),
        (Some("token_type"), TOKEN_TYPE),
        (Some("scope"), SCOPE),
        (user_field, USER_ID),
    ];
    for (field, name) in fields {
        if let Some(value) = field.and_then(|f| body.get(f)).and_then(text) {
            out.insert(name.to_string(), Value::String(value));
        }
    }
    let expires_in = body.get("expires_in").and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    });
    if let Some(seconds) = expires_in.filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e12) {
        let seconds = seconds.round() as i64;
        out.insert(EXPIRES_IN.into(), Value::from(seconds));
        out.insert(
            EXPIRES_AT.into(),
            Value::from(jiff::Timestamp::now().as_second() + seconds),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs(v: Value, provider: Option<&Profile>) -> IndexMap<String, Value> {
        from_response(v.as_object().unwrap(), provider)
    }

    #[test]
    fn reads_a_dailymotion_token_response() {
        let dm = crate::provider::default();
        let out = outputs(
            json!({"access_token": "a", "token_type": "Bearer", "expires_in": 36000, "refresh_token": "r", "scope": "manage_videos userinfo", "uid": "x1y2"}),
            Some(dm),
        );
        assert_eq!(out["ACCESS_TOKEN"], json!("a"));
        assert_eq!(out["REFRESH_TOKEN"], json!("r"));
        assert_eq!(out["SCOPE"], json!("manage_videos userinfo"));
        assert_eq!(out["USER_ID"], json!("x1y2"));
        assert_eq!(out["EXPIRES_IN"], json!(36000));
        let at = out["EXPIRES_AT"].as_i64().unwrap();
        assert!((at - jiff::Timestamp::now().as_second() - 36000).abs() <= 2);
    }

    #[test]
    fn another_provider_has_no_uid_mapping() {
        let out = outputs(json!({"access_token": "a", "uid": "x1"}), None);
        assert!(!out.contains_key("USER_ID"));
    }

    #[test]
    fn tolerates_odd_expiry() {
        assert_eq!(
            outputs(json!({"access_token": "a", "expires_in": "3600"}), None)["EXPIRES_IN"],
            json!(3600)
        );
        let none = outputs(json!({"access_token": "a"}), None);
        assert!(!none.contains_key("EXPIRES_AT"));
        assert!(!none.contains_key("REFRESH_TOKEN"));
        assert!(
            !outputs(json!({"access_token": "a", "expires_in": "soon"}), None)
                .contains_key("EXPIRES_IN")
        );
        assert!(
            !outputs(json!({"access_token": "a", "expires_in": 1e300}), None)
                .contains_key("EXPIRES_IN")
        );
    }
}
