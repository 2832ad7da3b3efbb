//! Socket system calls. Each takes the descriptor it works on as a
//! `BorrowedFd`, so the caller's ownership proves it is open for the call.

use std::io;
use std::mem;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::addr::{self, RawAddr};
use super::{cvt, cvt_at, cvt_r_at, Site};
use crate::Address;

/// socket(2): a new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    #[cfg(pollreactor_sock_flags)]
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: socket(2) takes no pointers; any integer arguments are valid.
    let raw = cvt_at(Site::Socket, 0, |_| unsafe { libc::socket(domain, ty, 0) })?;
    // SAFETY: socket(2) just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    prepare(fd.as_fd())?;
    Ok(fd)
}

/// socketpair(2): two connected, non-blocking, close-on-exec sockets.
pub(crate) fn socketpair(domain: libc::c_int, ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(pollreactor_sock_flags)]
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a writable array of two c_ints, as socketpair(2) requires.
    cvt_at(Site::Socketpair, 0, |_| unsafe { libc::socketpair(domain, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: socketpair(2) succeeded, so both descriptors are new and unowned.
    let pair = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    prepare(pair.0.as_fd())?;
    prepare(pair.1.as_fd())?;
    Ok(pair)
}

/// What the atomic flags did not do, for a socket just made or accepted:
/// close-on-exec and non-blocking where socket(2), socketpair(2) and
/// accept(2) cannot set them (Apple, and Linux under
/// `--cfg pollreactor_portable`), and SO_NOSIGPIPE where send(2) has no
/// MSG_NOSIGNAL (Apple). The caller already owns `fd`, so a failure here
/// closes it on the way out.
///
/// Without the atomic flags there is a window, from the call that made the
/// descriptor to FD_CLOEXEC below, in which a fork and exec on another
/// thread leaks it into the child; std's sockets share it on those targets.
/// FD_CLOEXEC goes first to keep the window short.
fn prepare(fd: BorrowedFd<'_>) -> io::Result<()> {
    #[cfg(not(pollreactor_sock_flags))]
    {
        super::fd::set_cloexec(fd)?;
        super::fd::set_nonblocking(fd, true)?;
    }
    #[cfg(pollreactor_so_nosigpipe)]
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)?;
    // With the atomic flags and MSG_NOSIGNAL (Linux, the BSDs) nothing is left.
    let _ = fd;
    Ok(())
}

/// bind(2).
pub(crate) fn bind(fd: BorrowedFd<'_>, address: &Address) -> io::Result<()> {
    let raw = addr::to_raw(address)?;
    // SAFETY: `raw` holds a valid sockaddr of `raw.len` bytes for the call.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    Ok(())
}

/// listen(2).
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: listen(2) takes no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// connect(2), once: a non-blocking socket answers EINPROGRESS, which the
/// caller interprets. EINTR is returned too (the connect goes on regardless).
pub(crate) fn connect(fd: BorrowedFd<'_>, address: &Address) -> io::Result<()> {
    let raw = addr::to_raw(address)?;
    // SAFETY: `raw` holds a valid sockaddr of `raw.len` bytes for the call.
    cvt_at(Site::Connect, 0, |_| unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    Ok(())
}

/// accept4(2) where the target has it, else accept(2) plus fcntl: the new
/// socket is non-blocking and close-on-exec either way (accept(2) does not
/// copy O_NONBLOCK from the listening socket on Linux, and FD_CLOEXEC
/// nowhere).
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, Address)> {
    let mut peer = RawAddr::empty();
    #[cfg(pollreactor_accept4)]
    // SAFETY: `peer` is writable storage of `peer.len` bytes and `peer.len`
    // is a writable socklen_t, as accept4(2) requires.
    let raw = cvt_r_at(Site::Accept, 0, |_| unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            peer.as_mut_ptr(),
            &mut peer.len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    #[cfg(not(pollreactor_accept4))]
    // SAFETY: `peer` is writable storage of `peer.len` bytes and `peer.len`
    // is a writable socklen_t, as accept(2) requires.
    let raw = cvt_r_at(Site::Accept, 0, |_| unsafe {
        libc::accept(fd.as_raw_fd(), peer.as_mut_ptr(), &mut peer.len)
    })?;
    // SAFETY: accept just returned this descriptor and nothing else owns it.
    let conn = unsafe { OwnedFd::from_raw_fd(raw) };
    prepare(conn.as_fd())?;
    Ok((conn, addr::from_raw(&peer)?))
}

/// The flags every send carries: never raise SIGPIPE where the flag exists.
#[cfg(pollreactor_msg_nosignal)]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(pollreactor_msg_nosignal))]
const SEND_FLAGS: libc::c_int = 0;

/// send(2) with MSG_NOSIGNAL (or a socket made with SO_NOSIGPIPE): a dead
/// peer gives EPIPE, never SIGPIPE. `oob` sends TCP urgent data.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8], oob: bool) -> io::Result<usize> {
    let flags = SEND_FLAGS | if oob { libc::MSG_OOB } else { 0 };
    // SAFETY: `buf` is readable for `buf.len()` bytes for the whole call,
    // and `len <= buf.len()` (cvt_r_at never lengthens).
    let n = cvt_r_at(Site::Send, buf.len(), |len| unsafe {
        libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), len, flags)
    })?;
    Ok(n as usize)
}

/// recv(2); `oob` reads TCP urgent data.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], oob: bool) -> io::Result<usize> {
    let flags = if oob { libc::MSG_OOB } else { 0 };
    // SAFETY: `buf` is writable for `buf.len()` bytes for the whole call,
    // and `len <= buf.len()` (cvt_r_at never lengthens).
    let n = cvt_r_at(Site::Recv, buf.len(), |len| unsafe {
        libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len, flags)
    })?;
    Ok(n as usize)
}

/// sendto(2), for datagram sockets.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], to: &Address) -> io::Result<usize> {
    let raw = addr::to_raw(to)?;
    // SAFETY: `buf` is readable for `buf.len()` bytes and `raw` holds a valid
    // sockaddr of `raw.len` bytes, both for the whole call. (A datagram is
    // never shortened: the injector has no short writes for sendto.)
    let n = cvt_r_at(Site::SendTo, buf.len(), |len| unsafe {
        libc::sendto(fd.as_raw_fd(), buf.as_ptr().cast(), len, SEND_FLAGS, raw.as_ptr(), raw.len)
    })?;
    Ok(n as usize)
}

/// recvfrom(2), for datagram sockets.
pub(crate) fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Address)> {
    let mut from = RawAddr::empty();
    // SAFETY: `buf` is writable for `buf.len()` bytes and `len <= buf.len()`;
    // `from` is writable storage of `from.len` bytes with a writable length,
    // as recvfrom requires.
    let n = cvt_r_at(Site::RecvFrom, buf.len(), |len| unsafe {
        libc::recvfrom(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len, 0, from.as_mut_ptr(), &mut from.len)
    })?;
    Ok((n as usize, addr::from_raw(&from)?))
}

/// getsockopt(2) for an option whose value is a C int.
pub(crate) fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a writable c_int and `len` says so; the options read
    // through this function all have int values.
    cvt(unsafe {
        libc::getsockopt(fd.as_raw_fd(), level, name, (&mut value as *mut libc::c_int).cast(), &mut len)
    })?;
    Ok(value)
}

/// setsockopt(2) for an option whose value is a C int.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a readable c_int of `len` bytes; the options set
    // through this function all take int values.
    cvt(unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, (&value as *const libc::c_int).cast(), len)
    })?;
    Ok(())
}

/// SO_LINGER {on, 0 s}: close then sends RST instead of FIN (for tests and
/// for servers that must shed connections at once).
pub(crate) fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let len = mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: `linger` is a readable struct linger of `len` bytes, the type SO_LINGER takes.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            len,
        )
    })?;
    Ok(())
}

/// shutdown(2).
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: Shutdown) -> io::Result<()> {
    let how = match how {
        Shutdown::Read => libc::SHUT_RD,
        Shutdown::Write => libc::SHUT_WR,
        Shutdown::Both => libc::SHUT_RDWR,
    };
    // SAFETY: shutdown(2) takes no pointers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) })?;
    Ok(())
}

/// getpeername(2).
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<Address> {
    let mut raw = RawAddr::empty();
    // SAFETY: `raw` is writable storage of `raw.len` bytes with a writable length.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), raw.as_mut_ptr(), &mut raw.len) })?;
    addr::from_raw(&raw)
}

/// getsockname(2).
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<Address> {
    let mut raw = RawAddr::empty();
    // SAFETY: `raw` is writable storage of `raw.len` bytes with a writable length.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), raw.as_mut_ptr(), &mut raw.len) })?;
    addr::from_raw(&raw)
}
