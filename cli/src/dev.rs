//! Local development: deliver the local cloud's bucket notifications to the
//! functions running in Function Compute mode, the way the platform would.
//!
//! The pump long-polls an SQS queue that receives the source bucket's
//! notifications and POSTs each message to `/invoke` of the function that handles
//! its events, with the `x-fc-*` headers Function Compute sends (request id,
//! function name, timeout and the function's temporary credentials). A message
//! is deleted once its invocation succeeded; a failed one becomes visible again
//! shortly and is retried, like an asynchronous invocation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use aws_sdk_sqs::config::{BehaviorVersion, Region};
use bytes::Bytes;
use crr::event::{EventKind, Notification};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// Where each kind of event goes.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// `http://host:port` of object-created.
    pub created: Option<String>,
    /// `http://host:port` of object-deleted.
    pub deleted: Option<String>,
}

/// What Function Compute would tell the function about itself.
#[derive(Debug, Clone)]
pub struct PlatformIdentity {
    pub access_key_id: String,
    pub access_key_secret: fc_runtime::Secret,
    pub region: String,
    pub account_id: String,
}

impl PlatformIdentity {
    /// The `x-fc-*` headers with which Function Compute hands a function its identity.
    pub fn headers(&self, req: http::request::Builder) -> http::request::Builder {
        req.header("x-fc-access-key-id", &self.access_key_id)
            .header("x-fc-access-key-secret", self.access_key_secret.expose())
            .header("x-fc-security-token", "")
            .header("x-fc-region", &self.region)
            .header("x-fc-account-id", &self.account_id)
    }
}

#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub endpoint: String,
    pub region: String,
    pub queue_url: String,
    /// Credentials allowed to receive from and delete on the queue.
    pub queue_credentials: Credentials,
    pub routes: Routes,
    pub identity: Option<PlatformIdentity>,
    pub function_timeout: Duration,
}

/// Counters of one pump run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PumpStats {
    pub messages: u64,
    pub invocations: u64,
    pub failed_invocations: u64,
    pub events: u64,
}

/// One message taken off the queue.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub body: String,
    pub receipt_handle: Option<String>,
}

pub struct Pump {
    config: PumpConfig,
    sqs: aws_sdk_sqs::Client,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// One function invocation's outcome.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub function: &'static str,
    pub status: u16,
    pub body: String,
}

impl Pump {
    pub fn new(config: PumpConfig) -> Self {
        let sqs_config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .endpoint_url(&config.endpoint)
            .credentials_provider(config.queue_credentials.clone())
            .http_client(crr::store::http_client())
            .build();
        Pump {
            sqs: aws_sdk_sqs::Client::from_conf(sqs_config),
            http: Client::builder(TokioExecutor::new()).build_http(),
            config,
        }
    }

    /// Receives up to ten messages, waiting up to `wait` (20 s at most) for the first.
    pub async fn receive(&self, wait: Duration) -> anyhow::Result<Vec<QueueMessage>> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.config.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("receiving from {}: {}", self.config.queue_url, crr::error::source_text(&e))
            })?;
        Ok(received
            .messages()
            .iter()
            .map(|m| QueueMessage {
                body: m.body().unwrap_or_default().to_owned(),
                receipt_handle: m.receipt_handle().map(str::to_owned),
            })
            .collect())
    }

    /// Deletes a message whose events were delivered.
    pub async fn ack(&self, message: &QueueMessage) -> anyhow::Result<()> {
        if let Some(handle) = &message.receipt_handle {
            self.sqs.delete_message().queue_url(&self.config.queue_url).receipt_handle(handle).send().await.map_err(
                |e| anyhow::anyhow!("deleting from {}: {}", self.config.queue_url, crr::error::source_text(&e)),
            )?;
        }
        Ok(())
    }

    /// Makes a message visible again shortly, so it is delivered once more, as the
    /// platform retries a failed asynchronous invocation.
    pub async fn retry_soon(&self, message: &QueueMessage) {
        if let Some(handle) = &message.receipt_handle {
            let _ = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.config.queue_url)
                .receipt_handle(handle)
                .visibility_timeout(2)
                .send()
                .await;
        }
    }

    /// Receives one batch (waiting up to `wait`) and delivers it. Returns the deliveries made.
    pub async fn pump_once(&self, wait: Duration, stats: &mut PumpStats) -> anyhow::Result<Vec<Delivery>> {
        let mut deliveries = Vec::new();
        for message in self.receive(wait).await? {
            stats.messages += 1;
            let (ok, mut made) = self.deliver(&message.body, stats).await;
            deliveries.append(&mut made);
            if ok {
                self.ack(&message).await?;
            } else {
                self.retry_soon(&message).await;
            }
        }
        Ok(deliveries)
    }

    /// Pumps until no message arrived for `idle`, or `limit` passed.
    pub async fn run_until_idle(&self, idle: Duration, limit: Duration) -> anyhow::Result<PumpStats> {
        let mut stats = PumpStats::default();
        let started = Instant::now();
        let mut last_activity = Instant::now();
        while last_activity.elapsed() < idle && started.elapsed() < limit {
            let before = stats.messages;
            self.pump_once(Duration::from_secs(1), &mut stats).await?;
            if stats.messages > before {
                last_activity = Instant::now();
            }
        }
        Ok(stats)
    }

    /// Pumps until `shutdown` completes.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<PumpStats> {
        let mut stats = PumpStats::default();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(stats),
                r = self.pump_once(Duration::from_secs(2), &mut stats) => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "pump: receive failed; retrying");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    }

    /// Takes every message off the queue without delivering it, until none arrived
    /// for `idle`; for replaying events in another order.
    pub async fn drain(&self, idle: Duration) -> anyhow::Result<Vec<String>> {
        let mut bodies = Vec::new();
        let mut last = Instant::now();
        while last.elapsed() < idle {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.config.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!("receiving from {}: {}", self.config.queue_url, crr::error::source_text(&e))
                })?;
            for message in received.messages() {
                last = Instant::now();
                bodies.push(message.body().unwrap_or_default().to_owned());
                if let Some(handle) = message.receipt_handle() {
                    self.sqs.delete_message().queue_url(&self.config.queue_url).receipt_handle(handle).send().await?;
                }
            }
        }
        Ok(bodies)
    }

    /// Delivers one message body as the platform would; true if every invocation succeeded.
    pub async fn deliver_body(&self, body: &str) -> (bool, Vec<Delivery>) {
        self.deliver(body, &mut PumpStats::default()).await
    }

    /// Sends one message to the functions its events concern; true if all succeeded.
    async fn deliver(&self, body: &str, stats: &mut PumpStats) -> (bool, Vec<Delivery>) {
        let events = match Notification::from_json(body.as_bytes()) {
            Ok(n) => n.events,
            Err(e) => {
                tracing::warn!(error = %e, "pump: dropping a message that is not an event");
                return (true, Vec::new());
            }
        };
        stats.events += events.len() as u64;
        let wants = |kinds: &[EventKind]| events.iter().any(|e| kinds.contains(&e.kind));
        let mut targets: Vec<(&'static str, &str)> = Vec::new();
        if wants(&[EventKind::Created, EventKind::MetadataChanged]) {
            match &self.config.routes.created {
                Some(url) => targets.push(("object-created", url)),
                None => tracing::warn!("pump: created events but no object-created function"),
            }
        }
        if wants(&[EventKind::Removed, EventKind::DeleteMarkerCreated]) {
            match &self.config.routes.deleted {
                Some(url) => targets.push(("object-deleted", url)),
                None => tracing::info!("pump: delete events but no object-deleted function"),
            }
        }
        let mut ok = true;
        let mut deliveries = Vec::new();
        for (function, base) in targets {
            stats.invocations += 1;
            let delivery = match self.invoke(function, base, body).await {
                Ok(d) => d,
                Err(e) => Delivery { function, status: 0, body: e.to_string() },
            };
            if delivery.status != 200 {
                ok = false;
                stats.failed_invocations += 1;
                tracing::warn!(function, status = delivery.status, body = %delivery.body, "pump: invocation failed; the message will be retried");
            }
            deliveries.push(delivery);
        }
        (ok, deliveries)
    }

    /// POST /invoke exactly as Function Compute does.
    pub async fn invoke(&self, function: &'static str, base: &str, body: &str) -> anyhow::Result<Delivery> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut req = http::Request::post(format!("{base}/invoke"))
            .header("content-type", "application/octet-stream")
            .header("x-fc-request-id", &request_id)
            .header("x-fc-function-name", function)
            .header("x-fc-function-handler", "bootstrap")
            .header("x-fc-function-memory", "512")
            .header("x-fc-function-timeout", self.config.function_timeout.as_secs().to_string())
            .header("x-fc-control-path", "/invoke");
        if let Some(id) = &self.config.identity {
            req = id.headers(req);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned())))?;
        let resp = tokio::time::timeout(self.config.function_timeout, self.http.request(req))
            .await
            .map_err(|_| anyhow::anyhow!("{function} did not answer within {:?}", self.config.function_timeout))?
            .map_err(|e| anyhow::anyhow!("{function} at {base}: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Delivery { function, status, body: String::from_utf8_lossy(&body).into_owned() })
    }
}

/// Shares one pump between tasks.
pub type SharedPump = Arc<Pump>;
