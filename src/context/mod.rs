//! [`Context`]: the reactor state every callback can reach (the channel
//! map, timers, the exit flag), and [`Channel`]: one channel as its own
//! callbacks see it.
//!
//! While a callback runs, its channel is *out of the map*: the boxed entry
//! (dispatcher and handler) is taken from its slot, which is marked busy,
//! and the callback gets `&mut` to both, plus `&mut Context` for everything
//! else. So a callback may add channels, close others, or call into them,
//! with no `RefCell` and no aliasing; a close aimed at a busy channel (its
//! own, or one further up the call chain) is recorded in the slot and
//! carried out when the entry is put back.

use std::any::Any;
use std::fmt;
use std::os::fd::RawFd;

use crate::dispatcher::{Dispatcher, Flags};
use crate::map::{Slab, Token};
use crate::socket::Socket;
use crate::timer::{Alarms, TimerId, Timers};
use crate::trace::Trace;

mod channel;
mod entry;
mod timers;

pub use channel::Channel;
pub(crate) use entry::{AnyChannel, Asked, Entry, Slot, Wants};

/// A timer's closure: once, or every interval.
type Once = Box<dyn FnOnce(&mut Context)>;
type Every = Box<dyn FnMut(&mut Context)>;

/// What callbacks can reach of their reactor: the channel map (asyncore's
/// `socket_map`), the timers, and the exit flag.
///
/// (Its [`add`](Context::add), which may run a callback, is written in
/// `dispatch.rs`, beside the other code that runs callbacks.)
///
/// Channel callbacks reach it with [`Channel::context`]; timer closures,
/// signal handlers and posted closures are handed it directly; a program
/// reaches it between iterations with [`Reactor::context_mut`](crate::Reactor::context_mut).
#[derive(Default)]
pub struct Context {
    pub(crate) channels: Slab<Slot>,
    pub(crate) exit: bool,
    pub(crate) timers: Timers<Once, Every>,
    pub(crate) alarms: Alarms,
    pub(crate) trace: Option<Trace>,
    /// The read buffer chat channels share (see `chat.rs`).
    read_buffer: Vec<u8>,
    /// Confine a panicking callback to its channel's `handle_error`.
    pub(crate) catch_panics: bool,
    /// The timer whose action is running, if one is.
    current_timer: Option<TimerId>,
    /// Calls deferred until the running callback returns.
    deferred: Vec<Once>,
    /// Channels whose interest is to be asked again (`interest.rs`).
    pub(crate) dirty: Vec<Token>,
    /// Channels gone from the map whose registration is still to be
    /// removed, with the descriptor kept open until then.
    pub(crate) gone: Vec<(Token, Option<Socket>)>,
    /// `poll_once` is running: the reactor removes registrations of
    /// channels that leave before their descriptors close.
    pub(crate) in_iteration: bool,
    /// How many iterations the loop has begun (a listener tells a burst
    /// of connections from a quiet trickle by it).
    pub(crate) iteration: u64,
    /// How many channels out running callbacks were asked to close
    /// meanwhile: while none were (nearly always), a callback's "was I
    /// closed?" needs no look at its slot.
    pub(crate) busy_closes: usize,
}

impl Context {
    /// Runs `f` with a channel's handler and a [`Channel`] view of it, for
    /// example to queue output on it; then the callbacks that `f` left due
    /// (`handle_close` after a `recv` that saw the end of file, say).
    ///
    /// The types say what the channel is: `None` if `t` names no channel,
    /// one of another handler or layer type, or one whose callback is
    /// running (this channel, or one further up the call chain).
    ///
    /// ```
    /// use pollreactor::{Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
    ///
    /// struct Member { name: String }
    /// impl Handler<WithSend> for Member {}
    ///
    /// let (ours, _theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    /// let mut reactor = Reactor::new();
    /// let t = reactor.add(Dispatcher::new(ours)?.with_send(), Member { name: "ann".into() })?;
    /// let greeted = reactor.context_mut().call(t, |m: &mut Member, ch: &mut Channel<'_, WithSend>| {
    ///     ch.send_buffered(format!("hello {}\n", m.name).as_bytes())
    /// });
    /// assert!(matches!(greeted, Some(Ok(()))));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn call<L: 'static, H: 'static, R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut H, &mut Channel<'_, L>) -> R,
    ) -> Option<R> {
        let mut boxed = self.take(t)?;
        let fd = self.traced_fd(&*boxed);
        if !boxed.as_any().is::<Entry<L, H>>() {
            self.restore(t, boxed, fd);
            return None;
        }
        let entry = boxed.as_any_mut().downcast_mut::<Entry<L, H>>().expect("checked");
        let mut ch = Channel::new(t, &mut entry.disp, self);
        let result = f(&mut entry.handler, &mut ch);
        boxed.settle(self, t);
        self.restore(t, boxed, fd);
        Some(result)
    }

    /// A channel's handler, if `t` names a channel whose handler is an `H`
    /// (and whose callback is not running).
    pub fn handler<H: 'static>(&self, t: Token) -> Option<&H> {
        match self.channels.get(t)? {
            Slot::Live(boxed) => boxed.handler().downcast_ref(),
            Slot::Busy { .. } => None,
        }
    }

    /// A channel's dispatcher, to look at, if `t` names a channel of layer
    /// `L` (and its callback is not running): `ctx.dispatcher::<WithSend>(t)`.
    pub fn dispatcher<L: 'static>(&self, t: Token) -> Option<&Dispatcher<L>> {
        match self.channels.get(t)? {
            Slot::Live(boxed) => boxed.dispatcher().downcast_ref(),
            Slot::Busy { .. } => None,
        }
    }

    /// Closes a channel without calling its handler, as calling asyncore's
    /// `close()` on another dispatcher did: it gets no further callbacks,
    /// and no `handle_close`. A channel whose callback is running (this
    /// one, from inside it) closes when that callback returns. False if there
    /// was no such channel.
    ///
    /// A callback that closes its own channel this way ends the channel's
    /// pass at once, as `ch.close()` does: no other callback runs for it,
    /// even with other readiness reported, and the output it queued is not
    /// sent. (To send it first, call
    /// [`close_when_done`](Dispatcher::close_when_done).) On every backend,
    /// with the `Log` and `run` of the [guide's examples](crate::guide#the-rows-run):
    ///
    /// ```
    /// # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
    /// # fn main() -> std::io::Result<()> {
    /// use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, Reactor, SockType, Socket, WithSend};
    /// use std::io;
    ///
    /// struct Quits(Log);
    /// impl Handler<WithSend> for Quits {
    ///     fn writable(&mut self, _: &Dispatcher<WithSend>) -> bool {
    ///         true
    ///     }
    ///     fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         let mut buf = [0u8; 64];
    ///         let n = ch.recv(&mut buf)?;
    ///         self.0.push(format!("read {n}"));
    ///         ch.send_buffered(b"never sent")?;
    ///         let me = ch.token();
    ///         ch.context().close(me);
    ///         Ok(())
    ///     }
    ///     fn handle_write(&mut self, _: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         self.0.push("write".to_string());
    ///         Ok(())
    ///     }
    ///     fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
    ///         self.0.push("close".to_string());
    ///         ch.close();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// for &backend in Backend::available() {
    ///     let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream)?;
    ///     let log = Log::default();
    ///     let mut reactor = Reactor::new();
    ///     reactor.add(Dispatcher::new(ours)?.with_send(), Quits(log.clone()))?;
    ///     theirs.send(b"hello")?;
    ///     assert_eq!(run(&mut reactor, backend, &log), ["read 5"]); // no write, no close
    ///     assert_eq!(theirs.recv(&mut [0u8; 16])?, 0); // the end of file, not "never sent"
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&mut self, t: Token) -> bool {
        match self.channels.get_mut(t) {
            Some(Slot::Busy { close }) => {
                if !std::mem::replace(close, true) {
                    self.busy_closes += 1;
                }
            }
            Some(Slot::Live(_)) => {
                let Some(Slot::Live(mut boxed)) = self.channels.remove(t) else { unreachable!() };
                let fd = self.traced_fd(&*boxed);
                boxed.close();
                self.leave(t, &mut boxed);
                self.forget(fd);
            }
            None => return false,
        }
        true
    }

    /// Takes a channel out without closing it (asyncore's `del_channel`):
    /// its dispatcher and handler are the caller's again. `None` if `t`
    /// names no channel of these types, or one whose callback is running.
    pub fn remove<L: 'static, H: 'static>(&mut self, t: Token) -> Option<(Dispatcher<L>, H)> {
        match self.channels.get(t)? {
            Slot::Live(boxed) if boxed.as_any().is::<Entry<L, H>>() => {}
            _ => return None,
        }
        let Some(Slot::Live(mut boxed)) = self.channels.remove(t) else { unreachable!() };
        self.leave(t, &mut boxed);
        self.forget(None);
        let any: Box<dyn Any> = boxed;
        let mut entry = any.downcast::<Entry<L, H>>().ok()?;
        // The program's again: a close closes at once.
        entry.disp.flags.set(Flags::IN_REACTOR, false);
        entry.disp.flags.set(Flags::DIRTY, false);
        Some((entry.disp, entry.handler))
    }

    /// Closes every channel (asyncore's `close_all`); the map is then empty,
    /// but for channels whose callback is running, which close when it returns.
    pub fn close_all(&mut self) {
        let tokens: Vec<Token> = self.channels.iter().map(|(t, _)| t).collect();
        for t in tokens {
            self.close(t);
        }
    }

    /// How many channels there are.
    pub fn len(&self) -> usize {
        self.channels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.channels.len() == 0
    }

    /// Whether `t` names a channel that is here (not running a callback).
    pub fn contains(&self, t: Token) -> bool {
        matches!(self.channels.get(t), Some(Slot::Live(_)))
    }

    /// The tokens of all channels, in slot order.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.channels.iter().map(|(t, _)| t)
    }

    /// Ends the loop (asyncore's `raise ExitNow`): no further callback runs
    /// in this iteration, and [`Reactor::run`](crate::Reactor::run) returns `Ok(())`.
    pub fn exit_now(&mut self) {
        self.exit = true;
    }

    /// Whether a callback asked the loop to end (in this iteration).
    pub fn exit_requested(&self) -> bool {
        self.exit
    }

    /// Takes a channel out of the map, leaving its slot busy.
    #[inline]
    pub(crate) fn take(&mut self, t: Token) -> Option<Box<dyn AnyChannel>> {
        let slot = self.channels.get_mut(t)?;
        match std::mem::replace(slot, Slot::Busy { close: false }) {
            Slot::Live(boxed) => Some(boxed),
            busy => {
                *slot = busy;
                None
            }
        }
    }

    /// Runs `f` on channel `t` taken out of the map (its slot busy), then
    /// puts it back; nothing if it is gone or already out.
    #[inline]
    pub(crate) fn with_taken(&mut self, t: Token, f: impl FnOnce(&mut Box<dyn AnyChannel>, &mut Context)) {
        if let Some(mut boxed) = self.take(t) {
            let fd = self.traced_fd(&*boxed);
            f(&mut boxed, self);
            self.restore(t, boxed, fd);
        }
    }

    /// Puts a taken channel back, or frees its slot if it was closed
    /// meanwhile (`fd` is what it had when taken, for the trace).
    #[inline]
    pub(crate) fn restore(&mut self, t: Token, mut boxed: Box<dyn AnyChannel>, fd: Option<RawFd>) {
        let slot = self.channels.get_mut(t);
        let close = matches!(slot, Some(Slot::Busy { close: true }));
        if close {
            self.busy_closes -= 1;
        }
        match (boxed.put_back(close), slot) {
            (Some(newly_marked), Some(slot)) => {
                *slot = Slot::Live(boxed);
                if newly_marked {
                    self.dirty.push(t);
                }
            }
            (Some(_), None) => {}
            (None, _) => {
                self.channels.remove(t);
                self.leave(t, &mut boxed);
                self.forget(fd);
            }
        }
    }

    /// A channel left the map: its timers are cancelled, and its
    /// registration is to be removed (then its descriptor closes).
    fn leave(&mut self, t: Token, boxed: &mut Box<dyn AnyChannel>) {
        for id in boxed.take_timers() {
            self.timers.cancel(id);
        }
        // Outside an iteration nothing can deregister it first: close now.
        let retired = boxed.retire().filter(|_| self.in_iteration);
        self.gone.push((t, retired));
    }

    /// Tells the reactor that channel `t`'s `readable()`/`writable()`
    /// answers may have changed, for reasons its own callbacks did not see
    /// (a flag another channel set, say). Only needed in
    /// [`InterestMode::WhenChanged`](crate::InterestMode::WhenChanged): there
    /// a channel is asked again only after its own callbacks ran or when
    /// told so. A channel whose callback is running is asked again anyway.
    pub fn interest_changed(&mut self, t: Token) {
        if let Some(Slot::Live(boxed)) = self.channels.get_mut(t) {
            if boxed.mark_dirty() {
                self.dirty.push(t);
            }
        }
    }

    /// A channel's descriptor as [`forget`](Self::forget) will tell the
    /// trace, read before the channel may close; with the trace off, none
    /// (nothing else needs it, and the call is on every event's path).
    #[inline]
    fn traced_fd(&self, channel: &dyn AnyChannel) -> Option<RawFd> {
        self.trace.as_ref().and_then(|_| channel.fileno())
    }

    /// Notes a channel gone from the map, for the trace.
    fn forget(&mut self, fd: Option<RawFd>) {
        if let Some(trace) = &mut self.trace {
            trace.closed(fd);
        }
    }

    /// The shared read buffer (empty if a read is already using it).
    #[inline]
    pub(crate) fn take_read_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.read_buffer)
    }

    /// Returns the shared read buffer, keeping the larger of the two.
    #[inline]
    pub(crate) fn put_read_buffer(&mut self, buffer: Vec<u8>) {
        if buffer.capacity() >= self.read_buffer.capacity() {
            self.read_buffer = buffer;
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("channels", &self.len()).field("timers", &self.timers.len()).finish()
    }
}
