//! Domains and read guards: the API users see, on top of `protocol`, `gp` and `callbacks`.
//!
//! # Orderings
//!
//! `worker_started` is stored with `Release` after the worker's handle is saved (under the
//! `worker` mutex) and loaded with `Acquire` on every `call`, so a caller that sees it set also
//! sees the worker, whose queue it then uses under the queue's own mutex. Everything else here
//! goes through `protocol`, `gp` or `callbacks`, whose module docs argue their orderings.

use crate::callbacks::{CallbackQueue, GraceSource, Overflow};
use crate::gp::{GpDriver, RecordList, WaitPolicy};
use crate::protocol::{Faults, ReaderShared, Record};
use crate::registry::{self, DomainId};
use crate::stall::{StallConfig, StallReport};
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Default bound on queued callbacks (see [`DomainBuilder::callback_bound`]): about 64 MiB of
/// small boxed closures, far above what a healthy program queues between two grace periods.
pub const DEFAULT_CALLBACK_BOUND: usize = 1 << 20;

thread_local! {
    /// The generation of the domain whose worker runs on this thread (0 = none).
    static WORKER_OF: Cell<u64> = const { Cell::new(0) };
}

/// Everything a domain owns; shared by its handles, its worker and its owned guards.
pub(crate) struct Core {
    pub(crate) shared: ReaderShared,
    pub(crate) ident: DomainId,
    pub(crate) records: RecordList,
    pub(crate) gp: GpDriver,
    pub(crate) queue: CallbackQueue,
    #[cfg_attr(loom, allow(dead_code))]
    stall: Option<StallConfig>,
    name: Option<String>,
    worker_started: AtomicBool,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Domain")
            .field("name", &self.name)
            .field("id", &self.ident.id)
            .field("fences", &self.shared.fences())
            .field("grace_periods", &self.gp.completed())
            .finish_non_exhaustive()
    }
}

impl Core {
    fn policy(&self, expedited: bool) -> WaitPolicy<'_> {
        WaitPolicy {
            expedited,
            #[cfg(not(loom))]
            stall: self.stall.as_ref(),
            #[cfg(loom)]
            _marker: PhantomData,
        }
    }

    fn wait_cookie(&self, cookie: u64, expedited: bool) {
        self.gp
            .wait_for(cookie, &self.shared, &self.records, &self.policy(expedited));
    }

    /// Whether this thread is inside a (thread-bound) read section of this domain.
    fn reading_here(&self) -> bool {
        registry::existing_record(self.ident.id, self.ident.generation)
            // SAFETY: this thread owns the record (registry invariant 1), which lives as long
            // as the domain (protocol invariant 5).
            .is_some_and(|r| unsafe { &*r }.nesting() != 0)
    }

    fn on_worker(&self) -> bool {
        WORKER_OF
            .try_with(|w| w.get() == self.ident.generation)
            .unwrap_or(false)
    }

    /// Panics if the caller is inside a read section of this domain (misuse detection).
    #[track_caller]
    fn assert_outside_read(&self, what: &str) {
        if self.reading_here() {
            misuse(what);
        }
    }

    fn ensure_worker(self: &Arc<Self>) {
        if !self.worker_started.load(Ordering::Acquire) {
            self.start_worker_slow();
        }
    }

    #[cold]
    fn start_worker_slow(self: &Arc<Self>) {
        let mut slot = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if self.worker_started.load(Ordering::Relaxed) {
            return;
        }
        let core = Arc::clone(self);
        let name = match &self.name {
            Some(n) => format!("rcu-worker:{n}"),
            None => format!("rcu-worker:{}", self.ident.id),
        };
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                WORKER_OF.with(|w| w.set(core.ident.generation));
                core.queue.worker_loop(&*core);
            })
            .expect("rcu: cannot spawn the domain's callback worker thread");
        *slot = Some(handle);
        self.worker_started.store(true, Ordering::Release);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn misuse(what: &str) -> ! {
    panic!(
        "rcu: {what} called inside a read section of the same domain: it would wait for that \
         section, which cannot end while this thread waits (drop the guard first)"
    )
}

impl GraceSource for Core {
    fn cookie(&self) -> u64 {
        self.gp.snapshot()
    }
    fn wait(&self, cookie: u64) {
        self.wait_cookie(cookie, false);
    }
    fn reached(&self, cookie: u64) -> bool {
        self.gp.done(cookie)
    }
}

/// Stops the worker when the last handle goes away.
struct Life {
    core: Arc<Core>,
}

impl Drop for Life {
    fn drop(&mut self) {
        self.core.queue.shutdown();
        let handle = self
            .core
            .worker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle {
            // A callback may drop the last handle; the worker cannot wait for itself, and it
            // exits on its own once the queue is empty.
            if !self.core.on_worker() {
                let _ = handle.join();
            }
        }
    }
}

/// An SRCU domain (`srcu_struct`): readers of one domain hold back only that domain's grace
/// periods.
///
/// A `Domain` is a cheap handle: clones share one domain. Dropping the last handle stops the
/// domain's worker after it has run every queued callback; the drop waits for that unless it
/// happens on the worker itself. (Callbacks that keep queueing new callbacks therefore keep the
/// worker, and that drop, going until they stop.)
#[derive(Clone)]
pub struct Domain {
    core: Arc<Core>,
    _life: Arc<Life>,
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt(f)
    }
}

impl Default for Domain {
    fn default() -> Self {
        Self::new()
    }
}

/// A grace-period cookie (`get_state_synchronize_srcu`): names the end of a grace period that
/// starts after the cookie was taken. Only meaningful for the domain that issued it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cookie {
    seq: u64,
    domain: u64,
}

/// Counters describing a domain's activity (see [`Domain::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Grace periods completed.
    pub grace_periods: u64,
    /// Callbacks queued with `call` or `defer_drop`.
    pub callbacks_queued: u64,
    /// Callbacks that have run.
    pub callbacks_run: u64,
    /// Batches of callbacks run (each after one grace period).
    pub callback_batches: u64,
    /// Callbacks that panicked (the panic is caught; the other callbacks still run).
    pub callback_panics: u64,
    /// Callbacks queued past the bound because the caller could not wait (it was inside a read
    /// section of the domain, or was the domain's worker).
    pub over_bound: u64,
    /// Batches that callers past the bound drained themselves ([`Overflow::Help`]).
    pub helped_batches: u64,
}

/// Configures a [`Domain`] (see [`Domain::builder`]).
#[must_use]
pub struct DomainBuilder {
    name: Option<String>,
    bound: usize,
    overflow: Overflow,
    stall_timeout: Option<Duration>,
    stall_hook: Option<crate::stall::StallHook>,
    force_fences: bool,
    faults: Faults,
}

impl fmt::Debug for DomainBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DomainBuilder")
            .field("name", &self.name)
            .field("callback_bound", &self.bound)
            .field("overflow", &self.overflow)
            .field("stall_timeout", &self.stall_timeout)
            .field("force_fence_fallback", &self.force_fences)
            .finish_non_exhaustive()
    }
}

impl DomainBuilder {
    /// Names the domain: the name appears in stall reports and in the worker thread's name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Bounds the callbacks queued and not yet run (default [`DEFAULT_CALLBACK_BOUND`]). Past
    /// the bound, `call` and `defer_drop` follow the [`overflow`](Self::overflow) policy; a
    /// caller that cannot wait (inside a read section of the domain, or on its worker) queues
    /// anyway and the event is counted in [`Stats::over_bound`]. A bound of 0 is taken as 1.
    pub fn callback_bound(mut self, bound: usize) -> Self {
        self.bound = bound;
        self
    }

    /// What a caller past the callback bound does (default [`Overflow::Help`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Calls `hook` when a grace period has waited on readers for `timeout`, and again at
    /// doubling intervals while the stall lasts. The hook runs on the waiting thread; it must
    /// not block on this domain.
    pub fn on_stall(
        mut self,
        timeout: Duration,
        hook: impl Fn(&StallReport) + Send + Sync + 'static,
    ) -> Self {
        self.stall_timeout = Some(timeout);
        self.stall_hook = Some(Arc::new(hook));
        self
    }

    /// Uses real fences instead of membarrier even where membarrier works: readers pay a
    /// `fence(SeqCst)` on each outermost lock and two on each outermost unlock. This is the
    /// path every domain takes when the kernel refuses membarrier; forcing it lets tests and
    /// benchmarks exercise it anywhere.
    pub fn force_fence_fallback(mut self, force: bool) -> Self {
        self.force_fences = force;
        self
    }

    /// Test hook: grace periods that do not wait for readers (a deliberately broken domain for
    /// torture twins). Not part of the public API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn broken_skip_wait(mut self) -> Self {
        self.faults.skip_wait = true;
        self
    }

    /// Builds the domain.
    pub fn build(self) -> Domain {
        let fences = self.force_fences || !crate::membarrier::available();
        let stall = match (self.stall_timeout, self.stall_hook) {
            (Some(timeout), Some(hook)) => Some(StallConfig {
                timeout,
                hook,
                domain: self.name.clone(),
            }),
            _ => None,
        };
        let ident = DomainId::new();
        let core = Arc::new(Core {
            shared: ReaderShared::new(fences, (ident.id, ident.generation)),
            ident,
            records: crate::sync::Mutex::new(Vec::new()),
            gp: GpDriver::new(self.faults),
            queue: CallbackQueue::new(self.bound, self.overflow, self.faults),
            stall,
            name: self.name,
            worker_started: AtomicBool::new(false),
            worker: Mutex::new(None),
        });
        Domain {
            _life: Arc::new(Life {
                core: Arc::clone(&core),
            }),
            core,
        }
    }
}

impl Domain {
    /// A domain with the default configuration.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a configured domain.
    pub fn builder() -> DomainBuilder {
        DomainBuilder {
            name: None,
            bound: DEFAULT_CALLBACK_BOUND,
            overflow: Overflow::default(),
            stall_timeout: None,
            stall_hook: None,
            force_fences: false,
            faults: Faults::default(),
        }
    }

    /// Enters a read section (`srcu_read_lock`); it ends when the guard drops.
    ///
    /// Sections nest. The guard is `!Send`: a section that must end on another thread uses
    /// [`read_owned`](Self::read_owned). The fast path is a thread-local lookup and two plain
    /// stores with compiler barriers (no atomic read-modify-write, no fence) unless the domain
    /// runs in fence mode.
    #[inline]
    pub fn read(&self) -> ReadGuard<'_> {
        let core = &*self.core;
        let (id, generation) = core.shared.ident();
        let Some(rec) = registry::record(id, generation, &core.records, &core.shared) else {
            // This thread's locals are being destroyed: borrow a record for this section.
            return self.read_transient();
        };
        // SAFETY: this thread owns `rec` (registry invariant 1, or a transient claim); it lives
        // as long as the domain (protocol invariant 5), which the guard borrows.
        core.shared.read_lock(unsafe { &*rec });
        ReadGuard {
            // SAFETY: `rec` points into a live `Arc` allocation, so it is not null.
            record: unsafe { NonNull::new_unchecked(rec.cast_mut()) },
            _marker: PhantomData,
        }
    }

    /// `read` for a thread whose thread-locals are gone: the record is lent for this section
    /// only (`TRANSIENT_BIT`), and the guard's drop gives it back.
    #[cold]
    #[inline(never)]
    fn read_transient(&self) -> ReadGuard<'_> {
        let core = &*self.core;
        let rec = registry::transient_record(&core.records, &core.shared, core.ident.generation);
        // SAFETY: as in `read`; the transient claim makes this thread the record's owner.
        core.shared.read_lock_transient(unsafe { &*rec });
        ReadGuard {
            // SAFETY: `rec` points into a live `Arc` allocation, so it is not null.
            record: unsafe { NonNull::new_unchecked(rec.cast_mut()) },
            _marker: PhantomData,
        }
    }

    /// Enters a read section that may end on another thread (`srcu_down_read`); it ends when
    /// the guard drops (`srcu_up_read`). Costs two atomic read-modify-writes and fences, so
    /// prefer [`read`](Self::read) when the section stays on one thread.
    ///
    /// Misuse detection cannot see owned sections: a thread that waits for a grace period while
    /// it holds an owned guard of the same domain deadlocks (the stall hook reports it).
    pub fn read_owned(&self) -> OwnedReadGuard {
        let phase = self.core.shared.down_read();
        OwnedReadGuard {
            domain: self.clone(),
            phase,
        }
    }

    /// Waits until every read section of this domain that began before the call has ended
    /// (`synchronize_srcu`). Concurrent callers share grace periods.
    ///
    /// # Panics
    ///
    /// If called inside a read section of this domain on this thread.
    #[track_caller]
    pub fn synchronize(&self) {
        self.core.assert_outside_read("synchronize");
        self.core.wait_cookie(self.core.gp.snapshot(), false);
    }

    /// Like [`synchronize`](Self::synchronize), but spins much longer before parking, trading
    /// CPU time for latency when readers are about to leave (`synchronize_srcu_expedited`).
    ///
    /// # Panics
    ///
    /// If called inside a read section of this domain on this thread.
    #[track_caller]
    pub fn synchronize_expedited(&self) {
        self.core.assert_outside_read("synchronize_expedited");
        self.core.wait_cookie(self.core.gp.snapshot(), true);
    }

    /// Runs `f` on the domain's worker thread after a grace period (`call_srcu`). Callbacks
    /// queued while a grace period runs share the next one.
    ///
    /// Past the [callback bound](DomainBuilder::callback_bound) the caller helps drain or
    /// blocks (see [`Overflow`]), unless it is inside a read section of the domain.
    pub fn call<F: FnOnce() + Send + 'static>(&self, f: F) {
        self.core.ensure_worker();
        let core = &*self.core;
        core.queue.push(Box::new(f), core, &|| {
            !core.reading_here() && !core.on_worker()
        });
    }

    /// Drops `value` on the worker thread after a grace period.
    pub fn defer_drop<T: Send + 'static>(&self, value: T) {
        self.call(move || drop(value));
    }

    /// Waits until every callback queued on this domain before the call has run
    /// (`srcu_barrier`).
    ///
    /// # Panics
    ///
    /// If called inside a read section of this domain, or from one of its callbacks.
    #[track_caller]
    pub fn barrier(&self) {
        self.core.assert_outside_read("barrier");
        if self.core.on_worker() {
            panic!(
                "rcu: barrier called from a callback of the same domain: it would wait for itself"
            );
        }
        self.core.queue.barrier();
    }

    /// A cookie for a grace period that starts after this call
    /// (`get_state_synchronize_srcu`); starts nothing.
    pub fn get_state(&self) -> Cookie {
        Cookie {
            seq: self.core.gp.snapshot(),
            domain: self.core.ident.generation,
        }
    }

    /// Like [`get_state`](Self::get_state), and makes sure that grace period happens without
    /// anyone waiting for it (`start_poll_synchronize_srcu`).
    pub fn start_poll(&self) -> Cookie {
        let cookie = self.get_state();
        if !self.core.gp.done(cookie.seq) {
            self.core.ensure_worker();
            self.core.queue.request_poll(cookie.seq);
        }
        cookie
    }

    /// Whether the grace period named by `cookie` has ended (`poll_state_synchronize_srcu`).
    /// Never blocks.
    ///
    /// # Panics
    ///
    /// If `cookie` came from another domain.
    #[track_caller]
    pub fn poll(&self, cookie: Cookie) -> bool {
        self.check_cookie(cookie);
        self.core.gp.done(cookie.seq)
    }

    /// Waits until the grace period named by `cookie` has ended, running one if needed
    /// (`cond_synchronize_srcu`). Returns at once if it already has.
    ///
    /// # Panics
    ///
    /// If `cookie` came from another domain, or (when it must wait) inside a read section of
    /// this domain.
    #[track_caller]
    pub fn cond_synchronize(&self, cookie: Cookie) {
        if !self.poll(cookie) {
            self.core.assert_outside_read("cond_synchronize");
            self.core.wait_cookie(cookie.seq, false);
        }
    }

    #[track_caller]
    fn check_cookie(&self, cookie: Cookie) {
        assert!(
            cookie.domain == self.core.ident.generation,
            "rcu: cookie used with a domain other than the one that issued it"
        );
    }

    /// Whether the calling thread is inside a read section ([`ReadGuard`]) of this domain.
    pub fn in_read_section(&self) -> bool {
        self.core.reading_here()
    }

    /// Whether this domain pairs its readers with membarrier (`false`: fence fallback).
    pub fn uses_membarrier(&self) -> bool {
        !self.core.shared.fences()
    }

    /// The domain's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.core.name.as_deref()
    }

    /// Whether `self` and `other` are handles to the same domain.
    pub fn same_domain(&self, other: &Domain) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// A snapshot of the domain's counters.
    pub fn stats(&self) -> Stats {
        let q = self.core.queue.counts();
        Stats {
            grace_periods: self.core.gp.completed(),
            callbacks_queued: q.queued,
            callbacks_run: q.completed,
            callback_batches: q.batches,
            callback_panics: q.panicked,
            over_bound: q.over_bound,
            helped_batches: q.helped,
        }
    }
}

/// Test hooks; not part of the public API.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
impl Domain {
    /// Callers currently waiting for a grace period.
    pub fn __gp_waiters(&self) -> usize {
        self.core.gp.waiters.load(Ordering::SeqCst)
    }

    /// Reader records the domain has allocated.
    pub fn __reader_records(&self) -> usize {
        crate::sync::lock(&self.core.records).len()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// A read section of some domain: [`ReadGuard`] or [`OwnedReadGuard`]. Sealed.
pub trait ReadSection: sealed::Sealed {
    /// Identifies the domain the section belongs to (a value never reused by another domain).
    #[doc(hidden)]
    fn domain_generation(&self) -> u64;

    /// Whether this section belongs to `domain`.
    fn belongs_to(&self, domain: &Domain) -> bool {
        self.domain_generation() == domain.core.ident.generation
    }
}

/// A thread-bound read section (`srcu_read_lock` .. `srcu_read_unlock`); see [`Domain::read`].
///
/// One pointer wide: the calling thread's record for the domain, which knows its domain.
#[must_use = "the read section ends when the guard is dropped"]
pub struct ReadGuard<'a> {
    /// This thread's record (registry invariant 1), or a transient one.
    record: NonNull<Record>,
    /// Borrows the domain (keeping the record valid) and makes the guard `!Send + !Sync`.
    _marker: PhantomData<(&'a Domain, *const ())>,
}

impl ReadGuard<'_> {
    #[inline]
    fn record(&self) -> &Record {
        // SAFETY: the guard borrows the domain, which keeps its records alive (protocol
        // invariant 5).
        unsafe { self.record.as_ref() }
    }
}

impl fmt::Debug for ReadGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadGuard")
            .field("domain", &self.record().generation)
            .finish()
    }
}

impl Drop for ReadGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let rec = self.record();
        // The guard is !Send, so this is the thread that owns the record.
        if rec.read_unlock() {
            registry::release_transient(rec);
        }
    }
}

impl sealed::Sealed for ReadGuard<'_> {}
impl ReadSection for ReadGuard<'_> {
    fn domain_generation(&self) -> u64 {
        self.record().generation
    }
}

/// A read section that may end on another thread (`srcu_down_read` .. `srcu_up_read`); see
/// [`Domain::read_owned`]. `Send + Sync + 'static`.
#[must_use = "the read section ends when the guard is dropped"]
pub struct OwnedReadGuard {
    domain: Domain,
    phase: usize,
}

impl fmt::Debug for OwnedReadGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedReadGuard")
            .field("domain", &self.domain.core.ident.id)
            .finish()
    }
}

impl Drop for OwnedReadGuard {
    fn drop(&mut self) {
        self.domain.core.shared.up_read(self.phase);
    }
}

impl sealed::Sealed for OwnedReadGuard {}
impl ReadSection for OwnedReadGuard {
    fn domain_generation(&self) -> u64 {
        self.domain.core.ident.generation
    }
}

impl OwnedReadGuard {
    /// The domain this section belongs to.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }
}
