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
    // Where send(2) has no MSG_NOSIGNAL (Apple), the socket itself must not
    // raise SIGPIPE; std's UnixStream::pair does not set SO_NOSIGPIPE there.
    #[cfg(pollreactor_so_nosigpipe)]
    {
        // SAFETY: the caller keeps `write_fd` open for the life of the process.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(write_fd) };
        super::socket::set_int_option(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, 1)?;
    }
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
    // blocking, and MSG_NOSIGNAL (SO_NOSIGPIPE on Apple) means no SIGPIPE
    // if the loop is gone.
    unsafe { libc::send(fd, (&byte as *const u8).cast(), 1, libc::MSG_DONTWAIT | NO_SIGPIPE) };
    set_errno(saved);
}

/// Keeps the handler's send from raising SIGPIPE once the read end is gone.
#[cfg(pollreactor_msg_nosignal)]
const NO_SIGPIPE: libc::c_int = libc::MSG_NOSIGNAL;
/// Apple has no MSG_NOSIGNAL: `install` sets SO_NOSIGPIPE on the socket.
#[cfg(not(pollreactor_msg_nosignal))]
const NO_SIGPIPE: libc::c_int = 0;

/// The calling thread's errno location (Linux's name; DragonFly's too).
#[cfg(any(target_os = "linux", target_os = "dragonfly"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: __errno_location takes nothing and always returns the valid
    // address of this thread's errno.
    unsafe { libc::__errno_location() }
}

/// The calling thread's errno location (Apple's and FreeBSD's name).
#[cfg(any(target_vendor = "apple", target_os = "freebsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: __error takes nothing and always returns the valid address of
    // this thread's errno.
    unsafe { libc::__error() }
}

/// The calling thread's errno location (Android's, NetBSD's and OpenBSD's name).
#[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: __errno takes nothing and always returns the valid address of
    // this thread's errno.
    unsafe { libc::__errno() }
}

/// The calling thread's errno location (illumos' and Solaris' name).
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: ___errno takes nothing and always returns the valid address of
    // this thread's errno.
    unsafe { libc::___errno() }
}

fn errno() -> libc::c_int {
    // SAFETY: errno_location returns a valid pointer to this thread's errno.
    unsafe { *errno_location() }
}

fn set_errno(value: libc::c_int) {
    // SAFETY: errno_location returns a valid pointer to this thread's errno.
    unsafe { *errno_location() = value };
}
