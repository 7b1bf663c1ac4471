//! The grace-period driver: sequence numbers, cookies, sharing, and waiting for readers.
//!
//! A domain's `seq` counts grace periods the way the kernel's `rcu_seq` does: even values mean
//! idle, odd values mean a grace period is running, and each grace period adds 2. A cookie is the
//! `seq` value at which a grace period that started after the cookie was taken has ended
//! (`get_state_synchronize_srcu`); it is reached when `seq >= cookie`.
//!
//! Concurrent `synchronize` callers share grace periods: each takes a cookie, then funnels through
//! the grace-period lock; whoever holds the lock runs one grace period, and callers whose cookie
//! was reached meanwhile return without running another. N concurrent callers therefore cause at
//! most two grace periods between them, never N.
//!
//! # Orderings
//!
//! * `snapshot` runs `fence(SeqCst)` before loading `seq`; the grace period stores the odd `seq`
//!   and then issues its start barrier (a full fence or membarrier). If the load saw the even
//!   value, the caller's fence precedes the start barrier in the SeqCst order, so every store the
//!   caller made before taking the cookie is visible to the readers that the grace period does not
//!   wait for.
//! * The final `seq` store is `Release` after the end barrier; `done` loads with `Acquire`, so a
//!   caller that sees its cookie reached also sees every reader it waited for as finished.
//! * All other `seq` accesses happen under the grace-period lock.

use crate::protocol::{Faults, ReaderShared, Record, holds_phase};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering, fence, lock, spin_hint};
use crossbeam_utils::CachePadded;

/// Reader records of one domain: appended under the lock, never removed (invariant 5).
pub(crate) type RecordList = Mutex<Vec<Arc<CachePadded<Record>>>>;

/// Scratch space reused by every grace period (held under the grace-period lock).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    records: Vec<*const Record>,
    pending: Vec<*const Record>,
}

// SAFETY: the raw pointers point into records that live as long as the domain (protocol
// invariant 5) and are only dereferenced under the grace-period lock.
unsafe impl Send for Scratch {}

/// How long a grace period waits, and who hears about stalls.
pub(crate) struct WaitPolicy<'a> {
    /// Spin longer before parking (`synchronize_expedited`).
    pub(crate) expedited: bool,
    /// Stall reporting (std builds only).
    #[cfg(not(loom))]
    pub(crate) stall: Option<&'a crate::stall::StallConfig>,
    #[cfg(loom)]
    pub(crate) _marker: std::marker::PhantomData<&'a ()>,
}

/// Scan rounds a normal grace period spins before it parks. Each round reads every pending
/// record once (tens of nanoseconds); 64 rounds cover readers that leave within a few
/// microseconds, the common case, without burning a time slice.
#[cfg(not(loom))]
const SPIN_ROUNDS: u32 = 64;
/// Scan rounds an expedited grace period spins (a few hundred microseconds at most).
#[cfg(not(loom))]
const SPIN_ROUNDS_EXPEDITED: u32 = 4096;
/// Under loom, one scan then park: spinning only multiplies the states to explore.
#[cfg(loom)]
const SPIN_ROUNDS: u32 = 0;
#[cfg(loom)]
const SPIN_ROUNDS_EXPEDITED: u32 = 0;

/// The grace-period state of one domain.
#[derive(Debug)]
pub(crate) struct GpDriver {
    /// `2 * completed + running`; see the module docs.
    seq: CachePadded<AtomicU64>,
    /// The grace-period lock (protocol invariant 2) and the scratch it protects.
    gp_lock: Mutex<Scratch>,
    /// Test-only faults (inert in normal builds).
    pub(crate) faults: Faults,
    /// Callers inside `wait_for` (test hook).
    #[cfg(feature = "test-hooks")]
    pub(crate) waiters: std::sync::atomic::AtomicUsize,
}

impl GpDriver {
    /// A driver with no grace period run yet.
    pub(crate) fn new(faults: Faults) -> Self {
        Self {
            seq: CachePadded::new(AtomicU64::new(0)),
            gp_lock: Mutex::new(Scratch::default()),
            faults,
            #[cfg(feature = "test-hooks")]
            waiters: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Returns the cookie of a grace period starting after this call.
    pub(crate) fn snapshot(&self) -> u64 {
        fence(Ordering::SeqCst);
        let s = self.seq.load(Ordering::Relaxed);
        cookie_after(s, self.faults)
    }

    /// Number of grace periods completed so far.
    pub(crate) fn completed(&self) -> u64 {
        self.seq.load(Ordering::Acquire) / 2
    }

    /// Whether the grace period named by `cookie` has ended.
    pub(crate) fn done(&self, cookie: u64) -> bool {
        self.seq.load(Ordering::Acquire) >= cookie
    }

    /// Waits until `cookie` is reached, running grace periods as needed.
    pub(crate) fn wait_for(
        &self,
        cookie: u64,
        shared: &ReaderShared,
        records: &RecordList,
        policy: &WaitPolicy<'_>,
    ) {
        #[cfg(feature = "test-hooks")]
        self.waiters
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        #[cfg(feature = "test-hooks")]
        let _count = WaiterCount(&self.waiters);
        while !self.done(cookie) {
            let mut scratch = lock(&self.gp_lock);
            if self.done(cookie) {
                return;
            }
            self.run_locked(&mut scratch, shared, records, policy);
        }
    }

    /// Runs one full grace period; the grace-period lock is held (`scratch` is its data).
    fn run_locked(
        &self,
        scratch: &mut Scratch,
        shared: &ReaderShared,
        records: &RecordList,
        policy: &WaitPolicy<'_>,
    ) {
        let s = self.seq.load(Ordering::Relaxed);
        debug_assert!(
            s % 2 == 0,
            "rcu: grace period already running under the lock"
        );
        self.seq.store(s + 1, Ordering::Relaxed);
        // Start barrier: pairs with every reader's entry barrier and with `snapshot`'s fence.
        // A domain no thread has read yet has only owned sections, which use real fences, so a
        // fence pairs with them and the membarrier is skipped (liburcu skips a grace period
        // with no registered reader the same way).
        let light = lock(records).is_empty();
        if light {
            fence(Ordering::SeqCst);
        } else {
            shared.heavy_barrier();
        }
        scratch.records.clear();
        // Records registered after this copy belong to threads whose first section starts
        // after the start barrier (the list lock orders the two), so they need no wait.
        scratch
            .records
            .extend(lock(records).iter().map(|r| &***r as *const Record));
        if light && !scratch.records.is_empty() {
            // A thread registered between the peek and the copy: its record is scanned, so it
            // needs the real start barrier before the scan.
            shared.heavy_barrier();
        }
        let rounds = if self.faults.single_flip() { 1 } else { 2 };
        for _ in 0..rounds {
            let gp_ctr = shared.flip();
            if !self.faults.skip_wait() {
                wait_for_readers(scratch, shared, gp_ctr, policy, self.faults);
            }
            // Scans complete before the next flip or the end barrier.
            fence(Ordering::SeqCst);
        }
        // End barrier: pairs with every reader's exit barrier (a fence suffices when only
        // owned sections, which use fences, were scanned).
        if scratch.records.is_empty() {
            fence(Ordering::SeqCst);
        } else {
            shared.heavy_barrier();
        }
        self.seq.store(s + 2, Ordering::Release);
    }
}

/// The cookie for a grace period that starts after `seq` was read.
fn cookie_after(seq: u64, faults: Faults) -> u64 {
    #[cfg(any(loom, feature = "test-hooks"))]
    if faults.early_cookie {
        // Broken on purpose: accepts the end of a grace period that was already running.
        return (seq + 2) & !1;
    }
    let _ = faults;
    (seq + 3) & !1
}

/// Collects the records that hold phase `gp_ctr` back and waits until none does.
fn wait_for_readers(
    scratch: &mut Scratch,
    shared: &ReaderShared,
    gp_ctr: usize,
    policy: &WaitPolicy<'_>,
    faults: Faults,
) {
    let Scratch { records, pending } = scratch;
    pending.clear();
    pending.extend(records.iter().copied().filter(|&r| {
        // SAFETY: records live as long as the domain (protocol invariant 5).
        holds_phase(unsafe { &*r }.ctr.load(Ordering::Relaxed), gp_ctr)
    }));
    let quiet = |pending: &mut Vec<*const Record>| {
        pending.retain(|&r| {
            // SAFETY: as above, invariant 5.
            holds_phase(unsafe { &*r }.ctr.load(Ordering::Relaxed), gp_ctr)
        });
        pending.is_empty() && shared.owned_hold(gp_ctr) == 0
    };
    if quiet(pending) {
        return;
    }
    let rounds = if policy.expedited {
        SPIN_ROUNDS_EXPEDITED
    } else {
        SPIN_ROUNDS
    };
    for _ in 0..rounds {
        spin_hint();
        if quiet(pending) {
            return;
        }
    }
    wait_for_readers_slow(pending, shared, gp_ctr, policy, quiet, faults);
}

/// Parks until the readers in `pending` leave; the last one out wakes this thread.
#[cold]
fn wait_for_readers_slow(
    pending: &mut Vec<*const Record>,
    shared: &ReaderShared,
    gp_ctr: usize,
    policy: &WaitPolicy<'_>,
    quiet: impl Fn(&mut Vec<*const Record>) -> bool,
    faults: Faults,
) {
    #[cfg(not(loom))]
    let mut stall = crate::stall::StallClock::start(policy.stall);
    #[cfg(loom)]
    let _ = policy;
    let _ = gp_ctr;
    // Every record that may get `wake_waiter` set; cleared when the wait ends.
    let flagged = pending.clone();
    loop {
        shared.prepare_park(pending, faults);
        if quiet(pending) {
            break;
        }
        #[cfg(not(loom))]
        {
            std::thread::park_timeout(stall.next_wake());
            stall.check(pending, shared.owned_hold(gp_ctr));
        }
        #[cfg(loom)]
        crate::sync::thread::park();
    }
    shared.finish_park(&flagged);
}

/// Decrements the test hook's waiter count when a wait ends.
#[cfg(feature = "test-hooks")]
struct WaiterCount<'a>(&'a std::sync::atomic::AtomicUsize);

#[cfg(feature = "test-hooks")]
impl Drop for WaiterCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
