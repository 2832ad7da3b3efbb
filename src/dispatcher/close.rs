//! How a channel ends: the reasons the library closes one, and the rule
//! that each such close is announced to `handle_close` once.

use std::io;

use super::{Dispatcher, Flags};

/// Why the library is closing a channel: what
/// [`Dispatcher::close_reason`] tells `handle_close`.
///
/// Only a program's own [`close`](Dispatcher::close) skips `handle_close`,
/// as in asyncore. Every close the library makes has one of these reasons,
/// and the reactor runs `handle_close` for the first of them: if that
/// `handle_close` kept the channel open, the next close the library makes
/// closes it without a callback, except after an `EndOfFile`: a channel
/// kept open to finish sending is told once more if it then breaks or
/// times out, with that reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The peer closed its end: `recv` returned 0 bytes (or a pipe's
    /// writer closed). Anything already queued may still be sent.
    EndOfFile,
    /// The peer reset the connection (`ECONNRESET`, met by `recv`, by
    /// `send`, or in `SO_ERROR`): what it had not read is lost, and so is
    /// what is queued for it.
    Reset,
    /// The connection broke another way: `EPIPE`, `ENOTCONN`, `ESHUTDOWN`,
    /// `ECONNABORTED`, `EBADF`; or a hang-up or error the wait reported
    /// with nothing left to read, whatever `SO_ERROR` then holds but
    /// `ECONNRESET` (none, or even `ECONNREFUSED` on a UDP socket); or a
    /// descriptor that is not open (`POLLNVAL`). See the guide's
    /// [readiness table](crate::guide#readiness-into-callbacks).
    Broken,
    /// An error went to [`Handler::handle_error`](crate::Handler::handle_error):
    /// a callback's error, or a failed connect (`ECONNREFUSED`, say). The
    /// reason is set before `handle_error` runs, so the `handle_close` its
    /// default calls sees it.
    Error,
    /// No data moved either way for the idle timeout
    /// ([`Dispatcher::set_idle_timeout`]).
    IdleTimeout,
    /// No data arrived for the input timeout ([`Dispatcher::set_input_timeout`]).
    InputTimeout,
    /// Queued output did not move for the send timeout
    /// ([`Dispatcher::set_send_timeout`]).
    SendTimeout,
    /// A [`close_when_done`](Dispatcher::close_when_done) sent everything
    /// it had queued: `handle_close` runs with this reason, in settle,
    /// unless it is what called `close_when_done` (then the channel just
    /// closes).
    Drained,
}

impl CloseReason {
    /// The reason an errno gives a close: [`Reset`](CloseReason::Reset)
    /// for `ECONNRESET`, [`Broken`](CloseReason::Broken) for any other (see
    /// [`DISCONNECTED`](crate::DISCONNECTED)).
    pub fn of(err: &io::Error) -> CloseReason {
        match err.raw_os_error() {
            Some(libc::ECONNRESET) => CloseReason::Reset,
            _ => CloseReason::Broken,
        }
    }
}

impl<L> Dispatcher<L> {
    /// Why the library is closing this channel: set when `handle_close` is
    /// due (or `handle_error` is about to run: [`Error`](CloseReason::Error)),
    /// so a `handle_close` can tell an end of file from a reset, a timeout
    /// or a drained `close_when_done` (a forwarder passes a reset on as a
    /// reset). `None` before that, and for a program's own `close()`. The
    /// first reason set stays.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Records that `handle_close` is due, for `reason`, once the running
    /// callback returns. The first reason wins.
    pub(crate) fn close_due(&mut self, reason: CloseReason) {
        self.pending.close = true;
        self.pending.reason = Some(reason);
        self.close_reason.get_or_insert(reason);
    }

    /// Sets the reason `handle_close` will see, unless one is set.
    pub(crate) fn note_reason(&mut self, reason: CloseReason) {
        self.close_reason.get_or_insert(reason);
    }

    /// `handle_close` is about to run for a close the library made; false
    /// if it already ran (it is not run again). One exception: a channel
    /// whose `handle_close` kept it open after an end of file (to send its
    /// last answer, say) is told once more if it then ends another way (a
    /// reset, a timeout), with that reason: a forwarder must pass a reset
    /// on, and the bytes it still had queued are lost.
    pub(crate) fn announce(&mut self, reason: CloseReason) -> bool {
        self.pending.close = false;
        if !self.flags.replace(Flags::ANNOUNCED, true) {
            self.close_reason.get_or_insert(reason);
            return true;
        }
        if self.close_reason == Some(CloseReason::EndOfFile) && reason != CloseReason::EndOfFile {
            self.close_reason = Some(reason);
            return true;
        }
        false
    }
}
