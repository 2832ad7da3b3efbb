//! The only module with `unsafe` code: thin, safe wrappers over the libc
//! calls the reactor needs.
//!
//! Every wrapper follows the shape of std's own `sys` layer:
//!
//! * the `unsafe` block is visible at the call site and carries a
//!   `// SAFETY:` comment naming the invariant that makes it sound;
//! * a return value of -1 becomes `io::Error::last_os_error()` through one
//!   helper, [`cvt`], before anything else can clobber `errno`;
//! * a new descriptor becomes an [`OwnedFd`](std::os::fd::OwnedFd) on the
//!   line that receives it, so it is closed exactly once, by `Drop`;
//! * calls that take descriptors take [`BorrowedFd`](std::os::fd::BorrowedFd),
//!   so the borrow checker proves the fd is open for the call.
//!
//! | file | wraps |
//! |---|---|
//! | `socket.rs` | socket, socketpair, bind, listen, accept(4), connect, send, recv, sendto, recvfrom, get/setsockopt, shutdown, getpeername, getsockname |
//! | `fd.rs` | fcntl (O_NONBLOCK, FD_CLOEXEC), fd validity, dup, read, write, rlimits |
//! | `addr.rs` | `Address` <-> `sockaddr_storage` |
//! | `clock.rs` | clock_gettime(CLOCK_MONOTONIC), in nanoseconds |
//! | `alloc.rs` | (tests only) the system allocator, counting |
//! | `poll.rs` | poll(2) |
//! | `epoll.rs` | epoll_create1, epoll_ctl, epoll_wait (Linux) |
//! | `select.rs` | select(2) and a bounds-checked `FdSet` |
//! | `spare.rs` | recv(2)/read(2) into a `Vec`'s spare capacity |
//! | `signal.rs` | sigaction, and a handler that only writes to a socket |
//! | `fault.rs` | (feature `fault-injection` only) the fault injector |
//!
//! Every call whose failure a program must survive goes through [`cvt_at`]
//! or [`cvt_r_at`], which name its [`Site`]. With the `fault-injection`
//! feature the injector may answer for the call (an errno, or a shorter
//! buffer); without it they are `cvt` (and, for `cvt_r_at`, a retry on
//! EINTR) exactly, and the site is a constant passed to an inlined no-op.
#![allow(unsafe_code)]

pub(crate) mod addr;
#[cfg(test)]
pub(crate) mod alloc;
pub(crate) mod clock;
#[cfg(pollreactor_epoll)]
pub(crate) mod epoll;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub(crate) mod fd;
pub(crate) mod poll;
pub(crate) mod select;
#[cfg(feature = "signals")]
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod spare;
#[cfg(test)]
pub(crate) mod tests;

use std::io;

/// Return values that signal failure with -1 (and the reason in `errno`).
pub(crate) trait IsMinusOne {
    fn is_minus_one(&self) -> bool;
}

impl IsMinusOne for libc::c_int {
    fn is_minus_one(&self) -> bool {
        *self == -1
    }
}

impl IsMinusOne for isize {
    fn is_minus_one(&self) -> bool {
        *self == -1
    }
}

/// Turns the C convention "-1 means failure, see errno" into `io::Result`.
pub(crate) fn cvt<T: IsMinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A call site of a system call the injector can fail (feature
/// `fault-injection`): one per wrapper in `src/sys/`, so faults can be
/// chosen, and counted, per kind of call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub enum Site {
    /// accept4(2), or accept(2) where the target lacks it.
    Accept,
    /// connect(2).
    Connect,
    /// send(2) (also of urgent data).
    Send,
    /// recv(2) into a buffer (also of urgent data).
    Recv,
    /// sendto(2).
    SendTo,
    /// recvfrom(2).
    RecvFrom,
    /// read(2) into a buffer, for a pipe or file dispatcher.
    Read,
    /// write(2), for a pipe or file dispatcher.
    Write,
    /// recv(2) into a vector's spare capacity (`recv_into`).
    RecvSpare,
    /// read(2) into a vector's spare capacity (`recv_into` on a file dispatcher).
    ReadSpare,
    /// poll(2).
    Poll,
    /// select(2).
    Select,
    /// epoll_wait(2).
    EpollWait,
    /// epoll_ctl(2) with `EPOLL_CTL_ADD` (a change or a removal cannot fail
    /// for lack of memory, so those are not injected).
    EpollCtl,
    /// socket(2).
    Socket,
    /// socketpair(2).
    Socketpair,
}

/// What the injector did to one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub enum Fault {
    /// The call was not made; it failed with this errno (for EINTR, a
    /// wrapper that retries tried again, as it would after a signal).
    Errno(i32),
    /// The call was made with a buffer of `len` bytes instead of `requested`:
    /// a short read or write.
    Short {
        /// The length the call was given.
        len: usize,
        /// The length the caller asked for.
        requested: usize,
    },
}

/// Without the `fault-injection` feature nothing is ever injected; this
/// inlines to nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
fn inject(_site: Site, _len: usize) -> Option<Fault> {
    None
}

#[cfg(feature = "fault-injection")]
use fault::inject;

/// One try of a call at `site` on a buffer of `len` bytes (0 for calls
/// without one): the injector's errno, or `f` called with the length to use,
/// which is never more than `len`.
#[inline(always)]
fn attempt<T: IsMinusOne>(site: Site, len: usize, f: &mut impl FnMut(usize) -> T) -> io::Result<T> {
    match inject(site, len) {
        None => cvt(f(len)),
        Some(Fault::Short { len: short, .. }) => cvt(f(short.min(len))),
        Some(Fault::Errno(errno)) => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// [`cvt`] for the call at `site`: `f` gets the buffer length to use (at
/// most `len`). EINTR is returned, for callers that must see it (the
/// waits, which retry with the time that remains; connect).
#[inline(always)]
pub(crate) fn cvt_at<T: IsMinusOne>(site: Site, len: usize, mut f: impl FnMut(usize) -> T) -> io::Result<T> {
    attempt(site, len, &mut f)
}

/// Like [`cvt_at`], but calls `f` again while it fails with EINTR: for calls
/// whose retry is harmless (send, recv, accept; never close).
#[inline(always)]
pub(crate) fn cvt_r_at<T: IsMinusOne>(
    site: Site,
    len: usize,
    mut f: impl FnMut(usize) -> T,
) -> io::Result<T> {
    loop {
        match attempt(site, len, &mut f) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
