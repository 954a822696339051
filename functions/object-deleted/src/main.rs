//! object-deleted: replicates deletes where the rule says so, and only ever removes
//! crr's own replicas of objects that are gone from the source.

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
                let result = crr::object_deleted(&replicator, &event.payload, &invocation).await;
                finish("object-deleted", &replicator, &invocation, started, result)
            }
        }))
    })
    .await
}
