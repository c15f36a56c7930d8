//! What a pending sign-in and an authorization code carry. Both are sealed into the value the
//! client holds (the consent form's hidden field, the `code`), so the emulator keeps nothing
//! for them until they come back; each carries an expiry and a nonce that [`Spent`] marks on
//! first use, so each is answered or exchanged once.
//!
//! [`Spent`]: super::spent::Spent

use super::state::{Emulator, now};
use serde::{Deserialize, Serialize};

/// How long a consent page may wait for Allow or Deny.
pub const CONSENT_TTL: i64 = 600;
/// How long a code may wait for its exchange (RFC 6749 recommends at most ten minutes).
pub const CODE_TTL: i64 = 600;

const CONSENT: &str = "dmconsent";
const CODE: &str = "dmc";

/// A sign-in waiting on the consent page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuth {
    pub client_id: String,
    pub redirect_uri: String,
    /// The clean, space-separated scope.
    pub scope: String,
    pub state: Option<String>,
    pub challenge: Option<(String, String)>,
}

#[derive(Serialize, Deserialize)]
struct Sealed<T> {
    #[serde(flatten)]
    value: T,
    exp: i64,
    nonce: u64,
}

/// A code waiting to be exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub user: String,
    pub challenge: Option<(String, String)>,
}

fn seal<T: Serialize>(emu: &Emulator, domain: &str, value: T, ttl: i64) -> String {
    let sealed = Sealed {
        value,
        exp: now() + ttl,
        nonce: super::ids::random_u64(),
    };
    emu.sealer().seal(domain, &sealed)
}

/// Opens a sealed value that has not expired and was not used yet, and marks it used.
fn take<T: serde::de::DeserializeOwned>(
    emu: &Emulator,
    domain: &str,
    text: &str,
    spent: &super::spent::Spent,
) -> Option<T> {
    let sealed: Sealed<T> = emu.sealer().open(domain, text)?;
    let now = now();
    (sealed.exp > now && spent.spend(sealed.nonce, sealed.exp, now)).then_some(sealed.value)
}

/// The consent form's value for a pending sign-in.
pub fn consent_request(emu: &Emulator, pending: PendingAuth) -> String {
    seal(emu, CONSENT, pending, CONSENT_TTL)
}

/// The pending sign-in of a consent form, once: `None` when unknown, expired or answered.
pub fn answer(emu: &Emulator, request: &str) -> Option<PendingAuth> {
    take(emu, CONSENT, request, &emu.answered)
}

/// A new authorization code.
pub fn issue_code(emu: &Emulator, grant: CodeGrant) -> String {
    seal(emu, CODE, grant, CODE_TTL)
}

/// The grant of a code, once: `None` when unknown, expired or already exchanged.
pub fn exchange(emu: &Emulator, code: &str) -> Option<CodeGrant> {
    take(emu, CODE, code, &emu.exchanged)
}
