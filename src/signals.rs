//! Signals delivered on the loop thread.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

use crate::sys;
use crate::Context;

/// A signal handler: a closure run on the loop thread.
type SignalHandler = Box<dyn FnMut(&mut Context)>;

/// The process' one self-pipe: the write end lives as long as the process
/// (the C handler may write to it at any moment); the read end goes to the
/// first reactor that asks for signals.
struct SelfPipe {
    tx: UnixStream,
    rx: Mutex<Option<UnixStream>>,
}

static SELF_PIPE: OnceLock<SelfPipe> = OnceLock::new();

fn self_pipe() -> io::Result<&'static SelfPipe> {
    if let Some(pipe) = SELF_PIPE.get() {
        return Ok(pipe);
    }
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    let _ = SELF_PIPE.set(SelfPipe { tx, rx: Mutex::new(Some(rx)) });
    Ok(SELF_PIPE.get().expect("just set"))
}

/// A reactor's signal state: the pipe's read end and the handlers.
pub(crate) struct Signals {
    pub(crate) rx: UnixStream,
    handlers: Vec<(i32, SignalHandler)>,
}

impl Signals {
    /// Takes the process' signal pipe for this reactor.
    pub(crate) fn new() -> io::Result<Signals> {
        let rx = self_pipe()?.rx.lock().unwrap_or_else(|e| e.into_inner()).take().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "another reactor already receives this process' signals",
            )
        })?;
        Ok(Signals { rx, handlers: Vec::new() })
    }

    /// Installs the C handler for `signum` and records `f` for it.
    pub(crate) fn add(&mut self, signum: i32, f: SignalHandler) -> io::Result<()> {
        if !(1..=255).contains(&signum) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{signum} is not a signal number"),
            ));
        }
        sys::signal::install(signum, self_pipe()?.tx.as_raw_fd())?;
        self.handlers.push((signum, f));
        Ok(())
    }

    /// Reads the signals that arrived and runs their handlers, in order.
    pub(crate) fn dispatch(&mut self, ctx: &mut Context) {
        let mut arrived = [0u8; 64];
        while let Ok(n @ 1..) = (&self.rx).read(&mut arrived) {
            for &signum in &arrived[..n] {
                for (s, f) in &mut self.handlers {
                    if *s == i32::from(signum) {
                        f(ctx);
                    }
                }
            }
        }
    }
}
