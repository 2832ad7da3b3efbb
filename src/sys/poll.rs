//! poll(2).

use std::io;
use std::time::{Duration, Instant};

use super::{cvt, remaining};

/// Waits for events on `fds` until `deadline` (`None`: forever), retrying
/// EINTR with the time that remains. With no fds it just sleeps.
pub(crate) fn poll(fds: &mut [libc::pollfd], deadline: Option<Instant>) -> io::Result<usize> {
    loop {
        let ms = poll_millis(remaining(deadline));
        // SAFETY: `fds` is a valid, writable slice of pollfd for the call and
        // its length is passed with it.
        match cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(n) => return Ok(n as usize),
        }
    }
}

/// poll's timeout: milliseconds rounded up (a 0.4 ms wait must not become a
/// busy poll), saturated at `c_int::MAX`, and -1 for "forever".
pub(crate) fn poll_millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}
