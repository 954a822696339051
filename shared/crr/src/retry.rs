//! Retries of transient faults with jittered exponential backoff, never past the
//! invocation's deadline: a retry that cannot finish in time is left to the platform.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Fault};

pub const MAX_ATTEMPTS: u32 = 5;
/// Time kept in hand before the deadline for reporting the outcome.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

/// Runs `op` until it succeeds, fails permanently, runs out of attempts, or the
/// next wait would end past `deadline`. `op` gets the attempt number (0-based).
pub async fn retry<T, F, Fut>(what: &str, deadline: Option<Instant>, mut op: F) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 0;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if e.fault() == Fault::Transient && attempt + 1 < MAX_ATTEMPTS => {
                let wait = backoff(attempt);
                if deadline.is_some_and(|d| Instant::now() + wait + DEADLINE_MARGIN > d) {
                    tracing::warn!(what, attempt, error = %e, "transient failure; no time left before the deadline to retry");
                    return Err(e);
                }
                tracing::warn!(what, attempt, wait_ms = wait.as_millis() as u64, error = %e, "transient failure; retrying");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// 200 ms doubling per attempt, capped at 5 s, with "equal jitter" (half fixed, half random).
pub fn backoff(attempt: u32) -> Duration {
    let cap = 5_000u64.min(200u64 << attempt.min(10));
    Duration::from_millis(cap / 2 + fastrand::u64(0..=cap / 2))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn transient() -> Error {
        Error::Storage {
            op: "reading",
            bucket: "b".into(),
            key: "k".into(),
            fault: Fault::Transient,
            code: Some("SlowDown".into()),
            detail: "slow down".into(),
        }
    }

    fn permanent() -> Error {
        Error::Storage {
            op: "writing",
            bucket: "b".into(),
            key: "k".into(),
            fault: Fault::Permanent,
            code: Some("AccessDenied".into()),
            detail: "denied".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_faults_then_succeeds() {
        let calls = AtomicU32::new(0);
        let out = retry("t", None, |_| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(out.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_faults_fail_fast() {
        let calls = AtomicU32::new(0);
        let out: Result<(), _> = retry("t", None, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(permanent())
        })
        .await;
        assert_eq!(out.unwrap_err().error_type(), "AccessDenied");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts_or_near_the_deadline() {
        let calls = AtomicU32::new(0);
        let _ = retry::<(), _, _>("t", None, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS);

        let calls = AtomicU32::new(0);
        let deadline = Some(Instant::now() + Duration::from_secs(1));
        let _ = retry::<(), _, _>("t", deadline, |_| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry that would end past the deadline");
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        for attempt in 0..20 {
            let b = backoff(attempt).as_millis() as u64;
            let cap = 5_000u64.min(200 << attempt.min(10));
            assert!(b >= cap / 2 && b <= cap, "attempt {attempt}: {b}");
        }
    }
}
