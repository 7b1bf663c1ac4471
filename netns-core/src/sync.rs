//! A facade that swaps `std` synchronisation types for `loom`'s under `cfg(loom)`.
//!
//! Only the small lock-free protocols that the loom models check (the cleanup list in
//! [`crate::llist`], the active reference count in [`crate::refcount`] and the cleanup-work state
//! machine in [`crate::work`]) go through this facade; the rest of the crate uses `std` directly,
//! because it is built from the `rcu` and `rwsem` crates, which carry their own models.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

/// Locks `mutex`, ignoring poisoning: every critical section in this crate leaves the protected
/// state consistent before it can unwind (callbacks never run under these mutexes).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// [`lock`] for the `std` mutexes the rest of the crate uses (the same type unless loom is on).
pub(crate) fn lock_std<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
