//! epoll(7), Linux's readiness interface whose cost does not grow with the
//! number of idle descriptors.

use super::{cvt, cvt_at, Site};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An epoll instance, closed when dropped.
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers.
        let raw = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 just returned this descriptor and nothing else owns it.
        Ok(Epoll { fd: unsafe { OwnedFd::from_raw_fd(raw) } })
    }

    /// epoll_ctl(2). `fd` is a plain number on purpose: removing a
    /// descriptor that was closed meanwhile just fails (EBADF, ENOENT), and
    /// the call reads and writes nothing but `event`.
    pub(crate) fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        let mut ctl = || {
            // SAFETY: `event` is a live, writable epoll_event for the call
            // (DEL ignores it); the epoll fd is open (we own it).
            unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), op, fd, &mut event) }
        };
        // Only an addition allocates, so only it can fail for lack of memory.
        if op == libc::EPOLL_CTL_ADD {
            cvt_at(Site::EpollCtl, 0, |_| ctl())?;
        } else {
            cvt(ctl())?;
        }
        Ok(())
    }

    /// One epoll_wait(2) into `events` (up to its capacity, at least one),
    /// waiting at most `millis` (-1: forever). EINTR is returned: the caller
    /// retries with the time that remains.
    pub(crate) fn wait(&self, events: &mut Vec<libc::epoll_event>, millis: libc::c_int) -> io::Result<()> {
        events.clear();
        events.reserve(1);
        let max = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: the vector has room for `max` events, which is what the
        // kernel may write; the epoll fd is open (we own it).
        let n = cvt_at(Site::EpollWait, 0, |_| unsafe {
            libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, millis)
        })?;
        // SAFETY: the kernel initialised the first `n <= max` entries.
        unsafe { events.set_len(n as usize) };
        Ok(())
    }
}
