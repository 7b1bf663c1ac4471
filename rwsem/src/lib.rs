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
//! # The abort path
//!
//! A killed or timed-out waiter takes the queue lock and looks at its node. If it was granted
//! meanwhile, it keeps the lock and the call succeeds. Otherwise it unlinks itself, and:
//!
//! 1. if it was the last waiter, it clears the waiters flag (and any hand-off claim), so the
//!    fast paths work again;
//! 2. if it was a writer that had claimed the hand-off, the claim goes with it;
//! 3. if it was at the front, it wakes whoever can run now: readers queued behind a killed
//!    writer get the lock at once if no writer holds it, and a writer now at the front of a
//!    free lock is woken;
//! 4. a grant that raced the kill and won is honoured rather than leaked.
//!
//! These are the places where the kernel's own killable paths needed fixing over the years;
//! each has a loom model with a broken twin in `tests/loom.rs`.
//!
//! # Hand-off bound
//!
//! The bound is 1 ms (the kernel uses 4 ms, one jiffy at `HZ=250`). It must be long enough that
//! ordinary wake-ups do not hit it, otherwise every release becomes a direct hand-off to a
//! sleeping thread and the lock idles while it wakes (a convoy); and short enough to bound the
//! writer's wait. The `locktorture` run measures the wake-up latency of a waiter woken at the
//! front after an abort: p50 19 µs and p99 89 µs in a 3 s run, p50 36 µs and p99 174 µs in a
//! 10 s run, on the 2-core development machine under load (`TORTURE_SECS=10 cargo test
//! --release -p rwsem -- --ignored torture --nocapture`). 1 ms is five to ten times that p99,
//! and userspace has no jiffy granularity that would force 4 ms.
//!
//! # Spinning
//!
//! Short, bounded spins, each a few hundred spin-loop hints (microseconds at most, about the
//! cost of one park and unpark):
//!
//! - a writer that finds the lock taken retries up to 100 times while a *writer* holds it;
//! - a writer that finds readers holding the lock and nobody queued becomes the *pending*
//!   writer: one bit in the lock word turns new readers away, as a queued writer would, and it
//!   takes the lock as soon as the readers are gone, checking up to 400 times before it gives
//!   the bit up and queues (at most one writer is pending at a time; the others queue);
//! - a reader that cannot take the lock retries up to 200 times, also while others are queued
//!   (it takes the lock only when nobody is queued, so it never passes them); one held back by
//!   a pending writer alone yields until the bit clears instead of queueing;
//! - a queued waiter checks for its grant up to 200 times before it parks, so a grant that
//!   comes quickly costs neither side a system call.
//!
//! Measured with `cargo bench -p netns-bench --bench rwsem -- rwsem_read_mostly` (two threads
//! pinned to distinct cores, 1% writes) on the idle 2-core machine, and with `cargo run
//! --release -p netns-bench --example read_mostly`, which runs the three locks in turn round by
//! round and compares medians of seven rounds. With a single writer spin every write parked the
//! writer and then the reader behind it: 33 M ops/s against parking_lot's 95 M (threads
//! unpinned). The reader, queued-waiter and queued-writer spins brought it to 0.74-0.87x
//! parking_lot; the pending writer, which spares a write two trips through the queue lock, to
//! 0.76-1.08x in criterion runs and 0.90x in the interleaved medians (0.78x without it). Last,
//! readers that take the lock with one unconditional add (the kernel's `rwsem_read_trylock`)
//! instead of a load and a compare-and-swap, which failed whenever the other reader got in
//! between (3.5 M of 20 M operations then fell to the slow path), brought it to 1.06x, 1.28x and
//! 1.30x parking_lot in three criterion runs (58, 74 and 43 M ops/s against 55, 58 and 33 M;
//! std 49, 58 and 51 M: std's lead in the last is one noisy run; in the interleaved run of the
//! same session std made 0.88x parking_lot) and 1.16x, 1.20x, 1.21x, 1.33x and 1.34x in five
//! interleaved runs. 400 and 1000 iterations
//! measured no better than 200 for the reader and queued spins, and neither did exponential
//! backoff in the reader spin or handing the lock straight to a spinning front writer. Under
//! locktorture's oversubscribed mix (`TORTURE_SECS=10`) writers completed 73k `write()` calls
//! with p50 60 ns and p99 241 us.
//!
//! Writers contending with writers are a different trade. At 10% writes rwsem still leads
//! (1.15x parking_lot, 1.32x std), but at 50% it reaches 0.70x parking_lot and at 100% 0.41x
//! (1.02x std): parking_lot's spinning backs off exponentially, so the thread that just released
//! the lock retakes it while the other waits, and one thread ran 30-46 sections in a row on
//! average against rwsem's 4.5 and std's 4-5 (`read_mostly --write-every 1` and a count of
//! hand-overs). rwsem lets the lock change hands that often, which keeps each writer's wait
//! short.
//!
//! # Costs
//!
//! - One `usize` word, the queue's small mutex and two pointers per semaphore.
//! - Uncontended `read`/`write` and their release: one atomic read-modify-write each (read:
//!   `fetch_add`, then `fetch_sub`; write: two compare-and-swaps), the same instructions as
//!   parking_lot's fast paths. In three criterion runs (`cargo bench -p netns-bench --bench
//!   rwsem`) read lock+unlock took 4.35, 4.51 and 5.07 ns against std's 5.19, 5.41 and 5.74 ns
//!   and parking_lot's 5.83, 5.70 and 6.07 ns; write lock+unlock 5.41, 5.29 and 5.45 ns against
//!   std's 5.57, 5.38 and 5.39 ns and parking_lot's 4.95, 4.95 and 5.44 ns (at most 1.09x
//!   either). Contended
//!   figures: "Spinning".
//! - Misuse checks (debug builds, or the `misuse-checks` feature in release) add a
//!   thread-local list push and pop to every acquisition: with the feature, read lock+unlock
//!   took 6.71 ns and write 9.60 ns in the same bench (`--features rwsem/misuse-checks`).
//! - A sleeping waiter costs a queue node on its own stack; wake-ups take the queue lock.
//! - Killable waits use a per-thread kill state, allocated on the thread's first killable wait
//!   or `KillHandle::current()`.
//!
//! # Orderings
//!
//! Acquisitions of the lock word are `Acquire` and releases `Release`; a waiter granted the
//! lock by another thread learns it through its node with a `Release` store and an `Acquire`
//! load, after the granter's `AcqRel` update of the word, so the previous holder's writes
//! happen before the new holder's section either way. The kill flag is `Release`/`Acquire`
//! and relies on park/unpark for the wake-up. The module docs of `raw` and `kill` argue each
//! site.
//!
//! # Limitations
//!
//! - Guards are not `Send`: a lock is released by the thread that took it (the kernel's
//!   `up_read_non_owner` has no equivalent).
//! - A kill does not interrupt a non-killable wait; it only fails killable ones.
//! - Recursive read locking works only while no writer waits; with misuse checks off, a
//!   recursive read that meets a queued writer deadlocks.
//! - The misuse checks track guards per thread in debug builds only (or with the
//!   `misuse-checks` feature); in release builds a same-thread `write` after `read` or `write`
//!   hangs (its killable or timed form can still be aborted), as with `std` and `parking_lot`.
//! - Under a flood of readers a writer waits for the readers already inside, which is bounded
//!   by their section lengths; under writer contention the hand-off bounds a queued writer's
//!   wait to about the bound plus one critical section, plus the operating system's scheduling
//!   delay, which on an overloaded machine dominates (tens of milliseconds at worst in the
//!   torture runs).
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
    /// A pending writer takes the lock without waiting for the readers to leave.
    pub const PENDING_IGNORES_READERS: u8 = 7;
    /// A reader backing out of a failed fast path skips the wake-up check of a read release.
    pub const BACK_OUT_SKIPS_WAKE: u8 = 8;
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
    pub(crate) const PENDING_IGNORES_READERS: u8 = 7;
    pub(crate) const BACK_OUT_SKIPS_WAKE: u8 = 8;
}

#[cfg(all(test, not(loom)))]
mod tests;
