//! http_server's request parser on arbitrary bytes, taken as a request
//! head, a chunk-size line and a field line: it must never panic, and what
//! it accepts must be well-formed (no NUL, no bare CR, sizes within the cap).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../examples/http_server/parse.rs"]
#[allow(dead_code)]
mod parse;

use parse::{Body, MAX_BODY};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = parse::parse_request(data) {
        let line = data.split(|&b| b == b'\n').next().unwrap();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert_eq!(line.split(|&b| b == b' ').count(), 3, "a request line has three parts");
        assert!(!data.contains(&0), "a head with a NUL was accepted");
        assert!(request.keep_alive || !request.say_keep_alive);
        if let Body::Length(n) = request.body {
            assert!(n > 0 && n <= MAX_BODY);
        }
    }
    if let Ok(size) = parse::parse_chunk_size(data) {
        assert!(size <= MAX_BODY);
        assert!(!data.contains(&0));
    }
    if let Ok((name, value)) = parse::field(data) {
        assert!(!name.is_empty());
        assert!(!value.contains(&b'\r') && !value.contains(&0));
    }
});
