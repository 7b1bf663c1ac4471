//! The `rwsem` crate against `std::sync::RwLock` and `parking_lot::RwLock`.
//!
//! Groups: `rwsem_read` and `rwsem_write` (uncontended lock + unlock), `rwsem_read_mostly` (two
//! threads, one operation in a hundred a write, reported as operations per second),
//! `rwsem_write_under_readers` (one write lock + unlock while another thread takes read
//! sections back to back: the writer's wait behind a reader flood).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use netns_bench::locks::CounterLock;

mod common;

/// One operation in `WRITE_EVERY` is a write in `rwsem_read_mostly` (1% writes).
const WRITE_EVERY: u64 = 100;

fn read_uncontended<L: CounterLock>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::new();
    g.bench_function(name, |b| {
        b.iter(|| black_box(black_box(&lock).read_value()))
    });
}

fn write_uncontended<L: CounterLock>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::new();
    g.bench_function(name, |b| b.iter(|| black_box(&lock).write_add(1)));
}

/// Two threads share `iters` operations; the time runs from their common start to the later
/// finish. Each thread is pinned to its own CPU: left to the scheduler, the two sometimes share
/// a core, where the lock word never bounces between caches, and the figures moved by half
/// from one run to the next.
fn read_mostly<L: CounterLock>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::new();
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            common::split_over_threads(2, iters, |t, i| {
                // The threads' writes fall at different offsets in their sequence.
                if i % WRITE_EVERY == t * WRITE_EVERY / 2 {
                    lock.write_add(1);
                } else {
                    black_box(lock.read_value());
                }
            })
        })
    });
}

/// Reader threads flooding the lock while the bench thread writes.
const FLOOD_READERS: usize = 1;

/// One write lock + unlock while [`FLOOD_READERS`] threads take back-to-back read sections of
/// a few hundred nanoseconds each: how long a writer waits behind a continuous reader flood.
fn write_under_flood<L: CounterLock>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let lock = L::new();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..FLOOD_READERS {
            let (lock, stop) = (&lock, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let v = lock.read_value();
                    // A section that keeps the lock read-held most of the time.
                    for i in 0..64 {
                        black_box(v + i);
                    }
                }
            });
        }
        g.bench_function(name, |b| b.iter(|| lock.write_add(1)));
        stop.store(true, Ordering::Relaxed);
    });
}

fn rwsem_read(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwsem_read");
    read_uncontended::<rwsem::RwSem<u64>>(&mut g, "rwsem");
    read_uncontended::<std::sync::RwLock<u64>>(&mut g, "std");
    read_uncontended::<parking_lot::RwLock<u64>>(&mut g, "parking_lot");
    g.finish();
}

fn rwsem_write(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwsem_write");
    write_uncontended::<rwsem::RwSem<u64>>(&mut g, "rwsem");
    write_uncontended::<std::sync::RwLock<u64>>(&mut g, "std");
    write_uncontended::<parking_lot::RwLock<u64>>(&mut g, "parking_lot");
    g.finish();
}

fn rwsem_read_mostly(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwsem_read_mostly");
    g.throughput(Throughput::Elements(1));
    // Each sample starts two threads; a longer target keeps that cost in the noise.
    g.measurement_time(Duration::from_secs(3));
    read_mostly::<rwsem::RwSem<u64>>(&mut g, "rwsem");
    read_mostly::<std::sync::RwLock<u64>>(&mut g, "std");
    read_mostly::<parking_lot::RwLock<u64>>(&mut g, "parking_lot");
    g.finish();
}

fn rwsem_write_under_readers(c: &mut Criterion) {
    let mut g = c.benchmark_group("rwsem_write_under_readers");
    write_under_flood::<rwsem::RwSem<u64>>(&mut g, "rwsem");
    write_under_flood::<std::sync::RwLock<u64>>(&mut g, "std");
    write_under_flood::<parking_lot::RwLock<u64>>(&mut g, "parking_lot");
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = rwsem_read, rwsem_write, rwsem_read_mostly, rwsem_write_under_readers
}
criterion_main!(benches);
