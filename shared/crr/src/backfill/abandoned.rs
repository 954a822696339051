//! Multipart uploads a copy abandoned. A copy aborts its upload when it fails, but
//! a function killed mid-copy (a crash, the platform's timeout) cannot, and its
//! parts would stay in the destination, billed and invisible. Each backfill run
//! aborts the incomplete uploads of its scope's keys that started longer ago than
//! `CRR_ABANDONED_UPLOAD_SECONDS` (a day by default: longer than any invocation
//! runs), as a lifecycle rule for incomplete uploads would.

use std::time::Duration;

use crate::clock::now_secs;
use crate::error::Error;
use crate::object::RESERVED_PREFIX;
use crate::store::{PendingUpload, Store};

/// Whether `upload` was abandoned: started more than `after` before `now`, for a
/// key between `lower` (exclusive) and `upper` (inclusive). An upload whose start
/// the server did not tell is never taken for abandoned.
pub fn abandoned(upload: &PendingUpload, now: u64, after: Duration, lower: Option<&str>, upper: Option<&str>) -> bool {
    let in_range = lower.is_none_or(|l| upload.key.as_str() > l) && upper.is_none_or(|u| upload.key.as_str() <= u);
    let old = upload.initiated.is_some_and(|t| (t.max(0) as u64).saturating_add(after.as_secs()) <= now);
    in_range && old && !upload.key.starts_with(RESERVED_PREFIX)
}

/// Aborts the abandoned uploads of `bucket` under `prefix` in the key range;
/// returns how many. Listing the uploads needs `s3:ListBucketMultipartUploads` on
/// the destination: without it, this says so in the log and aborts nothing.
pub async fn abort_abandoned(
    store: &Store,
    bucket: &str,
    prefix: &str,
    range: (Option<&str>, Option<&str>),
    after: Duration,
) -> Result<u64, Error> {
    let pending = match store.pending_uploads(bucket, prefix).await {
        Ok(p) => p,
        Err(f) if f.is_access_denied() => {
            tracing::warn!(bucket, "the replication role may not list incomplete multipart uploads (s3:ListBucketMultipartUploads); uploads abandoned by killed copies are left to a lifecycle rule");
            return Ok(0);
        }
        Err(f) => return Err(Error::storage("listing the incomplete multipart uploads in", bucket, prefix, f)),
    };
    let now = now_secs();
    let mut aborted = 0;
    for upload in pending.iter().filter(|u| abandoned(u, now, after, range.0, range.1)) {
        match store.abort_upload(bucket, &upload.key, &upload.upload_id).await {
            Ok(()) => aborted += 1,
            Err(f) if f.is_not_found() => {}
            Err(f) => return Err(Error::storage("aborting an abandoned multipart upload of", bucket, &upload.key, f)),
        }
    }
    if aborted > 0 {
        tracing::info!(bucket, prefix, aborted, "aborted multipart uploads abandoned by copies that did not finish");
    }
    Ok(aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(key: &str, initiated: Option<i64>) -> PendingUpload {
        PendingUpload { key: key.into(), upload_id: "u".into(), initiated }
    }

    #[test]
    fn only_old_uploads_of_the_scope_are_abandoned() {
        let day = Duration::from_secs(86_400);
        let now = 1_000_000;
        let rows = [
            ("started two days ago", upload("a/k", Some(now as i64 - 2 * 86_400)), None, None, true),
            (
                "started an hour ago: a copy may still be at it",
                upload("a/k", Some(now as i64 - 3600)),
                None,
                None,
                false,
            ),
            ("no start time told", upload("a/k", None), None, None, false),
            ("below the shard", upload("a/k", Some(0)), Some("a/k"), None, false),
            ("above the shard", upload("a/z", Some(0)), None, Some("a/m"), false),
            ("within the shard", upload("a/k", Some(0)), Some("a/a"), Some("a/m"), true),
            ("crr's own state", upload(".crr/backfill/x", Some(0)), None, None, false),
        ];
        for (what, u, lower, upper, want) in rows {
            assert_eq!(abandoned(&u, now, day, lower, upper), want, "{what}");
        }
        assert!(abandoned(&upload("a/k", Some(now as i64)), now, Duration::ZERO, None, None), "no grace at all");
    }
}
