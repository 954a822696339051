//! object-created: copies each created object to every destination whose rule matches.

use crr::Notification;
use crr_hosting::{function_error, invocation, replicator};
use fc_runtime::{service_fn, Event};

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    fc_runtime::run_with_init(|| async {
        let replicator = replicator()?;
        Ok(service_fn(move |event: Event<Notification>| {
            let replicator = replicator.clone();
            async move {
                crr::object_created(&replicator, &event.payload, &invocation(&event.context))
                    .await
                    .map_err(function_error)
            }
        }))
    })
    .await
}
