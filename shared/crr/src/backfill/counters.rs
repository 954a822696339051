//! What a backfill pass counts, per scope and in total: the figures its reports,
//! checkpoints and progress show.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// What a run has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    pub scanned: u64,
    pub copied: u64,
    pub identical: u64,
    pub different: u64,
    pub missing: u64,
    pub extra: u64,
    pub deleted: u64,
    /// Mirror mode: destination-only objects kept because crr did not write them for
    /// this source, or because their source's versions were deleted for good.
    pub left_alone: u64,
    /// Keys whose destination holds newer content than the source (a newer version
    /// deleted for good at the source, or a two-way conflict the destination won):
    /// kept, never rolled back.
    pub kept_newer: u64,
    /// Incomplete multipart uploads abandoned by copies that did not finish, aborted.
    pub aborted_uploads: u64,
    pub bytes: u64,
    pub failed: u64,
}

impl AddAssign for Counters {
    fn add_assign(&mut self, o: Counters) {
        self.scanned += o.scanned;
        self.copied += o.copied;
        self.identical += o.identical;
        self.different += o.different;
        self.missing += o.missing;
        self.extra += o.extra;
        self.deleted += o.deleted;
        self.left_alone += o.left_alone;
        self.kept_newer += o.kept_newer;
        self.aborted_uploads += o.aborted_uploads;
        self.bytes += o.bytes;
        self.failed += o.failed;
    }
}
