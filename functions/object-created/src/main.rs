//! object-created: copies each created object to every destination whose rule matches.

use std::sync::Arc;

use crr::{Notification, Replicator};
use fc_runtime::{service_fn, Error, Event};

#[tokio::main]
async fn main() -> Result<(), Error> {
    fc_runtime::run_with_init(|| async {
        let replicator = Arc::new(Replicator::from_env().map_err(|e| e.into_function_error())?);
        Ok(service_fn(move |event: Event<Notification>| {
            let replicator = replicator.clone();
            async move { replicator.object_created(event).await.map_err(|e| e.into_function_error()) }
        }))
    })
    .await
}
