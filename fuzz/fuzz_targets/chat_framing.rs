//! Chat-channel framing against a plain reference splitter: arbitrary
//! bytes, an arbitrary byte-string terminator, arbitrary read sizes.
//!
//! Input: byte 0 = terminator length (1..=4), then the terminator, then
//! byte = read size (1..=64), then the stream.
#![no_main]

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pollreactor::{Backend, Channel, Chat, Dispatcher, Family, Handler, Reactor, SockType, Socket};

#[derive(Default)]
struct Seen {
    records: Vec<Vec<u8>>,
    current: Vec<u8>,
}

struct Recorder(Rc<RefCell<Seen>>);

impl Handler<Chat> for Recorder {
    fn collect_incoming_data(&mut self, _: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        assert!(!data.is_empty(), "collect_incoming_data with no data");
        self.0.borrow_mut().current.extend_from_slice(data);
        Ok(())
    }

    fn found_terminator(&mut self, _: &mut Channel<'_, Chat>) -> io::Result<()> {
        let mut seen = self.0.borrow_mut();
        let record = std::mem::take(&mut seen.current);
        seen.records.push(record);
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher<Chat>) -> bool {
        false
    }
}

/// The records `stream` holds, split at `terminator`, and the unfinished rest.
fn reference(stream: &[u8], terminator: &[u8]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut records = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + terminator.len() <= stream.len() {
        if &stream[i..i + terminator.len()] == terminator {
            records.push(stream[start..i].to_vec());
            i += terminator.len();
            start = i;
        } else {
            i += 1;
        }
    }
    (records, stream[start..].to_vec())
}

fuzz_target!(|input: &[u8]| {
    let Some((&len, rest)) = input.split_first() else { return };
    let len = usize::from(len % 4) + 1;
    if rest.len() < len + 1 {
        return;
    }
    let (terminator, rest) = rest.split_at(len);
    let (read_size, stream) = (usize::from(rest[0] % 64) + 1, &rest[1..]);
    if stream.len() > 4096 {
        return;
    }
    let seen = Rc::new(RefCell::new(Seen::default()));
    let (ours, theirs) = Socket::pair(Family::Unix, SockType::Stream).unwrap();
    let mut chat = Dispatcher::new(ours).unwrap().with_chat();
    chat.set_terminator(terminator);
    chat.set_in_buffer_size(read_size);
    let mut reactor = Reactor::new();
    reactor.add(chat, Recorder(seen.clone())).unwrap();
    assert_eq!(theirs.send(stream).unwrap(), stream.len());
    drop(theirs);
    // Read until the end of file closes the channel.
    while !reactor.context().is_empty() {
        reactor.poll_once(Some(Duration::from_secs(5)), Backend::Poll).unwrap();
    }
    let (records, tail) = reference(stream, terminator);
    let seen = seen.borrow();
    assert_eq!(seen.records, records);
    // What is left: collected bytes, or a partial terminator still held.
    assert!(tail.starts_with(&seen.current), "tail {tail:?} vs collected {:?}", seen.current);
    // Held back: exactly the longest start of the terminator that ends the tail.
    let held = tail.len() - seen.current.len();
    assert_eq!(held, pollreactor::find_prefix_at_end(&tail, terminator), "tail {tail:?}");
});
