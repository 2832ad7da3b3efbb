//! The select(2) backend: three bitmaps (read, write, urgent) built on the
//! stack for each wait from the registrations. It cannot watch a
//! descriptor at or above `FD_SETSIZE`, and refuses to register one
//! instead of writing outside the bitmaps.

use std::io;
use std::time::Duration;

use super::{Event, Interest, Ready, Registry};
use crate::sys::fd::is_open;
use crate::sys::select::{select, FdSet, FD_SETSIZE};

/// select keeps nothing between waits: its bitmaps are built from the
/// registrations each time.
#[derive(Default)]
pub(super) struct State;

impl Registry for State {
    fn set(&mut self, interest: &Interest) -> io::Result<()> {
        let fd = interest.fd;
        if !(0..FD_SETSIZE).contains(&fd) {
            let message = format!(
                "fd {fd} is out of range for select(2): it can only watch fds 0..{FD_SETSIZE} \
                 (FD_SETSIZE); use the poll backend"
            );
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        Ok(())
    }

    fn remove(&mut self, _: &Interest) {}
}

impl State {
    /// One select(2) over every registration; ready ones are appended to
    /// `events` in key order. select has no hang-up bit: a closed peer
    /// shows up as readable, and `recv` then finds the end of file.
    pub(super) fn wait(
        &mut self,
        regs: &[Option<Interest>],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        let (mut read, mut write, mut except) = (FdSet::new(), FdSet::new(), FdSet::new());
        let mut nfds = 0;
        for i in regs.iter().flatten() {
            if i.read {
                read.insert(i.fd)?;
            }
            if i.write {
                write.insert(i.fd)?;
            }
            // As asyncore: every polled channel also watches for urgent data.
            except.insert(i.fd)?;
            nfds = nfds.max(i.fd + 1);
        }
        // select counts every bit it left set, in all three sets.
        let mut bits_left = match select(nfds, &mut read, &mut write, &mut except, timeout) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            // select names no culprit: find the closed descriptors ourselves.
            Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                let closed = regs.iter().flatten().filter(|i| !is_open(i.fd));
                events.extend(closed.map(|i| Event { token: i.token, fd: i.fd, ready: Ready::NVAL }));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // Stop scanning once every set bit is accounted for.
        for i in regs.iter().flatten() {
            if bits_left == 0 {
                break;
            }
            let (r, w, e) = (read.contains(i.fd), write.contains(i.fd), except.contains(i.fd));
            if r || w || e {
                bits_left = bits_left.saturating_sub(usize::from(r) + usize::from(w) + usize::from(e));
                let ready = Ready::default().with(Ready::READ, r).with(Ready::WRITE, w).with(Ready::PRI, e);
                events.push(Event { token: i.token, fd: i.fd, ready });
            }
        }
        Ok(())
    }
}
