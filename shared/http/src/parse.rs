//! The request-head parser: bytes in, a borrowed [`RequestHead`] out.
//!
//! [`parse_head`] reads the request line and the header fields (RFC 9112 sections 2 to 5) in
//! one pass. It never allocates: the method, target and header fields are slices of the input,
//! and the caller provides the slots the headers go into (a stack array in [`crate::Conn`]).
//! Every byte is checked against the grammar with a 256-entry lookup table, which is both
//! the simplest way to state "which bytes may appear here" and one of the fastest; the long
//! runs (targets, values) are skipped 8 bytes at a time first. Those byte-level tools live
//! in `parse/bytes.rs`, so this file reads as the grammar.
//!
//! It is strict on purpose. Where RFC 9112 allows a server to be lenient (bare LF line ends,
//! obs-fold, whitespace before a colon), leniency is how two parsers on one path come to
//! disagree about where a request ends, so every such case is a `400`.
//!
//! Given a prefix of a head, it returns `Ok(None)` ("send more") unless the prefix already
//! breaks a rule, in which case it reports the *first* broken rule in byte order. That makes
//! the answer the same however the bytes are split across reads. The fields that decide
//! framing, keep-alive and `Host` are recognised in the same pass (by
//! [`crate::framing`]), but their rules are judged only once the head is complete.
//! Re-running this parser on every read of a slowly arriving head would be quadratic; see
//! [`crate::scan::HeadScan`] for the cheap resumable scan `Conn` runs instead.

use crate::framing::FieldChecks;

mod bytes;
use crate::{HttpError, Limits};
use bytes::{run_end, skip_plain, AsciiText, TARGET};
pub(crate) use bytes::{FIELD_VALUE, TOKEN};

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

impl Header<'_> {
    /// An empty slot, to initialise the array a caller hands to [`parse_head`].
    pub const EMPTY: Header<'static> = Header {
        name: "",
        value: b"",
    };
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

/// The maximum number of header slots [`crate::Conn`] provides (SPEC.md: 100 headers).
pub const MAX_HEADER_SLOTS: usize = 100;

/// Parses a request head from the start of `buf`.
///
/// - `Ok(Some((head, n)))`: a complete, checked head of `n` bytes (the body, if any, starts
///   at `buf[n]`). Empty lines before the request line are skipped and counted in `n`.
/// - `Ok(None)`: `buf` is a valid prefix of a head; read more.
/// - `Err(e)`: the first rule the bytes break, in byte order; answer `e.status` and close.
///
/// Headers go into `slots`, so `min(slots.len(), limits.max_headers)` bounds their number.
pub fn parse_head<'b, 'h>(
    buf: &'b [u8],
    limits: &Limits,
    slots: &'h mut [Header<'b>],
) -> Result<Option<(RequestHead<'h>, usize)>, HttpError>
where
    'b: 'h,
{
    // Bytes past the limit are never looked at: a head must end within `max_head` bytes.
    let w = &buf[..buf.len().min(limits.max_head)];
    let more = || {
        if buf.len() > limits.max_head {
            Err(HttpError::HEAD_TOO_LARGE)
        } else {
            Ok(None)
        }
    };
    let mut pos = 0;

    // RFC 9112 section 2.2: a server SHOULD ignore empty lines before the request line (some
    // clients send an extra CRLF after a POST body).
    loop {
        match w.get(pos) {
            None => return more(),
            Some(b'\r') => match w.get(pos + 1) {
                None => return more(),
                Some(b'\n') => pos += 2,
                Some(_) => return Err(HttpError::BARE_CR),
            },
            Some(b'\n') => return Err(HttpError::BARE_LF),
            Some(_) => break,
        }
    }

    // method SP request-target SP HTTP-version CRLF (RFC 9112 section 3).
    let method_start = pos;
    pos = run_end(w, pos, &TOKEN);
    if pos == w.len() {
        return more();
    }
    if pos == method_start || w[pos] != b' ' {
        return Err(HttpError::INVALID_METHOD);
    }
    let method_end = pos;
    pos += 1;

    let target_start = pos;
    let target_end = w.len().min(target_start + limits.max_target + 1);
    pos = skip_plain(w, pos, target_end, 0x21);
    while pos < target_end && TARGET[usize::from(w[pos])] {
        pos += 1;
    }
    if pos - target_start > limits.max_target {
        return Err(HttpError::TARGET_TOO_LONG);
    }
    if pos == w.len() {
        return more();
    }
    if pos == target_start || w[pos] != b' ' {
        return Err(HttpError::INVALID_TARGET);
    }
    let mut text = AsciiText::new();
    let line = text.get(w, method_start..pos, HttpError::INVALID_TARGET)?;
    let method = &line[..method_end - method_start];
    let target = &line[target_start - method_start..];
    pos += 1;

    // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3).
    let (version, after_line) = match w.get(pos..pos + 10) {
        // The line nearly every client sends, recognised in one comparison.
        Some(b"HTTP/1.1\r\n") => (Version::Http11, pos + 10),
        _ => match version_line(w, pos)? {
            Some(parsed) => parsed,
            None => return more(),
        },
    };
    pos = after_line;

    // *( field-line CRLF ) CRLF (RFC 9112 section 5).
    let max_fields = slots.len().min(limits.max_headers);
    let mut count = 0;
    // The fields that matter to the connection are recognised as they are read.
    let mut checks = FieldChecks::default();
    loop {
        let Some(&first) = w.get(pos) else {
            return more();
        };
        match first {
            b'\r' | b'\n' => match end_of_line(w, pos)? {
                Some(next) => {
                    pos = next;
                    break;
                }
                None => return more(),
            },
            // obs-fold: a server MUST reject it or unfold it (section 5.2); we reject.
            b' ' | b'\t' => return Err(HttpError::OBS_FOLD),
            _ => {}
        }
        if count == max_fields {
            return Err(HttpError::TOO_MANY_HEADERS);
        }

        let name_start = pos;
        pos = run_end(w, pos, &TOKEN);
        match w.get(pos) {
            Some(b':') if pos > name_start => {}
            None => return more(),
            // "No whitespace is allowed between the field name and colon": a server MUST
            // reject such a request with 400 (section 5.1), since proxies disagree on it.
            Some(b' ' | b'\t') if pos > name_start => {
                return Err(HttpError::WHITESPACE_BEFORE_COLON)
            }
            Some(_) => return Err(HttpError::INVALID_HEADER_NAME),
        }
        let name_end = pos;
        pos += 1;

        // OWS, then the value. Nearly every client sends one space, so test for that first.
        if w.get(pos) == Some(&b' ') {
            pos += 1;
        }
        while let Some(b' ' | b'\t') = w.get(pos) {
            pos += 1;
        }
        let value_start = pos;
        pos = skip_plain(w, pos, w.len(), 0x20);
        // The 8-byte skip usually stops right at the CRLF that ends the line. Only when it
        // does not (a tab, obs-text, the last few bytes) does the exact table loop go on.
        if w.get(pos..pos + 2) != Some(b"\r\n") {
            pos = run_end(w, pos, &FIELD_VALUE);
            if w.get(pos..pos + 2) != Some(b"\r\n") {
                line_end_error(w, pos, HttpError::CONTROL_CHARACTER)?;
                return more();
            }
        }
        let value = trim_end(&w[value_start..pos]);
        pos += 2;

        checks.field(&w[name_start..name_end], value);
        slots[count] = Header {
            name: text.get(w, name_start..name_end, HttpError::INVALID_HEADER_NAME)?,
            value,
        };
        count += 1;
    }

    let path = route_path(method, target)?;
    let headers = &slots[..count];
    let meaning = checks.finish(version)?;
    Ok(Some((
        RequestHead {
            method,
            target,
            path,
            version,
            headers,
            framing: meaning.framing,
            keep_alive: meaning.keep_alive,
            expect_continue: meaning.expect_continue,
        },
        pos,
    )))
}

/// The HTTP-version at `w[pos..]` and the index after its line's CRLF; `None` if the line
/// has not fully arrived. It reads up to the line end, but never more than the 8 bytes a
/// version can have.
fn version_line(w: &[u8], mut pos: usize) -> Result<Option<(Version, usize)>, HttpError> {
    let version_start = pos;
    while pos < w.len() && pos - version_start < 8 && !matches!(w[pos], b'\r' | b'\n') {
        pos += 1;
    }
    if pos == w.len() {
        return if w[version_start..].iter().all(|&b| b.is_ascii_graphic()) {
            Ok(None)
        } else {
            Err(HttpError::MALFORMED_VERSION)
        };
    }
    let version = match &w[version_start..pos] {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            // Well-formed but not ours; still reject garbage after it first.
            if !matches!(w[pos], b'\r' | b'\n') {
                return Err(HttpError::MALFORMED_VERSION);
            }
            return Err(HttpError::UNSUPPORTED_VERSION);
        }
        _ => return Err(HttpError::MALFORMED_VERSION),
    };
    match w[pos] {
        b'\r' => Ok(end_of_line(w, pos)?.map(|next| (version, next))),
        b'\n' => Err(HttpError::BARE_LF),
        _ => Err(HttpError::MALFORMED_VERSION),
    }
}

/// Why `w[pos..]`, where a line must end, does not start with CRLF: the error, `other` for a
/// byte that is neither CR nor LF, or `Ok(())` if the CRLF may still arrive.
fn line_end_error(w: &[u8], pos: usize, other: HttpError) -> Result<(), HttpError> {
    match &w[pos..] {
        [] | [b'\r'] => Ok(()),
        [b'\r', ..] => Err(HttpError::BARE_CR),
        [b'\n', ..] => Err(HttpError::BARE_LF),
        _ => Err(other),
    }
}

/// `value` without trailing spaces and tabs (the leading ones were skipped as OWS).
fn trim_end(mut value: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// At `w[pos]`, which is CR or LF: the index after a CRLF, `None` if the LF has not arrived.
fn end_of_line(w: &[u8], pos: usize) -> Result<Option<usize>, HttpError> {
    match (w[pos], w.get(pos + 1)) {
        (b'\n', _) => Err(HttpError::BARE_LF),
        (_, None) => Ok(None),
        (_, Some(b'\n')) => Ok(Some(pos + 2)),
        (_, Some(_)) => Err(HttpError::BARE_CR),
    }
}

/// The path a router matches on (RFC 9112 section 3.2): the target without its query, and
/// for absolute-form (`http://host/path?q`, what proxies send) without scheme and authority.
// Inlined: it runs once per head, and as a call it measured as a visible share of a small one.
#[inline(always)]
fn route_path<'a>(method: &str, target: &'a str) -> Result<&'a str, HttpError> {
    let without_query = |s: &'a str| match s.bytes().position(|b| b == b'?' || b == b'#') {
        Some(end) => &s[..end],
        None => s,
    };
    if target.starts_with('/') {
        return Ok(without_query(target));
    }
    if target == "*" && method == "OPTIONS" {
        return Ok(target);
    }
    let has_scheme = |scheme: &str| {
        target.len() >= scheme.len()
            && target.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes())
    };
    let rest = if has_scheme("http://") {
        &target[7..]
    } else if has_scheme("https://") {
        &target[8..]
    } else {
        // authority-form (CONNECT) and anything else: not something this server serves.
        return Err(HttpError::INVALID_TARGET);
    };
    match rest.find(['/', '?', '#']) {
        Some(i) if rest.as_bytes()[i] == b'/' => Ok(without_query(&rest[i..])),
        _ => Ok("/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each field's name and value, owned.
    type Fields = Vec<(String, Vec<u8>)>;

    /// Parses `buf` and keeps the fields and the head's length.
    fn parse(buf: &[u8]) -> Result<Option<(Fields, usize)>, HttpError> {
        let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
        let parsed = parse_head(buf, &Limits::default(), &mut slots)?;
        Ok(parsed.map(|(head, n)| {
            let fields = head.headers.iter();
            (
                fields
                    .map(|h| (h.name.to_string(), h.value.to_vec()))
                    .collect(),
                n,
            )
        }))
    }

    /// Names stay right across several UTF-8 windows and after a value that is not UTF-8.
    #[test]
    fn names_survive_windows_and_obs_text() {
        let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Raw: \xff\xfe\r\n".to_vec();
        for i in 0..60 {
            head.extend_from_slice(format!("X-Field-{i}: value {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let (fields, n) = parse(&head).unwrap().unwrap();
        assert_eq!(n, head.len());
        assert_eq!(fields.len(), 62);
        assert_eq!(fields[1], ("X-Raw".to_string(), b"\xff\xfe".to_vec()));
        for (i, (name, value)) in fields[2..].iter().enumerate() {
            assert_eq!(name, &format!("X-Field-{i}"));
            assert_eq!(value, format!("value {i}").as_bytes());
        }
    }

    /// A framing error waits for the head: a later syntax error wins, a prefix asks for more.
    #[test]
    fn framing_errors_come_after_syntax_errors() {
        let bad_length = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n";
        assert_eq!(parse(bad_length), Ok(None));
        let mut then_control = bad_length.to_vec();
        then_control.extend_from_slice(b"X: \x01\r\n\r\n");
        assert_eq!(parse(&then_control), Err(HttpError::CONTROL_CHARACTER));
        let mut complete = bad_length.to_vec();
        complete.extend_from_slice(b"Content-Length: 5\r\n\r\n");
        assert_eq!(parse(&complete), Err(HttpError::INVALID_CONTENT_LENGTH));
    }
}
