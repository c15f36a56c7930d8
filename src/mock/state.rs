//! The emulator's memory: the demo app, signed tokens, codes, revocations and fault switches.
//!
//! Tokens are self-validating (an HMAC-signed payload with user, scope, grant and expiry), so a
//! token issued by one `--mock` run is accepted by the next as long as both use the same key.
//! What must be remembered (the key, revoked grants, rotated refresh tokens, "expire all before
//! T") lives in a small state file, merged on every write under a lock: those sets only grow,
//! so concurrent runs never lose each other's revocations.

use crate::oauth::pkce::random_bytes;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The demo app every emulator knows.
pub const DEMO_CLIENT_ID: &str = "5f1e0dmflowdemo0key0";
pub const DEMO_CLIENT_SECRET: &str = "dmflow-demo-secret-4c7e9a";
pub const DEMO_REDIRECT_URI: &str = crate::provider::DEFAULT_REDIRECT_URI;

/// Scopes the emulator grants (Dailymotion's list, current and legacy).
pub const SCOPES: &[&str] = super::PROVIDER.scopes;

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
}

/// A code waiting to be exchanged.
#[derive(Debug, Clone)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub user: String,
    pub challenge: Option<(String, String)>,
    pub expires: i64,
    pub used: bool,
}

/// A consent page waiting for Allow or Deny.
#[derive(Debug, Clone)]
pub struct PendingAuth {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub challenge: Option<(String, String)>,
}

/// The part of the state that outlives a process.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Persisted {
    pub revoked_grants: BTreeSet<String>,
    pub used_refresh: BTreeSet<String>,
    /// Tokens issued before this instant are expired (fault injection).
    pub expired_before: i64,
}

impl Persisted {
    fn merge(&mut self, other: &Persisted) {
        self.revoked_grants
            .extend(other.revoked_grants.iter().cloned());
        self.used_refresh.extend(other.used_refresh.iter().cloned());
        self.expired_before = self.expired_before.max(other.expired_before);
    }
}

#[derive(Default)]
pub struct Faults {
    pub fail_next_token: u32,
    pub latency: Duration,
}

/// Settings of one emulator.
#[derive(Debug, Clone)]
pub struct Config {
    pub token_ttl: i64,
    pub strict_redirect: bool,
    pub auto_approve: bool,
    pub latency: Duration,
    pub state_file: Option<PathBuf>,
    /// Told about problems that do not stop the emulator (a state file it cannot write).
    pub warn: Warn,
}

/// Where the emulator's warnings go.
#[derive(Clone)]
pub struct Warn(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl Default for Warn {
    fn default() -> Warn {
        Warn(std::sync::Arc::new(|_| {}))
    }
}

impl std::fmt::Debug for Warn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warn")
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl: 36_000,
            strict_redirect: false,
            auto_approve: false,
            latency: Duration::ZERO,
            state_file: None,
            warn: Warn::default(),
        }
    }
}

pub struct Emulator {
    pub config: Config,
    key: Vec<u8>,
    pub persisted: Mutex<Persisted>,
    pub codes: Mutex<HashMap<String, CodeGrant>>,
    pub pending: Mutex<HashMap<String, PendingAuth>>,
    pub faults: Mutex<Faults>,
}

/// Why a token was refused.
#[derive(Debug, PartialEq)]
pub enum TokenProblem {
    Invalid,
    Expired,
}

pub fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

pub fn random_id(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Emulator {
    /// A fresh emulator; with a state file, its key and memory come from (and go to) there.
    pub fn new(config: Config) -> Result<Emulator, String> {
        let (key, persisted) = match &config.state_file {
            Some(path) => (load_or_create_key(path)?, read_persisted(path)?),
            None => (random_bytes(32), Persisted::default()),
        };
        let faults = Faults {
            latency: config.latency,
            ..Faults::default()
        };
        Ok(Emulator {
            config,
            key,
            persisted: Mutex::new(persisted),
            codes: Mutex::default(),
            pending: Mutex::default(),
            faults: Mutex::new(faults),
        })
    }

    fn sign(&self, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// Issues a signed token.
    pub fn issue(&self, claims: &Claims) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let signature = self.sign(&payload);
        format!("dm{}.{payload}.{signature}", claims.k)
    }

    /// Reads and verifies a token of the given kind.
    pub fn verify(&self, token: &str, kind: &str) -> Result<Claims, TokenProblem> {
        let rest = token.strip_prefix("dm").ok_or(TokenProblem::Invalid)?;
        let mut parts = rest.splitn(3, '.');
        let (Some(k), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenProblem::Invalid);
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(payload.as_bytes());
        let given = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenProblem::Invalid)?;
        mac.verify_slice(&given)
            .map_err(|_| TokenProblem::Invalid)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenProblem::Invalid)?;
        if k != kind || claims.k != kind {
            return Err(TokenProblem::Invalid);
        }
        let persisted = lock(&self.persisted);
        if persisted.revoked_grants.contains(&claims.gid)
            || (kind == "r" && persisted.used_refresh.contains(&claims.jti))
        {
            return Err(TokenProblem::Invalid);
        }
        if claims.exp <= now() || claims.iat < persisted.expired_before {
            return Err(TokenProblem::Expired);
        }
        Ok(claims)
    }

    fn warn(&self, message: &str) {
        (self.config.warn.0)(message);
    }

    /// Records a change to the lasting state, and writes it through when there is a file.
    pub fn remember(&self, change: impl FnOnce(&mut Persisted)) {
        let mut persisted = lock(&self.persisted);
        change(&mut persisted);
        if let Some(path) = &self.config.state_file
            && let Err(e) = write_persisted(path, &mut persisted)
        {
            self.warn(&format!("cannot save state to {}: {e}", path.display()));
        }
    }

    /// [`Emulator::remember`] off the async runtime's threads (file lock and fsync).
    pub async fn remember_async(
        self: &std::sync::Arc<Self>,
        change: impl FnOnce(&mut Persisted) + Send + 'static,
    ) {
        let emu = self.clone();
        let _ = tokio::task::spawn_blocking(move || emu.remember(change)).await;
    }

    /// [`Emulator::consume_refresh`] off the async runtime's threads.
    pub async fn consume_refresh_async(self: &std::sync::Arc<Self>, jti: String) -> bool {
        let emu = self.clone();
        tokio::task::spawn_blocking(move || emu.consume_refresh(&jti))
            .await
            .unwrap_or(false)
    }

    /// [`Emulator::refresh_from_disk`] off the async runtime's threads.
    pub async fn refresh_from_disk_async(self: &std::sync::Arc<Self>) {
        let emu = self.clone();
        let _ = tokio::task::spawn_blocking(move || emu.refresh_from_disk()).await;
    }

    /// Marks a refresh token used; false when it already was (here or in another process):
    /// rotation hands out each refresh token's successor once.
    pub fn consume_refresh(&self, jti: &str) -> bool {
        let mut persisted = lock(&self.persisted);
        let Some(path) = &self.config.state_file else {
            return persisted.used_refresh.insert(jti.to_string());
        };
        let consumed = (|| -> std::io::Result<bool> {
            let _lock = crate::fsutil::FileLock::acquire(&path.with_extension("lock"))?;
            if let Ok(theirs) = read_persisted(path) {
                persisted.merge(&theirs);
            }
            if !persisted.used_refresh.insert(jti.to_string()) {
                return Ok(false);
            }
            let text = serde_json::to_vec_pretty(&*persisted).map_err(std::io::Error::other)?;
            crate::fsutil::remove_stale_temps(path);
            crate::fsutil::write_atomic(path, &text)?;
            Ok(true)
        })();
        consumed.unwrap_or_else(|e| {
            self.warn(&format!("cannot save state to {}: {e}", path.display()));
            false
        })
    }

    /// Picks up what other processes recorded (used before checking a refresh token).
    pub fn refresh_from_disk(&self) {
        if let Some(path) = &self.config.state_file
            && let Ok(other) = read_persisted(path)
        {
            lock(&self.persisted).merge(&other);
        }
    }

    pub fn codes(&self) -> std::sync::MutexGuard<'_, HashMap<String, CodeGrant>> {
        lock(&self.codes)
    }

    pub fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, PendingAuth>> {
        lock(&self.pending)
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// A registered redirect URI: exact, registered + `/SLUG`, or (unless strict) any loopback
    /// port with the registered path.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        if uri == DEMO_REDIRECT_URI {
            return true;
        }
        if let Some(slug) = uri.strip_prefix(&format!("{DEMO_REDIRECT_URI}/"))
            && !slug.is_empty()
            && !slug.contains(['/', '?', '#'])
        {
            return true;
        }
        if self.config.strict_redirect {
            return false;
        }
        let (Ok(given), Ok(registered)) =
            (url::Url::parse(uri), url::Url::parse(DEMO_REDIRECT_URI))
        else {
            return false;
        };
        let loopback = matches!(given.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            || matches!(given.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
        loopback
            && given.scheme() == "http"
            && given.query().is_none()
            && given.fragment().is_none()
            && (given.path() == registered.path()
                || given.path().starts_with(&format!("{}/", registered.path())))
    }
}

fn key_path(state: &Path) -> PathBuf {
    state.with_extension("key")
}

/// The signing key beside the state file, created once (atomically: the first writer wins).
fn load_or_create_key(state: &Path) -> Result<Vec<u8>, String> {
    let path = key_path(state);
    if let Some(dir) = path.parent() {
        crate::fsutil::private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(key) = URL_SAFE_NO_PAD.decode(text.trim())
        && key.len() == 32
    {
        return Ok(key);
    }
    let key = random_bytes(32);
    let temp = path.with_extension(format!("key.{}", random_id(6)));
    crate::fsutil::write_private(&temp, URL_SAFE_NO_PAD.encode(&key).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    let linked = std::fs::hard_link(&temp, &path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(key),
        Err(_) => {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            URL_SAFE_NO_PAD
                .decode(text.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| {
                    format!(
                        "{} is not an emulator key; delete it to start afresh",
                        path.display()
                    )
                })
        }
    }
}

fn read_persisted(path: &Path) -> Result<Persisted, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} is not an emulator state file ({e}); delete it to start afresh",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Merges ours with what is on disk and writes the union atomically, under a lock.
fn write_persisted(path: &Path, ours: &mut Persisted) -> std::io::Result<()> {
    let _lock = crate::fsutil::FileLock::acquire(&path.with_extension("lock"))?;
    if let Ok(theirs) = read_persisted(path) {
        ours.merge(&theirs);
    }
    let text = serde_json::to_vec_pretty(ours).map_err(std::io::Error::other)?;
    crate::fsutil::remove_stale_temps(path);
    crate::fsutil::write_atomic(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(k: &str, exp: i64) -> Claims {
        Claims {
            k: k.into(),
            sub: Some("u".into()),
            cid: "c".into(),
            scp: "".into(),
            gid: "g".into(),
            jti: "j".into(),
            iat: now(),
            exp,
        }
    }

    #[test]
    fn tokens_verify_and_tampering_is_refused() {
        let emu = Emulator::new(Config::default()).unwrap();
        let token = emu.issue(&claims("a", now() + 60));
        assert_eq!(emu.verify(&token, "a").unwrap().sub.as_deref(), Some("u"));
        assert_eq!(emu.verify(&token, "r"), Err(TokenProblem::Invalid));
        let mut forged = token.clone();
        forged.insert(10, 'x');
        assert_eq!(emu.verify(&forged, "a"), Err(TokenProblem::Invalid));
        let old = emu.issue(&claims("a", now() - 1));
        assert_eq!(emu.verify(&old, "a"), Err(TokenProblem::Expired));
        emu.remember(|p| {
            p.revoked_grants.insert("g".into());
        });
        assert_eq!(emu.verify(&token, "a"), Err(TokenProblem::Invalid));
    }

    #[test]
    fn redirect_rules() {
        let loose = Emulator::new(Config::default()).unwrap();
        assert!(loose.redirect_allowed("http://127.0.0.1:8080/callback"));
        assert!(loose.redirect_allowed("http://127.0.0.1:8080/callback/mine"));
        assert!(loose.redirect_allowed("http://127.0.0.1:41234/callback"));
        assert!(!loose.redirect_allowed("http://evil.test:8080/callback"));
        assert!(!loose.redirect_allowed("http://127.0.0.1:8080/other"));
        let strict = Emulator::new(Config {
            strict_redirect: true,
            ..Config::default()
        })
        .unwrap();
        assert!(strict.redirect_allowed("http://127.0.0.1:8080/callback/slug"));
        assert!(!strict.redirect_allowed("http://127.0.0.1:41234/callback"));
    }

    #[test]
    fn state_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            state_file: Some(dir.path().join("emu.json")),
            ..Config::default()
        };
        let first = Emulator::new(config.clone()).unwrap();
        let token = first.issue(&claims("r", now() + 60));
        let second = Emulator::new(config.clone()).unwrap();
        assert!(second.verify(&token, "r").is_ok());
        second.remember(|p| {
            p.used_refresh.insert("j".into());
        });
        let third = Emulator::new(config).unwrap();
        assert_eq!(third.verify(&token, "r"), Err(TokenProblem::Invalid));
    }
}
