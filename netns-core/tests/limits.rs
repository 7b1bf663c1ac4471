//! `max_net_namespaces` (ENOSPC), charged per (user namespace, uid) up the chain of owners, and
//! killable creation (EINTR).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use common::{Kind, Log, Rec, manual_registry, new_net};
use netns_core::{
    CLONE_NEWNET, CleanupMode, Cred, Kuid, NetError, NetNs, PernetOperations, Registry,
    UserNamespace,
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
            // A sender dropped by a failing test releases the init too, so the failure is
            // reported instead of the scope waiting for this thread forever.
            let _ = release.recv();
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
        // Owned by the scope's body, so that a failed assertion below drops it before the
        // scope joins the registrar.
        let release_tx = release_tx;
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

/// Creates namespaces with `cred` until one fails; returns the ones created and the error.
fn create_until_refused(registry: &Registry, cred: &Cred) -> (Vec<netns_core::Net>, NetError) {
    let init_net = registry.init_net();
    let mut nets = Vec::new();
    loop {
        match registry.copy_net_ns(CLONE_NEWNET, cred, &init_net) {
            Ok(net) => nets.push(net),
            Err(error) => return (nets, error),
        }
        assert!(nets.len() <= 100, "no limit was applied");
    }
}

#[test]
fn each_uid_of_a_user_namespace_gets_the_whole_limit() {
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .build();
    let owner = Kuid(1000);
    let container = UserNamespace::new_child(registry.init_user_ns(), owner, 2);
    let (alice, bob) = (Kuid(1001), Kuid(1002));
    let (nets_a, err_a) = create_until_refused(&registry, &Cred::new(&container, alice));
    let (nets_b, err_b) = create_until_refused(&registry, &Cred::new(&container, bob));
    let (nets_o, err_o) = create_until_refused(&registry, &Cred::new(&container, owner));
    assert_eq!((nets_a.len(), err_a), (2, NetError::NoSpace));
    assert_eq!(
        (nets_b.len(), err_b),
        (2, NetError::NoSpace),
        "the limit is per uid, not per namespace"
    );
    assert_eq!((nets_o.len(), err_o), (2, NetError::NoSpace));
    assert_eq!(
        [alice, bob, owner].map(|uid| container.net_namespaces_of(uid)),
        [2, 2, 2]
    );
    assert_eq!(container.net_namespaces(), 6);
    assert!(nets_a.iter().all(|net| net.user_ns().ptr_eq(&container)));
    // One level up, all six belong to the container's owner.
    let init_user_ns = registry.init_user_ns();
    assert_eq!(init_user_ns.net_namespaces_of(owner), 6);
    assert_eq!(init_user_ns.net_namespaces_of(alice), 0);
    assert_eq!(init_user_ns.net_namespaces(), 6);
    drop((nets_a, nets_b, nets_o));
    assert_eq!(registry.cleanup_net(), 6);
    assert_eq!(container.net_namespaces(), 0);
    assert_eq!(init_user_ns.net_namespaces(), 0);
}

#[test]
fn nets_created_by_a_non_owner_are_charged_to_the_owner_at_the_parent_level() {
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .build();
    // init_user_ns -> mid (created by 1000, 3 namespaces per uid) -> leaf (created by 1001).
    let mid = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 3);
    let leaf_owner = Kuid(1001);
    let leaf = UserNamespace::new_child(&mid, leaf_owner, usize::MAX);
    let creator = Kuid(2000);
    let in_leaf = Cred::new(&leaf, creator);
    let init_net = registry.init_net();

    // The leaf's owner creates one namespace in mid directly...
    let direct = registry
        .copy_net_ns(CLONE_NEWNET, &Cred::new(&mid, leaf_owner), &init_net)
        .unwrap();
    // ...so a non-owner in the leaf, unlimited there, gets the two that mid still allows the
    // leaf's owner.
    let (in_leaf_nets, err) = create_until_refused(&registry, &in_leaf);
    assert_eq!((in_leaf_nets.len(), err), (2, NetError::NoSpace));
    assert!(in_leaf_nets.iter().all(|net| net.user_ns().ptr_eq(&leaf)));
    assert_eq!(leaf.net_namespaces_of(creator), 2);
    assert_eq!(mid.net_namespaces_of(leaf_owner), 3);
    assert_eq!(
        mid.net_namespaces_of(creator),
        0,
        "the creator is not charged above its own namespace"
    );
    // The creator's own uid in mid is not full: it may create there.
    let in_mid = registry
        .copy_net_ns(CLONE_NEWNET, &Cred::new(&mid, creator), &init_net)
        .unwrap();
    assert_eq!(mid.net_namespaces_of(creator), 1);
    // Everything reaches the initial namespace as mid's owner.
    let init_user_ns = registry.init_user_ns();
    assert_eq!(init_user_ns.net_namespaces_of(Kuid(1000)), 4);
    assert_eq!(
        [leaf_owner, creator].map(|uid| init_user_ns.net_namespaces_of(uid)),
        [0, 0]
    );

    // Released at the end of the batch, the owner's count in mid lets the leaf create again.
    drop((direct, in_mid));
    assert_eq!(
        registry
            .copy_net_ns(CLONE_NEWNET, &in_leaf, &init_net)
            .unwrap_err(),
        NetError::NoSpace
    );
    assert_eq!(registry.cleanup_net(), 2);
    let more = registry
        .copy_net_ns(CLONE_NEWNET, &in_leaf, &init_net)
        .unwrap();
    assert_eq!(mid.net_namespaces_of(leaf_owner), 3);
    drop((in_leaf_nets, more));
    assert_eq!(registry.cleanup_net(), 3);
    assert_uncharged(&[&leaf, &mid, init_user_ns]);
}

/// Asserts that no namespace is charged in any of `levels`, for any uid.
fn assert_uncharged(levels: &[&UserNamespace]) {
    let counts: Vec<usize> = levels.iter().map(|ns| ns.net_namespaces()).collect();
    assert_eq!(
        counts,
        vec![0; levels.len()],
        "namespaces still charged per level"
    );
}

#[test]
fn enospc_at_an_upper_level_undoes_the_lower_levels_of_that_uid_only() {
    // The initial namespace allows each uid two namespaces.
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .init_user_ns(UserNamespace::new_root(2))
        .build();
    let init_user_ns = registry.init_user_ns().clone();
    let mid_owner = Kuid(1000);
    let mid = UserNamespace::new_child(&init_user_ns, mid_owner, 10);
    let leaf = UserNamespace::new_child(&mid, Kuid(1001), 10);
    let (first, second) = (Kuid(2000), Kuid(2001));
    let init_net = registry.init_net();

    let a = registry
        .copy_net_ns(CLONE_NEWNET, &Cred::new(&leaf, first), &init_net)
        .unwrap();
    let b = registry
        .copy_net_ns(CLONE_NEWNET, &Cred::new(&mid, first), &init_net)
        .unwrap();
    assert_eq!(init_user_ns.net_namespaces_of(mid_owner), 2);
    // Full at the top: both levels below are given back, for each uid that tries.
    for uid in [first, second] {
        let err = registry
            .copy_net_ns(CLONE_NEWNET, &Cred::new(&leaf, uid), &init_net)
            .unwrap_err();
        assert_eq!(err, NetError::NoSpace);
    }
    assert_eq!(
        [first, second].map(|uid| leaf.net_namespaces_of(uid)),
        [1, 0]
    );
    assert_eq!(
        [Kuid(1001), first].map(|uid| mid.net_namespaces_of(uid)),
        [1, 1]
    );
    assert_eq!(init_user_ns.net_namespaces_of(mid_owner), 2);
    // Full in the middle (for the leaf's owner): the leaf's level is given back.
    mid.set_max_net_namespaces(1);
    let err = registry
        .copy_net_ns(CLONE_NEWNET, &Cred::new(&leaf, second), &init_net)
        .unwrap_err();
    assert_eq!(err, NetError::NoSpace);
    assert_eq!(leaf.net_namespaces_of(second), 0);
    // Another uid of the initial namespace still has its own two.
    let (others, err) = create_until_refused(&registry, &Cred::new(&init_user_ns, Kuid(3000)));
    assert_eq!((others.len(), err), (2, NetError::NoSpace));
    drop((a, b, others));
    assert_eq!(registry.cleanup_net(), 4);
    assert_uncharged(&[&leaf, &mid, &init_user_ns]);
}

#[test]
fn a_uid_s_ucounts_entry_goes_with_its_last_charge_at_the_end_of_the_batch() {
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .build();
    let mid = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), 10);
    let leaf = UserNamespace::new_child(&mid, Kuid(1001), 10);
    assert_eq!(leaf.ucounts_uids(), []);
    assert_eq!(
        mid.ucounts_uids(),
        [Kuid(1001)],
        "the leaf holds its owner's entry in mid"
    );
    let uid = Kuid(2000);
    let cred = Cred::new(&leaf, uid);
    assert_eq!(leaf.ucounts_uids(), [uid]);
    let net = registry
        .copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())
        .unwrap();
    drop(cred);
    assert_eq!(leaf.ucounts_uids(), [uid], "the charge holds the entry");
    drop(net);
    assert_eq!(
        leaf.ucounts_uids(),
        [uid],
        "dead but not dismantled: still charged"
    );
    assert_eq!(leaf.net_namespaces_of(uid), 1);
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(leaf.net_namespaces_of(uid), 0);
    assert_eq!(leaf.ucounts_uids(), [], "the last charge took the entry");

    // A new credential gets a fresh entry, and a credential that outlives every charge keeps
    // its entry, at zero.
    let cred = Cred::new(&leaf, uid);
    drop(
        registry
            .copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())
            .unwrap(),
    );
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(leaf.ucounts_uids(), [uid]);
    assert_eq!(leaf.net_namespaces_of(uid), 0);
    drop(cred);
    assert_eq!(leaf.ucounts_uids(), []);

    // Once the leaf and everything created in it are gone, so is its owner's entry in mid.
    drop(leaf);
    assert_eq!(mid.ucounts_uids(), []);
    // Likewise for mid's owner in the initial namespace, where `init_cred` keeps root's entry.
    let init_user_ns = registry.init_user_ns();
    assert_eq!(init_user_ns.ucounts_uids(), [Kuid::ROOT, Kuid(1000)]);
    drop(mid);
    assert_eq!(init_user_ns.ucounts_uids(), [Kuid::ROOT]);
}

#[test]
fn a_cred_outlives_the_nets_it_created_and_their_registry() {
    let container = UserNamespace::new_child(&UserNamespace::new_root(usize::MAX), Kuid(1000), 1);
    let cred = Cred::new(&container, Kuid(1001));
    let copy = cred.clone();
    drop(container);
    {
        let registry = Registry::new();
        let net = registry
            .copy_net_ns(CLONE_NEWNET, &copy, &registry.init_net())
            .unwrap();
        assert!(net.user_ns().ptr_eq(cred.user_ns()));
        drop(copy);
        assert_eq!(cred.user_ns().net_namespaces_of(cred.euid()), 1);
        // Dropping the registry with the namespace still referenced: the last reference
        // dismantles it.
        drop(registry);
        assert_eq!(cred.user_ns().net_namespaces_of(cred.euid()), 1);
        drop(net);
    }
    assert_eq!(cred.user_ns().net_namespaces_of(cred.euid()), 0);
    assert_eq!(cred.user_ns().parent().unwrap().net_namespaces(), 0);
    // The same credentials work with another registry, and the limit counts there too.
    let registry = Registry::new();
    let net = registry
        .copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())
        .unwrap();
    assert_eq!(
        registry
            .copy_net_ns(CLONE_NEWNET, &cred, &registry.init_net())
            .unwrap_err(),
        NetError::NoSpace
    );
    assert_eq!(
        (cred.euid(), cred.user_ns().owner()),
        (Kuid(1001), Kuid(1000))
    );
    drop(net);
}
