//! select(2) and a bounds-checked `fd_set`.

use std::io;
use std::mem;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{cvt_at, Site};

/// The largest descriptor number plus one that an `fd_set` can hold.
pub(crate) const FD_SETSIZE: RawFd = libc::FD_SETSIZE as RawFd;

/// An `fd_set` that refuses descriptors it cannot hold instead of writing
/// outside itself (the C macros do not check; libc's Rust ones panic).
pub(crate) struct FdSet(libc::fd_set);

impl FdSet {
    pub(crate) fn new() -> FdSet {
        // SAFETY: fd_set is plain old data; all-zero bytes is the empty set,
        // which is also what FD_ZERO produces.
        FdSet(unsafe { mem::zeroed() })
    }

    /// Adds `fd`, or fails with `InvalidInput` naming the fd and the limit.
    pub(crate) fn insert(&mut self, fd: RawFd) -> io::Result<()> {
        if !(0..FD_SETSIZE).contains(&fd) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "fd {fd} is out of range for select(2): it can only watch fds 0..{FD_SETSIZE} \
                     (FD_SETSIZE); use the poll backend"
                ),
            ));
        }
        // SAFETY: 0 <= fd < FD_SETSIZE was checked above, so the bit is inside the set.
        unsafe { libc::FD_SET(fd, &mut self.0) };
        Ok(())
    }

    /// Whether `fd` is in the set (false for any fd the set cannot hold).
    pub(crate) fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: the range check runs first, so FD_ISSET reads inside the set.
        (0..FD_SETSIZE).contains(&fd) && unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

/// One select(2) call over fds below `nfds`, waiting at most `timeout`
/// (`None`: forever). EINTR is returned: the kernel may have changed the
/// sets, so the caller rebuilds them before it retries.
pub(crate) fn select(
    nfds: RawFd,
    read: &mut FdSet,
    write: &mut FdSet,
    except: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let mut tv = timeout.map(timeval);
    let tv_ptr = tv.as_mut().map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
    // SAFETY: the three sets are valid, writable fd_sets, every fd put in
    // them is below nfds <= FD_SETSIZE (FdSet::insert checks), and tv_ptr
    // is null or points at a live, writable timeval.
    let n = cvt_at(Site::Select, 0, |_| unsafe {
        libc::select(nfds, &mut read.0, &mut write.0, &mut except.0, tv_ptr)
    })?;
    Ok(n as usize)
}

/// A `timeval` for select, rounded up to the microsecond and saturated.
fn timeval(t: Duration) -> libc::timeval {
    let micros = t.as_nanos().div_ceil(1_000);
    let secs = (micros / 1_000_000).min(i32::MAX as u128);
    libc::timeval { tv_sec: secs as libc::time_t, tv_usec: (micros % 1_000_000) as libc::suseconds_t }
}
