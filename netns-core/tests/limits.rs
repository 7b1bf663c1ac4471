//! `max_net_namespaces` (ENOSPC), charged per (user namespace, uid) up the chain of owners, and
//! killable creation (EINTR).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use common::{Kind, Log, Rec, manual_registry, new_net};
use netns_core::{
    CLONE_NEWNET, Cred, Kuid, NetError, NetNs, PernetOperations, Registry, UserNamespace,
};

#[test]
fn enospc_at_the_limit_and_success_only_after_the_batch_barrier() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let uid = Kuid(1000);
    let user_ns = UserNamespace::new_child(registry.init_user_ns(), uid, 1);
    let cred = Cred::new(&user_ns, uid);
    let domain = registry.domain().clone();
    let charged_in_exit = Arc::new(AtomicUsize::new(usize::MAX));
    let charged_in_rcu_callback = Arc::new(AtomicUsize::new(usize::MAX));
    let (seen_exit, seen_cb, ns) = (
        Arc::clone(&charged_in_exit),
        Arc::clone(&charged_in_rcu_callback),
        user_ns.clone(),
    );
    // During the batch the charge is still held; an RCU callback queued by an exit runs before
    // the batch's barrier returns and must see it held too.
    let ops = Rec::with_hook("A", &log, move |kind, net| {
        if kind == Kind::Exit && !net.is_init_net() {
            seen_exit.store(ns.net_namespaces_of(uid), Ordering::SeqCst);
            let (seen_cb, ns) = (Arc::clone(&seen_cb), ns.clone());
            domain.call(move || seen_cb.store(ns.net_namespaces_of(uid), Ordering::SeqCst));
        }
    });
    registry.register_pernet_subsys(&ops).unwrap();

    let init_net = registry.init_net();
    let net = registry
        .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
        .unwrap();
    assert_eq!(user_ns.net_namespaces_of(uid), 1);
    assert_eq!(
        registry.init_user_ns().net_namespaces_of(uid),
        1,
        "charged up the chain, to the owner"
    );
    let err = registry
        .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
        .unwrap_err();
    assert_eq!((err, err.errno()), (NetError::NoSpace, 28));
    drop(net);
    // Dead but not dismantled: still charged.
    assert_eq!(
        registry
            .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
            .unwrap_err(),
        NetError::NoSpace
    );
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(charged_in_exit.load(Ordering::SeqCst), 1);
    assert_eq!(charged_in_rcu_callback.load(Ordering::SeqCst), 1);
    assert_eq!(user_ns.net_namespaces_of(uid), 0);
    let again = registry
        .copy_net_ns(CLONE_NEWNET, &cred, &init_net)
        .unwrap();
    assert_eq!(
        registry.stats().setup_failures,
        0,
        "ENOSPC happens before setup"
    );
    drop(again);
    registry.cleanup_net();
}

#[test]
fn an_ancestor_limit_applies_to_children() {
    let registry = Registry::new();
    // uid 1001 creates `child` inside `parent`; `parent` allows it two namespaces.
    let uid = Kuid(1001);
    let parent = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 2);
    let child = UserNamespace::new_child(&parent, uid, 10);
    let (in_child, in_parent) = (Cred::new(&child, uid), Cred::new(&parent, uid));
    let init_net = registry.init_net();
    let a = registry
        .copy_net_ns(CLONE_NEWNET, &in_child, &init_net)
        .unwrap();
    let b = registry
        .copy_net_ns(CLONE_NEWNET, &in_parent, &init_net)
        .unwrap();
    let err = registry
        .copy_net_ns(CLONE_NEWNET, &in_child, &init_net)
        .unwrap_err();
    assert_eq!(err, NetError::NoSpace);
    assert_eq!(
        (child.net_namespaces_of(uid), parent.net_namespaces_of(uid)),
        (1, 2)
    );
    drop((a, b));
    registry.wait_cleanup_idle();
    assert_eq!(parent.net_namespaces_of(uid), 0);
}

/// Ops whose init on init_net blocks registration (holding pernet_ops_rwsem for write) until
/// released.
struct BlockingInit {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
    inits: AtomicUsize,
}

impl PernetOperations for BlockingInit {
    type Data = ();
    fn init(&self, _net: &NetNs, _data: &()) -> Result<(), NetError> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        if let Some(entered) = self.entered.lock().unwrap().take() {
            entered.send(()).unwrap();
            let release = self.release.lock().unwrap().take().unwrap();
            release.recv().unwrap();
        }
        Ok(())
    }
}

#[test]
fn a_creator_killed_while_waiting_gets_eintr_and_leaks_nothing() {
    let log = Log::default();
    let registry = Arc::new(Registry::new());
    log.attach(&registry);
    let earlier = Rec::new("earlier", &log);
    registry.register_pernet_subsys(&earlier).unwrap();
    log.take();
    let user_ns = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 5);
    let cred = Cred::new(&user_ns, Kuid(1001));
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let blocking = Arc::new(BlockingInit {
        entered: Mutex::new(Some(entered_tx)),
        release: Mutex::new(Some(release_rx)),
        inits: AtomicUsize::new(0),
    });
    let before = registry.stats();
    let finished = AtomicBool::new(false);
    thread::scope(|s| {
        let registrar = s.spawn(|| registry.register_pernet_subsys(&blocking).map(|_| ()));
        entered_rx.recv().unwrap();
        assert!(registry.pernet_ops_write_locked());
        let (handle_tx, handle_rx) = mpsc::channel();
        let (registry, cred, finished) = (&registry, &cred, &finished);
        let creator = s.spawn(move || {
            handle_tx.send(rwsem::KillHandle::current()).unwrap();
            let result = registry.copy_net_ns(CLONE_NEWNET, cred, &registry.init_net());
            finished.store(true, Ordering::SeqCst);
            rwsem::clear_current_kill();
            result
        });
        let killer = handle_rx.recv().unwrap();
        while !registry.pernet_ops_has_waiters() {
            thread::yield_now();
        }
        assert!(!finished.load(Ordering::SeqCst));
        killer.kill();
        let result = creator.join().unwrap();
        assert_eq!(result.unwrap_err(), NetError::Interrupted);
        // Everything taken so far was given back while registration still holds the lock.
        assert_eq!(user_ns.net_namespaces_of(Kuid(1001)), 0);
        assert_eq!(registry.init_user_ns().net_namespaces_of(Kuid(1000)), 0);
        let stats = registry.stats();
        assert_eq!(
            (stats.live, stats.created, stats.queued),
            (0, before.created, 0)
        );
        assert_eq!(stats.setup_failures, before.setup_failures + 1);
        release_tx.send(()).unwrap();
        registrar.join().unwrap().unwrap();
    });
    // No init ran for the killed namespace, and a new creation works.
    assert_eq!(
        log.take().iter().filter(|e| e.kind == Kind::Init).count(),
        0
    );
    assert_eq!(blocking.inits.load(Ordering::SeqCst), 1);
    drop(new_net(&registry));
    registry.wait_cleanup_idle();
    assert_eq!(registry.stats().live, 0);
}
