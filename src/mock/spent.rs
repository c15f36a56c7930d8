//! Single use, in bounded memory: the markers of consent requests already answered and
//! authorization codes already exchanged. Each marker is kept only until the value it marks
//! expires (by then the value is refused anyway), in buckets of one minute that are dropped
//! whole, so memory follows the values still alive, never the total ever issued.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Width of a bucket, in seconds.
const BUCKET: i64 = 60;

#[derive(Default)]
pub struct Spent {
    /// (first expiry second of the bucket, markers), oldest first.
    buckets: Mutex<VecDeque<(i64, HashSet<u64>)>>,
}

impl Spent {
    /// Marks `id` (a value valid until `expires`) as used; false when it already was.
    pub fn spend(&self, id: u64, expires: i64, now: i64) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        while buckets
            .front()
            .is_some_and(|(start, _)| start + BUCKET <= now)
        {
            buckets.pop_front();
        }
        if buckets.iter().any(|(_, ids)| ids.contains(&id)) {
            return false;
        }
        let start = expires - expires.rem_euclid(BUCKET);
        let at = buckets.partition_point(|(s, _)| *s < start);
        if buckets.get(at).is_none_or(|(s, _)| *s != start) {
            buckets.insert(at, (start, HashSet::new()));
        }
        buckets[at].1.insert(id);
        true
    }

    /// Markers held (for tests and the load benchmark's sanity).
    pub fn len(&self) -> usize {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets.iter().map(|(_, ids)| ids.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_is_spent_once_and_forgotten_after_its_value_expires() {
        let spent = Spent::default();
        assert!(spent.spend(1, 1_000, 500));
        assert!(!spent.spend(1, 1_000, 600), "used twice");
        assert!(spent.spend(2, 1_130, 600));
        assert_eq!(spent.len(), 2);
        assert!(spent.spend(3, 2_000, 1_061), "a later value");
        assert_eq!(
            spent.len(),
            2,
            "the bucket of 1 went once its values expired"
        );
        assert!(spent.spend(1, 2_000, 1_061), "its marker with it");
    }
}
