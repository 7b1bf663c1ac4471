//! A writer-preferring, killable reader-writer semaphore.
//!
//! The implementation lands with the crate's own issue; this library is empty until then.
