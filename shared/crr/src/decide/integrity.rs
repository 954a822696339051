//! Whether a replica holds its source's content, and whether a copy can be trusted:
//! ETags (compared whatever their case), the source ETag a replica records, and the
//! CRC-64 OSS keeps of every object, which vetoes any ETag that agrees by accident
//! and verifies a copy whatever its part layout.

use crate::object::ObjectState;

/// True if `replica` holds the same content as `source`: the same size, no CRC-64
/// disagreement where both sides keep one, and the replica's ETag, or the source ETag
/// it recorded, equal to the source's. (ETags are held in lower case, so OSS's upper-case
/// ETags compare equal to the same hex from anywhere else.)
pub fn same_content(source: &ObjectState, replica: &ObjectState) -> bool {
    if replica.size != source.size {
        return false;
    }
    if let (Some(a), Some(b)) = (source.crc64, replica.crc64) {
        if a != b {
            return false;
        }
    }
    replica.etag == source.etag || replica.source_etag.as_deref() == Some(source.etag.as_str())
}

/// What the CRC-64s of one copy say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcCheck {
    /// Every CRC known agrees.
    Verified,
    /// Fewer than two CRCs were known: nothing to compare.
    Unchecked,
    /// The bytes read are not the source's: the source changed, or they were corrupted on the way.
    ReadMismatch { source: u64, read: u64 },
    /// The replica's CRC, as its server reports it, is not the CRC of what was sent
    /// (or, for a copy inside the service, of the source).
    ReplicaMismatch { expected: u64, replica: u64 },
}

/// Checks a copy by CRC-64: `source` as the source's server reports it, `read` as
/// computed over the bytes that went through crr (none for a copy inside the service),
/// `replica` as the destination's server reports it for what it stored.
pub fn crc_check(source: Option<u64>, read: Option<u64>, replica: Option<u64>) -> CrcCheck {
    if let (Some(source), Some(read)) = (source, read) {
        if source != read {
            return CrcCheck::ReadMismatch { source, read };
        }
    }
    if let (Some(expected), Some(replica)) = (read.or(source), replica) {
        if expected != replica {
            return CrcCheck::ReplicaMismatch { expected, replica };
        }
    }
    let known = [source, read, replica].iter().filter(|c| c.is_some()).count();
    if known >= 2 {
        CrcCheck::Verified
    } else {
        CrcCheck::Unchecked
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{Encryption, ObjectType, StandardHeaders};

    const MD5: &str = "5d41402abc4b2a76b9719d911017c592";

    fn state(size: u64, etag: &str, crc64: Option<u64>) -> ObjectState {
        ObjectState {
            size,
            etag: etag.to_ascii_lowercase(),
            server_etag: etag.into(),
            object_type: ObjectType::from_etag(etag),
            crc64,
            restore: None,
            headers: StandardHeaders::default(),
            metadata: HashMap::new(),
            replica_of: None,
            source_etag: None,
            source_modified: None,
            source_version: None,
            tag_count: None,
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

    struct SameRow {
        what: &'static str,
        source: ObjectState,
        replica: ObjectState,
        want: bool,
    }

    #[test]
    fn same_content_rows() {
        let rows = [
            SameRow {
                what: "same ETag and size",
                source: state(5, MD5, None),
                replica: state(5, MD5, None),
                want: true,
            },
            SameRow {
                what: "an upper-case OSS ETag equals the same hex from S3",
                source: state(5, &MD5.to_ascii_uppercase(), Some(7)),
                replica: state(5, MD5, None),
                want: true,
            },
            SameRow { what: "sizes differ", source: state(5, MD5, None), replica: state(6, MD5, None), want: false },
            SameRow {
                what: "the replica recorded the source's ETag",
                source: state(5, "0F7230CAA4BE94CCBDC99C5500000000", Some(7)),
                replica: with(state(5, MD5, Some(7)), |r| {
                    r.source_etag = Some("0f7230caa4be94ccbdc99c5500000000".into())
                }),
                want: true,
            },
            SameRow {
                what: "CRC-64s that differ veto equal ETags",
                source: state(5, MD5, Some(7)),
                replica: state(5, MD5, Some(8)),
                want: false,
            },
            SameRow {
                what: "CRC-64s that differ veto a recorded source ETag",
                source: state(5, "0F7230CAA4BE94CCBDC99C5500000000", Some(7)),
                replica: with(state(5, MD5, Some(8)), |r| {
                    r.source_etag = Some("0f7230caa4be94ccbdc99c5500000000".into())
                }),
                want: false,
            },
            SameRow {
                what: "equal CRC-64s alone are not enough: the ETag stays the identity",
                source: state(5, MD5, Some(7)),
                replica: state(5, "00000000000000000000000000000000", Some(7)),
                want: false,
            },
        ];
        for row in rows {
            assert_eq!(same_content(&row.source, &row.replica), row.want, "{}", row.what);
        }
    }

    #[test]
    fn crc_checks() {
        use CrcCheck::*;
        let rows = [
            ("all three agree", Some(1), Some(1), Some(1), Verified),
            ("streamed from S3 into OSS: what was read and what was stored", None, Some(1), Some(1), Verified),
            ("a copy inside OSS: source and replica", Some(1), None, Some(1), Verified),
            ("read from OSS into S3: source and what was read", Some(1), Some(1), None, Verified),
            ("between S3 buckets nothing keeps a CRC", None, None, None, Unchecked),
            ("only what was read", None, Some(1), None, Unchecked),
            ("the bytes read are not the source's", Some(1), Some(2), Some(2), ReadMismatch { source: 1, read: 2 }),
            (
                "the replica stored something else",
                Some(1),
                Some(1),
                Some(3),
                ReplicaMismatch { expected: 1, replica: 3 },
            ),
            (
                "a copy inside the service went wrong",
                Some(1),
                None,
                Some(3),
                ReplicaMismatch { expected: 1, replica: 3 },
            ),
        ];
        for (what, source, read, replica, want) in rows {
            assert_eq!(crc_check(source, read, replica), want, "{what}");
        }
    }

    #[test]
    fn only_normal_objects_send_their_etag_as_content_md5() {
        let kms = |s: ObjectState| with(s, |s| s.encryption = Encryption::Kms { key_id: None });
        let typed = |t: ObjectType| with(state(5, MD5, Some(1)), |s| s.object_type = t);
        let rows = [
            ("a Normal object's ETag is its MD5", typed(ObjectType::Normal), true),
            ("an upper-case OSS ETag of a Normal object too", state(5, &MD5.to_ascii_uppercase(), None), true),
            ("an appended object's ETag only looks like an MD5", typed(ObjectType::Appendable), false),
            ("a symlink's ETag is opaque", typed(ObjectType::Symlink), false),
            ("a multipart ETag is no MD5", state(5, "d1eb5edd036df53e9adb344fcc11a48e-3", None), false),
            ("an unknown object type is not trusted", typed(ObjectType::Other), false),
            ("KMS-encrypted objects' ETags are not MD5s", kms(typed(ObjectType::Normal)), false),
        ];
        for (what, s, want) in rows {
            assert_eq!(s.content_md5().is_some(), want, "{what}");
        }
    }
}
