//! A writer-preferring reader-writer semaphore for threads whose waits can be killed, timed
//! out or tried: the Linux `rw_semaphore`, shaped like [`std::sync::RwLock<T>`].
//!
//! # When to use it
//!
//! Use [`RwSem`] where a thread must be able to give up waiting for a reader-writer lock
//! because another thread told it to (a shutdown, a cancelled request, the kernel's fatal
//! signal), or after a deadline, and where writers must not starve behind a stream of readers.
//! `std` and `parking_lot` offer no killable waits; `tokio` offers cancellation only to async
//! code. For a lock that is never contended or never needs these waits, `std::sync::RwLock` is
//! as fast and has no per-thread state.
//!
//! # Example
//!
//! ```
//! use rwsem::{KillHandle, Killed, RwSem};
//! use std::sync::mpsc;
//!
//! static CONFIG: RwSem<Vec<String>> = RwSem::new(Vec::new());
//!
//! CONFIG.write().push("eth0".to_string());
//! assert_eq!(CONFIG.read().len(), 1);
//!
//! // A waiter that another thread aborts.
//! let writer = CONFIG.write();
//! std::thread::scope(|s| {
//!     let (tx, rx) = mpsc::channel();
//!     let waiter = s.spawn(move || {
//!         tx.send(KillHandle::current()).unwrap();
//!         CONFIG.read_killable().map(|cfg| cfg.len())
//!     });
//!     rx.recv().unwrap().kill();
//!     assert_eq!(waiter.join().unwrap(), Err(Killed));
//! });
//! drop(writer);
//! ```
//!
//! # Kernel names
//!
//! | `rwsem` | kernel |
//! |---|---|
//! | [`RwSem::new`] | `init_rwsem` / `DECLARE_RWSEM` |
//! | [`RwSem::read`] | `down_read` |
//! | [`RwSem::read_killable`] | `down_read_killable` |
//! | [`RwSem::read_timeout`] | none (the kernel has no timed rwsem wait) |
//! | [`RwSem::try_read`] | `down_read_trylock` |
//! | [`RwSem::write`] | `down_write` |
//! | [`RwSem::write_killable`] | `down_write_killable` |
//! | [`RwSem::write_timeout`] | none |
//! | [`RwSem::try_write`] | `down_write_trylock` |
//! | dropping an [`RwSemReadGuard`] | `up_read` |
//! | dropping an [`RwSemWriteGuard`] | `up_write` |
//! | [`RwSemWriteGuard::downgrade`] | `downgrade_write` |
//! | [`RwSem::is_locked`] | `rwsem_is_locked` |
//! | [`RwSem::has_waiters`] | `rwsem_is_contended` |
//! | [`KillHandle::kill`] | sending a fatal signal (`fatal_signal_pending` becomes true) |
//! | [`Killed`] | `-EINTR` |
//!
//! # Guarantees
//!
//! - **Exclusion**: one writer, or any number of readers.
//! - **Writer preference**: once a writer is queued, new readers queue behind it; a reader
//!   never gets in ahead of a writer that was waiting when it arrived. `try_read` and
//!   `try_write` never pass queued waiters either: with anyone queued they fail.
//! - **FIFO queue, reader batching**: waiters queue in arrival order, each sleeping on its own
//!   node. When the lock passes to readers at the front of the queue, the whole run of them up
//!   to the next queued writer is granted at once.
//! - **Bounded writer wait (hand-off)**: a newly arriving writer may take a free lock ahead of
//!   a woken queued writer (lock stealing keeps the lock busy instead of idle while a sleeper
//!   wakes up). Once the front writer has waited longer than the hand-off bound (1 ms), it
//!   claims a hand-off: nobody may take the lock any more except by a direct grant to it,
//!   which the next release makes.
//! - **Killable waits**: a [`KillHandle`] raised from any thread aborts the current killable
//!   wait of its thread and every later one until cleared. If the grant and the kill race and
//!   the grant wins, the waiter keeps the lock and succeeds; otherwise the waiter leaves the
//!   queue, wakes whoever can run now that it is gone (readers queued behind a killed writer
//!   get the lock if no writer holds it), and the lock is left exactly as if it never came.
//!   Timed waits that expire take the same path.
//! - **No lost wake-ups**: every release that could let a queued waiter run either grants it
//!   or wakes it, under the queue lock that the waiter re-checks before sleeping.
//! - **Happens-before**: everything a writer did before releasing is visible to the next
//!   holder, whether it took the lock itself or was granted it.
//! - **No poisoning**: a panic while a guard is held releases the lock during unwinding, like
//!   `parking_lot`; the value may be half-updated and later holders see it as it is.
//! - **Misuse detection**: with debug assertions (or the `misuse-checks` feature) a thread that
//!   calls `write` on a semaphore it already holds, or `read` on one it holds when it would
//!   have to queue (a writer waits, or it holds the write lock), panics with a clear message
//!   instead of deadlocking. Without the checks such a call deadlocks (its killable and timed
//!   forms fail with [`Killed`] or [`TimedOut`] when killed or timed out).
//!
//! # Costs
//!
//! - One `usize` word, the queue's small mutex and two pointers per semaphore.
//! - Uncontended `read`/`write` and their release: one compare-and-swap each (read release:
//!   one `fetch_sub`).
//! - A sleeping waiter costs a queue node on its own stack; wake-ups take the queue lock.
//! - Killable waits use a per-thread kill state, allocated on the thread's first killable wait
//!   or `KillHandle::current()`.
//!
//! # Limitations
//!
//! - Guards are not `Send`: a lock is released by the thread that took it (the kernel's
//!   `up_read_non_owner` has no equivalent).
//! - A kill does not interrupt a non-killable wait; it only fails killable ones.
//! - Recursive read locking works only while no writer waits; with misuse checks off, a
//!   recursive read that meets a queued writer deadlocks.
//!
//! # Features
//!
//! - `misuse-checks`: keeps the misuse detection in release builds.
//!
//! # Minimum Rust version
//!
//! 1.85.

mod error;
mod kill;
mod misuse;
mod queue;
mod raw;
mod sem;
mod sync;

pub use error::{Killed, TimedOut};
pub use kill::{KillHandle, clear_current_kill};
pub use sem::{RwSem, RwSemReadGuard, RwSemWriteGuard};

/// Deliberate bugs that the broken twins of the loom models switch on
/// ([`RwSem::with_bug`]), proving that the models can fail. Loom builds only.
#[cfg(loom)]
pub mod loom_bugs {
    /// No bug.
    pub const NONE: u8 = 0;
    /// A waiter that aborts at the front does not wake its successor.
    pub const SKIP_SUCCESSOR_WAKE: u8 = 1;
    /// Readers take the lock past queued writers whenever no writer holds it.
    pub const READERS_BARGE: u8 = 2;
    /// A writer's release with waiters queued clears the lock but wakes nobody.
    pub const SKIP_UNLOCK_WAKE: u8 = 3;
    /// A writer steals the lock while readers hold it.
    pub const STEAL_IGNORES_READERS: u8 = 4;
    /// The last waiter to abort leaves `HAS_WAITERS` set on an empty queue.
    pub const ABORT_KEEPS_FLAGS: u8 = 5;
    /// A killed waiter whose grant won the race reports `Killed` and leaks the lock.
    pub const ABORT_IGNORES_GRANT: u8 = 6;
}

/// Inert stand-ins so the bug checks compile away outside loom.
#[cfg(not(loom))]
pub(crate) mod loom_bugs {
    pub(crate) const SKIP_SUCCESSOR_WAKE: u8 = 1;
    pub(crate) const READERS_BARGE: u8 = 2;
    pub(crate) const SKIP_UNLOCK_WAKE: u8 = 3;
    pub(crate) const STEAL_IGNORES_READERS: u8 = 4;
    pub(crate) const ABORT_KEEPS_FLAGS: u8 = 5;
    pub(crate) const ABORT_IGNORES_GRANT: u8 = 6;
}

#[cfg(all(test, not(loom)))]
mod tests;
