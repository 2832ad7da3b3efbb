//! Unit tests of http_server's request parser, which lives in its own file
//! (examples/http_server/parse.rs) so this test and the fuzz target can
//! include it. How the server frames its input around these functions is
//! tested in tests/http_framing.rs.

#[path = "../examples/http_server/parse.rs"]
mod parse;

use parse::Refusal::{BadRequest, ContentTooLarge, MethodNotAllowed, NotImplemented, VersionNotSupported};
use parse::{
    field, is_empty_line, parse_chunk_size, parse_request, Body, Method, Refusal, Request, MAX_BODY,
};

/// A GET with these connection rules and no body.
fn get(keep_alive: bool, say_keep_alive: bool) -> Result<Request, Refusal> {
    Ok(Request { method: Method::Get, keep_alive, say_keep_alive, body: Body::None })
}

/// The body framing of `GET / HTTP/1.1` with these extra field lines.
fn body_of(fields: &str) -> Result<Body, Refusal> {
    parse_request(format!("GET / HTTP/1.1\r\nHost: a\r\n{fields}").as_bytes()).map(|r| r.body)
}

#[test]
fn parses_keep_alive_rules() {
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x"), get(true, false));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close"), get(false, false));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, Close"), get(false, false));
    assert_eq!(parse_request(b"GET / HTTP/1.0"), get(false, false));
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive"), get(true, true));
    assert_eq!(parse_request(b"GET /x HTTP/1.1\r\nHost: x\r\n"), get(true, false));
    // A later HTTP/1.x is answered as HTTP/1.1.
    assert_eq!(parse_request(b"GET / HTTP/1.7\r\nHost: x"), get(true, false));
}

#[test]
fn accepts_bare_lf_line_ends() {
    assert_eq!(parse_request(b"GET / HTTP/1.1\nHost: x\n"), get(true, false));
    assert_eq!(parse_request(b"GET / HTTP/1.1\nHost: x\r\nConnection: close\n"), get(false, false));
}

#[test]
fn knows_get_and_head_only() {
    let head = parse_request(b"HEAD / HTTP/1.1\r\nHost: x").unwrap();
    assert_eq!(head.method, Method::Head);
    assert_eq!(parse_request(b"POST / HTTP/1.1\r\nHost: x"), Err(MethodNotAllowed));
    assert_eq!(parse_request(b"DELETE /x HTTP/1.0"), Err(MethodNotAllowed));
    // A malformed head is a 400 whatever its method.
    assert_eq!(parse_request(b"POST / HTTP/1.1\r\nHost: x\r\nno colon"), Err(BadRequest));
}

#[test]
fn refusals_are_status_lines() {
    let all = [
        (BadRequest, 400),
        (MethodNotAllowed, 405),
        (ContentTooLarge, 413),
        (Refusal::UriTooLong, 414),
        (Refusal::HeadersTooLarge, 431),
        (NotImplemented, 501),
        (VersionNotSupported, 505),
    ];
    for (refusal, code) in all {
        let (number, reason) = refusal.status().split_once(' ').unwrap();
        assert_eq!(number, code.to_string());
        assert!(reason.chars().all(|c| c.is_ascii_alphabetic() || c == ' '), "{reason}");
    }
}

#[test]
fn refuses_other_http_versions() {
    for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.1"] {
        let head = format!("GET / {version}\r\nHost: x");
        assert_eq!(parse_request(head.as_bytes()), Err(VersionNotSupported), "{version}");
    }
    for version in ["HTTP/1", "HTTP/1.10", "HTTP/11", "http/1.1", "HTTP/1.x", "HTTP/1.1 "] {
        let head = format!("GET / {version}\r\nHost: x");
        assert_eq!(parse_request(head.as_bytes()), Err(BadRequest), "{version}");
    }
}

#[test]
fn rejects_malformed_heads() {
    for head in [
        &b"GET /"[..],
        b"get / HTTP/1.1\r\nHost: x",
        b"GET  / HTTP/1.1\r\nHost: x",
        b"",
        b"\r\n",
        // The server drops empty lines before a request line: the parser sees none.
        b"\r\nGET / HTTP/1.1\r\nHost: x",
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here",
        b"GET / HTTP/1.1\r\nHost: x\r\n: empty name",
        b"GET / HTTP/1.1 extra\r\nHost: x",
        b"GET a HTTP/1.1\r\nHost: x",
        b"GET /a\0b HTTP/1.1\r\nHost: x",
        b"GET /a\rb HTTP/1.1\r\nHost: x",
        b"GET / HTTP/1.1\rHost: x",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\0b",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n folded",
        b"GET / HTTP/1.1\r\nHost : x",
        b"GET / HTTP/1.1\r\nHo(st: x",
    ] {
        assert_eq!(parse_request(head), Err(BadRequest), "{:?}", String::from_utf8_lossy(head));
    }
}

#[test]
fn wants_one_valid_host_in_http_1_1() {
    assert_eq!(parse_request(b"GET / HTTP/1.1"), Err(BadRequest));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a"), Err(BadRequest));
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b"), Err(BadRequest));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: a b"), Err(BadRequest));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: a/b"), Err(BadRequest));
    assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost: [::1]:8080"), get(true, false));
    assert_eq!(parse_request(b"GET http://a/ HTTP/1.1\r\nHost:"), get(true, false));
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\nhost: a"), get(false, false));
}

#[test]
fn frames_bodies_by_content_length() {
    assert_eq!(body_of(""), Ok(Body::None));
    assert_eq!(body_of("Content-Length: 0"), Ok(Body::None));
    assert_eq!(body_of("Content-Length: 5"), Ok(Body::Length(5)));
    assert_eq!(body_of("Content-Length:  007 "), Ok(Body::Length(7)));
    assert_eq!(body_of("Content-Length: 5\r\ncontent-length: 5"), Ok(Body::Length(5)));
    assert_eq!(body_of("Content-Length: 5, 5"), Ok(Body::Length(5)));
    assert_eq!(body_of(&format!("Content-Length: {MAX_BODY}")), Ok(Body::Length(MAX_BODY)));
    assert_eq!(body_of(&format!("Content-Length: {}", MAX_BODY + 1)), Err(ContentTooLarge));
    for bad in ["abc", "-1", "+5", "1 0", "", "5,", "5, 6", "0x5", "99999999999999999999999"] {
        assert_eq!(body_of(&format!("Content-Length: {bad}")), Err(BadRequest), "{bad:?}");
    }
    assert_eq!(body_of("Content-Length: 5\r\nContent-Length: 6"), Err(BadRequest));
}

#[test]
fn frames_bodies_by_transfer_encoding() {
    assert_eq!(body_of("Transfer-Encoding: chunked"), Ok(Body::Chunked));
    assert_eq!(body_of("Transfer-Encoding: Chunked "), Ok(Body::Chunked));
    assert_eq!(body_of("Transfer-Encoding: gzip, chunked"), Err(NotImplemented));
    assert_eq!(body_of("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked"), Err(NotImplemented));
    // Chunked not last (or absent): the length is unknown.
    for bad in ["gzip", "chunked, gzip", "", "chunked, chunked"] {
        assert_eq!(body_of(&format!("Transfer-Encoding: {bad}")), Err(BadRequest), "{bad:?}");
    }
    // With a Content-Length too, whichever comes first.
    assert_eq!(body_of("Content-Length: 5\r\nTransfer-Encoding: chunked"), Err(BadRequest));
    assert_eq!(body_of("Transfer-Encoding: chunked\r\nContent-Length: 5"), Err(BadRequest));
    // HTTP/1.0 has no transfer codings.
    assert_eq!(parse_request(b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked"), Err(BadRequest));
}

#[test]
fn parses_chunk_sizes() {
    for (line, size) in [
        (&b"0"[..], 0),
        (b"5\r", 5),
        (b"a", 10),
        (b"Ff", 255),
        (b"0005", 5),
        (b"5;name=value", 5),
        (b"5 ; name=\"quoted value\"\r", 5),
        (b"100000", MAX_BODY),
    ] {
        assert_eq!(parse_chunk_size(line), Ok(size), "{:?}", String::from_utf8_lossy(line));
    }
    assert_eq!(parse_chunk_size(b"100001"), Err(ContentTooLarge));
    for line in [
        &b""[..],
        b"\r",
        b"g",
        b"-5",
        b"+5",
        b"5 x",
        b"5x",
        b"0x5",
        b"5;\0",
        b"5\r\r",
        b"ffffffffffffffffffff",
    ] {
        assert_eq!(parse_chunk_size(line), Err(BadRequest), "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn parses_field_lines() {
    assert_eq!(field(b"X-Trailer: t\r"), Ok((&b"X-Trailer"[..], &b"t"[..])));
    assert_eq!(field(b"Name:\t a b \t"), Ok((&b"Name"[..], &b"a b"[..])));
    assert_eq!(field(b"Empty:"), Ok((&b"Empty"[..], &b""[..])));
    for line in [&b"no colon"[..], b": value", b" X: folded", b"X : a", b"X: a\0", b"X: a\rb", b"X\x01: a"] {
        assert_eq!(field(line), Err(BadRequest), "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn field_names_and_hosts_take_exactly_their_bytes() {
    // RFC 9110 5.6.2 tchar; RFC 3986 reg-name, IP literal and port.
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    let host_char = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b);
    for b in 0..=255u8 {
        let name = [b'X', b, b':', b' ', b'v'];
        // A second colon is the value's first byte.
        assert_eq!(field(&name).is_ok(), tchar(b) || b == b':', "field name byte {b:#04x}");
        let head = [&b"GET / HTTP/1.1\r\nHost: a"[..], &[b], b"b"].concat();
        assert_eq!(parse_request(&head).is_ok(), host_char(b), "host byte {b:#04x}");
    }
}

#[test]
fn knows_empty_lines() {
    assert!(is_empty_line(b""));
    assert!(is_empty_line(b"\r"));
    assert!(!is_empty_line(b"\r\r"));
    assert!(!is_empty_line(b" "));
}
