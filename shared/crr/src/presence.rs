//! Is the key in the source now? Deletes and mirror backfills ask it right before
//! acting, so a key re-created meanwhile keeps its replica. Few keys are asked a
//! HEAD each; many keys are looked up in one listing of their common prefix.

use std::collections::HashSet;
use std::time::Instant;

use futures::stream::{self, StreamExt};

use crate::config::Bucket;
use crate::copy::{source_error, Engine};
use crate::error::Error;
use crate::object::ObjectState;
use crate::retry::retry;
use crate::store::{List, Read, Store};

/// From this many keys, the source is listed once instead of asked key by key.
const LIST_AT: usize = 32;

/// The source bucket as the function's own identity sees it, within one invocation.
#[derive(Clone, Copy)]
pub struct SourceView<'a> {
    pub store: &'a Store,
    pub bucket: &'a Bucket,
    pub deadline: Option<Instant>,
    /// HEADs in flight at once.
    pub concurrency: usize,
}

impl Engine<'_> {
    /// The source this engine copies from.
    pub fn source_view(&self) -> SourceView<'_> {
        SourceView {
            store: self.source,
            bucket: self.source_bucket,
            deadline: self.deadline,
            concurrency: self.settings.record_concurrency,
        }
    }

    /// The replica at `key` now, `None` if there is none; transient faults are retried.
    pub async fn replica_now(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        retry(&format!("checking the replica of {key}"), self.deadline, |_| self.head_replica(key)).await
    }
}

impl SourceView<'_> {
    /// The source's object at `key` now, `None` if there is none; transient faults are retried.
    pub async fn source_now(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        retry(&format!("checking the source of {key}"), self.deadline, |_| async {
            self.store
                .head_found(&self.bucket.name, key, Read::default())
                .await
                .map_err(|f| source_error(self.bucket, "checking the source of", key, f))
        })
        .await
    }

    /// The source's object now at each of `keys`: the absent ones from one listing
    /// when there are many, the others from a HEAD each.
    pub async fn sources_now(&self, keys: &[&str]) -> Vec<(String, Result<Option<ObjectState>, Error>)> {
        let presence = self.listed_presence(keys).await;
        let presence = &presence;
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        stream::iter(keys)
            .map(|key| async move {
                let now = match presence {
                    Ok(Some(listed)) if !listed.contains(&key) => Ok(None),
                    Err(e) => Err(e.clone()),
                    _ => self.source_now(&key).await,
                };
                (key, now)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await
    }

    /// Which of `keys` exist in the source, from one listing of their common prefix,
    /// when there are enough keys for that to beat a HEAD each. `None`: ask per key
    /// (few keys, or the prefix holds too much else to list).
    pub async fn listed_presence(&self, keys: &[&str]) -> Result<Option<HashSet<String>>, Error> {
        if keys.len() < LIST_AT {
            return Ok(None);
        }
        let mut sorted: Vec<&str> = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
        let prefix = common_prefix(first, last);
        let budget = (sorted.len() * 4).max(5000);
        let wanted: HashSet<&str> = sorted.iter().copied().collect();
        let bucket = &self.bucket.name;
        let mut present = HashSet::new();
        let mut scanned = 0;
        let mut token: Option<String> = None;
        loop {
            let page = retry(&format!("listing {bucket}/{prefix}"), self.deadline, |_| {
                let list = List { prefix, continuation: token.as_deref(), ..List::default() };
                async move {
                    self.store.list(bucket, list).await.map_err(|mut f| {
                        f.message =
                            format!("{}; the function's own identity needs s3:ListBucket on {bucket}", f.message);
                        Error::storage("listing", bucket, prefix, f)
                    })
                }
            })
            .await?;
            for object in &page.objects {
                if object.key.as_str() > last {
                    return Ok(Some(present));
                }
                if wanted.contains(object.key.as_str()) {
                    present.insert(object.key.clone());
                }
            }
            scanned += page.objects.len();
            match page.next {
                Some(t) => token = Some(t),
                None => return Ok(Some(present)),
            }
            if scanned > budget {
                return Ok(None);
            }
        }
    }

    /// A HEAD of one version of a source object: `Ok(Err(404))` when the version is
    /// gone for good, `Ok(Err(405))` when it is a delete marker.
    pub async fn head_source_version(&self, key: &str, version: &str) -> Result<Result<(), u16>, Error> {
        let read = Read { version_id: Some(version), ..Read::default() };
        let error = |f| source_error(self.bucket, "checking the deleted version of", key, f);
        match self.store.head(&self.bucket.name, key, read).await {
            Ok(_) => Ok(Ok(())),
            Err(f) if f.status == Some(405) => Ok(Err(405)),
            // Gone for good, unless the bucket itself is missing.
            Err(f) => self.store.missing_object(&self.bucket.name, f).await.map(|()| Err(404)).map_err(error),
        }
    }
}

/// The longest common prefix of two keys, cut at a character boundary.
fn common_prefix<'a>(a: &'a str, b: &str) -> &'a str {
    let mut end = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            break;
        }
        end = i + ca.len_utf8();
    }
    &a[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        let rows = [
            ("a shared directory and digit", "batch/0001.txt", "batch/0999.txt", "batch/0"),
            ("nothing shared", "a", "b", ""),
            ("multi-byte characters", "日本/x", "日本/y", "日本/"),
            ("never inside a character", "日", "旦", ""),
        ];
        for (what, a, b, want) in rows {
            assert_eq!(common_prefix(a, b), want, "{what}");
            assert_eq!(common_prefix(b, a), want, "{what} (sides swapped)");
        }
    }
}
