//! The HTTP client of the asyncore manual: GET one URL, print the response.
//!
//! What it teaches: an active (connecting) channel. `connect` returns at
//! once; the first event on the socket runs `handle_connect`; `writable`
//! is true only while the request still has bytes to send, and the loop
//! ends when the server closes the connection and the channel closes.
//!
//! Run it against any of the example servers:
//! `cargo run --example http_client -- http://127.0.0.1:8081/`.
//!
//! The Python it mirrors:
//!
//! ```python
//! class HTTPClient(asyncore.dispatcher):
//!     def __init__(self, host, path):
//!         asyncore.dispatcher.__init__(self)
//!         self.create_socket()
//!         self.connect( (host, 80) )
//!         self.buffer = bytes('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' %
//!                             (path, host), 'ascii')
//!     def handle_connect(self):
//!         pass
//!     def handle_close(self):
//!         self.close()
//!     def handle_read(self):
//!         print(self.recv(8192))
//!     def writable(self):
//!         return (len(self.buffer) > 0)
//!     def handle_write(self):
//!         sent = self.send(self.buffer)
//!         self.buffer = self.buffer[sent:]
//!
//! client = HTTPClient('www.python.org', '/')
//! asyncore.loop()
//! ```

mod common;

use std::cell::RefCell;
use std::io::{self, Write};
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::rc::Rc;

use pollreactor::{Backend, Channel, Dispatcher, Family, Handler, LoopOptions, SockType};

const USAGE: &str = "\
usage: http_client [--backend poll|select|epoll] URL

GETs URL with HTTP/1.0 and writes the raw response (headers and body) to
stdout (the asyncore manual's example). URL is http://HOST[:PORT][/PATH].

  --backend NAME     poll, select or epoll (default poll)
  -h, --help         this text";

struct HttpClient {
    buffer: Vec<u8>,
    /// Where a failure goes, so `main` can exit non-zero (asyncore only
    /// printed it).
    failure: Rc<RefCell<Option<io::Error>>>,
}

impl Handler for HttpClient {
    fn handle_connect(&mut self, _ch: &mut Channel<'_>) -> io::Result<()> {
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        ch.close();
        Ok(())
    }

    fn handle_read(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let mut data = [0u8; 8192];
        let n = ch.recv(&mut data)?;
        io::stdout().write_all(&data[..n])
    }

    fn handle_error(&mut self, ch: &mut Channel<'_>, err: io::Error) {
        *self.failure.borrow_mut() = Some(err);
        ch.close();
    }

    fn writable(&mut self, _d: &Dispatcher) -> bool {
        !self.buffer.is_empty()
    }

    fn handle_write(&mut self, ch: &mut Channel<'_>) -> io::Result<()> {
        let sent = ch.send(&self.buffer)?;
        self.buffer.drain(..sent);
        Ok(())
    }
}

/// Splits `http://host[:port][/path]` into host, port and path.
fn parse_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse().map_err(|_| format!("bad port {port:?} in {url:?}"))?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("no host in {url:?}"));
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port, path.to_string()))
}

fn main() -> ExitCode {
    let (mut url, mut backend) = (None, Backend::Poll);
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                common::say(USAGE);
                return ExitCode::SUCCESS;
            }
            "--backend" => backend = common::backend_of(&common::value_of(&arg, argv.next(), USAGE), USAGE),
            _ if url.is_none() && !arg.starts_with('-') => url = Some(arg),
            other => common::usage_error(&format!("unexpected argument {other:?}"), USAGE),
        }
    }
    let url = url.unwrap_or_else(|| common::usage_error("no URL given", USAGE));
    let (host, port, path) = parse_url(&url).unwrap_or_else(|e| common::usage_error(&e, USAGE));
    match get(&host, port, &path, backend) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::fail(&format!("GET {url}"), e),
    }
}

fn get(host: &str, port: u16, path: &str, backend: Backend) -> io::Result<()> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address")))?;
    let family = if addr.is_ipv4() { Family::Inet } else { Family::Inet6 };
    let mut client = Dispatcher::create_socket(family, SockType::Stream)?;
    client.connect(addr)?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let failure = Rc::new(RefCell::new(None));
    let mut reactor = common::new_reactor();
    reactor.add(client, HttpClient { buffer: request.into_bytes(), failure: failure.clone() })?;
    reactor.run(LoopOptions::default().backend(backend))?;
    io::stdout().flush()?;
    failure.take().map_or(Ok(()), Err)
}
