//! The buffered layer, asyncore's `dispatcher_with_send` ([`WithSend`]):
//! queued output, sent in order, of bytes and of [`Producer`]s (the queue
//! asynchat's `producer_fifo` also uses, see `chat.rs`).

use std::io;

use crate::context::Channel;
use crate::dispatcher::{Dispatcher, Flags, Plain};
use crate::handler::{sealed, Handler, Layer, LogKind};

pub(crate) mod queue;

pub use queue::{Producer, SimpleProducer};

/// The layer of asyncore's `dispatcher_with_send`: output given to
/// [`send_buffered`](Dispatcher::send_buffered) is queued, and the
/// defaults are [`Layer`]'s for `WithSend`: writable only while there is
/// output to flush or a connect to finish; `handle_write` sends from the
/// queue; `handle_close` first sends what is queued.
#[derive(Clone, Copy, Debug, Default)]
pub struct WithSend;

/// The layers with an output queue: [`WithSend`] and [`Chat`](crate::Chat).
/// Their dispatchers have the queue's methods ([`Dispatcher::send_buffered`],
/// [`Dispatcher::close_when_done`], ...). Sealed, like [`Layer`].
pub trait Buffered: Layer {}

impl sealed::Sealed for WithSend {}
impl Buffered for WithSend {}

impl Dispatcher<Plain> {
    /// Makes this asyncore's `dispatcher_with_send`: output given to
    /// [`send_buffered`](Dispatcher::send_buffered) is queued, and the
    /// default `writable` is true only while there is output to flush or a
    /// connect to finish.
    #[doc(alias = "dispatcher_with_send")]
    #[doc(alias = "DispatcherWithSend")]
    pub fn with_send(self) -> Dispatcher<WithSend> {
        self.with_layer(WithSend)
    }
}

/// The output queue's methods, on the buffered layers.
impl<L: Buffered> Dispatcher<L> {
    /// Queues `data` (asyncore's `dispatcher_with_send.send`). It goes
    /// out when the running callback returns, together with everything
    /// else queued meanwhile, in one send(2) (or sooner, once the queue is
    /// over its high-water mark); what the socket does not take then goes
    /// out on later write events, in order. Nothing is sent before a connect
    /// completes.
    #[inline]
    pub fn send_buffered(&mut self, data: &[u8]) -> io::Result<()> {
        if self.out.is_empty() {
            // The send timeout counts from the first byte that waits.
            self.note_output();
        }
        self.out.push(data);
        self.flags.set(Flags::FRESH_OUTPUT, true);
        self.send_if_full()
    }

    /// One send now if the queue is over its high-water mark (and the
    /// channel is connected): a callback that queues a lot does not wait
    /// for its return to start sending.
    #[inline]
    pub(crate) fn send_if_full(&mut self) -> io::Result<()> {
        if self.connected() && self.out.byte_len() > self.water_marks().0 {
            self.send_queued()
        } else {
            Ok(())
        }
    }

    /// One send of at most [`SEND_CHUNK`](crate::SEND_CHUNK) bytes (or the
    /// chat channel's out-buffer size) from the output queue, now. Once a
    /// [`close_when_done`](Self::close_when_done) has nothing left to send,
    /// `handle_close` follows ([`CloseReason::Drained`](crate::CloseReason::Drained)).
    pub fn initiate_send(&mut self) -> io::Result<()> {
        self.send_queued()
    }

    /// Bytes queued by [`send_buffered`](Self::send_buffered) and not sent yet.
    pub fn pending_output(&self) -> usize {
        self.out.byte_len()
    }

    /// Whether any output (bytes or producers) waits to be sent.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Stops reading, sends what is queued, then closes (asynchat's
    /// `close_when_done`): `handle_close` runs then, with
    /// [`CloseReason::Drained`](crate::CloseReason::Drained), unless it is
    /// what called this.
    pub fn close_when_done(&mut self) {
        self.flags.set(Flags::CLOSING, true);
        if self.out.is_empty() {
            self.drained();
        }
    }

    /// Sends what is queued, then shuts down the write side (the peer reads
    /// an end of file) while the channel goes on reading: a half-close, as
    /// asyncio's `write_eof`. A forwarder passes a peer's end of file on
    /// this way.
    pub fn shutdown_when_done(&mut self) -> io::Result<()> {
        self.flags.set(Flags::SHUTTING, true);
        if self.out.is_empty() && self.connected() {
            self.send_queued()?;
        }
        Ok(())
    }

    /// [`close_when_done`](Self::close_when_done) was called: the channel
    /// reads no more and closes once its output is sent.
    pub fn closing(&self) -> bool {
        self.flags.has(Flags::CLOSING)
    }
}

/// `readable()` of the buffered layers: not while `close_when_done` flushes.
pub(crate) fn buffered_readable<L>(d: &Dispatcher<L>) -> bool {
    !d.flags.has(Flags::CLOSING)
}

/// `writable()` of the buffered layers: while connecting or holding output.
pub(crate) fn buffered_writable<L>(d: &Dispatcher<L>) -> bool {
    d.connecting() || !d.out.is_empty()
}

/// `handle_close()` of the buffered layers: a warning, then send what is
/// queued and close (at once for a send timeout: the queue is stuck).
pub(crate) fn buffered_close<L: Buffered, H: Handler<L> + ?Sized>(
    h: &mut H,
    ch: &mut Channel<'_, L>,
) -> io::Result<()> {
    h.log_info("unhandled close event", LogKind::Warning);
    if ch.close_reason() == Some(crate::CloseReason::SendTimeout) {
        // The queue is what did not move: waiting for it to drain would
        // only wait for the next send timeout.
        ch.close();
    } else {
        ch.close_when_done();
    }
    Ok(())
}

/// `asyncore.dispatcher_with_send`.
impl Layer for WithSend {
    fn readable(d: &Dispatcher<WithSend>) -> bool {
        buffered_readable(d)
    }

    fn writable(d: &Dispatcher<WithSend>) -> bool {
        buffered_writable(d)
    }

    fn handle_read<H: Handler<WithSend> + ?Sized>(
        h: &mut H,
        _: &mut Channel<'_, WithSend>,
    ) -> io::Result<()> {
        h.log_info("unhandled read event", LogKind::Warning);
        Ok(())
    }

    fn handle_write<H: Handler<WithSend> + ?Sized>(
        _: &mut H,
        ch: &mut Channel<'_, WithSend>,
    ) -> io::Result<()> {
        ch.initiate_send()
    }

    fn handle_close<H: Handler<WithSend> + ?Sized>(
        h: &mut H,
        ch: &mut Channel<'_, WithSend>,
    ) -> io::Result<()> {
        buffered_close(h, ch)
    }
}
