//! The function instances of a chaos run: real processes of the function binaries
//! in Function Compute mode, as the platform runs them. Invocations go to the
//! instances of a group in turn; the killer sends SIGKILL to an instance that is
//! handling an invocation (so most often mid-copy) and the platform starts a new
//! one in its place, as it would after a crash.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{try_post, Function, Keys, Reply};

/// One instance: the process, and how many invocations it is handling.
struct Slot {
    binary: &'static str,
    env: Vec<(String, String)>,
    function: Mutex<Option<Function>>,
    base: Mutex<String>,
    busy: AtomicUsize,
}

/// Instances of one function with one configuration.
pub struct Group {
    slots: Vec<Arc<Slot>>,
    next: AtomicUsize,
}

impl Group {
    /// `count` instances of `binary`, each with its own environment.
    pub async fn start(binary: &'static str, envs: Vec<Vec<(String, String)>>) -> Group {
        let mut slots = Vec::with_capacity(envs.len());
        for env in envs {
            let function = start(binary, env.clone()).await;
            let base = function.base.clone();
            slots.push(Arc::new(Slot {
                binary,
                env,
                function: Mutex::new(Some(function)),
                base: Mutex::new(base),
                busy: AtomicUsize::new(0),
            }));
        }
        Group { slots, next: AtomicUsize::new(0) }
    }

    /// Invokes the next instance with `body`, as the platform does: a failed
    /// connection (a killed instance) is an error like any other.
    pub async fn invoke(&self, body: String, keys: &Keys) -> Result<Reply, String> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let base = slot.base.lock().unwrap().clone();
        slot.busy.fetch_add(1, Ordering::SeqCst);
        let headers = [
            ("x-fc-access-key-id", keys.id.as_str()),
            ("x-fc-access-key-secret", keys.secret.as_str()),
            ("x-fc-function-timeout", "120"),
        ];
        let reply = tokio::time::timeout(Duration::from_secs(150), try_post(&format!("{base}/invoke"), body, &headers))
            .await
            .unwrap_or_else(|_| Err("the invocation timed out".into()));
        slot.busy.fetch_sub(1, Ordering::SeqCst);
        reply
    }

    /// Kills an instance that is handling an invocation (SIGKILL) and starts a new
    /// one in its place; false when none is busy.
    pub async fn kill_a_busy_one(&self, rng: &mut fastrand::Rng) -> bool {
        let busy: Vec<&Arc<Slot>> = self.slots.iter().filter(|s| s.busy.load(Ordering::SeqCst) > 0).collect();
        if busy.is_empty() {
            return false;
        }
        let slot = busy[rng.usize(0..busy.len())];
        // Dropping a Function kills its process with SIGKILL.
        drop(slot.function.lock().unwrap().take());
        let function = start(slot.binary, slot.env.clone()).await;
        *slot.base.lock().unwrap() = function.base.clone();
        *slot.function.lock().unwrap() = Some(function);
        true
    }
}

async fn start(binary: &'static str, env: Vec<(String, String)>) -> Function {
    tokio::task::spawn_blocking(move || Function::start(binary, &env)).await.expect("start a function")
}
