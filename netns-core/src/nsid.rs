//! Peer ids (`net->netns_ids` and `net->nsid_lock`): the numbers a namespace gives the
//! namespaces it knows, as `peernet2id_alloc`, `peernet2id`, `get_net_ns_by_id`, `unhash_nsid`
//! and `idr_destroy` handle them in `net/core/net_namespace.c`.
//!
//! As in the kernel, lookups run under a read section of the registry's RCU domain and take no
//! lock; only writers take `nsid_lock`. The kernel changes its IDR in place; here a writer copies
//! the published table, changes the copy and publishes it through an [`RcuCell`], which drops the
//! old table after a grace period. Tables hold a handful of entries and writes are rare, so the
//! copy costs little.
//!
//! # Invariants
//!
//! 1. Only a writer holding `lock` publishes a table (the first one with `OnceLock::set`, later
//!    ones with `RcuCell::replace`), and it builds that table from the one published when it took
//!    the lock. Writers are serialised, so no write is lost.
//! 2. A published table is never changed; readers borrow it for their read section, and
//!    `RcuCell` drops it only after a grace period that starts once it was replaced.
//! 3. Peers are held weakly: an entry never keeps a namespace alive, and because a `Weak` keeps
//!    the allocation, an entry of any table a reader can still reach never aliases a newer
//!    namespace at the same address.
//! 4. An id is added for a peer only while the writer holds an active reference to it, taken
//!    with `maybe_get_net` under `lock` and dropped after the table is published, outside `lock`
//!    and outside the read section. So no id is ever added for a namespace whose count is zero.
//! 5. Writers publish inside a read section of the domain. `Domain::call` never helps drain the
//!    callback queue, nor waits for a grace period, from inside a read section, so a writer never
//!    waits for a grace period while it holds `lock`. (A thread that takes `lock` from inside its
//!    own read section, `peernet2id_alloc` during `for_each_net_rcu` for instance, would
//!    otherwise deadlock with it.)
//!
//! # Orderings
//!
//! - Publication: `RcuCell::replace` swaps the pointer with `AcqRel` and `RcuCell::read` loads it
//!   with `Acquire` (see `rcu::cell`), so a reader that sees a table sees it fully built. The
//!   first table goes out through `OnceLock::set`, whose completion `OnceLock::get` observes with
//!   acquire semantics before the cell's own `Acquire` load.
//! - Writers order among themselves through `lock` (a `std` mutex): each reads the table its
//!   predecessor published (invariant 1).
//! - `cleanup_net` cannot miss an id: by invariant 4 the writer publishes before it drops its
//!   reference to the peer with a `Release` decrement. The decrement that reaches zero belongs to
//!   the same release sequence and is followed by an `Acquire` fence (see [`crate::refcount`]);
//!   it is followed by the cleanup list's `Release` push and `Acquire` take (see
//!   [`crate::llist`]). So the publication happens before `cleanup_net` reads the survivor's
//!   table, which therefore loads that table or a later one, and later ones are built from it.
//! - A reader may still load a table that `unhash_nsid` has just replaced, with an entry for a
//!   namespace being dismantled. `get_net_ns_by_id` rejects it as it always did: `Weak::upgrade`
//!   then `maybe_get_net`, whose `Acquire` increment fails because the count reached zero before
//!   `cleanup_net` began. Such a reader is ordered before the replacement, as if it had run
//!   first.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, OnceLock, Weak};

use rcu::{Domain, RcuCell, ReadGuard};

use crate::net::{Net, NetNs};
use crate::sync;

/// The ids one namespace gave its peers, with the lock its writers take.
pub(crate) struct Nsids {
    /// `nsid_lock`: held by every writer (invariants 1 and 4); readers never take it.
    lock: Mutex<()>,
    /// `netns_ids`: the published table. Unset until the first id is given, so a namespace that
    /// never numbers a peer allocates nothing here.
    table: OnceLock<RcuCell<NsidTable>>,
}

/// One published version of a namespace's ids (immutable once published, invariant 2).
#[derive(Clone, Debug, Default)]
struct NsidTable {
    /// Id to peer, held weakly (invariant 3).
    peers: BTreeMap<i32, Weak<NetNs>>,
}

impl NsidTable {
    /// `__peernet2id`: a linear scan, like the kernel's `idr_for_each`.
    fn find(&self, peer: *const NetNs) -> Option<i32> {
        self.peers
            .iter()
            .find(|(_, weak)| weak.as_ptr() == peer)
            .map(|(id, _)| *id)
    }

    /// The lowest id not in use.
    fn lowest_free(&self) -> i32 {
        let mut id = 0;
        for used in self.peers.keys() {
            if *used != id {
                break;
            }
            id += 1;
        }
        id
    }
}

impl Nsids {
    /// An empty table. The cell that will publish it, and with it the registry's domain, comes
    /// with the first id, so that creating a namespace costs no reference to the domain.
    pub(crate) fn new() -> Self {
        Self {
            lock: Mutex::new(()),
            table: OnceLock::new(),
        }
    }

    /// The published table, if any, borrowed for `guard`'s read section.
    fn current<'g>(&self, guard: &'g ReadGuard<'_>) -> Option<&'g NsidTable> {
        Some(self.table.get()?.read(guard))
    }

    /// `peernet2id` (`__peernet2id` under `rcu_read_lock`): the id given to `peer`, if any.
    pub(crate) fn find(&self, peer: &NetNs) -> Option<i32> {
        let cell = self.table.get()?;
        let guard = cell.domain().read();
        cell.read(&guard).find(peer)
    }

    /// `idr_find` under RCU: the peer numbered `id`, still held weakly. The caller checks that it
    /// is alive.
    pub(crate) fn peer(&self, id: i32) -> Option<Weak<NetNs>> {
        let cell = self.table.get()?;
        let guard = cell.domain().read();
        cell.read(&guard).peers.get(&id).cloned()
    }

    /// Whether any id is given (a snapshot; see the module's "Orderings" for why `cleanup_net`
    /// can rely on it). `guard` must belong to the registry's domain.
    pub(crate) fn is_empty(&self, guard: &ReadGuard<'_>) -> bool {
        self.current(guard)
            .is_none_or(|table| table.peers.is_empty())
    }

    /// The writer half of `peernet2id_alloc`: the id of `peer`, allocating the lowest free one if
    /// it has none. `None` if `peer` is dying and has no id yet. `domain` is the registry's.
    pub(crate) fn alloc(&self, domain: &Domain, peer: &NetNs) -> Option<i32> {
        let lock = sync::lock_std(&self.lock);
        let guard = domain.read();
        let current = self.current(&guard);
        if let Some(id) = current.and_then(|table| table.find(peer)) {
            return Some(id);
        }
        // The peer may have been found through a list walk racing with its cleanup: hold a
        // reference until the new table is out, so that `cleanup_net`, which starts only after
        // the count reached zero, sees the id and removes it (invariant 4).
        let peer_ref = peer.maybe_get_net()?;
        let mut next = current.cloned().unwrap_or_default();
        let id = next.lowest_free();
        next.peers.insert(id, Net::downgrade_weak(&peer_ref));
        self.publish_locked(&lock, &guard, domain, next);
        drop(guard);
        drop(lock);
        // Dropped outside `nsid_lock` and the read section: this may be the last reference, and
        // in a registry whose handle is gone the last reference runs `cleanup_net` right here.
        drop(peer_ref);
        Some(id)
    }

    /// `unhash_nsid`, survivor side: forgets the ids given to the namespaces at the addresses in
    /// `dying`.
    pub(crate) fn remove_peers(&self, dying: &HashSet<usize>) {
        let lock = sync::lock_std(&self.lock);
        let Some(cell) = self.table.get() else {
            return;
        };
        let guard = cell.domain().read();
        let current = cell.read(&guard);
        let is_dying = |weak: &Weak<NetNs>| dying.contains(&(weak.as_ptr() as usize));
        if !current.peers.values().any(is_dying) {
            return;
        }
        let peers = current
            .peers
            .iter()
            .filter(|(_, weak)| !is_dying(weak))
            .map(|(id, weak)| (*id, weak.clone()))
            .collect();
        self.publish_locked(&lock, &guard, cell.domain(), NsidTable { peers });
    }

    /// `idr_destroy`: forgets every id.
    pub(crate) fn destroy(&self) {
        let lock = sync::lock_std(&self.lock);
        let Some(cell) = self.table.get() else {
            return;
        };
        let guard = cell.domain().read();
        if !self.is_empty(&guard) {
            self.publish_locked(&lock, &guard, cell.domain(), NsidTable::default());
        }
    }

    /// Publishes `next` in place of the current table, which is dropped after a grace period.
    /// The caller holds `nsid_lock` (invariant 1) and is inside a read section (invariant 5).
    fn publish_locked(
        &self,
        _lock: &MutexGuard<'_, ()>,
        _guard: &ReadGuard<'_>,
        domain: &Domain,
        next: NsidTable,
    ) {
        match self.table.get() {
            Some(cell) => cell.replace(next),
            None => {
                if self.table.set(RcuCell::new(domain, next)).is_err() {
                    unreachable!("only writers set the nsid table, under nsid_lock");
                }
            }
        }
    }
}
