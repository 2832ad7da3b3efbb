//! The HTTP request-head parser of `http_server`: plain functions over
//! bytes, so it can be unit-tested and fuzzed (`fuzz/`) on its own.

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A GET; whether the connection stays open afterwards, and whether
    /// that had to be said (HTTP/1.0 keep-alive).
    Get { keep_alive: bool, say_keep_alive: bool },
    /// Any other method.
    OtherMethod,
}

/// Parses a request head (without its final blank line). `Err` means 400.
pub fn parse_request(head: &[u8]) -> Result<Request, ()> {
    // A client may send stray CRLFs between requests (RFC 9112 2.2).
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n').ok_or(())?;
    let mut lines = head[start..].split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let mut parts = lines.next().ok_or(())?.split(|&b| b == b' ');
    let (method, target, version) =
        (parts.next().ok_or(())?, parts.next().ok_or(())?, parts.next().ok_or(())?);
    let good_method = !method.is_empty() && method.iter().all(u8::is_ascii_uppercase);
    if parts.next().is_some() || !good_method || target.is_empty() {
        return Err(());
    }
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err(()),
    };
    let (mut close, mut keep_alive) = (false, false);
    for line in lines {
        let colon = line.iter().position(|&b| b == b':').ok_or(())?;
        if colon == 0 || line[..colon].iter().any(|b| b.is_ascii_whitespace()) {
            return Err(());
        }
        if line[..colon].eq_ignore_ascii_case(b"connection") {
            for token in line[colon + 1..].split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if method != b"GET" {
        return Ok(Request::OtherMethod);
    }
    let keep_alive = !close && (http11 || keep_alive);
    Ok(Request::Get { keep_alive, say_keep_alive: keep_alive && !http11 })
}
