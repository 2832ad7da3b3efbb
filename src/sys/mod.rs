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
//! | `alloc.rs` | (tests only) the system allocator, counting |
//! | `poll.rs` | poll(2) |
//! | `epoll.rs` | epoll_create1, epoll_ctl, epoll_wait (Linux) |
//! | `select.rs` | select(2) and a bounds-checked `FdSet` |
//! | `spare.rs` | recv(2)/read(2) into a `Vec`'s spare capacity |
//! | `signal.rs` | sigaction, and a handler that only writes to a socket |
#![allow(unsafe_code)]

pub(crate) mod addr;
#[cfg(test)]
pub(crate) mod alloc;
#[cfg(pollreactor_epoll)]
pub(crate) mod epoll;
pub(crate) mod fd;
pub(crate) mod poll;
pub(crate) mod select;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod spare;
#[cfg(test)]
mod tests;

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

/// Like [`cvt`], but calls `f` again while it fails with EINTR: for calls
/// whose retry is harmless (send, recv, accept; never close).
pub(crate) fn cvt_r<T: IsMinusOne>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
