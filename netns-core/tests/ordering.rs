//! Order of pernet callbacks: list placement, reverse undo, registration on existing
//! namespaces and both rollbacks.

mod common;

use common::{Kind, Log, Rec, manual_registry, new_net, of_kind, ops_order};
use netns_core::NetError;

#[test]
fn init_order_and_reverse_exit_across_subsys_and_device() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let (a, d1, b, d2) = (
        Rec::new("A", &log),
        Rec::new("D1", &log),
        Rec::new("B", &log),
        Rec::new("D2", &log),
    );
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_device(&d1).unwrap();
    registry.register_pernet_subsys(&b).unwrap();
    registry.register_pernet_device(&d2).unwrap();
    log.take();

    let net = new_net(&registry);
    let cookie = net.cookie();
    assert_eq!(ops_order(&log.take(), Kind::Init), ["A", "B", "D1", "D2"]);
    drop(net);
    assert_eq!(registry.cleanup_net(), 1);
    let events = log.take();
    assert_eq!(ops_order(&events, Kind::PreExit), ["D2", "D1", "B", "A"]);
    assert_eq!(ops_order(&events, Kind::Exit), ["D2", "D1", "B", "A"]);
    // Each ops' exit_batch comes right after its exits, before the next ops' exits.
    let exits: Vec<(&str, Kind)> = events
        .iter()
        .filter(|e| matches!(e.kind, Kind::Exit | Kind::ExitBatch))
        .map(|e| (e.ops, e.kind))
        .collect();
    assert_eq!(
        exits,
        [
            ("D2", Kind::Exit),
            ("D2", Kind::ExitBatch),
            ("D1", Kind::Exit),
            ("D1", Kind::ExitBatch),
            ("B", Kind::Exit),
            ("B", Kind::ExitBatch),
            ("A", Kind::Exit),
            ("A", Kind::ExitBatch),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.kind == Kind::ExitBatch || e.net == cookie)
    );
}

#[test]
fn unregistering_the_first_device_keeps_subsys_before_devices() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let (a, d1, d2) = (
        Rec::new("A", &log),
        Rec::new("D1", &log),
        Rec::new("D2", &log),
    );
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_device(&d1).unwrap();
    registry.register_pernet_device(&d2).unwrap();
    // D1 is first_device; after it goes, a new subsys must still land before D2.
    registry.unregister_pernet_device(&d1).unwrap();
    let c = Rec::new("C", &log);
    registry.register_pernet_subsys(&c).unwrap();
    let d3 = Rec::new("D3", &log);
    registry.register_pernet_device(&d3).unwrap();
    log.take();

    let net = new_net(&registry);
    assert_eq!(ops_order(&log.take(), Kind::Init), ["A", "C", "D2", "D3"]);
    drop(net);
    registry.cleanup_net();
    assert_eq!(ops_order(&log.take(), Kind::Exit), ["D3", "D2", "C", "A"]);

    // Removing every device, then adding one, makes it first_device again.
    registry.unregister_pernet_device(&d2).unwrap();
    registry.unregister_pernet_device(&d3).unwrap();
    registry.register_pernet_device(&d1).unwrap();
    let e = Rec::new("E", &log);
    registry.register_pernet_subsys(&e).unwrap();
    log.take();
    let net = new_net(&registry);
    assert_eq!(ops_order(&log.take(), Kind::Init), ["A", "C", "E", "D1"]);
    drop(net);
    registry.cleanup_net();
}

#[test]
fn registration_runs_init_on_existing_nets_in_list_order() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let init_cookie = registry.init_net().cookie();
    let n1 = new_net(&registry);
    let n2 = new_net(&registry);
    // A dead namespace not yet unlinked is on the list and gets an init too.
    let n3 = new_net(&registry);
    let n3_cookie = n3.cookie();
    drop(n3);

    let a = Rec::new("A", &log);
    registry.register_pernet_subsys(&a).unwrap();
    assert_eq!(
        of_kind(&log.take(), Kind::Init),
        [
            ("A", init_cookie),
            ("A", n1.cookie()),
            ("A", n2.cookie()),
            ("A", n3_cookie)
        ]
    );
    // ... and therefore its exit when cleanup runs.
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(of_kind(&log.take(), Kind::Exit), [("A", n3_cookie)]);
}

#[test]
fn registration_rollback_when_init_fails_on_the_kth_net() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let init_cookie = registry.init_net().cookie();
    let n1 = new_net(&registry);
    let n2 = new_net(&registry);
    let n3 = new_net(&registry);
    let first = Rec::new("first", &log);
    let first_id = registry.register_pernet_subsys(&first).unwrap();
    registry.unregister_pernet_subsys(&first).unwrap();
    log.take();

    let bad = Rec::new("bad", &log);
    bad.fail_init_on(n2.cookie());
    let before = registry.stats().grace_periods;
    assert_eq!(
        registry.register_pernet_subsys(&bad),
        Err(NetError::Errno(95))
    );
    let events = log.take();
    // Init on init_net, n1, then n2 fails; n3 is never reached.
    assert_eq!(
        of_kind(&events, Kind::Init),
        [
            ("bad", init_cookie),
            ("bad", n1.cookie()),
            ("bad", n2.cookie())
        ]
    );
    // The namespaces before k get pre_exit, one grace period, exit, one exit_batch; the
    // failing namespace gets nothing.
    assert_eq!(
        of_kind(&events, Kind::PreExit),
        [("bad", init_cookie), ("bad", n1.cookie())]
    );
    assert_eq!(
        of_kind(&events, Kind::Exit),
        [("bad", init_cookie), ("bad", n1.cookie())]
    );
    let batches: Vec<_> = events
        .iter()
        .filter(|e| e.kind == Kind::ExitBatch)
        .collect();
    assert_eq!(batches.len(), 1);
    assert_eq!(batches[0].batch, [init_cookie, n1.cookie()]);
    assert!(
        events
            .iter()
            .filter(|e| e.kind == Kind::PreExit)
            .all(|e| e.grace_periods == before)
    );
    assert!(
        events
            .iter()
            .filter(|e| e.kind == Kind::Exit)
            .all(|e| e.grace_periods == before + 1)
    );
    assert_eq!(registry.stats().grace_periods, before + 1);

    // The ops is gone (no init for a new namespace) and its id was freed.
    let n4 = new_net(&registry);
    assert!(log.take().is_empty());
    assert_eq!(
        registry.unregister_pernet_subsys(&bad),
        Err(NetError::NotRegistered)
    );
    let again = Rec::new("again", &log);
    assert_eq!(
        registry.register_pernet_subsys(&again).unwrap().id(),
        first_id.id()
    );
    drop((n1, n2, n3, n4));
    registry.wait_cleanup_idle();
}

#[test]
fn setup_rollback_undoes_only_the_ops_before_the_failing_one() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let (a, b, c, d) = (
        Rec::new("A", &log),
        Rec::new("B", &log),
        Rec::new("C", &log),
        Rec::new("D", &log),
    );
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_subsys(&b).unwrap();
    registry.register_pernet_subsys(&c).unwrap();
    registry.register_pernet_device(&d).unwrap();
    c.fail_all.store(true, std::sync::atomic::Ordering::Relaxed);
    log.take();
    let cred = registry.init_cred().clone();
    let before = registry.stats();

    let err = registry
        .copy_net_ns(netns_core::CLONE_NEWNET, &cred, &registry.init_net())
        .unwrap_err();
    assert_eq!(err, NetError::Errno(95));
    let events = log.take();
    assert_eq!(ops_order(&events, Kind::Init), ["A", "B", "C"]);
    assert_eq!(ops_order(&events, Kind::PreExit), ["B", "A"]);
    assert_eq!(ops_order(&events, Kind::Exit), ["B", "A"]);
    assert_eq!(ops_order(&events, Kind::ExitBatch), ["B", "A"]);
    let gp = before.grace_periods;
    assert!(
        events
            .iter()
            .filter(|e| e.kind == Kind::PreExit)
            .all(|e| e.grace_periods == gp)
    );
    assert!(
        events
            .iter()
            .filter(|e| e.kind == Kind::Exit)
            .all(|e| e.grace_periods == gp + 1)
    );
    let after = registry.stats();
    assert_eq!(
        after.barriers,
        before.barriers + 1,
        "setup rollback ends with an rcu barrier"
    );
    assert_eq!((after.live, after.created, after.setup_failures), (0, 0, 1));
    assert_eq!(
        cred.user_ns().net_namespaces_of(cred.euid()),
        0,
        "the charge is released on failure"
    );
    // Nothing was queued for cleanup and nothing is on the list but init_net.
    assert_eq!(registry.cleanup_net(), 0);
    let guard = registry.domain().read();
    assert_eq!(registry.for_each_net_rcu(&guard).count(), 1);
}
