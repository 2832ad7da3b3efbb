//! # pollreactor: asyncore for Rust
//!
//! A small, single-threaded, level-triggered event loop over `poll(2)` and
//! `select(2)` (and, beyond asyncore, `epoll(7)` on Linux), with the programming model of Python's `asyncore`, and the
//! `libc` crate as its only dependency. These pages are also a guided tour
//! of how such a loop works; each step links to the code that does it.
//!
//! ## What a reactor is
//!
//! A server with many connections cannot block in `recv` on one of them
//! while the others wait. A *reactor* turns the problem around: it asks the
//! kernel which sockets can make progress right now, and only then *reacts*
//! by calling the code for those sockets. Each connection is a *channel*:
//! a [`Dispatcher`] (the socket and its asyncore state: connected,
//! accepting, connecting, address) paired with your [`Handler`] (the
//! callbacks). The [`Reactor`] holds the channels and runs the loop.
//!
//! ## One loop iteration, step by step
//!
#![doc = include_str!("../doc/iteration.svg")]
//!
//! [`Reactor::poll_once`] is the whole loop body, and reads top to bottom
//! in four steps (the picture above; the [`guide`] has the long form):
//!
//! 1. **Interest.** Channels are asked [`Handler::readable`] and
//!    [`Handler::writable`]: every channel at every iteration, as asyncore
//!    did (the default), or only those whose answer may have changed since
//!    (their callbacks ran, their timeout's alarm rang), with
//!    [`InterestMode::WhenChanged`], so that an iteration costs what the
//!    active channels cost. A listener is never asked to write (it has
//!    nothing to write; a listening socket's readability means "a connection
//!    is waiting"). The backend hears only what changed.
//! 2. **Wait.** One system call, `poll(2)`, `select(2)` or `epoll_wait(2)`
//!    (the [`Backend`]), sleeps until some descriptor is ready, the timeout
//!    passes, or the next timer is due. The buffers it fills are reused, so
//!    a steady loop allocates nothing.
//! 3. **Dispatch.** Each ready channel is taken out of the channel map (its
//!    slot is marked busy: the callback owns the channel while it runs),
//!    and its readiness becomes callbacks, in asyncore's order:
//!    `handle_connect` (the first event of a connecting socket, once
//!    `SO_ERROR` says the connect worked), `handle_accept` or
//!    `handle_read`, `handle_write`, `handle_expt` (urgent data), and
//!    `handle_close` (a hang-up with nothing left to read). Errors a
//!    callback returns are routed like asyncore's exceptions (see
//!    [`Handler`]). Then the channel is *settled*: the callbacks a method
//!    left due run (`handle_close` after `recv` saw the end of file), and
//!    the channel goes back into its slot, or, closed, frees it. A channel
//!    closed earlier in the pass gets nothing more.
//! 4. **Timers.** The timers that are due run, in deadline order.
//!
//! [`Reactor::run`] repeats that until no channel is left, a count of
//! iterations is spent, or a handler calls [`Context::exit_now`]: asyncore's
//! `loop()`.
//!
//! ```
//! use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
//! use std::{io, time::Duration};
//!
//! /// Upper-cases what it reads and sends it back.
//! struct Shout;
//! impl Handler<WithSend> for Shout {
//!     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
//!         let mut buf = [0u8; 64];
//!         let n = ch.recv(&mut buf)?;
//!         ch.send_buffered(&buf[..n].to_ascii_uppercase())
//!     }
//! }
//!
//! let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//! let mut reactor = Reactor::new();
//! reactor.add(Dispatcher::new(ours)?.with_send(), Shout)?;
//!
//! theirs.send(b"hello")?;
//! // One iteration: interest (readable), wait (ready at once), dispatch
//! // (handle_read, which answers).
//! reactor.poll_once(Some(Duration::from_secs(5)), Backend::Poll)?;
//! // The answer was sent inside handle_read, so it is already there.
//! let mut answer = [0u8; 5];
//! assert_eq!(theirs.recv(&mut answer)?, 5);
//! assert_eq!(&answer, b"HELLO");
//! # Ok::<(), io::Error>(())
//! ```
//!
//! ## One asyncore class, one layer
//!
//! asyncore's classes become *layers*, one type each, chosen when the
//! dispatcher is made and written in the handler's type:
//!
//! | asyncore | dispatcher | handler | adds |
//! |---|---|---|---|
//! | `dispatcher` | [`Dispatcher::new`] | `impl Handler for H` ([`Plain`]) | asyncore's methods |
//! | `dispatcher_with_send` | [`.with_send()`](Dispatcher::with_send) | `impl Handler<WithSend> for H` | [`send_buffered`](Dispatcher::send_buffered), an output queue |
//! | `async_chat` | [`.with_chat()`](Dispatcher::with_chat) | `impl Handler<Chat> for H` | [`set_terminator`](Dispatcher::set_terminator), [`push`](Dispatcher::push), records |
//! | `file_dispatcher` | [`Dispatcher::from_file`] | any of the above | read(2)/write(2) on a pipe |
//!
//! A layer's methods exist only on its dispatchers, so no call can turn a
//! plain channel into a chat channel. Each layer's default callbacks are
//! functions of the [`Layer`] trait, which an override can call as a Python
//! subclass called `super()`: `Chat::handle_read(self, ch)`.
//!
//! ## Level-triggered, not edge-triggered
//!
//! `poll` and `select` are *level-triggered*: a socket with unread data is
//! reported on every iteration until it is read. So a handler may read as
//! little as it likes per call (one `recv` per event, as asyncore did) and
//! nothing is lost; it is simply called again. An *edge-triggered* loop
//! (mio, epoll with `EPOLLET`) reports a change only once, so every handler
//! must read until `WouldBlock` or hang forever. The price of level
//! triggering is that a channel which says `writable()` while it has
//! nothing to write makes every wait return at once: interest must follow
//! what a channel really wants, which is why
//! [`Dispatcher::with_send`] is writable only while output is queued.
//!
//! ## Why non-blocking sockets
//!
//! Readiness is a hint, not a promise: another thread, a signal, or the
//! kernel dropping a bad packet can make a "readable" socket have nothing
//! after all. Every socket here is non-blocking, so such a call returns at
//! once instead of stalling every other channel: [`Dispatcher::send`]
//! returns 0 and [`Dispatcher::recv`] returns `WouldBlock`, which the
//! reactor ignores when a callback passes it on with `?`.
//!
//! ## How connect and accept become events
//!
//! A non-blocking `connect` returns `EINPROGRESS` at once
//! ([`Dispatcher::connect`]); the socket becomes writable (or readable,
//! with an error) when the handshake ends, and the reactor then reads
//! `SO_ERROR` and calls `handle_connect` or, for a refused connect,
//! `handle_error`. A listening socket becomes readable when a connection
//! waits in its backlog; the default [`Handler::handle_accept`] accepts it
//! and hands the new socket to [`Handler::handle_accepted`].
//!
//! ## How a close is detected
//!
//! The peer closing its end makes the socket readable, and `recv` then
//! returns 0 bytes: the end of file. [`Dispatcher::recv`] returns `Ok(0)`
//! and the reactor calls `handle_close` when the callback returns. A reset
//! connection shows up as `ECONNRESET` or `EPIPE` from `recv`/`send`, which
//! are treated the same way ([`DISCONNECTED`]). `poll` also reports
//! `POLLHUP`; with data still unread the reactor reads it first, so nothing
//! the peer sent before closing is dropped.
//!
//! ## select's FD_SETSIZE limit
//!
//! `select` takes bitmaps of `FD_SETSIZE` bits (1024 on Linux): it cannot
//! watch descriptor 1024 or above at all, and the C macros would write
//! outside the bitmap if asked to. The select backend checks every
//! descriptor first and fails the wait with an `InvalidInput` error naming
//! the fd and the limit. `poll` has no such limit, which is why it is the
//! default.
//!
//! ## Example: the echo server of the asyncore manual
//!
//! ```no_run
//! use pollreactor::{Address, Channel, Dispatcher, Handler, LoopOptions, Reactor, Socket, WithSend};
//! use std::io;
//!
//! struct EchoHandler; // class EchoHandler(asyncore.dispatcher_with_send)
//! impl Handler<WithSend> for EchoHandler {
//!     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
//!         let mut data = [0u8; 8192];
//!         let n = ch.recv(&mut data)?;
//!         ch.send_buffered(&data[..n])
//!     }
//! }
//!
//! struct EchoServer; // class EchoServer(asyncore.dispatcher)
//! impl Handler for EchoServer {
//!     fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
//!         println!("Incoming connection from {addr}");
//!         ch.context().add(Dispatcher::new(sock)?.with_send(), EchoHandler)?;
//!         Ok(())
//!     }
//! }
//!
//! let mut reactor = Reactor::new();
//! reactor.add(Dispatcher::listen_tcp("localhost:8080", 128)?, EchoServer)?;
//! reactor.run(LoopOptions::default())?;
//! # Ok::<(), io::Error>(())
//! ```
//!
//! ## asynchat: records and producers
//!
//! A dispatcher made [`with_chat`](Dispatcher::with_chat) is asynchat's
//! `async_chat` (the [`Chat`] layer): its input is split at a
//! [`Terminator`] (bytes such as `b"\r\n"`, a byte count, or none), each
//! record's bytes go to [`Handler::collect_incoming_data`] and its end to
//! [`Handler::found_terminator`]; output is queued with
//! [`push`](Dispatcher::push) or produced on demand by a [`Producer`].
//!
//! ## Where this differs from asyncore, on purpose
//!
//! * Channels are keyed by [`Token`], not by descriptor number: a channel
//!   opened during an iteration that reuses a just-closed fd number never
//!   receives the old channel's readiness.
//! * `recv` would-block (spurious readiness) is ignored, not sent to
//!   `handle_error` (which closed the channel).
//! * A hang-up with unread data is read to the end before `handle_close`,
//!   on every backend, and `handle_close` runs once.
//! * `handle_close` after an end of file or disconnect seen by `recv` or
//!   `send` runs when the callback that saw it returns, not inside `recv`;
//!   and by default a channel with queued output sends it first (a peer
//!   that half-closed still gets its answer).
//! * A disconnect errno from a callback goes to `handle_close` on both
//!   backends (asyncore's select path sent it to `handle_error`).
//! * Inside `handle_connect` the channel already reads as connected; a
//!   connect that completes at once runs `handle_connect` inside
//!   [`Context::add`] (or after the callback that called `connect`).
//! * `EAGAIN` from a Unix-domain `connect` (full backlog) is an error, not
//!   "in progress".
//! * A buffered (`with_send`, `with_chat`) dispatcher is writable only
//!   while connecting or holding output, so an unconnected UDP channel does
//!   not spin.
//! * A chat channel can cap its records ([`Dispatcher::set_max_record`]).
//! * Timeouts round up to poll's milliseconds (never a busy poll) and
//!   saturate; `EINTR` resumes the wait with the time that remains.
//! * The default backend is poll; with poll and select the first channel
//!   served rotates from one iteration to the next (epoll reports in the
//!   kernel's order).
//! * Every close the library makes runs `handle_close` once, with a
//!   [`CloseReason`]: also an idle timeout and a drained `close_when_done`
//!   (asyncore's idle-less loop had neither; asynchat's close marker did run
//!   it). The end of input is latched, so a `handle_close` that keeps the
//!   channel open is not called again and again.
//! * Buffered output has water marks: a channel whose queue is over its
//!   high mark is not read until it drains ([`Dispatcher::set_water_marks`],
//!   [`Dispatcher::pace_reading_by`]). asyncore queued without bound.
//! * `push` and `send_buffered` queue; the queue goes out in one send(2)
//!   when the callback returns (asynchat sent at every `push`).
//! * A hang-up without readable data on a channel that reads (a pipe whose
//!   writer closed) is read, so `recv` returns 0 on every backend, as with
//!   select.
//!
//! ## Channels that work together
//!
//! One channel reaches another by its [`Token`]: [`Context::call`] runs a
//! closure on its handler (typed: the closure names the handler and the
//! layer, no downcast), [`Context::defer`] does the same once the running
//! callback returns. [`Channel::call_later`] and [`Channel::call_every`]
//! set timers bound to a channel, cancelled when it closes;
//! [`Dispatcher::set_input_timeout`], [`Dispatcher::set_send_timeout`] and
//! [`Dispatcher::set_idle_timeout`] close one that stays silent, one that
//! stops reading, or one where nothing moves; [`Dispatcher::close_reason`]
//! tells `handle_close` which. The `proxy` example puts them together.
//!
//! ## Cargo features
//!
//! `epoll` ([`Backend::Epoll`]), `signals` ([`Reactor::on_signal`]) and
//! `trace` ([`Reactor::set_trace`]), all on by default. The loop calls
//! into each of them, so each is linked into a program that has it on,
//! used or not; with one off, those calls compile away (the README has
//! the bytes each costs). The [`Chat`] layer needs no feature: it is
//! generic, so a program that never uses it has none of its code.
//!
//! ## Where the unsafe code is, and why it is sound
//!
//! Only in the private `sys` module (`src/sys/`): thin wrappers over the
//! libc calls, each `unsafe` block with a `// SAFETY:` comment that names
//! its invariant. The arguments are always either plain integers or
//! pointers to live Rust values of the right type and length (a slice and
//! its length, a `sockaddr_storage` and its size); descriptors are passed as
//! `BorrowedFd`, so the borrow checker proves they are open for the call;
//! a new descriptor becomes an [`OwnedFd`](std::os::fd::OwnedFd) on the
//! line that receives it, so it is closed exactly once; and `FD_SET` is
//! reached only after the bounds check above. The crate denies
//! `unsafe_code` everywhere else (a lint, not a habit).

pub mod guide;

// The README's Rust examples are compiled (and run, where they can) as
// doc-tests, so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod address;
mod backend;
mod chat;
mod context;
mod dispatch;
mod dispatcher;
mod errors;
mod handler;
mod interest;
pub mod limits;
mod map;
mod output;
mod reactor;
// Without the `signals` or `trace` feature, the module is a type with no
// values: the reactor's `Option` of it is always `None`, and every call
// into it compiles away.
#[cfg_attr(not(feature = "signals"), path = "signals_off.rs")]
mod signals;
mod socket;
mod sys;
#[cfg(test)]
mod tests;
mod timer;
#[cfg_attr(not(feature = "trace"), path = "trace_off.rs")]
mod trace;
mod waker;

// The loop and what callbacks reach of it.
pub use context::{Channel, Context};
pub use interest::InterestMode;
pub use map::Token;
pub use reactor::{LoopOptions, Reactor};

// A channel: its dispatcher (one layer per asyncore class) and its handler.
pub use chat::Chat;
pub use dispatcher::{CloseReason, Dispatcher, Plain};
pub use handler::{Handler, Layer, LogKind};
pub use output::{Buffered, WithSend};

// asynchat's framing and producers.
pub use chat::{find_prefix_at_end, Terminator, IN_BUFFER_SIZE};
pub use output::{Producer, SimpleProducer};

// Sockets and addresses.
pub use address::{Address, Family, SockType};
pub use socket::Socket;

// The wait.
pub use backend::{Backend, ParseBackendError};

// Beyond asyncore: timers, other threads, signals.
pub use timer::TimerId;
pub use waker::Waker;

// How errors and limits are read.
pub use dispatcher::{ACCEPT_BACKOFF, ACCEPT_BATCH, HIGH_WATER, LOW_WATER, SEND_CHUNK};
pub use errors::{is_disconnect, is_would_block, DISCONNECTED};

#[cfg(feature = "fault-injection")]
pub use sys::fault;
