//! Body framing: the incremental chunked decoder (RFC 9112 section 7.1).
//!
//! A `Content-Length` body needs no decoder: `Conn` waits until that many bytes are there and
//! hands them to the handler as one slice. A chunked body is a sequence of
//! `size-in-hex [; extensions] CRLF data CRLF`, ended by a `0` chunk, optional trailer
//! fields, and an empty line:
//!
//! ```text
//! 5;note="hi"\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n   →   hello world
//! ```
//!
//! [`ChunkedDecoder`] is a byte-at-a-time state machine, so it can stop anywhere (in the
//! middle of a size, an extension, a trailer) and resume with the next read without
//! rescanning anything. Chunk data is copied in runs, not byte by byte. It checks the
//! extension syntax and then ignores extensions, reads trailers with the same field rules as
//! the head and ignores them, and enforces `max_body` on the decoded size as it goes.

use crate::parse::{FIELD_VALUE, TOKEN};
use crate::{HttpError, Limits};

/// Where the decoder is within the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size; `digits` so far.
    Size { digits: u8 },
    /// Whitespace right after the size: only more whitespace or `;` may follow (RFC 9112
    /// section 7.1 allows it only as the `BWS` before a chunk extension).
    SizeSpace,
    /// Whitespace after an extension, before `;` or CR.
    BeforeSemicolon,
    /// After `;`: optional whitespace, then an extension name.
    ExtNameStart,
    /// Inside an extension name.
    ExtName,
    /// After `=`: optional whitespace, then a token or a quoted string.
    ExtValueStart,
    /// Inside an unquoted extension value.
    ExtToken,
    /// Inside a quoted extension value.
    ExtQuoted,
    /// After a backslash inside a quoted value.
    ExtQuotedEscape,
    /// The CR of the size line was seen; LF must follow.
    SizeLf,
    /// Chunk data; `remaining` bytes to go.
    Data,
    /// The CR after chunk data.
    DataCr,
    /// The LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field name.
    TrailerName,
    /// Inside a trailer field value.
    TrailerValue,
    /// The CR ending a trailer line was seen.
    TrailerLf,
    /// The CR of the final empty line was seen.
    FinalLf,
    /// The body is complete.
    Done,
}

/// Longest chunk-size line (size plus extensions) we accept: extensions are ignored, so
/// there is no reason to let a client stream them forever.
const MAX_SIZE_LINE: u32 = 4096;

/// Incremental decoder for one chunked body. Create one per request.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    /// Where the decoder is.
    state: State,
    /// The size being read, then the bytes of the current chunk still to come.
    remaining: u64,
    /// Decoded bytes so far, checked against `max_body`.
    decoded: u64,
    /// Bytes of the current size line, or of the whole trailer section.
    line_bytes: u32,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size { digits: 0 },
            remaining: 0,
            decoded: 0,
            line_bytes: 0,
        }
    }

    /// The whole body, including trailers, has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes as much of `input` as it can, appending chunk data to `out`. Returns the
    /// bytes of `input` consumed: all of them unless the body ended inside `input` (the rest
    /// is the next request). Check [`ChunkedDecoder::is_done`] afterwards.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limits: &Limits,
    ) -> Result<usize, HttpError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let n =
                    (input.len() - i).min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[i..i + n]);
                i += n;
                self.remaining -= n as u64;
                if self.remaining == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[i], limits)?;
            i += 1;
        }
        Ok(i)
    }

    /// Advances the state machine by one byte outside chunk data.
    fn step(&mut self, b: u8, limits: &Limits) -> Result<(), HttpError> {
        use State::*;
        let ext_err = Err(HttpError::INVALID_CHUNK_EXTENSION);
        match self.state {
            Data | DataCr | DataLf | Done => {}
            TrailerStart | TrailerName | TrailerValue | TrailerLf | FinalLf => {
                self.line_bytes += 1;
                if self.line_bytes as usize > limits.max_head {
                    return Err(HttpError::TRAILERS_TOO_LARGE);
                }
            }
            _ => {
                self.line_bytes += 1;
                if self.line_bytes > MAX_SIZE_LINE {
                    return ext_err;
                }
            }
        }
        self.state = match (self.state, b) {
            (Size { digits }, _) if b.is_ascii_hexdigit() => {
                if self.remaining > u64::MAX >> 4 {
                    return Err(HttpError::CHUNK_SIZE_OVERFLOW);
                }
                let digit = (b as char).to_digit(16).unwrap_or(0);
                self.remaining = self.remaining << 4 | u64::from(digit);
                Size {
                    digits: digits.saturating_add(1),
                }
            }
            (Size { digits: 0 }, _) => return Err(HttpError::INVALID_CHUNK_SIZE),
            (Size { .. }, _) => {
                // The size is complete: check it against the limit before any data arrives.
                if self.decoded.saturating_add(self.remaining) > limits.max_body as u64 {
                    return Err(HttpError::BODY_TOO_LARGE);
                }
                return self.after_size_or_ext(b);
            }
            // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): whitespace after
            // the size is legal only on the way to a `;`. `5 \r\n` is a size line some
            // parsers read as 5 and others reject; disagreeing parsers are how smuggling starts.
            (SizeSpace, b' ' | b'\t') => SizeSpace,
            (SizeSpace, b';') => ExtNameStart,
            (SizeSpace, _) => return Err(HttpError::CHUNK_SIZE_WHITESPACE),
            (BeforeSemicolon, b' ' | b'\t') => BeforeSemicolon,
            (BeforeSemicolon, _) => return self.after_size_or_ext(b),
            (ExtNameStart, b' ' | b'\t') => ExtNameStart,
            (ExtNameStart, _) if TOKEN[b as usize] => ExtName,
            (ExtNameStart, _) => return ext_err,
            (ExtName, _) if TOKEN[b as usize] => ExtName,
            (ExtName, b'=') => ExtValueStart,
            (ExtName, _) => return self.after_size_or_ext(b),
            (ExtValueStart, b' ' | b'\t') => ExtValueStart,
            (ExtValueStart, b'"') => ExtQuoted,
            (ExtValueStart, _) if TOKEN[b as usize] => ExtToken,
            (ExtValueStart, _) => return ext_err,
            (ExtToken, _) if TOKEN[b as usize] => ExtToken,
            (ExtToken, _) => return self.after_size_or_ext(b),
            // quoted-string: qdtext or a quoted-pair; controls other than tab are not allowed.
            (ExtQuoted, b'"') => BeforeSemicolon,
            (ExtQuoted, b'\\') => ExtQuotedEscape,
            (ExtQuoted, _) if FIELD_VALUE[b as usize] => ExtQuoted,
            (ExtQuoted, _) => return ext_err,
            (ExtQuotedEscape, _) if FIELD_VALUE[b as usize] => ExtQuoted,
            (ExtQuotedEscape, _) => return ext_err,
            (SizeLf, b'\n') => {
                self.line_bytes = 0;
                if self.remaining == 0 {
                    TrailerStart
                } else {
                    self.decoded += self.remaining;
                    Data
                }
            }
            (SizeLf, _) => return Err(HttpError::BARE_CR),
            (DataCr, b'\r') => DataLf,
            (DataCr, _) => return Err(HttpError::MISSING_CHUNK_CRLF),
            (DataLf, b'\n') => Size { digits: 0 },
            (DataLf, _) => return Err(HttpError::MISSING_CHUNK_CRLF),
            // trailer-section = *( field-line CRLF ), with the head's field rules.
            (TrailerStart, b'\r') => FinalLf,
            (TrailerStart, b' ' | b'\t') => return Err(HttpError::OBS_FOLD),
            (TrailerStart | TrailerName, _) if TOKEN[b as usize] => TrailerName,
            (TrailerName, b':') => TrailerValue,
            (TrailerName, b' ' | b'\t') => return Err(HttpError::WHITESPACE_BEFORE_COLON),
            (TrailerStart | TrailerName, b'\n') => return Err(HttpError::BARE_LF),
            (TrailerStart | TrailerName, _) => return Err(HttpError::INVALID_HEADER_NAME),
            (TrailerValue, b'\r') => TrailerLf,
            (TrailerValue, b'\n') => return Err(HttpError::BARE_LF),
            (TrailerValue, _) if FIELD_VALUE[b as usize] => TrailerValue,
            (TrailerValue, _) => return Err(HttpError::CONTROL_CHARACTER),
            (TrailerLf, b'\n') => TrailerStart,
            (FinalLf, b'\n') => Done,
            (TrailerLf | FinalLf, _) => return Err(HttpError::BARE_CR),
            // `decode` copies data itself and stops at `Done`; nothing to do here.
            (Data | Done, _) => self.state,
        };
        Ok(())
    }

    /// After a size, an extension name or an extension value: another extension, the
    /// line's CR, or whitespace before one of those.
    fn after_size_or_ext(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match b {
            b';' => State::ExtNameStart,
            b'\r' => State::SizeLf,
            b' ' | b'\t' if matches!(self.state, State::Size { .. }) => State::SizeSpace,
            b' ' | b'\t' => State::BeforeSemicolon,
            b'\n' => return Err(HttpError::BARE_LF),
            _ if matches!(self.state, State::Size { .. }) => {
                return Err(HttpError::INVALID_CHUNK_SIZE)
            }
            _ => return Err(HttpError::INVALID_CHUNK_EXTENSION),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `body` whole with the default limits: the decoded bytes, or the error.
    fn decode(body: &str) -> Result<Vec<u8>, HttpError> {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        decoder.decode(body.as_bytes(), &mut out, &Limits::default())?;
        assert!(decoder.is_done(), "{body:?} did not finish the body");
        Ok(out)
    }

    /// Whitespace after the size is accepted only when a `;` extension follows it.
    #[test]
    fn whitespace_after_size_only_before_extension() {
        assert_eq!(decode("5 ;a\r\nhello\r\n0\r\n\r\n").unwrap(), b"hello");
        assert_eq!(decode("5\t ; a=b\r\nhello\r\n0\r\n\r\n").unwrap(), b"hello");
        for bad in ["5 \r\nhello\r\n0\r\n\r\n", "5\t\r\nhello\r\n0\r\n\r\n"] {
            assert_eq!(
                decode(bad),
                Err(HttpError::CHUNK_SIZE_WHITESPACE),
                "{bad:?}"
            );
        }
        assert_eq!(
            decode("5 x\r\nhello\r\n0\r\n\r\n"),
            Err(HttpError::CHUNK_SIZE_WHITESPACE)
        );
    }

    /// `chunk-size = 1*HEXDIG`: no sign, no `0x`, not empty, not over 64 bits.
    #[test]
    fn malformed_sizes() {
        for (bad, want) in [
            ("+5\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            ("-5\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            ("0x5\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            ("\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            (";a\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            (" 5\r\nhello\r\n0\r\n\r\n", HttpError::INVALID_CHUNK_SIZE),
            ("10000000000000000\r\n", HttpError::CHUNK_SIZE_OVERFLOW),
        ] {
            let mut decoder = ChunkedDecoder::new();
            let got = decoder.decode(bad.as_bytes(), &mut Vec::new(), &Limits::default());
            assert_eq!(got.err(), Some(want), "{bad:?}");
        }
    }

    /// Leading zeros are still one hex number, and upper and lower case both count.
    #[test]
    fn well_formed_sizes() {
        assert_eq!(decode("005\r\nhello\r\n0\r\n\r\n").unwrap(), b"hello");
        assert_eq!(decode("a\r\n0123456789\r\n0\r\n\r\n").unwrap().len(), 10);
        assert_eq!(decode("A\r\n0123456789\r\n000\r\n\r\n").unwrap().len(), 10);
    }
}
