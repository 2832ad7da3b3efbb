//! Readiness into callbacks: asyncore's `readwrite()` and
//! `handle_*_event()` methods, and its error routing.

use std::io;
use std::panic::{self, AssertUnwindSafe};

use crate::backend::Ready;
use crate::errors::{is_disconnect, is_would_block};
use crate::{Channel, Handler};

/// Any readiness that ends a connect, one way or the other.
const ANY_IO: Ready = Ready::READ.or(Ready::WRITE).or(Ready::HUP).or(Ready::ERR);
/// A hang-up or an error condition.
const HANG_UP: Ready = Ready::HUP.or(Ready::ERR);

/// Turns one channel's readiness into callbacks, in asyncore's order. After
/// each callback it stops if the channel closed, its peer went away (the
/// pending `handle_close` then runs in [`settle`]), the callback failed, or a
/// handler asked the loop to exit.
pub(crate) fn dispatch(h: &mut dyn Handler, ch: &mut Channel<'_>, ready: Ready) {
    // The descriptor was closed behind the reactor's back: nothing else in
    // `ready` means anything.
    if ready.any(Ready::NVAL) {
        step(h, ch, "close", |h, ch| h.handle_close(ch));
        return;
    }
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
        step(h, ch, "close", |h, ch| h.handle_close(ch));
    }
}

/// Runs one callback and routes its error. True when dispatch may go on to
/// the channel's next event.
fn step(
    h: &mut dyn Handler,
    ch: &mut Channel<'_>,
    name: &'static str,
    callback: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> io::Result<()>,
) -> bool {
    ch.trace_callback(name);
    if let Err(err) = guarded(h, ch, callback) {
        route_error(h, ch, err);
        return false;
    }
    ch.is_open() && !ch.pending.close && !ch.exit_requested()
}

/// Runs a callback; with panics confined ([`Reactor::set_catch_panics`]),
/// a panic becomes an error for `handle_error`, and a panic there closes
/// the channel.
///
/// [`Reactor::set_catch_panics`]: crate::Reactor::set_catch_panics
fn guarded(
    h: &mut dyn Handler,
    ch: &mut Channel<'_>,
    callback: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> io::Result<()>,
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
fn handle_connect_event(h: &mut dyn Handler, ch: &mut Channel<'_>) -> io::Result<()> {
    if let Some(err) = ch.take_socket_error()? {
        return Err(err);
    }
    ch.set_connected();
    h.handle_connect(ch)
}

/// Urgent data, or (with a socket error pending) a broken connection.
fn handle_expt_event(h: &mut dyn Handler, ch: &mut Channel<'_>) -> io::Result<()> {
    match ch.take_socket_error()? {
        Some(_) => h.handle_close(ch),
        None => h.handle_expt(ch),
    }
}

/// Where a callback's error goes: nowhere for would-block (spurious
/// readiness), `handle_close` for a disconnect, `handle_error` otherwise.
pub(crate) fn route_error(h: &mut dyn Handler, ch: &mut Channel<'_>, err: io::Error) {
    if is_would_block(&err) || !ch.is_open() {
        return;
    }
    let routed = guarded(h, ch, |h, ch| {
        if is_disconnect(&err) {
            ch.trace_callback("close");
            if let Err(err) = h.handle_close(ch) {
                ch.trace_callback("error");
                h.handle_error(ch, err);
            }
        } else {
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
pub(crate) fn settle(h: &mut dyn Handler, ch: &mut Channel<'_>) {
    if std::mem::take(&mut ch.pending.connect) && ch.is_open() {
        step(h, ch, "connect", |h, ch| {
            ch.set_connected();
            h.handle_connect(ch)
        });
    }
    if ch.pending.close && ch.is_open() {
        step(h, ch, "close", |h, ch| h.handle_close(ch));
    }
    // A close that handle_close itself noticed is not announced again.
    ch.pending.close = false;
}
