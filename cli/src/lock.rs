//! One way to take a `std::sync::Mutex` in the CLI. A lock is poisoned when a thread
//! panicked while holding it; what the CLI guards with one (activity timestamps,
//! delivery counts, progress lines) stays meaningful, so the guard is taken anyway,
//! rather than panicking a second time or silently skipping the work.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The guard of `mutex`, also when a panicking holder poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
