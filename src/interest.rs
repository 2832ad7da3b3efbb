//! Step 1 of an iteration: which channels are asked what they wait for,
//! and keeping the backend's registrations equal to their answers.
//!
//! asyncore asked every channel `readable()` and `writable()` at every
//! iteration. [`InterestMode::EveryIteration`] still does; then a loop
//! beside 10,000 idle channels asks 10,000 questions per wait.
//! [`InterestMode::WhenChanged`] asks a channel again only when its answer
//! may have changed: after one of its own callbacks ran (or a closure
//! reached it through `Context::call`), when its alarm rang (a timeout or
//! an accept back-off ended), or when the program said so
//! ([`Context::interest_changed`]). An iteration then costs what the active
//! channels cost. Either way the backend hears only about real changes.

use std::io;
use std::num::NonZeroU64;
use std::os::fd::RawFd;

use crate::backend::{Interest, Poller};
use crate::context::{AnyChannel, Context, Slot, Wants};
use crate::map::Token;
use crate::timer::{Alarms, Nanos};

/// When the reactor asks a channel `readable()` and `writable()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InterestMode {
    /// At every iteration, every channel: asyncore's way, and the default,
    /// since a handler whose answers depend on something its own callbacks
    /// do not see (a flag another channel sets) keeps working unchanged.
    EveryIteration,
    /// Only after the channel's own callbacks ran, when its alarm rang, or
    /// when told with [`Context::interest_changed`]: O(active) iterations.
    WhenChanged,
}

impl Default for InterestMode {
    /// [`EveryIteration`](InterestMode::EveryIteration); a build with
    /// `--cfg pollreactor_when_changed` (CI runs the tests so) makes it
    /// [`WhenChanged`](InterestMode::WhenChanged), to prove that every
    /// scenario holds in the fast mode too.
    fn default() -> InterestMode {
        if cfg!(pollreactor_when_changed) {
            InterestMode::WhenChanged
        } else {
            InterestMode::EveryIteration
        }
    }
}

/// The registration key of the waker's socket, of the signal socket, and
/// the first channel's (channel keys follow their slots).
pub(crate) const WAKER_KEY: u32 = 0;
// Kept without the `signals` feature too, so that keys are the same.
#[cfg_attr(not(feature = "signals"), allow(dead_code))]
pub(crate) const SIGNALS_KEY: u32 = 1;
const FIRST_CHANNEL_KEY: u32 = 2;

/// A channel's registration key.
fn key_of(t: Token) -> u32 {
    FIRST_CHANNEL_KEY + t.slot()
}

/// What step 1 keeps between iterations.
#[derive(Default)]
pub(crate) struct Interests {
    pub(crate) mode: InterestMode,
    /// Paced channels asked in this iteration: registered once every
    /// channel asked has updated its own queue's state.
    paced: Vec<Token>,
    /// A queue crossed one of its water marks in this iteration: every
    /// paced channel's registration may have to change.
    flipped: bool,
    /// Channels found past a timeout in step 1, announced after the wait.
    expired: Vec<Token>,
    failed: Vec<(Token, io::Error)>,
    /// The descriptors asked in this iteration, for the tracer.
    pub(crate) asked: Vec<RawFd>,
    /// The channels being asked again (reused, so nothing is allocated).
    asking: Vec<Token>,
}

impl Interests {
    /// Step 1: removes the registrations of channels that left, asks the
    /// channels the mode says to ask, registers their answers, and notes
    /// those past a timeout (announced after the wait, by
    /// [`Interests::announce_expired`]).
    pub(crate) fn update(&mut self, ctx: &mut Context, poller: &mut Poller) {
        self.asked.clear();
        remove_gone(ctx, poller);
        match self.mode {
            InterestMode::EveryIteration => {
                ctx.dirty.clear();
                for index in 0..ctx.channels.slots() {
                    self.ask_at(ctx, poller, index);
                }
            }
            InterestMode::WhenChanged => {
                std::mem::swap(&mut self.asking, &mut ctx.dirty);
                for i in 0..self.asking.len() {
                    self.ask_at(ctx, poller, self.asking[i].slot() as usize);
                }
                self.asking.clear();
            }
        }
        self.pace(ctx, poller);
        self.announce(ctx);
        remove_gone(ctx, poller);
    }

    /// Asks the channel in slot `index`, if there is one, and registers
    /// its answer (a paced channel's, in [`Interests::pace`]).
    fn ask_at(&mut self, ctx: &mut Context, poller: &mut Poller, index: usize) {
        let Context { channels, alarms, trace, .. } = ctx;
        let Some((t, Slot::Live(channel))) = channels.at_mut(index) else { return };
        let Some(asked) = channel.ask() else { return };
        if asked.expired {
            self.expired.push(t);
        }
        self.flipped |= asked.flipped;
        if trace.is_some() {
            self.asked.push(asked.fd);
        }
        if let Some(at) = asked.wake {
            set_alarm(channel, alarms, t, at);
        }
        let Some(Wants { read, write, paced }) = asked.change else { return };
        if paced {
            self.paced.push(t);
        } else if let Err(err) = poller.set(Interest { key: key_of(t), token: t, fd: asked.fd, read, write })
        {
            self.failed.push((t, err));
        }
    }

    /// Registers the paced channels asked in this iteration: their reading
    /// waits while the channel that paces them has a full queue. When a
    /// queue crossed a water mark, every paced channel is looked at (a
    /// rare event: at most once per crossing, not per iteration).
    fn pace(&mut self, ctx: &mut Context, poller: &mut Poller) {
        let channels = &mut ctx.channels;
        if std::mem::take(&mut self.flipped) {
            let paced = (0..channels.slots()).filter_map(|i| match channels.at_mut(i) {
                Some((t, Slot::Live(channel))) if channel.paced_by().is_some() => Some(t),
                _ => None,
            });
            self.paced.extend(paced);
        }
        for t in self.paced.drain(..) {
            let Some(Slot::Live(channel)) = channels.get(t) else { continue };
            let (Some(pacer), Some(fd)) = (channel.paced_by(), channel.fileno()) else { continue };
            let held = matches!(channels.get(pacer), Some(Slot::Live(p)) if p.throttled());
            let Some(Slot::Live(channel)) = channels.get_mut(t) else { continue };
            let (read, write) = channel.wants();
            if let Err(err) = register(poller, channel, t, fd, read && !held, write) {
                self.failed.push((t, err));
            }
        }
    }

    /// Whether channels past a timeout wait to be announced: the wait then
    /// only collects what is ready, without sleeping.
    pub(crate) fn expiring(&self) -> bool {
        !self.expired.is_empty()
    }

    /// After the wait and its callbacks: runs `handle_close` for the
    /// channels found past a timeout in step 1 whose clock the traffic of
    /// this iteration did not restart. (Announced before the wait, a loop
    /// that came back late would close a channel whose input was waiting.)
    pub(crate) fn announce_expired(&mut self, ctx: &mut Context) {
        if self.expired.is_empty() {
            return;
        }
        for t in std::mem::take(&mut self.expired) {
            ctx.with_taken(t, |boxed, ctx| boxed.expire(ctx, t));
        }
    }

    /// Runs `handle_error` for the channels the backend refused.
    fn announce(&mut self, ctx: &mut Context) {
        if self.failed.is_empty() {
            return;
        }
        for (t, err) in std::mem::take(&mut self.failed) {
            ctx.with_taken(t, |boxed, ctx| boxed.fail(ctx, t, err));
        }
    }
}

/// Tells the backend what a channel waits for now.
fn register(
    poller: &mut Poller,
    channel: &mut Box<dyn AnyChannel>,
    token: Token,
    fd: RawFd,
    read: bool,
    write: bool,
) -> io::Result<()> {
    channel.set_reading(read);
    poller.set(Interest { key: key_of(token), token, fd, read, write })
}

/// Makes sure the channel's alarm rings by `at` (a loop-clock reading):
/// one alarm per channel, moved earlier when needed (the old heap entry
/// goes stale; a later deadline is found when the early alarm rings and
/// the channel is asked again).
fn set_alarm(channel: &mut Box<dyn AnyChannel>, alarms: &mut Alarms, t: Token, at: Nanos) {
    if channel.alarm().is_some_and(|armed| armed <= at) {
        return;
    }
    // Deadlines lie after the clock's first reading, nanosecond 0.
    let at = NonZeroU64::new(at).unwrap_or(NonZeroU64::MIN);
    channel.set_alarm(Some(at));
    alarms.push(at.get(), t);
}

/// Removes the registrations of the channels that left the map, then
/// closes the descriptors they kept open for that.
#[inline]
pub(crate) fn remove_gone(ctx: &mut Context, poller: &mut Poller) {
    if !ctx.gone.is_empty() {
        deregister_gone(ctx, poller);
    }
}

/// The work of [`remove_gone`], out of line: most calls find nothing.
#[inline(never)]
fn deregister_gone(ctx: &mut Context, poller: &mut Poller) {
    for (t, retired) in ctx.gone.drain(..) {
        poller.remove(key_of(t), t);
        drop(retired);
    }
}
