//! [`Dispatcher`]: one channel's socket and state, with asyncore's
//! methods: the plain `asyncore.dispatcher` layer. The buffered layers
//! (`dispatcher_with_send`, `async_chat`) add their methods in `output.rs`
//! and `chat.rs`.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use crate::address::Address;
use crate::map::Token;
use crate::output::queue::OutQueue;
use crate::socket::Socket;
use crate::timer::{Nanos, TimerId};

mod calls;
mod close;
mod flow;
mod open;
mod timeouts;

pub use close::CloseReason;
pub use flow::{HIGH_WATER, LOW_WATER};
pub(crate) use timeouts::Timing;

use calls::closed;

/// The most connections the default `handle_accept` takes per event.
pub const ACCEPT_BATCH: usize = 64;

/// How long a listener stops accepting after running out of descriptors.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The most one send(2) of queued output is given, as in asyncore's
/// `dispatcher_with_send`.
pub const SEND_CHUNK: usize = 64 * 1024;

/// The plain layer: asyncore's `dispatcher`, with no output queue. Its
/// defaults are [`Layer`](crate::Layer)'s for `Plain`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

/// One channel's socket and connection state: asyncore's `dispatcher`
/// without the callbacks (those are the [`Handler`](crate::Handler)'s).
///
/// The type parameter is the channel's *layer*, the asyncore class it is:
/// [`Plain`] (`dispatcher`), [`WithSend`](crate::WithSend)
/// (`dispatcher_with_send`: [`with_send`](Dispatcher::with_send)) or
/// [`Chat`](crate::Chat) (`async_chat`: [`with_chat`](Dispatcher::with_chat)).
/// Each layer adds its own methods; none changes a channel's kind.
///
/// The flags follow asyncore: [`connected`](Self::connected) is set when a
/// connection exists, [`accepting`](Self::accepting) by `listen`,
/// [`connecting`](Self::connecting) by `connect` until the connect
/// completes. The I/O methods interpret errno the way asyncore does, so a
/// handler never has to: `send` returns 0 when the socket would block, and
/// `recv` returning 0 means the peer is gone; in both, a disconnect (EOF,
/// `ECONNRESET`, `EPIPE`, ...) makes the reactor call `handle_close` as soon
/// as the running callback returns.
pub struct Dispatcher<L = Plain> {
    socket: Option<Socket>,
    /// Its yes-or-no state (connected, at end of file, ...), one bit each.
    pub(crate) flags: Flags,
    addr: Option<Address>,
    /// Queued output (empty and unused on a plain dispatcher).
    pub(crate) out: OutQueue,
    /// The most one send(2) is given (asynchat's `ac_out_buffer_size`).
    pub(crate) send_chunk: u32,
    /// Events a method noticed that the reactor turns into callbacks once
    /// the running callback returns.
    pub(crate) pending: Pending,
    /// Why the library is closing the channel, once it is.
    pub(crate) close_reason: Option<CloseReason>,
    /// The socket `close` took away, while the reactor still has it registered.
    pub(crate) retired: Option<Socket>,
    /// How many send(2)/write(2) calls the channel made.
    sends: u32,
    /// What few channels set: water marks, pacing, channel timers.
    pub(crate) extra: Option<Box<Extra>>,
    /// What channels with a timeout (or a listener in its accept
    /// back-off) have: the timeouts' clocks and the alarm.
    pub(crate) timing: Option<Box<Timing>>,
    /// The layer's own state.
    pub(crate) layer: L,
}

// A dispatcher and a handler of one pointer (a counter, an `Rc`) fit the
// 128-byte malloc block, which holds 120: one field more would make every
// connection's block 144 bytes.
const _: () = assert!(std::mem::size_of::<Dispatcher>() <= 112);

/// A channel's yes-or-no state, one bit each. (As sixteen `bool`s it took
/// sixteen bytes, which made every connection's block one malloc size
/// class larger: 144 bytes instead of 128.)
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Flags(u32);

impl Flags {
    /// A connection exists (asyncore's `connected`).
    pub(crate) const CONNECTED: Flags = Flags(1);
    /// `listen` was called (asyncore's `accepting`).
    pub(crate) const ACCEPTING: Flags = Flags(1 << 1);
    /// A connect is in progress (asyncore's `connecting`).
    pub(crate) const CONNECTING: Flags = Flags(1 << 2);
    /// `close_when_done`: stop reading, flush the output, then close.
    pub(crate) const CLOSING: Flags = Flags(1 << 3);
    /// `shutdown_when_done`: flush the output, then shut down the write side.
    pub(crate) const SHUTTING: Flags = Flags(1 << 4);
    /// A pipe or file (asyncore's `file_dispatcher`): read(2) and write(2).
    pub(crate) const FILE: Flags = Flags(1 << 5);
    /// `handle_close` has run for a close the library made: it is not run
    /// again (a handler that keeps the channel open is not called forever).
    pub(crate) const ANNOUNCED: Flags = Flags(1 << 6);
    /// `recv` saw the end of the input: the channel is not read again.
    pub(crate) const EOF: Flags = Flags(1 << 7);
    /// The reactor asked the backend to read this channel, this iteration.
    pub(crate) const READING: Flags = Flags(1 << 8);
    /// What the channel last answered `readable()`, before pacing.
    pub(crate) const WANTS_READ: Flags = Flags(1 << 9);
    /// What the channel last answered `writable()`.
    pub(crate) const WANTS_WRITE: Flags = Flags(1 << 10);
    /// Queued for its interest to be asked again (see `interest.rs`).
    pub(crate) const DIRTY: Flags = Flags(1 << 11);
    /// Held by a reactor: `close` keeps the descriptor open (retired) until
    /// the reactor has removed its registration, then it closes.
    pub(crate) const IN_REACTOR: Flags = Flags(1 << 12);
    /// The output queue went over its high-water mark and has not yet
    /// drained to its low-water mark: the channel is not read meanwhile.
    pub(crate) const THROTTLED: Flags = Flags(1 << 13);
    /// Output was queued since the last send: the send that ends the
    /// running callback is due.
    pub(crate) const FRESH_OUTPUT: Flags = Flags(1 << 14);
    /// Output was queued when the deadlines were last looked at, for the
    /// alarm then set (the send timeout counted); see `Dispatcher::clock`.
    pub(crate) const ALARM_SENDING: Flags = Flags(1 << 15);

    /// Whether `flag` is set.
    #[inline]
    pub(crate) fn has(self, flag: Flags) -> bool {
        self.0 & flag.0 != 0
    }

    /// Sets `flag` or clears it.
    #[inline]
    pub(crate) fn set(&mut self, flag: Flags, on: bool) {
        if on {
            self.0 |= flag.0;
        } else {
            self.0 &= !flag.0;
        }
    }

    /// Sets `flag` or clears it; returns whether it was set.
    #[inline]
    pub(crate) fn replace(&mut self, flag: Flags, on: bool) -> bool {
        let was = self.has(flag);
        self.set(flag, on);
        was
    }
}

/// A channel's rarely set state, kept out of line so that a plain
/// connection stays small.
pub(crate) struct Extra {
    /// (high, low) water marks of the output queue.
    pub(crate) marks: (usize, usize),
    /// Reading waits while this channel's output queue is full.
    pub(crate) paced_by: Option<Token>,
    /// Timers bound to the channel, cancelled when it closes.
    pub(crate) timers: Vec<TimerId>,
    /// A listener's last accept event: its iteration, and how many
    /// connections it accepted (see `Channel::accept_batch`).
    pub(crate) last_accept: Option<(u64, u32)>,
    /// A listener out of descriptors accepts nothing until then.
    pub(crate) paused_until: Option<Nanos>,
}

impl Default for Extra {
    fn default() -> Extra {
        Extra {
            marks: (HIGH_WATER, LOW_WATER),
            paced_by: None,
            timers: Vec::new(),
            last_accept: None,
            paused_until: None,
        }
    }
}

/// Events noticed inside a method, delivered after the callback returns.
#[derive(Default)]
pub(crate) struct Pending {
    /// `connect` completed at once (a Unix-domain socket, UDP).
    pub(crate) connect: bool,
    /// The peer closed (EOF) or a disconnect errno was seen.
    pub(crate) close: bool,
    /// Why, this time (`close_reason` keeps the first reason announced).
    pub(crate) reason: Option<CloseReason>,
}

/// What the clock says about one channel this iteration.
pub(crate) enum Clock {
    /// One of its timeouts has passed: announce the close.
    Expired,
    /// A listener out of descriptors: leave it out of the wait until then.
    Paused(Nanos),
    /// Wait for it as usual, and wake by this deadline (its next timeout;
    /// `None`: it has none, or its alarm already rings in time).
    Wake(Option<Nanos>),
}

/// asyncore's `dispatcher` methods, on every layer.
impl<L> Dispatcher<L> {
    /// The same socket and state under another layer.
    pub(crate) fn with_layer<M>(self, layer: M) -> Dispatcher<M> {
        Dispatcher {
            socket: self.socket,
            flags: self.flags,
            addr: self.addr,
            out: self.out,
            send_chunk: self.send_chunk,
            pending: self.pending,
            close_reason: self.close_reason,
            retired: self.retired,
            sends: self.sends,
            extra: self.extra,
            timing: self.timing,
            layer,
        }
    }

    /// The socket, or `EBADF` once the dispatcher is closed.
    #[inline]
    pub(crate) fn sock(&self) -> io::Result<&Socket> {
        self.socket.as_ref().ok_or_else(closed)
    }

    /// What the channel last answered `readable()` and `writable()`.
    #[inline]
    pub(crate) fn wants(&self) -> (bool, bool) {
        (self.flags.has(Flags::WANTS_READ), self.flags.has(Flags::WANTS_WRITE))
    }

    /// Notes what the channel answered `readable()` and `writable()`.
    #[inline]
    pub(crate) fn set_wants(&mut self, (read, write): (bool, bool)) {
        self.flags.set(Flags::WANTS_READ, read);
        self.flags.set(Flags::WANTS_WRITE, write);
    }

    /// The out-of-line state, made on first use.
    pub(crate) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Notes one send(2)/write(2) call, for [`sends`](Self::sends).
    pub(crate) fn count_send(&mut self) {
        self.sends = self.sends.wrapping_add(1);
    }

    /// How many send(2)/write(2) calls this channel has made: a cheap
    /// counter for tests and measurements (one send per callback, say).
    pub fn sends(&self) -> u64 {
        u64::from(self.sends)
    }

    /// Closes the socket; the reactor forgets the channel as soon as the
    /// running callback returns, and calls none of its callbacks after this.
    /// Calling it again does nothing.
    pub fn close(&mut self) {
        self.flags.set(Flags::CONNECTED, false);
        self.flags.set(Flags::ACCEPTING, false);
        self.flags.set(Flags::CONNECTING, false);
        self.flags.set(Flags::CLOSING, false);
        let socket = self.socket.take();
        if self.flags.has(Flags::IN_REACTOR) {
            // Closed when the reactor has removed its registration, so the
            // number cannot be reused before (epoll keeps registrations by
            // open file, and a duplicate elsewhere would keep it firing).
            self.retired = self.retired.take().or(socket);
        }
    }

    /// Whether this dispatcher reads and writes a pipe or file rather than
    /// a socket ([`from_file`](Self::from_file)).
    pub fn is_file(&self) -> bool {
        self.flags.has(Flags::FILE)
    }

    /// A connection exists.
    pub fn connected(&self) -> bool {
        self.flags.has(Flags::CONNECTED)
    }

    /// The channel listens for connections.
    pub fn accepting(&self) -> bool {
        self.flags.has(Flags::ACCEPTING)
    }

    /// A connect is in progress.
    pub fn connecting(&self) -> bool {
        self.flags.has(Flags::CONNECTING)
    }

    /// The socket is still open.
    #[inline]
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
    #[inline]
    pub fn fileno(&self) -> Option<RawFd> {
        self.socket.as_ref().map(|s| s.as_raw_fd())
    }
}

impl<L> fmt::Debug for Dispatcher<L> {
    /// Like asyncore's repr: `<Dispatcher listening 127.0.0.1:8080 fd=3>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<Dispatcher")?;
        if self.flags.has(Flags::ACCEPTING) {
            f.write_str(" listening")?;
        } else if self.flags.has(Flags::CONNECTED) {
            f.write_str(" connected")?;
        } else if self.flags.has(Flags::CONNECTING) {
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
