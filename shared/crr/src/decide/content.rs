//! What one object needs, decided from the source's and the replica's current
//! state alone: the content first, then what travels with it.

use super::integrity::same_content;
use crate::config::KmsPolicy;
use crate::object::{ObjectState, ObjectType, Restore, Tags};
use crate::outcome::Decision;

/// First step: decide on content. `Identical` here means "same content"; the caller
/// then compares metadata and tags with [`metadata_decision`].
pub fn content_decision(source: Option<&ObjectState>, replica: Option<&ObjectState>, kms: &KmsPolicy) -> Decision {
    let Some(source) = source else {
        return Decision::SourceGone;
    };
    if source.replica_of.is_some() {
        return Decision::SourceIsReplica;
    }
    if source.is_kms() && *kms == KmsPolicy::Skip {
        return Decision::SkippedKms;
    }
    match replica {
        Some(r) if same_content(source, r) => Decision::Identical,
        _ => Decision::Copy,
    }
}

/// For a symlink replicated as a symlink: the replica holds the source's "content"
/// when it is a symlink to the same target. (A HEAD of a symlink describes its
/// target, so sizes and ETags say nothing about the link itself.)
pub fn symlink_decision(source_target: &str, replica: Option<&ObjectState>, replica_target: Option<&str>) -> Decision {
    match (replica, replica_target) {
        (Some(r), Some(target)) if r.object_type == ObjectType::Symlink && target == source_target => {
            Decision::Identical
        }
        _ => Decision::Copy,
    }
}

/// Whether a symlink is replicated as a symlink: when the destination keeps them
/// (OSS). Elsewhere the target's bytes are copied under the link's key, as a GET of
/// the link returns them.
pub fn replicate_as_symlink(source: &ObjectState, dest_keeps_symlinks: bool) -> bool {
    source.object_type == ObjectType::Symlink && dest_keeps_symlinks
}

/// Whether the source's bytes can be read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Readable,
    /// An archived object that nobody asked to restore.
    NeedsRestore,
    /// An archived object whose restore has not finished.
    RestoreInProgress,
}

/// Archived objects (OSS Archive and colder, S3 Glacier and Deep Archive) must be
/// restored before a GET or a copy can read them.
pub fn readiness(source: &ObjectState) -> Readiness {
    if !source.needs_restore() {
        Readiness::Readable
    } else if source.restore == Some(Restore::InProgress) {
        Readiness::RestoreInProgress
    } else {
        Readiness::NeedsRestore
    }
}

/// Second step, for replicas with the source's content: does anything that travels
/// with the object differ? Storage class and last-access time never count.
pub fn metadata_decision(
    source: &ObjectState,
    replica: &ObjectState,
    source_tags: &Tags,
    replica_tags: &Tags,
) -> Decision {
    if source.headers != replica.headers || source.metadata != replica.metadata || source_tags != replica_tags {
        Decision::UpdateMetadata
    } else {
        Decision::Identical
    }
}

/// Whether tags must be fetched to compare or copy them. S3 and OSS send a tag
/// count only for tagged objects, so with `counts_reported` an absent count means
/// none; servers that never send counts are configured with it off.
pub fn needs_tags(state: &ObjectState, counts_reported: bool) -> bool {
    match state.tag_count {
        Some(n) => n > 0,
        None => !counts_reported,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{Encryption, StandardHeaders};

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    fn state(size: u64, etag: &str) -> ObjectState {
        ObjectState {
            size,
            etag: etag.into(),
            server_etag: etag.into(),
            object_type: ObjectType::from_etag(etag),
            crc64: None,
            restore: None,
            headers: StandardHeaders { content_type: Some("text/plain".into()), ..Default::default() },
            metadata: HashMap::new(),
            replica_of: None,
            source_etag: None,
            tag_count: Some(0),
            encryption: Encryption::None,
            storage_class: None,
            version_id: None,
            last_modified: None,
        }
    }

    fn with(mut s: ObjectState, f: impl FnOnce(&mut ObjectState)) -> ObjectState {
        f(&mut s);
        s
    }

    fn replica_of_src() -> ObjectState {
        with(state(5, MD5), |r| r.replica_of = Some("crr-src".into()))
    }

    fn kms() -> ObjectState {
        with(state(5, MD5), |s| s.encryption = Encryption::Kms { key_id: Some("k".into()) })
    }

    struct ContentRow {
        what: &'static str,
        source: Option<ObjectState>,
        replica: Option<ObjectState>,
        kms: KmsPolicy,
        want: Decision,
    }

    #[test]
    fn content_decisions() {
        let skip = KmsPolicy::Skip;
        let rows = [
            ContentRow {
                what: "nothing anywhere",
                source: None,
                replica: None,
                kms: skip.clone(),
                want: Decision::SourceGone,
            },
            ContentRow {
                what: "stale event: the source is gone, a replica stays",
                source: None,
                replica: Some(replica_of_src()),
                kms: skip.clone(),
                want: Decision::SourceGone,
            },
            ContentRow {
                what: "no replica yet",
                source: Some(state(5, MD5)),
                replica: None,
                kms: skip.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "the replica has the content",
                source: Some(state(5, MD5)),
                replica: Some(replica_of_src()),
                kms: skip.clone(),
                want: Decision::Identical,
            },
            ContentRow {
                what: "sizes differ",
                source: Some(state(5, MD5)),
                replica: Some(state(6, MD5)),
                kms: skip.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "ETags differ",
                source: Some(state(5, MD5)),
                replica: Some(state(5, "00")),
                kms: skip.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "replicas are never re-replicated",
                source: Some(replica_of_src()),
                replica: None,
                kms: skip.clone(),
                want: Decision::SourceIsReplica,
            },
            ContentRow {
                what: "a replica with another part layout records the source ETag",
                source: Some(state(5, MD5)),
                replica: Some(with(state(5, "0123456789abcdef0123456789abcdef-2"), |r| {
                    r.source_etag = Some(MD5.into())
                })),
                kms: skip.clone(),
                want: Decision::Identical,
            },
            ContentRow {
                what: "KMS objects are skipped by default",
                source: Some(kms()),
                replica: None,
                kms: skip.clone(),
                want: Decision::SkippedKms,
            },
            ContentRow {
                what: "KMS objects replicate with a destination key",
                source: Some(kms()),
                replica: None,
                kms: KmsPolicy::Replicate { key_id: "d".into() },
                want: Decision::Copy,
            },
        ];
        for row in rows {
            assert_eq!(content_decision(row.source.as_ref(), row.replica.as_ref(), &row.kms), row.want, "{}", row.what);
        }
    }

    #[test]
    fn content_decisions_veto_by_crc64() {
        let crc = |c: u64| with(state(5, MD5), |s| s.crc64 = Some(c));
        let rows = [
            ContentRow {
                what: "an OSS replica with the source's ETag and CRC-64",
                source: Some(crc(7)),
                replica: Some(with(crc(7), |r| r.replica_of = Some("src".into()))),
                kms: KmsPolicy::Skip,
                want: Decision::Identical,
            },
            ContentRow {
                what: "a replica whose CRC-64 differs is copied again",
                source: Some(crc(7)),
                replica: Some(crc(8)),
                kms: KmsPolicy::Skip,
                want: Decision::Copy,
            },
        ];
        for row in rows {
            assert_eq!(content_decision(row.source.as_ref(), row.replica.as_ref(), &row.kms), row.want, "{}", row.what);
        }
    }

    #[test]
    fn symlinks() {
        let link = with(state(5, MD5), |s| s.object_type = ObjectType::Symlink);
        let plain = state(5, MD5);
        let rows: [(&str, Option<&ObjectState>, Option<&str>, Decision); 4] = [
            ("no replica yet", None, None, Decision::Copy),
            ("a symlink to the same target", Some(&link), Some("target.txt"), Decision::Identical),
            ("a symlink to another target", Some(&link), Some("other.txt"), Decision::Copy),
            ("a plain copy of the target's bytes is not the link", Some(&plain), None, Decision::Copy),
        ];
        for (what, replica, target, want) in rows {
            assert_eq!(symlink_decision("target.txt", replica, target), want, "{what}");
        }
        let as_link = [
            ("a symlink into OSS stays a symlink", &link, true, true),
            ("a symlink into S3 becomes its target's bytes", &link, false, false),
            ("a plain object is never a symlink", &plain, true, false),
        ];
        for (what, source, keeps, want) in as_link {
            assert_eq!(replicate_as_symlink(source, keeps), want, "{what}");
        }
    }

    #[test]
    fn archived_sources_need_a_restore() {
        let class = |c: &str, restore: Option<Restore>| {
            with(state(5, MD5), |s| {
                s.storage_class = Some(c.into());
                s.restore = restore;
            })
        };
        let rows = [
            ("standard objects are readable", class("Standard", None), Readiness::Readable),
            ("IA objects are readable", class("IA", None), Readiness::Readable),
            ("Glacier Instant Retrieval is readable", class("GLACIER_IR", None), Readiness::Readable),
            ("an Archive object nobody restored", class("Archive", None), Readiness::NeedsRestore),
            ("a Cold Archive object nobody restored", class("ColdArchive", None), Readiness::NeedsRestore),
            ("an S3 Deep Archive object", class("DEEP_ARCHIVE", None), Readiness::NeedsRestore),
            (
                "an Archive object being restored",
                class("Archive", Some(Restore::InProgress)),
                Readiness::RestoreInProgress,
            ),
            ("a restored Archive object", class("Archive", Some(Restore::Restored)), Readiness::Readable),
            ("a restored Glacier object", class("GLACIER", Some(Restore::Restored)), Readiness::Readable),
        ];
        for (what, source, want) in rows {
            assert_eq!(readiness(&source), want, "{what}");
        }
    }

    struct MetadataRow {
        what: &'static str,
        replica: ObjectState,
        source_tags: Tags,
        replica_tags: Tags,
        want: Decision,
    }

    #[test]
    fn metadata_decisions_with_sides_swapped() {
        let src = state(5, MD5);
        let none = Tags::new();
        let tagged: Tags = [("k".to_string(), "v".to_string())].into();
        let rows = [
            MetadataRow {
                what: "identical",
                replica: src.clone(),
                source_tags: none.clone(),
                replica_tags: none.clone(),
                want: Decision::Identical,
            },
            MetadataRow {
                what: "another content type",
                replica: with(src.clone(), |r| r.headers.content_type = Some("image/png".into())),
                source_tags: none.clone(),
                replica_tags: none.clone(),
                want: Decision::UpdateMetadata,
            },
            MetadataRow {
                what: "more user metadata",
                replica: with(src.clone(), |r| {
                    r.metadata.insert("owner".into(), "x".into());
                }),
                source_tags: none.clone(),
                replica_tags: none.clone(),
                want: Decision::UpdateMetadata,
            },
            MetadataRow {
                what: "tags differ",
                replica: src.clone(),
                source_tags: tagged.clone(),
                replica_tags: none.clone(),
                want: Decision::UpdateMetadata,
            },
            MetadataRow {
                what: "storage class changes (lifecycle transitions) are not replicated",
                replica: with(src.clone(), |r| r.storage_class = Some("GLACIER".into())),
                source_tags: none.clone(),
                replica_tags: none.clone(),
                want: Decision::Identical,
            },
        ];
        for row in rows {
            let forward = metadata_decision(&src, &row.replica, &row.source_tags, &row.replica_tags);
            assert_eq!(forward, row.want, "{}", row.what);
            let swapped = metadata_decision(&row.replica, &src, &row.replica_tags, &row.source_tags);
            assert_eq!(swapped, row.want, "{} (sides swapped)", row.what);
        }
    }

    #[test]
    fn tags_are_fetched_unless_known_absent() {
        let rows = [
            ("tagged", Some(2), true, true),
            ("counted none", Some(0), false, false),
            ("a server that does not report counts: fetch", None, false, true),
            ("a server that reports counts omits them for untagged objects", None, true, false),
        ];
        for (what, count, counts_reported, want) in rows {
            let s = with(state(1, MD5), |s| s.tag_count = count);
            assert_eq!(needs_tags(&s, counts_reported), want, "{what}");
        }
    }
}
