//! # Guide: one loop iteration, in full
//!
//! The crate's front page has the short tour and the picture. This page is the
//! long form: what [`Reactor::poll_once`](crate::Reactor::poll_once) does, step
//! by step, which file does it, and what you see when you trace it. Read it
//! beside `src/reactor.rs` and `src/dispatch.rs`; each is short and reads top
//! to bottom.
//!
//! One iteration has four steps, numbered as in the code's comments; the
//! third, dispatch, has three parts for each ready channel:
//!
//! 1. **Interest**: every channel says what it waits for.
//! 2. **Wait**: one system call sleeps until something is ready.
//! 3. **Dispatch**, for each ready channel in turn:
//!    * 3a. **Readiness**: the call's answer for it, as flags;
//!    * 3b. **Callbacks**: the flags become handler calls, in asyncore's order;
//!    * 3c. **Settle**: the callbacks that a method left due run, and the
//!      channel goes back into the map (or leaves it).
//! 4. **Timers**: the timers that are due run.
//!
//! [`Reactor::run`](crate::Reactor::run) repeats this until no channel and no
//! timer is left, the iteration count is spent, or a callback calls
//! [`Context::exit_now`](crate::Context::exit_now). That is asyncore's
//! `loop()`. A call to `poll_once` with no channel and no timer returns at once.
//!
//! After the steps come [the readiness table](#readiness-into-callbacks)
//! (what each backend's answer becomes), [worked examples](#worked-examples)
//! (a peer that sends 50,000 bytes and closes, a handler that closes its own
//! channel, a refused connect, a send to a reset connection, a chat
//! terminator split across reads) and [the tracer](#the-tracer). Every
//! sequence of callbacks this page states is an example that runs, on every
//! backend, as a test.
//!
//! ## 1. Interest
//!
//! `Reactor::poll_once` (in `src/reactor.rs`) walks the channel map and asks
//! each channel two questions, once:
//! [`Handler::readable`](crate::Handler::readable) and
//! [`Handler::writable`](crate::Handler::writable). Both get the channel's
//! [`Dispatcher`](crate::Dispatcher) to look at, not to change.
//!
//! * A listener (a channel that is `accepting`) is never asked `writable`. It
//!   has nothing to write.
//! * A channel whose input has ended (`recv` returned 0, or `recv` or
//!   `send` met a disconnect) is not asked `readable` again, and is never
//!   read again.
//! * A buffered channel whose output queue is over its high-water mark is not
//!   asked `readable`, and not read, until the queue drains to its low mark
//!   ([`Dispatcher::set_water_marks`](crate::Dispatcher::set_water_marks)).
//!   A channel paced by another one's full queue
//!   ([`Dispatcher::pace_reading_by`](crate::Dispatcher::pace_reading_by))
//!   is asked, but not read.
//! * A channel that wants neither is left out of the wait. It hears nothing,
//!   not even a hang-up, until it wants something again.
//! * A channel whose timeout has passed (idle, input or send; see
//!   [`Dispatcher::set_idle_timeout`](crate::Dispatcher::set_idle_timeout))
//!   gets [`handle_close`](crate::Handler::handle_close) here, with that
//!   [`CloseReason`](crate::CloseReason), and is left out of this wait.
//! * A listener that ran out of descriptors while accepting is left out until
//!   its back-off ends.
//!
//! The answers go into the *interest list*: one entry per channel, holding its
//! [`Token`](crate::Token), its descriptor number, and the two answers. The
//! reactor's own sockets (the [`Waker`](crate::Waker)'s and the signal
//! socket) are added at the end, read only.
//!
//! The walk starts one slot further on each iteration. With poll and select,
//! events come back in interest order, so no channel is always served first.
//!
//! Interest must follow what a channel really wants. The wait is
//! level-triggered: a channel that says `writable()` with nothing to write is
//! writable at once, on every iteration, and the loop never sleeps. That is why
//! a buffered dispatcher ([`Dispatcher::with_send`](crate::Dispatcher::with_send))
//! is writable only while it is connecting or holds output.
//!
//! ## 2. Wait
//!
//! One system call waits: `poll(2)`, `select(2)` or `epoll_wait(2)`, as the
//! [`Backend`](crate::Backend) says. The backends live in `src/backend/`, one
//! file each, with the same names in each; the system calls themselves (and
//! all the `unsafe` code) are in `src/sys/`.
//!
//! The wait ends at the earliest of three times:
//!
//! * the `timeout` given to `poll_once` (`None`: no limit);
//! * the next timer's deadline;
//! * the next idle-timeout deadline or accept back-off end.
//!
//! So a 50 ms timer fires on time under a 30 s loop timeout. With no timeout
//! and no timer the wait blocks until an event. With an empty interest list it
//! simply sleeps, as asyncore did.
//!
//! Each backend turns the interest list into its own terms:
//!
//! * **poll** (`src/backend/poll.rs`): one `pollfd` per entry. Read interest
//!   asks for `POLLIN | POLLPRI`, write interest for `POLLOUT`. The timeout is
//!   in milliseconds, rounded up (a 0.4 ms wait must not become a busy poll)
//!   and saturated; `-1` waits forever.
//! * **select** (`src/backend/select.rs`): read interest goes in `readfds`,
//!   write interest in `writefds`, and every entry goes in `exceptfds`, as in
//!   asyncore. A descriptor at or above `FD_SETSIZE` (1024 on Linux) cannot be
//!   watched: the wait fails with `InvalidInput`, naming the descriptor and the
//!   limit, before anything is written to a set. The timeout is in
//!   microseconds, rounded up.
//! * **epoll** (`src/backend/epoll.rs`, Linux only): the kernel keeps the
//!   interest between waits. The backend calls `epoll_ctl` only for a
//!   descriptor whose interest (or owner) changed, and removes the ones no
//!   channel asked for this time. Read interest is `EPOLLIN | EPOLLPRI`, write
//!   is `EPOLLOUT`; there is no `EPOLLET`, so it is level-triggered like the
//!   others. epoll refuses regular files (`EPERM`); those are reported ready at
//!   once, as `poll` reports them, and the wait does not sleep while one is
//!   waited on.
//!
//! A wait interrupted by a signal (`EINTR`) is made again with the time that
//! remains, so a signal neither ends the wait early nor stretches it. The
//! buffers a wait fills are kept between iterations: a steady loop allocates
//! nothing.
//!
//! ## 3a. Readiness
//!
//! The wait's answer becomes a list of events. Each event holds a token, the
//! descriptor, and a set of flags: `READ`, `WRITE`, `PRI` (urgent data),
//! `HUP` (hang-up), `ERR` (error condition) and `NVAL` (not an open
//! descriptor). The flags are poll's; the table in
//! [Readiness into callbacks](#readiness-into-callbacks) shows how each
//! backend's answer maps onto them.
//!
//! Events name channels by token, never by descriptor number. A token is a
//! slot in the channel map plus that slot's *generation*, which moves on each
//! time the slot is freed. So an event for a channel that closed earlier in
//! this iteration finds its slot at a newer generation and is dropped, even
//! when a new channel got the same descriptor number in the meantime. asyncore
//! keyed its map by descriptor number, and could hand the old channel's events
//! to the new one.
//!
//! ## 3b. Callbacks
//!
//! For each event in turn, the reactor takes the channel out of the map
//! (`Reactor::dispatch` in `src/reactor.rs`) and runs its callbacks through
//! the `dispatch` function of `src/dispatch.rs`. Events
//! for the waker run the posted closures; events for the signal socket run the
//! signal handlers.
//!
//! ### Who owns a channel while its callback runs
//!
//! A channel's entry (its dispatcher and its handler, boxed together) lives
//! in a slot of the channel map: a slab indexed by token (`src/map.rs`). A slot is free,
//! `Live` (it holds an entry) or `Busy` (its entry is out, running; see
//! `src/context.rs`). To run a callback, the reactor:
//!
//! 1. takes the entry out of its slot and marks the slot `Busy`;
//! 2. hands the callback `&mut` the handler and a
//!    [`Channel`](crate::Channel): a view that holds `&mut` the dispatcher and
//!    `&mut` the [`Context`](crate::Context);
//! 3. runs the callback, then [settles](#3c-settle) the channel;
//! 4. puts the entry back in its slot, or frees the slot.
//!
//! Because the entry is out of the map, the callback can use the whole map
//! through [`Channel::context`](crate::Channel::context) without borrowing the
//! running channel twice. It can add channels
//! ([`Context::add`](crate::Context::add)), close others
//! ([`Context::close`](crate::Context::close)), and call another channel's
//! handler ([`Context::call`](crate::Context::call)), which takes that
//! channel out the same way. A `Busy` channel cannot be reached: `call` on it
//! returns `None` and `contains` says false. Closing a `Busy` channel with
//! `Context::close` is recorded in the slot and applied when its entry is put
//! back.
//!
//! To close the running channel, call `ch.close()` (the dispatcher's own
//! `close`): its remaining callbacks are skipped at once. Closing it through
//! the context (`ch.context().close(ch.token())`, or from a channel it
//! called) does the same: the slot's record is checked after each callback.
//!
//! ### The order
//!
//! `dispatch` turns one channel's flags into callbacks in asyncore's order.
//! The [readiness table](#readiness-into-callbacks) below is this list, seen
//! from each backend's side.
//!
//! 1. `NVAL`: [`handle_close`](crate::Handler::handle_close), with
//!    [`Broken`](crate::CloseReason::Broken), and nothing else. The
//!    descriptor was closed behind the reactor's back, so no other flag means
//!    anything.
//! 2. `HUP` without `ERR`, on a channel that asked to read (not a listener):
//!    the reactor adds `READ`. A pipe whose writer closed reports only a
//!    hang-up; reading it makes `recv` return 0, as on select, which has no
//!    hang-up bit.
//! 3. A connecting channel with any of `READ`, `WRITE`, `HUP`, `ERR`: the
//!    connect has ended. The reactor reads `SO_ERROR`. If it is clear, the
//!    channel is marked connected and
//!    [`handle_connect`](crate::Handler::handle_connect) runs, before any read
//!    or write callback. If it holds an error, that error is
//!    [routed](#where-errors-go): a refused connect goes to
//!    [`handle_error`](crate::Handler::handle_error), a reset to
//!    `handle_close`. Nothing else runs for the channel in this pass.
//! 4. `READ`: [`handle_accept`](crate::Handler::handle_accept) on a listener,
//!    [`handle_read`](crate::Handler::handle_read) on any other channel.
//! 5. `WRITE`, not on a listener:
//!    [`handle_write`](crate::Handler::handle_write).
//! 6. `PRI`: the reactor reads `SO_ERROR`. If it holds an error, the
//!    connection is broken: `handle_close`. Otherwise urgent data is waiting:
//!    [`handle_expt`](crate::Handler::handle_expt).
//! 7. `HUP` or `ERR`, and no `READ` (after step 2): nothing is left to read.
//!    The reactor reads `SO_ERROR` for the reason, then runs `handle_close`:
//!    [`Reset`](crate::CloseReason::Reset) for `ECONNRESET`,
//!    [`Broken`](crate::CloseReason::Broken) for any other errno or none.
//!
//! "Nothing left to read" is decided by the flags alone; the reactor does not
//! look into the socket. With `READ` set, step 4 runs and `recv` tells: data,
//! or 0 at the end of the input. A hang-up with `READ` is left to the read: `recv`
//! delivers every byte the peer sent, one `handle_read` per iteration, and
//! then returns 0, which leads to `handle_close` in [settle](#3c-settle). So a
//! `handle_read` that never calls `recv` never sees the end.
//!
//! After each step the reactor stops, for this channel, if the channel was
//! closed (`ch.close()`, or `Context::close` on its token), if `recv` or
//! `send` saw the end of the connection (the `handle_close` that is then due
//! runs in settle), if the callback returned an error (it is routed), or if a
//! callback called `exit_now`. `exit_now` also ends the pass over the events,
//! and step 4 (timers) is skipped.
//!
//! ### Where errors go
//!
//! A callback returns `io::Result<()>`. An error is routed as asyncore routed
//! exceptions (`route_error` in `src/dispatch.rs`):
//!
//! * `WouldBlock`: ignored. Readiness is a hint; the data was not there after
//!   all. asyncore sent it to `handle_error`, which closed the channel.
//! * a disconnect errno (`ECONNRESET`, `ENOTCONN`, `ESHUTDOWN`,
//!   `ECONNABORTED`, `EPIPE`, `EBADF`; see
//!   [`DISCONNECTED`](crate::DISCONNECTED)): `handle_close`, with
//!   [`Reset`](crate::CloseReason::Reset) for `ECONNRESET` and
//!   [`Broken`](crate::CloseReason::Broken) for the others.
//! * anything else: [`handle_error`](crate::Handler::handle_error), with
//!   [`close_reason`](crate::Dispatcher::close_reason) set to
//!   [`Error`](crate::CloseReason::Error). Its default logs the error through
//!   `log_info` and calls `handle_close`.
//!
//! The routing's own `handle_close` is the end of the line: an error it
//! returns goes to `handle_error`. Nothing is routed for a channel that is
//! already closed.
//!
//! With [`Reactor::set_catch_panics`](crate::Reactor::set_catch_panics), a
//! panic in a callback becomes an error, routed like any other (a plain
//! error: `handle_error`). A panic inside the routing itself (in
//! `handle_error`, or in the `handle_close` it leads to) closes the channel.
//!
//! ## 3c. Settle
//!
//! Some callbacks are due because of what a method saw, not because of an
//! event. The methods only record them; `settle` (in `src/dispatch.rs`) runs
//! them when the callback that called the method returns, in this order:
//!
//! 1. `handle_connect`, for a [`connect`](crate::Dispatcher::connect) that
//!    completed at once (Unix-domain and UDP sockets do). If the channel is not
//!    in the map yet, this happens inside [`Context::add`](crate::Context::add).
//! 2. The output the callbacks queued
//!    ([`send_buffered`](crate::Dispatcher::send_buffered),
//!    [`push`](crate::Dispatcher::push)) goes out in one `send(2)`, if the
//!    channel is connected. What the socket does not take waits for the next
//!    write events. An error from that send is routed as above.
//! 3. `handle_close`, when [`recv`](crate::Dispatcher::recv) returned 0 (end
//!    of file), when `recv` or [`send`](crate::Dispatcher::send) met a
//!    disconnect errno, or when a
//!    [`close_when_done`](crate::Dispatcher::close_when_done) has sent its
//!    last byte ([`Drained`](crate::CloseReason::Drained)). After a
//!    disconnect the queued output is dropped, since it can no longer be
//!    delivered.
//!
//! Each runs at most once per call, and only on a channel that is still open.
//!
//! Every close the library makes passes one gate (`announce_close` in
//! `src/dispatch.rs`): the first runs `handle_close`, with
//! [`close_reason`](crate::Dispatcher::close_reason) telling why; any later
//! one closes the channel without a callback. So the reactor itself runs
//! `handle_close` at most once per channel, and a `handle_close` that keeps
//! the channel open is not called again. A program's own `ch.close()` or
//! `Context::close` runs no `handle_close` at all, as in asyncore.
//!
//! The default `handle_close` of a buffered channel (`WithSend`, `Chat`) does
//! not drop queued output: it calls `close_when_done`, so a peer that
//! half-closed after its last request still gets the answer. The channel then
//! stops reading, and closes once the queue is sent. A plain channel has no
//! queue; its default `handle_close` closes it.
//!
//! This handler queues three pieces and asks to close when they are sent. They
//! leave in one `send(2)`, when `handle_read` returns; the queue is then empty,
//! so `handle_close` runs with `Drained`, in the same iteration:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Channel, CloseReason, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
//! use std::io;
//!
//! struct Answer(Log);
//! impl Handler<WithSend> for Answer {
//!     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
//!         let mut buf = [0u8; 64];
//!         let n = ch.recv(&mut buf)?;
//!         ch.send_buffered(&buf[..n])?;
//!         ch.send_buffered(b", ")?;
//!         ch.send_buffered(b"bye")?;
//!         ch.close_when_done();
//!         self.0.push(format!("read {n}, {} sends", ch.sends()));
//!         Ok(())
//!     }
//!     fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
//!         assert_eq!(ch.close_reason(), Some(CloseReason::Drained));
//!         self.0.push(format!("close Drained, {} send", ch.sends()));
//!         ch.close();
//!         Ok(())
//!     }
//! }
//!
//! for &backend in Backend::available() {
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?.with_send(), Answer(log.clone()))?;
//!     theirs.send(b"hi")?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["read 2, 0 sends, close Drained, 1 send"]);
//!     let mut answer = [0u8; 16];
//!     let n = theirs.recv(&mut answer)?;
//!     assert_eq!(&answer[..n], b"hi, bye");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Then the entry goes back. If someone closed the channel through
//! `Context::close` while it was `Busy`, it is closed now. An open channel
//! goes back to its slot, which is `Live` again under the same token. A closed
//! one does not: its slot becomes `Free` and its generation moves on, so every
//! token and event that named the old channel finds nothing.
//!
//! ## 4. Timers
//!
//! Last, the timers that are due run, in deadline order (ties in the order
//! they were set): [`Context::call_later`](crate::Context::call_later) and
//! [`Context::call_every`](crate::Context::call_every) closures, each handed
//! the [`Context`](crate::Context). Only timers set before this step began can
//! run in it, so a timer that sets a zero-delay timer does not keep the step
//! going. A repeating timer stays on its schedule; ticks the loop was too busy
//! for are skipped, not run in a burst. `exit_now` from a timer stops the step.
//!
//! That ends the iteration. `run` then checks whether anything is left and
//! whether the loop was asked to exit, and starts again at step 1.
//!
//! ## Readiness into callbacks
//!
//! What each backend reports, the flags the reactor makes of it, and the
//! callbacks that follow (steps 3b and 3c). This table is the
//! [order](#the-order) above, row by row, and the `dispatch` function of
//! `src/dispatch.rs` is the code of both. The rows assume a channel that is
//! not connecting; the second table covers connects. Each row runs, on every
//! backend, in the examples after the tables.
//!
//! | poll | epoll | select | flags | callbacks |
//! |---|---|---|---|---|
//! | `POLLNVAL` | never (below) | `EBADF` from the call | `NVAL` | `handle_close` with `Broken`, and nothing else. |
//! | `POLLIN` | `EPOLLIN` | in `readfds` | `READ` | `handle_accept` on a listener, else `handle_read`. Its `recv` returns data; or 0 at the end of the input (then `handle_close` with `EndOfFile`, in settle); or `WouldBlock` (ignored). |
//! | `POLLOUT` | `EPOLLOUT` | in `writefds` | `WRITE` | `handle_write`. A listener is never asked. |
//! | `POLLPRI` | `EPOLLPRI` | in `exceptfds` | `PRI` | `handle_expt`; but `handle_close` if `SO_ERROR` holds an error. poll and epoll ask for it with read interest only; select watches every channel. |
//! | `POLLIN` + `POLLHUP` | `EPOLLIN` + `EPOLLHUP` | in `readfds` | `READ` `HUP` | `handle_read`, and nothing for the hang-up itself. `handle_close` (`EndOfFile`) comes when `recv` returns 0: after every byte was read, one `handle_read` per iteration. |
//! | `POLLHUP` without `POLLIN`, on a channel that asked to read | `EPOLLHUP` without `EPOLLIN`, likewise | in `readfds` | `HUP`, and the reactor adds `READ` | `handle_read`. Its `recv` returns 0 (a pipe whose writer closed): `handle_close` with `EndOfFile`. |
//! | `POLLHUP`, on a channel that asked only to write | `EPOLLHUP`, likewise | nothing: select has no hang-up bit | `WRITE` `HUP` | poll, epoll: `handle_write`, then `handle_close`, its reason from `SO_ERROR` (`Broken` if none). select: `handle_write`, on every iteration, until a `send` meets `EPIPE`: then `handle_close` with `Broken`. |
//! | `POLLERR` without `POLLIN` (with `POLLHUP` or not) | `EPOLLERR` without `EPOLLIN`, likewise | in `readfds` (and `writefds`, if asked) | `ERR` | poll, epoll: `handle_write` if `WRITE` is set too, then `handle_close`, its reason from `SO_ERROR`: `Reset` for `ECONNRESET`, `Broken` for any other errno (`ECONNREFUSED` too). Never `handle_error`. select: `handle_read` (or `handle_write`, on a channel that asked only to write), whose `recv` (`send`) meets the errno: `handle_close` for a disconnect errno, `handle_error` for any other. |
//! | `POLLIN` + `POLLERR` (a reset TCP connection adds `POLLHUP`) | `EPOLLIN` + `EPOLLERR`, likewise | in `readfds` (and `writefds`, if asked) | `READ` `ERR` | `handle_read`. Its `recv` meets the errno: for a disconnect errno it returns 0 and `handle_close` follows (`Reset` for `ECONNRESET`); any other errno is its error, for `handle_error`. |
//!
//! select has no hang-up or error bit. Linux marks a descriptor whose peer
//! hung up as readable, and one with an error pending as readable and
//! writable, but only in the sets that were asked for. So on select a
//! hang-up is "readable, then `recv` returns 0", an error is met by `recv` or
//! `send`, and a channel that asked only to write never hears a hang-up until
//! a `send` fails.
//!
//! `NVAL` is the one row without an example: closing a descriptor behind the
//! reactor's back takes unsafe code. poll reports `POLLNVAL` for it. select
//! fails the whole call with `EBADF` and names no culprit, so the backend
//! checks which descriptors are closed and reports `NVAL` for those, and
//! nothing else, that iteration. epoll has no such flag: a descriptor whose
//! last copy is closed leaves the epoll set, and its channel hears nothing
//! more.
//!
//! A connecting channel reads `SO_ERROR` at its first `READ`, `WRITE`, `HUP`
//! or `ERR` (not at `PRI` alone):
//!
//! | `SO_ERROR` | callbacks |
//! |---|---|
//! | clear | marked connected, `handle_connect`; then, in the same pass, the callbacks of the other flags, as in the table above. |
//! | a disconnect errno (the peer accepted and reset at once) | `handle_close` with `Reset` (`Broken` for the others); no `handle_connect`, nothing else in that pass. |
//! | any other errno (`ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`, ...) | `handle_error`, with the errno, and `close_reason` `Error`; no `handle_connect`, nothing else in that pass. |
//!
//! A refused TCP connect shows up as `POLLOUT | POLLERR | POLLHUP` (plus
//! `POLLIN` if read was asked) on poll and epoll, and as readable and writable
//! on select. All three end in the same `handle_error`: see
//! [A refused connect](#a-refused-connect).
//!
//! ### The rows, run
//!
//! The examples use a small recording handler (`doc/recorder.rs` in the
//! package, included by hidden lines). It writes down each callback it gets:
//! `read N` for a `handle_read` whose one `recv` returned N, `write` and
//! `sent N` for a `handle_write` and its `send`, `connect`, `expt`,
//! `close REASON` (its [`close_reason`](crate::Dispatcher::close_reason)),
//! `error: KIND` (the [`io::ErrorKind`](std::io::ErrorKind)). Past that, each
//! callback does what the layer's default does: its `handle_close` closes a
//! plain channel, and its `handle_error` calls `handle_close`. `run` drives
//! the loop until no channel is left and returns one string per iteration that
//! had callbacks; `run_for` runs a number of iterations.
//!
//! `POLLIN` and `POLLIN + POLLHUP`: [a peer that sends 50,000 bytes and
//! closes](#a-peer-that-sends-50000-bytes-and-closes). `POLLOUT`: [a handler
//! that closes its own channel](#a-handler-that-closes-its-own-channel-while-it-is-writable).
//!
//! `POLLPRI`: urgent data is `handle_expt` (the recorder reads the byte with
//! [`Socket::recv_oob`](crate::Socket::recv_oob)):
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Reactor};
//! for &backend in Backend::available() {
//!     let (ours, theirs) = tcp_pair()?;
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log))?;
//!     theirs.send_oob(b"!")?;
//!     assert_eq!(run_for(&mut reactor, backend, &log, 1), ["expt"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `POLLHUP` on a channel that reads: a pipe whose writer closed reports only
//! a hang-up, and is read:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Reactor};
//! for &backend in Backend::available() {
//!     let (reader, writer) = std::io::pipe()?;
//!     drop(writer);
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::from_file(&reader)?, Recorder::new(&log))?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["read 0, close EndOfFile"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `POLLHUP` on a channel that asked only to write: poll and epoll close it;
//! select does not know. A `send` tells every backend:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     // Writable, but sends nothing.
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     drop(theirs);
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log).not_reading().writable())?;
//!     let seen = run_for(&mut reactor, backend, &log, 3);
//!     match backend {
//!         Backend::Select => assert_eq!(seen, ["write", "write", "write"]),
//!         _ => assert_eq!(seen, ["write, close Broken"]),
//!     }
//!     // Sends at its first write event.
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     drop(theirs);
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log).not_reading().sending(b"hello"))?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["write, sent 0, close Broken"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `POLLERR` without `POLLIN`: a connected UDP socket whose datagram met a
//! closed port holds `ECONNREFUSED`. poll and epoll report an error and
//! nothing to read: `handle_close`. select reports it readable, and `recv`
//! meets the errno, which is not a disconnect: `handle_error`. (A UDP connect
//! completes at once, so `handle_connect` runs inside `add`.)
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     let mut udp = Dispatcher::create_socket(Family::Inet, SockType::Datagram)?;
//!     udp.connect(closed_udp_port()?)?;
//!     udp.send(b"anyone?")?;
//!     let mut reactor = Reactor::new();
//!     reactor.add(udp, Recorder::new(&log))?;
//!     assert_eq!(log.take(), ["connect"]);
//!     let seen = run(&mut reactor, backend, &log);
//!     match backend {
//!         Backend::Select => {
//!             assert_eq!(seen, ["read ConnectionRefused, error: ConnectionRefused, close Error"])
//!         }
//!         _ => assert_eq!(seen, ["close Broken"]),
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! `POLLIN + POLLERR`: a reset connection is read, and `recv` returns 0:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Reactor};
//! for &backend in Backend::available() {
//!     let (ours, theirs) = tcp_pair()?;
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log))?;
//!     theirs.set_linger_zero()?;
//!     drop(theirs); // a reset (RST), not an end of file (FIN)
//!     assert_eq!(run(&mut reactor, backend, &log), ["read 0, close Reset"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Worked examples
//!
//! Six questions about one iteration, each answered by a run on every
//! backend, here or on the page linked. They use the recording handler
//! described in [The rows, run](#the-rows-run).
//!
//! ### A peer that sends 50,000 bytes and closes
//!
//! The peer's bytes and its end of file wait in the socket. The recorder's
//! `handle_read` makes one `recv` of 8,192 bytes per call.
//!
//! * Iterations 1 to 6: the wait reports the channel readable (poll and
//!   epoll add a hang-up on a socket pair, since the peer is gone; select
//!   has no hang-up bit). One `handle_read`
//!   each, and its `recv` returns 8,192. `HUP` with `READ` is left to the
//!   read, so nothing else runs. The wait is level-triggered: what is left is
//!   reported again at the next iteration.
//! * Iteration 7: `recv` returns the last 848 bytes.
//! * Iteration 8: `recv` returns 0, the end of file. When `handle_read`
//!   returns, settle runs `handle_close`, with
//!   [`EndOfFile`](crate::CloseReason::EndOfFile). Its default closes the
//!   channel.
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
//! for &backend in Backend::available() {
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log))?;
//!     assert_eq!(theirs.send(&[b'x'; 50_000])?, 50_000);
//!     drop(theirs);
//!     assert_eq!(
//!         run(&mut reactor, backend, &log),
//!         [
//!             "read 8192", "read 8192", "read 8192", "read 8192", "read 8192", "read 8192",
//!             "read 848",
//!             "read 0, close EndOfFile",
//!         ]
//!     );
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ### A handler that closes its own channel while it is writable
//!
//! A plain channel that asks to read and to write, with data waiting, is
//! reported readable and writable in one iteration: `handle_read`, then
//! `handle_write`. If `handle_read` closes the channel (`ch.close()`), the
//! pass stops there: no `handle_write`, and no `handle_close` either, since a
//! program's own close is not announced. The channel leaves the map when the
//! callback returns. `ch.context().close(ch.token())` does the same (run in
//! [`Context::close`](crate::Context::close)'s example). On a buffered
//! channel either drops the queued output; to send it first, call
//! [`close_when_done`](crate::Dispatcher::close_when_done).
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     // Without the close: read, then write, in one iteration.
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log).writable())?;
//!     theirs.send(b"hello")?;
//!     assert_eq!(run_for(&mut reactor, backend, &log, 1), ["read 5, write"]);
//!     // With it: read, and nothing more.
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     let mut reactor = Reactor::new();
//!     reactor.add(Dispatcher::new(ours)?, Recorder::new(&log).writable().closing_after_read())?;
//!     theirs.send(b"hello")?;
//!     assert_eq!(run_for(&mut reactor, backend, &log, 1), ["read 5"]);
//!     assert!(reactor.context().is_empty());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ### A refused connect
//!
//! [`Dispatcher::connect`](crate::Dispatcher::connect) to a TCP port where
//! nothing listens returns `Ok(())`: the connect is in progress
//! (`EINPROGRESS`), and the channel is `connecting`. Then:
//!
//! 1. The peer's kernel answers with a reset. The wait reports the channel
//!    (poll: `POLLOUT | POLLERR | POLLHUP`, and `POLLIN` if it asked to read;
//!    select: readable and writable).
//! 2. The channel is connecting, so the reactor reads `SO_ERROR`:
//!    `ECONNREFUSED`. That is not a disconnect errno, so the error goes to
//!    [`handle_error`](crate::Handler::handle_error), and
//!    [`close_reason`](crate::Dispatcher::close_reason) says
//!    [`Error`](crate::CloseReason::Error). No `handle_connect`; no
//!    `handle_read` or `handle_write`, whatever the flags.
//! 3. The default `handle_error` logs
//!    `uncaptured error, closing channel <Dispatcher connecting 127.0.0.1:PORT fd=N> (Connection refused (os error 111))`
//!    through `log_info`, as an error, and calls `handle_close`. The default
//!    `handle_close` of a plain channel logs the warning
//!    `unhandled close event` (dropped by the default `log_info`) and closes
//!    the channel.
//!
//! All in one iteration. The recorder's `handle_error`, like the default,
//! calls `handle_close`:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream)?;
//!     client.connect(closed_port()?)?; // in progress
//!     assert!(client.connecting());
//!     let mut reactor = Reactor::new();
//!     reactor.add(client, Recorder::new(&log).writable())?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["error: ConnectionRefused, close Error"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`Handler`](crate::Handler#what-the-defaults-do) shows the two log lines
//! of the defaults, on the same refused connect.
//!
//! ### A send to a reset connection
//!
//! The peer reset the connection (a close with `SO_LINGER` at zero sends a
//! `RST`). The handler sends in `handle_write`:
//!
//! 1. [`send`](crate::Dispatcher::send) meets `ECONNRESET`, a disconnect
//!    errno. It returns `Ok(0)`, as for a full socket; it does not return the
//!    error. It drops the queued output and marks the input ended.
//! 2. The pass stops: nothing else runs for the channel.
//! 3. Settle runs `handle_close`, once, with
//!    [`Reset`](crate::CloseReason::Reset). No `handle_error`.
//!
//! A later send on the same socket would meet `EPIPE`, also a disconnect
//! errno, and also return 0. If the channel also asked to read, the read runs
//! first in the pass and meets the reset: `recv` returns 0, and the write
//! never runs.
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Reactor};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     // Asks only to write.
//!     let (ours, theirs) = tcp_pair()?;
//!     let ours = Dispatcher::new(ours)?;
//!     theirs.set_linger_zero()?;
//!     drop(theirs); // RST
//!     wait_for_reset(&ours);
//!     let mut reactor = Reactor::new();
//!     reactor.add(ours, Recorder::new(&log).not_reading().sending(b"hello"))?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["write, sent 0, close Reset"]);
//!     // Asks to read and to write.
//!     let (ours, theirs) = tcp_pair()?;
//!     let ours = Dispatcher::new(ours)?;
//!     theirs.set_linger_zero()?;
//!     drop(theirs);
//!     wait_for_reset(&ours);
//!     let mut reactor = Reactor::new();
//!     reactor.add(ours, Recorder::new(&log).sending(b"hello"))?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["read 0, close Reset"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! If the channel was still connecting (the peer accepted, then reset before
//! the channel's first event), the connect step meets the reset first:
//! `SO_ERROR` holds `ECONNRESET`, a disconnect errno, so `handle_close` runs
//! with `Reset`. No `handle_connect`, no `handle_write`, no `send`, no
//! `handle_error`:
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
//! for &backend in Backend::available() {
//!     let log = Log::default();
//!     let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//!     let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream)?;
//!     client.connect(listener.local_addr()?)?;
//!     let theirs = Socket::from(listener.accept()?.0);
//!     theirs.set_linger_zero()?;
//!     drop(theirs);
//!     wait_for_reset(&client);
//!     assert!(client.connecting()); // no event has said otherwise yet
//!     let mut reactor = Reactor::new();
//!     reactor.add(client, Recorder::new(&log).sending(b"hello"))?;
//!     assert_eq!(run(&mut reactor, backend, &log), ["close Reset"]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ### How many iterations `run` makes
//!
//! [`LoopOptions::count`](crate::LoopOptions#structfield.count): `Some(n)` runs at most
//! `n` iterations, each one wait; `Some(0)` runs none, so `run` returns at
//! once and no callback runs; `None` runs until no channel or timer is left
//! or a callback calls `exit_now`.
//!
//! ### A chat terminator split across reads
//!
//! A [`Chat`](crate::Chat) channel with the terminator `\r\n`, whose peer
//! sends `GET\r`, then `\n\r\nabc\r`, then `\nxyz\r`, then closes. Each read
//! event makes one `recv` (of up to 64 KiB,
//! [`IN_BUFFER_SIZE`](crate::IN_BUFFER_SIZE)), whose bytes, after any
//! partial terminator kept from the last read, are split at the terminator:
//!
//! 1. `GET\r`: no terminator, but `\r` may start one. `GET` goes to
//!    [`collect_incoming_data`](crate::Handler::collect_incoming_data); `\r`
//!    is kept back.
//! 2. `\r` + `\n\r\nabc\r`: a terminator ends the record: `found_terminator`
//!    (the handler takes `GET` from [`incoming`](crate::Dispatcher::incoming)).
//!    A second terminator follows at once: an empty record, so
//!    `found_terminator` runs again with nothing collected, and
//!    `collect_incoming_data` is not called (it never gets empty data).
//!    `abc` is collected; `\r` is kept back.
//! 3. `\r` + `\nxyz\r`: the record `abc` ends; `xyz` is collected; `\r`
//!    is kept back.
//! 4. The end of file: `recv` returns 0. Nothing is split, and
//!    `found_terminator` does not run for the unterminated `xyz`: it is still
//!    in `incoming()` when `handle_close` runs (`EndOfFile`). The `\r` kept
//!    back is in neither: it is not passed on.
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//! # fn main() -> std::io::Result<()> {
//! use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};
//! for &backend in Backend::available() {
//!     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
//!     let mut chat = Dispatcher::new(ours)?.with_chat();
//!     chat.set_terminator(b"\r\n");
//!     let log = Log::default();
//!     let mut reactor = Reactor::new();
//!     reactor.add(chat, Recorder::new(&log))?;
//!     let mut steps = Vec::new();
//!     for piece in [&b"GET\r"[..], b"\n\r\nabc\r", b"\nxyz\r"] {
//!         theirs.send(piece)?;
//!         steps.extend(run_for(&mut reactor, backend, &log, 1));
//!     }
//!     drop(theirs);
//!     steps.extend(run(&mut reactor, backend, &log));
//!     assert_eq!(
//!         steps,
//!         [
//!             "read, collect [GET]",
//!             "read, found [GET], found [], collect [abc]",
//!             "read, found [abc], collect [xyz]",
//!             "read, close EndOfFile (incoming [xyz])",
//!         ]
//!     );
//! }
//! # Ok(())
//! # }
//! ```
//!
//! (On a chat channel the recorder's `handle_read` is the layer's read step,
//! [`Chat::handle_read`](crate::Layer::handle_read), written down as `read`;
//! `found [..]` is `found_terminator` taking the record.)
//!
//! ## The tracer
//!
//! [`Reactor::set_trace`](crate::Reactor::set_trace) writes one line per
//! iteration (`src/trace.rs`). The example programs turn it on when
//! `POLLREACTOR_TRACE=1`. A line looks like this:
//!
//! ```text
//! #3 poll want[3:r 5:rw] ready[5:rw] calls[5:read 5:write] added[6] closed[5] timers[1]
//! ```
//!
//! Its parts, in order:
//!
//! * `#3`: the iteration number. It counts from 1 from the `set_trace` call
//!   that turned the tracer on.
//! * `poll`: the backend that waited: `poll`, `select` or `epoll`.
//! * `asked[fd ...]` (only in the fast interest mode): the channels asked
//!   `readable()`/`writable()` again in this iteration's step 1.
//! * `want[fd:rw ...]`: what the backend has registered for the wait
//!   (step 1), the reactor's own sockets (waker, signals: `fd:r`) first,
//!   then the channels by slot: each descriptor, then `r` for read interest
//!   and `w` for write interest. A channel that wants nothing is absent; `want[]` means nothing
//!   was waited on.
//! * `ready[fd:flags ...]`: the events the wait returned (step 3a), in the
//!   order they are dispatched. The flags are `r` read, `w` write, `p` urgent
//!   data, `h` hang-up, `e` error, `n` not an open descriptor, always in that
//!   order. `ready[]` means the wait reported nothing: it timed out, or
//!   ended for a timer.
//! * `calls[fd:name ...]`: the callbacks of steps 3b and 3c, in the order they
//!   ran, each with its channel's descriptor. The names are `connect`,
//!   `accept`, `read`, `write`, `expt`, `close` and `error`. A name is the
//!   step, logged as it starts, not every handler method:
//!   * `connect` is logged before `SO_ERROR` is read, so a refused connect
//!     shows `connect error`;
//!   * `expt` may have run `handle_close` (when `SO_ERROR` held an error);
//!   * `accept` includes `handle_accepted`;
//!   * `error` includes whatever `handle_error` calls (its default calls
//!     `handle_close`, which is not logged again);
//!   * `close` is `handle_close` from step 1 (a timeout), from step 3b,
//!     from error routing, or from settle.
//!
//!   Only callbacks the reactor runs are listed.
//!   [`log_info`](crate::Handler::log_info) is not one: the default
//!   callbacks call it. Waker closures, signal handlers and timers are not listed either; what
//!   they do shows up in `added`, `closed` and `timers`.
//! * `added[fd ...]`: channels added since the previous line. Channels added
//!   before the first iteration appear on the first line.
//! * `closed[fd ...]`: channels that left the map: closed by a callback
//!   (their `handle_close`, say), by `Context::close` or `close_all`.
//! * `timers[n]`: how many timers ran in step 4.
//!
//! `calls`, `added`, `closed` and `timers` are left out when empty; `want`
//! and `ready` are always there. A descriptor shows as `-1` where the channel
//! had none.
//!
//! A real trace, of `echo_server` while one client connects, sends
//! `hello`, reads the echo and closes, and then SIGTERM arrives (fd 3 is the
//! listener, 5 the signal socket, 6 the client):
//!
//! ```text
//! $ POLLREACTOR_TRACE=1 cargo run --example echo_server -- --addr 127.0.0.1:0
//! #1 poll asked[3] want[5:r 3:r] ready[3:r] calls[3:accept] added[3 6]
//! #2 poll asked[6 3] want[5:r 3:r 6:r] ready[6:r] calls[6:read]
//! #3 poll asked[6] want[5:r 3:r 6:r] ready[6:r] calls[6:read 6:close] closed[6]
//! #4 poll asked[] want[5:r 3:r] ready[5:r] closed[3]
//! ```
//!
//! Line 1 accepts the connection (the listener was added before the first
//! iteration, hence `added[3 6]`). Line 2 reads `hello`; `handle_read`
//! queues the echo, which goes out in one send when it returns (settle: not
//! a callback, so not listed). The socket takes it all, so the channel never
//! waits for write. Line 3 reads the end of file: `recv` returns 0, and settle runs
//! `handle_close`, which closes the channel. Line 4 is the signal: its
//! handler closes every channel and ends the loop. The example servers ask
//! a channel only after its own callbacks ran
//! ([`InterestMode::WhenChanged`](crate::InterestMode::WhenChanged)), so
//! `asked` lists the listener after its accept and the client after each
//! read; with `--interest every-iteration` (asyncore's way, the library's
//! default) every channel is asked every time and `asked` is left out.
