//! User namespaces, reduced to what network namespaces need: the `max_net_namespaces` ucount.
//!
//! The kernel charges `UCOUNT_NET_NAMESPACES` per (user namespace, euid) with `inc_ucount`, which
//! walks from the creator's user namespace up to the initial one and fails with `ENOSPC` if any
//! level is at its `max_net_namespaces`. This port keeps one counter per user namespace (one euid)
//! and the same walk up the ancestor chain.
//!
//! # Orderings
//!
//! Each level's counter is an independent `Relaxed` compare-and-swap: the counters only bound
//! how many namespaces exist, they publish nothing. A failed charge undoes the levels it already
//! charged, so a racing creator may see a level transiently full and fail with `ENOSPC`, which
//! the kernel's `inc_ucount` allows as well.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::NetError;

/// A user namespace: the owner of network namespaces and the holder of their creation limit.
///
/// A cheap handle (clone = `get_user_ns`). Independent of any [`Registry`](crate::Registry): the
/// same user namespace may own namespaces of several registries, and its limit counts them all.
///
/// ```
/// use netns_core::UserNamespace;
///
/// let root = UserNamespace::new_root(usize::MAX);
/// let child = UserNamespace::new_child(&root, 2);
/// assert_eq!(child.max_net_namespaces(), 2);
/// assert!(child.parent().is_some());
/// ```
#[derive(Clone)]
pub struct UserNamespace {
    inner: Arc<UserNsInner>,
}

struct UserNsInner {
    parent: Option<UserNamespace>,
    /// `ucount_max[UCOUNT_NET_NAMESPACES]` for this level; `usize::MAX` means unlimited.
    max: AtomicUsize,
    /// Network namespaces charged at this level (including those created in descendant user
    /// namespaces). Changed only by `inc_net_namespaces` (CAS, never past `max`) and by dropping a
    /// [`UcountCharge`] (decrement); never underflows because every decrement pairs with one
    /// successful increment.
    count: AtomicUsize,
}

impl fmt::Debug for UserNamespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserNamespace")
            .field("net_namespaces", &self.net_namespaces())
            .field("max_net_namespaces", &self.max_net_namespaces())
            .field("has_parent", &self.inner.parent.is_some())
            .finish()
    }
}

impl UserNamespace {
    /// An initial user namespace (no parent) allowing `max_net_namespaces` network namespaces;
    /// `usize::MAX` means unlimited.
    pub fn new_root(max_net_namespaces: usize) -> Self {
        Self::with_parent(None, max_net_namespaces)
    }

    /// A child of `parent` with its own limit; creations in it also count against every ancestor.
    pub fn new_child(parent: &UserNamespace, max_net_namespaces: usize) -> Self {
        Self::with_parent(Some(parent.clone()), max_net_namespaces)
    }

    fn with_parent(parent: Option<UserNamespace>, max: usize) -> Self {
        Self {
            inner: Arc::new(UserNsInner {
                parent,
                max: AtomicUsize::new(max),
                count: AtomicUsize::new(0),
            }),
        }
    }

    /// Changes this level's limit (the `user.max_net_namespaces` sysctl). Lowering it below the
    /// current count destroys nothing; it only makes new creations fail.
    pub fn set_max_net_namespaces(&self, max: usize) {
        self.inner.max.store(max, Ordering::Relaxed);
    }

    /// This level's limit.
    pub fn max_net_namespaces(&self) -> usize {
        self.inner.max.load(Ordering::Relaxed)
    }

    /// Network namespaces currently charged at this level, descendants' included. A namespace
    /// stays charged until the end of the cleanup batch that dismantled it.
    pub fn net_namespaces(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The parent user namespace, if any.
    pub fn parent(&self) -> Option<&UserNamespace> {
        self.inner.parent.as_ref()
    }

    /// Whether both handles name the same user namespace.
    pub fn ptr_eq(&self, other: &UserNamespace) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// `inc_net_namespaces`: charges one namespace at this level and every ancestor.
    ///
    /// TODO(#5): one counter per user namespace; the kernel keeps one per (user namespace, euid).
    pub(crate) fn inc_net_namespaces(&self) -> Result<UcountCharge, NetError> {
        let mut level = Some(self);
        while let Some(ns) = level {
            let charged = ns
                .inner
                .count
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < ns.inner.max.load(Ordering::Relaxed)).then_some(n + 1)
                });
            if charged.is_err() {
                // Undo the levels below `ns` that were charged.
                let mut undo = Some(self);
                while let Some(u) = undo {
                    if Arc::ptr_eq(&u.inner, &ns.inner) {
                        break;
                    }
                    u.inner.count.fetch_sub(1, Ordering::Relaxed);
                    undo = u.parent();
                }
                return Err(NetError::NoSpace);
            }
            level = ns.parent();
        }
        Ok(UcountCharge {
            user_ns: self.clone(),
        })
    }
}

/// One namespace's charge on a user namespace chain; dropping it is `dec_net_namespaces`.
pub(crate) struct UcountCharge {
    user_ns: UserNamespace,
}

impl fmt::Debug for UcountCharge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UcountCharge").finish_non_exhaustive()
    }
}

impl Drop for UcountCharge {
    fn drop(&mut self) {
        let mut level = Some(&self.user_ns);
        while let Some(ns) = level {
            ns.inner.count.fetch_sub(1, Ordering::Relaxed);
            level = ns.parent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserNamespace;
    use crate::NetError;

    #[test]
    fn charge_walks_the_ancestor_chain_and_undoes_on_failure() {
        let root = UserNamespace::new_root(3);
        let child = UserNamespace::new_child(&root, 1);
        let grandchild = UserNamespace::new_child(&child, usize::MAX);
        let a = grandchild.inc_net_namespaces().unwrap();
        assert_eq!(
            (grandchild.net_namespaces(), child.net_namespaces()),
            (1, 1)
        );
        assert_eq!(root.net_namespaces(), 1);
        // The child is full: the grandchild's charge must be undone too.
        assert_eq!(
            grandchild.inc_net_namespaces().unwrap_err(),
            NetError::NoSpace
        );
        assert_eq!(
            (grandchild.net_namespaces(), child.net_namespaces()),
            (1, 1)
        );
        let b = root.inc_net_namespaces().unwrap();
        let c = root.inc_net_namespaces().unwrap();
        assert_eq!(root.inc_net_namespaces().unwrap_err(), NetError::NoSpace);
        drop((a, b, c));
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
