//! A line-based chat room on chat channels: try it with two or three `nc`s.
//!
//! What it teaches: channels that talk to each other. Each client is a
//! chat channel (`Dispatcher::with_chat`, asynchat) split at `\n`; its
//! `found_terminator` queues the line on every other client's channel
//! through `Context::call`, typed by the other's handler and layer, and
//! the room (the list of client tokens) is shared state that the listener
//! and the clients hold together. A record cap refuses lines over 4 KiB.
//!
//! And how a channel ends: every close the library makes runs
//! `handle_close` once, and `close_reason()` says why (the client closed,
//! sent nothing for `--idle-timeout`, stopped reading for `--send-timeout`,
//! or its `/quit` goodbye went out), which the room is told. Those notices
//! go out with `Context::defer`, which reaches a member even when it is
//! the one whose callback is running. Both timeouts are on by default, and
//! `--max-conns` caps the room (`examples/common` has the machinery).
//!
//! `cargo run --example chat_server`, then `nc 127.0.0.1 8082` in a few
//! terminals.

mod common;

use pollreactor::{Address, Channel, Chat, CloseReason, Dispatcher, Handler, Socket, Token};
use std::cell::RefCell;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;

const USAGE: &str = "\
usage: chat_server [--addr HOST:PORT] [--backend poll|select|epoll] [--interest MODE]
                   [--idle-timeout SECS] [--send-timeout SECS] [--max-conns N]

A chat room: every line a client sends goes to every other client as
`ADDRESS: line`. A client leaves by sending `/quit` (it gets `bye`) or
closing; the others are told `* ADDRESS left`, with the reason when it did
not /quit: `* ADDRESS left (idle timeout)`, `(disconnected)`,
`(not reading)`, `(line too long)`, ... A line over 4096 bytes gets
`error: line longer than 4096 bytes` and the connection is closed.

  --addr HOST:PORT     where to listen (default 127.0.0.1:8082; port 0 picks one)
  --backend NAME       poll, select or epoll (default poll)
  --interest MODE      when-changed (default) or every-iteration (asyncore's)
  --idle-timeout SECS  disconnect a client that sends nothing for SECS
                       seconds (it gets `* idle for too long, bye`);
                       default 300 (0: never)
  --send-timeout SECS  disconnect a client whose lines wait SECS seconds
                       without a byte going out: it stopped reading
                       (default 60, as nginx's send_timeout; 0: never)
  --max-conns N        at most N clients at once (default 10000; 0: no
                       limit). At the limit the server stops accepting: new
                       clients wait in the listen backlog, connected but
                       unanswered, until one leaves
  -h, --help           this text

One room per process, so no --workers. The first line on stdout is
`listening on HOST:PORT`. SIGINT and SIGTERM close every connection and
exit 0.";

/// The longest line a client may send.
const MAX_LINE: usize = 4096;

/// Everyone in the room.
type Room = Rc<RefCell<Vec<Token>>>;

/// One client (`asynchat.async_chat`): its lines go to everybody else.
struct ChatClient {
    name: String,
    room: Room,
    /// Why it is leaving, when it knows better than the close reason
    /// (a refused line).
    why: Option<&'static str>,
    /// The room was told it left (each member leaves once).
    announced: bool,
    /// Its place under `--max-conns`, freed with the handler.
    _place: common::Place,
}

impl ChatClient {
    /// Queues `line` on every other member's channel.
    fn broadcast(&self, ch: &mut Channel<'_, Chat>, line: &[u8]) {
        let mut message = Vec::with_capacity(self.name.len() + line.len() + 3);
        message.extend_from_slice(self.name.as_bytes());
        message.extend_from_slice(b": ");
        message.extend_from_slice(line);
        message.push(b'\n');
        // A copy of the list: a push that finds a dead peer runs its
        // handle_close, which leaves the room while we walk it.
        let others: Vec<Token> = self.room.borrow().iter().copied().filter(|&t| t != ch.token()).collect();
        for t in others {
            ch.context().call(t, |_: &mut ChatClient, other: &mut Channel<'_, Chat>| other.push(&message));
        }
    }

    /// Stops hearing the room (its goodbye may still be on its way out).
    fn leave(&self, ch: &Channel<'_, Chat>) {
        self.room.borrow_mut().retain(|&t| t != ch.token());
    }

    /// Leaves the room and tells the others, once: `* NAME left`, with
    /// the reason unless it said /quit.
    fn announce_departure(&mut self, ch: &mut Channel<'_, Chat>, why: Option<&str>) {
        self.leave(ch);
        if std::mem::replace(&mut self.announced, true) {
            return;
        }
        let notice = match why {
            Some(why) => format!("* {} left ({why})\n", self.name),
            None => format!("* {} left\n", self.name),
        };
        // Deferred, not called: this may run inside another member's
        // callback (its push found us gone), and `call` would find that
        // member busy and skip it; a deferred push reaches everyone.
        let others: Vec<Token> = self.room.borrow().clone();
        for t in others {
            let notice = notice.clone();
            ch.context().defer(t, move |_: &mut ChatClient, other: &mut Channel<'_, Chat>| {
                let _ = other.push(notice.as_bytes());
            });
        }
    }
}

/// What the room is told about a member the library is closing, by its
/// close reason: nothing more than `left` for a /quit whose `bye` went out.
fn departure(reason: Option<CloseReason>) -> Option<&'static str> {
    match reason? {
        CloseReason::Drained => None,
        CloseReason::EndOfFile => Some("disconnected"),
        CloseReason::IdleTimeout | CloseReason::InputTimeout => Some("idle timeout"),
        CloseReason::SendTimeout => Some("not reading"),
        CloseReason::Error => Some("error"),
        _ => Some("connection lost"), // reset, broken, and any reason added later
    }
}

impl Handler<Chat> for ChatClient {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let mut line = ch.take_incoming();
        if line.last() == Some(&b'\r') {
            line.pop(); // telnet and Windows clients end lines with CRLF
        }
        if line == b"/quit" {
            // The room hears of it once `bye` has gone out: handle_close,
            // with CloseReason::Drained.
            self.leave(ch);
            ch.push(b"bye\n")?;
            ch.close_when_done();
            return Ok(());
        }
        self.broadcast(ch, &line);
        Ok(())
    }

    /// Every close the library makes comes here once, with its reason.
    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let reason = ch.close_reason();
        let why = self.why.or_else(|| departure(reason));
        self.announce_departure(ch, why);
        if matches!(reason, Some(CloseReason::InputTimeout)) {
            // Still connected: say goodbye first. (Should it not read that
            // either, the next timeout closes it for good.)
            ch.push(b"* idle for too long, bye\n")?;
            ch.close_when_done();
        } else {
            ch.close();
        }
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.leave(ch);
        // The record cap: a line longer than MAX_LINE.
        if err.kind() == io::ErrorKind::InvalidData {
            let refusal = format!("error: line longer than {MAX_LINE} bytes\n");
            if ch.push(refusal.as_bytes()).is_ok() {
                self.why = Some("line too long");
                ch.close_when_done(); // handle_close follows once it went out
                return;
            }
        }
        self.announce_departure(ch, Some("error"));
        ch.close();
    }
}

/// The listener (`asyncore.dispatcher`): each connection joins the room.
struct ChatServer {
    room: Room,
    conns: common::Conns,
}

impl Handler for ChatServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        let name = addr.to_string();
        let mut conn = Dispatcher::accepted(sock, addr).with_chat();
        conn.set_terminator(b"\n");
        conn.set_max_record(Some(MAX_LINE));
        // --idle-timeout (an input timeout: what the room sends a client
        // does not count), --send-timeout, --max-conns.
        let place = self.conns.admit(&mut conn);
        let client = ChatClient { name, room: self.room.clone(), why: None, announced: false, _place: place };
        let token = ch.context().add(conn, client)?;
        self.room.borrow_mut().push(token);
        Ok(())
    }
}

fn main() -> ExitCode {
    let (args, limits) =
        common::parse_server("127.0.0.1:8082", USAGE, common::Limits::default(), |option, _| {
            if option == "--workers" {
                common::usage_error("--workers: chat_server has one room per process", USAGE);
            }
            false
        });
    common::serve_with_limits(&args, &limits, |conns| ChatServer { room: Room::default(), conns })
}
