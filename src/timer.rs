//! Timers: closures that run once after a delay or at every interval, on
//! the loop thread (asyncore users reached for `sched` for this).
//!
//! A binary heap ordered by (deadline, insertion number) says which timer is
//! due next in O(1) and inserts in O(log n); a slab of entries indexed by
//! [`TimerId`] makes cancelling O(1): a cancelled timer's heap entry is
//! simply skipped when it comes up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

pub(crate) use crate::sys::deadline_after;
use crate::Context;

/// Names a timer, for [`Context::cancel_timer`]. Never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    generation: u32,
}

/// What a timer runs: once, or again every `interval`.
pub(crate) enum Action {
    Once(Box<dyn FnOnce(&mut Context)>),
    Every(Duration, Box<dyn FnMut(&mut Context)>),
}

struct Timer {
    deadline: Instant,
    action: Action,
}

/// A heap entry: (deadline, insertion number, slot, generation).
type Due = Reverse<(Instant, u64, u32, u32)>;

/// All pending timers of one reactor.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Due>,
    slots: Vec<(u32, Option<Timer>)>,
    free: Vec<u32>,
    next_seq: u64,
    live: usize,
}

impl Timers {
    /// Schedules `action` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, action: Action) -> TimerId {
        let timer = Timer { deadline, action };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize].1 = Some(timer);
                slot
            }
            None => {
                self.slots.push((0, Some(timer)));
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.slots[slot as usize].0;
        self.push_due(deadline, slot, generation);
        self.live += 1;
        TimerId { slot, generation }
    }

    fn push_due(&mut self, deadline: Instant, slot: u32, generation: u32) {
        self.heap.push(Reverse((deadline, self.next_seq, slot, generation)));
        self.next_seq += 1;
    }

    /// Cancels a timer; false if it already ran (once) or was cancelled.
    pub(crate) fn cancel(&mut self, id: TimerId) -> bool {
        if !self.is_live(id.slot, id.generation) {
            return false;
        }
        self.cancel_slot(id.slot);
        true
    }

    /// The earliest deadline of a live timer (cancelled ones are dropped
    /// from the top of the heap on the way).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, _, slot, generation))) = self.heap.peek() {
            if self.is_live(slot, generation) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    fn is_live(&self, slot: u32, generation: u32) -> bool {
        matches!(self.slots.get(slot as usize), Some((g, Some(_))) if *g == generation)
    }

    /// Takes the next timer due at `now` that was scheduled before `seq_limit`
    /// (so a timer that schedules another due at once does not run it in the
    /// same pass). A periodic timer is rescheduled on its own grid, so it
    /// does not drift, skipping ticks the loop was too late for.
    pub(crate) fn pop_due(&mut self, now: Instant, seq_limit: u64) -> Option<(TimerId, Action)> {
        loop {
            let &Reverse((deadline, seq, slot, generation)) = self.heap.peek()?;
            if deadline > now || seq >= seq_limit {
                return None;
            }
            self.heap.pop();
            if !self.is_live(slot, generation) {
                continue;
            }
            let id = TimerId { slot, generation };
            let timer = self.slots[slot as usize].1.take().expect("live");
            if let Action::Every(interval, _) = &timer.action {
                let mut next = timer.deadline + *interval;
                while next <= now {
                    next += *interval;
                }
                self.slots[slot as usize].1 =
                    Some(Timer { deadline: next, action: Action::Once(Box::new(|_| {})) });
                self.push_due(next, slot, generation);
                return Some((id, timer.action));
            }
            self.cancel_slot(slot);
            return Some((id, timer.action));
        }
    }

    /// Puts a periodic timer's closure back after it ran (unless it was
    /// cancelled meanwhile).
    pub(crate) fn restore(&mut self, id: TimerId, action: Action) {
        if let Some((generation, Some(timer))) = self.slots.get_mut(id.slot as usize) {
            if *generation == id.generation {
                timer.action = action;
            }
        }
    }

    fn cancel_slot(&mut self, slot: u32) {
        let (generation, timer) = &mut self.slots[slot as usize];
        *timer = None;
        *generation = generation.wrapping_add(1);
        self.free.push(slot);
        self.live -= 1;
    }

    /// The insertion number the next timer will get.
    pub(crate) fn seq(&self) -> u64 {
        self.next_seq
    }

    /// How many timers are pending.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timers({} pending)", self.live)
    }
}
