//! Target `store`: any bytes as a profile's file in the token store, read the way every
//! command reads it (`ProfileStore::read`), then used the way `status`, `env` and the refresh
//! logic use it.
//!
//! Properties: no panic; a file that cannot be read is an error naming the file; a file that
//! is read has a format dmflow knows, gives every value as text and its expiry, and survives
//! being written back (`write_locked` writes it as pretty JSON) and read again unchanged.

use dmflow::store::{ProfileData, ProfileStore};
use std::path::PathBuf;

thread_local! {
    /// A state directory per thread (tests run in parallel), removed at exit.
    static STATE_DIR: tempfile::TempDir = tempfile::tempdir().expect("a temporary directory");
}

fn state_dir() -> PathBuf {
    STATE_DIR.with(|dir| dir.path().to_path_buf())
}

pub fn fuzz(data: &[u8]) {
    check(data);
}

pub fn check(bytes: &[u8]) {
    let store = ProfileStore::new(&state_dir(), "fuzz").expect("a valid profile name");
    let dir = store.path.parent().expect("profiles/");
    std::fs::create_dir_all(dir).expect("the profiles directory");
    std::fs::write(&store.path, bytes).expect("the profile's file");
    let data = match store.read() {
        Ok(data) => data,
        Err(e) => {
            let path = store.path.display().to_string();
            assert!(
                e.to_string().contains(&path),
                "the error does not name the file: {e}"
            );
            return;
        }
    };
    assert!(data.version <= 1, "read a format from the future");
    for name in data.values.keys() {
        assert!(data.text(name).is_some());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let _ = data.needs_refresh(now);
    let written = serde_json::to_vec_pretty(&data).expect("a profile serializes");
    let again: ProfileData = serde_json::from_slice(&written).unwrap_or_else(|e| {
        panic!(
            "dmflow cannot read back what it writes ({e}): {}",
            String::from_utf8_lossy(&written)
        )
    });
    assert_eq!(
        serde_json::to_value(&again).ok(),
        serde_json::to_value(&data).ok(),
        "the profile changed when written and read back"
    );
}
