//! A descriptor closed behind the reactor's back. Only code that breaks I/O
//! safety can do that, so this test lives where `unsafe` is allowed; it is
//! the only test in the library's unit-test binary, so no other test's
//! descriptor can take the closed number meanwhile.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket};

/// Waits to read; when the reactor reports the closed fd, puts a valid
/// descriptor back under that number before the dispatcher closes it (so
/// the socket's own close finds an open fd, as I/O safety requires).
struct Victim {
    /// Made before the fd is closed, so it cannot take the freed number.
    stand_in: Socket,
}

impl Handler for Victim {
    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
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

#[test]
fn a_descriptor_closed_behind_the_reactors_back_closes_only_its_channel() {
    for backend in [Backend::Poll, Backend::Select, Backend::Epoll] {
        let mut reactor = Reactor::new();
        let (victim, _victim_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let fd = victim.as_raw_fd();
        let stand_in = Socket::new(Family::Unix, SockType::Datagram).unwrap();
        let victim = reactor.add(Dispatcher::new(victim).unwrap(), Victim { stand_in }).unwrap();
        let (other, other_peer) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
        let other = reactor.add(Dispatcher::new(other).unwrap(), Bystander).unwrap();
        // One iteration so that epoll has registered the victim.
        reactor.poll_once(Some(Duration::ZERO), backend).unwrap();
        // SAFETY: deliberately breaks the dispatcher's ownership of `fd`,
        // which is what this test is about; Victim restores a valid
        // descriptor under that number before the dispatcher closes it.
        unsafe { libc::close(fd) };
        other_peer.send(b"ping").unwrap();
        for _ in 0..5 {
            reactor.poll_once(Some(Duration::from_millis(100)), backend).unwrap();
        }
        // poll: POLLNVAL; select: EBADF traced to the culprit. epoll drops a
        // closed fd silently, so there the channel just never hears again.
        if backend == Backend::Epoll {
            assert!(reactor.contains(victim), "{backend:?}");
            reactor.call(victim, |h, ch| h.handle_close(ch)).unwrap().unwrap();
        }
        assert!(!reactor.contains(victim), "{backend:?}: the channel of the closed fd must close");
        assert!(reactor.contains(other), "{backend:?}: the other channel must stay");
        let mut answer = [0u8; 4];
        assert_eq!(other_peer.recv(&mut answer).unwrap(), 4, "{backend:?}: the other channel still serves");
        assert_eq!(&answer, b"ping");
    }
}
