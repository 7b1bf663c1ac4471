//! Schedules of lock operations on one `rwsem::RwSem`, checked against a reference model after
//! every step (see `fuzz_check::rwsem_ops`).
#![no_main]

use fuzz_check::rwsem_ops::{Op, run};
use fuzz_check::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|schedule: Schedule<Op>| run(&schedule));
