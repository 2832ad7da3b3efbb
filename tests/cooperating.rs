//! Channels that cooperate: flow control, pacing one channel by another's
//! queue, the reasons a close is announced with, the end-of-file latch, one
//! send per callback, channel timers, `Context::defer`, and regression
//! tests for the four bugs of issue 11. Every scenario runs on every
//! backend (`on_every_backend!`), over real sockets, socket pairs and pipes;
//! every wait is bounded and waits on an event, not on a sleep.
//!
//! * `flow_control_in_process`: an echo channel whose peer sends 256 MiB and
//!   does not read keeps at most its high-water mark plus one read queued,
//!   becomes `throttled()`, is not read while it is; once the peer reads,
//!   every byte comes back, in order.
//! * `flow_control_echo_server`: the same against the `echo_server` example
//!   process: its peak RSS (VmHWM) stays under 16 MiB.
//! * `pace_reading_by_other_queue`: a forwarder A paced by the channel B it
//!   writes to is not read while B's peer does not read, and resumes when it
//!   does; no byte is lost.
//! * `close_*`, `own_close_*`: each reason the library closes with is
//!   announced once, through `handle_close`, with its `close_reason()`; a
//!   program's own `close()` runs no `handle_close`.
//! * `late_loop_reads_input_that_came_in_time`: a loop that comes back
//!   past a channel's input timeout reads the input that arrived in time
//!   before it judges the channel silent.
//! * `eof_latch_*`: a `handle_close` that keeps the channel open is run once
//!   and the loop does not spin on the end of file.
//! * `chat_one_send_per_callback`: 1,000 pipelined lines are answered in
//!   order with a handful of send(2) calls (`Dispatcher::sends`).
//! * `channel_timers_*`, `context_timer_stops_itself`: channel timers run
//!   with the handler and stop with the channel; a periodic timer stops
//!   itself through `current_timer()`.
//! * `defer_reaches_a_busy_caller`: from B's `handle_close`, run inside A's
//!   `call` into B, `call` back into A finds it busy, `defer` reaches it.
//! * `bug_a_*` .. `bug_d_*`: issue 11's bugs (queued output during a refused
//!   connect; a pipe's last reads and end of file on every backend; epoll
//!   with no descriptors left is in `tests/epoll_prepare.rs`;
//!   `close_when_done` announcing `Drained`).
#![forbid(unsafe_code)]

mod common;

use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{join_within, loop_until, pattern, Log, WAIT_LIMIT};
use pollreactor::{
    Backend, Channel, Chat, Dispatcher, Family, Handler, Layer, LogKind, Reactor, SockType, Socket, TimerId,
    Token, WithSend,
};

on_every_backend!(
    flow_control_in_process,
    pace_reading_by_other_queue,
    close_end_of_file,
    close_reset,
    close_idle_timeout,
    close_input_timeout_despite_heartbeats,
    late_loop_reads_input_that_came_in_time,
    close_send_timeout,
    send_timeout_counts_once_output_queues,
    send_timeout_passed_before_the_loop_looks,
    moved_channel_keeps_its_timeout,
    close_drained,
    close_error,
    own_close_runs_no_handle_close,
    eof_latch_socket,
    eof_latch_pipe,
    chat_one_send_per_callback,
    channel_timers_run_with_the_handler,
    channel_timers_stop_with_the_channel,
    context_timer_stops_itself,
    defer_reaches_a_busy_caller,
    bug_a_queued_output_during_a_refused_connect,
    bug_b_pipe_last_reads_then_end_of_file,
    bug_d_close_when_done_announces_drained,
);

// ---------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------

/// What one echo read asks for.
const READ: usize = 8192;

/// The flow-control scenarios' stream: 256 MiB.
const TOTAL: u64 = 256 << 20;

/// The stream's pattern repeats every `PERIOD` bytes (a prime, so that no
/// loss, duplication or swap of power-of-two-sized pieces can line up with it).
const PERIOD: usize = 1_000_003;

/// The most one write or check takes from the pattern at once.
const MAX_PIECE: usize = 256 * 1024;

/// The pattern, with its first `MAX_PIECE` bytes repeated after it, so the
/// stream's bytes at any offset are one slice: see [`stream_at`].
fn stream_pattern() -> Arc<Vec<u8>> {
    let mut period = pattern(PERIOD, 7);
    period.extend_from_within(..MAX_PIECE);
    Arc::new(period)
}

/// The stream's `len` (at most `MAX_PIECE`) bytes at `offset`.
fn stream_at(period: &[u8], offset: u64, len: usize) -> &[u8] {
    let at = (offset % PERIOD as u64) as usize;
    &period[at..at + len]
}

/// Writes the stream's first `total` bytes, counting them in `sent`. With
/// `stuck`, the first write that times out (the socket's write timeout)
/// reports the offset there once, and writing then goes on with a
/// [`WAIT_LIMIT`] timeout.
fn send_stream(
    mut out: TcpOrUnix,
    period: Arc<Vec<u8>>,
    total: u64,
    sent: Arc<AtomicU64>,
    mut stuck: Option<mpsc::Sender<u64>>,
) -> io::Result<()> {
    let mut offset = 0;
    while offset < total {
        let len = (total - offset).min(64 * 1024) as usize;
        match out.write(stream_at(&period, offset, len)) {
            Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "the peer stopped taking data")),
            Ok(n) => {
                offset += n as u64;
                sent.store(offset, Ordering::Relaxed);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) && stuck.is_some() => {
                let _ = stuck.take().expect("checked").send(offset);
                out.set_write_timeout(Some(WAIT_LIMIT))?;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads `total` bytes and checks each against the stream, counting them in
/// `got`. Returns how many arrived in order, or where they went wrong.
fn read_stream(
    mut input: TcpOrUnix,
    period: Arc<Vec<u8>>,
    total: u64,
    got: Arc<AtomicU64>,
) -> Result<u64, String> {
    let mut buf = vec![0u8; MAX_PIECE];
    let mut offset = 0;
    while offset < total {
        let want = (total - offset).min(MAX_PIECE as u64) as usize;
        let n = match input.read(&mut buf[..want]) {
            Ok(n) => n,
            // A read with a timeout fails with EINTR after a stop and continue (signal(7)).
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read at byte {offset}: {e}")),
        };
        if n == 0 {
            return Err(format!("end of file at byte {offset} of {total}"));
        }
        if buf[..n] != *stream_at(&period, offset, n) {
            let expected = stream_at(&period, offset, n);
            let at = buf[..n].iter().zip(expected).position(|(a, b)| a != b).expect("they differ");
            return Err(format!("byte {} differs from what was sent", offset + at as u64));
        }
        offset += n as u64;
        got.store(offset, Ordering::Relaxed);
    }
    Ok(offset)
}

/// A blocking std stream of either kind, for the peer threads.
enum TcpOrUnix {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl TcpOrUnix {
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            TcpOrUnix::Tcp(s) => s.set_write_timeout(timeout),
            TcpOrUnix::Unix(s) => s.set_write_timeout(timeout),
        }
    }
}

impl Read for TcpOrUnix {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TcpOrUnix::Tcp(s) => s.read(buf),
            TcpOrUnix::Unix(s) => s.read(buf),
        }
    }
}

impl Write for TcpOrUnix {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TcpOrUnix::Tcp(s) => s.write(buf),
            TcpOrUnix::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A blocking TCP stream with every wait bounded by [`WAIT_LIMIT`].
fn bounded_tcp(s: TcpStream) -> TcpStream {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    s.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    s
}

/// A blocking Unix stream with every wait bounded by [`WAIT_LIMIT`].
fn bounded_unix(s: UnixStream) -> UnixStream {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    s.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    s
}

/// A connected loopback TCP pair: (ours, for a dispatcher; the peer).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (ours, bounded_tcp(peer))
}

/// A Unix-domain stream pair: (ours, for a dispatcher; the peer, blocking
/// with bounded waits).
fn unix_pair() -> (Socket, UnixStream) {
    let (ours, peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    (ours, bounded_unix(UnixStream::from(OwnedFd::from(peer))))
}

/// Runs the loop until channel `t` has left it.
fn loop_until_gone(reactor: &mut Reactor, backend: Backend, t: Token, what: &str) {
    loop_until(reactor, backend, what, |r| !r.context().contains(t));
}

/// Fails if `progress` has not moved for [`WAIT_LIMIT`]: a long transfer
/// may take its time on a loaded machine, but it must keep moving.
struct Progress {
    last: u64,
    since: Instant,
}

impl Progress {
    fn new() -> Progress {
        Progress { last: 0, since: Instant::now() }
    }

    fn check(&mut self, now: u64, what: &str) {
        if now != self.last {
            self.last = now;
            self.since = Instant::now();
        }
        assert!(self.since.elapsed() < WAIT_LIMIT, "{what}: stuck at byte {now} for {WAIT_LIMIT:?}");
    }
}

/// The recording handler of these tests, for every layer: it logs `read N`
/// for each recv, `connect`, `close REASON` (with `close_reason()`'s Debug
/// form), and `KIND: MESSAGE` for each `log_info` (so the default
/// `handle_error`'s report is logged too). Its `handle_error` is the default:
/// log, then `handle_close`.
#[derive(Clone)]
struct Watch {
    log: Log,
    /// `readable()` (with the layer's own answer); `writable()` likewise.
    read: bool,
    write: bool,
    /// `handle_close` leaves the channel open.
    keep_open: bool,
    /// `handle_read` fails with a plain error after its recv.
    fail_read: bool,
    /// `handle_read` closes the channel itself after its recv.
    close_on_read: bool,
}

impl Watch {
    fn new(log: &Log) -> Watch {
        Watch {
            log: log.clone(),
            read: true,
            write: true,
            keep_open: false,
            fail_read: false,
            close_on_read: false,
        }
    }
}

impl<L: Layer> Handler<L> for Watch {
    fn readable(&mut self, d: &Dispatcher<L>) -> bool {
        self.read && L::readable(d)
    }

    fn writable(&mut self, d: &Dispatcher<L>) -> bool {
        self.write && L::writable(d)
    }

    fn handle_read(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        let mut buf = vec![0u8; READ];
        let n = ch.recv(&mut buf)?;
        self.log.push(format!("read {n}"));
        if self.close_on_read {
            ch.close();
        }
        if self.fail_read {
            return Err(io::Error::other("boom"));
        }
        Ok(())
    }

    fn handle_connect(&mut self, _: &mut Channel<'_, L>) -> io::Result<()> {
        self.log.push("connect");
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        self.log.push(format!("close {:?}", ch.close_reason()));
        if !self.keep_open {
            ch.close();
        }
        Ok(())
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.log.push(format!("{kind}: {message}"));
    }
}

/// The `close ...` entries of a log.
fn closes(log: &Log) -> Vec<String> {
    log.events().into_iter().filter(|e| e.starts_with("close")).collect()
}

// ---------------------------------------------------------------------------
// 1. Flow control
// ---------------------------------------------------------------------------

/// Echoes through the output queue, 8 KiB a read, noting the most it ever
/// had queued right after queueing.
struct FlowEcho {
    reads: Rc<Cell<u64>>,
    peak: Rc<Cell<usize>>,
}

impl Handler<WithSend> for FlowEcho {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = [0u8; READ];
        let n = ch.recv(&mut buf)?;
        self.reads.set(self.reads.get() + 1);
        ch.send_buffered(&buf[..n])?;
        self.peak.set(self.peak.get().max(ch.pending_output()));
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.close();
        Ok(())
    }
}

fn flow_control_in_process(backend: Backend) {
    let (ours, peer) = tcp_pair();
    let (reads, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let echo = FlowEcho { reads: reads.clone(), peak: peak.clone() };
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), echo).unwrap();
    let high = reactor.context().dispatcher::<WithSend>(t).unwrap().water_marks().0;
    let bound = high + READ;
    // Sampled after every iteration: the queue's size, and whether the
    // channel is throttled (the flag this iteration's interest used).
    let sample = |reactor: &Reactor| {
        let d = reactor.context().dispatcher::<WithSend>(t).expect("the echo channel is open");
        let queued = d.pending_output();
        assert!(queued <= bound, "{backend:?}: {queued} bytes queued, over the high mark {high} + one read");
        d.throttled()
    };

    let period = stream_pattern();
    let sent = Arc::new(AtomicU64::new(0));
    let writer = TcpOrUnix::Tcp(peer.try_clone().unwrap());
    let sender = {
        let (period, sent) = (period.clone(), sent.clone());
        thread::spawn(move || send_stream(writer, period, TOTAL, sent, None))
    };

    // The peer sends and never reads: the channel is throttled, and not
    // read while it is.
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut held = 0;
    while held < 20 {
        assert!(Instant::now() < deadline, "{backend:?}: the echo channel was never throttled");
        let before = reads.get();
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        if sample(&reactor) {
            assert_eq!(reads.get(), before, "{backend:?}: read while throttled");
            held += 1;
        }
    }
    let stalled_at = sent.load(Ordering::Relaxed);
    assert!(stalled_at < TOTAL, "{backend:?}: the peer sent everything though nothing was read back");

    // The peer reads: everything comes back, in order. (The test holds the
    // peer open to the end: the threads' ends must not close the channel.)
    let got = Arc::new(AtomicU64::new(0));
    let reader = {
        let input = TcpOrUnix::Tcp(peer.try_clone().unwrap());
        let (period, got) = (period.clone(), got.clone());
        thread::spawn(move || read_stream(input, period, TOTAL, got))
    };
    let mut progress = Progress::new();
    while !reader.is_finished() {
        progress.check(got.load(Ordering::Relaxed), &format!("{backend:?}: the echo"));
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        sample(&reactor);
    }
    assert_eq!(reader.join().unwrap(), Ok(TOTAL), "{backend:?}");
    join_within(sender, "the sender").unwrap();
    assert!(peak.get() <= bound, "{backend:?}: {} queued inside a callback", peak.get());
    eprintln!(
        "{backend:?}: in-process echo of 256 MiB: the peer stalled after {stalled_at} bytes; \
         peak queue {} bytes (bound {bound})",
        peak.get()
    );
}

/// Against a real `echo_server` process: built only with the features the
/// example programs need.
#[cfg(all(feature = "signals", feature = "trace"))]
mod example_server {
    use super::*;
    use common::example;
    use std::process::{Child, Command, Stdio};

    /// An example server process, killed when dropped.
    struct ExampleServer {
        child: Child,
        addr: String,
    }

    impl ExampleServer {
        fn start(name: &str, backend: Backend) -> ExampleServer {
            let mut child = Command::new(example(name))
                .args(["--addr", "127.0.0.1:0", "--backend", backend.name()])
                .stdout(Stdio::piped())
                .spawn()
                .expect("start the example");
            let mut first = String::new();
            let mut stdout = child.stdout.take().unwrap();
            let mut byte = [0u8];
            while !first.ends_with('\n') && stdout.read(&mut byte).unwrap() == 1 {
                first.push(byte[0] as char);
            }
            let addr = first
                .trim()
                .strip_prefix("listening on ")
                .unwrap_or_else(|| panic!("first line was {first:?}"))
                .to_string();
            ExampleServer { child, addr }
        }

        /// The process' peak resident set size (VmHWM), in KiB.
        fn peak_rss_kib(&self) -> u64 {
            let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
            let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
            line.split_whitespace().nth(1).unwrap().parse().unwrap()
        }
    }

    impl Drop for ExampleServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn flow_control_echo_server(backend: Backend) {
        const LIMIT_KIB: u64 = 16 * 1024;
        let server = ExampleServer::start("echo_server", backend);
        let stream = bounded_tcp(TcpStream::connect(&server.addr).unwrap());
        let period = stream_pattern();
        let sent = Arc::new(AtomicU64::new(0));
        // A write that takes longer than this means the server stopped
        // reading: the sender reports it once and goes on.
        let writer = stream.try_clone().unwrap();
        writer.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
        let (stuck_tx, stuck) = mpsc::channel();
        let sender = {
            let (period, sent) = (period.clone(), sent.clone());
            thread::spawn(move || send_stream(TcpOrUnix::Tcp(writer), period, TOTAL, sent, Some(stuck_tx)))
        };
        let stalled_at = match stuck.recv_timeout(WAIT_LIMIT) {
            Ok(offset) => offset,
            Err(_) => panic!(
                "{backend:?}: the sender never blocked ({} bytes sent): echo_server read everything \
                 while nothing was read back",
                sent.load(Ordering::Relaxed)
            ),
        };
        let while_stalled = server.peak_rss_kib();
        assert!(while_stalled < LIMIT_KIB, "{backend:?}: echo_server's VmHWM is {while_stalled} KiB");

        // Every read waits at most WAIT_LIMIT (the stream's read timeout).
        let echoed = read_stream(TcpOrUnix::Tcp(stream), period, TOTAL, Arc::new(AtomicU64::new(0)));
        assert_eq!(echoed, Ok(TOTAL), "{backend:?}");
        join_within(sender, "the sender").unwrap();
        let after = server.peak_rss_kib();
        assert!(after < LIMIT_KIB, "{backend:?}: echo_server's VmHWM is {after} KiB");
        eprintln!(
            "{backend:?}: echo_server, 256 MiB, peer not reading: stalled after {stalled_at} bytes; \
             VmHWM {while_stalled} KiB then, {after} KiB after the whole echo"
        );
    }

    on_every_backend!(flow_control_echo_server);
}

// ---------------------------------------------------------------------------
// 2. pace_reading_by
// ---------------------------------------------------------------------------

/// Channel A: reads 8 KiB and queues it on channel B.
struct Forward {
    to: Token,
    reads: Rc<Cell<u64>>,
}

impl Handler for Forward {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; READ];
        let n = ch.recv(&mut buf)?;
        self.reads.set(self.reads.get() + 1);
        if n > 0 {
            let to = self.to;
            let queued = ch
                .context()
                .call(to, |_: &mut Sink, b: &mut Channel<'_, WithSend>| b.send_buffered(&buf[..n]));
            queued.expect("B is there")?;
        }
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        ch.close();
        Ok(())
    }
}

/// Channel B: only sends what A queues on it.
struct Sink;

impl Handler<WithSend> for Sink {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.recv(&mut [0u8; 64])?;
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.close();
        Ok(())
    }
}

fn pace_reading_by_other_queue(backend: Backend) {
    const FORWARDED: u64 = 16 << 20;
    let (a_ours, a_peer) = unix_pair();
    let (b_ours, b_peer) = unix_pair();
    let mut reactor = Reactor::new();
    let tb = reactor.add(Dispatcher::new(b_ours).unwrap().with_send(), Sink).unwrap();
    let mut a = Dispatcher::new(a_ours).unwrap();
    a.pace_reading_by(Some(tb));
    let reads = Rc::new(Cell::new(0));
    reactor.add(a, Forward { to: tb, reads: reads.clone() }).unwrap();
    let high = reactor.context().dispatcher::<WithSend>(tb).unwrap().water_marks().0;
    // After every iteration: B's queue is bounded, and A was not read in an
    // iteration that found B throttled.
    let check = |reactor: &Reactor, reads_before: u64, reads_now: u64| {
        let b = reactor.context().dispatcher::<WithSend>(tb).expect("B is open");
        assert!(b.pending_output() <= high + READ, "{backend:?}: B holds {}", b.pending_output());
        if b.throttled() {
            assert_eq!(reads_now, reads_before, "{backend:?}: A was read while B was throttled");
        }
        b.throttled()
    };

    let period = stream_pattern();
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (period, sent) = (period.clone(), sent.clone());
        thread::spawn(move || send_stream(TcpOrUnix::Unix(a_peer), period, FORWARDED, sent, None))
    };

    // B's peer does not read: B is throttled, and A is held.
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut held = 0;
    while held < 20 {
        assert!(Instant::now() < deadline, "{backend:?}: B was never throttled");
        let before = reads.get();
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        if check(&reactor, before, reads.get()) {
            held += 1;
        }
    }
    let reads_while_held = reads.get();
    assert!(sent.load(Ordering::Relaxed) < FORWARDED, "{backend:?}: A's peer sent everything");

    // B's peer reads: A resumes, and every byte reaches B's peer in order.
    let got = Arc::new(AtomicU64::new(0));
    let reader = {
        let (period, got) = (period.clone(), got.clone());
        let input = TcpOrUnix::Unix(b_peer.try_clone().unwrap()); // B stays open to the end
        thread::spawn(move || read_stream(input, period, FORWARDED, got))
    };
    let mut progress = Progress::new();
    while !reader.is_finished() {
        progress.check(got.load(Ordering::Relaxed), &format!("{backend:?}: the forwarding"));
        let before = reads.get();
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        check(&reactor, before, reads.get());
    }
    assert_eq!(reader.join().unwrap(), Ok(FORWARDED), "{backend:?}");
    join_within(sender, "A's peer").unwrap();
    assert!(reads.get() > reads_while_held, "{backend:?}: A never resumed");
}

// ---------------------------------------------------------------------------
// 3. Close reasons
// ---------------------------------------------------------------------------

fn close_end_of_file(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    peer.write_all(b"hello").unwrap();
    drop(peer);
    loop_until_gone(&mut reactor, backend, t, "the end of file");
    assert_eq!(log.events(), ["read 5", "read 0", "close Some(EndOfFile)"], "{backend:?}");
}

fn close_reset(backend: Backend) {
    let (ours, peer) = tcp_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    let peer = Socket::from(peer);
    peer.set_linger_zero().unwrap();
    drop(peer); // sends a RST
    loop_until_gone(&mut reactor, backend, t, "the reset");
    assert_eq!(closes(&log), ["close Some(Reset)"], "{backend:?}: {:?}", log.events());
    assert!(log.events().iter().all(|e| e == "read 0" || e.starts_with("close")), "{:?}", log.events());
}

fn close_idle_timeout(backend: Backend) {
    let (ours, _peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    let start = Instant::now();
    d.set_idle_timeout(Some(Duration::from_millis(150)));
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    loop_until_gone(&mut reactor, backend, t, "the idle timeout");
    assert!(start.elapsed() >= Duration::from_millis(150), "{backend:?}: closed early");
    assert_eq!(log.events(), ["close Some(IdleTimeout)"], "{backend:?}");
}

fn close_input_timeout_despite_heartbeats(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    let start = Instant::now();
    d.set_input_timeout(Some(Duration::from_millis(300)));
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    // A heartbeat every 25 ms, which a silent peer never answers.
    reactor.context_mut().call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| {
        ch.call_every(Duration::from_millis(25), |w: &mut Watch, ch: &mut Channel<'_, WithSend>| {
            w.log.push("beat");
            ch.send_buffered(b"beat\n").unwrap();
        });
    });
    loop_until_gone(&mut reactor, backend, t, "the input timeout");
    assert!(start.elapsed() >= Duration::from_millis(300), "{backend:?}: closed early");
    assert_eq!(closes(&log), ["close Some(InputTimeout)"], "{backend:?}: {:?}", log.events());
    // One heartbeat is enough to show output does not count as input.
    let beats = log.count("beat");
    assert!(beats >= 1, "{backend:?}: no heartbeat went out");
    assert_eq!(log.events().last().unwrap(), "close Some(InputTimeout)");
    assert_eq!(reactor.context().pending_timers(), 0, "{backend:?}: the heartbeat outlived its channel");
    // The heartbeats did go out.
    let mut heard = String::new();
    peer.read_to_string(&mut heard).unwrap();
    assert_eq!(heard, "beat\n".repeat(beats), "{backend:?}");
}

/// A loop that comes back after a channel's input timeout has passed (a
/// long callback elsewhere, a stopped process) first reads the input that
/// arrived in time: the channel is not closed for a silence it did not keep.
/// Once it is really silent, the timeout still closes it.
fn late_loop_reads_input_that_came_in_time(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    let timeout = Duration::from_millis(100);
    d.set_input_timeout(Some(timeout));
    let set = Instant::now();
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    peer.write_all(b"in time").unwrap();
    // The stall itself is the scenario: the loop is away past the timeout
    // (no iteration ran since the timeout was set, so no stall of this
    // thread can make it judge the channel before the input is there).
    thread::sleep(timeout + Duration::from_millis(50));
    assert!(set.elapsed() > timeout);
    reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    assert_eq!(log.events(), ["read 7"], "{backend:?}: the input that came in time must be read first");
    assert!(reactor.context().contains(t), "{backend:?}: closed for a silence it did not keep");
    loop_until_gone(&mut reactor, backend, t, "the input timeout after the read");
    assert_eq!(closes(&log), ["close Some(InputTimeout)"], "{backend:?}: {:?}", log.events());
}

fn close_send_timeout(backend: Backend) {
    let (ours, peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    d.set_send_timeout(Some(Duration::from_millis(200)));
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    // More than the socket holds; the peer never reads. (The timeout
    // counts from the last byte that went out: after this instant.)
    let stuck_since = Instant::now();
    let queued = reactor
        .context_mut()
        .call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| ch.send_buffered(&vec![7u8; 4 << 20]));
    queued.unwrap().unwrap();
    loop_until_gone(&mut reactor, backend, t, "the send timeout");
    assert!(stuck_since.elapsed() >= Duration::from_millis(200), "{backend:?}: closed early");
    assert_eq!(log.events(), ["close Some(SendTimeout)"], "{backend:?}");
    drop(peer);
}

/// The alarm set while nothing was queued is for the (long) input timeout;
/// once output queues and does not move, the (short) send timeout counts
/// and must close the channel long before that alarm would ring.
fn send_timeout_counts_once_output_queues(backend: Backend) {
    stalled_after_an_input_alarm(backend, Duration::ZERO);
}

/// As above, but the send timeout has already passed when the loop first
/// looks at the queued output (the program was away between iterations):
/// the close comes in the next iterations, not at the long input
/// timeout's alarm.
fn send_timeout_passed_before_the_loop_looks(backend: Backend) {
    stalled_after_an_input_alarm(backend, Duration::from_millis(150));
}

/// A channel asked (its alarm set) with a long input timeout and nothing
/// queued; then output that never moves, with a 100 ms send timeout, and
/// the program away for `away` before the loop runs again. The send
/// timeout must close it.
fn stalled_after_an_input_alarm(backend: Backend, away: Duration) {
    let (ours, peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    let timeout = Duration::from_millis(100);
    d.set_input_timeout(Some(WAIT_LIMIT * 3));
    d.set_send_timeout(Some(timeout));
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    // Asked with nothing queued: its alarm is now the input timeout's.
    reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
    reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
    let queued = reactor
        .context_mut()
        .call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| ch.send_buffered(&vec![7u8; 4 << 20]));
    queued.unwrap().unwrap();
    // The stall, where there is one, is the scenario: no iteration runs
    // until the send timeout has passed.
    thread::sleep(away);
    loop_until_gone(&mut reactor, backend, t, "the send timeout, long before the input timeout");
    assert_eq!(log.events(), ["close Some(SendTimeout)"], "{backend:?} (away {away:?})");
    drop(peer);
}

/// A channel taken out of one reactor, whose alarm is in that reactor's
/// heap, still times out in the reactor it is added to.
fn moved_channel_keeps_its_timeout(backend: Backend) {
    let (ours, _peer) = unix_pair();
    let log = Log::default();
    let mut first = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_send();
    d.set_idle_timeout(Some(Duration::from_millis(150)));
    let t = first.add(d, Watch::new(&log)).unwrap();
    first.poll_once(Some(Duration::ZERO), backend).unwrap();
    let (d, watch) = first.context_mut().remove::<WithSend, Watch>(t).expect("the channel is there");
    let mut second = Reactor::new();
    let t = second.add(d, watch).unwrap();
    loop_until_gone(&mut second, backend, t, "the idle timeout in the second reactor");
    assert_eq!(log.events(), ["close Some(IdleTimeout)"], "{backend:?}");
}

fn close_drained(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    reactor
        .context_mut()
        .call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| {
            ch.send_buffered(b"bye\n").unwrap();
            ch.close_when_done();
        })
        .unwrap();
    loop_until_gone(&mut reactor, backend, t, "the drained close");
    assert_eq!(log.events(), ["close Some(Drained)"], "{backend:?}");
    let mut heard = String::new();
    peer.read_to_string(&mut heard).unwrap();
    assert_eq!(heard, "bye\n");
}

fn close_error(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let watch = Watch { fail_read: true, ..Watch::new(&log) };
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), watch).unwrap();
    peer.write_all(b"hello").unwrap();
    loop_until_gone(&mut reactor, backend, t, "the close after an error");
    let events = log.events();
    assert_eq!(events.len(), 3, "{backend:?}: {events:?}");
    assert_eq!(events[0], "read 5");
    assert!(events[1].starts_with("error: ") && events[1].contains("boom"), "{backend:?}: {events:?}");
    assert_eq!(events[2], "close Some(Error)", "{backend:?}");
}

fn own_close_runs_no_handle_close(backend: Backend) {
    let mut reactor = Reactor::new();
    // Closes itself in handle_read: after data, and after reading the end
    // of file (which made a handle_close due).
    let (with_data, mut data_peer) = unix_pair();
    let (at_eof, eof_peer) = unix_pair();
    let (data_log, eof_log) = (Log::default(), Log::default());
    let a = Watch { close_on_read: true, ..Watch::new(&data_log) };
    let b = Watch { close_on_read: true, ..Watch::new(&eof_log) };
    let ta = reactor.add(Dispatcher::new(with_data).unwrap().with_send(), a).unwrap();
    let tb = reactor.add(Dispatcher::new(at_eof).unwrap().with_send(), b).unwrap();
    data_peer.write_all(b"hello").unwrap();
    drop(eof_peer);
    loop_until(&mut reactor, backend, "both closed", |r| {
        !r.context().contains(ta) && !r.context().contains(tb)
    });
    assert_eq!(data_log.events(), ["read 5"], "{backend:?}");
    assert_eq!(eof_log.events(), ["read 0"], "{backend:?}");
    // Closed from outside (`Context::close`) with an end of file waiting.
    let (ours, peer) = unix_pair();
    let log = Log::default();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    drop(peer);
    assert!(reactor.context_mut().close(t));
    for _ in 0..5 {
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    }
    assert_eq!(log.events(), Vec::<String>::new(), "{backend:?}");
}

// ---------------------------------------------------------------------------
// 4. The end-of-file latch
// ---------------------------------------------------------------------------

/// After `handle_close` kept the channel open: 200 ms of `poll_once(50 ms)`
/// must be a few sleeping iterations with no callback at all.
fn assert_quiet_after_close(reactor: &mut Reactor, backend: Backend, t: Token, log: &Log) {
    let end = Instant::now() + Duration::from_millis(200);
    let (mut iterations, mut busy) = (0, 0);
    while Instant::now() < end {
        let before = log.events().len();
        reactor.poll_once(Some(Duration::from_millis(50)), backend).unwrap();
        iterations += 1;
        if log.events().len() != before {
            busy += 1;
        }
    }
    assert_eq!(closes(log).len(), 1, "{backend:?}: {:?}", log.events());
    assert_eq!(busy, 0, "{backend:?}: callbacks after the close: {:?}", log.events());
    assert!(iterations <= 10, "{backend:?}: {iterations} iterations in 200 ms: the loop spins");
    assert!(reactor.context().contains(t), "{backend:?}: handle_close kept it open");
}

fn eof_latch_socket(backend: Backend) {
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let watch = Watch { keep_open: true, ..Watch::new(&log) };
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), watch).unwrap();
    peer.write_all(b"hello").unwrap();
    drop(peer);
    loop_until(&mut reactor, backend, "handle_close", |_| !closes(&log).is_empty());
    assert_eq!(log.events(), ["read 5", "read 0", "close Some(EndOfFile)"], "{backend:?}");
    assert_quiet_after_close(&mut reactor, backend, t, &log);
}

fn eof_latch_pipe(backend: Backend) {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let watch = Watch { keep_open: true, write: false, ..Watch::new(&log) };
    let t = reactor.add(Dispatcher::from_file(&reader).unwrap(), watch).unwrap();
    writer.write_all(b"hello").unwrap();
    drop(writer);
    loop_until(&mut reactor, backend, "handle_close", |_| !closes(&log).is_empty());
    assert_eq!(log.events(), ["read 5", "read 0", "close Some(EndOfFile)"], "{backend:?}");
    assert_quiet_after_close(&mut reactor, backend, t, &log);
}

// ---------------------------------------------------------------------------
// 5. One send per callback
// ---------------------------------------------------------------------------

/// Answers each line with itself.
struct Answer;

impl Handler<Chat> for Answer {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let line = ch.take_incoming();
        ch.push(&line)?;
        ch.push(b"\n")
    }
}

fn chat_one_send_per_callback(backend: Backend) {
    let (ours, peer) = unix_pair();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::new(ours).unwrap().with_chat();
    d.set_terminator(b"\n");
    let t = reactor.add(d, Answer).unwrap();
    let sends_before = reactor.context().dispatcher::<Chat>(t).unwrap().sends();
    let lines: String = (0..1000).map(|i| format!("line {i:04}\n")).collect();
    (&peer).write_all(lines.as_bytes()).unwrap(); // one write
    peer.set_nonblocking(true).unwrap();
    let mut answers = Vec::new();
    loop_until(&mut reactor, backend, "1,000 answers", |_| {
        let mut buf = [0u8; 16 * 1024];
        match (&peer).read(&mut buf) {
            Ok(n) => answers.extend_from_slice(&buf[..n]),
            Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock),
        }
        answers.len() >= lines.len()
    });
    assert_eq!(String::from_utf8(answers).unwrap(), lines, "{backend:?}");
    let sends = reactor.context().dispatcher::<Chat>(t).unwrap().sends() - sends_before;
    assert!((1..=5).contains(&sends), "{backend:?}: {sends} sends for 1,000 answers");
    eprintln!("{backend:?}: 1,000 pipelined lines answered with {sends} send(2) calls");
}

// ---------------------------------------------------------------------------
// 6. Timers
// ---------------------------------------------------------------------------

/// A channel with timers: they log into its handler.
struct Ticker {
    log: Log,
    ticks: u32,
    /// At this tick, the periodic timer closes the channel (0: never).
    close_at: u32,
    /// At this tick, it cancels itself via `current_timer()` (0: never).
    stop_at: u32,
}

impl Ticker {
    fn new(log: &Log) -> Ticker {
        Ticker { log: log.clone(), ticks: 0, close_at: 0, stop_at: 0 }
    }

    fn tick(&mut self, ch: &mut Channel<'_, WithSend>) {
        self.ticks += 1;
        self.log.push("tick");
        if self.ticks == self.stop_at {
            let me = ch.context().current_timer().expect("a timer runs");
            assert!(ch.context().cancel_timer(me));
        }
        if self.ticks == self.close_at {
            ch.close();
        }
    }

    /// Starts a periodic timer on channel `t`.
    fn start(reactor: &mut Reactor, t: Token, every: Duration) -> TimerId {
        let id = reactor.context_mut().call(t, |_: &mut Ticker, ch: &mut Channel<'_, WithSend>| {
            ch.call_every(every, |h: &mut Ticker, ch: &mut Channel<'_, WithSend>| h.tick(ch))
        });
        id.expect("the channel is there")
    }

    fn ticks(reactor: &Reactor, t: Token) -> u32 {
        reactor.context().handler::<Ticker>(t).map_or(0, |h| h.ticks)
    }
}

impl Handler<WithSend> for Ticker {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.recv(&mut [0u8; 64])?;
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.log.push("close");
        ch.close();
        Ok(())
    }
}

fn channel_timers_run_with_the_handler(backend: Backend) {
    let (ours, _peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Ticker::new(&log)).unwrap();
    reactor.context_mut().call(t, |_: &mut Ticker, ch: &mut Channel<'_, WithSend>| {
        ch.call_later(Duration::from_millis(20), |h: &mut Ticker, ch: &mut Channel<'_, WithSend>| {
            h.log.push(format!("later on {}", ch.token()));
        });
    });
    Ticker::start(&mut reactor, t, Duration::from_millis(5));
    assert_eq!(reactor.context().pending_timers(), 2);
    let later = format!("later on {t}");
    loop_until(&mut reactor, backend, "both timers", |r| log.contains(&later) && Ticker::ticks(r, t) >= 3);
    assert_eq!(log.count(&later), 1);
    assert_eq!(
        reactor.context().pending_timers(),
        1,
        "{backend:?}: the once timer is gone, not the periodic one"
    );
    // A periodic channel timer stops itself through current_timer(); the
    // channel stays.
    let log2 = Log::default();
    let (ours2, _peer2) = unix_pair();
    let stopper = Ticker { stop_at: 2, ..Ticker::new(&log2) };
    let t2 = reactor.add(Dispatcher::new(ours2).unwrap().with_send(), stopper).unwrap();
    Ticker::start(&mut reactor, t2, Duration::from_millis(5));
    loop_until(&mut reactor, backend, "the self-stopping timer", |r| Ticker::ticks(r, t2) >= 2);
    assert_eq!(reactor.context().pending_timers(), 1, "{backend:?}");
    let end = Instant::now() + Duration::from_millis(50);
    while Instant::now() < end {
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    }
    assert_eq!(Ticker::ticks(&reactor, t2), 2, "{backend:?}: it ran after cancelling itself");
    assert!(reactor.context().contains(t2));
}

fn channel_timers_stop_with_the_channel(backend: Backend) {
    let mut reactor = Reactor::new();
    // Three channels, three ways to close: the peer's end of file, the
    // periodic timer itself, and Context::close from outside.
    let logs: Vec<Log> = (0..3).map(|_| Log::default()).collect();
    let (by_peer, peer) = unix_pair();
    let (by_itself, _peer2) = unix_pair();
    let (by_program, _peer3) = unix_pair();
    let t_peer = reactor.add(Dispatcher::new(by_peer).unwrap().with_send(), Ticker::new(&logs[0])).unwrap();
    let closer = Ticker { close_at: 3, ..Ticker::new(&logs[1]) };
    let t_self = reactor.add(Dispatcher::new(by_itself).unwrap().with_send(), closer).unwrap();
    let t_prog =
        reactor.add(Dispatcher::new(by_program).unwrap().with_send(), Ticker::new(&logs[2])).unwrap();
    for t in [t_peer, t_self, t_prog] {
        Ticker::start(&mut reactor, t, Duration::from_millis(5));
    }
    // A context timer, to show the count drops by the channels' only.
    let context_timer = reactor.context_mut().call_every(Duration::from_secs(3600), |_| {});
    assert_eq!(reactor.context().pending_timers(), 4);
    loop_until(&mut reactor, backend, "ticks", |r| {
        Ticker::ticks(r, t_peer) >= 2 && Ticker::ticks(r, t_prog) >= 2 && !r.context().contains(t_self)
    });
    assert_eq!(logs[1].events(), ["tick", "tick", "tick"], "{backend:?}: closed at its third tick");
    assert_eq!(reactor.context().pending_timers(), 3, "{backend:?}: the self-closed channel's timer stays");
    drop(peer);
    loop_until_gone(&mut reactor, backend, t_peer, "the end of file");
    assert_eq!(reactor.context().pending_timers(), 2, "{backend:?}: the closed channel's timer stays");
    assert!(reactor.context_mut().close(t_prog));
    assert_eq!(reactor.context().pending_timers(), 1, "{backend:?}: the closed channel's timer stays");
    assert!(reactor.context_mut().cancel_timer(context_timer));
    // Nothing ticks after its channel closed.
    let ticks_at_close: Vec<usize> = logs.iter().map(|l| l.count("tick")).collect();
    for _ in 0..5 {
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    }
    for (log, at_close) in logs.iter().zip(ticks_at_close) {
        assert_eq!(log.count("tick"), at_close, "{backend:?}");
    }
    let events = logs[0].events();
    assert_eq!(
        events.last().map(String::as_str),
        Some("close"),
        "{backend:?}: a tick after the close: {events:?}"
    );
}

fn context_timer_stops_itself(backend: Backend) {
    let mut reactor = Reactor::new();
    assert_eq!(reactor.context().current_timer(), None);
    let ticks = Rc::new(Cell::new(0));
    let seen = Rc::new(Cell::new(None));
    let id = {
        let (ticks, seen) = (ticks.clone(), seen.clone());
        reactor.context_mut().call_every(Duration::from_millis(2), move |ctx| {
            ticks.set(ticks.get() + 1);
            seen.set(ctx.current_timer());
            if ticks.get() == 3 {
                let me = ctx.current_timer().expect("a timer runs");
                assert!(ctx.cancel_timer(me));
            }
        })
    };
    loop_until(&mut reactor, backend, "the timer to stop itself", |r| r.context().pending_timers() == 0);
    assert_eq!(ticks.get(), 3, "{backend:?}");
    assert_eq!(seen.get(), Some(id), "{backend:?}: current_timer() named another timer");
    assert_eq!(reactor.context().current_timer(), None);
    // With nothing left, an iteration returns at once and runs nothing.
    reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    assert_eq!(ticks.get(), 3, "{backend:?}");
}

// ---------------------------------------------------------------------------
// 7. defer
// ---------------------------------------------------------------------------

/// A: on input, calls into B, which closes B.
struct Caller {
    log: Log,
    b: Token,
}

impl Handler<WithSend> for Caller {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        ch.recv(&mut buf)?;
        self.log.push("A reads");
        let called =
            ch.context().call(self.b, |_: &mut Callee, b: &mut Channel<'_, WithSend>| b.close_when_done());
        self.log.push(format!("A's call into B: {called:?}"));
        Ok(())
    }
}

/// B: its handle_close (run inside A's call) tries to reach A.
struct Callee {
    log: Log,
    a: Option<Token>,
}

impl Handler<WithSend> for Callee {
    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let a = self.a.expect("set");
        let direct = ch.context().call(a, |_: &mut Caller, _: &mut Channel<'_, WithSend>| ());
        self.log.push(format!("B closes ({:?}); call into A: {direct:?}", ch.close_reason()));
        ch.context().defer(a, move |h: &mut Caller, ach: &mut Channel<'_, WithSend>| {
            h.log.push(format!("A deferred, on {}", if ach.token() == a { "A" } else { "another" }));
        });
        ch.close();
        Ok(())
    }
}

fn defer_reaches_a_busy_caller(backend: Backend) {
    let (a_ours, mut a_peer) = unix_pair();
    let (b_ours, _b_peer) = unix_pair();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let tb = reactor
        .add(Dispatcher::new(b_ours).unwrap().with_send(), Callee { log: log.clone(), a: None })
        .unwrap();
    let ta = reactor
        .add(Dispatcher::new(a_ours).unwrap().with_send(), Caller { log: log.clone(), b: tb })
        .unwrap();
    reactor.context_mut().call(tb, |h: &mut Callee, _: &mut Channel<'_, WithSend>| h.a = Some(ta)).unwrap();
    a_peer.write_all(b"x").unwrap();
    loop_until(&mut reactor, backend, "the deferred call", |_| log.events().len() >= 4);
    assert_eq!(
        log.events(),
        [
            "A reads",
            "B closes (Some(Drained)); call into A: None",
            "A's call into B: Some(())",
            "A deferred, on A",
        ],
        "{backend:?}"
    );
    assert!(!reactor.context().contains(tb) && reactor.context().contains(ta));
}

// ---------------------------------------------------------------------------
// 8. Issue 11's bugs
// ---------------------------------------------------------------------------

/// (a) Output queued while a TCP connect is in progress, then refused:
/// no handle_connect, handle_error with ECONNREFUSED, then the close.
fn bug_a_queued_output_during_a_refused_connect(backend: Backend) {
    let refused: SocketAddr = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }; // closed: nothing listens there now
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap().with_send();
    d.connect(refused).expect("a non-blocking connect starts");
    assert!(d.connecting(), "{backend:?}: the connect is in progress");
    d.send_buffered(b"before add").unwrap();
    let t = reactor.add(d, Watch::new(&log)).unwrap();
    // Small and over the high-water mark, through a call (which settles).
    let queued = reactor.context_mut().call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| {
        ch.send_buffered(b"hello")?;
        ch.send_buffered(&[1u8; 200 * 1024])
    });
    queued.unwrap().unwrap();
    assert_eq!(log.events(), Vec::<String>::new(), "{backend:?}: nothing happens before the connect ends");
    loop_until_gone(&mut reactor, backend, t, "the refused connect");
    let events = log.events();
    assert!(!events.contains(&"connect".to_string()), "{backend:?}: handle_connect ran: {events:?}");
    assert_eq!(events.len(), 2, "{backend:?}: {events:?}");
    let refused_errno = format!("os error {}", libc::ECONNREFUSED);
    assert!(
        events[0].starts_with("error: ") && events[0].contains(&refused_errno),
        "{backend:?}: {events:?}"
    );
    assert_eq!(events[1], "close Some(Error)", "{backend:?}");
}

/// (b) A pipe whose writer closed: the last reads, `recv` returning 0,
/// then handle_close (EndOfFile): the same on every backend.
fn bug_b_pipe_last_reads_then_end_of_file(backend: Backend) {
    // Written and closed before the loop starts: more than one read's worth.
    let (reader, mut writer) = std::io::pipe().unwrap();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor
        .add(Dispatcher::from_file(&reader).unwrap(), Watch { write: false, ..Watch::new(&log) })
        .unwrap();
    writer.write_all(&pattern(20_000, 1)).unwrap();
    drop(writer);
    loop_until_gone(&mut reactor, backend, t, "the pipe's end of file");
    assert_eq!(
        log.events(),
        ["read 8192", "read 8192", "read 3616", "read 0", "close Some(EndOfFile)"],
        "{backend:?}"
    );
    drop(reader);

    // Closed while the loop already waits on it.
    let (reader, mut writer) = std::io::pipe().unwrap();
    let log = Log::default();
    let t = reactor
        .add(Dispatcher::from_file(&reader).unwrap(), Watch { write: false, ..Watch::new(&log) })
        .unwrap();
    reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    assert_eq!(log.events(), Vec::<String>::new());
    writer.write_all(b"last").unwrap();
    drop(writer);
    loop_until_gone(&mut reactor, backend, t, "the pipe's end of file");
    assert_eq!(log.events(), ["read 4", "read 0", "close Some(EndOfFile)"], "{backend:?}");
}

/// (d) close_when_done announces Drained: with an empty queue at once, and
/// with a queue the peer takes its time over, once everything went out.
fn bug_d_close_when_done_announces_drained(backend: Backend) {
    let mut reactor = Reactor::new();
    let (ours, mut peer) = unix_pair();
    let log = Log::default();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    reactor
        .context_mut()
        .call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| ch.close_when_done())
        .unwrap();
    loop_until_gone(&mut reactor, backend, t, "the close");
    assert_eq!(log.events(), ["close Some(Drained)"], "{backend:?}: empty queue");
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // 4 MiB: far more than the socket holds, so most of it goes out on
    // write events while a reader thread takes it.
    const SIZE: u64 = 4 << 20;
    let (ours, peer) = unix_pair();
    let log = Log::default();
    let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Watch::new(&log)).unwrap();
    let period = stream_pattern();
    let queued = reactor.context_mut().call(t, |_: &mut Watch, ch: &mut Channel<'_, WithSend>| {
        let mut offset = 0;
        while offset < SIZE {
            ch.send_buffered(stream_at(&period, offset, MAX_PIECE))?;
            offset += MAX_PIECE as u64;
        }
        ch.close_when_done();
        io::Result::Ok(())
    });
    queued.unwrap().unwrap();
    assert!(reactor.context().contains(t), "{backend:?}: closed before its queue went out");
    let got = Arc::new(AtomicU64::new(0));
    let reader = {
        let (period, got) = (period.clone(), got.clone());
        thread::spawn(move || {
            let result = read_stream(TcpOrUnix::Unix(peer.try_clone().unwrap()), period, SIZE, got);
            let mut rest = Vec::new();
            (&peer).read_to_end(&mut rest).map_err(|e| format!("after the end: {e}"))?;
            match rest.len() {
                0 => result,
                n => Err(format!("{n} bytes after the end")),
            }
        })
    };
    loop_until_gone(&mut reactor, backend, t, "the drained close");
    assert_eq!(log.events(), ["close Some(Drained)"], "{backend:?}: a large queue");
    assert_eq!(join_within(reader, "the reader"), Ok(SIZE), "{backend:?}");
}
