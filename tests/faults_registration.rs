//! A registration the backend refuses (epoll_ctl ENOSPC, injected) goes to
//! that channel's `handle_error`, the loop goes on, and a handler that
//! keeps the channel gets it registered again at the next iteration (it
//! used to be asked again, find its "same" answer, and stay unregistered
//! for good: a listener then never accepted again).
#![cfg(feature = "fault-injection")]

mod common;

use std::io;

use common::{loop_until, Log};
use pollreactor::fault::{self, Fault, Site};
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket};

/// Logs reads and errors; keeps the channel open on an error.
struct Keeper {
    log: Log,
}

impl Handler for Keeper {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16];
        let n = ch.recv(&mut buf)?;
        self.log.push(format!("read {}", String::from_utf8_lossy(&buf[..n])));
        Ok(())
    }
    fn handle_error(&mut self, _: &mut Channel<'_>, err: io::Error) {
        self.log.push(format!("error {}", err.raw_os_error().unwrap_or(0)));
    }
}

#[test]
fn a_refused_registration_is_the_channels_error_and_is_tried_again() {
    if !Backend::available().contains(&Backend::Epoll) {
        return; // the portable build has no epoll; poll and select register in user space
    }
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let log = Log::default();
    let mut reactor = Reactor::new();
    reactor.prepare(Backend::Epoll).unwrap();
    reactor.add(Dispatcher::new(ours).unwrap(), Keeper { log: log.clone() }).unwrap();
    fault::inject_next(Site::EpollCtl, Fault::Errno(libc::ENOSPC));
    theirs.send(b"hi").unwrap();
    loop_until(&mut reactor, Backend::Epoll, "the data, once registered", |_| log.contains("read hi"));
    fault::disable();
    assert_eq!(log.events(), [format!("error {}", libc::ENOSPC), "read hi".to_string()]);
}
