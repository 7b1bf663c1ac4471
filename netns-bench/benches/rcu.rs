//! The `rcu` crate against crossbeam-epoch and (feature `liburcu`) liburcu-memb.
//!
//! Groups: `rcu_read` (one read-side section), `rcu_synchronize` (no readers),
//! `rcu_synchronize_busy_reader` (one thread looping short sections), `rcu_call_barrier`
//! (10,000 deferred drops then one barrier, reported as elements per second),
//! `rcu_read_mostly` (99.9% reads of a shared value, 0.1% replacements, on one and on two threads:
//! how the read side scales).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
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

/// One update in `UPDATE_EVERY` operations of `rcu_read_mostly` (0.1%). At 1% the updates
/// dominate for both crates: every replacement moves the cell's cache line to the updating
/// core and queues a free, and neither scales from one thread to two (measured 1.03x for
/// `rcu`, 1.09x for crossbeam-epoch).
const UPDATE_EVERY: u64 = 1000;

/// A read-mostly workload on one and on two threads: 99.9% of operations read a shared value
/// in a read section, 0.1% replace it and free the old one after a grace period. The two-thread
/// figure over the one-thread figure is how well the read side scales across cores.
fn rcu_read_mostly(c: &mut Criterion) {
    let mut g = c.benchmark_group("rcu_read_mostly");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    let domain = rcu::Domain::new();
    let cell = rcu::RcuCell::new(&domain, 0u64);
    let epoch_value = crossbeam_epoch::Atomic::new(0u64);
    for threads in [1u64, 2] {
        g.bench_function(format!("rcu/{threads}"), |b| {
            b.iter_custom(|iters| {
                common::split_over_threads(threads, iters, |t, i| {
                    if i % UPDATE_EVERY == t * UPDATE_EVERY / 2 {
                        cell.replace(i);
                    } else {
                        let guard = domain.read();
                        black_box(*cell.read(&guard));
                    }
                })
            })
        });
        g.bench_function(format!("crossbeam-epoch/{threads}"), |b| {
            b.iter_custom(|iters| {
                common::split_over_threads(threads, iters, |t, i| {
                    let guard = crossbeam_epoch::pin();
                    if i % UPDATE_EVERY == t * UPDATE_EVERY / 2 {
                        let old = epoch_value.swap(
                            crossbeam_epoch::Owned::new(i),
                            Ordering::AcqRel,
                            &guard,
                        );
                        // SAFETY: `old` was unlinked by the swap above; only pinned readers can
                        // still hold it, and the destructor waits for them.
                        unsafe { guard.defer_destroy(old) };
                    } else {
                        let value = epoch_value.load(Ordering::Acquire, &guard);
                        // SAFETY: the value is reachable while the guard pins the epoch; it is
                        // never null (a value is always installed).
                        black_box(unsafe { value.deref() });
                    }
                })
            })
        });
    }
    g.finish();
    // SAFETY: every thread that used the value has been joined.
    drop(unsafe { epoch_value.into_owned() });
    drop(cell);
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = rcu_read, rcu_synchronize, rcu_synchronize_busy_reader, rcu_call_barrier,
        rcu_read_mostly
}
criterion_main!(benches);
