//! object-deleted: runtime shell; its handler is not part of this build yet, so every
//! invocation is refused with a NotImplemented error rather than silently ignored.

use fc_runtime::{service_fn, Error, Event, TypedError};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fc_runtime::run(service_fn(|_event: Event<serde_json::Value>| async {
        Err::<(), Error>(Box::new(TypedError::new("NotImplemented", "object-deleted is not implemented in this build")))
    }))
    .await
}
