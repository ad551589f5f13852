//! The request-head parser.
//!
//! API CONTRACT (implementation to follow in this file):
//!
//! - `parse_head(buf, limits, headers) -> Result<Option<(RequestHead<'b>, usize)>, HttpError>`
//!   style: `Ok(None)` = need more bytes, `Ok(Some((head, consumed)))` = a complete head of
//!   `consumed` bytes, `Err(e)` = a 4xx/5xx per SPEC.md. Headers borrow from `buf`; no
//!   allocation per header (the caller provides the header slots).
//! - Incremental: `Conn` remembers how far it already scanned for the blank line, so a request
//!   fed one byte at a time is not rescanned from the start on every byte; limits (`431`, `414`)
//!   and bare-LF/CR errors are reported as soon as the bytes that break them arrive.

/// The protocol version of a request. Another well-formed version is `505`; a malformed one `400`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `HTTP/1.0`: closes after the response unless the client sent `Connection: keep-alive`.
    Http10,
    /// `HTTP/1.1`: keep-alive unless the client sent `Connection: close`.
    Http11,
}

/// How the body of a request is delimited (RFC 9112 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither `Content-Length` nor `Transfer-Encoding`: no body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// One header field, borrowed from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The field name as sent (compare with `eq_ignore_ascii_case`).
    pub name: &'a str,
    /// The field value with surrounding whitespace trimmed. Not necessarily UTF-8.
    pub value: &'a [u8],
}

/// A parsed and checked request head. Everything a handler may route on.
#[derive(Debug, Clone, Copy)]
pub struct RequestHead<'a> {
    /// `GET`, `POST`, ... (a token, case-sensitive).
    pub method: &'a str,
    /// The request target as sent (origin-form or absolute-form).
    pub target: &'a str,
    /// The path to route on: the target's path, without the query string, and without the
    /// scheme and authority of an absolute-form target.
    pub path: &'a str,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// Every header field, in order.
    pub headers: &'a [Header<'a>],
    /// How the body is delimited; already checked against every SPEC framing rule.
    pub framing: Framing,
    /// Whether the connection stays open after the response, from the version and the
    /// `Connection` header.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl RequestHead<'_> {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// `true` for `HEAD` requests: the response carries its `Content-Length` but no body.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }
}
