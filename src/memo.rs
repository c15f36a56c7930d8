//! Compile-once caches keyed by source text: a flow repeats its templates and JSONPaths
//! (`<<api>>/...`, `$.id`), and every repetition shares the first compilation. Bounded: past
//! [`MAX_ENTRIES`] a cache starts again.

use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept before a cache starts again.
pub const MAX_ENTRIES: usize = 100_000;

/// A process-wide cache from source text to its compiled form.
pub struct Memo<T>(Mutex<Option<HashMap<String, T>>>);

impl<T: Clone> Memo<T> {
    pub const fn new() -> Memo<T> {
        Memo(Mutex::new(None))
    }

    /// The compiled form of `key`, made by `make` the first time.
    pub fn get_or(&self, key: &str, make: impl FnOnce() -> T) -> T {
        if let Some(found) = self.lock().as_ref().and_then(|m| m.get(key)) {
            return found.clone();
        }
        let made = make();
        let mut guard = self.lock();
        let map = guard.get_or_insert_with(HashMap::new);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key.to_string(), made.clone());
        made
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<String, T>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone> Default for Memo<T> {
    fn default() -> Memo<T> {
        Memo::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_once_per_key() {
        let memo: Memo<usize> = Memo::new();
        let mut made = 0;
        for _ in 0..3 {
            memo.get_or("a", || {
                made += 1;
                7
            });
        }
        assert_eq!(made, 1);
        assert_eq!(memo.get_or("b", || 8), 8);
    }
}
