//! Tests that need `unsafe` to set up their fault, so they live where it is
//! allowed: a descriptor closed behind the reactor's back, and SIGPIPE
//! restored to its default (which kills) while we write to dead peers.
//! Every unit test of the library that opens a descriptor takes [`ALONE`]:
//! while a number is closed behind the reactor's back, a test in another
//! thread could be handed that number and then have it closed under it.

use std::cell::Cell;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket};

/// Waits to read; when the reactor reports the closed fd, puts a valid
/// descriptor back under that number before the dispatcher closes it (so
/// the socket's own close finds an open fd, as I/O safety requires).
struct Victim {
    /// Made before the fd is closed, so it cannot take the freed number.
    stand_in: Socket,
    /// How often handle_close ran.
    closes: Rc<Cell<usize>>,
}

impl Handler for Victim {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        self.closes.set(self.closes.get() + 1);
        let fd = ch.fileno().expect("open");
        // SAFETY: both descriptors are valid numbers; dup2 only makes `fd`
        // name what `stand_in` names, which the dispatcher then closes.
        unsafe { libc::dup2(self.stand_in.as_raw_fd(), fd) };
        ch.close();
        Ok(())
    }
}

/// A channel that keeps working.
struct Bystander;

impl Handler for Bystander {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut buf = [0u8; 16];
        let n = ch.recv(&mut buf)?;
        ch.send(&buf[..n])?;
        Ok(())
    }
}

/// Serialises the library's unit tests that open descriptors or change the
/// SIGPIPE disposition: both are process-wide, and tests run in threads.
pub(crate) static ALONE: Mutex<()> = Mutex::new(());

#[test]
fn a_descriptor_closed_behind_the_reactors_back_closes_only_its_channel() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    for &backend in Backend::available() {
        let mut reactor = Reactor::new();
        let (victim, _victim_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let fd = victim.as_raw_fd();
        let stand_in = Socket::new(Family::Unix, SockType::Datagram).unwrap();
        let closes = Rc::new(Cell::new(0));
        let victim = reactor
            .add(Dispatcher::new(victim).unwrap(), Victim { stand_in, closes: closes.clone() })
            .unwrap();
        let (other, other_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let other = reactor.add(Dispatcher::new(other).unwrap(), Bystander).unwrap();
        // One iteration so that epoll has registered the victim.
        reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
        // SAFETY: deliberately breaks the dispatcher's ownership of `fd`,
        // which is what this test is about; Victim restores a valid
        // descriptor under that number before the dispatcher closes it.
        unsafe { libc::close(fd) };
        other_peer.send(b"ping").unwrap();
        // poll: POLLNVAL; select: EBADF traced to the culprit. Either way
        // the victim closes and the bystander answers.
        let mut answer = [0u8; 4];
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut answered = 0;
        while answered < 4 || (backend != Backend::Epoll && reactor.context().contains(victim)) {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: the victim never closed or the bystander never answered"
            );
            reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
            answered += other_peer.recv(&mut answer[answered..]).unwrap_or(0);
        }
        if backend == Backend::Epoll {
            // epoll drops a closed fd silently: the channel just never hears
            // again (no callback, not even a close). Clean up by hand.
            assert!(reactor.context().contains(victim), "{backend:?}");
            assert_eq!(closes.get(), 0, "{backend:?}: epoll reported the closed fd");
            reactor
                .context_mut()
                .call(victim, |h: &mut Victim, ch: &mut Channel<'_>| h.handle_close(ch))
                .unwrap()
                .unwrap();
        }
        assert_eq!(closes.get(), 1, "{backend:?}: handle_close runs once");
        assert!(!reactor.context().contains(victim), "{backend:?}: the channel of the closed fd must close");
        assert!(reactor.context().contains(other), "{backend:?}: the other channel must stay");
        assert_eq!(&answer, b"ping", "{backend:?}: the other channel still serves");
    }
}

#[test]
fn writing_to_dead_peers_never_raises_sigpipe() {
    let _alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: SIG_DFL is a valid disposition; with it, a SIGPIPE kills this
    // process, which is what the test must show never happens.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };

    // A socket whose peer is gone: send says EPIPE (a disconnect: 0 bytes).
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    drop(theirs);
    let mut d = Dispatcher::new(ours).unwrap();
    assert_eq!(d.send(b"anyone?").unwrap(), 0);
    // A pipe whose reader is gone, through a file dispatcher.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut pipe = Dispatcher::from_file(&writer).unwrap();
    assert_eq!(pipe.send(b"anyone?").unwrap(), 0);
    // A waker whose reactor is gone.
    let waker = Reactor::new().waker().unwrap();
    waker.post(|_| {});

    // SAFETY: back to what Rust's runtime set before main.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
