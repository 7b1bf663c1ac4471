//! Settings shared by the bench targets: short, so a full `cargo bench -p netns-bench` finishes
//! in a few minutes on two cores.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Criterion with a 1 s warm-up and 2 s of measurement per function.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

/// Runs `iters` operations split over `threads` threads, thread `t` pinned to CPU `t` and
/// calling `op(t, i)` for its share of `i`; the time runs from the threads' common start to the
/// last one's finish.
#[allow(dead_code)] // Not every bench target runs threads.
pub fn split_over_threads(threads: u64, iters: u64, op: impl Fn(u64, u64) + Sync) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    let per_thread = iters.div_ceil(threads);
    let mut began = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (op, start) = (&op, &start);
            s.spawn(move || {
                netns_bench::affinity::pin_to_cpu(t as usize);
                start.wait();
                for i in 0..per_thread {
                    op(t, i);
                }
            });
        }
        start.wait();
        began = Instant::now();
    });
    began.elapsed()
}
