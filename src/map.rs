//! The channel map's storage: a slab of values by [`Token`].
//!
//! A slab is a vector of slots plus a list of free ones. A value is stored
//! in a free slot (or a new one) and named by a token: the slot's index and
//! its *generation*, which moves on each time the slot is freed. So a token
//! outlives its value harmlessly (it finds nothing, even once the slot holds
//! a newer value), and a look-up is one index and one comparison. The
//! reactor keeps its channels in one slab and its timers in another; what
//! a slot holds, and what happens to it, is their business, not this file's.

use std::fmt;

/// Names one channel of a [`Reactor`](crate::Reactor). A token is never
/// reused for another channel, even when the new one gets the same
/// descriptor number, so a stale token simply finds nothing.
///
/// Tokens order by slot, then generation; they display as `slot.generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token {
    slot: u32,
    generation: u32,
}

impl Token {
    /// A token outside any slab, for the reactor's internal descriptors.
    pub(crate) const fn reserved(n: u32) -> Token {
        Token { slot: u32::MAX - n, generation: 0 }
    }

    /// The slot index: what the channel's registration is keyed by.
    pub(crate) fn slot(self) -> u32 {
        self.slot
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.slot, self.generation)
    }
}

/// Values by [`Token`], with O(1) insert, look-up and removal.
pub(crate) struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its token.
    pub(crate) fn insert(&mut self, value: T) -> Token {
        self.len += 1;
        match self.free.pop() {
            Some(slot) => {
                let (generation, place) = &mut self.slots[slot as usize];
                *place = Some(value);
                Token { slot, generation: *generation }
            }
            None => {
                self.slots.push((0, Some(value)));
                Token { slot: (self.slots.len() - 1) as u32, generation: 0 }
            }
        }
    }

    /// The value `t` names, if it is still there.
    pub(crate) fn get(&self, t: Token) -> Option<&T> {
        match self.slots.get(t.slot as usize) {
            Some((generation, value)) if *generation == t.generation => value.as_ref(),
            _ => None,
        }
    }

    /// The value `t` names, if it is still there.
    pub(crate) fn get_mut(&mut self, t: Token) -> Option<&mut T> {
        match self.slots.get_mut(t.slot as usize) {
            Some((generation, value)) if *generation == t.generation => value.as_mut(),
            _ => None,
        }
    }

    /// Takes the value out and frees its slot: `t` and every copy of it
    /// stop matching.
    pub(crate) fn remove(&mut self, t: Token) -> Option<T> {
        let (generation, place) = self.slots.get_mut(t.slot as usize)?;
        if *generation != t.generation {
            return None;
        }
        let value = place.take()?;
        *generation = generation.wrapping_add(1);
        self.free.push(t.slot);
        self.len -= 1;
        Some(value)
    }

    /// How many values are stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many slots there are, used or free: the range of [`Slab::at_mut`].
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The token and value in slot `index`, if it is in use.
    pub(crate) fn at_mut(&mut self, index: usize) -> Option<(Token, &mut T)> {
        let (generation, value) = self.slots.get_mut(index)?;
        let token = Token { slot: index as u32, generation: *generation };
        value.as_mut().map(|v| (token, v))
    }

    /// Every stored value and its token, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Token, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, (generation, value))| {
            value.as_ref().map(|v| (Token { slot: i as u32, generation: *generation }, v))
        })
    }
}
