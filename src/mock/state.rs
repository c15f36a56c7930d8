//! One emulator: its settings, its key, what it remembers about the tokens it signed (the
//! [`Ledger`], shared with every emulator on the same state directory), single-use markers,
//! uploads and uploaded videos, and the fault switches.
//!
//! Tokens, consent requests and codes are sealed (signed, self-contained), so a token issued
//! by one `--mock` run or `dmflow mock` is accepted by any other on the same state directory,
//! and pending sign-ins take no memory until they are answered.

use super::catalogue::Catalogue;
use super::ledger::{Event, Ledger};
use super::seal::Sealer;
use super::spent::Spent;
use super::uploads::UploadStore;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use super::catalogue::Encoding;
pub use super::ids::{now, random_id};
pub use super::scope::SCOPES;
pub use super::seal::{Claims, TokenProblem};

/// The demo app every emulator knows.
pub const DEMO_CLIENT_ID: &str = "5f1e0dmflowdemo0key0";
pub const DEMO_CLIENT_SECRET: &str = "dmflow-demo-secret-4c7e9a";
pub const DEMO_REDIRECT_URI: &str = crate::provider::DEFAULT_REDIRECT_URI;

/// How long refresh tokens last (Dailymotion does not say; 90 days).
pub const REFRESH_TTL: i64 = 90 * 86_400;

/// The state file of the emulator of a state directory (`dmflow mock`, `run --mock`).
pub fn default_state_file(state_dir: &Path) -> PathBuf {
    state_dir.join("mock").join("emulator.json")
}

/// A canned answer for the next requests of a route (fault injection).
#[derive(Debug, Clone)]
pub struct FailRule {
    /// Paths it applies to: exact, or a prefix ending in `*`; empty for every route.
    pub paths: Vec<String>,
    /// The method it applies to, or any.
    pub method: Option<String>,
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub retry_after: Option<String>,
    /// Answers left.
    pub count: u32,
}

#[derive(Default)]
pub struct Faults {
    pub fail_next: Vec<FailRule>,
    pub latency: Duration,
}

/// Settings of one emulator.
#[derive(Debug, Clone)]
pub struct Config {
    pub token_ttl: i64,
    pub strict_redirect: bool,
    pub auto_approve: bool,
    pub latency: Duration,
    /// The state file (`<state dir>/mock/emulator.json`); `None`: a throwaway provider.
    pub state_file: Option<PathBuf>,
    /// Told about problems that do not stop the emulator (a state file it cannot write).
    pub warn: Warn,
    /// How an uploaded video's processing advances.
    pub encoding: Encoding,
    /// The largest file an upload may carry.
    pub max_upload_bytes: u64,
    /// Keep-alive connections idle this long are closed.
    pub idle_timeout: Duration,
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

/// `run --mock` takes these: processing done at the second read of a video, so flows that
/// poll finish fast and always see the same states.
impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl: 36_000,
            strict_redirect: false,
            auto_approve: false,
            latency: Duration::ZERO,
            state_file: None,
            warn: Warn::default(),
            encoding: Encoding::Polls(2),
            max_upload_bytes: 512 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
        }
    }
}

pub struct Emulator {
    pub config: Config,
    sealer: Sealer,
    ledger: Ledger,
    /// Consent requests already answered.
    pub answered: Spent,
    /// Authorization codes already exchanged.
    pub exchanged: Spent,
    faults: Mutex<Faults>,
    uploads: UploadStore,
    videos: Mutex<Catalogue>,
    addr: OnceLock<SocketAddr>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Emulator {
    /// A fresh emulator; with a state file, its key and memory come from (and go to) there.
    pub fn new(config: Config) -> Result<Emulator, String> {
        let key = match &config.state_file {
            Some(path) => load_or_create_key(path)?,
            None => crate::oauth::pkce::random_bytes(32),
        };
        let ledger = Ledger::open(config.state_file.clone())?;
        let upload_base = config
            .state_file
            .as_ref()
            .and_then(|f| f.parent())
            .map(|dir| dir.join("uploads"));
        let uploads = UploadStore::open(upload_base.as_deref())?;
        let faults = Faults {
            latency: config.latency,
            ..Faults::default()
        };
        Ok(Emulator {
            config,
            sealer: Sealer::new(key),
            ledger,
            answered: Spent::default(),
            exchanged: Spent::default(),
            faults: Mutex::new(faults),
            uploads,
            videos: Mutex::default(),
            addr: OnceLock::new(),
        })
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub fn uploads(&self) -> &UploadStore {
        &self.uploads
    }

    pub fn videos(&self) -> std::sync::MutexGuard<'_, Catalogue> {
        lock(&self.videos)
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    /// Where the emulator listens (set once it does).
    pub fn set_addr(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    /// The emulator's own base URL, for the URLs it hands out (uploads).
    pub fn base_url(&self) -> String {
        match self.addr.get() {
            Some(addr) => format!("http://{addr}"),
            None => "http://127.0.0.1".to_string(),
        }
    }

    /// Issues a signed token.
    pub fn issue(&self, claims: &Claims) -> String {
        self.sealer.issue(claims)
    }

    /// Reads and verifies a token of the given kind: signature, revocation, expiry.
    pub fn verify(&self, token: &str, kind: &str) -> Result<Claims, TokenProblem> {
        let claims = self.sealer.read_token(token, kind)?;
        self.ledger.read(|p| {
            if p.revoked_grants.contains_key(&claims.gid)
                || (kind == "r" && p.used_refresh.contains_key(&claims.jti))
            {
                return Err(TokenProblem::Invalid);
            }
            let expired_before = if kind == "r" {
                p.refresh_expired_before_us
            } else {
                p.access_expired_before_us
            };
            if claims.exp <= now() || claims.issued_us() < expired_before {
                return Err(TokenProblem::Expired);
            }
            Ok(())
        })?;
        Ok(claims)
    }

    fn warn(&self, message: &str) {
        (self.config.warn.0)(message);
    }

    fn state_problem(&self, e: std::io::Error) {
        let file = self.config.state_file.as_deref().unwrap_or(Path::new("-"));
        self.warn(&format!("cannot save state to {}: {e}", file.display()));
    }

    /// Records a change to the lasting state (journaled when there is a state file).
    pub fn remember(&self, event: Event) {
        if let Err(e) = self.ledger.record(event) {
            self.state_problem(e);
        }
    }

    /// Revokes a grant: every token it issued, until the longest of them would expire.
    pub fn revoke(&self, gid: String) {
        let until = now() + self.config.token_ttl.max(REFRESH_TTL);
        self.remember(Event::Revoked { gid, until });
    }

    /// [`Emulator::remember`] off the async runtime's threads (file lock and write).
    pub async fn remember_async(self: &std::sync::Arc<Self>, event: Event) {
        let emu = self.clone();
        let _ = tokio::task::spawn_blocking(move || emu.remember(event)).await;
    }

    /// [`Emulator::revoke`] off the async runtime's threads.
    pub async fn revoke_async(self: &std::sync::Arc<Self>, gid: String) {
        let emu = self.clone();
        let _ = tokio::task::spawn_blocking(move || emu.revoke(gid)).await;
    }

    /// Marks a refresh token (`jti`, valid `until`) used; false when it already was, here or
    /// in another process: rotation hands out each refresh token's successor once.
    pub fn consume_refresh(&self, jti: &str, until: i64) -> bool {
        let event = Event::UsedRefresh {
            jti: jti.to_string(),
            until,
        };
        self.ledger
            .record_if(event, |p| !p.used_refresh.contains_key(jti))
            .unwrap_or_else(|e| {
                self.state_problem(e);
                false
            })
    }

    /// [`Emulator::consume_refresh`] off the async runtime's threads.
    pub async fn consume_refresh_async(
        self: &std::sync::Arc<Self>,
        jti: String,
        until: i64,
    ) -> bool {
        let emu = self.clone();
        tokio::task::spawn_blocking(move || emu.consume_refresh(&jti, until))
            .await
            .unwrap_or(false)
    }

    /// Picks up what other processes recorded (used before checking a refresh token).
    pub async fn refresh_from_disk_async(self: &std::sync::Arc<Self>) {
        let emu = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = emu.ledger.sync() {
                emu.warn(&format!("cannot read the emulator state: {e}"));
            }
        })
        .await;
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
    let key = crate::oauth::pkce::random_bytes(32);
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
            iau: Some(super::super::ids::now_us()),
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
        emu.revoke("g".into());
        assert_eq!(emu.verify(&token, "a"), Err(TokenProblem::Invalid));
    }

    #[test]
    fn expiring_access_tokens_leaves_refresh_tokens_alone() {
        let emu = Emulator::new(Config::default()).unwrap();
        let access = emu.issue(&claims("a", now() + 60));
        let refresh = emu.issue(&claims("r", now() + 60));
        emu.remember(Event::ExpireAccess {
            before_us: super::super::ids::now_us() + 1,
        });
        assert_eq!(emu.verify(&access, "a"), Err(TokenProblem::Expired));
        assert!(emu.verify(&refresh, "r").is_ok());
        emu.remember(Event::ExpireRefresh {
            before_us: super::super::ids::now_us() + 1,
        });
        assert_eq!(emu.verify(&refresh, "r"), Err(TokenProblem::Expired));
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
        assert!(second.consume_refresh("j", now() + 60));
        assert!(
            !first.consume_refresh("j", now() + 60),
            "used in another emulator"
        );
        let third = Emulator::new(config).unwrap();
        assert_eq!(third.verify(&token, "r"), Err(TokenProblem::Invalid));
    }
}
