//! The chaos run's verdict: the destination compared with the model, key by key,
//! bytes, content headers, user metadata and tags. A key the model holds that the
//! destination lacks is lost; one it holds differently is stale; one the model
//! deleted that an ALL rule's destination still holds is resurrected. For a
//! two-way pair both sides must hold the same object, and it must be the last
//! write (by the server's time, ties broken by ETag, as the rules decide).

use std::collections::{BTreeMap, BTreeSet};

use md5::Digest;

use super::history::{key_name, Meta};
use super::user::{Model, Object, Write};

/// What is wrong, if anything.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    pub lost: usize,
    pub stale: usize,
    pub resurrected: usize,
    /// Everything else that must not be: incomplete uploads left, a source that
    /// disagrees with the model (a fault of the test itself).
    pub other: usize,
    pub problems: Vec<String>,
    pub failing_keys: BTreeSet<usize>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.lost + self.stale + self.resurrected + self.other == 0
    }

    fn note(&mut self, key: usize, what: String) {
        self.failing_keys.insert(key);
        if self.problems.len() < 30 {
            self.problems.push(format!("{}: {what}", key_name(key)));
        }
    }
}

/// An object as read from a bucket.
async fn read(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Option<(Object, Option<String>)> {
    let out = match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => out,
        Err(e) => {
            let f = crr::error::Failure::from_sdk(&e);
            assert!(f.is_not_found(), "reading {bucket}/{key} for the verdict: {f:?}");
            return None;
        }
    };
    let mut user: BTreeMap<String, String> = out.metadata().cloned().unwrap_or_default().into_iter().collect();
    let replica_of = user.remove("crr-replica-of");
    user.retain(|k, _| !k.starts_with("crr-"));
    let meta = Meta {
        content_type: out.content_type().unwrap_or_default().to_owned(),
        cache_control: out.cache_control().map(str::to_owned),
        content_disposition: out.content_disposition().map(str::to_owned),
        user,
    };
    let bytes = out.body.collect().await.expect("read the body").into_bytes();
    let md5: String = md5::Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    let tags = s3.get_object_tagging().bucket(bucket).key(key).send().await.expect("read tags");
    let tags = tags.tag_set().iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect();
    Some((Object { md5, size: bytes.len() as u64, meta, tags }, replica_of))
}

/// How two objects differ, in words; `None` if they do not.
fn difference(want: &Object, got: &Object) -> Option<String> {
    if want.md5 != got.md5 || want.size != got.size {
        Some(format!("bytes differ ({} bytes {} wanted, {} bytes {} found)", want.size, want.md5, got.size, got.md5))
    } else if want.meta != got.meta {
        Some(format!("headers or metadata differ ({:?} wanted, {:?} found)", want.meta, got.meta))
    } else if want.tags != got.tags {
        Some(format!("tags differ ({:?} wanted, {:?} found)", want.tags, got.tags))
    } else {
        None
    }
}

/// A one-way rule: `all` for action ALL (deletes replicate), else PUT.
pub async fn one_way(s3: &aws_sdk_s3::Client, src: &str, dst: &str, model: &Model, all: bool) -> Verdict {
    let mut v = Verdict::default();
    for (&key, want) in &model.current {
        let name = key_name(key);
        if let Some(want) = want {
            match read(s3, src, &name).await {
                Some((source, _)) if difference(want, &source).is_none() => {}
                other => {
                    v.other += 1;
                    v.note(key, format!("the source disagrees with the model: {:?}", other.map(|o| o.0)));
                }
            }
        }
        match (want, read(s3, dst, &name).await) {
            (Some(_), None) => {
                v.lost += 1;
                v.note(key, "lost: the source has it, the destination does not".into());
            }
            (Some(want), Some((got, _))) => {
                if let Some(d) = difference(want, &got) {
                    v.stale += 1;
                    v.note(key, format!("stale: {d}"));
                }
            }
            (None, Some(_)) if all => {
                v.resurrected += 1;
                v.note(key, "resurrected: deleted in the source, present in the destination".into());
            }
            (None, _) => {}
        }
    }
    v
}

/// A two-way pair: both sides hold one of the last writes of each key.
pub async fn two_way(s3: &aws_sdk_s3::Client, buckets: &[String], model: &Model) -> Verdict {
    let mut v = Verdict::default();
    for (&key, writes) in &model.writes {
        let name = key_name(key);
        let latest = last_writes(writes);
        let (a, b) = (read(s3, &buckets[0], &name).await, read(s3, &buckets[1], &name).await);
        let (Some((a, _)), Some((b, _))) = (a, b) else {
            v.lost += 1;
            v.note(key, "lost: a side of the pair lacks the key".into());
            continue;
        };
        if let Some(d) = difference(&a, &b) {
            v.stale += 1;
            v.note(key, format!("stale: the two sides differ: {d}"));
        } else if !latest.is_empty() && latest.iter().all(|w| difference(&w.object, &a).is_some()) {
            v.stale += 1;
            v.note(key, format!("stale: both sides hold an earlier write, not the last ({:?})", latest[0].object));
        }
    }
    v
}

/// The writes either side may end with: each side's last write is a candidate (an
/// earlier one was overwritten where it was made); the later second wins. Within
/// one second the rules order writes by ETag, which need not be the order they were
/// made in, so any write of that second may be the one both sides hold. A write a
/// replica had already replaced when its time was read lost to a newer one.
fn last_writes(writes: &[Write]) -> Vec<&Write> {
    let sides: BTreeSet<usize> = writes.iter().map(|w| w.side).collect();
    let last_of_each = sides.iter().filter_map(|s| writes.iter().rev().find(|w| w.side == *s));
    let Some(second) = last_of_each.filter_map(|w| w.modified).max() else { return Vec::new() };
    writes.iter().filter(|w| w.modified == Some(second)).collect()
}

/// Incomplete multipart uploads left in `bucket`.
pub async fn incomplete_uploads(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<String> {
    let out = s3.list_multipart_uploads().bucket(bucket).send().await.expect("list multipart uploads");
    out.uploads().iter().map(|u| u.key().unwrap_or_default().to_owned()).collect()
}
