//! object-created: copies each created object to every destination whose rule matches.

use std::time::Instant;

use crr::Notification;
use crr_hosting::{finish, invocation, replicator};
use fc_runtime::{service_fn, Event};

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    fc_runtime::run_with_init(|| async {
        let replicator = replicator()?;
        Ok(service_fn(move |event: Event<Notification>| {
            let replicator = replicator.clone();
            async move {
                let (invocation, started) = (invocation(&event.context), Instant::now());
                let result = crr::object_created(&replicator, &event.payload, &invocation).await;
                finish("object-created", &replicator, &invocation, started, result)
            }
        }))
    })
    .await
}
