//! The cleanup work item (`net_cleanup_work` on the single-threaded `netns` workqueue).
//!
//! The kernel queues one work item whenever `llist_add` turns the cleanup list non-empty; queueing
//! an already pending item does nothing, and an item queued while it runs runs once more
//! afterwards. This module is that state machine for one dedicated worker thread, plus the two
//! things a userspace registry needs on top: a shutdown that drains before the thread exits, and
//! waiting until cleanup is idle.
//!
//! # Invariants
//!
//! 1. `pending` is set by `queue_work` and cleared only by the worker when it starts a run, so a
//!    namespace pushed while a run is in progress is picked up by the next run.
//! 2. After `gone` is set no run will ever start again; it is set under the lock only when the
//!    worker saw `shutdown` and an empty cleanup list, so every namespace pushed before it was
//!    set is dismantled by the worker and every namespace pushed after it sees `QueueResult::Gone`.
//! 3. `running` is true exactly while the worker executes a run.
//!
//! # Orderings
//!
//! All state lives under one mutex; its lock/unlock pairs order everything. The cleanup list's
//! emptiness is read under the same mutex in `next_run`, and producers push before they call
//! `queue_work`, so a producer that finds `gone` clear is guaranteed the worker will still see its
//! node (invariant 2).

use crate::sync::{Condvar, Mutex, lock};

/// What [`CleanupWork::queue_work`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueResult {
    /// The worker will run (again).
    Scheduled,
    /// There is no worker (manual cleanup): the owner steps cleanup itself.
    NoWorker,
    /// The worker has exited for good: the caller must run cleanup itself.
    Gone,
}

/// What the worker does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Run one `cleanup_net` pass, then call [`CleanupWork::run_done`].
    Cleanup,
    /// Exit the thread.
    Exit,
}

#[derive(Debug, Default)]
struct WorkState {
    /// Work was queued and has not started yet (invariant 1).
    pending: bool,
    /// The worker is inside a run (invariant 3).
    running: bool,
    /// The owner asked the worker to drain and exit.
    shutdown: bool,
    /// The worker has exited (invariant 2).
    gone: bool,
    /// No worker thread exists at all (manual cleanup mode).
    manual: bool,
}

/// The work item, shared by producers, the worker and idle waiters.
#[derive(Debug)]
pub struct CleanupWork {
    state: Mutex<WorkState>,
    /// The worker sleeps here.
    wake: Condvar,
    /// Idle waiters sleep here; notified after every run.
    idle: Condvar,
}

impl CleanupWork {
    /// A work item served by a worker thread (`manual == false`) or by nobody.
    pub fn new(manual: bool) -> Self {
        Self {
            state: Mutex::new(WorkState {
                manual,
                ..WorkState::default()
            }),
            wake: Condvar::new(),
            idle: Condvar::new(),
        }
    }

    /// `queue_work`: makes sure the worker runs after this call.
    pub fn queue_work(&self) -> QueueResult {
        let mut state = lock(&self.state);
        if state.gone {
            return QueueResult::Gone;
        }
        if state.manual {
            return QueueResult::NoWorker;
        }
        if !state.pending {
            state.pending = true;
            self.wake.notify_one();
        }
        QueueResult::Scheduled
    }

    /// A deliberately broken `queue_work` that ignores `gone` (for the loom model's twin, which
    /// must catch the namespace lost to a worker that already exited).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn queue_work_ignoring_gone(&self) -> QueueResult {
        let mut state = lock(&self.state);
        if !state.pending {
            state.pending = true;
            self.wake.notify_one();
        }
        QueueResult::Scheduled
    }

    /// Worker side: waits for work. `list_is_empty` reports whether the cleanup list is empty; it
    /// is called under the state lock only once shutdown was requested.
    pub fn next_run(&self, list_is_empty: impl Fn() -> bool) -> Run {
        let mut state = lock(&self.state);
        loop {
            if state.pending {
                state.pending = false;
                state.running = true;
                return Run::Cleanup;
            }
            if state.shutdown {
                if list_is_empty() {
                    state.gone = true;
                    self.idle.notify_all();
                    return Run::Exit;
                }
                state.running = true;
                return Run::Cleanup;
            }
            state = match self.wake.wait(state) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }

    /// Worker side: a run finished; wakes idle waiters.
    pub fn run_done(&self) {
        let mut state = lock(&self.state);
        state.running = false;
        self.idle.notify_all();
    }

    /// Wakes idle waiters without changing state (a manual-mode or inline run finished).
    pub fn notify_idle(&self) {
        let _state = lock(&self.state);
        self.idle.notify_all();
    }

    /// Owner side: asks the worker to drain the list and exit.
    pub fn shutdown(&self) {
        let mut state = lock(&self.state);
        state.shutdown = true;
        self.wake.notify_one();
    }

    /// Marks the work as gone without a worker (manual mode, after the owner drained it).
    pub fn mark_gone(&self) {
        let mut state = lock(&self.state);
        state.gone = true;
        self.idle.notify_all();
    }

    /// Blocks until no run is pending or running and `is_idle` holds. `is_idle` is evaluated
    /// under the state lock after every run.
    pub fn wait_idle(&self, is_idle: impl Fn() -> bool) {
        let mut state = lock(&self.state);
        while state.pending || state.running || !is_idle() {
            if state.gone {
                // Nobody will run again: whatever remains is the caller's to drain.
                return;
            }
            state = match self.idle.wait(state) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
    }
}
