//! [`Socket`]: an owned, non-blocking socket descriptor.

use std::fmt;
use std::io;
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

use crate::sys;
use crate::{Address, Family, SockType};

/// An owned socket. It is closed exactly once: when it is dropped.
///
/// Sockets made here ([`Socket::new`], [`Socket::pair`], accepted ones) are
/// non-blocking and close-on-exec from birth, and never raise SIGPIPE (sends
/// use `MSG_NOSIGNAL`, or `SO_NOSIGPIPE` where that is the platform's way).
/// A socket converted from std or from an [`OwnedFd`] is made non-blocking
/// when a [`Dispatcher`](crate::Dispatcher) takes it.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// A new socket of `family` and `ty` (asyncore's `create_socket`).
    pub fn new(family: Family, ty: SockType) -> io::Result<Socket> {
        Ok(Socket { fd: sys::socket::socket(family.raw(), ty.raw())? })
    }

    /// Two connected sockets (socketpair(2)); `family` is usually `Unix`.
    pub fn pair(family: Family, ty: SockType) -> io::Result<(Socket, Socket)> {
        let (a, b) = sys::socket::socketpair(family.raw(), ty.raw())?;
        Ok((Socket { fd: a }, Socket { fd: b }))
    }

    /// Binds to `addr`.
    pub fn bind(&self, addr: &Address) -> io::Result<()> {
        sys::socket::bind(self.fd.as_fd(), addr)
    }

    /// Listens with the given backlog.
    pub fn listen(&self, backlog: i32) -> io::Result<()> {
        sys::socket::listen(self.fd.as_fd(), backlog)
    }

    /// One connect(2) attempt. On a non-blocking socket a TCP connect usually
    /// fails with `EINPROGRESS`: [`Dispatcher::connect`](crate::Dispatcher::connect)
    /// is what interprets that.
    pub fn connect(&self, addr: &Address) -> io::Result<()> {
        sys::socket::connect(self.fd.as_fd(), addr)
    }

    /// Accepts a connection: a new non-blocking, close-on-exec socket and the
    /// peer's address.
    pub fn accept(&self) -> io::Result<(Socket, Address)> {
        let (fd, addr) = sys::socket::accept(self.fd.as_fd())?;
        Ok((Socket { fd }, addr))
    }

    /// Sends bytes; returns how many were sent.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        sys::socket::send(self.fd.as_fd(), buf, false)
    }

    /// Receives bytes; `Ok(0)` means the peer closed its end.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::socket::recv(self.fd.as_fd(), buf, false)
    }

    /// write(2): for a pipe or file held as a `Socket` by a file dispatcher.
    pub(crate) fn write(&self, buf: &[u8]) -> io::Result<usize> {
        sys::fd::write(self.fd.as_fd(), buf)
    }

    /// read(2): for a pipe or file held as a `Socket` by a file dispatcher.
    pub(crate) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::fd::read(self.fd.as_fd(), buf)
    }

    /// Sends TCP urgent ("out of band") data, `MSG_OOB`.
    pub fn send_oob(&self, buf: &[u8]) -> io::Result<usize> {
        sys::socket::send(self.fd.as_fd(), buf, true)
    }

    /// Receives TCP urgent data, `MSG_OOB`: what a `handle_expt` reads.
    pub fn recv_oob(&self, buf: &mut [u8]) -> io::Result<usize> {
        sys::socket::recv(self.fd.as_fd(), buf, true)
    }

    /// Sends one datagram to `addr`.
    pub fn send_to(&self, buf: &[u8], addr: &Address) -> io::Result<usize> {
        sys::socket::send_to(self.fd.as_fd(), buf, addr)
    }

    /// Receives one datagram and the address it came from.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        sys::socket::recv_from(self.fd.as_fd(), buf)
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        sys::socket::shutdown(self.fd.as_fd(), how)
    }

    /// The peer's address (getpeername).
    pub fn peer_addr(&self) -> io::Result<Address> {
        sys::socket::peer_addr(self.fd.as_fd())
    }

    /// The address this socket is bound to (getsockname).
    pub fn local_addr(&self) -> io::Result<Address> {
        sys::socket::local_addr(self.fd.as_fd())
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it: how a
    /// non-blocking connect reports failure.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        let err = sys::socket::int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_ERROR)?;
        Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
    }

    /// Sets `SO_REUSEADDR`, so a restarted server can bind its port while old
    /// connections linger in TIME_WAIT.
    pub fn set_reuse_addr(&self, on: bool) -> io::Result<()> {
        sys::socket::set_int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, on.into())
    }

    /// Sets `SO_REUSEPORT`: several sockets (one per thread, each with its
    /// own reactor) may bind the same address, and the kernel spreads the
    /// incoming connections among them, as nginx's workers do.
    pub fn set_reuse_port(&self, on: bool) -> io::Result<()> {
        sys::socket::set_int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, on.into())
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuse_addr(&self) -> io::Result<bool> {
        Ok(sys::socket::int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR)? != 0)
    }

    /// Sets `TCP_NODELAY`: small writes go out at once instead of waiting
    /// (Nagle's algorithm) for earlier ones to be acknowledged. What a
    /// request/response server wants; every benchmark peer sets it too.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        sys::socket::set_int_option(self.fd.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY, on.into())
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(sys::socket::int_option(self.fd.as_fd(), libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    /// Makes `close` reset the connection (RST) instead of closing it
    /// gracefully (`SO_LINGER` on, zero seconds).
    pub fn set_linger_zero(&self) -> io::Result<()> {
        sys::socket::set_linger_zero(self.fd.as_fd())
    }

    /// Whether the socket is listening (`SO_ACCEPTCONN`).
    pub fn is_listening(&self) -> io::Result<bool> {
        Ok(sys::socket::int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? != 0)
    }

    /// The socket's type (`SO_TYPE`).
    pub fn sock_type(&self) -> io::Result<SockType> {
        match sys::socket::int_option(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_TYPE)? {
            libc::SOCK_DGRAM => Ok(SockType::Datagram),
            _ => Ok(SockType::Stream),
        }
    }

    /// Sets or clears `O_NONBLOCK`.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        sys::fd::set_nonblocking(self.fd.as_fd(), on)
    }

    /// Whether `O_NONBLOCK` is set.
    pub fn is_nonblocking(&self) -> io::Result<bool> {
        sys::fd::is_nonblocking(self.fd.as_fd())
    }

    /// Whether the descriptor is closed on exec (`FD_CLOEXEC`).
    pub fn is_cloexec(&self) -> io::Result<bool> {
        sys::fd::is_cloexec(self.fd.as_fd())
    }

    /// A close-on-exec duplicate of this socket whose number is at least
    /// `min` (`F_DUPFD_CLOEXEC`): both share one open socket.
    pub fn try_clone_at_least(&self, min: RawFd) -> io::Result<Socket> {
        Ok(Socket { fd: sys::fd::dup_at_least(self.fd.as_fd(), min)? })
    }
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket").field("fd", &self.fd.as_raw_fd()).finish()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<Socket> for OwnedFd {
    fn from(s: Socket) -> OwnedFd {
        s.fd
    }
}

impl From<OwnedFd> for Socket {
    /// Takes ownership of any socket descriptor.
    fn from(fd: OwnedFd) -> Socket {
        Socket { fd }
    }
}

/// Conversions from std's socket types: the std value's descriptor becomes
/// the `Socket`'s, with nothing duplicated.
macro_rules! from_std {
    ($($t:ty),*) => {$(
        impl From<$t> for Socket {
            fn from(s: $t) -> Socket {
                Socket { fd: OwnedFd::from(s) }
            }
        }
    )*};
}
from_std!(TcpStream, TcpListener, UdpSocket, UnixStream, UnixListener, UnixDatagram);
