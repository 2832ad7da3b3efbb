//! asyncore's socket calls on a dispatcher: bind, listen, connect, accept,
//! send and recv, each reading errno the way asyncore did (would-block,
//! disconnect, or a real error), and the bookkeeping they leave for the
//! reactor (a connect done at once, a close due).

use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;

use super::{CloseReason, Dispatcher, Flags, ACCEPT_BACKOFF};
use crate::address::Address;
use crate::errors::{is_disconnect, is_would_block};
use crate::socket::Socket;
use crate::sys;
use crate::timer;

/// asyncore's socket methods, on every layer.
impl<L> Dispatcher<L> {
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
        self.flags.set(Flags::ACCEPTING, true);
        self.sock()?.listen(backlog)
    }

    /// Starts connecting to `addr`.
    ///
    /// `EINPROGRESS` (the usual answer for TCP) returns `Ok(())` and leaves
    /// the channel [`connecting`](Self::connecting). The connect ends at the
    /// channel's first `READ`, `WRITE`, `HUP` or `ERR` event: the reactor
    /// reads the socket's `SO_ERROR`, and then
    ///
    /// * if it is clear: the channel is marked connected, and
    ///   `handle_connect` runs, before any other callback of that pass;
    /// * if it holds an error that is not a disconnect (a refused connect:
    ///   `ECONNREFUSED`; or `ETIMEDOUT`, `EHOSTUNREACH`, ...): `handle_error`
    ///   gets that error, and [`close_reason`](Self::close_reason) is
    ///   [`Error`](crate::CloseReason::Error). No `handle_connect`, and no
    ///   `handle_read` or `handle_write`, whatever the event. The default
    ///   `handle_error` logs the error and calls `handle_close`, whose
    ///   default on a plain channel closes it;
    /// * if it holds a disconnect errno ([`DISCONNECTED`](crate::DISCONNECTED):
    ///   the peer accepted, then reset): `handle_close`, with
    ///   [`Reset`](crate::CloseReason::Reset) for `ECONNRESET`. No
    ///   `handle_connect`, no `handle_error`.
    ///
    /// A connect that completes at once (Unix-domain, UDP) runs
    /// `handle_connect` as soon as the reactor holds both the channel and its
    /// handler: inside [`Context::add`](crate::Context::add), or right after
    /// the callback that called `connect`. Any other errno is returned; unlike
    /// asyncore, that includes `EAGAIN`, which a Unix-domain connect answers
    /// when the listener's backlog is full (asyncore mistook it for "in
    /// progress" and later reported a false connect).
    ///
    /// A refused connect, on every backend (the recording handler of the
    /// [guide's examples](crate::guide#the-rows-run): its `handle_error`,
    /// like the default, calls `handle_close`). The guide walks through it
    /// in [A refused connect](crate::guide#a-refused-connect).
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
    /// # fn main() -> std::io::Result<()> {
    /// use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType};
    /// for &backend in Backend::available() {
    ///     let log = Log::default();
    ///     let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream)?;
    ///     client.connect(closed_port()?)?; // nothing listens there
    ///     assert!(client.connecting());
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(client, Recorder::new(&log).writable())?;
    ///     // One iteration: no "connect", no "write".
    ///     assert_eq!(run(&mut reactor, backend, &log), ["error: ConnectionRefused, close Error"]);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(&mut self, addr: impl Into<Address>) -> io::Result<()> {
        let addr = addr.into();
        self.flags.set(Flags::CONNECTED, false);
        self.flags.set(Flags::CONNECTING, true);
        match self.sock()?.connect(&addr) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EALREADY | libc::EINTR)) => {}
            Ok(()) => self.pending.connect = true,
            Err(e) if e.raw_os_error() == Some(libc::EISCONN) => self.pending.connect = true,
            Err(e) => {
                self.flags.set(Flags::CONNECTING, false);
                return Err(e);
            }
        }
        self.addr = Some(addr);
        Ok(())
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`); a pipe or
    /// file has none (asyncore's `file_wrapper` answered 0 too).
    pub(crate) fn take_socket_error(&self) -> io::Result<Option<io::Error>> {
        if self.flags.has(Flags::FILE) {
            return self.sock().map(|_| None);
        }
        self.sock()?.take_error()
    }

    /// A connect failed: no longer connecting, nothing to send, nothing
    /// more to read.
    pub(crate) fn connect_failed(&mut self) {
        self.flags.set(Flags::CONNECTING, false);
        self.flags.set(Flags::CONNECTED, false);
        self.flags.set(Flags::EOF, true);
        self.out.clear();
    }

    /// Marks a finished connect: called by the reactor just before
    /// `handle_connect`, after `SO_ERROR` said the connect succeeded.
    pub(crate) fn set_connected(&mut self) {
        self.flags.set(Flags::CONNECTING, false);
        self.flags.set(Flags::CONNECTED, true);
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
            Ok(pair) => {
                if let Some((_, accepted)) = self.extra.as_mut().and_then(|e| e.last_accept.as_mut()) {
                    *accepted += 1;
                }
                Ok(Some(pair))
            }
            Err(e) if is_would_block(&e) || e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(None),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) =>
            {
                self.extra_mut().paused_until = Some(timer::deadline_after(timer::now(), ACCEPT_BACKOFF));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether accepting is paused after running out of descriptors (see
    /// [`accept`](Self::accept)).
    pub fn accept_paused(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| e.paused_until.is_some())
    }

    /// Sends what the socket takes now, and returns how many bytes that was:
    ///
    /// * `Ok(0)` if the socket would block (its buffer is full);
    /// * `Ok(0)` too if the connection is gone: a disconnect errno
    ///   ([`DISCONNECTED`](crate::DISCONNECTED): `ECONNRESET` from a peer
    ///   that reset, `EPIPE` at the next send) is not returned. Instead
    ///   `handle_close` runs once, when the running callback returns, with
    ///   [`close_reason`](Self::close_reason)
    ///   [`Reset`](crate::CloseReason::Reset) for `ECONNRESET` and
    ///   [`Broken`](crate::CloseReason::Broken) for the others. No
    ///   `handle_error`. Queued output is dropped, the channel is not read
    ///   again, and no other callback of the pass runs;
    /// * any other error is returned (passed on with `?`, it goes to
    ///   `handle_error`).
    ///
    /// A send to a peer that reset the connection, on every backend (the
    /// recording handler of the [guide's examples](crate::guide#the-rows-run)
    /// sends at its first write event). If the channel asks to read too, the
    /// read meets the reset first; if it is still connecting, the connect
    /// does, and no `send` is made: see
    /// [A send to a reset connection](crate::guide#a-send-to-a-reset-connection).
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
    /// # fn main() -> std::io::Result<()> {
    /// use pollreactor::{Backend, Dispatcher, Reactor};
    /// for &backend in Backend::available() {
    ///     let log = Log::default();
    ///     let (ours, theirs) = tcp_pair()?;
    ///     let ours = Dispatcher::new(ours)?;
    ///     theirs.set_linger_zero()?;
    ///     drop(theirs); // the peer resets the connection
    ///     wait_for_reset(&ours); // until the RST has arrived
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(ours, Recorder::new(&log).not_reading().sending(b"hello"))?;
    ///     assert_eq!(run(&mut reactor, backend, &log), ["write, sent 0, close Reset"]);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let result = write_to(self.sock()?, self.flags.has(Flags::FILE), data);
        self.sent(result)
    }

    /// What a send(2) result means to asyncore: would-block sends 0 bytes,
    /// a disconnect sends 0 bytes and leaves `handle_close` pending.
    #[inline]
    pub(crate) fn sent(&mut self, result: io::Result<usize>) -> io::Result<usize> {
        self.count_send();
        match result {
            Ok(n) => {
                if n > 0 {
                    self.note_output();
                }
                Ok(n)
            }
            Err(e) if is_would_block(&e) => Ok(0),
            Err(e) if is_disconnect(&e) => {
                self.disconnected(&e);
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// One send(2) of at most `send_chunk` bytes from the front of the
    /// output queue (the buffered layers' `initiate_send`).
    #[inline]
    pub(crate) fn send_from_queue(&mut self) -> io::Result<()> {
        self.flags.set(Flags::FRESH_OUTPUT, false);
        let sock = self.socket.as_ref().ok_or_else(closed)?;
        if let Some(chunk) = self.out.front(self.send_chunk as usize) {
            let result = write_to(sock, self.flags.has(Flags::FILE), chunk);
            let sent = self.sent(result)?;
            self.out.consume(sent);
        }
        Ok(())
    }

    /// One send from the queue (see [`send_from_queue`](Self::send_from_queue));
    /// once a `close_when_done` has nothing left to send, the close is due.
    #[inline]
    pub(crate) fn send_queued(&mut self) -> io::Result<()> {
        self.send_from_queue()?;
        if self.flags.has(Flags::SHUTTING) && self.out.is_empty() {
            self.flags.set(Flags::SHUTTING, false);
            self.sock()?.shutdown(Shutdown::Write)?;
        }
        // Drained, unless the queue is empty because the connection broke:
        // that close is announced as what it is.
        if self.flags.has(Flags::CLOSING) && self.out.is_empty() && !self.pending.close {
            self.drained();
        }
        Ok(())
    }

    /// A `close_when_done` sent everything: `handle_close` follows with
    /// [`CloseReason::Drained`], unless it already ran (it called
    /// `close_when_done` itself): then the channel closes now.
    pub(crate) fn drained(&mut self) {
        if self.flags.has(Flags::ANNOUNCED) {
            self.close();
        } else {
            self.close_due(CloseReason::Drained);
        }
    }

    /// The connection broke: `handle_close` follows (with the reason the
    /// errno gives), and queued output is dropped, since it can no longer be
    /// delivered; nothing more is read.
    fn disconnected(&mut self, err: &io::Error) {
        self.close_due(CloseReason::of(err));
        self.flags.set(Flags::EOF, true);
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
    ///
    /// A disconnect errno ([`DISCONNECTED`](crate::DISCONNECTED): a reset,
    /// `ECONNRESET`, say) also returns `Ok(0)`; [`close_reason`](Self::close_reason)
    /// then says [`Reset`](CloseReason::Reset) (or
    /// [`Broken`](CloseReason::Broken)) rather than
    /// [`EndOfFile`](CloseReason::EndOfFile). After either, the channel is
    /// not read again, and `handle_close` runs once.
    ///
    /// One call is one recv(2). What it leaves in the socket is reported
    /// again at the next iteration: a handler that calls `recv` once per
    /// `handle_read`, on a peer that sent more than one read's worth and
    /// closed, gets one `handle_read` per iteration, the last one's `recv`
    /// returning 0 (see the guide's
    /// [50,000 bytes](crate::guide#a-peer-that-sends-50000-bytes-and-closes)).
    #[inline]
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = read_from(self.sock()?, self.flags.has(Flags::FILE), buf);
        self.received(result, buf.is_empty())
    }

    /// Receives up to `max` bytes, appended to `buf` after what it holds,
    /// without zeroing them first (it reads into the vector's spare
    /// capacity). The outcomes are [`recv`](Self::recv)'s.
    ///
    /// ```
    /// use pollreactor::{Dispatcher, Family, SockType, Socket};
    /// let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    /// let mut d = Dispatcher::new(ours)?;
    /// theirs.send(b"hello")?;
    /// let mut buf = b"> ".to_vec();
    /// assert_eq!(d.recv_into(&mut buf, 4096)?, 5);
    /// assert_eq!(buf, b"> hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[inline]
    pub fn recv_into(&mut self, buf: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let result = sys::spare::read_append(self.sock()?.as_fd(), buf, max, self.flags.has(Flags::FILE));
        self.received(result, max == 0)
    }

    /// What a recv(2) result means: data, the end of the input (0 bytes
    /// for a non-empty buffer), a disconnect, or an error.
    #[inline]
    fn received(&mut self, result: io::Result<usize>, empty_buffer: bool) -> io::Result<usize> {
        match result {
            Ok(0) if !empty_buffer => {
                self.flags.set(Flags::EOF, true);
                self.close_due(CloseReason::EndOfFile);
                Ok(0)
            }
            Ok(n) => {
                if n > 0 {
                    self.note_input();
                }
                Ok(n)
            }
            Err(e) if is_disconnect(&e) => {
                self.disconnected(&e);
                Ok(0)
            }
            Err(e) => Err(e),
        }
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
}

/// The error for using a dispatcher after `close`: EBADF, as a Python
/// socket gave.
pub(super) fn closed() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// send(2) on a socket, write(2) on a pipe or file.
#[inline]
fn write_to(sock: &Socket, file: bool, data: &[u8]) -> io::Result<usize> {
    if file {
        sock.write(data)
    } else {
        sock.send(data)
    }
}

/// recv(2) on a socket, read(2) on a pipe or file.
#[inline]
fn read_from(sock: &Socket, file: bool, buf: &mut [u8]) -> io::Result<usize> {
    if file {
        sock.read(buf)
    } else {
        sock.recv(buf)
    }
}
