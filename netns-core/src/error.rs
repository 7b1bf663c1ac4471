//! The error type: the kernel's errno meanings as an enum.

use std::fmt;

/// Why a registry operation failed.
///
/// Each variant carries the meaning of the kernel's errno for the same situation;
/// [`errno`](NetError::errno) gives the (positive) number. Pernet `init` callbacks return this
/// type too: a subsystem reports its own failure with [`NetError::Errno`] or any other variant.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetError {
    /// `ENOSPC`: a user namespace on the creator's ancestor chain reached `max_net_namespaces`.
    NoSpace,
    /// `EINTR`: the thread was killed (see `rwsem::KillHandle`) while it waited for
    /// `pernet_ops_rwsem` or for the cleanup backlog to shrink.
    Interrupted,
    /// `ENOMEM`: the private-data id space is exhausted.
    NoMemory,
    /// `EINVAL`: bad argument, such as a namespace of another registry, or unregistering a subsys
    /// with `unregister_pernet_device` (or the reverse).
    Invalid,
    /// `EEXIST`: these pernet operations are already registered with this registry.
    AlreadyRegistered,
    /// `ENOENT`: these pernet operations are not registered with this registry.
    NotRegistered,
    /// `EDEADLK`: called from inside a pernet callback (or a `for_each_net` walk) of the same
    /// registry, where the kernel would deadlock on `pernet_ops_rwsem` (or `net_rwsem`).
    Deadlock,
    /// `EAGAIN`: a `try_*` call would have had to wait.
    WouldBlock,
    /// `EAGAIN`: the cleanup backlog is at its configured bound and the registry was built with
    /// [`BacklogPolicy::Fail`](crate::BacklogPolicy::Fail) (or runs in manual cleanup mode, where
    /// nobody else would drain it).
    BacklogFull,
    /// `ECANCELED`: a pernet `init` callback panicked; it is treated as a failed init.
    CallbackPanicked,
    /// A subsystem's own error number (positive, as `errno`).
    Errno(i32),
}

/// Linux errno values used by [`NetError::errno`].
mod errno {
    pub const EINTR: i32 = 4;
    pub const ENOENT: i32 = 2;
    pub const EAGAIN: i32 = 11;
    pub const ENOMEM: i32 = 12;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ENOSPC: i32 = 28;
    pub const EDEADLK: i32 = 35;
    pub const ECANCELED: i32 = 125;
}

impl NetError {
    /// The kernel errno for this error, as a positive number (`EINTR` is 4, and so on).
    pub fn errno(&self) -> i32 {
        match self {
            NetError::NoSpace => errno::ENOSPC,
            NetError::Interrupted => errno::EINTR,
            NetError::NoMemory => errno::ENOMEM,
            NetError::Invalid => errno::EINVAL,
            NetError::AlreadyRegistered => errno::EEXIST,
            NetError::NotRegistered => errno::ENOENT,
            NetError::Deadlock => errno::EDEADLK,
            NetError::WouldBlock | NetError::BacklogFull => errno::EAGAIN,
            NetError::CallbackPanicked => errno::ECANCELED,
            NetError::Errno(n) => n.saturating_abs(),
        }
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            NetError::NoSpace => "max_net_namespaces reached (ENOSPC)",
            NetError::Interrupted => "killed while waiting (EINTR)",
            NetError::NoMemory => "out of private-data ids (ENOMEM)",
            NetError::Invalid => "invalid argument (EINVAL)",
            NetError::AlreadyRegistered => "pernet operations already registered (EEXIST)",
            NetError::NotRegistered => "pernet operations not registered (ENOENT)",
            NetError::Deadlock => "called from inside a pernet callback (EDEADLK)",
            NetError::WouldBlock => "operation would block (EAGAIN)",
            NetError::BacklogFull => "cleanup backlog at its bound (EAGAIN)",
            NetError::CallbackPanicked => "a pernet init callback panicked (ECANCELED)",
            NetError::Errno(n) => {
                return write!(f, "subsystem error (errno {})", n.saturating_abs());
            }
        };
        f.write_str(text)
    }
}

impl std::error::Error for NetError {}

#[cfg(test)]
mod tests {
    use super::NetError;

    #[test]
    fn errno_numbers_match_linux() {
        assert_eq!(NetError::NoSpace.errno(), 28);
        assert_eq!(NetError::Interrupted.errno(), 4);
        assert_eq!(NetError::Invalid.errno(), 22);
        assert_eq!(NetError::Errno(-12).errno(), 12);
        assert_eq!(NetError::Errno(95).errno(), 95);
        assert!(NetError::Deadlock.to_string().contains("EDEADLK"));
    }
}
