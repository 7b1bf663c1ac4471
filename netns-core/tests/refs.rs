//! References, list walks and nsids.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use common::{Kind, Log, Rec, manual_registry, new_net};
use netns_core::{CLONE_NEWNET, CleanupMode, Net, NetError, Registry};

#[test]
fn copy_net_ns_without_clone_newnet_returns_another_reference() {
    let registry = Registry::new();
    let net = new_net(&registry);
    let same = registry.copy_net_ns(0, registry.init_cred(), &net).unwrap();
    assert!(Net::ptr_eq(&net, &same));
    assert_eq!(net.refcount(), 2);
    drop(same);
    assert_eq!(net.refcount(), 1);
    assert_eq!(registry.stats().created, 1);
}

#[test]
fn maybe_get_net_fails_on_a_dying_net() {
    let log = Log::default();
    let registry = manual_registry(&log);
    // Inside the exits the namespace is dying too.
    let ops = Rec::with_hook("A", &log, |kind, net| {
        if kind != Kind::Init {
            assert!(!net.check_net());
            assert!(net.maybe_get_net().is_none());
        }
    });
    registry.register_pernet_subsys(&ops).unwrap();
    let net = new_net(&registry);
    let passive = Net::to_passive(&net);
    let extra = passive.maybe_get_net().expect("alive");
    assert_eq!(net.refcount(), 2);
    drop(extra);
    drop(net);
    // Dead but not yet dismantled: zero is terminal.
    assert!(!passive.check_net());
    assert!(passive.maybe_get_net().is_none());
    assert_eq!(registry.cleanup_net(), 1);
    assert!(passive.maybe_get_net().is_none());
    assert_eq!(registry.stats().callback_panics, 0);
}

#[test]
fn get_net_ns_by_id_never_returns_a_dying_net() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let init_net = registry.init_net();
    let peers: Vec<Net> = (0..3).map(|_| new_net(&registry)).collect();
    let ids: Vec<i32> = peers
        .iter()
        .map(|p| init_net.peernet2id_alloc(p).unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2], "lowest free ids");
    assert_eq!(
        init_net.peernet2id_alloc(&peers[1]),
        Some(1),
        "stable once assigned"
    );
    // A peer can also number init_net.
    assert_eq!(peers[0].peernet2id_alloc(&init_net), Some(0));

    let found = init_net.get_net_ns_by_id(1).expect("alive peer");
    assert!(Net::ptr_eq(&found, &peers[1]));
    drop(found);

    let mut peers = peers;
    let dying = peers.remove(1);
    let passive = Net::to_passive(&dying);
    drop(dying);
    // Dead, not yet cleaned up: the id still maps, but never to a usable namespace, and no id is
    // handed out for it.
    assert!(init_net.get_net_ns_by_id(1).is_none());
    assert_eq!(init_net.peernet2id(&passive), Some(1));
    assert_eq!(peers[0].peernet2id_alloc(&passive), None);
    assert!(init_net.get_net_ns_by_id(-1).is_none());
    assert!(init_net.get_net_ns_by_id(7).is_none());

    assert_eq!(registry.cleanup_net(), 1);
    // Cleanup removed the survivors' ids for it; the freed id is reused lowest-first.
    assert_eq!(init_net.peernet2id(&passive), None);
    let newcomer = new_net(&registry);
    assert_eq!(init_net.peernet2id_alloc(&newcomer), Some(1));
    assert_eq!(init_net.peernet2id_alloc(&peers[1]), Some(2));
}

/// Lookups take no lock and race with writers: two threads number disjoint halves of the same
/// peers on every owner (so their copy-on-write updates of one table interleave), then a cleanup
/// batch removes half the peers. Readers on other threads check that an id, once returned to a
/// writer, is always found, that every id they see maps back to its peer, and that an id of a
/// dead peer never yields it.
/// Raises its flag if the thread that owns it unwinds, so that the test's other threads stop.
struct FailOnPanic<'a>(&'a AtomicBool);

impl Drop for FailOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Release);
        }
    }
}

#[test]
fn nsid_lookups_race_with_writers() {
    const OWNERS: usize = 128;
    const PEERS: usize = 16;
    const READERS: usize = 2;
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .build();
    let owners: Vec<Net> = (0..OWNERS).map(|_| new_net(&registry)).collect();
    // Peer `i` is `halves[i % 2][i / 2]`; writer `w` numbers the peers of half `w`.
    let [evens, odds]: [Vec<Net>; 2] =
        std::array::from_fn(|_| (0..PEERS / 2).map(|_| new_net(&registry)).collect());
    // The id each writer got back, per owner and peer; -1 until then.
    let given: Vec<Vec<AtomicI32>> = (0..OWNERS)
        .map(|_| (0..PEERS).map(|_| AtomicI32::new(-1)).collect())
        .collect();

    let writers_done = AtomicUsize::new(0);
    // Set by a thread that panics, so that the others stop instead of waiting for it for ever.
    let failed = AtomicBool::new(false);
    let start = Barrier::new(2 + READERS);
    // The writers move from one owner to the next together, so they always write the same
    // table: each counts its arrival at an owner and waits for the other's.
    let arrived = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for (w, half) in [&evens, &odds].into_iter().enumerate() {
            let (owners, given, writers_done) = (&owners, &given, &writers_done);
            let (start, arrived, failed) = (&start, &arrived, &failed);
            s.spawn(move || {
                let _flag = FailOnPanic(failed);
                start.wait();
                for (o, owner) in owners.iter().enumerate() {
                    arrived.fetch_add(1, Ordering::AcqRel);
                    while arrived.load(Ordering::Acquire) < 2 * (o + 1) {
                        if failed.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::yield_now();
                    }
                    for (k, peer) in half.iter().enumerate() {
                        let id = owner.peernet2id_alloc(peer).expect("live peer");
                        given[o][2 * k + w].store(id, Ordering::Release);
                    }
                }
                writers_done.fetch_add(1, Ordering::Release);
            });
        }
        for _ in 0..READERS {
            s.spawn(|| {
                let _flag = FailOnPanic(&failed);
                let halves = [&evens[..], &odds[..]];
                start.wait();
                loop {
                    let last =
                        writers_done.load(Ordering::Acquire) == 2 || failed.load(Ordering::Acquire);
                    for (o, owner) in owners.iter().enumerate() {
                        for i in 0..PEERS {
                            let net = &halves[i % 2][i / 2];
                            let known = given[o][i].load(Ordering::Acquire);
                            let seen = owner.peernet2id(net);
                            if known >= 0 {
                                assert_eq!(seen, Some(known), "owner {o}, peer {i}: id lost");
                            }
                            if let Some(id) = seen {
                                let found = owner.get_net_ns_by_id(id).expect("live peer");
                                assert!(
                                    Net::ptr_eq(&found, net),
                                    "owner {o}: id {id} maps elsewhere"
                                );
                            }
                        }
                    }
                    if last {
                        break;
                    }
                }
            });
        }
    });
    for (o, owner) in owners.iter().enumerate() {
        let ids: Vec<i32> = given[o]
            .iter()
            .map(|id| id.load(Ordering::Relaxed))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let net = [&evens, &odds][i % 2].get(i / 2).expect("a peer");
            assert_eq!(owner.peernet2id(net), Some(*id), "owner {o}, peer {i}");
        }
        let mut sorted = ids;
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            (0..PEERS as i32).collect::<Vec<_>>(),
            "owner {o}: lowest free ids"
        );
    }

    // The odd peers die and one cleanup batch removes their ids from every owner while readers
    // look up the even ones.
    let odds_dropped = AtomicBool::new(false);
    let cleaned = AtomicBool::new(false);
    let start = Barrier::new(1 + READERS);
    std::thread::scope(|s| {
        for _ in 0..READERS {
            s.spawn(|| {
                start.wait();
                loop {
                    let last = cleaned.load(Ordering::Acquire);
                    let dead = odds_dropped.load(Ordering::Acquire);
                    for (o, owner) in owners.iter().enumerate() {
                        for (k, net) in evens.iter().enumerate() {
                            let id = given[o][2 * k].load(Ordering::Relaxed);
                            assert_eq!(owner.peernet2id(net), Some(id), "owner {o}: id lost");
                            let found = owner.get_net_ns_by_id(id).expect("live peer");
                            assert!(
                                Net::ptr_eq(&found, net),
                                "owner {o}: id {id} maps elsewhere"
                            );
                        }
                        if dead {
                            for k in 0..PEERS / 2 {
                                let id = given[o][2 * k + 1].load(Ordering::Relaxed);
                                assert!(owner.get_net_ns_by_id(id).is_none(), "dead peer found");
                            }
                        }
                    }
                    if last {
                        break;
                    }
                }
            });
        }
        start.wait();
        drop(odds);
        odds_dropped.store(true, Ordering::Release);
        let dismantled = registry.cleanup_net();
        // The readers stop first, so that a failed check below fails the test, not hangs it.
        cleaned.store(true, Ordering::Release);
        assert_eq!(dismantled, PEERS / 2);
    });
    // The freed ids are reused lowest-first.
    let newcomer = new_net(&registry);
    for (o, owner) in owners.iter().enumerate() {
        let lowest_odd = (0..PEERS / 2)
            .map(|k| given[o][2 * k + 1].load(Ordering::Relaxed))
            .min();
        assert_eq!(owner.peernet2id_alloc(&newcomer), lowest_odd);
    }
}

#[test]
fn nsid_alloc_from_a_dying_net_fails() {
    let registry = Registry::builder()
        .cleanup_mode(netns_core::CleanupMode::Manual)
        .build();
    let net = new_net(&registry);
    let passive = Net::to_passive(&net);
    drop(net);
    assert_eq!(passive.peernet2id_alloc(&registry.init_net()), None);
    registry.cleanup_net();
}

#[test]
fn for_each_net_walks_the_list_in_creation_order() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let init_cookie = registry.init_net().cookie();
    let nets: Vec<Net> = (0..3).map(|_| new_net(&registry)).collect();
    let expected: Vec<u64> = std::iter::once(init_cookie)
        .chain(nets.iter().map(|n| n.cookie()))
        .collect();

    let mut seen = Vec::new();
    registry.for_each_net(|net| seen.push(net.cookie()));
    assert_eq!(seen, expected);
    {
        let guard = registry.domain().read();
        let walked: Vec<u64> = registry
            .for_each_net_rcu(&guard)
            .map(|n| n.cookie())
            .collect();
        assert_eq!(walked, expected);
    }

    let mut nets = nets;
    drop(nets.remove(0));
    // Still listed until cleanup_net unlinks it.
    let guard = registry.domain().read();
    assert_eq!(registry.for_each_net_rcu(&guard).count(), 4);
    drop(guard);
    registry.cleanup_net();
    let mut seen = Vec::new();
    registry.for_each_net(|net| seen.push(net.cookie()));
    assert_eq!(seen, [init_cookie, nets[0].cookie(), nets[1].cookie()]);
}

#[test]
fn nets_of_another_registry_are_refused() {
    let one = Registry::new();
    let other = Registry::new();
    let foreign = other.init_net();
    let result = one.copy_net_ns(CLONE_NEWNET, one.init_cred(), &foreign);
    assert_eq!(result.unwrap_err(), NetError::Invalid);
    assert_eq!(one.init_net().peernet2id_alloc(&foreign), None);
}

#[test]
fn counts_return_to_zero_at_quiescence() {
    let log = Log::default();
    let registry = Arc::new(Registry::new());
    log.attach(&registry);
    let ops = Rec::new("A", &log);
    registry.register_pernet_subsys(&ops).unwrap();
    let owner = netns_core::Kuid(1000);
    let child = netns_core::UserNamespace::new_child(registry.init_user_ns(), owner, 1000);
    std::thread::scope(|s| {
        for uid in [owner, netns_core::Kuid(1001)] {
            let cred = netns_core::Cred::new(&child, uid);
            let registry = &registry;
            s.spawn(move || {
                let mut keep = Vec::new();
                for i in 0..40 {
                    let net = registry
                        .copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())
                        .unwrap();
                    if i % 3 == 0 {
                        keep.push(net.clone());
                    }
                    let _ = registry.init_net().peernet2id_alloc(&net);
                }
                drop(keep);
            });
        }
    });
    registry.wait_cleanup_idle();
    let stats = registry.stats();
    assert_eq!((stats.live, stats.queued, stats.dismantling), (0, 0, 0));
    assert_eq!(stats.created, stats.destroyed);
    assert_eq!(
        (
            child.net_namespaces(),
            registry.init_user_ns().net_namespaces()
        ),
        (0, 0)
    );
    assert_eq!(
        registry.init_net().refcount(),
        2,
        "the registry's reference plus this one"
    );
    let guard = registry.domain().read();
    assert_eq!(registry.for_each_net_rcu(&guard).count(), 1);
}
