//! What every example program shares: its command line and its messages.
#![allow(dead_code)] // each example uses part of this module

use std::io::Write;
use std::process::ExitCode;

use pollreactor::{
    Backend, Context, Dispatcher, Handler, InterestMode, LoopOptions, ParseBackendError, Reactor,
};

/// The options of the example servers: `--addr HOST:PORT --backend NAME
/// --interest MODE`.
pub struct ServerArgs {
    pub addr: String,
    pub backend: Backend,
    /// `when-changed` (the servers' default: O(active) iterations) or
    /// `every-iteration` (asyncore's).
    pub interest: InterestMode,
}

impl ServerArgs {
    /// Parses the command line; prints `usage` and exits for `--help`, or
    /// prints the problem and exits 2 for anything it does not understand.
    pub fn parse(default_addr: &str, usage: &str) -> ServerArgs {
        let mut args = ServerArgs {
            addr: default_addr.to_string(),
            backend: Backend::Poll,
            interest: InterestMode::WhenChanged,
        };
        let mut argv = std::env::args().skip(1);
        while let Some(arg) = argv.next() {
            match arg.as_str() {
                "-h" | "--help" => {
                    say(usage);
                    std::process::exit(0);
                }
                "--addr" => args.addr = value_of(&arg, argv.next(), usage),
                "--backend" => args.backend = backend_of(&value_of(&arg, argv.next(), usage), usage),
                "--interest" => args.interest = interest_of(&value_of(&arg, argv.next(), usage), usage),
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

/// The backend `--backend NAME` names, or a usage error.
pub fn backend_of(name: &str, usage: &str) -> Backend {
    name.parse().unwrap_or_else(|e: ParseBackendError| usage_error(&e.to_string(), usage))
}

/// The mode `--interest NAME` names, or a usage error.
pub fn interest_of(name: &str, usage: &str) -> InterestMode {
    match name {
        "when-changed" => InterestMode::WhenChanged,
        "every-iteration" => InterestMode::EveryIteration,
        other => usage_error(
            &format!("unknown interest mode {other:?}: expected when-changed or every-iteration"),
            usage,
        ),
    }
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

/// The listen backlog of every example server: not the manual's 5, since
/// wrk opens 100 connections at once, and a full backlog drops SYNs.
pub const BACKLOG: i32 = 128;

/// SIGINT and SIGTERM close every channel and end the loop, so the
/// program exits 0.
pub fn stop_on_signals(reactor: &mut Reactor) -> std::io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        reactor.on_signal(signal, |ctx: &mut Context| {
            ctx.close_all();
            ctx.exit_now();
        })?;
    }
    Ok(())
}

/// Traces each iteration to stderr when `POLLREACTOR_TRACE=1`.
pub fn trace_if_asked(reactor: &mut Reactor) {
    if std::env::var_os("POLLREACTOR_TRACE").is_some_and(|v| v == "1") {
        reactor.set_trace(Some(Box::new(std::io::stderr())));
    }
}

/// What the other example servers' `main` does (echo_server spells it
/// out): listen on `args.addr`, print `listening on HOST:PORT`, and run
/// the loop until SIGINT or SIGTERM, which close every channel and exit 0.
pub fn serve(args: &ServerArgs, listener: impl Handler) -> ExitCode {
    let run = || -> std::io::Result<()> {
        let server = Dispatcher::listen_tcp(args.addr.as_str(), BACKLOG)?;
        let addr = server.local_addr()?;
        let mut reactor = Reactor::new();
        reactor.set_interest_mode(args.interest);
        trace_if_asked(&mut reactor);
        reactor.add(server, listener)?;
        stop_on_signals(&mut reactor)?;
        say(&format!("listening on {addr}"));
        reactor.run(LoopOptions::default().backend(args.backend).timeout(None))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("serving on {}", args.addr), e),
    }
}

/// A reactor, tracing each iteration to stderr when `POLLREACTOR_TRACE=1`.
pub fn new_reactor() -> Reactor {
    let mut reactor = Reactor::new();
    trace_if_asked(&mut reactor);
    reactor
}
