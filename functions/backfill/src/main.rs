//! backfill: on its timer or by hand, copies what the destination lacks (objects
//! older than the rule, anything the event path missed) by walking both listings.

use std::time::Instant;

use crr::backfill::{BackfillEvent, Trigger};
use crr_hosting::{finish, invocation, replicator};
use fc_runtime::{service_fn, Event};

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    fc_runtime::run_with_init(|| async {
        let replicator = replicator()?;
        Ok(service_fn(move |event: Event<BackfillEvent>| {
            let replicator = replicator.clone();
            async move {
                let (invocation, started) = (invocation(&event.context), Instant::now());
                replicator.observe(&invocation);
                if let Trigger::Timer { name, time } = &event.payload.trigger {
                    tracing::info!(trigger = %name, time = %time, "backfill started by its timer");
                }
                let result = crr::backfill::run(&replicator, &event.payload.request, &invocation, None).await;
                finish("backfill", &replicator, &invocation, started, result)
            }
        }))
    })
    .await
}
