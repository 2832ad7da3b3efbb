//! The output queue itself: bytes and producers, sent in order. A plain
//! data structure: it knows nothing of sockets or channels.

use std::collections::VecDeque;
use std::fmt;

/// A source of output produced on demand, asynchat's "producer": each call
/// to [`more`](Producer::more) returns the next chunk, and an empty chunk
/// means the producer is finished. Use it for output too large, or too slow
/// to make, to queue at once.
pub trait Producer {
    /// The next chunk of output; empty when there is no more.
    fn more(&mut self) -> Vec<u8>;
}

/// A producer over a byte buffer that hands it out `chunk` bytes at a time
/// (asynchat's `simple_producer`).
///
/// ```
/// use pollreactor::{Producer, SimpleProducer};
/// let mut p = SimpleProducer::new(b"hello world".to_vec(), 4);
/// assert_eq!(p.more(), b"hell");
/// assert_eq!(p.more(), b"o wo");
/// assert_eq!(p.more(), b"rld");
/// assert!(p.more().is_empty());
/// ```
pub struct SimpleProducer {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl SimpleProducer {
    /// A producer of `data` in chunks of at most `chunk` bytes (512 in
    /// asynchat; a `chunk` of 0 is taken as 1).
    pub fn new(data: Vec<u8>, chunk: usize) -> SimpleProducer {
        SimpleProducer { data, pos: 0, chunk: chunk.max(1) }
    }
}

impl Producer for SimpleProducer {
    fn more(&mut self) -> Vec<u8> {
        let end = (self.pos + self.chunk).min(self.data.len());
        let chunk = self.data[self.pos..end].to_vec();
        self.pos = end;
        chunk
    }
}

impl fmt::Debug for SimpleProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SimpleProducer({} of {} bytes left)", self.data.len() - self.pos, self.data.len())
    }
}

/// The output queue: `bytes` go first; then each producer in turn, each
/// followed by the bytes queued after it. With no producers (the usual case)
/// it is one reused byte buffer, so steady traffic allocates nothing.
#[derive(Default)]
pub(crate) struct OutQueue {
    bytes: ByteQueue,
    /// Producers, each with the bytes queued after it: rare, so out of
    /// line (a boxed queue is one word here, where a queue is four).
    #[allow(clippy::box_collection)]
    later: Option<Box<VecDeque<Later>>>,
}

/// A producer, and the bytes queued after it.
type Later = (Box<dyn Producer>, Vec<u8>);

impl OutQueue {
    /// Queues bytes after everything queued so far.
    #[inline]
    pub(crate) fn push(&mut self, data: &[u8]) {
        match self.later.as_mut().and_then(|l| l.back_mut()) {
            Some((_, after)) => after.extend_from_slice(data),
            None => self.bytes.push(data),
        }
    }

    /// Queues a producer after everything queued so far.
    pub(crate) fn push_producer(&mut self, producer: Box<dyn Producer>) {
        self.later.get_or_insert_with(Box::default).push_back((producer, Vec::new()));
    }

    /// The next bytes to send, at most `max`, asking producers for more
    /// when the bytes run out. `None` when everything is sent.
    #[inline]
    pub(crate) fn front(&mut self, max: usize) -> Option<&[u8]> {
        while self.bytes.is_empty() {
            let later = self.later.as_mut()?;
            let (producer, _) = later.front_mut()?;
            let chunk = producer.more();
            if !chunk.is_empty() {
                self.bytes.push(&chunk);
                continue;
            }
            // This producer is done: the bytes queued behind it come next.
            let (_, after) = later.pop_front().expect("front exists");
            if later.is_empty() {
                self.later = None;
            }
            self.bytes.push(&after);
        }
        let slice = self.bytes.as_slice();
        Some(&slice[..slice.len().min(max)])
    }

    /// Drops the first `n` bytes, which were sent.
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        self.bytes.consume(n);
    }

    /// Whether nothing at all is queued.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.later.is_none()
    }

    /// Bytes queued (what producers will still make is not known).
    #[inline]
    pub(crate) fn byte_len(&self) -> usize {
        match &self.later {
            None => self.bytes.len(),
            Some(later) => self.bytes.len() + later.iter().map(|(_, after)| after.len()).sum::<usize>(),
        }
    }

    /// The room the byte buffer holds, queued bytes or not.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.buf.capacity()
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.later = None;
    }
}

/// The most room an emptied buffer keeps: a read's worth (echo_server
/// reads 8 KiB at a time), so steady traffic of that size allocates nothing.
pub(crate) const KEEP_CAPACITY: usize = 8 * 1024;

/// Empties `buf`, keeping its room for the next use, unless a burst grew
/// it past [`KEEP_CAPACITY`]: 10,000 connections, each idle after one large
/// message, would otherwise hold all those messages' room.
pub(crate) fn empty_buffer(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_CAPACITY {
        *buf = Vec::new();
    } else {
        buf.clear();
    }
}

/// A byte vector read from a moving start, so sending from the front never
/// shifts the rest: a large queue drains in linear time.
#[derive(Default)]
struct ByteQueue {
    buf: Vec<u8>,
    start: usize,
}

impl ByteQueue {
    #[inline]
    fn push(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            // Reclaim the sent prefix once it is at least half the vector:
            // each byte is moved at most once on average.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    #[inline]
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start >= self.buf.len() {
            self.clear();
        }
    }

    /// Empties the queue (see [`empty_buffer`]).
    fn clear(&mut self) {
        empty_buffer(&mut self.buf);
        self.start = 0;
    }

    #[inline]
    fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
