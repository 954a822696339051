//! Dispatching to the running functions what Function Compute would send them: the
//! local cloud's bucket notifications (from its SQS queue) routed by the functions'
//! OSS triggers, redelivered on failure up to the retries, and the Timer triggers
//! fired on their schedules. Every invocation is one line on stdout.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::caller::{Caller, Target};
use super::parameters::Platform;
use super::processes::Running;
use crate::cron::Schedule;
use crate::dev::{PlatformIdentity, Pump, PumpConfig, QueueMessage, Routes};
use crate::route::Router;
use crate::template::{Stack, Trigger};
use crr::lock::lock;

/// How many times a failed event is delivered again before it is given up,
/// like the template's `MaxAsyncRetryAttempts: 3`.
const RETRIES: u32 = 3;

/// Counts of what was dispatched, printed as the run's summary.
#[derive(Debug, Default, Serialize)]
pub(super) struct Stats {
    messages: AtomicU64,
    events: AtomicU64,
    invocations: AtomicU64,
    failed: AtomicU64,
    unrouted: AtomicU64,
    timer_fires: AtomicU64,
    given_up: AtomicU64,
}

/// A running function as the dispatcher calls it: where it is, and its slots.
struct Instance {
    target: Target,
    /// Its InstanceConcurrency: requests beyond it wait, as on one instance.
    slots: Arc<Semaphore>,
}

/// Delivers notifications and timer events to the running functions, and keeps
/// what `--until-idle` and the summary need: activity, invocations in flight, counts.
pub(super) struct Dispatcher {
    caller: Caller,
    functions: HashMap<String, Instance>,
    router: Router,
    pub(super) stats: Stats,
    in_flight: AtomicUsize,
    last_activity: Mutex<Instant>,
    /// Deliveries per message body so far, for giving up after the retries.
    attempts: Mutex<HashMap<String, u32>>,
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Dispatcher {
    pub(super) fn new(caller: Caller, running: &[Running], router: Router) -> Dispatcher {
        Dispatcher {
            caller,
            functions: running
                .iter()
                .map(|r| (r.target.name.clone(), Instance { target: r.target.clone(), slots: r.slots.clone() }))
                .collect(),
            router,
            stats: Stats::default(),
            in_flight: AtomicUsize::new(0),
            last_activity: Mutex::new(Instant::now()),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    /// No message arrived and no invocation ran for `idle`, and none runs now.
    pub(super) fn idle_for(&self, idle: Duration) -> bool {
        let quiet = lock(&self.last_activity).elapsed();
        quiet >= idle && self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Waits (at most `limit`) for the invocations in flight to finish.
    pub(super) async fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Receives one batch from the queue and handles each message in its own task.
    pub(super) async fn pump_once(self: Arc<Self>, pump: Arc<Pump>) {
        let messages = match pump.receive(Duration::from_secs(1)).await {
            Ok(m) => m,
            Err(e) => {
                eprintln!("warning: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                return;
            }
        };
        for message in messages {
            self.touch();
            self.stats.messages.fetch_add(1, Ordering::Relaxed);
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let (dispatcher, pump) = (self.clone(), pump.clone());
            tokio::spawn(async move {
                dispatcher.handle_message(&pump, message).await;
                dispatcher.touch();
                dispatcher.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    async fn handle_message(&self, pump: &Pump, message: QueueMessage) {
        let events = match crr::event::Notification::from_json(message.body.as_bytes()) {
            Ok(n) => n.events,
            Err(e) => {
                println!("dropped message: not a bucket notification ({e})");
                let _ = pump.ack(&message).await;
                return;
            }
        };
        let delivered = self.deliver(&events).await;
        self.settle(pump, &message, delivered).await;
    }

    /// Invokes every function whose trigger matches the events; true when all succeeded.
    async fn deliver(&self, events: &[crr::event::ObjectEvent]) -> bool {
        self.stats.events.fetch_add(events.len() as u64, Ordering::Relaxed);
        let routing = self.router.route(events, now_millis());
        for u in &routing.unrouted {
            self.stats.unrouted.fetch_add(1, Ordering::Relaxed);
            println!("unrouted event={} bucket={} key={:?} reason={:?}", u.event_name, u.bucket, u.key, u.reason);
        }
        let calls = routing.invocations.iter().map(|inv| async move {
            let detail = format!("event={} key={:?}", inv.event_name, inv.key);
            self.invoke(&inv.function, &inv.trigger, Bytes::from(inv.payload.to_string()), &detail).await
        });
        futures::future::join_all(calls).await.into_iter().all(|ok| ok)
    }

    /// Acknowledges a delivered message; redelivers a failed one soon, or gives it up
    /// after the retries as Function Compute would.
    async fn settle(&self, pump: &Pump, message: &QueueMessage, delivered: bool) {
        if delivered {
            lock(&self.attempts).remove(&message.body);
            if let Err(e) = pump.ack(message).await {
                eprintln!("warning: {e}");
            }
            return;
        }
        let attempts = {
            let mut map = lock(&self.attempts);
            let n = map.entry(message.body.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if attempts > RETRIES {
            self.stats.given_up.fetch_add(1, Ordering::Relaxed);
            println!(
                "gave up message after {attempts} deliveries (Function Compute would send it to the failure destination)"
            );
            lock(&self.attempts).remove(&message.body);
            let _ = pump.ack(message).await;
        } else {
            pump.retry_soon(message).await;
        }
    }

    /// One invocation, logged as one line; true on success.
    async fn invoke(&self, function: &str, trigger: &str, body: Bytes, detail: &str) -> bool {
        let Some(Instance { target, slots }) = self.functions.get(function) else {
            println!("invoke function={function} trigger={trigger} status=error error=\"not running\" {detail}");
            return false;
        };
        let _slot = slots.acquire().await;
        self.stats.invocations.fetch_add(1, Ordering::Relaxed);
        match self.caller.call(target, "/invoke", body).await {
            Ok(a) if a.ok() => {
                println!("invoke function={function} trigger={trigger} status={} ms={} {detail}", a.status, a.millis);
                true
            }
            Ok(a) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                println!(
                    "invoke function={function} trigger={trigger} status={} ms={} {detail} error={:?}",
                    a.status,
                    a.millis,
                    a.error_text()
                );
                false
            }
            Err(e) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                println!(
                    "invoke function={function} trigger={trigger} status=error {detail} error={:?}",
                    e.to_string()
                );
                false
            }
        }
    }

    async fn run_timer(self: Arc<Self>, function: String, trigger: String, schedule: Schedule, payload: String) {
        let mut next = now_millis() / 1000;
        loop {
            let now = now_millis();
            next = match schedule.every() {
                Some(d) => next + d.as_secs().max(1),
                None => match schedule.next_after((now / 1000).max(next)) {
                    Some(t) => t,
                    None => return,
                },
            };
            let wait = (next * 1000).saturating_sub(now);
            tokio::time::sleep(Duration::from_millis(wait)).await;
            self.stats.timer_fires.fetch_add(1, Ordering::Relaxed);
            // The event Function Compute's timer trigger sends.
            let event = serde_json::json!({
                "triggerTime": crate::cron::rfc3339_millis(next * 1000).replace(".000Z", "Z"),
                "triggerName": trigger,
                "payload": payload,
            });
            self.in_flight.fetch_add(1, Ordering::SeqCst);
            let (dispatcher, function, trigger) = (self.clone(), function.clone(), trigger.clone());
            // Timer runs are not activity for --until-idle (a frequent schedule would never
            // leave it idle); they only delay the stop while they run.
            tokio::spawn(async move {
                dispatcher.invoke(&function, &trigger, Bytes::from(event.to_string()), "event=timer").await;
                dispatcher.in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// Starts a task per enabled Timer trigger of `stack`.
    pub(super) fn start_timers(self: &Arc<Self>, stack: &Stack) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        for f in &stack.functions {
            for t in &f.triggers {
                if let Trigger::Timer(timer) = t {
                    if !timer.enabled {
                        println!("timer function={} trigger={} disabled", f.name, timer.name);
                        continue;
                    }
                    let schedule = Schedule::parse(&timer.cron).map_err(|e| anyhow!("{}: {e}", timer.name))?;
                    println!("timer function={} trigger={} schedule={:?}", f.name, timer.name, timer.cron);
                    tasks.push(tokio::spawn(self.clone().run_timer(
                        f.name.clone(),
                        timer.name.clone(),
                        schedule,
                        timer.payload.clone(),
                    )));
                }
            }
        }
        Ok(tasks)
    }

    /// The local cloud's notification queue, when the functions have OSS triggers and
    /// the cloud env names the queue; `cloud_env` is named in errors.
    pub(super) fn queue_pump(
        &self,
        cloud: &BTreeMap<String, String>,
        cloud_env: &std::path::Path,
        platform: &Platform,
        identity: Option<PlatformIdentity>,
    ) -> anyhow::Result<Option<Arc<Pump>>> {
        let (Some(queue_url), Some(endpoint)) = (cloud.get("LOCAL_QUEUE_URL"), cloud.get("LOCAL_ENDPOINT")) else {
            return Ok(not_pumping());
        };
        if self.router.routes.is_empty() {
            return Ok(not_pumping());
        }
        let (Some(key), Some(secret)) = (cloud.get("LOCAL_SRC_ADMIN_KEY_ID"), cloud.get("LOCAL_SRC_ADMIN_SECRET"))
        else {
            bail!(
                "{}: LOCAL_SRC_ADMIN_KEY_ID and LOCAL_SRC_ADMIN_SECRET are needed to read the queue",
                cloud_env.display()
            );
        };
        println!("pumping queue={queue_url} routes={}", self.router.routes.len());
        Ok(Some(Arc::new(Pump::new(PumpConfig {
            endpoint: endpoint.clone(),
            region: platform.region.clone(),
            queue_url: queue_url.clone(),
            queue_credentials: aws_credential_types::Credentials::new(key, secret, None, None, "cloud-env"),
            routes: Routes::default(),
            identity,
            function_timeout: Duration::from_secs(60),
        }))))
    }
}

fn not_pumping() -> Option<Arc<Pump>> {
    println!("not pumping: no OSS triggers, or no LOCAL_QUEUE_URL/LOCAL_ENDPOINT in the cloud env");
    None
}
