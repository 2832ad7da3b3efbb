//! The example programs, run as a user would: real processes on loopback.
//! `cargo test` builds the examples first; with `--test examples` alone,
//! run `cargo build --examples` before.

// The example programs (which these tests run) need these features.
#![cfg(all(feature = "signals", feature = "trace"))]

mod common;
/// The examples' own shared code, for tests of its parts (the flags' parsers).
#[path = "../examples/common/mod.rs"]
mod examples_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{accept_within, example, join_within, pattern, WAIT_LIMIT};
use pollreactor::Backend;

/// The 50-client echo tests keep both cores busy with a hundred client
/// threads and a server: a test that times a server (its idle timeout
/// against a client that keeps talking) must not share the machine with
/// them, or a server starved for a second drops the talker too. The echo
/// tests share it among themselves ([`cpu_heavy`]); a timed test has it to
/// itself ([`timed`]).
static CPU: RwLock<()> = RwLock::new(());

fn cpu_heavy() -> RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn timed() -> RwLockWriteGuard<'static, ()> {
    CPU.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs a command to its end like `Command::output`, but fails loudly
/// (killing it) if it takes longer than [`WAIT_LIMIT`].
fn output_within(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the command");
    // Drain both pipes meanwhile, so a chatty child cannot block on them.
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = thread::spawn(move || {
        let mut bytes = Vec::new();
        out.read_to_end(&mut bytes).map(|_| bytes)
    });
    let err = thread::spawn(move || {
        let mut bytes = Vec::new();
        err.read_to_end(&mut bytes).map(|_| bytes)
    });
    let deadline = Instant::now() + WAIT_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish within {WAIT_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(5)); // a child's exit has no event to wait on here
    };
    Output { status, stdout: out.join().unwrap().unwrap(), stderr: err.join().unwrap().unwrap() }
}

/// A running example server, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts `name --addr 127.0.0.1:0 --backend BACKEND` and reads the
    /// `listening on` line it must print first.
    fn start(name: &str, backend: &str) -> Server {
        let mut child = Command::new(example(name))
            .args(["--addr", "127.0.0.1:0", "--backend", backend])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the example");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).expect("read the first line");
        let addr =
            first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line was {first:?}"));
        Server { addr: addr.to_string(), child }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `data` on one connection while reading the echo, and checks it.
fn echo_round_trip(addr: &str, data: Vec<u8>) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let expected = data.clone();
    let sender = thread::spawn(move || writer.write_all(&data));
    let mut got = vec![0u8; expected.len()];
    (&stream).read_exact(&mut got).map_err(|e| format!("read the echo: {e}"))?;
    sender.join().unwrap().map_err(|e| format!("send: {e}"))?;
    if got != expected {
        let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap();
        return Err(format!("echo differs at byte {at}"));
    }
    stream.shutdown(Shutdown::Both).ok();
    Ok(())
}

fn echo_server_serves_50_clients_1_mib_each(backend: &str) {
    let _heavy = cpu_heavy();
    let server = Server::start("echo_server", backend);
    let (done, results) = mpsc::channel();
    for i in 0..50u8 {
        let (addr, done) = (server.addr.clone(), done.clone());
        thread::spawn(move || done.send(echo_round_trip(&addr, pattern(1 << 20, i))));
    }
    for n in 0..50 {
        let result =
            results.recv_timeout(WAIT_LIMIT * 3).unwrap_or_else(|_| panic!("client {n} never finished"));
        result.unwrap_or_else(|e| panic!("{backend}: {e}"));
    }
}

#[test]
fn echo_server_poll_50_clients() {
    echo_server_serves_50_clients_1_mib_each("poll");
}

#[test]
fn echo_server_select_50_clients() {
    echo_server_serves_50_clients_1_mib_each("select");
}

// Not under `--cfg pollreactor_portable`, which builds the non-Linux paths,
// nor without the `epoll` feature.
#[cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]
#[test]
fn echo_server_epoll_50_clients() {
    echo_server_serves_50_clients_1_mib_each("epoll");
}

/// http_client GETs from a one-shot std server and prints the response.
fn http_client_prints_the_response(backend: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let mut conn = accept_within(&listener);
        conn.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8];
        while !request.ends_with(b"\r\n\r\n") {
            // read_exact retries a read that EINTR cut short (a stop and continue).
            conn.read_exact(&mut byte).unwrap();
            request.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello").unwrap();
        String::from_utf8(request).unwrap()
    });
    let url = format!("http://127.0.0.1:{port}/some/path");
    let out = output_within(Command::new(example("http_client")).args(["--backend", backend, &url]));
    assert!(out.status.success(), "http_client failed: {}", String::from_utf8_lossy(&out.stderr));
    let request = server.join().unwrap();
    assert_eq!(request, format!("GET /some/path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    assert_eq!(out.stdout, b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello");
}

#[test]
fn http_client_poll() {
    http_client_prints_the_response("poll");
}

#[test]
fn http_client_select() {
    http_client_prints_the_response("select");
}

#[test]
fn http_client_reports_a_refused_connect() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = output_within(Command::new(example("http_client")).arg(format!("http://127.0.0.1:{port}/")));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_example_has_help_and_rejects_bad_arguments() {
    for name in ["echo_server", "http_client", "http_server", "chat_server", "pipe_reader", "echo_client"] {
        let help = output_within(Command::new(example(name)).arg("--help"));
        assert!(help.status.success(), "{name} --help failed");
        assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage:"), "{name} --help");
        let bad = output_within(Command::new(example(name)).args(["--backend", "kqueue"]));
        assert_eq!(bad.status.code(), Some(2), "{name} with a bad backend");
        assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown backend"), "{name}");
    }
}

/// `--idle-timeout SECS` and the other seconds flags: exact decimals,
/// down to the nanosecond; anything else is refused.
#[test]
fn seconds_are_exact_decimals() {
    use examples_common::parse_seconds;
    for (text, secs, nanos) in [
        ("75", 75, 0),
        ("0", 0, 0),
        ("1.5", 1, 500_000_000),
        ("0.25", 0, 250_000_000),
        (".25", 0, 250_000_000),
        ("5.", 5, 0),
        ("0.000000001", 0, 1),
        ("2.123456789", 2, 123_456_789),
        ("007.10", 7, 100_000_000),
        ("18446744073709551615.999999999", u64::MAX, 999_999_999),
    ] {
        assert_eq!(parse_seconds(text), Some(Duration::new(secs, nanos)), "{text:?}");
    }
    for text in ["", ".", "-1", "-0", "+1", "1e3", "inf", "NaN", " 1", "1 ", "1_0", "1.2.3", "1,5", "٣"] {
        assert_eq!(parse_seconds(text), None, "{text:?}");
    }
    // A tenth digit is finer than a Duration; then a second past u64::MAX.
    assert_eq!(parse_seconds("0.0000000001"), None);
    assert_eq!(parse_seconds("18446744073709551616"), None);
}

/// A server refuses seconds it cannot read with a usage error (status
/// 2) that names the flag and the value.
#[test]
fn echo_server_refuses_bad_seconds() {
    for (flag, value) in [("--idle-timeout", "1e3"), ("--send-timeout", "-1")] {
        let out = output_within(Command::new(example("echo_server")).args([flag, value]));
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{flag} needs seconds, not {value:?}")), "stderr: {stderr}");
    }
}

#[test]
fn echo_server_reports_an_address_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = output_within(Command::new(example("echo_server")).args(["--addr", &addr]));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Address already in use"), "stderr: {stderr}");
    drop(taken);
}

const HELLO: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// A blocking client connection with bounded waits.
fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    stream.set_write_timeout(Some(WAIT_LIMIT)).unwrap();
    stream
}

/// Reads until the peer closes.
fn read_to_close(mut stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read until the server closes");
    all
}

/// Keep-alive, pipelining, Connection: close, HTTP/1.0, 400 and 431, with a
/// std client: exact bytes.
fn http_server_speaks_http(backend: &str) {
    let server = Server::start("http_server", backend);
    // Three requests on one connection, the first two in one write.
    let mut conn = connect(&server.addr);
    conn.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut two = vec![0u8; 2 * HELLO.len()];
    conn.read_exact(&mut two).unwrap();
    assert_eq!(two, [HELLO, HELLO].concat());
    // A request split across writes, then Connection: close.
    conn.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    conn.write_all(b"st: a\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n").unwrap();
    let last = read_to_close(&conn);
    assert!(last.starts_with(b"HTTP/1.1 200 OK\r\n"), "{}", String::from_utf8_lossy(&last));
    assert!(last.ends_with(b"Connection: close\r\n\r\nHello, world!"), "one answer, then close");
    // HTTP/1.0 without keep-alive: answer, then close.
    let mut old = connect(&server.addr);
    old.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert!(read_to_close(&old).ends_with(b"Hello, world!"));
    // A malformed request line: 400, then close.
    let mut bad = connect(&server.addr);
    bad.write_all(b"NONSENSE\r\n\r\n").unwrap();
    assert!(read_to_close(&bad).starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
    // A head over 8 KiB: 431, then close.
    let mut huge = connect(&server.addr);
    let head = [&b"GET / HTTP/1.1\r\nX-Big: "[..], &[b'a'; 9000], b"\r\n\r\n"].concat();
    let _ = huge.write_all(&head); // the server may close before it has read it all
    assert!(read_to_close(&huge).starts_with(b"HTTP/1.1 431 "));
}

#[test]
fn http_server_poll() {
    http_server_speaks_http("poll");
}

#[test]
fn http_server_select() {
    http_server_speaks_http("select");
}

// Not under `--cfg pollreactor_portable`, which builds the non-Linux paths,
// nor without the `epoll` feature.
#[cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]
#[test]
fn http_server_epoll() {
    http_server_speaks_http("epoll");
}

/// curl, one URL and then two URLs on one connection.
fn http_server_serves_curl(backend: &str) {
    let server = Server::start("http_server", backend);
    let url = format!("http://{}/", server.addr);
    let one =
        Command::new("curl").args(["-s", "--max-time", "20", &url]).output().expect("curl is installed");
    assert!(one.status.success());
    assert_eq!(one.stdout, b"Hello, world!");
    let two = Command::new("curl")
        .args(["-s", "--max-time", "20", "-w", "|%{num_connects}\n", &url, &format!("{url}again")])
        .output()
        .unwrap();
    assert!(two.status.success());
    // The second transfer reuses the first one's connection: 0 new connects.
    assert_eq!(String::from_utf8_lossy(&two.stdout), "Hello, world!|1\nHello, world!|0\n");
}

#[test]
fn http_server_curl_poll() {
    http_server_serves_curl("poll");
}

#[test]
fn http_server_curl_select() {
    http_server_serves_curl("select");
}

/// Reads one line (up to and without the newline).
fn read_line(reader: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read a line");
    line.trim_end_matches('\n').to_string()
}

/// Three clients: a line from one reaches the two others with its address;
/// /quit leaves, and the room is told; an overlong line is refused and
/// closed, and the room is told why.
fn chat_server_relays_lines(backend: &str) {
    let server = Server::start("chat_server", backend);
    let clients: Vec<TcpStream> = (0..3).map(|_| connect(&server.addr)).collect();
    let mut readers: Vec<_> = clients.iter().map(|c| BufReader::new(c.try_clone().unwrap())).collect();
    // The server accepts in connection order, so once the last client's
    // line reaches the first two, all three are in the room.
    let names: Vec<String> = clients.iter().map(|c| c.local_addr().unwrap().to_string()).collect();
    (&clients[2]).write_all(b"hello from 2\n").unwrap();
    for reader in &mut readers[..2] {
        assert_eq!(read_line(reader), format!("{}: hello from 2", names[2]));
    }
    (&clients[0]).write_all(b"hi from 0\r\n").unwrap();
    for reader in &mut readers[1..] {
        assert_eq!(read_line(reader), format!("{}: hi from 0", names[0]));
    }
    let mut first = &clients[0];
    first.write_all(b"/quit\n").unwrap();
    assert_eq!(read_line(&mut readers[0]), "bye");
    let mut rest = String::new();
    readers[0].read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "closed after bye");
    // Its bye went out (CloseReason::Drained): the others hear it left.
    assert_eq!(read_line(&mut readers[1]), format!("* {} left", names[0]));
    let mut second = &clients[1];
    second.write_all(&[b'x'; 5000]).unwrap();
    assert_eq!(read_line(&mut readers[1]), "error: line longer than 4096 bytes");
    // Closed after the refusal: an end of file, or a reset if the rest of
    // our 5,000 bytes was still unread when the server closed.
    let mut rest = String::new();
    match readers[1].read_to_string(&mut rest) {
        Ok(_) => assert_eq!(rest, "", "nothing after the refusal"),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "not closed: {e}"),
    }
    // The third is still served, and heard the other two leave, in order.
    assert_eq!(read_line(&mut readers[2]), format!("* {} left", names[0]));
    assert_eq!(read_line(&mut readers[2]), format!("* {} left (line too long)", names[1]));
    (&clients[2]).write_all(b"/quit\n").unwrap();
    assert_eq!(read_line(&mut readers[2]), "bye");
}

#[test]
fn chat_server_poll() {
    chat_server_relays_lines("poll");
}

#[test]
fn chat_server_select() {
    chat_server_relays_lines("select");
}

// Not under `--cfg pollreactor_portable`, which builds the non-Linux paths,
// nor without the `epoll` feature.
#[cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]
#[test]
fn chat_server_epoll() {
    chat_server_relays_lines("epoll");
}

/// `--idle-timeout 1`: a client that sends nothing is dropped after a
/// second (CloseReason::InputTimeout) and the room is told; one that
/// keeps talking stays, though it too receives nothing but notices.
fn chat_server_drops_an_idle_client(backend: &str) {
    let _alone = timed();
    let mut child = Command::new(example("chat_server"))
        .args(["--addr", "127.0.0.1:0", "--backend", backend, "--idle-timeout", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start chat_server");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).expect("read the first line");
    let server = Server {
        addr: first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{first:?}")).to_string(),
        child,
    };
    let start = Instant::now();
    let silent = connect(&server.addr);
    let talker = connect(&server.addr);
    let silent_name = silent.local_addr().unwrap().to_string();
    let talker_name = talker.local_addr().unwrap().to_string();
    // The talker speaks every 100 ms (well inside its own timeout) until told to stop.
    let (stop, stopped) = mpsc::channel::<()>();
    let mut mouth = talker.try_clone().unwrap();
    let chatter = thread::spawn(move || {
        while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_millis(100)) {
            if mouth.write_all(b"still here\n").is_err() {
                return;
            }
        }
    });
    // The silent one is in the room: it hears the talker.
    let mut silent_reader = BufReader::new(silent.try_clone().unwrap());
    assert_eq!(read_line(&mut silent_reader), format!("{talker_name}: still here"));
    // The talker hears the silent one leave; nothing else is sent to it.
    let mut talker_reader = BufReader::new(talker.try_clone().unwrap());
    assert_eq!(read_line(&mut talker_reader), format!("* {silent_name} left (idle timeout)"), "{backend}");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_secs(1), "{backend}: dropped after {waited:?}, before its timeout");
    // The silent one got what the talker said, a goodbye, then the end of file.
    let mut rest = String::new();
    silent_reader.read_to_string(&mut rest).unwrap();
    let lines: Vec<&str> = rest.lines().collect();
    let (goodbye, chatter_lines) = lines.split_last().expect("a goodbye");
    assert_eq!(*goodbye, "* idle for too long, bye", "{backend}: {rest:?}");
    assert!(chatter_lines.iter().all(|l| *l == format!("{talker_name}: still here")), "{backend}: {rest:?}");
    // The talker is still served.
    stop.send(()).unwrap();
    join_within(chatter, "the talker");
    (&talker).write_all(b"/quit\n").unwrap();
    assert_eq!(read_line(&mut talker_reader), "bye", "{backend}");
}

#[test]
fn chat_server_idle_timeout_poll() {
    chat_server_drops_an_idle_client("poll");
}

#[test]
fn chat_server_idle_timeout_select() {
    chat_server_drops_an_idle_client("select");
}

// Not under `--cfg pollreactor_portable`, which builds the non-Linux paths,
// nor without the `epoll` feature.
#[cfg(all(target_os = "linux", feature = "epoll", not(pollreactor_portable)))]
#[test]
fn chat_server_idle_timeout_epoll() {
    chat_server_drops_an_idle_client("epoll");
}

#[test]
fn pipe_reader_prefixes_lines_and_keeps_the_status() {
    for backend in Backend::available().iter().map(|b| b.name()) {
        let script = "echo one; echo two >&2; printf 'no newline'; exit 3";
        let out = output_within(Command::new(example("pipe_reader")).args([
            "--backend",
            backend,
            "sh",
            "-c",
            script,
        ]));
        assert_eq!(out.status.code(), Some(3), "{backend}");
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort();
        assert_eq!(lines, ["err: two", "out: no newline", "out: one"], "{backend}");
    }
}

/// SIGTERM and SIGINT make every example server close its channels and
/// exit with status 0.
#[test]
fn servers_exit_0_on_sigterm_and_sigint() {
    for name in ["echo_server", "http_server", "chat_server"] {
        for (backend, signal) in [("poll", "TERM"), ("select", "INT")] {
            let mut server = Server::start(name, backend);
            // Connected clients the server has surely accepted (a round
            // trip), so there are channels to close.
            let clients = served_clients(name, &server.addr);
            let pid = server.child.id().to_string();
            assert!(Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
            let deadline = Instant::now() + WAIT_LIMIT;
            let status = loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "{name} ignored SIG{signal}");
                thread::sleep(Duration::from_millis(10));
            };
            assert_eq!(status.code(), Some(0), "{name} --backend {backend} on SIG{signal}");
            // Its channels were closed: each client reads the end of file.
            for client in &clients {
                assert_eq!(read_to_close(client), b"", "{name}");
            }
        }
    }
}

/// Clients of the example server `name` that it has accepted and answered.
fn served_clients(name: &str, addr: &str) -> Vec<TcpStream> {
    let mut first = connect(addr);
    match name {
        "echo_server" => {
            first.write_all(b"x").unwrap();
            let mut back = [0u8];
            first.read_exact(&mut back).unwrap();
            vec![first]
        }
        "http_server" => {
            first.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            let mut back = vec![0u8; HELLO.len()];
            first.read_exact(&mut back).unwrap();
            vec![first]
        }
        _ => {
            // chat: a line from a second client reaches the first.
            let mut second = connect(addr);
            second.write_all(b"hi\n").unwrap();
            let mut reader = BufReader::new(first.try_clone().unwrap());
            assert!(read_line(&mut reader).ends_with(": hi"));
            vec![first, second]
        }
    }
}
