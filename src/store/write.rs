//! Writing a profile so that a crash leaves the old file or the new one: a temp file beside it
//! (0600), fsynced, renamed over it, the directory fsynced. The temp file is made first, as a
//! reservation: written in full (not sparse) with more room than the new profile needs, it
//! proves the directory writable and holds the disk space before a token request is sent, so
//! the profile is then written over bytes already allocated. Its first line names the process
//! and the refresh token about to be spent (a fingerprint): left behind by a process that died
//! before storing the answer, it tells the next one why the stored refresh token may be dead.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;

/// Room reserved beyond the current profile: token answers are a few KiB at most.
pub const SLACK: u64 = 64 * 1024;

/// The first line of a reservation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    pub pid: u32,
    pub at: i64,
    /// The fingerprint of the refresh token being spent, for a refresh.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub spending: Option<String>,
    /// Set when the answer came but could not be written.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    dmflow_reservation: Marker,
}

/// A reserved write: the temp file, removed on drop unless committed or kept as a marker.
#[derive(Debug)]
pub struct Reservation {
    file: Option<File>,
    path: PathBuf,
    marker: Marker,
}

fn directory_of(target: &Path) -> &Path {
    target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// `.NAME.` : the prefix of every temp file of `target`.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

impl Reservation {
    /// Creates the temp file of `target` and writes `size` bytes into it: the marker line,
    /// then spaces; fsynced.
    pub fn create(target: &Path, spending: Option<String>, size: u64) -> std::io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = directory_of(target).join(format!(
            "{}{}-{}.tmp",
            temp_prefix(target),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        options.mode(0o600);
        let file = options.open(&path)?;
        let mut reservation = Reservation {
            file: Some(file),
            path,
            marker: Marker {
                pid: std::process::id(),
                at: jiff::Timestamp::now().as_second(),
                spending,
                reason: None,
            },
        };
        reservation.fill(size)?;
        Ok(reservation)
    }

    fn fill(&mut self, size: u64) -> std::io::Result<()> {
        let line = marker_line(&self.marker);
        let file = self.file.as_mut().expect("an open reservation");
        file.write_all(&line)?;
        let chunk = vec![b' '; 8192];
        let mut left = size.saturating_sub(line.len() as u64);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` over the reservation and renames it onto `target`. When that fails, a
    /// reservation that spent a refresh token stays on disk as the record of an answer that
    /// was not stored (see [`leftovers`]); any other is removed.
    pub fn commit(mut self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut file = self.file.take().expect("an open reservation");
        let written: std::io::Result<()> = (|| {
            file.seek(SeekFrom::Start(0))?;
            file.write_all(bytes)?;
            file.set_len(bytes.len() as u64)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&self.path, target)?;
            if let Ok(dir) = File::open(directory_of(target)) {
                let _ = dir.sync_all();
            }
            Ok(())
        })();
        match &written {
            Ok(()) => self.path = PathBuf::new(),
            Err(e) if self.marker.spending.is_some() => self.keep_as_marker(&e.to_string()),
            Err(_) => {}
        }
        written
    }

    /// Gives the reservation up after a request that got no answer: one that spent a refresh
    /// token stays on disk as the record of it, with the reason.
    pub fn abandon(mut self, reason: &str) {
        if self.marker.spending.is_some() {
            self.keep_as_marker(reason);
        }
    }

    /// Leaves the reservation on disk as the record of an answer that was not stored, with
    /// the reason (written over its first bytes, which are allocated already).
    fn keep_as_marker(&mut self, reason: &str) {
        self.marker.reason = Some(reason.chars().take(300).collect());
        let line = marker_line(&self.marker);
        let rewritten = File::options()
            .write(true)
            .open(&self.path)
            .and_then(|mut f| {
                f.write_all(&line)?;
                f.sync_all()
            });
        let _ = rewritten;
        self.file = None;
        self.path = PathBuf::new();
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn marker_line(marker: &Marker) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Line {
        dmflow_reservation: marker.clone(),
    })
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// Makes an empty temp file beside `target` and removes it: the directory is writable.
pub fn probe(target: &Path) -> std::io::Result<()> {
    let path = directory_of(target).join(format!(
        "{}{}-probe.tmp",
        temp_prefix(target),
        std::process::id()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(&path)?;
    std::fs::remove_file(&path)
}

/// The temp files of `target` other than `except`.
fn temps(target: &Path, except: Option<&Path>) -> Vec<PathBuf> {
    let prefix = temp_prefix(target);
    let Ok(entries) = std::fs::read_dir(directory_of(target)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with(&prefix) && name.ends_with(".tmp")
        })
        .map(|entry| entry.path())
        .filter(|path| Some(path.as_path()) != except)
        .collect()
}

/// A temp file left beside `target` by a writer that died (the caller holds the lock every
/// writer takes, so no other temp file is alive): still a reservation, or a profile written in
/// full whose rename never came.
#[derive(Debug)]
pub enum Leftover {
    Reserved(Marker),
    /// The text of a write that was not renamed (it may be cut short: the caller parses it).
    Written(String),
}

/// The most of a leftover read: a profile is a few KiB.
const LEFTOVER_CAP: u64 = 16 * 1024 * 1024;

/// The temp files left beside `target` by writers that died.
pub fn leftovers(target: &Path) -> Vec<Leftover> {
    temps(target, None)
        .into_iter()
        .filter_map(|path| {
            let mut text = String::new();
            File::open(path)
                .ok()?
                .take(LEFTOVER_CAP)
                .read_to_string(&mut text)
                .ok()?;
            let first = text.lines().next().unwrap_or_default();
            Some(match serde_json::from_str::<Line>(first) {
                Ok(line) => Leftover::Reserved(line.dmflow_reservation),
                Err(_) => Leftover::Written(text),
            })
        })
        .collect()
}

/// Removes the temp files writers that died left beside `target`, but `keep`.
pub fn remove_stale(target: &Path, keep: &Path) {
    for path in temps(target, Some(keep)) {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The markers of the reservations left beside `target` by writers that died.
    fn stale_markers(target: &Path) -> Vec<Marker> {
        leftovers(target)
            .into_iter()
            .filter_map(|leftover| match leftover {
                Leftover::Reserved(marker) => Some(marker),
                Leftover::Written(_) => None,
            })
            .collect()
    }

    #[test]
    fn a_reservation_holds_its_room_and_commits_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("p.json");
        let reservation = Reservation::create(&target, Some("ab12".into()), 10_000).unwrap();
        assert_eq!(std::fs::metadata(reservation.path()).unwrap().len(), 10_000);
        let markers = stale_markers(&target);
        assert_eq!(markers.len(), 1);
        assert_eq!(markers[0].spending.as_deref(), Some("ab12"));
        reservation.commit(&target, b"{\"x\": 1}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"{\"x\": 1}");
        assert!(stale_markers(&target).is_empty(), "renamed away");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_dropped_reservation_leaves_nothing_and_a_kept_one_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("p.json");
        drop(Reservation::create(&target, None, 100).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut kept = Reservation::create(&target, Some("cd34".into()), 100).unwrap();
        let path = kept.path().to_path_buf();
        kept.keep_as_marker("No space left on device");
        let markers = stale_markers(&target);
        assert_eq!(
            markers[0].reason.as_deref(),
            Some("No space left on device")
        );
        remove_stale(&target, Path::new(""));
        assert!(!path.exists());
    }
}
