//! Settings shared by the bench targets: short, so a full `cargo bench -p netns-bench` finishes
//! in a few minutes on two cores.

use std::time::Duration;

use criterion::Criterion;

/// Criterion with a 1 s warm-up and 2 s of measurement per function.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}
