//! liburcu-memb, the C userspace RCU library, as a bench peer (feature `liburcu`).
//!
//! A small C shim (`csrc/urcu_shim.c`, built by `build.rs`) runs liburcu's inline read side in
//! a loop, so one call measures many sections without a function call per section.

use std::ffi::c_int;

unsafe extern "C" {
    fn netns_bench_urcu_register_thread();
    fn netns_bench_urcu_unregister_thread();
    fn netns_bench_urcu_read_loop(n: u64);
    fn netns_bench_urcu_synchronize();
    fn netns_bench_urcu_call_many(n: u64) -> c_int;
    fn netns_bench_urcu_barrier();
}

/// A registration of the calling thread with liburcu-memb; unregisters on drop.
///
/// liburcu requires a thread to be registered before it reads, queues callbacks or waits for a
/// barrier. The type is `!Send`: it must be dropped on the thread that registered.
#[derive(Debug)]
pub struct Registered {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Registered {
    /// Registers the calling thread.
    pub fn new() -> Registered {
        // SAFETY: registering has no precondition; a second registration of the same thread is
        // prevented by each `Registered` being unregistered on the same thread when dropped.
        unsafe { netns_bench_urcu_register_thread() };
        Registered {
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `n` empty read-side sections.
    pub fn read_loop(&self, n: u64) {
        // SAFETY: the calling thread is registered (`self` lives on it).
        unsafe { netns_bench_urcu_read_loop(n) }
    }

    /// Waits for a grace period (`synchronize_rcu`).
    pub fn synchronize(&self) {
        // SAFETY: registered thread, and no read section is open (the shim's sections are closed
        // before each call returns).
        unsafe { netns_bench_urcu_synchronize() }
    }

    /// Queues `n` deferred frees of small heap objects (`call_rcu`).
    ///
    /// # Panics
    ///
    /// If the C allocator fails.
    pub fn call_many(&self, n: u64) {
        // SAFETY: registered thread; each callback frees the object it was queued with.
        let rc = unsafe { netns_bench_urcu_call_many(n) };
        assert_eq!(rc, 0, "malloc failed in the liburcu shim");
    }

    /// Waits until every callback queued before has run (`rcu_barrier`).
    pub fn barrier(&self) {
        // SAFETY: registered thread outside any read section.
        unsafe { netns_bench_urcu_barrier() }
    }
}

impl Default for Registered {
    fn default() -> Registered {
        Registered::new()
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // SAFETY: this thread registered in `new` (the type is !Send) and has no open section.
        unsafe { netns_bench_urcu_unregister_thread() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_reads_waits_and_runs_callbacks() {
        let urcu = Registered::new();
        urcu.read_loop(1000);
        urcu.synchronize();
        urcu.call_many(100);
        urcu.barrier();
    }
}
