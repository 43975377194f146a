//! The monotonic clock (`CLOCK_MONOTONIC` through `std::time::Instant`), as the core's
//! [`crate::time::Instant`]. Read once per loop iteration.

use crate::time::Instant;
use std::sync::OnceLock;

static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();

/// Microseconds since the first call in this process.
pub fn now() -> Instant {
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    Instant::from_micros(origin.elapsed().as_micros() as u64)
}
