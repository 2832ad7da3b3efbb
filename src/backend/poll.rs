//! The poll(2) backend: one `pollfd` per registration, in an array that
//! is kept between waits and changed in place. The kernel scans it all at
//! every wait; we scan it for the `revents` it set only until all are
//! found, with the ready entries moved to the front.

use std::io;
use std::time::Duration;

use super::{millis, Event, Interest, Ready, Registry};
use crate::sys::poll::poll;

/// Where a key has no `pollfd`.
const NONE: u32 = u32::MAX;

/// The `pollfd` array, the key of each entry, and each key's entry.
#[derive(Default)]
pub(super) struct State {
    pollfds: Vec<libc::pollfd>,
    keys: Vec<u32>,
    /// `pollfds` index by key (`NONE`: not registered).
    index: Vec<u32>,
}

impl Registry for State {
    fn set(&mut self, interest: &Interest) -> io::Result<()> {
        let key = interest.key as usize;
        if self.index.len() <= key {
            self.index.resize(key + 1, NONE);
        }
        let pollfd = libc::pollfd { fd: interest.fd, events: events_of(interest), revents: 0 };
        match self.index[key] {
            NONE => {
                self.index[key] = self.pollfds.len() as u32;
                self.pollfds.push(pollfd);
                self.keys.push(interest.key);
            }
            i => self.pollfds[i as usize] = pollfd,
        }
        Ok(())
    }

    fn remove(&mut self, interest: &Interest) {
        let key = interest.key as usize;
        let Some(&i) = self.index.get(key).filter(|&&i| i != NONE) else { return };
        self.index[key] = NONE;
        self.pollfds.swap_remove(i as usize);
        self.keys.swap_remove(i as usize);
        // The last entry moved into the hole: its key's index follows it.
        if let Some(&moved) = self.keys.get(i as usize) {
            self.index[moved as usize] = i;
        }
    }
}

impl State {
    /// One poll(2) over every registration; ready ones are appended to
    /// `events` in array order.
    pub(super) fn wait(
        &mut self,
        regs: &[Option<Interest>],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        let mut left = poll(&mut self.pollfds, millis(timeout))?;
        // Scan until every ready entry is found; move each one found to the
        // front, so that the channels that are busy are found first at the
        // next wait too, and the scan stops long before 10,000 idle ones.
        let mut i = 0;
        while left > 0 && i < self.pollfds.len() {
            let revents = self.pollfds[i].revents;
            if revents != 0 {
                let front = events.len();
                self.swap(front, i);
                let key = self.keys[front];
                let r = regs[key as usize].as_ref().expect("a registered key");
                events.push(Event { token: r.token, fd: r.fd, ready: ready_from(revents) });
                left -= 1;
            }
            i += 1;
        }
        Ok(())
    }

    /// Swaps two entries of the array, and their keys' indexes.
    fn swap(&mut self, a: usize, b: usize) {
        if a != b {
            self.pollfds.swap(a, b);
            self.keys.swap(a, b);
            self.index[self.keys[a] as usize] = a as u32;
            self.index[self.keys[b] as usize] = b as u32;
        }
    }
}

/// The `events` of a registration: read interest watches urgent data too.
fn events_of(i: &Interest) -> libc::c_short {
    (if i.read { libc::POLLIN | libc::POLLPRI } else { 0 }) | if i.write { libc::POLLOUT } else { 0 }
}

/// poll's `revents` as [`Ready`] flags: one flag per bit.
fn ready_from(revents: libc::c_short) -> Ready {
    Ready::default()
        .with(Ready::READ, revents & libc::POLLIN != 0)
        .with(Ready::WRITE, revents & libc::POLLOUT != 0)
        .with(Ready::PRI, revents & libc::POLLPRI != 0)
        .with(Ready::HUP, revents & libc::POLLHUP != 0)
        .with(Ready::ERR, revents & libc::POLLERR != 0)
        .with(Ready::NVAL, revents & libc::POLLNVAL != 0)
}
