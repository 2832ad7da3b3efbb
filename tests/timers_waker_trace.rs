//! Beyond asyncore: timers, idle timeouts, the cross-thread waker and the
//! tracer, on every backend. (Signals need the process to themselves:
//! `signals.rs`.)

mod common;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{loop_until, Log, WAIT_LIMIT};
use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, LoopOptions, Reactor, SockType, Socket};

/// A channel that waits to read and records what it reads.
struct Reader {
    log: Log,
}

impl Handler for Reader {
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 256];
        let n = ch.recv(&mut buf)?;
        self.log.push(String::from_utf8_lossy(&buf[..n]));
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

/// A channel over one end of a socketpair; the other end is returned.
fn reader_channel(reactor: &mut Reactor, log: &Log) -> (pollreactor::Token, Socket) {
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let token = reactor.add(Dispatcher::new(ours).unwrap(), Reader { log: log.clone() }).unwrap();
    (token, theirs)
}

fn timers_run_in_deadline_then_insertion_order(backend: Backend) {
    let mut reactor = Reactor::new();
    let log = Log::default();
    for (delay, name) in [(30, "30"), (10, "10"), (20, "20a"), (20, "20b"), (0, "0")] {
        let log = log.clone();
        reactor.context_mut().call_later(Duration::from_millis(delay), move |_| log.push(name));
    }
    // With no channel, the loop runs until the last timer has fired.
    reactor.run(LoopOptions::default().backend(backend)).unwrap();
    assert_eq!(log.events(), ["0", "10", "20a", "20b", "30"]);
    assert_eq!(reactor.context().pending_timers(), 0);
}

fn cancel_before_and_during_the_same_iteration(backend: Backend) {
    let mut reactor = Reactor::new();
    let log = Log::default();
    let never = reactor.context_mut().call_later(Duration::from_millis(1), |_| panic!("cancelled timer ran"));
    assert!(reactor.context_mut().cancel_timer(never));
    assert!(!reactor.context_mut().cancel_timer(never), "a second cancel finds nothing");
    // A and B are both due in one iteration; A, first, cancels B.
    let b_id = Rc::new(RefCell::new(None));
    let (log_a, b_for_a) = (log.clone(), b_id.clone());
    reactor.context_mut().call_later(Duration::from_millis(5), move |ctx| {
        log_a.push("A");
        let b = b_for_a.borrow().expect("B is set");
        log_a.push(if ctx.cancel_timer(b) { "cancelled B" } else { "B was gone" });
    });
    let log_b = log.clone();
    *b_id.borrow_mut() =
        Some(reactor.context_mut().call_later(Duration::from_millis(5), move |_| log_b.push("B")));
    // Let both deadlines pass (a clock wait, not an event wait), then one
    // iteration that does not block.
    thread::sleep(Duration::from_millis(20));
    reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
    assert_eq!(log.events(), ["A", "cancelled B"]);
    assert_eq!(reactor.context().pending_timers(), 0);
}

fn a_timer_shortens_a_long_wait(backend: Backend) {
    let mut reactor = Reactor::new();
    let log = Log::default();
    let (_token, _peer) = reader_channel(&mut reactor, &log);
    let fired = Rc::new(RefCell::new(None));
    let fired_at = fired.clone();
    let start = Instant::now();
    reactor
        .context_mut()
        .call_later(Duration::from_millis(50), move |_| *fired_at.borrow_mut() = Some(Instant::now()));
    // The channel never becomes ready: only the timer can end this wait.
    reactor.poll_once(Some(Duration::from_secs(30)), backend).unwrap();
    let at = fired.borrow().expect("the timer fired in the first iteration");
    assert!(at - start >= Duration::from_millis(50), "fired early: {:?}", at - start);
    assert!(start.elapsed() < WAIT_LIMIT, "the 30 s wait was not shortened");
}

fn periodic_timers_do_not_drift(backend: Backend) {
    let mut reactor = Reactor::new();
    let ticks = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let interval = Duration::from_millis(20);
    let seen = ticks.clone();
    reactor.context_mut().call_every(interval, move |ctx| {
        seen.borrow_mut().push(Instant::now());
        // Work that takes most of an interval: a timer rescheduled from the
        // end of its run would fall 15 ms further behind at every tick.
        thread::sleep(Duration::from_millis(15));
        if seen.borrow().len() == 30 {
            ctx.exit_now();
        }
    });
    reactor.run(LoopOptions::default().backend(backend)).unwrap();
    let ticks = ticks.borrow();
    assert_eq!(ticks.len(), 30);
    for (k, at) in ticks.iter().enumerate() {
        assert!(*at - start >= interval * (k as u32 + 1), "tick {k} came early");
    }
    // On schedule: the 30th tick is due at 600 ms; drifting would put it
    // at 600 + 29 x 15 = 1,035 ms. The bound sits halfway between.
    let last = ticks[29] - start;
    assert!(last < Duration::from_millis(820), "the 30th tick came at {last:?}: the timer drifts");
}

fn idle_timeout_closes_only_idle_channels(backend: Backend) {
    let timeout = Duration::from_millis(300);
    let mut reactor = Reactor::new();
    let log = Log::default();
    let (idle, _idle_peer) = reader_channel(&mut reactor, &log);
    let (busy, busy_peer) = reader_channel(&mut reactor, &log);
    let start = Instant::now();
    for t in [idle, busy] {
        reactor
            .context_mut()
            .call(t, |_: &mut Reader, ch: &mut Channel<'_>| ch.set_idle_timeout(Some(timeout)))
            .unwrap();
    }
    // The busy channel hears something every 20 ms (a stall of the loop
    // shorter than 280 ms cannot make it look idle).
    let busy_peer = Rc::new(busy_peer);
    let peer = busy_peer.clone();
    reactor.context_mut().call_every(Duration::from_millis(20), move |_| {
        peer.send(b".").unwrap();
    });
    loop_until(&mut reactor, backend, "the idle channel to close", |r| !r.context().contains(idle));
    assert!(start.elapsed() >= timeout, "closed before its timeout");
    assert!(reactor.context().contains(busy), "the busy channel must stay open");
    // The busy channel stays open well past its timeout while it hears traffic.
    let until = Instant::now() + 2 * timeout;
    loop_until(&mut reactor, backend, "two timeouts of traffic", |_| Instant::now() >= until);
    assert!(reactor.context().contains(busy), "the busy channel was closed although it had traffic");
    assert!(log.count(".") >= 5);
}

fn waker_runs_every_post_exactly_once(backend: Backend) {
    const THREADS: usize = 4;
    const POSTS: usize = 10_000;
    let mut reactor = Reactor::new();
    let waker = reactor.waker().unwrap();
    let ran = Arc::new(Mutex::new(Vec::with_capacity(THREADS * POSTS)));
    let count = Arc::new(AtomicUsize::new(0));
    let posters: Vec<_> = (0..THREADS)
        .map(|t| {
            let (waker, ran, count) = (waker.clone(), ran.clone(), count.clone());
            thread::spawn(move || {
                for i in 0..POSTS {
                    let (ran, count) = (ran.clone(), count.clone());
                    waker.post(move |_| {
                        ran.lock().unwrap().push((t, i));
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        })
        .collect();
    // The loop has no channel; a long timer keeps it running (and bounds it).
    let watchdog = reactor.context_mut().call_later(WAIT_LIMIT, |_| panic!("posts were lost"));
    loop_until(&mut reactor, backend, "every post to run", |_| {
        // >=: a post run twice must fail the count below, not time out here.
        count.load(Ordering::Relaxed) >= THREADS * POSTS
    });
    reactor.context_mut().cancel_timer(watchdog);
    for p in posters {
        p.join().unwrap();
    }
    // A few more iterations: nothing runs twice.
    reactor.context_mut().call_later(Duration::from_millis(20), |_| {});
    reactor.run(LoopOptions::default().backend(backend)).unwrap();
    let ran = ran.lock().unwrap();
    assert_eq!(ran.len(), THREADS * POSTS, "some post ran twice");
    for t in 0..THREADS {
        let order: Vec<usize> = ran.iter().filter(|(thread, _)| *thread == t).map(|(_, i)| *i).collect();
        assert_eq!(order, (0..POSTS).collect::<Vec<_>>(), "thread {t}'s posts ran out of order or not once");
    }
}

fn waker_wakes_a_loop_blocked_without_timeout(backend: Backend) {
    let mut reactor = Reactor::new();
    let log = Log::default();
    let (_token, _peer) = reader_channel(&mut reactor, &log);
    let waker = reactor.waker().unwrap();
    // If the wake-up were lost, this timer would end the test, failing it.
    reactor.context_mut().call_later(WAIT_LIMIT, |_| panic!("the waker did not wake the loop"));
    let poster = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50)); // let the loop block first
        waker.post(|ctx| ctx.exit_now());
    });
    let start = Instant::now();
    reactor.run(LoopOptions::default().backend(backend).timeout(None)).unwrap();
    poster.join().unwrap();
    assert!(reactor.context().exit_requested());
    assert!(start.elapsed() < WAIT_LIMIT);
}

on_every_backend!(
    timers_run_in_deadline_then_insertion_order,
    cancel_before_and_during_the_same_iteration,
    a_timer_shortens_a_long_wait,
    periodic_timers_do_not_drift,
    idle_timeout_closes_only_idle_channels,
    waker_runs_every_post_exactly_once,
    waker_wakes_a_loop_blocked_without_timeout,
);

/// The tracer exists with the `trace` feature only.
#[cfg(feature = "trace")]
mod tracer {
    use super::*;
    use common::Echo;
    use pollreactor::{InterestMode, WithSend};
    use std::io::Write;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Rc<RefCell<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn tracer_shows_a_scripted_exchange(backend: Backend) {
        let mut reactor = Reactor::new();
        // The line of asyncore's mode; the fast mode adds `asked[...]`.
        reactor.set_interest_mode(InterestMode::EveryIteration);
        let out = Captured::default();
        reactor.set_trace(Some(Box::new(out.clone())));
        let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let token = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
        let fd = reactor
            .context_mut()
            .call(token, |_: &mut Echo, ch: &mut Channel<'_, WithSend>| ch.fileno())
            .unwrap()
            .unwrap();
        let name = format!("{backend:?}").to_lowercase();
        let wait = Some(Duration::from_secs(5));
        // 1: the peer says hello; we read it and echo it at once.
        theirs.send(b"hello").unwrap();
        reactor.poll_once(wait, backend).unwrap();
        let mut echo = [0u8; 5];
        assert_eq!(theirs.recv(&mut echo).unwrap(), 5);
        // 2: a timer is due, nothing else.
        reactor.context_mut().call_later(Duration::ZERO, |_| {});
        reactor.poll_once(wait, backend).unwrap();
        // 3: the peer closes: end of file, close.
        drop(theirs);
        reactor.poll_once(wait, backend).unwrap();
        // poll and epoll report the hang-up too; select only readability.
        let ready_hup = if backend == Backend::Select { "r" } else { "rh" };
        let expected = format!(
            "#1 {name} want[{fd}:r] ready[{fd}:r] calls[{fd}:read] added[{fd}]\n\
             #2 {name} want[{fd}:r] ready[] timers[1]\n\
             #3 {name} want[{fd}:r] ready[{fd}:{ready_hup}] calls[{fd}:read {fd}:close] closed[{fd}]\n"
        );
        assert_eq!(String::from_utf8(out.0.borrow().clone()).unwrap(), expected);
    }

    on_every_backend!(tracer_shows_a_scripted_exchange);
}
