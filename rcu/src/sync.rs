//! The synchronisation facade: std types in normal builds, loom's under `--cfg loom`.
//!
//! Every module that takes part in a protocol loom checks (the reader records, the grace-period
//! driver and the callback queue) imports its atomics, locks and threads from here, so the model
//! checker runs the algorithm exactly as written.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
#[cfg(loom)]
pub(crate) use loom::thread;

/// A compiler-only barrier: stops the compiler from moving memory accesses across it.
///
/// Loom has no compiler fence; a loom build always runs in fence mode, where this barrier is
/// paired with (or replaced by) a real `fence(SeqCst)`, so a full fence stands in for it there.
#[inline(always)]
pub(crate) fn compiler_fence() {
    #[cfg(not(loom))]
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// Spins once (a CPU hint in normal builds, a scheduling point under loom).
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Locks a mutex, ignoring poisoning: every critical section of this crate leaves its data
/// consistent before anything that can panic, so a poisoned lock still holds valid data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
