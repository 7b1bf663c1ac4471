//! Finding the calling thread's reader record for a domain, with no registration call.
//!
//! Each domain gets a dense id (recycled when the domain dies) and a never-reused generation.
//! Each thread keeps, in a `thread_local!` with const initialisation, a small vector indexed by
//! domain id whose entries hold the generation they were made for and a strong reference to the
//! thread's record. A lookup is a bounds check and a generation compare; a miss (first read of
//! this domain on this thread, or an id recycled from a dead domain) takes the slow path, which
//! claims a free record from the domain's list or appends a new one.
//!
//! When a thread exits, the thread-local destructor releases each of its records that is not
//! inside a read section, so a later thread can claim it; the domain's record list therefore
//! grows with the largest number of threads that read it at once, not with thread churn.
//!
//! # Orderings
//!
//! A record changes hands through `claimed`: the old owner's thread-exit release stores `false`
//! with `Release` after its last `ctr` store (nesting 0), and the new owner claims it with an
//! `Acquire` compare-exchange under the record-list lock, so the new owner's first `ctr` store
//! comes after the old owner's last one. Domain ids and generations need no ordering beyond
//! their mutex and their uniqueness.
//!
//! # Invariants
//!
//! 1. A slot's record belongs to the domain of the slot's generation, and this thread owns it
//!    (`claimed` is true) for as long as the slot holds it.
//! 2. The slots vector is only touched by its thread, never re-entrantly (no user code runs
//!    while it is borrowed).

use crate::gp::RecordList;
use crate::protocol::{ReaderShared, Record};
use crate::sync::{Arc, Ordering, lock};
use crossbeam_utils::CachePadded;
use std::cell::{Cell, UnsafeCell};
use std::sync::Mutex as StdMutex;
use std::sync::atomic::AtomicU64 as StdAtomicU64;

type RecordRef = Arc<CachePadded<Record>>;

struct Slot {
    /// The generation of the domain this slot serves; 0 = empty.
    generation: u64,
    record: Option<RecordRef>,
}

struct ThreadSlots {
    /// Invariant 2.
    slots: UnsafeCell<Vec<Slot>>,
}

impl Drop for ThreadSlots {
    fn drop(&mut self) {
        let _ = LAST.try_with(|l| l.set((0, std::ptr::null())));
        for slot in self.slots.get_mut().drain(..) {
            if let Some(rec) = slot.record {
                release(&rec);
            }
        }
    }
}

thread_local! {
    static SLOTS: ThreadSlots = const { ThreadSlots { slots: UnsafeCell::new(Vec::new()) } };
    /// A one-entry cache in front of `SLOTS`: the generation and record of the domain this
    /// thread read last. It has no destructor, so reaching it costs no lazy-registration check;
    /// `ThreadSlots::drop` empties it before releasing the records (invariant 3).
    static LAST: Cell<(u64, *const Record)> = const { Cell::new((0, std::ptr::null())) };
}

/// Gives `rec` up so another thread may claim it, unless it is still inside a read section
/// (a guard leaked past thread exit keeps its record, and any grace period stays blocked on it,
/// exactly as a leaked lock guard keeps a lock).
fn release(rec: &Record) {
    if rec.nesting() == 0 {
        *lock(&rec.owner) = None;
        rec.claimed.store(false, Ordering::Release);
    }
}

/// Returns this thread's record for the domain (`id`, `generation`), creating it on first use;
/// `None` once this thread's locals are being destroyed.
#[inline]
pub(crate) fn record(
    id: usize,
    generation: u64,
    records: &RecordList,
    shared: &ReaderShared,
) -> Option<*const Record> {
    if let Ok((g, rec)) = LAST.try_with(Cell::get) {
        if g == generation {
            return Some(rec);
        }
    }
    record_miss(id, generation, records, shared)
}

/// The `LAST` miss path: the per-domain vector, then the slow path.
#[inline(never)]
fn record_miss(
    id: usize,
    generation: u64,
    records: &RecordList,
    shared: &ReaderShared,
) -> Option<*const Record> {
    let rec = SLOTS
        .try_with(|ts| {
            // SAFETY: invariant 2: only this thread touches its slots, and not re-entrantly.
            let slots = unsafe { &*ts.slots.get() };
            if let Some(Slot {
                generation: g,
                record: Some(rec),
            }) = slots.get(id)
            {
                if *g == generation {
                    return &***rec as *const Record;
                }
            }
            record_slow(ts, id, generation, records, shared)
        })
        .ok()?;
    let _ = LAST.try_with(|l| l.set((generation, rec)));
    Some(rec)
}

/// Returns this thread's record for the domain if it already has one (never creates it).
#[inline]
pub(crate) fn existing_record(id: usize, generation: u64) -> Option<*const Record> {
    if let Ok((g, rec)) = LAST.try_with(Cell::get) {
        if g == generation {
            return Some(rec);
        }
    }
    SLOTS
        .try_with(|ts| {
            // SAFETY: invariant 2.
            let slots = unsafe { &*ts.slots.get() };
            match slots.get(id) {
                Some(Slot {
                    generation: g,
                    record: Some(rec),
                }) if *g == generation => Some(&***rec as *const Record),
                _ => None,
            }
        })
        .ok()
        .flatten()
}

#[cold]
#[inline(never)]
fn record_slow(
    ts: &ThreadSlots,
    id: usize,
    generation: u64,
    records: &RecordList,
    shared: &ReaderShared,
) -> *const Record {
    let rec = claim(records, shared, generation);
    let ptr = &**rec as *const Record;
    // SAFETY: invariant 2; the shared borrow taken by the caller is no longer used.
    let slots = unsafe { &mut *ts.slots.get() };
    if slots.len() <= id {
        slots.resize_with(id + 1, || Slot {
            generation: 0,
            record: None,
        });
    }
    let old = std::mem::replace(
        &mut slots[id],
        Slot {
            generation,
            record: Some(rec),
        },
    );
    if let Some(old) = old.record {
        release(&old);
    }
    ptr
}

/// Claims an unclaimed record of the domain or appends a new one.
///
/// TODO(#3): the list never shrinks while the domain lives; after a burst of many concurrent
/// reader threads, every grace period keeps scanning the records they left behind. Trimming
/// unclaimed records would need the grace-period lock (scans use raw pointers, protocol
/// invariant 5).
fn claim(records: &RecordList, shared: &ReaderShared, generation: u64) -> RecordRef {
    let mut list = lock(records);
    let rec = match list.iter().find(|r| {
        r.claimed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }) {
        Some(r) => r.clone(),
        None => {
            let r = Arc::new(CachePadded::new(Record::new(shared, generation)));
            r.claimed.store(true, Ordering::Relaxed);
            list.push(r.clone());
            r
        }
    };
    drop(list);
    *lock(&rec.owner) = Some(std::thread::current());
    rec
}

/// Claims a record for one read section of a thread whose thread-locals are gone; the
/// section's outermost unlock gives it back with [`release_transient`].
#[cold]
pub(crate) fn transient_record(
    records: &RecordList,
    shared: &ReaderShared,
    generation: u64,
) -> *const Record {
    let rec = claim(records, shared, generation);
    // The list keeps the record alive (protocol invariant 5).
    &**rec as *const Record
}

/// Gives back a record claimed by [`transient_record`] once its section has ended.
#[cold]
pub(crate) fn release_transient(rec: &Record) {
    // The section has ended (nesting 0); clear `TRANSIENT_BIT` before anyone else claims it.
    rec.ctr.store(0, Ordering::Relaxed);
    release(rec);
}

/// Dense domain ids, recycled when a domain dies.
static FREE_IDS: StdMutex<(Vec<usize>, usize)> = StdMutex::new((Vec::new(), 0));
/// Domain generations, never reused (starts at 1; 0 marks an empty slot).
static NEXT_GENERATION: StdAtomicU64 = StdAtomicU64::new(1);

/// A domain's identity in the per-thread slots; frees the id when dropped.
#[derive(Debug)]
pub(crate) struct DomainId {
    pub(crate) id: usize,
    pub(crate) generation: u64,
}

impl DomainId {
    pub(crate) fn new() -> Self {
        let generation = NEXT_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut ids = FREE_IDS.lock().unwrap_or_else(|p| p.into_inner());
        let id = match ids.0.pop() {
            Some(id) => id,
            None => {
                ids.1 += 1;
                ids.1 - 1
            }
        };
        Self { id, generation }
    }
}

impl Drop for DomainId {
    fn drop(&mut self) {
        FREE_IDS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .push(self.id);
    }
}
