//! The `rcu` crate against crossbeam-epoch and (feature `liburcu`) liburcu-memb.
//!
//! Groups: `rcu_read` (one read-side section), `rcu_synchronize` (no readers),
//! `rcu_synchronize_busy_reader` (one thread looping short sections), `rcu_call_barrier`
//! (10,000 deferred drops then one barrier, reported as elements per second).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "liburcu")]
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;

/// Deferred drops per `rcu_call_barrier` iteration.
const CALLS: u64 = 10_000;

fn rcu_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_read");
    let domain = rcu::Domain::new();
    g.bench_function("rcu", |b| b.iter(|| drop(black_box(domain.read()))));
    g.bench_function("crossbeam-epoch", |b| {
        b.iter(|| drop(black_box(crossbeam_epoch::pin())))
    });
    #[cfg(feature = "liburcu")]
    {
        let urcu = netns_bench::liburcu::Registered::new();
        g.bench_function("liburcu", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                urcu.read_loop(iters);
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn rcu_synchronize(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_synchronize");
    let domain = rcu::Domain::new();
    // One section first, so the domain has a reader record and each grace period pays its
    // membarriers, as liburcu's does with its registered thread; a domain nobody has read
    // skips them.
    drop(domain.read());
    g.bench_function("rcu", |b| b.iter(|| domain.synchronize()));
    #[cfg(feature = "liburcu")]
    {
        let urcu = netns_bench::liburcu::Registered::new();
        g.bench_function("liburcu", |b| b.iter(|| urcu.synchronize()));
    }
    g.finish();
}

fn rcu_synchronize_busy_reader(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_synchronize_busy_reader");
    let domain = rcu::Domain::new();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (domain, stop) = (domain.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let guard = domain.read();
                black_box(&guard);
                drop(guard);
            }
        })
    };
    g.bench_function("rcu", |b| b.iter(|| domain.synchronize()));
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the reader thread panicked");
    g.finish();
}

fn rcu_call_barrier(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_call_barrier");
    g.throughput(Throughput::Elements(CALLS));
    g.sample_size(20);
    let domain = rcu::Domain::new();
    g.bench_function("rcu", |b| {
        b.iter(|| {
            for i in 0..CALLS {
                domain.defer_drop(Box::new(i));
            }
            domain.barrier();
        })
    });
    #[cfg(feature = "liburcu")]
    {
        let urcu = netns_bench::liburcu::Registered::new();
        g.bench_function("liburcu", |b| {
            b.iter(|| {
                urcu.call_many(CALLS);
                urcu.barrier();
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = rcu_read, rcu_synchronize, rcu_synchronize_busy_reader, rcu_call_barrier
}
criterion_main!(benches);
