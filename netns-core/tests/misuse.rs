//! Misuse gets an error or a clear panic; panicking callbacks leave the registry usable.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{Kind, Log, Rec, manual_registry, new_net, ops_order};
use netns_core::{CLONE_NEWNET, CallbackPhase, NetError, NetNs, PernetOperations, Registry};

#[test]
fn registering_the_same_ops_twice_is_refused() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let a = Rec::new("A", &log);
    registry.register_pernet_subsys(&a).unwrap();
    assert_eq!(
        registry.register_pernet_subsys(&a),
        Err(NetError::AlreadyRegistered)
    );
    assert_eq!(
        registry.register_pernet_device(&a),
        Err(NetError::AlreadyRegistered)
    );
    assert_eq!(ops_order(&log.take(), Kind::Init), ["A"], "no second init");
    assert_eq!(registry.stats().ops_registered, 1);
}

#[test]
fn unregistering_unknown_or_mismatched_ops_is_refused() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let (a, b) = (Rec::new("A", &log), Rec::new("B", &log));
    assert_eq!(
        registry.unregister_pernet_subsys(&a),
        Err(NetError::NotRegistered)
    );
    registry.register_pernet_subsys(&a).unwrap();
    assert_eq!(
        registry.unregister_pernet_device(&a),
        Err(NetError::Invalid)
    );
    assert_eq!(
        registry.unregister_pernet_subsys(&b),
        Err(NetError::NotRegistered)
    );
    registry.unregister_pernet_subsys(&a).unwrap();
    assert_eq!(
        registry.unregister_pernet_subsys(&a),
        Err(NetError::NotRegistered)
    );
    let events = log.take();
    assert_eq!(
        ops_order(&events, Kind::Exit),
        ["A"],
        "exactly one exit for the one init"
    );
}

/// Ops that call back into their own registry from `init`.
struct Reentrant {
    registry: Mutex<Option<Arc<Registry>>>,
    results: Mutex<Vec<NetError>>,
    panicked: AtomicUsize,
}

impl PernetOperations for Reentrant {
    type Data = ();
    fn init(&self, net: &NetNs, _data: &()) -> Result<(), NetError> {
        let Some(registry) = self.registry.lock().unwrap().clone() else {
            return Ok(());
        };
        let other = Arc::new(Rec::plain("inner", &common::Log::default()));
        let mut results = self.results.lock().unwrap();
        results.push(registry.register_pernet_subsys(&other).unwrap_err());
        results.push(registry.unregister_pernet_subsys(&other).unwrap_err());
        results.push(registry.try_cleanup_net().unwrap_err());
        let init_net = registry.init_net();
        let cred = registry.init_cred();
        results.push(
            registry
                .copy_net_ns(CLONE_NEWNET, cred, &init_net)
                .unwrap_err(),
        );
        // Getting a reference to the namespace being set up is fine.
        drop(net.maybe_get_net().expect("alive during setup"));
        drop(results);
        let barrier = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            registry.net_ns_barrier();
        }));
        if barrier.is_err() {
            self.panicked.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[test]
fn calling_into_the_registry_from_a_callback_is_refused_not_deadlocked() {
    let registry = Arc::new(Registry::new());
    let ops = Arc::new(Reentrant {
        registry: Mutex::new(None),
        results: Mutex::new(Vec::new()),
        panicked: AtomicUsize::new(0),
    });
    registry.register_pernet_subsys(&ops).unwrap();
    *ops.registry.lock().unwrap() = Some(Arc::clone(&registry));
    let net = new_net(&registry);
    assert_eq!(*ops.results.lock().unwrap(), [NetError::Deadlock; 4]);
    assert_eq!(
        ops.panicked.load(Ordering::SeqCst),
        1,
        "net_ns_barrier panics clearly"
    );
    // Break the cycle (registry -> ops -> registry) and finish normally.
    *ops.registry.lock().unwrap() = None;
    drop(net);
    registry.wait_cleanup_idle();
    assert_eq!(registry.stats().destroyed, 1);
}

#[test]
fn a_panicking_init_fails_creation_and_keeps_pairing_for_other_ops() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let a = Rec::new("A", &log);
    let bomb = Rec::with_hook("bomb", &log, |kind, net| {
        if kind == Kind::Init && !net.is_init_net() {
            panic!("init exploded");
        }
    });
    let c = Rec::new("C", &log);
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_subsys(&bomb).unwrap();
    registry.register_pernet_subsys(&c).unwrap();
    log.take();
    let err = registry
        .copy_net_ns(CLONE_NEWNET, registry.init_cred(), &registry.init_net())
        .unwrap_err();
    assert_eq!(err, NetError::CallbackPanicked);
    let events = log.take();
    assert_eq!(ops_order(&events, Kind::Init), ["A", "bomb"]);
    assert_eq!(ops_order(&events, Kind::Exit), ["A"]);
    assert_eq!(registry.stats().callback_panics, 1);
    // Still usable: unregister the bomb (its init_net init gets its exit) and create again.
    registry.unregister_pernet_subsys(&bomb).unwrap();
    assert_eq!(ops_order(&log.take(), Kind::Exit), ["bomb"]);
    let net = new_net(&registry);
    drop(net);
    registry.cleanup_net();
    let events = log.take();
    assert_eq!(ops_order(&events, Kind::Init), ["A", "C"]);
    assert_eq!(ops_order(&events, Kind::Exit), ["C", "A"]);
}

#[test]
fn a_panicking_exit_is_contained_and_reported() {
    let log = Log::default();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let registry = Arc::new(
        Registry::builder()
            .cleanup_mode(netns_core::CleanupMode::Manual)
            .on_callback_panic(move |report| sink.lock().unwrap().push(report.clone()))
            .build(),
    );
    log.attach(&registry);
    let a = Rec::new("A", &log);
    let bomb = Rec::with_hook("bomb", &log, |kind, _net| {
        if matches!(kind, Kind::PreExit | Kind::Exit | Kind::ExitBatch) {
            panic!("teardown exploded");
        }
    });
    let c = Rec::new("C", &log);
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_subsys(&bomb).unwrap();
    registry.register_pernet_subsys(&c).unwrap();
    let nets = [new_net(&registry), new_net(&registry)];
    log.take();
    drop(nets);
    assert_eq!(registry.cleanup_net(), 2);
    let events = log.take();
    // Every ops still got its pre_exit, exit and exit_batch on every namespace.
    assert_eq!(
        ops_order(&events, Kind::Exit),
        ["C", "C", "bomb", "bomb", "A", "A"]
    );
    assert_eq!(ops_order(&events, Kind::ExitBatch), ["C", "bomb", "A"]);
    let reports = reports.lock().unwrap();
    let phases: Vec<CallbackPhase> = reports.iter().map(|r| r.phase).collect();
    assert_eq!(
        phases,
        [
            CallbackPhase::PreExit,
            CallbackPhase::PreExit,
            CallbackPhase::Exit,
            CallbackPhase::Exit,
            CallbackPhase::ExitBatch
        ]
    );
    assert!(
        reports
            .iter()
            .all(|r| r.ops == "bomb" && r.message == "teardown exploded")
    );
    drop(reports);
    let stats = registry.stats();
    assert_eq!(
        (stats.callback_panics, stats.destroyed, stats.live),
        (5, 2, 0)
    );
    // And it keeps working.
    drop(new_net(&registry));
    assert_eq!(registry.cleanup_net(), 1);
}

#[test]
fn try_variants_report_would_block() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let a = Rec::new("A", &log);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let entered_tx = Mutex::new(entered_tx);
    let blocker = Rec::with_hook("blocker", &log, move |kind, _net| {
        if kind == Kind::Init {
            entered_tx.lock().unwrap().send(()).unwrap();
            // A sender dropped by a failing test releases the init too.
            let _ = release_rx.lock().unwrap().recv();
        }
    });
    std::thread::scope(|s| {
        // Owned by the scope's body, so that a failed assertion drops it before the scope
        // joins the registrar.
        let release_tx = release_tx;
        let registrar = s.spawn(|| registry.register_pernet_subsys(&blocker).map(|_| ()));
        entered_rx.recv().unwrap();
        let init_net = registry.init_net();
        let cred = registry.init_cred();
        assert_eq!(
            registry
                .try_copy_net_ns(CLONE_NEWNET, cred, &init_net)
                .unwrap_err(),
            NetError::WouldBlock
        );
        assert_eq!(
            registry.try_register_pernet_subsys(&a),
            Err(NetError::WouldBlock)
        );
        assert_eq!(
            registry.try_unregister_pernet_subsys(&a),
            Err(NetError::WouldBlock)
        );
        assert_eq!(registry.try_cleanup_net(), Err(NetError::WouldBlock));
        release_tx.send(()).unwrap();
        registrar.join().unwrap().unwrap();
    });
    assert_eq!(registry.stats().setup_failures, 0);
    assert_eq!(
        registry.init_user_ns().net_namespaces(),
        0,
        "WouldBlock released the charge"
    );
    registry.try_register_pernet_device(&a).unwrap();
    registry.try_unregister_pernet_device(&a).unwrap();
    assert_eq!(registry.try_cleanup_net(), Ok(0));
}

#[test]
fn creating_from_a_locked_list_walk_is_refused_not_deadlocked() {
    let registry = Registry::new();
    let mut results = Vec::new();
    registry.for_each_net(|_net| {
        let init_net = registry.init_net();
        results.push(registry.copy_net_ns(CLONE_NEWNET, registry.init_cred(), &init_net));
        let cleanup = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            registry.cleanup_net();
        }));
        assert!(
            cleanup.is_err(),
            "cleanup_net inside for_each_net must panic, not hang"
        );
    });
    assert_eq!(results.len(), 1);
    assert_eq!(results.pop().unwrap().unwrap_err(), NetError::Deadlock);
    // Outside the walk it works.
    drop(new_net(&registry));
}
