//! asyncore's `log` and `log_info` tests (test_asyncore's `test_log` and
//! `test_log_info`) for the default `Handler::log_info`, which writes to
//! the process's stdout. They run this binary again as a child, so they
//! live in a binary of their own: no other test's sockets are open while
//! the child is started (a child would inherit them on the portable paths,
//! where close-on-exec is set just after the socket is made).

use std::io;

use pollreactor::{Handler, LogKind};

/// A handler with every default.
struct Defaults;
impl Handler for Defaults {}

/// Names the test that a child run of this binary is for (see [`default_log`]).
const LOG_CHILD: &str = "POLLREACTOR_TEST_LOG_CHILD";
const LOG_BEGIN: &str = "--- default log_info begins ---";
const LOG_END: &str = "--- default log_info ends ---";

/// What the default `log_info` writes for `lines`, called in that order.
///
/// It writes to the process's stdout (fd 1), which the test harness does
/// not capture, so the test named `test` runs again in a child process of
/// this binary: there (`LOG_CHILD` set) this makes the calls between two
/// marker lines and returns `None`, and the test returns; here it returns
/// what the child wrote between the markers.
fn default_log(test: &str, lines: &[(&str, LogKind)]) -> Option<String> {
    use std::io::Write;
    if std::env::var(LOG_CHILD).is_ok_and(|t| t == test) {
        writeln!(io::stdout().lock(), "\n{LOG_BEGIN}").unwrap();
        for &(message, kind) in lines {
            Defaults.log_info(message, kind);
        }
        writeln!(io::stdout().lock(), "{LOG_END}").unwrap();
        io::stdout().flush().unwrap();
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let child = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(LOG_CHILD, test)
        .output()
        .expect("the child run of the test binary");
    let stdout = String::from_utf8(child.stdout).expect("utf-8 output");
    assert!(child.status.success(), "the child run failed: {stdout}");
    let begin = stdout.find(&format!("{LOG_BEGIN}\n")).expect("the begin marker") + LOG_BEGIN.len() + 1;
    let end = begin + stdout[begin..].find(LOG_END).expect("the end marker");
    Some(stdout[begin..end].to_string())
}

#[test]
fn log() {
    let l1 = "Lovely spam! Wonderful spam!";
    let l2 = "I don't like spam!";
    let Some(out) = default_log("log", &[(l1, LogKind::Info), (l2, LogKind::Info)]) else { return };
    assert_eq!(out, format!("info: {l1}\ninfo: {l2}\n"));
}

#[test]
fn log_info() {
    let l1 = "Have you got anything without spam?";
    let l2 = "Why can't she have egg bacon spam and sausage?";
    let l3 = "THAT'S got spam in it!";
    let lines =
        [(l1, LogKind::Error), (l2, LogKind::Info), ("dropped", LogKind::Warning), (l3, LogKind::Error)];
    let Some(out) = default_log("log_info", &lines) else { return };
    assert_eq!(out, format!("error: {l1}\ninfo: {l2}\nerror: {l3}\n"));
    assert_eq!(LogKind::Warning.to_string(), "warning");
}
