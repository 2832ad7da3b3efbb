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
        self.extra_mut().timeouts.idle = timeout.map(|t| (t, Instant::now()));
    }

    /// Closes the channel ([`CloseReason::InputTimeout`]) once nothing has
    /// arrived for `timeout`, whatever it sends meanwhile: a server that
    /// sends heartbeats can still drop a silent client. `None`: off.
    pub fn set_input_timeout(&mut self, timeout: Option<Duration>) {
        self.extra_mut().timeouts.input = timeout.map(|t| (t, Instant::now()));
    }

    /// Closes the channel ([`CloseReason::SendTimeout`]) once output has
    /// waited in its queue for `timeout` without a byte of it going out: a
    /// peer that stopped reading. Only a buffered channel queues output.
    /// `None`: off.
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        self.extra_mut().timeouts.send = timeout.map(|t| (t, Instant::now()));
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

    /// Reads the clock (only for channels that have a timeout or a
    /// back-off; `now` is read once per iteration) to classify this channel.
    #[inline]
    pub(crate) fn clock(&mut self, now: &mut Option<Instant>) -> Clock {
        let Some(extra) = &mut self.extra else { return Clock::Wake(None) };
        if let Some(until) = extra.paused_until {
            if until > *now.get_or_insert_with(crate::timer::now) {
                return Clock::Paused(until);
            }
            extra.paused_until = None;
        }
        let t = &extra.timeouts;
        let sending = !self.out.is_empty();
        let watches = [
            (deadline(t.idle), CloseReason::IdleTimeout),
            (deadline(t.input), CloseReason::InputTimeout),
            (deadline(t.send).filter(|_| sending), CloseReason::SendTimeout),
        ];
        let mut next = None;
        for (due, reason) in watches {
            let Some(due) = due else { continue };
            if due <= *now.get_or_insert_with(crate::timer::now) {
                return Clock::Expired(reason);
            }
            next = Some(next.map_or(due, |n: Instant| n.min(due)));
        }
        Clock::Wake(next)
    }
}
