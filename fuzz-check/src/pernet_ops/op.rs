//! The operations of a `pernet_ops` schedule and their two-byte encoding.

use crate::schedule::{OpCodec, pick};

/// One step's operation. Indices pick among the live handles or known namespaces, modulo
/// their number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Register a new ops in `slot` (or the slot's ops again: `AlreadyRegistered`).
    Register {
        /// The ops slot (0 to 3).
        slot: u8,
        /// `register_pernet_device` rather than `_subsys`.
        device: bool,
        /// Its `init` fails on this call (1 to 7), or never (0).
        fail_nth: u8,
        /// The failing `init` panics.
        panic: bool,
    },
    /// Unregister the slot's ops (with the wrong kind: `Invalid`; again: `NotRegistered`).
    Unregister {
        /// The ops slot.
        slot: u8,
        /// Use the other kind's function.
        wrong_kind: bool,
    },
    /// `copy_net_ns(CLONE_NEWNET, ..)`.
    Copy,
    /// Raise the thread's kill flag.
    Kill,
    /// Lower it.
    ClearKill,
    /// `get_net` on a handle.
    Clone(u8),
    /// `put_net` of a handle.
    Drop(u8),
    /// `maybe_get_net` on any namespace ever created (through a passive reference).
    MaybeGet(u8),
    /// `peernet2id_alloc(handle, namespace)`: low nibble the handle, high the peer.
    IdAlloc(u8),
    /// `get_net_ns_by_id(handle, id)`: low nibble the handle, high the id.
    ById(u8),
    /// `net_generic` of the slot's ops (low 2 bits) on a handle (the rest).
    Generic(u8),
    /// One `cleanup_net` batch.
    Cleanup,
    /// `net_ns_barrier`.
    Barrier,
    /// Close the gate of a slot's callbacks of one phase: low 2 bits the slot, then the phase
    /// (`init`, `pre_exit`, `exit`).
    Gate(u8),
    /// Open every gate.
    Open,
}

impl OpCodec for Op {
    fn decode(opcode: u8, arg: u8) -> Self {
        match pick(opcode, 15) {
            0 => Op::Register {
                slot: arg & 3,
                device: arg & 4 != 0,
                fail_nth: (arg >> 3) & 7,
                panic: arg & 0x40 != 0,
            },
            1 => Op::Unregister {
                slot: arg & 3,
                wrong_kind: arg & 4 != 0,
            },
            2 => Op::Copy,
            3 => Op::Kill,
            4 => Op::ClearKill,
            5 => Op::Clone(arg),
            6 => Op::Drop(arg),
            7 => Op::MaybeGet(arg),
            8 => Op::IdAlloc(arg),
            9 => Op::ById(arg),
            10 => Op::Generic(arg),
            11 => Op::Cleanup,
            12 => Op::Barrier,
            13 => Op::Gate(arg % 12),
            _ => Op::Open,
        }
    }

    fn encode(&self) -> (u8, u8) {
        match *self {
            Op::Register {
                slot,
                device,
                fail_nth,
                panic,
            } => (
                0,
                slot | u8::from(device) << 2 | fail_nth << 3 | u8::from(panic) << 6,
            ),
            Op::Unregister { slot, wrong_kind } => (1, slot | u8::from(wrong_kind) << 2),
            Op::Copy => (2, 0),
            Op::Kill => (3, 0),
            Op::ClearKill => (4, 0),
            Op::Clone(k) => (5, k),
            Op::Drop(k) => (6, k),
            Op::MaybeGet(k) => (7, k),
            Op::IdAlloc(k) => (8, k),
            Op::ById(k) => (9, k),
            Op::Generic(k) => (10, k),
            Op::Cleanup => (11, 0),
            Op::Barrier => (12, 0),
            Op::Gate(k) => (13, k),
            Op::Open => (14, 0),
        }
    }
}

impl Op {
    /// Whether the operation can let a waiting one continue: a lock release, an opened gate, a
    /// kill, or a namespace released (which a running cleanup may pick up). Reference, nsid and
    /// private-data operations on the driver and closing a gate cannot.
    pub fn may_release_waiters(&self) -> bool {
        !matches!(
            self,
            Op::Clone(_)
                | Op::MaybeGet(_)
                | Op::IdAlloc(_)
                | Op::ById(_)
                | Op::Generic(_)
                | Op::Gate(_)
        )
    }
}
