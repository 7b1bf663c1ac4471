//! Credentials (`struct cred`), reduced to what `copy_net_ns` reads: the user namespace and the
//! effective uid of the creating task.

use std::fmt;
use std::sync::Arc;

use crate::UserNamespace;
use crate::user_ns::Ucounts;

/// A user id as the kernel holds it internally (`kuid_t`).
///
/// This port has no uid maps: a `Kuid` is taken as it is, in every user namespace. It names the
/// uid whose `max_net_namespaces` count a creation is charged to (see [`Cred`]) and the owner of
/// a user namespace ([`UserNamespace::owner`]).
///
/// ```
/// use netns_core::Kuid;
///
/// assert_eq!(Kuid::ROOT, Kuid(0));
/// assert_eq!(Kuid(1000).to_string(), "1000");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kuid(pub u32);

impl Kuid {
    /// `GLOBAL_ROOT_UID`: uid 0, the owner of every initial user namespace and the euid of a
    /// registry's [`init_cred`](crate::Registry::init_cred).
    pub const ROOT: Kuid = Kuid(0);
}

impl fmt::Display for Kuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The credentials of a creating task (`struct cred`, reduced): a user namespace and an
/// effective uid.
///
/// [`Registry::copy_net_ns`](crate::Registry::copy_net_ns) makes the new network namespace owned
/// by [`user_ns`](Self::user_ns) and charges it to [`euid`](Self::euid) in that user namespace,
/// then to each ancestor namespace's owner up the chain, as the kernel's `inc_net_namespaces`
/// does with `current_euid()`.
///
/// The kernel finds the (user namespace, euid) ucounts entry in a hash table on every creation.
/// A `Cred` finds (or creates) it once, when it is made, and keeps it: creations through it take
/// no lock. What can be observed is the same: the entry only names the counter of that pair, and
/// any lookup of the pair while the `Cred` lives would return this very entry. The one
/// difference is that the entry stays in its namespace (with a count of zero once every charge
/// is released) for as long as a `Cred` naming it lives.
///
/// Cloning is one reference-count increment. A `Cred` depends on no registry: it may be used
/// with several and may outlive them and the namespaces it created.
///
/// ```
/// use netns_core::{CLONE_NEWNET, Cred, Kuid, NetError, Registry, UserNamespace};
///
/// let registry = Registry::new();
/// let container = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 1);
/// let alice = Cred::new(&container, Kuid(1001));
/// let bob = Cred::new(&container, Kuid(1002));
/// let init_net = registry.init_net();
///
/// // The limit of 1 applies to each uid of the container separately.
/// let a = registry.copy_net_ns(CLONE_NEWNET, &alice, &init_net)?;
/// let b = registry.copy_net_ns(CLONE_NEWNET, &bob, &init_net)?;
/// assert!(a.user_ns().ptr_eq(&container));
/// let again = registry.copy_net_ns(CLONE_NEWNET, &alice, &init_net);
/// assert_eq!(again.unwrap_err(), NetError::NoSpace);
/// // Both are charged to the container's owner in the initial user namespace.
/// assert_eq!(registry.init_user_ns().net_namespaces_of(Kuid(1000)), 2);
/// # drop((a, b));
/// # Ok::<(), NetError>(())
/// ```
#[derive(Clone)]
pub struct Cred {
    /// The level-0 entry of (user namespace, euid), which also holds the user namespace.
    ucounts: Arc<Ucounts>,
}

impl fmt::Debug for Cred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cred")
            .field("euid", &self.euid())
            .field("user_ns_owner", &self.user_ns().owner())
            .finish_non_exhaustive()
    }
}

impl Cred {
    /// Credentials with effective uid `euid` in `user_ns`. Takes `user_ns`'s map lock once to
    /// find or create the (user namespace, euid) ucounts entry (`alloc_ucounts`).
    pub fn new(user_ns: &UserNamespace, euid: Kuid) -> Cred {
        Cred {
            ucounts: user_ns.alloc_ucounts(euid),
        }
    }

    /// The user namespace (`cred->user_ns`): the owner of the network namespaces created with
    /// these credentials.
    pub fn user_ns(&self) -> &UserNamespace {
        self.ucounts.user_ns()
    }

    /// The effective uid (`cred->euid`): the uid charged in [`user_ns`](Self::user_ns).
    pub fn euid(&self) -> Kuid {
        self.ucounts.uid()
    }

    /// The level-0 ucounts entry that creations start their charge at.
    pub(crate) fn ucounts(&self) -> &Arc<Ucounts> {
        &self.ucounts
    }
}
