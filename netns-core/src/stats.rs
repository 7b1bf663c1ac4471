//! Counters a user can read: [`Stats`].
//!
//! # Orderings
//!
//! Every counter is `Relaxed`: they describe, they do not synchronise. A snapshot taken while the
//! registry works may combine values from slightly different moments (for instance a namespace
//! counted neither as queued nor as dismantling for an instant); at quiescence it is exact.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A snapshot of a registry's counters, from [`Registry::stats`](crate::Registry::stats).
///
/// `init_net` is not counted in `live`, `created` or `destroyed`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Namespaces set up whose active count has not reached zero.
    pub live: usize,
    /// Namespaces on the cleanup list, waiting for a batch.
    pub queued: usize,
    /// Namespaces in the batch `cleanup_net` is running.
    pub dismantling: usize,
    /// Namespaces whose `setup_net` succeeded.
    pub created: u64,
    /// Namespaces `cleanup_net` finished with.
    pub destroyed: u64,
    /// `copy_net_ns` calls that failed after charging the user namespace (setup error, `EINTR`).
    pub setup_failures: u64,
    /// `cleanup_net` batches run (empty passes not counted).
    pub batches: u64,
    /// Namespaces over all batches (`batched_nets / batches` is the mean batch size).
    pub batched_nets: u64,
    /// The largest batch.
    pub max_batch: usize,
    /// RCU grace periods the registry waited for, all paths included.
    pub grace_periods: u64,
    /// Of those, the ones `cleanup_net` waited for (one per batch).
    pub batch_grace_periods: u64,
    /// RCU barriers the registry waited for, all paths included.
    pub barriers: u64,
    /// Of those, the ones `cleanup_net` waited for (one per batch).
    pub batch_barriers: u64,
    /// The largest backlog (queued + dismantling) seen.
    pub peak_backlog: usize,
    /// Creators that waited at the backlog bound.
    pub backlog_waits: u64,
    /// Creators refused at the backlog bound (`BacklogFull`).
    pub backlog_refusals: u64,
    /// Panics caught in pernet callbacks.
    pub callback_panics: u64,
    /// Pernet operations registered now.
    pub ops_registered: usize,
}

impl Stats {
    /// The mean batch size, or 0 before the first batch.
    pub fn mean_batch_size(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.batched_nets as f64 / self.batches as f64
        }
    }

    /// The backlog at the time of the snapshot: queued plus dismantling namespaces.
    pub fn backlog(&self) -> usize {
        self.queued + self.dismantling
    }
}

/// The live counters behind [`Stats`].
///
/// The counters creators and `put_net` write on every namespace come first, on their own cache
/// line (the struct is 128-byte aligned and `_creator_line` pads the group), so that the cleanup
/// worker's counters and the registry's read-mostly fields do not bounce with them.
#[derive(Debug, Default)]
#[repr(C, align(128))]
pub(crate) struct Counters {
    pub(crate) live: AtomicUsize,
    pub(crate) queued: AtomicUsize,
    pub(crate) created: AtomicU64,
    _creator_line: [u64; 13],
    pub(crate) dismantling: AtomicUsize,
    pub(crate) destroyed: AtomicU64,
    pub(crate) setup_failures: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) batched_nets: AtomicU64,
    pub(crate) max_batch: AtomicUsize,
    pub(crate) grace_periods: AtomicU64,
    pub(crate) batch_grace_periods: AtomicU64,
    pub(crate) barriers: AtomicU64,
    pub(crate) batch_barriers: AtomicU64,
    pub(crate) peak_backlog: AtomicUsize,
    pub(crate) backlog_waits: AtomicU64,
    pub(crate) backlog_refusals: AtomicU64,
    pub(crate) callback_panics: AtomicU64,
    pub(crate) ops_registered: AtomicUsize,
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Queued plus dismantling.
    pub(crate) fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed) + self.dismantling.load(Ordering::Relaxed)
    }

    /// A namespace reached the cleanup list.
    pub(crate) fn net_queued(&self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        let queued = self.queued.fetch_add(1, Ordering::Relaxed) + 1;
        let backlog = queued + self.dismantling.load(Ordering::Relaxed);
        // Read first: the peak rarely changes, and a plain load keeps the line shared.
        if backlog > self.peak_backlog.load(Ordering::Relaxed) {
            self.peak_backlog.fetch_max(backlog, Ordering::Relaxed);
        }
    }

    /// A batch of `n` namespaces starts.
    pub(crate) fn batch_started(&self, n: usize) {
        self.dismantling.fetch_add(n, Ordering::Relaxed);
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }

    /// A batch of `n` namespaces is done.
    pub(crate) fn batch_done(&self, n: usize) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_nets.fetch_add(n as u64, Ordering::Relaxed);
        self.max_batch.fetch_max(n, Ordering::Relaxed);
        self.destroyed.fetch_add(n as u64, Ordering::Relaxed);
        self.dismantling.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let u = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        Stats {
            live: u(&self.live),
            queued: u(&self.queued),
            dismantling: u(&self.dismantling),
            created: r(&self.created),
            destroyed: r(&self.destroyed),
            setup_failures: r(&self.setup_failures),
            batches: r(&self.batches),
            batched_nets: r(&self.batched_nets),
            max_batch: u(&self.max_batch),
            grace_periods: r(&self.grace_periods),
            batch_grace_periods: r(&self.batch_grace_periods),
            barriers: r(&self.barriers),
            batch_barriers: r(&self.batch_barriers),
            peak_backlog: u(&self.peak_backlog),
            backlog_waits: r(&self.backlog_waits),
            backlog_refusals: r(&self.backlog_refusals),
            callback_panics: r(&self.callback_panics),
            ops_registered: u(&self.ops_registered),
        }
    }
}
