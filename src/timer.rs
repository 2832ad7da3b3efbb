//! Timers: actions that run once after a delay or at every interval, on
//! the loop thread (asyncore users reached for `sched` for this).
//!
//! A binary heap ordered by (deadline, insertion number) says which timer is
//! due next in O(1) and inserts in O(log n); a [`Slab`] of timers by
//! [`TimerId`] makes cancelling O(1): a cancelled timer's heap entry is
//! simply skipped when it comes up. What an action is (a closure over the
//! reactor's [`Context`](crate::Context)) is the context's business: here
//! it is any `O` (run once) or `E` (run every interval).

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::Duration;

use crate::map::{Slab, Token};

/// Names a timer, for [`Context::cancel_timer`](crate::Context::cancel_timer). Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(Token);

/// What a timer runs: once, or again every `interval`.
pub(crate) enum Action<O, E> {
    Once(O),
    Every(Duration, E),
}

struct Timer<O, E> {
    deadline: Nanos,
    /// `None` while a periodic action is out running.
    action: Option<Action<O, E>>,
}

/// A heap entry: (deadline, insertion number, timer).
type Due = Reverse<(Nanos, u64, Token)>;

/// Whether a heap of `entries` for `live` timers (or alarms) is mostly
/// stale entries, worth sweeping: swept then, it stays under twice the live
/// ones plus 64, at O(1) amortised cost per stale entry.
pub(crate) fn mostly_stale(entries: usize, live: usize) -> bool {
    entries > 2 * live + 64
}

/// All pending timers of one reactor.
pub(crate) struct Timers<O, E> {
    heap: BinaryHeap<Due>,
    timers: Slab<Timer<O, E>>,
    next_seq: u64,
}

impl<O, E> Default for Timers<O, E> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), timers: Slab::default(), next_seq: 0 }
    }
}

impl<O, E> Timers<O, E> {
    /// Schedules `action` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Nanos, action: Action<O, E>) -> TimerId {
        let token = self.timers.insert(Timer { deadline, action: Some(action) });
        self.push_due(deadline, token);
        TimerId(token)
    }

    fn push_due(&mut self, deadline: Nanos, token: Token) {
        self.heap.push(Reverse((deadline, self.next_seq, token)));
        self.next_seq += 1;
    }

    /// Cancels a timer; false if it already ran (once) or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        let cancelled = self.timers.remove(id.0).is_some();
        if cancelled && mostly_stale(self.heap.len(), self.timers.len()) {
            self.sweep();
        }
        cancelled
    }

    /// Drops the heap entries of cancelled timers. They are skipped when
    /// they come up, but until then they stay: a server whose connections
    /// each have a five-minute timeout, and come and go, would hold an
    /// entry for every connection of the last five minutes.
    fn sweep(&mut self) {
        let timers = &self.timers;
        self.heap.retain(|&Reverse((deadline, _, token))| {
            timers.get(token).is_some_and(|t| t.deadline == deadline)
        });
    }

    /// How many entries the heap holds, live or cancelled.
    #[cfg(test)]
    pub(crate) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// The earliest deadline of a live timer (cancelled ones are dropped
    /// from the top of the heap on the way).
    pub(crate) fn next_deadline(&mut self) -> Option<Nanos> {
        while let Some(&Reverse((deadline, _, token))) = self.heap.peek() {
            if self.timers.get(token).is_some_and(|t| t.deadline == deadline) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the next timer due at `now` that was scheduled before `seq_limit`
    /// (so a timer that schedules another due at once does not run it in the
    /// same pass). A periodic timer is rescheduled on its own grid, so it
    /// does not drift, skipping ticks the loop was too late for; its action
    /// comes back with [`Timers::restore`].
    pub(crate) fn pop_due(&mut self, now: Nanos, seq_limit: u64) -> Option<(TimerId, Action<O, E>)> {
        loop {
            let &Reverse((deadline, seq, token)) = self.heap.peek()?;
            if deadline > now || seq >= seq_limit {
                return None;
            }
            self.heap.pop();
            let Some(timer) = self.timers.get_mut(token) else { continue };
            if timer.deadline != deadline {
                continue;
            }
            let id = TimerId(token);
            match timer.action.take() {
                Some(Action::Every(interval, f)) => {
                    // Skips the ticks already past, on the same grid.
                    let step = nanos(interval).max(1);
                    let next = match now.checked_sub(deadline) {
                        Some(late) => deadline.saturating_add((late / step + 1).saturating_mul(step)),
                        None => deadline.saturating_add(step),
                    };
                    timer.deadline = next;
                    self.push_due(next, token);
                    return Some((id, Action::Every(interval, f)));
                }
                Some(once) => {
                    self.timers.remove(token);
                    return Some((id, once));
                }
                None => continue,
            }
        }
    }

    /// Puts a periodic timer's action back after it ran (unless it was
    /// cancelled meanwhile).
    pub(crate) fn restore(&mut self, id: TimerId, action: Action<O, E>) {
        if let Some(timer) = self.timers.get_mut(id.0) {
            timer.action = Some(action);
        }
    }

    /// The insertion number the next timer will get.
    pub(crate) fn seq(&self) -> u64 {
        self.next_seq
    }

    /// How many timers are pending.
    pub(crate) fn len(&self) -> usize {
        self.timers.len()
    }
}

impl<O, E> fmt::Debug for Timers<O, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timers({} pending)", self.len())
    }
}

/// The channels' alarms: (deadline, channel) in a heap, and no more; a
/// deadline of the loop clock ([`Nanos`]), 16 bytes an entry. A
/// channel has at most one alarm, which it records itself, so an entry
/// that no longer matches its channel's record (moved earlier since), or
/// whose channel is gone, is stale: the context skips it when it comes up,
/// and sweeps stale ones out when they could be most of the heap. (A
/// [`Timers`] would add a slab entry per alarm, and a cancel per close.)
#[derive(Default)]
pub(crate) struct Alarms {
    heap: BinaryHeap<Reverse<(Nanos, Token)>>,
}

impl Alarms {
    pub(crate) fn push(&mut self, at: Nanos, channel: Token) {
        self.heap.push(Reverse((at, channel)));
    }

    /// The earliest entry, stale or not.
    pub(crate) fn first(&self) -> Option<(Nanos, Token)> {
        self.heap.peek().map(|&Reverse(entry)| entry)
    }

    pub(crate) fn pop_first(&mut self) {
        self.heap.pop();
    }

    /// Keeps the entries `live` says are not stale.
    pub(crate) fn retain(&mut self, mut live: impl FnMut(Nanos, Token) -> bool) {
        self.heap.retain(|&Reverse((at, channel))| live(at, channel));
    }

    /// How many entries there are, stale or not.
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// A reading of the loop's clock: nanoseconds of the system's monotonic
/// clock (`CLOCK_MONOTONIC`). Every deadline in the crate (timers, alarms,
/// timeouts, back-offs) is one: 8 bytes, added to and compared with no
/// conversion. `u64::MAX` is never.
pub(crate) type Nanos = u64;

thread_local! {
    /// While a `poll_once` runs, the time the loop on this thread last read
    /// the clock (as step 1 began, then as the wait ended): what deadlines
    /// and timestamps of traffic use, two clock reads per iteration instead
    /// of one per channel asked and per `recv` and `send`.
    static LOOP_NOW: Cell<Option<Nanos>> = const { Cell::new(None) };
}

/// Reads the clock.
#[inline]
pub(crate) fn read_clock() -> Nanos {
    crate::sys::clock::monotonic_ns()
}

/// Notes the time the loop woke up (`None`: the iteration is over).
#[inline]
pub(crate) fn set_loop_now(now: Option<Nanos>) {
    LOOP_NOW.with(|n| n.set(now));
}

/// The time for a timestamp: the loop's wake-up time inside an iteration
/// (timeouts count seconds; a callback's few microseconds do not matter),
/// the clock itself outside one.
#[inline]
pub(crate) fn now() -> Nanos {
    LOOP_NOW.with(Cell::get).unwrap_or_else(read_clock)
}

/// A duration in nanoseconds; one too long for a `u64` (584 years) is never.
#[inline]
pub(crate) fn nanos(d: Duration) -> Nanos {
    d.as_secs().saturating_mul(1_000_000_000).saturating_add(u64::from(d.subsec_nanos()))
}

/// `now + timeout` as a deadline (never, for a timeout that reaches past
/// the clock's end).
#[inline]
pub(crate) fn deadline_after(now: Nanos, timeout: Duration) -> Nanos {
    now.saturating_add(nanos(timeout))
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Nanos>, b: Option<Nanos>) -> Option<Nanos> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
