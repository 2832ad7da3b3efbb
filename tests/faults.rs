//! Handler faults and peer faults, on every backend: panics (propagated by
//! default, or confined to the channel), and a peer that goes away while
//! our connect is still in progress.

mod common;

use common::Echo;
use std::io;
use std::net::TcpListener;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use common::{loop_until, Log};
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};

/// Panics when it has something to read.
struct Panicky {
    log: Log,
}

impl Handler for Panicky {
    fn handle_read(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        panic!("boom");
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

fn a_panic_propagates_by_default(backend: Backend) {
    let mut reactor = Reactor::new();
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    reactor.add(Dispatcher::new(ours).unwrap(), Panicky { log: Log::default() }).unwrap();
    theirs.send(b"x").unwrap();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        reactor.poll_once(Some(Duration::from_secs(5)), backend).unwrap();
    }));
    let payload = outcome.expect_err("the panic must leave poll_once");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
}

fn a_panic_is_confined_when_asked(backend: Backend) {
    let mut reactor = Reactor::new();
    reactor.set_catch_panics(true);
    let log = Log::default();
    let (bad, bad_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let bad = reactor.add(Dispatcher::new(bad).unwrap(), Panicky { log: log.clone() }).unwrap();
    let (good, good_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let good = reactor.add(Dispatcher::new(good).unwrap().with_send(), Echo).unwrap();
    bad_peer.send(b"x").unwrap();
    good_peer.send(b"ping").unwrap();
    loop_until(&mut reactor, backend, "the panicking channel to close", |r| !r.context().contains(bad));
    assert_eq!(log.events(), ["error: handler panicked: boom"]);
    // The other channel is still served.
    let mut answer = [0u8; 4];
    loop_until(&mut reactor, backend, "the echo", |_| good_peer.recv(&mut answer).is_ok());
    assert_eq!(&answer, b"ping");
    assert!(reactor.context().contains(good));
}

/// Records how the connect ended.
struct Client {
    log: Log,
}

impl Handler for Client {
    fn handle_connect(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("connect");
        Ok(())
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        ch.recv(&mut buf)?;
        Ok(())
    }

    fn writable(&mut self, d: &Dispatcher) -> bool {
        d.connecting()
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("close");
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        self.log.push(format!("error {:?}", err.kind()));
        ch.close();
    }
}

fn the_peer_goes_away_during_connect(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut reactor = Reactor::new();
    let log = Log::default();
    let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap();
    client.connect(addr).unwrap();
    let token = reactor.add(client, Client { log: log.clone() }).unwrap();
    // The listener goes away with our connection still in its backlog: the
    // kernel resets it.
    drop(listener);
    loop_until(&mut reactor, backend, "the channel to close", |r| !r.context().contains(token));
    let events = log.events();
    // Either the connect completed and the reset closed it, or the connect
    // itself failed; one way or the other it ends exactly once.
    let ends = events.iter().filter(|e| *e == "close" || e.starts_with("error")).count();
    assert_eq!(ends, 1, "{events:?}");
    assert!(events.len() <= 2 && (events.len() == 1 || events[0] == "connect"), "{events:?}");
}

on_every_backend!(
    a_panic_propagates_by_default,
    a_panic_is_confined_when_asked,
    the_peer_goes_away_during_connect,
    refused_connect_with_queued_output,
    a_reset_after_the_end_of_file_is_announced
);

/// A send that finds the connection broken leaves nothing queued: the
/// default handle_close that follows closes the channel at once instead of
/// waiting to flush bytes that can never be delivered. (The send is the one
/// that ends the callback: inside it, the bytes are only queued.)
#[test]
fn a_broken_connection_keeps_no_queued_output() {
    let mut reactor = Reactor::new();
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let token = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
    drop(theirs);
    let queued = reactor.context_mut().call(token, |_: &mut Echo, ch: &mut Channel<'_, WithSend>| {
        ch.send_buffered(b"hello").unwrap();
        ch.pending_output()
    });
    assert_eq!(queued, Some(5), "queued until the callback returns");
    assert!(!reactor.context().contains(token), "handle_close must close a channel with nothing to flush");
}

/// Logs what the defaults report (through `log_info`) and any connect.
struct DefaultsLogged {
    log: Log,
}

impl Handler<WithSend> for DefaultsLogged {
    fn handle_connect(&mut self, _: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.log.push("connect");
        Ok(())
    }
    fn log_info(&mut self, message: &str, kind: pollreactor::LogKind) {
        let what = if message.starts_with("uncaptured error") { "error" } else { message };
        self.log.push(format!("{kind}: {what}"));
    }
}

/// A buffered channel with output queued while its connect is refused:
/// the default handle_error, then the default handle_close once, and never
/// a handle_connect or a write (the refused connect must not pass for a
/// connect once SO_ERROR was read and cleared).
fn refused_connect_with_queued_output(backend: Backend) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap().with_send();
    d.connect(port).unwrap();
    d.send_buffered(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let t = reactor.add(d, DefaultsLogged { log: log.clone() }).unwrap();
    loop_until(&mut reactor, backend, "the refused channel to close", |r| !r.context().contains(t));
    assert_eq!(log.events(), ["error: error", "warning: unhandled close event"]);
}

/// Queues 4 MiB at the end of the input and logs every handle_close with
/// its reason; the default buffered handle_close sends the queue, then closes.
struct LastWords {
    log: Log,
}

impl Handler<WithSend> for LastWords {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = Vec::new();
        if ch.recv_into(&mut buf, 4096)? == 0 {
            ch.send_buffered(&vec![7u8; 4 << 20])?;
        }
        Ok(())
    }
    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.log.push(format!("close {:?}", ch.close_reason()));
        <WithSend as pollreactor::Layer>::handle_close(self, ch)
    }
}

/// A channel kept open after an end of file, to send its last answer, that
/// then finds the peer gone (a reset) is told so: handle_close once more,
/// with the new reason, so a forwarder can pass the reset on.
fn a_reset_after_the_end_of_file_is_announced(backend: Backend) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), LastWords { log: log.clone() }).unwrap();
    peer.shutdown(std::net::Shutdown::Write).unwrap();
    loop_until(&mut reactor, backend, "the end of file", |_| !log.events().is_empty());
    // The 4 MiB answer cannot all go out (nobody reads): the peer resets.
    let peer = Socket::from(std::os::fd::OwnedFd::from(peer));
    peer.set_linger_zero().unwrap();
    drop(peer);
    loop_until(&mut reactor, backend, "the channel to close", |r| !r.context().contains(t));
    let events = log.events();
    assert_eq!(events[0], "close Some(EndOfFile)");
    assert!(
        events.len() == 2 && (events[1] == "close Some(Reset)" || events[1] == "close Some(Broken)"),
        "{events:?}"
    );
}
