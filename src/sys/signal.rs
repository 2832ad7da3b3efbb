//! Signal handlers that only write the signal's number to a socket (the
//! self-pipe trick): the loop polls the other end and runs the program's
//! handlers on its own thread, where anything is allowed.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use super::cvt;

/// The socket the handler writes to, or -1. Set once, to a descriptor that
/// is never closed (it belongs to a process-wide static).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

/// Installs the self-pipe handler for `signum`, writing to `write_fd`.
/// `write_fd` must stay open for the life of the process.
pub(crate) fn install(signum: libc::c_int, write_fd: RawFd) -> io::Result<()> {
    WRITE_FD.store(write_fd, Ordering::Relaxed);
    // SAFETY: sigaction is plain old data; all-zero is a valid empty value.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SA_RESTART: slow calls elsewhere in the program resume by themselves.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: `action.sa_mask` is a valid, writable sigset_t.
    cvt(unsafe { libc::sigemptyset(&mut action.sa_mask) })?;
    // SAFETY: `action` is a fully initialised sigaction whose handler is an
    // `extern "C"` function that only makes async-signal-safe calls; the old
    // action is not asked for (null).
    cvt(unsafe { libc::sigaction(signum, &action, std::ptr::null_mut()) })?;
    Ok(())
}

/// The handler: async-signal-safe calls only (send(2) and errno access).
extern "C" fn on_signal(signum: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let saved = errno();
    let byte = signum as u8;
    // SAFETY: `fd` is an open socket that is never closed (see WRITE_FD);
    // `byte` is a live u8. send(2) is async-signal-safe; MSG_DONTWAIT means
    // a full buffer drops the byte (a wake-up is already pending) instead of
    // blocking, and MSG_NOSIGNAL means no SIGPIPE if the loop is gone.
    unsafe { libc::send(fd, (&byte as *const u8).cast(), 1, libc::MSG_DONTWAIT | NO_SIGPIPE) };
    set_errno(saved);
}

#[cfg(pollreactor_msg_nosignal)]
const NO_SIGPIPE: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(pollreactor_msg_nosignal))]
const NO_SIGPIPE: libc::c_int = 0; // Apple: a SIGPIPE here needs the receiving reactor dropped; untested

/// The calling thread's errno location.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: __errno_location takes nothing and always returns the valid
    // address of this thread's errno.
    unsafe { libc::__errno_location() }
}

/// The calling thread's errno location.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: __error takes nothing and always returns the valid address of
    // this thread's errno (macOS and the BSDs).
    unsafe { libc::__error() }
}

fn errno() -> libc::c_int {
    // SAFETY: errno_location returns a valid pointer to this thread's errno.
    unsafe { *errno_location() }
}

fn set_errno(value: libc::c_int) {
    // SAFETY: errno_location returns a valid pointer to this thread's errno.
    unsafe { *errno_location() = value };
}
