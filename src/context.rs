//! [`Context`]: the reactor state every callback can reach (the channel
//! map, timers, the exit flag), and [`Channel`]: one channel as its own
//! callbacks see it.
//!
//! While a callback runs, its channel is *out of the map*: the boxed entry
//! (dispatcher and handler) is taken from its slot, which is marked busy,
//! and the callback gets `&mut` to both, plus `&mut Context` for everything
//! else. So a callback may add channels, close others, or call into them,
//! with no `RefCell` and no aliasing; a close aimed at a busy channel (its
//! own, or one further up the call chain) is recorded in the slot and
//! carried out when the entry is put back.

use std::any::Any;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::backend::Ready;
use crate::dispatcher::{CloseReason, Dispatcher, Plain};
use crate::map::{Slab, Token};
use crate::socket::Socket;
use crate::timer::{deadline_after, Action, TimerId, Timers};
use crate::trace::Trace;

/// A timer's closure: once, or every interval.
type Once = Box<dyn FnOnce(&mut Context)>;
type Every = Box<dyn FnMut(&mut Context)>;

/// The channels' alarms: each wakes the loop at a channel's next deadline
/// (a timeout, an accept back-off) and has the channel asked again. Kept
/// apart from the program's timers, which [`Context::pending_timers`] counts.
pub(crate) type Alarms = Timers<Token, ()>;

/// A channel: its dispatcher and the handler that owns its callbacks.
pub(crate) struct Entry<L, H> {
    pub(crate) disp: Dispatcher<L>,
    pub(crate) handler: H,
}

/// What the reactor does with a channel without knowing its types: the
/// entry behind a `Box<dyn AnyChannel>`. Implemented (once, generically)
/// in `dispatch.rs`, where readiness becomes callbacks.
pub(crate) trait AnyChannel: Any {
    /// The descriptor, while open.
    fn fileno(&self) -> Option<RawFd>;
    /// Whether the socket is still open.
    fn is_open(&self) -> bool;
    /// Closes the socket; no callback runs.
    fn close(&mut self);
    /// Asks the channel what it waits for now: its clock first (a timeout
    /// passed, an accept back-off), then `readable()`/`writable()` (not
    /// asked of a listener to write, nor to read after the end of input or
    /// while its queue is full). Clears its "ask again" mark.
    fn ask(&mut self) -> Asked;
    /// Its last answers (read, write), before pacing.
    fn wants(&self) -> (bool, bool);
    /// Whether its output queue is over its high-water mark.
    fn throttled(&self) -> bool;
    /// The channel whose queue paces this one's reading.
    fn paced_by(&self) -> Option<Token>;
    /// Notes whether the backend was asked to read it.
    fn set_reading(&mut self, reading: bool);
    /// Marks it to be asked again; false if it already was.
    fn mark_dirty(&mut self) -> bool;
    /// The alarm timer set for its next deadline, if any.
    fn alarm(&self) -> Option<Instant>;
    /// Records a new alarm; returns the one it replaces, to cancel.
    fn set_alarm(&mut self, at: Instant, id: TimerId) -> Option<TimerId>;
    /// The descriptor `close` kept open until the reactor deregisters it.
    fn retire(&mut self) -> Option<Socket>;
    /// Registering it failed (select's FD_SETSIZE): `handle_error`.
    fn fail(&mut self, ctx: &mut Context, token: Token, err: std::io::Error);
    /// A timeout passed: announce the close (`handle_close`, once).
    fn expire(&mut self, ctx: &mut Context, token: Token, reason: CloseReason);
    /// Its channel timers, to cancel when it leaves the map.
    fn take_timers(&mut self) -> Vec<TimerId>;
    /// Its alarm, to cancel when it leaves the map.
    fn take_alarm(&mut self) -> Option<TimerId>;
    /// Turns `ready` into callbacks, then settles.
    fn dispatch(&mut self, ctx: &mut Context, token: Token, ready: Ready);
    /// The callbacks a method left due (see `dispatch::settle`).
    fn settle(&mut self, ctx: &mut Context, token: Token);
    /// The entry, for a typed look-up.
    fn as_any(&self) -> &dyn Any;
    /// The handler alone, for a look-up by the handler's type.
    fn handler(&self) -> &dyn Any;
    /// The dispatcher alone, for a look-up by the layer's type.
    fn dispatcher(&self) -> &dyn Any;
    /// The entry, for a typed call.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// A channel's answer to "what do you wait for now?".
pub(crate) enum Asked {
    /// It has no descriptor (closed): nothing.
    Closed,
    /// A timeout passed: its close is to be announced.
    Expired(CloseReason),
    /// The same answer as last time: nothing to tell the backend.
    Same { fd: RawFd, wake: Option<Instant> },
    /// Wait for it so, and wake the loop by `wake` (its next deadline);
    /// `paced`: its reading also waits on another channel's queue.
    Wants { fd: RawFd, read: bool, write: bool, wake: Option<Instant>, paced: bool },
}

/// One place in the channel map.
pub(crate) enum Slot {
    /// Taken out while one of its callbacks runs; `close` records a
    /// close asked for meanwhile (by a channel it called).
    Busy {
        close: bool,
    },
    Live(Box<dyn AnyChannel>),
}

/// What callbacks can reach of their reactor: the channel map (asyncore's
/// `socket_map`), the timers, and the exit flag.
///
/// (Its [`add`](Context::add), which may run a callback, is written in
/// `dispatch.rs`, beside the other code that runs callbacks.)
///
/// Channel callbacks reach it with [`Channel::context`]; timer closures,
/// signal handlers and posted closures are handed it directly; a program
/// reaches it between iterations with [`Reactor::context_mut`](crate::Reactor::context_mut).
#[derive(Default)]
pub struct Context {
    pub(crate) channels: Slab<Slot>,
    pub(crate) exit: bool,
    pub(crate) timers: Timers<Once, Every>,
    pub(crate) alarms: Alarms,
    pub(crate) trace: Option<Trace>,
    /// The read buffer chat channels share (see `chat.rs`).
    read_buffer: Vec<u8>,
    /// Confine a panicking callback to its channel's `handle_error`.
    pub(crate) catch_panics: bool,
    /// The timer whose action is running, if one is.
    current_timer: Option<TimerId>,
    /// Calls deferred until the running callback returns.
    deferred: Vec<Once>,
    /// Channels whose interest is to be asked again (`interest.rs`).
    pub(crate) dirty: Vec<Token>,
    /// Channels gone from the map whose registration is still to be
    /// removed, with the descriptor kept open until then.
    pub(crate) gone: Vec<(Token, Option<Socket>)>,
    /// `poll_once` is running: the reactor removes registrations of
    /// channels that leave before their descriptors close.
    pub(crate) in_iteration: bool,
}

impl Context {
    /// Runs `f` with a channel's handler and a [`Channel`] view of it, for
    /// example to queue output on it; then the callbacks that `f` left due
    /// (`handle_close` after a `recv` that saw the end of file, say).
    ///
    /// The types say what the channel is: `None` if `t` names no channel,
    /// one of another handler or layer type, or one whose callback is
    /// running (this channel, or one further up the call chain).
    ///
    /// ```
    /// use pollreactor::{Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
    ///
    /// struct Member { name: String }
    /// impl Handler<WithSend> for Member {}
    ///
    /// let (ours, _theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    /// let mut reactor = Reactor::new();
    /// let t = reactor.add(Dispatcher::new(ours)?.with_send(), Member { name: "ann".into() })?;
    /// let greeted = reactor.context_mut().call(t, |m: &mut Member, ch: &mut Channel<'_, WithSend>| {
    ///     ch.send_buffered(format!("hello {}\n", m.name).as_bytes())
    /// });
    /// assert!(matches!(greeted, Some(Ok(()))));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call<L: 'static, H: 'static, R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut H, &mut Channel<'_, L>) -> R,
    ) -> Option<R> {
        let mut boxed = self.take(t)?;
        let fd = boxed.fileno();
        if !boxed.as_any().is::<Entry<L, H>>() {
            self.restore(t, boxed, fd);
            return None;
        }
        let entry = boxed.as_any_mut().downcast_mut::<Entry<L, H>>().expect("checked");
        let mut ch = Channel { token: t, disp: &mut entry.disp, ctx: self };
        let result = f(&mut entry.handler, &mut ch);
        boxed.settle(self, t);
        self.restore(t, boxed, fd);
        Some(result)
    }

    /// A channel's handler, if `t` names a channel whose handler is an `H`
    /// (and whose callback is not running).
    pub fn handler<H: 'static>(&self, t: Token) -> Option<&H> {
        match self.channels.get(t)? {
            Slot::Live(boxed) => boxed.handler().downcast_ref(),
            Slot::Busy { .. } => None,
        }
    }

    /// A channel's dispatcher, to look at, if `t` names a channel of layer
    /// `L` (and its callback is not running): `ctx.dispatcher::<WithSend>(t)`.
    pub fn dispatcher<L: 'static>(&self, t: Token) -> Option<&Dispatcher<L>> {
        match self.channels.get(t)? {
            Slot::Live(boxed) => boxed.dispatcher().downcast_ref(),
            Slot::Busy { .. } => None,
        }
    }

    /// Closes a channel without calling its handler, as calling asyncore's
    /// `close()` on another dispatcher did: it gets no further callbacks,
    /// and no `handle_close`. A channel whose callback is running (this
    /// one, from inside it) closes when that callback returns. False if there
    /// was no such channel.
    ///
    /// A callback that closes its own channel this way ends the channel's
    /// pass at once, as `ch.close()` does: no other callback runs for it,
    /// even with other readiness reported, and the output it queued is not
    /// sent. (To send it first, call
    /// [`close_when_done`](Dispatcher::close_when_done).) On every backend,
    /// with the `Log` and `run` of the [guide's examples](crate::guide#the-rows-run):
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
    /// # fn main() -> std::io::Result<()> {
    /// use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
    /// use std::io;
    ///
    /// struct Quits(Log);
    /// impl Handler<WithSend> for Quits {
    ///     fn writable(&mut self, _: &Dispatcher<WithSend>) -> bool {
    ///         true
    ///     }
    ///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         let mut buf = [0u8; 64];
    ///         let n = ch.recv(&mut buf)?;
    ///         self.0.push(format!("read {n}"));
    ///         ch.send_buffered(b"never sent")?;
    ///         let me = ch.token();
    ///         ch.context().close(me);
    ///         Ok(())
    ///     }
    ///     fn handle_write(&mut self, _: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         self.0.push("write".to_string());
    ///         Ok(())
    ///     }
    ///     fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         self.0.push("close".to_string());
    ///         ch.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// for &backend in Backend::available() {
    ///     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    ///     let log = Log::default();
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(Dispatcher::new(ours)?.with_send(), Quits(log.clone()))?;
    ///     theirs.send(b"hello")?;
    ///     assert_eq!(run(&mut reactor, backend, &log), ["read 5"]); // no write, no close
    ///     assert_eq!(theirs.recv(&mut [0u8; 16])?, 0); // the end of file, not "never sent"
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&mut self, t: Token) -> bool {
        match self.channels.get_mut(t) {
            Some(Slot::Busy { close }) => *close = true,
            Some(Slot::Live(_)) => {
                let Some(Slot::Live(mut boxed)) = self.channels.remove(t) else { unreachable!() };
                let fd = boxed.fileno();
                boxed.close();
                self.leave(t, &mut boxed);
                self.forget(fd);
            }
            None => return false,
        }
        true
    }

    /// Takes a channel out without closing it (asyncore's `del_channel`):
    /// its dispatcher and handler are the caller's again. `None` if `t`
    /// names no channel of these types, or one whose callback is running.
    pub fn remove<L: 'static, H: 'static>(&mut self, t: Token) -> Option<(Dispatcher<L>, H)> {
        match self.channels.get(t)? {
            Slot::Live(boxed) if boxed.as_any().is::<Entry<L, H>>() => {}
            _ => return None,
        }
        let Some(Slot::Live(mut boxed)) = self.channels.remove(t) else { unreachable!() };
        self.leave(t, &mut boxed);
        self.forget(None);
        let any: Box<dyn Any> = boxed;
        let mut entry = any.downcast::<Entry<L, H>>().ok()?;
        // The program's again: a close closes at once.
        entry.disp.in_reactor = false;
        entry.disp.dirty = false;
        Some((entry.disp, entry.handler))
    }

    /// Closes every channel (asyncore's `close_all`); the map is then empty,
    /// but for channels whose callback is running, which close when it returns.
    pub fn close_all(&mut self) {
        let tokens: Vec<Token> = self.channels.iter().map(|(t, _)| t).collect();
        for t in tokens {
            self.close(t);
        }
    }

    /// How many channels there are.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.channels.len() == 0
    }

    /// Whether `t` names a channel that is here (not running a callback).
    pub fn contains(&self, t: Token) -> bool {
        matches!(self.channels.get(t), Some(Slot::Live(_)))
    }

    /// The tokens of all channels, in slot order.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.channels.iter().map(|(t, _)| t)
    }

    /// Ends the loop (asyncore's `raise ExitNow`): no further callback runs
    /// in this iteration, and [`Reactor::run`](crate::Reactor::run) returns `Ok(())`.
    pub fn exit_now(&mut self) {
        self.exit = true;
    }

    /// Whether a callback asked the loop to end (in this iteration).
    pub fn exit_requested(&self) -> bool {
        self.exit
    }

    /// Runs `f` once, on the loop thread, `delay` from now. The loop's
    /// wait is shortened so it runs on time.
    ///
    /// ```
    /// use pollreactor::{LoopOptions, Reactor};
    /// use std::time::Duration;
    /// let mut reactor = Reactor::new();
    /// reactor.context_mut().call_later(Duration::from_millis(5), |ctx| println!("{} channels", ctx.len()));
    /// reactor.run(LoopOptions::default())?; // returns once no channel or timer is left
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&mut Context) + 'static) -> TimerId {
        self.timers.insert(deadline_after(delay), Action::Once(Box::new(f)))
    }

    /// Runs `f` every `interval` (at least 1 ms) until cancelled. Ticks
    /// stay on their schedule (no drift); ticks the loop was too busy for
    /// are skipped, not run in a burst.
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut Context) + 'static) -> TimerId {
        let interval = interval.max(Duration::from_millis(1));
        self.timers.insert(deadline_after(interval), Action::Every(interval, Box::new(f)))
    }

    /// Cancels a timer: false if it already ran (once) or was cancelled.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.timers.cancel(id)
    }

    /// How many timers are pending.
    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// The timer whose action is running now, if one is: a periodic timer
    /// stops itself with `ctx.cancel_timer(ctx.current_timer().unwrap())`.
    ///
    /// ```
    /// use pollreactor::{LoopOptions, Reactor};
    /// use std::time::Duration;
    /// let mut reactor = Reactor::new();
    /// let mut ticks = 0;
    /// reactor.context_mut().call_every(Duration::from_millis(1), move |ctx| {
    ///     ticks += 1;
    ///     if ticks == 3 {
    ///         let me = ctx.current_timer().expect("a timer is running");
    ///         ctx.cancel_timer(me);
    ///     }
    /// });
    /// reactor.run(LoopOptions::default())?; // returns once the timer stopped itself
    /// assert_eq!(reactor.context().pending_timers(), 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_timer(&self) -> Option<TimerId> {
        self.current_timer
    }

    /// Runs `f` on channel `t`'s handler once the running callback (and
    /// the ones it called) has returned: safe from any callback, even one
    /// called by `t` itself, where [`call`](Self::call) would find `t` busy.
    /// Nothing runs if `t` is gone by then, or is not an `H` of layer `L`.
    pub fn defer<L: 'static, H: 'static>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut H, &mut Channel<'_, L>) + 'static,
    ) {
        self.deferred.push(Box::new(move |ctx: &mut Context| {
            ctx.call(t, f);
        }));
    }

    /// Runs the deferred calls, including the ones they defer in turn.
    #[inline]
    pub(crate) fn run_deferred(&mut self) {
        if self.deferred.is_empty() {
            return;
        }
        self.run_deferred_now();
    }

    fn run_deferred_now(&mut self) {
        while !self.deferred.is_empty() {
            for f in std::mem::take(&mut self.deferred) {
                f(self);
            }
        }
    }

    /// Takes a channel out of the map, leaving its slot busy.
    #[inline]
    pub(crate) fn take(&mut self, t: Token) -> Option<Box<dyn AnyChannel>> {
        let slot = self.channels.get_mut(t)?;
        match std::mem::replace(slot, Slot::Busy { close: false }) {
            Slot::Live(boxed) => Some(boxed),
            busy => {
                *slot = busy;
                None
            }
        }
    }

    /// Puts a taken channel back, or frees its slot if it was closed
    /// meanwhile (`fd` is what it had when taken, for the trace).
    #[inline]
    pub(crate) fn restore(&mut self, t: Token, mut boxed: Box<dyn AnyChannel>, fd: Option<RawFd>) {
        if let Some(Slot::Busy { close: true }) = self.channels.get(t) {
            boxed.close();
        }
        if boxed.is_open() {
            if boxed.mark_dirty() {
                self.dirty.push(t);
            }
            if let Some(slot) = self.channels.get_mut(t) {
                *slot = Slot::Live(boxed);
            }
        } else {
            self.channels.remove(t);
            self.leave(t, &mut boxed);
            self.forget(fd);
        }
    }

    /// A channel left the map: its timers are cancelled, and its
    /// registration is to be removed (then its descriptor closes).
    fn leave(&mut self, t: Token, boxed: &mut Box<dyn AnyChannel>) {
        for id in boxed.take_timers() {
            self.timers.cancel(id);
        }
        if let Some(id) = boxed.take_alarm() {
            self.alarms.cancel(id);
        }
        // Outside an iteration nothing can deregister it first: close now.
        let retired = boxed.retire().filter(|_| self.in_iteration);
        self.gone.push((t, retired));
    }

    /// Tells the reactor that channel `t`'s `readable()`/`writable()`
    /// answers may have changed, for reasons its own callbacks did not see
    /// (a flag another channel set, say). Only needed in
    /// [`InterestMode::WhenChanged`](crate::InterestMode::WhenChanged): there
    /// a channel is asked again only after its own callbacks ran or when
    /// told so. A channel whose callback is running is asked again anyway.
    pub fn interest_changed(&mut self, t: Token) {
        if let Some(Slot::Live(boxed)) = self.channels.get_mut(t) {
            if boxed.mark_dirty() {
                self.dirty.push(t);
            }
        }
    }

    /// Notes a channel gone from the map, for the trace.
    fn forget(&mut self, fd: Option<RawFd>) {
        if let Some(trace) = &mut self.trace {
            trace.closed(fd);
        }
    }

    /// The shared read buffer (empty if a read is already using it).
    #[inline]
    pub(crate) fn take_read_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.read_buffer)
    }

    /// Returns the shared read buffer, keeping the larger of the two.
    #[inline]
    pub(crate) fn put_read_buffer(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() >= self.read_buffer.capacity() {
            self.read_buffer = buffer;
        }
    }

    /// Has the channels whose alarm rang asked again.
    fn ring_alarms(&mut self) {
        if self.alarms.len() == 0 {
            return;
        }
        let (now, limit) = (Instant::now(), self.alarms.seq());
        while let Some((_, Action::Once(t))) = self.alarms.pop_due(now, limit) {
            self.interest_changed(t);
        }
    }

    /// The earliest deadline of a timer or an alarm.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        if self.timers.len() == 0 && self.alarms.len() == 0 {
            return None;
        }
        crate::timer::earliest(self.timers.next_deadline(), self.alarms.next_deadline())
    }

    /// Runs the timers due now, in deadline order and then the order they
    /// were set; returns how many ran.
    pub(crate) fn run_due_timers(&mut self) -> usize {
        self.ring_alarms();
        if self.timers.len() == 0 {
            return 0;
        }
        let (now, limit) = (Instant::now(), self.timers.seq());
        let mut fired = 0;
        while let Some((id, action)) = self.timers.pop_due(now, limit) {
            fired += 1;
            self.current_timer = Some(id);
            match action {
                Action::Once(f) => f(self),
                Action::Every(interval, mut f) => {
                    f(self);
                    self.timers.restore(id, Action::Every(interval, f));
                }
            }
            self.current_timer = None;
            if self.exit {
                break;
            }
        }
        fired
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("channels", &self.len()).field("timers", &self.timers.len()).finish()
    }
}

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
        matches!(self.ctx.channels.get(self.token), Some(Slot::Busy { close: true }))
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
