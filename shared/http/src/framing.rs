//! What the header fields of a complete head mean for the connection: where the body ends
//! (RFC 9112 section 6.3), whether the connection stays open (section 9.3), whether the
//! client waits for `100 Continue` (RFC 9110 section 10.1.1), and the `Host` rule (RFC 9112
//! section 3.2).
//!
//! # Why the framing rules are so strict: request smuggling
//!
//! A request usually crosses more than one HTTP parser (a load balancer, a proxy, this
//! server). If two of them disagree about where a body ends, the bytes one of them thinks
//! are body are a *new request* to the other: an attacker can slip a request past the
//! proxy's checks, or glue it onto the next user's request. Every rule below closes one
//! such disagreement:
//!
//! - `Content-Length` and `Transfer-Encoding` together: one hop may honour either. RFC 9112
//!   lets a server prefer `Transfer-Encoding`; rejecting is safer, and we reject (`400`).
//! - Several `Content-Length` values that differ (`5` and `50`): one hop takes the first,
//!   another the last. RFC 9110 section 8.6 allows accepting *identical* repeated headers as
//!   one, and we do, since they cannot be read two ways; a comma list (`5, 5`) is not a
//!   number and is rejected, which RFC 9112 section 6.3 also permits.
//! - `chunked` not last, or twice: the body length cannot be determined reliably (`400`).
//!   A coding we do not implement (`gzip`) is `501`: well-formed, just not supported.
//!
//! After any of these errors `Conn` answers and closes: it cannot know where the next
//! request would start.

use crate::{Framing, Header, HttpError, Version};

/// The connection-level meaning of a head's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Meaning {
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// The client waits for `100 Continue` before sending its body.
    pub expect_continue: bool,
}

/// Checks the fields of a complete head and derives their meaning.
pub(crate) fn interpret(version: Version, headers: &[Header<'_>]) -> Result<Meaning, HttpError> {
    let mut hosts = 0;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = TransferCodings::default();
    let mut saw_transfer_encoding = false;
    let mut close = false;
    let mut keep_alive_token = false;
    let mut expect_continue = false;

    for h in headers {
        let name = h.name.as_bytes();
        // Dispatch on length first: most fields are none of these, and this skips them
        // after one comparison.
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => hosts += 1,
            6 if name.eq_ignore_ascii_case(b"expect") => {
                expect_continue |= h.value.eq_ignore_ascii_case(b"100-continue");
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(h.value) {
                    close |= token.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                let n = parse_content_length(h.value)?;
                if content_length.is_some_and(|seen| seen != n) {
                    return Err(HttpError::CONFLICTING_CONTENT_LENGTH);
                }
                content_length = Some(n);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                saw_transfer_encoding = true;
                // Several Transfer-Encoding fields form one list, in order (RFC 9110 5.3).
                for coding in list_elements(h.value) {
                    transfer_encoding.push(coding)?;
                }
            }
            _ => {}
        }
    }

    // RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host, and for any request
    // with more than one (which one would a virtual-host router pick?).
    if hosts > 1 || (version == Version::Http11 && hosts == 0) {
        return Err(HttpError::HOST);
    }

    let framing = match (content_length, saw_transfer_encoding) {
        (Some(_), true) => return Err(HttpError::CONTENT_LENGTH_AND_TRANSFER_ENCODING),
        (Some(n), false) => Framing::Length(n),
        (None, true) => {
            transfer_encoding.finish()?;
            Framing::Chunked
        }
        (None, false) => Framing::None,
    };

    let keep_alive = match version {
        Version::Http11 => !close,
        // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 request means the framing
        // may be faulty (1.0 has no chunked); answer it, then close.
        Version::Http10 => keep_alive_token && !close && !saw_transfer_encoding,
    };
    Ok(Meaning {
        framing,
        keep_alive,
        // RFC 9110 section 10.1.1: a server MUST ignore 100-continue from an HTTP/1.0 client.
        expect_continue: expect_continue && version == Version::Http11,
    })
}

/// `Content-Length = 1*DIGIT`. A value too large for `u64` saturates: it is far over any
/// body limit, so it gets `413`, which is what it is.
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HttpError::INVALID_CONTENT_LENGTH);
    }
    Ok(value.iter().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The elements of a comma-separated list (RFC 9110 section 5.6.1), whitespace trimmed,
/// empty elements skipped as the RFC asks.
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|e| !e.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
fn trim(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// The transfer codings seen so far, in order.
#[derive(Default)]
struct TransferCodings {
    /// Some coding was listed.
    any: bool,
    /// `chunked` was listed.
    chunked: bool,
    /// The last coding listed was `chunked`.
    chunked_last: bool,
    /// A coding other than `chunked` was listed.
    unknown: bool,
}

impl TransferCodings {
    /// One more coding of the list.
    fn push(&mut self, coding: &[u8]) -> Result<(), HttpError> {
        self.any = true;
        let is_chunked = coding.eq_ignore_ascii_case(b"chunked");
        if is_chunked && self.chunked {
            return Err(HttpError::CHUNKED_TWICE);
        }
        self.chunked |= is_chunked;
        self.chunked_last = is_chunked;
        self.unknown |= !is_chunked;
        Ok(())
    }

    /// The list is complete: it must end in `chunked`, the only coding we decode.
    fn finish(&self) -> Result<(), HttpError> {
        if !self.any || (self.chunked && !self.chunked_last) {
            // An empty list, or `chunked, gzip`: the length cannot be determined (6.3).
            return Err(HttpError::CHUNKED_NOT_LAST);
        }
        if self.unknown {
            // `gzip, chunked` or `gzip`: RFC 9112 section 6.1 says 501 for a coding the
            // server does not understand.
            return Err(HttpError::UNKNOWN_TRANSFER_CODING);
        }
        Ok(())
    }
}
