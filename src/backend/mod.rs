//! The wait itself: an interest list goes in, readiness comes out.
//!
//! # The contract every backend keeps
//!
//! A backend is one file beside this one (`poll.rs`, `select.rs`,
//! `epoll.rs`), each with the same two items:
//!
//! * `State`: what the backend keeps between waits (the reused `pollfd`
//!   array, the epoll instance and its registrations). `State::new()` makes
//!   it; it may fail only for lack of resources.
//! * `State::wait(&mut self, interest, timeout, events)`: one wait, at most
//!   `timeout` long (`None`: until an event), for the channels in `interest`.
//!   It appends one [`Event`] per ready channel to `events` and returns
//!   `Ok(())`, possibly with no event (the timeout passed). EINTR comes back
//!   as an error of kind `Interrupted`, untouched: [`Poller::wait`] retries
//!   with the time that remains, so no backend repeats that logic.
//!
//! And the same semantics:
//!
//! * **Level-triggered.** A channel that is still ready is reported again
//!   at the next wait, whether or not its callback read anything.
//! * **Interest is exact.** A channel not in `interest` is not reported; a
//!   channel in it is reported only for what it asked, plus hang-up, error
//!   and invalid-descriptor conditions, which every backend reports
//!   unasked ([`Ready::HUP`], [`Ready::ERR`], [`Ready::NVAL`]).
//!   Urgent data ([`Ready::PRI`]) is watched whenever reading is.
//! * **Tokens, not descriptors.** An event carries the [`Token`] of the
//!   interest it answers, so a descriptor number reused by a newer channel
//!   never receives an older channel's readiness.
//! * **No hidden limits.** A descriptor a backend cannot watch (select's
//!   `FD_SETSIZE`) fails the wait with `InvalidInput` naming the fd; a
//!   backend never writes outside its buffers.
//!
//! Each backend depends only on this file and on `crate::sys`.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::map::Token;

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

/// The backends' states, each made when first used, and the events of the
/// last wait. Kept between iterations, so a steady loop allocates nothing.
#[derive(Default)]
pub(crate) struct Poller {
    poll: poll::State,
    select: select::State,
    #[cfg(pollreactor_epoll)]
    epoll: Option<epoll::State>,
    pub(crate) events: Vec<Event>,
}

impl Poller {
    /// Makes the state of `backend` now, if it needs a resource (an epoll
    /// descriptor), so that running out of descriptors later cannot fail a wait.
    pub(crate) fn prepare(&mut self, backend: Backend) -> io::Result<()> {
        match backend {
            Backend::Poll | Backend::Select => Ok(()),
            #[cfg(pollreactor_epoll)]
            Backend::Epoll => {
                if self.epoll.is_none() {
                    self.epoll = Some(epoll::State::new()?);
                }
                Ok(())
            }
            #[cfg(not(pollreactor_epoll))]
            Backend::Epoll => {
                Err(io::Error::new(io::ErrorKind::Unsupported, "the epoll backend exists on Linux only"))
            }
        }
    }

    /// Waits until `deadline` (`None`: forever) for any of `interest`, and
    /// leaves the ready channels in `self.events`: in interest order for
    /// poll and select, in the kernel's order for epoll. With an empty
    /// interest list it just sleeps, as asyncore did. An interrupted wait
    /// (EINTR) resumes with the time that remains.
    pub(crate) fn wait(
        &mut self,
        backend: Backend,
        interest: &[Interest],
        deadline: Option<Instant>,
    ) -> io::Result<()> {
        self.prepare(backend)?;
        loop {
            self.events.clear();
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let result = match backend {
                Backend::Poll => self.poll.wait(interest, timeout, &mut self.events),
                Backend::Select => self.select.wait(interest, timeout, &mut self.events),
                #[cfg(pollreactor_epoll)]
                Backend::Epoll => {
                    self.epoll.as_mut().expect("prepared").wait(interest, timeout, &mut self.events)
                }
                #[cfg(not(pollreactor_epoll))]
                Backend::Epoll => unreachable!("prepare refused it"),
            };
            match result {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

/// poll's and epoll_wait's timeout: milliseconds rounded up (a 0.4 ms wait
/// must not become a busy poll), saturated at `c_int::MAX`, and -1 for
/// "forever".
fn millis(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}
