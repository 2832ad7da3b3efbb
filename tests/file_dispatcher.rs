//! File dispatchers over regular files: the port of CPython 3.11's
//! `FileWrapperTest` (test_asyncore.py). Pipes are in `channels.rs`.
//!
//! * `test_recv` -> `recv_reads_a_duplicate`: the dispatcher holds its own
//!   duplicate of the fd (another number), still readable after the
//!   caller's file is closed; `recv(13)` then `recv(6)` return the file's
//!   first 13 and next 6 bytes; after `close`, `recv` is an error.
//! * `test_send` -> `send_appends_to_the_file`: on an append-only file,
//!   two sends land after the original contents, in order.
//! * `test_dispatcher` -> `dispatcher_reads_a_file` (both backends): a
//!   regular file always polls ready; two iterations read the 29 bytes and
//!   then see the end of file, which closes the channel.
//! * `test_resource_warning` -> Python-only (a warning for an unclosed
//!   wrapper); here `Drop` closes the duplicate, see `close_twice`.
//! * `test_close_twice` -> `close_twice`: closing twice is a silent no-op,
//!   and the dispatcher reads as closed.

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use pollreactor::{Backend, Channel, Dispatcher, Handler, LoopOptions, Reactor};

const DATA: &[u8] = b"It's not dead, it's sleeping!";

/// A file in the temp dir holding `contents`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(contents: &[u8]) -> TempFile {
        let path = common::temp_socket_path().with_extension("txt");
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn recv_reads_a_duplicate() {
    let file = TempFile::new(DATA);
    let opened = File::open(&file.0).unwrap();
    let mut d = Dispatcher::from_file(&opened).unwrap();
    assert_ne!(d.fileno(), Some(opened.as_raw_fd()), "the dispatcher must hold a duplicate");
    drop(opened);
    let mut buf = [0u8; 13];
    assert_eq!(d.recv(&mut buf).unwrap(), 13);
    assert_eq!(&buf, &DATA[..13]);
    let mut buf = [0u8; 6];
    assert_eq!(d.recv(&mut buf).unwrap(), 6);
    assert_eq!(&buf, &DATA[13..19]);
    d.close();
    let err = d.recv(&mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "recv after close: {err}");
}

#[test]
fn send_appends_to_the_file() {
    let file = TempFile::new(DATA);
    let appending = OpenOptions::new().append(true).open(&file.0).unwrap();
    let mut d = Dispatcher::from_file(&appending).unwrap();
    drop(appending);
    assert_eq!(d.send(b"Come again?").unwrap(), 11);
    assert_eq!(d.send(b"Now is as good a time as any").unwrap(), 28);
    d.close();
    let written = std::fs::read(&file.0).unwrap();
    assert_eq!(written, [DATA, b"Come again?", b"Now is as good a time as any"].concat());
}

/// Collects what it reads, 29 bytes at a time.
struct FileReader {
    log: common::Log,
}

impl Handler for FileReader {
    fn handle_read(&mut self, ch: &mut Channel<'_>) -> std::io::Result<()> {
        let mut buf = [0u8; 29];
        let n = ch.recv(&mut buf)?;
        self.log.push(String::from_utf8_lossy(&buf[..n]));
        Ok(())
    }

    fn writable(&mut self, _: &Dispatcher) -> bool {
        false
    }
}

fn dispatcher_reads_a_file(backend: Backend) {
    let file = TempFile::new(DATA);
    let log = common::Log::default();
    let mut reactor = Reactor::new();
    let opened = File::open(&file.0).unwrap();
    reactor.add(Dispatcher::from_file(&opened).unwrap(), FileReader { log: log.clone() }).unwrap();
    let options = LoopOptions::default().backend(backend).count(2);
    reactor.run(options.timeout(Some(std::time::Duration::from_millis(10)))).unwrap();
    assert_eq!(log.events().concat().as_bytes(), DATA);
    assert!(reactor.context().is_empty(), "the end of file must close the channel");
    // The caller's descriptor is still open and its own (it shares the
    // file offset with the duplicate, which read to the end).
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut &opened, &mut rest).expect("the caller's fd still reads");
    assert_eq!(rest, "");
}

#[test]
fn close_twice() {
    let file = TempFile::new(DATA);
    let mut d = Dispatcher::from_file(File::open(&file.0).unwrap()).unwrap();
    assert!(d.is_open());
    d.close();
    d.close();
    assert!(!d.is_open());
    assert_eq!(d.fileno(), None);
    let mut sink = Vec::new();
    let _ = writeln!(sink, "{d:?}");
    assert!(String::from_utf8(sink).unwrap().contains("closed"));
}

on_every_backend!(dispatcher_reads_a_file);
