//! [`Layer`]: the asyncore class a channel is, with that class's default
//! callbacks; and the plain layer's.

use std::io;

use super::{Handler, LogKind};
use crate::context::Channel;
use crate::dispatcher::{Dispatcher, Plain};

/// The asyncore class a channel is, and that class's default callbacks.
///
/// There are three, each a type: [`Plain`] (`asyncore.dispatcher`),
/// [`WithSend`](crate::WithSend) (`asyncore.dispatcher_with_send`) and
/// [`Chat`](crate::Chat) (`asynchat.async_chat`). A [`Dispatcher<L>`] holds
/// the layer's state, and [`Handler<L>`]'s defaults call these functions,
/// so an override can call them too, as a Python subclass called the base
/// class's method:
///
/// ```
/// use pollreactor::{Channel, Chat, Handler, Layer};
/// use std::io;
///
/// /// Counts reads, around asynchat's own read step.
/// struct Lines {
///     reads: usize,
/// }
/// impl Handler<Chat> for Lines {
///     fn handle_read(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
///         Chat::handle_read(self, ch)?; // asynchat's read step: records, found_terminator
///         self.reads += 1;
///         Ok(())
///     }
///     fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
///         let line = ch.take_incoming();
///         ch.push(&line)
///     }
/// }
/// ```
///
/// The trait is sealed: the three layers are the crate's.
pub trait Layer: sealed::Sealed + Sized + 'static {
    /// The class's `readable()`: true, but false while a buffered channel's
    /// `close_when_done` flushes.
    fn readable(d: &Dispatcher<Self>) -> bool;

    /// The class's `writable()`: true for [`Plain`] (asyncore's); for the
    /// buffered layers, true while a connect is in progress or output is
    /// queued (asyncore's "not connected" would make an unconnected UDP
    /// channel writable forever).
    fn writable(d: &Dispatcher<Self>) -> bool;

    /// The class's `handle_read()`: a warning, but for [`Chat`](crate::Chat)
    /// asynchat's read step.
    fn handle_read<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// The class's `handle_write()`: a warning for [`Plain`]; for the
    /// buffered layers one send from the queue ([`Dispatcher::initiate_send`]).
    fn handle_write<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// The class's `handle_close()`: a warning, then close; the buffered
    /// layers first send what is queued ([`Dispatcher::close_when_done`]).
    fn handle_close<H: Handler<Self> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Self>) -> io::Result<()>;

    /// asynchat's `_collect_incoming_data`: append to the record. Only the
    /// chat layer has records; the others ignore the data.
    fn collect_incoming_data(ch: &mut Channel<'_, Self>, data: &[u8]) -> io::Result<()> {
        let _ = (ch, data);
        Ok(())
    }
}

/// Keeps [`Layer`] (and [`Buffered`](crate::Buffered)) the crate's own.
pub(crate) mod sealed {
    pub trait Sealed {}
}

impl sealed::Sealed for Plain {}

/// `asyncore.dispatcher`: no output queue; reads and writes are the
/// handler's to do.
impl Layer for Plain {
    fn readable(_: &Dispatcher<Plain>) -> bool {
        true
    }

    fn writable(_: &Dispatcher<Plain>) -> bool {
        true
    }

    fn handle_read<H: Handler<Plain> + ?Sized>(h: &mut H, _: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled read event", LogKind::Warning);
        Ok(())
    }

    fn handle_write<H: Handler<Plain> + ?Sized>(h: &mut H, _: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled write event", LogKind::Warning);
        Ok(())
    }

    fn handle_close<H: Handler<Plain> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Plain>) -> io::Result<()> {
        h.log_info("unhandled close event", LogKind::Warning);
        ch.close();
        Ok(())
    }
}
