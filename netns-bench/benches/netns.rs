//! `netns-core`: one create + destroy cycle with no ops registered, cleanup included, in both
//! lock modes (`netns_cycle/{shared,exclusive}`).
//!
//! Each sample creates and drops `iters` nets from one thread, then waits until the cleanup
//! worker has dismantled them all, so the time per iteration includes the worker's batches
//! (their grace periods and barriers amortised over the nets of each batch).

use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use netns_core::{CLONE_NEWNET, LockMode, Registry};

mod common;

fn netns_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("netns_cycle");
    for (name, mode) in [
        ("shared", LockMode::Shared),
        ("exclusive", LockMode::Exclusive),
    ] {
        let registry = Registry::builder().lock_mode(mode).name(name).build();
        let init_net = registry.init_net();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let net = registry
                        .copy_net_ns(CLONE_NEWNET, registry.init_cred(), &init_net)
                        .expect("copy_net_ns failed with no ops registered");
                    drop(net);
                }
                registry.wait_cleanup_idle();
                start.elapsed()
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = netns_cycle
}
criterion_main!(benches);
