//! Responses: what a handler returns, and the encoder that turns it into bytes.
//!
//! The encoder writes the status line, `Content-Type`, `Content-Length`, `Date`, `Allow` when
//! set, and `Connection: close` when the connection will close. `Date` is formatted at most
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

// The encoder and the Date cache follow.
