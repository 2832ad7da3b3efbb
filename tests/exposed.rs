//! The example servers exposed to clients they cannot trust: slow and
//! silent clients are dropped by the timeouts while others are served,
//! select's descriptor ceiling refuses connections without taking the
//! server down, `--max-conns` parks clients in the backlog, `--workers`
//! serves from several threads, and a client that stops reading is
//! dropped by `--send-timeout`. Real processes on loopback; `cargo test`
//! builds the examples first (with `--test exposed` alone, run `cargo build
//! --examples` before).

// The example programs (which these tests run) need these features.
#![cfg(all(feature = "signals", feature = "trace"))]

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{example, join_within, pattern, WAIT_LIMIT};
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// How much later than its timeout a connection may be closed: the
/// server's reaction, and on a loaded machine a SYN that had to be sent
/// again (1 s) before the connection was even accepted.
const SLACK: Duration = Duration::from_secs(6);

/// The example servers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Echo,
    Http,
    Chat,
}

impl Kind {
    fn program(self) -> &'static str {
        match self {
            Kind::Echo => "echo_server",
            Kind::Http => "http_server",
            Kind::Chat => "chat_server",
        }
    }

    /// A request whose answer proves the connection is served, and that
    /// answer. Chat: `/quit` (the client leaves after `bye`).
    fn probe(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Kind::Echo => (b"ping\n", b"ping\n"),
            Kind::Http => (GET, HELLO),
            Kind::Chat => (b"/quit\n", b"bye\n"),
        }
    }
}

/// Sends the probe request on `conn`.
fn ask(kind: Kind, mut conn: &TcpStream) {
    conn.write_all(kind.probe().0).expect("send the probe");
}

/// Reads the probe's answer: true if it came, false if the server closed
/// the connection instead; a wrong answer or a timeout fails the test.
fn answered(kind: Kind, mut conn: &TcpStream) -> bool {
    if kind == Kind::Chat {
        return said_bye(conn);
    }
    let expected = kind.probe().1;
    let mut got = vec![0u8; expected.len()];
    match conn.read_exact(&mut got) {
        Ok(()) => {
            assert_eq!(got, expected, "{kind:?}: a wrong answer");
            true
        }
        Err(e) if matches!(e.kind(), ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset) => false,
        Err(e) => panic!("{kind:?}: no answer and no close: {e}"),
    }
}

/// Reads a chat member's lines until `bye` (true) or the end of the
/// connection (false); the room's notices (`* ...`) may come first.
///
/// These reads, like every plain `read` here on a socket with a read
/// timeout, go on after `Interrupted`: Linux fails such a read with EINTR
/// when the process is stopped and continued, even with no signal handler
/// (signal(7)); `read_exact` and `read_line` retry by themselves.
fn said_bye(mut conn: &TcpStream) -> bool {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match conn.read(&mut byte) {
            Ok(0) => return false,
            Ok(_) if byte[0] != b'\n' => line.push(byte[0]),
            Ok(_) if line == b"bye" => return true,
            Ok(_) => {
                assert!(
                    line.starts_with(b"* "),
                    "chat: unexpected line {:?}",
                    String::from_utf8_lossy(&line)
                );
                line.clear();
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("chat: no bye and no close: {e}"),
        }
    }
}

/// A blocking client connection with bounded waits.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    stream
}

/// Reads one line (without its newline), skipping the room's notices
/// (`* ...`) when `skip_notices`.
fn read_line(reader: &mut BufReader<TcpStream>, skip_notices: bool) -> String {
    try_read_line(reader, skip_notices).unwrap_or_else(|e| panic!("{e}"))
}

/// [`read_line`], for a thread that reports its failures.
fn try_read_line(reader: &mut BufReader<TcpStream>, skip_notices: bool) -> Result<String, String> {
    let mut notice = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| format!("reading a line: {e} (after {notice:?})"))?;
        if !line.ends_with('\n') {
            return Err(format!("the connection ended: {line:?} (after {notice:?})"));
        }
        if !(skip_notices && line.starts_with("* ")) {
            return Ok(line.trim_end().to_string());
        }
        notice = line;
    }
}

/// Whether the server has closed `conn`: reads what is there without
/// waiting (a chat member's notices), and answers true at an end of file or
/// a reset, false if the connection is still open.
fn closed_now(conn: &TcpStream) -> bool {
    conn.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match (&*conn).read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) => panic!("reading: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    closed
}

/// Waits (up to the read timeout) for the server to close `conn`, dropping
/// what arrives first.
fn wait_closed(mut conn: &TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

/// Makes sure this process may open `n` descriptors.
fn allow_fds(n: u64) {
    let (soft, hard) = pollreactor::limits::fd_limit().unwrap();
    if soft < n {
        assert!(hard >= n, "the hard descriptor limit {hard} is below the {n} this test needs");
        pollreactor::limits::set_fd_limit(n).unwrap();
    }
}

// ---------------------------------------------------------------------------
// A server process
// ---------------------------------------------------------------------------

/// A running example server, killed when dropped.
struct Server {
    child: Child,
    addr: String,
    /// Its stderr, when kept (the tracer's lines), read to the end by a thread.
    stderr: Option<thread::JoinHandle<String>>,
}

impl Server {
    /// `PROGRAM --addr 127.0.0.1:0 --backend BACKEND ARGS...`.
    fn start(kind: Kind, backend: Backend, args: &[&str]) -> Server {
        Server::spawn(Command::new(example(kind.program())), backend, args)
    }

    /// Runs `cmd` (the server, or a wrapper that execs it) with the
    /// server's arguments, and reads the `listening on` line it must print
    /// first.
    fn spawn(mut cmd: Command, backend: Backend, args: &[&str]) -> Server {
        cmd.args(["--addr", "127.0.0.1:0", "--backend", backend.name()]).args(args).stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).expect("read the first line");
        let Some(addr) = first.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("{cmd:?}: the first line was {first:?}");
        };
        let stderr = child.stderr.take().map(|mut err| {
            thread::spawn(move || {
                let mut text = String::new();
                let _ = err.read_to_string(&mut text);
                text
            })
        });
        Server { addr: addr.to_string(), child, stderr }
    }

    /// With `POLLREACTOR_TRACE=1`, its stderr kept.
    fn start_traced(kind: Kind, backend: Backend, args: &[&str]) -> Server {
        let mut cmd = Command::new(example(kind.program()));
        cmd.env("POLLREACTOR_TRACE", "1").stderr(Stdio::piped());
        Server::spawn(cmd, backend, args)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends SIGTERM and waits (bounded) for the exit: the status, and how
    /// long it took.
    fn terminate(&mut self) -> (ExitStatus, Duration) {
        let start = Instant::now();
        assert!(Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap().success());
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            assert!(start.elapsed() < WAIT_LIMIT, "the server ignored SIGTERM");
            thread::sleep(Duration::from_millis(5)); // a child's exit has no event to wait on here
        }
    }

    /// What it wrote on stderr (once it has exited).
    fn stderr_text(&mut self) -> String {
        self.stderr.take().map(|t| join_within(t, "the stderr reader")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// A crowd of slow clients, driven by a reactor of the test's own
// ---------------------------------------------------------------------------

/// How a member of the crowd behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Manner {
    /// Connects and sends nothing.
    Silent,
    /// Sends a request head one byte every 500 ms.
    Dribbling,
}

/// What happened to one member.
#[derive(Default)]
struct Fate {
    received: Vec<u8>,
    /// How long after its connect the server closed it, and how.
    closed: Option<(Duration, String)>,
}

/// One member: reads (and keeps) all it gets, and notes when it is closed.
struct Member {
    index: usize,
    manner: Manner,
    started: Instant,
    sent: usize,
    fates: Rc<RefCell<Vec<Fate>>>,
}

impl Member {
    fn closed(&mut self, ch: &mut Channel<'_>, how: String) {
        self.fates.borrow_mut()[self.index].closed = Some((self.started.elapsed(), how));
        ch.close();
    }
}

impl Handler for Member {
    fn writable(&mut self, d: &Dispatcher) -> bool {
        d.connecting()
    }

    fn handle_connect(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        if self.manner == Manner::Dribbling {
            ch.call_every(Duration::from_millis(500), |m: &mut Member, ch: &mut Channel<'_>| {
                let byte = GET[m.sent % GET.len()];
                m.sent += 1;
                let _ = ch.send(&[byte]);
            });
        }
        Ok(())
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = ch.recv(&mut buf)?;
        self.fates.borrow_mut()[self.index].received.extend_from_slice(&buf[..n]);
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let how = format!("{:?}", ch.close_reason());
        self.closed(ch, how);
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        self.closed(ch, format!("error: {err}"));
    }
}

/// Connects `n` clients to `addr` at once, behaving as `manner(i)` says,
/// and runs them until the server has closed every one (failing if that
/// takes longer than `limit`). Returns their fates and how long it took.
fn crowd(addr: &str, n: usize, manner: impl Fn(usize) -> Manner, limit: Duration) -> (Vec<Fate>, Duration) {
    let addr: SocketAddr = addr.parse().unwrap();
    let fates = Rc::new(RefCell::new((0..n).map(|_| Fate::default()).collect::<Vec<_>>()));
    let mut reactor = Reactor::new();
    let start = Instant::now();
    for index in 0..n {
        let mut client = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap();
        let member =
            Member { index, manner: manner(index), started: Instant::now(), sent: 0, fates: fates.clone() };
        client.connect(addr).unwrap();
        reactor.add(client, member).unwrap();
    }
    let deadline = start + limit;
    while !reactor.context().is_empty() {
        if Instant::now() > deadline {
            let open = fates.borrow().iter().filter(|f| f.closed.is_none()).count();
            panic!("{open} of {n} clients still open after {limit:?}");
        }
        // The clients' side always polls: it holds more than select's 1,024 descriptors.
        reactor.poll_once(Some(Duration::from_millis(100)), Backend::Poll).unwrap();
    }
    let took = start.elapsed();
    drop(reactor);
    (Rc::try_unwrap(fates).ok().unwrap().into_inner(), took)
}

/// Checks that every member was closed no sooner than `timeout` after its
/// connect and no later than [`SLACK`] after that; returns the extremes.
fn closed_in_time(fates: &[Fate], timeout: Duration, what: &str) -> (Duration, Duration) {
    let times: Vec<Duration> = fates.iter().map(|f| f.closed.as_ref().unwrap().0).collect();
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let early = fates.iter().filter_map(|f| f.closed.as_ref()).find(|c| c.0 < timeout);
    assert!(
        first >= timeout,
        "{what}: a client was closed after {first:?}, before its {timeout:?}: {early:?}"
    );
    assert!(last <= timeout + SLACK, "{what}: a client was closed only after {last:?} ({timeout:?} timeout)");
    (first, last)
}

// ---------------------------------------------------------------------------
// A steady client, served while the crowd waits
// ---------------------------------------------------------------------------

/// A steady client at work: the way to stop it, and its thread, which
/// returns how many answers came and the slowest.
type Steady = (mpsc::Sender<()>, thread::JoinHandle<Result<(usize, Duration), String>>);

/// How long one answer may take while the crowd is there.
const ANSWER_BOUND: Duration = Duration::from_secs(3);

/// Runs `ask` (one request and its answer, with bounded reads) every
/// `period` on a thread of its own until told to stop; the thread returns
/// how many answers came and the slowest.
fn steady(period: Duration, mut ask: impl FnMut(usize) -> Result<(), String> + Send + 'static) -> Steady {
    // The first answer comes before the crowd arrives.
    ask(0).expect("the steady client's first answer");
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = thread::spawn(move || {
        let mut slowest = Duration::ZERO;
        let mut n = 1;
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
            let start = Instant::now();
            ask(n).map_err(|e| format!("answer {n}: {e}"))?;
            let took = start.elapsed();
            if took > ANSWER_BOUND {
                return Err(format!("answer {n} took {took:?}"));
            }
            slowest = slowest.max(took);
            n += 1;
        }
        Ok((n, slowest))
    });
    (stop, thread)
}

/// A steady client of `kind`: echo a line or GET a page on one connection
/// (every 200 ms); chat: two members who talk to each other (every 100 ms,
/// a round trip each way, well inside the idle timeout).
fn steady_client(kind: Kind, addr: &str) -> Steady {
    let bounded = |conn: TcpStream| {
        conn.set_read_timeout(Some(ANSWER_BOUND)).unwrap();
        conn
    };
    match kind {
        Kind::Echo | Kind::Http => {
            let conn = bounded(connect(addr));
            steady(Duration::from_millis(200), move |_| {
                let (request, answer) =
                    if kind == Kind::Echo { (&b"ping\n"[..], &b"ping\n"[..]) } else { (GET, HELLO) };
                (&conn).write_all(request).map_err(|e| e.to_string())?;
                let mut got = vec![0u8; answer.len()];
                (&conn).read_exact(&mut got).map_err(|e| e.to_string())?;
                if got != answer {
                    return Err(format!("got {:?}", String::from_utf8_lossy(&got)));
                }
                Ok(())
            })
        }
        Kind::Chat => {
            let (a, b) = (bounded(connect(addr)), bounded(connect(addr)));
            let (a_name, b_name) = (a.local_addr().unwrap().to_string(), b.local_addr().unwrap().to_string());
            let (mut a_lines, mut b_lines) =
                (BufReader::new(a.try_clone().unwrap()), BufReader::new(b.try_clone().unwrap()));
            // Both are in the room once b's line reaches a (the server accepts in order).
            (&b).write_all(b"hello\n").unwrap();
            assert_eq!(read_line(&mut a_lines, true), format!("{b_name}: hello"));
            steady(Duration::from_millis(100), move |n| {
                (&a).write_all(format!("ping {n}\n").as_bytes()).map_err(|e| e.to_string())?;
                let heard = try_read_line(&mut b_lines, true).map_err(|e| format!("b: {e}"))?;
                if heard != format!("{a_name}: ping {n}") {
                    return Err(format!("b heard {heard:?}"));
                }
                (&b).write_all(format!("pong {n}\n").as_bytes()).map_err(|e| e.to_string())?;
                let heard = try_read_line(&mut a_lines, true).map_err(|e| format!("a: {e}"))?;
                if heard != format!("{b_name}: pong {n}") {
                    return Err(format!("a heard {heard:?}"));
                }
                Ok(())
            })
        }
    }
}

/// Stops a steady client and checks it was answered all along.
fn steady_result((stop, thread): Steady, what: &str) -> (usize, Duration) {
    // A steady client that failed has already ended: its error, not the send's, tells why.
    let _ = stop.send(());
    let (answers, slowest) =
        join_within(thread, "the steady client").unwrap_or_else(|e| panic!("{what}: {e}"));
    // The first answer came before the crowd; the others while it was there.
    assert!(answers >= 2, "{what}: no answer while the crowd was there");
    (answers, slowest)
}

// ---------------------------------------------------------------------------
// a. Slow and silent clients are dropped; the others are served meanwhile
// ---------------------------------------------------------------------------

/// 900 clients that send a request head one byte every 500 ms, or
/// nothing, to `http_server --header-timeout 2`: each is closed 2 s after
/// it connected (the silent ones get the 408), while a steady client's
/// requests keep being answered.
fn http_slow_heads(backend: Backend) {
    const CLIENTS: usize = 900;
    let timeout = Duration::from_secs(2);
    allow_fds(4 * CLIENTS as u64);
    let server = Server::start(Kind::Http, backend, &["--header-timeout", "2"]);
    let steady = steady_client(Kind::Http, &server.addr);
    let manner = |i: usize| if i.is_multiple_of(2) { Manner::Dribbling } else { Manner::Silent };
    let (fates, took) = crowd(&server.addr, CLIENTS, manner, timeout + SLACK + Duration::from_secs(4));
    let (first, last) = closed_in_time(&fates, timeout, &format!("{backend:?}"));
    for (i, fate) in fates.iter().enumerate().filter(|(i, _)| manner(*i) == Manner::Silent) {
        assert!(
            fate.received.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
            "{backend:?}: silent client {i}"
        );
    }
    let (answers, slowest) = steady_result(steady, &format!("{backend:?}"));
    eprintln!(
        "{backend:?}: {CLIENTS} slow http clients (--header-timeout 2) all closed {took:?} after the first \
         connect; each {first:?}..{last:?} after its own; the steady client got {answers} answers, the \
         slowest in {slowest:?}"
    );
}

/// 200 silent clients of `kind` with `--idle-timeout 2`: each is closed
/// two seconds after it connected (chat: after its goodbye), while a
/// steady client is served. (Two, not one: the steady client must itself
/// speak within the timeout, and a loaded machine may keep its thread
/// waiting for a good part of a second.)
fn idle_clients(kind: Kind, backend: Backend) {
    const CLIENTS: usize = 200;
    let timeout = Duration::from_secs(2);
    allow_fds(4 * CLIENTS as u64);
    let mut server = Server::start(kind, backend, &["--idle-timeout", "2"]);
    let steady = steady_client(kind, &server.addr);
    let (fates, took) =
        crowd(&server.addr, CLIENTS, |_| Manner::Silent, timeout + SLACK + Duration::from_secs(4));
    assert!(server.is_running(), "{kind:?} {backend:?}: the server died: {:?}", server.child.try_wait());
    let (first, last) = closed_in_time(&fates, timeout, &format!("{kind:?} {backend:?}"));
    for fate in &fates {
        assert_eq!(fate.closed.as_ref().unwrap().1, "Some(EndOfFile)", "{kind:?} {backend:?}");
        if kind == Kind::Chat {
            assert!(fate.received.ends_with(b"* idle for too long, bye\n"), "{kind:?} {backend:?}");
        }
    }
    let (answers, slowest) = steady_result(steady, &format!("{kind:?} {backend:?}"));
    eprintln!(
        "{kind:?} {backend:?}: {CLIENTS} idle clients (--idle-timeout 2) all closed {took:?} after the first \
         connect; each {first:?}..{last:?} after its own; steady client: {answers} answers, slowest {slowest:?}"
    );
}

fn echo_idle_clients(backend: Backend) {
    idle_clients(Kind::Echo, backend);
}

fn chat_idle_clients(backend: Backend) {
    idle_clients(Kind::Chat, backend);
}

// ---------------------------------------------------------------------------
// b. select's ceiling: connections past FD_SETSIZE are refused, the server lives
// ---------------------------------------------------------------------------

/// The server under a descriptor limit of `limit`: through `prlimit`
/// (util-linux) where it exists, else a shell's `ulimit -n`.
fn start_with_fd_limit(kind: Kind, limit: u64, backend: Backend) -> Server {
    let program = example(kind.program());
    let has_prlimit = Command::new("prlimit").arg("--version").output().is_ok_and(|o| o.status.success());
    let mut cmd = if has_prlimit {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={limit}:{limit}")).arg("--").arg(program);
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &format!("ulimit -n {limit} && exec \"$0\" \"$@\"")]).arg(program);
        cmd
    };
    // Each refused connection is logged; not worth reading here.
    cmd.stderr(Stdio::null());
    Server::spawn(cmd, backend, &[])
}

/// 1,100 connections to a `--backend select` server whose descriptor limit
/// is 4,096: those whose descriptor is 1,024 or more are closed by the
/// server (select cannot watch them), the others are served, and once a
/// few leave, a new client is served; SIGTERM still ends it with status 0.
fn select_ceiling(kind: Kind) {
    const CONNS: usize = 1100;
    allow_fds(2 * CONNS as u64 + 100);
    let mut server = start_with_fd_limit(kind, 4096, Backend::Select);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let nofile = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    assert_eq!(nofile.split_whitespace().nth(3), Some("4096"), "{nofile}");

    let conns: Vec<TcpStream> = (0..CONNS).map(|_| connect(&server.addr)).collect();
    // The server accepts in order: once it has closed one more client
    // (its descriptor is past select's too), it has dealt with all of them.
    let sentinel = connect(&server.addr);
    wait_closed(&sentinel);
    let (refused, served): (Vec<usize>, Vec<usize>) = (0..CONNS).partition(|&i| closed_now(&conns[i]));
    // About ten descriptors come before the first connection's (the
    // standard three, the listener, the waker's and the signals' socket
    // pairs, the library's spare): about 1,014 connections fit below 1,024.
    let (served_n, refused_n) = (served.len(), refused.len());
    assert!(refused_n >= CONNS - 1021, "{kind:?}: only {refused_n} of {CONNS} refused");
    assert!(served_n >= 1000, "{kind:?}: only {served_n} of {CONNS} served");
    if kind != Kind::Chat {
        // Every one the server kept is served (a chat probe would tell a thousand members).
        for &i in &served {
            ask(kind, &conns[i]);
            if !answered(kind, &conns[i]) {
                panic!("{kind:?}: a kept connection was closed; the server: {:?}", server.child.try_wait());
            }
        }
    }
    assert!(server.is_running(), "{kind:?}: the server died");

    // Ten served clients leave; a new client is served once the server has
    // seen them go (until then, a new one may still get a descriptor past select's).
    let mut conns: Vec<Option<TcpStream>> = conns.into_iter().map(Some).collect();
    for &i in &served[..10] {
        conns[i] = None;
    }
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut tries = 0;
    loop {
        tries += 1;
        let fresh = connect(&server.addr);
        ask(kind, &fresh);
        if answered(kind, &fresh) {
            break;
        }
        assert!(Instant::now() < deadline, "{kind:?}: no new client served after {tries} tries");
    }
    let (status, took) = server.terminate();
    assert_eq!(status.code(), Some(0), "{kind:?} on SIGTERM");
    eprintln!(
        "{kind:?} select, fd limit 4096: {CONNS} connections: {served_n} served, {refused_n} refused; a new \
         client served at try {tries} after 10 left; SIGTERM: exit 0 in {took:?}"
    );
    drop(conns);
}

#[test]
fn echo_server_select_past_fd_setsize() {
    select_ceiling(Kind::Echo);
}

#[test]
fn http_server_select_past_fd_setsize() {
    select_ceiling(Kind::Http);
}

#[test]
fn chat_server_select_past_fd_setsize() {
    select_ceiling(Kind::Chat);
}

// ---------------------------------------------------------------------------
// c. --max-conns: the backlog holds the next client
// ---------------------------------------------------------------------------

/// How long a parked client is watched for an answer it must not get.
const PARKED: Duration = Duration::from_millis(500);

/// `--max-conns 5`: five clients are served; a sixth connects (the backlog
/// holds it) but gets no answer until one of the five leaves.
fn max_conns(kind: Kind, backend: Backend) {
    let server = Server::start(kind, backend, &["--max-conns", "5"]);
    let mut five: Vec<TcpStream> = (0..5).map(|_| connect(&server.addr)).collect();
    if kind == Kind::Chat {
        // The last one's line reaches the four others: all five are in.
        (&five[4]).write_all(b"all here?\n").unwrap();
        let name = five[4].local_addr().unwrap().to_string();
        for conn in &five[..4] {
            let mut lines = BufReader::new(conn.try_clone().unwrap());
            assert_eq!(read_line(&mut lines, true), format!("{name}: all here?"), "{backend:?}");
        }
    } else {
        for conn in &five {
            ask(kind, conn);
            assert!(answered(kind, conn), "{kind:?} {backend:?}: one of the five was closed");
        }
    }
    let sixth = connect(&server.addr);
    ask(kind, &sixth);
    sixth.set_read_timeout(Some(PARKED)).unwrap();
    loop {
        match (&sixth).read(&mut [0u8; 64]) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            other => panic!("{kind:?} {backend:?}: the sixth client, over the limit, read {other:?}"),
        }
    }
    // One leaves: the sixth is accepted and answered.
    let start = Instant::now();
    drop(five.remove(0));
    sixth.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    assert!(answered(kind, &sixth), "{kind:?} {backend:?}: the sixth was closed");
    let took = start.elapsed();
    // The others are still served.
    if kind != Kind::Chat {
        ask(kind, &five[0]);
        assert!(answered(kind, &five[0]), "{kind:?} {backend:?}");
    }
    eprintln!("{kind:?} {backend:?}: --max-conns 5: the sixth was answered {took:?} after one of five left");
}

fn echo_max_conns(backend: Backend) {
    max_conns(Kind::Echo, backend);
}

fn http_max_conns(backend: Backend) {
    max_conns(Kind::Http, backend);
}

fn chat_max_conns(backend: Backend) {
    max_conns(Kind::Chat, backend);
}

/// With `POLLREACTOR_TRACE=1` and `--max-conns 1`: while the one client is
/// there, the listener's descriptor is gone from `want[]`; once it leaves,
/// the listener is back and accepts the next.
#[test]
fn max_conns_shows_in_the_trace() {
    let mut server = Server::start_traced(Kind::Echo, Backend::Poll, &["--max-conns", "1"]);
    let first = connect(&server.addr);
    ask(Kind::Echo, &first);
    assert!(answered(Kind::Echo, &first));
    let second = connect(&server.addr);
    ask(Kind::Echo, &second);
    drop(first);
    assert!(answered(Kind::Echo, &second));
    let (status, _) = server.terminate();
    assert_eq!(status.code(), Some(0));
    let trace = server.stderr_text();
    let lines: Vec<&str> = trace.lines().collect();
    let accepts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(":accept")).collect();
    assert_eq!(accepts.len(), 2, "two accepts:\n{trace}");
    let accept_line = lines[accepts[0]];
    let at = accept_line.find(":accept").unwrap();
    let fd = accept_line[..at].rsplit(['[', ' ']).next().unwrap();
    let listening = format!(" {fd}:r");
    let wants = |line: &str| {
        let Some(at) = line.find("want[") else { return false };
        let want = &line[at + 5..];
        format!(" {}", &want[..want.find(']').unwrap()]).contains(&listening)
    };
    let stopped = (accepts[0] + 1..accepts[1]).filter(|&i| !wants(lines[i])).count();
    assert!(stopped > 0, "the listener (fd {fd}) never left want[] while full:\n{trace}");
    assert!(wants(lines[accepts[1]]), "the listener is back for the second accept:\n{trace}");
}

// ---------------------------------------------------------------------------
// d. --workers
// ---------------------------------------------------------------------------

/// `--workers 3`: three threads; 60 connections at once are all served,
/// by more than one worker (each has its own listener: the tracer shows
/// accepts on more than one descriptor); SIGTERM ends them all, exit 0.
fn workers(kind: Kind, backend: Backend) {
    const CONNS: usize = 60;
    let mut server = Server::start_traced(kind, backend, &["--workers", "3"]);
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap().count();
    assert!(tasks >= 3, "{kind:?} {backend:?}: {tasks} threads");
    let conns: Vec<TcpStream> = (0..CONNS).map(|_| connect(&server.addr)).collect();
    for conn in &conns {
        ask(kind, conn);
    }
    for conn in &conns {
        assert!(answered(kind, conn), "{kind:?} {backend:?}: a connection was closed");
    }
    let (status, took) = server.terminate();
    assert_eq!(status.code(), Some(0), "{kind:?} {backend:?} on SIGTERM");
    assert!(took < Duration::from_secs(5), "{kind:?} {backend:?}: SIGTERM took {took:?}");
    // Every worker closed its connections.
    for conn in &conns {
        wait_closed(conn);
    }
    let trace = server.stderr_text();
    let listeners: BTreeSet<&str> = trace
        .split(['[', ' '])
        .filter_map(|call| call.strip_suffix(":accept").or_else(|| call.strip_suffix(":accept]")))
        .collect();
    assert!(listeners.len() >= 2, "{kind:?} {backend:?}: accepts only on {listeners:?}");
    eprintln!(
        "{kind:?} {backend:?}: --workers 3: {tasks} threads, {CONNS} connections served, accepts on \
         listeners {listeners:?}; SIGTERM: exit 0 in {took:?}"
    );
}

fn echo_workers(backend: Backend) {
    workers(Kind::Echo, backend);
}

fn http_workers(backend: Backend) {
    workers(Kind::Http, backend);
}

// ---------------------------------------------------------------------------
// e. --send-timeout
// ---------------------------------------------------------------------------

/// `--send-timeout 1`: a client that sends and sends and never reads is
/// closed about a second after the server's output stopped moving (its
/// writes fail: reset or broken pipe); a new client is served.
fn send_timeout(kind: Kind, backend: Backend) {
    let server = Server::start(kind, backend, &["--send-timeout", "1"]);
    let hog = connect(&server.addr);
    let chunk = match kind {
        Kind::Http => GET.repeat(2000),
        _ => pattern(64 * 1024, 7),
    };
    let mut writer = hog.try_clone().unwrap();
    let start = Instant::now();
    let flood = thread::spawn(move || {
        let mut sent = 0usize;
        loop {
            if let Err(e) = writer.write_all(&chunk) {
                return (sent, start.elapsed(), e);
            }
            sent += chunk.len();
        }
    });
    let (sent, took, err) = join_within(flood, "the flooding client");
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "{kind:?} {backend:?}: the flood ended with {err} after {took:?}"
    );
    assert!(took >= Duration::from_secs(1), "{kind:?} {backend:?}: closed after {took:?}");
    assert!(took <= Duration::from_secs(1) + SLACK, "{kind:?} {backend:?}: closed only after {took:?}");
    wait_closed(&hog);
    let fresh = connect(&server.addr);
    ask(kind, &fresh);
    assert!(answered(kind, &fresh), "{kind:?} {backend:?}");
    eprintln!("{kind:?} {backend:?}: --send-timeout 1: a client that never read ({sent} bytes sent) was closed after {took:?}");
}

fn echo_send_timeout(backend: Backend) {
    send_timeout(Kind::Echo, backend);
}

fn http_send_timeout(backend: Backend) {
    send_timeout(Kind::Http, backend);
}

on_every_backend!(
    http_slow_heads,
    echo_idle_clients,
    chat_idle_clients,
    echo_max_conns,
    http_max_conns,
    chat_max_conns,
    echo_workers,
    http_workers,
    echo_send_timeout,
    http_send_timeout,
);

// ---------------------------------------------------------------------------
// The flags
// ---------------------------------------------------------------------------

/// Runs a server with `args` and returns its exit code and stderr: for
/// arguments it refuses before it listens.
fn refused_with(kind: Kind, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(example(kind.program()))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{kind:?} {args:?} did not exit");
        }
        thread::sleep(Duration::from_millis(5)); // a child's exit has no event to wait on here
    }
}

#[test]
fn every_server_states_its_limits_and_checks_them() {
    for kind in [Kind::Echo, Kind::Http, Kind::Chat] {
        let help = Command::new(example(kind.program())).arg("--help").output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        for flag in ["--idle-timeout SECS", "--send-timeout SECS", "--max-conns N"] {
            assert!(help.contains(flag), "{kind:?} --help lacks {flag}");
        }
        assert_eq!(help.contains("--workers N"), kind != Kind::Chat, "{kind:?}");
        assert!(help.contains("default 60, as nginx's send_timeout"), "{kind:?}");
        for bad in [&["--max-conns", "many"][..], &["--idle-timeout", "-1"], &["--send-timeout"]] {
            let (code, err) = refused_with(kind, bad);
            assert_eq!(code, Some(2), "{kind:?} {bad:?}: {err}");
        }
    }
    let (code, err) = refused_with(Kind::Chat, &["--workers", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("one room"), "{err}");
    let (code, err) = refused_with(Kind::Http, &["--header-timeout", "soon"]);
    assert_eq!(code, Some(2), "{err}");
}
