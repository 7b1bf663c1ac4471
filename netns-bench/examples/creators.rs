//! Namespace creation throughput from one and from two threads, no pernet operations
//! registered (`cargo run --release -p netns-bench --example creators [NETS_PER_THREAD]`).
//!
//! Each creator releases every net as it makes the next, so the cleanup worker dismantles in
//! parallel, as in the seed experiment; the clock stops when the creators do (the drain that
//! follows is printed apart). One and two threads alternate over five rounds, and the median
//! of each is compared, since one round on a shared machine says little.
//!
//! Nets are not kept alive to time creation alone: a million live nets are fresh memory, and
//! the kernel's page-fault path, not the registry, would be measured.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use netns_core::{CLONE_NEWNET, Registry};

/// The seed binary's allocator (see "The allocator" in the crate docs): with glibc's, the
/// worker's frees of the creators' namespaces contend on the creators' arena locks, which
/// measures the C library rather than the registry.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds per thread count.
const ROUNDS: usize = 5;

/// Runs `threads` creators of `per_thread` nets each; returns the creators' elapsed time and
/// the drain's.
fn run(threads: usize, per_thread: usize) -> (Duration, Duration) {
    let registry = Arc::new(Registry::new());
    let start = Arc::new(Barrier::new(threads + 1));
    let creators: Vec<_> = (0..threads)
        .map(|_| {
            let (registry, start) = (Arc::clone(&registry), Arc::clone(&start));
            std::thread::spawn(move || {
                let cred = registry.init_cred().clone();
                let mut current = registry.init_net();
                start.wait();
                for _ in 0..per_thread {
                    current = registry
                        .copy_net_ns(CLONE_NEWNET, &cred, &current)
                        .expect("copy_net_ns failed");
                }
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    for creator in creators {
        creator.join().expect("a creator panicked");
    }
    let created = began.elapsed();
    let drain = Instant::now();
    registry.wait_cleanup_idle();
    (created, drain.elapsed())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let per_thread: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("NETS_PER_THREAD must be a number"))
        .unwrap_or(500_000);
    // Warm the allocator and the code paths up.
    run(1, per_thread / 10);
    let mut rates = [Vec::new(), Vec::new()];
    for round in 1..=ROUNDS {
        for threads in [1, 2] {
            let (created, drain) = run(threads, per_thread);
            let rate = (threads * per_thread) as f64 / created.as_secs_f64();
            rates[threads - 1].push(rate);
            println!(
                "round {round}, {threads} thread(s): {:>5.2} M nets/s ({created:.2?}, then drain {drain:.2?})",
                rate / 1e6
            );
        }
    }
    let (one, two) = (median(rates[0].clone()), median(rates[1].clone()));
    println!(
        "median: one thread {:.2} M nets/s, two threads {:.2} M nets/s: {:.2}x",
        one / 1e6,
        two / 1e6,
        two / one
    );
}
