//! A TCP port forwarder: the crate's lesson on channels that cooperate.
//!
//! What it teaches: two channels that serve one connection together. Each
//! client the listener accepts gets a connection of its own to the backend
//! (`--to`), opened with a non-blocking connect, and each of the two
//! channels knows the other's `Token`. Then:
//!
//! * what one side reads, it queues on the other with a typed call,
//!   `ctx.call(other, |side: &mut Side, o: &mut Channel<'_, WithSend>| ..)`:
//!   no `Rc<RefCell<..>>`, no downcast;
//! * each side's reading is paced by the other side's queue
//!   (`pace_reading_by`): when one peer stops reading, the other peer is
//!   stopped too, and the proxy's memory stays bounded;
//! * an end of file is passed on as a half-close (`shutdown_when_done`), and
//!   the pair closes once both directions have ended;
//! * a reset is passed on as a reset (`set_linger_zero`, then close), and a
//!   backend that refuses the connection closes the client.
//!
//! Try it: `cargo run --example echo_server -- --addr 127.0.0.1:8080` in one
//! terminal, `cargo run --example proxy -- --to 127.0.0.1:8080` in another,
//! then `nc 127.0.0.1 8083`. The first line on stdout is always
//! `listening on HOST:PORT`.

mod common;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use pollreactor::{
    Address, Backend, Channel, CloseReason, Context, Dispatcher, Family, Handler, SockType, Socket, Token,
    WithSend,
};

const USAGE: &str = "\
usage: proxy --to HOST:PORT [--addr HOST:PORT] [--backend poll|select|epoll] [--interest MODE]

Forwards every connection it accepts to HOST:PORT, both ways.

  --to HOST:PORT     where to forward to (required)
  --addr HOST:PORT   where to listen (default 127.0.0.1:8083; port 0 picks one)
  --backend NAME     poll, select or epoll (default poll)
  --interest MODE    when-changed (default: a channel is asked readable()/
                     writable() only after its own callbacks ran) or
                     every-iteration (asyncore's way: every channel, every time)
  -h, --help         this text

The first line on stdout is `listening on HOST:PORT`.";

/// The most one read takes, and so the most it adds to the other side's
/// queue at once.
const READ_SIZE: usize = 64 * 1024;

/// One end of a forwarded connection: the client's, or the backend's.
struct Side {
    /// "client" or "backend", for messages.
    name: &'static str,
    /// The other end's channel (known as soon as both exist).
    peer: Option<Token>,
    /// Reused for every read.
    buf: Vec<u8>,
    /// Our peer sent its end of file.
    input_done: bool,
    /// The other side's peer did: we shut our write side down.
    output_done: bool,
}

impl Side {
    fn new(name: &'static str, peer: Option<Token>) -> Side {
        Side { name, peer, buf: Vec::with_capacity(READ_SIZE), input_done: false, output_done: false }
    }

    fn peer(&self) -> Token {
        self.peer.expect("both ends exist before the loop runs again")
    }
}

impl Handler<WithSend> for Side {
    fn handle_read(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        self.buf.clear();
        if ch.recv_into(&mut self.buf, READ_SIZE)? == 0 {
            return Ok(()); // an end of file or a reset: handle_close follows and says which
        }
        let data = &self.buf;
        let forwarded = ch
            .context()
            .call(self.peer(), |_: &mut Side, other: &mut Channel<'_, WithSend>| other.send_buffered(data));
        match forwarded {
            Some(result) => result,
            None => {
                ch.close(); // the other end is gone: nothing to forward to
                Ok(())
            }
        }
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, WithSend>) -> io::Result<()> {
        let peer = self.peer();
        match ch.close_reason() {
            Some(CloseReason::EndOfFile) => {
                // Pass the half-close on; the other direction goes on. (Our
                // own read saw it, so the other end is not busy: no defer.)
                self.input_done = true;
                let passed_on = ch.context().call(peer, |other: &mut Side, o: &mut Channel<'_, WithSend>| {
                    other.output_done = true;
                    if o.shutdown_when_done().is_err() || other.input_done {
                        o.close_when_done(); // both directions have ended
                    }
                });
                if passed_on.is_none() || self.output_done {
                    ch.close_when_done();
                }
            }
            Some(CloseReason::Reset) => {
                // Pass the reset on: closing with a zero linger sends a RST.
                // We may be closing inside the other end's call to us, so
                // this waits until that returns.
                ch.context().defer(peer, |_: &mut Side, o: &mut Channel<'_, WithSend>| {
                    if let Some(sock) = o.socket() {
                        let _ = sock.set_linger_zero();
                    }
                    o.close();
                });
                ch.close();
            }
            // A refused connect (via handle_error), a broken connection, ...
            _ => {
                ch.context().close(peer);
                ch.close();
            }
        }
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, WithSend>, err: io::Error) {
        eprintln!("proxy: {} {ch:?}: {err}", self.name);
        let _ = self.handle_close(ch); // close_reason() is Error: both ends close
    }
}

/// The listener: each client it accepts is paired with a new backend
/// connection.
struct Proxy {
    to: SocketAddr,
}

impl Handler for Proxy {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        // An error returned from here would close the listener: a client we
        // cannot serve is dropped instead, and the proxy serves the next one.
        if let Err(e) = pair(ch.context(), sock, self.to) {
            eprintln!("proxy: dropping {addr}: {e}");
        }
        Ok(())
    }
}

/// Opens the backend connection for `client` and adds both channels, each
/// reading only while the other's queue has room.
fn pair(ctx: &mut Context, client: Socket, to: SocketAddr) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut client = Dispatcher::new(client)?.with_send();
    let family = if to.is_ipv4() { Family::Inet } else { Family::Inet6 };
    let mut backend = Dispatcher::create_socket(family, SockType::Stream)?.with_send();
    if let Some(sock) = backend.socket() {
        sock.set_nodelay(true)?;
    }
    backend.connect(to)?; // "in progress": a refused connect reaches handle_error

    // A token exists once a channel is added: the backend learns the
    // client's just after, before the loop runs again.
    let b = ctx.add(backend, Side::new("backend", None))?;
    client.pace_reading_by(Some(b));
    let c = ctx.add(client, Side::new("client", Some(b)))?;
    ctx.call(b, |side: &mut Side, ch: &mut Channel<'_, WithSend>| {
        side.peer = Some(c);
        ch.pace_reading_by(Some(c));
    });
    Ok(())
}

/// Parses the command line: the usual server options plus `--to`.
fn parse_args() -> (common::ServerArgs, SocketAddr) {
    let mut args = common::ServerArgs {
        addr: "127.0.0.1:8083".to_string(),
        backend: Backend::Poll,
        interest: pollreactor::InterestMode::WhenChanged,
    };
    let mut to = None;
    let mut argv = std::env::args().skip(1);
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                common::say(USAGE);
                std::process::exit(0);
            }
            "--addr" => args.addr = common::value_of(&arg, argv.next(), USAGE),
            "--to" => to = Some(common::value_of(&arg, argv.next(), USAGE)),
            "--backend" => {
                args.backend = common::backend_of(&common::value_of(&arg, argv.next(), USAGE), USAGE)
            }
            "--interest" => {
                args.interest = common::interest_of(&common::value_of(&arg, argv.next(), USAGE), USAGE)
            }
            other => common::usage_error(&format!("unknown argument {other:?}"), USAGE),
        }
    }
    let to = to.unwrap_or_else(|| common::usage_error("--to HOST:PORT is required", USAGE));
    match to.to_socket_addrs().map(|mut addrs| addrs.next()) {
        Ok(Some(addr)) => (args, addr),
        Ok(None) => common::usage_error(&format!("--to {to}: no address"), USAGE),
        Err(e) => common::usage_error(&format!("--to {to}: {e}"), USAGE),
    }
}

fn main() -> ExitCode {
    let (args, to) = parse_args();
    common::serve(&args, Proxy { to })
}
