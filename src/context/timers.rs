//! The context's timers, the channels' alarms, and deferred calls: what
//! runs at step 4 of an iteration (and after each callback, for deferred
//! calls).

use std::time::Duration;

use super::{Channel, Context, Slot};
use crate::map::{Slab, Token};
use crate::timer::{deadline_after, mostly_stale, read_clock, Action, Nanos, TimerId};

impl Context {
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
        self.timers.insert(deadline_after(read_clock(), delay), Action::Once(Box::new(f)))
    }

    /// Runs `f` every `interval` (at least 1 ms) until cancelled. Ticks
    /// stay on their schedule (no drift); ticks the loop was too busy for
    /// are skipped, not run in a burst.
    pub fn call_every(&mut self, interval: Duration, f: impl FnMut(&mut Context) + 'static) -> TimerId {
        let interval = interval.max(Duration::from_millis(1));
        self.timers.insert(deadline_after(read_clock(), interval), Action::Every(interval, Box::new(f)))
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

    /// Has the channels whose alarm rang asked again. Stale alarms go
    /// first, if they could be most of them.
    fn ring_alarms(&mut self) {
        if self.alarms.len() == 0 {
            return;
        }
        let Context { alarms, channels, .. } = self;
        // Each channel has at most one live alarm.
        if mostly_stale(alarms.len(), channels.len()) {
            alarms.retain(|at, t| alarm_is(channels, t, at));
        }
        // The loop's reading after the wait: alarms are for timeouts,
        // which count seconds.
        let now = crate::timer::now();
        while let Some((at, t)) = self.alarms.first().filter(|&(at, _)| at <= now) {
            self.alarms.pop_first();
            // No channel is out running callbacks here, between the
            // iteration's steps: a live alarm's channel is in its slot.
            let Some(Slot::Live(channel)) = self.channels.get_mut(t) else { continue };
            if channel.alarm() == Some(at) {
                channel.set_alarm(None);
                self.interest_changed(t);
            }
        }
    }

    /// The earliest deadline of a timer or an alarm.
    pub(crate) fn next_deadline(&mut self) -> Option<Nanos> {
        if self.timers.len() == 0 && self.alarms.len() == 0 {
            return None;
        }
        crate::timer::earliest(self.timers.next_deadline(), self.next_alarm())
    }

    /// The earliest live alarm (stale ones at the front are dropped).
    fn next_alarm(&mut self) -> Option<Nanos> {
        while let Some((at, t)) = self.alarms.first() {
            if alarm_is(&self.channels, t, at) {
                return Some(at);
            }
            self.alarms.pop_first();
        }
        None
    }

    /// Runs the timers due now, in deadline order and then the order they
    /// were set; returns how many ran.
    pub(crate) fn run_due_timers(&mut self) -> usize {
        self.ring_alarms();
        if self.timers.len() == 0 {
            return 0;
        }
        let (now, limit) = (read_clock(), self.timers.seq());
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

/// Whether channel `t`'s alarm is the one at `at` (a channel out running
/// its callbacks cannot be looked at: its alarms count as live).
fn alarm_is(channels: &Slab<Slot>, t: Token, at: Nanos) -> bool {
    match channels.get(t) {
        Some(Slot::Live(channel)) => channel.alarm() == Some(at),
        Some(Slot::Busy { .. }) => true,
        None => false,
    }
}
