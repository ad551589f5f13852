//! [`HttpError`]: every way a request can be malformed, each with its status (SPEC.md) and one
//! sentence a person can act on.
//!
//! The errors are constants rather than an enum with a `Display` impl so that the parser can
//! return them by value (two words) and the connection can send the sentence without
//! formatting anything. Each one names the rule that was broken and what to send instead.

/// A request the server cannot serve, decided by the protocol layer before any handler runs.
/// The connection closes after the error response (after a framing error the next request's
/// first byte cannot be found safely: that is how request smuggling starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    /// `400`, `408`, `413`, `414`, `431`, `501` or `505`.
    pub status: u16,
    /// One sentence a person can act on, sent as `{"error":"..."}`.
    pub message: &'static str,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

/// Shorthand for the constants below.
const fn err(status: u16, message: &'static str) -> HttpError {
    HttpError { status, message }
}

impl HttpError {
    // --- Line structure (RFC 9112 section 2.2) ---

    /// A `\n` without the `\r` before it. Lenient parsers disagree on where such a line ends.
    pub const BARE_LF: HttpError = err(400, "lines must end in CRLF; a bare LF was found");
    /// A `\r` not followed by `\n`.
    pub const BARE_CR: HttpError = err(400, "a CR must be followed by LF; a bare CR was found");

    // --- Request line (RFC 9112 section 3) ---

    /// The method is empty or holds a character that is not a token character.
    pub const INVALID_METHOD: HttpError = err(
        400,
        "the method must be a token such as GET or POST, followed by one space",
    );
    /// The target is empty, holds a space, a control or a non-ASCII byte, or is in a form
    /// this server does not serve (authority-form, `*` outside `OPTIONS`).
    pub const INVALID_TARGET: HttpError = err(
        400,
        "the request target must be a path such as /ingest or an absolute http:// URL",
    );
    /// The target is longer than `Limits::max_target`.
    pub const TARGET_TOO_LONG: HttpError = err(
        414,
        "the request target is longer than 4 KiB; shorten the URL",
    );
    /// The version is not `HTTP/DIGIT.DIGIT` followed by CRLF.
    pub const MALFORMED_VERSION: HttpError = err(
        400,
        "the request line must end with HTTP/1.1 or HTTP/1.0 and CRLF",
    );
    /// A well-formed version other than 1.0 and 1.1.
    pub const UNSUPPORTED_VERSION: HttpError =
        err(505, "this server speaks HTTP/1.1 and HTTP/1.0 only");

    // --- Header fields (RFC 9112 section 5) ---

    /// Request line plus headers exceed `Limits::max_head`.
    pub const HEAD_TOO_LARGE: HttpError = err(
        431,
        "the request line and headers are larger than 8 KiB; send fewer or shorter headers",
    );
    /// More than `Limits::max_headers` header fields.
    pub const TOO_MANY_HEADERS: HttpError = err(
        431,
        "the request has more than 100 header fields; send fewer",
    );
    /// A field name that is empty or holds a non-token character, or a line without a colon.
    pub const INVALID_HEADER_NAME: HttpError = err(
        400,
        "every header line must be a token name, a colon, then the value",
    );
    /// `Name : value`: whitespace between the field name and the colon (RFC 9112 section 5.1).
    pub const WHITESPACE_BEFORE_COLON: HttpError = err(
        400,
        "a header name must be followed directly by a colon, with no whitespace before it",
    );
    /// A line starting with space or tab: obsolete line folding (RFC 9112 section 5.2).
    pub const OBS_FOLD: HttpError = err(
        400,
        "header lines must not start with a space or tab (obsolete line folding)",
    );
    /// A control character (other than tab) in a field value.
    pub const CONTROL_CHARACTER: HttpError = err(
        400,
        "a header value contains a control character; remove it",
    );
    /// An HTTP/1.1 request without a `Host` header, or any request with several.
    pub const HOST: HttpError = err(
        400,
        "an HTTP/1.1 request must carry exactly one Host header",
    );

    // --- Message body framing (RFC 9112 section 6) ---

    /// `Content-Length` that is not one run of digits.
    pub const INVALID_CONTENT_LENGTH: HttpError =
        err(400, "Content-Length must be a single decimal number");
    /// Several `Content-Length` headers with different values.
    pub const CONFLICTING_CONTENT_LENGTH: HttpError = err(
        400,
        "the request has several Content-Length headers that differ; send one",
    );
    /// Both `Content-Length` and `Transfer-Encoding`.
    pub const CONTENT_LENGTH_AND_TRANSFER_ENCODING: HttpError = err(
        400,
        "send either Content-Length or Transfer-Encoding, not both",
    );
    /// A transfer coding other than `chunked`.
    pub const UNKNOWN_TRANSFER_CODING: HttpError = err(
        501,
        "the only transfer coding this server understands is chunked",
    );
    /// `chunked` present but not the final coding, or an empty `Transfer-Encoding`.
    pub const CHUNKED_NOT_LAST: HttpError = err(
        400,
        "chunked must be the last transfer coding of the request",
    );
    /// `chunked` listed twice.
    pub const CHUNKED_TWICE: HttpError = err(400, "chunked may be applied only once");

    // --- Chunked body (RFC 9112 section 7.1) ---

    /// A chunk-size line that does not start with a hexadecimal number.
    pub const INVALID_CHUNK_SIZE: HttpError = err(
        400,
        "each chunk must start with its size in hexadecimal followed by CRLF",
    );
    /// Whitespace after a chunk size that no `;` extension follows (`5 \r\n`).
    pub const CHUNK_SIZE_WHITESPACE: HttpError = err(
        400,
        "whitespace after a chunk size is allowed only before a ; chunk extension",
    );
    /// A chunk size that does not fit in 64 bits.
    pub const CHUNK_SIZE_OVERFLOW: HttpError = err(400, "a chunk size is too large to be real");
    /// A chunk extension that is not `;name`, `;name=token` or `;name="quoted"`.
    pub const INVALID_CHUNK_EXTENSION: HttpError =
        err(400, "a chunk extension must be ;name or ;name=value");
    /// Chunk data not followed by CRLF.
    pub const MISSING_CHUNK_CRLF: HttpError = err(
        400,
        "chunk data must be followed by CRLF; check the chunk size",
    );
    /// The trailer section is larger than `Limits::max_head`.
    pub const TRAILERS_TOO_LARGE: HttpError = err(
        431,
        "the trailer section is larger than 8 KiB; send fewer trailers",
    );

    // --- Limits and time ---

    /// The body is (or declares itself) larger than `Limits::max_body`.
    pub const BODY_TOO_LARGE: HttpError = err(
        413,
        "the request body is larger than the server's --max-body; send smaller batches",
    );
    /// The request was not complete within `Limits::header_timeout`.
    pub const TIMEOUT: HttpError = err(
        408,
        "the request was not received in time; send the whole request promptly",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error sentence is plain enough to be embedded in a JSON string unescaped.
    #[test]
    fn sentences_need_no_json_escaping() {
        for e in [
            HttpError::BARE_LF,
            HttpError::INVALID_TARGET,
            HttpError::HOST,
            HttpError::INVALID_CHUNK_EXTENSION,
            HttpError::CHUNK_SIZE_WHITESPACE,
            HttpError::TIMEOUT,
        ] {
            assert!(!e.message.contains('"') && !e.message.contains('\\'), "{e}");
            assert!((400..600).contains(&e.status));
        }
    }
}
