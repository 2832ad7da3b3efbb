//! Runs a command and streams its stdout and stderr, line by line.
//!
//! What it teaches: file dispatchers (asyncore's `file_dispatcher`). The
//! child's two pipes are channels like any socket: each is a chat channel
//! split at `\n`, so lines from both streams interleave as they arrive and
//! neither pipe can fill up and stall the child while we wait on the other.
//!
//! `cargo run --example pipe_reader -- sh -c 'echo hello; echo oops >&2'`

mod common;

use std::io::{self, Write};
use std::process::{Command, ExitCode, Stdio};

use pollreactor::{Backend, Channel, Chat, Dispatcher, Handler, LoopOptions};

const USAGE: &str = "\
usage: pipe_reader [--backend poll|select|epoll] [--] COMMAND [ARG...]

Runs COMMAND and prints each line of its stdout as `out: LINE` and each line
of its stderr as `err: LINE`, on our stdout, as they arrive. Exits with
COMMAND's exit status (128 + N if signal N killed it).

  --backend NAME     poll, select or epoll (default poll)
  -h, --help         this text";

/// One of the child's output pipes.
struct LinePrinter {
    prefix: &'static str,
}

impl LinePrinter {
    fn print(&self, line: &[u8]) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(self.prefix.as_bytes())?;
        out.write_all(line)?;
        out.write_all(b"\n")
    }
}

impl Handler<Chat> for LinePrinter {
    fn found_terminator(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        self.print(ch.incoming())?;
        ch.clear_incoming();
        Ok(())
    }

    /// End of the pipe: print a last line that had no newline.
    fn handle_close(&mut self, ch: &mut Channel<'_, Chat>) -> io::Result<()> {
        if !ch.incoming().is_empty() {
            self.print(ch.incoming())?;
        }
        ch.close();
        Ok(())
    }
}

fn main() -> ExitCode {
    let (backend, command) = parse_args();
    let mut child = match Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return common::fail(&format!("cannot run {:?}", command[0]), e),
    };
    // The dispatchers hold duplicates; our copies are dropped at once.
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    if let Err(e) = stream(backend, stdout, stderr) {
        let _ = child.kill();
        let _ = child.wait();
        return common::fail("reading the command's output", e);
    }
    match child.wait() {
        Ok(status) => exit_code_of(status),
        Err(e) => common::fail("waiting for the command", e),
    }
}

/// Runs the loop until both pipes reach their end.
fn stream(
    backend: Backend,
    stdout: impl std::os::fd::AsFd,
    stderr: impl std::os::fd::AsFd,
) -> io::Result<()> {
    let mut reactor = common::new_reactor();
    for (fd, prefix) in [(stdout.as_fd(), "out: "), (stderr.as_fd(), "err: ")] {
        let mut pipe = Dispatcher::from_file(fd)?.with_chat();
        pipe.set_terminator(b"\n");
        reactor.add(pipe, LinePrinter { prefix })?;
    }
    drop((stdout, stderr));
    reactor.run(LoopOptions::default().backend(backend).timeout(None))?;
    io::stdout().flush()
}

/// The child's status as ours: its exit code, or 128 + the signal number.
fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
    ExitCode::from(code.clamp(0, 255) as u8)
}

fn parse_args() -> (Backend, Vec<String>) {
    let mut backend = Backend::Poll;
    let mut argv = std::env::args().skip(1).peekable();
    while let Some(arg) = argv.peek() {
        match arg.as_str() {
            "-h" | "--help" => {
                common::say(USAGE);
                std::process::exit(0);
            }
            "--backend" => {
                argv.next();
                backend = common::backend_of(&common::value_of("--backend", argv.next(), USAGE), USAGE);
            }
            "--" => {
                argv.next();
                break;
            }
            _ => break,
        }
    }
    let command: Vec<String> = argv.collect();
    if command.is_empty() {
        common::usage_error("no command given", USAGE);
    }
    (backend, command)
}
