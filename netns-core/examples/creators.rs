//! Namespace creation throughput from one and from two threads, no pernet operations
//! registered (`cargo run --release -p netns-core --example creators [NETS_PER_THREAD]`).
//!
//! Two figures per thread count: creation alone (every net is kept until the clock stops, so
//! the cleanup worker has nothing to do meanwhile), and create + release (each net is released
//! as the next is made, so the worker dismantles in parallel; the clock stops when the
//! creators do, and the drain that follows is timed separately).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use netns_core::{CLONE_NEWNET, Net, Registry};

/// Runs `threads` creators of `per_thread` nets each; returns the creators' elapsed time and
/// the drain's.
fn run(threads: usize, per_thread: usize, keep: bool) -> (Duration, Duration) {
    let registry = Arc::new(Registry::new());
    let start = Arc::new(Barrier::new(threads + 1));
    let creators: Vec<_> = (0..threads)
        .map(|_| {
            let (registry, start) = (Arc::clone(&registry), Arc::clone(&start));
            std::thread::spawn(move || {
                let user_ns = registry.init_user_ns().clone();
                let mut current = registry.init_net();
                let mut kept: Vec<Net> = Vec::with_capacity(if keep { per_thread } else { 0 });
                start.wait();
                for _ in 0..per_thread {
                    let net = registry
                        .copy_net_ns(CLONE_NEWNET, &user_ns, &current)
                        .expect("copy_net_ns failed");
                    let old = std::mem::replace(&mut current, net);
                    if keep {
                        kept.push(old);
                    }
                }
                (kept, current)
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let results: Vec<_> = creators
        .into_iter()
        .map(|c| c.join().expect("a creator panicked"))
        .collect();
    let created = began.elapsed();
    let drain = Instant::now();
    drop(results);
    registry.wait_cleanup_idle();
    (created, drain.elapsed())
}

fn main() {
    let per_thread: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("NETS_PER_THREAD must be a number"))
        .unwrap_or(200_000);
    // Warm the allocator and the code paths up.
    run(1, per_thread / 10, false);
    for keep in [true, false] {
        let what = if keep {
            "creation alone"
        } else {
            "create + release"
        };
        let mut rates = Vec::new();
        for threads in [1, 2] {
            let (created, drain) = run(threads, per_thread, keep);
            let rate = (threads * per_thread) as f64 / created.as_secs_f64();
            rates.push(rate);
            println!(
                "{what:16}  {threads} thread(s): {:>6.2} M nets/s ({:.2?} + drain {:.2?})",
                rate / 1e6,
                created,
                drain
            );
        }
        println!("{what:16}  two threads / one: {:.2}x", rates[1] / rates[0]);
    }
}
