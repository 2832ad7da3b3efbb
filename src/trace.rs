//! The tracer: one compact line per loop iteration, for learning how the
//! loop works and for debugging a program built on it.
//!
//! ```text
//! #3 poll want[3:r 5:rw] ready[5:rw] calls[5:read 5:write] added[6] closed[5] timers[1]
//! ```
//!
//! `want`: what each fd waits for (r read, w write); `ready`: what the wait
//! reported (r, w, p urgent, h hang-up, e error, n invalid fd); `calls`: the
//! callbacks run, in order, by fd; `added` / `closed`: channels that came
//! and went; `timers`: how many timers ran. Empty parts are left out.

use std::fmt::Write as _;
use std::io::Write;

use crate::backend::Backend;
use crate::backend::{Event, Interest, Ready};

/// Where trace lines go, and the line being built.
pub(crate) struct Trace {
    out: Box<dyn Write>,
    iteration: u64,
    line: String,
    calls: String,
    added: String,
    closed: String,
}

impl Trace {
    pub(crate) fn new(out: Box<dyn Write>) -> Trace {
        Trace {
            out,
            iteration: 0,
            line: String::new(),
            calls: String::new(),
            added: String::new(),
            closed: String::new(),
        }
    }

    /// Starts an iteration's line with what is registered (and, when
    /// channels are asked only on change, which were asked).
    pub(crate) fn begin<'a>(
        &mut self,
        backend: Backend,
        interest: impl Iterator<Item = &'a Interest>,
        asked: Option<&[i32]>,
    ) {
        self.iteration += 1;
        let _ = write!(self.line, "#{} {backend}", self.iteration);
        if let Some(asked) = asked {
            self.line.push_str(" asked[");
            for (i, fd) in asked.iter().enumerate() {
                let sep = if i == 0 { "" } else { " " };
                let _ = write!(self.line, "{sep}{fd}");
            }
            self.line.push(']');
        }
        self.line.push_str(" want[");
        for (i, w) in interest.enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let r = if w.read { "r" } else { "" };
            let wr = if w.write { "w" } else { "" };
            let _ = write!(self.line, "{sep}{}:{r}{wr}", w.fd);
        }
        self.line.push(']');
    }

    /// Records what the wait returned.
    pub(crate) fn ready(&mut self, events: &[Event]) {
        self.line.push_str(" ready[");
        for (i, e) in events.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(self.line, "{sep}{}:", e.fd);
            for (flag, letter) in [
                (Ready::READ, 'r'),
                (Ready::WRITE, 'w'),
                (Ready::PRI, 'p'),
                (Ready::HUP, 'h'),
                (Ready::ERR, 'e'),
                (Ready::NVAL, 'n'),
            ] {
                if e.ready.any(flag) {
                    self.line.push(letter);
                }
            }
        }
        self.line.push(']');
    }

    pub(crate) fn callback(&mut self, fd: Option<i32>, name: &str) {
        push_item(&mut self.calls, &format!("{}:{name}", fd.unwrap_or(-1)));
    }

    pub(crate) fn added(&mut self, fd: Option<i32>) {
        push_item(&mut self.added, &fd.unwrap_or(-1).to_string());
    }

    pub(crate) fn closed(&mut self, fd: Option<i32>) {
        push_item(&mut self.closed, &fd.unwrap_or(-1).to_string());
    }

    /// Ends the iteration: writes the line.
    pub(crate) fn end(&mut self, timers: usize) {
        for (label, part) in [("calls", &self.calls), ("added", &self.added), ("closed", &self.closed)] {
            if !part.is_empty() {
                let _ = write!(self.line, " {label}[{part}]");
            }
        }
        if timers > 0 {
            let _ = write!(self.line, " timers[{timers}]");
        }
        self.line.push('\n');
        let _ = self.out.write_all(self.line.as_bytes());
        let _ = self.out.flush();
        self.line.clear();
        self.calls.clear();
        self.added.clear();
        self.closed.clear();
    }
}

fn push_item(list: &mut String, item: &str) {
    if !list.is_empty() {
        list.push(' ');
    }
    list.push_str(item);
}
