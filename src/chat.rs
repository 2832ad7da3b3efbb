//! The chat layer, asynchat's `async_chat` ([`Chat`]): a channel that
//! splits its input into records at a terminator and queues its output
//! (bytes and producers, in the queue of `output.rs`).
//!
//! A dispatcher made [`with_chat`](Dispatcher::with_chat) reads with
//! [`Chat::handle_read`](Layer::handle_read), the read step below, which
//! hands the bytes of each record to [`Handler::collect_incoming_data`] and
//! calls [`Handler::found_terminator`] at each terminator.

use std::io;
use std::mem;
use std::sync::Arc;

use crate::context::Channel;
use crate::dispatcher::{Dispatcher, Flags, Plain};
use crate::handler::{sealed, Handler, Layer};
use crate::output::queue::{empty_buffer, KEEP_CAPACITY};
use crate::output::{buffered_close, buffered_readable, buffered_writable, Buffered, Producer};

/// How many bytes one read asks for (asynchat's `ac_in_buffer_size`).
pub const IN_BUFFER_SIZE: usize = 64 * 1024;

/// Where one record of input ends (asynchat's terminator).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Terminator {
    /// No terminator: every byte goes to `collect_incoming_data` and
    /// `found_terminator` never runs.
    None,
    /// A record is the next `n` bytes. The count goes down as bytes arrive;
    /// at 0 `found_terminator` runs, and the bytes after it are collected
    /// with no terminator until a new one is set. `Count(0)` is like `None`.
    Count(usize),
    /// A record ends at these bytes (`\r\n`, `\r\n\r\n`, ...), which are not
    /// passed on. Two in a row make an empty record: `found_terminator` runs
    /// with nothing collected. An empty string is like `None`.
    Bytes(Arc<[u8]>),
}

impl From<&[u8]> for Terminator {
    fn from(t: &[u8]) -> Terminator {
        Terminator::Bytes(t.into())
    }
}

impl<const N: usize> From<&[u8; N]> for Terminator {
    fn from(t: &[u8; N]) -> Terminator {
        Terminator::Bytes(t.as_slice().into())
    }
}

impl From<&str> for Terminator {
    fn from(t: &str) -> Terminator {
        Terminator::Bytes(t.as_bytes().into())
    }
}

impl From<usize> for Terminator {
    fn from(n: usize) -> Terminator {
        Terminator::Count(n)
    }
}

/// The layer of asynchat's `async_chat`: the input side (the terminator,
/// the partial record) of a chat channel. Its output is the buffered
/// layers' queue ([`Buffered`]); its defaults are [`Layer`]'s for `Chat`.
#[derive(Debug)]
pub struct Chat {
    terminator: Terminator,
    /// Input read but not yet passed on: a possible start of the terminator.
    in_buffer: Vec<u8>,
    in_size: usize,
    /// What the default `collect_incoming_data` collects.
    incoming: Vec<u8>,
    /// Bytes collected since the last terminator.
    record_len: usize,
    max_record: Option<usize>,
    /// `discard_buffers` ran: the input being framed is dropped too.
    discarded: bool,
}

impl Default for Chat {
    fn default() -> Chat {
        Chat {
            terminator: Terminator::None,
            in_buffer: Vec::new(),
            in_size: IN_BUFFER_SIZE,
            incoming: Vec::new(),
            record_len: 0,
            max_record: None,
            discarded: false,
        }
    }
}

impl sealed::Sealed for Chat {}
impl Buffered for Chat {}

impl Dispatcher<Plain> {
    /// Makes this asynchat's `async_chat`: input is split into records at
    /// the [terminator](Dispatcher::set_terminator) (none until one is set),
    /// and output is queued with [`push`](Dispatcher::push).
    ///
    /// ```
    /// use pollreactor::{Dispatcher, Family, SockType, Terminator};
    /// let mut chat = Dispatcher::create_socket(Family::Inet, SockType::Stream)?.with_chat();
    /// chat.set_terminator(b"\r\n");
    /// assert_eq!(chat.terminator(), Terminator::from(b"\r\n"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[doc(alias = "async_chat")]
    #[doc(alias = "AsyncChat")]
    pub fn with_chat(self) -> Dispatcher<Chat> {
        self.with_layer(Chat::default())
    }
}

/// asynchat's `async_chat` methods: on chat channels only.
impl Dispatcher<Chat> {
    /// Sets where records end: a byte string, a byte count, or
    /// [`Terminator::None`]. It may be changed from `found_terminator`: the
    /// rest of the input already read is split by the new terminator.
    pub fn set_terminator(&mut self, terminator: impl Into<Terminator>) {
        self.layer.terminator = terminator.into();
    }

    /// The current terminator (a count shows what is left of it).
    pub fn terminator(&self) -> Terminator {
        self.layer.terminator.clone()
    }

    /// How many bytes each read asks for (default [`IN_BUFFER_SIZE`]).
    pub fn set_in_buffer_size(&mut self, size: usize) {
        self.layer.in_size = size.max(1);
    }

    /// The most one send is given (default [`SEND_CHUNK`](crate::SEND_CHUNK)).
    pub fn set_out_buffer_size(&mut self, size: usize) {
        self.send_chunk = u32::try_from(size.max(1)).unwrap_or(u32::MAX);
    }

    /// Caps a record (beyond asynchat, whose input buffer was unbounded):
    /// when more than `max` bytes arrive without the byte-string terminator,
    /// reading fails with `InvalidData` ("terminator not found within N
    /// bytes"), which goes to `handle_error`, whose default closes.
    pub fn set_max_record(&mut self, max: Option<usize>) {
        self.layer.max_record = max;
    }

    /// Queues `data`. Like [`send_buffered`](Dispatcher::send_buffered),
    /// it goes out when the running callback returns, with everything else
    /// pushed meanwhile, in one send(2): 1,000 pipelined answers pushed in
    /// one read cost one send, not 1,000. asynchat sent at every push.
    pub fn push(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_buffered(data)
    }

    /// Queues a producer, asked for its output when the queue reaches it.
    pub fn push_with_producer(&mut self, producer: impl Producer + 'static) -> io::Result<()> {
        if self.out.is_empty() {
            self.note_output();
        }
        self.out.push_producer(Box::new(producer));
        self.flags.set(Flags::FRESH_OUTPUT, true);
        Ok(())
    }

    /// Drops all buffered input and queued output (asynchat: "emergencies only").
    pub fn discard_buffers(&mut self) {
        let chat = &mut self.layer;
        chat.in_buffer.clear();
        chat.incoming.clear();
        chat.discarded = true;
        self.out.clear();
    }

    /// Appends to the incoming record: what the default
    /// `collect_incoming_data` does (asynchat's `_collect_incoming_data`).
    pub fn collect(&mut self, data: &[u8]) {
        self.layer.incoming.extend_from_slice(data);
    }

    /// The record collected so far (by the default
    /// [`collect_incoming_data`](Handler::collect_incoming_data)). At the
    /// end of the input, the unterminated rest is still here when
    /// `handle_close` runs: `found_terminator` does not run for it.
    pub fn incoming(&self) -> &[u8] {
        &self.layer.incoming
    }

    /// Takes the collected record, leaving it empty (asynchat's `_get_data`).
    pub fn take_incoming(&mut self) -> Vec<u8> {
        mem::take(&mut self.layer.incoming)
    }

    /// The room the kept-back input holds.
    #[cfg(test)]
    pub(crate) fn kept_capacity(&self) -> usize {
        self.layer.in_buffer.capacity()
    }

    /// Empties the collected record, keeping its memory for the next one
    /// (up to 8 KiB: an idle channel does not hold a large record's room).
    pub fn clear_incoming(&mut self) {
        empty_buffer(&mut self.layer.incoming);
    }
}

/// The largest `l < needle.len()` such that `haystack` ends with the first
/// `l` bytes of `needle` (asynchat's `find_prefix_at_end`): how much of a
/// terminator may have arrived at the end of a read.
///
/// ```
/// use pollreactor::find_prefix_at_end;
/// assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
/// assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
/// ```
pub fn find_prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    (1..needle.len()).rev().find(|&l| haystack.ends_with(&needle[..l])).unwrap_or(0)
}

/// The first position of `needle` in `haystack`.
pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from + find_byte(&haystack[from..=last_start], first)?;
        if haystack[at + 1..at + needle.len()] == *rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The first position of `byte` in `haystack`, eight bytes at a time (what
/// memchr does): XOR with the byte repeated zeroes the matching bytes, and
/// `(w - 0x01..01) & !w & 0x80..80` is non-zero exactly when a byte of `w`
/// is zero, its lowest flag marking the first one.
pub(crate) fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let repeated = ONES * u64::from(byte);
    let mut words = haystack.chunks_exact(8);
    for (i, word) in (&mut words).enumerate() {
        let bytes: [u8; 8] = word.try_into().expect("chunks_exact(8) gives 8 bytes");
        let w = u64::from_le_bytes(bytes) ^ repeated;
        let zeros = w.wrapping_sub(ONES) & !w & HIGHS;
        if zeros != 0 {
            return Some(i * 8 + zeros.trailing_zeros() as usize / 8);
        }
    }
    let tail = haystack.len() - words.remainder().len();
    words.remainder().iter().position(|&b| b == byte).map(|i| tail + i)
}

/// `asynchat.async_chat`.
impl Layer for Chat {
    fn readable(d: &Dispatcher<Chat>) -> bool {
        buffered_readable(d)
    }

    fn writable(d: &Dispatcher<Chat>) -> bool {
        buffered_writable(d)
    }

    /// asynchat's read step: one recv, then the input, together with any
    /// partial terminator kept from before, is split into records, each
    /// handed to `collect_incoming_data` and ended by `found_terminator`.
    ///
    /// One recv per read event, of at most
    /// [`set_in_buffer_size`](Dispatcher::set_in_buffer_size) bytes
    /// ([`IN_BUFFER_SIZE`] by default); what it leaves in the socket is
    /// read at the next iteration. Bytes at the end that may start the
    /// terminator (`\r` of `\r\n`) are kept back, not collected, until
    /// the next read completes or refutes them. When `recv` returns 0 (the
    /// end of the input) nothing more is split: the unterminated record
    /// stays in [`incoming`](Dispatcher::incoming), kept-back bytes are not
    /// passed on, and `handle_close` follows. See
    /// [`Handler::found_terminator`] for a run.
    fn handle_read<H: Handler<Chat> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        read_records(h, ch)
    }

    fn handle_write<H: Handler<Chat> + ?Sized>(_: &mut H, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        ch.initiate_send()
    }

    fn handle_close<H: Handler<Chat> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        buffered_close(h, ch)
    }

    /// Appends to the record, [`Dispatcher::incoming`].
    fn collect_incoming_data(ch: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
        ch.collect(data);
        Ok(())
    }
}

/// The read step: one recv into the reactor's shared read buffer, then
/// [`split_records`].
fn read_records<H: Handler<Chat> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
    // One read buffer serves every chat channel of the reactor (reads
    // happen one at a time), so 10,000 connections do not hold 10,000 of them.
    let mut read_buf = ch.context().take_read_buffer();
    read_buf.resize(ch.layer.in_size, 0);
    let result = match ch.recv(&mut read_buf) {
        Ok(n) => split_records(h, ch, &read_buf[..n]),
        Err(e) => Err(e),
    };
    ch.context().put_read_buffer(read_buf);
    result
}

/// Passes `fresh` input (after what was kept from the last read) to the
/// handler record by record; keeps a trailing partial terminator.
fn split_records<H: Handler<Chat> + ?Sized>(
    h: &mut H,
    ch: &mut Channel<'_, Chat>,
    fresh: &[u8],
) -> io::Result<()> {
    let mut kept = mem::take(&mut ch.layer.in_buffer);
    let from_kept = !kept.is_empty();
    if from_kept {
        kept.extend_from_slice(fresh);
    }
    let input: &[u8] = if from_kept { &kept } else { fresh };
    let mut pos = 0;
    let result = split_at_terminators(h, ch, input, &mut pos);
    let chat = &mut ch.layer;
    if mem::take(&mut chat.discarded) {
        kept.clear();
    } else if from_kept {
        kept.drain(..pos);
    } else {
        kept.clear();
        kept.extend_from_slice(&fresh[pos..]);
    }
    // A kept partial terminator is a few bytes; the read it was joined
    // with may have grown the vector to a whole read's size.
    if kept.capacity() > KEEP_CAPACITY {
        kept.shrink_to_fit();
    }
    chat.in_buffer = kept;
    result
}

/// asynchat's loop: while input is left, look at the terminator (the
/// handler may change it at every record) and pass on what it delimits.
/// `pos` advances over what was passed on.
fn split_at_terminators<H: Handler<Chat> + ?Sized>(
    h: &mut H,
    ch: &mut Channel<'_, Chat>,
    input: &[u8],
    pos: &mut usize,
) -> io::Result<()> {
    while *pos < input.len() && ch.is_open() && !ch.layer.discarded {
        let rest = &input[*pos..];
        match ch.terminator() {
            Terminator::None | Terminator::Count(0) => {
                collect(h, ch, rest)?;
                *pos = input.len();
            }
            Terminator::Bytes(t) if t.is_empty() => {
                collect(h, ch, rest)?;
                *pos = input.len();
            }
            Terminator::Count(n) if rest.len() < n => {
                collect(h, ch, rest)?;
                *pos = input.len();
                ch.set_terminator(n - rest.len());
            }
            Terminator::Count(n) => {
                collect(h, ch, &rest[..n])?;
                *pos += n;
                ch.set_terminator(0);
                found_terminator(h, ch)?;
            }
            Terminator::Bytes(t) => match find(rest, &t) {
                Some(i) => {
                    if i > 0 {
                        collect(h, ch, &rest[..i])?;
                    }
                    *pos += i + t.len();
                    found_terminator(h, ch)?;
                }
                None => {
                    // Keep a possible start of the terminator for the next read.
                    let partial = find_prefix_at_end(rest, &t);
                    collect(h, ch, &rest[..rest.len() - partial])?;
                    *pos = input.len() - partial;
                    break;
                }
            },
        }
    }
    Ok(())
}

/// Passes record bytes to the handler, enforcing the record cap.
fn collect<H: Handler<Chat> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Chat>, data: &[u8]) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let chat = &mut ch.layer;
    chat.record_len += data.len();
    if let (Some(max), Terminator::Bytes(_)) = (chat.max_record, &chat.terminator) {
        if chat.record_len > max {
            let message = format!("terminator not found within {max} bytes");
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
    }
    h.collect_incoming_data(ch, data)
}

fn found_terminator<H: Handler<Chat> + ?Sized>(h: &mut H, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
    ch.layer.record_len = 0;
    h.found_terminator(ch)
}
