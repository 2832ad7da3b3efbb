//! [`Dispatcher`]: one channel's socket and state, with asyncore's methods.

use std::fmt;
use std::io;
use std::net::ToSocketAddrs;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::chat::ChatState;
use crate::errors::{is_disconnect, is_would_block};
use crate::output::OutQueue;
use crate::{sys, Address, Family, SockType, Socket};

/// How long a listener stops accepting after running out of descriptors.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The most [`Dispatcher::initiate_send`] hands to one send(2), as in
/// asyncore's `dispatcher_with_send`.
pub const SEND_CHUNK: usize = 64 * 1024;

/// One channel's socket and connection state: asyncore's `dispatcher`
/// without the callbacks (those are the [`Handler`](crate::Handler)'s).
///
/// The flags follow asyncore: [`connected`](Self::connected) is set when a
/// connection exists, [`accepting`](Self::accepting) by `listen`,
/// [`connecting`](Self::connecting) by `connect` until the connect
/// completes. The I/O methods interpret errno the way asyncore does, so a
/// handler never has to: `send` returns 0 when the socket would block, and
/// `recv` returning 0 means the peer is gone; in both, a disconnect (EOF,
/// `ECONNRESET`, `EPIPE`, ...) makes the reactor call `handle_close` as soon
/// as the running callback returns.
///
/// A dispatcher made [`with_send`](Self::with_send) is asyncore's
/// `dispatcher_with_send`: [`send_buffered`](Self::send_buffered) queues
/// output and the default `writable`/`handle_write` flush it.
pub struct Dispatcher {
    socket: Option<Socket>,
    connected: bool,
    accepting: bool,
    connecting: bool,
    /// `close_when_done`: stop reading, flush the output, then close.
    pub(crate) closing: bool,
    addr: Option<Address>,
    with_send: bool,
    pub(crate) out: OutQueue,
    /// The most one send(2) is given (asynchat's `ac_out_buffer_size`).
    pub(crate) send_chunk: usize,
    /// A pipe or file (asyncore's `file_dispatcher`): read(2) and write(2).
    pub(crate) file: bool,
    /// asynchat's input state, for a dispatcher made `with_chat`.
    pub(crate) chat: Option<Box<ChatState>>,
    /// The idle timeout, and when data last moved (see
    /// [`set_idle_timeout`](Self::set_idle_timeout)).
    idle: Option<(Duration, Instant)>,
    /// Accepting is paused until then (out of descriptors).
    pub(crate) paused_until: Option<Instant>,
    /// Events a method noticed that the reactor turns into callbacks once
    /// the running callback returns.
    pub(crate) pending: Pending,
}

/// Events noticed inside a method, delivered after the callback returns.
#[derive(Default)]
pub(crate) struct Pending {
    /// `connect` completed at once (a Unix-domain socket, UDP).
    pub(crate) connect: bool,
    /// The peer closed (EOF) or a disconnect errno was seen.
    pub(crate) close: bool,
}

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
            d.accepting = true;
            d.addr = Some(sock.local_addr()?);
            return Ok(d);
        }
        match sock.peer_addr() {
            Ok(peer) => {
                d.connected = true;
                d.addr = Some(peer);
            }
            // Not connected (or, on macOS, reset before we looked).
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::EINVAL)) => {}
            Err(e) => return Err(e),
        }
        Ok(d)
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
        d.connected = true;
        d.file = true;
        Ok(d)
    }

    /// Whether this dispatcher reads and writes a pipe or file rather than
    /// a socket ([`from_file`](Self::from_file)).
    pub fn is_file(&self) -> bool {
        self.file
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
        let addr = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the address resolved to nothing"))?;
        let family = if addr.is_ipv4() { Family::Inet } else { Family::Inet6 };
        let mut d = Dispatcher::create_socket(family, SockType::Stream)?;
        d.set_reuse_addr()?;
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
            socket: Some(sock),
            connected: false,
            accepting: false,
            connecting: false,
            closing: false,
            addr: None,
            with_send: false,
            out: OutQueue::default(),
            send_chunk: SEND_CHUNK,
            file: false,
            chat: None,
            idle: None,
            paused_until: None,
            pending: Pending::default(),
        }
    }

    /// Makes this asyncore's `dispatcher_with_send`: output given to
    /// [`send_buffered`](Self::send_buffered) is queued, and the default
    /// `writable` is true only while there is output to flush or a connect
    /// to finish.
    #[doc(alias = "dispatcher_with_send")]
    #[doc(alias = "DispatcherWithSend")]
    pub fn with_send(mut self) -> Dispatcher {
        self.with_send = true;
        self
    }

    /// The socket, or `EBADF` once the dispatcher is closed.
    pub(crate) fn sock(&self) -> io::Result<&Socket> {
        self.socket.as_ref().ok_or_else(closed)
    }

    /// Sets `SO_REUSEADDR`.
    pub fn set_reuse_addr(&mut self) -> io::Result<()> {
        self.sock()?.set_reuse_addr(true)
    }

    /// Binds the socket; the address is recorded as [`addr`](Self::addr).
    pub fn bind(&mut self, addr: impl Into<Address>) -> io::Result<()> {
        let addr = addr.into();
        self.sock()?.bind(&addr)?;
        self.addr = Some(addr);
        Ok(())
    }

    /// Listens; from now on the channel is `accepting`, its read events
    /// become `handle_accept`, and it is never polled for write.
    pub fn listen(&mut self, backlog: i32) -> io::Result<()> {
        self.accepting = true;
        self.sock()?.listen(backlog)
    }

    /// Starts connecting to `addr`.
    ///
    /// `EINPROGRESS` (the usual answer for TCP) leaves the channel
    /// `connecting`: its first read or write event runs `handle_connect`.
    /// A connect that completes at once (Unix-domain, UDP) runs
    /// `handle_connect` as soon as the reactor holds both the channel and its
    /// handler: inside [`Context::add`](crate::Context::add), or right after
    /// the callback that called `connect`. Any other errno is returned; unlike
    /// asyncore, that includes `EAGAIN`, which a Unix-domain connect answers
    /// when the listener's backlog is full (asyncore mistook it for "in
    /// progress" and later reported a false connect).
    pub fn connect(&mut self, addr: impl Into<Address>) -> io::Result<()> {
        let addr = addr.into();
        self.connected = false;
        self.connecting = true;
        match self.sock()?.connect(&addr) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EALREADY | libc::EINTR)) => {}
            Ok(()) => self.pending.connect = true,
            Err(e) if e.raw_os_error() == Some(libc::EISCONN) => self.pending.connect = true,
            Err(e) => {
                self.connecting = false;
                return Err(e);
            }
        }
        self.addr = Some(addr);
        Ok(())
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`); a pipe or
    /// file has none (asyncore's `file_wrapper` answered 0 too).
    pub(crate) fn take_socket_error(&self) -> io::Result<Option<io::Error>> {
        if self.file {
            return self.sock().map(|_| None);
        }
        self.sock()?.take_error()
    }

    /// Marks a finished connect: called by the reactor just before
    /// `handle_connect`, after `SO_ERROR` said the connect succeeded.
    pub(crate) fn set_connected(&mut self) {
        self.connecting = false;
        self.connected = true;
    }

    /// Accepts a connection: `Ok(None)` when there is none after all
    /// (`EWOULDBLOCK`, or `ECONNABORTED`: the client gave up while queued).
    ///
    /// Out of descriptors or memory (`EMFILE`, `ENFILE`, `ENOBUFS`,
    /// `ENOMEM`) is `Ok(None)` too, and pauses accepting for
    /// [`ACCEPT_BACKOFF`]: the listener stays readable while its backlog is
    /// full, so a level-triggered loop that kept asking would spin at 100%
    /// CPU, and asyncore's answer (`handle_error`, which closed the
    /// listener) would stop the server for good. Meanwhile the other
    /// channels are served; connections wait in the backlog until accepting
    /// resumes. [`accept_paused`](Self::accept_paused) tells a handler.
    pub fn accept(&mut self) -> io::Result<Option<(Socket, Address)>> {
        match self.sock()?.accept() {
            Ok(pair) => Ok(Some(pair)),
            Err(e) if is_would_block(&e) || e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(None),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) =>
            {
                self.paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether accepting is paused after running out of descriptors (see
    /// [`accept`](Self::accept)).
    pub fn accept_paused(&self) -> bool {
        self.paused_until.is_some()
    }

    /// Sends what the socket takes now: 0 if it would block. A disconnect
    /// errno also returns 0, and `handle_close` follows.
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let result = write_to(self.sock()?, self.file, data);
        self.sent(result)
    }

    /// What a send(2) result means to asyncore: would-block sends 0 bytes,
    /// a disconnect sends 0 bytes and leaves `handle_close` pending.
    fn sent(&mut self, result: io::Result<usize>) -> io::Result<usize> {
        match result {
            Ok(n) => {
                self.active(n);
                Ok(n)
            }
            Err(e) if is_would_block(&e) => Ok(0),
            Err(e) if is_disconnect(&e) => {
                self.disconnected();
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// The connection broke: `handle_close` follows, and queued output is
    /// dropped, since it can no longer be delivered.
    fn disconnected(&mut self) {
        self.pending.close = true;
        self.out.clear();
    }

    /// Receives into `buf`. Three outcomes, kept apart:
    ///
    /// * `Ok(n)`, n > 0: data;
    /// * `Ok(0)`: the peer closed (or reset) the connection, and
    ///   `handle_close` follows when the callback returns;
    /// * `Err(WouldBlock)`: nothing to read after all (a spurious wakeup).
    ///   Returned with `?` from a callback, the reactor ignores it; asyncore
    ///   sent it to `handle_error`, which closed the channel.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match read_from(self.sock()?, self.file, buf) {
            Ok(0) if !buf.is_empty() => {
                self.pending.close = true;
                Ok(0)
            }
            Ok(n) => {
                self.active(n);
                Ok(n)
            }
            Err(e) if is_disconnect(&e) => {
                self.disconnected();
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// Notes traffic, for the idle timeout (no clock read without one).
    fn active(&mut self, bytes: usize) {
        if let Some((_, last_active)) = &mut self.idle {
            if bytes > 0 {
                *last_active = Instant::now();
            }
        }
    }

    /// Closes the channel once no data has moved for `timeout` (`None`:
    /// never, the default). The reactor checks it every iteration and
    /// shortens its wait to the earliest such deadline; the channel is
    /// closed without a callback, like [`Context::close_channel`](crate::Context::close_channel).
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        self.idle = timeout.map(|t| (t, Instant::now()));
    }

    /// When the idle timeout closes this channel, if one is set.
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        // A timeout too long to add to the clock never expires.
        self.idle.and_then(|(timeout, last_active)| last_active.checked_add(timeout))
    }

    /// Sends one datagram to `addr`; 0 if it would block.
    pub fn send_to(&mut self, data: &[u8], addr: &Address) -> io::Result<usize> {
        match self.sock()?.send_to(data, addr) {
            Err(e) if is_would_block(&e) => Ok(0),
            other => other,
        }
    }

    /// Receives one datagram and its sender's address. A datagram may be
    /// empty, so `Ok((0, _))` is not an end of file here.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> io::Result<(usize, Address)> {
        self.sock()?.recv_from(buf)
    }

    /// Queues `data` and makes one send attempt (asyncore's
    /// `dispatcher_with_send.send`). What the socket does not take now goes
    /// out on later write events, in order.
    pub fn send_buffered(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.out.is_empty() {
            self.out.push(data);
            return self.initiate_send();
        }
        // Nothing queued: offer the data to the socket straight from the
        // caller's slice and queue only what it leaves (the same single
        // send attempt, without copying what goes out at once).
        let chunk = data.len().min(self.send_chunk);
        let result = write_to(self.sock()?, self.file, &data[..chunk]);
        let broken = matches!(&result, Err(e) if is_disconnect(e));
        let sent = self.sent(result)?;
        // A broken connection takes nothing more (`sent` dropped the queue).
        if !broken {
            self.out.push(&data[sent..]);
        }
        Ok(())
    }

    /// One send of at most [`SEND_CHUNK`] bytes (or the chat channel's
    /// out-buffer size) from the output queue; closes the channel once the
    /// queue is empty if [`close_when_done`](Self::close_when_done) was called.
    pub fn initiate_send(&mut self) -> io::Result<()> {
        let sock = self.socket.as_ref().ok_or_else(closed)?;
        if let Some(chunk) = self.out.front(self.send_chunk) {
            let result = write_to(sock, self.file, chunk);
            let sent = self.sent(result)?;
            self.out.consume(sent);
        }
        if self.closing && self.out.is_empty() {
            self.close();
        }
        Ok(())
    }

    /// Bytes queued by [`send_buffered`](Self::send_buffered) and not sent yet.
    pub fn pending_output(&self) -> usize {
        self.out.byte_len()
    }

    /// Whether any output (bytes or producers) waits to be sent.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Stops reading, sends what is queued, then closes (asynchat's
    /// `close_when_done`).
    pub fn close_when_done(&mut self) {
        self.closing = true;
        if self.out.is_empty() {
            self.close();
        }
    }

    /// Closes the socket; the reactor forgets the channel as soon as the
    /// running callback returns, and calls none of its callbacks after this.
    /// Calling it again does nothing.
    pub fn close(&mut self) {
        self.connected = false;
        self.accepting = false;
        self.connecting = false;
        self.closing = false;
        self.socket = None;
    }

    /// asyncore's default `readable()`: true, except while a
    /// [`close_when_done`](Self::close_when_done) is flushing.
    pub fn default_readable(&self) -> bool {
        !self.closing
    }

    /// asyncore's default `writable()`: true for a plain dispatcher; for one
    /// [`with_send`](Self::with_send), true while a connect is in progress
    /// or output is queued (asyncore's "not connected" would make an
    /// unconnected UDP channel writable forever).
    pub fn default_writable(&self) -> bool {
        let buffered = self.with_send || self.chat.is_some();
        !buffered || self.connecting || !self.out.is_empty()
    }

    /// Whether this dispatcher was made [`with_send`](Self::with_send).
    pub fn is_with_send(&self) -> bool {
        self.with_send
    }

    /// A connection exists.
    pub fn connected(&self) -> bool {
        self.connected
    }

    /// The channel listens for connections.
    pub fn accepting(&self) -> bool {
        self.accepting
    }

    /// A connect is in progress.
    pub fn connecting(&self) -> bool {
        self.connecting
    }

    /// [`close_when_done`](Self::close_when_done) was called: the channel
    /// reads no more and closes once its output is sent.
    pub fn closing(&self) -> bool {
        self.closing
    }

    /// The socket is still open.
    pub fn is_open(&self) -> bool {
        self.socket.is_some()
    }

    /// The address bound to (listeners) or connected to (clients, accepted
    /// connections), as asyncore's `addr`.
    pub fn addr(&self) -> Option<&Address> {
        self.addr.as_ref()
    }

    /// The address the socket is bound to, as the kernel reports it (the
    /// real port after binding port 0).
    pub fn local_addr(&self) -> io::Result<Address> {
        self.sock()?.local_addr()
    }

    /// The socket, while open.
    pub fn socket(&self) -> Option<&Socket> {
        self.socket.as_ref()
    }

    /// The descriptor number, while open (asyncore's `fileno()`).
    pub fn fileno(&self) -> Option<RawFd> {
        self.socket.as_ref().map(|s| s.as_raw_fd())
    }
}

impl fmt::Debug for Dispatcher {
    /// Like asyncore's repr: `<Dispatcher listening 127.0.0.1:8080 fd=3>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<Dispatcher")?;
        if self.accepting {
            f.write_str(" listening")?;
        } else if self.connected {
            f.write_str(" connected")?;
        } else if self.connecting {
            f.write_str(" connecting")?;
        }
        if let Some(addr) = &self.addr {
            write!(f, " {addr}")?;
        }
        match self.fileno() {
            Some(fd) => write!(f, " fd={fd}>"),
            None => f.write_str(" closed>"),
        }
    }
}

/// The error for using a dispatcher after `close`: EBADF, as a Python
/// socket gave.
fn closed() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// send(2) on a socket, write(2) on a pipe or file.
fn write_to(sock: &Socket, file: bool, data: &[u8]) -> io::Result<usize> {
    if file {
        sock.write(data)
    } else {
        sock.send(data)
    }
}

/// recv(2) on a socket, read(2) on a pipe or file.
fn read_from(sock: &Socket, file: bool, buf: &mut [u8]) -> io::Result<usize> {
    if file {
        sock.read(buf)
    } else {
        sock.recv(buf)
    }
}
