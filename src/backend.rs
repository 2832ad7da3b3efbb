//! The wait itself: the interest list goes in, readiness comes out.
//!
//! One function per system call (poll, select, and epoll in `epoll.rs`).
//! Each takes the same interest list (built by the reactor from
//! `readable()`/`writable()`) and produces the same events, so everything
//! above this file is backend-neutral.

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

use crate::sys::fd::is_open;
use crate::sys::poll::poll;
use crate::sys::select::{select, FdSet};
use crate::Token;

/// Which system call waits for events (asyncore's `use_poll`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// poll(2): no limit on descriptor numbers. The default (asyncore's
    /// default was select, from a time when poll was not everywhere).
    #[default]
    Poll,
    /// select(2): portable everywhere, but it can only watch descriptors
    /// below `FD_SETSIZE` (1024 on Linux); a channel above that makes the
    /// wait fail with an `InvalidInput` error naming the fd.
    Select,
    /// epoll(7), Linux only (beyond asyncore): the same level-triggered
    /// semantics, but the kernel keeps the interest set, which is updated
    /// only when a channel's `readable`/`writable` answer changes; idle
    /// channels cost the kernel nothing per wait. Elsewhere the wait fails
    /// with `Unsupported`.
    Epoll,
}

impl std::str::FromStr for Backend {
    type Err = String;

    /// `"poll"`, `"select"` or `"epoll"`, as the example programs' `--backend` takes.
    fn from_str(s: &str) -> Result<Backend, String> {
        match s {
            "poll" => Ok(Backend::Poll),
            "select" => Ok(Backend::Select),
            "epoll" => Ok(Backend::Epoll),
            other => Err(format!("unknown backend {other:?}: expected poll, select or epoll")),
        }
    }
}

/// Readiness of one channel, in poll(2)'s terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ready(u8);

impl Ready {
    pub(crate) const READ: Ready = Ready(1);
    pub(crate) const WRITE: Ready = Ready(2);
    /// Urgent data (POLLPRI; select's exceptfds).
    pub(crate) const PRI: Ready = Ready(4);
    pub(crate) const HUP: Ready = Ready(8);
    pub(crate) const ERR: Ready = Ready(16);
    /// The descriptor is not open (POLLNVAL; EBADF from select).
    pub(crate) const NVAL: Ready = Ready(32);

    /// Both sets of flags.
    pub(crate) const fn or(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }

    /// Whether any flag of `other` is set.
    pub(crate) fn any(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    pub(crate) fn with(self, flag: Ready, on: bool) -> Ready {
        if on {
            Ready(self.0 | flag.0)
        } else {
            self
        }
    }

    fn from_poll(revents: libc::c_short) -> Ready {
        Ready::default()
            .with(Ready::READ, revents & libc::POLLIN != 0)
            .with(Ready::WRITE, revents & libc::POLLOUT != 0)
            .with(Ready::PRI, revents & libc::POLLPRI != 0)
            .with(Ready::HUP, revents & libc::POLLHUP != 0)
            .with(Ready::ERR, revents & libc::POLLERR != 0)
            .with(Ready::NVAL, revents & libc::POLLNVAL != 0)
    }
}

/// What one channel waits for in this iteration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interest {
    pub(crate) token: Token,
    pub(crate) fd: RawFd,
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// One channel's readiness after the wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) token: Token,
    pub(crate) fd: RawFd,
    pub(crate) ready: Ready,
}

/// The buffers a wait fills, kept between iterations so that a steady loop
/// allocates nothing.
#[derive(Default)]
pub(crate) struct Poller {
    pollfds: Vec<libc::pollfd>,
    pub(crate) events: Vec<Event>,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    epoll: Option<crate::epoll::EpollState>,
}

impl Poller {
    /// Waits until `deadline` (`None`: forever) for any of `interest`, and
    /// leaves the ready channels in `self.events`: in interest order for
    /// poll and select, in the kernel's order for epoll. With an empty
    /// interest list it just sleeps, as asyncore did.
    pub(crate) fn wait(
        &mut self,
        backend: Backend,
        interest: &[Interest],
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.events.clear();
        match backend {
            Backend::Poll => self.wait_poll(interest, deadline),
            Backend::Select => self.wait_select(interest, deadline),
            Backend::Epoll => self.wait_epoll(interest, deadline),
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn wait_epoll(&mut self, interest: &[Interest], deadline: Option<Instant>) -> io::Result<()> {
        if self.epoll.is_none() {
            self.epoll = Some(crate::epoll::EpollState::new()?);
        }
        self.epoll.as_mut().expect("just set").wait(interest, deadline, &mut self.events)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn wait_epoll(&mut self, _: &[Interest], _: Option<Duration>) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "the epoll backend exists on Linux only"))
    }

    fn wait_poll(&mut self, interest: &[Interest], deadline: Option<Instant>) -> io::Result<()> {
        self.pollfds.clear();
        self.pollfds.extend(interest.iter().map(|i| libc::pollfd {
            fd: i.fd,
            events: if i.read { libc::POLLIN | libc::POLLPRI } else { 0 }
                | if i.write { libc::POLLOUT } else { 0 },
            revents: 0,
        }));
        if poll(&mut self.pollfds, deadline)? == 0 {
            return Ok(());
        }
        for (i, p) in interest.iter().zip(&self.pollfds) {
            if p.revents != 0 {
                self.events.push(Event { token: i.token, fd: i.fd, ready: Ready::from_poll(p.revents) });
            }
        }
        Ok(())
    }

    fn wait_select(&mut self, interest: &[Interest], deadline: Option<Instant>) -> io::Result<()> {
        let (mut read, mut write, mut except) = (FdSet::new(), FdSet::new(), FdSet::new());
        let mut nfds = 0;
        for i in interest {
            if i.read {
                read.insert(i.fd)?;
            }
            if i.write {
                write.insert(i.fd)?;
            }
            // As asyncore: every polled channel also watches for urgent data.
            except.insert(i.fd)?;
            nfds = nfds.max(i.fd + 1);
        }
        // select counts every bit it left set, in all three sets.
        let mut bits_left = match select(nfds, &mut read, &mut write, &mut except, deadline) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // select names no culprit: find the closed descriptors ourselves.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                self.events.extend(interest.iter().filter(|i| !is_open(i.fd)).map(|i| Event {
                    token: i.token,
                    fd: i.fd,
                    ready: Ready::NVAL,
                }));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // Stop scanning once every set bit is accounted for.
        for i in interest {
            if bits_left == 0 {
                break;
            }
            let (r, w, e) = (read.contains(i.fd), write.contains(i.fd), except.contains(i.fd));
            if r || w || e {
                bits_left = bits_left.saturating_sub(usize::from(r) + usize::from(w) + usize::from(e));
                let ready = Ready::default().with(Ready::READ, r).with(Ready::WRITE, w).with(Ready::PRI, e);
                self.events.push(Event { token: i.token, fd: i.fd, ready });
            }
        }
        Ok(())
    }
}
