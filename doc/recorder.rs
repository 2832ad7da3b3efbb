// The recording handler of the documentation's examples.
//
// Each doc-test that states a sequence of callbacks includes this file with
// hidden lines (`include!` must stand where items may, so the test writes
// its own `main`):
//
//     # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/recorder.rs"));
//     # fn main() -> std::io::Result<()> {
//     ...
//     # Ok(())
//     # }
//
// It runs the scenario over a real socket pair or loopback connection on
// every backend (`for &backend in Backend::available()`), and compares what
// the `Recorder` wrote down with what the text says. This file is not part of
// the crate: it uses only the public API, and spells paths out in full so
// that it can sit beside any `use` in a doc-test.
//
// `Recorder` writes one entry per callback it gets:
//
// | callback                | entry                                         |
// |-------------------------|-----------------------------------------------|
// | `handle_connect`        | `connect`                                     |
// | `handle_read`           | `read N`: its one `recv` returned N (or the   |
// |                         | error kind); on a chat channel `read`, then   |
// |                         | the entries of the layer's read step          |
// | `collect_incoming_data` | `collect [bytes]`                             |
// | `found_terminator`      | `found [record]` (it takes the record)        |
// | `handle_write`          | `write`, then `sent N` if it sent             |
// | `handle_expt`           | `expt` (it reads the urgent byte)             |
// | `handle_accepted`       | `accepted`                                    |
// | `handle_close`          | `close REASON` (`Dispatcher::close_reason`),  |
// |                         | and `(incoming [rest])` for a chat record     |
// | `handle_error`          | `error: KIND` (the `io::ErrorKind`)           |
//
// Past the entry, each callback does what the layer's default does:
// `handle_close` runs `Layer::handle_close` (a plain channel closes, a
// buffered one sends what is queued first); `handle_error` runs
// `handle_close`, as the default `handle_error` does; `handle_write` without
// data of its own runs `Layer::handle_write` (a buffered channel sends from
// its queue). `log_info` is the default one.
//
// `run` drives the loop until no channel is left and returns one string per
// iteration that had callbacks (its entries joined with ", "); `run_for`
// runs a number of iterations.

/// What the callbacks of the scenario did, entry by entry.
#[derive(Clone, Default)]
struct Log(std::rc::Rc<std::cell::RefCell<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.borrow_mut().push(entry);
    }

    /// The entries so far, leaving the log empty.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

/// A handler that writes down every callback it gets (see the table above).
struct Recorder {
    log: Log,
    /// `readable()` (and the layer's default) and `writable()` (and the layer's).
    reads: bool,
    writes: bool,
    /// How much one `recv` asks for.
    read_size: usize,
    /// Sent with one `send` at the first write event.
    to_send: Option<Vec<u8>>,
    /// `handle_read` calls `ch.close()` after its read.
    close_after_read: bool,
    /// `handle_close` records, and leaves the channel open.
    keep_open: bool,
}

impl Recorder {
    /// Reads 8,192 bytes a call; does not ask to write.
    fn new(log: &Log) -> Recorder {
        Recorder {
            log: log.clone(),
            reads: true,
            writes: false,
            read_size: 8192,
            to_send: None,
            close_after_read: false,
            keep_open: false,
        }
    }

    /// Also asks to write (a buffered channel: while it has output).
    fn writable(mut self) -> Recorder {
        self.writes = true;
        self
    }

    /// Does not ask to read.
    fn not_reading(mut self) -> Recorder {
        self.reads = false;
        self
    }

    /// Asks to write, and sends `data` with one `send` at its first write event.
    fn sending(mut self, data: &[u8]) -> Recorder {
        self.writes = true;
        self.to_send = Some(data.to_vec());
        self
    }

    /// Closes the channel (`ch.close()`) in `handle_read`, after its read.
    fn closing_after_read(mut self) -> Recorder {
        self.close_after_read = true;
        self
    }

    /// `handle_close` leaves the channel open.
    fn keeping_open(mut self) -> Recorder {
        self.keep_open = true;
        self
    }
}

/// What the recorder needs to know of a layer: whether it has asynchat's
/// read step, and the record a chat channel collected.
trait Recorded: pollreactor::Layer {
    const READ_STEP: bool = false;
    fn incoming(_: &pollreactor::Channel<'_, Self>) -> Vec<u8> {
        Vec::new()
    }
    fn take_incoming(_: &mut pollreactor::Channel<'_, Self>) -> Vec<u8> {
        Vec::new()
    }
}
impl Recorded for pollreactor::Plain {}
impl Recorded for pollreactor::WithSend {}
impl Recorded for pollreactor::Chat {
    const READ_STEP: bool = true;
    fn incoming(ch: &pollreactor::Channel<'_, Self>) -> Vec<u8> {
        ch.incoming().to_vec()
    }
    fn take_incoming(ch: &mut pollreactor::Channel<'_, Self>) -> Vec<u8> {
        ch.take_incoming()
    }
}

/// `[bytes]`, with the bytes as ASCII (escaped where they are not printable).
fn shown(bytes: &[u8]) -> String {
    format!("[{}]", bytes.escape_ascii())
}

impl<L: Recorded> pollreactor::Handler<L> for Recorder {
    fn readable(&mut self, d: &pollreactor::Dispatcher<L>) -> bool {
        self.reads && L::readable(d)
    }

    fn writable(&mut self, d: &pollreactor::Dispatcher<L>) -> bool {
        self.writes && L::writable(d)
    }

    fn handle_connect(&mut self, _: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("connect".into());
        Ok(())
    }

    fn handle_read(&mut self, ch: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        if L::READ_STEP {
            self.log.push("read".into());
            return L::handle_read(self, ch);
        }
        let mut buf = vec![0u8; self.read_size];
        match ch.recv(&mut buf) {
            Ok(n) => self.log.push(format!("read {n}")),
            Err(err) => {
                self.log.push(format!("read {:?}", err.kind()));
                return Err(err);
            }
        }
        if self.close_after_read {
            ch.close();
        }
        Ok(())
    }

    fn handle_write(&mut self, ch: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("write".into());
        match self.to_send.take() {
            Some(data) => {
                let n = ch.send(&data)?;
                self.log.push(format!("sent {n}"));
                Ok(())
            }
            None => L::handle_write(self, ch),
        }
    }

    fn handle_expt(&mut self, ch: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        self.log.push("expt".into());
        // Read the urgent byte, or the wait reports it again and again.
        let mut byte = [0u8; 1];
        ch.socket().expect("open").recv_oob(&mut byte)?;
        Ok(())
    }

    fn handle_accepted(
        &mut self,
        _: &mut pollreactor::Channel<'_, L>,
        _: pollreactor::Socket,
        _: pollreactor::Address,
    ) -> std::io::Result<()> {
        self.log.push("accepted".into());
        Ok(())
    }

    fn handle_close(&mut self, ch: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        let mut entry = match ch.close_reason() {
            Some(reason) => format!("close {reason:?}"),
            None => "close".to_string(),
        };
        let tail = L::incoming(ch);
        if !tail.is_empty() {
            entry += &format!(" (incoming {})", shown(&tail));
        }
        self.log.push(entry);
        if self.keep_open {
            return Ok(());
        }
        L::handle_close(self, ch)
    }

    fn handle_error(&mut self, ch: &mut pollreactor::Channel<'_, L>, err: std::io::Error) {
        self.log.push(format!("error: {:?}", err.kind()));
        if self.handle_close(ch).is_err() {
            ch.close();
        }
    }

    fn collect_incoming_data(
        &mut self,
        ch: &mut pollreactor::Channel<'_, L>,
        data: &[u8],
    ) -> std::io::Result<()> {
        self.log.push(format!("collect {}", shown(data)));
        L::collect_incoming_data(ch, data)
    }

    fn found_terminator(&mut self, ch: &mut pollreactor::Channel<'_, L>) -> std::io::Result<()> {
        let record = L::take_incoming(ch);
        self.log.push(format!("found {}", shown(&record)));
        Ok(())
    }
}

/// Runs loop iterations until no channel is left; returns the callbacks of
/// each iteration that had any, joined with ", " (one string per iteration).
fn run(reactor: &mut pollreactor::Reactor, backend: pollreactor::Backend, log: &Log) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut iterations = Vec::new();
    while !reactor.context().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{backend}: still running after 10 s: {iterations:?}");
        iterations.extend(iterate(reactor, backend, log));
    }
    iterations
}

/// Runs `n` loop iterations; returns what [`run`] returns.
fn run_for(
    reactor: &mut pollreactor::Reactor,
    backend: pollreactor::Backend,
    log: &Log,
    n: usize,
) -> Vec<String> {
    (0..n).filter_map(|_| iterate(reactor, backend, log)).collect()
}

/// One loop iteration (a wait of at most a second): its callbacks joined
/// with ", ", or `None` if it had none.
fn iterate(reactor: &mut pollreactor::Reactor, backend: pollreactor::Backend, log: &Log) -> Option<String> {
    reactor.poll_once(Some(std::time::Duration::from_secs(1)), backend).expect("poll_once");
    let entries = log.take();
    (!entries.is_empty()).then(|| entries.join(", "))
}

/// A TCP connection over loopback: (ours, theirs).
fn tcp_pair() -> std::io::Result<(pollreactor::Socket, pollreactor::Socket)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let ours = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (theirs, _) = listener.accept()?;
    Ok((ours.into(), theirs.into()))
}

/// A loopback address where nothing listens: a connect there is refused.
fn closed_port() -> std::io::Result<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

/// A loopback UDP address where nothing listens: a datagram sent there
/// comes back as an ICMP error (`ECONNREFUSED` on a connected socket).
fn closed_udp_port() -> std::io::Result<std::net::SocketAddr> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.local_addr()
}

/// Waits (at most 10 s) until the peer's reset has reached `d`'s socket:
/// `getpeername` fails once it has. It does not read `SO_ERROR`, which the
/// scenario is about.
fn wait_for_reset<L>(d: &pollreactor::Dispatcher<L>) {
    let socket = d.socket().expect("open");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while socket.peer_addr().is_ok() {
        assert!(std::time::Instant::now() < deadline, "no reset after 10 s");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
