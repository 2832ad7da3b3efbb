//! A line-based chat room on chat channels: try it with two or three `nc`s.
//!
//! What it teaches: channels that talk to each other. Each client is a
//! chat channel (`Dispatcher::with_chat`, asynchat) split at `\n`; its
//! `found_terminator` queues the line on every other client's channel
//! through `Context::call`, typed by the other's handler and layer, and
//! the room (the list of client tokens) is shared state that the listener
//! and the clients hold together. A record cap refuses lines over 4 KiB.
//!
//! `cargo run --example chat_server`, then `nc 127.0.0.1 8082` in a few
//! terminals.

mod common;

use std::cell::RefCell;
use std::io;
use std::process::ExitCode;
use std::rc::Rc;

use pollreactor::{Address, Channel, Chat, Dispatcher, Handler, Socket, Token};

const USAGE: &str = "\
usage: chat_server [--addr HOST:PORT] [--backend poll|select|epoll]

A chat room: every line a client sends goes to every other client as
`ADDRESS: line`. A client leaves by sending `/quit` or closing. A line over
4096 bytes gets `error: line longer than 4096 bytes` and the connection is
closed.

  --addr HOST:PORT   where to listen (default 127.0.0.1:8082; port 0 picks one)
  --backend NAME     poll, select or epoll (default poll)
  -h, --help         this text

The first line on stdout is `listening on HOST:PORT`.";

/// The longest line a client may send.
const MAX_LINE: usize = 4096;

/// Everyone in the room.
type Room = Rc<RefCell<Vec<Token>>>;

/// One client (`asynchat.async_chat`): its lines go to everybody else.
struct ChatClient {
    name: String,
    room: Room,
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

    fn leave(&self, ch: &Channel<'_, Chat>) {
        self.room.borrow_mut().retain(|&t| t != ch.token());
    }
}

impl Handler<Chat> for ChatClient {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        let mut line = ch.take_incoming();
        if line.last() == Some(&b'\r') {
            line.pop(); // telnet and Windows clients end lines with CRLF
        }
        if line == b"/quit" {
            self.leave(ch);
            ch.push(b"bye\n")?;
            ch.close_when_done();
            return Ok(());
        }
        self.broadcast(ch, &line);
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.leave(ch);
        ch.close();
        Ok(())
    }

    fn handle_error(&mut self, ch: &mut Channel<'_, Chat>, err: io::Error) {
        self.leave(ch);
        // The record cap: a line longer than MAX_LINE.
        if err.kind() == io::ErrorKind::InvalidData {
            let refusal = format!("error: line longer than {MAX_LINE} bytes\n");
            if ch.push(refusal.as_bytes()).is_ok() {
                ch.close_when_done();
                return;
            }
        }
        ch.close();
    }
}

/// The listener (`asyncore.dispatcher`): each connection joins the room.
struct ChatServer {
    room: Room,
}

impl Handler for ChatServer {
    fn handle_accepted(&mut self, ch: &mut Channel<'_>, sock: Socket, addr: Address) -> io::Result<()> {
        let mut conn = Dispatcher::new(sock)?.with_chat();
        conn.set_terminator(b"\n");
        conn.set_max_record(Some(MAX_LINE));
        let client = ChatClient { name: addr.to_string(), room: self.room.clone() };
        let token = ch.context().add(conn, client)?;
        self.room.borrow_mut().push(token);
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = common::ServerArgs::parse("127.0.0.1:8082", USAGE);
    common::serve(&args, ChatServer { room: Room::default() })
}
