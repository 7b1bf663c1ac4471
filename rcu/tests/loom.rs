//! Loom models of the grace-period protocol (`RUSTFLAGS="--cfg loom"`).
//!
//! Each model drives the crate's own reader records, grace-period driver and callback queue
//! (through `rcu::model`) in fence mode, since loom cannot model membarrier. An object is
//! "published" through an atomic flag and "freed" by writing its `UnsafeCell`; loom reports any
//! free that is not ordered after a reader's access. Every model has a broken twin
//! (`#[should_panic]`) with one protocol step disabled, proving the model can fail.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use rcu::model::{ModelDomain, ModelFaults, ModelReader};

/// A published object: readers may use it while `published` is set or under a section that
/// saw it set; writers unpublish, wait, then free (write).
struct Obj {
    published: AtomicBool,
    value: UnsafeCell<u32>,
}

// SAFETY (model): the cell is only touched under the protocol being checked; loom's cell
// tracking reports any unordered access.
unsafe impl Sync for Obj {}

impl Obj {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            published: AtomicBool::new(true),
            value: UnsafeCell::new(7),
        })
    }

    /// Reader side: use the object if it is still published.
    fn use_if_published(&self) {
        if self.published.load(Ordering::Acquire) {
            self.value.with(|v| {
                // SAFETY (model): the read section keeps the object alive.
                assert_eq!(unsafe { *v }, 7, "object freed under a reader");
            });
        }
    }

    fn unpublish(&self) {
        self.published.store(false, Ordering::Release);
    }

    /// Writer side, after a grace period.
    fn free(&self) {
        self.value.with_mut(|v| {
            // SAFETY (model): loom checks that no reader access is concurrent with this.
            unsafe { *v = 0 };
        });
    }
}

/// A loom builder exploring at least `preemptions` preemptions (more if LOOM_MAX_PREEMPTIONS
/// asks for more).
fn builder(preemptions: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(
        b.preemption_bound
            .map_or(preemptions, |p| p.max(preemptions)),
    );
    b
}

fn reader_section(r: &ModelReader, obj: &Obj) {
    r.lock();
    obj.use_if_published();
    r.unlock();
}

fn reader_vs_grace_period(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let obj = Obj::new();
        let r = ModelDomain::reader(&d);
        let o2 = obj.clone();
        let t = thread::spawn(move || reader_section(&r, &o2));
        obj.unpublish();
        d.synchronize();
        obj.free();
        t.join().unwrap();
    });
}

#[test]
fn loom_reader_vs_grace_period() {
    reader_vs_grace_period(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_reader_vs_grace_period_broken_no_wait() {
    reader_vs_grace_period(ModelFaults {
        skip_wait: true,
        ..Default::default()
    });
}

#[test]
#[should_panic]
fn loom_reader_vs_grace_period_broken_lost_wakeup() {
    // The waiter parks without flagging the reader: loom finds the schedule where nobody
    // wakes it and reports the deadlock.
    reader_vs_grace_period(ModelFaults {
        no_wake_flag: true,
        ..Default::default()
    });
}

/// An owned (movable) section against a grace period, in a domain without thread records, so
/// the grace period takes its fence-only path.
fn owned_section_vs_grace_period(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let obj = Obj::new();
        let (d2, o2) = (d.clone(), obj.clone());
        let t = thread::spawn(move || {
            let phase = d2.down_read();
            o2.use_if_published();
            d2.up_read(phase);
        });
        obj.unpublish();
        d.synchronize();
        obj.free();
        t.join().unwrap();
    });
}

#[test]
fn loom_owned_section_vs_grace_period() {
    owned_section_vs_grace_period(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_owned_section_vs_grace_period_broken_no_wait() {
    owned_section_vs_grace_period(ModelFaults {
        skip_wait: true,
        ..Default::default()
    });
}

/// A nested reader whose outer section may have snapshotted the phase before a flip; the
/// writer runs two grace periods (the second one is where a single flip goes wrong).
fn index_flip_nested(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let obj = Obj::new();
        let r = ModelDomain::reader(&d);
        let o2 = obj.clone();
        let t = thread::spawn(move || {
            r.lock();
            thread::yield_now();
            r.lock();
            o2.use_if_published();
            r.unlock();
            thread::yield_now();
            o2.use_if_published();
            r.unlock();
        });
        d.synchronize();
        obj.unpublish();
        d.synchronize();
        obj.free();
        t.join().unwrap();
    });
}

#[test]
fn loom_index_flip_with_nested_reader() {
    index_flip_nested(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_index_flip_with_nested_reader_broken_single_flip() {
    index_flip_nested(ModelFaults {
        single_flip: true,
        ..Default::default()
    });
}

/// Two writers synchronize concurrently (sharing grace periods) while one reader uses both
/// objects in one section.
fn two_synchronizers(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let (a, b) = (Obj::new(), Obj::new());
        let r = ModelDomain::reader(&d);
        let (ra, rb) = (a.clone(), b.clone());
        let reader = thread::spawn(move || {
            r.lock();
            ra.use_if_published();
            rb.use_if_published();
            r.unlock();
        });
        let (d2, b2) = (d.clone(), b.clone());
        let other = thread::spawn(move || {
            b2.unpublish();
            d2.synchronize();
            b2.free();
        });
        a.unpublish();
        d.synchronize();
        a.free();
        reader.join().unwrap();
        other.join().unwrap();
    });
}

#[test]
fn loom_two_concurrent_synchronizers() {
    two_synchronizers(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_two_concurrent_synchronizers_broken_cookie() {
    two_synchronizers(ModelFaults {
        early_cookie: true,
        ..Default::default()
    });
}

/// `call` frees an object after a grace period on the worker; `barrier` must not return before
/// the callback has run.
fn call_and_barrier(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let ran = Arc::new(AtomicUsize::new(0));
        let d2 = d.clone();
        let worker = thread::spawn(move || d2.run_worker());
        let r2 = ran.clone();
        d.call(move || {
            r2.fetch_add(1, Ordering::Relaxed);
        });
        d.barrier();
        assert_eq!(
            ran.load(Ordering::Relaxed),
            1,
            "barrier returned before the callback ran"
        );
        d.shutdown();
        worker.join().unwrap();
        assert_eq!(
            ran.load(Ordering::Relaxed),
            1,
            "callback ran more than once"
        );
    });
}

#[test]
fn loom_call_and_barrier() {
    call_and_barrier(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_call_and_barrier_broken_barrier() {
    call_and_barrier(ModelFaults {
        barrier_ignores_running: true,
        ..Default::default()
    });
}

/// A callback that frees an object must wait for a reader that may still use it (a reader
/// that blocks inside its section: the yield stands for a sleep).
///
/// The failing schedule needs a third preemption (reader, then main, then worker), and the
/// model is small enough to explore it in well under a second.
fn call_waits_for_reader(faults: ModelFaults) {
    builder(3).check(move || {
        let d = ModelDomain::new(faults);
        let obj = Obj::new();
        let r = ModelDomain::reader(&d);
        let o2 = obj.clone();
        let reader = thread::spawn(move || {
            r.lock();
            o2.use_if_published();
            thread::yield_now();
            o2.use_if_published();
            r.unlock();
        });
        let d2 = d.clone();
        let worker = thread::spawn(move || d2.run_worker());
        obj.unpublish();
        let o3 = obj.clone();
        d.call(move || o3.free());
        d.shutdown();
        worker.join().unwrap();
        reader.join().unwrap();
    });
}

#[test]
fn loom_call_waits_for_reader() {
    call_waits_for_reader(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_call_waits_for_reader_broken_no_wait() {
    call_waits_for_reader(ModelFaults {
        skip_wait: true,
        ..Default::default()
    });
}

/// A polled cookie: the writer frees only once its cookie is reached, while another thread's
/// grace period may already be running when the cookie is taken.
fn polled_cookie(faults: ModelFaults) {
    builder(2).check(move || {
        let d = ModelDomain::new(faults);
        let obj = Obj::new();
        let r = ModelDomain::reader(&d);
        let o2 = obj.clone();
        let reader = thread::spawn(move || reader_section(&r, &o2));
        let d2 = d.clone();
        let syncer = thread::spawn(move || d2.synchronize());
        obj.unpublish();
        let cookie = d.get_state();
        if !d.poll(cookie) {
            d.cond_synchronize(cookie);
        }
        assert!(d.poll(cookie));
        obj.free();
        reader.join().unwrap();
        syncer.join().unwrap();
    });
}

#[test]
fn loom_polled_cookie() {
    polled_cookie(ModelFaults::default());
}

#[test]
#[should_panic]
fn loom_polled_cookie_broken_early_cookie() {
    polled_cookie(ModelFaults {
        early_cookie: true,
        ..Default::default()
    });
}
