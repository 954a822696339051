//! Is the bucket there? Many servers answer a HEAD of an object in a missing bucket
//! with a bare 404, the same answer as for a missing object. Read as "the object is
//! gone", a wrong bucket name or endpoint would make object-created report every
//! copy as a stale event and object-deleted find every source key absent. So the
//! first time an object is missing, the bucket is checked (HEAD bucket), and a
//! bucket that is there is remembered for a while: one extra request per bucket a
//! minute, none per object.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::lock::lock;

/// How long a bucket seen to exist is taken to exist.
pub const REMEMBERED: Duration = Duration::from_secs(60);

/// Buckets seen to exist, and when.
#[derive(Debug, Default)]
pub struct KnownBuckets {
    seen: Mutex<HashMap<String, Instant>>,
}

impl KnownBuckets {
    /// True if `bucket` was seen to exist less than [`REMEMBERED`] ago.
    pub fn recently_seen(&self, bucket: &str) -> bool {
        lock(&self.seen).get(bucket).is_some_and(|at| at.elapsed() < REMEMBERED)
    }

    pub fn seen(&self, bucket: &str) {
        lock(&self.seen).insert(bucket.to_owned(), Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_seen_is_remembered_by_name() {
        let known = KnownBuckets::default();
        assert!(!known.recently_seen("a"));
        known.seen("a");
        assert!(known.recently_seen("a"));
        assert!(!known.recently_seen("b"));
    }
}
