//! Signals delivered on the loop thread. One reactor per process receives
//! signals, so this file is its own test binary with a single reactor, and
//! the backends run one after the other.

mod common;

use std::cell::Cell;
use std::io;
use std::process::Command;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use common::WAIT_LIMIT;
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, LoopOptions, Reactor, SockType, Socket};

/// Sends `signal` (a name such as "USR1") to this process with kill(1).
fn send_signal(signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(std::process::id().to_string()).status();
    assert!(status.expect("run kill").success(), "kill -{signal} failed");
}

/// A channel that only waits to read, so the loop blocks in its wait.
struct Quiet;

impl Handler for Quiet {
    fn handle_read(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        panic!("nothing was sent");
    }
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

#[test]
fn signals_reach_a_loop_blocked_in_poll_and_select() {
    let mut reactor = Reactor::new();
    let usr1 = Rc::new(Cell::new(0));
    let seen = usr1.clone();
    reactor
        .on_signal(libc::SIGUSR1, move |ctx| {
            seen.set(seen.get() + 1);
            ctx.exit_now();
        })
        .unwrap();
    let (ours, _theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    reactor.add(Dispatcher::new(ours).unwrap(), Quiet).unwrap();
    for (round, backend) in [Backend::Poll, Backend::Select].into_iter().enumerate() {
        let watchdog = reactor.call_later(WAIT_LIMIT, |_| panic!("the signal never reached the loop"));
        let sender = thread::spawn(|| {
            thread::sleep(Duration::from_millis(50)); // let the loop block first
            send_signal("USR1");
        });
        reactor.run(LoopOptions::default().backend(backend).timeout(None)).unwrap();
        sender.join().unwrap();
        assert!(reactor.cancel_timer(watchdog), "{backend:?}: the watchdog fired");
        assert_eq!(usr1.get(), round + 1, "{backend:?}: the handler ran once per signal");
    }
    // A second reactor cannot take the signals from the first.
    let err = Reactor::new().on_signal(libc::SIGUSR2, |_| {}).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    // Nor can anyone register a number that is not a signal.
    assert_eq!(reactor.on_signal(0, |_| {}).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}
