//! crr: cross-account, cross-region object replication for Alibaba Cloud OSS and
//! S3-compatible stores.
//!
//! * [`config`]: replication rules from `CRR_*` variables
//! * [`event`]: OSS / S3 / queue event payloads, normalised
//! * [`arn`]: role ARNs of both clouds
//! * [`credentials`], [`sts`]: the function's identity and the assumed replication role
//! * [`store`]: S3 clients configured for OSS and S3-compatible servers
//! * [`replicate`]: decide and copy, streaming and verified
//! * [`app`]: the functions' handlers

pub mod app;
pub mod arn;
pub mod config;
pub mod credentials;
pub mod error;
pub mod event;
pub mod replicate;
pub mod store;
pub mod sts;

pub use app::{Replicator, Report};
pub use config::Config;
pub use error::Error;
pub use event::Notification;
