//! Pernet operations on namespaces: `ops_init`, `ops_undo_list`, and
//! `register_pernet_*` / `unregister_pernet_*`.
//!
//! The undo protocol (`ops_undo_list`) is the one every teardown path shares, so that a kernel
//! developer can check the order once: over the given ops in reverse, every `pre_exit` on every
//! namespace; then one grace period (other threads may still be walking the list or reading
//! private data); then, per ops in reverse, `exit` on each namespace followed by one
//! `exit_batch`; then, per ops in reverse, the private data is freed (after a further grace
//! period here, because [`NetNs::net_generic`] readers may hold a passive reference).
//!
//! # Orderings
//!
//! Everything here runs under `pernet_ops_rwsem`; the private-data slots' orderings are argued
//! in [`crate::generic`], and the registration counter is `Relaxed` (statistics only).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rwsem::RwSemWriteGuard;

use crate::callback::{CallbackPhase, call_guarded, in_callback};
use crate::ops::{DynOps, OpsEntry, PernetKind, deferred_free};
use crate::registry::{PernetList, Shared};
use crate::{NetError, NetGenericId, NetNs, PernetOperations, Registry};

impl Shared {
    /// `ops_init`: allocates and installs the private data, then calls `init`. On failure the
    /// data is removed again and the ops gets no exit for this namespace.
    pub(crate) fn ops_init(&self, ops: &dyn DynOps, net: &NetNs) -> Result<(), NetError> {
        let slot = ops.slot();
        if let (Some(slot), Some(data)) = (slot, ops.alloc_data()) {
            net.net_assign_generic(&self.domain, slot, self.gen_ptrs(), data);
        }
        let result = call_guarded(self, ops.name(), CallbackPhase::Init, || {
            ops.init(&self.domain, net)
        })
        .unwrap_or(Err(NetError::CallbackPanicked));
        if result.is_err() {
            if let Some(slot) = slot {
                self.free_generic(ops, net, slot);
            }
        }
        result
    }

    /// Clears `net`'s slot of `ops` and frees the box after a grace period.
    fn free_generic(&self, ops: &dyn DynOps, net: &NetNs, slot: usize) {
        let data = net.take_generic(&self.domain, slot);
        if !data.is_null() {
            // SAFETY: the box came from `ops.alloc_data()` and we just took it out of its slot,
            // so nobody else frees it (generic.rs invariant 3).
            self.domain.defer_drop(unsafe { deferred_free(ops, data) });
        }
    }

    /// `ops_undo_list`: undoes `ops` (given in list order) on `nets`; see the module docs.
    pub(crate) fn ops_undo_list(
        &self,
        ops: &[Box<dyn DynOps>],
        nets: &[&NetNs],
        expedite: bool,
        in_batch: bool,
    ) {
        for entry in ops.iter().rev() {
            for &net in nets {
                call_guarded(self, entry.name(), CallbackPhase::PreExit, || {
                    entry.pre_exit(&self.domain, net)
                });
            }
        }
        // Another thread may be walking the list or reading private data: wait for it before
        // any exit (the barrier after the undo alone would not be enough).
        self.synchronize(expedite, in_batch);
        for entry in ops.iter().rev() {
            for &net in nets {
                if self.skip_exit_fault() {
                    continue;
                }
                call_guarded(self, entry.name(), CallbackPhase::Exit, || {
                    entry.exit(&self.domain, net)
                });
            }
            call_guarded(self, entry.name(), CallbackPhase::ExitBatch, || {
                entry.exit_batch(&self.domain, nets)
            });
        }
        for entry in ops.iter().rev() {
            if let Some(slot) = entry.slot() {
                for &net in nets {
                    self.free_generic(entry.as_ref(), net, slot);
                }
            }
        }
    }

    #[cfg(feature = "test-hooks")]
    fn skip_exit_fault(&self) -> bool {
        self.faults.skip_exit()
    }

    #[cfg(not(feature = "test-hooks"))]
    fn skip_exit_fault(&self) -> bool {
        false
    }

    /// The namespaces currently on the list, in order. Called with `pernet_ops_rwsem` held for
    /// write, so the list cannot change and every entry stays allocated until the lock is
    /// released.
    fn snapshot_nets(&self) -> Vec<crate::net::NetPtr> {
        let guard = self.domain.read();
        self.net_namespace_list.iter(&guard).copied().collect()
    }

    /// `register_pernet_operations` with the write lock held.
    fn register_locked<O: PernetOperations>(
        &self,
        list: &mut RwSemWriteGuard<'_, PernetList>,
        ops: &Arc<O>,
        kind: PernetKind,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        let addr = Arc::as_ptr(ops) as *const () as usize;
        if list.ops.iter().any(|entry| entry.ops_addr() == addr) {
            return Err(NetError::AlreadyRegistered);
        }
        let slot = if std::mem::size_of::<O::Data>() == 0 {
            None
        } else {
            let id = list.ida.alloc().ok_or(NetError::NoMemory)?;
            self.max_gen_ptrs.fetch_max(id + 1, Ordering::Relaxed);
            Some(id)
        };
        let entry = OpsEntry::new(Arc::clone(ops), kind, slot);
        let id = entry.id();
        let index = match kind {
            PernetKind::Subsys => list.first_device,
            PernetKind::Device => list.ops.len(),
        };
        list.ops.insert(index, Box::new(entry));
        if kind == PernetKind::Subsys {
            list.first_device += 1;
        }
        // Every namespace on the list, dead-but-not-yet-unlinked ones included, in list order.
        let nets = self.snapshot_nets();
        let mut done: Vec<&NetNs> = Vec::with_capacity(nets.len());
        for net in &nets {
            // SAFETY: see `snapshot_nets`: the write lock keeps every listed namespace allocated.
            let net = unsafe { net.get() };
            if let Err(error) = self.ops_init(list.ops[index].as_ref(), net) {
                let entry = list.ops.remove(index);
                if kind == PernetKind::Subsys {
                    list.first_device -= 1;
                }
                self.ops_undo_list(std::slice::from_ref(&entry), &done, false, false);
                self.rcu_barrier(false);
                if let Some(slot) = slot {
                    list.ida.free(slot);
                }
                return Err(error);
            }
            done.push(net);
        }
        self.counters.ops_registered.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// `unregister_pernet_operations` with the write lock held.
    fn unregister_locked(
        &self,
        list: &mut RwSemWriteGuard<'_, PernetList>,
        addr: usize,
        kind: PernetKind,
    ) -> Result<(), NetError> {
        let index = list
            .ops
            .iter()
            .position(|entry| entry.ops_addr() == addr)
            .ok_or(NetError::NotRegistered)?;
        if list.ops[index].kind() != kind {
            return Err(NetError::Invalid);
        }
        let entry = list.ops.remove(index);
        if index < list.first_device {
            list.first_device -= 1;
        }
        let nets = self.snapshot_nets();
        // SAFETY: see `snapshot_nets`.
        let nets: Vec<&NetNs> = nets.iter().map(|net| unsafe { net.get() }).collect();
        self.ops_undo_list(std::slice::from_ref(&entry), &nets, false, false);
        self.rcu_barrier(false);
        if let Some(slot) = entry.slot() {
            list.ida.free(slot);
        }
        self.counters.ops_registered.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    fn write_lock(&self, wait: bool) -> Result<RwSemWriteGuard<'_, PernetList>, NetError> {
        if in_callback(self.id) {
            return Err(NetError::Deadlock);
        }
        if wait {
            Ok(self.pernet_ops_rwsem.write())
        } else {
            self.pernet_ops_rwsem
                .try_write()
                .ok_or(NetError::WouldBlock)
        }
    }

    fn register<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
        kind: PernetKind,
        wait: bool,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        let mut list = self.write_lock(wait)?;
        self.register_locked(&mut list, ops, kind)
    }

    fn unregister<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
        kind: PernetKind,
        wait: bool,
    ) -> Result<(), NetError> {
        let mut list = self.write_lock(wait)?;
        self.unregister_locked(&mut list, Arc::as_ptr(ops) as *const () as usize, kind)
    }
}

impl Registry {
    /// `register_pernet_subsys`: inserts `ops` after every subsys and before every device ops,
    /// allocates its private-data id (lowest free) and runs its `init` on every namespace on the
    /// list, in list order (dead namespaces not yet unlinked included). If `init` fails on the
    /// k-th namespace, the first k-1 are undone (pre_exit, grace period, exit, exit_batch,
    /// free), the ops is removed, an RCU barrier is waited for, the id is freed and the error
    /// returned.
    ///
    /// Errors: `AlreadyRegistered` if this `Arc` is registered already, `Deadlock` from inside a
    /// pernet callback of this registry, `NoMemory` when ids run out, or the failing init's
    /// error.
    pub fn register_pernet_subsys<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        self.shared.register(ops, PernetKind::Subsys, true)
    }

    /// `register_pernet_device`: like [`register_pernet_subsys`](Self::register_pernet_subsys)
    /// but appends `ops` at the end of the list (the first one becomes `first_device`).
    pub fn register_pernet_device<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        self.shared.register(ops, PernetKind::Device, true)
    }

    /// `unregister_pernet_subsys`: removes `ops`, undoes it on every namespace on the list
    /// (pre_exit on each, one grace period, exit on each, one exit_batch, free), waits for an RCU
    /// barrier and frees the id; the private-data slot reads as empty afterwards.
    ///
    /// Errors (nothing is changed): `NotRegistered` for unknown ops, `Invalid` if `ops` was
    /// registered as a device, `Deadlock` from inside a pernet callback of this registry.
    pub fn unregister_pernet_subsys<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<(), NetError> {
        self.shared.unregister(ops, PernetKind::Subsys, true)
    }

    /// `unregister_pernet_device`: see [`unregister_pernet_subsys`](Self::unregister_pernet_subsys).
    pub fn unregister_pernet_device<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<(), NetError> {
        self.shared.unregister(ops, PernetKind::Device, true)
    }

    /// [`register_pernet_subsys`](Self::register_pernet_subsys) that fails with `WouldBlock`
    /// instead of waiting for `pernet_ops_rwsem`.
    pub fn try_register_pernet_subsys<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        self.shared.register(ops, PernetKind::Subsys, false)
    }

    /// [`register_pernet_device`](Self::register_pernet_device) that fails with `WouldBlock`
    /// instead of waiting for `pernet_ops_rwsem`.
    pub fn try_register_pernet_device<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<NetGenericId<O::Data>, NetError> {
        self.shared.register(ops, PernetKind::Device, false)
    }

    /// [`unregister_pernet_subsys`](Self::unregister_pernet_subsys) that fails with
    /// `WouldBlock` instead of waiting for `pernet_ops_rwsem`.
    pub fn try_unregister_pernet_subsys<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<(), NetError> {
        self.shared.unregister(ops, PernetKind::Subsys, false)
    }

    /// [`unregister_pernet_device`](Self::unregister_pernet_device) that fails with
    /// `WouldBlock` instead of waiting for `pernet_ops_rwsem`.
    pub fn try_unregister_pernet_device<O: PernetOperations>(
        &self,
        ops: &Arc<O>,
    ) -> Result<(), NetError> {
        self.shared.unregister(ops, PernetKind::Device, false)
    }
}
