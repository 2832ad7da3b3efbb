//! The example programs, run as a user would: real processes on loopback.
//! `cargo test` builds the examples first; with `--test examples` alone,
//! run `cargo build --examples` before.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use common::{pattern, WAIT_LIMIT};

/// The path of an example binary that `cargo test` built beside this test.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds examples",
        path.display()
    );
    path
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
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .expect("read the first line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line was {first:?}"));
        Server {
            addr: addr.to_string(),
            child,
        }
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
    (&stream)
        .read_exact(&mut got)
        .map_err(|e| format!("read the echo: {e}"))?;
    sender.join().unwrap().map_err(|e| format!("send: {e}"))?;
    if got != expected {
        let at = got.iter().zip(&expected).position(|(a, b)| a != b).unwrap();
        return Err(format!("echo differs at byte {at}"));
    }
    stream.shutdown(Shutdown::Both).ok();
    Ok(())
}

fn echo_server_serves_50_clients_1_mib_each(backend: &str) {
    let server = Server::start("echo_server", backend);
    let (done, results) = mpsc::channel();
    for i in 0..50u8 {
        let (addr, done) = (server.addr.clone(), done.clone());
        thread::spawn(move || done.send(echo_round_trip(&addr, pattern(1 << 20, i))));
    }
    for n in 0..50 {
        let result = results
            .recv_timeout(WAIT_LIMIT * 3)
            .unwrap_or_else(|_| panic!("client {n} never finished"));
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

/// http_client GETs from a one-shot std server and prints the response.
fn http_client_prints_the_response(backend: &str) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8];
        while !request.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap();
        String::from_utf8(request).unwrap()
    });
    let url = format!("http://127.0.0.1:{port}/some/path");
    let out = Command::new(example("http_client"))
        .args(["--backend", backend, &url])
        .output()
        .unwrap();
    let request = server.join().unwrap();
    assert!(
        out.status.success(),
        "http_client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        request,
        format!("GET /some/path HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    );
    assert_eq!(
        out.stdout,
        b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    );
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
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(example("http_client"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_example_has_help_and_rejects_bad_arguments() {
    for name in ["echo_server", "http_client"] {
        let help = Command::new(example(name)).arg("--help").output().unwrap();
        assert!(help.status.success(), "{name} --help failed");
        assert!(
            String::from_utf8_lossy(&help.stdout).starts_with("usage:"),
            "{name} --help"
        );
        let bad = Command::new(example(name))
            .args(["--backend", "kqueue"])
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2), "{name} with a bad backend");
        assert!(
            String::from_utf8_lossy(&bad.stderr).contains("unknown backend"),
            "{name}"
        );
    }
}

#[test]
fn echo_server_reports_an_address_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(example("echo_server"))
        .args(["--addr", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on"));
    drop(taken);
}
