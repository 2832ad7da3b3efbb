//! The [`Handler`] trait: the callbacks a channel's owner writes; and
//! [`Layer`]: the asyncore class a channel is, with that class's default
//! callbacks.

use std::fmt;
use std::io::{self, Write};

use crate::address::Address;
use crate::context::Channel;
use crate::dispatcher::{Dispatcher, Plain};
use crate::socket::Socket;

mod layer;

pub(crate) use layer::sealed;
pub use layer::Layer;

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
///    `handle_connect` (first event of a connecting channel, if the connect
///    worked), `handle_accept` or `handle_read`, `handle_write`,
///    `handle_expt`, `handle_close` (hang-up or error with nothing left to
///    read); and when the callbacks return, `handle_close` if `recv` or
///    `send` saw the end of the connection.
///
/// The guide has the full [order](crate::guide#the-order), what each
/// backend's answer becomes ([readiness table](crate::guide#readiness-into-callbacks)),
/// and [worked examples](crate::guide#worked-examples), each run on every
/// backend.
///
/// Every method has its layer's default (asyncore's), so a handler
/// overrides only what it needs; an override can still run the default,
/// as a Python subclass called `super()`: `Chat::handle_read(self, ch)`
/// (see [`Layer`]).
///
/// A callback that returns an error is routed as asyncore routed
/// exceptions: a disconnect errno (see [`DISCONNECTED`](crate::DISCONNECTED))
/// goes to `handle_close`, `WouldBlock` is ignored (nothing was there after
/// all), and anything else goes to [`handle_error`](Self::handle_error).
///
/// # What the defaults do
///
/// | method | default | log line (kind) |
/// |---|---|---|
/// | `readable` | true; a buffered channel: false while `close_when_done` flushes | |
/// | `writable` | true; a buffered channel: while connecting or holding output | |
/// | `handle_read` | nothing; a [`Chat`](crate::Chat) channel: asynchat's read step | `unhandled read event` (warning), but not for `Chat` |
/// | `handle_write` | nothing; a buffered channel: one send from its queue | `unhandled write event` (warning), plain only |
/// | `handle_expt` | nothing | `unhandled incoming priority event` (warning) |
/// | `handle_connect` | nothing | `unhandled connect event` (warning) |
/// | `handle_accept` | accept, then `handle_accepted` | `<Dispatcher ...> is out of descriptors: not accepting for a while` (error), when accepting pauses |
/// | `handle_accepted` | close the new socket | `unhandled accepted event` (warning) |
/// | `handle_close` | close; a buffered channel: [`close_when_done`](Dispatcher::close_when_done) | `unhandled close event` (warning) |
/// | `handle_error` | log, then `handle_close` | `uncaptured error, closing channel <Dispatcher ...> (ERROR)` (error) |
/// | `collect_incoming_data` | append to [`incoming`](Dispatcher::incoming) (chat) | |
/// | `found_terminator` | fail with `Unsupported`, which goes to `handle_error` | (`handle_error`'s) |
/// | `log_info` | print `kind: message` on stdout; drop warnings | |
///
/// The log lines go through [`log_info`](Self::log_info), whose default
/// drops the warnings (asyncore's `ignore_log_types`), so by default only
/// the error lines are printed.
///
/// A default is a callback like any other: the reactor calls
/// `handle_close` whether or not the handler wrote one, and the tracer lists
/// it. `log_info` is not a callback: the reactor never calls it; the
/// defaults above do (and a handler may). It changes nothing else.
///
/// A handler that overrides only `log_info`, on a refused connect: the
/// default `handle_error` logs the error, then calls the default
/// `handle_close`, which logs its warning and closes the channel.
///
/// ```
/// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
/// # fn main() -> std::io::Result<()> {
/// use pollreactor::{Backend, Dispatcher, Family, Handler, LogKind, LoopOptions, Reactor, SockType};
///
/// struct Logged(Log);
/// impl Handler for Logged {
///     fn log_info(&mut self, message: &str, kind: LogKind) {
///         self.0.push(format!("{kind}: {message}"));
///     }
/// }
///
/// let refused = std::io::Error::from_raw_os_error(libc::ECONNREFUSED);
/// for &backend in Backend::available() {
///     let log = Log::default();
///     let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream)?;
///     let port = closed_port()?;
///     client.connect(port)?;
///     let fd = client.fileno().unwrap();
///     let mut reactor = Reactor::new();
///     reactor.add(client, Logged(log.clone()))?;
///     reactor.run(LoopOptions::default().backend(backend))?; // until the channel is gone
///     assert_eq!(
///         log.take(),
///         [
///             format!("error: uncaptured error, closing channel <Dispatcher {port} fd={fd}> ({refused})"),
///             "warning: unhandled close event".to_string(),
///         ]
///     );
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Example
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
    /// per iteration, before the wait; not asked once the channel's input
    /// has ended (`recv` returned 0), nor while its output queue is over
    /// its high-water mark. Default: [`Layer::readable`] (true, but false
    /// while a buffered channel's `close_when_done` flushes).
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

    /// The socket has data (or an end of file) to read; or it hung up,
    /// and the channel asked to read (a pipe whose writer closed).
    ///
    /// It runs at most once per iteration, however much is waiting. What it
    /// leaves in the socket is reported again at the next iteration (the
    /// wait is level-triggered), so one [`recv`](Dispatcher::recv) per call
    /// loses nothing. `recv` returning `Ok(0)` means the input ended:
    /// `handle_close` follows when this returns, with
    /// [`EndOfFile`](crate::CloseReason::EndOfFile) (or
    /// [`Reset`](crate::CloseReason::Reset)), and the channel is not read
    /// again. A `handle_read` that never calls `recv` never sees the end.
    /// A peer that sent 50,000 bytes and closed, read 8,192 bytes a call:
    /// seven iterations of data, then a read of 0 and `handle_close`, in
    /// the guide's [worked example](crate::guide#a-peer-that-sends-50000-bytes-and-closes).
    ///
    /// Default: [`Layer::handle_read`]: a warning, but for a chat channel,
    /// read once and split the input into records (asynchat; see
    /// [`found_terminator`](Self::found_terminator)).
    fn handle_read(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        L::handle_read(self, ch)
    }

    /// The socket can take more output (asked only while
    /// [`writable`](Self::writable) says so; never on a listener). It runs
    /// after `handle_read` in the same pass, and not at all if
    /// `handle_read` closed the channel, saw the end of the input or
    /// failed. Default:
    /// [`Layer::handle_write`]: a buffered channel sends from its queue; a
    /// plain one logs a warning.
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
    ///
    /// It runs when the channel's first event finds `SO_ERROR` clear, or,
    /// for a connect that completed at once, inside
    /// [`Context::add`](crate::Context::add) or after the callback that
    /// called `connect`. It never runs for a failed connect: a refused one
    /// goes to [`handle_error`](Self::handle_error), one the peer reset to
    /// [`handle_close`](Self::handle_close). See
    /// [`Dispatcher::connect`].
    fn handle_connect(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let _ = ch;
        self.log_info("unhandled connect event", LogKind::Warning);
        Ok(())
    }

    /// A listener is readable. Default: accept, then
    /// [`handle_accepted`](Self::handle_accepted), for each connection
    /// waiting: one per event while they come one at a time (as nginx
    /// without `multi_accept`: no accept(2) is spent learning that no more
    /// wait), up to [`ACCEPT_BATCH`](crate::ACCEPT_BATCH) per event in a
    /// burst (N connections cost about N accepts and N / 64 waits, not N
    /// waits; the rest wait in the backlog for the next iteration): see
    /// [`Channel::accept_batch`], which an override can use too.
    fn handle_accept(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        for _ in 0..ch.accept_batch() {
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

    /// The peer closed the connection, it broke, or the library is closing
    /// the channel. [`close_reason`](Dispatcher::close_reason) says which:
    ///
    /// | reason | when it runs |
    /// |---|---|
    /// | [`EndOfFile`](crate::CloseReason::EndOfFile) | `recv` returned 0: when the `handle_read` that called it returns, in the same iteration |
    /// | [`Reset`](crate::CloseReason::Reset) | `recv` or `send` met `ECONNRESET` (when the callback returns), or `SO_ERROR` held it (at once) |
    /// | [`Broken`](crate::CloseReason::Broken) | another disconnect errno; a hang-up or error with nothing left to read; a descriptor that is not open |
    /// | [`Error`](crate::CloseReason::Error) | the default `handle_error` calls it, after a callback's error or a failed connect |
    /// | [`IdleTimeout`](crate::CloseReason::IdleTimeout), [`InputTimeout`](crate::CloseReason::InputTimeout), [`SendTimeout`](crate::CloseReason::SendTimeout) | a timeout passed: before the wait |
    /// | [`Drained`](crate::CloseReason::Drained) | a `close_when_done` sent its last byte |
    ///
    /// The reactor runs it once per channel. If it leaves the channel open,
    /// the next close the library makes closes the channel without calling
    /// it again; but after an `EndOfFile`, a later reset, broken connection
    /// or timeout runs it once more, with that reason (the bytes still
    /// queued are lost: a forwarder passes the reset on). A program's own `ch.close()` or
    /// [`Context::close`](crate::Context::close) does not run it, as in
    /// asyncore.
    ///
    /// A peer that sent more than one read's worth and closed: one
    /// `handle_read` per iteration; the last one's `recv` returns 0; then
    /// `handle_close`, with `EndOfFile`, in the same iteration (the guide's
    /// [worked example](crate::guide#a-peer-that-sends-50000-bytes-and-closes)).
    ///
    /// Default: [`Layer::handle_close`]: a warning, then close the channel; but a
    /// buffered channel with queued output (a peer that half-closed after
    /// its last request) first sends it. asyncore dropped it.
    ///
    /// Once: a handler whose `handle_close` keeps the channel open, after
    /// the peer reset the connection. Its next `send` meets `EPIPE`; the
    /// channel closes then, with no second `handle_close` (the recording
    /// handler of the [guide's examples](crate::guide#the-rows-run)):
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
    ///     wait_for_reset(&ours);
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(ours, Recorder::new(&log).keeping_open().sending(b"hello"))?;
    ///     assert_eq!(run(&mut reactor, backend, &log), ["read 0, close Reset", "write, sent 0"]);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        L::handle_close(self, ch)
    }

    /// A callback failed with `err` (an error that is neither `WouldBlock`
    /// nor a [disconnect](crate::DISCONNECTED)), or a connect failed (`err`
    /// is `SO_ERROR`'s: `ECONNREFUSED`, say). [`close_reason`](Dispatcher::close_reason)
    /// already says [`Error`](crate::CloseReason::Error).
    ///
    /// Default: log `uncaptured error, closing channel <Dispatcher ...> (err)`
    /// through [`log_info`](Self::log_info) as [`LogKind::Error`], then call
    /// `handle_close` (so the channel closes and the loop goes on); if that
    /// fails, close the channel.
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
    /// empty); only the chat layer's read step calls it. A record split
    /// across reads arrives in several parts, one per read; bytes that may
    /// start the terminator are held back until the next read tells.
    /// Default: append it to the channel's record, [`Dispatcher::incoming`].
    fn collect_incoming_data(&mut self, ch: &mut Channel<'_, L>, data: &[u8]) -> io::Result<()> {
        L::collect_incoming_data(ch, data)
    }

    /// A [`Chat`](crate::Chat) channel's terminator arrived: the record is
    /// complete; only the chat layer's read step calls it. The record is what
    /// [`collect_incoming_data`](Self::collect_incoming_data) got since the
    /// last terminator: with the default, [`incoming`](Dispatcher::incoming)
    /// (take it with [`take_incoming`](Dispatcher::take_incoming)).
    ///
    /// * Each read event is one `recv` (up to
    ///   [`IN_BUFFER_SIZE`](crate::IN_BUFFER_SIZE) bytes by default); every terminator in
    ///   what it brought runs `found_terminator`, in that one `handle_read`.
    /// * A terminator split across reads (`\r`, then `\n`) is found at the
    ///   read that completes it.
    /// * An empty record (two terminators in a row) runs it too, with
    ///   nothing collected: `collect_incoming_data` is not called for it.
    /// * At the end of the input it does not run for the unterminated
    ///   rest: that stays in `incoming()` when `handle_close` runs. A
    ///   partial terminator held back at the very end is in neither.
    ///
    /// It may change the terminator ([`set_terminator`](Dispatcher::set_terminator)):
    /// the rest of the input already read is split by the new one.
    ///
    /// Default: an `Unsupported` error (asynchat raised NotImplementedError),
    /// so `handle_error` reports it and closes.
    ///
    /// The terminator `\r\n`, and a peer that sends `GET\r`, then
    /// `\n\r\nabc\r`, then `\nxyz\r`, then closes; one iteration per piece
    /// (the recording handler of the [guide's examples](crate::guide#the-rows-run),
    /// walked through in [the guide](crate::guide#a-chat-terminator-split-across-reads)):
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
    /// # fn main() -> std::io::Result<()> {
    /// use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
    /// for &backend in Backend::available() {
    ///     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    ///     let mut chat = Dispatcher::new(ours)?.with_chat();
    ///     chat.set_terminator(b"\r\n");
    ///     let log = Log::default();
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(chat, Recorder::new(&log))?;
    ///     let mut steps = Vec::new();
    ///     for piece in [&b"GET\r"[..], b"\n\r\nabc\r", b"\nxyz\r"] {
    ///         theirs.send(piece)?;
    ///         steps.extend(run_for(&mut reactor, backend, &log, 1));
    ///     }
    ///     drop(theirs);
    ///     steps.extend(run(&mut reactor, backend, &log));
    ///     assert_eq!(
    ///         steps,
    ///         [
    ///             "read, collect [GET]",                        // "\r" held back
    ///             "read, found [GET], found [], collect [abc]", // an empty record
    ///             "read, found [abc], collect [xyz]",           // "\r" held back
    ///             "read, close EndOfFile (incoming [xyz])",     // no found_terminator, no "\r"
    ///         ]
    ///     );
    /// }
    /// # Ok(())
    /// # }
    /// ```
    fn found_terminator(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let _ = ch;
        Err(io::Error::new(io::ErrorKind::Unsupported, "found_terminator is not implemented"))
    }

    /// Reports a message. The default callbacks call it (the table in
    /// [What the defaults do](Self#what-the-defaults-do) has their lines);
    /// the reactor never does, so it is not a callback, and the tracer does
    /// not list it. Default: one line on stdout, `kind: message`, except
    /// warnings, which are dropped (asyncore's `ignore_log_types`).
    /// Override it to send the lines elsewhere, or to see the warnings.
    fn log_info(&mut self, message: &str, kind: LogKind) {
        write_log_line(&mut io::stdout().lock(), message, kind);
    }
}
