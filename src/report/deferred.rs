//! Step lines written to stderr in batches when stderr is not a terminal (a CI log, a file):
//! a `write(2)` for each step's line cost about a tenth of a step against a local server. The
//! command line's terminal writes each step's lines here without flushing; a thread writes
//! what waits at most [`PACE`] after it came, and anything else written through the terminal
//! (a note, an error, the summary), the end of the command and a signal write it at once, so
//! the order of lines never changes. A terminal gets its lines at once, as before.

use std::io::{self, Write};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The longest a step's line waits before it is written.
pub const PACE: Duration = Duration::from_millis(20);

/// More than this much waiting is written at once.
const MOST_HELD: usize = 64 * 1024;

/// Bytes for stderr not written yet, and when the first of them came.
struct Held {
    bytes: Vec<u8>,
    since: Option<Instant>,
}

static HELD: Mutex<Held> = Mutex::new(Held {
    bytes: Vec::new(),
    since: None,
});
/// Wakes the writing thread when bytes come after none were waiting.
static CAME: Condvar = Condvar::new();

/// stderr, where a write waits (at most [`PACE`]) until the writing thread or [`flush`]
/// writes it out. Without that thread (it could not start), every write goes out at once.
pub struct DeferredStderr;

impl Write for DeferredStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut held = held();
        held.bytes.extend_from_slice(buf);
        if held.bytes.len() >= MOST_HELD || !writer_started() {
            write_out(&mut held)?;
        } else if held.since.is_none() {
            held.since = Some(Instant::now());
            CAME.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        write_out(&mut held())
    }
}

/// Writes what waits to stderr now: before the command line writes to stderr itself, and when
/// a command ends.
pub fn flush() {
    let _ = DeferredStderr.flush();
}

fn held() -> MutexGuard<'static, Held> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the writing thread once; whether it runs.
fn writer_started() -> bool {
    static STARTED: OnceLock<bool> = OnceLock::new();
    *STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("dmflow-stderr".into())
            .spawn(write_when_due)
            .is_ok()
    })
}

/// The writing thread: sleeps until bytes wait, then until they are [`PACE`] old.
fn write_when_due() {
    let mut held = held();
    loop {
        held = match held.since {
            None => CAME.wait(held).unwrap_or_else(|e| e.into_inner()),
            Some(since) => match (since + PACE).checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => CAME
                    .wait_timeout(held, left)
                    .map_or_else(|e| e.into_inner().0, |(held, _)| held),
                _ => {
                    let _ = write_out(&mut held);
                    held
                }
            },
        };
    }
}

/// The lock is held while writing, so lines from two threads keep their order.
fn write_out(held: &mut Held) -> io::Result<()> {
    held.since = None;
    if held.bytes.is_empty() {
        return Ok(());
    }
    let written = io::stderr().lock().write_all(&held.bytes);
    held.bytes.clear();
    written
}
