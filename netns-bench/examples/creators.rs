//! Namespace creation from one and from two threads:
//! `cargo run --release -p netns-bench --example creators [-- --ops none|work|kernel]
//! [--nets N]`.
//!
//! Two measurements, each alternating one and two creating threads over [`ROUNDS`] rounds and
//! comparing the medians (one round on a shared machine says little):
//!
//! - **creation**: each creator makes `N` namespaces and keeps them, in [`LockMode::Shared`]
//!   and in [`LockMode::Exclusive`]; the clock stops when the creators do, and the namespaces
//!   are released and dismantled afterwards, off the clock. This is the question the switch from
//!   `net_mutex` to `pernet_ops_rwsem` answered: do creations run in parallel? The creators are
//!   long-lived threads pinned to distinct CPUs, and the allocator is told never to hand memory
//!   back to the system, so after the first (discarded) round a round reuses memory the previous
//!   one freed rather than timing the kernel's page-fault path.
//! - **create + release**: each creator releases every namespace as it makes the next, so the
//!   cleanup worker dismantles alongside, as in the seed experiment ([`LockMode::Shared`] only).
//!   On a machine with two CPUs the worker competes with the creators for them.
//!
//! `--ops kernel` registers the bench's kernel-like pernet operations
//! ([`netns_bench::workload`]), whose `init` does what the kernel's subsystems do per namespace
//! (tens of microseconds), including their shared state: the `rtnl` mutex, global tables, and
//! the memory bandwidth of filling about 100 KiB per namespace. `--ops work` registers
//! [`WORK_OPS`] operations whose `init` only computes on a small table of its own per namespace
//! (about 19 us in all, nothing shared), so what it measures is how much the registry itself
//! serialises creations. `--ops none` (the default) registers nothing, so a creation is a
//! hundred nanoseconds or so of the registry's own work and its shared state.

use std::process::ExitCode;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netns_bench::workload::Workload;
use netns_core::{CLONE_NEWNET, LockMode, Net, NetError, NetNs, PernetOperations, Registry};

/// The seed binary's allocator (see "The allocator" in the crate docs): with glibc's, the
/// worker's frees of the creators' namespaces contend on the creators' arena locks, which
/// measures the C library rather than the registry.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds per configuration, after one discarded warm-up round.
const ROUNDS: usize = 7;

/// mimalloc reads its options from the environment when the process starts; `-1` turns off
/// returning freed memory to the system (see the module docs).
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ops {
    None,
    Work,
    Kernel,
}

/// Operations registered by `--ops work`.
const WORK_OPS: usize = 4;
/// Words of each `work` operation's per-namespace table (4 KiB: it stays in the core's L1).
const WORK_WORDS: usize = 512;
/// Passes each `work` operation's `init` makes over its table: about 4.6 us per operation
/// (18.5-19.5 us a creation with the four) on the 2-core development machine.
const WORK_PASSES: usize = 5;

/// A pernet operation whose `init` does a fixed amount of arithmetic on a table of its own
/// (`--ops work`): work that needs no shared state, so two creators can only be slowed down by
/// the registry and the machine.
struct WorkOps;

impl PernetOperations for WorkOps {
    type Data = std::sync::Mutex<Vec<u64>>;

    fn init(&self, net: &NetNs, data: &Self::Data) -> Result<(), NetError> {
        let mut table = vec![0u64; WORK_WORDS];
        // xorshift64: every step depends on the last, so the compiler cannot skip any.
        let mut x = net.cookie() | 1;
        for _ in 0..WORK_PASSES {
            for word in &mut table {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *word = word.wrapping_add(x);
            }
        }
        *data.lock().unwrap_or_else(|e| e.into_inner()) = table;
        Ok(())
    }
}

struct Args {
    ops: Ops,
    nets: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut ops = Ops::None;
    let mut nets = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--ops" => {
                ops = match value()?.as_str() {
                    "none" => Ops::None,
                    "work" => Ops::Work,
                    "kernel" => Ops::Kernel,
                    other => {
                        return Err(format!(
                            "--ops: expected none, work or kernel, got {other:?}"
                        ));
                    }
                }
            }
            "--nets" => {
                let v = value()?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--nets: not a number: {v:?}"))?;
                if n == 0 {
                    return Err("--nets must be at least 1".into());
                }
                nets = Some(n);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let default_nets = match ops {
        Ops::None => 200_000,
        Ops::Work => 10_000,
        Ops::Kernel => 3_000,
    };
    Ok(Args {
        ops,
        nets: nets.unwrap_or(default_nets),
    })
}

/// What a creator thread is asked to do in one round.
#[derive(Clone, Copy)]
enum Task {
    /// Make `n` namespaces and keep them until the round ends.
    Create(usize),
    /// Make `n` namespaces, releasing each as the next is made.
    CreateRelease(usize),
}

/// One round's orders for a creator: the task, the registry, and a barrier the creators and
/// the driver pass at the start, at the end of the timed part, and once the namespaces are gone.
struct Round {
    task: Task,
    registry: Arc<Registry>,
    barrier: Arc<Barrier>,
}

/// A long-lived creator thread pinned to one CPU, so that its allocator heap (and the memory
/// the previous round freed into it) is reused from round to round.
struct Creator {
    orders: Sender<Round>,
    thread: JoinHandle<()>,
}

impl Creator {
    fn spawn(cpu: usize) -> Creator {
        let (orders, inbox) = channel();
        let thread = std::thread::Builder::new()
            .name(format!("creator-{cpu}"))
            .spawn(move || creator_loop(cpu, &inbox))
            .expect("failed to spawn a creator thread");
        Creator { orders, thread }
    }
}

fn creator_loop(cpu: usize, inbox: &Receiver<Round>) {
    netns_bench::affinity::pin_to_cpu(cpu);
    let mut kept: Vec<Net> = Vec::new();
    while let Ok(round) = inbox.recv() {
        let registry = &round.registry;
        let cred = registry.init_cred().clone();
        let init_net = registry.init_net();
        round.barrier.wait();
        match round.task {
            Task::Create(n) => {
                kept.reserve(n);
                for _ in 0..n {
                    kept.push(
                        registry
                            .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
                            .expect("copy_net_ns failed"),
                    );
                }
            }
            Task::CreateRelease(n) => {
                let mut current = init_net.clone();
                for _ in 0..n {
                    current = registry
                        .copy_net_ns(CLONE_NEWNET, &cred, &current)
                        .expect("copy_net_ns failed");
                }
            }
        }
        round.barrier.wait();
        kept.clear();
        drop(init_net);
        round.barrier.wait();
    }
}

/// Runs one round on the first `threads` creators; returns namespaces created per second.
fn round(creators: &[Creator], threads: usize, task: Task, lock: LockMode, ops: Ops) -> f64 {
    let registry = Arc::new(Registry::builder().lock_mode(lock).build());
    let workload = (ops == Ops::Kernel)
        .then(|| Workload::register(&registry).expect("registering the kernel-like operations"));
    let work_ops: Vec<Arc<WorkOps>> = match ops {
        Ops::Work => (0..WORK_OPS).map(|_| Arc::new(WorkOps)).collect(),
        _ => Vec::new(),
    };
    for op in &work_ops {
        registry
            .register_pernet_subsys(op)
            .expect("registering a work operation");
    }
    let barrier = Arc::new(Barrier::new(threads + 1));
    for creator in &creators[..threads] {
        let round = Round {
            task,
            registry: Arc::clone(&registry),
            barrier: Arc::clone(&barrier),
        };
        creator.orders.send(round).expect("a creator thread died");
    }
    barrier.wait();
    let began = Instant::now();
    barrier.wait();
    let elapsed = began.elapsed();
    barrier.wait();
    registry.wait_cleanup_idle();
    if let Some(workload) = workload {
        workload
            .unregister(&registry)
            .expect("unregistering the kernel-like operations");
    }
    for op in &work_ops {
        registry
            .unregister_pernet_subsys(op)
            .expect("unregistering a work operation");
    }
    let per_thread = match task {
        Task::Create(n) | Task::CreateRelease(n) => n,
    };
    (threads * per_thread) as f64 / elapsed.as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternates one and two creators for [`ROUNDS`] rounds and prints both medians and their
/// ratio.
fn compare(creators: &[Creator], label: &str, task: Task, lock: LockMode, ops: Ops) {
    round(creators, 2, task, lock, ops);
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for threads in [1, 2] {
            rates[threads - 1].push(round(creators, threads, task, lock, ops));
        }
    }
    let [one, two] = rates.map(median);
    let unit = |rate: f64| Duration::from_secs_f64(1.0 / rate);
    println!(
        "{label:<28} one thread {:>9.0} nets/s ({:>8.2?} each), two {:>9.0} nets/s: {:.2}x",
        one,
        unit(one),
        two,
        two / one
    );
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("creators: {message}");
            eprintln!("usage: creators [--ops none|work|kernel] [--nets NETS_PER_THREAD]");
            return ExitCode::from(2);
        }
    };
    if std::env::var_os(PURGE_DELAY_VAR).is_none() {
        // Start again with the allocator option set (it is read only at start-up).
        let exe = std::env::current_exe().expect("cannot find this executable");
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(PURGE_DELAY_VAR, "-1")
            .status()
            .expect("cannot re-run this executable");
        return ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1));
    }
    let ops_name = match args.ops {
        Ops::None => "no pernet operations",
        Ops::Work => "pernet operations doing private work",
        Ops::Kernel => "kernel-like pernet operations",
    };
    println!(
        "{ops_name}, {} nets per thread, median of {ROUNDS} rounds",
        args.nets
    );
    let creators = [Creator::spawn(0), Creator::spawn(1)];
    let create = Task::Create(args.nets);
    compare(
        &creators,
        "creation, Shared",
        create,
        LockMode::Shared,
        args.ops,
    );
    compare(
        &creators,
        "creation, Exclusive",
        create,
        LockMode::Exclusive,
        args.ops,
    );
    let cycle = Task::CreateRelease(args.nets);
    compare(
        &creators,
        "create + release, Shared",
        cycle,
        LockMode::Shared,
        args.ops,
    );
    for creator in creators {
        drop(creator.orders);
        creator.thread.join().expect("a creator thread panicked");
    }
    ExitCode::SUCCESS
}
