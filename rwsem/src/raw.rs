//! The raw semaphore: the lock word, the wait queue and every transition between them.
//!
//! This module knows nothing about the protected value or the guards; [`crate::RwSem`] wraps it.
//! The algorithm follows the Linux `rw_semaphore` (kernel/locking/rwsem.c): a counter word that
//! uncontended readers and writers change with a single atomic operation, and a FIFO queue of
//! sleeping waiters protected by a small internal lock (the kernel's `wait_lock`), where every
//! waiter sleeps on its own node. Queued readers are granted the lock by whoever wakes them,
//! a whole run at a time; a queued writer at the front is woken to take the lock itself, may
//! lose it to a newly arriving writer, and once it has waited past [`HANDOFF_BOUND`] it raises
//! [`HANDOFF`] so that the next release hands the lock to it directly.
//!
//! # Invariants
//!
//! Comments and `SAFETY` notes cite these by number.
//!
//! 1. The queue links (`head`, `tail`, `len`, every node's `prev`/`next`) are read and written
//!    only with `queue` locked.
//! 2. Outside a section that holds `queue`, [`HAS_WAITERS`] is set exactly when the queue is
//!    non-empty. Only holders of `queue` change it.
//! 3. [`HANDOFF`] is set only while the front node is a writer that has waited past the
//!    hand-off bound; it is set and cleared only with `queue` locked and is cleared whenever that
//!    writer leaves the front (granted, or aborted).
//! 4. A node is linked only while its owner is inside [`RawRwSem::wait_queued`]; the owner
//!    returns only after the node is unlinked, which it learns either under `queue` or by
//!    loading [`GRANTED`] with `Acquire`.
//! 5. A granter unlinks a node, applies the grant to the word, takes its own copy of the
//!    owner's thread handle, and only then stores [`GRANTED`]; it never touches the node after
//!    that store (the owner may free it at once).
//! 6. Outside a section that holds `queue`, a reader at the front of the queue implies that a
//!    writer holds the lock: every transition that could let the front readers in grants them
//!    in the same section.
//! 7. Outside a section that holds `queue`, a writer at the front with the lock free has been
//!    unparked since the lock became free and re-checks under `queue` before parking again.
//! 8. [`WRITER_PENDING`] is set only by a writer in [`RawRwSem::write_slow`], with a CAS from
//!    a word where readers hold the lock and `WRITER_LOCKED`, `HAS_WAITERS`, `HANDOFF` and
//!    `WRITER_PENDING` are clear, so at most one writer is pending; only that writer clears
//!    it, within a bounded number of checks: by taking the lock once the readers are gone, or
//!    by giving up. A reader never queues because of `WRITER_PENDING` alone (it yields until
//!    the bit clears), so invariant 6 holds without the pending writer in the queue.
//! 9. The reader count may include, for an instant, readers that do not hold the lock: a
//!    reader's fast path adds [`ONE_READER`] before it looks at the word (as the kernel's
//!    `rwsem_read_trylock` does) and, if the word had a [`READ_FAIL_MASK`] bit, removes it again
//!    at once in [`RawRwSem::back_out_read`], even beside [`WRITER_LOCKED`]. Such a bias can
//!    only make the lock look held: a writer waits a moment longer, a release that sees it wakes
//!    nobody, and the backing-out reader then makes the wake-up check that release skipped.
//!
//! # Orderings
//!
//! - Acquisitions of the word (fast paths, steals, a front writer taking the lock, grants on
//!   behalf of waiters) use `Acquire` (grants use `AcqRel`), pairing with the `Release` of the
//!   release that made the lock available: `fetch_sub` of a reader, the CAS of a writer
//!   unlock, or the `AcqRel` CAS of a slow release. Read-modify-writes of the word form a
//!   release sequence, so flag updates in between (`fetch_or(HAS_WAITERS)`) and readers'
//!   biases coming and going (invariant 9, `Relaxed` when backed out) do not break the chain.
//! - A granted waiter learns of its grant through its node's `state`: the granter stores
//!   [`GRANTED`] with `Release` after its `AcqRel` CAS, and the waiter loads it with `Acquire`,
//!   so the previous holder's writes happen before the waiter's critical section.
//! - Flag-only updates (`HAS_WAITERS`, `HANDOFF`) are made with `queue` locked; the mutex
//!   orders them against other queue-locked sections, and concurrent lock-free paths only use
//!   them to decide whether to take the slow path, which re-checks under `queue`. They are
//!   `Relaxed` except where they carry a release (noted at the site).
//! - [`WRITER_PENDING`] is set and cleared by its writer without `queue` (invariant 8), with
//!   `Relaxed` updates: it guards no data, it only turns fast paths away. The pending writer
//!   takes the lock with an `Acquire` CAS that pairs with the `Release` `fetch_sub` of the last
//!   reader to leave, like any other acquisition.

use std::pin::pin;
use std::sync::PoisonError;
#[cfg(all(test, not(loom)))]
use std::sync::TryLockError;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

use crate::kill::KillState;
use crate::misuse;
use crate::queue::{GRANTED, Kind, Queue, Waiter, WakeList};
use crate::sync::{self, Arc, AtomicUsize, Mutex, MutexGuard};

// ---------------------------------------------------------------------------------------------
// The lock word.

/// Bit 0: a writer holds the lock.
pub(crate) const WRITER_LOCKED: usize = 1;
/// Bit 1: the wait queue is non-empty (invariant 2). Blocks the fast paths of new readers and
/// writers so that they queue behind the waiters (writer preference, no barging).
pub(crate) const HAS_WAITERS: usize = WRITER_LOCKED << 1;
/// Bit 2: the front writer is owed the lock (invariant 3); nobody may take it except by a
/// grant to that writer.
pub(crate) const HANDOFF: usize = HAS_WAITERS << 1;
/// Bit 3: a writer that found the lock held by readers, with nobody queued, waits for them to
/// leave without queueing (invariant 8). Blocks the fast paths of new readers, as a queued
/// writer would, at the cost of one word update instead of two trips through the queue lock.
pub(crate) const WRITER_PENDING: usize = HANDOFF << 1;
/// The count of read holders is kept in units of `ONE_READER` (bits 4 and up).
pub(crate) const ONE_READER: usize = WRITER_PENDING << 1;
/// The flag bits below the reader count.
pub(crate) const FLAG_MASK: usize = ONE_READER - 1;
/// The top bit is never set by a legitimate reader count: reaching it means about 2^60
/// (2^28 on 32-bit targets) leaked read guards, and the slow path panics instead of wrapping.
pub(crate) const READER_OVERFLOW: usize = 1 << (usize::BITS - 1);
/// The bits that hold the reader count.
pub(crate) const READER_MASK: usize = !FLAG_MASK;
/// A reader may take the fast path only when none of these is set.
pub(crate) const READ_FAIL_MASK: usize =
    WRITER_LOCKED | HAS_WAITERS | HANDOFF | WRITER_PENDING | READER_OVERFLOW;
/// What makes a blocked reader queue rather than wait for a pending writer (invariant 8).
pub(crate) const READ_QUEUE_MASK: usize = WRITER_LOCKED | HAS_WAITERS | HANDOFF;
/// A writer may take the lock (fast path or steal) only when none of these is set.
pub(crate) const WRITE_STEAL_FAIL_MASK: usize =
    WRITER_LOCKED | READER_MASK | HANDOFF | WRITER_PENDING;

static_assertions::const_assert_eq!(WRITER_LOCKED & HAS_WAITERS, 0);
static_assertions::const_assert_eq!((WRITER_LOCKED | HAS_WAITERS) & HANDOFF, 0);
static_assertions::const_assert_eq!((WRITER_LOCKED | HAS_WAITERS | HANDOFF) & WRITER_PENDING, 0);
static_assertions::const_assert_eq!(
    FLAG_MASK,
    WRITER_LOCKED | HAS_WAITERS | HANDOFF | WRITER_PENDING
);
static_assertions::const_assert_eq!(
    READ_QUEUE_MASK | WRITER_PENDING | READER_OVERFLOW,
    READ_FAIL_MASK
);
static_assertions::const_assert_eq!(FLAG_MASK & READER_MASK, 0);
static_assertions::const_assert_eq!(FLAG_MASK | READER_MASK, usize::MAX);
static_assertions::const_assert!(READER_OVERFLOW & READER_MASK == READER_OVERFLOW);

/// How long a queued writer waits before, at the front of the queue, it claims a direct
/// hand-off. The kernel uses 4 ms (`RWSEM_WAIT_TIMEOUT`). See the crate docs
/// ("Hand-off bound") for the measurement behind this value.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const HANDOFF_BOUND: Duration = Duration::from_millis(1);

/// Attempts a writer makes to take the lock while another writer holds it, before it queues
/// (a lock held by readers makes it queue at once); attempts a reader makes while it cannot take
/// the lock, before it queues. See the crate docs ("Spinning") for the measurement behind these
/// values.
pub(crate) const WRITE_SPINS: u32 = if cfg!(loom) { 0 } else { 100 };
/// See [`WRITE_SPINS`].
pub(crate) const READ_SPINS: u32 = if cfg!(loom) { 0 } else { 200 };
/// Checks a queued waiter makes for its grant before it parks. See the crate docs ("Spinning").
pub(crate) const QUEUED_SPINS: u32 = if cfg!(loom) { 0 } else { 200 };
/// Checks a pending writer makes for the readers to leave before it gives up and queues
/// (invariant 8). Under loom, two, so the models explore both outcomes.
pub(crate) const PENDING_SPINS: u32 = if cfg!(loom) { 2 } else { 400 };

// ---------------------------------------------------------------------------------------------
// Waits.

/// Why a wait gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Abort {
    /// The thread's kill flag was raised.
    Killed,
    /// The deadline passed.
    TimedOut,
}

/// What may end a wait early.
pub(crate) struct WaitSpec {
    /// The caller's kill state, for killable waits.
    kill: Option<Arc<KillState>>,
    /// The deadline, for timed waits (`None`: wait forever).
    deadline: Option<Instant>,
}

impl WaitSpec {
    /// A wait only a grant ends.
    pub(crate) fn forever() -> WaitSpec {
        WaitSpec {
            kill: None,
            deadline: None,
        }
    }

    /// A wait that the calling thread's kill flag ends.
    pub(crate) fn killable() -> WaitSpec {
        WaitSpec {
            kill: Some(crate::kill::current_state()),
            deadline: None,
        }
    }

    /// A wait that ends after `timeout` (a timeout too large to represent waits forever).
    pub(crate) fn timeout(timeout: Duration) -> WaitSpec {
        WaitSpec {
            kill: None,
            deadline: Instant::now().checked_add(timeout),
        }
    }

    /// Why the wait must end now, if it must.
    fn abort_reason(&self) -> Option<Abort> {
        if self.kill.as_ref().is_some_and(|k| k.is_killed()) {
            Some(Abort::Killed)
        } else if sync::deadline_passed(self.deadline) {
            Some(Abort::TimedOut)
        } else {
            None
        }
    }
}

/// What [`RawRwSem::pending_write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// It took the write lock.
    Acquired,
    /// It was pending but the readers stayed too long; the word is as before.
    GaveUp,
    /// The word did not call for a pending writer; nothing changed.
    NotNeeded,
}

// ---------------------------------------------------------------------------------------------
// The semaphore.

/// The lock word and the wait queue of one semaphore.
pub(crate) struct RawRwSem {
    /// The lock word.
    ///
    /// ```text
    ///  usize::BITS-1 ... 4         3               2         1             0
    /// +--------------------+----------------+---------+-------------+---------------+
    /// | reader count       | WRITER_PENDING | HANDOFF | HAS_WAITERS | WRITER_LOCKED |
    /// +--------------------+----------------+---------+-------------+---------------+
    /// ```
    ///
    /// - `WRITER_LOCKED` (bit 0): a writer holds the lock; the reader count is then zero but
    ///   for readers backing out of a failed fast path (invariant 9).
    /// - `HAS_WAITERS` (bit 1): the queue is non-empty (invariant 2). Fast paths fail.
    /// - `HANDOFF` (bit 2): the front writer is owed the lock (invariant 3). Steals fail.
    /// - `WRITER_PENDING` (bit 3): a writer waits, unqueued, for the readers to leave
    ///   (invariant 8). Fast paths and steals fail.
    /// - bits 4 and up: the number of read holders times `ONE_READER`. The top bit
    ///   (`READER_OVERFLOW`) is a guard: reaching it panics rather than wrapping.
    ///
    /// Value `0` is an unlocked semaphore with nobody waiting.
    count: AtomicUsize,
    /// The wait queue and the kernel's `wait_lock` in one.
    queue: Mutex<Queue>,
    /// A deliberate bug for the loom models' broken twins (`crate::loom_bugs`).
    #[cfg(loom)]
    bug: u8,
}

// SAFETY: the queue's raw pointers are guarded by the mutex (invariants 1 and 4); the rest is
// atomics.
unsafe impl Sync for RawRwSem {}
// SAFETY: as above; a semaphore with linked nodes cannot be moved because they borrow it.
unsafe impl Send for RawRwSem {}

impl RawRwSem {
    /// An unlocked semaphore.
    #[cfg(not(loom))]
    pub(crate) const fn new() -> RawRwSem {
        RawRwSem {
            count: AtomicUsize::new(0),
            queue: Mutex::new(Queue::new()),
        }
    }

    /// An unlocked semaphore (loom's types have no `const` constructors).
    #[cfg(loom)]
    pub(crate) fn new() -> RawRwSem {
        Self::with_bug(0)
    }

    /// An unlocked semaphore carrying a deliberate bug (loom twins only).
    #[cfg(loom)]
    pub(crate) fn with_bug(bug: u8) -> RawRwSem {
        RawRwSem {
            count: AtomicUsize::new(0),
            queue: Mutex::new(Queue::new()),
            bug,
        }
    }

    /// Whether the deliberate bug `bug` is switched on (always false outside loom).
    #[inline(always)]
    fn bug(&self, bug: u8) -> bool {
        #[cfg(loom)]
        {
            self.bug == bug
        }
        #[cfg(not(loom))]
        {
            let _ = bug;
            false
        }
    }

    /// An address that identifies this semaphore for misuse detection.
    pub(crate) fn key(&self) -> usize {
        self as *const RawRwSem as usize
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // The queue is never left inconsistent by a panic (no code that can panic runs while
        // it is locked and half-updated), so poisoning carries no information here.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // --- queries ------------------------------------------------------------------------

    /// The word as seen by the queries. Under loom it is read with a read-modify-write, which
    /// always sees the latest value: a plain load may legally return a stale value forever in
    /// loom's model, and the models spin on these queries.
    fn snapshot(&self) -> usize {
        #[cfg(loom)]
        {
            self.count.fetch_add(0, Relaxed)
        }
        #[cfg(not(loom))]
        {
            self.count.load(Relaxed)
        }
    }

    pub(crate) fn is_locked(&self) -> bool {
        self.snapshot() & (WRITER_LOCKED | READER_MASK) != 0
    }

    pub(crate) fn is_write_locked(&self) -> bool {
        self.snapshot() & WRITER_LOCKED != 0
    }

    pub(crate) fn has_waiters(&self) -> bool {
        self.snapshot() & HAS_WAITERS != 0
    }

    pub(crate) fn reader_count(&self) -> usize {
        (self.snapshot() & READER_MASK) / ONE_READER
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_handoff_pending(&self) -> bool {
        self.snapshot() & HANDOFF != 0
    }

    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_writer_pending(&self) -> bool {
        self.snapshot() & WRITER_PENDING != 0
    }

    /// How many writers were ever queued and dequeued (takes the queue lock).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn writer_counts(&self) -> (u64, u64) {
        self.lock_queue().writer_counts
    }

    /// The number of queued waiters (takes the queue lock).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn queue_len(&self) -> usize {
        match self.queue.try_lock() {
            Ok(q) => q.len,
            Err(TryLockError::Poisoned(p)) => p.into_inner().len,
            Err(TryLockError::WouldBlock) => self.lock_queue().len,
        }
    }

    // --- acquisition --------------------------------------------------------------------

    /// `down_read_trylock`: takes a read lock if no writer holds or waits for it.
    #[inline]
    pub(crate) fn try_read(&self) -> bool {
        let mut c = self.count.load(Relaxed);
        loop {
            if c & READ_FAIL_MASK != 0 {
                if c & READER_OVERFLOW != 0 {
                    reader_overflow();
                }
                return false;
            }
            // Acquire: pairs with the Release of the previous holder's release.
            match self
                .count
                .compare_exchange_weak(c, c + ONE_READER, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => c = actual,
            }
        }
    }

    /// `down_write_trylock`: takes the write lock if it is free and nobody waits.
    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        // Acquire: pairs with the Release of the previous holder's release.
        self.count
            .compare_exchange(0, WRITER_LOCKED, Acquire, Relaxed)
            .is_ok()
    }

    /// `down_read` and its killable and timed forms.
    #[inline]
    pub(crate) fn read(&self, wait: impl FnOnce() -> WaitSpec) -> Result<(), Abort> {
        // Acquire: pairs with the Release of the previous holder's release. An unconditional
        // add, as the kernel's `rwsem_read_trylock`: under contention between readers it never
        // retries, where a load and a compare-and-swap would fetch the line twice and fail
        // whenever another reader got in between.
        let prev = self.count.fetch_add(ONE_READER, Acquire);
        if prev & READ_FAIL_MASK == 0 {
            return Ok(());
        }
        self.back_out_read();
        self.read_slow(wait())
    }

    /// `down_write` and its killable and timed forms.
    #[inline]
    pub(crate) fn write(&self, wait: impl FnOnce() -> WaitSpec) -> Result<(), Abort> {
        if self.try_write() {
            return Ok(());
        }
        self.write_slow(wait())
    }

    /// Removes the reader bias a failed fast path added (invariant 9), with the check a read
    /// release makes: if the bias hid the lock's release from the last reader or writer to
    /// leave, the waiters are woken here instead.
    #[cold]
    fn back_out_read(&self) {
        // Relaxed: the bias protected nothing. Being a read-modify-write, the subtraction
        // continues the release sequence of whoever released the lock before it, so a later
        // Acquire still synchronizes with that release.
        let now = self.count.fetch_sub(ONE_READER, Relaxed) - ONE_READER;
        if self.bug(crate::loom_bugs::BACK_OUT_SKIPS_WAKE) {
            return;
        }
        if now & (READER_MASK | WRITER_LOCKED) == 0 && now & HAS_WAITERS != 0 {
            self.unlock_read_slow();
        }
    }

    #[cold]
    fn read_slow(&self, wait: WaitSpec) -> Result<(), Abort> {
        loop {
            if let Some(done) = self.read_slow_once(&wait) {
                return done;
            }
            // Only a pending writer held us back; it clears the bit within its bounded wait
            // (invariant 8). Yield rather than spin in case it was preempted meanwhile, and
            // give up here if the wait has been aborted.
            if let Some(reason) = wait.abort_reason() {
                return Err(reason);
            }
            sync::yield_now();
        }
    }

    /// One round of the read slow path: `None` when only a pending writer blocks the reader.
    fn read_slow_once(&self, wait: &WaitSpec) -> Option<Result<(), Abort>> {
        // Bounded spinning while a writer holds the lock or others are queued.
        let mut spins = 0;
        loop {
            let c = self.count.load(Relaxed);
            if c & READER_OVERFLOW != 0 {
                reader_overflow();
            }
            let barge = self.bug(crate::loom_bugs::READERS_BARGE);
            if c & READ_FAIL_MASK == 0 || (barge && c & WRITER_LOCKED == 0) {
                // Acquire: pairs with the Release of the previous holder's release.
                if self
                    .count
                    .compare_exchange_weak(c, c + ONE_READER, Acquire, Relaxed)
                    .is_ok()
                {
                    return Some(Ok(()));
                }
                continue;
            }
            // Queued waiters do not stop the spin: the reader waits for them to be served
            // (it takes the lock only through the fast-path condition, so never past them).
            if spins >= READ_SPINS {
                if c & READ_QUEUE_MASK == 0 {
                    // Only a pending writer holds us back (invariant 8): no queueing.
                    return None;
                }
                break;
            }
            spins += 1;
            sync::spin_hint();
        }
        if let Some(reason) = wait.abort_reason() {
            return Some(Err(reason));
        }

        let node = pin!(Waiter::new(Kind::Read));
        let node = node.as_ref().get_ref();
        let mut q = self.lock_queue();
        // The queue may have drained and the writer left since the last look.
        let mut c = self.count.load(Relaxed);
        while c & READ_FAIL_MASK == 0 {
            match self
                .count
                .compare_exchange_weak(c, c + ONE_READER, Acquire, Relaxed)
            {
                Ok(_) => return Some(Ok(())),
                Err(actual) => c = actual,
            }
        }
        if c & READ_QUEUE_MASK == 0 {
            // Only a pending writer blocks us: it is not queued, so we must not queue either
            // (invariant 8).
            return None;
        }
        if misuse::holds(self.key()) {
            drop(q);
            panic!(
                "rwsem: recursive read() while a writer is waiting (or while holding the write \
                 lock) would deadlock: this thread already holds this RwSem"
            );
        }
        self.enqueue_locked(&mut q, node);
        Some(self.wait_queued(q, node, wait))
    }

    #[cold]
    fn write_slow(&self, wait: WaitSpec) -> Result<(), Abort> {
        if misuse::holds(self.key()) {
            panic!(
                "rwsem: write() on an RwSem this thread already holds (for read or write) would \
                 deadlock"
            );
        }
        // Bounded spinning: take the lock as soon as it is free unless a hand-off is pending.
        // This may take it past queued writers (lock stealing, bounded by the hand-off). A
        // lock held by readers with nobody queued seldom looks free, since readers keep coming:
        // become the pending writer instead, which holds new readers back.
        let mut spins = 0;
        loop {
            if self.try_steal_write() {
                return Ok(());
            }
            match self.pending_write() {
                Pending::Acquired => return Ok(()),
                Pending::GaveUp => break,
                Pending::NotNeeded if spins >= WRITE_SPINS => break,
                Pending::NotNeeded => {}
            }
            spins += 1;
            sync::spin_hint();
        }
        if let Some(reason) = wait.abort_reason() {
            return Err(reason);
        }

        let node = pin!(Waiter::new(Kind::Write));
        let node = node.as_ref().get_ref();
        let mut q = self.lock_queue();
        if self.try_steal_write() {
            return Ok(());
        }
        self.enqueue_locked(&mut q, node);
        self.wait_queued(q, node, &wait)
    }

    /// The pending-writer path (invariant 8): when readers hold the lock and nobody is queued,
    /// sets [`WRITER_PENDING`] so that no new reader gets in, and takes the lock as soon as the
    /// readers are gone. Gives up after [`PENDING_SPINS`] checks, leaving the word as if it
    /// never came, and the caller queues; does nothing if the word does not qualify (a writer
    /// holds the lock, someone is queued or already pending, or nobody holds it).
    fn pending_write(&self) -> Pending {
        let mut c = self.count.load(Relaxed);
        loop {
            if c & (WRITER_LOCKED | HAS_WAITERS | HANDOFF | WRITER_PENDING) != 0
                || c & READER_MASK == 0
            {
                return Pending::NotNeeded;
            }
            // Relaxed: the bit guards no data; the Acquire that matters is taking the lock.
            match self
                .count
                .compare_exchange_weak(c, c | WRITER_PENDING, Relaxed, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => c = actual,
            }
        }
        let mut fail_mask = WRITER_LOCKED | READER_MASK | HANDOFF;
        if self.bug(crate::loom_bugs::PENDING_IGNORES_READERS) {
            fail_mask &= !READER_MASK;
        }
        for _ in 0..PENDING_SPINS {
            let c = self.count.load(Relaxed);
            // A queued front writer may take the lock first (invariant 7 lets it), and a
            // hand-off it claims wins over us; either way we wait for it, then give up.
            if c & fail_mask == 0 {
                // Acquire: pairs with the Release `fetch_sub` of the last reader to leave.
                if self
                    .count
                    .compare_exchange(c, (c | WRITER_LOCKED) & !WRITER_PENDING, Acquire, Relaxed)
                    .is_ok()
                {
                    return Pending::Acquired;
                }
                continue;
            }
            sync::spin_hint();
        }
        // Relaxed: only our own flag changes; blocked readers re-check the word.
        self.count.fetch_and(!WRITER_PENDING, Relaxed);
        Pending::GaveUp
    }

    /// Takes the write lock if it is free and no hand-off is pending, even past waiters.
    fn try_steal_write(&self) -> bool {
        let mut fail_mask = WRITE_STEAL_FAIL_MASK;
        if self.bug(crate::loom_bugs::STEAL_IGNORES_READERS) {
            fail_mask &= !READER_MASK;
        }
        let mut c = self.count.load(Relaxed);
        while c & fail_mask == 0 {
            // Acquire: pairs with the Release of the previous holder's release.
            match self
                .count
                .compare_exchange_weak(c, c | WRITER_LOCKED, Acquire, Relaxed)
            {
                Ok(_) => return true,
                Err(actual) => c = actual,
            }
        }
        false
    }

    /// Links `node` at the tail and sets `HAS_WAITERS` (invariant 2), then settles the front:
    /// a release may have slipped in before the flag was set (invariants 6 and 7).
    fn enqueue_locked(&self, q: &mut MutexGuard<'_, Queue>, node: &Waiter) {
        q.push_back(node);
        // Relaxed: the queue lock orders this against other queue-locked sections; a racing
        // lock-free release is caught by the settle below (this RMW reads the latest value).
        self.count.fetch_or(HAS_WAITERS, Relaxed);
        let mut wakes = WakeList::new();
        self.wake_locked(q, 0, 0, &mut wakes);
        // Wakes for our own node are harmless; others are rare here.
        drop(wakes);
    }

    /// Sleeps until `node` is granted (or, for a writer at the front, until it can take the
    /// lock itself) or the wait is aborted. Entered with `queue` locked and `node` linked.
    fn wait_queued<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        node: &Waiter,
        wait: &WaitSpec,
    ) -> Result<(), Abort> {
        loop {
            // Grants happen under the queue lock (invariant 5), so this check is final.
            if node.state.load(Acquire) == GRANTED {
                return self.granted(wait);
            }
            if node.kind == Kind::Write && q.is_front(node) {
                if self.take_as_front_writer_locked(&mut q, node) {
                    return Ok(());
                }
                if node.missed_past_bound() && self.count.load(Relaxed) & HANDOFF == 0 {
                    // Relaxed: flag change under the queue lock (see Orderings).
                    self.count.fetch_or(HANDOFF, Relaxed);
                }
            }
            if let Some(reason) = wait.abort_reason() {
                self.abort_locked(&mut q, node);
                return Err(reason);
            }
            drop(q);
            if self.spin_for_grant(node) {
                return self.granted(wait);
            }
            sync::park_until(wait.deadline);
            // Acquire: pairs with the granter's Release store (invariant 5).
            if node.state.load(Acquire) == GRANTED {
                #[cfg(all(test, not(loom)))]
                if let Some(at) = node.abort_wake_at.take() {
                    crate::queue::successor_latency::record(at);
                }
                return self.granted(wait);
            }
            q = self.lock_queue();
            #[cfg(all(test, not(loom)))]
            if let Some(at) = node.abort_wake_at.take() {
                crate::queue::successor_latency::record(at);
            }
        }
    }

    /// Bounded spinning before a queued waiter parks: returns `true` once the node is granted,
    /// `false` when the spin runs out or, for a writer, as soon as the lock looks free (the
    /// front writer takes it under the queue lock). A grant or wake-up that lands during the
    /// spin costs the granter no system call, since the thread has not parked yet.
    fn spin_for_grant(&self, node: &Waiter) -> bool {
        for _ in 0..QUEUED_SPINS {
            // Acquire: pairs with the granter's Release store (invariant 5).
            if node.state.load(Acquire) == GRANTED {
                return true;
            }
            if node.kind == Kind::Write
                && self.count.load(Relaxed) & (WRITER_LOCKED | READER_MASK) == 0
            {
                return false;
            }
            sync::spin_hint();
        }
        false
    }

    /// The outcome of a wait whose node was granted: success, even if a kill or the deadline
    /// arrived meanwhile (the grant won the race).
    fn granted(&self, wait: &WaitSpec) -> Result<(), Abort> {
        if self.bug(crate::loom_bugs::ABORT_IGNORES_GRANT) {
            if let Some(reason) = wait.abort_reason() {
                return Err(reason);
            }
        }
        Ok(())
    }

    /// The front writer takes the free lock itself and unlinks its node.
    fn take_as_front_writer_locked(&self, q: &mut Queue, node: &Waiter) -> bool {
        let mut c = self.count.load(Relaxed);
        loop {
            if c & (WRITER_LOCKED | READER_MASK) != 0 {
                return false;
            }
            let mut new = (c | WRITER_LOCKED) & !HANDOFF;
            if q.len == 1 {
                new &= !HAS_WAITERS;
            }
            // Acquire: pairs with the Release of the release that freed the lock.
            match self.count.compare_exchange_weak(c, new, Acquire, Relaxed) {
                Ok(_) => break,
                Err(actual) => c = actual,
            }
        }
        q.unlink(node);
        true
    }

    /// The abort path (kill or timeout) for a node that was not granted: unlink it and leave
    /// the word and the queue as if it never came; if it was at the front, let whoever can run
    /// now run. Called with `queue` locked after checking `GRANTED` under it.
    fn abort_locked(&self, q: &mut MutexGuard<'_, Queue>, node: &Waiter) {
        let was_front = q.is_front(node);
        q.unlink(node);
        if q.len == 0 {
            if self.bug(crate::loom_bugs::ABORT_KEEPS_FLAGS) {
                return;
            }
            // Relaxed: flag change under the queue lock (invariant 2).
            self.count.fetch_and(!(HAS_WAITERS | HANDOFF), Relaxed);
        } else if was_front {
            if node.kind == Kind::Write {
                // Our hand-off claim, if any, goes with us (invariant 3).
                self.count.fetch_and(!HANDOFF, Relaxed);
            }
            if !self.bug(crate::loom_bugs::SKIP_SUCCESSOR_WAKE) {
                let mut wakes = WakeList::new();
                #[cfg(all(test, not(loom)))]
                q.stamp_front_for_abort_wake(Some(std::time::Instant::now()));
                self.wake_locked(q, 0, 0, &mut wakes);
                #[cfg(all(test, not(loom)))]
                if wakes.is_empty() {
                    // Nobody was woken: the stamped nodes are all still queued.
                    q.stamp_front_for_abort_wake(None);
                }
            }
        }
    }

    /// Applies the caller's own transition (`- sub + add`, e.g. a writer's release) to the
    /// word together with whatever grant it makes possible, then wakes accordingly:
    ///
    /// - readers at the front, no writer holding: the whole run of front readers is granted;
    /// - a writer at the front, lock free, hand-off pending: the lock is handed to it;
    /// - a writer at the front, lock free, no hand-off: it is woken to take the lock itself.
    ///
    /// The kernel's `rwsem_mark_wake`. Called with `queue` locked.
    fn wake_locked(&self, q: &mut Queue, sub: usize, add: usize, wakes: &mut WakeList) {
        let front = q.front().map(|f| f.kind);
        let readers = q.front_reader_run();
        let mut c = self.count.load(Relaxed);
        let granted = loop {
            let base = c.wrapping_sub(sub).wrapping_add(add);
            let (new, granted) = match front {
                Some(Kind::Read) if base & WRITER_LOCKED == 0 => {
                    let mut new = base + readers * ONE_READER;
                    if readers == q.len {
                        new &= !(HAS_WAITERS | HANDOFF);
                    }
                    (new, readers)
                }
                Some(Kind::Write)
                    if base & (WRITER_LOCKED | READER_MASK) == 0 && base & HANDOFF != 0 =>
                {
                    let mut new = (base | WRITER_LOCKED) & !HANDOFF;
                    if q.len == 1 {
                        new &= !HAS_WAITERS;
                    }
                    (new, 1)
                }
                _ => (base, 0),
            };
            if new == c {
                break granted;
            }
            // AcqRel: releases the caller's own hold (if any) and acquires the previous
            // holders' releases on behalf of the granted waiters (see Orderings).
            match self.count.compare_exchange_weak(c, new, AcqRel, Relaxed) {
                Ok(_) => break granted,
                Err(actual) => c = actual,
            }
        };
        for _ in 0..granted {
            let node = q.front().expect("granted nodes are queued");
            let node: *const Waiter = node;
            // SAFETY: the node is linked, hence alive (invariant 4); we hold the queue lock.
            let node = unsafe { &*node };
            q.unlink(node);
            wakes.push(node.thread.clone());
            // Release: publishes the grant (invariant 5). The node must not be touched after
            // this store.
            node.state.store(GRANTED, Release);
        }
        if granted == 0 {
            if let Some(front) = q.front() {
                let free = self.count.load(Relaxed) & (WRITER_LOCKED | READER_MASK) == 0;
                if front.kind == Kind::Write && free {
                    // Invariant 7: the front writer re-checks under the queue lock.
                    wakes.push(front.thread.clone());
                }
            }
        }
    }

    // --- release ------------------------------------------------------------------------

    /// `up_read`.
    ///
    /// # Safety
    ///
    /// The caller holds a read lock of this semaphore and gives it up.
    #[inline]
    pub(crate) unsafe fn unlock_read(&self) {
        // Release: pairs with the Acquire of the next acquisition of the word.
        let prev = self.count.fetch_sub(ONE_READER, Release);
        debug_assert!(
            prev & READER_MASK != 0,
            "rwsem: unlock_read without a read lock"
        );
        let now = prev - ONE_READER;
        if now & (READER_MASK | WRITER_LOCKED) == 0 && now & HAS_WAITERS != 0 {
            self.unlock_read_slow();
        }
    }

    #[cold]
    fn unlock_read_slow(&self) {
        let mut wakes = WakeList::new();
        let mut q = self.lock_queue();
        self.wake_locked(&mut q, 0, 0, &mut wakes);
        drop(q);
    }

    /// `up_write`.
    ///
    /// # Safety
    ///
    /// The caller holds the write lock of this semaphore and gives it up.
    #[inline]
    pub(crate) unsafe fn unlock_write(&self) {
        // Release: pairs with the Acquire of the next acquisition of the word.
        if self
            .count
            .compare_exchange(WRITER_LOCKED, 0, Release, Relaxed)
            .is_err()
        {
            self.unlock_write_slow();
        }
    }

    #[cold]
    fn unlock_write_slow(&self) {
        let mut wakes = WakeList::new();
        let mut q = self.lock_queue();
        debug_assert!(
            self.is_write_locked(),
            "rwsem: unlock_write without the write lock"
        );
        if self.bug(crate::loom_bugs::SKIP_UNLOCK_WAKE) {
            self.count.fetch_and(!WRITER_LOCKED, Release);
            return;
        }
        self.wake_locked(&mut q, WRITER_LOCKED, 0, &mut wakes);
        drop(q);
    }

    /// `downgrade_write`: turns the caller's write lock into a read lock without letting any
    /// writer in between, and grants the readers at the front of the queue.
    ///
    /// # Safety
    ///
    /// The caller holds the write lock of this semaphore.
    pub(crate) unsafe fn downgrade(&self) {
        // Release: the readers that join us see the writes made under the write lock.
        if self
            .count
            .compare_exchange(WRITER_LOCKED, ONE_READER, Release, Relaxed)
            .is_err()
        {
            self.downgrade_slow();
        }
    }

    #[cold]
    fn downgrade_slow(&self) {
        let mut wakes = WakeList::new();
        let mut q = self.lock_queue();
        self.wake_locked(&mut q, WRITER_LOCKED, ONE_READER, &mut wakes);
        drop(q);
    }
}

impl std::fmt::Debug for RawRwSem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.count.load(Relaxed);
        f.debug_struct("RawRwSem")
            .field("readers", &((c & READER_MASK) / ONE_READER))
            .field("writer", &(c & WRITER_LOCKED != 0))
            .field("waiters", &(c & HAS_WAITERS != 0))
            .field("handoff", &(c & HANDOFF != 0))
            .field("writer_pending", &(c & WRITER_PENDING != 0))
            .finish()
    }
}

#[cold]
#[inline(never)]
fn reader_overflow() -> ! {
    panic!("rwsem: too many read locks (reader count overflow)");
}
