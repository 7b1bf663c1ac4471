//! Schedules of read sections, grace periods, callbacks, cookies and RCU structures on one
//! `rcu::Domain`, checked after every step (see `fuzz_check::rcu_ops`).
#![no_main]

use fuzz_check::rcu_ops::{Op, run};
use fuzz_check::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|schedule: Schedule<Op>| run(&schedule));
