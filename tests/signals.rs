//! Signals delivered on the loop thread. One reactor per process receives
//! signals, so this file is its own test binary with a single reactor, and
//! the backends run one after the other.

#![cfg(feature = "signals")]

mod common;

use common::Echo;
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

/// How much the storm transfer echoes.
const TOTAL: usize = 32 << 20;

/// Echoes `TOTAL` bytes (written and checked by two threads) while a Python
/// process sends this process SIGUSR1 every millisecond; returns the bytes
/// verified and the signals handled during the transfer.
fn transfer_during_a_storm(reactor: &mut Reactor, backend: Backend, usr1: &Cell<usize>) -> (usize, usize) {
    let storm_script = "import os, signal, sys, time\n\
        pid = int(sys.argv[1])\n\
        for _ in range(100000):\n\
        \x20   os.kill(pid, signal.SIGUSR1)\n\
        \x20   time.sleep(0.001)\n";
    let mut storm = Command::new("python3")
        .args(["-c", storm_script, &std::process::id().to_string()])
        .spawn()
        .expect("python3 runs the storm");
    // The transfer starts once the storm has.
    usr1.set(0);
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    while usr1.get() == 0 {
        assert!(std::time::Instant::now() < deadline, "the storm never started");
        reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
    }
    let before = usr1.get();
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let token = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
    let theirs: std::os::unix::net::UnixStream = std::os::fd::OwnedFd::from(theirs).into();
    theirs.set_nonblocking(false).unwrap();
    theirs.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut writer = theirs.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let data = common::pattern(TOTAL, 7);
        std::io::Write::write_all(&mut writer, &data).unwrap();
    });
    let reader = thread::spawn(move || {
        let expected = common::pattern(TOTAL, 7);
        let mut got = vec![0u8; TOTAL];
        std::io::Read::read_exact(&mut &theirs, &mut got).unwrap();
        assert!(got == expected, "the echo differs");
        TOTAL
    });
    let deadline = std::time::Instant::now() + WAIT_LIMIT;
    while !reader.is_finished() {
        assert!(std::time::Instant::now() < deadline, "{backend:?}: the transfer did not finish");
        reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
    }
    let during = usr1.get() - before;
    let _ = storm.kill();
    let _ = storm.wait();
    sender.join().unwrap();
    reactor.context_mut().close(token);
    // Signals still in the pipe are handled on the next iteration.
    reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
    (reader.join().unwrap(), during)
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
    let exit_on_signal = Rc::new(Cell::new(true));
    let (seen, exit) = (usr1.clone(), exit_on_signal.clone());
    reactor
        .on_signal(libc::SIGUSR1, move |ctx| {
            seen.set(seen.get() + 1);
            if exit.get() {
                ctx.exit_now();
            }
        })
        .unwrap();
    let (ours, _theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    reactor.add(Dispatcher::new(ours).unwrap(), Quiet).unwrap();
    for (round, backend) in [Backend::Poll, Backend::Select].into_iter().enumerate() {
        let watchdog =
            reactor.context_mut().call_later(WAIT_LIMIT, |_| panic!("the signal never reached the loop"));
        let sender = thread::spawn(|| {
            thread::sleep(Duration::from_millis(50)); // let the loop block first
            send_signal("USR1");
        });
        reactor.run(LoopOptions::default().backend(backend).timeout(None)).unwrap();
        sender.join().unwrap();
        assert!(reactor.context_mut().cancel_timer(watchdog), "{backend:?}: the watchdog fired");
        assert_eq!(usr1.get(), round + 1, "{backend:?}: the handler ran once per signal");
    }
    // A storm: another process sends SIGUSR1 every millisecond while 32 MiB
    // go through an echo channel. poll, select and epoll_wait fail with
    // EINTR at every signal (SA_RESTART does not restart them); nothing may
    // be lost, and the handler must see the signals.
    exit_on_signal.set(false);
    for &backend in Backend::available() {
        let (transferred, signals) = transfer_during_a_storm(&mut reactor, backend, &usr1);
        println!("{backend:?}: {transferred} bytes echoed intact through {signals} signals");
        assert_eq!(transferred, TOTAL, "{backend:?}");
        assert!(signals >= 20, "{backend:?}: only {signals} signals arrived during the transfer");
    }

    // A second reactor cannot take the signals from the first.
    let err = Reactor::new().on_signal(libc::SIGUSR2, |_| {}).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    // Nor can anyone register a number that is not a signal.
    assert_eq!(reactor.on_signal(0, |_| {}).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}
