//! A small runtime for serverless functions, shaped like `lambda_runtime`.
//!
//! A function is an async handler from a typed [`Event`] to a serialisable result:
//!
//! ```no_run
//! use fc_runtime::{service_fn, Error, Event};
//!
//! async fn handler(event: Event<serde_json::Value>) -> Result<serde_json::Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     fc_runtime::run(service_fn(handler)).await
//! }
//! ```
//!
//! The same binary runs three ways, chosen at start-up:
//! * with `--event FILE` (or `--event -` for stdin) it handles one event, prints the
//!   JSON result and exits 0, or prints the error and exits 1;
//! * with `AWS_LAMBDA_RUNTIME_API` set it speaks the AWS Lambda Runtime API;
//! * otherwise it is a Function Compute custom runtime: an HTTP server on
//!   `0.0.0.0:$FC_SERVER_PORT` (default 9000) serving `POST /invoke` and `POST /initialize`.
//!
//! The runtime plumbing (HTTP, context headers, panics, shutdown) stays invisible to
//! the handler.

mod context;
mod diagnostic;
mod fc;
mod invoke;
mod lambda;
mod logging;
mod oneshot;
mod service;

use std::future::Future;

pub use context::{Context, Credentials, Platform, Secret};

/// The largest event any of the three modes accepts (Function Compute's synchronous
/// limit is 32 MB): a bigger one is refused before it is read whole.
pub const MAX_EVENT: usize = 32 * 1024 * 1024;
pub use diagnostic::{Diagnostic, TypedError};
pub use logging::init_logging;
pub use service::{service_fn, Handler, ServiceFn};

/// The error type handlers and initialisers return.
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler receives: the typed payload and the invocation's context.
#[derive(Debug, Clone)]
pub struct Event<T> {
    pub payload: T,
    pub context: Context,
}

/// Runs `handler` in whichever mode the process was started in. Returns when the
/// server shuts down (SIGTERM / Ctrl-C) or, in one-shot mode, exits the process.
pub async fn run<T, H>(handler: H) -> Result<(), Error>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    run_with_init(|| async move { Ok(handler) }).await
}

/// Like [`run`], but builds the handler with `init` exactly once per instance.
///
/// In Function Compute mode the server listens first and `init` runs on
/// `POST /initialize` (or on the first invocation), so a failing initialiser is
/// reported through the platform: the initialize call and every invocation answer
/// with its error instead of the instance dying silently.
pub async fn run_with_init<T, H, I, Fut>(init: I) -> Result<(), Error>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    H: Handler<T>,
    I: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<H, Error>> + Send + 'static,
{
    logging::init_logging();
    let init = invoke::Init::new(init);
    match Mode::detect(std::env::args().skip(1))? {
        Mode::OneShot(args) => oneshot::run::<T, H>(init, args).await,
        Mode::Lambda(api) => lambda::run::<T, H>(init, api).await,
        Mode::FunctionCompute => fc::serve::<T, H>(init, fc::ServerConfig::from_env()?).await,
    }
}

/// Entry points for testing the Function Compute server in-process.
#[doc(hidden)]
pub mod testing {
    use std::future::Future;

    use crate::{Error, Handler};

    /// Serves Function Compute requests on `listener` with `handler` until
    /// `shutdown` completes, then lets in-flight invocations finish.
    pub async fn serve_fc<T, H>(
        listener: tokio::net::TcpListener,
        handler: H,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        T: serde::de::DeserializeOwned + Send + 'static,
        H: Handler<T>,
    {
        let init = crate::invoke::Init::new(|| async move { Ok(handler) });
        crate::fc::serve_listener::<T, H>(init, listener, shutdown).await
    }
}

/// How the process was asked to run.
#[derive(Debug, PartialEq)]
enum Mode {
    OneShot(oneshot::Args),
    Lambda(String),
    FunctionCompute,
}

impl Mode {
    fn detect(args: impl Iterator<Item = String>) -> Result<Self, Error> {
        if let Some(args) = oneshot::Args::parse(args)? {
            return Ok(Mode::OneShot(args));
        }
        match std::env::var("AWS_LAMBDA_RUNTIME_API") {
            Ok(api) if !api.is_empty() => Ok(Mode::Lambda(api)),
            _ => Ok(Mode::FunctionCompute),
        }
    }
}
