//! Pinning threads to CPUs, for measurements whose threads must sit on distinct cores.

/// Pins the calling thread to CPU `cpu` modulo the CPUs available, so that the threads of a
/// contended measurement sit on distinct cores from run to run instead of wherever the
/// scheduler happens to put them (which moved two-thread figures by half from one run to the
/// next). Does nothing where affinity cannot be set.
///
/// ```
/// netns_bench::affinity::pin_to_cpu(0);
/// ```
pub fn pin_to_cpu(cpu: usize) {
    #[cfg(target_os = "linux")]
    {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: `set` is a plain bit set owned by this frame; `CPU_SET` indexes it within
        // `CPU_SETSIZE`, and `sched_setaffinity` only reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu % cpus, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cpu;
}
