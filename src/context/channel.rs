//! [`Channel`]: one channel as its own callbacks see it, a guard over its
//! dispatcher with the way into the rest of the reactor.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::{Context, Slot};
use crate::dispatcher::{Dispatcher, Plain};
use crate::map::Token;
use crate::timer::TimerId;

/// A channel as its callbacks see it: the channel's [`Dispatcher`]
/// (through `Deref`, so `ch.recv(..)`, `ch.send(..)`, `ch.close()` work
/// directly, as `self.recv()` did in asyncore) plus the rest of the
/// reactor through [`context`](Self::context): adding channels, closing or
/// calling others, timers, and ending the loop.
///
/// `Channel` is a guard over `&mut Dispatcher<L>`, like `RefMut` over its
/// value: that one `Deref` is why it exists.
pub struct Channel<'a, L = Plain> {
    token: Token,
    disp: &'a mut Dispatcher<L>,
    ctx: &'a mut Context,
}

impl<'a, L> Channel<'a, L> {
    /// The view of one channel taken out of the map.
    pub(crate) fn new(token: Token, disp: &'a mut Dispatcher<L>, ctx: &'a mut Context) -> Channel<'a, L> {
        Channel { token, disp, ctx }
    }

    /// This channel's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// How many connections a listener's `handle_accept` should take at
    /// this event, as the default one does: up to
    /// [`ACCEPT_BATCH`](crate::ACCEPT_BATCH) in a burst (the listener's
    /// last event was in the iteration just before, or it accepted more
    /// than one), else 1. Connections to a quiet server come one at a
    /// time: a second accept(2) would only learn that no more wait, and
    /// if another did come, the level-triggered wait reports the listener
    /// again at once, and that next event is a burst's. Call it once per
    /// event, before its accepts (it starts counting them).
    pub fn accept_batch(&mut self) -> usize {
        let now = self.ctx.iteration;
        let last = self.disp.extra_mut().last_accept.replace((now, 0));
        match last {
            Some((iteration, accepted)) if accepted > 1 || iteration + 1 == now => crate::ACCEPT_BATCH,
            _ => 1,
        }
    }

    /// The reactor's state: other channels, timers, the exit flag.
    pub fn context(&mut self) -> &mut Context {
        self.ctx
    }

    /// Runs `f` with this channel's handler once, `delay` from now: a timer
    /// bound to the channel, cancelled if the channel closes first. The
    /// handler's type is written in the closure, as in [`Context::call`].
    ///
    /// ```
    /// use pollreactor::{Channel, Handler, WithSend};
    /// use std::{io, time::Duration};
    ///
    /// /// Says goodbye one second after the first byte arrives.
    /// struct Polite;
    /// impl Handler<WithSend> for Polite {
    ///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         let mut buf = Vec::new();
    ///         ch.recv_into(&mut buf, 4096)?;
    ///         ch.call_later(Duration::from_secs(1), |_: &mut Polite, ch: &mut Channel<'_, WithSend>| {
    ///             let _ = ch.send_buffered(b"bye\n");
    ///             ch.close_when_done();
    ///         });
    ///         Ok(())
    ///     }
    /// }
    /// ```
    pub fn call_later<H: 'static>(
        &mut self,
        delay: Duration,
        f: impl FnOnce(&mut H, &mut Channel<'_, L>) + 'static,
    ) -> TimerId
    where
        L: 'static,
    {
        let t = self.token;
        let id = self.ctx.call_later(delay, move |ctx| {
            ctx.call(t, f);
        });
        self.disp.extra_mut().timers.push(id);
        id
    }

    /// Runs `f` with this channel's handler every `interval`, until the
    /// channel closes or the timer is cancelled (from inside `f`:
    /// `ch.context().current_timer()` names it).
    pub fn call_every<H: 'static>(
        &mut self,
        interval: Duration,
        mut f: impl FnMut(&mut H, &mut Channel<'_, L>) + 'static,
    ) -> TimerId
    where
        L: 'static,
    {
        let t = self.token;
        let id = self.ctx.call_every(interval, move |ctx| {
            ctx.call(t, |h: &mut H, ch: &mut Channel<'_, L>| f(h, ch));
        });
        self.disp.extra_mut().timers.push(id);
        id
    }

    /// Whether [`Context::close`] was called for this channel while its
    /// callback runs: it then gets no further callback, as after `close()`.
    #[inline]
    pub(crate) fn close_requested(&self) -> bool {
        self.ctx.busy_closes > 0
            && matches!(self.ctx.channels.get(self.token), Some(Slot::Busy { close: true }))
    }

    /// Receives up to `max` bytes into the reactor's shared read buffer
    /// (no allocation, no zeroing) and hands them to `f` with the channel:
    /// what `data = self.recv(max)` was in asyncore, for a handler that
    /// passes the data on at once. `f` gets an empty slice at the end of
    /// the input (`recv` returned 0; `handle_close` follows). Would-block
    /// and errors are returned without calling `f`.
    ///
    /// ```
    /// use pollreactor::{Channel, Handler, WithSend};
    /// use std::io;
    ///
    /// struct Echo;
    /// impl Handler<WithSend> for Echo {
    ///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         ch.recv_with(8192, |ch, data| ch.send_buffered(data))
    ///     }
    /// }
    /// ```
    #[inline]
    pub fn recv_with<R>(
        &mut self,
        max: usize,
        f: impl FnOnce(&mut Self, &[u8]) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut buffer = self.ctx.take_read_buffer();
        buffer.clear();
        let result = match self.disp.recv_into(&mut buffer, max) {
            Ok(_) => f(self, &buffer),
            Err(e) => Err(e),
        };
        self.ctx.put_read_buffer(buffer);
        result
    }

    /// Records a callback in the trace, if tracing is on.
    pub(crate) fn trace_callback(&mut self, name: &'static str) {
        if let Some(trace) = &mut self.ctx.trace {
            trace.callback(self.disp.fileno(), name);
        }
    }
}

impl<L> Deref for Channel<'_, L> {
    type Target = Dispatcher<L>;
    fn deref(&self) -> &Dispatcher<L> {
        self.disp
    }
}

impl<L> DerefMut for Channel<'_, L> {
    fn deref_mut(&mut self) -> &mut Dispatcher<L> {
        self.disp
    }
}

impl<L> fmt::Debug for Channel<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.disp.fmt(f)
    }
}
