//! Where uploaded files go: a directory of this emulator's own under `<state>/mock/uploads/`
//! (a temporary directory without a state file), locked for the emulator's life and removed
//! when it stops; directories left by emulators that died are removed by the next one to
//! start (their lock is free). A file is written as `ID.part` while it streams in and becomes
//! `ID` when complete; an upload that no video claims within [`UNCLAIMED_TTL`] is deleted,
//! and so is a video's file when the video is.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How long a finished upload waits for a video to use it.
pub const UNCLAIMED_TTL: i64 = 3600;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Uploading,
    Done,
    /// Too large, or broken off: the URL is spent (Dailymotion: get a new one).
    Failed,
}

#[derive(Debug, Clone)]
pub struct Upload {
    pub name: String,
    pub received: u64,
    /// The request's length, when it said (the file is a little smaller).
    pub expected: Option<u64>,
    pub phase: Phase,
    pub finished: i64,
    pub claimed: bool,
}

pub struct UploadStore {
    dir: PathBuf,
    /// Removed as well on drop (the emulator made it, without a state directory).
    temporary: Option<PathBuf>,
    _lock: File,
    entries: Mutex<HashMap<String, Upload>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl UploadStore {
    /// This emulator's upload directory under `base` (or a temporary one).
    pub fn open(base: Option<&Path>) -> Result<UploadStore, String> {
        let (base, temporary) = match base {
            Some(base) => (base.to_path_buf(), None),
            None => {
                let dir = std::env::temp_dir()
                    .join(format!("dmflow-emulator-{}", super::ids::random_id(9)));
                (dir.clone(), Some(dir))
            }
        };
        let fail =
            |what: &Path, e: std::io::Error| format!("cannot create {}: {e}", what.display());
        crate::fsutil::private_dir(&base).map_err(|e| fail(&base, e))?;
        remove_abandoned(&base);
        let dir = base.join(super::ids::random_id(9));
        crate::fsutil::private_dir(&dir).map_err(|e| fail(&dir, e))?;
        let lock_file = File::create(dir.join(".lock")).map_err(|e| fail(&dir, e))?;
        lock_file.lock().map_err(|e| fail(&dir, e))?;
        Ok(UploadStore {
            dir,
            temporary,
            _lock: lock_file,
            entries: Mutex::default(),
        })
    }

    /// The complete file of an upload.
    pub fn file(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    pub fn partial(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    /// Starts an upload; false when this id already has one (an upload URL is used once).
    pub fn begin(&self, id: &str, name: &str, expected: Option<u64>, now: i64) -> bool {
        let mut entries = lock(&self.entries);
        self.sweep(&mut entries, now);
        if entries.contains_key(id) {
            return false;
        }
        entries.insert(
            id.to_string(),
            Upload {
                name: name.to_string(),
                received: 0,
                expected,
                phase: Phase::Uploading,
                finished: 0,
                claimed: false,
            },
        );
        true
    }

    pub fn received(&self, id: &str, bytes: u64) {
        if let Some(upload) = lock(&self.entries).get_mut(id) {
            upload.received = bytes;
        }
    }

    /// The streamed file is complete: it takes its final name.
    pub fn finish(&self, id: &str, now: i64) -> std::io::Result<()> {
        std::fs::rename(self.partial(id), self.file(id))?;
        if let Some(upload) = lock(&self.entries).get_mut(id) {
            upload.phase = Phase::Done;
            upload.finished = now;
        }
        Ok(())
    }

    /// The upload did not complete: its partial file goes, its URL stays spent.
    pub fn fail(&self, id: &str, now: i64) {
        let _ = std::fs::remove_file(self.partial(id));
        if let Some(upload) = lock(&self.entries).get_mut(id) {
            upload.phase = Phase::Failed;
            upload.finished = now;
        }
    }

    /// Forgets an upload and deletes its file, partial or not.
    pub fn remove(&self, id: &str) {
        lock(&self.entries).remove(id);
        let _ = std::fs::remove_file(self.partial(id));
        let _ = std::fs::remove_file(self.file(id));
    }

    pub fn get(&self, id: &str) -> Option<Upload> {
        lock(&self.entries).get(id).cloned()
    }

    /// Marks a finished upload as the file of a video; false when it is not finished or
    /// already claimed.
    pub fn claim(&self, id: &str) -> bool {
        match lock(&self.entries).get_mut(id) {
            Some(upload) if upload.phase == Phase::Done && !upload.claimed => {
                upload.claimed = true;
                true
            }
            _ => false,
        }
    }

    /// Deletes finished uploads no video claimed in time, and forgets failed ones.
    fn sweep(&self, entries: &mut HashMap<String, Upload>, now: i64) {
        entries.retain(|id, upload| {
            let stale = upload.phase != Phase::Uploading
                && !upload.claimed
                && upload.finished + UNCLAIMED_TTL <= now;
            if stale {
                let _ = std::fs::remove_file(self.dir.join(id));
            }
            !stale
        });
    }
}

impl Drop for UploadStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(temporary) = &self.temporary {
            let _ = std::fs::remove_dir_all(temporary);
        }
    }
}

/// Removes the directories of emulators that are gone (nobody holds their lock).
fn remove_abandoned(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !dir.is_dir() {
            continue;
        }
        let free = File::open(dir.join(".lock")).is_ok_and(|f| f.try_lock().is_ok());
        if free {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_of_live_emulators_stay_and_abandoned_ones_go() {
        let base = tempfile::tempdir().unwrap();
        let first = UploadStore::open(Some(base.path())).unwrap();
        std::fs::write(first.file("kept"), b"x").unwrap();
        let abandoned = base.path().join("gone");
        std::fs::create_dir(&abandoned).unwrap();
        std::fs::write(abandoned.join(".lock"), b"").unwrap();
        let second = UploadStore::open(Some(base.path())).unwrap();
        assert!(first.file("kept").exists(), "a live emulator's files stay");
        assert!(!abandoned.exists(), "a dead emulator's directory goes");
        let dir = second.file("x").parent().unwrap().to_path_buf();
        drop(second);
        assert!(
            !dir.exists(),
            "an emulator removes its own directory when it stops"
        );
    }

    #[test]
    fn unclaimed_uploads_expire() {
        let store = UploadStore::open(None).unwrap();
        assert!(store.begin("a", "a.mp4", None, 0));
        assert!(
            !store.begin("a", "a.mp4", None, 0),
            "an upload id is used once"
        );
        std::fs::write(store.partial("a"), b"data").unwrap();
        store.finish("a", 10).unwrap();
        assert!(store.file("a").exists());
        assert!(store.begin("b", "b.mp4", None, 10 + UNCLAIMED_TTL));
        assert!(!store.file("a").exists() && store.get("a").is_none());
        let temporary = store.dir.parent().unwrap().to_path_buf();
        drop(store);
        assert!(!temporary.exists());
    }
}
