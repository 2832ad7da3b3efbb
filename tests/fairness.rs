//! Fairness, which asyncore lacks: one peer floods its channel as fast as
//! it can while another plays ping-pong; the ping-pong latency stays
//! bounded, and the flood keeps moving too.

mod common;

use common::Echo;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::WAIT_LIMIT;
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket};

/// Reads and drops everything (one read per readiness).
struct Sink {
    received: usize,
}

impl Handler for Sink {
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 65536];
        self.received += ch.recv(&mut buf)?;
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

fn blocking(sock: Socket) -> UnixStream {
    let stream = UnixStream::from(OwnedFd::from(sock));
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    stream
}

fn a_flood_does_not_starve_a_ping_pong(backend: Backend) {
    let mut reactor = Reactor::new();
    let (sink, flood_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let sink = reactor.add(Dispatcher::new(sink).unwrap(), Sink { received: 0 }).unwrap();
    let (echo, ping_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    reactor.add(Dispatcher::new(echo).unwrap().with_send(), Echo).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let flooding = stop.clone();
    let mut flood_peer = blocking(flood_peer);
    let flooder = thread::spawn(move || {
        let chunk = [0xAAu8; 65536];
        while !flooding.load(Ordering::Relaxed) {
            if flood_peer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    // The flood must be under way (1 MiB read) before the pings start, so
    // every ping competes with it even on a loaded machine.
    let deadline = Instant::now() + WAIT_LIMIT;
    while reactor.context().handler::<Sink>(sink).unwrap().received < 1 << 20 {
        assert!(Instant::now() < deadline, "{backend:?}: the flood itself stalled");
        reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
    }
    let mut ping_peer = blocking(ping_peer);
    let pinger = thread::spawn(move || {
        let mut worst = Duration::ZERO;
        for i in 0..200u8 {
            let start = Instant::now();
            ping_peer.write_all(&[i; 16]).unwrap();
            let mut back = [0u8; 16];
            ping_peer.read_exact(&mut back).unwrap();
            assert_eq!(back, [i; 16]);
            worst = worst.max(start.elapsed());
        }
        worst
    });
    let deadline = Instant::now() + WAIT_LIMIT;
    while !pinger.is_finished() {
        assert!(Instant::now() < deadline, "{backend:?}: the ping-pong starved");
        reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
    }
    let worst = pinger.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    let flooded = reactor.context().handler::<Sink>(sink).unwrap().received;
    reactor.context_mut().close_all(); // unblocks the flooder's write
    flooder.join().unwrap();
    println!("{backend:?}: worst ping {worst:?} while {flooded} flood bytes were read");
    // One iteration serves both channels: a ping waits for at most a few
    // iterations, never for the flood to end.
    assert!(worst < Duration::from_millis(500), "{backend:?}: a ping took {worst:?}");
}

on_every_backend!(a_flood_does_not_starve_a_ping_pong);
