//! Running out of descriptors: with RLIMIT_NOFILE lowered, a flood of
//! connects makes accept fail with EMFILE. The loop must not spin (a
//! level-triggered listener stays readable), must keep serving the
//! connections it has, and must accept again once descriptors are free.
//! The limit is process-wide, so this file is its own test binary.

mod common;

use common::Echo;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{loop_until, Log, WAIT_LIMIT};
use pollreactor::{Address, Backend, Channel, Dispatcher, Handler, LogKind, Reactor, Socket};

struct Server {
    log: Log,
}

impl Handler for Server {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, _: Address) -> io::Result<()> {
        ch.context().add(Dispatcher::new(sock)?.with_send(), Echo)?;
        Ok(())
    }

    fn log_info(&mut self, message: &str, kind: LogKind) {
        self.log.push(format!("{kind}: {message}"));
    }
}

fn connected_client(addr: &str) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(WAIT_LIMIT)).unwrap();
    c
}

#[test]
fn emfile_neither_spins_nor_stops_the_server() {
    for &backend in Backend::available() {
        run(backend);
    }
}

fn run(backend: Backend) {
    let (original, _) = pollreactor::limits::fd_limit().unwrap();
    let log = Log::default();
    let mut reactor = Reactor::new();
    let listener = Dispatcher::listen_tcp("127.0.0.1:0", 128).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = reactor.add(listener, Server { log: log.clone() }).unwrap();
    // One connection the server has before the flood.
    let mut existing = connected_client(&addr);
    loop_until(&mut reactor, backend, "the first accept", |r| r.context().len() == 2);

    // Another process floods us (it starts before the limit drops, which it
    // would inherit); then leave room for three more accepts.
    let script = "import socket, sys\n\
        sys.stdin.readline()\n\
        c = [socket.create_connection(('127.0.0.1', int(sys.argv[1]))) for _ in range(40)]\n\
        print('ready', flush=True)\n\
        sys.stdin.read()\n";
    let port = addr.rsplit(':').next().unwrap();
    let mut flood = Command::new("python3")
        .args(["-c", script, port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the flood");
    pollreactor::limits::set_fd_limit(common::open_fds() as u64 + 3).unwrap();
    flood.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut ready = String::new();
    BufReader::new(flood.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");

    // During the flood the existing connection is still served promptly,
    // and the loop sleeps between back-offs instead of spinning.
    let pinger = thread::spawn(move || {
        let mut worst = Duration::ZERO;
        for i in 0..10u8 {
            let start = Instant::now();
            existing.write_all(&[i; 32]).unwrap();
            let mut back = [0u8; 32];
            existing.read_exact(&mut back).unwrap();
            assert_eq!(back, [i; 32]);
            worst = worst.max(start.elapsed());
            thread::sleep(Duration::from_millis(50));
        }
        (existing, worst)
    });
    let (mut iterations, start) = (0u32, Instant::now());
    while !pinger.is_finished() {
        assert!(start.elapsed() < WAIT_LIMIT, "{backend:?}: the pings did not finish");
        reactor.poll_once(Some(Duration::from_secs(1)), backend).unwrap();
        iterations += 1;
    }
    let (existing, worst) = pinger.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert!(log.events().iter().any(|e| e.contains("out of descriptors")), "{backend:?}: no EMFILE seen");
    assert!(reactor.context().contains(server), "{backend:?}: the listener must stay open");
    // 10 pings plus a wake-up per 100 ms back-off: far below a spin's
    // hundreds of thousands of iterations a second.
    assert!(
        f64::from(iterations) / secs < 500.0,
        "{backend:?}: {iterations} iterations in {secs:.2} s: spinning"
    );
    assert!(worst < Duration::from_secs(2), "{backend:?}: a ping took {worst:?} during the flood");

    // Descriptors come back: the server accepts again.
    pollreactor::limits::set_fd_limit(original).unwrap();
    drop(flood.stdin.take());
    flood.wait().unwrap();
    let mut fresh = connected_client(&addr);
    fresh.write_all(b"again").unwrap();
    let mut back = [0u8; 5];
    let reader = thread::spawn(move || fresh.read_exact(&mut back).map(|_| back));
    loop_until(&mut reactor, backend, "the fresh connection's echo", |_| reader.is_finished());
    assert_eq!(&reader.join().unwrap().unwrap(), b"again");
    existing.shutdown(std::net::Shutdown::Both).unwrap();
    reactor.context_mut().close_all();
}
