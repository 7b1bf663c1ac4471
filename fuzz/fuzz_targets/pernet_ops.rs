//! Schedules of registrations, namespace lifecycles, references, nsids and cleanup steps on one
//! `netns_core::Registry` in manual cleanup mode, checked against a reference model after every
//! step (see `fuzz_check::pernet_ops`).
#![no_main]

use fuzz_check::pernet_ops::{Op, run};
use fuzz_check::schedule::Schedule;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|schedule: Schedule<Op>| run(&schedule));
