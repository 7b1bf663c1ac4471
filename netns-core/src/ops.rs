//! Pernet operations (`struct pernet_operations`) and their type-erased registration entries.

use std::sync::Arc;

use rcu::Domain;

use crate::generic::{DeferredFree, GenericBox, drop_generic_box, new_generic_key};
use crate::{NetError, NetGenericId, NetNs};

/// A per-namespace subsystem: the kernel's `struct pernet_operations`.
///
/// Register it with [`Registry::register_pernet_subsys`](crate::Registry::register_pernet_subsys)
/// or [`register_pernet_device`](crate::Registry::register_pernet_device). Every callback is
/// optional (the defaults do nothing) and runs with `pernet_ops_rwsem` held: for read while a
/// namespace is set up or dismantled, for write during (un)registration.
///
/// The order rules are the kernel's: `init` runs over the ops list in order (all subsys ops in
/// registration order, then all device ops), every undo runs in exact reverse. For a batch of
/// namespaces, every `pre_exit` of every ops runs first, then one RCU grace period, then per ops
/// (in reverse) its `exit` on each namespace followed by one `exit_batch`, then the private data
/// is freed.
///
/// # Private data
///
/// `Data` is the kernel's `id` + `size`: one value per namespace, created with `Default` before
/// `init` (the kernel zero-allocates it), handed to every callback, reachable by anyone through
/// [`NetNs::net_generic`] under an RCU read guard, and freed after `exit_batch`. Use interior
/// mutability for state that callbacks change. A zero-sized `Data` (such as `()`) means "no
/// private data": no id is allocated, and every callback receives one shared value.
///
/// The kernel rejects an ops with an `id` but no `size` (or the reverse) with `EINVAL`; here both
/// come from `Data`, so the mismatch cannot be expressed.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use netns_core::{NetError, NetNs, PernetOperations, Registry};
///
/// #[derive(Default)]
/// struct Counters {
///     packets: AtomicU64,
/// }
///
/// struct Ipv4;
///
/// impl PernetOperations for Ipv4 {
///     type Data = Counters;
///     fn init(&self, _net: &NetNs, data: &Counters) -> Result<(), NetError> {
///         data.packets.store(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// let registry = Registry::new();
/// let id = registry.register_pernet_subsys(&Arc::new(Ipv4)).unwrap();
/// let init_net = registry.init_net();
/// let guard = registry.domain().read();
/// let counters = init_net.net_generic(id, &guard).unwrap();
/// assert_eq!(counters.packets.load(Ordering::Relaxed), 1);
/// ```
pub trait PernetOperations: Send + Sync + 'static {
    /// Per-namespace private data; zero-sized for none.
    type Data: Default + Send + Sync + 'static;

    /// A name for diagnostics (panic reports).
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// `->init`: sets the subsystem up in `net`. An error (or a panic) aborts the namespace's
    /// creation, or the registration, and this ops gets no exit call for `net`.
    fn init(&self, net: &NetNs, data: &Self::Data) -> Result<(), NetError> {
        let _ = (net, data);
        Ok(())
    }

    /// `->pre_exit`: first teardown step, before the batch's grace period.
    fn pre_exit(&self, net: &NetNs, data: &Self::Data) {
        let _ = (net, data);
    }

    /// `->exit`: per-namespace teardown, after the batch's grace period.
    fn exit(&self, net: &NetNs, data: &Self::Data) {
        let _ = (net, data);
    }

    /// `->exit_batch`: once per batch, after this ops' `exit` on every namespace of the batch.
    fn exit_batch(&self, batch: &[(&NetNs, &Self::Data)]) {
        let _ = batch;
    }
}

/// Which list segment an ops lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PernetKind {
    Subsys,
    Device,
}

/// A registered ops with its id, type-erased so the ops list can hold any mix.
pub(crate) trait DynOps: Send + Sync {
    /// The ops' name.
    fn name(&self) -> &str;
    /// The address of the user's `Arc<O>`: the registration's identity.
    fn ops_addr(&self) -> usize;
    /// Subsys or device.
    fn kind(&self) -> PernetKind;
    /// The private-data slot, if the ops has data.
    fn slot(&self) -> Option<usize>;
    /// Allocates a fresh box for a namespace's private data (freed with [`drop_fn`]), or `None`
    /// for zero-sized data.
    ///
    /// [`drop_fn`]: DynOps::drop_fn
    fn alloc_data(&self) -> Option<*mut ()>;
    /// Calls `init`.
    fn init(&self, domain: &Domain, net: &NetNs) -> Result<(), NetError>;
    /// Calls `pre_exit`.
    fn pre_exit(&self, domain: &Domain, net: &NetNs);
    /// Calls `exit`.
    fn exit(&self, domain: &Domain, net: &NetNs);
    /// Calls `exit_batch`.
    fn exit_batch(&self, domain: &Domain, nets: &[&NetNs]);
    /// The destructor of this ops' boxes.
    fn drop_fn(&self) -> unsafe fn(*mut ());
}

/// The registration entry of one `O`.
pub(crate) struct OpsEntry<O: PernetOperations> {
    ops: Arc<O>,
    kind: PernetKind,
    id: NetGenericId<O::Data>,
    /// The value every callback gets when `O::Data` is zero-sized.
    shared_data: O::Data,
}

impl<O: PernetOperations> OpsEntry<O> {
    /// An entry for `ops`; `slot` is its allocated id (None for zero-sized data).
    pub(crate) fn new(ops: Arc<O>, kind: PernetKind, slot: Option<usize>) -> Self {
        Self {
            ops,
            kind,
            id: NetGenericId::new(slot, new_generic_key()),
            shared_data: O::Data::default(),
        }
    }

    /// The typed id handed back to the registering caller.
    pub(crate) fn id(&self) -> NetGenericId<O::Data> {
        self.id
    }

    /// The data callbacks of this ops get for `net`.
    fn data<'a>(&'a self, domain: &Domain, net: &'a NetNs) -> &'a O::Data {
        let Some(slot) = self.id.slot else {
            return &self.shared_data;
        };
        let ptr = net.generic_slot_ptr(domain, slot as usize);
        assert!(!ptr.is_null(), "pernet data missing for an initialised ops");
        // SAFETY: generic.rs invariant 1 and 3: the slot holds this ops' box (installed by
        // `ops_init` on `net` before any callback of this ops can run on it), and only this
        // ops' undo on `net` frees it, which happens after its last callback returns; the
        // reference does not outlive the callback it is passed to.
        unsafe { &(*ptr.cast::<GenericBox<O::Data>>()).value }
    }
}

impl<O: PernetOperations> DynOps for OpsEntry<O> {
    fn name(&self) -> &str {
        self.ops.name()
    }

    fn ops_addr(&self) -> usize {
        Arc::as_ptr(&self.ops) as *const () as usize
    }

    fn kind(&self) -> PernetKind {
        self.kind
    }

    fn slot(&self) -> Option<usize> {
        self.id.slot.map(|s| s as usize)
    }

    fn alloc_data(&self) -> Option<*mut ()> {
        self.id.slot?;
        let boxed = Box::new(GenericBox {
            key: self.id.key,
            value: O::Data::default(),
        });
        Some(Box::into_raw(boxed).cast::<()>())
    }

    fn init(&self, domain: &Domain, net: &NetNs) -> Result<(), NetError> {
        self.ops.init(net, self.data(domain, net))
    }

    fn pre_exit(&self, domain: &Domain, net: &NetNs) {
        self.ops.pre_exit(net, self.data(domain, net));
    }

    fn exit(&self, domain: &Domain, net: &NetNs) {
        self.ops.exit(net, self.data(domain, net));
    }

    fn exit_batch(&self, domain: &Domain, nets: &[&NetNs]) {
        let batch: Vec<(&NetNs, &O::Data)> = nets
            .iter()
            .map(|&net| (net, self.data(domain, net)))
            .collect();
        self.ops.exit_batch(&batch);
    }

    fn drop_fn(&self) -> unsafe fn(*mut ()) {
        drop_generic_box::<O::Data>
    }
}

/// Builds the deferred free of a box taken out of a slot.
///
/// # Safety
///
/// `ptr` must be a box allocated by `entry.alloc_data()` that nobody else frees.
pub(crate) unsafe fn deferred_free(entry: &dyn DynOps, ptr: *mut ()) -> DeferredFree {
    // SAFETY: forwarded from the caller; `drop_fn` is the matching destructor.
    unsafe { DeferredFree::new(ptr, entry.drop_fn()) }
}
