//! A port of CPython 3.11's `Lib/test/test_asynchat.py` to pollreactor's chat
//! channels (`Dispatcher::with_chat`), in our own code.
//!
//! The harness follows CPython's: a blocking echo server on its own thread
//! (a std `TcpListener` on 127.0.0.1:0, every call bounded by timeouts)
//! accepts one connection, reads one byte at a time until it has seen
//! `QUIT\n`, drops that marker, then echoes the rest in chunks of 1, 2 or 3
//! bytes, 1 ms apart (so the client sees many small reads), and closes. The
//! client is a chat channel in a `Reactor` whose `collect_incoming_data`
//! appends to a buffer and whose `found_terminator` moves the buffer into
//! `contents`. The test thread waits with `common::loop_until` (bounded,
//! event-driven) for the client to see the server close; it never sleeps.
//! Every scenario that touches a reactor runs on every backend (poll,
//! select, and on Linux epoll: `on_every_backend!`).
//!
//! Scenarios, one a line: CPython test -> test here (what it checks).
//!
//! * `test_line_terminator1` (CPython's select and `_WithPoll` classes: our backends) -> `line_terminator1`: `\n`, echo chunks 1, 2, 3 -> `["hello world", "I'm not dead yet!"]`.
//! * `test_line_terminator2` -> `line_terminator2`: the same with `\r\n` (a terminator split across reads).
//! * `test_line_terminator3` -> `line_terminator3`: the same with the 3-byte `qqq`.
//! * `test_numeric_terminator1` -> `numeric_terminator1`: count 1 -> one record `data[..1]`; the rest is collected with no further `found_terminator`.
//! * `test_numeric_terminator2` -> `numeric_terminator2`: the same with count 6.
//! * `test_none_terminator` -> `none_terminator`: `Terminator::None` -> no record; every echoed byte collected.
//! * `test_simple_producer` -> `simple_producer`: `SimpleProducer` of 8-byte chunks, drained in order (8,8,8,8,3, then the empty end).
//! * `test_string_producer` -> `string_producer`: Rust has no "bytes as producer"; a user `Producer` that hands out the whole buffer in one chunk.
//! * `test_empty_line` -> `empty_line`: back-to-back terminators give an empty record, and `collect_incoming_data` never gets empty data.
//! * `test_close_when_done` -> `close_when_done`: push, push QUIT, `close_when_done`; the client flushes and closes itself before the server may echo: no record, and the server got every byte.
//! * `test_push` -> `push`: `&[u8]` from a literal, a `Vec` (bytearray) and a sub-slice (memoryview) are all accepted; rejecting `str` and `int` is enforced at compile time by the `&[u8]` parameter type.
//! * `TestAsynchatMocked.test_blockingioerror` -> `blockingioerror`: a chat channel's read path with nothing to read returns a would-block error (which the reactor ignores) and leaves the channel working; a real spurious readiness in the reactor (two channels on one socket, the first drains it) never reaches `handle_error`.
//! * `TestHelperFunctions.test_find_prefix_at_end` -> `find_prefix_at_end_cases` (plain `#[test]`, no reactor).
//! * `TestNotConnected.test_disallow_negative_terminator` -> `count_terminator_is_unsigned`: a negative count cannot be written (`usize`); what remains checkable is that the count counts down as bytes arrive.
//!
//! Beyond CPython:
//!
//! * `every_split_gives_the_same_records`: for short streams (a `\r\n` one, a
//!   `qqq` one with overlapping candidates, a sequence of counts, and a mix
//!   of counts and byte strings), every way of cutting the stream into reads
//!   (all 2^(n-1) cuts, fed over a Unix socketpair one piece per loop
//!   iteration) passes on the same records as a plain reference splitter,
//!   and after each read exactly the bytes the reference says (all but a
//!   possible partial terminator).
//! * `max_record_overflow_reports_invalid_data`, `max_record_overflow_closes_by_default`,
//!   `max_record_exact_fits`: `set_max_record(Some(16))`.
//! * `terminator_switch_applies_within_one_read`: a terminator changed inside
//!   `found_terminator` splits the rest of the same read.
//! * `super_read_then_one_flush_per_read`: asynchat's `super()` pattern. A
//!   handler overrides `handle_read`, runs the chat read step
//!   (`Chat::handle_read(self, ch)?`, which calls its `found_terminator`
//!   per record), then counts the read and pushes the answers the records
//!   made as one batch: one push per read, none for a read without a whole
//!   record, and none (the count unchanged) when the read step would block.
#![forbid(unsafe_code)]

mod common;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{loop_until, Log, WAIT_LIMIT};
use pollreactor::{
    find_prefix_at_end, is_would_block, Backend, Channel, Chat, Dispatcher, Family, Handler, Layer, LogKind,
    Producer, Reactor, SimpleProducer, SockType, Socket, Terminator, Token,
};

on_every_backend!(
    line_terminator1,
    line_terminator2,
    line_terminator3,
    numeric_terminator1,
    numeric_terminator2,
    none_terminator,
    simple_producer,
    string_producer,
    empty_line,
    close_when_done,
    push,
    blockingioerror,
    count_terminator_is_unsigned,
    every_split_gives_the_same_records,
    max_record_overflow_reports_invalid_data,
    max_record_overflow_closes_by_default,
    max_record_exact_fits,
    terminator_switch_applies_within_one_read,
    random_streams_match_the_reference,
    super_read_then_one_flush_per_read,
);

const QUIT: &[u8] = b"QUIT\n";
const DATA: &[u8] = b"hello world, I'm not dead yet!\n";

// ---------------------------------------------------------------------------
// The echo server (CPython's echo_server thread)
// ---------------------------------------------------------------------------

struct EchoServer {
    addr: SocketAddr,
    /// Returns what the server received, `QUIT\n` removed.
    thread: JoinHandle<Vec<u8>>,
    /// For `close_when_done`: the server echoes only once this is sent.
    gate: Option<mpsc::Sender<()>>,
}

impl EchoServer {
    fn start(chunk: usize, gated: bool) -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let addr = listener.local_addr().unwrap();
        let (gate, wait) = if gated {
            let (tx, rx) = mpsc::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let thread = thread::spawn(move || echo_serve(listener, chunk, wait));
        EchoServer { addr, thread, gate }
    }

    fn join(self) -> Vec<u8> {
        self.thread.join().expect("the echo server thread panicked")
    }
}

fn echo_serve(listener: TcpListener, chunk: usize, gate: Option<mpsc::Receiver<()>>) -> Vec<u8> {
    // accept() has no timeout of its own: poll it, bounded.
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "echo server: no client came");
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("echo server accept: {e}"),
        }
    };
    drop(listener);
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    conn.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut received = Vec::new();
    while !contains(&received, QUIT) {
        let mut byte = [0u8; 1];
        match conn.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => received.push(byte[0]),
            // A read with a timeout fails with EINTR after a stop and continue (signal(7)).
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("echo server read: {e}"),
        }
    }
    let data = remove_all(&received, QUIT);
    if let Some(gate) = gate {
        // Disconnected (the test gave up) is as good as the signal.
        let _ = gate.recv_timeout(WAIT_LIMIT);
    }
    // Echo in small chunks with a pause between them, so that the client
    // sees separate reads. A client that closed makes a write fail: stop.
    let mut rest = &data[..];
    while !rest.is_empty() {
        match conn.write(&rest[..chunk.min(rest.len())]) {
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
        thread::sleep(Duration::from_millis(1));
    }
    data
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn remove_all(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The echo client (CPython's echo_client)
// ---------------------------------------------------------------------------

#[derive(Default)]
struct ClientState {
    contents: Vec<Vec<u8>>,
    buffer: Vec<u8>,
}

/// Records as CPython's `echo_client`; every other event goes to `log`.
struct EchoClient {
    state: Rc<RefCell<ClientState>>,
    log: Log,
}

impl Handler<Chat> for EchoClient {
    fn handle_connect(&mut self, _: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.log.push("connect");
        Ok(())
    }

    fn collect_incoming_data(&mut self, _: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            self.log.push("empty collect");
        }
        self.state.borrow_mut().buffer.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, _: &mut Channel<'_, Chat>) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        let record = std::mem::take(&mut state.buffer);
        state.contents.push(record);
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.log.push("close");
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

struct Outcome {
    contents: Vec<Vec<u8>>,
    buffer: Vec<u8>,
    log: Log,
    /// What the server received, `QUIT\n` removed.
    received: Vec<u8>,
}

/// One CPython scenario: start the server, connect a chat client with
/// `terminator`, let `feed` queue its output, run until the client has
/// closed (the server closes after its echo), join the server.
fn run_echo(
    backend: Backend,
    terminator: Terminator,
    chunk: usize,
    gated: bool,
    feed: impl FnOnce(&mut Channel<'_, Chat>) -> io::Result<()>,
) -> Outcome {
    let mut server = EchoServer::start(chunk, gated);
    let state = Rc::new(RefCell::new(ClientState::default()));
    let log = Log::default();
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap().with_chat();
    d.connect(server.addr).unwrap();
    d.set_terminator(terminator);
    let mut reactor = Reactor::new();
    let client = EchoClient { state: state.clone(), log: log.clone() };
    let t = reactor.add(d, client).unwrap();
    reactor
        .context_mut()
        .call(t, |_: &mut EchoClient, ch: &mut Channel<'_, Chat>| feed(ch))
        .expect("the client is in the reactor")
        .expect("queueing output failed");
    loop_until(&mut reactor, backend, "the client to close", |r| !r.context().contains(t));
    if let Some(gate) = server.gate.take() {
        gate.send(()).unwrap();
    }
    let received = server.join();
    let state = state.take();
    assert!(!log.events().iter().any(|e| e.starts_with("error")), "unexpected error: {:?}", log.events());
    assert!(!log.contains("empty collect"), "collect_incoming_data got b\"\"");
    Outcome { contents: state.contents, buffer: state.buffer, log, received }
}

fn records(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|r| r.to_vec()).collect()
}

/// CPython's `line_terminator_check`.
fn line_terminator_check(backend: Backend, term: &[u8], chunk: usize) {
    let out = run_echo(backend, Terminator::from(term), chunk, false, |ch| {
        ch.push(b"hello ")?;
        ch.push(&[b"world", term].concat())?;
        ch.push(&[b"I'm not dead yet!", term].concat())?;
        ch.push(QUIT)
    });
    assert_eq!(
        out.contents,
        records(&[b"hello world", b"I'm not dead yet!"]),
        "terminator {term:?}, echo chunks of {chunk}"
    );
    assert!(out.buffer.is_empty(), "left over: {:?}", out.buffer);
    assert_eq!(out.log.count("connect"), 1);
    assert_eq!(out.log.count("close"), 1, "{:?}", out.log.events());
}

fn line_terminator1(backend: Backend) {
    for chunk in 1..=3 {
        line_terminator_check(backend, b"\n", chunk);
    }
}

fn line_terminator2(backend: Backend) {
    for chunk in 1..=3 {
        line_terminator_check(backend, b"\r\n", chunk);
    }
}

fn line_terminator3(backend: Backend) {
    for chunk in 1..=3 {
        line_terminator_check(backend, b"qqq", chunk);
    }
}

/// CPython's `numeric_terminator_check` (server chunks of 1, as CPython's default).
fn numeric_terminator_check(backend: Backend, count: usize) {
    let out = run_echo(backend, Terminator::Count(count), 1, false, |ch| {
        ch.push(DATA)?;
        ch.push(QUIT)
    });
    assert_eq!(out.contents, vec![DATA[..count].to_vec()]);
    // After the count ran out, the rest is collected with no terminator.
    assert_eq!(out.buffer, DATA[count..].to_vec());
    assert_eq!(out.received, DATA);
}

fn numeric_terminator1(backend: Backend) {
    numeric_terminator_check(backend, 1);
}

fn numeric_terminator2(backend: Backend) {
    numeric_terminator_check(backend, 6);
}

fn none_terminator(backend: Backend) {
    let out = run_echo(backend, Terminator::None, 1, false, |ch| {
        ch.push(DATA)?;
        ch.push(QUIT)
    });
    assert!(out.contents.is_empty(), "records: {:?}", out.contents);
    assert_eq!(out.buffer, DATA);
}

/// A producer that reports the size of every chunk it hands out.
struct Counting<P> {
    inner: P,
    sizes: Rc<RefCell<Vec<usize>>>,
}

impl<P: Producer> Producer for Counting<P> {
    fn more(&mut self) -> Vec<u8> {
        let chunk = self.inner.more();
        self.sizes.borrow_mut().push(chunk.len());
        chunk
    }
}

fn simple_producer(backend: Backend) {
    let data = b"hello world\nI'm not dead yet!\n";
    let sizes = Rc::new(RefCell::new(Vec::new()));
    let producer =
        Counting { inner: SimpleProducer::new([&data[..], QUIT].concat(), 8), sizes: sizes.clone() };
    let out = run_echo(backend, Terminator::from(b"\n"), 1, false, |ch| ch.push_with_producer(producer));
    assert_eq!(out.contents, records(&[b"hello world", b"I'm not dead yet!"]));
    assert_eq!(out.received, data);
    // 35 bytes in chunks of 8, then the empty chunk that ends the producer.
    assert_eq!(*sizes.borrow(), [8, 8, 8, 8, 3, 0]);
}

/// CPython passes plain bytes to `push_with_producer`; the nearest Rust
/// equivalent is a producer that gives its whole buffer at once.
struct WholeBuffer(Option<Vec<u8>>);

impl Producer for WholeBuffer {
    fn more(&mut self) -> Vec<u8> {
        self.0.take().unwrap_or_default()
    }
}

fn string_producer(backend: Backend) {
    let data = b"hello world\nI'm not dead yet!\n";
    let producer = WholeBuffer(Some([&data[..], QUIT].concat()));
    let out = run_echo(backend, Terminator::from(b"\n"), 1, false, |ch| ch.push_with_producer(producer));
    assert_eq!(out.contents, records(&[b"hello world", b"I'm not dead yet!"]));
    assert_eq!(out.received, data);
}

fn empty_line(backend: Backend) {
    let out = run_echo(backend, Terminator::from(b"\n"), 1, false, |ch| {
        ch.push(b"hello world\n\nI'm not dead yet!\n")?;
        ch.push(QUIT)
    });
    assert_eq!(out.contents, records(&[b"hello world", b"", b"I'm not dead yet!"]));
}

fn close_when_done(backend: Backend) {
    let data = b"hello world\nI'm not dead yet!\n";
    let out = run_echo(backend, Terminator::from(b"\n"), 1, true, |ch| {
        ch.push(data)?;
        ch.push(QUIT)?;
        ch.close_when_done();
        assert!(ch.is_open(), "close_when_done closed with output queued");
        Ok(())
    });
    // The client closed itself once its output was sent; only then could
    // the server echo, so nothing came back.
    assert!(out.contents.is_empty(), "records: {:?}", out.contents);
    assert!(out.buffer.is_empty(), "collected: {:?}", out.buffer);
    // ...and it did flush everything before closing.
    assert_eq!(out.received, data);
}

fn push(backend: Backend) {
    let data: &[u8] = b"bytes\n";
    let owned: Vec<u8> = data.to_vec();
    let larger = *b"[[bytes\n]]";
    let out = run_echo(backend, Terminator::from(b"\n"), 1, false, |ch| {
        ch.push(data)?; // bytes
        ch.push(&owned)?; // bytearray
        ch.push(&larger[2..8])?; // memoryview
                                 // ch.push("unicode") and ch.push(10) do not compile: `&[u8]` only.
        ch.push(QUIT)
    });
    assert_eq!(out.contents, records(&[b"bytes", b"bytes", b"bytes"]));
}

// ---------------------------------------------------------------------------
// Chat channels over a Unix socketpair
// ---------------------------------------------------------------------------

#[derive(Default)]
struct RecState {
    records: Vec<Vec<u8>>,
    /// The record being collected.
    current: Vec<u8>,
    /// Input bytes passed on: collected bytes plus terminator bytes.
    seen: usize,
    errors: Vec<(ErrorKind, String)>,
    closes: usize,
    empty_collects: usize,
}

/// A chat handler that records everything; at each terminator it switches
/// to the next terminator of `script`, if any.
struct Recorder {
    state: Rc<RefCell<RecState>>,
    script: VecDeque<Terminator>,
}

impl Handler<Chat> for Recorder {
    fn collect_incoming_data(&mut self, _: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        let mut s = self.state.borrow_mut();
        if data.is_empty() {
            s.empty_collects += 1;
        }
        s.current.extend_from_slice(data);
        s.seen += data.len();
        Ok(())
    }

    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let mut s = self.state.borrow_mut();
        if let Terminator::Bytes(t) = ch.terminator() {
            s.seen += t.len();
        }
        let record = std::mem::take(&mut s.current);
        s.records.push(record);
        if let Some(next) = self.script.pop_front() {
            ch.set_terminator(next);
        }
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.state.borrow_mut().closes += 1;
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.state.borrow_mut().errors.push((err.kind(), err.to_string()));
        ch.close();
    }
}

/// A reactor holding one chat channel on one end of a Unix stream
/// socketpair, with `script[0]` as its terminator; the other end is returned.
fn chat_pair(script: &[Terminator]) -> (Reactor, Token, Socket, Rc<RefCell<RecState>>) {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut d = Dispatcher::new(ours).unwrap().with_chat();
    d.set_terminator(script[0].clone());
    let state = Rc::new(RefCell::new(RecState::default()));
    let handler = Recorder { state: state.clone(), script: script[1..].iter().cloned().collect() };
    let mut reactor = Reactor::new();
    let t = reactor.add(d, handler).unwrap();
    (reactor, t, theirs, state)
}

/// Whether the channel's socket has nothing left to read (asked with a
/// recv of our own on its socket, which takes a byte if there was one).
/// `H` is the channel's handler type: a typed `call` is the way in.
fn drained<H: Handler<Chat>>(reactor: &mut Reactor, t: Token) -> bool {
    let probe = |_: &mut H, ch: &mut Channel<'_, Chat>| match ch.socket().unwrap().recv(&mut [0u8; 1]) {
        Err(e) => is_would_block(&e),
        Ok(_) => false,
    };
    reactor.context_mut().call(t, probe).expect("a chat channel with this handler")
}

/// A chat channel's current terminator (`H`: its handler type).
fn terminator<H: Handler<Chat>>(reactor: &mut Reactor, t: Token) -> Terminator {
    let get = |_: &mut H, ch: &mut Channel<'_, Chat>| ch.terminator();
    reactor.context_mut().call(t, get).expect("a chat channel with this handler")
}

fn send_all(sock: &Socket, data: &[u8]) {
    assert_eq!(sock.send(data).unwrap(), data.len(), "short send");
}

/// Runs the loop until `done` holds for the recorded state, or the channel
/// failed or closed (so that a wrong count fails at once, not at the time
/// limit); then insists on `done`.
fn wait_for(
    reactor: &mut Reactor,
    backend: Backend,
    t: Token,
    state: &Rc<RefCell<RecState>>,
    what: &str,
    done: impl Fn(&RecState) -> bool,
) {
    loop_until(reactor, backend, what, |r| {
        let s = state.borrow();
        done(&s) || !s.errors.is_empty() || !r.context().contains(t)
    });
    let s = state.borrow();
    assert!(
        done(&s),
        "{what} ({backend:?}): seen {}, records {:?}, errors {:?}",
        s.seen,
        s.records,
        s.errors
    );
}

fn blockingioerror(backend: Backend) {
    // 1. As CPython's mocked test: the read path, run with nothing to read.
    let (mut reactor, t, theirs, state) = chat_pair(&[Terminator::from(b"\n")]);
    let result = reactor
        .context_mut()
        .call(t, |h: &mut Recorder, ch: &mut Channel<'_, Chat>| h.handle_read(ch))
        .unwrap();
    let err = result.expect_err("a read with nothing there must say would-block");
    assert!(is_would_block(&err), "got {err:?}");
    assert!(reactor.context().contains(t));
    // The channel still works afterwards (its buffers were not disturbed).
    send_all(&theirs, b"ab\n");
    wait_for(&mut reactor, backend, t, &state, "the record", |s| !s.records.is_empty());
    assert_eq!(state.borrow().records, records(&[b"ab"]));
    assert!(state.borrow().errors.is_empty(), "{:?}", state.borrow().errors);

    // 2. A real spurious readiness: two chat channels on one socket (two
    //    descriptors). Both are reported readable in the same iteration;
    //    whichever is served first reads everything, the other's recv would
    //    block. Neither may see handle_error, and both must stay open.
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let twin = ours.try_clone_at_least(0).unwrap();
    let mut reactor = Reactor::new();
    let mut states = Vec::new();
    let mut tokens = Vec::new();
    for sock in [ours, twin] {
        let mut d = Dispatcher::new(sock).unwrap().with_chat();
        d.set_terminator(b"\n");
        let state = Rc::new(RefCell::new(RecState::default()));
        let handler = Recorder { state: state.clone(), script: VecDeque::new() };
        tokens.push(reactor.add(d, handler).unwrap());
        states.push(state);
    }
    for (i, line) in [b"x\n", b"y\n", b"z\n"].iter().enumerate() {
        send_all(&theirs, *line);
        reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
        let total: usize = states.iter().map(|s| s.borrow().records.len()).sum();
        assert_eq!(total, i + 1, "each line is read by exactly one channel");
        for (s, t) in states.iter().zip(&tokens) {
            assert!(s.borrow().errors.is_empty(), "{:?}", s.borrow().errors);
            assert_eq!(s.borrow().closes, 0);
            assert!(reactor.context().contains(*t), "a would-block read closed a channel");
        }
    }
}

#[test]
fn find_prefix_at_end_cases() {
    // CPython's two cases.
    assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
    // A few more: the longest proper prefix wins; a whole terminator is not
    // a prefix of itself; an empty haystack or needle gives 0.
    assert_eq!(find_prefix_at_end(b"ab\r\n\r", b"\r\n\r\n"), 3);
    assert_eq!(find_prefix_at_end(b"abqq", b"qqq"), 2);
    assert_eq!(find_prefix_at_end(b"abq", b"qqq"), 1);
    assert_eq!(find_prefix_at_end(b"ab\r\n", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"abc", b""), 0);
}

/// `set_terminator(-1)` cannot be written: counts are `usize`. What is left
/// to check is asynchat's countdown: the count shrinks as bytes arrive.
fn count_terminator_is_unsigned(backend: Backend) {
    let (mut reactor, t, theirs, state) = chat_pair(&[Terminator::from(6usize)]);
    assert_eq!(terminator::<Recorder>(&mut reactor, t), Terminator::Count(6));
    send_all(&theirs, b"abcd");
    wait_for(&mut reactor, backend, t, &state, "4 bytes", |s| s.seen == 4);
    assert_eq!(terminator::<Recorder>(&mut reactor, t), Terminator::Count(2));
    assert!(state.borrow().records.is_empty());
    send_all(&theirs, b"efgh");
    wait_for(&mut reactor, backend, t, &state, "8 bytes", |s| s.seen == 8);
    assert_eq!(state.borrow().records, records(&[b"abcdef"]));
    assert_eq!(state.borrow().current, b"gh");
    assert_eq!(terminator::<Recorder>(&mut reactor, t), Terminator::Count(0));
}

// ---------------------------------------------------------------------------
// Every split of a stream into reads gives the same records
// ---------------------------------------------------------------------------

/// What a plain splitter makes of the whole stream at once: the records,
/// the bytes collected after the last record, and how many bytes at the end
/// it keeps back as a possible start of the terminator.
struct Model {
    records: Vec<Vec<u8>>,
    tail: Vec<u8>,
    held: usize,
}

/// The longest proper prefix of `needle` that `haystack` ends with.
fn longest_partial(haystack: &[u8], needle: &[u8]) -> usize {
    (0..needle.len()).filter(|&l| haystack.ends_with(&needle[..l])).max().unwrap_or(0)
}

/// The reference splitter: `script[0]` is the first terminator, each found
/// terminator switches to the next one (if any; a spent count stays 0).
fn model(input: &[u8], script: &[Terminator]) -> Model {
    let mut next = script.iter().cloned();
    let mut term = next.next().unwrap_or(Terminator::None);
    let mut records = Vec::new();
    let mut cur = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        match term.clone() {
            Terminator::None | Terminator::Count(0) => {
                cur.extend_from_slice(rest);
                pos = input.len();
            }
            Terminator::Count(n) if rest.len() < n => {
                cur.extend_from_slice(rest);
                pos = input.len();
                term = Terminator::Count(n - rest.len());
            }
            Terminator::Count(n) => {
                cur.extend_from_slice(&rest[..n]);
                pos += n;
                records.push(std::mem::take(&mut cur));
                term = next.next().unwrap_or(Terminator::Count(0));
            }
            Terminator::Bytes(t) if t.is_empty() => {
                cur.extend_from_slice(rest);
                pos = input.len();
            }
            Terminator::Bytes(t) => match rest.windows(t.len()).position(|w| w == &t[..]) {
                Some(i) => {
                    cur.extend_from_slice(&rest[..i]);
                    pos += i + t.len();
                    records.push(std::mem::take(&mut cur));
                    if let Some(n) = next.next() {
                        term = n;
                    }
                }
                None => {
                    let held = longest_partial(rest, &t);
                    cur.extend_from_slice(&rest[..rest.len() - held]);
                    return Model { records, tail: cur, held };
                }
            },
        }
    }
    Model { records, tail: cur, held: 0 }
}

/// Feeds `input` cut at every combination of places, one piece per loop
/// iteration, and compares with the reference after each read and at the end.
fn check_every_split(backend: Backend, input: &[u8], script: &[Terminator]) {
    let n = input.len();
    assert!((2..=13).contains(&n));
    let whole = model(input, script);
    for cuts in 0u32..1 << (n - 1) {
        let (mut reactor, t, theirs, state) = chat_pair(script);
        let mut start = 0;
        let mut pieces = Vec::new();
        for end in 1..=n {
            // Bit i set: a cut after byte i + 1.
            if end == n || cuts & (1 << (end - 1)) != 0 {
                pieces.push(&input[start..end]);
                let piece = &input[start..end];
                send_all(&theirs, piece);
                // The piece is already in the socket: one iteration reads it.
                reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
                assert!(
                    drained::<Recorder>(&mut reactor, t),
                    "one iteration left input unread ({backend:?}, pieces {pieces:?})"
                );
                let so_far = model(&input[..end], script);
                assert_eq!(
                    state.borrow().seen,
                    end - so_far.held,
                    "bytes passed on after {pieces:?} ({backend:?})"
                );
                start = end;
            }
        }
        let s = state.borrow();
        assert_eq!(s.records, whole.records, "records for pieces {pieces:?}");
        assert_eq!(s.current, whole.tail, "collected tail for pieces {pieces:?}");
        assert!(s.errors.is_empty(), "{:?} for pieces {pieces:?}", s.errors);
        assert_eq!(s.empty_collects, 0, "empty collect for pieces {pieces:?}");
        assert_eq!(s.closes, 0);
        assert!(reactor.context().contains(t));
    }
}

fn every_split_gives_the_same_records(backend: Backend) {
    let started = Instant::now();
    // A two-byte terminator that may be cut in half, and an empty record.
    let crlf = [Terminator::from(b"\r\n")];
    let m = model(b"ab\r\ncd\r\n\r\nef\r", &crlf);
    assert_eq!(m.records, records(&[b"ab", b"cd", b""]));
    assert_eq!((m.tail.as_slice(), m.held), (&b"ef"[..], 1));
    check_every_split(backend, b"ab\r\ncd\r\n\r\nef\r", &crlf);

    // A three-byte terminator among runs of its own byte.
    let qqq = [Terminator::from(b"qqq")];
    let m = model(b"aqqbqqqqqqcqq", &qqq);
    assert_eq!(m.records, records(&[b"aqqb", b""]));
    assert_eq!((m.tail.as_slice(), m.held), (&b"c"[..], 2));
    check_every_split(backend, b"aqqbqqqqqqcqq", &qqq);

    // A sequence of counts, then the rest collected with no terminator.
    let counts = [3usize, 1, 4, 2].map(Terminator::from);
    let m = model(b"abcdefghijkl", &counts);
    assert_eq!(m.records, records(&[b"abc", b"d", b"efgh", b"ij"]));
    assert_eq!(m.tail, b"kl");
    check_every_split(backend, b"abcdefghijkl", &counts);

    // Counts and byte strings mixed (a header line, a body of 4 bytes that
    // holds a newline, then lines ending in \r\n and \n).
    let mixed = [
        Terminator::from(b"\n"),
        Terminator::from(4usize),
        Terminator::from(b"\r\n"),
        Terminator::from(b"\n"),
    ];
    let m = model(b"HI\nab\ncq\r\nz\n", &mixed);
    assert_eq!(m.records, records(&[b"HI", b"ab\nc", b"q", b"z"]));
    assert!(m.tail.is_empty());
    check_every_split(backend, b"HI\nab\ncq\r\nz\n", &mixed);

    // Keep the whole property modest in time (~12k reactors per backend).
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

// ---------------------------------------------------------------------------
// The record cap
// ---------------------------------------------------------------------------

fn capped_pair() -> (Reactor, Token, Socket, Rc<RefCell<RecState>>) {
    let (mut reactor, t, theirs, state) = chat_pair(&[Terminator::from(b"\n")]);
    reactor
        .context_mut()
        .call(t, |_: &mut Recorder, ch: &mut Channel<'_, Chat>| ch.set_max_record(Some(16)))
        .unwrap();
    (reactor, t, theirs, state)
}

fn max_record_overflow_reports_invalid_data(backend: Backend) {
    let (mut reactor, t, theirs, state) = capped_pair();
    send_all(&theirs, &[b'x'; 100]);
    loop_until(&mut reactor, backend, "handle_error", |_| !state.borrow().errors.is_empty());
    let s = state.borrow();
    assert_eq!(s.errors, [(ErrorKind::InvalidData, "terminator not found within 16 bytes".to_string())]);
    assert!(s.records.is_empty());
    assert!(s.current.len() <= 16, "{} bytes collected beyond the cap", s.current.len());
    assert!(!reactor.context().contains(t));
}

/// Only `found_terminator` and `log_info` overridden: the default
/// `handle_error` logs the error and closes the channel.
struct DefaultErrors {
    lines: Log,
}

impl Handler<Chat> for DefaultErrors {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let record = ch.take_incoming();
        self.lines.push(format!("record {}", String::from_utf8_lossy(&record)));
        Ok(())
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.lines.push(format!("{kind}: {message}"));
    }
}

fn max_record_overflow_closes_by_default(backend: Backend) {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut d = Dispatcher::new(ours).unwrap().with_chat();
    d.set_terminator(b"\n");
    d.set_max_record(Some(16));
    let lines = Log::default();
    let mut reactor = Reactor::new();
    let t = reactor.add(d, DefaultErrors { lines: lines.clone() }).unwrap();
    send_all(&theirs, &[b'x'; 100]);
    loop_until(&mut reactor, backend, "the channel to close", |r| !r.context().contains(t));
    let errors: Vec<String> = lines.events().into_iter().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{:?}", lines.events());
    assert!(errors[0].contains("terminator not found within 16 bytes"), "{errors:?}");
    assert!(!lines.events().iter().any(|l| l.starts_with("record")));
    // The peer sees the channel's end of file.
    assert_eq!(theirs.recv(&mut [0u8; 8]).unwrap(), 0);
}

fn max_record_exact_fits(backend: Backend) {
    let (mut reactor, t, theirs, state) = capped_pair();
    // 16 bytes and no terminator yet: within the cap.
    send_all(&theirs, b"0123456789abcdef");
    wait_for(&mut reactor, backend, t, &state, "16 bytes", |s| s.seen == 16);
    send_all(&theirs, b"\n");
    wait_for(&mut reactor, backend, t, &state, "a record", |s| s.records.len() == 1);
    // The count restarts at each record and adds up across reads.
    send_all(&theirs, b"ABCDEFGHIJ");
    wait_for(&mut reactor, backend, t, &state, "10 more bytes", |s| s.seen == 27);
    send_all(&theirs, b"KLMNOP\n");
    wait_for(&mut reactor, backend, t, &state, "a second record", |s| s.records.len() == 2);
    assert_eq!(state.borrow().records, records(&[b"0123456789abcdef", b"ABCDEFGHIJKLMNOP"]));
    assert!(state.borrow().errors.is_empty(), "{:?}", state.borrow().errors);
    assert!(reactor.context().contains(t));
    // One byte more than the cap, over two reads, is too much.
    send_all(&theirs, b"0123456789");
    wait_for(&mut reactor, backend, t, &state, "10 bytes", |s| s.seen == 44);
    assert!(state.borrow().errors.is_empty());
    send_all(&theirs, b"abcdefg");
    loop_until(&mut reactor, backend, "handle_error", |_| !state.borrow().errors.is_empty());
    assert_eq!(
        state.borrow().errors,
        [(ErrorKind::InvalidData, "terminator not found within 16 bytes".to_string())]
    );
    assert!(!reactor.context().contains(t));
}

// ---------------------------------------------------------------------------
// A terminator changed in found_terminator
// ---------------------------------------------------------------------------

/// A header line announces a 5-byte body; then lines again. Uses the
/// default `collect_incoming_data` and `take_incoming`.
struct HeadBody {
    records: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl Handler<Chat> for HeadBody {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let record = ch.take_incoming();
        if record == b"HEAD" {
            ch.set_terminator(5usize);
        } else {
            ch.set_terminator(b"\n");
        }
        self.records.borrow_mut().push(record);
        Ok(())
    }
}

fn terminator_switch_applies_within_one_read(backend: Backend) {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut d = Dispatcher::new(ours).unwrap().with_chat();
    d.set_terminator(b"\n");
    let got = Rc::new(RefCell::new(Vec::new()));
    let mut reactor = Reactor::new();
    let t = reactor.add(d, HeadBody { records: got.clone() }).unwrap();
    // All in one write, so all in one read: the body holds a newline that
    // the count must not split at.
    send_all(&theirs, b"HEAD\nab\ncdx\n");
    reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
    assert!(drained::<HeadBody>(&mut reactor, t), "the write was not read in one go");
    assert_eq!(*got.borrow(), records(&[b"HEAD", b"ab\ncd", b"x"]));
    assert_eq!(terminator::<HeadBody>(&mut reactor, t), Terminator::from(b"\n"));
    let incoming =
        reactor.context_mut().call(t, |_: &mut HeadBody, ch: &mut Channel<'_, Chat>| ch.incoming().to_vec());
    assert!(incoming.unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Seeded random streams (the property test of the reliability issue)
// ---------------------------------------------------------------------------

/// xorshift64*: a tiny deterministic generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `len` bytes from a three-letter alphabet, so terminators recur and
    /// overlap with their own prefixes.
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b"ab\n"[self.below(3)]).collect()
    }
}

/// Random scripts of byte-string and count terminators, random streams and
/// random read splits, each checked against the reference splitter.
/// `POLLREACTOR_SEED` replays another seed; `POLLREACTOR_CASES` runs more.
fn random_streams_match_the_reference(backend: Backend) {
    let seed = std::env::var("POLLREACTOR_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_cafe_u64);
    let cases: usize = std::env::var("POLLREACTOR_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let mut rng = Rng(seed | 1);
    for case in 0..cases {
        let script: Vec<Terminator> = (0..1 + rng.below(4))
            .map(|_| match rng.below(3) {
                0 => Terminator::Count(rng.below(7)),
                _ => {
                    let len = 1 + rng.below(3);
                    Terminator::Bytes(rng.bytes(len).into())
                }
            })
            .collect();
        let len = rng.below(80);
        let input = rng.bytes(len);
        let whole = model(&input, &script);
        let (mut reactor, t, theirs, state) = chat_pair(&script);
        let mut start = 0;
        while start < input.len() {
            let end = (start + 1 + rng.below(12)).min(input.len());
            send_all(&theirs, &input[start..end]);
            reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
            assert!(drained::<Recorder>(&mut reactor, t), "case {case} (seed {seed:#x}): input left unread");
            start = end;
        }
        let s = state.borrow();
        let context = format!(
            "case {case} (seed {seed:#x}): script {script:?}, input {:?}",
            String::from_utf8_lossy(&input)
        );
        assert_eq!(s.records, whole.records, "{context}");
        assert_eq!(s.current, whole.tail, "{context}");
        assert!(s.errors.is_empty() && s.empty_collects == 0, "{context}: {:?}", s.errors);
    }
}

// ---------------------------------------------------------------------------
// asynchat's super(): an overridden handle_read that runs the read step
// ---------------------------------------------------------------------------

#[derive(Default)]
struct BatchState {
    records: Vec<Vec<u8>>,
    /// Reads that completed (`Chat::handle_read` returned `Ok`).
    reads: usize,
    /// One entry per push: the read it ended, and the batch pushed.
    flushes: Vec<(usize, Vec<u8>)>,
    errors: Vec<String>,
}

/// Answers each line upper-cased, but sends all of one read's answers with
/// one push after the read step: Python's
/// `def handle_read(self): super().handle_read(); self.flush()`.
struct Batching {
    state: Rc<RefCell<BatchState>>,
    /// The answers of the records of the read in progress.
    batch: Vec<u8>,
}

impl Handler<Chat> for Batching {
    fn handle_read(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        Chat::handle_read(self, ch)?; // recv, then collect_incoming_data / found_terminator per record
        let mut s = self.state.borrow_mut();
        s.reads += 1;
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            ch.push(&batch)?;
            let read = s.reads;
            s.flushes.push((read, batch));
        }
        Ok(())
    }

    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let line = ch.take_incoming();
        self.batch.extend_from_slice(&line.to_ascii_uppercase());
        self.batch.push(b'\n');
        self.state.borrow_mut().records.push(line);
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.state.borrow_mut().errors.push(err.to_string());
        ch.close();
    }
}

/// What the peer can read now (the channel's pushes are already sent).
fn recv_now(sock: &Socket) -> Vec<u8> {
    let mut buf = [0u8; 256];
    match sock.recv(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(e) if is_would_block(&e) => Vec::new(),
        Err(e) => panic!("peer recv: {e}"),
    }
}

fn super_read_then_one_flush_per_read(backend: Backend) {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    theirs.set_nonblocking(true).unwrap();
    let mut d = Dispatcher::new(ours).unwrap().with_chat();
    d.set_terminator(b"\n");
    let state = Rc::new(RefCell::new(BatchState::default()));
    let mut reactor = Reactor::new();
    let t = reactor.add(d, Batching { state: state.clone(), batch: Vec::new() }).unwrap();
    let flushes = |state: &Rc<RefCell<BatchState>>| state.borrow().flushes.clone();

    // Read 1: two whole records and the start of a third; one push of both answers.
    send_all(&theirs, b"one\ntwo\nth");
    reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
    assert!(drained::<Batching>(&mut reactor, t), "the write was not read in one go ({backend:?})");
    assert_eq!(state.borrow().records, records(&[b"one", b"two"]));
    assert_eq!(state.borrow().reads, 1);
    assert_eq!(flushes(&state), [(1, b"ONE\nTWO\n".to_vec())]);
    assert_eq!(recv_now(&theirs), b"ONE\nTWO\n");

    // Read 2: no whole record: counted, nothing pushed.
    send_all(&theirs, b"ree");
    reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
    assert!(drained::<Batching>(&mut reactor, t));
    assert_eq!(state.borrow().records.len(), 2);
    assert_eq!(state.borrow().reads, 2);
    assert_eq!(flushes(&state).len(), 1);
    assert_eq!(recv_now(&theirs), b"");

    // Read 3: the third record ends and a fourth follows: again one push.
    send_all(&theirs, b"\nfour\n");
    reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
    assert!(drained::<Batching>(&mut reactor, t));
    assert_eq!(state.borrow().records, records(&[b"one", b"two", b"three", b"four"]));
    assert_eq!(state.borrow().reads, 3);
    assert_eq!(flushes(&state), [(1, b"ONE\nTWO\n".to_vec()), (3, b"THREE\nFOUR\n".to_vec())]);
    assert_eq!(recv_now(&theirs), b"THREE\nFOUR\n");

    // The override run with nothing to read: the read step's would-block
    // comes out through `?` before the extra step, so no read is counted.
    let result =
        reactor.context_mut().call(t, |h: &mut Batching, ch: &mut Channel<'_, Chat>| h.handle_read(ch));
    let err = result.expect("the channel is there").expect_err("nothing to read must say would-block");
    assert!(is_would_block(&err), "got {err:?}");
    assert_eq!(state.borrow().reads, 3);
    assert_eq!(flushes(&state).len(), 2);
    assert!(reactor.context().contains(t));
    assert!(state.borrow().errors.is_empty(), "{:?}", state.borrow().errors);
}
