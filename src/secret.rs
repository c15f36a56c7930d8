//! Secrets and masking.
//!
//! Every value that is secret (by its variable's name, by the flow's `secrets:` list, by a
//! `secret: true` capture, or because an OAuth step says so) is registered with the
//! [`Redactor`] of the run. Everything dmflow prints passes through [`Redactor::mask`], which
//! replaces the value and its common derived forms (base64, base64url, percent-encoded) with
//! `[secret:NAME]`. `--reveal` turns masking off; nothing else does.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use std::borrow::Cow;
use std::sync::{Arc, RwLock};

/// Values shorter than this are not masked: replacing every `a` or `42` in the output would
/// make it unreadable while protecting nothing a real secret needs.
pub const MIN_SECRET_LEN: usize = 4;

/// Whether a variable's name says it holds a secret: `*SECRET*`, `*TOKEN*`, `*PASSWORD*`,
/// `*VERIFIER*`, or exactly `code` (case-insensitive).
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    // Names that describe a secret rather than hold one.
    if ["_TYPE", "_URL", "_URI", "_EXPIRES_AT", "_EXPIRES_IN"]
        .iter()
        .any(|suffix| upper.ends_with(suffix))
    {
        return false;
    }
    ["SECRET", "TOKEN", "PASSWORD", "PASSWD", "VERIFIER"]
        .iter()
        .any(|word| upper.contains(word))
        || upper == "CODE"
}

/// Header names whose values are always masked in printed output, whatever they contain.
pub fn is_secret_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
    )
}

#[derive(Default)]
struct Inner {
    /// (form to hide, label), longest first so a value is replaced before its own prefix.
    forms: Vec<(String, String)>,
}

/// The set of secret values of one run, shared by every part that prints. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<RwLock<Inner>>,
    reveal: bool,
}

impl Redactor {
    pub fn new(reveal: bool) -> Self {
        Redactor {
            inner: Arc::default(),
            reveal,
        }
    }

    pub fn reveals(&self) -> bool {
        self.reveal
    }

    /// Registers `value` (and its derived forms) as secret, labelled with `label`.
    pub fn add(&self, label: &str, value: &str) {
        if value.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let mut forms = vec![value.to_string()];
        forms.push(STANDARD.encode(value));
        forms.push(URL_SAFE_NO_PAD.encode(value));
        forms.push(percent_encode(value));
        forms.push(form_encode(value));
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for form in forms {
            if form.chars().count() >= MIN_SECRET_LEN
                && !inner.forms.iter().any(|(known, _)| *known == form)
            {
                inner.forms.push((form, label.to_string()));
            }
        }
        inner
            .forms
            .sort_by_key(|(form, _)| std::cmp::Reverse(form.len()));
    }

    /// Registers every string inside a JSON value (a secret object or list hides all its leaves).
    pub fn add_json(&self, label: &str, value: &serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.add(label, s),
            serde_json::Value::Number(n) => self.add(label, &n.to_string()),
            serde_json::Value::Array(items) => items.iter().for_each(|v| self.add_json(label, v)),
            serde_json::Value::Object(map) => map.values().for_each(|v| self.add_json(label, v)),
            _ => {}
        }
    }

    /// Whether `value` is exactly a registered secret form.
    pub fn is_secret(&self, value: &str) -> bool {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.forms.iter().any(|(form, _)| form == value)
    }

    /// Returns `text` with every registered secret form replaced by `[secret:LABEL]`.
    pub fn mask(&self, text: &str) -> String {
        self.masked(text).into_owned()
    }

    /// [`Redactor::mask`], without a copy when no secret is in the text.
    pub fn masked<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.reveal {
            return Cow::Borrowed(text);
        }
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Cow::Borrowed(text);
        for (form, label) in &inner.forms {
            if out.contains(form.as_str()) {
                out = Cow::Owned(out.replace(form.as_str(), &format!("[secret:{label}]")));
            }
        }
        out
    }

    /// Masks every string leaf of a JSON value (keys are left alone).
    pub fn mask_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.mask(s)),
            Value::Number(n) if !self.reveal && self.is_secret(&n.to_string()) => {
                Value::String(self.mask(&n.to_string()))
            }
            Value::Array(items) => Value::Array(items.iter().map(|v| self.mask_json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.mask_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The printable form of a header value: always hidden for credential headers.
    pub fn mask_header(&self, name: &str, value: &str) -> String {
        if !self.reveal && is_secret_header(name) {
            match value.split_once(' ') {
                Some((scheme, _)) if name.eq_ignore_ascii_case("authorization") => {
                    format!("{scheme} [secret]")
                }
                _ => "[secret]".to_string(),
            }
        } else {
            self.mask(value)
        }
    }
}

fn percent_encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `application/x-www-form-urlencoded` form, as reqwest and url write it.
fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        assert!(is_secret_name("ACCESS_TOKEN"));
        assert!(is_secret_name("api_secret"));
        assert!(is_secret_name("code"));
        assert!(is_secret_name("PKCE_VERIFIER"));
        assert!(!is_secret_name("API_KEY"));
        assert!(!is_secret_name("USER_ID"));
        assert!(!is_secret_name("CODEC"));
        assert!(!is_secret_name("TOKEN_TYPE"));
        assert!(!is_secret_name("token_url"));
    }

    #[test]
    fn masks_value_and_derived_forms() {
        let r = Redactor::new(false);
        r.add("API_SECRET", "s3cr3t/+value");
        let b64 = STANDARD.encode("s3cr3t/+value");
        let text = format!("a s3cr3t/+value b {b64} c s3cr3t%2F%2Bvalue");
        let masked = r.mask(&text);
        assert!(!masked.contains("s3cr3t"), "{masked}");
        assert!(!masked.contains(&b64), "{masked}");
        assert_eq!(masked.matches("[secret:API_SECRET]").count(), 3);
    }

    #[test]
    fn text_without_a_secret_is_not_copied() {
        let r = Redactor::new(false);
        r.add("T", "abcdef");
        assert!(matches!(r.masked("no secret here"), Cow::Borrowed(_)));
        assert_eq!(r.masked("x abcdef y"), "x [secret:T] y");
    }

    #[test]
    fn reveal_keeps_everything() {
        let r = Redactor::new(true);
        r.add("T", "abcdef");
        assert_eq!(r.mask("x abcdef"), "x abcdef");
    }

    #[test]
    fn short_values_are_not_masked() {
        let r = Redactor::new(false);
        r.add("T", "abc");
        assert_eq!(r.mask("abc"), "abc");
    }

    #[test]
    fn credential_headers_are_hidden() {
        let r = Redactor::new(false);
        assert_eq!(
            r.mask_header("Authorization", "Bearer xyz"),
            "Bearer [secret]"
        );
        assert_eq!(r.mask_header("Set-Cookie", "sid=1"), "[secret]");
        assert_eq!(r.mask_header("Accept", "x"), "x");
    }
}
