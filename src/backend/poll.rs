//! The poll(2) backend: one `pollfd` per interested channel, rebuilt for
//! each wait in a reused array; the kernel scans them all every time.

use std::io;
use std::time::Duration;

use super::{millis, Event, Interest, Ready};
use crate::sys::poll::poll;

/// The reused `pollfd` array.
#[derive(Default)]
pub(super) struct State {
    pollfds: Vec<libc::pollfd>,
}

impl State {
    /// One poll(2) over `interest`; ready channels are appended to `events`
    /// in interest order.
    pub(super) fn wait(
        &mut self,
        interest: &[Interest],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        self.pollfds.clear();
        self.pollfds.extend(interest.iter().map(|i| libc::pollfd {
            fd: i.fd,
            events: if i.read { libc::POLLIN | libc::POLLPRI } else { 0 }
                | if i.write { libc::POLLOUT } else { 0 },
            revents: 0,
        }));
        if poll(&mut self.pollfds, millis(timeout))? == 0 {
            return Ok(());
        }
        for (i, p) in interest.iter().zip(&self.pollfds) {
            if p.revents != 0 {
                events.push(Event { token: i.token, fd: i.fd, ready: ready_from(p.revents) });
            }
        }
        Ok(())
    }
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
