//! Private-data ids and `net_generic`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::{Log, Rec, manual_registry, new_net};
use netns_core::{NetError, NetNs, PernetOperations, Registry};

#[derive(Default)]
struct Value(AtomicU64);

/// Ops whose data records the namespace's cookie plus a tag.
struct Tagged(u64);

impl PernetOperations for Tagged {
    type Data = Value;
    fn init(&self, net: &NetNs, data: &Value) -> Result<(), NetError> {
        data.0
            .store(net.cookie() * 1000 + self.0, Ordering::Relaxed);
        Ok(())
    }
}

/// Ops without private data.
struct NoData;

impl PernetOperations for NoData {
    type Data = ();
}

#[test]
fn ids_start_at_the_lowest_free_and_are_reused() {
    let registry = Registry::new();
    let (a, b, c) = (
        Arc::new(Tagged(1)),
        Arc::new(Tagged(2)),
        Arc::new(Tagged(3)),
    );
    let ids = [
        registry.register_pernet_subsys(&a).unwrap().id(),
        registry.register_pernet_subsys(&b).unwrap().id(),
        registry.register_pernet_device(&c).unwrap().id(),
    ];
    assert_eq!(ids, [Some(0), Some(1), Some(2)]);
    assert_eq!(
        registry
            .register_pernet_subsys(&Arc::new(NoData))
            .unwrap()
            .id(),
        None
    );
    registry.unregister_pernet_subsys(&b).unwrap();
    registry.unregister_pernet_subsys(&a).unwrap();
    let d = Arc::new(Tagged(4));
    assert_eq!(registry.register_pernet_device(&d).unwrap().id(), Some(0));
    let e = Arc::new(Tagged(5));
    assert_eq!(registry.register_pernet_subsys(&e).unwrap().id(), Some(1));
    let f = Arc::new(Tagged(6));
    assert_eq!(registry.register_pernet_subsys(&f).unwrap().id(), Some(3));
}

#[test]
fn net_generic_finds_each_ops_data_and_nothing_after_unregistration() {
    let registry = Registry::builder()
        .cleanup_mode(netns_core::CleanupMode::Manual)
        .build();
    let a = Arc::new(Tagged(7));
    let id = registry.register_pernet_subsys(&a).unwrap();
    let net = new_net(&registry);
    {
        let guard = registry.domain().read();
        let value = net.net_generic(id, &guard).expect("initialised");
        assert_eq!(value.0.load(Ordering::Relaxed), net.cookie() * 1000 + 7);
        let init = registry.init_net();
        let init_value = init
            .net_generic(id, &guard)
            .expect("init_net initialised at registration");
        assert_eq!(
            init_value.0.load(Ordering::Relaxed),
            init.cookie() * 1000 + 7
        );
    }
    registry.unregister_pernet_subsys(&a).unwrap();
    let guard = registry.domain().read();
    assert!(
        net.net_generic(id, &guard).is_none(),
        "the slot is cleared on unregister"
    );
    drop(guard);

    // A stale id whose slot was reused by another type finds nothing.
    let other = Arc::new(Tagged(8));
    let new_id = registry.register_pernet_subsys(&other).unwrap();
    assert_eq!(new_id.id(), id.id());
    let guard = registry.domain().read();
    assert!(net.net_generic(id, &guard).is_none());
    assert!(net.net_generic(new_id, &guard).is_some());
}

#[test]
#[should_panic(expected = "another domain")]
fn net_generic_with_a_guard_of_another_domain_panics() {
    let registry = Registry::new();
    let id = registry
        .register_pernet_subsys(&Arc::new(Tagged(1)))
        .unwrap();
    let other = rcu::Domain::new();
    let guard = other.read();
    let _ = registry.init_net().net_generic(id, &guard);
}

#[test]
fn generic_growth_is_seen_consistently_by_a_concurrent_reader() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let first = Arc::new(Tagged(1));
    let first_id = registry.register_pernet_subsys(&first).unwrap();
    let net = new_net(&registry);
    let expected = net.cookie() * 1000 + 1;
    let stop = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                let guard = registry.domain().read();
                let value = net
                    .net_generic(first_id, &guard)
                    .expect("pointer lost during growth");
                assert_eq!(value.0.load(Ordering::Relaxed), expected);
                reads.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Grow the array several times (it starts with 8 slots) while the reader runs, and check
        // every new ops' data from here too.
        let mut more = Vec::new();
        for tag in 2..40 {
            let ops = Arc::new(Tagged(tag));
            let id = registry.register_pernet_device(&ops).unwrap();
            let guard = registry.domain().read();
            assert_eq!(
                net.net_generic(id, &guard)
                    .unwrap()
                    .0
                    .load(Ordering::Relaxed),
                net.cookie() * 1000 + tag
            );
            drop(guard);
            more.push(ops);
            if tag % 8 == 0 {
                // Let the reader catch up with the latest array before the next growth.
                let seen = reads.load(Ordering::Relaxed);
                while reads.load(Ordering::Relaxed) == seen {
                    std::thread::yield_now();
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(reads.load(Ordering::Relaxed) > 0);
    // A namespace created now starts with an array large enough for every id.
    let late = new_net(&registry);
    let guard = registry.domain().read();
    assert!(late.net_generic(first_id, &guard).is_some());
    drop(guard);
    drop(Rec::new("unused", &log));
}
