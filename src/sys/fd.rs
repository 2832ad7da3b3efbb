//! Descriptor-level calls: flags, validity, duplication, plain read/write,
//! and the process' descriptor limit.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_r_at, Site};

/// Sets or clears O_NONBLOCK. It lives on the open file description, so
/// every descriptor sharing it (a dup, a parent's stdin) sees the change.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let new = if on { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    if new != flags {
        // SAFETY: F_SETFL takes an int argument.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, new) })?;
    }
    Ok(())
}

/// Whether O_NONBLOCK is set.
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no pointer argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Sets FD_CLOEXEC, for targets whose socket(2) cannot do it atomically.
#[cfg_attr(pollreactor_sock_flags, allow(dead_code))]
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_SETFD takes an int argument.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(())
}

/// Whether FD_CLOEXEC is set.
pub(crate) fn is_cloexec(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_GETFD takes no pointer argument.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) })?;
    Ok(flags & libc::FD_CLOEXEC != 0)
}

/// Whether `fd` names an open descriptor. It takes a plain number on
/// purpose: the select backend asks this about descriptors that may have
/// been closed behind the reactor's back, and F_GETFD reads nothing.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no pointer argument and has no effect on the fd.
    let ret = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    ret != -1 || io::Error::last_os_error().raw_os_error() != Some(libc::EBADF)
}

/// A close-on-exec duplicate numbered `min` or above (F_DUPFD_CLOEXEC).
pub(crate) fn dup_at_least(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int argument.
    let raw = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: fcntl just returned this new descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// read(2), for pipes and files.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes for the whole call,
    // and `len <= buf.len()` (cvt_r_at never lengthens).
    let n = cvt_r_at(Site::Read, buf.len(), |len| unsafe {
        libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), len)
    })?;
    Ok(n as usize)
}

/// write(2), for pipes and files. A pipe has no MSG_NOSIGNAL, so unless
/// SIGPIPE is ignored (Rust's runtime ignores it before `main`; a C program
/// embedding us may not), the write runs with SIGPIPE blocked in this
/// thread, and a SIGPIPE it raised is taken back before unblocking: a reader
/// that went away is an EPIPE error, never a dead process.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    let write = || {
        // SAFETY: `buf` is readable for `buf.len()` bytes for the whole call,
        // and `len <= buf.len()` (cvt_r_at never lengthens).
        cvt_r_at(Site::Write, buf.len(), |len| unsafe {
            libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), len)
        })
    };
    let n = if sigpipe_ignored() { write()? } else { without_sigpipe(write)? };
    Ok(n as usize)
}

/// Whether SIGPIPE's disposition is "ignore".
fn sigpipe_ignored() -> bool {
    // SAFETY: sigaction is plain old data; all-zero is a valid value.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `current`,
    // a valid, writable sigaction.
    let ret = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut current) };
    ret == 0 && current.sa_sigaction == libc::SIG_IGN
}

/// Consumes the pending SIGPIPE our write raised: sigtimedwait with a zero
/// timeout, on the targets whose libc has it.
#[cfg(pollreactor_sigtimedwait)]
fn take_back_sigpipe(pipe_only: &libc::sigset_t) {
    let no_wait = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `pipe_only` is an initialised set; a null info pointer is
    // allowed; `no_wait` is a live timespec.
    unsafe { libc::sigtimedwait(pipe_only, std::ptr::null_mut(), &no_wait) };
}

/// Consumes the pending SIGPIPE our write raised, where there is no
/// sigtimedwait (Apple, OpenBSD, illumos, Solaris; on Linux too under
/// `--cfg pollreactor_portable`, so that CI runs this branch): sigwait, but
/// only once sigpending shows a SIGPIPE, so it returns at once. The signal
/// a write raises is directed at the writing thread, which blocks it, so it
/// stays pending until taken here. (One window remains: a SIGPIPE sent to
/// the whole process by kill(2), seen pending here and then taken by another
/// thread before sigwait, leaves sigwait waiting for the next SIGPIPE.)
#[cfg(not(pollreactor_sigtimedwait))]
fn take_back_sigpipe(pipe_only: &libc::sigset_t) {
    // SAFETY: sigset_t is plain old data; sigpending fills it in.
    let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `pending` is a live, writable sigset_t.
    if unsafe { libc::sigpending(&mut pending) } != 0 {
        return;
    }
    // SAFETY: sigpending above filled `pending`.
    if unsafe { libc::sigismember(&pending, libc::SIGPIPE) } != 1 {
        return;
    }
    let mut taken: libc::c_int = 0;
    // SAFETY: `pipe_only` is an initialised set, `taken` a writable c_int.
    // SIGPIPE is pending and blocked in this thread, so this returns at once.
    unsafe { libc::sigwait(pipe_only, &mut taken) };
}

/// Runs `f` with SIGPIPE blocked in this thread; a SIGPIPE that `f` raised
/// (and that was not already pending) is consumed before the old mask is
/// restored.
fn without_sigpipe<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    // SAFETY: sigset_t is plain old data; sigemptyset initialises it.
    let mut pipe_only: libc::sigset_t = unsafe { std::mem::zeroed() };
    let (mut old_mask, mut pending) = (pipe_only, pipe_only);
    // SAFETY: every pointer below is to a live, writable sigset_t of ours.
    unsafe {
        libc::sigemptyset(&mut pipe_only);
        libc::sigaddset(&mut pipe_only, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe_only, &mut old_mask);
        libc::sigpending(&mut pending);
    }
    // SAFETY: `pending` was filled by sigpending above.
    let was_pending = unsafe { libc::sigismember(&pending, libc::SIGPIPE) } == 1;
    let result = f();
    if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EPIPE)) && !was_pending {
        take_back_sigpipe(&pipe_only);
    }
    // SAFETY: `old_mask` was filled by pthread_sigmask above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    result
}

/// The soft and hard RLIMIT_NOFILE.
pub(crate) fn fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a writable struct rlimit.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) })?;
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not everywhere
    Ok((lim.rlim_cur as u64, lim.rlim_max as u64))
}

/// Sets the soft RLIMIT_NOFILE, keeping the hard one.
pub(crate) fn set_fd_limit(soft: u64) -> io::Result<()> {
    let (_, hard) = fd_limit()?;
    let lim = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: `lim` is a readable struct rlimit.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) })?;
    Ok(())
}
