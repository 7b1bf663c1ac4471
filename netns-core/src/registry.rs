//! The registry: the state `net/core/net_namespace.c` keeps in globals, as one value.
//!
//! # Invariants
//!
//! 1. `pernet_ops_rwsem` protects the ops list, `first_device` and the id allocator: readers
//!    (setup and cleanup in [`LockMode::Shared`]) only iterate; (un)registration changes them
//!    under the write lock.
//! 2. `net_namespace_list` changes only under `net_rwsem` held for write, by `setup_net`
//!    (append, with `pernet_ops_rwsem` held) and `cleanup_net` (unlink, likewise); readers walk
//!    it under the registry's RCU domain or under `net_rwsem` for read.
//! 3. At most one `cleanup_net` runs at a time (`cleanup_mutex`), the kernel's single-threaded
//!    `netns` workqueue.
//! 4. `init_net` is on `net_namespace_list` from construction to the end, is never queued for
//!    cleanup and holds no ucount charge.
//!
//! # Orderings
//!
//! - `max_gen_ptrs` is `Relaxed`: it is raised under `pernet_ops_rwsem` held for write and read
//!   by `ops_init` under the same lock (read or write), whose acquire/release orders the two.
//! - Registry and cookie ids come from `Relaxed` counters: they only need to be unique.
//! - Counters ([`crate::stats`]) are `Relaxed` and synchronise nothing.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rcu::{Domain, RcuList, ReadGuard};
use rwsem::{RwSem, RwSemReadGuard, RwSemWriteGuard};

use crate::callback::{CallbackPanic, in_callback};
use crate::generic::{INITIAL_NET_GEN_PTRS, Ida};
use crate::llist::LList;
use crate::net::{NET_FAILED, NET_LIVE, NetPtr};
use crate::ops::DynOps;
use crate::stats::{Counters, bump};
use crate::work::CleanupWork;
use crate::{Cred, Kuid, Net, NetError, NetNs, Stats, UserNamespace};

/// `CLONE_NEWNET`: the `copy_net_ns` flag that asks for a new namespace.
pub const CLONE_NEWNET: u64 = 0x4000_0000;

/// Registry ids, to recognise namespaces and ops of another registry.
static NEXT_REGISTRY_ID: AtomicU64 = AtomicU64::new(1);

/// How creation and cleanup take `pernet_ops_rwsem`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockMode {
    /// Today's kernel (4.16 and later): creation and cleanup take it for read and run side by
    /// side; only (un)registration takes it for write.
    #[default]
    Shared,
    /// Before 4.16 (`net_mutex`): creation and cleanup take it for write, so a creator waits for
    /// a whole cleanup batch, grace period included.
    Exclusive,
}

/// Who runs `cleanup_net`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CleanupMode {
    /// A worker thread started by the registry (the kernel's `netns` workqueue).
    #[default]
    Worker,
    /// Nobody: the owner steps [`Registry::cleanup_net`] itself, for deterministic tests and
    /// fuzzing.
    Manual,
}

/// What a creator does when the cleanup backlog is at its bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BacklogPolicy {
    /// Wait, killably (`EINTR`), until the worker brings the backlog under the bound.
    #[default]
    Wait,
    /// Fail with [`NetError::BacklogFull`] at once.
    Fail,
}

/// The ops list (`pernet_list`), `first_device` and the id allocator (`net_generic_ids`).
pub(crate) struct PernetList {
    /// All subsys ops in registration order, then all device ops in registration order.
    pub(crate) ops: Vec<Box<dyn DynOps>>,
    /// Index of the first device ops (`first_device`); `ops.len()` when there is none.
    pub(crate) first_device: usize,
    pub(crate) ida: Ida,
}

/// The registry state shared by the handle, the worker and every namespace.
///
/// Aligned to 128 bytes so that, inside its `Arc`, the reference count (which every namespace
/// creation and free changes) sits on another cache line than the fields every operation reads.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) domain: Domain,
    pub(crate) pernet_ops_rwsem: RwSem<PernetList>,
    pub(crate) net_rwsem: RwSem<()>,
    pub(crate) net_namespace_list: RcuList<NetPtr>,
    pub(crate) init_net: Net,
    /// `init_cred`: [`Kuid::ROOT`] in the user namespace that owns `init_net`.
    pub(crate) init_cred: Cred,
    pub(crate) cleanup_list: LList<NetNs>,
    pub(crate) work: CleanupWork,
    pub(crate) cleanup_mutex: Mutex<()>,
    /// Creators parked at the backlog bound; unparked after every batch.
    pub(crate) backlog_waiters: Mutex<Vec<std::thread::Thread>>,
    pub(crate) lock_mode: LockMode,
    pub(crate) max_backlog: Option<usize>,
    pub(crate) backlog_policy: BacklogPolicy,
    pub(crate) manual: bool,
    /// `max_gen_ptrs`: the slot count new namespaces start with (highest id ever + 1).
    pub(crate) max_gen_ptrs: AtomicUsize,
    pub(crate) counters: Counters,
    pub(crate) panic_hook: Option<PanicHook>,
    #[cfg(feature = "test-hooks")]
    pub(crate) faults: crate::hooks::Faults,
}

/// The hook type of [`RegistryBuilder::on_callback_panic`].
pub(crate) type PanicHook = Box<dyn Fn(&CallbackPanic) + Send + Sync>;

/// `pernet_ops_rwsem` held for read or for write, depending on the lock mode.
pub(crate) enum PernetGuard<'a> {
    Read(RwSemReadGuard<'a, PernetList>),
    Write(RwSemWriteGuard<'a, PernetList>),
}

impl Deref for PernetGuard<'_> {
    type Target = PernetList;

    fn deref(&self) -> &PernetList {
        match self {
            PernetGuard::Read(guard) => guard,
            PernetGuard::Write(guard) => guard,
        }
    }
}

/// How a caller is willing to wait for `pernet_ops_rwsem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Killably: a kill makes it fail with `EINTR`.
    Killable,
    /// Not at all: fail with `WouldBlock`.
    Try,
}

impl Shared {
    /// Takes `pernet_ops_rwsem` the way creation does in this lock mode.
    pub(crate) fn lock_for_setup(&self, wait: Wait) -> Result<PernetGuard<'_>, NetError> {
        let rwsem = &self.pernet_ops_rwsem;
        match (self.lock_mode, wait) {
            (LockMode::Shared, Wait::Killable) => rwsem
                .read_killable()
                .map(PernetGuard::Read)
                .map_err(|_| NetError::Interrupted),
            (LockMode::Shared, Wait::Try) => rwsem
                .try_read()
                .map(PernetGuard::Read)
                .ok_or(NetError::WouldBlock),
            (LockMode::Exclusive, Wait::Killable) => rwsem
                .write_killable()
                .map(PernetGuard::Write)
                .map_err(|_| NetError::Interrupted),
            (LockMode::Exclusive, Wait::Try) => rwsem
                .try_write()
                .map(PernetGuard::Write)
                .ok_or(NetError::WouldBlock),
        }
    }

    /// `synchronize_rcu` / `synchronize_rcu_expedited`, counted.
    pub(crate) fn synchronize(&self, expedited: bool, in_batch: bool) {
        #[cfg(feature = "test-hooks")]
        let skip = in_batch && self.faults.skips_batch_grace_period();
        #[cfg(not(feature = "test-hooks"))]
        let skip = false;
        if skip {
            // Fault injection only: a synchronize that does not wait.
        } else if expedited {
            self.domain.synchronize_expedited();
        } else {
            self.domain.synchronize();
        }
        bump(&self.counters.grace_periods);
        if in_batch {
            bump(&self.counters.batch_grace_periods);
        }
    }

    /// `rcu_barrier`, counted.
    pub(crate) fn rcu_barrier(&self, in_batch: bool) {
        self.domain.barrier();
        bump(&self.counters.barriers);
        if in_batch {
            bump(&self.counters.batch_barriers);
        }
    }

    /// The slot count for a new namespace's private-data array.
    pub(crate) fn gen_ptrs(&self) -> usize {
        self.max_gen_ptrs
            .load(Ordering::Relaxed)
            .max(INITIAL_NET_GEN_PTRS)
    }

    /// `setup_net`: runs every init in list order; on failure undoes the ops before the failing
    /// one (in reverse: all pre_exit, a grace period, all exit and exit_batch, frees), waits for
    /// an RCU barrier and returns the error. On success publishes the namespace.
    pub(crate) fn setup_net(&self, net: &NetNs, list: &PernetList) -> Result<(), NetError> {
        for (index, ops) in list.ops.iter().enumerate() {
            if let Err(error) = self.ops_init(ops.as_ref(), net) {
                self.ops_undo_list(&list.ops[..index], &[net], false, false);
                self.rcu_barrier(false);
                return Err(error);
            }
        }
        net.set_state(NET_LIVE);
        let write = self.net_rwsem.write();
        let entry = self
            .net_namespace_list
            .push_back(NetPtr(std::ptr::NonNull::from(net)));
        net.teardown().list_entry = Some(entry);
        drop(write);
        Ok(())
    }

    fn copy_net_ns(
        self: &Arc<Self>,
        flags: u64,
        cred: &Cred,
        old: &Net,
        wait: Wait,
    ) -> Result<Net, NetError> {
        if old.registry_id() != self.id {
            return Err(NetError::Invalid);
        }
        if flags & CLONE_NEWNET == 0 {
            return Ok(old.clone());
        }
        if in_callback(self.id) {
            return Err(NetError::Deadlock);
        }
        self.throttle(wait)?;
        // `inc_net_namespaces(user_ns)` with the creator's euid; its entry is cached in `cred`.
        let ucounts = cred.ucounts().inc_net_namespaces()?;
        let user_ns = cred.user_ns().clone();
        let net = NetNs::alloc(Some(Arc::clone(self)), self.id, user_ns, None);
        net.teardown().ucounts = Some(ucounts);
        let result = match self.lock_for_setup(wait) {
            Ok(list) => self.setup_net(&net, &list),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {
                bump(&self.counters.created);
                self.counters.live.fetch_add(1, Ordering::Relaxed);
                Ok(Net::from_new(net))
            }
            Err(error) => {
                if error != NetError::WouldBlock {
                    bump(&self.counters.setup_failures);
                }
                // Release the charge now, then drop the creator's reference: with the state
                // failed, the last reference only frees memory.
                drop(net.teardown().ucounts.take());
                net.set_state(NET_FAILED);
                drop(Net::from_new(net));
                Err(error)
            }
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // `init_net` is never dismantled, but its private data must not leak: free it after a
        // grace period, as unregistration would (without calling exits, like the kernel).
        let list = self.pernet_ops_rwsem.get_mut();
        for ops in &list.ops {
            if let Some(slot) = ops.slot() {
                let ptr = self.init_net.take_generic(&self.domain, slot);
                if !ptr.is_null() {
                    // SAFETY: the slot held this ops' box, which we just took out of it.
                    self.domain
                        .defer_drop(unsafe { crate::ops::deferred_free(ops.as_ref(), ptr) });
                }
            }
        }
    }
}

/// A network-namespace registry: one instance of everything `net/core/net_namespace.c` keeps in
/// globals.
///
/// It owns `init_net`, the pernet ops list, `pernet_ops_rwsem`, `net_rwsem` and the RCU-published
/// `net_namespace_list`, an RCU domain, the private-data id allocator, the lock-free cleanup list
/// and (in [`CleanupMode::Worker`]) the cleanup worker thread. Several registries are fully
/// independent.
///
/// Share it between threads by reference (scoped threads) or in an `Arc`. Dropping it drains the
/// cleanup list and joins the worker; namespaces still referenced afterwards are dismantled by
/// the thread that drops their last reference.
///
/// ```
/// use netns_core::{CLONE_NEWNET, Registry};
///
/// let registry = Registry::new();
/// let init_net = registry.init_net();
/// let cred = registry.init_cred().clone();
/// let net = registry.copy_net_ns(CLONE_NEWNET, &cred, &init_net).unwrap();
/// assert!(net.check_net());
/// drop(net); // put_net: queued for cleanup_net
/// registry.wait_cleanup_idle();
/// assert_eq!(registry.stats().destroyed, 1);
/// ```
pub struct Registry {
    pub(crate) shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("lock_mode", &self.shared.lock_mode)
            .field("manual_cleanup", &self.shared.manual)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// Configures a [`Registry`].
pub struct RegistryBuilder {
    lock_mode: LockMode,
    cleanup_mode: CleanupMode,
    max_backlog: Option<usize>,
    backlog_policy: BacklogPolicy,
    domain: Option<Domain>,
    init_user_ns: Option<UserNamespace>,
    name: String,
    panic_hook: Option<PanicHook>,
    #[cfg(feature = "test-hooks")]
    faults: crate::hooks::Faults,
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("lock_mode", &self.lock_mode)
            .field("cleanup_mode", &self.cleanup_mode)
            .field("max_backlog", &self.max_backlog)
            .field("backlog_policy", &self.backlog_policy)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RegistryBuilder {
    /// [`LockMode::Shared`] (default) or [`LockMode::Exclusive`].
    pub fn lock_mode(mut self, mode: LockMode) -> Self {
        self.lock_mode = mode;
        self
    }

    /// [`CleanupMode::Worker`] (default) or [`CleanupMode::Manual`].
    pub fn cleanup_mode(mut self, mode: CleanupMode) -> Self {
        self.cleanup_mode = mode;
        self
    }

    /// Bounds the cleanup backlog (queued plus dismantling namespaces): at the bound,
    /// `copy_net_ns` waits or fails according to [`backlog_policy`](Self::backlog_policy).
    /// `None` (the default, and the kernel) means unbounded.
    ///
    /// # Panics
    ///
    /// If the bound is `Some(0)`: no creation could ever proceed.
    pub fn max_cleanup_backlog(mut self, bound: Option<usize>) -> Self {
        assert!(
            bound != Some(0),
            "a cleanup backlog bound of 0 would block every creation"
        );
        self.max_backlog = bound;
        self
    }

    /// What a creator does at the backlog bound; [`BacklogPolicy::Wait`] by default.
    pub fn backlog_policy(mut self, policy: BacklogPolicy) -> Self {
        self.backlog_policy = policy;
        self
    }

    /// The RCU domain to use (default: a new one). Sharing a domain between registries shares
    /// their grace periods and barriers.
    pub fn domain(mut self, domain: Domain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// The user namespace that owns `init_net` and that [`Registry::init_cred`] names (default:
    /// a new, unlimited root). It may be any user namespace, a child one included.
    pub fn init_user_ns(mut self, user_ns: UserNamespace) -> Self {
        self.init_user_ns = Some(user_ns);
        self
    }

    /// A name for the worker thread (`netns-NAME`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Called (on the thread that ran the callback) whenever a pernet callback panics.
    pub fn on_callback_panic(
        mut self,
        hook: impl Fn(&CallbackPanic) + Send + Sync + 'static,
    ) -> Self {
        self.panic_hook = Some(Box::new(hook));
        self
    }

    /// Fault injection for torture twins and fuzzing; not part of the stable API.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn faults(mut self, faults: crate::hooks::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Builds the registry: sets up `init_net` and starts the worker (in worker mode).
    pub fn build(self) -> Registry {
        let id = NEXT_REGISTRY_ID.fetch_add(1, Ordering::Relaxed);
        let domain = self.domain.unwrap_or_default();
        let init_user_ns = self
            .init_user_ns
            .unwrap_or_else(|| UserNamespace::new_root(usize::MAX));
        let init_cred = Cred::new(&init_user_ns, Kuid::ROOT);
        let init_net = NetNs::alloc(None, id, init_user_ns, Some(&domain));
        let manual = self.cleanup_mode == CleanupMode::Manual;
        let shared = Arc::new(Shared {
            id,
            net_namespace_list: RcuList::new(&domain),
            domain,
            pernet_ops_rwsem: RwSem::new(PernetList {
                ops: Vec::new(),
                first_device: 0,
                ida: Ida::default(),
            }),
            net_rwsem: RwSem::new(()),
            init_net: Net::from_new(init_net),
            init_cred,
            cleanup_list: LList::new(),
            work: CleanupWork::new(manual),
            cleanup_mutex: Mutex::new(()),
            backlog_waiters: Mutex::new(Vec::new()),
            lock_mode: self.lock_mode,
            max_backlog: self.max_backlog,
            backlog_policy: self.backlog_policy,
            manual,
            max_gen_ptrs: AtomicUsize::new(0),
            counters: Counters::default(),
            panic_hook: self.panic_hook,
            #[cfg(feature = "test-hooks")]
            faults: self.faults,
        });
        // `setup_net(&init_net)` with an empty ops list: publish it (invariant 4).
        {
            let list = shared.pernet_ops_rwsem.read();
            shared
                .setup_net(&shared.init_net, &list)
                .expect("no ops can fail yet");
        }
        let worker = (!manual).then(|| crate::cleanup::start_worker(&shared, &self.name));
        Registry { shared, worker }
    }
}

impl Registry {
    /// A registry with the default configuration ([`LockMode::Shared`], a cleanup worker, no
    /// backlog bound).
    pub fn new() -> Registry {
        Registry::builder().build()
    }

    /// A builder to configure a registry.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            lock_mode: LockMode::default(),
            cleanup_mode: CleanupMode::default(),
            max_backlog: None,
            backlog_policy: BacklogPolicy::default(),
            domain: None,
            init_user_ns: None,
            name: "cleanup".to_owned(),
            panic_hook: None,
            #[cfg(feature = "test-hooks")]
            faults: crate::hooks::Faults::default(),
        }
    }

    /// Another reference to `init_net`, which is never dismantled.
    pub fn init_net(&self) -> Net {
        self.shared.init_net.clone()
    }

    /// The user namespace owning `init_net`.
    pub fn init_user_ns(&self) -> &UserNamespace {
        self.shared.init_cred.user_ns()
    }

    /// `init_cred`: [`Kuid::ROOT`] in [`init_user_ns`](Self::init_user_ns), the credentials to
    /// create namespaces with when user namespaces do not matter.
    ///
    /// ```
    /// use netns_core::{CLONE_NEWNET, Kuid, Registry};
    ///
    /// let registry = Registry::new();
    /// assert_eq!(registry.init_cred().euid(), Kuid::ROOT);
    /// assert!(registry.init_cred().user_ns().ptr_eq(registry.init_user_ns()));
    /// let net = registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &registry.init_net());
    /// assert!(net.unwrap().user_ns().ptr_eq(registry.init_user_ns()));
    /// ```
    pub fn init_cred(&self) -> &Cred {
        &self.shared.init_cred
    }

    /// The registry's RCU domain: take read guards from it for [`NetNs::net_generic`] and
    /// [`for_each_net_rcu`](Self::for_each_net_rcu).
    pub fn domain(&self) -> &Domain {
        &self.shared.domain
    }

    /// The configured lock mode.
    pub fn lock_mode(&self) -> LockMode {
        self.shared.lock_mode
    }

    /// `copy_net_ns`: without [`CLONE_NEWNET`] in `flags`, another reference to `old`. Otherwise
    /// a new namespace owned by `cred.user_ns()`: charges `max_net_namespaces` to `cred.euid()`
    /// in that user namespace and to each ancestor's owner up the chain (`NoSpace` if any level
    /// is full; see [`UserNamespace::net_namespaces_of`]), takes `pernet_ops_rwsem` killably
    /// (`Interrupted`), runs `setup_net` (the first failing init's error). On any error every
    /// charge and reference is released. The charge itself takes no lock: `cred` carries its
    /// ucounts entry.
    ///
    /// With a backlog bound configured, first waits (killably) or fails while the cleanup
    /// backlog is at the bound.
    ///
    /// Returns `Invalid` if `old` belongs to another registry and `Deadlock` if called from a
    /// pernet callback of this registry.
    pub fn copy_net_ns(&self, flags: u64, cred: &Cred, old: &Net) -> Result<Net, NetError> {
        self.shared.copy_net_ns(flags, cred, old, Wait::Killable)
    }

    /// [`copy_net_ns`](Self::copy_net_ns) that never waits for `pernet_ops_rwsem` or for the
    /// backlog: `WouldBlock` instead. (Callbacks it runs may still block, and it takes
    /// `net_rwsem` for the instant of the list insertion.)
    pub fn try_copy_net_ns(&self, flags: u64, cred: &Cred, old: &Net) -> Result<Net, NetError> {
        self.shared.copy_net_ns(flags, cred, old, Wait::Try)
    }

    /// `for_each_net_rcu`: the namespaces on `net_namespace_list`, in creation order, under an
    /// RCU read guard of [`domain`](Self::domain). Namespaces whose count already reached zero
    /// but that `cleanup_net` has not unlinked yet are included (use
    /// [`NetNs::maybe_get_net`] to keep one).
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another domain.
    pub fn for_each_net_rcu<'g>(
        &'g self,
        guard: &'g ReadGuard<'_>,
    ) -> impl Iterator<Item = &'g NetNs> + 'g {
        self.shared.net_namespace_list.iter(guard).map(|net| {
            // SAFETY: net.rs invariant 3: listed under a guard that lives for 'g.
            unsafe { net.get() }
        })
    }

    /// `for_each_net` with `net_rwsem` held for read: the list cannot change while `f` runs.
    ///
    /// Inside `f` the registry refuses what would deadlock on `net_rwsem`, as inside a pernet
    /// callback: creating namespaces and (un)registering return [`NetError::Deadlock`], and
    /// waiting for cleanup panics.
    pub fn for_each_net(&self, mut f: impl FnMut(&NetNs)) {
        let _read = self.shared.net_rwsem.read();
        let _context = crate::callback::Scope::enter(self.shared.id);
        let guard = self.shared.domain.read();
        for net in self.for_each_net_rcu(&guard) {
            f(net);
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The cleanup backlog now: queued plus dismantling namespaces (two relaxed loads, cheap
    /// enough to sample in a loop).
    pub fn backlog(&self) -> usize {
        self.shared.counters.backlog()
    }

    /// Whether `pernet_ops_rwsem` is held (by anyone, in any mode).
    pub fn pernet_ops_locked(&self) -> bool {
        self.shared.pernet_ops_rwsem.is_locked()
    }

    /// Whether `pernet_ops_rwsem` is held for write.
    pub fn pernet_ops_write_locked(&self) -> bool {
        self.shared.pernet_ops_rwsem.is_write_locked()
    }

    /// Whether some thread is queued on `pernet_ops_rwsem`.
    pub fn pernet_ops_has_waiters(&self) -> bool {
        self.shared.pernet_ops_rwsem.has_waiters()
    }

    pub(crate) fn worker_handle(&mut self) -> Option<JoinHandle<()>> {
        self.worker.take()
    }
}
