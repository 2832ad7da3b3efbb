//! A fault injector for the crate's own system calls, the way trusted
//! systems are tested: the calls a program must survive (accept, connect,
//! send, recv, read, write, sendto, recvfrom, the waits, epoll_ctl,
//! socket, socketpair) fail now and then with an errno the kernel really
//! gives at that call, or move fewer bytes than asked.
//!
//! Compiled only with the cargo feature `fault-injection` (off by default;
//! without it each call site passes a constant to an inlined no-op).
//!
//! # How a call is faulted
//!
//! Every wrapper in the private `sys` module names its [`Site`]. Before the
//! real call, the injector decides, at the site's rate, whether this call
//! fails, and how:
//!
//! * an errno ([`Fault::Errno`]): the call is **not** made, and the wrapper
//!   fails with that errno, as if the kernel had answered it. EINTR is
//!   retried at once by the wrappers that retry it (send, recv, accept,
//!   read, write, ...); the waits return it to the backend, which resumes
//!   with the time that remains;
//! * a short count ([`Fault::Short`]): the call is made with a shorter
//!   buffer, so a read or write really moves fewer bytes, and the rest stays
//!   where it was (in the kernel, or in the caller's buffer).
//!
//! The errnos are the ones each call can give on a live connection:
//!
//! | site | faults |
//! |---|---|
//! | accept | EINTR, EAGAIN, ECONNABORTED, EMFILE, ENFILE, ENOBUFS, ENOMEM |
//! | connect | EAGAIN, ECONNREFUSED, ENOBUFS |
//! | send | EINTR, EAGAIN, ENOBUFS, ENOMEM, ECONNRESET, EPIPE, short |
//! | recv, recv (spare) | EINTR, EAGAIN, ENOMEM, ECONNRESET, short |
//! | read, read (spare), write | EINTR, EAGAIN, short |
//! | sendto | EINTR, EAGAIN, ENOBUFS, ENOMEM (never short: a datagram is whole) |
//! | recvfrom | EINTR, EAGAIN, ENOMEM |
//! | poll, select, epoll_wait | EINTR |
//! | epoll_ctl (add) | ENOMEM, ENOSPC |
//! | socket, socketpair | EMFILE, ENFILE, ENOBUFS, ENOMEM |
//!
//! # Per thread, seeded, reproducible
//!
//! The injector belongs to the thread that calls [`configure`]: run the
//! reactor on that thread; other threads (a test's own client, a waker
//! posting from elsewhere) are never faulted. The decision for the `k`-th
//! call at a site is a pure function of the seed, the site and `k`
//! (splitmix64), so a seed replays the same faults at the same call numbers
//! of each site; which connection a call number falls on still depends on
//! the order in which the kernel made data ready.
//!
//! Once a random run has found a failure, [`inject_next`] replays the
//! fault that caused it exactly, at the next call of a site, for a
//! regression test; [`recent`] lists the last faults injected, to find it.
//!
//! ```
//! use pollreactor::fault::{self, Site};
//! fault::configure(42, 100_000); // 10% of the calls at every site
//! fault::set_rate(Site::Poll, 0); // but never interrupt a poll(2)
//! // ... run the reactor on this thread ...
//! for (site, calls, injected) in fault::stats() {
//!     if calls > 0 {
//!         println!("{site}: {injected} of {calls} calls faulted");
//!     }
//! }
//! fault::disable();
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;

pub use super::{Fault, Site};

/// How many of the last injected faults [`recent`] keeps.
const RECENT: usize = 64;

impl Site {
    /// Every site, in the order [`stats`] lists them.
    pub const ALL: [Site; 16] = [
        Site::Accept,
        Site::Connect,
        Site::Send,
        Site::Recv,
        Site::SendTo,
        Site::RecvFrom,
        Site::Read,
        Site::Write,
        Site::RecvSpare,
        Site::ReadSpare,
        Site::Poll,
        Site::Select,
        Site::EpollWait,
        Site::EpollCtl,
        Site::Socket,
        Site::Socketpair,
    ];

    /// The system call's name, as [`stats`] reports it.
    pub fn name(self) -> &'static str {
        match self {
            Site::Accept if cfg!(pollreactor_accept4) => "accept4",
            Site::Accept => "accept",
            Site::Connect => "connect",
            Site::Send => "send",
            Site::Recv => "recv",
            Site::SendTo => "sendto",
            Site::RecvFrom => "recvfrom",
            Site::Read => "read",
            Site::Write => "write",
            Site::RecvSpare => "recv (spare)",
            Site::ReadSpare => "read (spare)",
            Site::Poll => "poll",
            Site::Select => "select",
            Site::EpollWait => "epoll_wait",
            Site::EpollCtl => "epoll_ctl (add)",
            Site::Socket => "socket",
            Site::Socketpair => "socketpair",
        }
    }

    fn index(self) -> usize {
        Site::ALL.iter().position(|&s| s == self).expect("every site is in ALL")
    }

    /// The faults this call can really give, each with a weight.
    fn faults(self) -> &'static [(Kind, u32)] {
        use Kind::{Errno as E, Short};
        match self {
            Site::Accept => &[
                (E(libc::EINTR), 4),
                (E(libc::EAGAIN), 4),
                (E(libc::ECONNABORTED), 2),
                (E(libc::EMFILE), 1),
                (E(libc::ENFILE), 1),
                (E(libc::ENOBUFS), 1),
                (E(libc::ENOMEM), 1),
            ],
            Site::Connect => &[(E(libc::EAGAIN), 1), (E(libc::ECONNREFUSED), 1), (E(libc::ENOBUFS), 1)],
            Site::Send => &[
                (E(libc::EINTR), 4),
                (E(libc::EAGAIN), 4),
                (Short, 6),
                (E(libc::ENOBUFS), 1),
                (E(libc::ENOMEM), 1),
                (E(libc::ECONNRESET), 1),
                (E(libc::EPIPE), 1),
            ],
            Site::Recv | Site::RecvSpare => &[
                (E(libc::EINTR), 4),
                (E(libc::EAGAIN), 4),
                (Short, 6),
                (E(libc::ENOMEM), 1),
                (E(libc::ECONNRESET), 1),
            ],
            Site::Read | Site::ReadSpare | Site::Write => {
                &[(E(libc::EINTR), 1), (E(libc::EAGAIN), 1), (Short, 1)]
            }
            Site::SendTo => {
                &[(E(libc::EINTR), 2), (E(libc::EAGAIN), 2), (E(libc::ENOBUFS), 1), (E(libc::ENOMEM), 1)]
            }
            Site::RecvFrom => &[(E(libc::EINTR), 2), (E(libc::EAGAIN), 2), (E(libc::ENOMEM), 1)],
            Site::Poll | Site::Select | Site::EpollWait => &[(E(libc::EINTR), 1)],
            Site::EpollCtl => &[(E(libc::ENOMEM), 1), (E(libc::ENOSPC), 1)],
            Site::Socket | Site::Socketpair => {
                &[(E(libc::EMFILE), 1), (E(libc::ENFILE), 1), (E(libc::ENOBUFS), 1), (E(libc::ENOMEM), 1)]
            }
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::Errno(errno) => f.write_str(errno_name(errno)),
            Fault::Short { len, requested } => write!(f, "short ({len} of {requested} bytes)"),
        }
    }
}

/// The symbolic name of an errno the injector gives.
fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EINTR => "EINTR",
        libc::EAGAIN => "EAGAIN",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EPIPE => "EPIPE",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOMEM => "ENOMEM",
        libc::ENOSPC => "ENOSPC",
        _ => "errno",
    }
}

/// A fault kind in a site's table; the length of a short count is chosen
/// per call.
#[derive(Clone, Copy)]
enum Kind {
    Errno(i32),
    Short,
}

/// One injected fault, as [`recent`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// Where.
    pub site: Site,
    /// Which call at that site (0 is the first since [`configure`]).
    pub call: u64,
    /// What was done to it.
    pub fault: Fault,
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} call #{}: {}", self.site, self.call, self.fault)
    }
}

/// The injector of one thread.
struct Injector {
    seed: u64,
    /// Faults per million calls, per site (indexed as [`Site::ALL`]).
    rates: [u32; Site::ALL.len()],
    calls: [u64; Site::ALL.len()],
    injected: [u64; Site::ALL.len()],
    /// Whether faults are injected (calls are counted either way).
    enabled: bool,
    /// Faults queued by [`inject_next`], per site, used before any drawn one.
    queued: [VecDeque<Fault>; Site::ALL.len()],
    recent: VecDeque<Injection>,
}

thread_local! {
    static INJECTOR: RefCell<Option<Injector>> = const { RefCell::new(None) };
}

/// Starts injecting on this thread: every site fails `rate_per_million`
/// of its calls (clamped to 1,000,000), with faults drawn from `seed`.
/// The counters start again from zero.
pub fn configure(seed: u64, rate_per_million: u32) {
    let rate = rate_per_million.min(1_000_000);
    let injector = Injector {
        seed,
        rates: [rate; Site::ALL.len()],
        calls: [0; Site::ALL.len()],
        injected: [0; Site::ALL.len()],
        enabled: true,
        queued: std::array::from_fn(|_| VecDeque::new()),
        recent: VecDeque::with_capacity(RECENT),
    };
    INJECTOR.with(|i| *i.borrow_mut() = Some(injector));
}

/// Queues `fault` for the next call at `site` on this thread (after any
/// queued before), whatever the site's rate: to replay one scenario
/// exactly, as a regression test does. Before [`configure`], it configures
/// the injector with seed 0 and no random faults.
///
/// A queued [`Fault::Short`] gives the call `len` bytes (its `requested` is
/// ignored); at a call of no more than `len` bytes it changes nothing. A
/// short count at a site that has none (sendto, accept, ...) and an errno
/// are used as given: choosing a realistic one is the caller's part.
///
/// ```
/// use pollreactor::fault::{self, Fault, Site};
/// // The next send(2) of this thread fails with ECONNRESET, the one after
/// // moves at most 3 bytes.
/// fault::inject_next(Site::Send, Fault::Errno(libc::ECONNRESET));
/// fault::inject_next(Site::Send, Fault::Short { len: 3, requested: 0 });
/// # fault::disable();
/// ```
pub fn inject_next(site: Site, fault: Fault) {
    if seed().is_none() {
        configure(0, 0);
    }
    with_injector(|inj| inj.queued[site.index()].push_back(fault));
}

/// Sets one site's rate (faults per million calls) on this thread; does
/// nothing before [`configure`].
pub fn set_rate(site: Site, rate_per_million: u32) {
    with_injector(|inj| inj.rates[site.index()] = rate_per_million.min(1_000_000));
}

/// Stops injecting on this thread (drawn and queued faults alike). The
/// counters stay for [`stats`], and calls are still counted, so after
/// [`enable`] each call number gets the same decision as in any run with
/// this seed.
pub fn disable() {
    with_injector(|inj| inj.enabled = false);
}

/// Resumes injecting after [`disable`], with the same seed and rates.
pub fn enable() {
    with_injector(|inj| inj.enabled = true);
}

/// The seed [`configure`] was given on this thread, if any.
pub fn seed() -> Option<u64> {
    INJECTOR.with(|i| i.borrow().as_ref().map(|inj| inj.seed))
}

/// Per site, in [`Site::ALL`] order: its name, how many calls reached it
/// and how many of them were faulted, on this thread since [`configure`]
/// (all zero before).
pub fn stats() -> Vec<(&'static str, u64, u64)> {
    INJECTOR.with(|i| {
        let injector = i.borrow();
        Site::ALL
            .iter()
            .map(|&site| match injector.as_ref() {
                Some(inj) => (site.name(), inj.calls[site.index()], inj.injected[site.index()]),
                None => (site.name(), 0, 0),
            })
            .collect()
    })
}

/// The last faults injected on this thread (up to 64, oldest first): to
/// say which call failed how when a test goes wrong.
pub fn recent() -> Vec<Injection> {
    INJECTOR.with(|i| i.borrow().as_ref().map(|inj| inj.recent.iter().copied().collect()).unwrap_or_default())
}

fn with_injector(f: impl FnOnce(&mut Injector)) {
    INJECTOR.with(|i| {
        if let Some(inj) = i.borrow_mut().as_mut() {
            f(inj);
        }
    });
}

/// The injector's decision for one call at `site` on a buffer of `len`
/// bytes (0 for calls without one). A short count is always `1..len`.
pub(crate) fn inject(site: Site, len: usize) -> Option<Fault> {
    // A descriptor may be used while the thread's locals are torn down:
    // then there is no injector, and no fault.
    INJECTOR
        .try_with(|i| {
            let mut injector = i.try_borrow_mut().ok()?;
            injector.as_mut()?.decide(site, len)
        })
        .ok()
        .flatten()
}

impl Injector {
    fn decide(&mut self, site: Site, len: usize) -> Option<Fault> {
        let s = site.index();
        let call = self.calls[s];
        self.calls[s] += 1;
        if !self.enabled {
            return None;
        }
        if let Some(queued) = self.queued[s].pop_front() {
            let fault = match queued {
                Fault::Short { len: short, .. } if short >= len => return None,
                Fault::Short { len: short, .. } => Fault::Short { len: short, requested: len },
                errno => errno,
            };
            return Some(self.record(site, call, fault));
        }
        if self.rates[s] == 0 {
            return None;
        }
        // Counter-based: the k-th call at a site draws the same numbers
        // whatever the other sites did meanwhile.
        let draw =
            splitmix64(splitmix64(self.seed ^ (s as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F)) ^ call);
        if (draw % 1_000_000) as u32 >= self.rates[s] {
            return None;
        }
        let table = site.faults();
        let total: u32 = table.iter().map(|&(_, w)| w).sum();
        let choice = splitmix64(draw);
        let mut pick = (choice % u64::from(total)) as u32;
        let kind = table
            .iter()
            .find(|&&(_, w)| {
                let hit = pick < w;
                pick = pick.saturating_sub(w);
                hit
            })
            .map(|&(k, _)| k)
            .expect("the weights add up to total");
        let fault = match kind {
            Kind::Errno(errno) => Fault::Errno(errno),
            // Nothing shorter than one byte is a short count: leave the call be.
            Kind::Short if len < 2 => return None,
            Kind::Short => {
                let room = splitmix64(choice);
                // A quarter of them a single byte: the hardest case for framing.
                let short = if room & 3 == 0 { 1 } else { 1 + (room >> 2) as usize % (len - 1) };
                Fault::Short { len: short, requested: len }
            }
        };
        Some(self.record(site, call, fault))
    }

    /// Counts an injected fault and keeps it for [`recent`].
    fn record(&mut self, site: Site, call: u64, fault: Fault) -> Fault {
        self.injected[site.index()] += 1;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(Injection { site, call, fault });
        fault
    }
}

/// splitmix64's output function: a bijection of `u64` that scatters
/// consecutive inputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
