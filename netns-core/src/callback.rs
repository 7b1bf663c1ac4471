//! Running pernet callbacks: panic containment and the "inside a callback" context.
//!
//! Callbacks run with `pernet_ops_rwsem` held. If one of them registered or unregistered pernet
//! operations, created a namespace or waited for cleanup of the same registry, the kernel would
//! deadlock; this port keeps a per-thread stack of the registries whose callbacks are running and
//! refuses those calls with [`NetError::Deadlock`](crate::NetError::Deadlock) (or a clear panic
//! where the kernel's signature has no error) instead. The closure of
//! [`Registry::for_each_net`](crate::Registry::for_each_net), which runs with `net_rwsem` held,
//! counts as such a context too.
//!
//! A panicking callback is caught (`catch_unwind`) so the registry stays usable: the step it
//! belonged to is completed for every other ops and namespace, the panic is counted, and a hook
//! configured with [`RegistryBuilder::on_callback_panic`](crate::RegistryBuilder::on_callback_panic)
//! hears about it.

use std::any::Any;
use std::cell::RefCell;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::registry::Shared;
use crate::stats::bump;

thread_local! {
    /// Ids of the registries whose callbacks this thread is running, innermost last.
    static IN_CALLBACK: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Whether this thread is inside a pernet callback of registry `registry`.
pub(crate) fn in_callback(registry: u64) -> bool {
    IN_CALLBACK.with(|stack| stack.borrow().contains(&registry))
}

/// Marks this thread as inside a callback (or a locked list walk) of a registry until dropped,
/// also on unwind.
pub(crate) struct Scope;

impl Scope {
    /// Enters the context of registry `registry`.
    pub(crate) fn enter(registry: u64) -> Scope {
        IN_CALLBACK.with(|stack| stack.borrow_mut().push(registry));
        Scope
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|stack| stack.borrow_mut().pop());
    }
}

/// Which callback panicked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackPhase {
    /// `init` (the namespace's creation or the registration fails with `CallbackPanicked`).
    Init,
    /// `pre_exit`.
    PreExit,
    /// `exit`.
    Exit,
    /// `exit_batch`.
    ExitBatch,
}

/// A panic caught in a pernet callback, as reported to the registry's panic hook.
#[derive(Clone, Debug)]
pub struct CallbackPanic {
    /// The ops' [`name`](crate::PernetOperations::name).
    pub ops: String,
    /// The callback that panicked.
    pub phase: CallbackPhase,
    /// The panic message, when it was a string.
    pub message: String,
}

impl fmt::Display for CallbackPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pernet ops {} panicked in {:?}: {}",
            self.ops, self.phase, self.message
        )
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// Runs one callback of `ops` for registry `shared` with the context set and panics contained.
/// Returns `None` if it panicked (after counting and reporting it).
pub(crate) fn call_guarded<R>(
    shared: &Shared,
    ops: &str,
    phase: CallbackPhase,
    callback: impl FnOnce() -> R,
) -> Option<R> {
    let scope = Scope::enter(shared.id);
    let result = catch_unwind(AssertUnwindSafe(callback));
    drop(scope);
    match result {
        Ok(value) => Some(value),
        Err(payload) => {
            bump(&shared.counters.callback_panics);
            if let Some(hook) = &shared.panic_hook {
                let report = CallbackPanic {
                    ops: ops.to_owned(),
                    phase,
                    message: panic_message(payload.as_ref()),
                };
                // A panicking hook must not take the registry down with it either.
                let _ignored = catch_unwind(AssertUnwindSafe(|| hook(&report)));
            }
            None
        }
    }
}
