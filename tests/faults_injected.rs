//! The library under injected system-call faults (feature
//! `fault-injection`): EINTR, EAGAIN, ENOMEM/ENOBUFS, ECONNRESET, EPIPE,
//! EMFILE, short reads and writes, at every call site the crate has, on
//! every backend.
//!
//! Run it with `cargo test --features fault-injection --test faults_injected`
//! (add `-- --nocapture` for the per-site table). The seed is printed;
//! `POLLREACTOR_FAULT_SEED=N` replays it.
//!
//! The reactor runs on the test's thread, the only one the injector faults;
//! the peers are std sockets on other threads. Per round, at once: echo
//! (`with_send`, reading with `recv` and with `recv_into`), chat line echo
//! and pipelined HTTP-ish requests (`with_chat`) over loopback TCP, the same
//! over socketpairs (and echo through `from_file`, which reads and writes
//! with read(2)/write(2)), a UDP echo, and outbound connections the reactor
//! makes to a std echo server. Checked:
//!
//! * every byte a peer gets is the next one it was due, in order (what it
//!   got is a prefix of what it was due, never more, never reordered), and
//!   the server side saw each request whole and in order;
//! * a connection that ends short was closed, and its handler was told: a
//!   `handle_close` with a fault's reason (reset, broken, error) or a
//!   `handle_error` (a peer that half-closed first may lose the rest after
//!   the end-of-file `handle_close`: counted and printed, see below);
//! * nothing hangs, and every channel closes once its peer is done;
//! * no busy loop: a wait that returns at once leads to a system call;
//!   an idle reactor sleeps;
//! * no descriptor leaks: /proc/self/fd counts the same before and after;
//! * at least 100,000 faults injected in all, across every site used.
#![cfg(feature = "fault-injection")]

mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pollreactor::fault::{self, Site};
use pollreactor::{
    Address, Backend, Buffered, Channel, Chat, CloseReason, Dispatcher, Family, Handler, LogKind, Reactor,
    SockType, Socket, WithSend,
};

/// The environment variable that fixes the seed.
const SEED_ENV: &str = "POLLREACTOR_FAULT_SEED";
/// Faults to inject in all, over every backend.
const TARGET_FAULTS: u64 = 100_000;
/// Rounds in all, shared out among the backends this build has (each
/// round runs every scenario at once and injects about 4,000 faults).
const ROUNDS: usize = 30;
/// TCP peer threads per round.
const TCP_PEERS: usize = 6;
/// Connections each TCP peer makes to each listener per round.
const TCP_JOBS: usize = 24;
/// Socketpairs per round.
const PAIRS: u64 = 48;
/// Connections the reactor makes per round.
const OUTBOUND: u64 = 24;
/// How long a peer waits for one read or write before it calls it a hang.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one round may take before the test calls it a hang.
const ROUND_LIMIT: Duration = Duration::from_secs(60);
/// Bytes a server channel asks for in one read: small, so many reads.
const READ_SIZE: usize = 1536;

// ---------------------------------------------------------------------------
// Deterministic data

/// splitmix64: the test's own choices (sizes, contents) come from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out: Vec<u8> = (0..len.div_ceil(8)).flat_map(|_| self.next().to_le_bytes()).collect();
        out.truncate(len);
        out
    }

    fn letters(&mut self, len: usize) -> String {
        (0..len).map(|_| (b'a' + self.below(26) as u8) as char).collect()
    }
}

/// Line `i` of chat connection `c`, without its `\n`.
fn chat_line(c: u64, i: u64) -> Vec<u8> {
    let mut rng = Rng::new(c.wrapping_mul(1_000_003) ^ i);
    let len = rng.below(160) as usize;
    format!("{c}:{i}:{}", rng.letters(len)).into_bytes()
}

/// Request `i` of HTTP-ish connection `c`, without its `\r\n\r\n`.
fn http_request(c: u64, i: u64) -> Vec<u8> {
    let mut rng = Rng::new(c.wrapping_mul(7_000_003) ^ i);
    let len = rng.below(300) as usize;
    format!("GET /{c}/{i} HTTP/1.1\r\nHost: test\r\nX-Pad: {}", rng.letters(len)).into_bytes()
}

/// The answer to request `i` of connection `c`: a fixed response naming it.
fn http_response(c: u64, i: u64) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Req: {c}/{i}\r\n\r\nok").into_bytes()
}

/// `(c, i)` from a record `"c:i:..."` or `"GET /c/i ..."`.
fn record_ids(record: &[u8], http: bool) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(record).ok()?;
    let ids = if http { text.strip_prefix("GET /")?.split([' ']).next()? } else { text };
    let sep = if http { '/' } else { ':' };
    let mut parts = ids.splitn(3, sep);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

// ---------------------------------------------------------------------------
// What the server side saw

/// Which connection: a TCP peer's port, or a socketpair's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Port(u16),
    Pair(u64),
}

/// One callback that ends a connection.
#[derive(Clone, Debug)]
enum Note {
    Close(Option<CloseReason>),
    // Read through Debug, in the failure messages.
    Error(#[allow(dead_code)] String),
}

impl Note {
    /// A close for a fault (not the peer's own end of file).
    fn is_fault(&self) -> bool {
        match self {
            Note::Error(_) => true,
            Note::Close(reason) => !matches!(reason, Some(CloseReason::EndOfFile | CloseReason::Drained)),
        }
    }
}

#[derive(Default)]
struct BookInner {
    notes: HashMap<Key, Vec<Note>>,
    violations: Vec<String>,
    /// Datagrams the UDP echo could not send back (sendto failed); shared
    /// with the UDP peer, which waits for each datagram to come back or be
    /// counted here.
    udp_dropped: Arc<AtomicU64>,
    /// Outbound connections: id -> (bytes received in order, how it ended).
    outbound: HashMap<u64, (usize, Option<String>)>,
    /// Error lines the handlers were asked to log (accept back-offs).
    logged_errors: u64,
}

/// Shared between the reactor's handlers and the test (same thread).
#[derive(Clone, Default)]
struct Book(Rc<RefCell<BookInner>>);

impl Book {
    fn note(&self, key: Key, note: Note) {
        self.0.borrow_mut().notes.entry(key).or_default().push(note);
    }

    fn violation(&self, what: String) {
        self.0.borrow_mut().violations.push(what);
    }

    fn log(&self, message: &str, kind: LogKind) {
        if kind == LogKind::Error {
            self.0.borrow_mut().logged_errors += 1;
        }
        let _ = message;
    }
}

// ---------------------------------------------------------------------------
// Server-side handlers (on the reactor's thread)

/// Echo: what arrives goes back through the output queue.
struct EchoConn {
    key: Key,
    book: Book,
    /// Read with `recv_into` (the spare-capacity path) instead of `recv`.
    spare: bool,
    closes: u32,
}

impl Handler<WithSend> for EchoConn {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        if self.spare {
            let mut buf = Vec::new();
            if ch.recv_into(&mut buf, READ_SIZE)? > 0 {
                ch.send_buffered(&buf)?;
            }
        } else {
            let mut buf = [0u8; READ_SIZE];
            let n = ch.recv(&mut buf)?;
            if n > 0 {
                ch.send_buffered(&buf[..n])?;
            }
        }
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        server_close(&self.book, self.key, &mut self.closes, ch);
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, WithSend>, err: io::Error) {
        self.book.note(self.key, Note::Error(err.to_string()));
        ch.close();
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.book.log(message, kind);
    }
}

/// A server channel's `handle_close`: noted; after an end of file it sends
/// what it still has queued, after anything else it closes at once.
fn server_close<L: Buffered>(book: &Book, key: Key, closes: &mut u32, ch: &mut Channel<'_, L>) {
    close_note(book, key, closes, ch.close_reason());
    if ch.close_reason() == Some(CloseReason::EndOfFile) {
        ch.close_when_done();
    } else {
        ch.close();
    }
}

/// Records a `handle_close`, and a violation if it is not the first, or
/// the second after an end of file (a channel kept open to finish sending
/// is told once more, with the new reason, if it then breaks).
fn close_note(book: &Book, key: Key, closes: &mut u32, reason: Option<CloseReason>) {
    *closes += 1;
    let after_eof = *closes == 2 && reason != Some(CloseReason::EndOfFile);
    if *closes > 1 && !after_eof {
        book.violation(format!("{key:?}: handle_close ran {closes} times (last: {reason:?})"));
    }
    book.note(key, Note::Close(reason));
}

/// Chat: line echo (`\n`) or HTTP-ish requests (`\r\n\r\n`), each record
/// checked whole and in order before it is answered.
struct ChatConn {
    key: Key,
    book: Book,
    http: bool,
    /// The connection's number, from its first record.
    conn: Option<u64>,
    next: u64,
    closes: u32,
}

impl ChatConn {
    fn new(key: Key, book: Book, http: bool) -> ChatConn {
        ChatConn { key, book, http, conn: None, next: 0, closes: 0 }
    }

    fn dispatcher(d: Dispatcher, http: bool) -> Dispatcher<Chat> {
        let mut d = d.with_chat();
        d.set_terminator(if http { "\r\n\r\n" } else { "\n" });
        // Small reads: more calls, and terminators split across reads.
        d.set_in_buffer_size(if http { 700 } else { 300 });
        d
    }
}

impl Handler<Chat> for ChatConn {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let record = ch.take_incoming();
        let ids = record_ids(&record, self.http);
        let expected = match (ids, self.conn) {
            (Some((c, i)), conn) if conn.is_none_or(|k| k == c) && i == self.next => {
                if self.http {
                    http_request(c, i)
                } else {
                    chat_line(c, i)
                }
            }
            _ => Vec::new(),
        };
        if expected.is_empty() || record != expected {
            let shown = String::from_utf8_lossy(&record[..record.len().min(80)]).into_owned();
            self.book.violation(format!(
                "{:?}: record #{} arrived corrupt or out of order: {shown:?}",
                self.key, self.next
            ));
            ch.close();
            return Ok(());
        }
        let (c, i) = ids.expect("checked");
        self.conn = Some(c);
        self.next += 1;
        if self.http {
            ch.push(&http_response(c, i))
        } else {
            ch.push(&record)?;
            ch.push(b"\n")
        }
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        server_close(&self.book, self.key, &mut self.closes, ch);
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.book.note(self.key, Note::Error(err.to_string()));
        ch.close();
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.book.log(message, kind);
    }
}

/// Which server a listener or a socketpair feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    Echo,
    EchoSpare,
    Lines,
    Http,
    /// Echo through `from_file` (read(2)/write(2)); socketpairs only.
    FileEcho,
    FileEchoSpare,
}

/// Adds the server side of a connection for `proto`.
fn add_server(
    ctx: &mut pollreactor::Context,
    d: Dispatcher,
    proto: Proto,
    key: Key,
    book: &Book,
) -> io::Result<()> {
    match proto {
        Proto::Echo | Proto::FileEcho => {
            ctx.add(d.with_send(), EchoConn { key, book: book.clone(), spare: false, closes: 0 })?;
        }
        Proto::EchoSpare | Proto::FileEchoSpare => {
            ctx.add(d.with_send(), EchoConn { key, book: book.clone(), spare: true, closes: 0 })?;
        }
        Proto::Lines | Proto::Http => {
            let http = proto == Proto::Http;
            ctx.add(ChatConn::dispatcher(d, http), ChatConn::new(key, book.clone(), http))?;
        }
    }
    Ok(())
}

/// A TCP listener for one protocol.
struct Acceptor {
    proto: Proto,
    book: Book,
}

impl Handler for Acceptor {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        let Address::Inet(peer) = addr else { panic!("a TCP peer") };
        let d = Dispatcher::new(sock)?;
        add_server(ch.context(), d, self.proto, Key::Port(peer.port()), &self.book)
    }

    fn handle_error(&mut self, _: &mut Channel<'_>, err: io::Error) {
        // accept's transient errnos are all absorbed by Dispatcher::accept;
        // what can reach a listener is a registration the backend refused
        // (an injected epoll_ctl ENOMEM/ENOSPC): the listener stays open,
        // and the reactor registers it again at the next iteration.
        if !matches!(err.raw_os_error(), Some(libc::ENOMEM | libc::ENOSPC)) {
            self.book.violation(format!("{:?} listener: handle_error({err})", self.proto));
        }
    }

    fn handle_close(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.book.violation(format!("{:?} listener: handle_close", self.proto));
        Ok(())
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.book.log(message, kind);
    }
}

/// UDP echo: every datagram goes back whole, or (sendto failed) not at all.
struct UdpEcho {
    book: Book,
}

impl UdpEcho {
    /// Counts a datagram that will not go back (the UDP peer stops waiting for it).
    fn dropped(&self) {
        self.book.0.borrow().udp_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler for UdpEcho {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 2048];
        let (n, from) = match ch.recv_from(&mut buf) {
            Ok(got) => got,
            // Left in the kernel: read at the next readiness.
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => return Ok(()),
            Err(e) => return Err(e),
        };
        match ch.send_to(&buf[..n], &from) {
            Ok(sent) if sent == n => {}
            // Would block: a datagram server drops it.
            Ok(0) => self.dropped(),
            Ok(sent) => self.book.violation(format!("sendto sent {sent} of a {n}-byte datagram")),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::ENOMEM)) => self.dropped(),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn handle_error(&mut self, _: &mut Channel<'_>, err: io::Error) {
        self.book.violation(format!("UDP echo: handle_error({err})"));
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.book.log(message, kind);
    }
}

/// A connection the reactor makes to the std echo server: sends its
/// message, reads it back, checks it, closes.
struct Outbound {
    id: u64,
    msg: Vec<u8>,
    got: Vec<u8>,
    book: Book,
}

impl Outbound {
    fn end(&self, how: String) {
        let mut book = self.book.0.borrow_mut();
        let entry = book.outbound.entry(self.id).or_default();
        entry.0 = self.got.len();
        entry.1.get_or_insert(how);
    }
}

impl Handler<WithSend> for Outbound {
    fn handle_connect(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.send_buffered(&self.msg)
    }

    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        ch.recv_into(&mut self.got, READ_SIZE)?;
        if !self.msg.starts_with(&self.got) {
            self.book.violation(format!(
                "outbound #{}: echo is not a prefix of what was sent ({} bytes in)",
                self.id,
                self.got.len()
            ));
            ch.close();
        } else if self.got.len() == self.msg.len() {
            self.end("complete".into());
            ch.close();
        }
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.end(format!("close {:?}", ch.close_reason()));
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, WithSend>, err: io::Error) {
        self.end(format!("error {err}"));
        ch.close();
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.book.log(message, kind);
    }
}

// ---------------------------------------------------------------------------
// The peers (std sockets, on their own threads: never faulted)

/// One connection's worth of work for a peer: its bytes are made on the
/// peer's thread.
struct Job {
    key: Option<Key>,
    proto: Proto,
    /// The connection's number, in its records.
    conn: u64,
    seed: u64,
    /// Shut down the write side after the request (the server sees an end
    /// of file before it has answered everything).
    half_close: bool,
}

impl Job {
    fn label(&self) -> String {
        format!("{:?}{} #{}", self.proto, if self.half_close { " half-closed" } else { "" }, self.conn)
    }

    /// What the peer sends, and what it is due back.
    fn bytes(&self) -> (Vec<u8>, Vec<u8>) {
        let (c, mut rng) = (self.conn, Rng::new(self.seed));
        match self.proto {
            Proto::Lines => {
                let n = 20 + rng.below(120);
                let request: Vec<u8> =
                    (0..n).flat_map(|i| [chat_line(c, i), b"\n".to_vec()].concat()).collect();
                (request.clone(), request)
            }
            Proto::Http => {
                let n = 5 + rng.below(40);
                let request =
                    (0..n).flat_map(|i| [http_request(c, i), b"\r\n\r\n".to_vec()].concat()).collect();
                (request, (0..n).flat_map(|i| http_response(c, i)).collect())
            }
            _ => {
                let len = 1 + rng.below(40 * 1024) as usize;
                let request = rng.bytes(len);
                (request.clone(), request)
            }
        }
    }
}

/// How a peer's connection went.
#[derive(Debug)]
struct Outcome {
    key: Key,
    label: String,
    expected: usize,
    got: usize,
    /// What it got is a prefix of what it was due.
    in_order: bool,
    end: String,
    half_close: bool,
}

impl Outcome {
    fn short(&self) -> bool {
        self.got < self.expected
    }
}

/// Runs a job over a blocking stream: write the request (the server may
/// close meanwhile), maybe half-close, read until all is back or the
/// connection ends.
fn run_job<S: Read + Write>(stream: &mut S, shut: impl FnOnce(&S), key: Key, job: &Job) -> Outcome {
    let (request, expected) = job.bytes();
    let mut end = String::new();
    if let Err(e) = stream.write_all(&request) {
        if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut {
            end = format!("HANG: write timed out after {PEER_TIMEOUT:?}");
        }
    }
    if job.half_close {
        shut(stream);
    }
    let mut got = Vec::with_capacity(expected.len());
    let mut buf = vec![0u8; 64 * 1024];
    while end.is_empty() && got.len() < expected.len() {
        match stream.read(&mut buf) {
            Ok(0) => end = "eof".into(),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                end = format!("HANG: read timed out after {PEER_TIMEOUT:?}");
            }
            Err(e) => end = format!("error {e}"),
        }
    }
    if end.is_empty() {
        end = "complete".into();
    }
    Outcome {
        key,
        label: job.label(),
        expected: expected.len(),
        got: got.len(),
        in_order: expected.starts_with(&got),
        end,
        half_close: job.half_close,
    }
}

fn tcp_peer(jobs: Vec<(SocketAddr, Job)>) -> Vec<Outcome> {
    jobs.into_iter()
        .map(|(addr, job)| {
            let mut stream = TcpStream::connect(addr).expect("connect to the reactor's listener");
            stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
            let key = Key::Port(stream.local_addr().unwrap().port());
            run_job(&mut stream, |s| drop(s.shutdown(Shutdown::Write)), key, &job)
        })
        .collect()
}

fn pair_peer(jobs: Vec<(UnixStream, Job)>) -> Vec<Outcome> {
    jobs.into_iter()
        .map(|(mut stream, job)| {
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(PEER_TIMEOUT)).unwrap();
            let key = job.key.expect("a socketpair job names its key");
            run_job(&mut stream, |s| drop(s.shutdown(Shutdown::Write)), key, &job)
        })
        .collect()
}

/// Sends `bursts` of 16 datagrams to the UDP echo and collects what comes
/// back: before the next burst, every datagram sent so far has come back
/// or been counted in `dropped` (the echo's sendto failed), all within
/// [`PEER_TIMEOUT`]. (A fixed quiet spell instead gave up on answers that a
/// busy reactor on a loaded machine sent later, and unbounded bursts could
/// overflow the echo's receive buffer while the reactor was busy.) At the
/// end, a quiet spell catches datagrams that come back twice.
/// Returns (sent, received, violations).
fn udp_peer(
    server: SocketAddr,
    seed: u64,
    bursts: usize,
    dropped: Arc<AtomicU64>,
) -> (usize, usize, Vec<String>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = Rng::new(seed);
    let mut sent: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut received = 0;
    let mut violations = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + PEER_TIMEOUT;
    // Takes one answer; false when the read timed out.
    let mut collect =
        |sent: &mut HashMap<u64, Vec<u8>>, violations: &mut Vec<String>| match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                let seq = u64::from_be_bytes(buf[..8.min(n)].try_into().unwrap_or([0xff; 8]));
                match sent.remove(&seq) {
                    Some(d) if d[..] == buf[..n] => received += 1,
                    Some(_) => violations.push(format!("UDP datagram {seq} came back altered ({n} bytes)")),
                    None => violations.push(format!("UDP datagram {seq} came back twice or unsent")),
                }
                true
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => false,
            // A read with a timeout fails with EINTR after a stop and continue (signal(7)).
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) => panic!("UDP peer: {e}"),
        };
    for burst in 0..bursts {
        for j in 0..16u64 {
            let seq = burst as u64 * 16 + j;
            let mut datagram = seq.to_be_bytes().to_vec();
            let len = rng.below(1200) as usize;
            datagram.extend(rng.bytes(len));
            sock.send_to(&datagram, server).unwrap();
            sent.insert(seq, datagram);
        }
        // Those still out are the dropped ones once all are accounted for.
        // (A short read timeout: a drop has no event to wait on here.) At
        // the deadline the round's check reports the missing datagrams.
        sock.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        while sent.len() as u64 > dropped.load(Ordering::SeqCst) && Instant::now() < deadline {
            collect(&mut sent, &mut violations);
        }
    }
    sock.set_read_timeout(Some(Duration::from_millis(150))).unwrap();
    while collect(&mut sent, &mut violations) {}
    (bursts * 16, received, violations)
}

/// The std echo server the reactor's outbound connections reach: one
/// thread per connection, until `stop`.
fn std_echo_server(listener: TcpListener, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let mut conns = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
                    conns.push(thread::spawn(move || {
                        let mut buf = [0u8; 8192];
                        loop {
                            match s.read(&mut buf) {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("std echo server: {e}"),
            }
        }
        for c in conns {
            c.join().unwrap();
        }
    })
}

// ---------------------------------------------------------------------------
// The run

/// Calls at the sites that do I/O (not the waits): a wait that returns at
/// once and leads to none of them was a wake-up for nothing.
fn io_calls() -> u64 {
    fault::stats()
        .iter()
        .filter(|(name, _, _)| !["poll", "select", "epoll_wait"].contains(name))
        .map(|s| s.1)
        .sum()
}

/// Per-run counts, for the busy-loop and totals checks.
#[derive(Default)]
struct Counters {
    iterations: u64,
    empty_wakeups: u64,
    wait_errors: u64,
    connections: u64,
    short_explained: u64,
    lost_after_eof: u64,
    complete: u64,
    setup_retries: u64,
    outbound_connect_failed: u64,
    logged_errors: u64,
}

/// A crate call made under injection: retried while it fails the way the
/// injector fails it.
fn retrying<T>(what: &str, counters: &mut Counters, mut f: impl FnMut() -> io::Result<T>) -> T {
    for _ in 0..1000 {
        match f() {
            Ok(v) => return v,
            Err(e) if e.raw_os_error().is_some() => counters.setup_retries += 1,
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: failed 1000 times in a row");
}

/// One round: every scenario at once, until every peer is done and every
/// connection closed; then the checks.
#[allow(clippy::too_many_arguments)]
fn round(
    reactor: &mut Reactor,
    backend: Backend,
    book: &Book,
    listeners: &[(Proto, SocketAddr)],
    udp_addr: SocketAddr,
    echo_server: SocketAddr,
    seed: u64,
    counters: &mut Counters,
) {
    let mut rng = Rng::new(seed);
    let base_channels = reactor.context().len();
    let mut next_conn = seed % 1_000_000;
    let mut job = |proto: Proto, rng: &mut Rng, key: Option<Key>, half_close: bool| {
        next_conn += 1;
        Job { key, proto, conn: next_conn, seed: rng.next(), half_close }
    };

    // TCP peers: threads, each a run of connections to every listener.
    let mut tcp_threads = Vec::new();
    for _ in 0..TCP_PEERS {
        let mut jobs = Vec::new();
        // Each peer visits the listeners in its own order, so that a
        // listener whose accepting is paused does not stall them all.
        let start = rng.below(listeners.len() as u64) as usize;
        for k in 0..TCP_JOBS {
            for i in 0..listeners.len() {
                let (proto, addr) = listeners[(start + i + k) % listeners.len()];
                let half_close = proto == Proto::Echo && k % 3 == 0;
                jobs.push((addr, job(proto, &mut rng, None, half_close)));
            }
        }
        counters.connections += jobs.len() as u64;
        tcp_threads.push(thread::spawn(move || tcp_peer(jobs)));
    }

    // Socketpairs: made here, under injection; the reactor keeps one end.
    let protos =
        [Proto::Echo, Proto::EchoSpare, Proto::Lines, Proto::Http, Proto::FileEcho, Proto::FileEchoSpare];
    let mut pair_jobs = Vec::new();
    for n in 0..PAIRS {
        let proto = protos[n as usize % protos.len()];
        let key = Key::Pair(seed.wrapping_mul(1000) + n);
        let theirs: OwnedFd = match proto {
            Proto::FileEcho | Proto::FileEchoSpare => {
                // from_file duplicates the descriptor; ours is closed after.
                let (ours, theirs) = UnixStream::pair().unwrap();
                let d = Dispatcher::from_file(&ours).unwrap();
                add_server(reactor.context_mut(), d, proto, key, book).unwrap();
                theirs.into()
            }
            _ => {
                let (ours, theirs) =
                    retrying("socketpair", counters, || Socket::pair(Family::Unix, SockType::Stream));
                add_server(reactor.context_mut(), Dispatcher::new(ours).unwrap(), proto, key, book).unwrap();
                theirs.into()
            }
        };
        pair_jobs.push((UnixStream::from(theirs), job(proto, &mut rng, Some(key), n % 5 == 0)));
    }
    counters.connections += pair_jobs.len() as u64;
    let pair_thread = thread::spawn(move || pair_peer(pair_jobs));

    // UDP peer.
    let udp_dropped = book.0.borrow().udp_dropped.clone();
    udp_dropped.store(0, Ordering::SeqCst);
    let udp_seed = rng.next();
    let udp_thread = thread::spawn(move || udp_peer(udp_addr, udp_seed, 10, udp_dropped));

    // Outbound connections the reactor makes.
    book.0.borrow_mut().outbound.clear();
    let mut outbound_ids = Vec::new();
    for n in 0..OUTBOUND {
        let id = seed.wrapping_mul(100) + n;
        let len = 1 + rng.below(24 * 1024) as usize;
        let msg = rng.bytes(len);
        loop {
            let mut d = retrying("create_socket", counters, || {
                Dispatcher::create_socket(Family::Inet, SockType::Stream)
            });
            match d.connect(echo_server) {
                Ok(()) => {
                    let handler = Outbound { id, msg, got: Vec::new(), book: book.clone() };
                    reactor.add(d.with_send(), handler).unwrap();
                    outbound_ids.push(id);
                    break;
                }
                // The injector's connect errnos: try again, as a client would.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EAGAIN | libc::ECONNREFUSED | libc::ENOBUFS)
                    ) =>
                {
                    counters.outbound_connect_failed += 1;
                }
                Err(e) => panic!("outbound connect: {e}"),
            }
        }
    }
    counters.connections += outbound_ids.len() as u64;

    // The loop, until every peer is done and every connection closed.
    let started = Instant::now();
    let peers_done = || {
        tcp_threads.iter().all(|t| t.is_finished()) && pair_thread.is_finished() && udp_thread.is_finished()
    };
    loop {
        let done = peers_done() && reactor.context().len() == base_channels;
        if done {
            break;
        }
        if started.elapsed() > ROUND_LIMIT {
            let recent: Vec<String> = fault::recent().iter().map(|i| i.to_string()).collect();
            panic!(
                "{backend}: round (seed {seed}) still running after {ROUND_LIMIT:?}: peers done: {}, \
                 channels open: {} (base {base_channels}); last faults:\n{}",
                peers_done(),
                reactor.context().len(),
                recent.join("\n")
            );
        }
        let (calls, t0) = (io_calls(), Instant::now());
        let timeout = Duration::from_millis(20);
        match reactor.poll_once(Some(timeout), backend) {
            Ok(()) => {}
            // epoll_ctl(ADD) refused for memory: the wait fails as a whole
            // (see the report); the next iteration tries again.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOMEM | libc::ENOSPC)) => {
                counters.wait_errors += 1
            }
            Err(e) => panic!("{backend}: poll_once failed: {e}"),
        }
        counters.iterations += 1;
        if t0.elapsed() < timeout / 4 && io_calls() == calls {
            counters.empty_wakeups += 1;
        }
    }

    // The checks.
    let mut outcomes: Vec<Outcome> = Vec::new();
    for t in tcp_threads {
        outcomes.extend(t.join().expect("a TCP peer panicked"));
    }
    outcomes.extend(pair_thread.join().expect("the socketpair peer panicked"));
    let (udp_sent, udp_received, udp_violations) = udp_thread.join().expect("the UDP peer panicked");

    let mut failures = Vec::new();
    let inner = book.0.borrow();
    failures.extend(inner.violations.iter().cloned());
    failures.extend(udp_violations);
    let udp_dropped = inner.udp_dropped.load(Ordering::SeqCst) as usize;
    if udp_received + udp_dropped != udp_sent {
        failures.push(format!(
            "UDP: {udp_sent} datagrams sent, {udp_received} came back, {udp_dropped} dropped by sendto faults"
        ));
    }
    for o in &outcomes {
        let notes = inner.notes.get(&o.key).cloned().unwrap_or_default();
        if o.end.starts_with("HANG") {
            failures.push(format!(
                "{}: {} ({} of {} bytes back); server saw {notes:?}",
                o.label, o.end, o.got, o.expected
            ));
        }
        if !o.in_order || o.got > o.expected {
            failures.push(format!(
                "{}: the {} bytes that came back are not the first {} due (reordered or corrupt)",
                o.label, o.got, o.expected
            ));
        }
        if !o.short() {
            counters.complete += 1;
            continue;
        }
        if notes.iter().any(Note::is_fault) {
            counters.short_explained += 1;
        } else if o.half_close && !notes.is_empty() {
            // Told of the end of file, then the flush broke: see the report.
            counters.lost_after_eof += 1;
        } else {
            failures.push(format!(
                "{}: SILENT TRUNCATION: {} of {} bytes came back ({}), and the server's handler was told \
                 only {notes:?}",
                o.label, o.got, o.expected, o.end
            ));
        }
    }
    for id in &outbound_ids {
        match inner.outbound.get(id) {
            Some((_, Some(end))) if end == "complete" => counters.complete += 1,
            Some((_, Some(end))) if !end.contains("EndOfFile") => counters.short_explained += 1,
            other => failures.push(format!("outbound #{id} ended short: {other:?}")),
        }
    }
    drop(inner);
    if !failures.is_empty() {
        let recent: Vec<String> = fault::recent().iter().map(|i| i.to_string()).collect();
        panic!(
            "{backend}, round seed {seed} ({SEED_ENV} replays the run):\n{}\nlast faults injected:\n{}",
            failures.join("\n"),
            recent.join("\n")
        );
    }
    let mut inner = book.0.borrow_mut();
    inner.notes.clear();
    counters.logged_errors += std::mem::take(&mut inner.logged_errors);

    // An idle reactor sleeps: over 100 ms of 20 ms waits, a handful of
    // iterations (a paused listener's back-off may end one wait early).
    drop(inner);
    let (t0, mut idle_iterations) = (Instant::now(), 0);
    while t0.elapsed() < Duration::from_millis(100) {
        reactor.poll_once(Some(Duration::from_millis(20)), backend).expect("idle poll_once");
        idle_iterations += 1;
    }
    assert!(idle_iterations <= 10, "{backend}: an idle reactor spun: {idle_iterations} iterations in 100 ms");
}

/// The seed: from the environment, or from the clock (printed either way).
fn base_seed() -> u64 {
    match std::env::var(SEED_ENV) {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("{SEED_ENV}={text:?} is not a u64: {e}"))
        }
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64,
    }
}

/// One backend: listeners and the UDP echo made before injection starts,
/// then the rounds. Returns the per-site (name, calls, injected) table.
fn run_backend(backend: Backend, seed: u64, counters: &mut Counters) -> Vec<(&'static str, u64, u64)> {
    let book = Book::default();
    let mut reactor = Reactor::new();
    let mut addrs = Vec::new();
    for proto in [Proto::Echo, Proto::EchoSpare, Proto::Lines, Proto::Http] {
        let d = Dispatcher::listen_tcp("127.0.0.1:0", 128).unwrap();
        let Address::Inet(addr) = d.local_addr().unwrap() else { unreachable!() };
        reactor.add(d, Acceptor { proto, book: book.clone() }).unwrap();
        addrs.push((proto, addr));
    }
    let mut udp = Dispatcher::create_socket(Family::Inet, SockType::Datagram).unwrap();
    udp.bind("127.0.0.1:0".parse::<SocketAddr>().unwrap()).unwrap();
    let Address::Inet(udp_addr) = udp.local_addr().unwrap() else { unreachable!() };
    reactor.add(udp, UdpEcho { book: book.clone() }).unwrap();
    let echo_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let echo_addr = echo_listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let echo_thread = std_echo_server(echo_listener, stop.clone());

    // Rates per million calls: the waits are cheap to interrupt; the reads
    // and writes carry the interesting faults; accept's out-of-descriptor
    // faults pause accepting for 100 ms, so they are rarer.
    fault::configure(seed, 100_000);
    for (site, rate) in [
        (Site::Poll, 400_000),
        (Site::Select, 400_000),
        (Site::EpollWait, 400_000),
        (Site::Accept, 15_000),
        (Site::EpollCtl, 30_000),
        (Site::Send, 250_000),
        (Site::Recv, 250_000),
        (Site::RecvSpare, 250_000),
        (Site::Read, 200_000),
        (Site::Write, 200_000),
        (Site::ReadSpare, 200_000),
        (Site::Connect, 150_000),
        (Site::Socket, 150_000),
        (Site::Socketpair, 150_000),
    ] {
        fault::set_rate(site, rate);
    }
    for r in 0..ROUNDS.div_ceil(Backend::available().len()) {
        let round_seed = Rng::new(seed ^ r as u64).next();
        round(&mut reactor, backend, &book, &addrs, udp_addr, echo_addr, round_seed, counters);
    }
    let table = fault::stats();
    fault::disable();
    stop.store(true, Ordering::Relaxed);
    echo_thread.join().expect("the std echo server panicked");
    drop(reactor);
    table
}

/// One test (the only one in this binary), so that nothing else moves the
/// descriptor count, and so that the total covers every backend.
#[test]
fn every_backend_survives_injected_system_call_faults() {
    let seed = base_seed();
    println!("fault injection seed {seed} (rerun with {SEED_ENV}={seed})");
    let started = Instant::now();
    let fds_before = common::open_fds();
    let mut totals: Vec<(&'static str, u64, u64)> = Vec::new();
    let mut counters = Counters::default();
    for (n, &backend) in Backend::available().iter().enumerate() {
        let t0 = Instant::now();
        let backend_seed = Rng::new(seed ^ (n as u64 + 1).wrapping_mul(0x1234_5678_9ABC_DEF1)).next();
        let table = run_backend(backend, backend_seed, &mut counters);
        let injected: u64 = table.iter().map(|s| s.2).sum();
        println!("{backend}: {injected} faults injected in {:?}", t0.elapsed());
        if totals.is_empty() {
            totals = table;
        } else {
            for (total, site) in totals.iter_mut().zip(table) {
                total.1 += site.1;
                total.2 += site.2;
            }
        }
    }
    let fds_after = common::open_fds();

    println!("{:<16} {:>10} {:>10}", "site", "calls", "injected");
    for (site, calls, injected) in &totals {
        println!("{site:<16} {calls:>10} {injected:>10}");
    }
    let total: u64 = totals.iter().map(|s| s.2).sum();
    println!(
        "total {total} faults in {:?} over {} backends; {} connections ({} complete, {} cut short by a fault \
         the handler was told of, {} half-closed ones cut short after their end-of-file handle_close); \
         {} iterations, {} empty wake-ups, {} waits failed (epoll_ctl), {} setup retries, {} outbound \
         connects refused, {} error lines logged (accept back-offs)",
        started.elapsed(),
        Backend::available().len(),
        counters.connections,
        counters.complete,
        counters.short_explained,
        counters.lost_after_eof,
        counters.iterations,
        counters.empty_wakeups,
        counters.wait_errors,
        counters.setup_retries,
        counters.outbound_connect_failed,
        counters.logged_errors,
    );

    assert_eq!(fds_before, fds_after, "descriptors leaked: {fds_before} open before, {fds_after} after");
    assert!(total >= TARGET_FAULTS, "only {total} faults injected (want {TARGET_FAULTS})");
    // Every site this build uses was faulted.
    for (site, calls, injected) in &totals {
        let unused = match *site {
            "epoll_wait" | "epoll_ctl (add)" => !Backend::available().contains(&Backend::Epoll),
            _ => false,
        };
        if !unused {
            assert!(*injected > 0, "site {site} was never faulted ({calls} calls)");
        }
    }
    // A wait that returns at once leads to work, nearly always (a hang-up
    // handled without a read, a stray epoll event for a closed channel).
    assert!(
        counters.empty_wakeups <= 100 + counters.connections / 20,
        "busy loop: {} of {} iterations returned at once and did nothing",
        counters.empty_wakeups,
        counters.iterations
    );
}
