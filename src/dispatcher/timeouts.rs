//! A channel's timeouts: no traffic at all (idle), no input, or queued
//! output that does not move (send). Each is announced through
//! `handle_close` with its own [`CloseReason`].
//!
//! They live out of line, in a [`Timing`] that only channels with a
//! timeout (or a listener in its accept back-off, whose end is kept in
//! `Extra`) have, with the alarm that wakes the loop for them. Its
//! timestamps are readings of the loop clock (`timer::Nanos`), 8 bytes
//! each instead of an `Instant`'s 16: a server holding 10,000 connections
//! with timeouts holds 10,000 of these.

use std::num::NonZeroU64;
use std::time::Duration;

use super::{Clock, CloseReason, Dispatcher, Flags};
use crate::timer::{self, Nanos};

/// One timeout: how long (`u64::MAX`: off, or too long for the clock to
/// reach, which is the same), and when its clock last restarted.
#[derive(Clone, Copy)]
struct Watch {
    timeout: u64,
    since: u64,
}

impl Watch {
    const OFF: Watch = Watch { timeout: u64::MAX, since: 0 };

    fn new(timeout: Option<Duration>) -> Watch {
        match timeout {
            Some(t) => Watch { timeout: timer::nanos(t), since: timer::now() },
            None => Watch::OFF,
        }
    }

    /// When it expires; never for one that is off.
    fn deadline(self) -> Option<u64> {
        match self.timeout {
            u64::MAX => None,
            timeout => self.since.checked_add(timeout),
        }
    }
}

/// What few channels have: timeouts, and the alarm that wakes the loop
/// for them (or for a listener's accept back-off to end). 56 bytes, the
/// 64-byte malloc block: every connection of a server with timeouts has one.
pub(crate) struct Timing {
    /// No byte moved, in or out.
    idle: Watch,
    /// No byte arrived.
    input: Watch,
    /// Output was queued and no byte of it went out.
    send: Watch,
    /// When the alarm that wakes the reactor for the next deadline rings
    /// (a loop-clock reading, as the alarm heap's entry for it). `None`
    /// before the deadlines were first looked at, and once it rang, a
    /// timeout was set or passed, or the channel joined a reactor: so while
    /// it is set, a live heap entry rings it.
    pub(crate) alarm: Option<NonZeroU64>,
}

// The 64-byte malloc block holds 56 bytes: one field more doubles no
// server's memory, but it costs every timed connection 16 bytes.
const _: () = assert!(std::mem::size_of::<Timing>() <= 56);

impl Default for Timing {
    fn default() -> Timing {
        Timing { idle: Watch::OFF, input: Watch::OFF, send: Watch::OFF, alarm: None }
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
        if let Some(t) = self.timing_for(timeout) {
            t.idle = Watch::new(timeout);
        }
    }

    /// Closes the channel ([`CloseReason::InputTimeout`]) once nothing has
    /// arrived for `timeout`, whatever it sends meanwhile: a server that
    /// sends heartbeats can still drop a silent client. `None`: off.
    pub fn set_input_timeout(&mut self, timeout: Option<Duration>) {
        if let Some(t) = self.timing_for(timeout) {
            t.input = Watch::new(timeout);
        }
    }

    /// Closes the channel ([`CloseReason::SendTimeout`]) once output has
    /// waited in its queue for `timeout` without a byte of it going out: a
    /// peer that stopped reading. Only a buffered channel queues output.
    /// `None`: off.
    pub fn set_send_timeout(&mut self, timeout: Option<Duration>) {
        if let Some(t) = self.timing_for(timeout) {
            t.send = Watch::new(timeout);
        }
    }

    /// The timing to set a timeout in, made for one that is on; for one
    /// turned off, only if it exists (off is what a missing one means).
    /// Its alarm is forgotten: a deadline may have moved earlier.
    fn timing_for(&mut self, timeout: Option<Duration>) -> Option<&mut Timing> {
        let timing = match timeout {
            Some(_) => Some(self.timing_mut()),
            None => self.timing.as_deref_mut(),
        }?;
        timing.alarm = None;
        Some(timing)
    }

    /// The timing, made on first use.
    pub(crate) fn timing_mut(&mut self) -> &mut Timing {
        self.timing.get_or_insert_with(Box::default)
    }

    /// A listener's accept back-off: when it ends, if it has not (kept
    /// with the rarer state in `Extra`: listeners are few).
    #[inline(always)]
    fn paused_until(&mut self) -> Option<Nanos> {
        let extra = self.extra.as_mut()?;
        match extra.paused_until {
            Some(until) if until > timer::now() => Some(until),
            Some(_) => {
                extra.paused_until = None;
                None
            }
            None => None,
        }
    }

    /// Notes bytes received, for the idle and input timeouts.
    #[inline]
    pub(crate) fn note_input(&mut self) {
        if let Some(t) = &mut self.timing {
            let now = timer::now();
            t.idle.since = now;
            t.input.since = now;
        }
    }

    /// Notes bytes sent, or output queued behind an empty queue, for the
    /// idle and send timeouts.
    #[inline]
    pub(crate) fn note_output(&mut self) {
        if let Some(t) = &mut self.timing {
            let now = timer::now();
            t.idle.since = now;
            t.send.since = now;
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
    /// channel is the hot path.
    ///
    /// The alarm it asks for (`Wake(Some(..))`) must be set: while it is,
    /// later looks trust it without reading the clock.
    #[inline(always)]
    pub(crate) fn clock(&mut self) -> Clock {
        if let Some(until) = self.paused_until() {
            return Clock::Paused(until);
        }
        let Some(t) = &self.timing else { return Clock::Wake(None) };
        let sending = !self.out.is_empty();
        // Traffic only moves deadlines later: the alarm set at the last look
        // still rings in time (it is cleared when it rings, when a timeout
        // is set, and when a timeout passes), unless output has queued
        // since, which makes the send timeout count. Most asks end here,
        // without the clock.
        if t.alarm.is_some() && self.flags.has(Flags::ALARM_SENDING) == sending {
            return Clock::Wake(None);
        }
        match self.due() {
            Ok(next) => {
                self.flags.set(Flags::ALARM_SENDING, sending);
                Clock::Wake(next)
            }
            Err(_) => {
                // Looked at again, in full, until the close is announced
                // (or traffic restarts the clock).
                if let Some(t) = &mut self.timing {
                    t.alarm = None;
                }
                Clock::Expired
            }
        }
    }

    /// Which of the timeouts that count now has passed (`Err`, its reason;
    /// the first of idle, input, send), or else the earliest deadline (none
    /// if none counts). Changes nothing: the check after the wait uses it
    /// as it is.
    pub(crate) fn due(&self) -> Result<Option<Nanos>, CloseReason> {
        let Some(t) = &self.timing else { return Ok(None) };
        let sending = !self.out.is_empty();
        let watches = [
            (t.idle.deadline(), CloseReason::IdleTimeout),
            (t.input.deadline(), CloseReason::InputTimeout),
            (t.send.deadline().filter(|_| sending), CloseReason::SendTimeout),
        ];
        let Some(next) = watches.iter().filter_map(|&(due, _)| due).min() else {
            return Ok(None);
        };
        let now = timer::now();
        for (due, reason) in watches {
            if due.is_some_and(|due| due <= now) {
                return Err(reason);
            }
        }
        Ok(Some(next))
    }
}
