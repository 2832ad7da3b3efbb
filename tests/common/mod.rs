//! Shared test harness: every scenario runs on every backend, waits are
//! event-driven and bounded, and addresses are loopback only.
#![allow(dead_code)] // each test file uses a different part of this module

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pollreactor::{Address, Backend, Channel, Dispatcher, Family, Handler, Layer, Reactor, Socket, WithSend};

/// How long any wait in a test may take before the test fails loudly. Long
/// enough for a loaded 2-core machine; a passing test never waits for it.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// One `#[test]` per backend for each scenario `fn name(backend: Backend)`:
/// poll, select, and on Linux epoll.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod poll {
            $( #[test] fn $name() { super::$name(pollreactor::Backend::Poll) } )*
        }
        mod select {
            $( #[test] fn $name() { super::$name(pollreactor::Backend::Select) } )*
        }
        // Not under `--cfg pollreactor_portable`, which builds the non-Linux paths,
// nor without the `epoll` feature.
        #[cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]
        mod epoll {
            $( #[test] fn $name() { super::$name(pollreactor::Backend::Epoll) } )*
        }
    };
}

/// Runs loop iterations (10 ms wait each) until `done` holds, failing with
/// `what` if it does not within [`WAIT_LIMIT`].
pub fn loop_until(
    reactor: &mut Reactor,
    backend: Backend,
    what: &str,
    mut done: impl FnMut(&Reactor) -> bool,
) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done(reactor) {
        assert!(Instant::now() < deadline, "timed out after {WAIT_LIMIT:?} waiting for {what} ({backend:?})");
        reactor.poll_once(Some(Duration::from_millis(10)), backend).expect("poll_once failed");
    }
}

/// The path of an example binary; `cargo test` builds the examples beside
/// the test binaries (with `--test NAME` alone, run `cargo build --examples`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} is missing: cargo test builds the examples", path.display());
    path
}

/// How many descriptors this process has open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// Joins a thread, failing loudly if it has not finished within
/// [`WAIT_LIMIT`] (a thread's end has no event to wait on here, so this
/// polls it).
pub fn join_within<T>(handle: std::thread::JoinHandle<T>, what: &str) -> T {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !handle.is_finished() {
        assert!(Instant::now() < deadline, "timed out after {WAIT_LIMIT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join().expect("the thread panicked")
}

/// A loopback address to listen on for `family`: port 0, or a fresh path.
pub fn listen_addr(family: Family) -> Address {
    match family {
        Family::Inet => "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into(),
        Family::Inet6 => "[::1]:0".parse::<std::net::SocketAddr>().unwrap().into(),
        Family::Unix => Address::Unix(temp_socket_path()),
    }
}

/// A socket path no other test uses; removed again by [`remove_socket_file`].
pub fn temp_socket_path() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("pollreactor-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Removes a Unix-domain listener's socket file (the listener never does).
pub fn remove_socket_file(addr: &Address) {
    if let Address::Unix(path) = addr {
        let _ = std::fs::remove_file(path);
    }
}

/// A list of what happened, shared between a test and its handlers.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    pub fn events(&self) -> Vec<String> {
        self.0.borrow().clone()
    }

    pub fn contains(&self, event: &str) -> bool {
        self.0.borrow().iter().any(|e| e == event)
    }

    pub fn count(&self, event: &str) -> usize {
        self.0.borrow().iter().filter(|e| *e == event).count()
    }
}

/// A deterministic byte pattern of `len` bytes, different per `seed`.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).wrapping_add((i >> 8) as u8)).collect()
}

/// The echo handler most tests need: whatever arrives goes back through the
/// channel's output queue (make the dispatcher `with_send()`).
pub struct Echo;

impl Handler<WithSend> for Echo {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> std::io::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = ch.recv(&mut buf)?;
        ch.send_buffered(&buf[..n])
    }
}

/// The shared recording handler: every callback it gets is pushed to its
/// [`Log`] as one word (`connect`, `read N`, `write`, `expt`, `accepted`,
/// `close`, `error: MESSAGE`), so a scenario is a few lines: build the
/// sockets, add a `Recorder`, run the loop, compare `log.events()`.
///
/// Its behaviour is asyncore's strict test harness: `handle_read` makes one
/// `recv` of up to `read_size` bytes (the bytes are kept in `received`);
/// `handle_write` logs and, with `write_data` queued, sends it once;
/// `handle_close` and `handle_error` log and close. `want_read` and
/// `want_write` answer `readable()`/`writable()`. It serves every layer.
pub struct Recorder {
    pub log: Log,
    pub want_read: bool,
    pub want_write: bool,
    pub read_size: usize,
    pub received: Rc<RefCell<Vec<u8>>>,
    pub write_data: Vec<u8>,
}

impl Recorder {
    /// Reads (8 KiB a call), never asks to write.
    pub fn new(log: &Log) -> Recorder {
        Recorder {
            log: log.clone(),
            want_read: true,
            want_write: false,
            read_size: 8192,
            received: Rc::default(),
            write_data: Vec::new(),
        }
    }

    /// Also asks to write, and sends `data` at the first write event.
    pub fn writing(mut self, data: &[u8]) -> Recorder {
        self.want_write = true;
        self.write_data = data.to_vec();
        self
    }
}

impl<L: Layer> Handler<L> for Recorder {
    fn readable(&mut self, _: &Dispatcher<L>) -> bool {
        self.want_read
    }

    fn writable(&mut self, _: &Dispatcher<L>) -> bool {
        self.want_write
    }

    fn handle_read(&mut self, ch: &mut Channel<'_, L>) -> std::io::Result<()> {
        let mut buf = vec![0u8; self.read_size];
        let n = ch.recv(&mut buf)?;
        self.received.borrow_mut().extend_from_slice(&buf[..n]);
        self.log.push(format!("read {n}"));
        Ok(())
    }

    fn handle_write(&mut self, ch: &mut Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("write");
        if !self.write_data.is_empty() {
            let data = std::mem::take(&mut self.write_data);
            let n = ch.send(&data)?;
            self.write_data = data[n..].to_vec();
        }
        Ok(())
    }

    fn handle_connect(&mut self, _: &mut Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("connect");
        Ok(())
    }

    fn handle_expt(&mut self, _: &mut Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("expt");
        Ok(())
    }

    fn handle_accepted(&mut self, _: &mut Channel<'_, L>, _: Socket, _: Address) -> std::io::Result<()> {
        self.log.push("accepted");
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("close");
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, L>, err: std::io::Error) {
        self.log.push(format!("error: {err}"));
        ch.close();
    }
}

/// Accepts one connection, failing if none comes within [`WAIT_LIMIT`];
/// the connection is blocking, with reads and writes bounded by
/// [`WAIT_LIMIT`] too.
pub fn accept_within(listener: &std::net::TcpListener) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
                conn.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
                return conn;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2)); // an accept has no event to wait on here
            }
            Err(e) => panic!("no connection to accept within {WAIT_LIMIT:?}: {e}"),
        }
    }
}
