//! What the emulator must remember about tokens it signed, shared by every emulator on one
//! state directory (`dmflow mock`, each `dmflow run --mock`): revoked grants, refresh tokens
//! already exchanged, and "expire everything issued before T".
//!
//! On disk it is a snapshot (`emulator.json`) plus an append-only journal
//! (`emulator.journal`, one JSON event a line after a header naming the snapshot's epoch).
//! A change appends one line under the state's lock; when the journal passes
//! [`COMPACT_BYTES`] the writer folds it into a new snapshot, dropping every entry whose token
//! would be expired anyway, and starts a new journal (new epoch). Readers pick up the lines
//! they have not seen; a changed epoch makes them read the snapshot again. Memory is pruned
//! the same way, so both stay bounded by the tokens still alive.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A journal longer than this is folded into the snapshot by the next writer.
pub const COMPACT_BYTES: u64 = 64 * 1024;

/// Entries kept in memory before expired ones are swept out.
const SWEEP_EVERY: usize = 1024;

/// The lasting state, with each entry's expiry (unix seconds).
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Persisted {
    /// The snapshot's epoch; the journal that extends it carries the same.
    #[serde(default)]
    pub epoch: String,
    /// Revoked grants, until the last token they could have issued expires.
    #[serde(default, deserialize_with = "expiring")]
    pub revoked_grants: BTreeMap<String, i64>,
    /// Refresh tokens already exchanged (rotation), until they would have expired.
    #[serde(default, deserialize_with = "expiring")]
    pub used_refresh: BTreeMap<String, i64>,
    /// Access tokens issued before this instant (unix µs) are expired (fault injection).
    #[serde(default)]
    pub access_expired_before_us: i64,
    /// Refresh tokens issued before this instant (unix µs) are expired (fault injection).
    #[serde(default)]
    pub refresh_expired_before_us: i64,
    /// The single instant (unix seconds) of state files written before the split (read,
    /// never written).
    #[serde(default, skip_serializing)]
    expired_before: Option<i64>,
}

/// How long an entry of an old state file (a bare list, no expiries) is kept.
const LEGACY_KEEP: i64 = 90 * 86_400;

/// Reads `{"id": expiry}`, or the bare list of ids older state files hold.
fn expiring<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Map(BTreeMap<String, i64>),
        List(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::Map(map) => map,
        Either::List(list) => {
            let until = super::ids::now() + LEGACY_KEEP;
            list.into_iter().map(|id| (id, until)).collect()
        }
    })
}

/// One change, as a journal line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Revoked {
        gid: String,
        until: i64,
    },
    UsedRefresh {
        jti: String,
        until: i64,
    },
    /// Access tokens issued before `before_us` (unix µs) are expired.
    ExpireAccess {
        before_us: i64,
    },
    ExpireRefresh {
        before_us: i64,
    },
}

#[derive(Serialize, Deserialize)]
struct Header {
    epoch: String,
}

impl Persisted {
    fn apply(&mut self, event: &Event) {
        match event {
            Event::Revoked { gid, until } => {
                let kept = self.revoked_grants.entry(gid.clone()).or_insert(*until);
                *kept = (*kept).max(*until);
            }
            Event::UsedRefresh { jti, until } => {
                let kept = self.used_refresh.entry(jti.clone()).or_insert(*until);
                *kept = (*kept).max(*until);
            }
            Event::ExpireAccess { before_us } => {
                self.access_expired_before_us = self.access_expired_before_us.max(*before_us)
            }
            Event::ExpireRefresh { before_us } => {
                self.refresh_expired_before_us = self.refresh_expired_before_us.max(*before_us)
            }
        }
    }

    fn settle_legacy(&mut self) {
        if let Some(before) = self.expired_before.take() {
            let before_us = before.saturating_mul(1_000_000);
            self.access_expired_before_us = self.access_expired_before_us.max(before_us);
            self.refresh_expired_before_us = self.refresh_expired_before_us.max(before_us);
        }
    }

    /// Drops every entry whose token is expired anyway.
    pub fn prune(&mut self, now: i64) {
        self.revoked_grants.retain(|_, until| *until > now);
        self.used_refresh.retain(|_, until| *until > now);
    }

    pub fn entries(&self) -> usize {
        self.revoked_grants.len() + self.used_refresh.len()
    }
}

struct Memory {
    persisted: Persisted,
    /// Bytes of the journal already applied (of the epoch in `persisted`).
    offset: u64,
    /// The snapshot file this memory was read from.
    stamp: Option<(std::time::SystemTime, u64)>,
    /// Entries at the last sweep.
    swept_at: usize,
}

/// The lasting state of one emulator: in memory, and on disk when it has a state file.
pub struct Ledger {
    file: Option<PathBuf>,
    memory: Mutex<Memory>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ledger {
    /// A ledger over `file` (`emulator.json`), or in memory only.
    pub fn open(file: Option<PathBuf>) -> Result<Ledger, String> {
        let mut memory = Memory {
            persisted: Persisted::default(),
            offset: 0,
            stamp: None,
            swept_at: 0,
        };
        if let Some(path) = &file {
            reload(path, &mut memory).map_err(|e| describe(path, e))?;
        }
        Ok(Ledger {
            file,
            memory: Mutex::new(memory),
        })
    }

    /// Reads `f` of the state as this process knows it.
    pub fn read<R>(&self, f: impl FnOnce(&Persisted) -> R) -> R {
        f(&lock(&self.memory).persisted)
    }

    /// Picks up what other processes recorded.
    pub fn sync(&self) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        refresh(path, &mut lock(&self.memory))
    }

    /// Records a change (appended to the journal under the lock when there is a file).
    pub fn record(&self, event: Event) -> std::io::Result<()> {
        self.record_if(event, |_| true).map(|_| ())
    }

    /// Records `event` unless `allowed` refuses it on the state as it is now (read under the
    /// lock, other processes' changes included); tells whether it was recorded.
    pub fn record_if(
        &self,
        event: Event,
        allowed: impl FnOnce(&Persisted) -> bool,
    ) -> std::io::Result<bool> {
        let mut memory = lock(&self.memory);
        let Some(path) = &self.file else {
            if !allowed(&memory.persisted) {
                return Ok(false);
            }
            memory.persisted.apply(&event);
            sweep(&mut memory);
            return Ok(true);
        };
        let _lock = crate::fsutil::FileLock::acquire(&path.with_extension("lock"))?;
        refresh(path, &mut memory)?;
        if !allowed(&memory.persisted) {
            return Ok(false);
        }
        append(path, &mut memory, &event)?;
        memory.persisted.apply(&event);
        if memory.offset > COMPACT_BYTES {
            compact(path, &mut memory)?;
        } else {
            sweep(&mut memory);
        }
        Ok(true)
    }
}

fn describe(path: &Path, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::InvalidData {
        format!(
            "{} is not an emulator state file ({e}); delete it to start afresh",
            path.display()
        )
    } else {
        format!("cannot read {}: {e}", path.display())
    }
}

fn journal_of(path: &Path) -> PathBuf {
    path.with_extension("journal")
}

/// Sweeps expired entries out of memory once they have doubled since the last sweep.
fn sweep(memory: &mut Memory) {
    let entries = memory.persisted.entries();
    if entries >= memory.swept_at.max(SWEEP_EVERY / 2) * 2 {
        memory.persisted.prune(super::ids::now());
        memory.swept_at = memory.persisted.entries();
    }
}

fn read_snapshot(path: &Path) -> std::io::Result<Persisted> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut persisted: Persisted = serde_json::from_str(&text)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            persisted.settle_legacy();
            Ok(persisted)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Persisted::default()),
        Err(e) => Err(e),
    }
}

/// When the snapshot was last replaced (a compaction makes a new file).
fn stamp(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads the snapshot and its journal afresh.
fn reload(path: &Path, memory: &mut Memory) -> std::io::Result<()> {
    memory.stamp = stamp(path);
    memory.persisted = read_snapshot(path)?;
    memory.persisted.prune(super::ids::now());
    memory.offset = 0;
    catch_up(path, memory)
}

/// Brings memory up to the files: the whole state again when another process compacted,
/// else the journal lines not yet applied.
fn refresh(path: &Path, memory: &mut Memory) -> std::io::Result<()> {
    if stamp(path) != memory.stamp {
        reload(path, memory)
    } else {
        catch_up(path, memory)
    }
}

/// Applies the journal lines not yet seen. A journal of another epoch than the snapshot's was
/// left by a writer that died mid-compaction: the snapshot already holds it, and the next
/// writer starts a fresh one.
fn catch_up(path: &Path, memory: &mut Memory) -> std::io::Result<()> {
    let mut file = match std::fs::File::open(journal_of(path)) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() < memory.offset {
        memory.offset = 0;
    }
    let mut reader = std::io::BufReader::new(&mut file);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let header: Option<Header> = serde_json::from_str(first.trim_end()).ok();
    if !first.ends_with('\n') || header.is_none_or(|h| h.epoch != memory.persisted.epoch) {
        return Ok(());
    }
    let start = memory.offset.max(first.len() as u64);
    reader.seek(SeekFrom::Start(start))?;
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest)?;
    let complete = rest
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |at| at + 1);
    for line in rest[..complete].split(|b| *b == b'\n') {
        if let Ok(event) = serde_json::from_slice::<Event>(line) {
            memory.persisted.apply(&event);
        }
    }
    memory.offset = start + complete as u64;
    Ok(())
}

/// Appends one event (the journal is created, with its header, when missing or stale).
fn append(path: &Path, memory: &mut Memory, event: &Event) -> std::io::Result<()> {
    let journal = journal_of(path);
    let current = memory.offset > 0 && journal.exists();
    if !current {
        if memory.persisted.epoch.is_empty() {
            return compact(path, memory).and_then(|()| append(path, memory, event));
        }
        start_journal(path, memory)?;
    }
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new().append(true).open(&journal)?;
    file.write_all(&line)?;
    memory.offset += line.len() as u64;
    Ok(())
}

/// Replaces the journal with an empty one for the snapshot's epoch.
fn start_journal(path: &Path, memory: &mut Memory) -> std::io::Result<()> {
    let header = Header {
        epoch: memory.persisted.epoch.clone(),
    };
    let mut text = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
    text.push(b'\n');
    crate::fsutil::write_atomic(&journal_of(path), &text)?;
    memory.offset = text.len() as u64;
    Ok(())
}

/// Folds everything into a new snapshot (new epoch, expired entries dropped) and starts an
/// empty journal. Called under the lock.
fn compact(path: &Path, memory: &mut Memory) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsutil::private_dir(dir)?;
    }
    memory.persisted.prune(super::ids::now());
    memory.persisted.epoch = super::ids::random_id(9);
    let text = serde_json::to_vec_pretty(&memory.persisted).map_err(std::io::Error::other)?;
    crate::fsutil::remove_stale_temps(path);
    crate::fsutil::write_atomic(path, &text)?;
    memory.stamp = stamp(path);
    memory.swept_at = memory.persisted.entries();
    start_journal(path, memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(jti: &str, until: i64) -> Event {
        Event::UsedRefresh {
            jti: jti.into(),
            until,
        }
    }

    #[test]
    fn two_ledgers_on_one_file_see_each_other_and_refuse_a_second_use() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("emulator.json");
        let a = Ledger::open(Some(file.clone())).unwrap();
        let b = Ledger::open(Some(file.clone())).unwrap();
        let far = super::super::ids::now() + 1000;
        let fresh = |p: &Persisted| !p.used_refresh.contains_key("r1");
        assert!(a.record_if(used("r1", far), fresh).unwrap());
        assert!(
            !b.record_if(used("r1", far), fresh).unwrap(),
            "b sees a's use"
        );
        b.record(Event::Revoked {
            gid: "g".into(),
            until: far,
        })
        .unwrap();
        a.sync().unwrap();
        assert!(a.read(|p| p.revoked_grants.contains_key("g")));
        let c = Ledger::open(Some(file)).unwrap();
        assert!(
            c.read(|p| p.used_refresh.contains_key("r1") && p.revoked_grants.contains_key("g"))
        );
    }

    #[test]
    fn the_journal_is_appended_then_compacted_and_expired_entries_go() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("emulator.json");
        let ledger = Ledger::open(Some(file.clone())).unwrap();
        let now = super::super::ids::now();
        ledger.record(used("old", now - 1)).unwrap();
        let snapshot = std::fs::read(&file).unwrap();
        ledger.record(used("kept-0", now + 1000)).unwrap();
        assert_eq!(
            std::fs::read(&file).unwrap(),
            snapshot,
            "a change appends to the journal; the snapshot is not rewritten"
        );
        let journal = journal_of(&file);
        let mut count = 1;
        while std::fs::metadata(&journal).unwrap().len() <= COMPACT_BYTES / 2 {
            ledger
                .record(used(&format!("kept-{count}"), now + 1000))
                .unwrap();
            count += 1;
        }
        let before = std::fs::read(&file).unwrap();
        let other = Ledger::open(Some(file.clone())).unwrap();
        for i in count..count * 3 {
            other
                .record(used(&format!("kept-{i}"), now + 1000))
                .unwrap();
        }
        assert!(
            std::fs::metadata(&journal).unwrap().len() <= COMPACT_BYTES,
            "compacted"
        );
        assert_ne!(std::fs::read(&file).unwrap(), before, "a new snapshot");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("\"old\""), "expired entries are dropped");
        ledger.sync().unwrap();
        assert_eq!(
            ledger.read(|p| p.used_refresh.len()),
            count * 3,
            "the first ledger follows the compaction"
        );
    }

    #[test]
    fn an_old_state_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("emulator.json");
        std::fs::write(
            &file,
            r#"{"revoked_grants": ["g1"], "used_refresh": ["j1"], "expired_before": 77}"#,
        )
        .unwrap();
        let ledger = Ledger::open(Some(file)).unwrap();
        ledger.read(|p| {
            assert!(p.revoked_grants.contains_key("g1") && p.used_refresh.contains_key("j1"));
            assert_eq!(
                (p.access_expired_before_us, p.refresh_expired_before_us),
                (77_000_000, 77_000_000)
            );
        });
    }

    #[test]
    fn memory_alone_is_swept() {
        let ledger = Ledger::open(None).unwrap();
        let now = super::super::ids::now();
        for i in 0..5000 {
            ledger.record(used(&format!("gone-{i}"), now - 1)).unwrap();
        }
        assert!(ledger.read(Persisted::entries) < SWEEP_EVERY * 2);
    }
}
