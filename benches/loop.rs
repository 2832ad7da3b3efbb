//! Micro-benchmarks of the loop itself. They print figures and assert
//! nothing about time: run them side by side, compare ratios.
//!
//! `cargo bench` (release build). Sections:
//! 1. one iteration with 0 / 1,000 / 10,000 idle channels, per backend;
//! 2. echo round trips over a socketpair, per backend;
//! 3. chat framing throughput (line and count terminators), and one big
//!    push draining in linear time (8 MiB against 64 MiB);
//! 4. timers: insert and cancel 100,000, and an iteration with 100,000
//!    pending timers that are not due.

use std::hint::black_box;
use std::io;
use std::time::{Duration, Instant};

use pollreactor::{
    limits, Backend, Channel, Chat, Dispatcher, Family, Handler, Reactor, SockType, Socket, Terminator,
    WithSend,
};

/// Runs `f` `n` times and returns the mean time per run.
fn per_op(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

/// A channel that waits to read and never gets anything.
struct Idle;

impl Handler for Idle {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

fn idle_iterations() {
    println!("## one iteration (timeout 0) with N idle channels");
    let _ = limits::fd_limit().and_then(|(_, hard)| limits::set_fd_limit(hard));
    for n in [0usize, 1_000, 10_000] {
        let mut reactor = Reactor::new();
        // N + 1 unbound datagram sockets: one descriptor each, never ready.
        for _ in 0..=n {
            let Ok(sock) = Socket::new(Family::Unix, SockType::Datagram) else {
                println!("  N={n}: cannot open enough sockets (raise ulimit -n)");
                return;
            };
            reactor.add(Dispatcher::new(sock).unwrap(), Idle).unwrap();
        }
        for &backend in Backend::available() {
            let iters = if n >= 10_000 { 200 } else { 2_000 };
            match reactor.poll_once(Some(Duration::ZERO), backend) {
                Err(e) => println!("  N={n:>6} {backend:?}: {e}"),
                Ok(()) => {
                    let t = per_op(iters, || reactor.poll_once(Some(Duration::ZERO), backend).unwrap());
                    println!(
                        "  N={n:>6} {:<7} {:>10.2} us/iteration",
                        format!("{backend:?}"),
                        t.as_secs_f64() * 1e6
                    );
                }
            }
        }
    }
}

/// Echoes through its output queue.
struct Echo;

impl Handler<WithSend> for Echo {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = ch.recv(&mut buf)?;
        ch.send_buffered(&buf[..n])
    }
}

fn echo_round_trips() {
    println!("## echo round trips, 64 bytes, over a socketpair");
    for &backend in Backend::available() {
        let mut reactor = Reactor::new();
        let (ours, peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
        let (message, mut answer) = ([1u8; 64], [0u8; 64]);
        let t = per_op(50_000, || {
            peer.send(&message).unwrap();
            let mut got = 0;
            while got < 64 {
                reactor.poll_once(Some(Duration::from_secs(1)), backend).unwrap();
                got += peer.recv(&mut answer[got..]).unwrap_or(0);
            }
        });
        println!("  {:<7} {:>8.2} us/round trip", format!("{backend:?}"), t.as_secs_f64() * 1e6);
    }
}

/// Counts records.
struct Counter {
    records: usize,
}

impl Handler<Chat> for Counter {
    fn collect_incoming_data(&mut self, _: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        black_box(data);
        Ok(())
    }

    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.records += 1;
        if let Terminator::Count(_) = ch.terminator() {
            ch.set_terminator(100usize);
        }
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher<Chat>) -> bool {
        false
    }
}

fn chat_framing() {
    println!("## chat framing throughput (writer thread -> chat channel)");
    let total: usize = 64 << 20;
    for (label, terminator, record) in [
        ("line (64 B lines)", Terminator::from(b"\n"), 64usize),
        ("count (100 B)", Terminator::Count(100), 100),
    ] {
        let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let mut chat = Dispatcher::new(ours).unwrap().with_chat();
        chat.set_terminator(terminator);
        let mut reactor = Reactor::new();
        let token = reactor.add(chat, Counter { records: 0 }).unwrap();
        let mut payload = vec![b'x'; record];
        if record == 64 {
            payload[63] = b'\n';
        }
        let chunk: Vec<u8> = payload.iter().copied().cycle().take(record * 1024).collect();
        let writer = std::thread::spawn(move || {
            theirs.set_nonblocking(false).unwrap();
            let mut sent = 0;
            while sent < total {
                let mut off = 0;
                while off < chunk.len() {
                    off += theirs.send(&chunk[off..]).unwrap();
                }
                sent += chunk.len();
            }
            theirs
        });
        let start = Instant::now();
        // Every record the writer sends: whole chunks, so a little past
        // `total`. Stopping short of them would leave the writer blocked on
        // a full socket, and `join` below waiting for it forever.
        let chunk_len = record * 1024;
        let expected = total.div_ceil(chunk_len) * chunk_len / record;
        while reactor.context().handler::<Counter>(token).map_or(0, |c| c.records) < expected {
            reactor.poll_once(Some(Duration::from_secs(1)), Backend::Poll).unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        drop(writer.join().unwrap());
        println!("  {label:<20} {:>8.0} MB/s", total as f64 / secs / 1e6);
    }
}

/// Reads everything and counts it.
struct Drain {
    received: usize,
}

impl Handler for Drain {
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 65536];
        self.received += ch.recv(&mut buf)?;
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

/// A chat channel with every default: writable while output is queued.
struct Pusher;

impl Handler<Chat> for Pusher {}

/// One push of `size` bytes on a chat channel, drained by a reading channel
/// in the same reactor: the time it takes, to compare 8 MiB with 64 MiB.
fn big_push(size: usize) -> Duration {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut reactor = Reactor::new();
    let sender = reactor.add(Dispatcher::new(ours).unwrap().with_chat(), Pusher).unwrap();
    let reader = reactor.add(Dispatcher::new(theirs).unwrap(), Drain { received: 0 }).unwrap();
    let data = vec![7u8; size];
    let start = Instant::now();
    reactor
        .context_mut()
        .call(sender, |_: &mut Pusher, ch: &mut Channel<'_, Chat>| ch.push(&data))
        .unwrap()
        .unwrap();
    while reactor.context().handler::<Drain>(reader).unwrap().received < size {
        reactor.poll_once(Some(Duration::from_secs(1)), Backend::Poll).unwrap();
    }
    start.elapsed()
}

fn linear_push() {
    println!("## one big push drains in linear time");
    let (small, large) = (big_push(8 << 20), big_push(64 << 20));
    println!(
        "  8 MiB {:.1} ms, 64 MiB {:.1} ms: {:.1}x the time for 8x the bytes",
        small.as_secs_f64() * 1e3,
        large.as_secs_f64() * 1e3,
        large.as_secs_f64() / small.as_secs_f64()
    );
}

fn timers() {
    println!("## timers");
    let mut reactor = Reactor::new();
    let n = 100_000u32;
    let start = Instant::now();
    let ids: Vec<_> = (0..n)
        .map(|i| reactor.context_mut().call_later(Duration::from_secs(3600 + u64::from(i)), |_| {}))
        .collect();
    println!("  insert  {:>8.0} ns/timer", start.elapsed().as_nanos() as f64 / f64::from(n));
    let (ours, _peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    reactor.add(Dispatcher::new(ours).unwrap(), Idle).unwrap();
    let with = per_op(20_000, || reactor.poll_once(Some(Duration::ZERO), Backend::Poll).unwrap());
    let start = Instant::now();
    for id in ids {
        reactor.context_mut().cancel_timer(id);
    }
    println!("  cancel  {:>8.0} ns/timer", start.elapsed().as_nanos() as f64 / f64::from(n));
    let without = per_op(20_000, || reactor.poll_once(Some(Duration::ZERO), Backend::Poll).unwrap());
    println!(
        "  iteration with 100,000 pending timers {:.2} us, with none {:.2} us",
        with.as_secs_f64() * 1e6,
        without.as_secs_f64() * 1e6
    );
}

fn main() {
    // `cargo test --benches` runs this with `--test`: keep that quick.
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    idle_iterations();
    echo_round_trips();
    chat_framing();
    linear_push();
    timers();
}
