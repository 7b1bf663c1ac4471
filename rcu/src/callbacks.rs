//! The callback queue: `call_srcu`, `srcu_barrier`, batching, the bound and the worker loop.
//!
//! Callbacks wait in one FIFO queue per domain. The worker takes the whole queue as a batch,
//! waits for one grace period that starts after the take, and runs the batch; callbacks queued
//! meanwhile form the next batch, so one grace period serves every callback queued while the
//! previous one ran. Callbacks are numbered in queue order; a batch is the contiguous range
//! `[start, end)` of numbers it took.
//!
//! # Invariants
//!
//! 1. `pending` holds exactly the callbacks numbered `[taken, queued)`, in order.
//! 2. Every taken callback belongs to exactly one range in `in_flight` until it has run.
//! 3. A barrier that saw `queued == q` returns once `taken >= q` and no range in `in_flight`
//!    starts below `q` (by 1 and 2, every callback numbered below `q` has then run).
//!
//! # Orderings
//!
//! All state is under one mutex. A callback's `call` happens before the batch's take (the
//! mutex), which happens before the grace period's cookie is taken, so the grace period starts
//! after the `call`. A callback's run happens before the `finish` that removes its range, which
//! happens before a barrier that sees the range gone (the mutex again).

use crate::protocol::Faults;
use crate::sync::{Condvar, Mutex, MutexGuard, lock};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A queued callback.
pub(crate) type Callback = Box<dyn FnOnce() + Send + 'static>;

/// What `call` does when the queue is past its bound (see [`crate::DomainBuilder::overflow`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// The caller takes the queued callbacks, waits for a grace period and runs them itself
    /// (the default).
    #[default]
    Help,
    /// The caller blocks until the worker has brought the queue under the bound.
    Block,
}

/// Counters kept under the queue lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QueueCounts {
    pub(crate) queued: u64,
    pub(crate) completed: u64,
    pub(crate) panicked: u64,
    pub(crate) over_bound: u64,
    pub(crate) helped: u64,
    pub(crate) batches: u64,
}

#[derive(Default)]
struct QueueState {
    /// Invariant 1.
    pending: Vec<Callback>,
    /// An empty vector kept for the next swap, so batching allocates nothing in steady state.
    spare: Vec<Callback>,
    /// Callbacks taken out of `pending` so far.
    taken: u64,
    /// Invariant 2: `[start, end)` of batches taken and not yet finished.
    in_flight: Vec<(u64, u64)>,
    /// A grace-period cookie the worker must reach (`start_poll`); 0 if none.
    poll_target: u64,
    /// The worker waits on `worker_cv` with nothing to do.
    worker_idle: bool,
    /// The worker waits on `worker_cv` for a batch to fill (see `GATHER_DELAY`).
    worker_gathering: bool,
    /// Callers blocked in `barrier` or past the bound: the worker must not gather.
    hurry: usize,
    /// The owning domain is gone: run what is queued, then exit.
    shutdown: bool,
    counts: QueueCounts,
}

/// One domain's callback queue.
pub(crate) struct CallbackQueue {
    state: Mutex<QueueState>,
    worker_cv: Condvar,
    done_cv: Condvar,
    bound: usize,
    overflow: Overflow,
    /// Once `pending` holds this many callbacks, the worker stops gathering.
    gather_threshold: usize,
    /// Test-only faults (inert in normal builds).
    faults: Faults,
}

/// How long the worker lets a small batch fill before it starts the batch's grace period.
/// A grace period costs two membarriers (a few microseconds, and an interrupt for every CPU
/// running this process); waiting this long lets one grace period serve every callback a busy
/// caller queues meanwhile (10,000 deferred drops take about 0.5 ms). `barrier`, a full batch,
/// the bound and shutdown all cut the wait short.
#[cfg(not(loom))]
const GATHER_DELAY: std::time::Duration = std::time::Duration::from_millis(1);

/// A batch this large starts at once.
const GATHER_THRESHOLD: usize = 4096;

impl std::fmt::Debug for CallbackQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackQueue")
            .field("bound", &self.bound)
            .field("overflow", &self.overflow)
            .finish_non_exhaustive()
    }
}

/// The grace-period operations the queue needs from its domain.
pub(crate) trait GraceSource {
    /// A cookie for a grace period starting now.
    fn cookie(&self) -> u64;
    /// Waits until `cookie` is reached.
    fn wait(&self, cookie: u64);
    /// Whether `cookie` is reached.
    fn reached(&self, cookie: u64) -> bool;
}

impl CallbackQueue {
    pub(crate) fn new(bound: usize, overflow: Overflow, faults: Faults) -> Self {
        Self {
            state: Mutex::new(QueueState::default()),
            worker_cv: Condvar::new(),
            done_cv: Condvar::new(),
            bound: bound.max(1),
            overflow,
            gather_threshold: GATHER_THRESHOLD.min(bound.max(2) / 2),
            faults,
        }
    }

    /// Queues `cb`. `may_wait` says whether this caller may wait for a grace period (it is
    /// outside every read section of the domain and is not its worker); it is only asked when
    /// the queue is past its bound.
    pub(crate) fn push(&self, cb: Callback, gs: &dyn GraceSource, may_wait: &dyn Fn() -> bool) {
        let mut st = lock(&self.state);
        if outstanding(&st) >= self.bound as u64 {
            if may_wait() {
                st = self.push_contended(st, gs);
            } else {
                st.counts.over_bound += 1;
            }
        }
        st.pending.push(cb);
        st.counts.queued += 1;
        let wake =
            st.worker_idle || (st.worker_gathering && st.pending.len() >= self.gather_threshold);
        drop(st);
        if wake {
            self.worker_cv.notify_one();
        }
    }

    /// Brings the queue under its bound by helping or blocking, per the overflow policy.
    #[cold]
    fn push_contended<'a>(
        &'a self,
        mut st: MutexGuard<'a, QueueState>,
        gs: &dyn GraceSource,
    ) -> MutexGuard<'a, QueueState> {
        st.hurry += 1;
        while outstanding(&st) >= self.bound as u64 {
            if self.overflow == Overflow::Help && !st.pending.is_empty() {
                st.counts.helped += 1;
                let (batch, start) = take_batch(&mut st);
                drop(st);
                self.run_batch(batch, start, gs);
                st = lock(&self.state);
            } else {
                self.worker_cv.notify_one();
                st = self.done_cv.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        st.hurry -= 1;
        st
    }

    /// Waits for a grace period, runs `batch` and retires its range.
    fn run_batch(&self, mut batch: Vec<Callback>, start: u64, gs: &dyn GraceSource) {
        let n = batch.len() as u64;
        gs.wait(gs.cookie());
        let mut panicked = 0;
        for cb in batch.drain(..) {
            // A panicking callback must not take the others (or the worker) with it; it is
            // counted instead (`Stats::callback_panics`).
            if catch_unwind(AssertUnwindSafe(cb)).is_err() {
                panicked += 1;
            }
        }
        let mut st = lock(&self.state);
        let pos = st.in_flight.iter().position(|&(s, _)| s == start);
        st.in_flight
            .swap_remove(pos.expect("rcu: finished batch was not in flight"));
        st.counts.completed += n;
        st.counts.panicked += panicked;
        st.counts.batches += 1;
        if st.spare.capacity() < batch.capacity() {
            st.spare = batch;
        }
        drop(st);
        self.done_cv.notify_all();
    }

    /// Waits until every callback queued before this call has run (invariant 3).
    pub(crate) fn barrier(&self) {
        let mut st = lock(&self.state);
        let target = st.counts.queued;
        let done = |st: &QueueState| {
            barrier_done(st, target)
                || (self.faults.barrier_ignores_running() && st.taken >= target)
        };
        if done(&st) {
            return;
        }
        st.hurry += 1;
        self.worker_cv.notify_one();
        while !done(&st) {
            st = self.done_cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        st.hurry -= 1;
    }

    /// Asks the worker to drive grace periods until `cookie` is reached.
    pub(crate) fn request_poll(&self, cookie: u64) {
        let mut st = lock(&self.state);
        if cookie > st.poll_target {
            st.poll_target = cookie;
        }
        let wake = st.worker_idle;
        drop(st);
        if wake {
            self.worker_cv.notify_one();
        }
    }

    /// Tells the worker to finish the queue and exit.
    pub(crate) fn shutdown(&self) {
        lock(&self.state).shutdown = true;
        self.worker_cv.notify_all();
    }

    /// A copy of the counters.
    pub(crate) fn counts(&self) -> QueueCounts {
        lock(&self.state).counts
    }

    /// The worker's loop: runs batches and polled grace periods until shutdown with an empty
    /// queue.
    pub(crate) fn worker_loop(&self, gs: &dyn GraceSource) {
        let mut st = lock(&self.state);
        loop {
            #[cfg(not(loom))]
            if !st.pending.is_empty()
                && st.pending.len() < self.gather_threshold
                && st.hurry == 0
                && !st.shutdown
            {
                // Let the batch fill; a push that fills it, a barrier or shutdown wakes us.
                st.worker_gathering = true;
                st = self
                    .worker_cv
                    .wait_timeout(st, GATHER_DELAY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
                st.worker_gathering = false;
            }
            if !st.pending.is_empty() {
                let (batch, start) = take_batch(&mut st);
                drop(st);
                self.run_batch(batch, start, gs);
                st = lock(&self.state);
            } else if st.poll_target != 0 && !gs.reached(st.poll_target) {
                let target = st.poll_target;
                drop(st);
                gs.wait(target);
                st = lock(&self.state);
            } else if st.shutdown {
                return;
            } else {
                st.worker_idle = true;
                st = self.worker_cv.wait(st).unwrap_or_else(|p| p.into_inner());
                st.worker_idle = false;
            }
        }
    }
}

/// Invariant 3: whether every callback numbered below `target` has run.
fn barrier_done(st: &QueueState, target: u64) -> bool {
    st.taken >= target && st.in_flight.iter().all(|&(s, _)| s >= target)
}

/// Callbacks queued and not yet run.
fn outstanding(st: &QueueState) -> u64 {
    st.counts.queued - st.counts.completed
}

/// Takes all of `pending` as one batch (invariants 1 and 2); returns it and its first number.
fn take_batch(st: &mut QueueState) -> (Vec<Callback>, u64) {
    let spare = std::mem::take(&mut st.spare);
    let batch = std::mem::replace(&mut st.pending, spare);
    let start = st.taken;
    st.taken += batch.len() as u64;
    st.in_flight.push((start, st.taken));
    (batch, start)
}
