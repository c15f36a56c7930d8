//! Values the emulator hands out and later trusts without remembering them: tokens, consent
//! requests, authorization codes and upload URLs, each a payload signed with the emulator's key
//! (HMAC-SHA256). A token is `dm{k}.{payload}.{signature}` (the format tokens of earlier runs
//! have); every other sealed value is `{domain}.{payload}.{signature}` with the domain inside
//! the MAC, so one kind of value can never pass for another.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a token says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// `a` (access) or `r` (refresh).
    pub k: String,
    /// The user, absent for client_credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    pub cid: String,
    pub scp: String,
    /// Grant id: shared by every token of one sign-in, revoked together by /logout.
    pub gid: String,
    /// Token id.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Issued at, in unix µs (tokens of earlier versions lack it: `iat` then counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iau: Option<i64>,
}

impl Claims {
    /// When the token was issued, in unix µs.
    pub fn issued_us(&self) -> i64 {
        self.iau.unwrap_or(self.iat.saturating_mul(1_000_000))
    }
}

/// Why a token was refused.
#[derive(Debug, PartialEq)]
pub enum TokenProblem {
    Invalid,
    Expired,
}

/// The emulator's key, and what it signs.
pub struct Sealer {
    key: Vec<u8>,
}

impl Sealer {
    pub fn new(key: Vec<u8>) -> Sealer {
        Sealer { key }
    }

    fn mac(&self, domain: Option<&str>, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        if let Some(domain) = domain {
            mac.update(domain.as_bytes());
            mac.update(b"\0");
        }
        mac.update(payload.as_bytes());
        mac
    }

    fn signature(&self, domain: Option<&str>, payload: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(domain, payload).finalize().into_bytes())
    }

    fn verified(&self, domain: Option<&str>, payload: &str, signature: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(signature)
            .is_ok_and(|given| self.mac(domain, payload).verify_slice(&given).is_ok())
    }

    /// Issues a signed token.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        format!(
            "dm{}.{payload}.{}",
            claims.k,
            self.signature(None, &payload)
        )
    }

    /// Reads a token of the given kind whose signature holds (expiry and revocation are the
    /// caller's to check).
    pub fn read_token(&self, token: &str, kind: &str) -> Result<Claims, TokenProblem> {
        let rest = token.strip_prefix("dm").ok_or(TokenProblem::Invalid)?;
        let mut parts = rest.splitn(3, '.');
        let (Some(k), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenProblem::Invalid);
        };
        if !self.verified(None, payload, signature) {
            return Err(TokenProblem::Invalid);
        }
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenProblem::Invalid)?;
        if k != kind || claims.k != kind {
            return Err(TokenProblem::Invalid);
        }
        Ok(claims)
    }

    /// Seals a value for one purpose (`domain`).
    pub fn seal<T: Serialize>(&self, domain: &str, value: &T) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("values serialise"));
        format!(
            "{domain}.{payload}.{}",
            self.signature(Some(domain), &payload)
        )
    }

    /// Opens a value sealed for `domain`; `None` when it was not, or was altered.
    pub fn open<T: DeserializeOwned>(&self, domain: &str, sealed: &str) -> Option<T> {
        let rest = sealed.strip_prefix(domain)?.strip_prefix('.')?;
        let (payload, signature) = rest.split_once('.')?;
        if !self.verified(Some(domain), payload, signature) {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// A signature of `text` for one purpose, for values that travel in URLs as they are.
    pub fn sign_text(&self, domain: &str, text: &str) -> String {
        self.signature(Some(domain), text)
    }

    pub fn check_text(&self, domain: &str, text: &str, signature: &str) -> bool {
        self.verified(Some(domain), text, signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Thing {
        n: u64,
    }

    #[test]
    fn sealed_values_open_only_for_their_domain_and_unaltered() {
        let sealer = Sealer::new(vec![7; 32]);
        let sealed = sealer.seal("code", &Thing { n: 5 });
        assert_eq!(sealer.open::<Thing>("code", &sealed), Some(Thing { n: 5 }));
        assert_eq!(sealer.open::<Thing>("consent", &sealed), None);
        let other = sealed.replacen("code.", "consent.", 1);
        assert_eq!(sealer.open::<Thing>("consent", &other), None);
        let mut altered = sealed.clone();
        altered.insert(8, 'A');
        assert_eq!(sealer.open::<Thing>("code", &altered), None);
        assert_eq!(
            Sealer::new(vec![8; 32]).open::<Thing>("code", &sealed),
            None
        );
        let signature = sealer.sign_text("upload", "abc");
        assert!(sealer.check_text("upload", "abc", &signature));
        assert!(!sealer.check_text("upload", "abd", &signature));
    }
}
