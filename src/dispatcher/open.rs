//! How a dispatcher is made: on a new socket, an existing one, an accepted
//! connection, a pipe or file, or a listener in one call.

use std::io;
use std::net::ToSocketAddrs;
use std::os::fd::AsFd;
use std::path::Path;

use super::{Dispatcher, Flags, Pending, Plain, SEND_CHUNK};
use crate::address::{Address, Family, SockType};
use crate::output::queue::OutQueue;
use crate::socket::Socket;
use crate::sys;

/// Constructors: each makes a plain dispatcher; `with_send` and
/// `with_chat` then choose a buffered layer.
impl Dispatcher {
    /// A dispatcher on a new socket (asyncore's `create_socket`), not yet
    /// bound or connected.
    ///
    /// ```
    /// use pollreactor::{Dispatcher, Family, SockType};
    /// let d = Dispatcher::create_socket(Family::Inet, SockType::Stream)?;
    /// assert!(!d.connected() && !d.accepting());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create_socket(family: Family, ty: SockType) -> io::Result<Dispatcher> {
        Ok(Dispatcher::bare(Socket::new(family, ty)?))
    }

    /// A dispatcher on an existing socket (asyncore's `dispatcher(sock)`):
    /// an accepted connection, a std `TcpStream`, any socket `OwnedFd`.
    ///
    /// The socket is made non-blocking. It counts as connected if it has a
    /// peer (its address becomes [`addr`](Self::addr)); as accepting if it
    /// is already listening (asyncore could not tell; we ask `SO_ACCEPTCONN`).
    pub fn new(sock: impl Into<Socket>) -> io::Result<Dispatcher> {
        let sock = sock.into();
        sock.set_nonblocking(true)?;
        let mut d = Dispatcher::bare(sock);
        let sock = d.socket.as_ref().expect("just set");
        if sock.is_listening()? {
            d.flags.set(Flags::ACCEPTING, true);
            d.addr = Some(sock.local_addr()?);
            return Ok(d);
        }
        match sock.peer_addr() {
            Ok(peer) => {
                d.flags.set(Flags::CONNECTED, true);
                d.addr = Some(peer);
            }
            // Not connected (or, on macOS, reset before we looked).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::EINVAL)) => {}
            Err(e) => return Err(e),
        }
        Ok(d)
    }

    /// A dispatcher on a connection the default
    /// [`handle_accept`](crate::Handler::handle_accept) just accepted, with
    /// the peer address it reported: no system call, where
    /// [`new`](Self::new) would ask the kernel three things it already
    /// said (the socket is non-blocking, not listening, and connected to
    /// `peer`). For sockets from [`Dispatcher::accept`] and
    /// [`Socket::accept`] only.
    pub fn accepted(sock: Socket, peer: Address) -> Dispatcher {
        let mut d = Dispatcher::bare(sock);
        d.flags.set(Flags::CONNECTED, true);
        d.addr = Some(peer);
        d
    }

    /// A dispatcher over a pipe, a terminal, a file or any pollable
    /// descriptor (asyncore's `file_dispatcher`), read with read(2) and
    /// written with write(2). It counts as connected.
    ///
    /// Like asyncore's `file_wrapper`, it works on a duplicate of `fd`, so
    /// the caller's descriptor stays the caller's to close. But O_NONBLOCK,
    /// which it sets, belongs to the open file description that the two
    /// share (and that a parent shell may share too, for stdin): the
    /// caller's descriptor becomes non-blocking as well.
    ///
    /// ```
    /// use pollreactor::Dispatcher;
    /// let (reader, writer) = std::io::pipe()?;
    /// let d = Dispatcher::from_file(&reader)?;
    /// assert!(d.connected() && d.is_file());
    /// drop((reader, writer)); // ours; the dispatcher holds its own duplicate
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "file_dispatcher")]
    #[doc(alias = "FileDispatcher")]
    pub fn from_file(fd: impl AsFd) -> io::Result<Dispatcher> {
        let dup = sys::fd::dup_at_least(fd.as_fd(), 0)?;
        sys::fd::set_nonblocking(dup.as_fd(), true)?;
        let mut d = Dispatcher::bare(Socket::from(dup));
        d.flags.set(Flags::CONNECTED, true);
        d.flags.set(Flags::FILE, true);
        Ok(d)
    }

    /// A TCP listener: create, `set_reuse_addr`, bind, listen, the four
    /// steps of every asyncore server's `__init__`. Binds the first address
    /// `addr` resolves to.
    ///
    /// ```
    /// use pollreactor::Dispatcher;
    /// let server = Dispatcher::listen_tcp("127.0.0.1:0", 128)?;
    /// assert!(server.accepting());
    /// println!("listening on {}", server.local_addr()?);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen_tcp(addr: impl ToSocketAddrs, backlog: i32) -> io::Result<Dispatcher> {
        Dispatcher::tcp_listener(addr, backlog, false)
    }

    /// Like [`listen_tcp`](Self::listen_tcp), with `SO_REUSEPORT` set
    /// before binding: one such listener per thread, each in its own
    /// reactor, share one address, and the kernel spreads the connections
    /// among them (one reactor per core, as nginx's workers).
    pub fn listen_tcp_shared(addr: impl ToSocketAddrs, backlog: i32) -> io::Result<Dispatcher> {
        Dispatcher::tcp_listener(addr, backlog, true)
    }

    /// create, set_reuse_addr (and SO_REUSEPORT if `shared`), bind, listen.
    fn tcp_listener(addr: impl ToSocketAddrs, backlog: i32, shared: bool) -> io::Result<Dispatcher> {
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to nothing"))?;
        let family = if addr.is_ipv4() { Family::Inet } else { Family::Inet6 };
        let mut d = Dispatcher::create_socket(family, SockType::Stream)?;
        d.set_reuse_addr()?;
        if shared {
            d.sock()?.set_reuse_port(true)?;
        }
        d.bind(addr)?;
        d.listen(backlog)?;
        Ok(d)
    }

    /// A Unix-domain stream listener on `path`. The socket file stays after
    /// the listener closes: whoever chose the path removes it.
    pub fn listen_unix(path: impl AsRef<Path>, backlog: i32) -> io::Result<Dispatcher> {
        let mut d = Dispatcher::create_socket(Family::Unix, SockType::Stream)?;
        d.bind(path.as_ref())?;
        d.listen(backlog)?;
        Ok(d)
    }

    fn bare(sock: Socket) -> Dispatcher {
        Dispatcher {
            layer: Plain,
            socket: Some(sock),
            flags: Flags::default(),
            addr: None,
            out: OutQueue::default(),
            send_chunk: SEND_CHUNK as u32,
            pending: Pending::default(),
            close_reason: None,
            retired: None,
            sends: 0,
            extra: None,
            timing: None,
        }
    }
}
