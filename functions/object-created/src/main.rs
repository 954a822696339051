//! object-created: copies each created object to every destination whose rule matches.

#[tokio::main]
async fn main() -> Result<(), fc_runtime::Error> {
    crr::app::serve(crr::app::EventFunction::ObjectCreated).await
}
