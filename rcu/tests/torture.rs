//! rcutorture for this crate (after the kernel's `kernel/rcu/rcutorture.c`), `#[ignore]`d by
//! default: `TORTURE_SECS=10 cargo test --release -p rcu -- --ignored torture`.
//!
//! A writer cycles a pool of objects through one published slot. An object's pipe count is 0
//! while published, 1 once unpublished, and grows by one after each later grace period; at
//! `PIPE_LEN` it is poisoned and recycled. Readers record the pipe count they see inside their
//! sections (while nesting, spinning, yielding and sleeping at random): any count of 2 or more
//! means a grace period ended while a reader that could see the object was still inside. The
//! writer uses every wait method in turn (synchronize, expedited, polled cookies, `call`
//! chains); fake writers hammer the wait methods too; barrier phases check that callbacks run
//! exactly once; a watchdog fails the run if the writer stops making progress.
//!
//! The harness prints its statistics and ends with one `SUCCESS` or `FAILURE` line.
//! `rcutorture_busted` runs it on a domain whose grace periods do not wait (a test-only hook)
//! and passes only if the harness reports FAILURE.

use rcu::Domain;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const POOL: usize = 64;
const PIPE_LEN: usize = 10;
const READERS: usize = 3;

struct Obj {
    pipe_count: AtomicUsize,
    /// Cleared when the object goes back to the pool (kernel: `rtort_mbtest`).
    alive: AtomicBool,
}

struct Shared {
    domain: Domain,
    pool: Vec<Obj>,
    /// Index of the published object.
    current: AtomicUsize,
    stop: AtomicBool,
    /// Per reader thread histogram of pipe counts seen, `PIPE_LEN + 1` buckets each.
    histogram: Vec<AtomicU64>,
    poisoned_reads: AtomicU64,
    reads: AtomicU64,
    writer_progress: AtomicU64,
    gp_methods: [AtomicU64; 5],
    barrier_errors: AtomicU64,
    barrier_phases: AtomicU64,
    cookie_errors: AtomicU64,
    fake_waits: AtomicU64,
    stalls: Arc<AtomicU64>,
}

/// A small xorshift generator: reproducible, no dependency.
struct Rng(u64);
impl Rng {
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

fn record(s: &Shared, pc: usize) {
    s.histogram[pc.min(PIPE_LEN)].fetch_add(1, Ordering::Relaxed);
}

/// Something a reader does while inside its section.
fn reader_delay(rng: &mut Rng) {
    match rng.below(1000) {
        0..=1 => std::thread::sleep(Duration::from_micros(50 + rng.below(500))),
        2..=40 => std::thread::yield_now(),
        41..=300 => {
            for _ in 0..rng.below(200) {
                std::hint::spin_loop();
            }
        }
        _ => {}
    }
}

fn observe(s: &Shared, rng: &mut Rng) {
    let obj = &s.pool[s.current.load(Ordering::Acquire)];
    reader_delay(rng);
    if !obj.alive.load(Ordering::Acquire) {
        s.poisoned_reads.fetch_add(1, Ordering::Relaxed);
    }
    record(s, obj.pipe_count.load(Ordering::Acquire));
    s.reads.fetch_add(1, Ordering::Relaxed);
}

fn reader(s: Arc<Shared>, seed: u64) {
    let mut rng = Rng(seed);
    while !s.stop.load(Ordering::Relaxed) {
        if rng.below(50) == 0 {
            let g = s.domain.read_owned();
            observe(&s, &mut rng);
            drop(g);
            continue;
        }
        let g = s.domain.read();
        observe(&s, &mut rng);
        if rng.below(4) == 0 {
            let inner = s.domain.read();
            observe(&s, &mut rng);
            drop(inner);
            observe(&s, &mut rng);
        }
        drop(g);
    }
}

/// Advances every retired object by one grace period; returns the ones now free.
fn age(s: &Shared, retired: &mut Vec<usize>, free: &mut Vec<usize>) {
    retired.retain(|&i| {
        let obj = &s.pool[i];
        let pc = obj.pipe_count.fetch_add(1, Ordering::AcqRel) + 1;
        if pc >= PIPE_LEN {
            obj.alive.store(false, Ordering::Release);
            free.push(i);
            false
        } else {
            true
        }
    });
}

/// A `call` chain: each link ages the object once and queues the next link, like the
/// kernel's `rcu_torture_cb`.
fn chain(domain: Domain, s: Arc<Shared>, i: usize, free: Arc<std::sync::Mutex<Vec<usize>>>) {
    let obj = &s.pool[i];
    let pc = obj.pipe_count.fetch_add(1, Ordering::AcqRel) + 1;
    if pc >= PIPE_LEN {
        obj.alive.store(false, Ordering::Release);
        free.lock().unwrap().push(i);
    } else {
        let d2 = domain.clone();
        domain.call(move || chain(d2, s, i, free));
    }
}

fn writer(s: Arc<Shared>, seed: u64) {
    let mut rng = Rng(seed);
    let mut free: Vec<usize> = (1..POOL).collect();
    let async_free = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut retired = Vec::new();
    while !s.stop.load(Ordering::Relaxed) {
        free.append(&mut async_free.lock().unwrap());
        let Some(next) = free.pop() else {
            // Everything is retired or in call chains: let a grace period age them.
            s.domain.synchronize();
            age(&s, &mut retired, &mut free);
            continue;
        };
        let obj = &s.pool[next];
        obj.pipe_count.store(0, Ordering::Relaxed);
        obj.alive.store(true, Ordering::Relaxed);
        let old = s.current.swap(next, Ordering::AcqRel);
        s.pool[old].pipe_count.store(1, Ordering::Release);
        let method = rng.below(5) as usize;
        s.gp_methods[method].fetch_add(1, Ordering::Relaxed);
        match method {
            0 => s.domain.synchronize(),
            1 => s.domain.synchronize_expedited(),
            2 => {
                let c = s.domain.start_poll();
                while !s.domain.poll(c) {
                    std::thread::yield_now();
                }
            }
            3 => {
                let c = s.domain.get_state();
                s.domain.cond_synchronize(c);
                if !s.domain.poll(c) {
                    s.cookie_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                // The old object ages through a chain of callbacks instead.
                let d2 = s.domain.clone();
                let (s2, f2) = (s.clone(), async_free.clone());
                s.domain.call(move || chain(d2, s2, old, f2));
                s.writer_progress.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        retired.push(old);
        age(&s, &mut retired, &mut free);
        s.writer_progress.fetch_add(1, Ordering::Relaxed);
    }
}

fn fake_writer(s: Arc<Shared>, seed: u64) {
    let mut rng = Rng(seed);
    while !s.stop.load(Ordering::Relaxed) {
        let before = s.domain.get_state();
        match rng.below(4) {
            0 => s.domain.synchronize(),
            1 => s.domain.synchronize_expedited(),
            2 => s.domain.barrier(),
            _ => {
                let c = s.domain.start_poll();
                s.domain.cond_synchronize(c);
            }
        }
        // Every wait method above except barrier ends a full grace period after `before`.
        s.domain.synchronize();
        if !s.domain.poll(before) {
            s.cookie_errors.fetch_add(1, Ordering::Relaxed);
        }
        s.fake_waits.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(rng.below(200)));
    }
}

/// Queues callbacks that each mark their own slot, then checks after `barrier` that every
/// slot was marked exactly once.
fn barrier_phases(s: Arc<Shared>) {
    while !s.stop.load(Ordering::Relaxed) {
        let marks: Arc<Vec<AtomicUsize>> =
            Arc::new((0..500).map(|_| AtomicUsize::new(0)).collect());
        for i in 0..marks.len() {
            let m = marks.clone();
            s.domain.call(move || {
                m[i].fetch_add(1, Ordering::Relaxed);
            });
        }
        s.domain.barrier();
        if marks.iter().any(|m| m.load(Ordering::Relaxed) != 1) {
            s.barrier_errors.fetch_add(1, Ordering::Relaxed);
        }
        s.barrier_phases.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the harness for `secs` seconds (stopping early on a failure); returns whether it
/// reported SUCCESS.
fn run(name: &str, busted: bool, fences: bool, secs: u64) -> bool {
    let stalls = Arc::new(AtomicU64::new(0));
    let st2 = stalls.clone();
    let mut b = Domain::builder()
        .name(name)
        .force_fence_fallback(fences)
        .on_stall(Duration::from_secs(10), move |_| {
            st2.fetch_add(1, Ordering::Relaxed);
        });
    if busted {
        b = b.broken_skip_wait();
    }
    let s = Arc::new(Shared {
        domain: b.build(),
        pool: (0..POOL)
            .map(|i| Obj {
                pipe_count: AtomicUsize::new(0),
                alive: AtomicBool::new(i == 0),
            })
            .collect(),
        current: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        histogram: (0..=PIPE_LEN).map(|_| AtomicU64::new(0)).collect(),
        poisoned_reads: AtomicU64::new(0),
        reads: AtomicU64::new(0),
        writer_progress: AtomicU64::new(0),
        gp_methods: Default::default(),
        barrier_errors: AtomicU64::new(0),
        barrier_phases: AtomicU64::new(0),
        cookie_errors: AtomicU64::new(0),
        fake_waits: AtomicU64::new(0),
        stalls,
    });
    let mut threads = Vec::new();
    for r in 0..READERS {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            reader(s, 0x9e37_79b9 + r as u64)
        }));
    }
    let s2 = s.clone();
    threads.push(std::thread::spawn(move || writer(s2, 0x1234_5678)));
    let s2 = s.clone();
    threads.push(std::thread::spawn(move || fake_writer(s2, 0xdead_beef)));
    let s2 = s.clone();
    threads.push(std::thread::spawn(move || barrier_phases(s2)));

    let start = Instant::now();
    let mut last_progress = (0, Instant::now());
    let mut writer_stalled = false;
    let failed = |s: &Shared| {
        s.histogram[2..]
            .iter()
            .any(|h| h.load(Ordering::Relaxed) > 0)
            || s.poisoned_reads.load(Ordering::Relaxed) > 0
            || s.barrier_errors.load(Ordering::Relaxed) > 0
            || s.cookie_errors.load(Ordering::Relaxed) > 0
    };
    while start.elapsed() < Duration::from_secs(secs) && !failed(&s) {
        std::thread::sleep(Duration::from_millis(50));
        let p = s.writer_progress.load(Ordering::Relaxed);
        if p != last_progress.0 {
            last_progress = (p, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(10) {
            writer_stalled = true;
            break;
        }
    }
    s.stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    // Call chains re-queue themselves; each ends within PIPE_LEN links.
    for _ in 0..=PIPE_LEN + 1 {
        s.domain.barrier();
        let st = s.domain.stats();
        if st.callbacks_run == st.callbacks_queued {
            break;
        }
    }

    let hist: Vec<u64> = s
        .histogram
        .iter()
        .map(|h| h.load(Ordering::Relaxed))
        .collect();
    let methods: Vec<u64> = s
        .gp_methods
        .iter()
        .map(|m| m.load(Ordering::Relaxed))
        .collect();
    let stats = s.domain.stats();
    println!(
        "rcutorture {name}: {:.1} s, membarrier: {}",
        start.elapsed().as_secs_f64(),
        s.domain.uses_membarrier()
    );
    println!(
        "  reads: {}  poisoned reads: {}",
        s.reads.load(Ordering::Relaxed),
        s.poisoned_reads.load(Ordering::Relaxed)
    );
    println!("  pipe-count histogram (0..={PIPE_LEN}): {hist:?}");
    println!(
        "  writer updates: {}  by method [sync, expedited, start_poll, cond_sync, call]: {methods:?}",
        s.writer_progress.load(Ordering::Relaxed)
    );
    println!(
        "  fake-writer waits: {}  cookie errors: {}",
        s.fake_waits.load(Ordering::Relaxed),
        s.cookie_errors.load(Ordering::Relaxed)
    );
    println!(
        "  barrier phases: {}  barrier errors: {}",
        s.barrier_phases.load(Ordering::Relaxed),
        s.barrier_errors.load(Ordering::Relaxed)
    );
    println!(
        "  grace periods: {}  callbacks: {} queued, {} run in {} batches  stall reports: {}  writer stalled: {writer_stalled}",
        stats.grace_periods,
        stats.callbacks_queued,
        stats.callbacks_run,
        stats.callback_batches,
        s.stalls.load(Ordering::Relaxed)
    );
    let ok = !failed(&s) && !writer_stalled && stats.callbacks_run == stats.callbacks_queued;
    println!("{}", if ok { "SUCCESS" } else { "FAILURE" });
    ok
}

fn torture_secs() -> u64 {
    std::env::var("TORTURE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

#[test]
#[ignore = "torture test: run with --ignored (TORTURE_SECS, default 10)"]
fn rcutorture() {
    assert!(
        run("rcutorture", false, false, torture_secs()),
        "rcutorture reported FAILURE"
    );
}

#[test]
#[ignore = "torture test: run with --ignored (TORTURE_SECS, default 10)"]
fn rcutorture_busted() {
    assert!(
        !run("rcutorture-busted", true, false, torture_secs()),
        "busted rcutorture reported SUCCESS"
    );
}

#[test]
#[ignore = "torture test: run with --ignored (TORTURE_SECS, default 10)"]
fn rcutorture_fence_fallback() {
    assert!(
        run("rcutorture-fences", false, true, torture_secs()),
        "rcutorture (fence fallback) reported FAILURE"
    );
}
