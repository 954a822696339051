//! Learning a multipart source's part layout (`HEAD ?partNumber=`), so the replica
//! can be written in the same parts and carry the same ETag; the plan itself is
//! [`crate::decide::copy::copy_plan`].

use futures::stream::{self, StreamExt, TryStreamExt};

use super::Engine;
use crate::decide::copy::{copy_plan, Plan};
use crate::error::Error;
use crate::object::{uniform_layout, Layout, ObjectState};

/// Sources with more parts than this are not probed part by part.
const MAX_PROBED_PARTS: u32 = 1000;

impl Engine<'_> {
    pub(super) async fn plan(&self, key: &str, source: &ObjectState) -> Result<Plan, Error> {
        let learned = match source.multipart_parts() {
            Some(parts) => self.learn_layout(key, source, parts).await?,
            None => None,
        };
        if let (Some(parts), None) = (source.multipart_parts(), &learned) {
            tracing::info!(
                key,
                parts,
                "the source's part layout could not be learned; the replica records the source ETag instead"
            );
        }
        Ok(copy_plan(source, learned, self.settings))
    }

    /// The source's part layout from `HEAD ?partNumber=`: every part's size when
    /// there are up to [`MAX_PROBED_PARTS`] (asked a few at a time), else the
    /// uniform layout the first and last parts imply. `None` if the server does not
    /// tell part sizes.
    async fn learn_layout(&self, key: &str, source: &ObjectState, parts: u32) -> Result<Option<Layout>, Error> {
        if parts > MAX_PROBED_PARTS {
            let (first, last) = tokio::join!(self.part_size_of(key, source, 1), self.part_size_of(key, source, parts));
            let (Some(first), Some(last)) = (first?, last?) else { return Ok(None) };
            return Ok(uniform_layout(source.size, parts, first).filter(|l| l.last().map(|p| p.1) == Some(last)));
        }
        let sizes: Vec<Option<u64>> =
            stream::iter(1..=parts).map(|n| self.part_size_of(key, source, n)).buffered(16).try_collect().await?;
        let mut layout = Vec::with_capacity(parts as usize);
        let mut offset = 0;
        for size in sizes {
            let Some(size) = size else { return Ok(None) };
            layout.push((offset, size));
            offset += size;
        }
        Ok((offset == source.size).then_some(layout))
    }

    async fn part_size_of(&self, key: &str, source: &ObjectState, part: u32) -> Result<Option<u64>, Error> {
        let head = self.source.head_part(&self.source_bucket.name, key, part).await.map_err(|mut f| {
            // No such part (416), or no such object: the source changed since it was read.
            if f.status == Some(416) || f.is_not_found() {
                f.status = Some(412);
                f.message = format!("{}; the source changed while its part layout was read", f.message);
            }
            self.source_error("reading the part layout of", key, f)
        })?;
        // A server that ignores partNumber answers with the whole object.
        let reports_parts = head.parts_count.is_some();
        let len = head.len;
        Ok((reports_parts && (len < source.size || part == 1 && source.multipart_parts() == Some(1))).then_some(len))
    }
}
