//! Converting [`Address`] to and from the C socket address structures.

use std::ffi::OsStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::Address;

/// A socket address in the form the kernel takes: storage plus used length.
pub(crate) struct RawAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl RawAddr {
    /// Zeroed storage with room for any address, to be filled by the kernel.
    pub(crate) fn empty() -> RawAddr {
        RawAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero bytes is a valid value.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    /// Stores `value` (one of the `sockaddr_*` types) at the start of the storage.
    fn put<T>(value: T) -> RawAddr {
        const { assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>()) };
        let mut raw = RawAddr::empty();
        // SAFETY: sockaddr_storage is large enough for T (checked above) and
        // aligned for every sockaddr type, which is what it exists for.
        unsafe { std::ptr::write((&mut raw.storage as *mut libc::sockaddr_storage).cast::<T>(), value) };
        raw.len = mem::size_of::<T>() as libc::socklen_t;
        raw
    }

    /// Reads the storage as `T`; the caller has checked the family.
    fn get<T: Copy>(&self) -> T {
        const { assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>()) };
        // SAFETY: the storage is large enough and aligned for T (see `put`), and
        // every sockaddr_* type is plain old data, valid for any bytes.
        unsafe { std::ptr::read((&self.storage as *const libc::sockaddr_storage).cast::<T>()) }
    }
}

/// Encodes an address for bind, connect or sendto.
pub(crate) fn to_raw(addr: &Address) -> io::Result<RawAddr> {
    match addr {
        Address::Inet(SocketAddr::V4(a)) => Ok(RawAddr::put(v4_to_c(a))),
        Address::Inet(SocketAddr::V6(a)) => Ok(RawAddr::put(v6_to_c(a))),
        Address::Unix(path) => unix_to_c(path.as_os_str().as_bytes()),
    }
}

fn v4_to_c(a: &SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; zero is valid for every field,
    // including the BSD-only sin_len and the padding.
    let mut c: libc::sockaddr_in = unsafe { mem::zeroed() };
    c.sin_family = libc::AF_INET as libc::sa_family_t;
    c.sin_port = a.port().to_be();
    c.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) };
    c
}

fn v6_to_c(a: &SocketAddrV6) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; zero is valid for every field.
    let mut c: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    c.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    c.sin6_port = a.port().to_be();
    c.sin6_flowinfo = a.flowinfo();
    c.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
    c.sin6_scope_id = a.scope_id();
    c
}

/// A path (or, on Linux, an abstract name starting with a NUL byte).
fn unix_to_c(path: &[u8]) -> io::Result<RawAddr> {
    // SAFETY: sockaddr_un is plain old data; zero is valid for every field.
    let mut c: libc::sockaddr_un = unsafe { mem::zeroed() };
    c.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // A path is stored with a terminating NUL; an abstract name (Linux:
    // first byte NUL) and the unnamed address (empty) are not.
    let nul = usize::from(path.first().is_some_and(|&b| b != 0));
    let room = c.sun_path.len() - nul;
    if path.len() > room {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("Unix socket path is {} bytes, longer than the limit of {room}", path.len()),
        ));
    }
    for (dst, src) in c.sun_path.iter_mut().zip(path) {
        *dst = *src as libc::c_char;
    }
    let mut raw = RawAddr::put(c);
    raw.len = (mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + nul) as libc::socklen_t;
    Ok(raw)
}

/// Decodes an address the kernel filled in (accept, recvfrom, getpeername).
pub(crate) fn from_raw(raw: &RawAddr) -> io::Result<Address> {
    match raw.storage.ss_family as libc::c_int {
        libc::AF_INET => {
            let c: libc::sockaddr_in = raw.get();
            let ip = Ipv4Addr::from(c.sin_addr.s_addr.to_ne_bytes());
            Ok(Address::Inet(SocketAddrV4::new(ip, u16::from_be(c.sin_port)).into()))
        }
        libc::AF_INET6 => {
            let c: libc::sockaddr_in6 = raw.get();
            let ip = Ipv6Addr::from(c.sin6_addr.s6_addr);
            let port = u16::from_be(c.sin6_port);
            Ok(Address::Inet(SocketAddrV6::new(ip, port, c.sin6_flowinfo, c.sin6_scope_id).into()))
        }
        libc::AF_UNIX => {
            let c: libc::sockaddr_un = raw.get();
            let offset = mem::offset_of!(libc::sockaddr_un, sun_path);
            let len = (raw.len as usize).saturating_sub(offset).min(c.sun_path.len());
            let mut bytes: Vec<u8> = c.sun_path[..len].iter().map(|&b| b as u8).collect();
            // A pathname ends at its first NUL; an abstract name starts with one.
            if bytes.first() != Some(&0) {
                if let Some(end) = bytes.iter().position(|&b| b == 0) {
                    bytes.truncate(end);
                }
            }
            Ok(Address::Unix(PathBuf::from(OsStr::from_bytes(&bytes))))
        }
        family => {
            Err(io::Error::new(io::ErrorKind::Unsupported, format!("unsupported address family {family}")))
        }
    }
}
