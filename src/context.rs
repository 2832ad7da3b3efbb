//! [`Context`]: the reactor state every callback can reach (the channel
//! map, timers, the exit flag), and [`Channel`]: one channel as its own
//! callbacks see it.

use std::any::Any;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use crate::dispatch::settle;
use crate::timer::{deadline_after, Action, Timers};
use crate::trace::Trace;
use crate::{Dispatcher, Handler, TimerId};

/// Names one channel of a [`Reactor`](crate::Reactor). A token is never
/// reused for another channel, even when the new one gets the same
/// descriptor number, so a stale token simply finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// A channel: its dispatcher and the handler that owns its callbacks.
pub(crate) struct Entry {
    pub(crate) disp: Dispatcher,
    pub(crate) handler: Box<dyn Handler>,
}

/// One place in the channel map.
pub(crate) enum Slot {
    Free,
    /// Taken out while one of its callbacks runs; `close` records a
    /// `close_channel` asked for meanwhile (by a channel it called).
    Busy {
        close: bool,
    },
    Live(Entry),
}

/// What callbacks can reach of their reactor: the channel map (asyncore's
/// `socket_map`), the timers, and the exit flag.
///
/// Channel callbacks reach it through [`Channel`] (which forwards the common
/// calls, and gives the rest with [`Channel::context`]); timer closures and
/// posted closures are handed it directly; a [`Reactor`](crate::Reactor)
/// dereferences to it between iterations.
///
/// The map is a slab: slots indexed by [`Token`], each with a generation,
/// so a token outlives its channel harmlessly and look-up is O(1).
#[derive(Default)]
pub struct Context {
    pub(crate) slots: Vec<(u32, Slot)>,
    free: Vec<u32>,
    live: usize,
    pub(crate) exit: bool,
    pub(crate) timers: Timers,
    pub(crate) trace: Option<Trace>,
    /// The read buffer chat channels share (see `chat::handle_read`).
    read_buffer: Vec<u8>,
    /// Confine a panicking callback to its channel's `handle_error`.
    pub(crate) catch_panics: bool,
}

impl Context {
    /// Adds a channel; it is polled from the next loop iteration on. If the
    /// dispatcher's `connect` already completed, `handle_connect` runs
    /// before this returns.
    pub fn add<H: Handler>(&mut self, disp: Dispatcher, handler: H) -> io::Result<Token> {
        if !disp.is_open() {
            let message = "cannot add a closed dispatcher";
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        let (connect_done, fd) = (disp.pending.connect, disp.fileno());
        let entry = Entry { disp, handler: Box::new(handler) };
        let token = match self.free.pop() {
            Some(slot) => {
                let (generation, place) = &mut self.slots[slot as usize];
                *place = Slot::Live(entry);
                Token { slot, generation: *generation }
            }
            None => {
                self.slots.push((0, Slot::Live(entry)));
                Token { slot: (self.slots.len() - 1) as u32, generation: 0 }
            }
        };
        self.live += 1;
        if let Some(trace) = &mut self.trace {
            trace.added(fd);
        }
        if connect_done {
            // connect() finished before the channel had a handler: its
            // handle_connect runs now, before any other callback.
            self.call(token, |_, _| ());
        }
        Ok(token)
    }

    fn slot(&self, t: Token) -> Option<&Slot> {
        match self.slots.get(t.slot as usize) {
            Some((generation, slot)) if *generation == t.generation => Some(slot),
            _ => None,
        }
    }

    fn slot_mut(&mut self, t: Token) -> Option<&mut Slot> {
        match self.slots.get_mut(t.slot as usize) {
            Some((generation, slot)) if *generation == t.generation => Some(slot),
            _ => None,
        }
    }

    fn entry(&self, t: Token) -> Option<&Entry> {
        match self.slot(t) {
            Some(Slot::Live(e)) => Some(e),
            _ => None,
        }
    }

    /// Frees a slot: its generation moves on, so old tokens stop matching.
    fn free_slot(&mut self, t: Token, fd: Option<i32>) {
        let (generation, slot) = &mut self.slots[t.slot as usize];
        *generation = generation.wrapping_add(1);
        *slot = Slot::Free;
        self.free.push(t.slot);
        self.live -= 1;
        if let Some(trace) = &mut self.trace {
            trace.closed(fd);
        }
    }

    /// Takes a channel out of the map, leaving its slot busy.
    fn take(&mut self, t: Token) -> Option<Entry> {
        let slot = self.slot_mut(t)?;
        match std::mem::replace(slot, Slot::Busy { close: false }) {
            Slot::Live(e) => Some(e),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Puts a taken channel back, or forgets it if it was closed meanwhile.
    fn restore(&mut self, t: Token, mut entry: Entry, fd: Option<i32>) {
        if let Some(Slot::Busy { close: true }) = self.slot(t) {
            entry.disp.close();
        }
        if entry.disp.is_open() {
            self.slots[t.slot as usize].1 = Slot::Live(entry);
        } else {
            self.free_slot(t, fd);
        }
    }

    /// Runs `f` with a channel's handler and a [`Channel`] view of it, then
    /// the callbacks that `f` left due (`handle_connect` for a connect that
    /// completed, `handle_close` after a `recv` that saw the end of file).
    /// `None` if `t` names no channel, or one whose callback is running.
    pub fn call<R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> R,
    ) -> Option<R> {
        let mut entry = self.take(t)?;
        let fd = entry.disp.fileno();
        let mut ch = Channel { token: t, disp: &mut entry.disp, ctx: self };
        let result = f(&mut *entry.handler, &mut ch);
        settle(&mut *entry.handler, &mut ch);
        self.restore(t, entry, fd);
        Some(result)
    }

    /// Closes a channel without calling its handler, as calling asyncore's
    /// `close()` on another dispatcher did: it gets no further callbacks.
    /// False if there was no such channel.
    pub fn close_channel(&mut self, t: Token) -> bool {
        match self.slot_mut(t) {
            Some(Slot::Busy { close }) => *close = true,
            Some(Slot::Live(_)) => {
                let entry = self.take(t).expect("live");
                self.free_slot(t, entry.disp.fileno());
            }
            _ => return false,
        }
        true
    }

    /// Takes a channel out without closing it (asyncore's `del_channel`):
    /// the socket is the caller's again. `None` while its callback runs.
    pub fn remove(&mut self, t: Token) -> Option<(Dispatcher, Box<dyn Handler>)> {
        let entry = self.take(t)?;
        self.free_slot(t, None);
        Some((entry.disp, entry.handler))
    }

    /// Closes every channel (asyncore's `close_all`); the map is then empty,
    /// but for channels whose callback is running, which close when it returns.
    pub fn close_all(&mut self) {
        for t in self.tokens().collect::<Vec<_>>() {
            self.close_channel(t);
        }
        for (_, slot) in &mut self.slots {
            if let Slot::Busy { close } = slot {
                *close = true;
            }
        }
    }

    /// How many channels there are.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Whether `t` names a channel that is here (not running a callback).
    pub fn contains(&self, t: Token) -> bool {
        self.entry(t).is_some()
    }

    /// The tokens of all channels.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, (generation, slot))| match slot {
            Slot::Live(_) => Some(Token { slot: i as u32, generation: *generation }),
            _ => None,
        })
    }

    /// A channel's dispatcher.
    pub fn dispatcher(&self, t: Token) -> Option<&Dispatcher> {
        self.entry(t).map(|e| &e.disp)
    }

    /// A channel's handler, if it is an `H`.
    pub fn handler<H: Handler>(&self, t: Token) -> Option<&H> {
        let any: &dyn Any = &*self.entry(t)?.handler;
        any.downcast_ref()
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
    /// reactor.call_later(Duration::from_millis(5), |ctx| println!("{} channels", ctx.len()));
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

    /// The shared read buffer (empty if a read is already using it).
    pub(crate) fn take_read_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.read_buffer)
    }

    /// Returns the shared read buffer, keeping the larger of the two.
    pub(crate) fn put_read_buffer(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() >= self.read_buffer.capacity() {
            self.read_buffer = buffer;
        }
    }

    /// Runs the timers due now, in deadline order and then the order they
    /// were set; returns how many ran.
    pub(crate) fn run_due_timers(&mut self) -> usize {
        if self.timers.len() == 0 {
            return 0;
        }
        let (now, limit) = (Instant::now(), self.timers.seq());
        let mut fired = 0;
        while let Some((id, action)) = self.timers.pop_due(now, limit) {
            fired += 1;
            match action {
                Action::Once(f) => f(self),
                Action::Every(interval, mut f) => {
                    f(self);
                    self.timers.restore(id, Action::Every(interval, f));
                }
            }
            if self.exit {
                break;
            }
        }
        fired
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("channels", &self.live).field("timers", &self.timers.len()).finish()
    }
}

/// A channel as its callbacks see it: the channel's [`Dispatcher`] (through
/// `Deref`, so `ch.recv(..)`, `ch.send(..)`, `ch.close()` work directly)
/// plus the rest of the reactor: adding channels, closing or calling
/// others, timers, and ending the loop ([`context`](Self::context) has it all).
pub struct Channel<'a> {
    token: Token,
    disp: &'a mut Dispatcher,
    ctx: &'a mut Context,
}

impl Channel<'_> {
    /// This channel's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// The reactor's state: other channels, timers, the exit flag.
    pub fn context(&mut self) -> &mut Context {
        self.ctx
    }

    /// Adds a channel (an accepted connection, a new client). It is polled
    /// from the next loop iteration on.
    pub fn add<H: Handler>(&mut self, disp: Dispatcher, handler: H) -> io::Result<Token> {
        self.ctx.add(disp, handler)
    }

    /// Closes another channel (or this one) without calling its handler. It
    /// gets no further callbacks. False if there was no such channel.
    pub fn close_channel(&mut self, t: Token) -> bool {
        if t == self.token {
            self.disp.close();
            return true;
        }
        self.ctx.close_channel(t)
    }

    /// Runs `f` on another channel's handler and dispatcher, for example to
    /// queue output on it. `None` if `t` names no channel, or names this
    /// one or one whose callback is already running.
    pub fn call<R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> R,
    ) -> Option<R> {
        self.ctx.call(t, f)
    }

    /// Another channel's dispatcher, to look at.
    pub fn dispatcher(&self, t: Token) -> Option<&Dispatcher> {
        self.ctx.dispatcher(t)
    }

    /// How many channels the reactor holds.
    pub fn channel_count(&self) -> usize {
        self.ctx.len()
    }

    /// Ends the loop (asyncore's `raise ExitNow`): no further callback runs
    /// in this iteration, and [`Reactor::run`](crate::Reactor::run) returns `Ok(())`.
    pub fn exit_now(&mut self) {
        self.ctx.exit_now();
    }

    /// Whether a callback asked the loop to end.
    pub fn exit_requested(&self) -> bool {
        self.ctx.exit
    }

    /// Runs `f` once, `delay` from now (see [`Context::call_later`]).
    pub fn call_later(&mut self, delay: Duration, f: impl FnOnce(&mut Context) + 'static) -> TimerId {
        self.ctx.call_later(delay, f)
    }

    /// Runs `f` every `interval` (see [`Context::call_every`]).
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut Context) + 'static) -> TimerId {
        self.ctx.call_every(interval, f)
    }

    /// Cancels a timer.
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        self.ctx.cancel_timer(id)
    }

    /// Records a callback in the trace, if tracing is on.
    pub(crate) fn trace_callback(&mut self, name: &'static str) {
        if let Some(trace) = &mut self.ctx.trace {
            trace.callback(self.disp.fileno(), name);
        }
    }
}

impl Deref for Channel<'_> {
    type Target = Dispatcher;
    fn deref(&self) -> &Dispatcher {
        self.disp
    }
}

impl DerefMut for Channel<'_> {
    fn deref_mut(&mut self) -> &mut Dispatcher {
        self.disp
    }
}

impl fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.disp.fmt(f)
    }
}
