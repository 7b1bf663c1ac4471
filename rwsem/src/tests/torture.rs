//! `locktorture` for the semaphore, after the kernel's kernel/locking/locktorture.c: readers
//! and writers check a shared `write_held` flag and `read_held` count inside their sections,
//! using every acquisition method; a killer aborts waits at random; a watchdog fails the run on
//! a lock that stays free while waiters wait (a lost wake-up) or a thread that stops making
//! progress. Run with `TORTURE_SECS=N cargo test --release -p rwsem -- --ignored torture`.
//!
//! `locktorture_busted` runs the same harness over a lock whose writers only take the read
//! lock (a lock that does not exclude); it passes when the harness reports FAILURE.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::queue::successor_latency;
use crate::{KillHandle, RwSem, RwSemReadGuard, RwSemWriteGuard, clear_current_kill};

/// A lost wake-up: the lock is free, waiters are queued and nobody got in for this long.
const LOST_WAKEUP: Duration = Duration::from_millis(100);
/// A thread that completes no attempt for this long has stalled.
const STALL: Duration = Duration::from_secs(2);

/// A small xorshift generator; the harness needs no quality, only variety.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Default)]
struct Stats {
    exclusion_failures: AtomicU64,
    barges: AtomicU64,
    kills_requested: AtomicU64,
    kills_effective: AtomicU64,
    kills_granted_first: AtomicU64,
    lost_wakeups: AtomicU64,
    stalls: AtomicU64,
    acquisitions: AtomicU64,
}

struct Harness {
    sem: RwSem<u64>,
    busted: bool,
    write_held: AtomicBool,
    read_held: AtomicUsize,
    stop: AtomicBool,
    stats: Stats,
    /// Attempts per worker thread, for the stall detector.
    attempts: Vec<AtomicU64>,
    handles: Mutex<Vec<KillHandle>>,
}

/// What a writer holds: the write lock, or (busted) only a read lock.
enum Guard<'a> {
    /// Held only to be released on drop.
    Read(#[allow(dead_code)] RwSemReadGuard<'a, u64>),
    Write(RwSemWriteGuard<'a, u64>),
}

impl Harness {
    fn failed(&self) -> bool {
        let s = &self.stats;
        s.exclusion_failures.load(SeqCst)
            + s.barges.load(SeqCst)
            + s.lost_wakeups.load(SeqCst)
            + s.stalls.load(SeqCst)
            > 0
    }

    fn spin(&self, rng: &mut Rng) {
        for _ in 0..rng.below(200) {
            std::hint::spin_loop();
        }
    }

    fn read_section(&self, rng: &mut Rng) {
        self.read_held.fetch_add(1, SeqCst);
        if self.write_held.load(SeqCst) {
            self.stats.exclusion_failures.fetch_add(1, SeqCst);
        }
        self.spin(rng);
        if self.write_held.load(SeqCst) {
            self.stats.exclusion_failures.fetch_add(1, SeqCst);
        }
        self.read_held.fetch_sub(1, SeqCst);
    }

    fn write_section(&self, rng: &mut Rng) {
        if self.write_held.swap(true, SeqCst) || self.read_held.load(SeqCst) != 0 {
            self.stats.exclusion_failures.fetch_add(1, SeqCst);
        }
        self.spin(rng);
        if self.read_held.load(SeqCst) != 0 {
            self.stats.exclusion_failures.fetch_add(1, SeqCst);
        }
        self.write_held.store(false, SeqCst);
    }

    /// Bookkeeping after a killable call: a kill that did not stop the call won the race
    /// with nothing (or lost it to the grant).
    fn after_killable(&self, ok: bool) {
        if ok {
            if KillHandle::current().is_killed() {
                self.stats.kills_granted_first.fetch_add(1, SeqCst);
            }
        } else {
            self.stats.kills_effective.fetch_add(1, SeqCst);
        }
        clear_current_kill();
    }

    fn reader(&self, id: usize, seed: u64) {
        let mut rng = Rng(seed);
        while !self.stop.load(SeqCst) {
            let (enqueued_before, _) = self.sem.raw().writer_counts();
            let guard = match rng.below(8) {
                0..=3 => Some(self.sem.read()),
                4 | 5 => {
                    let r = self.sem.read_killable();
                    self.after_killable(r.is_ok());
                    r.ok()
                }
                6 => self.sem.try_read(),
                _ => {
                    let d = Duration::from_micros(rng.below(2_000));
                    self.sem.read_timeout(d).ok()
                }
            };
            if let Some(g) = guard {
                // Every writer queued before this reader started must have left the queue.
                let (_, dequeued_now) = self.sem.raw().writer_counts();
                if dequeued_now < enqueued_before {
                    self.stats.barges.fetch_add(1, SeqCst);
                }
                self.read_section(&mut rng);
                self.stats.acquisitions.fetch_add(1, SeqCst);
                drop(g);
            }
            self.attempts[id].fetch_add(1, SeqCst);
        }
    }

    fn writer(&self, id: usize, seed: u64, waits: &mut Vec<Duration>) {
        let mut rng = Rng(seed);
        while !self.stop.load(SeqCst) {
            let t0 = Instant::now();
            let guard = if self.busted {
                // The busted lock: writers do not exclude anyone.
                Some(Guard::Read(self.sem.read()))
            } else {
                match rng.below(10) {
                    0..=4 => {
                        let g = self.sem.write();
                        waits.push(t0.elapsed());
                        Some(Guard::Write(g))
                    }
                    5..=7 => {
                        let r = self.sem.write_killable();
                        self.after_killable(r.is_ok());
                        r.ok().map(Guard::Write)
                    }
                    8 => {
                        let d = Duration::from_micros(200 + rng.below(5_000));
                        self.sem.write_timeout(d).ok().map(Guard::Write)
                    }
                    _ => self.sem.try_write().map(Guard::Write),
                }
            };
            if let Some(mut g) = guard {
                self.write_section(&mut rng);
                if let Guard::Write(w) = &mut g {
                    **w += 1;
                }
                self.stats.acquisitions.fetch_add(1, SeqCst);
                drop(g);
            }
            self.attempts[id].fetch_add(1, SeqCst);
            if rng.below(4) == 0 {
                thread::yield_now();
            }
        }
    }

    fn killer(&self, seed: u64) {
        let mut rng = Rng(seed);
        let handles = self.handles.lock().unwrap().clone();
        while !self.stop.load(SeqCst) {
            thread::sleep(Duration::from_micros(100 + rng.below(1_000)));
            handles[rng.below(handles.len() as u64) as usize].kill();
            self.stats.kills_requested.fetch_add(1, SeqCst);
        }
    }

    fn watchdog(&self, deadline: Instant) {
        let mut free_with_waiters_since: Option<(Instant, u64)> = None;
        let mut last: Vec<(u64, Instant)> = self
            .attempts
            .iter()
            .map(|a| (a.load(SeqCst), Instant::now()))
            .collect();
        while Instant::now() < deadline && !(self.busted && self.failed()) {
            thread::sleep(Duration::from_millis(1));
            let now = Instant::now();
            let progress = self.stats.acquisitions.load(SeqCst);
            if !self.sem.is_locked() && self.sem.has_waiters() {
                match free_with_waiters_since {
                    Some((since, p)) if p == progress => {
                        if now - since >= LOST_WAKEUP {
                            self.stats.lost_wakeups.fetch_add(1, SeqCst);
                            free_with_waiters_since = None;
                        }
                    }
                    _ => free_with_waiters_since = Some((now, progress)),
                }
            } else {
                free_with_waiters_since = None;
            }
            for (a, (count, at)) in self.attempts.iter().zip(last.iter_mut()) {
                let c = a.load(SeqCst);
                if c != *count {
                    (*count, *at) = (c, now);
                } else if now - *at >= STALL {
                    self.stats.stalls.fetch_add(1, SeqCst);
                    *at = now;
                }
            }
        }
        self.stop.store(true, SeqCst);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the harness and returns whether it reported SUCCESS.
fn run(name: &str, secs: f64, busted: bool) -> bool {
    const READERS: usize = 3;
    const WRITERS: usize = 2;
    let h = Arc::new(Harness {
        sem: RwSem::new(0),
        busted,
        write_held: AtomicBool::new(false),
        read_held: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        stats: Stats::default(),
        attempts: (0..READERS + WRITERS).map(|_| AtomicU64::new(0)).collect(),
        handles: Mutex::new(Vec::new()),
    });
    successor_latency::take();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    // Plain threads, not scoped ones: a thread stuck for ever (a lost wake-up) is reported
    // and left behind instead of hanging the harness.
    let (tx, rx) = mpsc::channel();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for i in 0..READERS + WRITERS {
        let (tx, h) = (tx.clone(), h.clone());
        let seed = 0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x2545_F491_4F6C_DD1D);
        if i < READERS {
            readers.push(thread::spawn(move || {
                tx.send(KillHandle::current()).unwrap();
                h.reader(i, seed);
            }));
        } else {
            writers.push(thread::spawn(move || {
                tx.send(KillHandle::current()).unwrap();
                let mut waits = Vec::new();
                h.writer(i, seed, &mut waits);
                waits
            }));
        }
    }
    *h.handles.lock().unwrap() = rx.iter().take(READERS + WRITERS).collect();
    let killer = (!busted).then(|| {
        let h = h.clone();
        thread::spawn(move || h.killer(7))
    });
    h.watchdog(deadline);
    let grace = Instant::now() + Duration::from_secs(3);
    let all_done = |done: &dyn Fn() -> bool| {
        while !done() && Instant::now() < grace {
            thread::sleep(Duration::from_millis(1));
        }
        done()
    };
    let finished = all_done(&|| {
        readers.iter().all(|t| t.is_finished()) && writers.iter().all(|t| t.is_finished())
    });
    let mut writer_waits = Vec::new();
    if finished {
        for r in readers {
            r.join().unwrap();
        }
        for w in writers {
            writer_waits.extend(w.join().unwrap());
        }
    } else {
        let stuck = readers.iter().filter(|t| !t.is_finished()).count()
            + writers.iter().filter(|t| !t.is_finished()).count();
        println!("{name}: {stuck} threads still blocked after the run; left behind");
        h.stats.stalls.fetch_add(stuck as u64, SeqCst);
    }
    if let Some(k) = killer {
        k.join().unwrap();
    }
    let per_role: Vec<u64> = h.attempts.iter().map(|a| a.load(SeqCst)).collect();
    let mut waits = writer_waits;
    waits.sort();
    let mut succ = successor_latency::take();
    succ.sort();
    let st = &h.stats;
    let (r, w) = per_role.split_at(READERS);
    println!(
        "{name}: {secs} s, {READERS} readers, {WRITERS} writers, killer: {}",
        !busted
    );
    println!(
        "  acquisitions {}  writes {}  attempts: readers max {} min {}, writers max {} min {}",
        st.acquisitions.load(SeqCst),
        h.sem.try_read().map_or(0, |v| *v),
        r.iter().max().unwrap(),
        r.iter().min().unwrap(),
        w.iter().max().unwrap(),
        w.iter().min().unwrap(),
    );
    println!(
        "  exclusion failures {}  barges {}  lost wake-ups {}  stalls {}",
        st.exclusion_failures.load(SeqCst),
        st.barges.load(SeqCst),
        st.lost_wakeups.load(SeqCst),
        st.stalls.load(SeqCst),
    );
    println!(
        "  writer wait (write()): n {}  p50 {:?}  p99 {:?}  max {:?}",
        waits.len(),
        percentile(&waits, 0.5),
        percentile(&waits, 0.99),
        waits.last().copied().unwrap_or_default(),
    );
    println!(
        "  kills requested {}  effective {}  granted-first {}",
        st.kills_requested.load(SeqCst),
        st.kills_effective.load(SeqCst),
        st.kills_granted_first.load(SeqCst),
    );
    println!(
        "  successor wake after an abort: n {}  p50 {:?}  p99 {:?}  max {:?}",
        succ.len(),
        percentile(&succ, 0.5),
        percentile(&succ, 0.99),
        succ.last().copied().unwrap_or_default(),
    );
    let ok = finished && !h.failed() && !h.sem.is_locked() && !h.sem.has_waiters();
    println!("{name}: {}", if ok { "SUCCESS" } else { "FAILURE" });
    ok
}

fn torture_secs() -> f64 {
    std::env::var("TORTURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0)
}

#[test]
#[ignore = "torture test: run with --ignored torture (TORTURE_SECS, default 10)"]
fn locktorture() {
    assert!(
        run("locktorture", torture_secs(), false),
        "locktorture reported FAILURE"
    );
}

#[test]
#[ignore = "torture test: run with --ignored torture"]
fn locktorture_busted() {
    // The harness stops at the first failure; the bound only matters if it never fails.
    let t0 = Instant::now();
    let ok = run("locktorture_busted", torture_secs().min(5.0), true);
    assert!(!ok, "the busted lock passed: the harness cannot fail");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the busted lock took too long to fail"
    );
}
