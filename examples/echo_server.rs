//! The echo server of the asyncore manual, line for line.
//!
//! What it teaches: a listening channel whose `handle_accepted` turns each
//! new connection into a channel of its own, and buffered output
//! (`Dispatcher::with_send`, asyncore's `dispatcher_with_send`) so a
//! handler can answer without caring whether the socket takes it all now.
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

use pollreactor::{Address, Channel, Dispatcher, Handler, LoopOptions, Reactor, Socket, WithSend};

const USAGE: &str = "\
usage: echo_server [--addr HOST:PORT] [--backend poll|select|epoll] [--interest MODE]

Echoes back everything each client sends (the asyncore manual's example).

  --addr HOST:PORT   where to listen (default 127.0.0.1:8080; port 0 picks one)
  --backend NAME     poll, select or epoll (default poll)
  --interest MODE    when-changed (default: a channel is asked readable()/
                     writable() only after its own callbacks ran) or
                     every-iteration (asyncore's way: every channel, every time)
  -h, --help         this text

The first line on stdout is `listening on HOST:PORT`.";

/// One connection (`asyncore.dispatcher_with_send`): whatever arrives goes
/// straight back.
struct EchoHandler;

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
struct EchoServer;

impl Handler for EchoServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        // The manual prints "Incoming connection from ..." here; a server
        // measured with 10,000 connections should not, so we stay quiet.
        // No Nagle delay: each echo goes out as soon as it is written.
        sock.set_nodelay(true)?;
        // handler = EchoHandler(sock); `accepted` knows what accept said.
        ch.context().add(Dispatcher::accepted(sock, addr).with_send(), EchoHandler)?;
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = common::ServerArgs::parse("127.0.0.1:8080", USAGE);
    match serve(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => common::fail(&format!("serving on {}", args.addr), e),
    }
}

/// `server = EchoServer('localhost', 8080)`, then `asyncore.loop()`.
fn serve(args: &common::ServerArgs) -> io::Result<()> {
    // create_socket, set_reuse_addr, bind, listen: in one call.
    let server = Dispatcher::listen_tcp(args.addr.as_str(), common::BACKLOG)?;
    let addr = server.local_addr()?;
    let mut reactor = Reactor::new();
    reactor.set_interest_mode(args.interest); // --interest when-changed (default) | every-iteration
    common::trace_if_asked(&mut reactor); // POLLREACTOR_TRACE=1: one line per iteration
    reactor.add(server, EchoServer)?;
    common::stop_on_signals(&mut reactor)?; // SIGINT, SIGTERM: close all, exit 0
    common::say(&format!("listening on {addr}"));
    reactor.run(LoopOptions::default().backend(args.backend).timeout(None))
}
