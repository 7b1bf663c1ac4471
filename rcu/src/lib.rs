//! Sleepable RCU for threads.
//!
//! The implementation lands with the crate's own issue; this library is empty until then.
