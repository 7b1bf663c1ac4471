//! A port of the Linux network-namespace registry.
//!
//! The implementation lands with the crate's own issue; this library is empty until then.
