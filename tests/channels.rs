//! Channels that are not TCP streams: pipes (`Dispatcher::from_file`), UDP
//! over IPv4 and IPv6, Unix-domain datagrams, and a Unix-domain stream
//! listener. Every scenario runs on every backend (poll, select, and on
//! Linux epoll: `on_every_backend!`), on loopback addresses and fresh temp
//! paths only; waits are `common::loop_until` (bounded, event-driven).
//!
//! * `pipe_read_lines_then_close`: a chat channel over a pipe's read end
//!   gets every line a writer thread sends (more than a pipe holds), then
//!   the unterminated tail, then `handle_close` once; the caller's read end
//!   is still open afterwards (it answers `fstat` and reads end of file).
//! * `pipe_write_end_push`, `pipe_write_end_send_buffered`: output queued
//!   on a dispatcher over a pipe's write end (chat `push`, or `with_send`'s
//!   `send_buffered`) reaches a reader thread byte for byte, through write
//!   events, and `close_when_done` gives the reader its end of file.
//! * `udp_round_trip_ipv4`, `udp_round_trip_ipv6`: `send_to`/`recv_from`
//!   between two bound datagram dispatchers; payloads and sender addresses.
//! * `unconnected_datagram_not_writable`: an unconnected UDP channel made
//!   `with_send()` (or `with_chat()`) with nothing queued never gets
//!   `handle_write` (no busy loop); a plain dispatcher does, as in asyncore.
//! * `unix_datagram_round_trip`: the same round trip over Unix-domain
//!   datagram sockets bound to temp paths; the test removes the files.
//! * `unix_stream_listener`: `Dispatcher::listen_unix` accepts a std
//!   `UnixStream` client and echoes lines through a chat channel. After the
//!   listener closes, its socket file is still there (the crate never
//!   removes it: whoever chose the path does, here the test) and refuses
//!   connections.
#![forbid(unsafe_code)]

mod common;

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::thread;
use std::time::{Duration, Instant};

use common::{loop_until, pattern, temp_socket_path, Log, WAIT_LIMIT};
use pollreactor::{
    Address, Backend, Buffered, Channel, Chat, Dispatcher, Family, Handler, Layer, Reactor, SockType, Socket,
    WithSend,
};

on_every_backend!(
    pipe_read_lines_then_close,
    pipe_write_end_push,
    pipe_write_end_send_buffered,
    udp_round_trip_ipv4,
    udp_round_trip_ipv6,
    unconnected_datagram_not_writable,
    unix_datagram_round_trip,
    unix_stream_listener,
);

/// Removes a socket file when dropped, so a failing test leaves none.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_socket_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

// ---------------------------------------------------------------------------
// Pipes
// ---------------------------------------------------------------------------

/// Collects lines; records the tail and the close.
struct LineReader {
    log: Log,
    lines: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl Handler<Chat> for LineReader {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let line = ch.take_incoming();
        self.lines.borrow_mut().push(line);
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let tail = String::from_utf8_lossy(ch.incoming()).into_owned();
        self.log.push(format!("close after {} lines, tail {tail:?}", self.lines.borrow().len()));
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

fn pipe_read_lines_then_close(backend: Backend) {
    let (r, w) = io::pipe().unwrap();
    let mut d = Dispatcher::from_file(&r).unwrap().with_chat();
    d.set_terminator(b"\n");
    assert!(d.connected() && d.is_file());
    assert_ne!(d.fileno(), Some(r.as_raw_fd()), "must hold a duplicate");
    let log = Log::default();
    let lines = Rc::new(RefCell::new(Vec::new()));
    let mut reactor = Reactor::new();
    let t = reactor.add(d, LineReader { log: log.clone(), lines: lines.clone() }).unwrap();

    // About 100 kB: more than a pipe holds, so the writer blocks until the
    // channel drains it, and the lines arrive over many reads.
    let expected: Vec<Vec<u8>> =
        (0..2500).map(|i| format!("line {i:05} {}", "x".repeat(i % 61)).into_bytes()).collect();
    let mut payload = expected.join(&b'\n');
    payload.extend_from_slice(b"\ntail without newline");
    let writer = thread::spawn(move || {
        let mut w = w;
        w.write_all(&payload)
        // w is dropped here: the last write end closes.
    });
    loop_until(&mut reactor, backend, "the pipe's end of file", |r| !r.context().contains(t));
    common::join_within(writer, "the writer thread").expect("the writer thread failed");

    assert_eq!(lines.borrow().len(), expected.len());
    assert!(*lines.borrow() == expected, "lines differ");
    assert_eq!(
        log.events(),
        [format!("close after {} lines, tail \"tail without newline\"", expected.len())]
    );

    // The caller's descriptor is still open: fstat answers, and a read sees
    // the end of file (the writer is gone).
    let file = File::from(OwnedFd::from(r));
    let meta = file.metadata().expect("the caller's read end was closed");
    assert!(meta.file_type().is_fifo());
    assert_eq!((&file).read(&mut [0u8; 16]).unwrap(), 0);
}

/// Counts write events, then does what the default does. Serves both
/// buffered layers (a chat channel and a `with_send` one).
struct CountingWriter {
    writes: Rc<RefCell<usize>>,
    log: Log,
}

impl<L: Buffered> Handler<L> for CountingWriter {
    fn handle_write(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        *self.writes.borrow_mut() += 1;
        L::handle_write(self, ch)
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        self.log.push(format!("close {:?}", ch.close_reason()));
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, L>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

/// `layer` makes the write end's dispatcher a chat or a `with_send` one;
/// `queue` is that layer's way to queue output (`push`, `send_buffered`).
fn pipe_write_end<L: Buffered>(
    backend: Backend,
    layer: fn(Dispatcher) -> Dispatcher<L>,
    queue: fn(&mut Dispatcher<L>, &[u8]) -> io::Result<()>,
) {
    let (r, w) = io::pipe().unwrap();
    let d = layer(Dispatcher::from_file(&w).unwrap());
    drop(w); // the dispatcher's duplicate is now the only write end
    let reader = thread::spawn(move || {
        let mut r = r;
        let mut got = Vec::new();
        r.read_to_end(&mut got).map(|_| got)
    });
    // Nearly 5 x SEND_CHUNK: at least 4 write events after the first send.
    let payload = pattern(300_000, 9);
    let writes = Rc::new(RefCell::new(0));
    let log = Log::default();
    let mut reactor = Reactor::new();
    let handler = CountingWriter { writes: writes.clone(), log: log.clone() };
    let t = reactor.add(d, handler).unwrap();
    reactor
        .context_mut()
        .call(t, |_: &mut CountingWriter, ch: &mut Channel<'_, L>| {
            queue(ch, &payload)?;
            assert!(ch.has_output(), "a pipe cannot take 300 kB at once");
            ch.close_when_done();
            Ok::<(), io::Error>(())
        })
        .unwrap()
        .unwrap();
    loop_until(&mut reactor, backend, "the output to be sent", |r| !r.context().contains(t));
    let got = common::join_within(reader, "the reader thread").expect("the reader thread failed");
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "the bytes differ");
    assert!(*writes.borrow() >= 4, "{} write events", writes.borrow());
    // The drained close_when_done is announced once, with its reason.
    assert_eq!(log.events(), ["close Some(Drained)"]);
}

fn pipe_write_end_push(backend: Backend) {
    pipe_write_end(backend, Dispatcher::with_chat, Dispatcher::push);
}

fn pipe_write_end_send_buffered(backend: Backend) {
    pipe_write_end(backend, Dispatcher::with_send, Dispatcher::send_buffered);
}

// ---------------------------------------------------------------------------
// Datagrams
// ---------------------------------------------------------------------------

/// The datagrams a channel received, with their senders.
type Inbox = Rc<RefCell<Vec<(Vec<u8>, Address)>>>;

/// Records every datagram and its sender; with `reply`, answers each one
/// upper-cased to its sender.
struct Datagrams {
    got: Inbox,
    reply: bool,
    log: Log,
}

impl Handler<WithSend> for Datagrams {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = [0u8; 2048];
        let (n, from) = ch.recv_from(&mut buf)?;
        if self.reply {
            let answer = buf[..n].to_ascii_uppercase();
            assert_eq!(ch.send_to(&answer, &from)?, n);
        }
        self.got.borrow_mut().push((buf[..n].to_vec(), from));
        Ok(())
    }

    fn handle_write(&mut self, _: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.log.push("write");
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.log.push("close");
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, WithSend>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

/// A bound datagram channel (`with_send`, so idle means not writable).
fn datagram_channel(
    reactor: &mut Reactor,
    family: Family,
    addr: Address,
    reply: bool,
    log: &Log,
) -> (pollreactor::Token, Address, Inbox) {
    let mut d = Dispatcher::create_socket(family, SockType::Datagram).unwrap().with_send();
    d.bind(addr).unwrap();
    let local = d.local_addr().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let handler = Datagrams { got: got.clone(), reply, log: log.clone() };
    (reactor.add(d, handler).unwrap(), local, got)
}

/// A sends "ping" to B, B answers "PING" to whoever sent it.
fn datagram_round_trip(backend: Backend, family: Family, a_addr: Address, b_addr: Address) {
    let log = Log::default();
    let mut reactor = Reactor::new();
    let (a, a_local, a_got) = datagram_channel(&mut reactor, family, a_addr, false, &log);
    let (_b, b_local, b_got) = datagram_channel(&mut reactor, family, b_addr, true, &log);
    assert_eq!(a_local.family(), family);
    let sent = reactor
        .context_mut()
        .call(a, |_: &mut Datagrams, ch: &mut Channel<'_, WithSend>| ch.send_to(b"ping", &b_local))
        .unwrap()
        .unwrap();
    assert_eq!(sent, 4);
    loop_until(&mut reactor, backend, "the answer", |_| !a_got.borrow().is_empty());
    assert_eq!(*b_got.borrow(), [(b"ping".to_vec(), a_local.clone())]);
    assert_eq!(*a_got.borrow(), [(b"PING".to_vec(), b_local)]);
    assert!(log.events().is_empty(), "{:?}", log.events());
    assert_eq!(reactor.context().len(), 2);
}

fn inet(s: &str) -> Address {
    s.parse::<std::net::SocketAddr>().unwrap().into()
}

fn udp_round_trip_ipv4(backend: Backend) {
    datagram_round_trip(backend, Family::Inet, inet("127.0.0.1:0"), inet("127.0.0.1:0"));
}

fn udp_round_trip_ipv6(backend: Backend) {
    datagram_round_trip(backend, Family::Inet6, inet("[::1]:0"), inet("[::1]:0"));
}

fn unix_datagram_round_trip(backend: Backend) {
    let a = RemoveOnDrop(temp_socket_path());
    let b = RemoveOnDrop(temp_socket_path());
    datagram_round_trip(backend, Family::Unix, Address::Unix(a.0.clone()), Address::Unix(b.0.clone()));
    // Binding made the files; closing the sockets left them; we remove them.
    assert!(is_socket_file(&a.0) && is_socket_file(&b.0));
    for f in [&a, &b] {
        std::fs::remove_file(&f.0).unwrap();
        assert!(!f.0.exists());
    }
}

/// Counts write events and nothing else.
struct WriteCounter {
    writes: Rc<RefCell<usize>>,
}

impl<L: Layer> Handler<L> for WriteCounter {
    fn handle_write(&mut self, _: &mut Channel<'_, L>) -> io::Result<()> {
        *self.writes.borrow_mut() += 1;
        Ok(())
    }
}

/// A reactor holding one bound, unconnected UDP channel of the layer that
/// `layer` makes, counting its write events.
fn idle_datagram<L: Layer>(layer: fn(Dispatcher) -> Dispatcher<L>) -> (Reactor, Rc<RefCell<usize>>) {
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Datagram).unwrap();
    d.bind(inet("127.0.0.1:0")).unwrap();
    let d = layer(d);
    assert!(!d.connected());
    let writes = Rc::new(RefCell::new(0));
    let mut reactor = Reactor::new();
    reactor.add(d, WriteCounter { writes: writes.clone() }).unwrap();
    (reactor, writes)
}

fn unconnected_datagram_not_writable(backend: Backend) {
    for kind in ["with_send", "with_chat", "plain"] {
        let (mut reactor, writes) = match kind {
            "with_send" => idle_datagram(Dispatcher::with_send),
            "with_chat" => idle_datagram(Dispatcher::with_chat),
            _ => idle_datagram(|d| d),
        };
        if kind == "plain" {
            // The control: asyncore's default writable() is true, and an
            // idle UDP socket is always writable, so it fires at once.
            reactor.poll_once(Some(WAIT_LIMIT), backend).unwrap();
            assert_eq!(*writes.borrow(), 1, "plain dispatcher");
            continue;
        }
        let started = Instant::now();
        for _ in 0..5 {
            reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        }
        assert_eq!(*writes.borrow(), 0, "{kind}: handle_write with nothing queued");
        // Each wait slept its 10 ms: nothing made it return early.
        assert!(
            started.elapsed() >= Duration::from_millis(45),
            "{kind}: 5 waits took only {:?}",
            started.elapsed()
        );
    }
}

// ---------------------------------------------------------------------------
// A Unix-domain stream listener
// ---------------------------------------------------------------------------

/// Accepts connections into `Shouter` chat channels.
struct Listener {
    log: Log,
}

impl Handler for Listener {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _: Address) -> io::Result<()> {
        let mut d = Dispatcher::new(sock)?.with_chat();
        d.set_terminator(b"\n");
        ch.context().add(d, Shouter { log: self.log.clone() })?;
        self.log.push("accepted");
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        self.log.push(format!("listener error: {err}"));
        ch.close();
    }
}

/// Answers each line upper-cased.
struct Shouter {
    log: Log,
}

impl Handler<Chat> for Shouter {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let line = ch.take_incoming();
        let mut answer = line.to_ascii_uppercase();
        answer.push(b'\n');
        ch.push(&answer)?;
        self.log.push(format!("echoed {}", String::from_utf8_lossy(&line)));
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.log.push("closed");
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

fn unix_stream_listener(backend: Backend) {
    let path = RemoveOnDrop(temp_socket_path());
    let listener = Dispatcher::listen_unix(&path.0, 128).unwrap();
    assert!(listener.accepting());
    assert_eq!(listener.addr(), Some(&Address::Unix(path.0.clone())));
    let log = Log::default();
    let mut reactor = Reactor::new();
    let lt = reactor.add(listener, Listener { log: log.clone() }).unwrap();

    // A connect to a listening Unix socket completes at once (backlog).
    let mut client = UnixStream::connect(&path.0).unwrap();
    client.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    client.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    client.write_all(b"hello\nworld\n").unwrap();
    loop_until(&mut reactor, backend, "both lines echoed", |_| log.contains("echoed world"));
    // The answers were sent inside found_terminator: they are waiting.
    let mut answer = [0u8; 12];
    client.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HELLO\nWORLD\n");
    assert_eq!(reactor.context().len(), 2);

    drop(client);
    loop_until(&mut reactor, backend, "the connection to close", |r| r.context().len() == 1);
    assert_eq!(log.events(), ["accepted", "echoed hello", "echoed world", "closed"]);

    // The listener closes; its socket file stays, and nobody answers there.
    assert!(reactor.context_mut().close(lt));
    assert!(reactor.context().is_empty());
    assert!(is_socket_file(&path.0), "the socket file is gone");
    let err = UnixStream::connect(&path.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    // Whoever chose the path removes it: here, the test.
    std::fs::remove_file(&path.0).unwrap();
    assert!(!path.0.exists());
}
