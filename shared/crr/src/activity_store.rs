//! Where instances keep their activity reports: one small JSON object per
//! instance and rule, `.crr/status/<rule>/<instance>.json` in the rule's
//! destination, under the reserved prefix replication and backfill ignore.
//!
//! One object per writer means concurrent instances never overwrite each other
//! (no read-modify-write, no lost minutes); readers list the rule's reports and
//! merge them ([`crate::activity::merge`]). Reports of instances gone for longer
//! than [`STALE_AFTER`] are removed by the next instance that starts writing. The
//! replication role's grants on `.crr/*` (get, put, delete) and its list on the
//! bucket, as `crr policy generate` writes them, cover all of it.

use std::time::Duration;

use futures::stream::{self, StreamExt};

use crate::activity::InstanceActivity;
use crate::backfill::state::sanitize;
use crate::error::{Error, Failure};
use crate::object::RESERVED_PREFIX;
use crate::store::{Condition, Doomed, Found, List, ObjectWrite, Store, Upload};

/// Reports older than this are no instance's any more: two hours, twice what a reader shows.
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 3600);

/// The prefix of a rule's reports.
pub fn rule_prefix(rule: &str) -> String {
    format!("{RESERVED_PREFIX}status/{}/", sanitize(rule))
}

/// Where `instance` keeps its report for `rule`.
pub fn report_key(rule: &str, instance: &str) -> String {
    format!("{}{}.json", rule_prefix(rule), sanitize(instance))
}

/// Writes one instance's report, replacing its previous one.
pub async fn write(store: &Store, bucket: &str, report: &InstanceActivity) -> Result<(), Failure> {
    let body = serde_json::to_vec(report).map_err(|e| Failure {
        fault: crate::error::Fault::Permanent,
        status: None,
        code: None,
        message: e.to_string(),
    })?;
    let write = ObjectWrite { content_type: Some("application/json"), ..ObjectWrite::default() };
    let key = report_key(&report.rule, &report.instance);
    store.put(bucket, &key, Upload::bytes(body), &write, Condition::Always).await.map(|_| ())
}

/// What a reader needs to be allowed, said when it is not.
fn denied(bucket: &str, what: &str, mut f: Failure) -> Failure {
    if f.is_access_denied() {
        f.message = format!(
            "{}; reading replication status needs s3:ListBucket on {bucket} and s3:GetObject on {bucket}/{RESERVED_PREFIX}* \
             (oss:ListObjects, oss:GetObject), which `crr policy generate` grants the replication role ({what})",
            f.message
        );
    }
    f
}

/// The keys of a rule's reports, with their last-modified time (seconds since the epoch).
async fn list(store: &Store, bucket: &str, rule: &str) -> Result<Vec<(String, Option<i64>)>, Error> {
    let prefix = rule_prefix(rule);
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list = List { prefix: &prefix, continuation: token.as_deref(), ..List::default() };
        let page = store
            .list(bucket, list)
            .await
            .map_err(|f| Error::storage("listing", bucket, &prefix, denied(bucket, "listing", f)))?;
        keys.extend(page.objects.into_iter().filter(|o| o.key.ends_with(".json")).map(|o| (o.key, o.modified)));
        match page.next {
            Some(t) => token = Some(t),
            None => return Ok(keys),
        }
    }
}

/// Every report of `rule`, a few read at a time. A report that is not valid JSON
/// (another version's, a stray object) is left out with a warning.
pub async fn read_all(store: &Store, bucket: &str, rule: &str) -> Result<Vec<InstanceActivity>, Error> {
    let keys = list(store, bucket, rule).await?;
    let read: Vec<Result<Option<InstanceActivity>, Error>> = stream::iter(keys)
        .map(|(key, _)| async move {
            match store.get_bytes(bucket, &key).await.found() {
                Ok(Some((bytes, _))) => match serde_json::from_slice::<InstanceActivity>(&bytes) {
                    Ok(report) => Ok(Some(report)),
                    Err(e) => {
                        tracing::warn!(bucket, key = %key, error = %e, "not an activity report; left out");
                        Ok(None)
                    }
                },
                // Removed between the listing and the read.
                Ok(None) => Ok(None),
                Err(f) => Err(Error::storage("reading", bucket, &key, denied(bucket, "reading", f))),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut reports = Vec::new();
    for r in read {
        reports.extend(r?);
    }
    reports.sort_by(|a, b| a.instance.cmp(&b.instance));
    Ok(reports)
}

/// Removes the reports of `rule` not written for [`STALE_AFTER`]; returns how many.
pub async fn remove_stale(store: &Store, bucket: &str, rule: &str, now_secs: u64) -> Result<usize, Error> {
    let cutoff = now_secs.saturating_sub(STALE_AFTER.as_secs()) as i64;
    let stale: Vec<String> = list(store, bucket, rule)
        .await?
        .into_iter()
        .filter(|(_, modified)| modified.is_some_and(|m| m < cutoff))
        .map(|(key, _)| key)
        .collect();
    for batch in stale.chunks(1000) {
        let doomed: Vec<Doomed<'_>> = batch.iter().map(|key| Doomed { key, etag: None }).collect();
        let refused = store
            .delete_many(bucket, &doomed)
            .await
            .map_err(|f| Error::storage("removing stale activity reports in", bucket, &rule_prefix(rule), f))?;
        if let Some(r) = refused.first() {
            tracing::warn!(bucket, key = %r.key, code = ?r.code, "a stale activity report was not removed");
        }
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_the_rules_prefix() {
        assert_eq!(report_key("default", "a1b2"), ".crr/status/default/a1b2.json");
        assert_eq!(report_key("logs/2026", "x"), ".crr/status/logs_2026/x.json", "a rule id is one segment");
        assert!(report_key("r", "../../k").starts_with(".crr/status/r/"));
    }
}
