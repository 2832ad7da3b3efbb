//! The [`Handler`] trait: the callbacks a channel's owner writes; and
//! [`Layer`]: the asyncore class a channel is, with that class's default
//! callbacks.

use std::fmt;
use std::io::{self, Write};

use crate::address::Address;
use crate::context::Channel;
use crate::dispatcher::{Dispatcher, Plain};
use crate::socket::Socket;

/// What a log line is about, asyncore's `log_info` type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// Informational.
    Info,
    /// A default handler ran where the program probably meant to override
    /// it ("unhandled read event"). Silent by default, as asyncore's
    /// `ignore_log_types` made it.
    Warning,
    /// A callback failed and the channel is being closed.
    Error,
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogKind::Info => "info",
            LogKind::Warning => "warning",
            LogKind::Error => "error",
        })
    }
}

/// Writes one log line the way asyncore's `log_info` prints it: `kind:
/// message`, unless `kind` is a warning (asyncore's default
/// `ignore_log_types`). Failures to write are ignored: logging must never
/// take a server down.
pub(crate) fn write_log_line(out: &mut impl Write, message: &str, kind: LogKind) {
    if kind != LogKind::Warning {
        let _ = writeln!(out, "{kind}: {message}");
    }
}

/// A channel's callbacks: what asyncore users wrote as `dispatcher`
/// subclass methods.
///
/// `L` is the channel's [`Layer`], the asyncore class it is: [`Plain`]
/// (the default: `impl Handler for Server`), [`WithSend`](crate::WithSend)
/// (`impl Handler<WithSend> for Echo`) or [`Chat`](crate::Chat). The
/// callbacks get a [`Channel`] of that layer, so a chat handler can `push`
/// and a plain one cannot.
///
/// The reactor calls them once per loop iteration at most per event kind:
///
/// 1. before waiting, [`readable`](Self::readable) and
///    [`writable`](Self::writable) decide what the channel waits for;
/// 2. after the wait, each readiness becomes a callback, in this order:
///    `handle_connect` (first event of a connecting channel),
///    `handle_accept` or `handle_read`, `handle_write`, `handle_expt`,
///    `handle_close` (hang-up with nothing left to read).
///
/// Every method has its layer's default (asyncore's), so a handler
/// overrides only what it needs; an override can still run the default,
/// as a Python subclass called `super()`: `Chat::handle_read(self, ch)`
/// (see [`Layer`]). The defaults that asyncore made log an "unhandled ...
/// event" warning do the same here, through [`log_info`](Self::log_info),
/// which drops warnings unless overridden.
///
/// A callback that returns an error is routed as asyncore routed
/// exceptions: a disconnect errno (see [`DISCONNECTED`](crate::DISCONNECTED))
/// goes to `handle_close`, `WouldBlock` is ignored (nothing was there after
/// all), and anything else goes to [`handle_error`](Self::handle_error).
///
/// ```
/// use pollreactor::{Channel, Handler, WithSend};
/// use std::io;
///
/// /// Echoes what it reads (a `Dispatcher::with_send` channel).
/// struct Echo;
/// impl Handler<WithSend> for Echo {
///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
///         let mut buf = [0u8; 8192];
///         let n = ch.recv(&mut buf)?;
///         ch.send_buffered(&buf[..n])
///     }
/// }
/// ```
pub trait Handler<L: Layer = Plain>: 'static {
    /// Should the loop wait for this channel to become readable? Asked once
    /// per iteration, before the wait. Default: [`Layer::readable`] (true,
    /// but false while a buffered channel's `close_when_done` flushes).
    fn readable(&mut self, d: &Dispatcher<L>) -> bool {
        L::readable(d)
    }

    /// Should the loop wait for this channel to become writable? Asked once
    /// per iteration, before the wait; never asked of a listener.
    ///
    /// Default: [`Layer::writable`]: true for a plain dispatcher, as in
    /// asyncore. A connected socket is nearly always writable, so such a
    /// channel makes every wait return at once: override this (or use
    /// [`Dispatcher::with_send`]) unless you mean to write on every pass.
    /// For a buffered channel: true while connecting or holding output.
    fn writable(&mut self, d: &Dispatcher<L>) -> bool {
        L::writable(d)
    }

    /// The socket has data (or an end of file) to read. Default:
    /// [`Layer::handle_read`]: a warning, but for a chat channel, read and
    /// split the input into records (asynchat).
    fn handle_read(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        L::handle_read(self, ch)
    }

    /// The socket can take more output. Default: [`Layer::handle_write`]:
    /// a buffered channel sends from its queue; a plain one logs a warning.
    fn handle_write(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        L::handle_write(self, ch)
    }

    /// Urgent (out-of-band) data arrived: read it with
    /// [`Socket::recv_oob`].
    fn handle_expt(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let _ = ch;
        self.log_info("unhandled incoming priority event", LogKind::Warning);
        Ok(())
    }

    /// A connect completed. Runs once, before any read or write callback
    /// of the channel; the channel already reads as connected.
    fn handle_connect(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let _ = ch;
        self.log_info("unhandled connect event", LogKind::Warning);
        Ok(())
    }

    /// A listener is readable. Default: accept, then
    /// [`handle_accepted`](Self::handle_accepted), for every connection
    /// waiting, up to [`ACCEPT_BATCH`](crate::ACCEPT_BATCH) per event (a
    /// burst of N connections costs N accepts and about N / 64 waits, not N
    /// waits; the rest wait in the backlog for the next iteration).
    fn handle_accept(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        for _ in 0..crate::ACCEPT_BATCH {
            match ch.accept()? {
                Some((sock, addr)) => self.handle_accepted(ch, sock, addr)?,
                None if ch.accept_paused() => {
                    let message = format!("{ch:?} is out of descriptors: not accepting for a while");
                    self.log_info(&message, LogKind::Error);
                    return Ok(());
                }
                None => return Ok(()),
            }
            if !ch.accepting() {
                return Ok(()); // handle_accepted closed the listener
            }
        }
        Ok(())
    }

    /// A connection was accepted. Default: close it, with a warning. A
    /// server's override usually does
    /// `ch.context().add(Dispatcher::new(sock)?, ...)`.
    fn handle_accepted(&mut self, ch: &mut Channel<'_, L>, sock: Socket, addr: Address) -> io::Result<()> {
        let _ = (ch, addr);
        drop(sock);
        self.log_info("unhandled accepted event", LogKind::Warning);
        Ok(())
    }

    /// The peer closed the connection, or it broke. Default:
    /// [`Layer::handle_close`]: a warning, then close the channel; but a
    /// buffered channel with queued output (a peer that half-closed after
    /// its last request) first sends it. asyncore dropped it.
    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        L::handle_close(self, ch)
    }

    /// A callback failed with `err`. Default: log it as an error, then
    /// `handle_close` (so the channel closes and the loop goes on).
    fn handle_error(&mut self, ch: &mut Channel<'_, L>, err: io::Error) {
        let message = format!("uncaptured error, closing channel {ch:?} ({err})");
        self.log_info(&message, LogKind::Error);
        // This is the library's close, announced once: a later end of the
        // queue (a buffered close_when_done) does not run handle_close again.
        if !ch.announce(crate::CloseReason::Error) || self.handle_close(ch).is_err() {
            ch.close();
        }
    }

    /// Part of a record arrived on a [`Chat`](crate::Chat) channel (never
    /// empty); only the chat layer's read step calls it. Default: append it
    /// to the channel's record, [`Dispatcher::incoming`].
    fn collect_incoming_data(&mut self, ch: &mut Channel<'_, L>, data: &[u8]) -> io::Result<()> {
        L::collect_incoming_data(ch, data)
    }

    /// A [`Chat`](crate::Chat) channel's terminator arrived: the record is
    /// complete; only the chat layer's read step calls it. Default: an
    /// `Unsupported` error (asynchat raised NotImplementedError), so
    /// `handle_error` reports it and closes.
    fn found_terminator(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let _ = ch;
        Err(io::Error::new(io::ErrorKind::Unsupported, "found_terminator is not implemented"))
    }

    /// Reports a message. Default: one line on stdout, `kind: message`,
    /// except warnings, which are dropped (asyncore's `ignore_log_types`).
    /// Override it to send the lines elsewhere.
    fn log_info(&mut self, message: &str, kind: LogKind) {
        write_log_line(&mut io::stdout().lock(), message, kind);
    }
}

/// The asyncore class a channel is, and that class's default callbacks.
///
/// There are three, each a type: [`Plain`] (`asyncore.dispatcher`),
/// [`WithSend`](crate::WithSend) (`asyncore.dispatcher_with_send`) and
/// [`Chat`](crate::Chat) (`asynchat.async_chat`). A [`Dispatcher<L>`] holds
/// the layer's state, and [`Handler<L>`]'s defaults call these functions,
/// so an override can call them too, as a Python subclass called the base
/// class's method:
///
/// ```
/// use pollreactor::{Channel, Chat, Handler, Layer};
/// use std::io;
///
/// /// Counts reads, around asynchat's own read step.
/// struct Lines {
///     reads: usize,
/// }
/// impl Handler<Chat> for Lines {
///     fn handle_read(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
///         Chat::handle_read(self, ch)?; // asynchat's read step: records, found_terminator
///         self.reads += 1;
///         Ok(())
///     }
///     fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
///         let line = ch.take_incoming();
///         ch.push(&line)
///     }
/// }
/// ```
///
/// The trait is sealed: the three layers are the crate's.
pub trait Layer: sealed::Sealed + Sized + 'static {
    /// The class's `readable()`: true, but false while a buffered channel's
    /// `close_when_done` flushes.
    fn readable(d: &Dispatcher<Self>) -> bool;

    /// The class's `writable()`: true for [`Plain`] (asyncore's); for the
    /// buffered layers, true while a connect is in progress or output is
    /// queued (asyncore's "not connected" would make an unconnected UDP
    /// channel writable forever).
    fn writable(d: &Dispatcher<Self>) -> bool;

    /// The class's `handle_read()`: a warning, but for [`Chat`](crate::Chat)
    /// asynchat's read step.
    fn handle_read<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// The class's `handle_write()`: a warning for [`Plain`]; for the
    /// buffered layers one send from the queue ([`Dispatcher::initiate_send`]).
    fn handle_write<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// The class's `handle_close()`: a warning, then close; the buffered
    /// layers first send what is queued ([`Dispatcher::close_when_done`]).
    fn handle_close<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// asynchat's `_collect_incoming_data`: append to the record. Only the
    /// chat layer has records; the others ignore the data.
    fn collect_incoming_data(ch: &mut Channel<'_, Self>, data: &[u8]) -> io::Result<()> {
        let _ = (ch, data);
        Ok(())
    }
}

/// Keeps [`Layer`] (and [`Buffered`](crate::Buffered)) the crate's own.
pub(crate) mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for Plain {}

/// `asyncore.dispatcher`: no output queue; reads and writes are the
/// handler's to do.
impl Layer for Plain {
    fn readable(_: &Dispatcher<Plain>) -> bool {
        true
    }

    fn writable(_: &Dispatcher<Plain>) -> bool {
        true
    }

    fn handle_read<H: Handler<Plain> + ?Sized>(h: &mut H, _: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled read event", LogKind::Warning);
        Ok(())
    }

    fn handle_write<H: Handler<Plain> + ?Sized>(h: &mut H, _: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled write event", LogKind::Warning);
        Ok(())
    }

    fn handle_close<H: Handler<Plain> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled close event", LogKind::Warning);
        ch.close();
        Ok(())
    }
}
