//! The process' limit on open descriptors, which a server holding
//! thousands of connections must raise first (and which select's
//! `FD_SETSIZE` never lets it use in full).

use std::io;

use crate::sys;

/// The process' limit on open descriptors (`RLIMIT_NOFILE`): soft and hard.
pub fn fd_limit() -> io::Result<(u64, u64)> {
    sys::fd::fd_limit()
}

/// Raises (or lowers) the soft limit on open descriptors, up to the hard
/// limit.
pub fn set_fd_limit(soft: u64) -> io::Result<()> {
    sys::fd::set_fd_limit(soft)
}
