//! crr: cross-account, cross-region object replication for Alibaba Cloud OSS and
//! S3-compatible stores. The domain only: the functions' `main`s host it.
//!
//! Layers, imports pointing down only (docs/ARCHITECTURE.md; `scripts/check-layers` enforces it):
//! 0. vocabulary and decisions: [`invocation`], [`arn`], [`config`], [`event`], [`object`],
//!    [`outcome`], [`error`], [`report`], [`clock`], [`lock`], [`crc64`], [`decide`] (pure);
//! 1. talking to services: [`store`] (the object-store interface and its dialects),
//!    [`credentials`], [`sts`], [`iam`], [`retry`];
//! 2. acting on one object: [`copy`] (the engine), [`presence`], [`removal`], [`lag`];
//! 3. the shared state: [`replicator`];
//! 4. the handlers: [`created`], [`deleted`], [`backfill`];
//! 5. for operators: [`status`].

pub mod arn;
pub mod backfill;
pub mod clock;
pub mod config;
pub mod copy;
pub mod crc64;
pub mod created;
pub mod credentials;
pub mod decide;
pub mod deleted;
pub mod error;
pub mod event;
pub mod iam;
pub mod invocation;
pub mod lag;
pub mod lock;
pub mod object;
pub mod outcome;
pub mod presence;
pub mod removal;
pub mod replicator;
pub mod report;
pub mod retry;
pub mod status;
pub mod store;
pub mod sts;

pub use config::Config;
pub use created::object_created;
pub use deleted::object_deleted;
pub use error::Error;
pub use event::Notification;
pub use invocation::Invocation;
pub use replicator::Replicator;
pub use report::Report;
