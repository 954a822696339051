//! One way to take a lock: a panic while another task held it leaves data that is
//! still the best we have (counters, lists of keys), so a poisoned lock is used
//! as it is rather than turned into a second panic.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value of a mutex that is no longer shared.
pub fn into_inner<T>(m: Mutex<T>) -> T {
    m.into_inner().unwrap_or_else(PoisonError::into_inner)
}
