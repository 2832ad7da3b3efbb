//! The monotonic clock, read as nanoseconds.

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds: the clock `Instant`
/// reads on Linux, as one integer that deadlines are added to and
/// compared with directly (584 years of nanoseconds fit in a `u64`).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the whole call, and
    // CLOCK_MONOTONIC exists on every system the crate builds for.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // It cannot fail with a valid clock and pointer; std's Instant::now
    // makes the same assumption.
    assert_eq!(ret, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    // A monotonic clock's reading is never negative.
    let (secs, nanos) = (ts.tv_sec as u64, ts.tv_nsec as u64);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}
