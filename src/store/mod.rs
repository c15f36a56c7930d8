//! The token store: one JSON file per profile under the state directory, holding the outputs
//! of the flows run with that profile (tokens, user id, ...) and what is needed to refresh.
//!
//! Directory 0700, files 0600, kept like ssh keeps keys ([`hygiene`]: refused when others can
//! write it or another user owns it, tightened with a warning when others can read it, written
//! through a symlink to its target). Written atomically (temp file, fsync, rename, directory
//! fsync: [`write`]) under an advisory lock, re-read under that lock so concurrent writers do
//! not lose each other's values. Before a token request the write is reserved
//! ([`Locked::reserve`]), so a full disk or a read-only store is found before the provider
//! rotates anything. A file that cannot be read is an error naming it; it is never replaced.

pub mod hygiene;
mod write;

use crate::fsutil::{FileLock, private_dir};
use crate::tokens::names::{EXPIRES_AT, EXPIRES_IN, REFRESH_TOKEN};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
pub use write::Reservation;

pub const DEFAULT_PROFILE: &str = "default";
pub const MOCK_PROFILE: &str = "mock";
const FORMAT_VERSION: u32 = 1;

/// How to refresh the stored tokens without a flow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenEndpoint {
    pub token_url: String,
    pub client_id: String,
    /// `basic` or `form`.
    pub client_auth: String,
    /// Only when the user asked (`--store-client-secret`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_secret: Option<String>,
    /// The command that signed in, for "sign in again" hints.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sign_in: Option<String>,
}

/// A token request dmflow sent with the stored refresh token, whose answer was never stored
/// (the process was killed, or the store could not be written after the provider answered):
/// the provider may have rotated the refresh token, and the new one is lost.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Unanswered {
    /// The process that sent it, and when (Unix seconds).
    pub pid: u32,
    pub at: i64,
    /// The refresh token it spent, as a fingerprint.
    pub spending: String,
    /// Why its answer was not stored, when the process could still say.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl Unanswered {
    /// The explanation of an `invalid_grant` for the refresh token it spent.
    pub fn explain(&self) -> String {
        let at = jiff::Timestamp::from_second(self.at)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.at.to_string());
        let why = match &self.reason {
            Some(reason) => format!("could not store the answer ({reason})"),
            None => "ended before it could store the answer (killed?)".into(),
        };
        format!(
            "this refresh token had already been sent by dmflow (process {}, at {at}), which {why}: the provider rotated it then, and the new refresh token was lost",
            self.pid
        )
    }
}

/// The content of one profile's file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProfileData {
    pub version: u32,
    pub profile: String,
    /// Outputs handed on by flows: `ACCESS_TOKEN`, `REFRESH_TOKEN`, `EXPIRES_AT`, `USER_ID`...
    pub values: IndexMap<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub endpoint: Option<TokenEndpoint>,
    /// Unix seconds of the last write, the last token grant and the last refresh.
    pub updated_at: i64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub obtained_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refreshed_at: Option<i64>,
    /// Counts the changes of the stored tokens: a run hands its token outputs over only when
    /// no newer ones were stored since it read or wrote them (see `tokens::merge`).
    #[serde(default)]
    pub generation: u64,
    /// The stored refresh token was sent by a process that never stored the answer.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unanswered: Option<Unanswered>,
}

impl ProfileData {
    pub fn text(&self, name: &str) -> Option<String> {
        self.values.get(name).map(crate::template::value_to_text)
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.values.get(EXPIRES_AT).and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    }

    pub fn lifetime(&self) -> Option<i64> {
        self.values.get(EXPIRES_IN).and_then(|v| match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    }

    /// Whether the access token expires within the skew: 60 s, or 10% of its lifetime if that
    /// is longer.
    pub fn needs_refresh(&self, now: i64) -> bool {
        let Some(expires_at) = self.expires_at() else {
            return false;
        };
        let skew = self.lifetime().map(|l| (l / 10).max(60)).unwrap_or(60);
        expires_at - now <= skew
    }

    /// What is known about the stored refresh token having been sent without its answer being
    /// stored, if `token` is that refresh token.
    pub fn unanswered_for(&self, token: &str) -> Option<&Unanswered> {
        self.unanswered
            .as_ref()
            .filter(|u| u.spending == fingerprint(token))
    }
}

/// A short, one-way name for a token (the first 64 bits of its SHA-256, in hex).
pub fn fingerprint(token: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where a profile lives.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    pub name: String,
    pub path: PathBuf,
}

/// Why the store could not be used, and what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    pub message: String,
    pub help: Option<String>,
}

impl StoreError {
    pub fn new(message: impl Into<String>) -> StoreError {
        StoreError {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> StoreError {
        self.help = Some(help.into());
        self
    }
}

/// Runs file work on tokio's blocking threads (or right here outside a runtime).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| StoreError::new(format!("the token store's worker failed: {e}")))?,
        Err(_) => work(),
    }
}

pub fn valid_profile(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The help of every "cannot write the store" error.
const UNWRITABLE_HELP: &str = "free some space or fix the permissions, choose another state directory (--state-dir or DMFLOW_STATE_DIR), or run with --no-store";

impl ProfileStore {
    pub fn new(state_dir: &Path, name: &str) -> Result<ProfileStore, StoreError> {
        if !valid_profile(name) {
            return Err(StoreError::new(format!(
                "`{name}` is not a profile name: use letters, digits, - and _ (at most 64)"
            )));
        }
        Ok(ProfileStore {
            name: name.to_string(),
            path: state_dir.join("profiles").join(format!("{name}.json")),
        })
    }

    fn lock_path(&self) -> PathBuf {
        self.path.with_extension("lock")
    }

    /// Checks the store as ssh checks a key (see [`hygiene`]), tightening what others can
    /// read; returns the warnings to show. Call it once when a command opens the store.
    pub fn inspect(&self) -> Result<Vec<String>, StoreError> {
        hygiene::check(&self.path, true).map(|checked| checked.warnings)
    }

    /// Reads the profile; an absent file is an empty profile.
    pub fn read(&self) -> Result<ProfileData, StoreError> {
        let checked = hygiene::check(&self.path, false)?;
        match std::fs::read_to_string(&checked.target) {
            Ok(text) => {
                let data: ProfileData = serde_json::from_str(&text).map_err(|e| {
                    StoreError::new(format!(
                        "the token store {} is corrupt ({e}); it was left as it is: move it away, then sign in again",
                        self.path.display()
                    ))
                })?;
                if data.version > FORMAT_VERSION {
                    return Err(StoreError::new(format!(
                        "the token store {} was written by a newer dmflow (format {})",
                        self.path.display(),
                        data.version
                    )));
                }
                Ok(data)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ProfileData {
                version: FORMAT_VERSION,
                profile: self.name.clone(),
                ..ProfileData::default()
            }),
            Err(e) => Err(StoreError::new(format!(
                "cannot read the token store {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Takes the profile's lock (blocking until other writers are done).
    pub fn lock(&self) -> Result<Locked, StoreError> {
        let checked = hygiene::check(&self.path, false)?;
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(|e| {
                StoreError::new(format!("cannot create {}: {e}", dir.display()))
                    .with_help(UNWRITABLE_HELP)
            })?;
        }
        let lock = FileLock::acquire(&self.lock_path()).map_err(|e| {
            StoreError::new(format!(
                "the token store {} cannot be written (cannot lock {}: {e})",
                self.path.display(),
                self.lock_path().display()
            ))
            .with_help(UNWRITABLE_HELP)
        })?;
        Ok(Locked {
            store: self.clone(),
            target: checked.target,
            _lock: lock,
        })
    }

    /// Proves the store writable now: its directory is created if needed, and a temp file is
    /// written there and removed. For commands that would otherwise find out too late (a
    /// sign-in whose tokens could not be kept).
    pub fn probe(&self) -> Result<(), StoreError> {
        let locked = self.lock()?;
        locked.reserve(None).map(drop)
    }

    /// Locks, re-reads, applies `change`, writes.
    pub fn update(&self, change: impl FnOnce(&mut ProfileData)) -> Result<ProfileData, StoreError> {
        let locked = self.lock()?;
        let mut data = locked.read()?;
        change(&mut data);
        locked.write(&mut data, None)?;
        Ok(data)
    }

    /// [`ProfileStore::lock`] off the async runtime's threads.
    pub async fn lock_async(&self) -> Result<Locked, StoreError> {
        let store = self.clone();
        blocking(move || store.lock()).await
    }

    /// [`ProfileStore::read`] off the async runtime's threads.
    pub async fn read_async(&self) -> Result<ProfileData, StoreError> {
        let store = self.clone();
        blocking(move || store.read()).await
    }

    /// [`ProfileStore::update`] off the async runtime's threads.
    pub async fn update_async<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut ProfileData) -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        blocking(move || {
            let mut out = None;
            store.update(|data| out = Some(change(data)))?;
            out.ok_or_else(|| StoreError::new("the token store's update did not run"))
        })
        .await
    }

    /// Deletes the profile's file (its target, when it is a symlink).
    pub fn delete(&self) -> Result<bool, StoreError> {
        let locked = self.lock()?;
        locked.delete()
    }
}

/// A profile under its lock: read, reserve and write it.
pub struct Locked {
    store: ProfileStore,
    /// The file written: the profile's path, or the target of its symlink.
    target: PathBuf,
    _lock: FileLock,
}

impl Locked {
    /// Reads the profile. Temp files left by writers that died are cleared here: a profile
    /// written in full whose rename never came, newer than the stored one, is adopted (the
    /// writer died between its write and its rename); what the reservations of the others tell
    /// about the stored refresh token (see [`Unanswered`]) is written into the profile, so it
    /// outlives them.
    pub fn read(&self) -> Result<ProfileData, StoreError> {
        let mut data = self.store.read()?;
        let leftovers = write::leftovers(&self.target);
        if leftovers.is_empty() {
            return Ok(data);
        }
        let mut markers = Vec::new();
        let mut written: Option<ProfileData> = None;
        for leftover in leftovers {
            match leftover {
                write::Leftover::Reserved(marker) => markers.push(marker),
                write::Leftover::Written(text) => {
                    let Ok(profile) = serde_json::from_str::<ProfileData>(&text) else {
                        continue; // cut short: nothing to adopt
                    };
                    let newest = written.as_ref().map_or(data.generation, |w| w.generation);
                    if profile.profile == self.store.name
                        && profile.version <= FORMAT_VERSION
                        && profile.generation > newest
                    {
                        written = Some(profile);
                    }
                }
            }
        }
        if let Some(profile) = written {
            data = profile;
        } else if let Some(token) = data.text(REFRESH_TOKEN) {
            let spent = fingerprint(&token);
            let found = markers
                .into_iter()
                .filter(|m| m.spending.as_deref() == Some(spent.as_str()))
                .max_by_key(|m| m.at);
            if let Some(marker) = found {
                data.unanswered = Some(Unanswered {
                    pid: marker.pid,
                    at: marker.at,
                    spending: spent,
                    reason: marker.reason,
                });
            }
        }
        // Best effort: on a full disk the leftovers stay, and tell the same next time.
        let _ = self.write(&mut data.clone(), None);
        Ok(data)
    }

    /// Reserves the next write: a temp file beside the profile, written now with room for the
    /// profile and more, and naming the refresh token about to be spent (if any). Fails when
    /// the store cannot be written, before anything is sent.
    pub fn reserve(&self, spending: Option<&str>) -> Result<Reservation, StoreError> {
        let current = std::fs::metadata(&self.target)
            .map(|m| m.len())
            .unwrap_or(0);
        let size = (current * 2).max(current + write::SLACK);
        write::Reservation::create(&self.target, spending.map(fingerprint), size).map_err(|e| {
            StoreError::new(format!(
                "the token store {} cannot be written ({e}): nothing was sent",
                self.store.path.display()
            ))
            .with_help(UNWRITABLE_HELP)
        })
    }

    /// Writes the profile atomically, through `reservation` when there is one. Temp files of
    /// writers that died are removed (the caller holds the lock, so they can only be theirs).
    pub fn write(
        &self,
        data: &mut ProfileData,
        reservation: Option<Reservation>,
    ) -> Result<(), StoreError> {
        data.version = FORMAT_VERSION;
        data.profile = self.store.name.clone();
        data.updated_at = jiff::Timestamp::now().as_second();
        let text = serde_json::to_vec_pretty(&*data).map_err(|e| StoreError::new(e.to_string()))?;
        let reservation = match reservation {
            Some(reservation) => reservation,
            None => self.reserve(None)?,
        };
        write::remove_stale(&self.target, reservation.path());
        reservation.commit(&self.target, &text).map_err(|e| {
            StoreError::new(format!(
                "cannot write the token store {}: {e}",
                self.store.path.display()
            ))
            .with_help(UNWRITABLE_HELP)
        })
    }

    /// Proves the directory writable (a file can be made there) without needing disk space
    /// for a profile: what deleting the profile needs.
    pub fn probe(&self) -> Result<(), StoreError> {
        write::probe(&self.target).map_err(|e| {
            StoreError::new(format!(
                "the token store {} cannot be written ({e})",
                self.store.path.display()
            ))
            .with_help(UNWRITABLE_HELP)
        })
    }

    /// Deletes the profile's file, and what dead writers left beside it (nothing of the
    /// profile may come back).
    pub fn delete(&self) -> Result<bool, StoreError> {
        write::remove_stale(&self.target, Path::new(""));
        match std::fs::remove_file(&self.target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::new(format!(
                "cannot delete {}: {e}",
                self.store.path.display()
            ))),
        }
    }

    /// [`Locked::read`] off the async runtime's threads.
    pub async fn read_async(self) -> Result<(Locked, ProfileData), StoreError> {
        blocking(move || self.read().map(|data| (self, data))).await
    }

    /// [`Locked::probe`] off the async runtime's threads.
    pub async fn probe_async(self) -> Result<(Locked, ()), StoreError> {
        blocking(move || self.probe().map(|()| (self, ()))).await
    }

    /// [`Locked::reserve`] off the async runtime's threads.
    pub async fn reserve_async(
        self,
        spending: Option<String>,
    ) -> Result<(Locked, Reservation), StoreError> {
        blocking(move || {
            self.reserve(spending.as_deref())
                .map(|reservation| (self, reservation))
        })
        .await
    }

    /// [`Locked::write`] off the async runtime's threads; gives back the data as written.
    pub async fn write_async(
        self,
        mut data: ProfileData,
        reservation: Option<Reservation>,
    ) -> Result<(Locked, ProfileData), StoreError> {
        blocking(move || self.write(&mut data, reservation).map(|()| (self, data))).await
    }
}

#[cfg(test)]
mod tests;
