//! `RcuCell` and `RcuList`.

mod common;

use common::{hold_reader, wait_stall_naming, watched};
use rcu::{Domain, RcuCell, RcuList};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::thread;

struct Tracked(u32, Arc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cell_read_replace_swap() {
    let d = Domain::new();
    let cell = RcuCell::new(&d, String::from("one"));
    {
        let g = d.read();
        assert_eq!(cell.read(&g), "one");
    }
    cell.replace(String::from("two"));
    let g = d.read();
    assert_eq!(cell.read(&g), "two");
    drop(g);
    let old = cell.swap_synchronize(String::from("three"));
    assert_eq!(old, "two");
    let owned = d.read_owned();
    assert_eq!(cell.read(&owned), "three");
    drop(owned);
    let mut cell = cell;
    cell.get_mut().push('!');
    assert_eq!(cell.into_inner(), "three!");
    assert!(format!("{:?}", RcuCell::new(&d, 5)).contains('5'));
}

#[test]
fn cell_old_value_outlives_older_readers() {
    let (d, stalls) = watched(false);
    let drops = Arc::new(AtomicUsize::new(0));
    let cell = Arc::new(RcuCell::new(&d, Tracked(1, drops.clone())));
    let (seen_tx, seen_rx) = channel();
    let (leave_tx, leave_rx) = channel::<()>();
    let (d2, c2) = (d.clone(), cell.clone());
    let reader = thread::Builder::new()
        .name("cell-reader".into())
        .spawn(move || {
            let g = d2.read();
            let v = c2.read(&g);
            seen_tx.send(v.0).unwrap();
            leave_rx.recv().unwrap();
            // Still valid: the old value may not be dropped while this section lasts.
            assert_eq!(v.0, 1);
        })
        .unwrap();
    assert_eq!(seen_rx.recv().unwrap(), 1);
    cell.replace(Tracked(2, drops.clone()));
    let d3 = d.clone();
    let barrier = thread::spawn(move || d3.barrier());
    wait_stall_naming(&stalls, "cell-reader");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "old value dropped under a reader"
    );
    leave_tx.send(()).unwrap();
    reader.join().unwrap();
    barrier.join().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(cell);
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
#[should_panic(expected = "RcuCell read under a guard of another domain")]
fn cell_read_with_a_foreign_guard_panics() {
    let a = Domain::new();
    let b = Domain::new();
    let cell = RcuCell::new(&a, 1);
    let g = b.read();
    let _ = cell.read(&g);
}

#[test]
fn list_push_remove_iterate() {
    let d = Domain::new();
    let list = RcuList::new(&d);
    assert!(list.is_empty());
    let e1 = list.push_back(1);
    let e2 = list.push_back(2);
    let e3 = list.push_back(3);
    assert_eq!(list.len(), 3);
    let g = d.read();
    assert_eq!(list.iter(&g).copied().collect::<Vec<_>>(), [1, 2, 3]);
    drop(g);
    list.remove(e2);
    let g = d.read();
    assert_eq!(list.iter(&g).copied().collect::<Vec<_>>(), [1, 3]);
    drop(g);
    list.remove(e3);
    let e4 = list.push_back(4);
    list.remove(e1);
    let g = d.read();
    assert_eq!(list.iter(&g).copied().collect::<Vec<_>>(), [4]);
    drop(g);
    list.remove(e4);
    assert!(list.is_empty());
    let g = d.read();
    assert_eq!(list.iter(&g).count(), 0);
    drop(g);
    let _e = list.push_back(5);
    assert_eq!(format!("{list:?}"), "[5]");
}

#[test]
fn list_reader_standing_on_a_removed_node_continues() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let list = RcuList::new(&d);
    let e1 = list.push_back(Tracked(1, drops.clone()));
    let e2 = list.push_back(Tracked(2, drops.clone()));
    let _e3 = list.push_back(Tracked(3, drops.clone()));
    let g = d.read();
    let mut it = list.iter(&g);
    assert_eq!(it.next().unwrap().0, 1);
    // Remove the node the reader stands on and the next one; both stay valid for it.
    list.remove(e1);
    list.remove(e2);
    assert_eq!(it.map(|t| t.0).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(g);
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop(list);
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

#[test]
fn list_removed_node_waits_for_older_reader() {
    let (d, stalls) = watched(false);
    let drops = Arc::new(AtomicUsize::new(0));
    let list = Arc::new(RcuList::new(&d));
    let e = list.push_back(Tracked(7, drops.clone()));
    let (leave, reader) = hold_reader(&d, "list-reader");
    list.remove(e);
    let d2 = d.clone();
    let b = thread::spawn(move || d2.barrier());
    wait_stall_naming(&stalls, "list-reader");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    leave.send(()).unwrap();
    reader.join().unwrap();
    b.join().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn list_remove_many_unlinks_a_batch_with_one_deferred_free() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let list = RcuList::new(&d);
    let mut entries: Vec<_> = (1..=6)
        .map(|i| Some(list.push_back(Tracked(i, drops.clone()))))
        .collect();
    let g = d.read();
    let mut it = list.iter(&g);
    assert_eq!(it.next().unwrap().0, 1);
    let queued_before = d.stats().callbacks_queued;
    // The head, two neighbours in the middle and the tail, in no particular order.
    let batch = [5, 0, 2, 3].map(|i| entries[i].take().unwrap());
    list.remove_many(batch);
    assert_eq!(d.stats().callbacks_queued - queued_before, 1);
    assert_eq!(list.len(), 2);
    // The reader standing on the removed head walks on to what is still linked after it.
    assert_eq!(it.map(|t| t.0).collect::<Vec<_>>(), [2, 5]);
    let g2 = d.read();
    assert_eq!(list.iter(&g2).map(|t| t.0).collect::<Vec<_>>(), [2, 5]);
    drop(g2);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(g);
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    // The tail moved correctly: a push lands after the last survivor.
    let _e7 = list.push_back(Tracked(7, drops.clone()));
    let g = d.read();
    assert_eq!(list.iter(&g).map(|t| t.0).collect::<Vec<_>>(), [2, 5, 7]);
    drop(g);
    list.remove_many(entries.into_iter().flatten());
    list.remove_many(std::iter::empty());
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 6);
}

#[test]
fn list_remove_many_with_a_foreign_entry_still_defers_the_earlier_ones() {
    let d = Domain::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let a = RcuList::new(&d);
    let b = RcuList::new(&d);
    let mine = a.push_back(Tracked(1, drops.clone()));
    let _kept = a.push_back(Tracked(2, drops.clone()));
    let foreign = b.push_back(Tracked(3, drops.clone()));
    let g = d.read();
    let first = a.iter(&g).next().unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.remove_many([mine, foreign]);
    }));
    assert!(panic.is_err());
    // The entry before the foreign one was unlinked, but its value must outlive this reader.
    assert_eq!(first.0, 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(a.iter(&g).map(|t| t.0).collect::<Vec<_>>(), [2]);
    assert_eq!(b.len(), 1);
    drop(g);
    d.barrier();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
#[should_panic(expected = "ListEntry removed from a list it does not belong to")]
fn list_entry_of_another_list_panics() {
    let d = Domain::new();
    let a = RcuList::new(&d);
    let b = RcuList::new(&d);
    let e = a.push_back(1);
    b.remove(e);
}

#[test]
fn list_concurrent_writers_and_readers() {
    let d = Domain::new();
    let list = Arc::new(RcuList::new(&d));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let list = list.clone();
            thread::spawn(move || {
                for i in 0..500u32 {
                    let e = list.push_back(w * 1000 + i);
                    if i % 2 == 0 {
                        list.remove(e);
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (d, list) = (d.clone(), list.clone());
            thread::spawn(move || {
                for _ in 0..200 {
                    let g = d.read();
                    for v in list.iter(&g) {
                        assert!(v % 1000 < 500);
                    }
                }
            })
        })
        .collect();
    for t in writers.into_iter().chain(readers) {
        t.join().unwrap();
    }
    assert_eq!(list.len(), 500);
    let g = d.read();
    assert!(list.iter(&g).all(|v| v % 2 == 1));
}
