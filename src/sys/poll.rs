//! poll(2).

use std::io;

use super::{cvt_at, Site};

/// One poll(2) call over `fds`, waiting at most `millis` (-1: forever).
/// EINTR is returned: the caller retries with the time that remains.
pub(crate) fn poll(fds: &mut [libc::pollfd], millis: libc::c_int) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable slice of pollfd for the call and
    // its length is passed with it.
    let n = cvt_at(Site::Poll, 0, |_| unsafe {
        libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis)
    })?;
    Ok(n as usize)
}
