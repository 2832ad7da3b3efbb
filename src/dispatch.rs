//! Readiness into callbacks: asyncore's `readwrite()` and
//! `handle_*_event()` methods, its error routing, and the settling of the
//! callbacks a method left due. Everything that happens to one ready
//! channel in step 3 of an iteration is in this file.
//!
//! The table the guide gives (which readiness becomes which
//! callback) is the one [`dispatch`] follows, top to bottom.

use std::any::Any;
use std::io;
use std::num::NonZeroU64;
use std::os::fd::RawFd;
use std::panic::{self, AssertUnwindSafe};

use crate::backend::Ready;
use crate::context::{AnyChannel, Asked, Channel, Context, Entry, Slot, Wants};
use crate::dispatcher::{Clock, CloseReason, Dispatcher, Flags};
use crate::errors::{is_disconnect, is_would_block};
use crate::handler::{Handler, Layer};
use crate::map::Token;
use crate::socket::Socket;
use crate::timer::{Nanos, TimerId};

/// Adding a channel runs a callback when its connect already completed,
/// so it is written here, with the other code that runs callbacks.
impl Context {
    /// Adds a channel (asyncore's `add_channel`): an accepted connection,
    /// a new client. It is polled from the next loop iteration on. If the
    /// dispatcher's `connect` already completed, `handle_connect` runs
    /// before this returns.
    pub fn add<L: Layer, H: Handler<L>>(&mut self, disp: Dispatcher<L>, handler: H) -> io::Result<Token> {
        if !disp.is_open() {
            let message = "cannot add a closed dispatcher";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        let (connect_done, fd) = (disp.pending.connect, disp.fileno());
        let mut disp = disp;
        disp.flags.set(Flags::IN_REACTOR, true);
        disp.flags.set(Flags::DIRTY, true);
        // Nothing is registered for it here yet, nor is its alarm in this
        // reactor's heap (it may come from another reactor's `remove`,
        // with that reactor's answers and alarm).
        disp.set_wants((false, false));
        if let Some(timing) = &mut disp.timing {
            timing.alarm = None;
        }
        let token = self.channels.insert(Slot::Live(Box::new(Entry { disp, handler })));
        self.dirty.push(token);
        if let Some(trace) = &mut self.trace {
            trace.added(fd);
        }
        if connect_done {
            // connect() finished before the channel had a handler: its
            // handle_connect runs now, before any other callback.
            self.call(token, |_: &mut H, _: &mut Channel<'_, L>| ());
        }
        Ok(token)
    }
}

/// Every channel, whatever its layer and handler, seen through one vtable:
/// the reactor holds `Box<dyn AnyChannel>`, and each call here is a direct,
/// monomorphised call into the handler's own methods.
impl<L: Layer, H: Handler<L>> AnyChannel for Entry<L, H> {
    fn fileno(&self) -> Option<RawFd> {
        self.disp.fileno()
    }

    fn close(&mut self) {
        self.disp.close();
    }

    fn ask(&mut self) -> Option<Asked> {
        let fd = self.disp.fileno()?;
        self.disp.flags.set(Flags::DIRTY, false);
        let paced = self.disp.paced_by().is_some();
        // A channel past a timeout is still waited for, in a wait that
        // does not sleep: input that came in time is read before its close.
        let (wake, expired) = match self.disp.clock() {
            Clock::Expired => (None, true),
            // A listener out of descriptors: nothing until the back-off ends.
            Clock::Paused(until) => {
                self.disp.set_wants((false, false));
                self.disp.flags.set(Flags::READING, false);
                let change = Some(Wants { read: false, write: false, paced });
                return Some(Asked { fd, wake: Some(until), flipped: false, expired: false, change });
            }
            Clock::Wake(deadline) => (deadline, false),
        };
        // Not read: after the end of its input, or while its queue is full;
        // but a channel paced by another is held by that one's queue (what
        // it reads goes there), not by its own, or a forwarder whose far
        // end writes before it reads would wait on itself for ever.
        let was_throttled = self.disp.throttled();
        let throttled = self.disp.update_throttle();
        let flipped = throttled != was_throttled;
        let throttled = throttled && !paced;
        let read = !self.disp.flags.has(Flags::EOF) && !throttled && self.handler.readable(&self.disp);
        let write = !self.disp.accepting() && self.handler.writable(&self.disp);
        // The same answer needs nothing of the backend (the common case: a
        // channel asked again after its callbacks); a paced one is always
        // looked at again, its pacer's queue may have moved.
        let change = ((read, write) != self.disp.wants() || paced).then(|| {
            self.disp.set_wants((read, write));
            self.disp.flags.set(Flags::READING, read);
            Wants { read, write, paced }
        });
        Some(Asked { fd, wake, flipped, expired, change })
    }

    fn wants(&self) -> (bool, bool) {
        self.disp.wants()
    }

    fn throttled(&self) -> bool {
        self.disp.throttled()
    }

    fn paced_by(&self) -> Option<Token> {
        self.disp.paced_by()
    }

    fn set_reading(&mut self, reading: bool) {
        self.disp.flags.set(Flags::READING, reading);
    }

    fn mark_dirty(&mut self) -> bool {
        !self.disp.flags.replace(Flags::DIRTY, true)
    }

    fn put_back(&mut self, close: bool) -> Option<bool> {
        if close {
            self.disp.close();
        }
        self.disp.is_open().then(|| self.mark_dirty())
    }

    fn alarm(&self) -> Option<Nanos> {
        self.disp.timing.as_ref().and_then(|t| t.alarm).map(NonZeroU64::get)
    }

    fn set_alarm(&mut self, at: Option<NonZeroU64>) {
        self.disp.timing_mut().alarm = at;
    }

    fn retire(&mut self) -> Option<Socket> {
        self.disp.retired.take()
    }

    fn fail(&mut self, ctx: &mut Context, token: Token, err: io::Error) {
        // Not registered: if the handler keeps the channel, the next ask
        // must try again rather than find the "same" answer.
        self.disp.set_wants((false, false));
        self.disp.flags.set(Flags::READING, false);
        let mut ch = Channel::new(token, &mut self.disp, ctx);
        route_error(&mut self.handler, &mut ch, err);
        settle(&mut self.handler, &mut ch);
    }

    fn expire(&mut self, ctx: &mut Context, token: Token) {
        // Input that was waiting when the loop came back late is read
        // first: a channel that did send in time is not closed for it.
        let Err(reason) = self.disp.due() else { return };
        let mut ch = Channel::new(token, &mut self.disp, ctx);
        ch.restart_timeouts();
        announce_close(&mut self.handler, &mut ch, reason);
        settle(&mut self.handler, &mut ch);
    }

    fn take_timers(&mut self) -> Vec<TimerId> {
        self.disp.extra.as_mut().map(|e| std::mem::take(&mut e.timers)).unwrap_or_default()
    }

    fn dispatch(&mut self, ctx: &mut Context, token: Token, ready: Ready) {
        let mut ch = Channel::new(token, &mut self.disp, ctx);
        dispatch(&mut self.handler, &mut ch, ready);
        settle(&mut self.handler, &mut ch);
    }

    fn settle(&mut self, ctx: &mut Context, token: Token) {
        settle(&mut self.handler, &mut Channel::new(token, &mut self.disp, ctx));
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn handler(&self) -> &dyn Any {
        &self.handler
    }

    fn dispatcher(&self) -> &dyn Any {
        &self.disp
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Any readiness that ends a connect, one way or the other.
const ANY_IO: Ready = Ready::READ.or(Ready::WRITE).or(Ready::HUP).or(Ready::ERR);
/// A hang-up or an error condition.
const HANG_UP: Ready = Ready::HUP.or(Ready::ERR);

// The guide's readiness table (doc/guide.md, the `guide` module) is this function, row by row.
/// Turns one channel's readiness into callbacks, in asyncore's order. After
/// each callback it stops if the channel closed, its peer went away (the
/// pending `handle_close` then runs in [`settle`]), the callback failed, or a
/// handler asked the loop to exit.
fn dispatch<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>, ready: Ready) {
    // The descriptor was closed behind the reactor's back: nothing else in
    // `ready` means anything.
    if ready.any(Ready::NVAL) {
        announce_close(h, ch, CloseReason::Broken);
        return;
    }
    // A hang-up with nothing flagged to read, on a channel that reads (a
    // pipe whose writer closed): read it, so that `recv` returns 0 as it
    // does with select, which has no hang-up bit.
    let ready =
        if ready.any(Ready::HUP) && !ready.any(Ready::ERR) && ch.flags.has(Flags::READING) && !ch.accepting()
        {
            ready.or(Ready::READ)
        } else {
            ready
        };
    // The first event of a connecting channel says how the connect ended.
    if ch.connecting() && ready.any(ANY_IO) && !step(h, ch, "connect", handle_connect_event) {
        return;
    }
    if ready.any(Ready::READ) {
        let ok = if ch.accepting() {
            step(h, ch, "accept", |h, ch| h.handle_accept(ch))
        } else {
            step(h, ch, "read", |h, ch| h.handle_read(ch))
        };
        if !ok {
            return;
        }
    }
    if ready.any(Ready::WRITE) && !ch.accepting() && !step(h, ch, "write", |h, ch| h.handle_write(ch)) {
        return;
    }
    if ready.any(Ready::PRI) && !step(h, ch, "expt", handle_expt_event) {
        return;
    }
    // Hang-up or error with nothing to read. With READ set we leave it to
    // the read above: recv drains every byte and then sees the end of file,
    // so nothing the peer sent before closing is dropped.
    if ready.any(HANG_UP) && !ready.any(Ready::READ) {
        let reason = match ch.take_socket_error() {
            Ok(Some(err)) => CloseReason::of(&err),
            _ => CloseReason::Broken,
        };
        announce_close(h, ch, reason);
    }
}

/// Runs `handle_close` for a close the library makes, with its reason; but
/// only once per channel: a channel already told (whose `handle_close` kept
/// it open) is closed now, since nothing more can come of it.
fn announce_close<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>, reason: CloseReason) {
    if !live(ch) {
        return;
    }
    if ch.announce(reason) {
        step(h, ch, "close", |h, ch| h.handle_close(ch));
    } else {
        ch.close();
    }
}

/// Runs one callback and routes its error. True when dispatch may go on to
/// the channel's next event.
#[inline]
fn step<L: Layer, H: Handler<L>>(
    h: &mut H,
    ch: &mut Channel<'_, L>,
    name: &'static str,
    callback: impl FnOnce(&mut H, &mut Channel<'_, L>) -> io::Result<()>,
) -> bool {
    ch.trace_callback(name);
    if let Err(err) = guarded(h, ch, callback) {
        route_error(h, ch, err);
        return false;
    }
    live(ch) && !ch.pending.close && !ch.context().exit_requested()
}

/// Whether the channel may still get callbacks: open, and not closed
/// through the [`Context`] (by itself or a channel it called) meanwhile.
#[inline]
fn live<L>(ch: &Channel<'_, L>) -> bool {
    ch.is_open() && !ch.close_requested()
}

/// Runs a callback; with panics confined ([`Reactor::set_catch_panics`]),
/// a panic becomes an error for `handle_error`, and a panic there closes
/// the channel.
///
/// [`Reactor::set_catch_panics`]: crate::Reactor::set_catch_panics
fn guarded<L: Layer, H: Handler<L>>(
    h: &mut H,
    ch: &mut Channel<'_, L>,
    callback: impl FnOnce(&mut H, &mut Channel<'_, L>) -> io::Result<()>,
) -> io::Result<()> {
    if !ch.context().catch_panics {
        return callback(h, ch);
    }
    panic::catch_unwind(AssertUnwindSafe(|| callback(h, ch))).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_string());
        Err(io::Error::other(format!("handler panicked: {what}")))
    })
}

/// A connecting channel became ready: `SO_ERROR` tells whether the connect
/// worked (a refused connect fails here, on to `handle_error`). The channel
/// is marked connected before `handle_connect` runs.
fn handle_connect_event<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>) -> io::Result<()> {
    if let Some(err) = ch.take_socket_error()? {
        // Reading SO_ERROR cleared it: the channel must not look like it
        // is still connecting (the next event would then pass for a
        // successful connect), nor keep output it can never send.
        ch.connect_failed();
        return Err(err);
    }
    ch.set_connected();
    h.handle_connect(ch)
}

/// Urgent data, or (with a socket error pending) a broken connection.
fn handle_expt_event<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>) -> io::Result<()> {
    match ch.take_socket_error()? {
        Some(err) if ch.announce(CloseReason::of(&err)) => h.handle_close(ch),
        Some(_) => {
            ch.close();
            Ok(())
        }
        None => h.handle_expt(ch),
    }
}

/// Where a callback's error goes: nowhere for would-block (spurious
/// readiness), `handle_close` for a disconnect, `handle_error` otherwise.
fn route_error<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>, err: io::Error) {
    if is_would_block(&err) || !live(ch) {
        return;
    }
    let routed = guarded(h, ch, |h, ch| {
        if is_disconnect(&err) && !ch.announce(CloseReason::of(&err)) {
            ch.close();
        } else if is_disconnect(&err) {
            ch.trace_callback("close");
            if let Err(err) = h.handle_close(ch) {
                ch.trace_callback("error");
                h.handle_error(ch, err);
            }
        } else {
            ch.note_reason(CloseReason::Error);
            ch.trace_callback("error");
            h.handle_error(ch, err);
        }
        Ok(())
    });
    // Only a confined panic inside handle_close or handle_error gets here.
    if routed.is_err() {
        ch.close();
    }
}

/// The callbacks a method left due: `handle_connect` for a connect that
/// completed at once, then `handle_close` for an end of file or a
/// disconnect that `recv`/`send` saw. Each runs at most once per call.
fn settle<L: Layer, H: Handler<L>>(h: &mut H, ch: &mut Channel<'_, L>) {
    if std::mem::take(&mut ch.pending.connect) && live(ch) {
        step(h, ch, "connect", |h, ch| {
            ch.set_connected();
            h.handle_connect(ch)
        });
    }
    // Output queued by the callbacks goes out now, in one send.
    if live(ch) && ch.connected() && ch.flags.has(Flags::FRESH_OUTPUT) {
        if let Err(err) = ch.send_queued() {
            route_error(h, ch, err);
        }
    }
    if ch.pending.close {
        let reason = ch.pending.reason.take().or(ch.close_reason()).unwrap_or(CloseReason::Broken);
        announce_close(h, ch, reason);
    }
    // A close that handle_close itself noticed is not announced again.
    ch.pending.close = false;
}
