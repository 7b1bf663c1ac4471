//! User namespaces, reduced to what network namespaces need: the `max_net_namespaces` ucount.
//!
//! The kernel (`kernel/ucount.c`) counts namespaces per (user namespace, uid) in a `struct
//! ucounts`, found in a hash table or created on demand by `alloc_ucounts`. Creating a network
//! namespace calls `inc_ucount(user_ns, current_euid(), UCOUNT_NET_NAMESPACES)`, which charges a
//! chain of ucounts:
//!
//! - level 0 is the ucounts of (the creator's user namespace, its euid), checked against that
//!   namespace's `max_net_namespaces`: the limit applies to each uid separately, not to the
//!   namespace as a whole;
//! - each next level is `ns->ucounts` of the namespace just charged: the ucounts of (its parent,
//!   its owner), the owner being the euid that created it, checked against the parent's limit. A
//!   namespace created by any uid inside a child user namespace is thus charged to the child's
//!   owner one level up;
//! - the walk ends after the initial user namespace, which has no parent.
//!
//! If a level is full the levels already charged are undone and the creation fails with
//! `ENOSPC`. This module keeps the same shape: [`UserNamespace`] owns a map from uid to its
//! `Ucounts` entries, a child namespace holds the entry of (parent, owner), and a
//! [`Cred`](crate::Cred) holds the level-0 entry of its (namespace, euid).
//!
//! # Invariants
//!
//! 1. Strong references point up the namespace tree only: a `Ucounts` holds its own namespace,
//!    and a namespace holds only the `Ucounts` of its parent level (`ns->ucounts`), which lives
//!    in the parent. Following strong references from any `Ucounts` or namespace thus climbs to
//!    the initial namespace and stops, so they form no cycle. The map of a namespace, the one
//!    reference that points down (from a namespace to its own entries), is weak: an entry dies
//!    with its last holder (a [`Cred`](crate::Cred), a child namespace or a charge), and a
//!    namespace with its last handle.
//! 2. A namespace's map holds at most one entry per uid, and at most one `Ucounts` per
//!    (namespace, uid) is alive (has a strong reference): `alloc_ucounts` creates one only under
//!    the map lock, after failing to upgrade the existing entry. A dead `Ucounts` removes its
//!    own entry when it is dropped, and only if the entry still names it.
//! 3. A `Ucounts` count is the number of charges ([`UcountCharge`]) whose walk passed it: those
//!    made at level 0 with its (namespace, uid), plus those coming up from child namespaces that
//!    its uid owns. An increment never takes it past the limit read at that moment; every
//!    decrement pairs with one successful increment, so it never underflows. A charge holds its
//!    level-0 `Ucounts`, and through (1) every level above, so a `Ucounts` with a non-zero count
//!    is alive.
//! 4. No `Ucounts` is dropped while its namespace's map lock is held (lookups return the
//!    upgraded entry and drop it only after unlocking), so its `Drop`, which takes that lock,
//!    cannot deadlock.
//!
//! # Orderings
//!
//! Each level's counter is an independent `Relaxed` compare-and-swap, and the limits are
//! `Relaxed` too: the counters only bound how many namespaces exist, they publish nothing. A
//! failed charge undoes the levels it already charged, so a racing creator may see a level
//! transiently full and fail with `ENOSPC`, which the kernel's `inc_ucount` allows as well. The
//! maps are behind a mutex, and the lifetime of an entry is ordered by its `Arc`.

use std::collections::HashMap;
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::{Kuid, NetError, sync};

/// A user namespace: the owner of network namespaces and the holder of their creation limit.
///
/// A cheap handle (clone = `get_user_ns`). Independent of any [`Registry`](crate::Registry): the
/// same user namespace may own namespaces of several registries, and its limit counts them all.
///
/// Its `max_net_namespaces` limit applies to each uid separately, as the kernel's ucounts do:
/// every uid may have that many network namespaces charged here. A creation with a
/// [`Cred`](crate::Cred) is charged to the cred's euid in the cred's user namespace, then to that
/// namespace's [`owner`](Self::owner) in its parent, then to the parent's owner in the
/// grandparent, and so on up to the initial namespace; it fails with `ENOSPC` if any of these
/// counts is at its namespace's limit.
///
/// ```
/// use netns_core::{Kuid, UserNamespace};
///
/// let root = UserNamespace::new_root(usize::MAX);
/// let child = UserNamespace::new_child(&root, Kuid(1000), 2);
/// assert_eq!(child.owner(), Kuid(1000));
/// assert_eq!(child.max_net_namespaces(), 2);
/// assert!(child.parent().unwrap().ptr_eq(&root));
/// assert_eq!(child.net_namespaces_of(Kuid(1000)), 0);
/// ```
#[derive(Clone)]
pub struct UserNamespace {
    inner: Arc<UserNsInner>,
}

struct UserNsInner {
    /// `ns->owner`: the euid that created this namespace; charged one level up.
    owner: Kuid,
    /// `ucount_max[UCOUNT_NET_NAMESPACES]` for this level, per uid; `usize::MAX` means unlimited.
    max: AtomicUsize,
    /// `ns->ucounts`: the entry of (parent, owner), through which charges made here continue up
    /// the chain; `None` for an initial namespace. It also holds the parent (invariant 1).
    ucounts: Option<Arc<Ucounts>>,
    /// This namespace's part of the kernel's `ucounts_hashtable`: its entries by uid, held
    /// weakly (invariants 1, 2).
    ucounts_map: Mutex<HashMap<Kuid, Weak<Ucounts>>>,
}

impl fmt::Debug for UserNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserNamespace")
            .field("owner", &self.owner())
            .field("net_namespaces", &self.net_namespaces())
            .field("max_net_namespaces", &self.max_net_namespaces())
            .field("has_parent", &self.inner.ucounts.is_some())
            .finish()
    }
}

impl UserNamespace {
    /// An initial user namespace (no parent, owned by [`Kuid::ROOT`]) allowing each uid
    /// `max_net_namespaces` network namespaces; `usize::MAX` means unlimited.
    pub fn new_root(max_net_namespaces: usize) -> Self {
        Self::with_parent_ucounts(Kuid::ROOT, None, max_net_namespaces)
    }

    /// A child of `parent` created by `owner` (the creator's euid), allowing each uid
    /// `max_net_namespaces` network namespaces. Network namespaces created in it, by any uid,
    /// are also charged to `owner` in `parent`, and so on up to the initial namespace.
    pub fn new_child(parent: &UserNamespace, owner: Kuid, max_net_namespaces: usize) -> Self {
        let ucounts = parent.alloc_ucounts(owner);
        Self::with_parent_ucounts(owner, Some(ucounts), max_net_namespaces)
    }

    fn with_parent_ucounts(owner: Kuid, ucounts: Option<Arc<Ucounts>>, max: usize) -> Self {
        Self {
            inner: Arc::new(UserNsInner {
                owner,
                max: AtomicUsize::new(max),
                ucounts,
                ucounts_map: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Changes this level's per-uid limit (the `user.max_net_namespaces` sysctl). Lowering it
    /// below a current count destroys nothing; it only makes new charges at this level fail.
    pub fn set_max_net_namespaces(&self, max: usize) {
        self.inner.max.store(max, Ordering::Relaxed);
    }

    /// This level's per-uid limit.
    pub fn max_net_namespaces(&self) -> usize {
        self.inner.max.load(Ordering::Relaxed)
    }

    /// Network namespaces currently charged to `uid` at this level: those `uid` created here,
    /// plus those created (by anyone) in child namespaces that `uid` owns, and so on down. This
    /// is the count that [`max_net_namespaces`](Self::max_net_namespaces) bounds. A namespace
    /// stays charged until the end of the cleanup batch that dismantled it.
    ///
    /// ```
    /// use netns_core::{CLONE_NEWNET, Cred, Kuid, Registry, UserNamespace};
    ///
    /// let registry = Registry::new();
    /// let child = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 5);
    /// let cred = Cred::new(&child, Kuid(1001));
    /// let net = registry.copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())?;
    /// assert_eq!(child.net_namespaces_of(Kuid(1001)), 1);
    /// // One level up, the charge belongs to the child's owner.
    /// assert_eq!(registry.init_user_ns().net_namespaces_of(Kuid(1000)), 1);
    /// assert_eq!(registry.init_user_ns().net_namespaces_of(Kuid(1001)), 0);
    /// # drop(net);
    /// # Ok::<(), netns_core::NetError>(())
    /// ```
    pub fn net_namespaces_of(&self, uid: Kuid) -> usize {
        // Dropped after the lookup released the map lock (invariant 4).
        self.lookup_ucounts(uid)
            .map_or(0, |ucounts| ucounts.net_namespaces())
    }

    /// Network namespaces currently charged at this level, summed over every uid (descendants'
    /// included, as [`net_namespaces_of`](Self::net_namespaces_of) counts them). A diagnostic:
    /// it takes the namespace's map lock and reads each uid's counter in turn, so under
    /// concurrent creations it is not a snapshot, and no limit applies to it.
    pub fn net_namespaces(&self) -> usize {
        let live: Vec<Arc<Ucounts>> = sync::lock_std(&self.inner.ucounts_map)
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        // `live` is dropped after the map lock was released (invariant 4).
        live.iter().map(|ucounts| ucounts.net_namespaces()).sum()
    }

    /// The euid that created this namespace (`ns->owner`); [`Kuid::ROOT`] for an initial one.
    pub fn owner(&self) -> Kuid {
        self.inner.owner
    }

    /// The parent user namespace, if any.
    pub fn parent(&self) -> Option<&UserNamespace> {
        self.inner
            .ucounts
            .as_deref()
            .map(|ucounts| &ucounts.user_ns)
    }

    /// Whether both handles name the same user namespace.
    pub fn ptr_eq(&self, other: &UserNamespace) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The uids that have a `Ucounts` entry in this namespace now, in ascending order: those of
    /// live credentials, of owners of live child namespaces, and of held charges.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn ucounts_uids(&self) -> Vec<Kuid> {
        let mut uids: Vec<Kuid> = sync::lock_std(&self.inner.ucounts_map)
            .keys()
            .copied()
            .collect();
        uids.sort_unstable();
        uids
    }

    /// `alloc_ucounts(ns, uid)`: the live entry of (this namespace, `uid`), created if there is
    /// none (invariant 2).
    pub(crate) fn alloc_ucounts(&self, uid: Kuid) -> Arc<Ucounts> {
        let mut map = sync::lock_std(&self.inner.ucounts_map);
        if let Some(ucounts) = map.get(&uid).and_then(Weak::upgrade) {
            return ucounts;
        }
        let ucounts = Arc::new(Ucounts {
            user_ns: self.clone(),
            uid,
            net_namespaces: AtomicUsize::new(0),
        });
        // Replaces a dead entry whose `Drop` has not run yet; that `Drop` will see that the
        // entry no longer names it and leave it.
        map.insert(uid, Arc::downgrade(&ucounts));
        ucounts
    }

    /// The live entry of (this namespace, `uid`), if any, without creating one.
    fn lookup_ucounts(&self, uid: Kuid) -> Option<Arc<Ucounts>> {
        sync::lock_std(&self.inner.ucounts_map)
            .get(&uid)
            .and_then(Weak::upgrade)
    }
}

/// `struct ucounts`, reduced to `UCOUNT_NET_NAMESPACES`: the namespaces charged to one uid in
/// one user namespace.
pub(crate) struct Ucounts {
    /// `ucounts->ns`, held strongly (invariant 1).
    user_ns: UserNamespace,
    /// `ucounts->uid`.
    uid: Kuid,
    /// `ucount[UCOUNT_NET_NAMESPACES]`: charges whose walk passed this entry (invariant 3).
    /// Changed only by [`inc_net_namespaces`](Self::inc_net_namespaces) (CAS, never past the
    /// namespace's limit) and by dropping a [`UcountCharge`] (decrement).
    net_namespaces: AtomicUsize,
}

impl fmt::Debug for Ucounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ucounts")
            .field("uid", &self.uid)
            .field("net_namespaces", &self.net_namespaces())
            .finish_non_exhaustive()
    }
}

impl Ucounts {
    /// The user namespace this entry counts in.
    pub(crate) fn user_ns(&self) -> &UserNamespace {
        &self.user_ns
    }

    /// The uid this entry counts for.
    pub(crate) fn uid(&self) -> Kuid {
        self.uid
    }

    fn net_namespaces(&self) -> usize {
        self.net_namespaces.load(Ordering::Relaxed)
    }

    /// The next level of the walk: `ucounts->ns->ucounts`, the entry of (parent, owner) of this
    /// entry's namespace; `None` at the initial namespace.
    fn next_level(&self) -> Option<&Ucounts> {
        self.user_ns.inner.ucounts.as_deref()
    }

    /// `inc_net_namespaces`, i.e. `inc_ucount(ns, uid, UCOUNT_NET_NAMESPACES)` starting at this
    /// entry: charges one namespace at every level up to the initial namespace, each against its
    /// namespace's limit. On `ENOSPC` at some level, the levels below it are uncharged.
    pub(crate) fn inc_net_namespaces(self: &Arc<Self>) -> Result<UcountCharge, NetError> {
        let mut level = Some(&**self);
        while let Some(iter) = level {
            let max = &iter.user_ns.inner.max;
            let charged =
                iter.net_namespaces
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        (n < max.load(Ordering::Relaxed)).then_some(n + 1)
                    });
            if charged.is_err() {
                // Undo the levels below `iter`; every entry of a chain is distinct, since each
                // level belongs to another namespace.
                let mut undo = &**self;
                while !ptr::eq(undo, iter) {
                    undo.net_namespaces.fetch_sub(1, Ordering::Relaxed);
                    undo = undo
                        .next_level()
                        .expect("the failed level lies above every charged one");
                }
                return Err(NetError::NoSpace);
            }
            level = iter.next_level();
        }
        Ok(UcountCharge {
            ucounts: Arc::clone(self),
        })
    }
}

impl Drop for Ucounts {
    fn drop(&mut self) {
        // `put_ucounts`: forget the entry unless a new one already replaced it (invariant 2).
        // The namespace handle is dropped after this, outside the lock.
        let mut map = sync::lock_std(&self.user_ns.inner.ucounts_map);
        // Only the addresses are compared; neither pointer is dereferenced.
        if map
            .get(&self.uid)
            .is_some_and(|entry| ptr::eq(entry.as_ptr(), self))
        {
            map.remove(&self.uid);
        }
    }
}

/// One namespace's charge on a ucounts chain (`net->ucounts`); dropping it is
/// `dec_net_namespaces`.
pub(crate) struct UcountCharge {
    /// The level-0 entry; the levels above it are reached through it (invariant 1).
    ucounts: Arc<Ucounts>,
}

impl fmt::Debug for UcountCharge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UcountCharge")
            .field("uid", &self.ucounts.uid)
            .finish_non_exhaustive()
    }
}

impl Drop for UcountCharge {
    fn drop(&mut self) {
        let mut level = Some(&*self.ucounts);
        while let Some(iter) = level {
            iter.net_namespaces.fetch_sub(1, Ordering::Relaxed);
            level = iter.next_level();
        }
        // `self.ucounts` goes after this body: if it was the last holder, the entry leaves its
        // namespace's map (`put_ucounts`), with no map lock held here (invariant 4).
    }
}

#[cfg(test)]
mod tests {
    use super::UserNamespace;
    use crate::{Kuid, NetError};

    #[test]
    fn charge_walks_the_owner_chain_and_undoes_on_failure() {
        let (owner, user) = (Kuid(1000), Kuid(2000));
        let root = UserNamespace::new_root(3);
        let child = UserNamespace::new_child(&root, owner, 1);
        let grandchild = UserNamespace::new_child(&child, owner, usize::MAX);
        let level0 = grandchild.alloc_ucounts(user);
        let a = level0.inc_net_namespaces().unwrap();
        let charged = |ns: &UserNamespace, uid| ns.net_namespaces_of(uid);
        assert_eq!(charged(&grandchild, user), 1);
        assert_eq!((charged(&child, owner), charged(&child, user)), (1, 0));
        assert_eq!((charged(&root, owner), charged(&root, user)), (1, 0));
        // The child is full for the owner: the grandchild's charge must be undone too.
        assert_eq!(level0.inc_net_namespaces().unwrap_err(), NetError::NoSpace);
        assert_eq!(charged(&grandchild, user), 1);
        assert_eq!(charged(&child, owner), 1);
        // Another uid in the child has its own count there, but shares the root's (owner) one.
        let other = child.alloc_ucounts(user).inc_net_namespaces().unwrap();
        assert_eq!((charged(&child, user), charged(&root, owner)), (1, 2));
        let at_root = root.alloc_ucounts(owner).inc_net_namespaces().unwrap();
        assert_eq!(
            root.alloc_ucounts(owner).inc_net_namespaces().unwrap_err(),
            NetError::NoSpace
        );
        let root_user = root.alloc_ucounts(user).inc_net_namespaces().unwrap();
        assert_eq!(root.net_namespaces(), 4);
        drop((a, other, at_root, root_user, level0));
        assert_eq!(
            (
                root.net_namespaces(),
                child.net_namespaces(),
                grandchild.net_namespaces()
            ),
            (0, 0, 0)
        );
    }
}
