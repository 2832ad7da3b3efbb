//! [`Waker`]: another thread's way into the loop.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::{Context, Family, SockType, Socket};

/// A closure posted from another thread, run on the loop thread.
type Posted = Box<dyn FnOnce(&mut Context) + Send>;

/// What the wakers and the loop share.
struct Shared {
    /// The write end of a socket pair whose read end the loop polls. Our
    /// `Socket`, so its sends carry MSG_NOSIGNAL: waking a reactor that was
    /// dropped is a quiet EPIPE, never a SIGPIPE.
    tx: Socket,
    posted: Mutex<Vec<Posted>>,
    /// A wake-up byte is on its way; further posts need not send another.
    signalled: AtomicBool,
}

/// Wakes a reactor from another thread, and runs closures on its thread.
///
/// Get one with [`Reactor::waker`](crate::Reactor::waker); it is `Send`,
/// `Sync` and cheap to clone. Neither call ever blocks the caller, even
/// while the loop is busy: a post is queued, and at most one wake-up byte is
/// in flight at a time. Each posted closure runs exactly once, in the order
/// posted, on the loop thread, in the first iteration after the wake-up
/// arrives (so while the reactor keeps running).
///
/// ```
/// use pollreactor::{LoopOptions, Reactor};
/// use std::time::Duration;
/// let mut reactor = Reactor::new();
/// let waker = reactor.waker()?;
/// std::thread::spawn(move || waker.post(|ctx| ctx.exit_now()));
/// // A timer keeps the loop running; the posted closure ends it.
/// reactor.context_mut().call_later(Duration::from_secs(30), |_| panic!("not woken"));
/// reactor.run(LoopOptions::default().timeout(None))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Waker {
    shared: Arc<Shared>,
}

impl Waker {
    /// Wakes the loop: a blocked wait returns.
    pub fn wake(&self) {
        // Swap (not load): it orders our queued post before the loop's
        // reset of the flag, so the loop sees the post or a new byte.
        if !self.shared.signalled.swap(true, Ordering::AcqRel) {
            // A full socket buffer means a byte is already there: ignore it.
            let _ = self.shared.tx.send(&[1]);
        }
    }

    /// Queues `f` to run on the loop thread, and wakes the loop.
    pub fn post(&self, f: impl FnOnce(&mut Context) + Send + 'static) {
        self.shared.posted.lock().unwrap_or_else(|e| e.into_inner()).push(Box::new(f));
        self.wake();
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}

/// The loop's end: the socket it polls and the queue it empties.
pub(crate) struct WakerEnd {
    pub(crate) rx: Socket,
    shared: Arc<Shared>,
}

impl WakerEnd {
    pub(crate) fn new() -> io::Result<WakerEnd> {
        // Non-blocking and close-on-exec from birth.
        let (tx, rx) = Socket::pair(Family::Unix, SockType::Stream)?;
        let shared =
            Arc::new(Shared { tx, posted: Mutex::new(Vec::new()), signalled: AtomicBool::new(false) });
        Ok(WakerEnd { rx, shared })
    }

    pub(crate) fn waker(&self) -> Waker {
        Waker { shared: self.shared.clone() }
    }

    /// Drains the wake-up bytes and returns what was posted, in order.
    pub(crate) fn take_posted(&self) -> Vec<Posted> {
        let mut sink = [0u8; 64];
        while matches!(self.rx.recv(&mut sink), Ok(n) if n > 0) {}
        self.shared.signalled.swap(false, Ordering::AcqRel);
        std::mem::take(&mut *self.shared.posted.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
