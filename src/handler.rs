//! The [`Handler`] trait: the callbacks a channel's owner writes.

use std::any::Any;
use std::fmt;
use std::io::{self, Write};

use crate::{Address, Channel, Dispatcher, Socket};

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
pub fn write_log_line(out: &mut impl Write, message: &str, kind: LogKind) {
    if kind != LogKind::Warning {
        let _ = writeln!(out, "{kind}: {message}");
    }
}

/// A channel's callbacks: what asyncore users wrote as `dispatcher`
/// subclass methods.
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
/// Every method has asyncore's default, so a handler overrides only what it
/// needs. The defaults that asyncore made log an "unhandled ... event"
/// warning do the same here, through [`log_info`](Self::log_info), which
/// drops warnings unless overridden.
///
/// A callback that returns an error is routed as asyncore routed
/// exceptions: a disconnect errno (see [`DISCONNECTED`](crate::DISCONNECTED))
/// goes to `handle_close`, `WouldBlock` is ignored (nothing was there after
/// all), and anything else goes to [`handle_error`](Self::handle_error).
///
/// ```
/// use pollreactor::{Channel, Handler};
/// use std::io;
///
/// /// Echoes what it reads (the channel is `Dispatcher::with_send`).
/// struct Echo;
/// impl Handler for Echo {
///     fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
///         let mut buf = [0u8; 8192];
///         let n = ch.recv(&mut buf)?;
///         ch.send_buffered(&buf[..n])
///     }
/// }
/// ```
pub trait Handler: Any {
    /// Should the loop wait for this channel to become readable? Asked once
    /// per iteration, before the wait. Default: true (false while a
    /// `close_when_done` flushes).
    fn readable(&mut self, d: &Dispatcher) -> bool {
        d.default_readable()
    }

    /// Should the loop wait for this channel to become writable? Asked once
    /// per iteration, before the wait; never asked of a listener.
    ///
    /// Default: true for a plain dispatcher, as in asyncore. A connected
    /// socket is nearly always writable, so such a channel makes every wait
    /// return at once: override this (or use
    /// [`Dispatcher::with_send`]) unless you mean to write on every pass.
    fn writable(&mut self, d: &Dispatcher) -> bool {
        d.default_writable()
    }

    /// The socket has data (or an end of file) to read. Default: for a
    /// [`with_chat`](Dispatcher::with_chat) channel, read and split the input
    /// into records (asynchat); else a warning.
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        if ch.is_chat() {
            return crate::chat::handle_read(self, ch);
        }
        self.log_info("unhandled read event", LogKind::Warning);
        Ok(())
    }

    /// Part of a record arrived on a chat channel (never empty). Default:
    /// append it to the channel's record, [`Dispatcher::incoming`].
    fn collect_incoming_data(&mut self, ch: &mut Channel<'_>, data: &[u8]) -> io::Result<()> {
        ch.collect(data);
        Ok(())
    }

    /// A chat channel's terminator arrived: the record is complete.
    /// Default: an `Unsupported` error (asynchat raised
    /// NotImplementedError), so `handle_error` reports it and closes.
    fn found_terminator(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let _ = ch;
        Err(io::Error::new(io::ErrorKind::Unsupported, "found_terminator is not implemented"))
    }

    /// The socket can take more output. Default: flush the output queue
    /// (that of a [`with_send`](Dispatcher::with_send) dispatcher, or any
    /// queued output), else a warning.
    fn handle_write(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        if ch.is_with_send() || ch.has_output() {
            return ch.initiate_send();
        }
        self.log_info("unhandled write event", LogKind::Warning);
        Ok(())
    }

    /// Urgent (out-of-band) data arrived: read it with
    /// [`Socket::recv_oob`].
    fn handle_expt(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let _ = ch;
        self.log_info("unhandled incoming priority event", LogKind::Warning);
        Ok(())
    }

    /// A connect completed. Runs once, before any read or write callback
    /// of the channel; the channel already reads as connected.
    fn handle_connect(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let _ = ch;
        self.log_info("unhandled connect event", LogKind::Warning);
        Ok(())
    }

    /// A listener is readable. Default: accept, then
    /// [`handle_accepted`](Self::handle_accepted) if a connection was there.
    fn handle_accept(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        match ch.accept()? {
            Some((sock, addr)) => self.handle_accepted(ch, sock, addr),
            None if ch.accept_paused() => {
                let message = format!("{:?} is out of descriptors: not accepting for a while", **ch);
                self.log_info(&message, LogKind::Error);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A connection was accepted. Default: close it, with a warning. A
    /// server's override usually does `ch.add(Dispatcher::new(sock)?, ...)`.
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        let _ = (ch, addr);
        drop(sock);
        self.log_info("unhandled accepted event", LogKind::Warning);
        Ok(())
    }

    /// The peer closed the connection, or it broke. Default: a warning, then
    /// close the channel; but a channel with queued output (a peer that
    /// half-closed after its last request) first sends it, via
    /// [`close_when_done`](Dispatcher::close_when_done). asyncore dropped it.
    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.log_info("unhandled close event", LogKind::Warning);
        ch.close_when_done();
        Ok(())
    }

    /// A callback failed with `err`. Default: log it as an error, then
    /// `handle_close` (so the channel closes and the loop goes on).
    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        let message = format!("uncaptured error, closing channel {:?} ({err})", **ch);
        self.log_info(&message, LogKind::Error);
        if self.handle_close(ch).is_err() {
            ch.close();
        }
    }

    /// Reports a message. Default: [`write_log_line`] to stdout, which drops
    /// warnings. Override it to send the lines elsewhere.
    fn log_info(&mut self, message: &str, kind: LogKind) {
        write_log_line(&mut io::stdout().lock(), message, kind);
    }
}
