//! The copy engine: brings one replica in line with its source.
//!
//! Decide first ([`crate::decide`]), then act:
//! * small objects: one GET streamed into one PUT ([`stream`]), with `Content-MD5`
//!   when the source ETag is an MD5 so the destination rejects corrupted bytes;
//! * multipart sources: the same part layout ([`plan`]), so the replica's multipart
//!   ETag equals the source's; each part is a ranged GET streamed into `UploadPart`,
//!   a bounded number at a time ([`multipart`]); nothing is buffered whole, and the
//!   upload is aborted on any failure (no orphan parts);
//! * large single-part sources: parallel parts of the configured size (the replica
//!   records the source ETag, since its own cannot equal it);
//! * same endpoint and the role may read the source: server-side copy ([`server_side`]),
//!   no bytes through the function, held to the same ETag as a streamed copy;
//! * metadata-only changes: a copy of the replica onto itself with new metadata ([`metadata`]);
//! * OSS symbolic links into OSS: a link to the same target ([`symlink`]); elsewhere the
//!   target's bytes, as a GET of the link returns them;
//! * archived sources that are not restored: a permanent error naming the fix;
//! * a source that is gone under a rule whose deletes replicate: crr's replica is
//!   removed ([`gone`]).
//!
//! Every write is verified: byte count, the MD5 computed while streaming against
//! the source ETag and the ETag the destination returns, and, where a side keeps
//! one (OSS), the CRC-64 computed while streaming against the source's and the
//! replica's ([`crate::decide::integrity::crc_check`]). Every write is conditional
//! on the replica being as it was seen (`If-None-Match: *`, `If-Match`), where the
//! server honours it, and is followed by a look at the source: the replica is
//! settled only when the source still holds what was written ([`settle`]).

mod gone;
mod metadata;
mod multipart;
mod plan;
mod server_side;
mod settle;
mod stream;
mod symlink;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::Instant;

use crate::arn::RoleArn;
use crate::config::Api;
use crate::config::{Bucket, CopySettings, Rule};
use crate::decide::copy::{Plan, ServerSideKnown};
use crate::decide::integrity::{crc_check, CrcCheck};
use crate::decide::{
    content_decision, metadata_decision, needs_tags, overwrite_guard, readiness, replicate_as_symlink, Readiness,
};
use crate::error::{Error, Failure, Fault};
use crate::object::{multipart_parts, ObjectState, Tags};
use crate::outcome::{CopyOutcome, Decision, Method};
use crate::store::{Body, Condition, Read, Store};

/// The code of a write whose condition failed, or of a source read whose `If-Match`
/// failed: another writer got there first, and the copy decides again.
pub const CHANGED: &str = "PreconditionFailed";

/// Objects up to this size (by the event's hint) are read with one GET while the
/// replica is checked in parallel: one round trip instead of two.
pub const SMALL_OBJECT: u64 = 8 * 1024 * 1024;

/// What the engine learns about a destination while it works, kept for the
/// instance's life: server-side copies are tried once, a role that may not read
/// the source is not asked again, and a server whose part copies do not reproduce
/// the source's multipart ETag is not asked to copy such objects again.
#[derive(Debug, Default)]
pub struct Learned {
    server_side: AtomicU8,
    part_copies_differ: AtomicBool,
    conditions_refused: AtomicBool,
}

impl Learned {
    pub fn server_side(&self) -> ServerSideKnown {
        match self.server_side.load(Ordering::Relaxed) {
            1 => ServerSideKnown::Works,
            2 => ServerSideKnown::Denied,
            _ => ServerSideKnown::Untried,
        }
    }

    fn set_server_side(&self, known: ServerSideKnown) {
        let code = match known {
            ServerSideKnown::Untried => 0,
            ServerSideKnown::Works => 1,
            ServerSideKnown::Denied => 2,
        };
        self.server_side.store(code, Ordering::Relaxed);
    }

    fn part_copies_differ(&self) -> bool {
        self.part_copies_differ.load(Ordering::Relaxed)
    }

    fn set_part_copies_differ(&self) {
        self.part_copies_differ.store(true, Ordering::Relaxed);
    }

    /// The destination refused conditional writes as not implemented: writes go
    /// without, and the look at the source after each write is what keeps them right.
    fn conditions_refused(&self) -> bool {
        self.conditions_refused.load(Ordering::Relaxed)
    }

    fn set_conditions_refused(&self) {
        self.conditions_refused.store(true, Ordering::Relaxed);
    }
}

/// What one round of deciding and acting came to.
pub(crate) enum Step {
    /// Nothing was written; the outcome stands.
    Done(CopyOutcome),
    /// The replica was written from this state of the source (`None`: deleted).
    Wrote(CopyOutcome, Option<Box<ObjectState>>),
    /// The states changed under the round: decide again.
    Again,
}

/// What the event said about the object, used only to choose how to read it.
#[derive(Debug, Clone, Default)]
pub struct Hint {
    pub size: Option<u64>,
    pub etag: Option<String>,
}

/// One source bucket, one destination, and the stores that may touch them.
pub struct Engine<'a> {
    pub source: &'a Store,
    pub source_bucket: &'a Bucket,
    pub dest: &'a Store,
    pub rule: &'a Rule,
    pub role: &'a RoleArn,
    pub settings: &'a CopySettings,
    pub learned: &'a Learned,
    pub deadline: Option<Instant>,
}

impl Engine<'_> {
    pub(crate) fn dest_bucket(&self) -> &str {
        &self.rule.destination.name
    }

    /// One round: reads the source and the replica as they are now, decides, and
    /// acts with writes conditional on the replica as it was read.
    pub(crate) async fn round(&self, key: &str, hint: &Hint) -> Result<Step, Error> {
        let started = Instant::now();
        let small = hint.size.is_some_and(|s| s <= SMALL_OBJECT)
            && hint.etag.as_deref().is_none_or(|e| multipart_parts(e).is_none());
        // Tags are needed to copy; fetch them alongside when counts are not reported.
        let prefetch = !self.settings.tag_counts_reported;
        let (source, replica, prefetched) = tokio::join!(self.open_source(key, small), self.head_replica(key), async {
            if prefetch {
                self.fetch_source_tags(key).await.ok()
            } else {
                None
            }
        });
        let (source, body) = match source? {
            Some((state, body)) => (Some(state), body),
            None => (None, None),
        };
        let replica = replica?;
        let mut decision = content_decision(source.as_ref(), replica.as_ref(), &self.source_bucket.name, self.rule);
        let outcome =
            |decision, method, bytes| CopyOutcome { decision, method, bytes, ms: started.elapsed().as_millis() as u64 };
        if let (Decision::DeleteReplica, Some(replica)) = (decision, &replica) {
            return self.delete_replica(key, replica, started).await;
        }
        let (Some(source), Decision::Copy | Decision::Identical) = (source, decision) else {
            return Ok(Step::Done(outcome(decision, None, 0)));
        };
        // A symlink kept as a symlink is the same when it points to the same target.
        let link = if replicate_as_symlink(&source, self.dest.keeps_symlinks()) {
            let (target, by_target) = self.symlink_content(key, replica.as_ref()).await?;
            decision = by_target;
            Some(target)
        } else {
            None
        };

        let tags = if let (Decision::Identical, Some(replica)) = (decision, &replica) {
            let (source_tags, replica_tags) =
                tokio::join!(self.source_tags(key, &source, prefetched), self.replica_tags(key, replica));
            let source_tags = source_tags?;
            decision = metadata_decision(&source, replica, &source_tags, &replica_tags?);
            if decision == Decision::UpdateMetadata {
                decision = overwrite_guard(&source, replica, &self.source_bucket.name, self.rule).unwrap_or(decision);
            }
            source_tags
        } else {
            self.source_tags(key, &source, prefetched).await?
        };

        let condition = self.condition(replica.as_ref());
        match (decision, link) {
            (Decision::Copy | Decision::UpdateMetadata, Some(target)) => {
                drop(body);
                self.put_link(key, &source, &target, &tags).await?;
                Ok(Step::Wrote(outcome(decision, Some(Method::Symlink), 0), Some(Box::new(source))))
            }
            (Decision::Copy, None) => {
                let (method, bytes) = self.copy(key, &source, &tags, body, condition).await?;
                Ok(Step::Wrote(outcome(decision, Some(method), bytes), Some(Box::new(source))))
            }
            (Decision::UpdateMetadata, None) => {
                drop(body);
                let method = self.update_metadata(key, &source, &tags, replica.as_ref(), condition).await?;
                let bytes = if method == Method::MetadataOnly { 0 } else { source.size };
                Ok(Step::Wrote(outcome(decision, Some(method), bytes), Some(Box::new(source))))
            }
            (other, _) => Ok(Step::Done(outcome(other, None, 0))),
        }
    }

    /// Writes to the replica go only if it is as `replica` saw it: absent, or with its ETag.
    fn condition<'r>(&self, replica: Option<&'r ObjectState>) -> Condition<'r> {
        match replica {
            _ if self.learned.conditions_refused() => Condition::Always,
            None => Condition::Absent,
            Some(r) => Condition::Matches(&r.server_etag),
        }
    }

    /// The failure of a write made under `condition`: a failed condition (or, from
    /// servers that answer so, a missing object where an ETag was required) means
    /// another writer got there first; a server that does not implement conditions
    /// is not asked again.
    pub(crate) fn write_error(&self, op: &'static str, key: &str, f: Failure, condition: Condition<'_>) -> Error {
        let conditional = condition != Condition::Always;
        let lost_race = f.is_precondition_failed() || matches!(condition, Condition::Matches(_)) && f.is_not_found();
        if conditional && (f.status == Some(501) || f.code.as_deref() == Some("NotImplemented")) {
            tracing::warn!(
                bucket = self.dest_bucket(),
                "the destination does not implement conditional writes; writing without them"
            );
            self.learned.set_conditions_refused();
        } else if !(conditional && lost_race) {
            return self.dest_error(op, key, f);
        }
        Error::Storage {
            op,
            bucket: self.dest_bucket().to_owned(),
            key: key.to_owned(),
            fault: Fault::Transient,
            code: Some(CHANGED.into()),
            detail: format!("{}; the replica changed while it was being written, the copy decides again", f.message),
        }
    }

    /// The source's state, with its body when it was read with one GET.
    async fn open_source(&self, key: &str, with_body: bool) -> Result<Option<(ObjectState, Option<Body>)>, Error> {
        let bucket = &self.source_bucket.name;
        let head = || async {
            self.source.head_found(bucket, key, Read::default()).await.map(|o| o.map(|state| (state, None)))
        };
        let found = if with_body {
            match self.source.get_found(bucket, key, Read::default()).await {
                // An archived object: its state tells whether it needs a restore.
                Err(f) if f.needs_restore() => head().await,
                got => got.map(|o| o.map(|(state, body)| (state, Some(body)))),
            }
        } else {
            head().await
        };
        found.map_err(|f| self.source_error("reading", key, f))
    }

    /// The source's state now, `None` if there is none.
    pub(crate) async fn head_source(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        self.source
            .head_found(&self.source_bucket.name, key, Read::default())
            .await
            .map_err(|f| self.source_error("checking the source of", key, f))
    }

    /// The replica's state, `None` if there is none.
    pub async fn head_replica(&self, key: &str) -> Result<Option<ObjectState>, Error> {
        self.dest
            .head_found(self.dest_bucket(), key, Read::default())
            .await
            .map_err(|f| self.dest_error("checking the replica of", key, f))
    }

    async fn source_tags(&self, key: &str, state: &ObjectState, prefetched: Option<Tags>) -> Result<Tags, Error> {
        if !needs_tags(state, self.settings.tag_counts_reported) {
            return Ok(Tags::new());
        }
        match prefetched {
            Some(tags) => Ok(tags),
            None => self.fetch_source_tags(key).await,
        }
    }

    async fn fetch_source_tags(&self, key: &str) -> Result<Tags, Error> {
        self.source
            .tags(&self.source_bucket.name, key)
            .await
            .map_err(|f| self.source_error("reading the tags of", key, f))
    }

    async fn replica_tags(&self, key: &str, state: &ObjectState) -> Result<Tags, Error> {
        if !needs_tags(state, self.settings.tag_counts_reported) {
            return Ok(Tags::new());
        }
        self.dest.tags(self.dest_bucket(), key).await.map_err(|f| self.dest_error("reading the tags of", key, f))
    }

    /// Copies content and metadata; returns how, and the bytes that went through us.
    async fn copy(
        &self,
        key: &str,
        source: &ObjectState,
        tags: &Tags,
        body: Option<Body>,
        condition: Condition<'_>,
    ) -> Result<(Method, u64), Error> {
        self.check_readable(key, source)?;
        let plan = self.plan(key, source).await?;
        if let Some(method) = self.try_server_side(key, source, tags, &plan, condition).await? {
            return Ok((method, 0));
        }
        match plan {
            Plan::Single => Ok((Method::Stream, self.put_single(key, source, tags, body, condition).await?)),
            Plan::Multipart { layout, reproduces } => {
                drop(body);
                Ok((Method::Multipart, self.put_multipart(key, source, tags, &layout, reproduces, condition).await?))
            }
        }
    }

    /// An archived source must be restored before its bytes can be read: say so
    /// once, permanently, instead of failing a GET on every retry.
    fn check_readable(&self, key: &str, source: &ObjectState) -> Result<(), Error> {
        let in_progress = match readiness(source) {
            Readiness::Readable => return Ok(()),
            Readiness::NeedsRestore => false,
            Readiness::RestoreInProgress => true,
        };
        Err(Error::NeedsRestore {
            bucket: self.source_bucket.name.clone(),
            key: key.to_owned(),
            storage_class: source.storage_class.clone().unwrap_or_default(),
            in_progress,
        })
    }

    /// Whether to compute the CRC-64 of bytes streamed from `source`: when either
    /// side keeps CRC-64s to compare it with.
    fn wants_crc64(&self, source: &ObjectState) -> bool {
        source.crc64.is_some() || self.dest.api() == Api::Oss
    }

    /// Holds a copy to the CRC-64s: the source's, the one computed over the bytes
    /// read (if they went through the function), and the replica's.
    fn verify_crc64(
        &self,
        key: &str,
        what: &str,
        source: Option<u64>,
        read: Option<u64>,
        replica: Option<u64>,
    ) -> Result<(), Error> {
        match crc_check(source, read, replica) {
            CrcCheck::Verified | CrcCheck::Unchecked => Ok(()),
            CrcCheck::ReadMismatch { source, read } => self.verify(key, false, || {
                format!("{what}: the bytes read have CRC-64 {read}, the source reports {source}")
            }),
            CrcCheck::ReplicaMismatch { expected, replica } => self.verify(key, false, || {
                format!("{what}: the destination reports CRC-64 {replica}, expected {expected}")
            }),
        }
    }

    fn verify(&self, key: &str, ok: bool, detail: impl FnOnce() -> String) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(Error::Verify { bucket: self.dest_bucket().to_owned(), key: key.to_owned(), detail: detail() })
        }
    }

    pub fn source_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        source_error(self.source_bucket, op, key, f)
    }

    pub fn dest_error(&self, op: &'static str, key: &str, f: Failure) -> Error {
        let bucket = self.dest_bucket();
        let hint = if f.is_access_denied() && self.rule.destination.api == Api::Oss {
            format!(
                "; role {} is not allowed this on {bucket}: the destination bucket's policy must grant the role's sessions \
                 (principal arn:sts::{}:assumed-role/{}/*, the role name in lower case) oss:PutObject, oss:GetObject and \
                 the tagging and multipart actions on {bucket}/* (the seed's step 2: `crr policy generate` writes the \
                 statement, `crr policy apply` merges it into the bucket's policy)",
                self.role,
                self.role.account(),
                self.role.name().to_ascii_lowercase()
            )
        } else if f.is_access_denied() {
            format!(
                "; role {} is not allowed this on {bucket}: grant it s3:PutObject, s3:GetObject and the tagging and multipart actions on {bucket}/* (see `crr policy generate`)",
                self.role
            )
        } else if f.is_missing_bucket() {
            format!("; destination bucket {bucket} does not exist at {} (CRR_DEST_BUCKET / CRR_DEST_ENDPOINT, or the rule's destination)", self.dest.endpoint())
        } else {
            String::new()
        };
        storage_error(op, bucket, key, f, hint)
    }
}

/// A failure reading the source, with the fix for the usual causes.
pub fn source_error(source: &Bucket, op: &'static str, key: &str, f: Failure) -> Error {
    let bucket = &source.name;
    let hint = if f.is_access_denied() && source.api == Api::Oss {
        format!("; the function's own identity needs read access (oss:GetObject, oss:GetObjectTagging) on {bucket}/*")
    } else if f.is_access_denied() {
        format!("; the function's own identity needs read access (s3:GetObject, s3:GetObjectTagging) on {bucket}/*")
    } else if f.is_missing_bucket() {
        "; check the source bucket's name and endpoint (CRR_SOURCE_BUCKET / CRR_SOURCE_ENDPOINT, or the rule file's source)".to_owned()
    } else if f.is_precondition_failed() {
        "; the source changed while it was being copied, the copy will start over".to_owned()
    } else {
        String::new()
    };
    storage_error(op, bucket, key, f, hint)
}

fn storage_error(op: &'static str, bucket: &str, key: &str, f: Failure, hint: String) -> Error {
    // A changed source (412) is decided again; a corrupted transfer (BadDigest, or
    // InvalidDigest as OSS calls a Content-MD5 mismatch) is worth another try.
    let corrupted = matches!(f.code.as_deref(), Some("BadDigest" | "InvalidDigest"));
    let (fault, code) = if f.is_precondition_failed() {
        (Fault::Transient, Some(CHANGED.to_owned()))
    } else if corrupted {
        (Fault::Transient, f.code)
    } else {
        (f.fault, f.code)
    };
    Error::Storage {
        op,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        fault,
        code,
        detail: format!("{}{hint}", f.message),
    }
}
