//! A port of CPython 3.11's `Lib/test/test_asyncore.py` to pollreactor.
//!
//! Every scenario of that file that means something on Unix, in our own
//! code. The scenarios that touch sockets run on both backends (poll and
//! select) through `on_every_backend!`; the `BaseTestAPI` ones also loop over
//! CPython's three families (IPv4 on 127.0.0.1, IPv6 on ::1, Unix-domain on a
//! fresh path), skipping Unix-domain where CPython skips it. As in CPython's
//! harness, handlers are *strict*: a callback the scenario does not expect
//! records an `UNEXPECTED` line that fails the test, and `handle_error`
//! panics with the error unless the scenario expects it.
//!
//! Scenarios, one a line: CPython test -> test here (what it checks).
//!
//! * `test_readwrite`, `test_readwriteexc` -> `readwrite_plain_error`: a read,
//!   write, expt or close callback failing with a plain error reaches
//!   `handle_error`, and nothing else runs for that channel in that pass.
//! * `test_readwrite`, `test_readwriteexc` -> `readwrite_disconnect_error`: a
//!   read, write or expt callback failing with a disconnect errno
//!   (`ECONNRESET`) reaches `handle_close`, never `handle_error`.
//! * `test_readwriteexc` (`ExitNow`) -> `readwriteexc_exit_now`:
//!   `Channel::exit_now()` from a read, write, expt or close callback ends
//!   `Reactor::run` at once: no further callback in that iteration, neither
//!   of that channel nor of another ready one. (The POLLNVAL row of
//!   `test_readwrite` needs a descriptor closed behind the reactor's back,
//!   which takes unsafe code: not ported.)
//! * `test_closeall` -> `closeall`: `close_all` over 10 channels empties the
//!   map and closes every socket (each peer reads end of file).
//! * `test_closeall_default` -> not applicable: there is no global default
//!   map; a `Reactor` is the map, which `closeall` covers.
//! * `test_compact_traceback` -> Python-only (tracebacks); its intent, that
//!   `handle_error` learns what failed and where, is
//!   `handle_error_default_reports`: the default `handle_error` gets the
//!   `io::Error` itself and logs it with the failing channel, then closes it.
//! * `test_basic` -> `basic`: a fresh dispatcher's default `readable()` and
//!   `writable()` are both true.
//! * `test_repr` -> `repr_debug`: Python's repr becomes `Debug`: state words,
//!   address, and the descriptor (or `closed`).
//! * `test_log` -> `log`: the default `log_info` writes one `kind: message`
//!   line per call to stdout, in order (checked in a child run of this
//!   test binary, whose stdout the test reads).
//! * `test_log_info` -> `log_info`: info and error lines are written,
//!   warnings dropped (asyncore's default `ignore_log_types`); likewise.
//! * `test_unhandled` -> `unhandled`: the default `handle_connect`,
//!   `handle_write`, `handle_read` and `handle_expt`, triggered by real
//!   events, each report their "unhandled ... event" warning through
//!   `log_info`; nothing closes and nothing errors.
//! * `test_strerror` -> not applicable: error text comes from std's
//!   `io::Error` (strerror); the crate has no `_strerror`.
//! * `DispatcherWithSendTests.test_send` -> `dispatcher_with_send_send`: a
//!   `with_send()` client queues data twice and a newline; a blocking std
//!   server thread receives every byte in order: once with CPython's short
//!   line, once with 2 x 4 MiB, more than loopback holds, to a server that
//!   reads nothing until the socket is full, so the queue keeps its bytes
//!   across iterations in which the socket takes none.
//! * `FileWrapperTest.test_recv`, `test_send`, `test_dispatcher`,
//!   `test_resource_warning`, `test_close_twice` -> ported with
//!   FileDispatcher (issue 3).
//! * `BaseTestAPI.test_handle_connect` -> `handle_connect`.
//! * `BaseTestAPI.test_handle_accept` -> `handle_accept`.
//! * `BaseTestAPI.test_handle_accepted` -> `handle_accepted`.
//! * `BaseTestAPI.test_handle_read` -> `handle_read`.
//! * `BaseTestAPI.test_handle_write` -> `handle_write`.
//! * `BaseTestAPI.test_handle_close` -> `handle_close`.
//! * `BaseTestAPI.test_handle_close_after_conn_broken` ->
//!   `handle_close_after_conn_broken`.
//! * `BaseTestAPI.test_handle_expt` -> `handle_expt` (not Unix-domain).
//! * `BaseTestAPI.test_handle_error` -> `handle_error`.
//! * `BaseTestAPI.test_connection_attributes` -> `connection_attributes`.
//! * `BaseTestAPI.test_create_socket` -> `create_socket`.
//! * `BaseTestAPI.test_bind` -> `bind` (not Unix-domain).
//! * `BaseTestAPI.test_set_reuse_addr` -> `set_reuse_addr` (not Unix-domain).
//! * `BaseTestAPI.test_quick_connect` -> `quick_connect` (not Unix-domain).
//!
//! Waits are `common::loop_until` (event-driven, bounded); nothing sleeps.
#![forbid(unsafe_code)]

mod common;

use std::io::{self, Read};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{listen_addr, loop_until, pattern, remove_socket_file, Log, WAIT_LIMIT};
use pollreactor::{
    Address, Backend, Channel, Dispatcher, Family, Handler, Layer, LogKind, LoopOptions, Plain, Reactor,
    SockType, Socket, Token, WithSend, DISCONNECTED,
};

/// CPython's family matrix.
const FAMILIES: [Family; 3] = [Family::Inet, Family::Inet6, Family::Unix];

/// The IP families only, for the scenarios CPython skips on AF_UNIX.
const IP_FAMILIES: [Family; 2] = [Family::Inet, Family::Inet6];

// ---------------------------------------------------------------------------
// The strict handler (CPython's BaseTestHandler, BaseServer, BaseClient)
// ---------------------------------------------------------------------------

type Hook<L> = Box<dyn FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()>>;
type AcceptedHook<L> = Box<dyn FnMut(&mut Channel<'_, L>, Socket, Address, &Log) -> io::Result<()>>;
type ErrorHook<L> = Box<dyn FnMut(&mut Channel<'_, L>, io::Error, &Log)>;

/// A handler whose callbacks a scenario plugs in. Unset callbacks behave as
/// in CPython's `BaseTestHandler`: `handle_read`/`handle_write` keep
/// asyncore's defaults; `handle_accept` (unless `handle_accepted` is set),
/// `handle_accepted`, `handle_connect`, `handle_expt` and `handle_close`
/// record an `UNEXPECTED` line; `handle_error` panics.
///
/// `L` is the channel's layer: `Probe` serves plain dispatchers,
/// `Probe<WithSend>` (made with [`Probe::of`]) `with_send()` ones.
struct Probe<L = Plain> {
    name: &'static str,
    log: Log,
    readable: Option<bool>,
    writable: Option<bool>,
    read: Option<Hook<L>>,
    write: Option<Hook<L>>,
    connect: Option<Hook<L>>,
    expt: Option<Hook<L>>,
    close: Option<Hook<L>>,
    accept: Option<Hook<L>>,
    accepted: Option<AcceptedHook<L>>,
    error: Option<ErrorHook<L>>,
}

impl Probe {
    /// A strict handler of a plain dispatcher.
    fn new(name: &'static str, log: &Log) -> Probe {
        Probe::of(name, log)
    }

    /// CPython's `BaseClient`: strict, but a connect is expected.
    fn client(log: &Log) -> Probe {
        Probe::new("client", log).on_connect(|_, _| Ok(()))
    }
}

impl<L: Layer> Probe<L> {
    /// A strict handler of a channel of layer `L`.
    fn of(name: &'static str, log: &Log) -> Probe<L> {
        Probe {
            name,
            log: log.clone(),
            readable: None,
            writable: None,
            read: None,
            write: None,
            connect: None,
            expt: None,
            close: None,
            accept: None,
            accepted: None,
            error: None,
        }
    }

    fn readable(mut self, on: bool) -> Probe<L> {
        self.readable = Some(on);
        self
    }

    fn writable(mut self, on: bool) -> Probe<L> {
        self.writable = Some(on);
        self
    }

    fn on_read(mut self, f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static) -> Probe<L> {
        self.read = Some(Box::new(f));
        self
    }

    fn on_write(mut self, f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static) -> Probe<L> {
        self.write = Some(Box::new(f));
        self
    }

    fn on_connect(
        mut self,
        f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static,
    ) -> Probe<L> {
        self.connect = Some(Box::new(f));
        self
    }

    fn on_expt(mut self, f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static) -> Probe<L> {
        self.expt = Some(Box::new(f));
        self
    }

    fn on_close(mut self, f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static) -> Probe<L> {
        self.close = Some(Box::new(f));
        self
    }

    fn on_accept(mut self, f: impl FnMut(&mut Channel<'_, L>, &Log) -> io::Result<()> + 'static) -> Probe<L> {
        self.accept = Some(Box::new(f));
        self
    }

    fn on_accepted(
        mut self,
        f: impl FnMut(&mut Channel<'_, L>, Socket, Address, &Log) -> io::Result<()> + 'static,
    ) -> Probe<L> {
        self.accepted = Some(Box::new(f));
        self
    }

    fn on_error(mut self, f: impl FnMut(&mut Channel<'_, L>, io::Error, &Log) + 'static) -> Probe<L> {
        self.error = Some(Box::new(f));
        self
    }

    fn unexpected(&self, callback: &str) -> io::Result<()> {
        self.log.push(format!("UNEXPECTED {} {callback}", self.name));
        Ok(())
    }
}

impl<L: Layer> Handler<L> for Probe<L> {
    fn readable(&mut self, d: &Dispatcher<L>) -> bool {
        self.readable.unwrap_or_else(|| L::readable(d))
    }

    fn writable(&mut self, d: &Dispatcher<L>) -> bool {
        self.writable.unwrap_or_else(|| L::writable(d))
    }

    fn handle_read(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        match &mut self.read {
            Some(f) => f(ch, &self.log),
            // The plain and with_send layers' default: a warning.
            None => L::handle_read(self, ch),
        }
    }

    fn handle_write(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        match &mut self.write {
            Some(f) => f(ch, &self.log),
            // A warning (plain), or a flush of the queue (with_send).
            None => L::handle_write(self, ch),
        }
    }

    fn handle_connect(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        match &mut self.connect {
            Some(f) => f(ch, &self.log),
            None => self.unexpected("handle_connect"),
        }
    }

    fn handle_expt(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        match &mut self.expt {
            Some(f) => f(ch, &self.log),
            None => self.unexpected("handle_expt"),
        }
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        match &mut self.close {
            Some(f) => f(ch, &self.log),
            None => self.unexpected("handle_close"),
        }
    }

    fn handle_accept(&mut self, ch: &mut Channel<'_, L>) -> io::Result<()> {
        if let Some(f) = &mut self.accept {
            return f(ch, &self.log);
        }
        if self.accepted.is_none() {
            return self.unexpected("handle_accept");
        }
        // asyncore's default handle_accept: accept, then handle_accepted.
        if let Some((sock, addr)) = ch.accept()? {
            self.handle_accepted(ch, sock, addr)?;
        }
        Ok(())
    }

    fn handle_accepted(&mut self, ch: &mut Channel<'_, L>, sock: Socket, addr: Address) -> io::Result<()> {
        match &mut self.accepted {
            Some(f) => f(ch, sock, addr, &self.log),
            None => self.unexpected("handle_accepted"),
        }
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, L>, err: io::Error) {
        match &mut self.error {
            Some(f) => f(ch, err, &self.log),
            None => panic!("{}: handle_error called on {:?}: {err} ({:?})", self.name, **ch, err.kind()),
        }
    }
}

fn unexpected_lines(log: &Log) -> Vec<String> {
    log.events().into_iter().filter(|e| e.starts_with("UNEXPECTED")).collect()
}

fn assert_no_unexpected(log: &Log, family: Family, backend: Backend) {
    let bad = unexpected_lines(log);
    assert!(
        bad.is_empty(),
        "{family:?}/{backend:?}: callbacks that must not fire did: {bad:?}\nfull log: {:?}",
        log.events()
    );
}

/// `common::loop_until`, but `done` gets the reactor mutably, as a look at
/// a channel's dispatcher ([`state`]) needs: runs loop iterations (10 ms
/// wait each) until `done` holds, failing with `what` after [`WAIT_LIMIT`].
fn loop_until_mut(
    reactor: &mut Reactor,
    backend: Backend,
    what: &str,
    mut done: impl FnMut(&mut Reactor) -> bool,
) {
    let deadline = Instant::now() + WAIT_LIMIT;
    while !done(reactor) {
        assert!(Instant::now() < deadline, "timed out after {WAIT_LIMIT:?} waiting for {what} ({backend:?})");
        reactor.poll_once(Some(Duration::from_millis(10)), backend).expect("poll_once failed");
    }
}

/// What `f` reads of the dispatcher of channel `t`, a `Probe<L>`'s (`None`
/// if there is no such channel).
fn state<L: Layer, R>(reactor: &mut Reactor, t: Token, f: impl FnOnce(&Dispatcher<L>) -> R) -> Option<R> {
    reactor.context_mut().call(t, |_: &mut Probe<L>, ch: &mut Channel<'_, L>| f(ch))
}

/// CPython's `loop_waiting_for_flag`: iterate until `done` holds (or a
/// strict callback misfired), then check no strict callback misfired.
fn wait_until(
    reactor: &mut Reactor,
    backend: Backend,
    family: Family,
    log: &Log,
    what: &str,
    mut done: impl FnMut(&mut Reactor) -> bool,
) {
    let what = format!("{what} ({family:?})");
    loop_until_mut(reactor, backend, &what, |r| done(r) || !unexpected_lines(log).is_empty());
    assert_no_unexpected(log, family, backend);
}

/// Waits for `event` to appear in the log.
fn wait_for(reactor: &mut Reactor, backend: Backend, family: Family, log: &Log, event: &str) {
    let probe = log.clone();
    wait_until(reactor, backend, family, log, &format!("{event:?}"), move |_| probe.contains(event));
}

/// A listening channel; removes its Unix-domain socket file when dropped.
struct Listening {
    token: Token,
    addr: Address,
}

impl Drop for Listening {
    fn drop(&mut self) {
        remove_socket_file(&self.addr);
    }
}

/// A listening dispatcher of `family` on a loopback address: CPython's
/// `BaseServer` setup with `reuse`, its `TestListener`s without.
fn listener(family: Family, reuse: bool) -> (Dispatcher, Address) {
    let mut d = Dispatcher::create_socket(family, SockType::Stream).unwrap();
    if reuse {
        d.set_reuse_addr().unwrap();
    }
    d.bind(listen_addr(family)).unwrap();
    d.listen(5).unwrap();
    let addr = d.local_addr().unwrap();
    (d, addr)
}

/// CPython's `BaseServer`: accepts, and hands each connection to `handler`
/// (which usually wraps it in a strict `Probe` named "handler").
fn base_server(
    reactor: &mut Reactor,
    family: Family,
    log: &Log,
    mut handler: impl FnMut(&mut Channel<'_>, Socket, &Log) -> io::Result<()> + 'static,
) -> Listening {
    let (d, addr) = listener(family, true);
    let server = Probe::new("server", log).on_accepted(move |ch, sock, _, log| handler(ch, sock, log));
    let token = reactor.add(d, server).unwrap();
    Listening { token, addr }
}

/// CPython's default `BaseServer` handler: a strict `BaseTestHandler`.
fn plain_handler(ch: &mut Channel<'_>, sock: Socket, log: &Log) -> io::Result<()> {
    ch.context().add(Dispatcher::new(sock)?, Probe::new("handler", log))?;
    Ok(())
}

/// CPython's `BaseClient`: create a socket of `family`, connect to `addr`.
/// A Unix-domain connect completes at once, so its `handle_connect` runs
/// inside `add`, as asyncore ran it inside `connect()`.
fn base_client(reactor: &mut Reactor, family: Family, addr: &Address, probe: Probe) -> Token {
    let mut d = Dispatcher::create_socket(family, SockType::Stream).unwrap();
    d.connect(addr.clone()).unwrap();
    reactor.add(d, probe).unwrap()
}

// ---------------------------------------------------------------------------
// BaseTestAPI: every family, every backend
// ---------------------------------------------------------------------------

fn handle_connect(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        let server = base_server(&mut reactor, family, &log, plain_handler);
        let client = Probe::new("client", &log).on_connect(|_, log| {
            log.push("client connect");
            Ok(())
        });
        let client = base_client(&mut reactor, family, &server.addr, client);
        if family == Family::Unix {
            // The connect completed at once: handle_connect ran inside add.
            assert!(log.contains("client connect"), "{backend:?}");
        }
        wait_for(&mut reactor, backend, family, &log, "client connect");
        // A few more iterations: handle_connect runs once, not per event.
        for _ in 0..3 {
            reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        }
        assert_eq!(log.count("client connect"), 1, "{family:?}/{backend:?}");
        assert!(state(&mut reactor, client, |d: &Dispatcher| d.connected()).unwrap());
        assert_no_unexpected(&log, family, backend);
    }
}

fn handle_accept(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // CPython's TestListener: no SO_REUSEADDR, handle_accept overridden
        // (and not accepting: level-triggered, it fires again and again).
        let (d, addr) = listener(family, false);
        let server = Probe::new("listener", &log).on_accept(|_, log| {
            log.push("listener accept");
            Ok(())
        });
        let token = reactor.add(d, server).unwrap();
        let _server = Listening { token, addr };
        base_client(&mut reactor, family, &_server.addr, Probe::client(&log));
        wait_for(&mut reactor, backend, family, &log, "listener accept");
    }
}

fn handle_accepted(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // handle_accept left to the default, which accepts and calls
        // handle_accepted with the connection and the peer's address.
        let (d, addr) = listener(family, false);
        let server = Probe::new("listener", &log).on_accepted(|_, sock, peer, log| {
            drop(sock);
            log.push(format!("peer family {:?}", peer.family()));
            log.push("listener accepted");
            Ok(())
        });
        let token = reactor.add(d, server).unwrap();
        let server = Listening { token, addr };
        base_client(&mut reactor, family, &server.addr, Probe::client(&log));
        wait_for(&mut reactor, backend, family, &log, "listener accepted");
        assert!(
            log.contains(&format!("peer family {family:?}")),
            "{family:?}/{backend:?}: {:?}",
            log.events()
        );
        assert!(state(&mut reactor, server.token, |d: &Dispatcher| d.accepting()).unwrap());
    }
}

fn handle_read(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // The server's handler sends 1024 bytes as soon as it exists.
        let server = base_server(&mut reactor, family, &log, |ch, sock, log| {
            let mut d = Dispatcher::new(sock)?;
            let sent = d.send(&[b'x'; 1024])?;
            log.push(format!("handler sent {sent}"));
            ch.context().add(d, Probe::new("handler", log))?;
            Ok(())
        });
        let client = Probe::client(&log).on_read(|ch, log| {
            let mut buf = [0u8; 2048];
            let n = ch.recv(&mut buf)?;
            if n > 0 && buf[..n].iter().all(|&b| b == b'x') {
                log.push("client read");
            } else {
                log.push(format!("UNEXPECTED client read {:?}", &buf[..n]));
            }
            Ok(())
        });
        base_client(&mut reactor, family, &server.addr, client);
        wait_for(&mut reactor, backend, family, &log, "client read");
        assert!(log.contains("handler sent 1024"), "{:?}", log.events());
    }
}

fn handle_write(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        let server = base_server(&mut reactor, family, &log, plain_handler);
        let client = Probe::client(&log).on_write(|_, log| {
            log.push("client write");
            Ok(())
        });
        base_client(&mut reactor, family, &server.addr, client);
        wait_for(&mut reactor, backend, family, &log, "client write");
    }
}

fn handle_close(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // The server's handler closes the connection as soon as it exists.
        let server = base_server(&mut reactor, family, &log, |_, sock, log| {
            let mut d = Dispatcher::new(sock)?;
            d.close();
            log.push("handler closed");
            Ok(())
        });
        // handle_close follows a recv that sees the end of file.
        let client = Probe::client(&log)
            .on_read(|ch, _| {
                let mut buf = [0u8; 1024];
                ch.recv(&mut buf)?;
                Ok(())
            })
            .on_close(|ch, log| {
                log.push("client close");
                ch.close();
                Ok(())
            });
        let client = base_client(&mut reactor, family, &server.addr, client);
        wait_for(&mut reactor, backend, family, &log, "client close");
        assert!(log.contains("handler closed"));
        assert_eq!(log.count("client close"), 1, "{family:?}/{backend:?}");
        assert!(!reactor.context().contains(client), "{family:?}/{backend:?}");
    }
}

fn handle_close_after_conn_broken(backend: Backend) {
    const DATA: [u8; 128] = [0; 128];
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // The server's handler reads 128 bytes, then closes; never writable.
        let server = base_server(&mut reactor, family, &log, |ch, sock, log| {
            let handler = Probe::new("handler", log).writable(false).on_read(|ch, log| {
                let mut buf = [0u8; DATA.len()];
                ch.recv(&mut buf)?;
                ch.close();
                log.push("handler closed");
                Ok(())
            });
            ch.context().add(Dispatcher::new(sock)?, handler)?;
            Ok(())
        });
        // The client writes on every write event: once the server is gone,
        // EPIPE/ECONNRESET must end in handle_close (or handle_expt), never
        // in handle_error (which panics).
        let client = Probe::client(&log)
            .on_write(|ch, _| {
                ch.send(&DATA)?;
                Ok(())
            })
            .on_close(|ch, log| {
                log.push("client close");
                ch.close();
                Ok(())
            })
            .on_expt(|ch, log| {
                log.push("client expt");
                ch.close();
                Ok(())
            });
        let client = base_client(&mut reactor, family, &server.addr, client);
        let probe = log.clone();
        wait_until(&mut reactor, backend, family, &log, "the client's handle_close", move |_| {
            probe.contains("client close") || probe.contains("client expt")
        });
        assert!(log.contains("handler closed"), "{:?}", log.events());
        assert!(!reactor.context().contains(client));
    }
}

fn handle_expt(backend: Backend) {
    // CPython: "Not applicable to AF_UNIX sockets" (no urgent data there).
    for family in IP_FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        // The server's handler sends one byte of urgent data at once.
        let server = base_server(&mut reactor, family, &log, |ch, sock, log| {
            sock.send_oob(&[244])?;
            ch.context().add(Dispatcher::new(sock)?, Probe::new("handler", log))?;
            Ok(())
        });
        let client = Probe::client(&log).on_expt(|ch, log| {
            let mut buf = [0u8; 1024];
            let n = ch.socket().expect("open").recv_oob(&mut buf)?;
            log.push(format!("client expt {:?}", &buf[..n]));
            Ok(())
        });
        base_client(&mut reactor, family, &server.addr, client);
        wait_for(&mut reactor, backend, family, &log, "client expt [244]");
    }
}

fn handle_error(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        let server = base_server(&mut reactor, family, &log, plain_handler);
        // handle_write fails with a plain error (CPython: 1.0 / 0);
        // handle_error must get that very error.
        let client = Probe::client(&log).on_write(|_, _| Err(io::Error::other("division by zero"))).on_error(
            |ch, err, log| {
                log.push(format!("client error {:?} {err}", err.kind()));
                assert!(ch.is_open());
            },
        );
        base_client(&mut reactor, family, &server.addr, client);
        wait_for(&mut reactor, backend, family, &log, "client error Other division by zero");
    }
}

fn connection_attributes(backend: Backend) {
    for family in FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        let server = base_server(&mut reactor, family, &log, plain_handler);
        let client = base_client(&mut reactor, family, &server.addr, Probe::client(&log));
        let flags = |r: &mut Reactor, t: Token| {
            state(r, t, |d: &Dispatcher| (d.connected(), d.accepting())).expect("channel present")
        };
        // Before the loop: the server listens; the client does not.
        assert_eq!(flags(&mut reactor, server.token), (false, true));
        assert!(!state(&mut reactor, client, |d: &Dispatcher| d.accepting()).unwrap());
        // Loop until the client is connected.
        wait_until(&mut reactor, backend, family, &log, "client connected", |r| {
            state(r, client, |d: &Dispatcher| d.connected()).unwrap_or(false)
        });
        assert_eq!(flags(&mut reactor, server.token), (false, true), "{family:?}");
        assert_eq!(flags(&mut reactor, client), (true, false), "{family:?}");
        // Close the client.
        let after = reactor
            .context_mut()
            .call(client, |_: &mut Probe, ch: &mut Channel<'_>| {
                ch.close();
                (ch.connected(), ch.accepting())
            })
            .unwrap();
        assert_eq!(after, (false, false), "{family:?}");
        assert!(!reactor.context().contains(client));
        assert_eq!(flags(&mut reactor, server.token), (false, true), "{family:?}");
        // Stop serving.
        let after = reactor
            .context_mut()
            .call(server.token, |_: &mut Probe, ch: &mut Channel<'_>| {
                ch.close();
                (ch.connected(), ch.accepting())
            })
            .unwrap();
        assert_eq!(after, (false, false), "{family:?}");
        assert!(!reactor.context().contains(server.token));
        assert_no_unexpected(&log, family, backend);
    }
}

fn create_socket(_backend: Backend) {
    for family in FAMILIES {
        let d = Dispatcher::create_socket(family, SockType::Stream).unwrap();
        let sock = d.socket().expect("a fresh dispatcher has a socket");
        assert_eq!(sock.sock_type().unwrap(), SockType::Stream, "{family:?}");
        assert_eq!(sock.local_addr().unwrap().family(), family);
        assert!(sock.is_nonblocking().unwrap(), "{family:?}: blocking");
        assert!(sock.is_cloexec().unwrap(), "{family:?}: inherited by exec");
        assert!(!d.connected() && !d.accepting() && !d.connecting());
    }
}

fn bind(_backend: Backend) {
    for family in IP_FAMILIES {
        let mut d1 = Dispatcher::create_socket(family, SockType::Stream).unwrap();
        d1.bind(listen_addr(family)).unwrap();
        d1.listen(5).unwrap();
        let bound = d1.local_addr().unwrap();
        assert_ne!(bound.as_inet().unwrap().port(), 0);
        let mut d2 = Dispatcher::create_socket(family, SockType::Stream).unwrap();
        let err = d2.bind(bound).expect_err("a second bind to a port in use");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{family:?}: {err}");
    }
}

fn set_reuse_addr(_backend: Backend) {
    for family in IP_FAMILIES {
        // A dispatcher on a fresh, unconnected socket: construction works
        // though it has no peer, and SO_REUSEADDR is off.
        let d = Dispatcher::new(Socket::new(family, SockType::Stream).unwrap()).unwrap();
        assert!(!d.connected() && !d.accepting());
        assert!(!d.socket().unwrap().reuse_addr().unwrap(), "{family:?}");
        drop(d);
        let mut d = Dispatcher::create_socket(family, SockType::Stream).unwrap();
        d.set_reuse_addr().unwrap();
        assert!(d.socket().unwrap().reuse_addr().unwrap(), "{family:?}");
    }
}

fn quick_connect(backend: Backend) {
    // bpo-10340: a client that connects and resets at once must not take
    // the server down. CPython: IPv4 and IPv6 only.
    for family in IP_FAMILIES {
        let log = Log::default();
        let mut reactor = Reactor::new();
        let server = base_server(&mut reactor, family, &log, |ch, sock, log| {
            // Wrapping a socket whose peer is already gone must work: it is
            // a channel that is not connected.
            let d = Dispatcher::new(sock)?;
            log.push(format!("handler connected={}", d.connected()));
            ch.context().add(d, Probe::new("handler", log))?;
            Ok(())
        });
        // A blocking client: connect (the kernel completes it from the
        // backlog), then close with SO_LINGER {on, 0}: a reset.
        let client = TcpStream::connect(server.addr.as_inet().unwrap()).unwrap();
        let client = Socket::from(client);
        client.set_linger_zero().unwrap();
        drop(client);
        let probe = log.clone();
        wait_until(&mut reactor, backend, family, &log, "the reset connection's accept", move |_| {
            probe.events().iter().any(|e| e.starts_with("handler connected="))
        });
        // CPython runs the server loop five times; nothing may escape.
        for _ in 0..5 {
            reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
        }
        assert_no_unexpected(&log, family, backend);
        assert!(reactor.context().contains(server.token));
        assert!(state(&mut reactor, server.token, |d: &Dispatcher| d.accepting()).unwrap());
        // Linux hands out the reset connection; its getpeername fails.
        #[cfg(target_os = "linux")]
        assert!(log.contains("handler connected=false"), "{family:?}/{backend:?}: {:?}", log.events());
    }
}

// ---------------------------------------------------------------------------
// HelperFunctionTests: readwrite / readwriteexc, over real sockets
// ---------------------------------------------------------------------------

/// Which callback a `Faulty` handler fails in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cb {
    Read,
    Write,
    Expt,
    Close,
}

/// How it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    /// A plain error (CPython's `crashingdummy`).
    Plain,
    /// A disconnect errno.
    Disconnect,
    /// `exit_now()` (CPython's `exitingdummy`, `raise ExitNow`).
    Exit,
}

const CALLBACKS: [Cb; 4] = [Cb::Read, Cb::Write, Cb::Expt, Cb::Close];

/// Logs every callback as `faulty <callback>` and fails in `at`.
struct Faulty {
    log: Log,
    at: Cb,
    how: Fail,
    readable: bool,
    writable: bool,
    /// For `Fail::Exit`: if the loop comes back to us after `exit_now`, close
    /// everything so that `run` ends and the test can report it.
    bystander: Option<Token>,
    hits: usize,
}

impl Faulty {
    fn hit(&mut self, ch: &mut Channel<'_>, cb: Cb) -> io::Result<()> {
        self.log.push(format!("faulty {cb:?}"));
        if cb != self.at {
            return Ok(());
        }
        self.hits += 1;
        match self.how {
            Fail::Plain => Err(io::Error::other(format!("boom in {cb:?}"))),
            Fail::Disconnect => Err(io::Error::from_raw_os_error(DISCONNECTED[0])),
            Fail::Exit if self.hits == 1 => {
                ch.context().exit_now();
                Ok(())
            }
            Fail::Exit => {
                self.log.push("faulty called again after exit_now");
                if let Some(t) = self.bystander {
                    ch.context().close(t);
                }
                ch.close();
                Ok(())
            }
        }
    }
}

impl Handler for Faulty {
    fn readable(&mut self, _: &Dispatcher) -> bool {
        self.readable
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        self.writable
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.hit(ch, Cb::Read)?;
        if self.at == Cb::Close {
            // See the end of file: handle_close follows.
            let mut buf = [0u8; 16];
            ch.recv(&mut buf)?;
        }
        Ok(())
    }

    fn handle_write(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.hit(ch, Cb::Write)
    }

    fn handle_expt(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.hit(ch, Cb::Expt)
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.hit(ch, Cb::Close)?;
        if self.at != Cb::Close {
            ch.close();
        }
        Ok(())
    }

    fn handle_connect(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("UNEXPECTED faulty handle_connect");
        Ok(())
    }

    fn handle_error(&mut self, _: &mut Channel<'_>, err: io::Error) {
        self.log.push(format!("faulty error: {err}"));
    }
}

/// A channel that is always writable and logs each write event.
struct Bystander {
    log: Log,
}

impl Handler for Bystander {
    fn readable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_write(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("bystander write");
        Ok(())
    }
}

/// A connected dispatcher on which `cb`'s event is pending (or about to
/// be), and the sockets that must stay open meanwhile. Returns also the
/// (readable, writable) interest the faulty handler should declare.
fn faulty_setup(cb: Cb, backend: Backend) -> (Dispatcher, Vec<Socket>, bool, bool) {
    match cb {
        Cb::Read => {
            // Data waiting; also writable, so a write event is due too and
            // must not run after the read failed.
            let (a, b) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
            assert_eq!(b.send(b"x").unwrap(), 1);
            (Dispatcher::new(a).unwrap(), vec![b], true, true)
        }
        Cb::Write => {
            let (a, b) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
            (Dispatcher::new(a).unwrap(), vec![b], false, true)
        }
        Cb::Close => {
            // The peer is gone: a read sees the end of file, then close.
            let (a, b) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
            drop(b);
            (Dispatcher::new(a).unwrap(), vec![], true, false)
        }
        Cb::Expt => {
            // Urgent data needs TCP: a loopback connection.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (conn, _) = listener.accept().unwrap();
            let peer = Socket::from(peer);
            assert_eq!(peer.send_oob(b"!").unwrap(), 1);
            // Wait (in a scratch reactor) until the urgent byte is there,
            // so it is ready in the first iteration of the real one.
            let log = Log::default();
            let mut scratch = Reactor::new();
            let primer = Probe::new("primer", &log).writable(false).on_expt(|_, log| {
                log.push("urgent data ready");
                Ok(())
            });
            let t = scratch.add(Dispatcher::new(conn).unwrap(), primer).unwrap();
            wait_for(&mut scratch, backend, Family::Inet, &log, "urgent data ready");
            let (d, _) = scratch.context_mut().remove::<Plain, Probe>(t).unwrap();
            (d, vec![peer, Socket::from(listener)], true, false)
        }
    }
}

fn faulty(cb: Cb, how: Fail, backend: Backend) -> (Faulty, Dispatcher, Vec<Socket>) {
    let (d, keep, readable, writable) = faulty_setup(cb, backend);
    let h = Faulty { log: Log::default(), at: cb, how, readable, writable, bystander: None, hits: 0 };
    (h, d, keep)
}

/// The callbacks that run before (and including) the failing one.
fn callbacks_up_to(cb: Cb) -> Vec<String> {
    match cb {
        Cb::Close => vec!["faulty Read".into(), "faulty Close".into()],
        other => vec![format!("faulty {other:?}")],
    }
}

fn readwrite_plain_error(backend: Backend) {
    for cb in CALLBACKS {
        let (h, d, _keep) = faulty(cb, Fail::Plain, backend);
        let log = h.log.clone();
        let mut reactor = Reactor::new();
        let t = reactor.add(d, h).unwrap();
        let error = format!("faulty error: boom in {cb:?}");
        let probe = log.clone();
        loop_until(&mut reactor, backend, &error, |_| probe.contains(&error));
        let mut expected = callbacks_up_to(cb);
        expected.push(error);
        // Exactly these: nothing else ran for the channel in that pass (a
        // failed read is not followed by the write that was also due).
        assert_eq!(log.events(), expected, "{cb:?}/{backend:?}");
        // handle_error (overridden here) did not close the channel.
        assert!(reactor.context().contains(t), "{cb:?}/{backend:?}");
    }
}

fn readwrite_disconnect_error(backend: Backend) {
    // A disconnect from handle_close itself would only loop back into
    // handle_close; asyncore let it escape. Not a scenario.
    for cb in [Cb::Read, Cb::Write, Cb::Expt] {
        let (h, d, _keep) = faulty(cb, Fail::Disconnect, backend);
        let log = h.log.clone();
        let mut reactor = Reactor::new();
        let t = reactor.add(d, h).unwrap();
        loop_until(&mut reactor, backend, "the channel to close", |r| !r.context().contains(t));
        let mut expected = callbacks_up_to(cb);
        expected.push("faulty Close".into());
        assert_eq!(log.events(), expected, "{cb:?}/{backend:?}");
    }
}

fn readwriteexc_exit_now(backend: Backend) {
    for cb in CALLBACKS {
        let (mut h, d, _keep) = faulty(cb, Fail::Exit, backend);
        let log = h.log.clone();
        let mut reactor = Reactor::new();
        // Another channel, ready on every iteration: it may run before the
        // faulty one in the iteration that exits, never after.
        let (a, _b) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let bystander = reactor.add(Dispatcher::new(a).unwrap(), Bystander { log: log.clone() }).unwrap();
        h.bystander = Some(bystander);
        let t = reactor.add(d, h).unwrap();
        let opts =
            LoopOptions::default().backend(backend).timeout(Some(Duration::from_millis(10))).count(1000);
        reactor.run(opts).unwrap();
        let events = log.events();
        let faulty_events: Vec<String> = events.iter().filter(|e| e.starts_with("faulty")).cloned().collect();
        assert_eq!(faulty_events, callbacks_up_to(cb), "{cb:?}/{backend:?}: {events:?}");
        assert_eq!(
            events.last(),
            faulty_events.last(),
            "{cb:?}/{backend:?}: a callback ran after exit_now: {events:?}"
        );
        assert!(log.count("bystander write") <= 1, "{cb:?}/{backend:?}: the loop went on: {events:?}");
        assert!(reactor.context().exit_requested());
        assert!(reactor.context().contains(t) && reactor.context().contains(bystander));
    }
}

// ---------------------------------------------------------------------------
// closeall, basic, repr, log, log_info, unhandled, handle_error's default
// ---------------------------------------------------------------------------

/// Records any callback at all.
struct Idle {
    log: Log,
}

impl Handler for Idle {
    fn handle_read(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("UNEXPECTED idle handle_read");
        Ok(())
    }

    fn handle_write(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("UNEXPECTED idle handle_write");
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.log.push("UNEXPECTED idle handle_close");
        ch.close();
        Ok(())
    }
}

#[test]
fn closeall() {
    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut channels = Vec::new();
    for _ in 0..10 {
        let (a, peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let t = reactor.add(Dispatcher::new(a).unwrap(), Idle { log: log.clone() }).unwrap();
        // Still open: nothing to read, and no end of file either.
        let err = peer.recv(&mut [0u8; 1]).expect_err("nothing sent yet");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        channels.push((t, peer));
    }
    assert_eq!(reactor.context().len(), 10);
    reactor.context_mut().close_all();
    assert!(reactor.context().is_empty());
    assert_eq!(reactor.context().len(), 0);
    assert_eq!(reactor.context().tokens().count(), 0);
    for (t, peer) in &channels {
        assert!(!reactor.context().contains(*t));
        assert_eq!(peer.recv(&mut [0u8; 1]).unwrap(), 0, "the socket is closed");
    }
    assert!(log.events().is_empty(), "{:?}", log.events());
}

/// All of asyncore's defaults.
struct Defaults;
impl Handler for Defaults {}

#[test]
fn basic() {
    let d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap();
    assert!(Defaults.readable(&d));
    assert!(Defaults.writable(&d));
}

#[test]
fn repr_debug() {
    let d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap();
    let fd = d.fileno().unwrap();
    assert_eq!(format!("{d:?}"), format!("<Dispatcher fd={fd}>"));

    let (mut server, _) = listener(Family::Inet, true);
    let fd = server.fileno().unwrap();
    let shown = format!("{server:?}");
    assert!(
        shown.starts_with("<Dispatcher listening 127.0.0.1:") && shown.ends_with(&format!(" fd={fd}>")),
        "{shown}"
    );
    server.close();
    let shown = format!("{server:?}");
    assert!(
        shown.starts_with("<Dispatcher ") && shown.ends_with(" closed>") && !shown.contains("listening"),
        "{shown}"
    );
}

/// Only `log_info` overridden: records every line, warnings included
/// (CPython's `ignore_log_types = ()`).
struct Recorder {
    log: Log,
}

impl Handler for Recorder {
    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.log.push(format!("{kind}: {message}"));
    }
}

const UNHANDLED_CONNECT: &str = "warning: unhandled connect event";
const UNHANDLED_WRITE: &str = "warning: unhandled write event";
const UNHANDLED_READ: &str = "warning: unhandled read event";
const UNHANDLED_EXPT: &str = "warning: unhandled incoming priority event";

fn unhandled(backend: Backend) {
    let log = Log::default();
    let mut reactor = Reactor::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap();
    d.connect(addr).unwrap();
    let t = reactor.add(d, Recorder { log: log.clone() }).unwrap();
    let (server, _) = listener.accept().unwrap();
    // The connect completes: handle_connect, then (default writable)
    // handle_write, both in the first iteration with an event.
    let probe = log.clone();
    loop_until(&mut reactor, backend, "connect and write warnings", |_| {
        probe.contains(UNHANDLED_CONNECT) && probe.contains(UNHANDLED_WRITE)
    });
    assert_eq!(log.events()[..2], [UNHANDLED_CONNECT, UNHANDLED_WRITE]);
    // Data and urgent data: handle_read and handle_expt.
    let server = Socket::from(server);
    assert_eq!(server.send(b"spam").unwrap(), 4);
    assert_eq!(server.send_oob(b"!").unwrap(), 1);
    let probe = log.clone();
    loop_until(&mut reactor, backend, "read and expt warnings", |_| {
        probe.contains(UNHANDLED_READ) && probe.contains(UNHANDLED_EXPT)
    });
    let events = log.events();
    let known = [UNHANDLED_CONNECT, UNHANDLED_WRITE, UNHANDLED_READ, UNHANDLED_EXPT];
    assert!(events.iter().all(|e| known.contains(&e.as_str())), "{backend:?}: {events:?}");
    assert_eq!(log.count(UNHANDLED_CONNECT), 1);
    // Nothing closed.
    let connected = reactor.context_mut().call(t, |_: &mut Recorder, ch: &mut Channel<'_>| ch.connected());
    assert_eq!(connected, Some(true));
}

/// Fails every write; everything else is asyncore's default.
struct FailingWriter {
    log: Log,
}

impl Handler for FailingWriter {
    fn handle_write(&mut self, _: &mut Channel<'_>) -> io::Result<()> {
        Err(io::Error::other("I don't like spam!"))
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.log.push(format!("{kind}: {message}"));
    }
}

fn handle_error_default_reports(backend: Backend) {
    let log = Log::default();
    let mut reactor = Reactor::new();
    let (a, _peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let d = Dispatcher::new(a).unwrap();
    let fd = d.fileno().unwrap();
    let t = reactor.add(d, FailingWriter { log: log.clone() }).unwrap();
    loop_until(&mut reactor, backend, "the default handle_error", |r| !r.context().contains(t));
    let events = log.events();
    assert_eq!(events.len(), 2, "{backend:?}: {events:?}");
    // The error line names the error and the channel it happened on.
    assert!(events[0].starts_with("error: "), "{events:?}");
    assert!(events[0].contains("I don't like spam!"), "{events:?}");
    assert!(events[0].contains("<Dispatcher connected"), "{events:?}");
    assert!(events[0].contains(&format!("fd={fd}>")), "{events:?}");
    // Then the default handle_close, which closed the channel.
    assert_eq!(events[1], "warning: unhandled close event");
}

// ---------------------------------------------------------------------------
// DispatcherWithSendTests
// ---------------------------------------------------------------------------

/// Sends `data` twice and a newline from a `with_send()` client to a
/// blocking capture server on a thread, which returns everything it read
/// until the end of file. With `stall`, the server reads nothing until a
/// loop iteration passes with output queued and no write event (the
/// kernel's buffers are full), so the queue must hold its bytes across
/// iterations in which the socket takes nothing.
fn send_through(backend: Backend, data: &[u8], stall: bool) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, wait_for_go) = mpsc::channel::<()>();
    let server = thread::spawn(move || -> io::Result<Vec<u8>> {
        let (mut conn, _) = listener.accept()?;
        if stall {
            let _ = wait_for_go.recv_timeout(WAIT_LIMIT);
        }
        conn.set_read_timeout(Some(WAIT_LIMIT))?;
        let mut got = Vec::new();
        conn.read_to_end(&mut got)?;
        Ok(got)
    });

    let log = Log::default();
    let mut reactor = Reactor::new();
    let mut d = Dispatcher::create_socket(Family::Inet, SockType::Stream).unwrap().with_send();
    d.connect(addr).unwrap();
    // CPython's dispatcherwithsend_noread: never readable, connect is fine.
    // handle_write is the default flush, watched for short sends.
    let client = Probe::<WithSend>::of("client", &log)
        .readable(false)
        .on_connect(|_, log| {
            log.push("client connect");
            Ok(())
        })
        .on_write(|ch, log| {
            log.push("client write");
            ch.initiate_send()
        });
    let t = reactor.add(d, client).unwrap();
    // CPython sleeps for the connect; we wait for it.
    wait_for(&mut reactor, backend, Family::Inet, &log, "client connect");
    reactor
        .context_mut()
        .call(t, |_: &mut Probe<WithSend>, ch: &mut Channel<'_, WithSend>| -> io::Result<()> {
            ch.send_buffered(data)?;
            ch.send_buffered(data)?;
            ch.send_buffered(b"\n")
        })
        .unwrap()
        .unwrap();
    if stall {
        // Before each iteration: did the last one bring a write event?
        let probe = log.clone();
        let mut writes_before: Option<usize> = None;
        loop_until_mut(&mut reactor, backend, "the socket to fill", |r| {
            let writes = probe.count("client write");
            let stalled = writes_before == Some(writes);
            writes_before = Some(writes);
            stalled || pending_output(r, t) == 0
        });
        // The stall really happened: bytes stayed queued while the socket
        // took none.
        assert!(pending_output(&mut reactor, t) > 0, "{backend:?}: the socket never filled");
        go.send(()).unwrap();
    }
    wait_until(&mut reactor, backend, Family::Inet, &log, "the output queue to drain", |r| {
        pending_output(r, t) == 0
    });
    // Everything is with the kernel: closing now still delivers it all.
    reactor.context_mut().close(t);
    let got = server.join().unwrap().unwrap();
    let mut expected = [data, data].concat();
    expected.push(b'\n');
    assert_eq!(got.len(), expected.len(), "{backend:?}");
    assert!(got == expected, "{backend:?}: bytes differ or out of order");
}

/// The bytes queued on the `with_send()` client `t`.
fn pending_output(reactor: &mut Reactor, t: Token) -> usize {
    state(reactor, t, |d: &Dispatcher<WithSend>| d.pending_output()).expect("the client is there")
}

fn dispatcher_with_send_send(backend: Backend) {
    // CPython's case: a short line, to a server that reads at once.
    send_through(backend, b"Suppose there isn't a 16-ton weight?", false);
    // 8 MiB, more than loopback's buffers hold: the queue drains over
    // short sends.
    send_through(backend, &pattern(4 << 20, 7), true);
}

on_every_backend!(
    handle_connect,
    handle_accept,
    handle_accepted,
    handle_read,
    handle_write,
    handle_close,
    handle_close_after_conn_broken,
    handle_expt,
    handle_error,
    connection_attributes,
    create_socket,
    bind,
    set_reuse_addr,
    quick_connect,
    readwrite_plain_error,
    readwrite_disconnect_error,
    readwriteexc_exit_now,
    unhandled,
    handle_error_default_reports,
    dispatcher_with_send_send,
);
