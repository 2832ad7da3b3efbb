//! A single-threaded HTTP/1.1 keep-alive server on a chat channel.
//!
//! What it teaches: `Dispatcher::with_chat` (asynchat). The terminator is
//! the blank line that ends a request head, so `found_terminator` runs once
//! per request with the whole head collected, however the bytes were split
//! across reads; pipelined requests simply come out one after the other.
//! A record cap turns a head that never ends into a `431` instead of
//! unbounded memory.
//!
//! Every GET gets the same answer, `Hello, world!`. Try it with
//! `cargo run --release --example http_server` and `curl -v http://127.0.0.1:8081/`.

#[path = "../common/mod.rs"]
mod common;
mod parse;

use std::io;
use std::process::ExitCode;

use parse::{parse_request, Request};
use pollreactor::{Address, Channel, Chat, Dispatcher, Handler, Socket};

const USAGE: &str = "\
usage: http_server [--addr HOST:PORT] [--backend poll|select|epoll]

Answers every HTTP GET with `Hello, world!` (HTTP/1.1, keep-alive,
pipelining). A malformed request gets 400, a request head over 8 KiB gets
431, any method but GET gets 405; each of those closes the connection.

  --addr HOST:PORT   where to listen (default 127.0.0.1:8081; port 0 picks one)
  --backend NAME     poll, select or epoll (default poll)
  -h, --help         this text

The first line on stdout is `listening on HOST:PORT`.";

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
const OK_KEEP_ALIVE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nHello, world!";
const OK_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, world!";
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const NOT_ALLOWED: &[u8] =
    b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The most a request head (request line and headers) may take.
const MAX_HEAD: usize = 8 * 1024;

/// One connection (`asynchat.async_chat`): a chat channel whose records
/// are request heads.
struct HttpChannel;

impl Handler<Chat> for HttpChannel {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        if ch.closing() {
            // Requests pipelined after a `Connection: close` get no answer.
            return Ok(());
        }
        let request = parse_request(ch.incoming());
        ch.clear_incoming();
        match request {
            Ok(Request::Get { keep_alive: true, say_keep_alive: false }) => ch.push(OK),
            Ok(Request::Get { keep_alive: true, say_keep_alive: true }) => ch.push(OK_KEEP_ALIVE),
            Ok(Request::Get { keep_alive: false, .. }) => respond_and_close(ch, OK_CLOSE),
            Ok(Request::OtherMethod) => respond_and_close(ch, NOT_ALLOWED),
            Err(()) => respond_and_close(ch, BAD_REQUEST),
        }
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        // The record cap: a request head longer than MAX_HEAD.
        if err.kind() == io::ErrorKind::InvalidData && respond_and_close(ch, TOO_LARGE).is_ok() {
            return;
        }
        ch.close();
    }
}

fn respond_and_close(ch: &mut Channel<'_, Chat>, response: &[u8]) -> io::Result<()> {
    ch.push(response)?;
    ch.close_when_done();
    Ok(())
}

/// The listener (`asyncore.dispatcher`): each connection becomes a chat
/// channel split at blank lines.
struct HttpServer;

impl Handler for HttpServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _addr: Address) -> io::Result<()> {
        // Each response goes out at once, not after the previous one is acknowledged.
        sock.set_nodelay(true)?;
        let mut conn = Dispatcher::new(sock)?.with_chat();
        conn.set_terminator(b"\r\n\r\n");
        conn.set_max_record(Some(MAX_HEAD));
        ch.context().add(conn, HttpChannel)?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = common::ServerArgs::parse("127.0.0.1:8081", USAGE);
    common::serve(&args, HttpServer)
}
