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
//! * A channel that wants neither is left out of the wait. It hears nothing,
//!   not even a hang-up, until it wants something again.
//! * A channel whose idle timeout
//!   ([`Dispatcher::set_idle_timeout`](crate::Dispatcher::set_idle_timeout))
//!   has passed is closed here, without a callback.
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
//! `dispatch` turns one channel's flags into callbacks in asyncore's order:
//!
//! 1. `NVAL`: [`handle_close`](crate::Handler::handle_close), and nothing
//!    else. The descriptor was closed behind the reactor's back, so no other
//!    flag means anything.
//! 2. A connecting channel with any of `READ`, `WRITE`, `HUP`, `ERR`: the
//!    connect has ended. The reactor reads `SO_ERROR`. If it is clear, the
//!    channel is marked connected and
//!    [`handle_connect`](crate::Handler::handle_connect) runs, before any read
//!    or write callback. If it holds an error (a refused connect), that error
//!    is routed as below.
//! 3. `READ`: [`handle_accept`](crate::Handler::handle_accept) on a listener,
//!    [`handle_read`](crate::Handler::handle_read) on any other channel.
//! 4. `WRITE`, not on a listener:
//!    [`handle_write`](crate::Handler::handle_write).
//! 5. `PRI`: the reactor reads `SO_ERROR`. If it holds an error, the
//!    connection is broken: `handle_close`. Otherwise urgent data is waiting:
//!    [`handle_expt`](crate::Handler::handle_expt).
//! 6. `HUP` or `ERR` without `READ`: `handle_close`. With `READ` set, the
//!    close is left to the read: `recv` delivers every byte the peer sent and
//!    then returns 0, which leads to `handle_close` (see
//!    [Settle](#3c-settle)).
//!
//! After each step the reactor stops, for this channel, if the channel was
//! closed, if `recv` or `send` saw the end of the connection, if the callback
//! returned an error, or if a callback called `exit_now`. `exit_now` also
//! ends the pass over the events, and step 4 (timers) is skipped.
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
//!   [`DISCONNECTED`](crate::DISCONNECTED)): `handle_close`.
//! * anything else: [`handle_error`](crate::Handler::handle_error), whose
//!   default logs it through `log_info` and calls `handle_close`.
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
//! * `handle_connect`, for a [`connect`](crate::Dispatcher::connect) that
//!   completed at once (Unix-domain and UDP sockets do). If the channel is not
//!   in the map yet, this happens inside [`Context::add`](crate::Context::add).
//! * `handle_close`, when [`recv`](crate::Dispatcher::recv) returned 0 (end
//!   of file) or `recv`/[`send`](crate::Dispatcher::send) met a disconnect
//!   errno. In the second case the queued output is dropped, since it can no
//!   longer be delivered.
//!
//! Each runs at most once per call, and only on a channel that is still open.
//! A close that `handle_close` itself noticed is not announced again. Settle
//! runs even after `exit_now`.
//!
//! The default `handle_close` of a buffered channel (`WithSend`, `Chat`) does
//! not drop queued output: it calls
//! [`close_when_done`](crate::Dispatcher::close_when_done), so a peer that
//! half-closed after its last request still gets the answer. By default the
//! channel then stops reading, and closes once the queue is sent. A plain
//! channel has no queue; its default `handle_close` closes it.
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
//! callbacks that follow (steps 3b and 3c). The rows assume a channel that
//! is not connecting; the last table covers connects.
//!
//! | poll | epoll | select | flags | callbacks |
//! |---|---|---|---|---|
//! | `POLLIN` | `EPOLLIN` | in `readfds` | `READ` | `handle_accept` on a listener, else `handle_read`. `recv` returns data, or 0 at end of file (then `handle_close`, in settle), or `WouldBlock` (ignored). |
//! | `POLLOUT` | `EPOLLOUT` | in `writefds` | `WRITE` | `handle_write`. A listener is never asked. |
//! | `POLLPRI` | `EPOLLPRI` | in `exceptfds` | `PRI` | `handle_expt`; but `handle_close` if `SO_ERROR` holds an error. poll and epoll ask for it only with read interest; select watches every entry. |
//! | `POLLIN` + `POLLHUP` | `EPOLLIN` + `EPOLLHUP` | in `readfds` (select has no hang-up bit) | `READ` `HUP` | `handle_read` (and the callbacks of any other flags), but no `handle_close` for the `HUP` itself. `handle_close` comes when `recv` returns 0, after every byte was read, on this iteration or a later one. A `handle_read` that never calls `recv` never gets there. |
//! | `POLLHUP` without `POLLIN` | `EPOLLHUP` without `EPOLLIN` | none | `HUP` | `handle_close`, after `handle_write` / `handle_expt` if those flags are set too. This happens when the channel did not ask to read (`readable()` was false), or on a pipe whose writer closed with nothing left in it. |
//! | `POLLERR` without `POLLIN` | `EPOLLERR` without `EPOLLIN` | none | `ERR` | `handle_close`, after `handle_write` / `handle_expt` if those flags are set too. The reactor does not read the errno for this flag, so it does not go to `handle_error` (a `send` in `handle_write` may meet it first, and route it as usual). |
//! | `POLLIN` + `POLLERR` | `EPOLLIN` + `EPOLLERR` | in `readfds` (and `writefds`, if asked) | `READ` `ERR` | `handle_read`. `recv` returns the pending error: a disconnect errno becomes end of file (`handle_close`), any other goes to `handle_error`. |
//! | `POLLNVAL` | none | `EBADF` from the call | `NVAL` | `handle_close` and nothing else. select names no culprit, so the backend checks which descriptors are closed and reports `NVAL` for those; that iteration reports nothing else. epoll has no such flag: a descriptor closed behind the reactor's back (its last copy) leaves the epoll set, and the channel hears nothing more. |
//!
//! select has no hang-up or error bit. Linux marks a descriptor whose peer
//! hung up as readable, and one with an error pending as readable and
//! writable. So on select, a hang-up is always "readable, then `recv` returns
//! 0", and an error is met by `recv` or `send`. Every backend delivers every
//! byte the peer sent before `handle_close`, and calls `handle_close` once.
//!
//! A connecting channel reads `SO_ERROR` at its first `READ`, `WRITE`, `HUP`
//! or `ERR` (not at `PRI` alone):
//!
//! | `SO_ERROR` | callbacks |
//! |---|---|
//! | clear | marked connected, `handle_connect`; then, in the same pass, `handle_read` / `handle_write` / `handle_expt` / `handle_close` for the flags that are set. |
//! | a disconnect errno | `handle_close`; nothing else in that pass. |
//! | any other errno (`ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`, ...) | `handle_error`; nothing else in that pass. |
//!
//! A refused TCP connect shows up as `POLLOUT | POLLERR | POLLHUP` (plus
//! `POLLIN` if read was asked) on poll and epoll, and as readable and writable
//! on select. All three end in the same `handle_error`.
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
//! * `want[fd:rw ...]`: the interest list, in the order it went to the wait
//!   (step 1): each descriptor, then `r` for read interest and `w` for write
//!   interest. The reactor's own sockets (waker, signals) appear too, as
//!   `fd:r`. A channel that wants nothing is absent; `want[]` means nothing
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
//!   * `close` is `handle_close` from step 3b, from error routing, or from
//!     settle.
//!
//!   Waker closures, signal handlers and timers are not listed here; what they
//!   do shows up in `added`, `closed` and `timers`.
//! * `added[fd ...]`: channels added since the previous line. Channels added
//!   before the first iteration appear on the first line.
//! * `closed[fd ...]`: channels that left the map: closed by a callback, by
//!   `Context::close` or `close_all`, or by their idle timeout (which logs no
//!   call).
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
//! #1 poll want[3:r 5:r] ready[3:r] calls[3:accept] added[3 6]
//! #2 poll want[6:r 3:r 5:r] ready[6:r] calls[6:read]
//! #3 poll want[3:r 6:r 5:r] ready[6:r] calls[6:read 6:close] closed[6]
//! #4 poll want[3:r 5:r] ready[5:r] closed[3]
//! ```
//!
//! Line 1 accepts the connection (the listener was added before the first
//! iteration, hence `added[3 6]`). Line 2 reads `hello` and echoes it inside
//! `handle_read`; the socket takes it all, so the channel never waits for
//! write. Line 3 reads the end of file: `recv` returns 0, and settle runs
//! `handle_close`, which closes the channel. Line 4 is the signal: its
//! handler closes every channel and ends the loop.
