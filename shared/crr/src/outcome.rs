//! The outcome vocabulary every layer shares: what a copy decided and did, and
//! what a delete decided. A leaf: the deciding modules, the engine, the handlers
//! and the reports all speak it, and it imports nothing of theirs.

use serde::Serialize;

/// What one object needs for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Copy the content (and metadata).
    Copy,
    /// The replica has the content; only its metadata or tags differ.
    UpdateMetadata,
    /// The replica already equals the source.
    Identical,
    /// The source no longer exists: the event is stale.
    SourceGone,
    /// The source object is itself a replica: never copy it again.
    SourceIsReplica,
    /// KMS-encrypted, and the rule does not replicate KMS-encrypted objects.
    SkippedKms,
}

impl Decision {
    /// True when the replica was written (content or metadata).
    pub fn wrote(self) -> bool {
        matches!(self, Decision::Copy | Decision::UpdateMetadata)
    }
}

/// How the bytes moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    Stream,
    Multipart,
    ServerSide,
    ServerSideMultipart,
    MetadataOnly,
    /// An OSS symbolic link written as a link to the same target (no bytes moved).
    Symlink,
}

/// What happened to one object for one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyOutcome {
    pub decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Bytes that went through the function.
    pub bytes: u64,
    pub ms: u64,
}

/// What a delete event came to for one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteOutcome {
    /// The replica was deleted (a delete marker on a versioned destination).
    Deleted,
    /// The rule's action is `PUT`: deletes are not replicated.
    NotReplicated,
    /// A specific version was deleted for good in the source: never propagated.
    VersionNotPropagated,
    /// The key exists in the source again: the replica was made to match it instead.
    SourceExists,
    /// There is no replica to delete.
    ReplicaAbsent,
    /// The destination object was not written by crr for this source: left alone.
    NotAReplica,
}
