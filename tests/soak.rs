//! Soak and scale, bounded: churn of 1,000 concurrent clients over several
//! rounds, then 10,000 connections held at once, every byte verified by the
//! `echo_client` example running as a separate process. Afterwards the
//! process' descriptors are back to where they started and RSS grew less
//! than a stated bound. Its own test binary, so no other test's
//! descriptors or memory are counted.
//!
//! `POLLREACTOR_SOAK_ROUNDS=N` runs N churn rounds instead of 10.

// The example programs (which these tests run) need these features.
#![cfg(all(feature = "signals", feature = "trace"))]

mod common;

use common::Echo;
use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pollreactor::{Address, Backend, Channel, Dispatcher, Handler, Reactor, Socket};

/// How much RSS may grow over a soak: room for the channel map and buffers
/// to reach their working size, far below a leak of 1,000s of connections.
const RSS_GROWTH_LIMIT_KIB: u64 = 16 * 1024;

/// A listener that drains its backlog on each readiness.
struct Server;

impl Handler for Server {
    fn handle_accept(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        while let Some((sock, addr)) = ch.accept()? {
            self.handle_accepted(ch, sock, addr)?;
        }
        Ok(())
    }

    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _: Address) -> io::Result<()> {
        ch.context().add(Dispatcher::new(sock)?.with_send(), Echo)?;
        Ok(())
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Serves the echo_client process until it exits; returns its summary line.
fn serve_client(backend: Backend, client_args: &[String], limit: Duration) -> String {
    let mut reactor = Reactor::new();
    let listener = Dispatcher::listen_tcp("127.0.0.1:0", 4096).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    reactor.add(listener, Server).unwrap();
    let mut client = Command::new(common::example("echo_client"))
        .args(["--addr", &addr, "--timeout", &limit.as_secs().to_string()])
        .args(client_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "{backend:?}: echo_client {client_args:?} did not finish");
        reactor.poll_once(Some(Duration::from_millis(50)), backend).unwrap();
    };
    let mut out = String::new();
    io::Read::read_to_string(&mut client.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "{backend:?}: echo_client {client_args:?} failed: {out}");
    // The client closed everything: the server's channels see it and close.
    let until = Instant::now() + common::WAIT_LIMIT;
    while reactor.context().len() > 1 {
        assert!(Instant::now() < until, "{backend:?}: {} channels never closed", reactor.context().len() - 1);
        reactor.poll_once(Some(Duration::from_millis(50)), backend).unwrap();
    }
    out
}

fn soak(backend: Backend, conns: usize) {
    let rounds: usize =
        std::env::var("POLLREACTOR_SOAK_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(10);
    let (fds_before, rss_before) = (common::open_fds(), rss_kib());
    let args: Vec<String> =
        ["--conns", &conns.to_string(), "--bytes", "16384", "--rounds", &rounds.to_string()]
            .map(String::from)
            .into();
    let summary = serve_client(backend, &args, Duration::from_secs(240));
    let (fds_after, rss_after) = (common::open_fds(), rss_kib());
    println!(
        "soak {backend:?}: {} fds {fds_before} -> {fds_after}, RSS {rss_before} -> {rss_after} KiB",
        summary.trim()
    );
    assert!(summary.starts_with(&format!("ok: {} connections", conns * rounds)), "{summary}");
    assert_eq!(fds_after, fds_before, "{backend:?}: descriptors leaked");
    assert!(
        rss_after < rss_before + RSS_GROWTH_LIMIT_KIB,
        "{backend:?}: RSS grew {rss_before} -> {rss_after} KiB"
    );
}

#[test]
fn soak_then_scale() {
    // Raise the soft descriptor limit as far as the hard one allows.
    let (_, hard) = pollreactor::limits::fd_limit().unwrap();
    pollreactor::limits::set_fd_limit(hard).unwrap();
    soak(Backend::Poll, 1000);
    if Backend::available().contains(&Backend::Epoll) {
        soak(Backend::Epoll, 1000);
    }
    // select: below FD_SETSIZE, with room for the test's own descriptors.
    soak(Backend::Select, 900);

    // Scale: 10,000 connections open at once on the poll backend.
    if hard < 10_100 {
        println!("skipped the 10,000-connection scale run: the hard RLIMIT_NOFILE is {hard}, below 10,100");
        return;
    }
    let fds_before = common::open_fds();
    let args: Vec<String> = ["--conns", "10000", "--bytes", "1024", "--hold"].map(String::from).into();
    let summary = serve_client(Backend::Poll, &args, Duration::from_secs(300));
    println!("scale: {}", summary.trim());
    assert!(summary.starts_with("ok: 10000 connections"), "{summary}");
    assert_eq!(common::open_fds(), fds_before, "descriptors leaked");
}
