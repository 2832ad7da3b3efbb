//! A load client for echo servers, built on client channels.
//!
//! What it teaches: many active connects at once. Each connection is a
//! channel that writes a pattern while `writable` says it has more to send,
//! reads the echo back and checks it byte for byte, and closes. The main
//! loop calls `poll_once` itself, so it can keep a bounded number of
//! connects in flight and start new connections between iterations.
//!
//! `cargo run --release --example echo_client -- --addr 127.0.0.1:8080 --conns 100 --bytes 65536`
//! It prints one summary line and exits 0 if every byte came back intact.

mod common;

use std::cell::RefCell;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pollreactor::{limits, Backend, Channel, Dispatcher, Family, Handler, SockType};

const USAGE: &str = "\
usage: echo_client --addr HOST:PORT [--conns N] [--bytes B] [--rounds R]
                   [--hold] [--backend poll|select|epoll] [--timeout SECS]

Opens N connections to an echo server, sends B bytes of a pattern on each,
checks every byte of the echo, and closes them; R rounds of that. With
--hold, each round's connections all stay open until every one of them is
verified, so N are open at once. Prints a summary line; exits 0 if every
byte came back intact, 1 otherwise (or if SECS pass first; default 120).

  --addr HOST:PORT  the echo server (default 127.0.0.1:8080)
  --conns N        connections per round (default 100)
  --bytes B        bytes per connection (default 65536)
  --rounds R       rounds (default 1)
  --hold           keep each round's connections open until all are verified
  --backend NAME   poll, select or epoll (default poll)
  --timeout SECS   give up (exit 1) after SECS seconds (default 120)
  -h, --help       this text";

/// At most this many connects in flight: a burst of thousands would
/// overflow the server's backlog and wait for SYN retries.
const MAX_CONNECTING: usize = 256;

/// What the connections report.
#[derive(Default)]
struct Tally {
    connecting: usize,
    verified: usize,
    failures: Vec<String>,
}

/// The byte at `offset` of connection `id`'s pattern.
fn pattern(id: usize, offset: usize) -> u8 {
    (offset.wrapping_mul(31) ^ id.wrapping_mul(131) ^ (offset >> 9)) as u8
}

struct Client {
    id: usize,
    bytes: usize,
    sent: usize,
    received: usize,
    hold: bool,
    tally: Rc<RefCell<Tally>>,
}

impl Client {
    fn fail(&self, ch: &mut Channel<'_>, why: String) {
        self.tally.borrow_mut().failures.push(format!("connection {}: {why}", self.id));
        ch.close();
    }
}

impl Handler for Client {
    fn writable(&mut self, d: &Dispatcher) -> bool {
        d.connecting() || self.sent < self.bytes
    }

    fn handle_connect(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.tally.borrow_mut().connecting -= 1;
        Ok(())
    }

    fn handle_write(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = chunk.len().min(self.bytes - self.sent);
        for (i, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern(self.id, self.sent + i);
        }
        self.sent += ch.send(&chunk[..n])?;
        Ok(())
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = ch.recv(&mut buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b != pattern(self.id, self.received + i) {
                let at = self.received + i;
                self.fail(ch, format!("byte {at} differs"));
                return Ok(());
            }
        }
        self.received += n;
        if self.received > self.bytes {
            self.fail(ch, format!("{} bytes came back, {} were sent", self.received, self.bytes));
        } else if n > 0 && self.received == self.bytes {
            self.tally.borrow_mut().verified += 1;
            if !self.hold {
                ch.close();
            }
        }
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        if self.received < self.bytes {
            self.fail(ch, format!("closed after {} of {} bytes", self.received, self.bytes));
        }
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        if ch.connecting() {
            self.tally.borrow_mut().connecting -= 1;
        }
        self.fail(ch, err.to_string());
    }
}

struct Options {
    addr: std::net::SocketAddr,
    conns: usize,
    bytes: usize,
    rounds: usize,
    hold: bool,
    backend: Backend,
    timeout: Duration,
}

fn main() -> ExitCode {
    let opts = parse_args();
    let _ = limits::fd_limit().and_then(|(_, hard)| limits::set_fd_limit(hard));
    let start = Instant::now();
    for round in 0..opts.rounds {
        if let Err(e) = run_round(&opts, round, start) {
            return common::fail(&format!("round {}", round + 1), e);
        }
    }
    let total = opts.conns * opts.rounds;
    common::say(&format!(
        "ok: {total} connections ({} x {} rounds), {} bytes verified in {:.2} s",
        opts.conns,
        opts.rounds,
        total * opts.bytes,
        start.elapsed().as_secs_f64()
    ));
    ExitCode::SUCCESS
}

/// One round: open `conns` connections (a bounded number connecting at a
/// time), run until each is verified or has failed.
fn run_round(opts: &Options, round: usize, start: Instant) -> io::Result<()> {
    let mut reactor = common::new_reactor();
    let tally = Rc::new(RefCell::new(Tally::default()));
    let family = if opts.addr.is_ipv4() { Family::Inet } else { Family::Inet6 };
    let mut opened = 0;
    loop {
        while opened < opts.conns && tally.borrow().connecting < MAX_CONNECTING {
            let mut d = Dispatcher::create_socket(family, SockType::Stream)?;
            d.connect(opts.addr)?;
            tally.borrow_mut().connecting += 1;
            let id = round * opts.conns + opened;
            let client =
                Client { id, bytes: opts.bytes, sent: 0, received: 0, hold: opts.hold, tally: tally.clone() };
            reactor.add(d, client)?;
            opened += 1;
        }
        let t = tally.borrow();
        if let Some(first) = t.failures.first() {
            return Err(io::Error::other(format!("{} failed, first: {first}", t.failures.len())));
        }
        if opened == opts.conns && t.verified == opts.conns {
            break;
        }
        drop(t);
        if start.elapsed() > opts.timeout {
            let verified = tally.borrow().verified;
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("only {verified} verified in time")));
        }
        reactor.poll_once(Some(Duration::from_millis(100)), opts.backend)?;
    }
    reactor.context_mut().close_all();
    Ok(())
}

fn parse_args() -> Options {
    let mut opts = Options {
        addr: "127.0.0.1:8080".parse().unwrap(),
        conns: 100,
        bytes: 65536,
        rounds: 1,
        hold: false,
        backend: Backend::Poll,
        timeout: Duration::from_secs(120),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        let mut value = || common::value_of(&arg, argv.next(), USAGE);
        let number = |v: String| {
            v.parse::<usize>()
                .unwrap_or_else(|_| common::usage_error(&format!("{v:?} is not a number"), USAGE))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                common::say(USAGE);
                std::process::exit(0);
            }
            "--addr" => {
                let v = value();
                opts.addr =
                    v.parse().unwrap_or_else(|_| common::usage_error(&format!("bad address {v:?}"), USAGE));
            }
            "--conns" => opts.conns = number(value()),
            "--bytes" => opts.bytes = number(value()),
            "--rounds" => opts.rounds = number(value()),
            "--timeout" => opts.timeout = Duration::from_secs(number(value()) as u64),
            "--hold" => opts.hold = true,
            "--backend" => {
                opts.backend = common::backend_of(&value(), USAGE);
            }
            other => common::usage_error(&format!("unknown argument {other:?}"), USAGE),
        }
    }
    opts
}
