//! The raw reader/grace-period protocol: reader records, the phase word and the phase flips.
//!
//! This is liburcu's "memb" flavour (`urcu.c`, two-phase counter with membarrier) carried over to
//! per-domain records, plus SRCU's per-phase counters (`kernel/rcu/srcutree.c`) for read sections
//! that move between threads. Nothing here knows about threads-local storage, callbacks or
//! cookies: those live in `registry`, `callbacks` and `gp`.
//!
//! # The words
//!
//! * `ReaderShared::gp_ctr`: the value an outermost reader copies into its record:
//!   `PHASE_BIT` (the current phase) | `NEST_ONE`. Written only by the grace-period driver while it
//!   holds the domain's grace-period lock.
//! * `Record::ctr`: one thread's state for one domain: `PHASE_BIT` is the phase its outermost
//!   section started in, the bits under `NEST_MASK` its nesting depth (0 = not reading), and
//!   `TRANSIENT_BIT` marks a record lent for a single section (see `registry`). Written
//!   only by the owning thread, with plain (Relaxed) loads and stores.
//! * `ReaderShared::owned[p]`: how many owned (movable) read sections started in phase `p`.
//! * `ReaderShared::waiting`: a grace period is waiting on owned sections (and may be parked).
//! * `Record::wake_waiter`: a grace period waits on this record (and may be parked).
//!
//! # Invariants
//!
//! 1. Only the thread that owns a record writes its `ctr`; ownership changes only while the
//!    record's nesting is zero, under the domain's record-list lock.
//! 2. `gp_ctr` changes only under the domain's grace-period lock, so at most one grace period
//!    flips phases at a time.
//! 3. A record whose nesting is non-zero and whose phase differs from `gp_ctr`'s is a reader
//!    that may have started before the latest flip; the grace period waits for every such reader
//!    (and for `owned[old phase]` to reach zero) before it flips again or ends.
//! 4. Each grace period flips twice and waits after each flip (liburcu's argument): a reader that
//!    loaded `gp_ctr` before a flip but stored it after the scan is caught by the other flip.
//! 5. Records are never freed while their domain lives; the grace period may therefore scan raw
//!    pointers to them without holding the record-list lock.
//!
//! # Orderings
//!
//! Reader side (membarrier mode): `ctr` store, then a compiler barrier, then the section's loads;
//! at the end a compiler barrier, the `ctr` store, a compiler barrier and the `wake_waiter` load.
//! The grace period brackets its work with membarrier, which runs a full barrier on every thread
//! of the process, so each compiler barrier a reader crossed acts as a full fence relative to
//! the grace period (this is outside Rust's memory model and is the contract of
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED`). In fence mode the reader's compiler barriers become
//! `fence(SeqCst)` and the grace period's membarriers become `fence(SeqCst)`: the classic
//! store-buffering pairing, which loom checks.
//!
//! * GP start barrier pairs with the reader's entry barrier: either the reader's record store is
//!   visible to the scan, or the reader's section sees every store made before `synchronize`.
//! * GP end barrier pairs with the reader's exit barrier: the section's accesses are complete
//!   before anything the caller of `synchronize` does next (such as freeing).
//! * `wake_waiter` store + heavy barrier (GP) pairs with `ctr` store + barrier + `wake_waiter`
//!   load (reader): either the rescan sees the reader gone, or the reader sees the flag and wakes
//!   the waiter. Owned sections pair the same way through `waiting` and their counters.
//! * The flips are separated from the scans by `fence(SeqCst)` on the grace-period side.

use crate::sync::{AtomicBool, AtomicUsize, Mutex, Ordering, compiler_fence, fence, lock, thread};
use crossbeam_utils::CachePadded;

/// The phase bit of `gp_ctr` and of a record's `ctr`.
pub(crate) const PHASE_BIT: usize = 1 << (usize::BITS - 1);
/// One level of nesting.
pub(crate) const NEST_ONE: usize = 1;
/// The nesting depth of a record's `ctr`.
pub(crate) const NEST_MASK: usize = TRANSIENT_BIT - 1;
/// Set in a record's `ctr` (never in `gp_ctr`) while the record is lent for one section to a
/// thread whose thread-locals are gone; the outermost unlock gives the record back.
pub(crate) const TRANSIENT_BIT: usize = 1 << (usize::BITS - 2);

static_assertions::const_assert_eq!(PHASE_BIT & NEST_MASK, 0);
static_assertions::const_assert_eq!(TRANSIENT_BIT & (NEST_MASK | PHASE_BIT), 0);
static_assertions::const_assert_eq!(PHASE_BIT | TRANSIENT_BIT | NEST_MASK, usize::MAX);
static_assertions::const_assert_eq!(NEST_ONE & NEST_MASK, NEST_ONE);

/// Returns whether `ctr` describes a reader inside a section.
#[inline]
pub(crate) fn is_reading(ctr: usize) -> bool {
    ctr & NEST_MASK != 0
}

/// Returns whether `ctr` is a reader that a grace period in phase `gp_ctr` must wait for
/// (invariant 3).
#[inline]
pub(crate) fn holds_phase(ctr: usize, gp_ctr: usize) -> bool {
    is_reading(ctr) && (ctr ^ gp_ctr) & PHASE_BIT != 0
}

/// Returns the `owned` index of a `gp_ctr` or record phase.
#[inline]
pub(crate) fn phase_index(ctr: usize) -> usize {
    usize::from(ctr & PHASE_BIT != 0)
}

/// One thread's reader state for one domain.
#[derive(Debug)]
pub(crate) struct Record {
    /// `PHASE_BIT` | nesting depth (see the module docs); written only by the owner (inv. 1).
    pub(crate) ctr: AtomicUsize,
    /// The domain's reader state (invariant 6), so a guard needs nothing but the record.
    shared: *const ReaderShared,
    /// The domain's generation (see `registry`), to check that a guard matches a domain.
    pub(crate) generation: u64,
    /// A copy of the domain's fence mode, next to `ctr`, so an unlock touches no other line.
    fences: bool,
    /// Set by a grace period that waits for this record and may park; the owner's outermost
    /// unlock then wakes it. Kept beside `ctr` for the same reason as `fences`.
    wake_waiter: AtomicBool,
    /// Whether a live thread owns this record; changed under the record-list lock.
    pub(crate) claimed: AtomicBool,
    /// The owning thread, for stall reports; touched only on slow paths.
    pub(crate) owner: Mutex<Option<std::thread::Thread>>,
}

// SAFETY: `shared` is only dereferenced while the domain lives (invariant 6); every other field
// is thread-safe.
unsafe impl Send for Record {}
// SAFETY: as above.
unsafe impl Sync for Record {}

impl Record {
    /// A fresh, unclaimed record of the domain whose reader state is `shared`.
    pub(crate) fn new(shared: &ReaderShared, generation: u64) -> Self {
        Self {
            ctr: AtomicUsize::new(0),
            shared,
            generation,
            fences: shared.fences(),
            wake_waiter: AtomicBool::new(false),
            claimed: AtomicBool::new(false),
            owner: Mutex::new(None),
        }
    }

    /// The reader state of the record's domain.
    ///
    /// # Safety
    ///
    /// The record's domain must be alive (invariant 6).
    #[inline]
    pub(crate) unsafe fn shared(&self) -> &ReaderShared {
        // SAFETY: the caller keeps the domain, which owns the `ReaderShared`, alive.
        unsafe { &*self.shared }
    }

    /// Leaves a read section (`srcu_read_unlock` / `rcu_read_unlock`); returns whether this
    /// ended a transient record's section (the caller then gives the record back). Touches
    /// only this record's cache line unless a grace period waits on it.
    #[inline]
    pub(crate) fn read_unlock(&self) -> bool {
        let ctr = self.ctr.load(Ordering::Relaxed);
        debug_assert!(is_reading(ctr), "rcu: unlock without a read section");
        if ctr & NEST_MASK == NEST_ONE {
            // Outermost: the first barrier keeps the section's accesses before the store (pairs
            // with the grace period's end barrier); the second orders the store before the
            // `wake_waiter` load (pairs with the waiter's store + heavy barrier).
            let fences = self.fences;
            ReaderShared::reader_barrier(fences);
            self.ctr.store(ctr - NEST_ONE, Ordering::Relaxed);
            ReaderShared::reader_barrier(fences);
            if self.wake_waiter.load(Ordering::Relaxed) {
                // SAFETY: the caller's guard keeps the domain alive (invariant 6).
                unsafe { self.shared() }.wake_slow();
            }
            ctr & TRANSIENT_BIT != 0
        } else {
            self.ctr.store(ctr - NEST_ONE, Ordering::Relaxed);
            false
        }
    }

    /// The owner's current nesting depth (only meaningful on the owning thread).
    #[inline]
    pub(crate) fn nesting(&self) -> usize {
        self.ctr.load(Ordering::Relaxed) & NEST_MASK
    }
}

/// The per-domain state that readers touch, read-mostly.
#[derive(Debug)]
pub(crate) struct ReaderShared {
    /// Hot, read-mostly: what readers load on every outermost lock and unlock.
    hot: CachePadded<Hot>,
    /// Owned (movable) read sections per phase: `owned[phase_index(p)]` counts those started
    /// in phase `p`; incremented and decremented with read-modify-writes.
    pub(crate) owned: [CachePadded<AtomicUsize>; 2],
    /// The parked grace-period waiter, if any (slow path only).
    waiter: Mutex<Option<thread::Thread>>,
}

#[derive(Debug)]
struct Hot {
    /// `PHASE_BIT` | `NEST_ONE`; see invariant 2.
    gp_ctr: AtomicUsize,
    /// Set while a grace period waits on readers and may park; owned sections that end while
    /// it is set wake the waiter (thread-bound readers use their record's `wake_waiter`).
    waiting: AtomicBool,
    /// Fence mode (fixed at construction): readers and grace periods use `fence(SeqCst)`
    /// instead of compiler barriers and membarrier.
    fences: bool,
    /// The domain's id and generation (see `registry`), copied here so the thread-local lookup
    /// reads the same line as `gp_ctr`.
    ident: (usize, u64),
}

/// Test-only protocol faults, so each loom model and torture harness has a broken twin.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Faults {
    /// Skip every wait for readers (a grace period that does not wait).
    #[cfg(any(loom, feature = "test-hooks"))]
    pub(crate) skip_wait: bool,
    /// Flip and wait once instead of twice.
    #[cfg(any(loom, feature = "test-hooks"))]
    pub(crate) single_flip: bool,
    /// Take cookies that a grace period already running would satisfy.
    #[cfg(any(loom, feature = "test-hooks"))]
    pub(crate) early_cookie: bool,
    /// Let `barrier` return once its callbacks are taken, not once they have run.
    #[cfg(any(loom, feature = "test-hooks"))]
    pub(crate) barrier_ignores_running: bool,
    /// Park without asking the readers to wake the waiter (a lost wake-up).
    #[cfg(loom)]
    pub(crate) no_wake_flag: bool,
}

impl Faults {
    #[inline]
    pub(crate) fn skip_wait(self) -> bool {
        #[cfg(any(loom, feature = "test-hooks"))]
        return self.skip_wait;
        #[cfg(not(any(loom, feature = "test-hooks")))]
        false
    }

    #[inline]
    pub(crate) fn barrier_ignores_running(self) -> bool {
        #[cfg(any(loom, feature = "test-hooks"))]
        return self.barrier_ignores_running;
        #[cfg(not(any(loom, feature = "test-hooks")))]
        false
    }

    #[inline]
    pub(crate) fn single_flip(self) -> bool {
        #[cfg(any(loom, feature = "test-hooks"))]
        return self.single_flip;
        #[cfg(not(any(loom, feature = "test-hooks")))]
        false
    }
}

impl ReaderShared {
    /// New shared state; `fences` selects fence mode for the domain's whole life; `ident` is
    /// the domain's (id, generation).
    pub(crate) fn new(fences: bool, ident: (usize, u64)) -> Self {
        Self {
            hot: CachePadded::new(Hot {
                gp_ctr: AtomicUsize::new(NEST_ONE),
                waiting: AtomicBool::new(false),
                fences,
                ident,
            }),
            owned: [
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
            ],
            waiter: Mutex::new(None),
        }
    }

    /// The domain's (id, generation).
    #[inline]
    pub(crate) fn ident(&self) -> (usize, u64) {
        self.hot.ident
    }

    /// Whether this domain runs in fence mode.
    #[inline]
    pub(crate) fn fences(&self) -> bool {
        self.hot.fences
    }

    /// The reader-side barrier: a compiler barrier, or a full fence in fence mode. `fences`
    /// is read once per lock or unlock and passed in, so the compiler barrier does not force
    /// it to be reloaded.
    #[inline(always)]
    pub(crate) fn reader_barrier(fences: bool) {
        if fences {
            fence(Ordering::SeqCst);
        } else {
            compiler_fence();
        }
    }

    /// The grace-period-side barrier: membarrier, or a full fence in fence mode.
    pub(crate) fn heavy_barrier(&self) {
        if self.hot.fences {
            fence(Ordering::SeqCst);
        } else {
            crate::membarrier::heavy();
        }
    }

    /// Enters a read section on `rec` (`srcu_read_lock` / `rcu_read_lock`).
    #[inline]
    pub(crate) fn read_lock(&self, rec: &Record) {
        let ctr = rec.ctr.load(Ordering::Relaxed);
        if ctr & NEST_MASK == 0 {
            // Outermost: snapshot the phase. The barrier orders this store before the
            // section's accesses (pairs with the grace period's start barrier).
            let fences = self.hot.fences;
            rec.ctr
                .store(self.hot.gp_ctr.load(Ordering::Relaxed), Ordering::Relaxed);
            Self::reader_barrier(fences);
        } else {
            assert!(
                ctr & NEST_MASK != NEST_MASK,
                "rcu: read sections nested too deeply"
            );
            rec.ctr.store(ctr + NEST_ONE, Ordering::Relaxed);
        }
    }

    /// Enters the one read section of a freshly claimed transient record (nesting 0).
    #[cold]
    pub(crate) fn read_lock_transient(&self, rec: &Record) {
        debug_assert_eq!(rec.nesting(), 0);
        let fences = self.hot.fences;
        rec.ctr.store(
            self.hot.gp_ctr.load(Ordering::Relaxed) | TRANSIENT_BIT,
            Ordering::Relaxed,
        );
        Self::reader_barrier(fences);
    }

    /// Enters an owned read section; returns the phase index to pass to [`Self::up_read`].
    pub(crate) fn down_read(&self) -> usize {
        let idx = phase_index(self.hot.gp_ctr.load(Ordering::Relaxed));
        self.owned[idx].fetch_add(1, Ordering::Relaxed);
        // Orders the increment before the section's accesses; pairs with the start barrier.
        fence(Ordering::SeqCst);
        idx
    }

    /// Leaves an owned read section started by [`Self::down_read`].
    pub(crate) fn up_read(&self, idx: usize) {
        // Section's accesses before the decrement (pairs with the end barrier), then the
        // decrement before the `waiting` load (pairs with the waiter's heavy barrier).
        fence(Ordering::SeqCst);
        self.owned[idx].fetch_sub(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if self.hot.waiting.load(Ordering::Relaxed) {
            self.wake_slow();
        }
    }

    #[cold]
    #[inline(never)]
    pub(crate) fn wake_slow(&self) {
        if let Some(t) = lock(&self.waiter).as_ref() {
            t.unpark();
        }
    }

    /// Flips the phase (grace-period lock held, invariant 2) and returns the new `gp_ctr`.
    pub(crate) fn flip(&self) -> usize {
        let new = self.hot.gp_ctr.load(Ordering::Relaxed) ^ PHASE_BIT;
        self.hot.gp_ctr.store(new, Ordering::Relaxed);
        // The flip must be visible before the scan reads any record.
        fence(Ordering::SeqCst);
        new
    }

    /// Whether owned sections of the phase before `gp_ctr` are still running.
    pub(crate) fn owned_hold(&self, gp_ctr: usize) -> usize {
        self.owned[phase_index(gp_ctr ^ PHASE_BIT)].load(Ordering::Relaxed)
    }

    /// Announces that the caller may park: registers it as the waiter, sets `wake_waiter` on
    /// each record in `pending` and `waiting` for owned sections. The caller must rescan after
    /// this returns before parking.
    pub(crate) fn prepare_park(&self, pending: &[*const Record], faults: Faults) {
        *lock(&self.waiter) = Some(thread::current());
        #[cfg(loom)]
        let pending = if faults.no_wake_flag {
            &[][..]
        } else {
            pending
        };
        let _ = faults;
        for &r in pending {
            // SAFETY: records live as long as the domain (invariant 5).
            unsafe { &*r }.wake_waiter.store(true, Ordering::Relaxed);
        }
        self.hot.waiting.store(true, Ordering::Relaxed);
        // Pairs with the reader's exit barrier before its `wake_waiter` / `waiting` load.
        self.heavy_barrier();
    }

    /// Withdraws what [`Self::prepare_park`] announced for the records in `flagged`.
    pub(crate) fn finish_park(&self, flagged: &[*const Record]) {
        for &r in flagged {
            // SAFETY: records live as long as the domain (invariant 5).
            unsafe { &*r }.wake_waiter.store(false, Ordering::Relaxed);
        }
        self.hot.waiting.store(false, Ordering::Relaxed);
        *lock(&self.waiter) = None;
    }
}
