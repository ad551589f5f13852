//! Responses: what a handler returns, and the encoder that turns it into bytes.
//!
//! The encoder writes the status line, `Content-Type`, `Content-Length`, `Date`, `Allow` when
//! set, `Retry-After: 1` on a `503`, and `Connection: close` when the connection will close. `Date` is formatted at most
//! once per second per thread and cached (formatting a date per response is measurable at
//! 100k+ responses per second).

/// A response body. Small bodies live inline so that the hot path (`{"accepted":1}`,
/// `ok`) allocates nothing.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body (for example `100 Continue`, or a response to `HEAD`... the encoder handles that).
    Empty,
    /// A body known at compile time: `ok`.
    Static(&'static [u8]),
    /// A short body formatted at run time, without allocating (`{"accepted":17}`).
    Inline(InlineBody),
    /// Anything else (error sentences, `/stats`).
    Owned(Vec<u8>),
}

/// Up to [`InlineBody::CAPACITY`] bytes stored in place.
#[derive(Clone)]
pub struct InlineBody {
    len: u8,
    buf: [u8; InlineBody::CAPACITY],
}

impl InlineBody {
    /// Bytes an inline body can hold.
    pub const CAPACITY: usize = 62;

    /// Copies `bytes` in place; `None` when they do not fit.
    pub fn new(bytes: &[u8]) -> Option<InlineBody> {
        if bytes.len() > Self::CAPACITY {
            return None;
        }
        let mut buf = [0u8; Self::CAPACITY];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(InlineBody {
            len: bytes.len() as u8,
            buf,
        })
    }

    /// The stored bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

impl std::fmt::Debug for InlineBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

impl Body {
    /// The bytes of the body.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Empty => &[],
            Body::Static(b) => b,
            Body::Inline(b) => b.as_bytes(),
            Body::Owned(v) => v,
        }
    }
}

/// What a [`crate::Handler`] answers. `Conn` adds `Content-Length`, `Date` and, when it
/// closes the connection, `Connection: close`.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code, `100..=599`.
    pub status: u16,
    /// The `Content-Type` header; empty for none.
    pub content_type: &'static str,
    /// The `Allow` header, for `405 Method Not Allowed`.
    pub allow: Option<&'static str>,
    /// The body. For `HEAD` requests the encoder sends its length but not its bytes.
    pub body: Body,
    /// Close the connection after this response, whatever keep-alive says.
    pub close: bool,
}

impl Response {
    /// A `200`-class (or any) response with a body known at compile time.
    pub fn fixed(status: u16, content_type: &'static str, body: &'static [u8]) -> Response {
        Response {
            status,
            content_type,
            allow: None,
            body: Body::Static(body),
            close: false,
        }
    }

    /// A JSON error, `{"error":"<sentence>"}`, as SPEC.md wants for every error status. The
    /// sentence is escaped as a JSON string.
    pub fn error(status: u16, sentence: &str) -> Response {
        let mut body = Vec::with_capacity(sentence.len() + 12);
        body.extend_from_slice(b"{\"error\":\"");
        for c in sentence.chars() {
            match c {
                '"' => body.extend_from_slice(b"\\\""),
                '\\' => body.extend_from_slice(b"\\\\"),
                c if (c as u32) < 0x20 => {
                    body.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => {
                    let mut utf8 = [0u8; 4];
                    body.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
                }
            }
        }
        body.extend_from_slice(b"\"}");
        Response {
            status,
            content_type: "application/json",
            allow: None,
            body: Body::Owned(body),
            close: false,
        }
    }
}

/// The reason phrase of every status this service sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The interim response that tells an `Expect: 100-continue` client to send its body
/// (RFC 9110 section 15.2.1). It has no headers, not even `Date`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Appends [`CONTINUE`] to `out`.
pub fn encode_continue(out: &mut Vec<u8>) {
    out.extend_from_slice(CONTINUE);
}

/// What the `Connection` header of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionHeader {
    /// No `Connection` header: HTTP/1.1 keep-alive, the default.
    Omit,
    /// `Connection: close`: the server closes after this response.
    Close,
    /// `Connection: keep-alive`: an HTTP/1.0 client asked to keep the connection, and 1.0's
    /// default is to close, so the server must say it agreed (RFC 9112 section 9.3).
    KeepAlive,
}

/// Appends `resp` to `out` as bytes. `head_only` (a response to `HEAD`) sends the headers,
/// including the body's `Content-Length`, but not the body. `close` adds `Connection: close`.
/// Phases call this directly for the canned `503` they send past `--max-conns`.
pub fn encode(out: &mut Vec<u8>, resp: &Response, head_only: bool, close: bool) {
    let connection = if close {
        ConnectionHeader::Close
    } else {
        ConnectionHeader::Omit
    };
    encode_with(out, resp, head_only, connection);
}

/// [`encode`] with full control of the `Connection` header (for HTTP/1.0 keep-alive).
pub fn encode_with(
    out: &mut Vec<u8>,
    resp: &Response,
    head_only: bool,
    connection: ConnectionHeader,
) {
    let body = resp.body.as_bytes();
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(number.format(resp.status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    if !resp.content_type.is_empty() {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(resp.content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(number.format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    with_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n");
    if resp.status == 503 {
        // Every 503 this service sends is brief (a connection limit, a failing disk that the
        // writer retries each second): RFC 9110's Retry-After tells clients when to come back.
        out.extend_from_slice(b"Retry-After: 1\r\n");
    }
    if let Some(allow) = resp.allow {
        out.extend_from_slice(b"Allow: ");
        out.extend_from_slice(allow.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match connection {
        ConnectionHeader::Omit => {}
        ConnectionHeader::Close => out.extend_from_slice(b"Connection: close\r\n"),
        ConnectionHeader::KeepAlive => out.extend_from_slice(b"Connection: keep-alive\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) is always 29 bytes.
const DATE_LEN: usize = 29;

/// The `Date` value of the current second, formatted once.
struct DateCache {
    /// The Unix second `text` was formatted for.
    second: u64,
    /// The formatted date.
    text: [u8; DATE_LEN],
}

thread_local! {
    /// One cache per thread, so reading it needs no lock; each reactor or worker thread
    /// formats the date at most once per second.
    static DATE: std::cell::RefCell<DateCache> = const {
        std::cell::RefCell::new(DateCache { second: u64::MAX, text: [b' '; DATE_LEN] })
    };
}

/// Calls `f` with the current `Date` header value. Reading the clock is cheap (a vDSO call
/// on Linux); formatting is what we avoid repeating.
fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    let now = std::time::SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cache = cell.borrow_mut();
        if cache.second != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == DATE_LEN {
                cache.text.copy_from_slice(text.as_bytes());
                cache.second = second;
            }
        }
        f(&cache.text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strips the `Date` line, whose value changes every second, so responses compare as bytes.
    fn without_date(bytes: &[u8]) -> String {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        text.split("\r\n")
            .filter(|line| !line.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// A keep-alive 200 carries Content-Type, Content-Length and Date, and no Connection.
    #[test]
    fn encodes_a_keep_alive_response() {
        let mut out = Vec::new();
        encode(
            &mut out,
            &Response::fixed(200, "text/plain", b"ok"),
            false,
            false,
        );
        assert_eq!(
            without_date(&out),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
        );
        let date_line = String::from_utf8(out).unwrap();
        let date = date_line
            .split("Date: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
    }

    /// HEAD keeps the body's Content-Length but not its bytes; close and Allow are sent.
    #[test]
    fn encodes_head_close_and_allow() {
        let mut resp = Response::error(405, "use GET");
        resp.allow = Some("GET, HEAD");
        let mut out = Vec::new();
        encode(&mut out, &resp, true, true);
        let len = resp.body.as_bytes().len();
        assert_eq!(
            without_date(&out),
            format!(
                "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n\
                 Content-Length: {len}\r\nAllow: GET, HEAD\r\nConnection: close\r\n\r\n"
            )
        );
    }

    /// HTTP/1.0 keep-alive is confirmed with `Connection: keep-alive`; an empty type is omitted.
    #[test]
    fn encodes_keep_alive_header() {
        let mut out = Vec::new();
        let resp = Response::fixed(202, "", b"");
        encode_with(&mut out, &resp, false, ConnectionHeader::KeepAlive);
        assert_eq!(
            without_date(&out),
            "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
    }
}
