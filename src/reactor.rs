//! The [`Reactor`]: a [`Context`] (the channels and timers) and the loop
//! that runs them. One iteration is [`Reactor::poll_once`], top to bottom.

use std::fmt;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::backend::{Backend, Event, Interest, Poller, Ready};
use crate::context::Context;
use crate::dispatcher::Dispatcher;
use crate::handler::{Handler, Layer};
use crate::interest::{remove_gone, InterestMode, Interests, WAKER_KEY};
use crate::map::Token;
use crate::signals::Signals;
use crate::timer::{deadline_after, earliest, read_clock, set_loop_now};
use crate::waker::{Waker, WakerEnd};

/// How [`Reactor::run`] loops: asyncore's `loop(timeout, use_poll, map, count)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopOptions {
    /// The longest each wait may last; `None` waits until an event (or the
    /// next timer). Default: 30 seconds, as asyncore.
    pub timeout: Option<Duration>,
    /// Which system call waits. Default: [`Backend::Poll`].
    pub backend: Backend,
    /// Stop after this many iterations; `None` (the default): run until no
    /// channel or timer is left or a callback calls `exit_now`.
    ///
    /// An iteration is one [`poll_once`](Reactor::poll_once): one wait, and
    /// the callbacks and timers after it, whether or not anything was ready.
    /// `Some(n)` runs at most `n` of them (fewer if the channels and timers
    /// run out or a callback calls `exit_now` first). `Some(0)` runs none:
    /// `run` returns `Ok(())` at once, without waiting, and no callback or
    /// timer runs. asyncore's `loop(count=0)` did the same.
    pub count: Option<u64>,
}

impl Default for LoopOptions {
    fn default() -> LoopOptions {
        LoopOptions { timeout: Some(Duration::from_secs(30)), backend: Backend::Poll, count: None }
    }
}

impl LoopOptions {
    /// Sets the per-wait timeout (`None`: block until an event).
    pub fn timeout(mut self, timeout: Option<Duration>) -> LoopOptions {
        self.timeout = timeout;
        self
    }

    /// Sets the backend.
    pub fn backend(mut self, backend: Backend) -> LoopOptions {
        self.backend = backend;
        self
    }

    /// Sets the number of iterations, [`count`](LoopOptions#structfield.count):
    /// `run` stops after `count` of them; with 0 it returns at once.
    ///
    /// ```
    /// use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, LoopOptions, Reactor, SockType, Socket};
    /// use std::{cell::Cell, io, rc::Rc};
    ///
    /// /// Counts its reads, one recv of one byte each.
    /// struct Reads(Rc<Cell<u32>>);
    /// impl Handler for Reads {
    ///     fn writable(&mut self, _: &Dispatcher) -> bool {
    ///         false
    ///     }
    ///     fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
    ///         ch.recv(&mut [0u8; 1])?;
    ///         self.0.set(self.0.get() + 1);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// for &backend in Backend::available() {
    ///     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    ///     let reads = Rc::new(Cell::new(0));
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(Dispatcher::new(ours)?, Reads(reads.clone()))?;
    ///     theirs.send(b"abc")?;
    ///     let options = LoopOptions::default().backend(backend);
    ///     reactor.run(options.count(0))?; // no iteration: nothing is read
    ///     assert_eq!(reads.get(), 0);
    ///     reactor.run(options.count(2))?; // two iterations, one read each
    ///     assert_eq!(reads.get(), 2);
    /// }
    /// # Ok::<(), io::Error>(())
    /// ```
    pub fn count(mut self, count: u64) -> LoopOptions {
        self.count = Some(count);
        self
    }
}

/// Internal descriptors polled beside the channels.
const WAKER: Token = Token::reserved(0);
const SIGNALS: Token = Token::reserved(1);

/// The event loop: a [`Context`] (the channels, the timers) and the loop
/// that waits on them and calls their handlers.
///
/// ```no_run
/// use pollreactor::{Address, Backend, Channel, Dispatcher, Handler, LoopOptions, Reactor, Socket, WithSend};
/// use std::io;
///
/// struct Echo;
/// impl Handler<WithSend> for Echo {
///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
///         let mut buf = [0u8; 8192];
///         let n = ch.recv(&mut buf)?;
///         ch.send_buffered(&buf[..n])
///     }
/// }
///
/// struct Server;
/// impl Handler for Server {
///     fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _: Address) -> io::Result<()> {
///         ch.context().add(Dispatcher::new(sock)?.with_send(), Echo)?;
///         Ok(())
///     }
/// }
///
/// let mut reactor = Reactor::new();
/// reactor.add(Dispatcher::listen_tcp("127.0.0.1:8080", 128)?, Server)?;
/// reactor.run(LoopOptions::default().backend(Backend::Poll))?;
/// # Ok::<(), io::Error>(())
/// ```
#[derive(Default)]
pub struct Reactor {
    ctx: Context,
    poller: Poller,
    interests: Interests,
    /// Where the next pass over the events starts, so no channel is always
    /// served first.
    rotation: usize,
    waker: Option<WakerEnd>,
    signals: Option<Signals>,
}

impl Reactor {
    /// An empty reactor.
    pub fn new() -> Reactor {
        Reactor::default()
    }

    /// Adds a channel: the same as [`Context::add`].
    pub fn add<L: Layer, H: Handler<L>>(&mut self, disp: Dispatcher<L>, handler: H) -> io::Result<Token> {
        self.ctx.add(disp, handler)
    }

    /// Makes what `backend` needs before the first wait (an epoll
    /// descriptor), so a process that later runs out of descriptors keeps
    /// its loop: [`run`](Self::run) does it first; call it before driving
    /// [`poll_once`](Self::poll_once) by hand. Poll and select need nothing;
    /// epoll where it does not exist fails with `Unsupported`.
    pub fn prepare(&mut self, backend: Backend) -> io::Result<()> {
        self.poller.prepare(backend)
    }

    /// When channels are asked `readable()` and `writable()`: at every
    /// iteration (asyncore's way, the default) or only when their answer
    /// may have changed (see [`InterestMode`]).
    pub fn set_interest_mode(&mut self, mode: InterestMode) {
        self.interests.mode = mode;
    }

    /// The channels and timers, to look at.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The channels and timers, to change between iterations: close or
    /// call a channel, set a timer, ...
    pub fn context_mut(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// A [`Waker`] for other threads: to wake this loop and post closures
    /// to it. All wakers of a reactor share one socket pair.
    pub fn waker(&mut self) -> io::Result<Waker> {
        if self.waker.is_none() {
            let end = WakerEnd::new()?;
            self.register_internal(WAKER_KEY, WAKER, end.rx.as_raw_fd())?;
            self.waker = Some(end);
        }
        Ok(self.waker.as_ref().expect("just set").waker())
    }

    /// Runs `f` on the loop thread whenever signal `signum` (SIGINT,
    /// SIGTERM, SIGHUP, SIGCHLD, any catchable one) arrives.
    ///
    /// The C handler only writes the signal's number to a socket that the
    /// loop polls (the self-pipe trick), so `f` may do anything. It is
    /// installed with `SA_RESTART`, for the rest of the process' life. Only the
    /// first reactor that asks receives signals, for the rest of the
    /// process' life: any other gets `AlreadyExists`, even after the first
    /// is dropped.
    ///
    /// ```no_run
    /// use pollreactor::{LoopOptions, Reactor};
    /// let mut reactor = Reactor::new();
    /// reactor.on_signal(libc::SIGTERM, |ctx| {
    ///     ctx.close_all();
    ///     ctx.exit_now();
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// With the `signals` feature (on by default).
    #[cfg(feature = "signals")]
    pub fn on_signal(&mut self, signum: i32, f: impl FnMut(&mut Context) + 'static) -> io::Result<()> {
        if self.signals.is_none() {
            let signals = Signals::new()?;
            self.register_internal(crate::interest::SIGNALS_KEY, SIGNALS, signals.rx.as_raw_fd())?;
            self.signals = Some(signals);
        }
        self.signals.as_mut().expect("just set").add(signum, Box::new(f))
    }

    /// What a panic in a channel callback does. By default (`false`) it
    /// propagates out of [`run`](Self::run) / [`poll_once`](Self::poll_once),
    /// as any Rust panic does: the program's state may be broken, and the
    /// program decides. With `true` it is confined to its channel: the panic
    /// becomes an error (`"handler panicked: ..."`) for that channel's
    /// `handle_error` (whose default closes it), and the loop keeps serving
    /// the others, as asyncore did with any exception. A panic inside
    /// `handle_error` or `handle_close` then closes the channel. Timer and
    /// posted closures are not covered. The panic hook still reports it.
    pub fn set_catch_panics(&mut self, on: bool) {
        self.ctx.catch_panics = on;
    }

    /// Turns the tracer on (`Some(writer)`, e.g. `Box::new(std::io::stderr())`)
    /// or off: one line per iteration, see the crate docs' tour.
    ///
    /// With the `trace` feature (on by default).
    #[cfg(feature = "trace")]
    pub fn set_trace(&mut self, out: Option<Box<dyn io::Write>>) {
        self.ctx.trace = out.map(crate::trace::Trace::new);
    }

    /// Whether the loop has anything to wait for: a channel or a timer.
    fn has_work(&self) -> bool {
        !self.ctx.is_empty() || self.ctx.pending_timers() > 0
    }

    /// Runs iterations until no channel or timer is left, `count`
    /// iterations have run, or a callback calls `exit_now` (asyncore's
    /// `loop`). A waker or signal handler alone does not keep it running.
    pub fn run(&mut self, opts: LoopOptions) -> io::Result<()> {
        self.prepare(opts.backend)?;
        let mut left = opts.count;
        while self.has_work() && left != Some(0) {
            self.poll_once(opts.timeout, opts.backend)?;
            if self.ctx.exit {
                break;
            }
            left = left.map(|n| n - 1);
        }
        Ok(())
    }

    /// One loop iteration (asyncore's `poll` / `poll2`): ask every channel
    /// what it waits for, wait once, turn readiness into callbacks, then
    /// run the timers that are due.
    ///
    /// With no channel and no timer it returns at once. With channels that
    /// wait for nothing it sleeps for `timeout` (forever if `None`), as
    /// asyncore did. The wait ends early for the next timer, and an
    /// interrupted wait (EINTR) is resumed with the time that remains.
    pub fn poll_once(&mut self, timeout: Option<Duration>, backend: Backend) -> io::Result<()> {
        self.ctx.exit = false;
        if !self.has_work() {
            return Ok(());
        }
        self.poller.prepare(backend)?;
        self.ctx.in_iteration = true;
        let result = self.iterate(timeout, backend);
        // Channels that left: registrations removed, then descriptors closed.
        remove_gone(&mut self.ctx, &mut self.poller);
        self.ctx.in_iteration = false;
        set_loop_now(None);
        result
    }

    /// The four steps of [`poll_once`](Self::poll_once).
    fn iterate(&mut self, timeout: Option<Duration>, backend: Backend) -> io::Result<()> {
        // Step 1 compares every asked channel's deadlines with one reading
        // of the clock, not one each.
        set_loop_now(Some(read_clock()));
        self.ctx.iteration += 1;
        // 1. Interest: readable() and writable() of the channels the mode
        //    says to ask, registered with the backend where they changed
        //    (channels past a timeout are noted, for after the wait).
        self.interests.update(&mut self.ctx, &mut self.poller);
        if let Some(trace) = &mut self.ctx.trace {
            // Which channels were asked is news only when not all of them were.
            let asked =
                (self.interests.mode == InterestMode::WhenChanged).then_some(&self.interests.asked[..]);
            trace.begin(backend, self.poller.registrations(), asked);
        }
        // 2. The wait: one poll(2), select(2) or epoll_wait(2), ending at the
        //    timeout or at the next timer or channel alarm, whichever is first;
        //    with channels past a timeout, it only collects what is ready.
        let now = crate::timer::now();
        let deadline = if self.interests.expiring() {
            Some(now)
        } else {
            earliest(timeout.map(|t| deadline_after(now, t)), self.ctx.next_deadline())
        };
        self.poller.wait(backend, deadline, now)?;
        set_loop_now(Some(read_clock()));
        if let Some(trace) = &mut self.ctx.trace {
            trace.ready(&self.poller.events);
        }
        // 3. Dispatch: for each ready channel, (a) its readiness becomes
        //    (b) callbacks, and then (c) it settles (dispatch.rs). A channel
        //    closed earlier in this pass has left the map, and its token
        //    (unlike its fd number) is never reused, so it gets nothing.
        let n = self.poller.events.len();
        self.rotation = if self.rotation + 1 >= n { 0 } else { self.rotation + 1 };
        for i in 0..n {
            let at = if i + self.rotation >= n { i + self.rotation - n } else { i + self.rotation };
            let Event { token, ready, .. } = self.poller.events[at];
            match token {
                WAKER => self.run_posted(),
                SIGNALS => self.run_signal_handlers(),
                _ => self.dispatch(token, ready),
            }
            self.ctx.run_deferred();
            // A descriptor closed by a callback really closes now.
            remove_gone(&mut self.ctx, &mut self.poller);
            if self.ctx.exit {
                break;
            }
        }
        // 3d. The channels past a timeout in step 1 that this wait brought
        //     nothing to restart their clock: their close is announced.
        self.interests.announce_expired(&mut self.ctx);
        remove_gone(&mut self.ctx, &mut self.poller);
        // 4. Timers whose deadline has passed (and channel alarms).
        let fired = if self.ctx.exit { 0 } else { self.ctx.run_due_timers() };
        self.ctx.run_deferred();
        if let Some(trace) = &mut self.ctx.trace {
            trace.end(fired);
        }
        Ok(())
    }

    /// Step 3 for one channel: take it out of the map (its slot stays
    /// busy), turn its readiness into callbacks, put it back. A channel
    /// closed earlier in this pass is gone, and its token finds nothing.
    fn dispatch(&mut self, token: Token, ready: Ready) {
        self.ctx.with_taken(token, |boxed, ctx| boxed.dispatch(ctx, token, ready));
    }

    /// Registers one of the reactor's own sockets, read only, for good.
    fn register_internal(&mut self, key: u32, token: Token, fd: std::os::fd::RawFd) -> io::Result<()> {
        self.poller.set(Interest { key, token, fd, read: true, write: false })
    }

    fn run_posted(&mut self) {
        let posted = self.waker.as_ref().map(WakerEnd::take_posted).unwrap_or_default();
        for f in posted {
            f(&mut self.ctx);
        }
    }

    fn run_signal_handlers(&mut self) {
        if let Some(signals) = &mut self.signals {
            signals.dispatch(&mut self.ctx);
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor").field("context", &self.ctx).finish()
    }
}
