//! http_server's HTTP/1.1 framing (RFC 9112), against the real example
//! process on every backend: a table of malformed and tricky requests, each
//! sent as raw bytes on its own loopback connection, with the statuses the
//! server must answer, in order, and nothing else.
//!
//! Each case writes its bytes, shuts its write side and reads until the
//! server closes: so every wait is for an event (bounded by `WAIT_LIMIT`),
//! and the answers counted are all there will ever be. A read that ends in
//! a reset instead of an end of file fails the case.
//!
//! The comment after a case gives nginx's answer where it differs (nginx
//! 1.22.1, `return 200 "Hello, world!"` for every location). To compare
//! with a server of your own: `HTTP_FRAMING_COMPARE=127.0.0.1:8080 cargo test
//! --test http_framing -- --ignored --nocapture`.
//!
//! `cargo test` builds the examples first; with `--test http_framing`
//! alone, run `cargo build --examples` before.

// The example programs (which these tests run) need these features.
#![cfg(all(feature = "signals", feature = "trace"))]

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{example, WAIT_LIMIT};
use pollreactor::Backend;

/// What a case must get back.
enum Want {
    /// Answers with these statuses, in this order, then the end of file.
    Statuses(&'static [u16]),
    /// Exactly these bytes, then the end of file.
    Bytes(&'static [u8]),
}
use Want::{Bytes, Statuses};

struct Case {
    name: &'static str,
    request: Vec<u8>,
    want: Want,
}

fn case(name: &'static str, request: impl AsRef<[u8]>, want: Want) -> Case {
    Case { name, request: request.as_ref().to_vec(), want }
}

/// A request sent after a bad one: it must get no answer.
const NEXT: &str = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

/// A GET with `body` framed by its Content-Length.
fn get_with_body(body: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// A GET with extra header field lines (each ending in CRLF).
fn get_with(fields: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n")
}

const HEAD_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n";
const HEAD_THEN_GET: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
const NOT_ALLOWED: &[u8] =
    b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// The table. The comments say what nginx 1.22.1 answers where it differs.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    let long_url = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let long_field = get_with(&format!("X-Big: {}\r\n", "a".repeat(9000)));
    let many_fields = get_with(&"X-Field: 0123456789012345678901234567890123456789\r\n".repeat(200));
    let smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    vec![
        // Bodies are read, never parsed as requests.
        case("GET, no body", get_with(""), Statuses(&[200])),
        case("two pipelined GETs", format!("{}{NEXT}", get_with("")), Statuses(&[200, 200])),
        case("smuggling: a GET whose body is a request", get_with_body(smuggled), Statuses(&[200])),
        case("pipelining after a body", format!("{}{NEXT}", get_with_body("hello")), Statuses(&[200, 200])),
        case("body split from its head", format!("{}{NEXT}", get_with_body(&"x".repeat(70_000))), Statuses(&[200, 200])),
        case("Content-Length: 0", format!("{}{NEXT}", get_with("Content-Length: 0\r\n")), Statuses(&[200, 200])),
        case("body shorter than its length", get_with("Content-Length: 100\r\n") + "short", Statuses(&[])), // nginx: 200, answered before the body
        case("equal Content-Length twice", get_with("Content-Length: 5\r\nContent-Length: 5\r\n") + "hello" + NEXT, Statuses(&[200, 200])), // nginx: 400, duplicate field (RFC 9112 6.3 allows one value)
        case("Content-Length: 5, 5", get_with("Content-Length: 5, 5\r\n") + "hello" + NEXT, Statuses(&[200, 200])), // nginx: 400, not one number (RFC 9112 6.3 allows a list of equal ones)
        // Doubtful framing: 400, and nothing after it is read as a request.
        case("Content-Length with Transfer-Encoding", get_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") + "0\r\n\r\n" + NEXT, Statuses(&[400])),
        case("Content-Length: abc", get_with("Content-Length: abc\r\n") + NEXT, Statuses(&[400])),
        case("Content-Length: -1", get_with("Content-Length: -1\r\n") + NEXT, Statuses(&[400])),
        case("Content-Length: +5", get_with("Content-Length: +5\r\n") + "hello" + NEXT, Statuses(&[400])),
        case("Content-Length: 1 0", get_with("Content-Length: 1 0\r\n") + NEXT, Statuses(&[400])),
        case("empty Content-Length", get_with("Content-Length:\r\n") + NEXT, Statuses(&[400])),
        case("different Content-Lengths", get_with("Content-Length: 5\r\nContent-Length: 6\r\n") + "hello!" + NEXT, Statuses(&[400])),
        case("Content-Length: 5, 6", get_with("Content-Length: 5, 6\r\n") + "hello!" + NEXT, Statuses(&[400])),
        case("Content-Length beyond 64 bits", get_with("Content-Length: 99999999999999999999\r\n") + NEXT, Statuses(&[400])),
        case("Content-Length over the 1 MiB cap", get_with("Content-Length: 1048577\r\n") + NEXT, Statuses(&[413])),
        // Chunked bodies are decoded and dropped.
        case("chunked body, then a request", get_with("Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" + NEXT, Statuses(&[200, 200])),
        case("chunked: a request inside a chunk", get_with("Transfer-Encoding: chunked\r\n") + &format!("{:x}\r\n{smuggled}\r\n0\r\n\r\n", smuggled.len()), Statuses(&[200])),
        case("chunked with extensions and trailer", get_with("Transfer-Encoding: chunked\r\n") + "5;ext=1\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n" + NEXT, Statuses(&[200, 200])),
        case("chunked with bare LF", get_with("Transfer-Encoding: chunked\r\n") + "5\nhello\n0\n\n" + NEXT, Statuses(&[200, 200])),
        case("Transfer-Encoding: CHUNKED", get_with("Transfer-Encoding: CHUNKED\r\n") + "0\r\n\r\n" + NEXT, Statuses(&[200, 200])),
        case("chunk size not hexadecimal", get_with("Transfer-Encoding: chunked\r\n") + "zz\r\nhello\r\n0\r\n\r\n" + NEXT, Statuses(&[400])),
        case("chunk longer than its size", get_with("Transfer-Encoding: chunked\r\n") + "5\r\nhello!!\r\n0\r\n\r\n" + NEXT, Statuses(&[400])),
        case("chunk size over the 1 MiB cap", get_with("Transfer-Encoding: chunked\r\n") + "100001\r\n" + NEXT, Statuses(&[413])), // nginx: 200, it answers first and drops chunked bodies of any size
        case("Transfer-Encoding: gzip", get_with("Transfer-Encoding: gzip\r\n") + NEXT, Statuses(&[400])), // nginx: 501; RFC 9112 6.1: chunked not last is a 400
        case("Transfer-Encoding: gzip, chunked", get_with("Transfer-Encoding: gzip, chunked\r\n") + "0\r\n\r\n" + NEXT, Statuses(&[501])),
        case("Transfer-Encoding: chunked, chunked", get_with("Transfer-Encoding: chunked, chunked\r\n") + "0\r\n\r\n" + NEXT, Statuses(&[400])), // nginx: 501, as for any list but `chunked`
        case("Transfer-Encoding in HTTP/1.0", "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Statuses(&[400])),
        // Line ends and empty lines.
        case("bare LF line ends", "GET / HTTP/1.1\nHost: a\n\n", Statuses(&[200])),
        case("CRLF and LF mixed", "GET / HTTP/1.1\r\nHost: a\n\r\nGET / HTTP/1.1\nHost: a\r\n\n", Statuses(&[200, 200])),
        case("empty lines before a request", format!("\r\n\r\n\n{}", get_with("")), Statuses(&[200])),
        case("only empty lines", "\r\n\r\n", Statuses(&[])),
        case("bare CR inside a field", get_with("X: a\rb\r\n") + NEXT, Statuses(&[400])),
        case("bare CR before a line end", get_with("X: a\r\r\n") + NEXT, Statuses(&[400])),
        case("bare CR as a line end", "GET / HTTP/1.1\rHost: a\r\n\r\n", Statuses(&[400])),
        case("NUL in a field", get_with("X: a\0b\r\n") + NEXT, Statuses(&[400])),
        case("NUL in the target", "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", Statuses(&[400])),
        case("folded field line", get_with("X: a\r\n b\r\n") + NEXT, Statuses(&[400])),
        case("space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", Statuses(&[400])),
        case("field line without a colon", get_with("no colon\r\n"), Statuses(&[400])),
        // Host.
        case("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", Statuses(&[400])),
        case("two Host fields", get_with("Host: b\r\n") + NEXT, Statuses(&[400])),
        case("Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Statuses(&[400])),
        case("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", Statuses(&[200])),
        // The request line, limits and versions.
        case("9 KB URL", long_url, Statuses(&[414])),
        case("9 KB field line", long_field, Statuses(&[431])), // nginx: 400, "Request Header Or Cookie Too Large"
        case("10 KB of field lines", many_fields, Statuses(&[431])), // nginx: 200, its limit is 32 KB in total
        case("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", Statuses(&[505])),
        case("HTTP/1.2, answered as 1.1", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", Statuses(&[200])),
        case("no version (HTTP/0.9)", "GET /\r\n\r\n", Statuses(&[400])), // nginx: an HTTP/0.9 answer, the body alone
        case("HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", Statuses(&[400])), // nginx: 200, it reads 1.10 as 1.10
        case("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Statuses(&[400])), // nginx: 200, it skips runs of spaces
        case("target without a slash", "GET a HTTP/1.1\r\nHost: a\r\n\r\n", Statuses(&[400])),
        case("absolute-form target", "GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", Statuses(&[200])),
        case("lowercase method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", Statuses(&[400])),
        // Methods, HEAD and the end of a connection.
        case("POST", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", Bytes(NOT_ALLOWED)), // nginx: 200, its `return` answers every method
        case("POST with a bad field", "POST / HTTP/1.1\r\nHost: a\r\nX: a\0\r\n\r\n", Bytes(BAD_REQUEST)),
        case("HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", Bytes(HEAD_ANSWER)),
        case("HEAD, then GET", format!("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n{}", get_with("")), Bytes(HEAD_THEN_GET)),
        case("Connection: close ends the pipeline", get_with("Connection: close\r\n") + NEXT, Statuses(&[200])),
        case("HTTP/1.0 keep-alive", format!("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n{NEXT}"), Statuses(&[200, 200])),
    ]
}

/// A running http_server, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `http_server --addr 127.0.0.1:0 --backend BACKEND` and waits
    /// (bounded) for the `listening on` line it prints first.
    fn start(backend: Backend) -> Server {
        let mut child = Command::new(example("http_server"))
            .args(["--addr", "127.0.0.1:0", "--backend", backend.name()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start http_server");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        // From here on a failed start kills the process (Drop).
        let mut server = Server { child, addr: String::new() };
        let first = rx.recv_timeout(WAIT_LIMIT).expect("http_server printed nothing");
        let addr =
            first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}"));
        server.addr = addr.to_string();
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback connection whose every read and write waits at most `WAIT_LIMIT`.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    stream
}

/// Sends `request`, shuts the write side, and reads everything the server
/// sends until it closes.
fn exchange(addr: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = connect(addr);
    stream.write_all(request)?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(answer)
}

/// The statuses of a stream of answers, each framed by its Content-Length
/// (this server's answers always have one); `None` if it is not such a stream.
fn statuses(mut stream: &[u8]) -> Option<Vec<u16>> {
    let mut found = Vec::new();
    while !stream.is_empty() {
        let end = stream.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&stream[..end]).ok()?;
        found.push(head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?);
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("Content-Length: "))?.trim().parse().ok()?;
        stream = stream.get(end + length..)?;
    }
    Some(found)
}

fn framing_table(backend: Backend) {
    let server = Server::start(backend);
    let mut failures = Vec::new();
    for Case { name, request, want } in cases() {
        let got = match exchange(&server.addr, &request) {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let shown = String::from_utf8_lossy(&got);
        match want {
            Statuses(want) if statuses(&got).as_deref() != Some(want) => {
                failures.push(format!("{name}: want {want:?}, got {shown:?}"));
            }
            Bytes(want) if got != want => failures.push(format!("{name}: got {shown:?}")),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{backend:?}:\n{}", failures.join("\n"));
}

/// After a bad request the client keeps sending; it still reads the whole
/// answer and an end of file, not a reset.
fn lingering_close_delivers_the_answer(backend: Backend) {
    let server = Server::start(backend);
    let mut stream = connect(&server.addr);
    stream.write_all(b"NONSENSE\r\n\r\n").unwrap();
    // Once the answer is here, send more: 256 KiB, more than the socket
    // buffers hold, so the server must read (and drop) it.
    let mut first = [0u8];
    assert_eq!(stream.peek(&mut first).unwrap(), 1, "no answer");
    stream.write_all(&[b'x'; 256 * 1024]).unwrap();
    let mut answer = vec![0u8; BAD_REQUEST.len()];
    stream.read_exact(&mut answer).unwrap();
    assert_eq!(answer, BAD_REQUEST);
    // The server stopped writing after the answer but still reads: more
    // bytes go in, and then the end of file comes, with no reset.
    stream.write_all(&[b'y'; 64 * 1024]).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("an end of file, not a reset");
    assert_eq!(rest, b"");
}

/// A client that never stops sending after a bad request is cut off once
/// the server has dropped 1 MiB (or after 2 s): its writes then fail.
fn lingering_close_is_bounded(backend: Backend) {
    let server = Server::start(backend);
    let mut stream = connect(&server.addr);
    stream.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let chunk = [b'x'; 64 * 1024];
    let mut sent = 0;
    let err = loop {
        assert!(sent < 64 << 20, "64 MiB went in: the server never gave up");
        match stream.write(&chunk) {
            Ok(n) => sent += n,
            // A write with a timeout fails with EINTR after a stop and continue (signal(7)).
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe),
        "{err} after {sent} bytes"
    );
}

/// A client that stays connected after a bad request, sending nothing
/// much, is closed when the lingering time is over: its writes then fail.
fn lingering_close_ends_on_a_timer(backend: Backend) {
    let server = Server::start(backend);
    let mut stream = connect(&server.addr);
    stream.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap(); // the write side is shut after the answer
    assert_eq!(answer, BAD_REQUEST);
    // A closed socket answers a write with a reset, and the write after
    // that fails. Nothing else tells the client, so it checks now and then.
    let deadline = Instant::now() + WAIT_LIMIT;
    while stream.write_all(b"x").is_ok() {
        assert!(Instant::now() < deadline, "still open after {WAIT_LIMIT:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A `Connection: close` request that is all the client sent is answered
/// and the connection closed at once, as nginx does: a byte the client
/// sends afterwards meets a closed socket, whose reset sets the client's
/// socket error. (A lingering server reads and drops the byte, and ends
/// with no reset.) Bytes after such a request still get the lingering
/// close: `lingering_close_delivers_the_answer` and the table's pipeline case.
fn connection_close_closes_at_once(backend: Backend) {
    let server = Server::start(backend);
    let mut stream = connect(&server.addr);
    stream.write_all(get_with("Connection: close\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    assert_eq!(statuses(&answer), Some(vec![200]), "{:?}", String::from_utf8_lossy(&answer));
    stream.write_all(b"x").unwrap();
    // The reset comes back at once on loopback; nothing signals it to a
    // std-only client, so it looks now and then, for at most WAIT_LIMIT.
    let deadline = Instant::now() + WAIT_LIMIT;
    let err = loop {
        if let Some(err) = stream.take_error().unwrap() {
            break err;
        }
        assert!(Instant::now() < deadline, "no reset within {WAIT_LIMIT:?}: the server lingered");
        thread::sleep(Duration::from_millis(5));
    };
    assert!(matches!(err.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset), "{err}");
}

on_every_backend!(
    framing_table,
    connection_close_closes_at_once,
    lingering_close_delivers_the_answer,
    lingering_close_is_bounded,
    lingering_close_ends_on_a_timer
);

/// Runs the table against another server (`HTTP_FRAMING_COMPARE=HOST:PORT`,
/// loopback) and prints its statuses beside ours: how the nginx comments in
/// the table were made.
#[test]
#[ignore = "compares with a server you start; set HTTP_FRAMING_COMPARE=HOST:PORT"]
fn compare_with_another_server() {
    let Ok(addr) = std::env::var("HTTP_FRAMING_COMPARE") else { return };
    for Case { name, request, want } in cases() {
        let got = match exchange(&addr, &request) {
            Ok(got) => got,
            Err(e) => format!("error: {e}").into_bytes(),
        };
        let ours = match want {
            Statuses(s) => s.to_vec(),
            Bytes(b) => status_lines(b),
        };
        let theirs = status_lines(&got);
        let note =
            if theirs.is_empty() { format!(" {:?}", String::from_utf8_lossy(&got)) } else { String::new() };
        println!("{name:45} ours {:12} theirs {theirs:?}{note}", format!("{ours:?}"));
    }
}

/// The statuses of the status lines in any stream of answers (whatever
/// their framing).
fn status_lines(stream: &[u8]) -> Vec<u16> {
    stream
        .windows(12)
        .filter(|w| w.starts_with(b"HTTP/1.1 ") && w[9..].iter().all(u8::is_ascii_digit))
        .filter_map(|w| std::str::from_utf8(&w[9..]).ok()?.parse().ok())
        .collect()
}
