//! What one object needs, decided from the source's and the replica's current
//! state alone: the content first, then what travels with it.

use crate::config::KmsPolicy;
use crate::object::{ObjectState, Tags};
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
        Some(r) if r.has_content_of(source) => Decision::Identical,
        _ => Decision::Copy,
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
