//! A channel's timeouts: no traffic at all (idle), no input, or queued
//! output that does not move (send). Each is announced through
//! `handle_close` with its own [`CloseReason`].

use std::time::{Duration, Instant};

use super::{Clock, CloseReason, Dispatcher};

/// One timeout: how long, and when it was last satisfied.
type Watch = Option<(Duration, Instant)>;

/// The three timeouts a channel may have (none by default).
#[derive(Default)]
pub(crate) struct Timeouts {
    /// No byte moved, in or out.
    idle: Watch,
    /// No byte arrived.
    input: Watch,
    /// Output was queued and no byte of it went out.
    send: Watch,
    /// The earliest deadline when they were last looked at, and whether
    /// output was queued then. Traffic only moves deadlines later, so
    /// while the channel's alarm is armed by this bound, it is enough.
    bound: Option<(Instant, bool)>,
}

/// When a watch expires; a timeout too long for the clock never does.
fn deadline(watch: Watch) -> Option<Instant> {
    watch.and_then(|(timeout, since)| since.checked_add(timeout))
}

/// Restarts a watch's clock, if it has one.
fn touch(watch: &mut Watch, now: Instant) {
    if let Some((_, since)) = watch {
        *since = now;
    }
}

impl<L> Dispatcher<L> {
    /// Closes the channel (announced to `handle_close` with
    /// [`CloseReason::IdleTimeout`]) once no data has moved either way for
    /// `timeout`; `None` (the default) turns it off.
    ///
    /// The reactor shortens its wait to the earliest such deadline. A
    /// `handle_close` that keeps the channel open restarts the clock.
    pub fn set_idle_timeout(&mut self, timeout: Option<Duration>) {
        let timeouts = &mut self.extra_mut().timeouts;
        timeouts.idle = timeout.map(|t| (t, crate::timer::now()));
        timeouts.bound = None;
    }

    /// Closes the channel ([`CloseReason::InputTimeout`]) once nothing has
    /// arrived for `timeout`, whatever it sends meanwhile: a server that
    /// sends heartbeats can still drop a silent client. `None`: off.
    pub fn set_input_timeout(&mut self, timeout: Option<Duration>) {
        let timeouts = &mut self.extra_mut().timeouts;
        timeouts.input = timeout.map(|t| (t, crate::timer::now()));
        timeouts.bound = None;
    }

    /// Closes the channel ([`CloseReason::SendTimeout`]) once output has
    /// waited in its queue for `timeout` without a byte of it going out: a
    /// peer that stopped reading. Only a buffered channel queues output.
    /// `None`: off.
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        let timeouts = &mut self.extra_mut().timeouts;
        timeouts.send = timeout.map(|t| (t, crate::timer::now()));
        timeouts.bound = None;
    }

    /// Notes bytes received, for the idle and input timeouts.
    #[inline]
    pub(crate) fn note_input(&mut self) {
        if let Some(extra) = &mut self.extra {
            let now = crate::timer::now();
            touch(&mut extra.timeouts.idle, now);
            touch(&mut extra.timeouts.input, now);
        }
    }

    /// Notes bytes sent, or output queued behind an empty queue, for the
    /// idle and send timeouts.
    #[inline]
    pub(crate) fn note_output(&mut self) {
        if let Some(extra) = &mut self.extra {
            let now = crate::timer::now();
            touch(&mut extra.timeouts.idle, now);
            touch(&mut extra.timeouts.send, now);
        }
    }

    /// Restarts every clock: after a timeout was announced and the handler
    /// kept the channel open.
    pub(crate) fn restart_timeouts(&mut self) {
        self.note_input();
        self.note_output();
    }

    /// Classifies this channel by the clock (read only for channels that
    /// have a timeout or a back-off; inside an iteration it is the loop's
    /// reading, one for every channel asked). Always inlined: asking a
    /// channel is the hot path, and a second caller (the check after the
    /// wait) would otherwise make it a call.
    #[inline(always)]
    pub(crate) fn clock(&mut self) -> Clock {
        let Some(extra) = &mut self.extra else { return Clock::Wake(None) };
        let now = crate::timer::now();
        if let Some(until) = extra.paused_until {
            if until > now {
                return Clock::Paused(until);
            }
            extra.paused_until = None;
        }
        let sending = !self.out.is_empty();
        if let Some((bound, was_sending)) = extra.timeouts.bound {
            // Nothing can be due before the bound, and the alarm rings by
            // then (once output queues, the send watch counts: look again).
            let armed = extra.alarm.is_some_and(|(at, _)| at > now && at <= bound);
            if armed && bound > now && was_sending == sending {
                return Clock::Wake(None);
            }
        }
        let t = &mut extra.timeouts;
        let watches = [
            (deadline(t.idle), CloseReason::IdleTimeout),
            (deadline(t.input), CloseReason::InputTimeout),
            (deadline(t.send).filter(|_| sending), CloseReason::SendTimeout),
        ];
        let mut next = None;
        for (due, reason) in watches {
            let Some(due) = due else { continue };
            if due <= now {
                return Clock::Expired(reason);
            }
            next = Some(next.map_or(due, |n: Instant| n.min(due)));
        }
        t.bound = next.map(|at| (at, sending));
        Clock::Wake(next)
    }
}
