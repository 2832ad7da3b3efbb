//! Socket addresses, families and types.

use std::fmt;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};

/// The address of a socket: an IP address and port, or a Unix-domain path.
///
/// asyncore passed addresses as Python tuples or strings; here they are one
/// enum, and `From` impls let you pass a `SocketAddr` or a path directly.
///
/// ```
/// use pollreactor::Address;
/// let tcp: Address = "127.0.0.1:8080".parse::<std::net::SocketAddr>().unwrap().into();
/// let unix = Address::from(std::path::Path::new("/tmp/echo.sock"));
/// assert_eq!(tcp.to_string(), "127.0.0.1:8080");
/// assert_eq!(unix.to_string(), "/tmp/echo.sock");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 or IPv6 address and port.
    Inet(SocketAddr),
    /// A Unix-domain socket path. Empty for an unnamed socket (the client
    /// end of most Unix-domain connections); on Linux, a path starting with
    /// a NUL byte is in the abstract namespace.
    Unix(PathBuf),
}

impl Address {
    /// The address family this address belongs to.
    pub fn family(&self) -> Family {
        match self {
            Address::Inet(SocketAddr::V4(_)) => Family::Inet,
            Address::Inet(SocketAddr::V6(_)) => Family::Inet6,
            Address::Unix(_) => Family::Unix,
        }
    }

    /// The IP address and port, if this is an Internet address.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Address::Inet(a) => Some(*a),
            Address::Unix(_) => None,
        }
    }
}

impl fmt::Display for Address {
    /// `host:port` (IPv6: `[host]:port`), or the Unix path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(a) => a.fmt(f),
            Address::Unix(p) => p.display().fmt(f),
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(a: SocketAddr) -> Address {
        Address::Inet(a)
    }
}

impl From<SocketAddrV4> for Address {
    fn from(a: SocketAddrV4) -> Address {
        Address::Inet(a.into())
    }
}

impl From<SocketAddrV6> for Address {
    fn from(a: SocketAddrV6) -> Address {
        Address::Inet(a.into())
    }
}

impl From<&Path> for Address {
    fn from(p: &Path) -> Address {
        Address::Unix(p.to_path_buf())
    }
}

impl From<PathBuf> for Address {
    fn from(p: PathBuf) -> Address {
        Address::Unix(p)
    }
}

/// An address family (asyncore's `socket.AF_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4 (`AF_INET`).
    Inet,
    /// IPv6 (`AF_INET6`).
    Inet6,
    /// Unix-domain sockets (`AF_UNIX`).
    Unix,
}

impl Family {
    pub(crate) fn raw(self) -> libc::c_int {
        match self {
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
            Family::Unix => libc::AF_UNIX,
        }
    }
}

/// A socket type (asyncore's `socket.SOCK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SockType {
    /// A byte stream: TCP, or a Unix-domain stream (`SOCK_STREAM`).
    Stream,
    /// Datagrams: UDP, or Unix-domain datagrams (`SOCK_DGRAM`).
    Datagram,
}

impl SockType {
    pub(crate) fn raw(self) -> libc::c_int {
        match self {
            SockType::Stream => libc::SOCK_STREAM,
            SockType::Datagram => libc::SOCK_DGRAM,
        }
    }
}
