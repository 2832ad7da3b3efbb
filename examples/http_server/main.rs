//! A single-threaded HTTP/1.1 keep-alive server on a chat channel.
//!
//! What it teaches: `Dispatcher::with_chat` (asynchat), with a terminator
//! that changes from record to record, as HTTP framing (RFC 9112) needs. A
//! request head is read line by line (terminator `b"\n"`, so a bare LF ends
//! a line as well as CRLF); a body is read as a byte count (the numeric
//! terminator `set_terminator(n)`), and a chunked body as size lines and
//! counts in turn. So `found_terminator` runs once per piece, however the
//! bytes were split across reads, and pipelined requests come out one after
//! the other, never mistaking a body for a request. A record cap turns a
//! head that never ends into a `414` or `431` instead of unbounded memory.
//!
//! It also teaches the end of a connection after an error, as nginx does
//! it: a *lingering close*. The server sends its answer, stops writing once
//! it is out (`shutdown_when_done`, a half-close), and reads and drops what
//! the client still sends until the client closes, for at most 2 s (a timer
//! of the channel's own, `Channel::call_later`) and 1 MiB. Closing at once,
//! with the client's bytes unread, would send a reset that can destroy the
//! answer before the client reads it. After a good request with
//! `Connection: close` it closes at once, as nginx does, unless more bytes
//! came with that request: with nothing unread there is no reset.
//!
//! And what a server exposed to the internet needs (see `--help` for the
//! flags and their defaults, nginx's): a request head must be complete
//! within `--header-timeout` of its first byte (a client dribbling one
//! byte every few seconds is closed with a 408, however many bytes it
//! sends: a deadline set when the head begins, checked by a timer of the
//! channel's own), a client may wait `--idle-timeout` between keep-alive
//! requests, one that stops reading is closed after `--send-timeout`, at
//! most `--max-conns` connections are served at once, and `--workers N`
//! runs N loops on N threads. The last three come from `examples/common`.
//!
//! Every GET gets the same answer, `Hello, world!`. Try it with
//! `cargo run --release --example http_server` and `curl -v http://127.0.0.1:8081/`.

#[path = "../common/mod.rs"]
mod common;
mod parse;

use std::io;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use parse::{is_empty_line, parse_chunk_size, parse_request, Body, Method, Refusal, Request, MAX_BODY};
use pollreactor::{Address, Channel, Chat, Dispatcher, Handler, Layer, Socket, Terminator};

const USAGE: &str = "\
usage: http_server [--addr HOST:PORT] [--backend poll|select|epoll] [--interest MODE]
                   [--header-timeout SECS] [--idle-timeout SECS] [--send-timeout SECS]
                   [--max-conns N] [--workers N]

Answers every HTTP GET with `Hello, world!` (HTTP/1.1, keep-alive,
pipelining), and HEAD with the same headers and no body. Requests are
framed as RFC 9112 says: lines may end in CRLF or a bare LF, empty lines
before a request are ignored, and a body (Content-Length or chunked) is
read and dropped before the next request.

Refused requests get, with `Connection: close`:
  400  a malformed request; Content-Length with Transfer-Encoding; a bad
       or conflicting Content-Length; a Transfer-Encoding that does not
       end in chunked; HTTP/1.1 without Host
  405  a method other than GET and HEAD
  408  a request head not complete within --header-timeout
  413  a body over 1 MiB
  414  a request line over 8 KiB
  431  a request head over 8 KiB
  501  a transfer coding before chunked (`gzip, chunked`)
  505  an HTTP version other than 1.x
After an answer that ends the connection (these but 408, or `Connection:
close` when more bytes came after that request), the server reads no more
requests: it sends the answer, stops writing, and drops what the client
still sends (up to 1 MiB, for up to 2 s) before it closes. A 408, and the
answer to a `Connection: close` request that was all the client sent, are
sent and the connection closed at once.

  --addr HOST:PORT       where to listen (default 127.0.0.1:8081; port 0 picks one)
  --backend NAME         poll, select or epoll (default poll)
  --interest MODE        when-changed (default) or every-iteration (asyncore's)
  --header-timeout SECS  a request head must be complete within SECS seconds
                         of its first byte (of the connection, for the first
                         request): 408 and close (default 60, as nginx's
                         client_header_timeout; 0: never)
  --idle-timeout SECS    close a connection whose client sends nothing for
                         SECS seconds: between keep-alive requests (default
                         75, as nginx's keepalive_timeout), or within a body
                         (0: never)
  --send-timeout SECS    close a connection whose answers wait SECS seconds
                         without a byte going out: the client stopped reading
                         (default 60, as nginx's send_timeout; 0: never)
  --max-conns N          serve at most N connections at once, per worker
                         (default 10000; 0: no limit). At the limit the server
                         stops accepting: new clients wait in the listen
                         backlog, connected but unanswered, until one leaves
  --workers N            N threads, each with its own loop and its own listener
                         on the same address (SO_REUSEPORT; default 1)
  -h, --help             this text

The first line on stdout is `listening on HOST:PORT`. SIGINT and SIGTERM
close every connection and exit 0.";

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
const OK_KEEP_ALIVE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\nHello, world!";
const OK_CLOSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nHello, world!";
/// The answer to a request head that took longer than `--header-timeout`.
const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// The body at the end of each `OK` answer, which a HEAD answer leaves out.
const BODY: &[u8] = b"Hello, world!";

/// The most a request head (request line and header fields, or a chunked
/// body's trailer fields) may take. A request line longer than this gets
/// 414; a longer head, 431.
const MAX_HEAD: usize = 8 * 1024;
/// The most a chunk-size line (with its extensions) may take.
const MAX_CHUNK_LINE: usize = 1024;
/// How long a lingering close waits for the client to close.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a lingering close reads and drops before it gives up.
const LINGER_BYTES: usize = 1 << 20;
/// `--header-timeout`'s default: nginx's `client_header_timeout`.
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);
/// `--idle-timeout`'s default: nginx's `keepalive_timeout`.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);

/// What the next record of a connection's input is.
#[derive(Debug)]
enum State {
    /// A line of a request head: the request line (after any empty
    /// lines), then header fields until an empty line.
    Head,
    /// A `Content-Length` body (a byte count).
    Body,
    /// The size line of a chunk.
    ChunkSize,
    /// A chunk's data (a byte count).
    ChunkData,
    /// The empty line after a chunk's data.
    ChunkEnd,
    /// A line of the trailer section after the last chunk.
    Trailers,
    /// The last request (`Connection: close`) is answered; the rest of the
    /// read it came in decides how the connection ends (see
    /// [`HttpChannel::end`]).
    Ending,
    /// Requests are over: the last answer goes out, then the write side is
    /// shut (or, after a 408, the connection closed); what the client still
    /// sends is dropped (and counted) until it closes.
    Lingering { dropped: usize },
}

/// One connection (`asynchat.async_chat`): a chat channel whose records
/// are the lines and bodies of requests.
struct HttpChannel {
    state: State,
    /// Where the current line starts in the head collected so far (0: no
    /// request line yet).
    line_start: usize,
    /// The answer to send once the request's body has been read.
    answer: &'static [u8],
    /// Whether the connection ends after that answer.
    close_after: bool,
    /// The size of the chunked body read so far.
    body_len: usize,
    /// `--header-timeout`: how long a request head may take.
    header_timeout: Option<Duration>,
    /// When the head being read began (`None` between requests).
    head_since: Option<Instant>,
    /// A timer checks `head_since` (one at a time, started when a head
    /// begins and none is running, so a busy keep-alive connection does
    /// not start one per request).
    head_clock: bool,
    /// The connection's place under `--max-conns`, freed with the handler.
    _place: common::Place,
}

impl Handler<Chat> for HttpChannel {
    /// Bytes of a record. Head and chunk lines are collected (the default);
    /// body bytes are dropped, since nothing here wants them.
    fn collect_incoming_data(&mut self, ch: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        match &mut self.state {
            State::Head => {
                self.head_begins(ch);
                ch.collect(data);
            }
            State::Body | State::ChunkData => {}
            State::Ending => {
                // Bytes after the last request: close gracefully after all.
                self.state = State::Lingering { dropped: data.len() };
                self.start_lingering(ch)?;
            }
            State::Lingering { dropped, .. } => {
                *dropped += data.len();
                if *dropped > LINGER_BYTES {
                    ch.close();
                }
            }
            _ => ch.collect(data),
        }
        Ok(())
    }

    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        match self.state {
            State::Head => self.head_line(ch),
            State::Body => self.answer(ch),
            State::ChunkSize => self.chunk_size_line(ch),
            State::ChunkData => {
                self.state = State::ChunkEnd;
                ch.set_terminator(b"\n");
                Ok(())
            }
            State::ChunkEnd => {
                let empty = is_empty_line(ch.incoming());
                ch.clear_incoming();
                if !empty {
                    return self.refuse(ch, Refusal::BadRequest);
                }
                self.state = State::ChunkSize;
                Ok(())
            }
            State::Trailers => self.trailer_line(ch),
            State::Ending | State::Lingering { .. } => Ok(()),
        }
    }

    /// asynchat's read step; then, if the last request was all this read
    /// held, the connection closes once its answer is out.
    fn handle_read(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        Chat::handle_read(self, ch)?;
        if matches!(self.state, State::Ending) {
            ch.close_when_done();
        }
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        // The record cap: a line longer than what is left of its limit.
        if err.kind() == io::ErrorKind::InvalidData {
            let refusal = match self.state {
                State::Head if self.line_start == 0 => Refusal::UriTooLong,
                State::Head | State::Trailers => Refusal::HeadersTooLarge,
                _ => Refusal::BadRequest,
            };
            if self.refuse(ch, refusal).is_ok() {
                return;
            }
        }
        ch.close();
    }
}

impl HttpChannel {
    fn new(header_timeout: Option<Duration>, place: common::Place) -> HttpChannel {
        HttpChannel {
            state: State::Head,
            line_start: 0,
            answer: OK,
            close_after: false,
            body_len: 0,
            header_timeout,
            head_since: None,
            head_clock: false,
            _place: place,
        }
    }

    /// A request head begins (its first byte, or for the first request
    /// the connection, as nginx counts): it must be complete within
    /// `--header-timeout`, however slowly its bytes come.
    fn head_begins(&mut self, ch: &mut Channel<'_, Chat>) {
        if let (None, Some(limit)) = (self.head_since, self.header_timeout) {
            self.head_since = Some(Instant::now());
            if !self.head_clock {
                self.check_head_in(ch, limit);
            }
        }
    }

    /// Starts the timer that checks the head's deadline: a timer of the
    /// channel's own, cancelled if the channel closes first.
    fn check_head_in(&mut self, ch: &mut Channel<'_, Chat>, delay: Duration) {
        self.head_clock = true;
        ch.call_later(delay, |h: &mut HttpChannel, ch: &mut Channel<'_, Chat>| h.check_head(ch));
    }

    /// The head's deadline, checked: passed, a 408 and close; not yet (a
    /// later head began since the timer started), check again then; no
    /// head being read, the timer stops until the next one begins.
    fn check_head(&mut self, ch: &mut Channel<'_, Chat>) {
        self.head_clock = false;
        let (Some(since), Some(limit)) = (self.head_since, self.header_timeout) else { return };
        match (since + limit).checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => self.check_head_in(ch, left),
            _ => self.too_slow(ch),
        }
    }

    /// The head took too long: a 408, and the connection closes once it
    /// is out (no lingering: a client this slow gets no more time).
    fn too_slow(&mut self, ch: &mut Channel<'_, Chat>) {
        self.head_since = None;
        self.state = State::Lingering { dropped: 0 };
        ch.set_terminator(Terminator::None);
        ch.set_max_record(None);
        ch.clear_incoming();
        if ch.push(REQUEST_TIMEOUT).is_ok() {
            ch.close_when_done();
        } else {
            ch.close();
        }
    }

    /// A line of a request head. The lines are collected until the empty
    /// line that ends the head, which is then parsed.
    fn head_line(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.head_begins(ch);
        if !is_empty_line(&ch.incoming()[self.line_start..]) {
            self.keep_line(ch);
            return Ok(());
        }
        if self.line_start == 0 {
            // An empty line before the request line is ignored (RFC 9112 2.2).
            ch.clear_incoming();
            return Ok(());
        }
        let request = parse_request(&ch.incoming()[..self.line_start]);
        ch.clear_incoming();
        self.line_start = 0;
        self.head_since = None; // the head is complete: its deadline is met
        let Request { method, keep_alive, say_keep_alive, body } = match request {
            Ok(request) => request,
            Err(refusal) => return self.refuse(ch, refusal),
        };
        let answer = match (keep_alive, say_keep_alive) {
            (false, _) => OK_CLOSE,
            (true, false) => OK,
            (true, true) => OK_KEEP_ALIVE,
        };
        self.answer = match method {
            Method::Get => answer,
            Method::Head => &answer[..answer.len() - BODY.len()],
        };
        self.close_after = !keep_alive;
        match body {
            Body::None => self.answer(ch),
            Body::Length(n) => {
                self.state = State::Body;
                ch.set_terminator(n);
                Ok(())
            }
            Body::Chunked => {
                self.state = State::ChunkSize;
                self.body_len = 0;
                ch.set_max_record(Some(MAX_CHUNK_LINE));
                Ok(())
            }
        }
    }

    /// Keeps a line of a head (or trailer section) with its line end; the
    /// next line may take what is left of [`MAX_HEAD`].
    fn keep_line(&mut self, ch: &mut Channel<'_, Chat>) {
        ch.collect(b"\n");
        self.line_start = ch.incoming().len();
        ch.set_max_record(Some(MAX_HEAD.saturating_sub(self.line_start)));
    }

    /// A chunk-size line: the next chunk's data is read as a byte count;
    /// after the last (empty) chunk come the trailer fields.
    fn chunk_size_line(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let size = parse_chunk_size(ch.incoming());
        ch.clear_incoming();
        match size {
            Err(refusal) => self.refuse(ch, refusal),
            Ok(0) => {
                self.state = State::Trailers;
                ch.set_max_record(Some(MAX_HEAD));
                Ok(())
            }
            Ok(n) if self.body_len + n > MAX_BODY => self.refuse(ch, Refusal::ContentTooLarge),
            Ok(n) => {
                self.body_len += n;
                self.state = State::ChunkData;
                ch.set_terminator(n);
                Ok(())
            }
        }
    }

    /// A line of the trailer section, which ends the chunked body at its
    /// empty line. The fields are checked, and dropped.
    fn trailer_line(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let line = &ch.incoming()[self.line_start..];
        if is_empty_line(line) {
            ch.clear_incoming();
            self.line_start = 0;
            return self.answer(ch);
        }
        if let Err(refusal) = parse::field(line) {
            return self.refuse(ch, refusal);
        }
        self.keep_line(ch);
        Ok(())
    }

    /// The request (head and body) has been read: answer it, then read
    /// the next one, or end the connection.
    fn answer(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        if self.close_after {
            return self.end(ch);
        }
        if !matches!(self.state, State::Head) {
            // After a body, lines again (a bodiless request kept them).
            self.state = State::Head;
            ch.set_terminator(b"\n");
        }
        ch.set_max_record(Some(MAX_HEAD));
        ch.push(self.answer)
    }

    /// Answers with an error status; no more requests are read.
    fn refuse(&mut self, ch: &mut Channel<'_, Chat>, refusal: Refusal) -> io::Result<()> {
        let allow = if refusal == Refusal::MethodNotAllowed { "Allow: GET, HEAD\r\n" } else { "" };
        let answer =
            format!("HTTP/1.1 {}\r\n{allow}Content-Length: 0\r\nConnection: close\r\n\r\n", refusal.status());
        self.linger(ch, answer.as_bytes())
    }

    /// Sends a last answer, then closes gracefully: from now on input is
    /// dropped; once the answer is out, the write side is shut (the client
    /// reads the end of the answer); the channel closes when the client
    /// does, or after [`LINGER_TIME`], or [`LINGER_BYTES`].
    fn linger(&mut self, ch: &mut Channel<'_, Chat>, answer: &[u8]) -> io::Result<()> {
        self.state = State::Lingering { dropped: 0 };
        self.head_since = None;
        ch.set_terminator(Terminator::None);
        ch.set_max_record(None);
        ch.clear_incoming();
        ch.push(answer)?;
        self.start_lingering(ch)
    }

    /// The last request (`Connection: close`) is answered. Whatever else
    /// came with it in this read is dropped; if anything did (a client
    /// that pipelined past its own close), the connection lingers as after
    /// an error. If nothing did, it closes once the answer is out, as
    /// nginx does: with nothing unread, no reset can overtake the answer,
    /// and the half-close, the wait for the client's end of file and its
    /// two system calls are saved.
    fn end(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.state = State::Ending;
        self.head_since = None;
        ch.set_terminator(Terminator::None);
        ch.set_max_record(None);
        ch.push(self.answer)
    }

    /// Once the answer is out, the write side is shut; input is dropped
    /// until the client closes, for at most [`LINGER_TIME`].
    fn start_lingering(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        ch.shutdown_when_done()?;
        // A timer of the channel's own: it is cancelled if the channel closes first.
        ch.call_later(LINGER_TIME, |_: &mut HttpChannel, ch: &mut Channel<'_, Chat>| ch.close());
        Ok(())
    }
}

/// The listener (`asyncore.dispatcher`): each connection becomes a chat
/// channel split at line ends.
struct HttpServer {
    conns: common::Conns,
    header_timeout: Option<Duration>,
}

impl Handler for HttpServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        // Each response goes out at once, not after the previous one is acknowledged.
        sock.set_nodelay(true)?;
        let mut conn = Dispatcher::accepted(sock, addr).with_chat();
        conn.set_terminator(b"\n");
        conn.set_max_record(Some(MAX_HEAD));
        let place = self.conns.admit(&mut conn); // --idle-timeout, --send-timeout, --max-conns
        let t = ch.context().add(conn, HttpChannel::new(self.header_timeout, place))?;
        // The first request's head is due within --header-timeout of the connection.
        ch.context().call(t, |h: &mut HttpChannel, ch: &mut Channel<'_, Chat>| h.head_begins(ch));
        Ok(())
    }
}

fn main() -> ExitCode {
    let mut header_timeout = Some(HEADER_TIMEOUT);
    let defaults = common::Limits { idle_timeout: Some(KEEPALIVE_TIMEOUT), ..common::Limits::default() };
    let (args, limits) = common::parse_server("127.0.0.1:8081", USAGE, defaults, |option, argv| {
        let ours = option == "--header-timeout";
        if ours {
            header_timeout = common::seconds_of(option, argv.next(), USAGE);
        }
        ours
    });
    common::serve_with_limits(&args, &limits, |conns| HttpServer { conns, header_timeout })
}
