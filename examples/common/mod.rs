//! What every example program shares: its command line and its messages,
//! and for the servers what makes them safe to expose: timeouts, a cap on
//! connections, and worker threads.
#![allow(dead_code)] // each example uses part of this module

use std::cell::Cell;
use std::io::{self, Write};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use pollreactor::{
    Address, Backend, Channel, Context, Dispatcher, Handler, InterestMode, LogKind, LoopOptions,
    ParseBackendError, Reactor, Socket, Token, Waker,
};

/// The options of the example servers: `--addr HOST:PORT --backend NAME
/// --interest MODE`.
pub struct ServerArgs {
    pub addr: String,
    pub backend: Backend,
    /// `when-changed` (the servers' default: O(active) iterations) or
    /// `every-iteration` (asyncore's).
    pub interest: InterestMode,
}

impl ServerArgs {
    /// The defaults: `addr`, poll, when-changed.
    pub fn new(addr: &str) -> ServerArgs {
        ServerArgs { addr: addr.to_string(), backend: Backend::Poll, interest: InterestMode::WhenChanged }
    }

    /// Parses the command line (`--addr`, `--backend`, `--interest`);
    /// prints `usage` and exits for `--help`, or prints the problem and
    /// exits 2 for anything it does not understand.
    pub fn parse(default_addr: &str, usage: &str) -> ServerArgs {
        parse_command_line(default_addr, usage, |_, _| false)
    }
}

/// What a server facing clients it does not trust needs (the options
/// `--idle-timeout`, `--send-timeout`, `--max-conns`, `--workers`), with
/// nginx's choices where it has one.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection that sends nothing for this long is closed
    /// (`Dispatcher::set_input_timeout`). `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A connection whose queued output does not move for this long (the
    /// client stopped reading) is closed (`Dispatcher::set_send_timeout`;
    /// nginx's `send_timeout`). `None`: never.
    pub send_timeout: Option<Duration>,
    /// The most connections a worker serves at once; at the limit it stops
    /// accepting, and new clients wait in the listen backlog. `None`: no limit.
    pub max_conns: Option<usize>,
    /// How many threads serve, each with its own reactor and listener.
    pub workers: usize,
}

impl Default for Limits {
    /// Idle 300 s, send 60 s, 10,000 connections, one worker.
    fn default() -> Limits {
        Limits {
            idle_timeout: Some(Duration::from_secs(300)),
            send_timeout: Some(Duration::from_secs(60)),
            max_conns: Some(10_000),
            workers: 1,
        }
    }
}

/// Parses a server's command line: `--addr`, `--backend`, `--interest`,
/// the [`Limits`] options (`limits` holds the defaults), and whatever
/// `extra(option, rest_of_argv)` takes (it returns false for an option it
/// does not know, and may refuse one of ours with [`usage_error`]).
pub fn parse_server(
    default_addr: &str,
    usage: &str,
    mut limits: Limits,
    mut extra: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> bool,
) -> (ServerArgs, Limits) {
    let args = parse_command_line(default_addr, usage, |option, argv| {
        if extra(option, argv) {
            return true;
        }
        match option {
            "--idle-timeout" => limits.idle_timeout = seconds_of(option, argv.next(), usage),
            "--send-timeout" => limits.send_timeout = seconds_of(option, argv.next(), usage),
            "--max-conns" => limits.max_conns = Some(count_of(option, argv.next(), usage)).filter(|&n| n > 0),
            "--workers" => limits.workers = count_of(option, argv.next(), usage).max(1),
            _ => return false,
        }
        true
    });
    (args, limits)
}

/// The loop every server's parser runs: the options of [`ServerArgs`],
/// and `more(option, rest_of_argv)` for the others.
fn parse_command_line(
    default_addr: &str,
    usage: &str,
    mut more: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> bool,
) -> ServerArgs {
    let mut args = ServerArgs::new(default_addr);
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                say(usage);
                std::process::exit(0);
            }
            "--addr" => args.addr = value_of(&arg, argv.next(), usage),
            "--backend" => args.backend = backend_of(&value_of(&arg, argv.next(), usage), usage),
            "--interest" => args.interest = interest_of(&value_of(&arg, argv.next(), usage), usage),
            other if more(other, &mut argv) => {}
            other => usage_error(&format!("unknown argument {other:?}"), usage),
        }
    }
    args
}

/// The value after an option, or a usage error if there is none.
pub fn value_of(option: &str, value: Option<String>, usage: &str) -> String {
    value.unwrap_or_else(|| usage_error(&format!("{option} needs a value"), usage))
}

/// A number of seconds (fractions allowed) after `option`; 0 means never
/// (`None`).
pub fn seconds_of(option: &str, value: Option<String>, usage: &str) -> Option<Duration> {
    let value = value_of(option, value, usage);
    match parse_seconds(&value) {
        Some(t) if t.is_zero() => None,
        Some(t) => Some(t),
        None => usage_error(&format!("{option} needs seconds, not {value:?}"), usage),
    }
}

/// Seconds written as decimal digits with at most nine after the point
/// (a `Duration` counts nanoseconds): `75`, `1.5`, `.25`. `None` for
/// anything else: a sign, an exponent, a tenth digit, too many seconds.
///
/// Exact, and light: `str::parse::<f64>` and its tables made every server
/// binary ~18 KB bigger, for a flag or two.
pub fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.len() > 9 {
        return None;
    }
    // The fraction's digits, scaled to nine, are the nanoseconds: ".25" is 250000000.
    let nanos = decimal(fraction)? * 10u64.pow(9 - fraction.len() as u32);
    Some(Duration::new(decimal(whole)?, nanos as u32))
}

/// The value of a string of decimal digits ("" is 0); `None` if another
/// character is in it or the value is past `u64::MAX`.
fn decimal(digits: &str) -> Option<u64> {
    digits.bytes().try_fold(0u64, |n, b| {
        let digit = (b as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

/// A whole number after `option`.
pub fn count_of(option: &str, value: Option<String>, usage: &str) -> usize {
    let value = value_of(option, value, usage);
    value.parse().unwrap_or_else(|_| usage_error(&format!("{option} needs a number, not {value:?}"), usage))
}

/// The backend `--backend NAME` names, or a usage error.
pub fn backend_of(name: &str, usage: &str) -> Backend {
    name.parse().unwrap_or_else(|e: ParseBackendError| usage_error(&e.to_string(), usage))
}

/// The mode `--interest NAME` names, or a usage error.
pub fn interest_of(name: &str, usage: &str) -> InterestMode {
    match name {
        "when-changed" => InterestMode::WhenChanged,
        "every-iteration" => InterestMode::EveryIteration,
        other => usage_error(
            &format!("unknown interest mode {other:?}: expected when-changed or every-iteration"),
            usage,
        ),
    }
}

/// Reports a command-line problem and exits with status 2.
pub fn usage_error(problem: &str, usage: &str) -> ! {
    eprintln!("{}: {problem}\n\n{usage}", program());
    std::process::exit(2);
}

/// Prints a line on stdout and flushes it, so a script reading our output
/// sees it at once. A closed stdout is not worth dying for: errors are ignored.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reports a fatal error as `program: what: error` and returns failure.
pub fn fail(what: &str, err: impl std::fmt::Display) -> ExitCode {
    eprintln!("{}: {what}: {err}", program());
    ExitCode::FAILURE
}

fn program() -> String {
    std::env::args().next().and_then(|p| p.rsplit('/').next().map(str::to_string)).unwrap_or_default()
}

/// The listen backlog of every example server: nginx's on Linux (511),
/// not the manual's 5. wrk opens 100 connections at once, a full backlog
/// drops SYNs, and at `--max-conns` the backlog is where clients wait.
pub const BACKLOG: i32 = 511;

/// Closes every channel and ends the loop: what SIGINT and SIGTERM do.
pub fn stop(ctx: &mut Context) {
    ctx.close_all();
    ctx.exit_now();
}

/// SIGINT and SIGTERM close every channel and end the loop, so the
/// program exits 0.
pub fn stop_on_signals(reactor: &mut Reactor) -> std::io::Result<()> {
    stop_all_on_signals(reactor, Vec::new())
}

/// SIGINT and SIGTERM stop this reactor and, through their wakers, the
/// other workers' (only one reactor per process receives signals).
fn stop_all_on_signals(reactor: &mut Reactor, others: Vec<Waker>) -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let others = others.clone();
        reactor.on_signal(signal, move |ctx: &mut Context| {
            for waker in &others {
                waker.post(stop);
            }
            stop(ctx);
        })?;
    }
    Ok(())
}

/// Traces each iteration to stderr when `POLLREACTOR_TRACE=1`.
pub fn trace_if_asked(reactor: &mut Reactor) {
    if std::env::var_os("POLLREACTOR_TRACE").is_some_and(|v| v == "1") {
        reactor.set_trace(Some(Box::new(std::io::stderr())));
    }
}

/// Listens on `args.addr`, prints `listening on HOST:PORT`, and runs the
/// loop until SIGINT or SIGTERM, which close every channel and exit 0:
/// one thread, no limits (see [`serve_with_limits`] for those).
pub fn serve(args: &ServerArgs, listener: impl Handler) -> ExitCode {
    let run = || -> std::io::Result<()> {
        let server = Dispatcher::listen_tcp(args.addr.as_str(), BACKLOG)?;
        let addr = server.local_addr()?;
        let mut reactor = Reactor::new();
        reactor.set_interest_mode(args.interest);
        trace_if_asked(&mut reactor);
        reactor.add(server, listener)?;
        stop_on_signals(&mut reactor)?;
        say(&format!("listening on {addr}"));
        reactor.run(LoopOptions::default().backend(args.backend).timeout(None))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("serving on {}", args.addr), e),
    }
}

/// A reactor, tracing each iteration to stderr when `POLLREACTOR_TRACE=1`.
pub fn new_reactor() -> Reactor {
    let mut reactor = Reactor::new();
    trace_if_asked(&mut reactor);
    reactor
}

// ---------------------------------------------------------------------------
// --idle-timeout, --send-timeout and --max-conns: one worker's connections
// ---------------------------------------------------------------------------

/// One worker's connections: the timeouts each gets and how many there
/// are, against `--max-conns`. The listener's handler gets one (a cheap
/// clone) and calls [`admit`](Conns::admit) for each connection it adds.
///
/// The policy at the limit is the library's when it runs out of
/// descriptors (EMFILE): stop accepting. The listener's `readable()` answers false while the
/// worker is full, so no accept(2) is made, the listener's fd leaves the
/// wait (with `POLLREACTOR_TRACE=1` it is gone from `want[]`), and new
/// clients wait in the kernel's listen backlog: connected, unanswered.
/// When a connection ends, the listener is asked again and accepts the
/// next one.
#[derive(Clone)]
pub struct Conns(Rc<Shared>);

struct Shared {
    limits: Limits,
    /// How many connections hold a [`Place`].
    open: Cell<usize>,
    /// The listener told the reactor it stopped accepting (a `readable()`
    /// that answered false because the worker was full).
    stopped: Cell<bool>,
    listener: Cell<Option<Token>>,
    /// This reactor's waker, for the word "accept again" (see [`Place`]).
    waker: Waker,
}

impl Conns {
    fn new(limits: Limits, waker: Waker) -> Conns {
        Conns(Rc::new(Shared {
            limits,
            open: Cell::new(0),
            stopped: Cell::new(false),
            listener: Cell::new(None),
            waker,
        }))
    }

    /// Gives a new connection its timeouts (`--idle-timeout` as an input
    /// timeout: only what the client sends counts; `--send-timeout`) and
    /// counts it. The returned [`Place`] belongs in the connection's
    /// handler: it counts the connection until the handler is dropped.
    pub fn admit<L>(&self, conn: &mut Dispatcher<L>) -> Place {
        conn.set_input_timeout(self.0.limits.idle_timeout);
        conn.set_send_timeout(self.0.limits.send_timeout);
        self.0.open.set(self.0.open.get() + 1);
        Place(self.clone())
    }

    /// Whether another connection may be accepted.
    pub fn has_room(&self) -> bool {
        self.0.limits.max_conns.is_none_or(|max| self.0.open.get() < max)
    }
}

/// A connection's place under `--max-conns`, kept in its handler.
///
/// The reactor drops a channel's handler when the channel leaves the map,
/// however it ended: a close the library made (after `handle_close`), the
/// program's own `close()` (which skips `handle_close`), `close_all`. So
/// counting in `Drop` misses none of them.
///
/// If the listener had stopped accepting, it must be asked `readable()`
/// again: in the servers' `--interest when-changed` mode the reactor asks
/// a channel only after its own callbacks ran or when told with
/// `Context::interest_changed`. A handler being dropped has no `Context`
/// at hand, so the word goes through the reactor's own [`Waker`]: the
/// closure runs on this loop's thread at its next iteration.
pub struct Place(Conns);

impl Drop for Place {
    fn drop(&mut self) {
        let shared = &self.0 .0;
        shared.open.set(shared.open.get() - 1);
        if shared.stopped.replace(false) {
            if let Some(listener) = shared.listener.get() {
                shared.waker.post(move |ctx| ctx.interest_changed(listener));
            }
        }
    }
}

/// A listener's handler under `--max-conns`: `inner` makes the
/// connections (its `handle_accepted`), this decides when to accept.
struct Capped<H> {
    inner: H,
    conns: Conns,
}

impl<H: Handler> Handler for Capped<H> {
    /// Not while the worker is full: the listener leaves the wait, and
    /// new clients wait in the backlog.
    fn readable(&mut self, d: &Dispatcher) -> bool {
        if !self.conns.has_room() {
            self.conns.0.stopped.set(true);
            return false;
        }
        self.inner.readable(d)
    }

    /// The default `handle_accept` (one connection per event at a quiet
    /// listener, a batch in a burst: `accept_batch`), but stopping at the
    /// limit: the rest stay in the backlog.
    fn handle_accept(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        for _ in 0..ch.accept_batch() {
            if !self.conns.has_room() {
                return Ok(());
            }
            match ch.accept()? {
                Some((sock, addr)) => self.inner.handle_accepted(ch, sock, addr)?,
                None if ch.accept_paused() => {
                    let message = format!("{ch:?} is out of descriptors: not accepting for a while");
                    self.inner.log_info(&message, LogKind::Error);
                    return Ok(());
                }
                None => return Ok(()),
            }
            if !ch.accepting() {
                return Ok(()); // handle_accepted closed the listener
            }
        }
        Ok(())
    }

    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        self.inner.handle_accepted(ch, sock, addr)
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        self.inner.handle_error(ch, err)
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.inner.log_info(message, kind)
    }
}

// ---------------------------------------------------------------------------
// --workers: one reactor per thread
// ---------------------------------------------------------------------------

/// One worker's part of `--workers`: what a server's own `serve` function
/// needs to make its loop, which it then runs itself:
///
/// ```ignore
/// let mut reactor = Reactor::new();
/// worker.add_listener(&mut reactor, |conns| EchoServer { conns })?;
/// reactor.run(worker.options())
/// ```
pub struct Worker<'a> {
    args: &'a ServerArgs,
    limits: &'a Limits,
    /// The first worker's listener, bound before the threads start (so
    /// `--addr HOST:0` has its port); the others bind the same address.
    listener: Option<Dispatcher>,
    addr: &'a str,
    /// Where the workers meet: the others report there, the first one
    /// waits there for them all.
    roll: &'a Roll,
    /// The first worker: it receives the signals and says `listening on`.
    first: bool,
    /// One of the others, yet to report to the roll.
    unreported: bool,
}

impl Worker<'_> {
    /// Listens (create_socket, set_reuse_addr, bind, listen: in one call,
    /// with `SO_REUSEPORT` when there are several workers) and adds the
    /// listener, whose handler `listener(conns)` makes, to `reactor`, set
    /// up as the command line says: `--interest`, `--max-conns`,
    /// `POLLREACTOR_TRACE=1`; the first worker also takes SIGINT and
    /// SIGTERM (ending every worker) and prints `listening on HOST:PORT`
    /// once all listen.
    pub fn add_listener<H: Handler>(
        &mut self,
        reactor: &mut Reactor,
        listener: impl FnOnce(Conns) -> H,
    ) -> io::Result<()> {
        let started = self.start(reactor, listener);
        if !self.first {
            // Another worker: the first one waits for this word.
            let waker = started.as_ref().map_err(clone_err).and_then(|()| reactor.waker());
            self.report(Some(waker));
            return started;
        }
        // Every other worker's word. The roll keeps their wakers even after
        // a failure, so that the ones that started can be stopped.
        let (others, failed) = {
            let mut reports = self.roll.all_reported();
            (reports.wakers.clone(), reports.failed.take())
        };
        started?;
        if let Some(e) = failed {
            return Err(e);
        }
        stop_all_on_signals(reactor, others)?;
        say(&format!("listening on {}", self.addr));
        Ok(())
    }

    fn start<H: Handler>(
        &mut self,
        reactor: &mut Reactor,
        listener: impl FnOnce(Conns) -> H,
    ) -> io::Result<()> {
        let server = match self.listener.take() {
            Some(server) => server,
            None => Dispatcher::listen_tcp_shared(self.addr, BACKLOG)?,
        };
        reactor.set_interest_mode(self.args.interest);
        trace_if_asked(reactor);
        let conns = Conns::new(*self.limits, reactor.waker()?);
        let token = reactor.add(server, Capped { inner: listener(conns.clone()), conns: conns.clone() })?;
        conns.0.listener.set(Some(token));
        Ok(())
    }

    /// How the loop runs: the backend `--backend` names, no timeout.
    pub fn options(&self) -> LoopOptions {
        LoopOptions::default().backend(self.args.backend).timeout(None)
    }

    /// Another worker's one word to the first: its waker, its error, or
    /// (`None`) that it ended without trying to listen.
    fn report(&mut self, word: Option<io::Result<Waker>>) {
        if std::mem::take(&mut self.unreported) {
            self.roll.report(word);
        }
    }
}

impl Drop for Worker<'_> {
    /// A worker whose `serve` returned (or panicked) before it listened
    /// still reports, or the first one would wait for it forever.
    fn drop(&mut self) {
        self.report(None);
    }
}

/// Where the workers meet. Each of the others reports once, and the first
/// waits for every report before it says `listening on`; at the end it
/// stops the others through the wakers they reported.
struct Roll {
    reports: Mutex<Reports>,
    /// Signalled at each report.
    reported: Condvar,
}

struct Reports {
    /// How many of the other workers have yet to report.
    awaited: usize,
    /// The wakers of those that listen.
    wakers: Vec<Waker>,
    /// The first error one reported.
    failed: Option<io::Error>,
}

impl Roll {
    fn new(others: usize) -> Roll {
        let reports = Reports { awaited: others, wakers: Vec::new(), failed: None };
        Roll { reports: Mutex::new(reports), reported: Condvar::new() }
    }

    fn report(&self, word: Option<io::Result<Waker>>) {
        let mut reports = self.reports.lock().expect("no worker panics holding the roll");
        match word {
            Some(Ok(waker)) => reports.wakers.push(waker),
            Some(Err(e)) => {
                reports.failed.get_or_insert(e); // the first one is the cause
            }
            None => {}
        }
        reports.awaited -= 1;
        self.reported.notify_one();
    }

    /// The reports, once every other worker has made its own.
    fn all_reported(&self) -> MutexGuard<'_, Reports> {
        let reports = self.reports.lock().expect("no worker panics holding the roll");
        self.reported.wait_while(reports, |r| r.awaited > 0).expect("no worker panics holding the roll")
    }
}

/// An `io::Error` to hand on while keeping the original.
fn clone_err(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}

/// Runs `serve` in each of `limits.workers` threads (the first one on
/// this thread), each with a [`Worker`] to make its loop with; returns when
/// all have ended (SIGINT or SIGTERM end them all; one failing ends them
/// all too).
///
/// Each worker's `--max-conns` is its own, as nginx's `worker_connections`.
/// The kernel puts each new connection in one listener's backlog
/// (`SO_REUSEPORT` hashes it), so a client parked at a full worker waits
/// for that worker, even while another has room.
pub fn workers(
    args: &ServerArgs,
    limits: &Limits,
    serve: impl Fn(Worker<'_>) -> io::Result<()> + Sync,
) -> ExitCode {
    match run_workers(args, limits, &serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("serving on {}", args.addr), e),
    }
}

/// [`workers`], each running `listener(conns)` on its listener: what a
/// server whose `serve` is only that needs.
pub fn serve_with_limits<H: Handler>(
    args: &ServerArgs,
    limits: &Limits,
    listener: impl Fn(Conns) -> H + Sync,
) -> ExitCode {
    workers(args, limits, |mut worker| {
        let mut reactor = Reactor::new();
        worker.add_listener(&mut reactor, &listener)?;
        reactor.run(worker.options())
    })
}

fn run_workers(
    args: &ServerArgs,
    limits: &Limits,
    serve: &(impl Fn(Worker<'_>) -> io::Result<()> + Sync),
) -> io::Result<()> {
    // The first listener is bound here; the others, in their threads, to
    // the port it got (`--addr HOST:0` picks one).
    let server = if limits.workers > 1 {
        Dispatcher::listen_tcp_shared(args.addr.as_str(), BACKLOG)?
    } else {
        Dispatcher::listen_tcp(args.addr.as_str(), BACKLOG)?
    };
    let addr = server.local_addr()?.to_string();
    let roll = Roll::new(limits.workers.saturating_sub(1));
    std::thread::scope(|scope| {
        let threads: Vec<_> = (1..limits.workers)
            .map(|_| {
                let (addr, roll) = (&addr, &roll);
                scope.spawn(move || {
                    let worker =
                        Worker { args, limits, listener: None, addr, roll, first: false, unreported: true };
                    serve(worker)
                })
            })
            .collect();
        let first = Worker {
            args,
            limits,
            listener: Some(server),
            addr: &addr,
            roll: &roll,
            first: true,
            unreported: false,
        };
        let mut result = serve(first);
        // Every other worker that listens, even if the first one ended
        // before it waited for them.
        for waker in &roll.all_reported().wakers {
            waker.post(stop);
        }
        for thread in threads {
            let ended = thread.join().unwrap_or_else(|_| Err(io::Error::other("a worker thread panicked")));
            result = result.and(ended);
        }
        result
    })
}
