//! crr: cross-account, cross-region object replication for Alibaba Cloud OSS and
//! S3-compatible stores.
//!
//! * [`config`]: replication rules from `CRR_*` variables
//! * [`event`]: OSS / S3 / queue event payloads, normalised
//! * [`arn`]: role ARNs of both clouds
//! * [`credentials`], [`sts`]: the function's identity and the assumed replication role
//! * [`store`]: S3 clients configured for OSS and S3-compatible servers
//! * [`object`], [`decide`]: an object's state, and what it needs (pure)
//! * [`copy`]: the copy engine, streaming and verified; [`body`], [`retry`] its helpers
//! * [`delete`]: replicating deletes safely (object-deleted)
//! * [`backfill`]: historical replication and repair, by merge join of listings
//! * [`app`], [`report`]: the functions' state, handlers and their JSON reports
//! * [`status`]: replication lag and backfill state for operators

pub mod app;
pub mod arn;
pub mod backfill;
pub mod body;
pub mod config;
pub mod copy;
pub mod credentials;
pub mod decide;
pub mod delete;
pub mod error;
pub mod event;
pub mod iam;
pub mod object;
pub mod report;
pub mod retry;
pub mod status;
pub mod store;
pub mod sts;

pub use app::Replicator;
pub use config::Config;
pub use error::Error;
pub use event::Notification;
pub use report::Report;
