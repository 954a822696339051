//! The part every mode shares: build the handler once, decode an event body,
//! run the handler on its own task (so a panic becomes an error, not a dead
//! process) and encode the outcome.

use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use tracing::Instrument;

use crate::{Context, Diagnostic, Error, Event, Handler};

/// The handler, built at most once per process.
pub(crate) struct Init<H> {
    build: Mutex<Option<BoxFuture<'static, Result<H, Error>>>>,
    handler: OnceCell<Result<Arc<H>, Diagnostic>>,
}

impl<H: Send + Sync + 'static> Init<H> {
    pub(crate) fn new<I, Fut>(init: I) -> Arc<Self>
    where
        I: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<H, Error>> + Send + 'static,
    {
        Arc::new(Init { build: Mutex::new(Some(Box::pin(async move { init().await }))), handler: OnceCell::new() })
    }

    /// The handler, running the initialiser on first use. A failed (or panicking)
    /// initialiser is remembered: every later call reports the same error.
    pub(crate) async fn handler(&self) -> Result<Arc<H>, Diagnostic> {
        self.handler
            .get_or_init(|| async {
                let build = self.build.lock().ok().and_then(|mut b| b.take());
                let Some(build) = build else {
                    return Err(Diagnostic::new("InitError", "the initialiser did not complete"));
                };
                match std::panic::AssertUnwindSafe(build).catch_unwind().await {
                    Ok(Ok(h)) => Ok(Arc::new(h)),
                    Ok(Err(e)) => {
                        let d = Diagnostic::from_error(&e);
                        Err(Diagnostic::new("InitError", format!("{}: {}", d.error_type, d.error_message)))
                    }
                    Err(panic) => Err(Diagnostic::from_panic(panic)),
                }
            })
            .await
            .clone()
    }
}

/// Decodes `body` as `T`, runs the handler and returns the JSON result.
pub(crate) async fn invoke<T, H>(init: &Init<H>, body: &[u8], context: Context) -> Result<Vec<u8>, Diagnostic>
where
    T: DeserializeOwned + Send + 'static,
    H: Handler<T>,
{
    let handler = init.handler().await?;
    let payload = decode::<T>(body)?;
    let span = tracing::info_span!("invoke", request_id = %context.request_id);
    let future = handler.call(Event { payload, context }).instrument(span);
    match tokio::spawn(future).await {
        Ok(Ok(response)) => serde_json::to_vec(&response).map_err(|e| {
            Diagnostic::new("SerializationError", format!("the handler's result is not serialisable as JSON: {e}"))
        }),
        Ok(Err(err)) => Err(Diagnostic::from_error(&err)),
        Err(join) if join.is_panic() => Err(Diagnostic::from_panic(join.into_panic())),
        Err(join) => Err(Diagnostic::new("Cancelled", format!("the handler task was cancelled: {join}"))),
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Diagnostic> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Diagnostic::new(
            "InvalidEvent",
            "the event body is empty; expected a JSON event (an OSS trigger, S3 notification or queue message)",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "the event body is not valid JSON"
        } else {
            "the event does not have the expected shape"
        };
        Diagnostic::new("InvalidEvent", format!("{what}: {e}"))
    })
}
