//! The [`Reactor`]: the channel map and the loop.

use std::any::Any;
use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::backend::{Event, Interest, Poller};
use crate::dispatch::{dispatch, settle};
use crate::{Backend, Dispatcher, Handler};

/// Names one channel of a [`Reactor`]. A token is never reused for another
/// channel, even when the new one gets the same descriptor number, so a
/// stale token simply finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    slot: u32,
    generation: u32,
}

/// A channel: its dispatcher and the handler that owns its callbacks.
struct Entry {
    disp: Dispatcher,
    handler: Box<dyn Handler>,
}

/// One place in the channel map.
enum Slot {
    Free,
    /// Taken out while one of its callbacks runs; `close` records a
    /// `close_channel` asked for meanwhile (by a channel it called).
    Busy {
        close: bool,
    },
    Live(Entry),
}

/// The channel map (asyncore's `socket_map`): slots indexed by token, each
/// with a generation so that a token outlives its channel harmlessly.
#[derive(Default)]
pub(crate) struct ChannelMap {
    slots: Vec<(u32, Slot)>,
    free: Vec<u32>,
    live: usize,
    pub(crate) exit: bool,
}

impl ChannelMap {
    fn add(&mut self, disp: Dispatcher, handler: Box<dyn Handler>) -> io::Result<Token> {
        if !disp.is_open() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot add a closed dispatcher",
            ));
        }
        let connect_done = disp.pending.connect;
        let entry = Entry { disp, handler };
        let token = match self.free.pop() {
            Some(slot) => {
                let (generation, place) = &mut self.slots[slot as usize];
                *place = Slot::Live(entry);
                Token {
                    slot,
                    generation: *generation,
                }
            }
            None => {
                self.slots.push((0, Slot::Live(entry)));
                Token {
                    slot: (self.slots.len() - 1) as u32,
                    generation: 0,
                }
            }
        };
        self.live += 1;
        if connect_done {
            // connect() finished before the channel had a handler: its
            // handle_connect runs now, before any other callback.
            self.call(token, |_, _| ());
        }
        Ok(token)
    }

    fn slot(&self, t: Token) -> Option<&Slot> {
        match self.slots.get(t.slot as usize) {
            Some((generation, slot)) if *generation == t.generation => Some(slot),
            _ => None,
        }
    }

    fn slot_mut(&mut self, t: Token) -> Option<&mut Slot> {
        match self.slots.get_mut(t.slot as usize) {
            Some((generation, slot)) if *generation == t.generation => Some(slot),
            _ => None,
        }
    }

    fn entry(&self, t: Token) -> Option<&Entry> {
        match self.slot(t) {
            Some(Slot::Live(e)) => Some(e),
            _ => None,
        }
    }

    /// Frees a slot: its generation moves on, so old tokens stop matching.
    fn free_slot(&mut self, t: Token) {
        let (generation, slot) = &mut self.slots[t.slot as usize];
        *generation = generation.wrapping_add(1);
        *slot = Slot::Free;
        self.free.push(t.slot);
        self.live -= 1;
    }

    /// Takes a channel out of the map, leaving its slot busy.
    fn take(&mut self, t: Token) -> Option<Entry> {
        let slot = self.slot_mut(t)?;
        match std::mem::replace(slot, Slot::Busy { close: false }) {
            Slot::Live(e) => Some(e),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Puts a taken channel back, or forgets it if it was closed meanwhile.
    fn restore(&mut self, t: Token, mut entry: Entry) {
        if let Some(Slot::Busy { close: true }) = self.slot(t) {
            entry.disp.close();
        }
        if entry.disp.is_open() {
            self.slots[t.slot as usize].1 = Slot::Live(entry);
        } else {
            self.free_slot(t);
        }
    }

    /// Runs `f` with the channel's handler and a [`Channel`] view of it,
    /// then the callbacks that `f` left pending (a connect that completed, a
    /// peer that closed). `None` if the token names no channel, or one whose
    /// callback is running.
    pub(crate) fn call<R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> R,
    ) -> Option<R> {
        let mut entry = self.take(t)?;
        let mut ch = Channel {
            token: t,
            disp: &mut entry.disp,
            map: self,
        };
        let result = f(&mut *entry.handler, &mut ch);
        settle(&mut *entry.handler, &mut ch);
        self.restore(t, entry);
        Some(result)
    }

    /// Closes a channel without calling its handler (asyncore's `close()`
    /// called on another dispatcher).
    fn close(&mut self, t: Token) -> bool {
        match self.slot_mut(t) {
            Some(Slot::Busy { close }) => *close = true,
            Some(Slot::Live(_)) => {
                let entry = self.take(t);
                self.free_slot(t);
                drop(entry);
            }
            _ => return false,
        }
        true
    }
}

/// A channel as its callbacks see it: the channel's [`Dispatcher`] (through
/// `Deref`, so `ch.recv(..)`, `ch.send(..)`, `ch.close()` work directly)
/// plus access to the rest of the reactor: adding channels, closing or
/// calling others, and ending the loop.
pub struct Channel<'a> {
    token: Token,
    disp: &'a mut Dispatcher,
    map: &'a mut ChannelMap,
}

impl Channel<'_> {
    /// This channel's token.
    pub fn token(&self) -> Token {
        self.token
    }

    /// Adds a channel (an accepted connection, a new client). It is polled
    /// from the next loop iteration on.
    pub fn add<H: Handler>(&mut self, disp: Dispatcher, handler: H) -> io::Result<Token> {
        self.map.add(disp, Box::new(handler))
    }

    /// Closes another channel (or this one) without calling its handler, as
    /// calling asyncore's `close()` on another dispatcher did. It gets no
    /// further callbacks. Returns false if there was no such channel.
    pub fn close_channel(&mut self, t: Token) -> bool {
        if t == self.token {
            self.disp.close();
            return true;
        }
        self.map.close(t)
    }

    /// Runs `f` on another channel's handler and dispatcher, for example to
    /// queue output on it. `None` if `t` names no channel, or names this
    /// one or one whose callback is already running.
    pub fn call<R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> R,
    ) -> Option<R> {
        self.map.call(t, f)
    }

    /// Another channel's dispatcher, to look at.
    pub fn dispatcher(&self, t: Token) -> Option<&Dispatcher> {
        self.map.entry(t).map(|e| &e.disp)
    }

    /// How many channels the reactor holds.
    pub fn channel_count(&self) -> usize {
        self.map.live
    }

    /// Ends the loop (asyncore's `raise ExitNow`): no further callback runs
    /// in this iteration, and [`Reactor::run`] returns `Ok(())`.
    pub fn exit_now(&mut self) {
        self.map.exit = true;
    }

    /// Whether a callback asked the loop to end.
    pub fn exit_requested(&self) -> bool {
        self.map.exit
    }
}

impl Deref for Channel<'_> {
    type Target = Dispatcher;
    fn deref(&self) -> &Dispatcher {
        self.disp
    }
}

impl DerefMut for Channel<'_> {
    fn deref_mut(&mut self) -> &mut Dispatcher {
        self.disp
    }
}

impl fmt::Debug for Channel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.disp.fmt(f)
    }
}

/// How [`Reactor::run`] loops: asyncore's `loop(timeout, use_poll, map, count)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopOptions {
    /// The longest each wait may last; `None` waits until an event.
    /// Default: 30 seconds, as asyncore.
    pub timeout: Option<Duration>,
    /// Which system call waits. Default: [`Backend::Poll`].
    pub backend: Backend,
    /// Stop after this many iterations (waits); `None`: run until the map
    /// is empty or a handler calls [`Channel::exit_now`].
    pub count: Option<u64>,
}

impl Default for LoopOptions {
    fn default() -> LoopOptions {
        LoopOptions {
            timeout: Some(Duration::from_secs(30)),
            backend: Backend::Poll,
            count: None,
        }
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

    /// Sets the number of iterations.
    pub fn count(mut self, count: u64) -> LoopOptions {
        self.count = Some(count);
        self
    }
}

/// The event loop: a map of channels, and the loop that waits on them and
/// calls their handlers.
///
/// ```no_run
/// use pollreactor::{Backend, Channel, Dispatcher, Handler, LoopOptions, Reactor, Socket, Address};
/// use std::io;
///
/// struct Echo;
/// impl Handler for Echo {
///     fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
///         let mut buf = [0u8; 8192];
///         let n = ch.recv(&mut buf)?;
///         ch.send_buffered(&buf[..n])
///     }
/// }
///
/// struct Server;
/// impl Handler for Server {
///     fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _: Address) -> io::Result<()> {
///         ch.add(Dispatcher::new(sock)?.with_send(), Echo)?;
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
    map: ChannelMap,
    poller: Poller,
    interest: Vec<Interest>,
    /// Where the next interest scan starts, so no channel is always first.
    rotation: usize,
}

impl Reactor {
    /// An empty reactor.
    pub fn new() -> Reactor {
        Reactor::default()
    }

    /// Adds a channel; it is polled from the next iteration on. If the
    /// dispatcher's `connect` already completed, `handle_connect` runs
    /// before this returns.
    pub fn add<H: Handler>(&mut self, disp: Dispatcher, handler: H) -> io::Result<Token> {
        self.map.add(disp, Box::new(handler))
    }

    /// Takes a channel out of the reactor without closing it (asyncore's
    /// `del_channel`): the socket is yours again.
    pub fn remove(&mut self, t: Token) -> Option<(Dispatcher, Box<dyn Handler>)> {
        let entry = self.map.take(t)?;
        self.map.free_slot(t);
        Some((entry.disp, entry.handler))
    }

    /// Closes a channel without calling its handler. False if there was none.
    pub fn close(&mut self, t: Token) -> bool {
        self.map.close(t)
    }

    /// Closes every channel (asyncore's `close_all`); the map is then empty.
    pub fn close_all(&mut self) {
        for t in self.tokens().collect::<Vec<_>>() {
            self.map.close(t);
        }
    }

    /// How many channels there are.
    pub fn len(&self) -> usize {
        self.map.live
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.live == 0
    }

    /// Whether `t` names a channel of this reactor.
    pub fn contains(&self, t: Token) -> bool {
        self.map.entry(t).is_some()
    }

    /// The tokens of all channels.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + '_ {
        self.map
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, (generation, slot))| match slot {
                Slot::Live(_) => Some(Token {
                    slot: i as u32,
                    generation: *generation,
                }),
                _ => None,
            })
    }

    /// A channel's dispatcher.
    pub fn dispatcher(&self, t: Token) -> Option<&Dispatcher> {
        self.map.entry(t).map(|e| &e.disp)
    }

    /// A channel's handler, if it is an `H`.
    pub fn handler<H: Handler>(&self, t: Token) -> Option<&H> {
        let any: &dyn Any = &*self.map.entry(t)?.handler;
        any.downcast_ref()
    }

    /// Runs `f` on a channel's handler and dispatcher from outside the loop,
    /// followed by any callback it made due (`handle_close` after a recv that
    /// saw the end of file, say). `None` if there is no such channel.
    pub fn call<R>(
        &mut self,
        t: Token,
        f: impl FnOnce(&mut dyn Handler, &mut Channel<'_>) -> R,
    ) -> Option<R> {
        self.map.call(t, f)
    }

    /// Whether a handler called [`Channel::exit_now`] during the last iteration.
    pub fn exit_requested(&self) -> bool {
        self.map.exit
    }

    /// Runs iterations until the map is empty, `count` iterations have run,
    /// or a handler calls [`Channel::exit_now`] (asyncore's `loop`).
    pub fn run(&mut self, opts: LoopOptions) -> io::Result<()> {
        let mut left = opts.count;
        while !self.is_empty() && left != Some(0) {
            self.poll_once(opts.timeout, opts.backend)?;
            if self.map.exit {
                break;
            }
            left = left.map(|n| n - 1);
        }
        Ok(())
    }

    /// One loop iteration (asyncore's `poll` / `poll2`): ask every channel
    /// what it waits for, wait once, then turn readiness into callbacks.
    ///
    /// With no channels it returns at once. With channels that wait for
    /// nothing it sleeps for `timeout` (forever if `None`), as asyncore did.
    /// An interrupted wait (EINTR) is resumed with the time that remains.
    pub fn poll_once(&mut self, timeout: Option<Duration>, backend: Backend) -> io::Result<()> {
        self.map.exit = false;
        if self.map.live == 0 {
            return Ok(());
        }
        // 1. Interest: readable() and writable(), once per channel.
        self.collect_interest();
        // 2. The wait: one poll(2) or select(2).
        self.poller.wait(backend, &self.interest, timeout)?;
        // 3. Dispatch: each ready channel's events become callbacks. A
        //    channel closed earlier in this pass has left the map, and its
        //    token (unlike its fd number) is never reused, so it gets nothing.
        for i in 0..self.poller.events.len() {
            let Event { token, ready } = self.poller.events[i];
            self.map.call(token, |h, ch| dispatch(h, ch, ready));
            if self.map.exit {
                break;
            }
        }
        Ok(())
    }

    /// Fills `self.interest`, starting one slot further each iteration so
    /// that no channel is always served first.
    fn collect_interest(&mut self) {
        self.interest.clear();
        let n = self.map.slots.len();
        self.rotation = if self.rotation + 1 >= n {
            0
        } else {
            self.rotation + 1
        };
        let (before, after) = self.map.slots.split_at_mut(self.rotation);
        let rotated = after
            .iter_mut()
            .zip(self.rotation..)
            .chain(before.iter_mut().zip(0..));
        for ((generation, slot), index) in rotated {
            let Slot::Live(entry) = slot else { continue };
            let Some(fd) = entry.disp.fileno() else {
                continue;
            };
            let read = entry.handler.readable(&entry.disp);
            let write = !entry.disp.accepting() && entry.handler.writable(&entry.disp);
            if read || write {
                let token = Token {
                    slot: index as u32,
                    generation: *generation,
                };
                self.interest.push(Interest {
                    token,
                    fd,
                    read,
                    write,
                });
            }
        }
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("channels", &self.map.live)
            .finish()
    }
}
