//! How the reactor reads an errno: would-block, disconnect, or a real error.

use std::io;

/// The errnos asyncore treats as "the peer went away", in this order:
///
/// | errno | on Linux | what it says | [`CloseReason`](crate::CloseReason) |
/// |---|---|---|---|
/// | `ECONNRESET` | 104 | the peer reset the connection | `Reset` |
/// | `ENOTCONN` | 107 | the socket is not connected | `Broken` |
/// | `ESHUTDOWN` | 108 | a send after the write side was shut down | `Broken` |
/// | `ECONNABORTED` | 103 | the connection was aborted | `Broken` |
/// | `EPIPE` | 32 | a send on a connection the peer closed or reset | `Broken` |
/// | `EBADF` | 9 | the descriptor is not open (the dispatcher was closed) | `Broken` |
///
/// The array holds the platform's values (`libc`'s constants); the numbers
/// above are Linux's.
///
/// What one of them does:
///
/// * met by [`recv`](crate::Dispatcher::recv) or
///   [`send`](crate::Dispatcher::send): the call returns `Ok(0)`, not the
///   error; queued output is dropped, and `handle_close` runs when the
///   callback returns;
/// * returned by a callback, or found in `SO_ERROR` when a connect ends:
///   `handle_close`, not `handle_error`.
///
/// In both, [`close_reason`](crate::Dispatcher::close_reason) says
/// `Reset` for `ECONNRESET` and `Broken` for the others
/// ([`CloseReason::of`](crate::CloseReason::of)). Any other errno
/// (`ECONNREFUSED`, `ETIMEDOUT`, ...) is an error: it goes to
/// [`handle_error`](crate::Handler::handle_error).
///
/// ```
/// use pollreactor::{is_disconnect, DISCONNECTED};
/// use std::io;
///
/// assert_eq!(
///     DISCONNECTED,
///     [libc::ECONNRESET, libc::ENOTCONN, libc::ESHUTDOWN, libc::ECONNABORTED, libc::EPIPE, libc::EBADF]
/// );
/// #[cfg(target_os = "linux")]
/// assert_eq!(DISCONNECTED, [104, 107, 108, 103, 32, 9]);
/// assert!(is_disconnect(&io::Error::from_raw_os_error(libc::EPIPE)));
/// assert!(!is_disconnect(&io::Error::from_raw_os_error(libc::ECONNREFUSED)));
/// ```
pub const DISCONNECTED: [i32; 6] =
    [libc::ECONNRESET, libc::ENOTCONN, libc::ESHUTDOWN, libc::ECONNABORTED, libc::EPIPE, libc::EBADF];

/// Whether `err` is one of the [`DISCONNECTED`] errnos.
pub fn is_disconnect(err: &io::Error) -> bool {
    err.raw_os_error().is_some_and(|e| DISCONNECTED.contains(&e))
}

/// Whether `err` means "try again later" (EAGAIN / EWOULDBLOCK).
pub fn is_would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}
