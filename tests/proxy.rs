//! examples/proxy.rs run as a user would: a real process on loopback, with
//! std clients and backends in threads of the test. `cargo test` builds the
//! examples first; with `--test proxy` alone, run `cargo build --examples`
//! before.
//!
//! Every wait is bounded; the few polls (a child's exit, its descriptor
//! count) have no event to wait on and end at a deadline.

// The example programs (which these tests run) need these features.
#![cfg(all(feature = "signals", feature = "trace"))]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::{accept_within, example, WAIT_LIMIT};
use pollreactor::{Backend, Family, SockType, Socket};

/// The most the proxy's peak resident set may reach while a peer does not read.
const RSS_LIMIT_KIB: u64 = 16 * 1024;

/// How long the 1 GiB transfer may take (a debug proxy, a debug test).
const BIG_LIMIT: Duration = Duration::from_secs(120);

/// The transfers of hundreds of MiB run one at a time, so that each has the
/// machine's two cores, and their figures mean something.
fn heavy() -> MutexGuard<'static, ()> {
    static HEAVY: Mutex<()> = Mutex::new(());
    HEAVY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running proxy, killed when dropped (so a failing test leaves none).
struct Proxy {
    child: Child,
    addr: String,
    stderr: Option<JoinHandle<String>>,
    /// Kept open: the proxy's stdout after its first line.
    stdout: BufReader<ChildStdout>,
}

impl Proxy {
    /// Starts `proxy --addr 127.0.0.1:0 --to TO --backend B` and reads the
    /// `listening on` line it must print first.
    fn start(to: &str, backend: Backend) -> Proxy {
        Proxy::start_with(to, backend, &[])
    }

    /// [`start`](Self::start) with more arguments.
    fn start_with(to: &str, backend: Backend, more: &[&str]) -> Proxy {
        let mut child = Command::new(example("proxy"))
            .args(["--addr", "127.0.0.1:0", "--to", to, "--backend", backend.name()])
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the proxy");
        let mut err = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = err.read_to_string(&mut text);
            text
        });
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Built first, so that the child is killed if anything below fails.
        let mut proxy = Proxy { child, addr: String::new(), stderr: Some(stderr), stdout };
        let mut first = String::new();
        proxy.stdout.read_line(&mut first).expect("read the first line");
        let addr =
            first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}"));
        proxy.addr = addr.to_string();
        proxy
    }

    /// A client connection to the proxy, every wait on it bounded.
    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).expect("connect to the proxy");
        stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
        stream
    }

    /// The proxy's peak resident set (VmHWM), where /proc tells it.
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("the proxy's /proc status (it must still run)");
        let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("a VmHWM line");
        line.trim().trim_end_matches("kB").trim().parse().expect("VmHWM in kB")
    }

    /// Fails unless the proxy's peak RSS is under [`RSS_LIMIT_KIB`].
    fn assert_peak_rss_bounded(&self, what: &str) {
        let rss = self.peak_rss_kib();
        assert!(rss < RSS_LIMIT_KIB, "{what}: proxy peak RSS {rss} KiB");
    }

    /// How many descriptors the proxy has open.
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).expect("the proxy's /proc fd list").count()
    }

    /// How many descriptors the proxy has with no connection, asked while
    /// exactly one client-backend pair is open (two of them). Not asked at
    /// start: the loop makes the epoll descriptor only once it runs.
    fn idle_fds_with_one_pair_open(&self) -> usize {
        self.open_fds() - 2
    }

    /// Waits until the proxy has `n` descriptors open again (its channels
    /// closed), failing after [`WAIT_LIMIT`].
    fn wait_for_fds(&self, n: usize, what: &str) {
        let deadline = Instant::now() + WAIT_LIMIT;
        while self.open_fds() != n {
            assert!(Instant::now() < deadline, "{what}: {} descriptors open, not {n}", self.open_fds());
            thread::sleep(Duration::from_millis(5)); // a close has no event to wait on here
        }
    }

    /// SIGTERM, then its exit status and everything it wrote on stderr.
    fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let deadline = Instant::now() + WAIT_LIMIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the proxy ignored SIGTERM");
            thread::sleep(Duration::from_millis(5)); // a child's exit has no event to wait on here
        };
        let stderr = self.stderr.take().unwrap().join().unwrap();
        (status, stderr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A backend listener on a free loopback port.
fn backend_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

/// A backend that echoes one connection, then shuts its write side down
/// when the input ends.
fn echo_backend(listener: TcpListener) -> JoinHandle<Result<u64, String>> {
    thread::spawn(move || {
        let conn = accept_within(&listener);
        let copied = std::io::copy(&mut &conn, &mut &conn).map_err(|e| format!("echo: {e}"))?;
        conn.shutdown(Shutdown::Write).map_err(|e| format!("echo shutdown: {e}"))?;
        Ok(copied)
    })
}

/// Joins a thread by `deadline`, failing loudly if it has not finished.
fn join_by<T>(handle: JoinHandle<Result<T, String>>, deadline: Instant, what: &str) -> T {
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "{what} did not finish in time");
        thread::sleep(Duration::from_millis(5)); // a thread's end has no event to wait on here
    }
    handle.join().expect("the thread panicked").unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The bytes of a stream of any length, cheap to make and to check even in
/// a debug build (memcpy and memcmp do the work): blocks of a fixed pattern,
/// each stamped with its number and the stream's seed. The block size is a
/// prime, so blocks never line up with reads and writes: a byte lost,
/// doubled or moved shows.
struct Pattern {
    seed: u64,
    block: Vec<u8>,
    stamped: u64,
}

const BLOCK: usize = 65_521;

impl Pattern {
    fn new(seed: u8) -> Pattern {
        Pattern { seed: seed.into(), block: common::pattern(BLOCK, seed), stamped: u64::MAX }
    }

    /// Runs `f(offset, expected)` over the stream's bytes `pos..pos + len`,
    /// piece by piece, while it returns true.
    fn each(&mut self, pos: u64, len: usize, mut f: impl FnMut(usize, &[u8]) -> bool) -> bool {
        let mut done = 0;
        while done < len {
            let at = pos + done as u64;
            let (k, off) = (at / BLOCK as u64, (at % BLOCK as u64) as usize);
            if self.stamped != k {
                self.block[..8].copy_from_slice(&k.to_le_bytes());
                self.block[8..16].copy_from_slice(&self.seed.to_le_bytes());
                self.stamped = k;
            }
            let n = (BLOCK - off).min(len - done);
            if !f(done, &self.block[off..off + n]) {
                return false;
            }
            done += n;
        }
        true
    }

    fn fill(&mut self, pos: u64, out: &mut [u8]) {
        self.each(pos, out.len(), |at, bytes| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            true
        });
    }

    fn matches(&mut self, pos: u64, data: &[u8]) -> bool {
        self.each(pos, data.len(), |at, bytes| data[at..at + bytes.len()] == *bytes)
    }
}

/// Sends `total` bytes of the stream `seed`, then shuts the write side
/// down. A write that makes no progress for the socket's write timeout is
/// retried (until `deadline`); the first one is reported on `stalled`, with
/// how many bytes had gone by then.
fn send_stream(
    conn: &TcpStream,
    seed: u8,
    total: u64,
    deadline: Instant,
    mut stalled: Option<mpsc::Sender<u64>>,
) -> Result<(), String> {
    let mut pattern = Pattern::new(seed);
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0u64;
    while pos < total {
        let len = buf.len().min((total - pos) as usize);
        pattern.fill(pos, &mut buf[..len]);
        let mut off = 0;
        while off < len {
            if Instant::now() > deadline {
                return Err(format!("sent only {} of {total} bytes in time", pos + off as u64));
            }
            match (&mut &*conn).write(&buf[off..len]) {
                Ok(0) => return Err("write returned 0".to_string()),
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if let Some(tx) = stalled.take() {
                        let _ = tx.send(pos + off as u64);
                    }
                }
                Err(e) => return Err(format!("write at byte {}: {e}", pos + off as u64)),
            }
        }
        pos += len as u64;
    }
    conn.shutdown(Shutdown::Write).map_err(|e| format!("shutdown: {e}"))
}

/// Sends `total` bytes of the stream `seed` from a clone of `conn` in a
/// thread; the receiver hears how many had gone by when a write first
/// moved nothing for 300 ms (the pipeline is full).
fn send_until_stalled(
    conn: &TcpStream,
    seed: u8,
    total: u64,
    deadline: Instant,
) -> (JoinHandle<Result<(), String>>, mpsc::Receiver<u64>) {
    let (stalled_tx, stalled) = mpsc::channel();
    let writer = conn.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_millis(300))).unwrap();
    let sender = thread::spawn(move || send_stream(&writer, seed, total, deadline, Some(stalled_tx)));
    (sender, stalled)
}

/// The sender stalled well before half of `total` went by, and the proxy's
/// memory stayed bounded meanwhile.
fn assert_stalled_in_bound(proxy: &Proxy, stalled: &mpsc::Receiver<u64>, total: u64, what: &str) {
    let sent =
        stalled.recv_timeout(WAIT_LIMIT).expect("the client's sending never stalled: the proxy took it all");
    let rss = proxy.peak_rss_kib();
    eprintln!("{what}: stalled after {} KiB sent; proxy peak RSS {rss} KiB", sent >> 10);
    assert!(sent < total / 2, "{what}: {sent} bytes went by before the stall");
    proxy.assert_peak_rss_bounded(&format!("{what}, while stalled"));
}

/// Reads `conn` to its end, checking that it is exactly `total` bytes of
/// the stream `seed`, in order.
fn receive_stream(conn: &TcpStream, seed: u8, total: u64, deadline: Instant) -> Result<(), String> {
    receive_rest(conn, seed, 0, total, deadline)
}

/// [`receive_stream`] for a stream whose first `pos` bytes were read.
fn receive_rest(
    conn: &TcpStream,
    seed: u8,
    mut pos: u64,
    total: u64,
    deadline: Instant,
) -> Result<(), String> {
    let mut pattern = Pattern::new(seed);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        if Instant::now() > deadline {
            return Err(format!("received only {pos} of {total} bytes in time"));
        }
        let n = match (&mut &*conn).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read at byte {pos}: {e}")),
        };
        if n == 0 {
            break;
        }
        if pos + n as u64 > total || !pattern.matches(pos, &buf[..n]) {
            return Err(format!("wrong bytes in {pos}..{}", pos + n as u64));
        }
        pos += n as u64;
    }
    if pos == total {
        Ok(())
    } else {
        Err(format!("end of file after {pos} of {total} bytes"))
    }
}

/// 1. An echo backend behind the proxy: 1 MiB goes there and back intact,
///    and the client's end of file comes back as one.
fn one_mib_round_trip(backend: Backend) {
    round_trip(backend, &[]);
}

/// The same in asyncore's interest mode, where every channel is asked
/// `readable()` at every iteration (the pacing is worked out differently).
fn one_mib_round_trip_asking_every_iteration(backend: Backend) {
    round_trip(backend, &["--interest", "every-iteration"]);
}

fn round_trip(backend: Backend, more: &[&str]) {
    let (listener, to) = backend_listener();
    let echo = echo_backend(listener);
    let proxy = Proxy::start_with(&to, backend, more);
    let client = proxy.connect();
    let deadline = Instant::now() + WAIT_LIMIT;
    let writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || send_stream(&writer, 7, 1 << 20, deadline, None));
    receive_stream(&client, 7, 1 << 20, deadline).unwrap_or_else(|e| panic!("{backend:?}: {e}"));
    join_by(sender, deadline, "the client's sender");
    assert_eq!(join_by(echo, deadline, "the echo backend"), 1 << 20);
    let (status, _) = proxy.stop();
    assert_eq!(status.code(), Some(0));
}

/// 2. 1 GiB each way at once: the client sends 1 GiB and shuts down its
///    write side while the backend does the same towards it; both ends
///    read every byte, in order, then their end of file.
fn one_gib_both_ways(backend: Backend) {
    const GIB: u64 = 1 << 30;
    let _one_at_a_time = heavy();
    let (listener, to) = backend_listener();
    let proxy = Proxy::start(&to, backend);
    let start = Instant::now();
    let deadline = start + BIG_LIMIT;
    let far_end = thread::spawn(move || {
        let conn = accept_within(&listener);
        let writer = conn.try_clone().unwrap();
        let sender = thread::spawn(move || send_stream(&writer, 2, GIB, deadline, None));
        receive_stream(&conn, 1, GIB, deadline).map_err(|e| format!("backend reading: {e}"))?;
        sender.join().unwrap().map_err(|e| format!("backend sending: {e}"))
    });
    let client = proxy.connect();
    let writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || send_stream(&writer, 1, GIB, deadline, None));
    receive_stream(&client, 2, GIB, deadline).unwrap_or_else(|e| panic!("{backend:?}: client reading: {e}"));
    join_by(sender, deadline, "the client's sender");
    join_by(far_end, deadline, "the backend");
    let elapsed = start.elapsed();
    let rss = proxy.peak_rss_kib();
    eprintln!("{backend:?}: 1 GiB each way through the proxy in {elapsed:.1?}; proxy peak RSS {rss} KiB");
    proxy.assert_peak_rss_bounded(&format!("{backend:?}"));
    let (status, _) = proxy.stop();
    assert_eq!(status.code(), Some(0));
}

/// The ways the proxy is run for the flow-control scenarios: the servers'
/// default interest mode, and asyncore's (every channel asked at every
/// iteration), which paces reading by a different path.
const MODES: [&[&str]; 2] = [&[], &["--interest", "every-iteration"]];

/// 3a. A client that sends 256 MiB and does not read, to an echo backend:
///     everything stalls with the proxy's memory bounded; once the client
///     reads, every byte arrives, in order.
fn bounded_memory_when_the_client_does_not_read(backend: Backend) {
    for more in MODES {
        bounded_memory_when_the_client_does_not_read_in(backend, more);
    }
}

fn bounded_memory_when_the_client_does_not_read_in(backend: Backend, more: &[&str]) {
    const TOTAL: u64 = 256 << 20;
    let _one_at_a_time = heavy();
    let (listener, to) = backend_listener();
    let echo = echo_backend(listener);
    let proxy = Proxy::start_with(&to, backend, more);
    let client = proxy.connect();
    let deadline = Instant::now() + BIG_LIMIT;
    let (sender, stalled) = send_until_stalled(&client, 3, TOTAL, deadline);
    assert_stalled_in_bound(&proxy, &stalled, TOTAL, &format!("{backend:?} {more:?}: client not reading"));
    if let Err(e) = receive_stream(&client, 3, TOTAL, deadline) {
        panic!("{backend:?} {more:?}: client reading: {e} (did the proxy stop reading the backend?)");
    }
    join_by(sender, deadline, "the client's sender");
    assert_eq!(join_by(echo, deadline, "the echo backend"), TOTAL);
    let rss = proxy.peak_rss_kib();
    eprintln!("{backend:?} {more:?}: client not reading: after 256 MiB each way, proxy peak RSS {rss} KiB");
    proxy.assert_peak_rss_bounded(&format!("{backend:?} {more:?}"));
}

/// 3b. A backend that accepts and does not read, while the client sends
///     256 MiB: the same bound; once the backend reads, every byte arrives.
fn bounded_memory_when_the_backend_does_not_read(backend: Backend) {
    for more in MODES {
        bounded_memory_when_the_backend_does_not_read_in(backend, more);
    }
}

fn bounded_memory_when_the_backend_does_not_read_in(backend: Backend, more: &[&str]) {
    const TOTAL: u64 = 256 << 20;
    let _one_at_a_time = heavy();
    let (listener, to) = backend_listener();
    let accepted = thread::spawn(move || Ok::<_, String>(accept_within(&listener)));
    let proxy = Proxy::start_with(&to, backend, more);
    let client = proxy.connect();
    let deadline = Instant::now() + BIG_LIMIT;
    let (sender, stalled) = send_until_stalled(&client, 4, TOTAL, deadline);
    let far_end = join_by(accepted, deadline, "the backend's accept");
    assert_stalled_in_bound(&proxy, &stalled, TOTAL, &format!("{backend:?} {more:?}: backend not reading"));
    receive_stream(&far_end, 4, TOTAL, deadline)
        .unwrap_or_else(|e| panic!("{backend:?} {more:?}: backend reading: {e}"));
    join_by(sender, deadline, "the client's sender");
    proxy.assert_peak_rss_bounded(&format!("{backend:?} {more:?}"));
}

/// 3c. A backend that sends its whole answer before it reads on (as a web
///     server answers pipelined requests one by one), while the client
///     sends and reads at once: the proxy must go on reading the answer
///     while its queue towards the backend is full, or all wait forever.
fn a_backend_that_answers_before_reading_on(backend: Backend) {
    for more in MODES {
        a_backend_that_answers_before_reading_on_in(backend, more);
    }
}

fn a_backend_that_answers_before_reading_on_in(backend: Backend, more: &[&str]) {
    const REQUEST: u64 = 64 << 20;
    const ANSWER: u64 = 256 << 20;
    let _one_at_a_time = heavy();
    let (listener, to) = backend_listener();
    let proxy = Proxy::start_with(&to, backend, more);
    let deadline = Instant::now() + BIG_LIMIT;
    let far_end = thread::spawn(move || {
        let conn = accept_within(&listener);
        let mut first = [0u8; 1];
        (&conn).read_exact(&mut first).map_err(|e| format!("backend reading: {e}"))?;
        if !Pattern::new(5).matches(0, &first) {
            return Err("a wrong first byte".to_string());
        }
        send_stream(&conn, 6, ANSWER, deadline, None).map_err(|e| format!("backend answering: {e}"))?;
        receive_rest(&conn, 5, 1, REQUEST, deadline).map_err(|e| format!("backend reading on: {e}"))
    });
    let client = proxy.connect();
    let writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || send_stream(&writer, 5, REQUEST, deadline, None));
    if let Err(e) = receive_stream(&client, 6, ANSWER, deadline) {
        panic!(
            "{backend:?} {more:?}: client reading the answer: {e} (did the proxy stop reading the backend?)"
        );
    }
    join_by(sender, deadline, "the client's sender");
    join_by(far_end, deadline, "the backend");
    proxy.assert_peak_rss_bounded(&format!("{backend:?} {more:?}"));
}

/// 4. Half-close, both ways: a client that shuts down its write side still
///    gets the whole answer and then its end of file; a backend that shuts
///    down first still gets what the client sends after. Then the proxy
///    has closed both channels.
fn half_close_is_passed_on(backend: Backend) {
    let (listener, to) = backend_listener();
    let proxy = Proxy::start(&to, backend);
    let request = common::pattern(100_000, 9);
    let answer = common::pattern(300_000, 10);
    let (req, ans) = (request.clone(), answer.clone());
    let first = listener.try_clone().unwrap();
    let far_end = thread::spawn(move || {
        let listener = first;
        // The client ends its request with a half-close: we read to its end,
        // answer, and close.
        let mut conn = accept_within(&listener);
        let mut got = Vec::new();
        conn.read_to_end(&mut got).map_err(|e| format!("backend reading: {e}"))?;
        if got != req {
            return Err(format!("the backend got {} bytes, not the request", got.len()));
        }
        conn.write_all(&ans).map_err(|e| format!("backend answering: {e}"))?;
        drop(conn);
        // Now the backend half-closes first and still reads.
        let mut conn = accept_within(&listener);
        conn.write_all(b"hello, then nothing more from me").map_err(|e| format!("greeting: {e}"))?;
        conn.shutdown(Shutdown::Write).map_err(|e| format!("backend shutdown: {e}"))?;
        let mut got = Vec::new();
        conn.read_to_end(&mut got).map_err(|e| format!("backend reading after its shutdown: {e}"))?;
        Ok(got)
    });
    let mut client = proxy.connect();
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap_or_else(|e| panic!("{backend:?}: client reading: {e}"));
    assert!(got == answer, "{backend:?}: the client got {} bytes, not the answer", got.len());

    let mut client = proxy.connect();
    let mut greeting = Vec::new();
    client.read_to_end(&mut greeting).unwrap_or_else(|e| panic!("{backend:?}: client reading: {e}"));
    assert_eq!(greeting, b"hello, then nothing more from me");
    // This pair is open (the client has not ended its side); the first is closed.
    let idle_fds = proxy.idle_fds_with_one_pair_open();
    client.write_all(b"still listening?").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    assert_eq!(join_by(far_end, deadline, "the backend"), b"still listening?");

    // Clients that half-close at once, often before the proxy's connect to
    // the backend has completed: the end of file must still get there.
    const QUICK: usize = 20;
    let far_end = thread::spawn(move || {
        for n in 0..QUICK {
            let mut conn = accept_within(&listener);
            let mut got = Vec::new();
            conn.read_to_end(&mut got).map_err(|e| format!("backend reading, client {n}: {e}"))?;
            if !got.is_empty() {
                return Err(format!("client {n} sent {} bytes", got.len()));
            }
            conn.write_all(b"bye").map_err(|e| format!("backend answering: {e}"))?;
        }
        Ok(())
    });
    for n in 0..QUICK {
        let mut client = proxy.connect();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap_or_else(|e| panic!("{backend:?}: quick client {n}: {e}"));
        assert_eq!(got, b"bye", "{backend:?}: quick client {n}");
    }
    join_by(far_end, Instant::now() + WAIT_LIMIT, "the backend");
    proxy.wait_for_fds(idle_fds, "after the half-closed connections");
    let (status, _) = proxy.stop();
    assert_eq!(status.code(), Some(0));
}

/// Waits until a socket of this host is connecting to 127.0.0.1:`port`
/// with its SYN unanswered (state SYN_SENT in /proc/net/tcp); false where
/// /proc does not tell.
fn wait_for_syn_sent(port: u16) -> bool {
    let remote = format!("0100007F:{port:04X}");
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else { return false };
        let connecting = |line: &str| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[2] == remote && fields[3] == "02"
        };
        if table.lines().any(connecting) {
            return true;
        }
        assert!(Instant::now() < deadline, "no connect to port {port} in progress");
        thread::sleep(Duration::from_millis(2)); // a SYN has no event to wait on here
    }
}

/// 4b. A client that half-closes while the proxy's connect to the backend
///     is still in progress, with or without sending first: its bytes and
///     its end of file get there once the connect completes.
fn half_close_before_the_backend_connect_completes(backend: Backend) {
    half_close_while_connecting(backend, b"");
    half_close_while_connecting(backend, b"sent before the backend answered");
}

fn half_close_while_connecting(backend: Backend, request: &[u8]) {
    // A backend whose accept queue is full (backlog 0 holds one connection,
    // which `_filler` takes): the proxy's SYN is dropped, and its connect
    // stays in progress until the kernel sends the SYN again, a second
    // later: long after the proxy has read the client's end of file.
    let sock = Socket::new(Family::Inet, SockType::Stream).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    sock.listen(0).unwrap();
    let listener = TcpListener::from(OwnedFd::from(sock));
    let port = listener.local_addr().unwrap().port();
    let to = format!("127.0.0.1:{port}");
    let _filler = TcpStream::connect(&to).unwrap();
    let proxy = Proxy::start(&to, backend);
    let mut client = proxy.connect();
    client.write_all(request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    if !wait_for_syn_sent(port) {
        return; // no /proc/net/tcp: the race cannot be arranged here
    }
    let _filler_accepted = accept_within(&listener); // room for the SYN sent again
    let mut conn = accept_within(&listener);
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap_or_else(|e| panic!("{backend:?}: backend reading: {e}"));
    assert_eq!(got, request, "{backend:?}");
    conn.write_all(b"got it").unwrap();
    drop(conn);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).unwrap_or_else(|e| panic!("{backend:?}: client reading: {e}"));
    assert_eq!(answer, b"got it", "{backend:?}");
}

/// Reads until the connection fails, which it must do with a reset.
fn expect_reset(mut conn: &TcpStream, who: &str) {
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => panic!("{who} read a clean end of file, not a reset"),
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{who}: {e}");
                return;
            }
        }
    }
}

/// 5. A reset is passed on as a reset, both ways.
fn reset_is_passed_on(backend: Backend) {
    let (listener, to) = backend_listener();
    let proxy = Proxy::start(&to, backend);
    let mut idle_fds = 0;
    for backend_resets in [true, false] {
        let mut client = proxy.connect();
        client.write_all(b"hi").unwrap();
        let mut far_end = accept_within(&listener);
        let mut hi = [0u8; 2];
        far_end.read_exact(&mut hi).unwrap();
        assert_eq!(&hi, b"hi"); // the pair is set up, both ways (and the one before is closed)
        idle_fds = proxy.idle_fds_with_one_pair_open();
        let (resetter, other, who) =
            if backend_resets { (far_end, client, "the client") } else { (client, far_end, "the backend") };
        let resetter = Socket::from(resetter);
        resetter.set_linger_zero().unwrap();
        drop(resetter); // RST, not FIN
        expect_reset(&other, &format!("{backend:?}: {who}"));
    }
    proxy.wait_for_fds(idle_fds, "after two resets");
    let (status, _) = proxy.stop();
    assert_eq!(status.code(), Some(0));
}

/// 6. A backend that refuses: each client is closed promptly, the proxy
///    says why on stderr and keeps serving (once the backend is there, the
///    next client gets through), and exits 0 on SIGTERM.
fn refused_backend_closes_the_client(backend: Backend) {
    let (listener, to) = backend_listener();
    drop(listener); // nothing listens there now
    let proxy = Proxy::start(&to, backend);
    for _ in 0..2 {
        let mut client = proxy.connect();
        let mut nothing = Vec::new();
        match client.read_to_end(&mut nothing) {
            Ok(0) => {}
            Ok(n) => panic!("{backend:?}: {n} bytes from a refused backend"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{backend:?}: not closed: {e}"),
        }
    }
    // The port we freed is ours again in all likelihood (a port is never
    // handed out twice at once, and this one was just released).
    let listener = TcpListener::bind(&to).expect("listen on the backend's port again");
    let echo = echo_backend(listener);
    let mut client = proxy.connect();
    client.write_all(b"now?").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"now?");
    join_by(echo, Instant::now() + WAIT_LIMIT, "the echo backend");
    let (status, stderr) = proxy.stop();
    assert_eq!(status.code(), Some(0), "{backend:?}");
    assert!(stderr.contains("refused"), "{backend:?}: stderr: {stderr}");
}

on_every_backend!(
    one_mib_round_trip,
    one_mib_round_trip_asking_every_iteration,
    one_gib_both_ways,
    bounded_memory_when_the_client_does_not_read,
    bounded_memory_when_the_backend_does_not_read,
    a_backend_that_answers_before_reading_on,
    half_close_is_passed_on,
    half_close_before_the_backend_connect_completes,
    reset_is_passed_on,
    refused_backend_closes_the_client,
);

/// Runs a command to its end, failing (and killing it) after [`WAIT_LIMIT`].
fn output_within(cmd: &mut Command) -> Output {
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the command");
    let id = child.id();
    let (done_tx, done) = mpsc::channel();
    thread::spawn(move || done_tx.send(child.wait_with_output()));
    match done.recv_timeout(WAIT_LIMIT) {
        Ok(output) => output.expect("wait for the command"),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &id.to_string()]).status();
            panic!("{cmd:?} did not finish within {WAIT_LIMIT:?}");
        }
    }
}

/// 7. The command line: --help, and the mistakes.
#[test]
fn command_line() {
    let help = output_within(Command::new(example("proxy")).arg("--help"));
    assert!(help.status.success());
    let usage = String::from_utf8_lossy(&help.stdout);
    assert!(usage.starts_with("usage: proxy") && usage.contains("--to HOST:PORT"), "{usage}");
    for (args, complaint) in [
        (&[][..], "--to HOST:PORT is required"),
        (&["--addr", "127.0.0.1:0"][..], "--to HOST:PORT is required"),
        (&["--to"][..], "--to needs a value"),
        (&["--to", "127.0.0.1:1", "--backend", "kqueue"][..], "unknown backend"),
        (&["--to", "127.0.0.1:1", "--verbose"][..], "unknown argument"),
        (&["--to", "no-port-here"][..], "--to no-port-here"),
    ] {
        let out = output_within(Command::new(example("proxy")).args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(complaint), "{args:?}: {stderr}");
    }
}
