//! What the channel map holds: each channel's entry, boxed behind the one
//! trait the reactor calls it through, and a slot's state.

use std::any::Any;
use std::os::fd::RawFd;

use super::Context;
use crate::backend::Ready;
use crate::dispatcher::Dispatcher;
use crate::map::Token;
use crate::socket::Socket;
use crate::timer::{Nanos, TimerId};

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
    /// Closes the socket; no callback runs.
    fn close(&mut self);
    /// Asks the channel what it waits for now: its clock first (a timeout
    /// passed, an accept back-off), then `readable()`/`writable()` (not
    /// asked of a listener to write, nor to read after the end of input or
    /// while its queue is full). Clears its "ask again" mark. `None`: it
    /// is closed.
    fn ask(&mut self) -> Option<Asked>;
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
    /// Back from its callbacks: closes it if `close` (asked through the
    /// context meanwhile); then, if open, marks it to be asked again.
    /// `None`: closed; else whether it was newly marked.
    fn put_back(&mut self, close: bool) -> Option<bool>;
    /// When the alarm for its next deadline rings, in loop-clock
    /// nanoseconds; `None` if it has none (or it rang, or was cleared:
    /// see `Timing::alarm`).
    fn alarm(&self) -> Option<Nanos>;
    /// Records its new alarm (the old one's heap entry is then stale), or
    /// that it rang (`None`).
    fn set_alarm(&mut self, at: Option<std::num::NonZeroU64>);
    /// The descriptor `close` kept open until the reactor deregisters it.
    fn retire(&mut self) -> Option<Socket>;
    /// Registering it failed (select's FD_SETSIZE): `handle_error`.
    fn fail(&mut self, ctx: &mut Context, token: Token, err: std::io::Error);
    /// A timeout had passed when it was asked: announce the close
    /// (`handle_close`, once), unless traffic the wait then brought
    /// restarted the clock.
    fn expire(&mut self, ctx: &mut Context, token: Token);
    /// Its channel timers, to cancel when it leaves the map.
    fn take_timers(&mut self) -> Vec<TimerId>;
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

/// An open channel's answer to "what do you wait for now?".
pub(crate) struct Asked {
    pub(crate) fd: RawFd,
    /// Wake the loop by then (its next deadline, in loop-clock
    /// nanoseconds), if it has one.
    pub(crate) wake: Option<Nanos>,
    /// Its queue crossed a water mark (paced channels may change).
    pub(crate) flipped: bool,
    /// A timeout passed: its close is announced after this iteration's
    /// wait, unless what the wait brings restarts its clock.
    pub(crate) expired: bool,
    /// What the backend is to be told; `None`: the same as last time.
    pub(crate) change: Option<Wants>,
}

/// A channel's new registration: read, write, and whether its reading
/// also waits on another channel's queue (`paced`).
pub(crate) struct Wants {
    pub(crate) read: bool,
    pub(crate) write: bool,
    pub(crate) paced: bool,
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
