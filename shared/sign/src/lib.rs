//! Request signing for the clouds crr talks to, in one small crate so every
//! signature can be checked byte for byte against the official SDKs.
//!
//! * [`rpc`]: Alibaba Cloud RPC (POP) APIs such as STS `AssumeRole` (HMAC-SHA1)
//! * [`oss_v1`]: OSS header signature V1 (`Authorization: OSS <id>:<signature>`)
//! * [`oss_v4`]: OSS signature V4 (`OSS4-HMAC-SHA256`)
//! * [`sigv4`]: AWS Signature Version 4, through the maintained `aws-sigv4` crate
//! * [`acs3`]: Alibaba Cloud OpenAPI signature V3 (`ACS3-HMAC-SHA256`), for ROA- and
//!   RPC-style APIs such as Function Compute 3.0
//! * [`fc`]: Function Compute 3.0 `InvokeFunction` (`x-fc-invocation-type: Async` for
//!   asynchronous invocation), built and signed with [`acs3`]
//!
//! Secrets come in as an [`AccessKey`], whose `Debug` output never shows them, and
//! no error of this crate carries one. Every function takes the signing time (and
//! the RPC and ACS3 nonces) as a parameter, so tests can fix them.

pub mod acs3;
mod clock;
mod crypto;
pub mod fc;
mod key;
mod oss;
pub mod oss_v1;
pub mod oss_v4;
pub mod rpc;
pub mod sigv4;

pub use key::AccessKey;
pub use oss::{OssRequest, SignedHeaders};
