//! Every decision replication makes, as pure functions with table tests: the
//! shells around them only fetch what a decision needs and act on its answer.
//!
//! * [`triage`]: which records a function handles at all;
//! * [`content`]: what one object needs, from the source's and the replica's state;
//! * [`order`]: which of two writes came last (never back to older content; the
//!   last writer wins under two-way rules);
//! * [`gone`]: what a source that is gone means for the replica;
//! * [`settle`]: whether a write is settled, from the source read again after it;
//! * [`copy`]: how the bytes move (part layout, server-side or streamed);
//! * [`integrity`]: whether a replica holds its source's content, and whether a copy
//!   checks out (ETags, recorded source ETags, CRC-64);
//! * [`delete`]: whether a delete may remove a replica.
//!
//! The backfill's own decision (a listing difference to an action) is
//! `backfill::actions`, next to the merge join it follows.

pub mod content;
pub mod copy;
pub mod delete;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod gone;
pub mod integrity;
pub mod order;
pub mod settle;
pub mod triage;

pub use content::{
    content_decision, metadata_decision, needs_tags, overwrite_guard, readiness, replicate_as_symlink,
    symlink_decision, Readiness,
};
pub use delete::{rule_decision, state_decision, version_decision};
pub use triage::{triage, EventFunction, Triage};
