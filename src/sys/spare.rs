//! Reading into a `Vec`'s spare capacity, so a handler need not zero a
//! buffer before every read.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{cvt_r_at, Site};

/// recv(2) (or read(2) for a pipe or file, when `file`) of up to `max`
/// bytes, appended to `buf` after its current contents.
#[inline]
pub(crate) fn read_append(
    fd: BorrowedFd<'_>,
    buf: &mut Vec<u8>,
    max: usize,
    file: bool,
) -> io::Result<usize> {
    buf.reserve(max);
    let spare = buf.spare_capacity_mut();
    let len = spare.len().min(max);
    let ptr = spare.as_mut_ptr().cast::<libc::c_void>();
    let site = if file { Site::ReadSpare } else { Site::RecvSpare };
    let n = cvt_r_at(site, len, |short| {
        if file {
            // SAFETY: `ptr` points at `len >= short` writable (if
            // uninitialised) bytes of the vector's spare capacity for the
            // whole call; the kernel only writes into them.
            unsafe { libc::read(fd.as_raw_fd(), ptr, short) }
        } else {
            // SAFETY: as for read(2) above.
            unsafe { libc::recv(fd.as_raw_fd(), ptr, short, 0) }
        }
    })? as usize;
    // SAFETY: the kernel initialised the first `n <= short <= len` spare bytes, which
    // follow the vector's current length and lie within its capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}
