//! What one object needs, decided from the source's and the replica's current
//! state alone: the content first, then what travels with it. Before anything is
//! overwritten, [`overwrite_guard`] asks whether the destination holds newer content.

use super::integrity::same_content;
use crate::config::{KmsPolicy, Rule};
use crate::decide::gone::gone_decision;
use crate::decide::order::{newer, went_back};
use crate::object::{ObjectState, ObjectType, Restore, Tags};
use crate::outcome::Decision;

/// First step: decide on content. `Identical` here means "same content"; the caller
/// then compares metadata and tags with [`metadata_decision`]. `source_bucket` is
/// the rule's source: the bucket crr's replicas in the destination are marked with.
pub fn content_decision(
    source: Option<&ObjectState>,
    replica: Option<&ObjectState>,
    source_bucket: &str,
    rule: &Rule,
) -> Decision {
    let Some(source) = source else {
        return gone_decision(replica, source_bucket, rule);
    };
    // Only the reverse rule of a two-way pair writes objects marked with our
    // destination into our source: copying them back would loop. A mark naming any
    // other bucket (a chain A→B→C, an object restored with its metadata) does not
    // stop replication.
    if source.is_replica_from(&rule.destination.name) {
        return Decision::SourceIsReplica;
    }
    if source.is_kms() && rule.kms == KmsPolicy::Skip {
        return Decision::SkippedKms;
    }
    match replica {
        None => Decision::Copy,
        Some(r) if same_content(source, r) => Decision::Identical,
        Some(r) => overwrite_guard(source, r, source_bucket, rule).unwrap_or(Decision::Copy),
    }
}

/// Whether the destination object must not be overwritten with the source's state
/// (content or metadata), and why: crr's own replica never goes back to older
/// content, and under a two-way rule a destination object written after the
/// source's is the last writer and stays. `None`: overwrite.
pub fn overwrite_guard(source: &ObjectState, dest: &ObjectState, source_bucket: &str, rule: &Rule) -> Option<Decision> {
    if dest.is_replica_from(source_bucket) {
        went_back(source, dest).then_some(Decision::ReplicaNewer)
    } else if rule.two_way {
        newer(dest, source).then_some(Decision::DestinationNewer)
    } else {
        None
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
    use super::*;
    use crate::config::RuleAction;
    use crate::decide::fixtures::{rule, state, with};
    use crate::object::Encryption;

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";
    const OTHER: &str = "0123456789abcdef0123456789abcdef";

    /// The source as written at second `at`.
    fn source(etag: &str, at: i64) -> ObjectState {
        with(state(5, etag), |s| s.last_modified = Some(at))
    }

    /// crr's replica of content written at the source at second `origin`.
    fn ours(etag: &str, origin: i64) -> ObjectState {
        with(state(5, etag), |r| {
            r.replica_of = Some("crr-src".into());
            r.source_modified = Some(origin);
            r.last_modified = Some(origin + 100);
        })
    }

    /// An object someone wrote into the destination at second `at`.
    fn theirs(etag: &str, at: i64) -> ObjectState {
        source(etag, at)
    }

    fn kms() -> ObjectState {
        with(state(5, MD5), |s| s.encryption = Encryption::Kms { key_id: Some("k".into()) })
    }

    struct ContentRow {
        what: &'static str,
        source: Option<ObjectState>,
        replica: Option<ObjectState>,
        rule: Rule,
        want: Decision,
    }

    #[test]
    fn content_decisions() {
        let put = rule(RuleAction::Put, false);
        let all = rule(RuleAction::All, false);
        let two_way = rule(RuleAction::Put, true);
        let replicate_kms = with_kms(rule(RuleAction::Put, false));
        let rows = [
            ContentRow {
                what: "nothing anywhere",
                source: None,
                replica: None,
                rule: all.clone(),
                want: Decision::SourceGone,
            },
            ContentRow {
                what: "stale event under a PUT rule: the replica stays",
                source: None,
                replica: Some(ours(MD5, 10)),
                rule: put.clone(),
                want: Decision::SourceGone,
            },
            ContentRow {
                what: "the source is gone under an ALL rule: crr's replica goes (its delete came first, or was lost)",
                source: None,
                replica: Some(ours(MD5, 10)),
                rule: all.clone(),
                want: Decision::DeleteReplica,
            },
            ContentRow {
                what: "the source is gone: an object crr did not write stays, whatever the rule",
                source: None,
                replica: Some(theirs(MD5, 10)),
                rule: all.clone(),
                want: Decision::SourceGone,
            },
            ContentRow {
                what: "no replica yet",
                source: Some(source(MD5, 10)),
                replica: None,
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "the replica has the content",
                source: Some(source(MD5, 10)),
                replica: Some(ours(MD5, 10)),
                rule: put.clone(),
                want: Decision::Identical,
            },
            ContentRow {
                what: "sizes differ",
                source: Some(source(MD5, 10)),
                replica: Some(with(ours(MD5, 10), |r| r.size = 6)),
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "newer content at the source",
                source: Some(source(MD5, 20)),
                replica: Some(ours(OTHER, 10)),
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "overwritten in the same second",
                source: Some(source(MD5, 10)),
                replica: Some(ours(OTHER, 10)),
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "the source went back (its newest version deleted for good): the replica is not rolled back",
                source: Some(source(MD5, 10)),
                replica: Some(ours(OTHER, 20)),
                rule: all.clone(),
                want: Decision::ReplicaNewer,
            },
            ContentRow {
                what: "a replica written before crr recorded times can be overwritten",
                source: Some(source(MD5, 10)),
                replica: Some(with(ours(OTHER, 20), |r| r.source_modified = None)),
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "one-way: an object someone wrote into the destination later is overwritten (the source wins)",
                source: Some(source(MD5, 10)),
                replica: Some(theirs(OTHER, 20)),
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "two-way: the destination's later write wins and stays",
                source: Some(source(MD5, 10)),
                replica: Some(theirs(OTHER, 20)),
                rule: two_way.clone(),
                want: Decision::DestinationNewer,
            },
            ContentRow {
                what: "two-way: the source's later write wins",
                source: Some(source(MD5, 20)),
                replica: Some(theirs(OTHER, 10)),
                rule: two_way.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "two-way, the same second: the greater ETag wins (here the source's)",
                source: Some(source(MD5, 10)),
                replica: Some(theirs(OTHER, 10)),
                rule: two_way.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "two-way, the same second: the greater ETag wins (here the destination's)",
                source: Some(source(OTHER, 10)),
                replica: Some(theirs(MD5, 10)),
                rule: two_way.clone(),
                want: Decision::DestinationNewer,
            },
            ContentRow {
                what: "two-way: the reverse rule's replica in the source is never copied back",
                source: Some(with(source(MD5, 10), |s| s.replica_of = Some("crr-dst".into()))),
                replica: Some(theirs(MD5, 10)),
                rule: two_way.clone(),
                want: Decision::SourceIsReplica,
            },
            ContentRow {
                what: "a replica of another bucket (a chain A→B→C, or restored with its metadata) is replicated",
                source: Some(with(source(MD5, 10), |s| s.replica_of = Some("some-other-bucket".into()))),
                replica: None,
                rule: put.clone(),
                want: Decision::Copy,
            },
            ContentRow {
                what: "a replica with another part layout records the source ETag",
                source: Some(source(MD5, 10)),
                replica: Some(with(ours("0123456789abcdef0123456789abcdef-2", 10), |r| {
                    r.source_etag = Some(MD5.into())
                })),
                rule: put.clone(),
                want: Decision::Identical,
            },
            ContentRow {
                what: "KMS objects are skipped by default",
                source: Some(kms()),
                replica: None,
                rule: put.clone(),
                want: Decision::SkippedKms,
            },
            ContentRow {
                what: "KMS objects replicate with a destination key",
                source: Some(kms()),
                replica: None,
                rule: replicate_kms,
                want: Decision::Copy,
            },
        ];
        for row in rows {
            let got = content_decision(row.source.as_ref(), row.replica.as_ref(), "crr-src", &row.rule);
            assert_eq!(got, row.want, "{}", row.what);
        }
    }

    fn with_kms(mut rule: Rule) -> Rule {
        rule.kms = KmsPolicy::Replicate { key_id: "d".into() };
        rule
    }

    #[test]
    fn metadata_updates_are_guarded_like_content() {
        let one_way = rule(RuleAction::All, false);
        let two_way = rule(RuleAction::All, true);
        let rows = [
            ("crr's replica, the source moved on", source(MD5, 20), ours(MD5, 10), &one_way, None),
            (
                "crr's replica, the source went back",
                source(MD5, 10),
                ours(MD5, 20),
                &one_way,
                Some(Decision::ReplicaNewer),
            ),
            ("one-way: someone's later object", source(MD5, 10), theirs(MD5, 20), &one_way, None),
            (
                "two-way: the destination wrote later",
                source(MD5, 10),
                theirs(MD5, 20),
                &two_way,
                Some(Decision::DestinationNewer),
            ),
            ("two-way: the source wrote later", source(MD5, 20), theirs(MD5, 10), &two_way, None),
        ];
        for (what, source, dest, rule, want) in rows {
            assert_eq!(overwrite_guard(&source, &dest, "crr-src", rule), want, "{what}");
        }
    }

    #[test]
    fn content_decisions_veto_by_crc64() {
        let crc = |c: u64| with(state(5, MD5), |s| s.crc64 = Some(c));
        let put = rule(RuleAction::Put, false);
        let rows = [
            ContentRow {
                what: "an OSS replica with the source's ETag and CRC-64",
                source: Some(crc(7)),
                replica: Some(with(crc(7), |r| r.replica_of = Some("crr-src".into()))),
                rule: put.clone(),
                want: Decision::Identical,
            },
            ContentRow {
                what: "a replica whose CRC-64 differs is copied again",
                source: Some(crc(7)),
                replica: Some(crc(8)),
                rule: put.clone(),
                want: Decision::Copy,
            },
        ];
        for row in rows {
            let got = content_decision(row.source.as_ref(), row.replica.as_ref(), "crr-src", &row.rule);
            assert_eq!(got, row.want, "{}", row.what);
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
            MetadataRow {
                what: "crr's own marks are not metadata",
                replica: with(src.clone(), |r| {
                    r.replica_of = Some("crr-src".into());
                    r.source_modified = Some(7);
                    r.source_version = Some("v".into());
                }),
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
