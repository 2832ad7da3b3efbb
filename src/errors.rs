//! How the reactor reads an errno: would-block, disconnect, or a real error.

use std::io;

/// The errnos asyncore treats as "the peer went away": a callback failing
/// with one of these gets `handle_close`, not `handle_error`.
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
