//! Flow control: a channel whose output queue is over its high-water mark
//! is not read until the queue drains to its low-water mark, so a peer
//! that never reads cannot make the process queue without bound (asyncio's
//! transports do the same; asyncore never did). A channel can also pace
//! its reading by another channel's queue, as a forwarder must.

use super::{Dispatcher, Flags};
use crate::map::Token;

/// The default high-water mark of an output queue: 64 KiB, as asyncio.
pub const HIGH_WATER: usize = 64 * 1024;

/// The default low-water mark of an output queue: 16 KiB, as asyncio.
pub const LOW_WATER: usize = 16 * 1024;

impl<L> Dispatcher<L> {
    /// Sets the output queue's water marks: above `high` bytes queued the
    /// channel stops being read, and it is read again once the queue is at
    /// or below `low` (`low` is capped at `high`). Defaults:
    /// [`HIGH_WATER`], [`LOW_WATER`].
    pub fn set_water_marks(&mut self, high: usize, low: usize) {
        self.extra_mut().marks = (high, low.min(high));
    }

    /// The output queue's (high, low) water marks.
    #[inline]
    pub fn water_marks(&self) -> (usize, usize) {
        self.extra.as_ref().map_or((HIGH_WATER, LOW_WATER), |e| e.marks)
    }

    /// Reads this channel only while the channel `other` is not throttled
    /// (its output queue over its high-water mark): a forwarder that reads
    /// here and queues there stops reading when the far side stops taking
    /// data, and resumes when it drains. `None` undoes it. A paced channel
    /// is held by `other`'s queue instead of its own: what it reads goes
    /// there.
    pub fn pace_reading_by(&mut self, other: Option<Token>) {
        self.extra_mut().paced_by = other;
    }

    /// The channel whose queue paces this one's reading.
    #[inline]
    pub(crate) fn paced_by(&self) -> Option<Token> {
        self.extra.as_ref().and_then(|e| e.paced_by)
    }

    /// Whether the output queue is over its high-water mark (and has not
    /// drained to its low-water mark since): updated once per iteration.
    #[inline]
    pub fn throttled(&self) -> bool {
        self.flags.has(Flags::THROTTLED)
    }

    /// Moves the throttle with the queue: on above the high mark, off at or
    /// below the low mark, unchanged between them.
    #[inline]
    pub(crate) fn update_throttle(&mut self) -> bool {
        let (high, low) = self.water_marks();
        let queued = self.out.byte_len();
        if queued > high {
            self.flags.set(Flags::THROTTLED, true);
        } else if queued <= low {
            self.flags.set(Flags::THROTTLED, false);
        }
        self.flags.has(Flags::THROTTLED)
    }
}
