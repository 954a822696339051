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
    /// The source object is a replica of the destination bucket (the reverse rule of
    /// a two-way pair wrote it): never copied back.
    SourceIsReplica,
    /// KMS-encrypted, and the rule does not replicate KMS-encrypted objects.
    SkippedKms,
    /// The source is gone and the rule's deletes replicate: crr's own replica was
    /// removed (its delete was handled before this copy landed, or its event was lost).
    DeleteReplica,
    /// The source's versions of the key were deleted for good (no delete marker):
    /// like a version-specific delete event, never propagated; the replica stays.
    VersionsDeleted,
    /// crr's replica holds content written after the source's current content (a
    /// newer version was deleted for good at the source): never rolled back.
    ReplicaNewer,
    /// Two-way rule: the destination's own object was written after the source's
    /// (last writer wins); it is kept, and the reverse rule copies it to the source.
    DestinationNewer,
}

impl Decision {
    /// True when the replica was written (content or metadata).
    pub fn wrote(self) -> bool {
        matches!(self, Decision::Copy | Decision::UpdateMetadata)
    }

    /// True when the destination holds newer content than the source and was left
    /// as it is: reported, never silent.
    pub fn kept_newer(self) -> bool {
        matches!(self, Decision::ReplicaNewer | Decision::DestinationNewer)
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
