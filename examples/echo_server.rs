//! The echo server of the asyncore manual, line for line.
//!
//! What it teaches: a listening channel whose `handle_accepted` turns each
//! new connection into a channel of its own, and buffered output
//! (`Dispatcher::with_send`, asyncore's `dispatcher_with_send`) so a
//! handler can answer without caring whether the socket takes it all now.
//!
//! Beyond the manual, what a server facing the internet needs, each a
//! flag with a safe default (see `--help`): a client that goes silent or
//! stops reading is closed (`--idle-timeout`, `--send-timeout`: the
//! library's input and send timeouts), at most `--max-conns` connections
//! are served at once (the rest wait in the listen backlog), and
//! `--workers N` runs N loops on N threads. The machinery is in
//! `examples/common`; here it is a line in `handle_accepted` (and the
//! connection's place in `EchoHandler`) and the two lines of `main`.
//!
//! Run it with `cargo run --release --example echo_server`, then talk to it
//! with `nc 127.0.0.1 8080`. `--addr 127.0.0.1:0` picks a free port; the
//! first line on stdout is always `listening on HOST:PORT`.
//!
//! The Python it mirrors:
//!
//! ```python
//! class EchoHandler(asyncore.dispatcher_with_send):
//!     def handle_read(self):
//!         data = self.recv(8192)
//!         if data:
//!             self.send(data)
//!
//! class EchoServer(asyncore.dispatcher):
//!     def __init__(self, host, port):
//!         asyncore.dispatcher.__init__(self)
//!         self.create_socket()
//!         self.set_reuse_addr()
//!         self.bind((host, port))
//!         self.listen(5)
//!
//!     def handle_accepted(self, sock, addr):
//!         print('Incoming connection from %s' % repr(addr))
//!         handler = EchoHandler(sock)
//!
//! server = EchoServer('localhost', 8080)
//! asyncore.loop()
//! ```

mod common;

use std::io;
use std::process::ExitCode;

use pollreactor::{Address, Channel, Dispatcher, Handler, Reactor, Socket, WithSend};

const USAGE: &str = "\
usage: echo_server [--addr HOST:PORT] [--backend poll|select|epoll] [--interest MODE]
                   [--idle-timeout SECS] [--send-timeout SECS] [--max-conns N] [--workers N]

Echoes back everything each client sends (the asyncore manual's example).

  --addr HOST:PORT     where to listen (default 127.0.0.1:8080; port 0 picks one)
  --backend NAME       poll, select or epoll (default poll)
  --interest MODE      when-changed (default: a channel is asked readable()/
                       writable() only after its own callbacks ran) or
                       every-iteration (asyncore's way: every channel, every time)
  --idle-timeout SECS  close a connection whose client sends nothing for SECS
                       seconds (default 300; 0: never)
  --send-timeout SECS  close a connection whose echo waits SECS seconds
                       without a byte of it going out: the client stopped
                       reading (default 60, as nginx's send_timeout; 0: never)
  --max-conns N        serve at most N connections at once, per worker
                       (default 10000; 0: no limit). At the limit the server
                       stops accepting: new clients wait in the listen
                       backlog, connected but unanswered, until one leaves
  --workers N          N threads, each with its own loop and its own listener
                       on the same address (SO_REUSEPORT; default 1)
  -h, --help           this text

The first line on stdout is `listening on HOST:PORT`. SIGINT and SIGTERM
close every connection and exit 0.";

/// One connection (`asyncore.dispatcher_with_send`): whatever arrives goes
/// straight back. Its place counts it against `--max-conns` until the
/// channel is gone.
struct EchoHandler {
    _place: common::Place,
}

impl Handler<WithSend> for EchoHandler {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        // data = self.recv(8192); self.send(data): the data is read into the
        // reactor's shared buffer (no zeroing) and queued, to go out in one
        // send(2) when handle_read returns.
        ch.recv_with(8192, |ch, data| ch.send_buffered(data))
    }
}

/// The listener (`asyncore.dispatcher`): each accepted connection becomes
/// an `EchoHandler` channel.
struct EchoServer {
    conns: common::Conns,
}

impl Handler for EchoServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        // The manual prints "Incoming connection from ..." here; a server
        // measured with 10,000 connections should not, so we stay quiet.
        // No Nagle delay: each echo goes out as soon as it is written.
        sock.set_nodelay(true)?;
        // handler = EchoHandler(sock); `accepted` knows what accept said.
        let mut conn = Dispatcher::accepted(sock, addr).with_send();
        let place = self.conns.admit(&mut conn); // --idle-timeout, --send-timeout, --max-conns
        ch.context().add(conn, EchoHandler { _place: place })?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let (args, limits) =
        common::parse_server("127.0.0.1:8080", USAGE, common::Limits::default(), |_, _| false);
    common::workers(&args, &limits, serve)
}

/// `server = EchoServer('localhost', 8080)`, then `asyncore.loop()`: what
/// each of the `--workers` threads runs (the flags are `common`'s).
fn serve(mut worker: common::Worker<'_>) -> io::Result<()> {
    let mut reactor = Reactor::new();
    // create_socket, set_reuse_addr, bind, listen; --max-conns, --interest.
    worker.add_listener(&mut reactor, |conns| EchoServer { conns })?;
    reactor.run(worker.options())
}
