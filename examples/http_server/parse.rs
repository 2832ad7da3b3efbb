//! The HTTP/1.1 request parser of `http_server` (RFC 9112): plain functions
//! over bytes, so it can be unit-tested and fuzzed (`fuzz/`) on its own.
//!
//! The server frames the input (lines, then bodies by their length); the
//! functions here say what each piece means: [`parse_request`] for a request
//! head, [`parse_chunk_size`] for a chunk-size line of a chunked body, and
//! [`field`] for a field line (of a head or of a chunked body's trailer).

/// The largest request body the server reads (and drops), as nginx's
/// default `client_max_body_size`: a larger one gets 413.
pub const MAX_BODY: usize = 1 << 20;

/// A request head the server answers.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// GET or HEAD: the only methods served.
    pub method: Method,
    /// Whether the connection stays open after the answer.
    pub keep_alive: bool,
    /// Whether the answer must say so (an HTTP/1.0 keep-alive).
    pub say_keep_alive: bool,
    /// The body after the head, which the server reads and drops.
    pub body: Body,
}

/// The methods served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The answer with its body.
    Get,
    /// The same answer without the body.
    Head,
}

/// How the body after a head is framed (RFC 9112 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body: the next request follows the head.
    None,
    /// `Content-Length: n` bytes, n > 0.
    Length(usize),
    /// `Transfer-Encoding: chunked`: chunks, each announced by a size line.
    Chunked,
}

/// Why a request is refused: the status of the answer, after which the
/// connection reads no more requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request breaks the syntax, or its framing is doubtful.
    BadRequest,
    /// 405: a method other than GET and HEAD.
    MethodNotAllowed,
    /// 413: a body over [`MAX_BODY`].
    ContentTooLarge,
    /// 414: a request line over the server's head limit.
    UriTooLong,
    /// 431: a head (or trailer section) over the server's limit.
    HeadersTooLarge,
    /// 501: a transfer coding other than chunked.
    NotImplemented,
    /// 505: an HTTP major version other than 1.
    VersionNotSupported,
}

impl Refusal {
    /// The status code and reason phrase, as in a status line.
    pub fn status(self) -> &'static str {
        match self {
            Refusal::BadRequest => "400 Bad Request",
            Refusal::MethodNotAllowed => "405 Method Not Allowed",
            Refusal::ContentTooLarge => "413 Content Too Large",
            Refusal::UriTooLong => "414 URI Too Long",
            Refusal::HeadersTooLarge => "431 Request Header Fields Too Large",
            Refusal::NotImplemented => "501 Not Implemented",
            Refusal::VersionNotSupported => "505 HTTP Version Not Supported",
        }
    }
}

use Refusal::BadRequest;

/// Whether a line (without its `\n`) is empty: the end of a head, or a
/// stray line ending before a request line, which the server ignores.
pub fn is_empty_line(line: &[u8]) -> bool {
    line.is_empty() || line == b"\r"
}

/// A line without its `\r`, if it ended in `\r\n`. Any other CR in it is
/// a bare CR, which [`field`] and the request line refuse.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a request head: the request line and the header field lines,
/// each ended by `\r\n` or a bare `\n` (the last one's end is optional;
/// the empty line that ends the head is not included).
pub fn parse_request(head: &[u8]) -> Result<Request, Refusal> {
    let head = head.strip_suffix(b"\n").unwrap_or(head);
    let mut lines = head.split(|&b| b == b'\n');
    let (method, http11) = request_line(strip_cr(lines.next().unwrap_or_default()))?;
    let mut hosts = 0;
    let (mut close, mut keep_alive) = (false, false);
    let mut length: Option<usize> = None;
    let mut codings: Option<Vec<&[u8]>> = None;
    for line in lines {
        let (name, value) = field(line)?;
        let list = || value.split(|&b| b == b',').map(trim_ows).filter(|item| !item.is_empty());
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if !value.iter().all(|&b| HOST_BYTE[b as usize]) {
                return Err(BadRequest);
            }
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= list().any(|token| token.eq_ignore_ascii_case(b"close"));
            keep_alive |= list().any(|token| token.eq_ignore_ascii_case(b"keep-alive"));
        } else if name.eq_ignore_ascii_case(b"content-length") {
            // `Content-Length: 5, 5` and repeated equal fields are one
            // length (RFC 9112 6.3); anything else is a framing error.
            for item in value.split(|&b| b == b',').map(trim_ows) {
                let n = content_length(item)?;
                if length.is_some_and(|m| m != n) {
                    return Err(BadRequest);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.get_or_insert_with(Vec::new).extend(list());
        }
    }
    // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
    if hosts > 1 || (http11 && hosts == 0) {
        return Err(BadRequest);
    }
    let body = match (length, codings) {
        (Some(_), Some(_)) => return Err(BadRequest), // which one frames it? (6.3, 6.1)
        (None, Some(_)) if !http11 => return Err(BadRequest), // 1.0 has no transfer codings (6.1)
        (None, Some(codings)) => transfer_coding(&codings)?,
        (Some(n), None) if n > MAX_BODY => return Err(Refusal::ContentTooLarge),
        (Some(0) | None, None) => Body::None,
        (Some(n), None) => Body::Length(n),
    };
    // Refused only now, so a malformed head is a 400 whatever its method.
    let method = method.ok_or(Refusal::MethodNotAllowed)?;
    let keep_alive = !close && (http11 || keep_alive);
    Ok(Request { method, keep_alive, say_keep_alive: keep_alive && !http11, body })
}

/// `METHOD SP TARGET SP HTTP/1.x`: the method if it is one served, and
/// whether the version is HTTP/1.1 (or a later 1.x, answered as 1.1).
fn request_line(line: &[u8]) -> Result<(Option<Method>, bool), Refusal> {
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) =
        (parts.next().unwrap_or_default(), parts.next().ok_or(BadRequest)?, parts.next().ok_or(BadRequest)?);
    if parts.next().is_some() || method.is_empty() || !method.iter().all(u8::is_ascii_uppercase) {
        return Err(BadRequest);
    }
    // Visible characters only: no control (NUL, bare CR), no space, no DEL.
    let good_target = target.starts_with(b"/") || target == b"*" || target.windows(3).any(|w| w == b"://");
    if !good_target || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(BadRequest);
    }
    let http11 = match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if minor.is_ascii_digit() => *minor != b'0',
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Refusal::VersionNotSupported)
        }
        _ => return Err(BadRequest),
    };
    let method = match method {
        b"GET" => Some(Method::Get),
        b"HEAD" => Some(Method::Head),
        _ => None,
    };
    Ok((method, http11))
}

/// A field line (`name: value`, without its line end) of a head or a
/// trailer section: its name and its value without the spaces around it.
/// The name must be a token right before the colon (so a folded line,
/// which starts with a space, is refused too); the value may not hold
/// control characters (NUL, bare CR) other than tab.
pub fn field(line: &[u8]) -> Result<(&[u8], &[u8]), Refusal> {
    let line = strip_cr(line);
    let colon = line.iter().position(|&b| b == b':').ok_or(BadRequest)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| TOKEN_BYTE[b as usize]) {
        return Err(BadRequest);
    }
    if value.iter().any(is_control) {
        return Err(BadRequest);
    }
    Ok((name, trim_ows(value)))
}

/// The bytes of a token (RFC 9110 5.6.2): a field name.
const TOKEN_BYTE: [bool; 256] = byte_table(b"!#$%&'*+-.^_`|~");
/// The bytes of a Host value (RFC 3986's reg-name, IP literal and port).
const HOST_BYTE: [bool; 256] = byte_table(b"-._~!$&'()*+,;=:[]%");

/// A table of which bytes are allowed: ASCII letters and digits, and `also`
/// (one lookup per byte, where searching `also` would be one per byte of it).
const fn byte_table(also: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < also.len() {
        table[also[i] as usize] = true;
        i += 1;
    }
    table
}

/// A control character other than tab (NUL, CR, LF, DEL...): never in a
/// field value.
fn is_control(b: &u8) -> bool {
    (*b < b' ' && *b != b'\t') || *b == 0x7f
}

/// The value without the spaces and tabs around it.
fn trim_ows(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(value.len());
    let end = value.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| i + 1);
    &value[start..end]
}

/// One Content-Length value: decimal digits only (no sign, no space, not
/// empty). A value too big to count is a 400 here; over [`MAX_BODY`], the
/// caller makes it a 413.
fn content_length(digits: &[u8]) -> Result<usize, Refusal> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(BadRequest);
    }
    digits
        .iter()
        .try_fold(0usize, |n, &d| n.checked_mul(10)?.checked_add(usize::from(d - b'0')))
        .ok_or(BadRequest)
}

/// The Transfer-Encoding list, all its fields together: only `chunked`,
/// alone, is served. Chunked not last makes the length unknown (400, RFC
/// 9112 6.1), and so does chunked twice; other codings before it are not
/// implemented here (501).
fn transfer_coding(codings: &[&[u8]]) -> Result<Body, Refusal> {
    let is_chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, before)) if is_chunked(last) && !before.iter().any(is_chunked) => {
            if before.is_empty() {
                Ok(Body::Chunked)
            } else {
                Err(Refusal::NotImplemented)
            }
        }
        _ => Err(BadRequest),
    }
}

/// A chunk-size line (without its `\n`): hexadecimal digits, then
/// optional chunk extensions (`;name=value`, ignored). The size of the
/// chunk; 0 announces the last one. A size over [`MAX_BODY`] gets 413.
pub fn parse_chunk_size(line: &[u8]) -> Result<usize, Refusal> {
    let line = strip_cr(line);
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (hex, extensions) = line.split_at(digits);
    let extensions = trim_ows(extensions);
    if hex.is_empty() || !(extensions.is_empty() || extensions.starts_with(b";")) {
        return Err(BadRequest);
    }
    if extensions.iter().any(is_control) {
        return Err(BadRequest);
    }
    let size = hex.iter().try_fold(0usize, |n, &d| {
        let digit = (d as char).to_digit(16)? as usize;
        n.checked_mul(16)?.checked_add(digit)
    });
    match size {
        Some(n) if n <= MAX_BODY => Ok(n),
        Some(_) => Err(Refusal::ContentTooLarge),
        None => Err(BadRequest),
    }
}
