//! Event delivery as a notification service and the platform give it in the worst
//! case they allow: a share of the events never arrives, some arrive twice, each
//! after its own random delay (so events of one key overtake each other), and an
//! invocation that fails (an error, a killed instance) is tried again a few times
//! before the platform gives up on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::fleet::Group;
use crate::Keys;

/// One notification record, and where it goes.
#[derive(Debug, Clone)]
pub struct Event {
    /// The order the source produced it in.
    pub index: usize,
    pub key: String,
    /// Which function group handles it.
    pub route: usize,
    pub record: serde_json::Value,
}

#[derive(Debug, Clone, Copy)]
pub struct Weather {
    pub drop_rate: f64,
    pub duplicate_rate: f64,
    pub max_delay: Duration,
    /// Tries after a failed invocation, as Function Compute's asynchronous invocations.
    pub retries: u32,
}

/// What delivery did.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryCounts {
    pub events: usize,
    pub duplicates: usize,
    /// Deliveries of an event after a later event of the same key had been delivered.
    pub reorders: usize,
    pub drops: usize,
    pub invocations: usize,
    pub failed_invocations: usize,
    /// Events the platform gave up on after its retries.
    pub exhausted: usize,
}

pub struct Courier {
    weather: Weather,
    groups: Vec<Arc<Group>>,
    keys: Keys,
    rng: Mutex<fastrand::Rng>,
    counts: Mutex<DeliveryCounts>,
    /// The latest event index delivered per route and key.
    latest: Mutex<HashMap<(usize, String), usize>>,
    in_flight: Arc<Semaphore>,
    tasks: Mutex<JoinSet<()>>,
}

impl Courier {
    pub fn new(seed: u64, weather: Weather, groups: Vec<Arc<Group>>, keys: Keys) -> Arc<Courier> {
        Arc::new(Courier {
            weather,
            groups,
            keys,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            counts: Mutex::new(DeliveryCounts::default()),
            latest: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(12)),
            tasks: Mutex::new(JoinSet::new()),
        })
    }

    /// Sends `event`: perhaps not at all, perhaps twice, each after a random delay.
    pub fn send(self: &Arc<Self>, event: Event) {
        let (dropped, copies) = {
            let mut rng = self.rng.lock().unwrap();
            let dropped = rng.f64() < self.weather.drop_rate;
            let twice = rng.f64() < self.weather.duplicate_rate;
            let max = self.weather.max_delay.as_millis() as u64;
            let delays: Vec<Duration> =
                (0..if twice { 2 } else { 1 }).map(|_| Duration::from_millis(rng.u64(0..=max))).collect();
            (dropped, delays)
        };
        {
            let mut counts = self.counts.lock().unwrap();
            counts.events += 1;
            if dropped {
                counts.drops += 1;
                return;
            }
            counts.duplicates += copies.len() - 1;
        }
        for delay in copies {
            let (me, event) = (self.clone(), event.clone());
            self.tasks.lock().unwrap().spawn(async move {
                tokio::time::sleep(delay).await;
                me.deliver(event).await;
            });
        }
    }

    async fn deliver(&self, event: Event) {
        let _permit = self.in_flight.acquire().await.expect("the semaphore is never closed");
        {
            let mut latest = self.latest.lock().unwrap();
            let seen = latest.entry((event.route, event.key.clone())).or_insert(event.index);
            if *seen > event.index {
                self.counts.lock().unwrap().reorders += 1;
            }
            *seen = (*seen).max(event.index);
        }
        let body = serde_json::json!({ "Records": [event.record] }).to_string();
        for attempt in 0..=self.weather.retries {
            self.counts.lock().unwrap().invocations += 1;
            match self.groups[event.route].invoke(body.clone(), &self.keys).await {
                Ok(reply) if reply.status == 200 => return,
                _ => {
                    self.counts.lock().unwrap().failed_invocations += 1;
                    if attempt < self.weather.retries {
                        let wait = self.rng.lock().unwrap().u64(100..800);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                }
            }
        }
        self.counts.lock().unwrap().exhausted += 1;
    }

    /// Waits until every delivery (and its retries) is over.
    pub async fn drain(&self) {
        loop {
            let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap());
            if tasks.is_empty() {
                return;
            }
            while tasks.join_next().await.is_some() {}
        }
    }

    pub fn counts(&self) -> DeliveryCounts {
        *self.counts.lock().unwrap()
    }
}
