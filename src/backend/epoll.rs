//! The epoll backend (Linux): the same interest list in, the same events
//! out, but the kernel keeps the interest between waits, so we only tell it
//! what changed and 10,000 idle channels cost it nothing per wait.
//!
//! Interest is still asked of every channel every iteration (that is
//! asyncore's model); it is handed to the kernel (epoll_ctl) only when it
//! differs from what the kernel already has for that descriptor. Readiness
//! is level-triggered, as with poll and select.
//!
//! Limits: epoll refuses regular files (EPERM); those are reported ready at
//! once, as poll(2) reports them. A registration belongs to the open file
//! description, so a channel whose socket was duplicated elsewhere (and
//! stays open there) keeps firing after the channel closes. Such stray
//! events carry the old slot and are dropped, unless a new channel got both
//! that slot and that fd number: then it sees a spurious readiness, which
//! non-blocking I/O turns into nothing (`WouldBlock`). Either way they make
//! the wait return early.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{millis, Event, Interest, Ready};
use crate::map::Token;
use crate::sys::epoll::Epoll;

/// What the kernel has for one descriptor number.
#[derive(Clone, Copy, Default)]
struct Registration {
    /// Reported ready by us: epoll refused it (a regular file).
    regular_file: bool,
    /// The channel registered under this number; `None`: not registered.
    token: Option<Token>,
    events: u32,
    /// The iteration that last wanted this descriptor.
    seen: u64,
}

/// The epoll instance and our copy of its interest, by descriptor number.
pub(super) struct State {
    epoll: Epoll,
    regs: Vec<Registration>,
    /// Descriptors with an active registration, to find the unwanted ones.
    active: Vec<RawFd>,
    kernel_events: Vec<libc::epoll_event>,
    iteration: u64,
}

impl State {
    pub(super) fn new() -> io::Result<State> {
        Ok(State {
            epoll: Epoll::new()?,
            regs: Vec::new(),
            active: Vec::new(),
            kernel_events: Vec::new(),
            iteration: 0,
        })
    }

    /// Brings the kernel's interest up to date, waits, and appends the
    /// ready channels to `out`.
    pub(super) fn wait(
        &mut self,
        interest: &[Interest],
        timeout: Option<Duration>,
        out: &mut Vec<Event>,
    ) -> io::Result<()> {
        self.iteration += 1;
        let mut files_ready = false;
        for i in interest {
            files_ready |= self.update(i)?;
        }
        self.drop_unwanted();
        // Regular files are always ready: do not sleep while one waits.
        let timeout = if files_ready { Some(Duration::ZERO) } else { timeout };
        // Room for every channel's event, up to 4,096 a wait (level
        // triggering reports the rest next time).
        let room = interest.len().min(4096);
        self.kernel_events.reserve(room.saturating_sub(self.kernel_events.len()));
        self.epoll.wait(&mut self.kernel_events, millis(timeout))?;
        for e in &self.kernel_events {
            let fd = (e.u64 >> 32) as RawFd;
            let reg = self.regs[fd as usize];
            // A registration that changed hands since the kernel queued this.
            let Some(token) = reg.token.filter(|t| t.slot() == e.u64 as u32) else { continue };
            out.push(Event { token, fd, ready: ready_from(e.events) });
        }
        if files_ready {
            for i in interest.iter().filter(|i| self.regs[i.fd as usize].regular_file) {
                let ready = Ready::default().with(Ready::READ, i.read).with(Ready::WRITE, i.write);
                out.push(Event { token: i.token, fd: i.fd, ready });
            }
        }
        Ok(())
    }

    /// Tells the kernel about one channel's interest if it changed; true if
    /// the descriptor is a regular file (which epoll refuses).
    fn update(&mut self, i: &Interest) -> io::Result<bool> {
        let fd = i.fd as usize;
        if self.regs.len() <= fd {
            self.regs.resize(fd + 1, Registration::default());
        }
        let events = if i.read { (libc::EPOLLIN | libc::EPOLLPRI) as u32 } else { 0 }
            | if i.write { libc::EPOLLOUT as u32 } else { 0 };
        let reg = &mut self.regs[fd];
        reg.seen = self.iteration;
        if reg.token == Some(i.token) && reg.events == events {
            return Ok(reg.regular_file);
        }
        let data = ((i.fd as u32 as u64) << 32) | u64::from(i.token.slot());
        let registered = reg.token.is_some();
        let op = if registered { libc::EPOLL_CTL_MOD } else { libc::EPOLL_CTL_ADD };
        let result = match self.epoll.ctl(op, i.fd, events, data) {
            // The kernel forgot it (closed and reopened): add it afresh.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.epoll.ctl(libc::EPOLL_CTL_ADD, i.fd, events, data)
            }
            // It still has it (we had let it go): change it instead.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                self.epoll.ctl(libc::EPOLL_CTL_MOD, i.fd, events, data)
            }
            other => other,
        };
        let regular_file = match result {
            Ok(()) => false,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => true,
            Err(e) => return Err(e),
        };
        if !registered {
            self.active.push(i.fd);
        }
        *reg = Registration { regular_file, token: Some(i.token), events, seen: self.iteration };
        Ok(regular_file)
    }

    /// Removes descriptors no channel waits on any more.
    fn drop_unwanted(&mut self) {
        let (regs, epoll, iteration) = (&mut self.regs, &self.epoll, self.iteration);
        self.active.retain(|&fd| {
            let reg = &mut regs[fd as usize];
            if reg.seen == iteration {
                return true;
            }
            if !reg.regular_file {
                // Fails harmlessly if the descriptor was closed meanwhile.
                let _ = epoll.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
            *reg = Registration::default();
            false
        });
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
