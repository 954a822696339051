//! How a copy moves the bytes, decided before any byte moves: the part layout of
//! the replica, and whether the storage service may copy inside itself. The copy
//! engine acts on these answers; `crr doctor` explains them with the same ones.

use crate::config::{CopyMode, CopySettings};
use crate::object::{even_layout, Layout, ObjectState};

/// CopyObject's limit; larger server-side copies go part by part.
pub const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;

/// How the content will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Single,
    /// `reproduces`: the layout is the source's, so the ETags will be equal.
    Multipart {
        layout: Layout,
        reproduces: bool,
    },
}

/// The replica's layout. `learned`: the source's own part layout, when the source
/// is a multipart object and the server told its part sizes.
pub fn copy_plan(source: &ObjectState, learned: Option<Layout>, settings: &CopySettings) -> Plan {
    match (source.multipart_parts(), learned) {
        (Some(_), Some(layout)) => Plan::Multipart { layout, reproduces: true },
        (Some(_), None) => Plan::Multipart { layout: even_layout(source.size, settings.part_size), reproduces: false },
        (None, _) if source.size > settings.multipart_threshold => {
            Plan::Multipart { layout: even_layout(source.size, settings.part_size), reproduces: false }
        }
        (None, _) => Plan::Single,
    }
}

/// What a destination has shown about server-side copies so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerSideKnown {
    #[default]
    Untried,
    /// The role read the source (a copy or a HEAD worked).
    Works,
    /// The role may not read the source: copies stream.
    Denied,
}

/// Why a copy streams through the function instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamReason {
    /// `CRR_COPY_MODE=stream`.
    Configured,
    /// Source and destination endpoints differ.
    OtherService,
    /// The role may not read the source.
    RoleDenied,
    /// The server's part copies did not reproduce a source's multipart ETag before.
    PartCopiesDiffer,
}

/// Whether to copy inside the storage service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSide {
    Stream(StreamReason),
    /// Try it; in `auto` mode a refusal or an unverifiable copy falls back to streaming.
    Try,
    /// `CRR_COPY_MODE=server-side`: only this way.
    Required,
}

/// `same_service`: both buckets share an endpoint. `reproduces_parts`: the plan
/// copies a multipart source part by part to keep its ETag.
pub fn server_side(
    mode: CopyMode,
    same_service: bool,
    known: ServerSideKnown,
    part_copies_differ: bool,
    reproduces_parts: bool,
) -> ServerSide {
    match mode {
        CopyMode::Stream => ServerSide::Stream(StreamReason::Configured),
        CopyMode::ServerSide => ServerSide::Required,
        CopyMode::Auto if !same_service => ServerSide::Stream(StreamReason::OtherService),
        CopyMode::Auto if known == ServerSideKnown::Denied => ServerSide::Stream(StreamReason::RoleDenied),
        CopyMode::Auto if reproduces_parts && part_copies_differ => ServerSide::Stream(StreamReason::PartCopiesDiffer),
        CopyMode::Auto => ServerSide::Try,
    }
}

/// How a server-side copy of `plan` goes: one CopyObject, or parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerSideCopy {
    Whole,
    Parts { layout: Layout, reproduces: bool },
}

pub fn server_side_copy(plan: &Plan, size: u64, part_size: u64) -> ServerSideCopy {
    match plan {
        Plan::Single if size <= MAX_SINGLE_COPY => ServerSideCopy::Whole,
        Plan::Single => ServerSideCopy::Parts { layout: even_layout(size, part_size), reproduces: false },
        Plan::Multipart { layout, reproduces } => {
            ServerSideCopy::Parts { layout: layout.clone(), reproduces: *reproduces }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{Encryption, StandardHeaders};

    const MIB: u64 = 1024 * 1024;

    fn source(size: u64, etag: &str) -> ObjectState {
        ObjectState {
            size,
            etag: etag.into(),
            server_etag: etag.into(),
            object_type: crate::object::ObjectType::from_etag(etag),
            crc64: None,
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

    #[test]
    fn copy_plans() {
        let settings = CopySettings { part_size: 4 * MIB, multipart_threshold: 10 * MIB, ..Default::default() };
        let md5 = "5d41402abc4b2a76b9719d911017c592";
        let three_parts = "d1eb5edd036df53e9adb344fcc11a48e-3";
        let learned = vec![(0, 5 * MIB), (5 * MIB, 5 * MIB), (10 * MIB, MIB)];
        let rows: Vec<(&str, ObjectState, Option<Layout>, Plan)> = vec![
            ("a small object is one PUT", source(MIB, md5), None, Plan::Single),
            ("at the threshold still one PUT", source(10 * MIB, md5), None, Plan::Single),
            (
                "a large single-part object goes in parts of the configured size",
                source(10 * MIB + 1, md5),
                None,
                Plan::Multipart { layout: even_layout(10 * MIB + 1, 4 * MIB), reproduces: false },
            ),
            (
                "a multipart source keeps its learned layout, so the ETag is reproduced",
                source(11 * MIB, three_parts),
                Some(learned.clone()),
                Plan::Multipart { layout: learned.clone(), reproduces: true },
            ),
            (
                "a multipart source whose layout is unknown goes in even parts, even when small",
                source(MIB, three_parts),
                None,
                Plan::Multipart { layout: even_layout(MIB, 4 * MIB), reproduces: false },
            ),
        ];
        for (what, source, learned, want) in rows {
            assert_eq!(copy_plan(&source, learned, &settings), want, "{what}");
        }
    }

    #[test]
    fn server_side_eligibility() {
        use ServerSideKnown::*;
        use StreamReason::*;
        let rows = [
            (
                "stream mode never copies server-side",
                CopyMode::Stream,
                true,
                Works,
                false,
                false,
                ServerSide::Stream(Configured),
            ),
            ("server-side mode always does", CopyMode::ServerSide, false, Denied, true, true, ServerSide::Required),
            (
                "auto across services streams",
                CopyMode::Auto,
                false,
                Works,
                false,
                false,
                ServerSide::Stream(OtherService),
            ),
            ("auto on one service tries", CopyMode::Auto, true, Untried, false, false, ServerSide::Try),
            (
                "auto after a refusal streams",
                CopyMode::Auto,
                true,
                Denied,
                false,
                false,
                ServerSide::Stream(RoleDenied),
            ),
            ("auto keeps trying what works", CopyMode::Auto, true, Works, true, false, ServerSide::Try),
            (
                "auto streams multipart sources when part copies did not reproduce an ETag",
                CopyMode::Auto,
                true,
                Works,
                true,
                true,
                ServerSide::Stream(PartCopiesDiffer),
            ),
        ];
        for (what, mode, same, known, differ, reproduces, want) in rows {
            assert_eq!(server_side(mode, same, known, differ, reproduces), want, "{what}");
        }
    }

    #[test]
    fn server_side_copies_go_whole_up_to_the_single_copy_limit() {
        let rows = [
            ("small", Plan::Single, MIB, ServerSideCopy::Whole),
            ("at the limit", Plan::Single, MAX_SINGLE_COPY, ServerSideCopy::Whole),
            (
                "past the limit",
                Plan::Single,
                MAX_SINGLE_COPY + 1,
                ServerSideCopy::Parts { layout: even_layout(MAX_SINGLE_COPY + 1, 8 * MIB), reproduces: false },
            ),
            (
                "a multipart plan keeps its parts",
                Plan::Multipart { layout: vec![(0, MIB)], reproduces: true },
                MIB,
                ServerSideCopy::Parts { layout: vec![(0, MIB)], reproduces: true },
            ),
        ];
        for (what, plan, size, want) in rows {
            assert_eq!(server_side_copy(&plan, size, 8 * MIB), want, "{what}");
        }
    }
}
