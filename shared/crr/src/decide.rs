//! What one object needs, decided from the source's and the replica's current
//! state alone. Pure functions, so every case has a table test.

use serde::Serialize;

use crate::config::KmsPolicy;
use crate::object::{ObjectState, Tags};

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

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    #[test]
    fn content_decisions() {
        let skip = KmsPolicy::Skip;
        let src = state(5, MD5);
        let mut replica = src.clone();
        replica.replica_of = Some("crr-src".into());
        assert_eq!(content_decision(None, None, &skip), Decision::SourceGone);
        assert_eq!(content_decision(None, Some(&replica), &skip), Decision::SourceGone);
        assert_eq!(content_decision(Some(&src), None, &skip), Decision::Copy);
        assert_eq!(content_decision(Some(&src), Some(&replica), &skip), Decision::Identical);
        assert_eq!(content_decision(Some(&src), Some(&state(6, MD5)), &skip), Decision::Copy);
        assert_eq!(content_decision(Some(&src), Some(&state(5, "00")), &skip), Decision::Copy);
        assert_eq!(
            content_decision(Some(&replica), None, &skip),
            Decision::SourceIsReplica,
            "replicas are never re-replicated"
        );

        // A replica whose ETag differs but records the source's ETag has the content.
        let mut relaid = state(5, "0123456789abcdef0123456789abcdef-2");
        relaid.source_etag = Some(MD5.into());
        assert_eq!(content_decision(Some(&src), Some(&relaid), &skip), Decision::Identical);

        let mut kms = src.clone();
        kms.encryption = Encryption::Kms { key_id: Some("k".into()) };
        assert_eq!(content_decision(Some(&kms), None, &skip), Decision::SkippedKms);
        assert_eq!(content_decision(Some(&kms), None, &KmsPolicy::Replicate { key_id: "d".into() }), Decision::Copy);
    }

    #[test]
    fn metadata_decisions() {
        let src = state(5, MD5);
        let none = Tags::new();
        assert_eq!(metadata_decision(&src, &src.clone(), &none, &none), Decision::Identical);

        let mut other_type = src.clone();
        other_type.headers.content_type = Some("image/png".into());
        assert_eq!(metadata_decision(&src, &other_type, &none, &none), Decision::UpdateMetadata);

        let mut more_meta = src.clone();
        more_meta.metadata.insert("owner".into(), "x".into());
        assert_eq!(metadata_decision(&src, &more_meta, &none, &none), Decision::UpdateMetadata);

        let tagged: Tags = [("k".to_string(), "v".to_string())].into();
        assert_eq!(metadata_decision(&src, &src.clone(), &tagged, &none), Decision::UpdateMetadata);

        // Storage class changes (lifecycle transitions) are not replicated.
        let mut archived = src.clone();
        archived.storage_class = Some("GLACIER".into());
        assert_eq!(metadata_decision(&src, &archived, &none, &none), Decision::Identical);
    }

    #[test]
    fn tags_are_fetched_unless_known_absent() {
        let mut s = state(1, MD5);
        s.tag_count = Some(2);
        assert!(needs_tags(&s, true));
        s.tag_count = Some(0);
        assert!(!needs_tags(&s, false));
        s.tag_count = None;
        assert!(needs_tags(&s, false), "a server that does not report counts: fetch");
        assert!(!needs_tags(&s, true), "a server that reports counts omits them for untagged objects");
    }
}
