//! Loom models of netns-core's own lock-free protocols: the cleanup list (`llist_add` /
//! `llist_del_all`), the active reference count (`put_net` racing `maybe_get_net`) and the
//! cleanup work item (a namespace queued while the worker runs or shuts down is never lost).
//! Each model has a deliberately broken twin that loom must catch.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release
//! --target-dir target/loom -p netns-core --test loom`.

#![cfg(loom)]

use std::ptr::NonNull;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use loom::thread;
use netns_core::llist::{LList, LListNode};
use netns_core::refcount::ActiveCount;
use netns_core::work::{CleanupWork, QueueResult, Run};

struct Node {
    link: AtomicPtr<Node>,
    id: usize,
}

// SAFETY: `link` is a dedicated field only the list stores to.
unsafe impl LListNode for Node {
    fn llist_link(&self) -> &AtomicPtr<Node> {
        &self.link
    }
}

fn node(id: usize) -> NonNull<Node> {
    let boxed = Box::new(Node {
        link: AtomicPtr::new(std::ptr::null_mut()),
        id,
    });
    NonNull::from(Box::leak(boxed))
}

/// Drains `list`, frees the nodes and returns their ids.
fn drain_ids(list: &LList<Node>) -> Vec<usize> {
    list.take_all()
        .map(|n| {
            // SAFETY: every node comes from `node()` and the drain hands it back to us alone.
            let boxed = unsafe { Box::from_raw(n.as_ptr()) };
            boxed.id
        })
        .collect()
}

fn llist_model(racy: bool) {
    loom::model(move || {
        let list = Arc::new(LList::<Node>::new());
        let producers: Vec<_> = (0..2)
            .map(|id| {
                let list = Arc::clone(&list);
                thread::spawn(move || {
                    // SAFETY: a fresh node, on no list.
                    unsafe {
                        if racy {
                            list.push_racy(node(id));
                        } else {
                            list.push(node(id));
                        }
                    }
                })
            })
            .collect();
        let mut seen = drain_ids(&list);
        for producer in producers {
            producer.join().unwrap();
        }
        seen.extend(drain_ids(&list));
        seen.sort_unstable();
        assert_eq!(seen, [0, 1], "a pushed node was lost or duplicated");
    });
}

#[test]
fn llist_push_and_take_all_lose_nothing() {
    llist_model(false);
}

#[test]
#[should_panic(expected = "lost or duplicated")]
fn llist_broken_push_is_caught() {
    llist_model(true);
}

fn refcount_model(broken: bool) {
    loom::model(move || {
        // One reference, held by the "putter"; a looker-up races with its put_net.
        let count = Arc::new(ActiveCount::new(1));
        let frees = Arc::new(AtomicUsize::new(0));
        let looker = {
            let (count, frees) = (Arc::clone(&count), Arc::clone(&frees));
            thread::spawn(move || {
                let got = if broken {
                    count.inc_not_zero_broken()
                } else {
                    count.inc_not_zero()
                };
                if got {
                    assert_eq!(
                        frees.load(Ordering::SeqCst),
                        0,
                        "got a reference to a freed net"
                    );
                    if count.dec_and_test() {
                        frees.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        if count.dec_and_test() {
            frees.fetch_add(1, Ordering::SeqCst);
        }
        looker.join().unwrap();
        assert_eq!(frees.load(Ordering::SeqCst), 1, "freed twice or never");
    });
}

#[test]
fn put_net_and_maybe_get_net_never_resurrect() {
    refcount_model(false);
}

#[test]
#[should_panic]
fn resurrecting_maybe_get_net_is_caught() {
    refcount_model(true);
}

fn work_model(ignore_gone: bool) {
    loom::model(move || {
        let list = Arc::new(LList::<Node>::new());
        let work = Arc::new(CleanupWork::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (list, work, done) = (Arc::clone(&list), Arc::clone(&work), Arc::clone(&done));
            thread::spawn(move || {
                loop {
                    match work.next_run(|| list.is_empty()) {
                        Run::Cleanup => {
                            done.fetch_add(drain_ids(&list).len(), Ordering::SeqCst);
                            work.run_done();
                        }
                        Run::Exit => return,
                    }
                }
            })
        };
        // The owner asks for shutdown while a namespace is being put.
        let owner = {
            let work = Arc::clone(&work);
            thread::spawn(move || work.shutdown())
        };
        // SAFETY: a fresh node, on no list.
        let was_empty = unsafe { list.push(node(0)) };
        if was_empty {
            let queued = if ignore_gone {
                work.queue_work_ignoring_gone()
            } else {
                work.queue_work()
            };
            if queued == QueueResult::Gone {
                // What `__put_net` does once the worker is gone: dismantle inline.
                done.fetch_add(drain_ids(&list).len(), Ordering::SeqCst);
            }
        }
        owner.join().unwrap();
        worker.join().unwrap();
        let left = drain_ids(&list).len();
        assert_eq!(
            (done.load(Ordering::SeqCst), left),
            (1, 0),
            "a queued namespace was lost"
        );
    });
}

#[test]
fn a_namespace_put_during_shutdown_is_never_lost() {
    work_model(false);
}

#[test]
#[should_panic(expected = "a queued namespace was lost")]
fn queueing_to_an_exited_worker_is_caught() {
    work_model(true);
}
