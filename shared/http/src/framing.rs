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

use crate::{Framing, HttpError, Version};

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

/// What the fields read so far say about framing, keep-alive, `Expect` and `Host`.
///
/// The parser hands it each field as it reads it ([`FieldChecks::field`]), so the few
/// fields that matter are recognised in the same pass that finds them, not in a second
/// walk over the header array; [`FieldChecks::finish`] then checks them together once the
/// head is complete.
#[derive(Default)]
pub(crate) struct FieldChecks {
    /// `Host` fields seen.
    hosts: u32,
    /// The `Content-Length` value, once one was seen.
    content_length: Option<u64>,
    /// The transfer codings listed, over every `Transfer-Encoding` field.
    transfer_encoding: TransferCodings,
    /// Some `Transfer-Encoding` field was seen (even an empty one).
    saw_transfer_encoding: bool,
    /// `Connection: close` was seen.
    close: bool,
    /// `Connection: keep-alive` was seen.
    keep_alive_token: bool,
    /// `Expect: 100-continue` was seen.
    expect_continue: bool,
    /// The first field that broke a framing rule (later fields cannot undo it). It is kept
    /// rather than returned at once
    /// because these rules are about the meaning of a *complete* head: a syntax error later
    /// in the head, or a head that has not fully arrived, is reported first, so the answer
    /// does not depend on how the bytes were split across reads.
    error: Option<HttpError>,
}

impl FieldChecks {
    /// Takes note of one field of the head, in order. `name` is a token (the parser checked).
    ///
    /// Always inlined into the parser's loop: it runs once per field, and most fields cost
    /// only the length dispatch, which is cheaper than the call would be. The work for the
    /// fields that matter stays in the (not inlined) methods it calls.
    #[inline(always)]
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) {
        // Dispatch on length first: most fields are none of these, and this skips them
        // after one comparison.
        match name.len() {
            4 if is_named(name, b"host") => self.hosts += 1,
            6 if is_named(name, b"expect") => {
                self.expect_continue |= value.eq_ignore_ascii_case(b"100-continue");
            }
            10 if is_named(name, b"connection") => self.connection(value),
            14 if is_named(name, b"content-length") => self.content_length(value),
            17 if is_named(name, b"transfer-encoding") => self.transfer_encoding(value),
            _ => {}
        }
    }

    /// Remembers `e` unless an earlier field already broke a rule.
    fn fail(&mut self, e: HttpError) {
        self.error.get_or_insert(e);
    }

    /// One `Connection` field: a list of options, of which `close` and `keep-alive` matter.
    #[inline(never)]
    fn connection(&mut self, value: &[u8]) {
        for token in list_elements(value) {
            self.close |= token.eq_ignore_ascii_case(b"close");
            self.keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }

    /// One `Content-Length` value: a number, and the same as any earlier one.
    fn content_length(&mut self, value: &[u8]) {
        match parse_content_length(value) {
            Ok(n) if self.content_length.is_some_and(|seen| seen != n) => {
                self.fail(HttpError::CONFLICTING_CONTENT_LENGTH);
            }
            Ok(n) => self.content_length = Some(n),
            Err(e) => self.fail(e),
        }
    }

    /// One `Transfer-Encoding` field. Several form one list, in order (RFC 9110 5.3).
    #[inline(never)]
    fn transfer_encoding(&mut self, value: &[u8]) {
        self.saw_transfer_encoding = true;
        for coding in list_elements(value) {
            if let Err(e) = self.transfer_encoding.push(coding) {
                self.fail(e);
                return;
            }
        }
    }

    /// The head is complete: checks the fields together and derives their meaning.
    #[inline]
    pub(crate) fn finish(self, version: Version) -> Result<Meaning, HttpError> {
        if let Some(e) = self.error {
            return Err(e);
        }

        // ANCHOR: framing
        // RFC 9112 section 3.2: 400 for an HTTP/1.1 request without Host, and for any
        // request with more than one (which one would a virtual-host router pick?).
        if self.hosts > 1 || (version == Version::Http11 && self.hosts == 0) {
            return Err(HttpError::HOST);
        }

        let framing = match (self.content_length, self.saw_transfer_encoding) {
            (Some(_), true) => return Err(HttpError::CONTENT_LENGTH_AND_TRANSFER_ENCODING),
            (Some(n), false) => Framing::Length(n),
            (None, true) => {
                self.transfer_encoding.finish()?;
                Framing::Chunked
            }
            (None, false) => Framing::None,
        };
        // ANCHOR_END: framing

        let keep_alive = match version {
            Version::Http11 => !self.close,
            // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 request means the
            // framing may be faulty (1.0 has no chunked); answer it, then close.
            Version::Http10 => self.keep_alive_token && !self.close && !self.saw_transfer_encoding,
        };
        Ok(Meaning {
            framing,
            keep_alive,
            // RFC 9110 section 10.1.1: a server MUST ignore 100-continue from HTTP/1.0.
            expect_continue: self.expect_continue && version == Version::Http11,
        })
    }
}

/// Whether the token `name` is `lower` (lower-case letters and `-`), ignoring ASCII case.
/// `| 0x20` lower-cases a letter and leaves `-` alone; of the other token bytes it changes
/// only `^` and `_`, into bytes these names do not contain, so for a token this is exact,
/// and cheaper than `eq_ignore_ascii_case`, which lower-cases both sides.
#[inline]
fn is_named(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.iter().zip(lower).all(|(&b, &l)| b | 0x20 == l)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::TOKEN;

    /// `is_named` agrees with `eq_ignore_ascii_case` for every token byte against every
    /// byte the recognised names are made of.
    #[test]
    fn is_named_is_exact_for_tokens() {
        for b in (0..=255u8).filter(|&b| TOKEN[usize::from(b)]) {
            for &l in b"abcdefghijklmnopqrstuvwxyz-" {
                assert_eq!(
                    is_named(&[b], &[l]),
                    b.eq_ignore_ascii_case(&l),
                    "{b:#x} {l}"
                );
            }
        }
    }
}
