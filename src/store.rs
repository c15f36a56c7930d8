//! The token store: one JSON file per profile under the state directory, holding the outputs
//! of the flows run with that profile (tokens, user id, ...) and what is needed to refresh.
//!
//! Directory 0700, files 0600, written atomically (temp file, fsync, rename) under an
//! advisory lock, merged with what is on disk so concurrent writers do not lose each other's
//! values. A file that cannot be read is an error naming it; it is never replaced silently.

use crate::fsutil::{FileLock, private_dir, write_atomic};
use crate::tokens::names::{EXPIRES_AT, EXPIRES_IN};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

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
}

/// Where a profile lives.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    pub name: String,
    pub path: PathBuf,
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Runs file work on tokio's blocking threads (or right here outside a runtime).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| StoreError(format!("the token store's worker failed: {e}")))?,
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

impl ProfileStore {
    pub fn new(state_dir: &Path, name: &str) -> Result<ProfileStore, StoreError> {
        if !valid_profile(name) {
            return Err(StoreError(format!(
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

    /// Reads the profile; an absent file is an empty profile.
    pub fn read(&self) -> Result<ProfileData, StoreError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let data: ProfileData = serde_json::from_str(&text).map_err(|e| {
                    StoreError(format!(
                        "the token store {} is corrupt ({e}); it was left as it is: move it away, then sign in again",
                        self.path.display()
                    ))
                })?;
                if data.version > FORMAT_VERSION {
                    return Err(StoreError(format!(
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
            Err(e) => Err(StoreError(format!(
                "cannot read the token store {}: {e}",
                self.path.display()
            ))),
        }
    }

    /// Takes the profile's lock (blocking until other writers are done).
    pub fn lock(&self) -> Result<FileLock, StoreError> {
        if let Some(dir) = self.path.parent() {
            private_dir(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        FileLock::acquire(&self.lock_path())
            .map_err(|e| StoreError(format!("cannot lock {}: {e}", self.lock_path().display())))
    }

    /// Writes the profile atomically. The caller holds the lock, so any temp file beside the
    /// profile belongs to a writer that died mid-write: it is removed.
    pub fn write_locked(&self, data: &ProfileData) -> Result<(), StoreError> {
        crate::fsutil::remove_stale_temps(&self.path);
        let mut data = data.clone();
        data.version = FORMAT_VERSION;
        data.profile = self.name.clone();
        data.updated_at = jiff::Timestamp::now().as_second();
        let text = serde_json::to_vec_pretty(&data).map_err(|e| StoreError(e.to_string()))?;
        write_atomic(&self.path, &text).map_err(|e| {
            StoreError(format!(
                "cannot write the token store {}: {e}",
                self.path.display()
            ))
        })
    }

    /// Locks, re-reads, applies `change`, writes.
    pub fn update(&self, change: impl FnOnce(&mut ProfileData)) -> Result<ProfileData, StoreError> {
        let _lock = self.lock()?;
        let mut data = self.read()?;
        change(&mut data);
        self.write_locked(&data)?;
        Ok(data)
    }

    /// [`ProfileStore::lock`] off the async runtime's threads.
    pub async fn lock_async(&self) -> Result<FileLock, StoreError> {
        let store = self.clone();
        blocking(move || store.lock()).await
    }

    /// [`ProfileStore::read`] off the async runtime's threads.
    pub async fn read_async(&self) -> Result<ProfileData, StoreError> {
        let store = self.clone();
        blocking(move || store.read()).await
    }

    /// [`ProfileStore::write_locked`] off the async runtime's threads.
    pub async fn write_locked_async(&self, data: ProfileData) -> Result<(), StoreError> {
        let store = self.clone();
        blocking(move || store.write_locked(&data)).await
    }

    /// [`ProfileStore::update`] off the async runtime's threads.
    pub async fn update_async(
        &self,
        change: impl FnOnce(&mut ProfileData) + Send + 'static,
    ) -> Result<ProfileData, StoreError> {
        let store = self.clone();
        blocking(move || store.update(change)).await
    }

    /// Deletes the profile's file.
    pub fn delete(&self) -> Result<bool, StoreError> {
        let _lock = self.lock()?;
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError(format!(
                "cannot delete {}: {e}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), "work").unwrap();
        assert!(store.read().unwrap().values.is_empty());
        store
            .update(|d| {
                d.values.insert("ACCESS_TOKEN".into(), json!("a1"));
            })
            .unwrap();
        let data = store.read().unwrap();
        assert_eq!(data.text("ACCESS_TOKEN").as_deref(), Some("a1"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&store.path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            let profiles = store.path.parent().unwrap();
            assert_eq!(
                std::fs::metadata(profiles).unwrap().permissions().mode() & 0o777,
                0o700
            );
        }
    }

    #[test]
    fn corrupt_files_are_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::new(dir.path(), "default").unwrap();
        std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
        std::fs::write(&store.path, "{ not json").unwrap();
        let err = store.read().unwrap_err().0;
        assert!(err.contains(&store.path.display().to_string()), "{err}");
        assert!(store.update(|_| {}).is_err());
        assert_eq!(std::fs::read_to_string(&store.path).unwrap(), "{ not json");
    }

    #[test]
    fn profile_names_are_checked() {
        assert!(ProfileStore::new(Path::new("/tmp"), "../etc").is_err());
        assert!(ProfileStore::new(Path::new("/tmp"), "ci-main_2").is_ok());
    }

    #[test]
    fn refresh_skew() {
        let mut data = ProfileData::default();
        data.values.insert("EXPIRES_AT".into(), json!(1000 + 36000));
        data.values.insert("EXPIRES_IN".into(), json!(36000));
        assert!(!data.needs_refresh(1000));
        assert!(data.needs_refresh(1000 + 36000 - 3600));
        data.values.insert("EXPIRES_IN".into(), json!(100));
        data.values.insert("EXPIRES_AT".into(), json!(1100));
        assert!(!data.needs_refresh(1000));
        assert!(data.needs_refresh(1041));
    }
}
