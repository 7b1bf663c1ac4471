//! The process-wide heavy barrier: `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`.
//!
//! Readers run with compiler-only barriers; the grace-period side issues one membarrier, which
//! makes every running thread of this process execute a full memory barrier before the call
//! returns. That promotes each reader's compiler barrier to a full fence exactly when a grace
//! period needs it (the pairing liburcu's "memb" flavour uses). The process registers its intent
//! once (`MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`); if the kernel refuses (old kernel, seccomp,
//! another OS), every domain falls back to real `fence(SeqCst)` on both sides. The choice is made
//! once per domain when the domain is built and never changes afterwards, because a reader and
//! the grace period must agree on the pairing.
//!
//! Loom cannot model membarrier, so loom builds always use the fence fallback.

#[cfg(not(loom))]
use std::sync::OnceLock;

/// `MEMBARRIER_CMD_QUERY` from `<linux/membarrier.h>`.
#[cfg(all(target_os = "linux", not(loom)))]
const CMD_QUERY: libc::c_int = 0;
/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` from `<linux/membarrier.h>`.
#[cfg(all(target_os = "linux", not(loom)))]
const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED` from `<linux/membarrier.h>`.
#[cfg(all(target_os = "linux", not(loom)))]
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Whether this process registered for private expedited membarrier (decided once).
#[cfg(not(loom))]
static AVAILABLE: OnceLock<bool> = OnceLock::new();

#[cfg(all(target_os = "linux", not(loom)))]
fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier takes two integer arguments (command, flags; cpu_id is ignored without
    // MEMBARRIER_CMD_FLAG_CPU) and touches no user memory.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_int,
            0 as libc::c_int,
        )
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
fn register() -> bool {
    let supported = membarrier(CMD_QUERY);
    if supported < 0 || supported & libc::c_long::from(CMD_PRIVATE_EXPEDITED) == 0 {
        return false;
    }
    if membarrier(CMD_REGISTER_PRIVATE_EXPEDITED) != 0 {
        return false;
    }
    // One trial run proves that the command is really allowed (a seccomp filter may refuse it).
    membarrier(CMD_PRIVATE_EXPEDITED) == 0
}

// TODO(#3): other systems have equivalents (FlushProcessWriteBuffers on Windows, an
// mprotect-based IPI on the BSDs and macOS); until they are wired in, those systems always use
// the fence fallback, which is correct but costs a fence per read lock and two per unlock.
#[cfg(not(all(target_os = "linux", not(loom))))]
fn register() -> bool {
    false
}

/// Returns whether membarrier is usable, registering the process on the first call.
pub(crate) fn available() -> bool {
    #[cfg(not(loom))]
    {
        *AVAILABLE.get_or_init(register)
    }
    #[cfg(loom)]
    {
        let _ = register;
        false
    }
}

/// Issues the process-wide barrier. Only called when [`available`] returned true.
#[inline]
pub(crate) fn heavy() {
    #[cfg(all(target_os = "linux", not(loom)))]
    {
        let rc = membarrier(CMD_PRIVATE_EXPEDITED);
        // The command was accepted at registration and the kernel never withdraws it; a failure
        // here would silently void every reader's ordering, so it is fatal.
        assert!(
            rc == 0,
            "rcu: membarrier(PRIVATE_EXPEDITED) failed after registration"
        );
    }
    #[cfg(not(all(target_os = "linux", not(loom))))]
    unreachable!("rcu: membarrier used where it is not available");
}
