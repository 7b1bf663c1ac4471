//! Reproduces the net_mutex -> `pernet_ops_rwsem` experiments of the Linux 4.15 series on the
//! `netns-core` registry, times the real kernel doing the same, and benchmarks `rcu`, `rwsem`
//! and `netns-core` against their peers.
//!
//! # When to use it
//!
//! Run the binary to see what turning a mutex into a reader-writer semaphore did for namespace
//! creation, with both designs measured in one process (`cargo run --release -p netns-bench`),
//! and run the benches (`cargo bench -p netns-bench`) to compare the crates with crossbeam-epoch,
//! liburcu, `std` and parking_lot. The library half exists for the binary and its tests: it is
//! not meant as a dependency, and its API may change with every experiment.
//!
//! # Example
//!
//! The figures the binary prints are per-thread CPU times set against wall-clock time, the
//! `%CPU` of `time(1)`:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use netns_bench::cputime::thread_cpu_time;
//! use netns_bench::table::{Table, clock};
//!
//! let start = Instant::now();
//! let before = thread_cpu_time()?;
//! let mut x = 0u64;
//! while start.elapsed() < Duration::from_millis(20) {
//!     x = std::hint::black_box(x + 1);
//! }
//! let cpu = thread_cpu_time()? - before;
//! let mut t = Table::new(["run", "elapsed", "CPU"]);
//! t.row(["spin".to_string(), clock(start.elapsed()), format!("{:.0}%", cpu.share_of(start.elapsed()))]);
//! assert!(t.render().starts_with("run"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The experiments
//!
//! - **`seed`** (the default): N sequential `copy_net_ns(CLONE_NEWNET)` calls from one thread
//!   (100000, as in the patch's C program), each replacing the thread's net so that the previous
//!   one is released and dismantled by the cleanup worker meanwhile; once with the registry in
//!   `Exclusive` mode (creation and cleanup take `pernet_ops_rwsem` for write: the pre-4.16
//!   `net_mutex`) and once in `Shared` mode (both take it for read), in one process. It prints
//!   elapsed time, the creating thread's user and system time and CPU share, the speedup, and
//!   the cleanup batches, batch sizes, grace periods and peak backlog.
//! - **`cycle`**: the series' second experiment, `unshare -n bash -c exit` 10000 times. Each
//!   iteration starts a thread standing for the process; it does half the modelled work of a
//!   process start, creates a net, does the other half and exits, which releases the net. The
//!   loop waits for the thread (the shell waits for its child) but not for the net's cleanup,
//!   exactly as in the kernel experiment, where the next `unshare` may find the previous net
//!   still being dismantled.
//! - **`kernel`**: the seed's loop of real `unshare(CLONE_NEWNET)` calls in a child process,
//!   printed in the same columns.
//!
//! `--json` prints one object instead of tables; `--plot FILE.svg` draws the cleanup backlog
//! over time per mode (with `--backlog-bound N`, also for `Shared` mode with the bound).
//!
//! # How the model's parameters are chosen
//!
//! The model must put as much work and waiting around each creation as the kernel does, in the
//! same proportions, and run 100000 iterations in both modes within two minutes on two cores.
//!
//! - **Work per net.** [`workload::KERNEL_OPS`] has the shape of a 6.x kernel's pernet
//!   operations (40 subsys and 6 device operations, with private data, `pre_exit` and
//!   `exit_batch` where the kernel's have them); each `init` builds the per-net tables the real
//!   subsystem builds (sysctl trees, hash tables, per-CPU control sockets, devices under
//!   `rtnl`), sized like the kernel's, and publishes a handle to them through `rcu`. Teardown
//!   unpublishes the handle and frees the tables in `exit`, after the batch's grace period, as
//!   the kernel's exit methods do (under the lock in `Exclusive` mode, as under `net_mutex`).
//!   Nothing in it sleeps or spins to pad time: the costs are what this work costs. One
//!   creation takes 0.05 to 0.2 ms here depending on load, 4 to 8 times less than the kernel's
//!   0.4 to 0.7 ms, which is what lets 100000 iterations per mode fit the two minutes (the
//!   default run takes about 25 s); teardown costs about half of creation.
//! - **The time scale.** Every duration the model adds is the kernel's, measured on this machine
//!   at start-up ([`kernel::KernelCalibration`]), scaled by the model's creation time over the
//!   kernel's `unshare` time, so ratios are kept: the grace period is set to (kernel grace
//!   period / kernel `unshare`) model creations, the `cycle` process to (kernel `bash -c exit`
//!   / kernel `unshare`) model creations. Where the kernel cannot be measured (no permission,
//!   not Linux) the reference machine's figures are used and the output says so.
//! - **Grace periods.** Reader threads hold RCU read sections continuously, sleeping inside them
//!   (as SRCU allows), so a grace period waits for the sections in progress, like the kernel's
//!   waits for every CPU to pass a quiescent state. Their section length is adjusted at
//!   start-up until one `synchronize_expedited` on the registry's domain takes the target
//!   grace period; both are printed.
//!
//! - **The allocator.** The binary allocates through mimalloc, whose per-thread heaps and
//!   lock-free remote frees behave like the kernel's per-CPU slab caches: the cleanup worker
//!   freeing what the creating thread allocated costs each side its own work and no shared lock.
//!   Under glibc's malloc every such free takes the creating thread's arena lock, so the two
//!   threads serialise on it in `Shared` mode; the worker then falls behind, the backlog grows
//!   to tens of thousands of nets, and the creating thread spends its time faulting in fresh
//!   pages (measured here: `Shared` 0.46x as fast as `Exclusive`, 27 s of its 42 s CPU in the
//!   kernel, peak backlog 73641). That contention is the C library's, not the kernel's, so the
//!   model leaves it out.
//!
//! None of these parameters depends on the lock mode, and none is chosen from the speedup it
//! produces: the speedup is whatever the registry's two lock designs make of the same work.
//!
//! # Costs
//!
//! The default `seed` run takes about 25 s on two idle cores, calibration included; the backlog
//! reaches one to two thousand nets of about 100 KB each in `Shared` mode. `cycle` starts one
//! thread per iteration. `kernel` creates N real network namespaces.
//!
//! # Limitations
//!
//! - On a machine with two cores, the creating thread and the cleanup worker need both; any other
//!   load lowers the creating thread's CPU share and the speedup, exactly as it would for the
//!   kernel. Compare modes from the same run.
//! - RTNL is modelled as one mutex around device registration, not as the kernel's full
//!   `rtnl_lock` usage.
//! - The kernel figures are medians of short runs on a machine that may be busy: the grace
//!   period measured here ranges from 9 to 15 ms and one `unshare` from 0.4 to 0.7 ms
//!   depending on load, so the grace period is 13 to 30 creations long from run to run. Use
//!   `--reference-kernel` for the reference machine's fixed figures (0.7 ms and 9 ms).
//!
//! # Features
//!
//! - `liburcu` (off by default): adds a `liburcu` function to the `rcu_read`, `rcu_synchronize`
//!   and `rcu_call_barrier` bench groups, measuring liburcu-memb through a small C shim built
//!   with `cc`, so liburcu's inline read side stays inline. Needs liburcu's headers and
//!   libraries (Debian: `apt-get install liburcu-dev`):
//!   `cargo bench -p netns-bench --features liburcu`.
//!
//! # Minimum Rust version
//!
//! 1.85 (edition 2024), like the rest of the workspace.

pub mod affinity;
pub mod cli;
pub mod cputime;
pub mod experiment;
pub mod kernel;
#[cfg(feature = "liburcu")]
pub mod liburcu;
pub mod locks;
pub mod plot;
pub mod progress;
pub mod report;
pub mod table;
pub mod workload;
