//! The worker threads of `pernet_ops`: they run the registry operations that may wait.

use std::sync::Arc;

use netns_core::model::{Payload, RecordingOps};
use netns_core::{CLONE_NEWNET, Net, NetError, NetGenericId, Registry};

use crate::harness::Port;

/// A command for a worker thread.
#[derive(Debug)]
pub(super) enum Cmd {
    Copy,
    Register(Arc<RecordingOps>),
    /// The ops, and whether to call the other kind's function.
    Unregister(Arc<RecordingOps>, bool),
    Cleanup,
    Barrier,
}

/// A worker's reply.
#[derive(Debug)]
pub(super) enum Reply {
    Copy(Result<Net, NetError>),
    Register(Result<NetGenericId<Payload>, NetError>),
    Unregister(Result<(), NetError>, bool),
    Cleanup(usize),
    Barrier,
}

/// A worker thread's loop.
pub(super) fn serve(registry: &Registry, port: &Port<Cmd, Reply>) {
    let init_net = registry.init_net();
    while let Some(cmd) = port.recv() {
        let reply = match cmd {
            Cmd::Copy => {
                Reply::Copy(registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &init_net))
            }
            Cmd::Register(ops) => Reply::Register(if ops.spec.device {
                registry.register_pernet_device(&ops)
            } else {
                registry.register_pernet_subsys(&ops)
            }),
            Cmd::Unregister(ops, wrong_kind) => {
                let result = if ops.spec.device != wrong_kind {
                    registry.unregister_pernet_device(&ops)
                } else {
                    registry.unregister_pernet_subsys(&ops)
                };
                Reply::Unregister(result, wrong_kind)
            }
            Cmd::Cleanup => Reply::Cleanup(registry.cleanup_net()),
            Cmd::Barrier => {
                registry.net_ns_barrier();
                Reply::Barrier
            }
        };
        port.reply(reply);
    }
}
