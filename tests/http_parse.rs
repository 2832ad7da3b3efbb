//! Unit tests of http_server's request-head parser, which lives in its own
//! file (examples/http_server/parse.rs) so this test and the fuzz target can
//! include it.

#[path = "../examples/http_server/parse.rs"]
mod parse;

use parse::{parse_request, Request};

#[test]
fn parses_keep_alive_rules() {
    let get = |keep_alive, say_keep_alive| Ok(Request::Get { keep_alive, say_keep_alive });
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x"), get(true, false));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nConnection: close"), get(false, false));
    assert_eq!(parse_request(b"GET / HTTP/1.0"), get(false, false));
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive"), get(true, true));
    assert_eq!(parse_request(b"\r\nGET /x HTTP/1.1"), get(true, false));
    assert_eq!(parse_request(b"POST / HTTP/1.1"), Ok(Request::OtherMethod));
}

#[test]
fn rejects_malformed_heads() {
    for head in [
        &b"GET /"[..],
        b"GET / HTTP/2.0",
        b"get / HTTP/1.1",
        b"GET  / HTTP/1.1",
        b"",
        b"\r\n",
        b"GET / HTTP/1.1\r\nno colon here",
        b"GET / HTTP/1.1\r\n: empty name",
        b"GET / HTTP/1.1 extra",
    ] {
        assert_eq!(parse_request(head), Err(()), "{:?}", String::from_utf8_lossy(head));
    }
}
