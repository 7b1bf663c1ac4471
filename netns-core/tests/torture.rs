//! netns torture: creators, a register/unregister thread with injected init failures, list
//! walkers, nsid lookups and a killer, all at once, for `TORTURE_SECS` seconds (default 10).
//!
//! Pass: every successful init of an (ops registration, namespace) pair got exactly one
//! `pre_exit`, one `exit` and one `exit_batch` membership, and a failed init none; no walker or
//! nsid lookup ever saw a namespace whose exits had run; every counter is back to zero at the
//! end. The harness prints its statistics and ends with one `SUCCESS` or `FAILURE` line.
//!
//! `netns_torture_busted` runs the same harness on a registry that skips every 50th exit and
//! must report FAILURE, proving the harness can fail.
//!
//! Run: `TORTURE_SECS=10 cargo test --release -p netns-core -- --ignored torture --nocapture`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use netns_core::hooks::Faults;
use netns_core::{
    CLONE_NEWNET, Cred, Kuid, Net, NetError, NetNs, PernetOperations, Registry, UserNamespace,
};

/// A small xorshift generator: the harness needs cheap randomness, not quality.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Per (registration epoch, namespace cookie): what happened.
#[derive(Debug, Default, Clone, Copy)]
struct Pair {
    inits: u32,
    failed_inits: u32,
    pre_exits: u32,
    exits: u32,
    batches: u32,
}

#[derive(Default)]
struct Ledger {
    pairs: Mutex<HashMap<(u64, u64), Pair>>,
    /// Cookies whose sentinel exit ran: such a namespace must never be seen again.
    exited: Mutex<HashSet<u64>>,
    violations: Mutex<Vec<String>>,
}

impl Ledger {
    fn record(&self, key: (u64, u64), f: impl FnOnce(&mut Pair)) {
        f(self.pairs.lock().unwrap().entry(key).or_default());
    }

    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }

    fn has_exited(&self, cookie: u64) -> bool {
        self.exited.lock().unwrap().contains(&cookie)
    }
}

#[derive(Default)]
struct Slot {
    cookie: AtomicU64,
    epoch: AtomicU64,
}

/// Recording ops; `epoch` identifies the current registration (set before each registration).
struct TortureOps {
    ledger: Arc<Ledger>,
    epoch: AtomicU64,
    /// Fail one init in `fail_one_in` (0: never).
    fail_one_in: u64,
    sentinel: bool,
    rng: Mutex<Rng>,
}

impl PernetOperations for TortureOps {
    type Data = Slot;

    fn init(&self, net: &NetNs, data: &Slot) -> Result<(), NetError> {
        let key = (self.epoch.load(Ordering::SeqCst), net.cookie());
        if self.fail_one_in > 0 && self.rng.lock().unwrap().below(self.fail_one_in) == 0 {
            self.ledger.record(key, |p| p.failed_inits += 1);
            return Err(NetError::Errno(12));
        }
        data.cookie.store(net.cookie(), Ordering::Relaxed);
        data.epoch.store(key.0, Ordering::Relaxed);
        self.ledger.record(key, |p| p.inits += 1);
        Ok(())
    }

    fn pre_exit(&self, net: &NetNs, data: &Slot) {
        let key = (data.epoch.load(Ordering::Relaxed), net.cookie());
        if data.cookie.load(Ordering::Relaxed) != net.cookie() {
            self.ledger
                .violation(format!("pre_exit got the data of another net: {key:?}"));
        }
        self.ledger.record(key, |p| p.pre_exits += 1);
    }

    fn exit(&self, net: &NetNs, data: &Slot) {
        let key = (data.epoch.load(Ordering::Relaxed), net.cookie());
        if data.cookie.load(Ordering::Relaxed) != net.cookie() {
            self.ledger
                .violation(format!("exit got the data of another net: {key:?}"));
        }
        self.ledger.record(key, |p| p.exits += 1);
        if self.sentinel {
            self.ledger.exited.lock().unwrap().insert(net.cookie());
        }
    }

    fn exit_batch(&self, batch: &[(&NetNs, &Slot)]) {
        for (net, data) in batch {
            let key = (data.epoch.load(Ordering::Relaxed), net.cookie());
            self.ledger.record(key, |p| p.batches += 1);
        }
    }
}

static NEXT_EPOCH: AtomicU64 = AtomicU64::new(1);

/// `max_net_namespaces` of the parent of the creators' user namespace: all creations are charged
/// there to one uid, the creators' namespace's owner.
const NET_LIMIT: usize = 256;

/// The owner of the creators' user namespace.
const CREATORS_NS_OWNER: Kuid = Kuid(1001);

fn new_ops(ledger: &Arc<Ledger>, fail_one_in: u64, sentinel: bool, seed: u64) -> Arc<TortureOps> {
    Arc::new(TortureOps {
        ledger: Arc::clone(ledger),
        epoch: AtomicU64::new(0),
        fail_one_in,
        sentinel,
        rng: Mutex::new(Rng::new(seed)),
    })
}

#[derive(Default)]
struct Tally {
    created: AtomicU64,
    enospc: AtomicU64,
    eintr: AtomicU64,
    setup_errors: AtomicU64,
    registrations: AtomicU64,
    failed_registrations: AtomicU64,
    walks: AtomicU64,
    lookups: AtomicU64,
    kills: AtomicU64,
}

fn torture_secs(default: u64) -> Duration {
    let secs = std::env::var("TORTURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    Duration::from_secs(secs)
}

/// Runs the harness; returns whether it passed.
fn run_torture(duration: Duration, faults: Faults, label: &str) -> bool {
    let ledger = Arc::new(Ledger::default());
    let registry = Registry::builder().faults(faults).name("torture").build();
    let sentinel = new_ops(&ledger, 0, true, 1);
    sentinel
        .epoch
        .store(NEXT_EPOCH.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    registry
        .register_pernet_subsys(&sentinel)
        .expect("sentinel registers");
    // The creators have a uid each in an unlimited user namespace whose owner's count in the
    // parent is bounded: both race for that one counter, and an ENOSPC there undoes their own
    // level-0 charge.
    let parent = UserNamespace::new_child(registry.init_user_ns(), Kuid(1000), NET_LIMIT);
    let user_ns = UserNamespace::new_child(&parent, CREATORS_NS_OWNER, usize::MAX);
    let stop = AtomicBool::new(false);
    let tally = Tally::default();
    let deadline = Instant::now() + duration;
    let (kill_tx, kill_rx) = mpsc::channel();

    thread::scope(|s| {
        // Creators.
        for c in 0..2u64 {
            let (registry, user_ns, stop, tally, kill_tx) =
                (&registry, &user_ns, &stop, &tally, kill_tx.clone());
            s.spawn(move || {
                kill_tx.send(rwsem::KillHandle::current()).unwrap();
                drop(kill_tx);
                let cred = Cred::new(user_ns, Kuid(2000 + c as u32));
                let mut rng = Rng::new(100 + c);
                let mut pool: Vec<Net> = Vec::new();
                let init_net = registry.init_net();
                while !stop.load(Ordering::Relaxed) {
                    match registry.copy_net_ns(CLONE_NEWNET, &cred, &init_net) {
                        Ok(net) => {
                            tally.created.fetch_add(1, Ordering::Relaxed);
                            if rng.below(4) == 0 {
                                let _ = init_net.peernet2id_alloc(&net);
                            }
                            if let Some(peer) = pool.last() {
                                let _ = net.peernet2id_alloc(peer);
                            }
                            pool.push(net);
                        }
                        Err(NetError::NoSpace) => {
                            tally.enospc.fetch_add(1, Ordering::Relaxed);
                            thread::yield_now();
                        }
                        Err(NetError::Interrupted) => {
                            tally.eintr.fetch_add(1, Ordering::Relaxed);
                            rwsem::clear_current_kill();
                        }
                        Err(_) => {
                            tally.setup_errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    while pool.len() > 8 || (!pool.is_empty() && rng.below(3) == 0) {
                        let victim = rng.below(pool.len() as u64) as usize;
                        drop(pool.swap_remove(victim));
                    }
                }
                rwsem::clear_current_kill();
            });
        }
        drop(kill_tx);

        // Register / unregister with 1% init failures.
        {
            let (registry, ledger, stop, tally) = (&registry, &ledger, &stop, &tally);
            s.spawn(move || {
                let mut rng = Rng::new(7);
                let ops: Vec<Arc<TortureOps>> = (0..4)
                    .map(|i| new_ops(ledger, 100, false, 10 + i))
                    .collect();
                let mut registered = [false; 4];
                while !stop.load(Ordering::Relaxed) {
                    let i = rng.below(4) as usize;
                    if registered[i] {
                        let result = if i % 2 == 0 {
                            registry.unregister_pernet_subsys(&ops[i])
                        } else {
                            registry.unregister_pernet_device(&ops[i])
                        };
                        result.expect("unregistration of registered ops");
                        registered[i] = false;
                    } else {
                        ops[i]
                            .epoch
                            .store(NEXT_EPOCH.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
                        let result = if i % 2 == 0 {
                            registry.register_pernet_subsys(&ops[i]).map(|_| ())
                        } else {
                            registry.register_pernet_device(&ops[i]).map(|_| ())
                        };
                        tally.registrations.fetch_add(1, Ordering::Relaxed);
                        match result {
                            Ok(()) => registered[i] = true,
                            Err(_) => {
                                tally.failed_registrations.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    thread::yield_now();
                }
                for (i, ops) in ops.iter().enumerate() {
                    if registered[i] {
                        let _ = registry.unregister_pernet_subsys(ops);
                        let _ = registry.unregister_pernet_device(ops);
                    }
                }
            });
        }

        // List walkers: a listed namespace never had its exits run.
        for w in 0..2 {
            let (registry, ledger, stop, tally) = (&registry, &ledger, &stop, &tally);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if w == 0 {
                        let guard = registry.domain().read();
                        for net in registry.for_each_net_rcu(&guard) {
                            if ledger.has_exited(net.cookie()) {
                                ledger.violation(format!("walker saw exited net {}", net.cookie()));
                            }
                        }
                    } else {
                        registry.for_each_net(|net| {
                            if ledger.has_exited(net.cookie()) {
                                ledger.violation(format!("locked walk saw net {}", net.cookie()));
                            }
                        });
                    }
                    tally.walks.fetch_add(1, Ordering::Relaxed);
                }
            });
        }

        // nsid lookups: never a dying namespace.
        {
            let (registry, ledger, stop, tally) = (&registry, &ledger, &stop, &tally);
            s.spawn(move || {
                let mut rng = Rng::new(99);
                let init_net = registry.init_net();
                while !stop.load(Ordering::Relaxed) {
                    let id = rng.below(64) as i32;
                    if let Some(peer) = init_net.get_net_ns_by_id(id) {
                        if !peer.check_net() || ledger.has_exited(peer.cookie()) {
                            ledger.violation(format!("nsid {id} gave a dying net"));
                        }
                        tally.lookups.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }

        // Killer.
        {
            let (stop, tally) = (&stop, &tally);
            // One handle per creator (each sends its own before its first creation).
            let handles: Vec<rwsem::KillHandle> = kill_rx.iter().take(2).collect();
            s.spawn(move || {
                let mut rng = Rng::new(5);
                while !stop.load(Ordering::Relaxed) {
                    let victim = &handles[rng.below(handles.len() as u64) as usize];
                    victim.kill();
                    tally.kills.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_micros(200));
                }
            });
        }

        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
    });

    registry.wait_cleanup_idle();
    registry
        .unregister_pernet_subsys(&sentinel)
        .expect("sentinel unregisters");
    registry.wait_cleanup_idle();
    let stats = registry.stats();

    let mut failures: Vec<String> = ledger.violations.lock().unwrap().clone();
    let pairs = ledger.pairs.lock().unwrap();
    let mut paired = 0u64;
    for (key, pair) in pairs.iter() {
        let expected = if pair.inits == 1 { 1 } else { 0 };
        let ok = pair.inits + pair.failed_inits == 1
            && pair.pre_exits == expected
            && pair.exits == expected
            && pair.batches == expected;
        if ok {
            paired += pair.inits as u64;
        } else if failures.len() < 10 {
            failures.push(format!("unpaired (epoch, net) {key:?}: {pair:?}"));
        } else {
            failures.push(String::new());
        }
    }
    if (stats.live, stats.queued, stats.dismantling) != (0, 0, 0) {
        failures.push(format!("counts not back to zero: {stats:?}"));
    }
    if stats.peak_backlog > NET_LIMIT {
        // Every backlogged namespace is still charged, so the limit bounds the backlog.
        failures.push(format!(
            "peak backlog {} above the limit {NET_LIMIT}",
            stats.peak_backlog
        ));
    }
    if stats.created != stats.destroyed {
        failures.push(format!(
            "created {} != destroyed {}",
            stats.created, stats.destroyed
        ));
    }
    let charged = [
        user_ns.net_namespaces(),
        parent.net_namespaces(),
        registry.init_user_ns().net_namespaces(),
    ];
    if charged != [0, 0, 0] {
        failures.push(format!(
            "ucount leak: {charged:?} charged at the three levels"
        ));
    }
    // The creators' credentials are gone, so no entry may remain in their namespace, and the
    // parent keeps only the owner's, which the creators' namespace holds.
    if !user_ns.ucounts_uids().is_empty() || parent.ucounts_uids() != [CREATORS_NS_OWNER] {
        failures.push(format!(
            "ucounts entries left: {:?} in the creators' namespace, {:?} in its parent",
            user_ns.ucounts_uids(),
            parent.ucounts_uids()
        ));
    }
    {
        let guard = registry.domain().read();
        let listed = registry.for_each_net_rcu(&guard).count();
        if listed != 1 {
            failures.push(format!(
                "{listed} namespaces listed at the end, expected init_net only"
            ));
        }
    }

    println!(
        "netns torture ({label}, {:?}): created {} ({} ENOSPC, {} EINTR, {} setup errors), \
         {} registrations ({} rolled back), {} walks, {} nsid lookups, {} kills",
        duration,
        tally.created.load(Ordering::Relaxed),
        tally.enospc.load(Ordering::Relaxed),
        tally.eintr.load(Ordering::Relaxed),
        tally.setup_errors.load(Ordering::Relaxed),
        tally.registrations.load(Ordering::Relaxed),
        tally.failed_registrations.load(Ordering::Relaxed),
        tally.walks.load(Ordering::Relaxed),
        tally.lookups.load(Ordering::Relaxed),
        tally.kills.load(Ordering::Relaxed),
    );
    println!(
        "  registry: {} batches (mean {:.1}, max {}), {} grace periods, {} barriers, \
         peak backlog {}, {} init/exit pairs checked",
        stats.batches,
        stats.mean_batch_size(),
        stats.max_batch,
        stats.grace_periods,
        stats.barriers,
        stats.peak_backlog,
        paired
    );
    let failed = !failures.is_empty();
    for failure in failures.iter().filter(|f| !f.is_empty()).take(10) {
        println!("  violation: {failure}");
    }
    println!("{}", if failed { "FAILURE" } else { "SUCCESS" });
    !failed
}

#[test]
#[ignore = "torture: run with --ignored, sized by TORTURE_SECS"]
fn netns_torture() {
    assert!(
        run_torture(torture_secs(10), Faults::default(), "correct"),
        "netns torture failed"
    );
}

#[test]
#[ignore = "torture: run with --ignored, sized by TORTURE_SECS"]
fn netns_torture_busted() {
    // Skipping every 50th exit breaks pairing: the harness must notice.
    let duration = torture_secs(10).min(Duration::from_secs(2));
    let passed = run_torture(
        duration,
        Faults::skip_every_nth_exit(50),
        "busted: skips exits",
    );
    assert!(!passed, "the busted twin was not caught");
}
