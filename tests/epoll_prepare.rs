//! Issue 11, bug (c): the epoll backend made its epoll descriptor at the
//! first wait, so a process that had run out of descriptors by then could
//! not run its loop at all. `Reactor::prepare(Backend::Epoll)` (which `run`
//! calls first) makes it up front.
//!
//! With RLIMIT_NOFILE lowered to the descriptors already open (and any gap
//! below it filled), a prepared reactor still waits and dispatches on every
//! backend, while an unprepared one's first epoll wait fails with EMFILE,
//! which shows the test bites. The limit is process-wide, so this file is
//! its own test binary, with a single test.
#![forbid(unsafe_code)]
// Epoll exists on Linux only, with the `epoll` feature, and not under
// `--cfg pollreactor_portable`.
#![cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]

mod common;

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{loop_until, open_fds, Log, Recorder};
use pollreactor::{Backend, Dispatcher, Family, Reactor, SockType, Socket};

/// Puts the descriptor limit back when dropped, even if the test fails.
struct RestoreLimit(u64);

impl Drop for RestoreLimit {
    fn drop(&mut self) {
        pollreactor::limits::set_fd_limit(self.0).expect("restore RLIMIT_NOFILE");
    }
}

/// A reactor (prepared for `backend` if asked) with one channel whose peer
/// has already sent "ping"; the log records its reads.
fn reactor_with_a_ping(backend: Option<Backend>) -> (Reactor, Log, UnixStream) {
    let mut reactor = Reactor::new();
    if let Some(backend) = backend {
        reactor.prepare(backend).unwrap();
    }
    let (ours, peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut peer = UnixStream::from(OwnedFd::from(peer));
    let log = Log::default();
    reactor.add(Dispatcher::new(ours).unwrap(), Recorder::new(&log)).unwrap();
    peer.write_all(b"ping").unwrap();
    (reactor, log, peer)
}

#[test]
fn a_prepared_epoll_loop_survives_running_out_of_descriptors() {
    // Everything that needs a descriptor is made before the limit drops.
    let mut prepared: Vec<_> =
        Backend::available().iter().map(|&b| (b, reactor_with_a_ping(Some(b)))).collect();
    let (mut unprepared, unprepared_log, _peer) = reactor_with_a_ping(None);

    let (original, _) = pollreactor::limits::fd_limit().unwrap();
    let restore = RestoreLimit(original);
    pollreactor::limits::set_fd_limit(open_fds() as u64).unwrap();
    // Fill whatever numbers below the limit are still free.
    let mut fillers = Vec::new();
    let exhausted = loop {
        match File::open("/dev/null") {
            Ok(file) => fillers.push(file),
            Err(e) => break e,
        }
        assert!(fillers.len() < 1000, "the limit did not hold");
    };
    assert_eq!(exhausted.raw_os_error(), Some(libc::EMFILE), "{exhausted}");

    // Without prepare, the first epoll wait cannot make its descriptor.
    let err = unprepared.poll_once(Some(Duration::from_millis(10)), Backend::Epoll).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "unprepared epoll: {err}");
    assert!(unprepared_log.events().is_empty());

    // Prepared, every backend still waits and dispatches.
    for (backend, (reactor, log, _peer)) in &mut prepared {
        loop_until(reactor, *backend, "the ping", |_| log.contains("read 4"));
    }

    drop(fillers);
    drop(restore);
    // With descriptors again, the unprepared reactor runs too.
    loop_until(&mut unprepared, Backend::Epoll, "the ping", |_| unprepared_log.contains("read 4"));
}
