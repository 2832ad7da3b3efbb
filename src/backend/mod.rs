//! The wait itself: registrations go in, readiness comes out.
//!
//! # The contract every backend keeps
//!
//! A backend is one file beside this one (`poll.rs`, `select.rs`,
//! `epoll.rs`), each with a `State` that has the same four methods:
//!
//! * `State::new()` makes it; it may fail only for lack of resources.
//! * `State::set(&mut self, interest)` registers a channel's interest, or
//!   changes it: `interest.key` names the registration (a small dense
//!   number), and at least one of `read` and `write` is set.
//! * `State::remove(&mut self, interest)` forgets a registration. The
//!   reactor calls it *before* the descriptor is closed, so epoll's
//!   `EPOLL_CTL_DEL` always finds it.
//! * `State::wait(&mut self, regs, timeout, events)`: one wait, at most
//!   `timeout` long (`None`: until an event), for everything registered
//!   (`regs` is the [`Poller`]'s table, by key). It appends one [`Event`]
//!   per ready registration to `events` and returns `Ok(())`, possibly with
//!   no event (the timeout passed). EINTR comes back as an error of kind
//!   `Interrupted`, untouched: [`Poller::wait`] retries with the time that
//!   remains, so no backend repeats that logic.
//!
//! The [`Poller`] above them calls `set` and `remove` only for real
//! changes, so a backend that keeps state in the kernel (epoll) makes a
//! system call only when a channel's interest changed, and one that keeps
//! an array (poll) changes it in place.
//!
//! And the same semantics:
//!
//! * **Level-triggered.** A channel that is still ready is reported again
//!   at the next wait, whether or not its callback read anything.
//! * **Interest is exact.** A channel not registered is not reported; a
//!   registered one is reported only for what it asked, plus hang-up, error
//!   and invalid-descriptor conditions, which every backend reports
//!   unasked ([`Ready::HUP`], [`Ready::ERR`], [`Ready::NVAL`]).
//!   Urgent data ([`Ready::PRI`]) is watched whenever reading is.
//! * **Tokens, not descriptors.** An event carries the [`Token`] of the
//!   registration it answers, so a descriptor number reused by a newer
//!   channel never receives an older channel's readiness.
//! * **No hidden limits.** A descriptor a backend cannot watch (select's
//!   `FD_SETSIZE`) fails `set` with `InvalidInput` naming the fd; a
//!   backend never writes outside its buffers.
//!
//! Each backend depends only on this file and on `crate::sys`.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::map::Token;
use crate::timer::{read_clock, Nanos};

#[cfg(pollreactor_epoll)]
mod epoll;
mod poll;
mod select;

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
    /// channels cost the kernel nothing per wait. Where it does not exist
    /// (see [`Backend::available`]) the wait fails with `Unsupported`.
    Epoll,
}

impl Backend {
    /// The backends this build can use: poll and select everywhere, epoll on
    /// Linux (and not when the portable paths are forced with
    /// `--cfg pollreactor_portable`).
    pub fn available() -> &'static [Backend] {
        if cfg!(pollreactor_epoll) {
            &[Backend::Poll, Backend::Select, Backend::Epoll]
        } else {
            &[Backend::Poll, Backend::Select]
        }
    }

    /// The backend's name, as `--backend` takes it: `"poll"`, `"select"`, `"epoll"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Poll => "poll",
            Backend::Select => "select",
            Backend::Epoll => "epoll",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A backend name that is none of `poll`, `select`, `epoll`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBackendError {
    name: String,
}

impl fmt::Display for ParseBackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown backend {:?}: expected poll, select or epoll", self.name)
    }
}

impl std::error::Error for ParseBackendError {}

impl std::str::FromStr for Backend {
    type Err = ParseBackendError;

    /// `"poll"`, `"select"` or `"epoll"`, as the example programs' `--backend` takes.
    fn from_str(s: &str) -> Result<Backend, ParseBackendError> {
        match s {
            "poll" => Ok(Backend::Poll),
            "select" => Ok(Backend::Select),
            "epoll" => Ok(Backend::Epoll),
            other => Err(ParseBackendError { name: other.to_string() }),
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

    /// These flags, plus `flag` if `on`.
    pub(crate) fn with(self, flag: Ready, on: bool) -> Ready {
        if on {
            Ready(self.0 | flag.0)
        } else {
            self
        }
    }
}

/// What one channel waits for: a registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interest {
    /// The registration's place in the [`Poller`]'s table.
    pub(crate) key: u32,
    pub(crate) token: Token,
    pub(crate) fd: RawFd,
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// One channel's readiness after the wait.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Event {
    pub(crate) token: Token,
    /// For the tracer's lines.
    #[cfg_attr(not(feature = "trace"), allow(dead_code))]
    pub(crate) fd: RawFd,
    pub(crate) ready: Ready,
}

/// The registrations by key, the backend that has them, and the events
/// of the last wait. Kept between iterations, so a steady loop allocates
/// nothing.
#[derive(Default)]
pub(crate) struct Poller {
    /// What each key is registered for (`None`: nothing).
    regs: Vec<Option<Interest>>,
    /// The backend that holds the registrations.
    active: Option<Backend>,
    poll: poll::State,
    select: select::State,
    #[cfg(pollreactor_epoll)]
    epoll: Option<epoll::State>,
    pub(crate) events: Vec<Event>,
}

impl Poller {
    /// Makes the state of `backend` now, if it needs a resource (an epoll
    /// descriptor), so that running out of descriptors later cannot fail a
    /// wait; and hands it every registration, if another backend had them.
    #[inline]
    pub(crate) fn prepare(&mut self, backend: Backend) -> io::Result<()> {
        if self.active == Some(backend) {
            return Ok(());
        }
        self.activate(backend)
    }

    /// [`prepare`](Self::prepare) for a backend that is not the active one
    /// (out of line: every iteration calls `prepare`, nearly none gets here).
    #[cold]
    fn activate(&mut self, backend: Backend) -> io::Result<()> {
        match backend {
            Backend::Poll | Backend::Select => {}
            #[cfg(pollreactor_epoll)]
            Backend::Epoll => {
                if self.epoll.is_none() {
                    self.epoll = Some(epoll::State::new()?);
                }
            }
            #[cfg(not(pollreactor_epoll))]
            Backend::Epoll => {
                let message = "the epoll backend exists on Linux only";
                return Err(io::Error::new(io::ErrorKind::Unsupported, message));
            }
        }
        self.switch_to(backend)
    }

    /// Moves every registration from the backend that had them to `backend`.
    fn switch_to(&mut self, backend: Backend) -> io::Result<()> {
        if let Some(old) = self.active.take() {
            for i in self.regs.clone().into_iter().flatten() {
                self.state(old).remove(&i);
            }
        }
        self.active = Some(backend);
        for i in self.regs.clone().into_iter().flatten() {
            self.state(backend).set(&i)?;
        }
        Ok(())
    }

    /// The state of `backend`, as the one trait object the three share.
    fn state(&mut self, backend: Backend) -> &mut dyn Registry {
        match backend {
            Backend::Poll => &mut self.poll,
            Backend::Select => &mut self.select,
            #[cfg(pollreactor_epoll)]
            Backend::Epoll => self.epoll.as_mut().expect("prepared"),
            #[cfg(not(pollreactor_epoll))]
            Backend::Epoll => unreachable!("prepare refused it"),
        }
    }

    /// Registers `interest` (or changes it, or, wanting nothing, removes
    /// it). Only a real change reaches the backend.
    #[inline]
    pub(crate) fn set(&mut self, interest: Interest) -> io::Result<()> {
        let key = interest.key as usize;
        if self.regs.len() <= key {
            self.regs.resize(key + 1, None);
        }
        if !interest.read && !interest.write {
            self.remove(interest.key, interest.token);
            return Ok(());
        }
        if self.regs[key] == Some(interest) {
            return Ok(());
        }
        if let Some(backend) = self.active {
            if let Some(old) =
                self.regs[key].filter(|old| old.fd != interest.fd || old.token != interest.token)
            {
                self.state(backend).remove(&old);
            }
            self.state(backend).set(&interest)?;
        }
        self.regs[key] = Some(interest);
        Ok(())
    }

    /// Forgets the registration of `token` under `key`, if there is one.
    pub(crate) fn remove(&mut self, key: u32, token: Token) {
        let Some(slot) = self.regs.get_mut(key as usize) else { return };
        let Some(old) = slot.take_if(|i| i.token == token) else { return };
        if let Some(backend) = self.active {
            self.state(backend).remove(&old);
        }
    }

    /// Every registration, in key order (for the tracer).
    pub(crate) fn registrations(&self) -> impl Iterator<Item = &Interest> + '_ {
        self.regs.iter().flatten()
    }

    /// Waits until `deadline` (`None`: forever) for anything registered,
    /// and leaves the ready channels in `self.events`. With nothing
    /// registered it just sleeps, as asyncore did. `now` is the caller's
    /// reading of the clock, a moment ago (the loop reads it once for the
    /// whole of step 1); an interrupted wait (EINTR) reads the clock again
    /// and resumes with the time that remains.
    pub(crate) fn wait(
        &mut self,
        backend: Backend,
        deadline: Option<Nanos>,
        mut now: Nanos,
    ) -> io::Result<()> {
        if self.active != Some(backend) {
            self.prepare(backend)?;
        }
        loop {
            self.events.clear();
            let timeout = deadline.map(|d| Duration::from_nanos(d.saturating_sub(now)));
            let (regs, events) = (&self.regs, &mut self.events);
            let result = match backend {
                Backend::Poll => self.poll.wait(regs, timeout, events),
                Backend::Select => self.select.wait(regs, timeout, events),
                #[cfg(pollreactor_epoll)]
                Backend::Epoll => self.epoll.as_mut().expect("prepared").wait(regs, timeout, events),
                #[cfg(not(pollreactor_epoll))]
                Backend::Epoll => unreachable!("prepare refused it"),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => now = read_clock(),
                other => return other,
            }
        }
    }
}

/// How the [`Poller`] hands registrations to whichever backend is active.
trait Registry {
    fn set(&mut self, interest: &Interest) -> io::Result<()>;
    fn remove(&mut self, interest: &Interest);
}

/// poll's and epoll_wait's timeout: milliseconds rounded up (a 0.4 ms wait
/// must not become a busy poll), saturated at `c_int::MAX`, and -1 for
/// "forever".
fn millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t
                .as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(t.subsec_nanos().div_ceil(1_000_000)));
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}
