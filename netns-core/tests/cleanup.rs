//! `cleanup_net`: batching, the one grace period per batch, the next batch, lock modes,
//! `net_ns_barrier`, the backlog bound and dropping the registry.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use common::{Kind, Log, Rec, manual_registry, new_net, of_kind};
use netns_core::{
    BacklogPolicy, CLONE_NEWNET, CleanupMode, LockMode, Net, NetError, NetNs, PernetOperations,
    Registry,
};

#[test]
fn nets_released_before_cleanup_form_one_batch_with_one_grace_period() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let (a, b) = (Rec::new("A", &log), Rec::new("B", &log));
    registry.register_pernet_subsys(&a).unwrap();
    registry.register_pernet_device(&b).unwrap();
    let nets: Vec<Net> = (0..3).map(|_| new_net(&registry)).collect();
    let cookies: Vec<u64> = nets.iter().map(|n| n.cookie()).collect();
    drop(nets);
    log.take();
    let before = registry.stats();
    assert_eq!(before.queued, 3);

    assert_eq!(registry.cleanup_net(), 3);
    let events = log.take();
    let pre_exits: Vec<_> = events.iter().filter(|e| e.kind == Kind::PreExit).collect();
    let exits: Vec<_> = events.iter().filter(|e| e.kind == Kind::Exit).collect();
    assert_eq!((pre_exits.len(), exits.len()), (6, 6));
    // Every pre_exit comes before every exit ...
    let last_pre = events
        .iter()
        .rposition(|e| e.kind == Kind::PreExit)
        .unwrap();
    let first_exit = events.iter().position(|e| e.kind == Kind::Exit).unwrap();
    assert!(last_pre < first_exit);
    // ... with exactly one grace period between them.
    let gp = before.grace_periods;
    assert!(pre_exits.iter().all(|e| e.grace_periods == gp));
    assert!(exits.iter().all(|e| e.grace_periods == gp + 1));
    // One exit_batch per ops, each naming the whole batch.
    let batches: Vec<_> = events
        .iter()
        .filter(|e| e.kind == Kind::ExitBatch)
        .collect();
    assert_eq!(batches.len(), 2);
    for batch in batches {
        let mut seen = batch.batch.clone();
        seen.sort_unstable();
        assert_eq!(seen, cookies);
    }
    let after = registry.stats();
    assert_eq!(
        (after.batches, after.max_batch, after.batched_nets),
        (1, 3, 3)
    );
    assert_eq!(after.batch_grace_periods, 1);
    assert_eq!(after.batch_barriers, 1);
    assert_eq!(
        (after.queued, after.dismantling, after.destroyed),
        (0, 0, 3)
    );
}

#[test]
fn a_real_grace_period_separates_pre_exit_from_exit() {
    // A reader that entered its section before the namespace's pre_exit must have left it
    // before the exit runs: the pre_exit takes a cookie, the exit polls it.
    let log = Log::default();
    let registry = manual_registry(&log);
    let domain = registry.domain().clone();
    let cookie = Arc::new(Mutex::new(None));
    let (c1, c2, d) = (Arc::clone(&cookie), Arc::clone(&cookie), domain.clone());
    let ops = Rec::with_hook("A", &log, move |kind, _net| match kind {
        Kind::PreExit => *c1.lock().unwrap() = Some(d.get_state()),
        Kind::Exit => {
            let taken = c2.lock().unwrap().expect("pre_exit ran");
            assert!(d.poll(taken), "exit ran before a grace period elapsed");
        }
        _ => {}
    });
    registry.register_pernet_subsys(&ops).unwrap();
    drop(new_net(&registry));
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(registry.stats().callback_panics, 0);
    assert!(cookie.lock().unwrap().is_some());
}

#[test]
fn a_net_released_during_a_batch_goes_to_the_next_one() {
    let log = Log::default();
    let registry = manual_registry(&log);
    let held: Arc<Mutex<Option<Net>>> = Arc::new(Mutex::new(None));
    let in_exit = Arc::clone(&held);
    // The exit of the first namespace drops the last reference to the second one.
    let ops = Rec::with_hook("A", &log, move |kind, _net| {
        if kind == Kind::Exit {
            drop(in_exit.lock().unwrap().take());
        }
    });
    registry.register_pernet_subsys(&ops).unwrap();
    let first = new_net(&registry);
    let second = new_net(&registry);
    let second_cookie = second.cookie();
    *held.lock().unwrap() = Some(second);
    drop(first);
    log.take();

    assert_eq!(registry.cleanup_net(), 1);
    let stats = registry.stats();
    assert_eq!((stats.queued, stats.batches), (1, 1));
    assert!(!of_kind(&log.take(), Kind::Exit).contains(&("A", second_cookie)));
    assert_eq!(registry.cleanup_net(), 1);
    assert_eq!(of_kind(&log.take(), Kind::Exit), [("A", second_cookie)]);
    assert_eq!(registry.stats().batches, 2);
}

/// Pernet operations whose exit blocks until released, and says when it entered.
struct BlockingExit {
    entered: Mutex<Option<mpsc::Sender<()>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
}

impl BlockingExit {
    fn new() -> (Arc<Self>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let ops = Arc::new(BlockingExit {
            entered: Mutex::new(Some(entered_tx)),
            release: Mutex::new(Some(release_rx)),
        });
        (ops, entered_rx, release_tx)
    }
}

impl PernetOperations for BlockingExit {
    type Data = ();
    fn exit(&self, _net: &NetNs, _data: &()) {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            entered.send(()).unwrap();
            let release = self.release.lock().unwrap().take().unwrap();
            // A sender dropped by a failing test releases the exit too, so the failure is
            // reported instead of a join waiting for this thread forever.
            let _ = release.recv();
        }
    }
}

fn creation_during_blocked_cleanup(mode: LockMode) -> Result<Net, NetError> {
    let registry = Registry::builder()
        .lock_mode(mode)
        .cleanup_mode(CleanupMode::Manual)
        .build();
    let (ops, entered, release) = BlockingExit::new();
    registry.register_pernet_subsys(&ops).unwrap();
    drop(new_net(&registry));
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        // Owned by the scope's body, so that a failed assertion drops it before the scope
        // joins the cleaner.
        let release = release;
        let cleaner = s.spawn(|| registry.cleanup_net());
        entered.recv().unwrap();
        // The batch is inside an exit, holding pernet_ops_rwsem.
        let cred = registry.init_cred();
        let result = registry.try_copy_net_ns(CLONE_NEWNET, cred, &registry.init_net());
        if mode == LockMode::Exclusive {
            // A blocking creator queues behind the cleanup and only finishes after it.
            let creator = s.spawn(|| {
                let net = new_net(&registry);
                done.store(true, Ordering::SeqCst);
                net
            });
            while !registry.pernet_ops_has_waiters() {
                thread::yield_now();
            }
            assert!(!done.load(Ordering::SeqCst));
            release.send(()).unwrap();
            assert_eq!(cleaner.join().unwrap(), 1);
            drop(creator.join().unwrap());
            assert!(done.load(Ordering::SeqCst));
        } else {
            release.send(()).unwrap();
            assert_eq!(cleaner.join().unwrap(), 1);
        }
        result
    })
}

#[test]
fn exclusive_mode_serialises_creation_behind_cleanup() {
    assert_eq!(
        creation_during_blocked_cleanup(LockMode::Exclusive).unwrap_err(),
        NetError::WouldBlock
    );
}

#[test]
fn shared_mode_creates_while_cleanup_waits() {
    let net = creation_during_blocked_cleanup(LockMode::Shared).expect("created during cleanup");
    assert!(net.check_net());
}

#[test]
fn net_ns_barrier_waits_for_a_running_cleanup() {
    let registry = Registry::new();
    let (ops, entered, release) = BlockingExit::new();
    registry.register_pernet_subsys(&ops).unwrap();
    drop(new_net(&registry));
    entered.recv().unwrap();
    let released = AtomicBool::new(false);
    thread::scope(|s| {
        let barrier = s.spawn(|| {
            registry.net_ns_barrier();
            assert!(
                released.load(Ordering::SeqCst),
                "net_ns_barrier returned during an exit"
            );
        });
        while !registry.pernet_ops_has_waiters() {
            thread::yield_now();
        }
        released.store(true, Ordering::SeqCst);
        release.send(()).unwrap();
        barrier.join().unwrap();
    });
    registry.wait_cleanup_idle();
    assert_eq!(registry.stats().destroyed, 1);
}

#[test]
fn backlog_bound_fails_or_waits_killably() {
    // Fail policy: the second namespace in the backlog is refused.
    let registry = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .max_cleanup_backlog(Some(1))
        .build();
    drop(new_net(&registry));
    let cred = registry.init_cred();
    let err = registry
        .copy_net_ns(CLONE_NEWNET, cred, &registry.init_net())
        .unwrap_err();
    assert_eq!(err, NetError::BacklogFull);
    assert_eq!(registry.cleanup_net(), 1);
    drop(new_net(&registry));
    assert_eq!(registry.stats().backlog_refusals, 1);

    // Wait policy with a worker stuck in an exit: the creator parks until killed.
    let registry = Registry::builder()
        .max_cleanup_backlog(Some(1))
        .backlog_policy(BacklogPolicy::Wait)
        .build();
    let (ops, entered, release) = BlockingExit::new();
    registry.register_pernet_subsys(&ops).unwrap();
    drop(new_net(&registry));
    entered.recv().unwrap();
    assert_eq!(registry.backlog(), 1);
    let cred = &registry.init_cred().clone();
    let registry = &registry;
    let (handle_tx, handle_rx) = mpsc::channel();
    thread::scope(|s| {
        let creator = s.spawn(move || {
            handle_tx.send(rwsem::KillHandle::current()).unwrap();
            let result = registry.copy_net_ns(CLONE_NEWNET, cred, &registry.init_net());
            rwsem::clear_current_kill();
            result
        });
        let killer = handle_rx.recv().unwrap();
        while registry.stats().backlog_waits == 0 {
            thread::yield_now();
        }
        killer.kill();
        assert_eq!(creator.join().unwrap().unwrap_err(), NetError::Interrupted);
    });
    // Only the namespace stuck in its exit is charged; the killed creator left nothing.
    assert_eq!(cred.user_ns().net_namespaces_of(cred.euid()), 1);
    assert_eq!(registry.stats().live, 0);
    // Released, the backlog drains and a waiting creator gets through.
    thread::scope(|s| {
        let creator = s.spawn(|| new_net(registry));
        while registry.stats().backlog_waits < 2 {
            thread::yield_now();
        }
        release.send(()).unwrap();
        drop(creator.join().unwrap());
    });
    registry.wait_cleanup_idle();
    let stats = registry.stats();
    assert_eq!((stats.live, stats.destroyed, stats.peak_backlog), (0, 2, 1));
}

#[test]
fn dropping_the_registry_drains_and_later_puts_clean_up_inline() {
    let log = Log::default();
    let registry = Registry::new();
    let ops = Rec::new("A", &log);
    registry.register_pernet_subsys(&ops).unwrap();
    let queued = new_net(&registry);
    let survivor = new_net(&registry);
    let survivor_cookie = survivor.cookie();
    drop(queued);
    drop(registry);
    // The queued namespace was dismantled before the drop returned.
    assert_eq!(common::ops_order(&log.snapshot(), Kind::Exit), ["A"]);
    // The survivor is dismantled by the thread dropping its last reference.
    drop(survivor);
    assert_eq!(of_kind(&log.take(), Kind::Exit)[1], ("A", survivor_cookie));

    let manual = Registry::builder()
        .cleanup_mode(CleanupMode::Manual)
        .build();
    let ops = Rec::new("B", &log);
    manual.register_pernet_subsys(&ops).unwrap();
    drop(new_net(&manual));
    drop(manual);
    assert_eq!(of_kind(&log.take(), Kind::Exit).len(), 1);
}

#[test]
fn worker_mode_cleans_up_concurrent_creators() {
    let log = Log::default();
    let registry = Arc::new(Registry::new());
    log.attach(&registry);
    let ops = Rec::new("A", &log);
    registry.register_pernet_subsys(&ops).unwrap();
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    drop(new_net(&registry));
                }
            });
        }
    });
    registry.wait_cleanup_idle();
    let stats = registry.stats();
    assert_eq!((stats.live, stats.queued, stats.dismantling), (0, 0, 0));
    assert_eq!((stats.created, stats.destroyed), (200, 200));
    assert_eq!(stats.batches, stats.batch_grace_periods);
    let events = log.take();
    assert_eq!(of_kind(&events, Kind::Init).len(), 201);
    assert_eq!(of_kind(&events, Kind::Exit).len(), 200);
    assert_eq!(registry.init_user_ns().net_namespaces(), 0);
}
