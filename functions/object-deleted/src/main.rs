//! object-deleted: replicates deletes where the rule says so, and only ever removes
//! crr's own replicas of objects that are gone from the source.

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    crr::app::serve(crr::app::EventFunction::ObjectDeleted).await
}
