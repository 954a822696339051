//! The `crr` operator tool as a library, so tests drive the same code the CLI runs.

pub mod apply;
pub mod backfill;
pub mod cron;
pub mod dev;
pub mod docs;
pub mod doctor;
pub mod policy;
pub mod route;
pub mod runner;
pub mod shell;
pub mod status;
pub mod template;
