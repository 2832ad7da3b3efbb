//! The epoll backend (Linux): the kernel keeps the registrations between
//! waits, so a registration costs one `epoll_ctl` when it is made, changed
//! or removed, and nothing at all while it stays the same: 10,000 idle
//! channels cost neither the kernel nor us anything per wait. Readiness is
//! level-triggered, as with poll and select.
//!
//! Each registration carries its key as the event's data, and the key's
//! current token comes from the registrations table, so an event is never
//! handed to a channel that took the key over after the event was queued.
//! Registrations are removed before their descriptor closes (the
//! reactor's contract), so a descriptor duplicated elsewhere cannot keep
//! firing for a closed channel.
//!
//! epoll refuses regular files (EPERM); those are reported ready at every
//! wait, as poll(2) reports them.

use std::io;
use std::time::Duration;

use super::{millis, Event, Interest, Ready, Registry};
use crate::sys::epoll::Epoll;

/// The epoll instance, the keys epoll refused (regular files, always
/// ready), and the buffer the kernel fills.
pub(super) struct State {
    epoll: Epoll,
    /// Keys registered, whether epoll refused them or not.
    registered: Vec<bool>,
    files: Vec<u32>,
    kernel_events: Vec<libc::epoll_event>,
    count: usize,
}

impl State {
    pub(super) fn new() -> io::Result<State> {
        let epoll = Epoll::new()?;
        Ok(State { epoll, registered: Vec::new(), files: Vec::new(), kernel_events: Vec::new(), count: 0 })
    }

    /// One epoll_wait; ready registrations are appended to `events` in the
    /// kernel's order, then the regular files.
    pub(super) fn wait(
        &mut self,
        regs: &[Option<Interest>],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        // Regular files are always ready: do not sleep while one waits.
        let timeout = if self.files.is_empty() { timeout } else { Some(Duration::ZERO) };
        // Room for every registration's event, up to 4,096 a wait (level
        // triggering reports the rest next time).
        let room = self.count.clamp(1, 4096);
        self.kernel_events.reserve(room.saturating_sub(self.kernel_events.len()));
        self.epoll.wait(&mut self.kernel_events, millis(timeout))?;
        for e in &self.kernel_events {
            let Some(Some(i)) = regs.get(e.u64 as usize) else { continue };
            events.push(Event { token: i.token, fd: i.fd, ready: ready_from(e.events) });
        }
        for &key in &self.files {
            if let Some(i) = &regs[key as usize] {
                let ready = Ready::default().with(Ready::READ, i.read).with(Ready::WRITE, i.write);
                events.push(Event { token: i.token, fd: i.fd, ready });
            }
        }
        Ok(())
    }
}

impl Registry for State {
    fn set(&mut self, interest: &Interest) -> io::Result<()> {
        let key = interest.key as usize;
        if self.registered.len() <= key {
            self.registered.resize(key + 1, false);
        }
        let events = if interest.read { (libc::EPOLLIN | libc::EPOLLPRI) as u32 } else { 0 }
            | if interest.write { libc::EPOLLOUT as u32 } else { 0 };
        let data = u64::from(interest.key);
        if self.files.contains(&interest.key) {
            return Ok(());
        }
        let op = if self.registered[key] { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
        match self.epoll.ctl(op, interest.fd, events, data) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => self.files.push(interest.key),
            Err(e) => return Err(e),
        }
        if !self.registered[key] {
            self.registered[key] = true;
            self.count += 1;
        }
        Ok(())
    }

    fn remove(&mut self, interest: &Interest) {
        let key = interest.key as usize;
        if !self.registered.get(key).copied().unwrap_or(false) {
            return;
        }
        self.registered[key] = false;
        self.count -= 1;
        if let Some(at) = self.files.iter().position(|&k| k == interest.key) {
            self.files.swap_remove(at);
        } else {
            // The descriptor is still open (the reactor removes first), so
            // this finds it; if a program closed it behind our back, the
            // kernel dropped it already and this fails harmlessly.
            let _ = self.epoll.ctl(libc::EPOLL_CTL_DEL, interest.fd, 0, 0);
        }
    }
}

fn ready_from(events: u32) -> Ready {
    let has = |flag: libc::c_int| events & flag as u32 != 0;
    Ready::default()
        .with(Ready::READ, has(libc::EPOLLIN))
        .with(Ready::WRITE, has(libc::EPOLLOUT))
        .with(Ready::PRI, has(libc::EPOLLPRI))
        .with(Ready::HUP, has(libc::EPOLLHUP))
        .with(Ready::ERR, has(libc::EPOLLERR))
}
