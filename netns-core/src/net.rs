//! Network namespaces (`struct net`) and the references to them.
//!
//! - [`NetNs`] is the namespace itself. Callbacks and list walks see it by reference.
//! - [`Net`] is an *active* reference (`get_net`/`put_net`): it keeps the namespace alive. The
//!   last `put_net` does not dismantle anything itself; it hands the namespace to the cleanup list
//!   (`__put_net`) and wakes the cleanup worker if the list was empty.
//! - [`PassiveNet`] is a *passive* reference (`net->passive`): it keeps the memory, not the
//!   namespace; [`PassiveNet::maybe_get_net`] turns it back into an active reference while the
//!   namespace is still alive.
//!
//! # Invariants
//!
//! 1. Every `NetNs` lives in an `Arc` allocation. While the active count is non-zero, the active
//!    references together own one strong count of that `Arc` (the kernel's initial `passive`
//!    reference). When the count reaches zero that strong count passes to the cleanup list, then
//!    to `cleanup_net`, which drops it after the batch's RCU barrier (`net_passive_dec`). A
//!    namespace whose setup failed, and `init_net`, drop it directly.
//! 2. A `Net` always points to a namespace whose active count it contributes one to, so the
//!    pointer is valid for as long as the `Net` exists (1).
//! 3. A namespace appears on `net_namespace_list` only between the end of a successful
//!    `setup_net` and its unlinking in `cleanup_net`, which is followed by a grace period before
//!    the strong count of (1) is dropped: a pointer read from the list under an RCU guard is valid
//!    for the guard's lifetime.
//! 4. `teardown` is touched only by `setup_net` (before the namespace is published) and
//!    `cleanup_net` (after it was unlinked); they never run on the same namespace at once.
//!
//! # Orderings
//!
//! The active count's orderings are argued in [`crate::refcount`]. `state` is written with
//! `Release` before the setup path drops its reference and read with `Acquire` after the final
//! decrement, so the last holder sees how setup ended.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use rcu::{Domain, ListEntry, RcuCell, ReadGuard};

use crate::generic::{GenericArray, GenericBox, box_key};
use crate::llist::LListNode;
use crate::nsid::Nsids;
use crate::refcount::ActiveCount;
use crate::registry::Shared;
use crate::user_ns::{UcountCharge, UserNamespace};
use crate::{NetGenericId, sync};

/// `setup_net` is running.
pub(crate) const NET_SETUP: u8 = 0;
/// Set up and on the list (or queued for cleanup once the count is zero).
pub(crate) const NET_LIVE: u8 = 1;
/// `setup_net` failed: the last reference frees the memory, nothing else.
pub(crate) const NET_FAILED: u8 = 2;

/// Net cookies (`net->net_cookie`): unique for the life of the process, never reused. Threads
/// take them in blocks of [`COOKIE_BLOCK`] (like the kernel's per-cpu cookie batches), so
/// concurrent creators do not bounce one counter.
static NEXT_NET_COOKIE: AtomicU64 = AtomicU64::new(1);

/// Cookies a thread reserves at once.
const COOKIE_BLOCK: u64 = 256;

thread_local! {
    /// This thread's reserved cookies: the next one and the end of the block.
    static COOKIES: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A fresh net cookie.
fn next_net_cookie() -> u64 {
    COOKIES.with(|block| {
        let (mut next, mut end) = block.get();
        if next == end {
            next = NEXT_NET_COOKIE.fetch_add(COOKIE_BLOCK, Ordering::Relaxed);
            end = next + COOKIE_BLOCK;
        }
        block.set((next + 1, end));
        next
    })
}

/// A network namespace: the port of `struct net`.
///
/// You reach one through a [`Net`] (which derefs to it), a [`PassiveNet`], a pernet callback, or
/// a list walk ([`Registry::for_each_net_rcu`](crate::Registry::for_each_net_rcu)).
pub struct NetNs {
    /// Active references (`ns.count`); zero is terminal (see [`crate::refcount`]).
    count: ActiveCount,
    registry_id: u64,
    cookie: u64,
    is_init: bool,
    /// One of `NET_SETUP`, `NET_LIVE`, `NET_FAILED`; see the module's "Orderings".
    state: AtomicU8,
    user_ns: UserNamespace,
    /// `net->gen`: the private-data slots (see [`crate::generic`]), allocated by the first
    /// `net_assign_generic`, so namespaces of a registry without private data cost nothing here.
    generic: OnceLock<RcuCell<GenericArray>>,
    /// `net->netns_ids` and `net->nsid_lock`: ids this namespace gave its peers, read under
    /// RCU (see [`crate::nsid`]).
    nsids: Nsids,
    /// What `cleanup_net` releases (invariant 4).
    teardown: Mutex<Teardown>,
    /// `net->cleanup_list`: the link of the lock-free cleanup list.
    cleanup_link: sync::AtomicPtr<NetNs>,
    /// The registry, kept alive by every namespace but `init_net` (which the registry owns).
    shared: Option<Arc<Shared>>,
    /// `init_net` only: the registry's RCU domain, which the others reach through `shared`.
    init_domain: Option<Domain>,
}

/// The resources `cleanup_net` releases at the end of a batch.
#[derive(Default)]
pub(crate) struct Teardown {
    /// The namespace's node on `net_namespace_list`.
    pub(crate) list_entry: Option<ListEntry<NetPtr>>,
    /// The `max_net_namespaces` charge (`net->ucounts`).
    pub(crate) ucounts: Option<UcountCharge>,
}

// SAFETY: `cleanup_link` is a dedicated field that only the cleanup list stores to.
unsafe impl LListNode for NetNs {
    fn llist_link(&self) -> &sync::AtomicPtr<Self> {
        &self.cleanup_link
    }
}

impl fmt::Debug for NetNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetNs")
            .field("cookie", &self.cookie)
            .field("init_net", &self.is_init)
            .field("count", &self.count.get())
            .finish_non_exhaustive()
    }
}

impl NetNs {
    /// `net_alloc` + `preinit_net`: a namespace in setup state holding one active reference.
    /// `init_domain` is the registry's RCU domain for `init_net`, which has no `shared` to reach
    /// it through, and `None` for the others.
    pub(crate) fn alloc(
        shared: Option<Arc<Shared>>,
        registry_id: u64,
        user_ns: UserNamespace,
        init_domain: Option<&Domain>,
    ) -> Arc<NetNs> {
        debug_assert_eq!(shared.is_none(), init_domain.is_some());
        Arc::new(NetNs {
            count: ActiveCount::new(1),
            registry_id,
            cookie: next_net_cookie(),
            is_init: init_domain.is_some(),
            init_domain: init_domain.cloned(),
            state: AtomicU8::new(NET_SETUP),
            user_ns,
            generic: OnceLock::new(),
            nsids: Nsids::new(),
            teardown: Mutex::new(Teardown::default()),
            cleanup_link: sync::AtomicPtr::new(std::ptr::null_mut()),
            shared,
        })
    }

    /// `net->net_cookie`: a number unique to this namespace for the life of the process.
    pub fn cookie(&self) -> u64 {
        self.cookie
    }

    /// Whether this is the registry's `init_net`.
    pub fn is_init_net(&self) -> bool {
        self.is_init
    }

    /// The owning user namespace (`net->user_ns`).
    pub fn user_ns(&self) -> &UserNamespace {
        &self.user_ns
    }

    /// `check_net`: whether the namespace is still alive (its active count is not zero). In `exit`
    /// callbacks it is always false.
    pub fn check_net(&self) -> bool {
        self.count.get() != 0
    }

    /// The active reference count (a snapshot, for diagnostics).
    pub fn refcount(&self) -> usize {
        self.count.get()
    }

    /// `maybe_get_net`: a new active reference, or `None` once the namespace is dying.
    pub fn maybe_get_net(&self) -> Option<Net> {
        if self.count.inc_not_zero() {
            // Invariant 2: we now hold one of the active references.
            Some(Net {
                ptr: NonNull::from(self),
            })
        } else {
            None
        }
    }

    /// `net_generic`: this namespace's private data of the ops that `id` belongs to, or `None` if
    /// that ops is not (or no longer) initialised here.
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another RCU domain than the registry's (checked once the namespace
    /// has private data at all).
    pub fn net_generic<'g, T: 'static>(
        &self,
        id: NetGenericId<T>,
        guard: &'g ReadGuard<'_>,
    ) -> Option<&'g T> {
        let slot = id.slot? as usize;
        let ptr = self
            .generic
            .get()?
            .read(guard)
            .slot(slot)?
            .load(Ordering::Acquire);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: generic.rs invariant 2: a non-null slot holds a live box (live for the guard's
        // lifetime by invariant 3), whose key we may read whatever its type.
        if unsafe { box_key(ptr) } != id.key {
            return None;
        }
        // SAFETY: the key matched, so the box is a `GenericBox<T>` (generic.rs invariant 2), and
        // it is freed no earlier than a grace period after its slot was cleared (invariant 3),
        // which cannot complete while `guard` is held.
        Some(unsafe { &(*ptr.cast::<GenericBox<T>>()).value })
    }

    /// `peernet2id_alloc`: the id this namespace uses for `peer`, allocating the lowest free one
    /// if needed. `None` if this namespace or `peer` is dying (an id is never given to a dying
    /// peer), or if `peer` belongs to another registry. It takes `nsid_lock`; the lookups
    /// ([`peernet2id`](Self::peernet2id), [`get_net_ns_by_id`](Self::get_net_ns_by_id)) do not.
    ///
    /// ```
    /// use netns_core::{CLONE_NEWNET, Registry};
    ///
    /// let registry = Registry::new();
    /// let init_net = registry.init_net();
    /// let peer = registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &init_net).unwrap();
    /// let id = init_net.peernet2id_alloc(&peer).unwrap();
    /// assert_eq!(init_net.peernet2id(&peer), Some(id));
    /// let found = init_net.get_net_ns_by_id(id).unwrap();
    /// assert_eq!(found.cookie(), peer.cookie());
    /// ```
    pub fn peernet2id_alloc(&self, peer: &NetNs) -> Option<i32> {
        if !self.check_net() || peer.registry_id != self.registry_id {
            return None;
        }
        self.nsids.alloc(self.registry_domain(), peer)
    }

    /// The registry's RCU domain: through the registry for every namespace but `init_net`,
    /// which the registry owns and which keeps its own handle instead (a handle per namespace
    /// would cost every creation and every release an update of the domain's shared count).
    fn registry_domain(&self) -> &Domain {
        match (&self.shared, &self.init_domain) {
            (Some(shared), _) => &shared.domain,
            (None, Some(domain)) => domain,
            (None, None) => unreachable!("a namespace without a registry is init_net"),
        }
    }

    /// `peernet2id`: the id this namespace gave `peer`, if any. Looks the table up under a read
    /// section of the registry's RCU domain, without a lock.
    pub fn peernet2id(&self, peer: &NetNs) -> Option<i32> {
        self.nsids.find(peer)
    }

    /// `get_net_ns_by_id`: an active reference to the peer with id `id`; never a dying namespace.
    /// Looks the table up under a read section of the registry's RCU domain, without a lock.
    pub fn get_net_ns_by_id(&self, id: i32) -> Option<Net> {
        if id < 0 {
            return None;
        }
        // The table holds the peer weakly: the allocation may outlive the namespace, and the
        // namespace may be dying. Both checks run outside the read section, so that dropping
        // the upgraded `Arc` never runs under it.
        let peer = self.nsids.peer(id)?.upgrade()?;
        peer.maybe_get_net()
    }

    /// `unhash_nsid`, survivor side: forgets the ids given to the namespaces at the addresses in
    /// `dying`.
    pub(crate) fn remove_nsids_of(&self, dying: &HashSet<usize>) {
        self.nsids.remove_peers(dying);
    }

    /// Whether this namespace gave any nsid (a snapshot; only `cleanup_net` relies on it, and
    /// ids for a dying peer cannot be added once its count is zero). `guard` must belong to the
    /// registry's RCU domain.
    pub(crate) fn has_nsids(&self, guard: &ReadGuard<'_>) -> bool {
        !self.nsids.is_empty(guard)
    }

    /// `idr_destroy(&net->netns_ids)`: forgets every id this namespace gave.
    pub(crate) fn destroy_nsids(&self) {
        self.nsids.destroy();
    }

    pub(crate) fn registry_id(&self) -> u64 {
        self.registry_id
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub(crate) fn set_state(&self, state: u8) {
        self.state.store(state, Ordering::Release);
    }

    pub(crate) fn teardown(&self) -> std::sync::MutexGuard<'_, Teardown> {
        sync::lock_std(&self.teardown)
    }

    /// The box pointer in private-data slot `slot` (null if none).
    pub(crate) fn generic_slot_ptr(&self, domain: &Domain, slot: usize) -> *mut () {
        let Some(cell) = self.generic.get() else {
            return std::ptr::null_mut();
        };
        let guard = domain.read();
        match cell.read(&guard).slot(slot) {
            Some(cell) => cell.load(Ordering::Acquire),
            None => std::ptr::null_mut(),
        }
    }

    /// `net_assign_generic`: installs `data` in slot `slot`, growing the array to at least
    /// `gen_ptrs` slots if needed. Caller: the writer of generic.rs invariant 1.
    pub(crate) fn net_assign_generic(
        &self,
        domain: &Domain,
        slot: usize,
        gen_ptrs: usize,
        data: *mut (),
    ) {
        let cell = self
            .generic
            .get_or_init(|| RcuCell::new(domain, GenericArray::new(gen_ptrs.max(slot + 1))));
        let guard = domain.read();
        let current = cell.read(&guard);
        if let Some(cell) = current.slot(slot) {
            cell.store(data, Ordering::Release);
            return;
        }
        let grown = current.grown(gen_ptrs.max(slot + 1));
        grown
            .slot(slot)
            .expect("grown past the slot")
            .store(data, Ordering::Relaxed);
        drop(guard);
        // The old array is freed after a grace period; readers keep seeing every pointer.
        cell.replace(grown);
    }

    /// Clears slot `slot` and returns the box it held (null if none). Caller: the writer of
    /// generic.rs invariant 1, which must free the box only after a grace period.
    pub(crate) fn take_generic(&self, domain: &Domain, slot: usize) -> *mut () {
        let Some(cell) = self.generic.get() else {
            return std::ptr::null_mut();
        };
        let guard = domain.read();
        match cell.read(&guard).slot(slot) {
            Some(cell) => cell.swap(std::ptr::null_mut(), Ordering::AcqRel),
            None => std::ptr::null_mut(),
        }
    }
}

/// A raw pointer to a namespace, as stored on `net_namespace_list` (invariant 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NetPtr(pub(crate) NonNull<NetNs>);

// SAFETY: `NetNs` is `Send + Sync`; the pointer is only dereferenced under the rules of
// invariant 3.
unsafe impl Send for NetPtr {}
// SAFETY: as above.
unsafe impl Sync for NetPtr {}

impl NetPtr {
    /// The namespace behind the pointer.
    ///
    /// # Safety
    ///
    /// The namespace must still be allocated for `'a` (invariant 3: read under an RCU guard that
    /// lives for `'a`, or by `cleanup_net` before it drops the strong count).
    pub(crate) unsafe fn get<'a>(self) -> &'a NetNs {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.as_ref() }
    }
}

/// An active reference to a network namespace: `struct net *` obtained with `get_net`.
///
/// `Clone` is `get_net`, `Drop` is `put_net`. It derefs to [`NetNs`]. When the last active
/// reference goes away the namespace is queued for `cleanup_net`, which runs its exits in a
/// batch on the registry's cleanup worker (or when the owner steps cleanup in manual mode).
pub struct Net {
    ptr: NonNull<NetNs>,
}

// SAFETY: `NetNs` is `Send + Sync` and a `Net` only shares it (invariant 2).
unsafe impl Send for Net {}
// SAFETY: as above.
unsafe impl Sync for Net {}

impl Net {
    /// Takes over the active reference a freshly allocated namespace was created with.
    pub(crate) fn from_new(net: Arc<NetNs>) -> Net {
        // Invariant 1: the strong count moves into the active references.
        let ptr = Arc::into_raw(net).cast_mut();
        Net {
            ptr: NonNull::new(ptr).expect("Arc::into_raw is never null"),
        }
    }

    /// `get_net`: another active reference (the same as `clone`).
    pub fn get_net(this: &Net) -> Net {
        this.clone()
    }

    /// `put_net`: drops this reference (the same as `drop`).
    pub fn put_net(this: Net) {
        drop(this);
    }

    /// `net_passive_inc`: a passive reference to the same namespace.
    pub fn to_passive(this: &Net) -> PassiveNet {
        PassiveNet { net: this.arc() }
    }

    /// Whether both references name the same namespace (`net_eq`).
    pub fn ptr_eq(a: &Net, b: &Net) -> bool {
        a.ptr == b.ptr
    }

    fn arc(&self) -> Arc<NetNs> {
        // SAFETY: invariant 1 and 2: the pointer came from `Arc::into_raw` and the active
        // references hold a strong count, so adding one and rebuilding an `Arc` is balanced.
        unsafe {
            Arc::increment_strong_count(self.ptr.as_ptr());
            Arc::from_raw(self.ptr.as_ptr())
        }
    }

    pub(crate) fn downgrade_weak(this: &Net) -> Weak<NetNs> {
        Arc::downgrade(&this.arc())
    }
}

impl Deref for Net {
    type Target = NetNs;

    fn deref(&self) -> &NetNs {
        // SAFETY: invariant 2.
        unsafe { self.ptr.as_ref() }
    }
}

impl Clone for Net {
    fn clone(&self) -> Net {
        self.count.inc();
        Net { ptr: self.ptr }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        if self.count.dec_and_test() {
            put_net_slow(self.ptr);
        }
    }
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Net").field(&**self).finish()
    }
}

/// `__put_net`: the active count of `ptr` just reached zero.
#[cold]
fn put_net_slow(ptr: NonNull<NetNs>) {
    // SAFETY: invariant 1: the strong count held by the active references is now ours.
    let net = unsafe { ptr.as_ref() };
    if net.is_init || net.state() == NET_FAILED {
        // `init_net` is never dismantled; a failed setup already undid everything.
        // SAFETY: invariant 1: we drop the strong count we own.
        drop(unsafe { Arc::from_raw(ptr.as_ptr()) });
        return;
    }
    let shared = net
        .shared
        .clone()
        .expect("every namespace but init_net holds its registry");
    // From here the namespace belongs to the cleanup list; `shared` is our own handle.
    shared.queue_cleanup(NetPtr(ptr));
}

/// A passive reference (`net->passive`): keeps the namespace's memory, not the namespace.
///
/// Obtained with [`Net::to_passive`]. Use [`maybe_get_net`](PassiveNet::maybe_get_net) to get an
/// active reference back while the namespace is alive.
///
/// ```
/// use netns_core::{CLONE_NEWNET, CleanupMode, Net, Registry};
///
/// let registry = Registry::builder().cleanup_mode(CleanupMode::Manual).build();
/// let net = registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &registry.init_net())?;
/// let passive = Net::to_passive(&net);
/// assert!(passive.maybe_get_net().is_some());
/// drop(net); // the last active reference: the namespace is dying
/// assert!(passive.maybe_get_net().is_none());
/// assert_eq!(registry.cleanup_net(), 1);
/// # Ok::<(), netns_core::NetError>(())
/// ```
#[derive(Clone)]
pub struct PassiveNet {
    net: Arc<NetNs>,
}

impl PassiveNet {
    /// `maybe_get_net`: an active reference, or `None` once the namespace is dying.
    pub fn maybe_get_net(&self) -> Option<Net> {
        self.net.maybe_get_net()
    }
}

impl Deref for PassiveNet {
    type Target = NetNs;

    fn deref(&self) -> &NetNs {
        &self.net
    }
}

impl fmt::Debug for PassiveNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PassiveNet").field(&*self.net).finish()
    }
}
