//! In-crate functional tests: they use the queue hooks of [`crate::raw`] to know when a thread
//! is queued, never sleeps.

mod basic;
mod kill;
mod misuse;
mod order;
mod torture;

use std::sync::mpsc;
use std::thread;

use crate::{KillHandle, RwSem};

/// Spins (yielding) until `n` threads are queued on `sem`. A thread that should queue but
/// got in instead (a barge) would make this spin for ever, so it gives up with a panic.
fn until_queued<T: ?Sized>(sem: &RwSem<T>, n: usize) {
    let t0 = std::time::Instant::now();
    while sem.raw().queue_len() < n {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "expected {n} queued waiters, have {}",
            sem.raw().queue_len()
        );
        thread::yield_now();
    }
}

/// Spins (yielding) until `cond` holds; gives up with a panic naming `what` after 10 s.
fn spin_until(what: &str, cond: impl Fn() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(10),
            "never happened: {what}"
        );
        thread::yield_now();
    }
}

/// Spawns `f` on a scoped thread and returns the thread's kill handle with its join handle.
fn spawn_with_handle<'scope, 'env, F, R>(
    s: &'scope thread::Scope<'scope, 'env>,
    f: F,
) -> (KillHandle, thread::ScopedJoinHandle<'scope, R>)
where
    F: FnOnce() -> R + Send + 'scope,
    R: Send + 'scope,
{
    let (tx, rx) = mpsc::channel();
    let join = s.spawn(move || {
        tx.send(KillHandle::current()).unwrap();
        f()
    });
    (rx.recv().unwrap(), join)
}

/// Asserts that `sem` is unlocked with nobody queued and no flag left behind.
fn assert_clean<T: ?Sized>(sem: &RwSem<T>) {
    assert!(!sem.is_locked(), "lock still held: {:?}", sem.raw());
    assert!(!sem.has_waiters(), "waiters flag left: {:?}", sem.raw());
    assert!(
        !sem.raw().is_handoff_pending(),
        "hand-off flag left: {:?}",
        sem.raw()
    );
    assert!(
        !sem.raw().is_writer_pending(),
        "writer-pending flag left: {:?}",
        sem.raw()
    );
    assert_eq!(sem.raw().queue_len(), 0);
    assert!(sem.try_write().is_some(), "lock not takeable");
}
