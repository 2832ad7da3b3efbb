//! The library's own unit tests that need its insides: that steady echo
//! traffic allocates nothing, counted by the test binary's global
//! allocator (`sys/alloc.rs`), on every backend; that the word-at-a-time
//! terminator search finds what a byte-by-byte one finds; that cancelled
//! timers and alarms do not pile up in their heaps; and that a drained
//! output queue or chat buffer keeps no burst-sized room.

use std::io;
use std::time::{Duration, Instant};

use crate::sys::alloc::ALLOC;
use crate::sys::tests::ALONE;
use crate::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};

/// Echoes what it reads through the output queue.
struct Echo;

impl Handler<WithSend> for Echo {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let n = ch.recv(&mut buf)?;
        ch.send_buffered(&buf[..n])
    }
}

/// Runs `test` on every backend, holding [`ALONE`]: the descriptor test
/// (sys/tests.rs) closes a number behind the reactor's back, and these
/// tests' sockets must not be handed that number meanwhile.
fn on_each_backend_alone(mut test: impl FnMut(Backend)) {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    for &backend in Backend::available() {
        test(backend);
    }
}

/// Runs iterations until `done`, failing with `what` after 20 s.
fn poll_until(reactor: &mut Reactor, backend: Backend, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{backend:?}: {what}");
        reactor.poll_once(Some(Duration::from_millis(10)), backend).unwrap();
    }
}

/// Reads what `peer` has into `buf`, adding the count to `got`.
fn read_some(peer: &Socket, buf: &mut [u8], got: &mut usize) {
    match peer.recv(buf) {
        Ok(n) => *got += n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => panic!("{e}"),
    }
}

/// Ping-pongs `rounds` 64-byte messages through an echo channel.
fn ping_pong(reactor: &mut Reactor, backend: Backend, peer: &Socket, rounds: usize) {
    let message = [7u8; 64];
    let mut answer = [0u8; 64];
    for _ in 0..rounds {
        assert_eq!(peer.send(&message).unwrap(), 64);
        let mut got = 0;
        poll_until(reactor, backend, "the echo never came back", || {
            read_some(peer, &mut answer[got..], &mut got);
            got == 64
        });
    }
}

#[test]
fn steady_echo_traffic_allocates_nothing() {
    on_each_backend_alone(|backend| {
        let mut reactor = Reactor::new();
        let mut peers = Vec::new();
        for _ in 0..3 {
            let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
            reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
            peers.push(theirs);
        }
        // Warm-up: the reused buffers grow to their working size.
        for peer in &peers {
            ping_pong(&mut reactor, backend, peer, 100);
        }
        ALLOC.start();
        for peer in &peers {
            ping_pong(&mut reactor, backend, peer, 1000);
        }
        let counted = ALLOC.stop();
        assert_eq!(counted, 0, "{backend:?}: {counted} allocations in 3,000 echo round trips");
    });
}

#[test]
fn terminators_are_found_where_a_byte_by_byte_search_finds_them() {
    use crate::chat::{find, find_byte};
    // Every length around the 8-byte words, the byte at every place (and
    // bytes that differ from it by one bit or by 0x80), and none.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for len in 0..40 {
        for byte in [0u8, 1, b'\n', 0x7f, 0x80, 0xff] {
            for at in 0..=len {
                let mut hay: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        let noise = [byte ^ 1, byte ^ 0x80, byte.wrapping_add(1), seed as u8];
                        noise[(seed >> 8) as usize % 4]
                    })
                    .collect();
                if at < len {
                    hay[at] = byte;
                }
                let naive = hay.iter().position(|&b| b == byte);
                assert_eq!(find_byte(&hay, byte), naive, "{byte:#04x} in {hay:?}");
                let needle = [byte, b'x'];
                let naive = hay.windows(2).position(|w| w == needle);
                assert_eq!(find(&hay, &needle), naive, "{needle:?} in {hay:?}");
            }
        }
    }
}

/// A periodic timer the loop comes back to late skips the ticks already
/// past and stays on its grid: due at 10 ms steps from `d`, taken at
/// d + 45 ms, it is next due at d + 50 ms (not d + 20, nor d + 55).
#[test]
fn a_late_periodic_timer_skips_to_its_next_tick_on_the_grid() {
    use crate::timer::{nanos, Action, Timers};
    let step = Duration::from_millis(10);
    let d = 1_000_000_000;
    let at = |ms: u64| d + nanos(Duration::from_millis(ms));
    let mut timers: Timers<(), u32> = Timers::default();
    let id = timers.insert(d, Action::Every(step, 7));
    // Taken right on time, then 35 ms late, then right on time again.
    for (now, next) in [(d, at(10)), (at(45), at(50)), (at(50), at(60))] {
        let Some((got, Action::Every(interval, payload))) = timers.pop_due(now, u64::MAX) else {
            panic!("nothing due at {now}")
        };
        assert_eq!((got, interval, payload), (id, step, 7));
        timers.restore(got, Action::Every(interval, payload));
        assert_eq!(timers.next_deadline(), Some(next), "taken at {now}");
    }
}

#[test]
fn cancelled_timers_do_not_pile_up_in_the_heap() {
    use crate::timer::{deadline_after, read_clock, Action, Timers};
    let mut timers: Timers<u32, ()> = Timers::default();
    let start = read_clock();
    let at = |secs: u64| deadline_after(start, Duration::from_secs(secs));
    let live: Vec<_> = (0..100u32).map(|i| timers.insert(at(u64::from(100 - i)), Action::Once(i))).collect();
    // Timers that come and go, as a server's connection timeouts do.
    for i in 0..10_000u32 {
        let id = timers.insert(at(300), Action::Once(i));
        assert!(timers.cancel(id));
        assert!(timers.heap_len() <= 2 * 100 + 64 + 1, "{} entries for 100 timers", timers.heap_len());
    }
    // The live ones are all there, due in deadline order.
    let mut fired = Vec::new();
    while let Some((id, Action::Once(i))) = timers.pop_due(at(1000), u64::MAX) {
        assert!(live.contains(&id));
        fired.push(i);
    }
    assert_eq!(fired, (0..100).rev().collect::<Vec<_>>());
}

/// Channels with a long idle timeout come and go (each arms an alarm,
/// whose heap entry goes stale when it closes): the alarm heap holds about
/// the live ones, not one entry per channel of the timeout's span.
#[test]
fn channels_that_come_and_go_leave_no_alarms_behind() {
    on_each_backend_alone(|backend| {
        let mut reactor = Reactor::new();
        let (keep, _peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        reactor.add(timed_echo(keep), Echo).unwrap();
        for _ in 0..20 {
            let pairs: Vec<_> =
                (0..100).map(|_| Socket::pair(Family::Unix, SockType::Stream).unwrap()).collect();
            let tokens: Vec<_> =
                pairs.into_iter().map(|(ours, _)| reactor.add(timed_echo(ours), Echo).unwrap()).collect();
            // An iteration asks each new channel, which arms its alarm.
            reactor.context_mut().call_later(Duration::ZERO, |_| {});
            reactor.poll_once(Some(Duration::from_secs(10)), backend).unwrap();
            for t in tokens {
                reactor.context_mut().close(t);
            }
        }
        let entries = reactor.context().alarms.len();
        assert!(
            entries <= 2 * 101 + 64,
            "{backend:?}: {entries} alarm entries for 1 channel after 2,000 came and went"
        );
    });
}

/// An echo channel closed after five idle minutes.
fn timed_echo(sock: Socket) -> Dispatcher<WithSend> {
    let mut d = Dispatcher::new(sock).unwrap().with_send();
    d.set_idle_timeout(Some(Duration::from_secs(300)));
    d
}

/// A channel that sent a large burst and drained it keeps a read's worth
/// of room at most, not the burst's: what 10,000 idle connections hold.
#[test]
fn a_drained_burst_leaves_no_large_buffer() {
    on_each_backend_alone(|backend| {
        let mut reactor = Reactor::new();
        let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let t = reactor.add(Dispatcher::new(ours).unwrap().with_send(), Echo).unwrap();
        let burst = vec![5u8; 256 * 1024];
        let queued = reactor
            .context_mut()
            .call(t, |_: &mut Echo, ch: &mut Channel<'_, WithSend>| ch.send_buffered(&burst));
        queued.unwrap().unwrap();
        // The peer reads it all while the loop sends it.
        let (mut got, mut buf) = (0, vec![0u8; 64 * 1024]);
        poll_until(&mut reactor, backend, "the burst never all came", || {
            read_some(&theirs, &mut buf, &mut got);
            got == burst.len()
        });
        let room =
            reactor.context_mut().call(t, |_: &mut Echo, ch: &mut Channel<'_, WithSend>| ch.out.capacity());
        let room = room.unwrap();
        assert!(room <= 8 * 1024, "{backend:?}: {room} bytes of room kept after the burst");
    });
}

/// Counts the record bytes a chat channel is handed, and drops them.
struct Counting(std::rc::Rc<std::cell::Cell<usize>>);

impl Handler<crate::Chat> for Counting {
    fn collect_incoming_data(&mut self, _: &mut Channel<'_, crate::Chat>, data: &[u8]) -> io::Result<()> {
        self.0.set(self.0.get() + data.len());
        Ok(())
    }
}

/// A chat channel whose partial terminator was joined with a large read,
/// and one whose large record was cleared, keep a read's worth of room at
/// most: what an idle connection holds.
#[test]
fn chat_buffers_keep_no_large_room() {
    use crate::Chat;
    on_each_backend_alone(|backend| {
        let mut reactor = Reactor::new();
        let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let mut d = Dispatcher::new(ours).unwrap().with_chat();
        d.set_terminator(b"\r\n");
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = reactor.add(d, Counting(seen.clone())).unwrap();
        let until_seen = |reactor: &mut Reactor, n: usize| {
            poll_until(reactor, backend, &format!("fewer than {n} bytes handed on"), || seen.get() >= n);
        };
        // "\r" may start the terminator: it is kept back, then joined with the next read.
        assert_eq!(theirs.send(b"abc\r").unwrap(), 4);
        until_seen(&mut reactor, 3);
        let blob = vec![b'x'; 60 * 1024];
        assert_eq!(theirs.send(&blob).unwrap(), blob.len());
        until_seen(&mut reactor, 4 + blob.len());
        let kept =
            reactor.context_mut().call(t, |_: &mut Counting, ch: &mut Channel<'_, Chat>| ch.kept_capacity());
        let kept = kept.unwrap();
        assert!(kept <= 8 * 1024, "{backend:?}: {kept} bytes of room kept for a partial terminator");
        // A large record collected, then cleared.
        let room = reactor.context_mut().call(t, |_: &mut Counting, ch: &mut Channel<'_, Chat>| {
            ch.collect(&blob);
            ch.clear_incoming();
            ch.incoming().len() + ch.take_incoming().capacity()
        });
        let room = room.unwrap();
        assert!(room <= 8 * 1024, "{backend:?}: {room} bytes of room kept after a cleared record");
    });
}
