/*
 * The liburcu-memb peer of the rcu benches. Built by build.rs only with the `liburcu` feature.
 *
 * _LGPL_SOURCE makes liburcu's read side inline (its static headers), so the read loop below
 * measures liburcu's real fast path with no call per section. The Rust side calls each function
 * once per batch of operations.
 */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

#include <stdint.h>
#include <stdlib.h>

void netns_bench_urcu_register_thread(void)
{
	urcu_memb_register_thread();
}

void netns_bench_urcu_unregister_thread(void)
{
	urcu_memb_unregister_thread();
}

/* Runs `n` empty read-side sections (lock + unlock). */
void netns_bench_urcu_read_loop(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		urcu_memb_read_lock();
		urcu_memb_read_unlock();
	}
}

void netns_bench_urcu_synchronize(void)
{
	urcu_memb_synchronize_rcu();
}

/* A heap object freed by a call_rcu callback: the C counterpart of a deferred drop. */
struct deferred {
	struct rcu_head head;
	uint64_t payload;
};

static void free_deferred(struct rcu_head *head)
{
	free(caa_container_of(head, struct deferred, head));
}

/* Queues `n` deferred frees; returns 0, or -1 if an allocation failed. */
int netns_bench_urcu_call_many(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		struct deferred *d = malloc(sizeof(*d));
		if (!d)
			return -1;
		d->payload = i;
		urcu_memb_call_rcu(&d->head, free_deferred);
	}
	return 0;
}

void netns_bench_urcu_barrier(void)
{
	urcu_memb_barrier();
}
