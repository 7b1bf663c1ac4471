//! Dismantling namespaces: `__put_net`, `cleanup_net`, the worker, the backlog bound and
//! `net_ns_barrier`.
//!
//! `cleanup_net` takes *every* queued namespace as one batch, so the expensive steps (the grace
//! period, the barrier, one `exit_batch` per ops) are paid once per batch however many
//! namespaces died meanwhile. Its steps, in order:
//!
//! 1. detach the whole cleanup list (`llist_del_all`);
//! 2. take `pernet_ops_rwsem` (read in [`LockMode::Shared`], write in [`LockMode::Exclusive`]);
//! 3. under `net_rwsem` held for write, unlink every namespace of the batch from the list;
//! 4. make the survivors forget the nsids they gave to the batch, and destroy the batch's own
//!    nsid tables (`unhash_nsid`);
//! 5. `ops_undo_list` over all ops in reverse: every `pre_exit`, ONE expedited grace period,
//!    every `exit` then one `exit_batch` per ops, every private-data free;
//! 6. release `pernet_ops_rwsem`;
//! 7. `rcu_barrier`;
//! 8. release each namespace's ucount charge and its last strong count (`net_passive_dec`).
//!
//! Namespaces whose count reaches zero during a batch wait on the list for the next batch.
//!
//! # Orderings
//!
//! - Handing a namespace from `__put_net` to `cleanup_net` goes through the cleanup list, whose
//!   `Release` push and `Acquire` take are argued in [`crate::llist`]; waking the worker goes
//!   through the mutex of [`crate::work`].
//! - A throttled creator enqueues itself under `backlog_waiters`' mutex before it re-reads the
//!   backlog, and the batch updates the (`Relaxed`) backlog counters before it takes that mutex to
//!   wake the waiters: the mutex orders the update before the creator's re-read, so a wake-up is
//!   never lost. A kill unparks the thread through `rwsem::KillHandle`.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

use rwsem::KillHandle;

use crate::callback::in_callback;
use crate::net::NetPtr;
use crate::registry::{BacklogPolicy, LockMode, PernetGuard, Shared, Wait};
use crate::stats::bump;
use crate::work::{QueueResult, Run};
use crate::{NetError, NetNs, Registry};

impl Shared {
    /// `__put_net`: `net`'s active count reached zero; queue it for `cleanup_net`.
    pub(crate) fn queue_cleanup(self: &Arc<Self>, net: NetPtr) {
        self.counters.net_queued();
        // SAFETY: net.rs invariant 1: the strong count of the active references is ours and
        // now passes to the list; the namespace is on no other list (a count reaches zero once).
        let was_empty = unsafe { self.cleanup_list.push(net.0) };
        if was_empty && self.work.queue_work() == QueueResult::Gone && !in_callback(self.id) {
            // The registry handle is gone: dismantle on this thread. (Inside a callback the
            // running cleanup loop picks the namespace up.)
            self.drain_inline();
        }
    }

    /// Runs `cleanup_net` until the list is empty.
    pub(crate) fn drain_inline(&self) {
        while self.cleanup_net() > 0 {}
        self.work.notify_idle();
    }

    /// `cleanup_net`: one batch. Returns the number of namespaces dismantled.
    pub(crate) fn cleanup_net(&self) -> usize {
        let serial = crate::sync::lock_std(&self.cleanup_mutex);
        let kill_list = self.cleanup_list.take_all();
        if kill_list.is_empty() {
            return 0;
        }
        let list = match self.lock_mode {
            LockMode::Shared => PernetGuard::Read(self.pernet_ops_rwsem.read()),
            LockMode::Exclusive => PernetGuard::Write(self.pernet_ops_rwsem.write()),
        };
        // Don't let anyone else find us. A dying namespace's own nsid table goes in the same
        // pass: nobody can add to it, `peernet2id_alloc` refuses a dying namespace.
        let mut nets: Vec<&NetNs> = Vec::new();
        let mut entries = Vec::new();
        let write = self.net_rwsem.write();
        for node in kill_list {
            // SAFETY: net.rs invariant 1: the batch owns each namespace's last strong count
            // until the end of this function, so the reference stays valid that long.
            let net = unsafe { NetPtr(node).get() };
            entries.extend(net.teardown().list_entry.take());
            net.destroy_nsids();
            nets.push(net);
        }
        // One unlink pass and one deferred free for the whole batch.
        self.net_namespace_list.remove_many(entries);
        drop(write);
        let n = nets.len();
        self.counters.batch_started(n);
        self.unhash_nsids(&nets);
        self.ops_undo_list(&list.ops, &nets, true, true);
        drop(list);
        // No RCU callback may still use a namespace of the batch once it is freed.
        self.rcu_barrier(true);
        // The batch leaves the backlog before its charges go, so the backlog never counts a
        // namespace whose charge a new creation may already be using.
        self.counters.batch_done(n);
        for net in nets {
            // Finally the charge goes, after the barrier.
            drop(net.teardown().ucounts.take());
            // SAFETY: net.rs invariant 1: we drop the strong count the batch owned; `net` is
            // not used again.
            drop(unsafe { Arc::from_raw(std::ptr::from_ref(net)) });
        }
        drop(serial);
        self.wake_backlog_waiters();
        n
    }

    /// `unhash_nsid` for a whole batch: the survivors forget the ids they gave to it.
    fn unhash_nsids(&self, batch: &[&NetNs]) {
        let mut dying: Option<HashSet<usize>> = None;
        let guard = self.domain.read();
        for survivor in self.net_namespace_list.iter(&guard) {
            // SAFETY: net.rs invariant 3.
            let survivor = unsafe { survivor.get() };
            if survivor.has_nsids(&guard) {
                let dying = dying.get_or_insert_with(|| {
                    batch
                        .iter()
                        .map(|&net| std::ptr::from_ref(net) as usize)
                        .collect()
                });
                survivor.remove_nsids_of(dying);
            }
        }
    }

    /// Vagin's bound: waits (or fails) while the backlog is at `max_backlog`.
    pub(crate) fn throttle(&self, wait: Wait) -> Result<(), NetError> {
        match self.max_backlog {
            Some(bound) if self.counters.backlog() >= bound => self.throttle_slow(bound, wait),
            _ => Ok(()),
        }
    }

    #[cold]
    fn throttle_slow(&self, bound: usize, wait: Wait) -> Result<(), NetError> {
        if wait == Wait::Try {
            return Err(NetError::WouldBlock);
        }
        if self.backlog_policy == BacklogPolicy::Fail || self.manual {
            bump(&self.counters.backlog_refusals);
            return Err(NetError::BacklogFull);
        }
        bump(&self.counters.backlog_waits);
        let me = KillHandle::current();
        loop {
            if me.is_killed() {
                return Err(NetError::Interrupted);
            }
            // Enqueue before the check: a batch that ends after the check finds us in the queue
            // and unparks us; one that ended before it is seen by the check (the mutex orders
            // the batch's counter updates before our read).
            crate::sync::lock_std(&self.backlog_waiters).push(std::thread::current());
            if self.counters.backlog() < bound {
                return Ok(());
            }
            // Woken by the end of a batch, or by `KillHandle::kill`, which unparks the thread.
            std::thread::park();
        }
    }

    /// Wakes every creator throttled at the backlog bound (after a batch).
    fn wake_backlog_waiters(&self) {
        if self.max_backlog.is_none() {
            return;
        }
        let waiters = std::mem::take(&mut *crate::sync::lock_std(&self.backlog_waiters));
        for thread in waiters {
            thread.unpark();
        }
    }
}

/// Starts the cleanup worker thread of `shared`.
pub(crate) fn start_worker(shared: &Arc<Shared>, name: &str) -> JoinHandle<()> {
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name(format!("netns-{name}"))
        .spawn(move || worker_loop(&shared))
        .expect("failed to spawn the netns cleanup worker")
}

fn worker_loop(shared: &Shared) {
    loop {
        match shared.work.next_run(|| shared.cleanup_list.is_empty()) {
            Run::Cleanup => {
                // Callbacks' panics are contained one by one; this only guards against a bug in
                // the registry itself taking the worker (and every idle waiter) down with it.
                let _ignored = catch_unwind(AssertUnwindSafe(|| shared.cleanup_net()));
                shared.work.run_done();
            }
            Run::Exit => return,
        }
    }
}

impl Registry {
    /// `cleanup_net`: dismantles every queued namespace as one batch on the calling thread and
    /// returns how many there were (0 if none). Works in both cleanup modes; batches never run
    /// concurrently (a call waits for a running batch). This is how [`CleanupMode::Manual`]
    /// makes progress.
    ///
    /// # Panics
    ///
    /// From inside a pernet callback of this registry (it would wait for itself).
    ///
    /// [`CleanupMode::Manual`]: crate::CleanupMode::Manual
    pub fn cleanup_net(&self) -> usize {
        assert!(
            !in_callback(self.shared.id),
            "cleanup_net called from inside a pernet callback or for_each_net walk of the same registry"
        );
        let n = self.shared.cleanup_net();
        self.shared.work.notify_idle();
        n
    }

    /// Like [`cleanup_net`](Self::cleanup_net), but `WouldBlock` instead of waiting for a
    /// running batch or for `pernet_ops_rwsem` held by (un)registration (or, in exclusive mode,
    /// by a creator).
    pub fn try_cleanup_net(&self) -> Result<usize, NetError> {
        let shared = &self.shared;
        if in_callback(shared.id) {
            return Err(NetError::Deadlock);
        }
        let Ok(serial) = shared.cleanup_mutex.try_lock() else {
            return Err(NetError::WouldBlock);
        };
        let free = match shared.lock_mode {
            LockMode::Shared => !shared.pernet_ops_rwsem.is_write_locked(),
            LockMode::Exclusive => !shared.pernet_ops_rwsem.is_locked(),
        };
        if !free || shared.pernet_ops_rwsem.has_waiters() {
            return Err(NetError::WouldBlock);
        }
        drop(serial);
        // Nothing held the lock an instant ago; a racing locker can still make this wait
        // briefly, which a single-threaded driver never sees.
        Ok(self.cleanup_net())
    }

    /// `net_ns_barrier`: takes and releases `pernet_ops_rwsem` for write, so any `cleanup_net`
    /// running now has finished its exits when this returns.
    ///
    /// # Panics
    ///
    /// From inside a pernet callback of this registry (the kernel would deadlock).
    pub fn net_ns_barrier(&self) {
        assert!(
            !in_callback(self.shared.id),
            "net_ns_barrier called from inside a pernet callback or for_each_net walk of the same registry"
        );
        drop(self.shared.pernet_ops_rwsem.write());
    }

    /// Waits until no namespace is queued or being dismantled. In [`CleanupMode::Manual`] it
    /// steps `cleanup_net` on this thread until the list is empty.
    ///
    /// # Panics
    ///
    /// From inside a pernet callback of this registry (it would wait for itself).
    ///
    /// [`CleanupMode::Manual`]: crate::CleanupMode::Manual
    pub fn wait_cleanup_idle(&self) {
        assert!(
            !in_callback(self.shared.id),
            "wait_cleanup_idle called from inside a pernet callback or for_each_net walk of the same registry"
        );
        let shared = &self.shared;
        if shared.manual {
            while self.cleanup_net() > 0 {}
            return;
        }
        shared.work.wait_idle(|| {
            shared.counters.queued.load(Ordering::Relaxed) == 0
                && shared.counters.dismantling.load(Ordering::Relaxed) == 0
        });
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let worker = self.worker_handle();
        let shared = &self.shared;
        match worker {
            Some(worker) => {
                shared.work.shutdown();
                if worker.thread().id() != std::thread::current().id() {
                    let _ignored = worker.join();
                }
            }
            None => {
                shared.drain_inline();
                shared.work.mark_gone();
                // A namespace queued between the drain and `gone` is ours to dismantle.
                shared.drain_inline();
            }
        }
    }
}
