//! # pollreactor: asyncore for Rust
//!
//! A small, single-threaded, level-triggered event loop over `poll(2)` and
//! `select(2)`, with the programming model of Python's `asyncore`: each
//! connection is a *channel*, a [`Dispatcher`] (the socket and its state)
//! paired with your [`Handler`] (the callbacks). The [`Reactor`] holds the
//! channels and runs the loop.
//!
//! ## One loop iteration
//!
//! [`Reactor::poll_once`] is the whole loop body, and reads top to bottom:
//!
//! 1. **Interest.** Every channel is asked [`Handler::readable`] and
//!    [`Handler::writable`]. A listener is never asked to write.
//! 2. **Wait.** One `poll(2)` or `select(2)` call ([`Backend`]) waits, up
//!    to the timeout, until some descriptor is ready.
//! 3. **Dispatch.** Each ready channel's readiness becomes callbacks, in
//!    asyncore's order: `handle_connect` (the first event of a connecting
//!    socket, after `SO_ERROR` says the connect worked), `handle_accept` or
//!    `handle_read`, `handle_write`, `handle_expt` (urgent data), and
//!    `handle_close` (hang-up). A channel closed earlier in the pass gets
//!    nothing more.
//!
//! [`Reactor::run`] repeats that until no channel is left, a count of
//! iterations is spent, or a handler calls [`Channel::exit_now`].
//!
//! ## Level-triggered, non-blocking
//!
//! Readiness is *level-triggered*: a socket with unread data is reported
//! again on every iteration until it is read, so a handler may read as
//! little as it likes per call and nothing is lost. Sockets are
//! non-blocking, so a call that cannot proceed returns at once (`send`
//! returns 0, `recv` returns `WouldBlock`) instead of stalling every other
//! channel.
//!
//! ## Example: the echo server of the asyncore manual
//!
//! ```no_run
//! use pollreactor::{Address, Channel, Dispatcher, Handler, LoopOptions, Reactor, Socket};
//! use std::io;
//!
//! struct EchoHandler;
//! impl Handler for EchoHandler {
//!     fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
//!         let mut data = [0u8; 8192];
//!         let n = ch.recv(&mut data)?;
//!         ch.send_buffered(&data[..n])
//!     }
//! }
//!
//! struct EchoServer;
//! impl Handler for EchoServer {
//!     fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
//!         println!("Incoming connection from {addr}");
//!         ch.add(Dispatcher::new(sock)?.with_send(), EchoHandler)?;
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
//! ## Where this differs from asyncore, on purpose
//!
//! * Channels are keyed by [`Token`], not by descriptor number: a channel
//!   opened during an iteration that reuses a just-closed fd number never
//!   receives the old channel's readiness.
//! * `recv` would-block (spurious readiness) is ignored, not sent to
//!   `handle_error` (which closed the channel).
//! * A hang-up with unread data is read to the end before `handle_close`,
//!   on both backends, and `handle_close` runs once.
//! * `handle_close` after an end of file or disconnect seen by `recv` or
//!   `send` runs when the callback that saw it returns, not inside `recv`.
//! * A disconnect errno from a callback goes to `handle_close` on both
//!   backends (asyncore's select path sent it to `handle_error`).
//! * Inside `handle_connect` the channel already reads as connected.
//! * `EAGAIN` from a Unix-domain `connect` (full backlog) is an error, not
//!   "in progress".
//! * A `with_send` dispatcher is writable only while connecting or holding
//!   output, so an unconnected UDP channel does not spin.
//! * Timeouts round up to poll's milliseconds (never a busy poll) and
//!   saturate; `EINTR` resumes the wait with the time that remains.
//! * The default backend is poll; the first channel served rotates from one
//!   iteration to the next.
//!
//! ## Where the unsafe code is
//!
//! Only in the private `sys` module: thin wrappers over libc calls, each
//! `unsafe` block with a `// SAFETY:` comment. The crate denies
//! `unsafe_code` everywhere else, and every descriptor is an
//! [`OwnedFd`](std::os::fd::OwnedFd), closed exactly once.

mod address;
mod backend;
mod chat;
mod dispatch;
mod dispatcher;
mod errors;
mod handler;
mod output;
mod reactor;
mod socket;
mod sys;

pub use address::{Address, Family, SockType};
pub use backend::Backend;
pub use chat::{find_prefix_at_end, Terminator, IN_BUFFER_SIZE};
pub use dispatcher::{Dispatcher, SEND_CHUNK};
pub use errors::{is_disconnect, is_would_block, DISCONNECTED};
pub use handler::{write_log_line, Handler, LogKind};
pub use output::{Producer, SimpleProducer};
pub use reactor::{Channel, LoopOptions, Reactor, Token};
pub use socket::Socket;

/// The process' limit on open descriptors (`RLIMIT_NOFILE`): soft and hard.
pub fn fd_limit() -> std::io::Result<(u64, u64)> {
    sys::fd::fd_limit()
}

/// Raises (or lowers) the soft limit on open descriptors, up to the hard
/// limit. A server that holds thousands of connections needs this first.
pub fn set_fd_limit(soft: u64) -> std::io::Result<()> {
    sys::fd::set_fd_limit(soft)
}
