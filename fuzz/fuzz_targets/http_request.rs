//! http_server's request-head parser on arbitrary bytes: it must never
//! panic, and a head it accepts must have a well-formed request line.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../examples/http_server/parse.rs"]
#[allow(dead_code)]
mod parse;

fuzz_target!(|head: &[u8]| {
    if let Ok(request) = parse::parse_request(head) {
        let start = head.iter().position(|&b| b != b'\r' && b != b'\n').expect("accepted heads have a line");
        let line = head[start..].split(|&b| b == b'\n').next().unwrap();
        assert_eq!(line.strip_suffix(b"\r").unwrap_or(line).split(|&b| b == b' ').count(), 3);
        if let parse::Request::Get { keep_alive: false, say_keep_alive } = request {
            assert!(!say_keep_alive);
        }
    }
});
