//! What every example program shares: its command line and its messages.
#![allow(dead_code)] // each example uses part of this module

use std::io::Write;
use std::process::ExitCode;

use pollreactor::{Backend, Context, Dispatcher, Handler, LoopOptions, Reactor};

/// The options of the example servers: `--addr HOST:PORT --backend NAME`.
pub struct ServerArgs {
    pub addr: String,
    pub backend: Backend,
}

impl ServerArgs {
    /// Parses the command line; prints `usage` and exits for `--help`, or
    /// prints the problem and exits 2 for anything it does not understand.
    pub fn parse(default_addr: &str, usage: &str) -> ServerArgs {
        let mut args = ServerArgs { addr: default_addr.to_string(), backend: Backend::Poll };
        let mut argv = std::env::args().skip(1);
        while let Some(arg) = argv.next() {
            match arg.as_str() {
                "-h" | "--help" => {
                    say(usage);
                    std::process::exit(0);
                }
                "--addr" => args.addr = value_of(&arg, argv.next(), usage),
                "--backend" => {
                    let name = value_of(&arg, argv.next(), usage);
                    args.backend = name.parse().unwrap_or_else(|e: String| usage_error(&e, usage));
                }
                other => usage_error(&format!("unknown argument {other:?}"), usage),
            }
        }
        args
    }
}

/// The value after an option, or a usage error if there is none.
pub fn value_of(option: &str, value: Option<String>, usage: &str) -> String {
    value.unwrap_or_else(|| usage_error(&format!("{option} needs a value"), usage))
}

/// Reports a command-line problem and exits with status 2.
pub fn usage_error(problem: &str, usage: &str) -> ! {
    eprintln!("{}: {problem}\n\n{usage}", program());
    std::process::exit(2);
}

/// Prints a line on stdout and flushes it, so a script reading our output
/// sees it at once. A closed stdout is not worth dying for: errors are ignored.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Reports a fatal error as `program: what: error` and returns failure.
pub fn fail(what: &str, err: impl std::fmt::Display) -> ExitCode {
    eprintln!("{}: {what}: {err}", program());
    ExitCode::FAILURE
}

fn program() -> String {
    std::env::args().next().and_then(|p| p.rsplit('/').next().map(str::to_string)).unwrap_or_default()
}

/// What every example server's `main` does: listen on `args.addr` (backlog
/// 128, not the manual's 5: wrk opens 100 connections at once), print
/// `listening on HOST:PORT`, and run the loop until SIGINT or SIGTERM,
/// which close every channel and exit 0.
pub fn serve(args: &ServerArgs, listener: impl Handler) -> ExitCode {
    let server = match Dispatcher::listen_tcp(args.addr.as_str(), 128) {
        Ok(server) => server,
        Err(e) => return fail(&format!("cannot listen on {}", args.addr), e),
    };
    let addr = match server.local_addr() {
        Ok(addr) => addr,
        Err(e) => return fail("cannot read the listening address", e),
    };
    let mut reactor = new_reactor();
    for signal in [libc::SIGINT, libc::SIGTERM] {
        let stop = |ctx: &mut Context| {
            ctx.close_all();
            ctx.exit_now();
        };
        if let Err(e) = reactor.on_signal(signal, stop) {
            return fail("cannot handle signals", e);
        }
    }
    if let Err(e) = reactor.add(server, listener) {
        return fail("cannot add the listener", e);
    }
    // Said only now that signals are handled, so a script may stop us at once.
    say(&format!("listening on {addr}"));
    match reactor.run(LoopOptions::default().backend(args.backend).timeout(None)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("event loop failed", e),
    }
}

/// A reactor, tracing each iteration to stderr when `POLLREACTOR_TRACE=1`.
pub fn new_reactor() -> Reactor {
    let mut reactor = Reactor::new();
    if std::env::var_os("POLLREACTOR_TRACE").is_some_and(|v| v == "1") {
        reactor.set_trace(Some(Box::new(std::io::stderr())));
    }
    reactor
}
