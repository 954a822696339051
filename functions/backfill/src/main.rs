//! backfill: on its timer or by hand, copies what the destination lacks (objects
//! older than the rule, anything the event path missed) by walking both listings.

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    crr::backfill::serve().await
}
