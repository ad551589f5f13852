//! The byte-level tools of the parser: which bytes each part of a head may hold (the
//! tables), how to find quickly where a run of them ends, and how to turn checked ASCII
//! bytes into `&str` without one UTF-8 check per piece.
//!
//! The grammar itself, the order of the checks and the errors live in [`super`]; this file
//! is only about doing that work in fewer steps, so it can be read on its own.

use crate::HttpError;

/// Builds a 256-entry byte class table from a predicate on `b`, at compile time.
macro_rules! byte_table {
    (|$b:ident| $pred:expr) => {{
        let mut t = [false; 256];
        let mut i = 0;
        while i < 256 {
            let $b = i as u8;
            t[i] = $pred;
            i += 1;
        }
        t
    }};
}

/// `tchar` (RFC 9110 section 5.6.2): the characters of methods, field names and codings.
pub(crate) static TOKEN: [bool; 256] = byte_table!(|b| {
    b.is_ascii_alphanumeric()
        || matches!(b, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*')
        || matches!(b, b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~')
});

/// Bytes of a request target: visible ASCII (RFC 3986 characters and a few more that real
/// clients send unescaped, such as `"` or `{`); never space, a control or a non-ASCII byte.
pub(super) static TARGET: [bool; 256] = byte_table!(|b| b > 0x20 && b < 0x7f);

/// `field-vchar`, space and tab, plus `obs-text` (RFC 9110 section 5.5): the bytes of a field
/// value. Everything else (CR, LF, NUL, DEL, other controls) ends the value or is an error.
pub(crate) static FIELD_VALUE: [bool; 256] =
    byte_table!(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));

/// Where the run of bytes of `w[pos..]` that are in `class` ends (`w.len()` if it does not).
/// A plain byte loop: tokens (methods, names) are short, and for them this measured faster
/// than testing 4, 8 or 16 bytes per step, which pays off only on the long runs below.
/// (`take_while().count()` measured a little faster than `position()` here: it needs no
/// "not found" case, so the loop has one exit.)
#[inline(always)]
pub(super) fn run_end(w: &[u8], pos: usize, class: &[bool; 256]) -> usize {
    pos + w[pos..]
        .iter()
        .take_while(|&&b| class[usize::from(b)])
        .count()
}

/// Skips the bytes of `w[pos..end]` that are in `low..=0x7e`, 8 at a time, and returns where
/// the first other byte is (or where fewer than 8 bytes remain). Targets and field values are
/// long runs of such bytes, and testing 8 at once with integer arithmetic ("SWAR": SIMD
/// within a register) is what lets plain code keep up with SIMD parsers. The exact table
/// loop then takes over, so this only ever skips bytes that table accepts (`low` is `0x20`
/// for values, `0x21` for targets).
#[inline(always)]
pub(super) fn skip_plain(w: &[u8], mut pos: usize, end: usize, low: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = w.get(pos..end).and_then(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*word);
        // High bit of a byte set iff that byte < `low` (exact for "any byte", low <= 0x80).
        let below_low = x.wrapping_sub(ONES * u64::from(low)) & !x & HIGH_BITS;
        // High bit set iff the byte is >= 0x80, or is 0x7f (which +1 turns into 0x80).
        let del_or_high = (x | x.wrapping_add(ONES)) & HIGH_BITS;
        let stops = below_low | del_or_high;
        if stops != 0 {
            // A borrow or carry only travels from a flagged byte to later ones, so the
            // first flagged byte (the lowest, little-endian) is exactly the first stop.
            return pos + (stops.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    pos
}

/// The bytes as `&str`. The tables already proved them ASCII, so this cannot fail in
/// practice; it is a `Result` because the crate has no `unsafe` to skip the check with.
pub(super) fn ascii(bytes: &[u8], or: HttpError) -> Result<&str, HttpError> {
    std::str::from_utf8(bytes).map_err(|_| or)
}

/// A stretch of the input already known to be UTF-8, from which the method, the target and
/// the header names are sliced as `&str`.
///
/// They are ASCII (the tables admit nothing else), but safe Rust turns bytes into `&str`
/// only through `str::from_utf8`, and one call per name costs more than finding the name
/// did. So one call checks a window of bytes, and every piece inside it becomes a slice of
/// that `&str` (its ends are ASCII bytes, so they are character boundaries). A piece past
/// the window opens the next one, twice as long: a small head takes one call, a large one
/// a few, and little is checked past the end of the head (a body, a pipelined request).
pub(super) struct AsciiText<'b> {
    /// Where the window starts in the input.
    start: usize,
    /// The window's bytes, known to be UTF-8.
    text: &'b str,
    /// How many bytes the next window checks.
    next_len: usize,
}

impl<'b> AsciiText<'b> {
    /// An empty window; the first one checks 256 bytes, enough for most small heads.
    pub(super) fn new() -> Self {
        AsciiText {
            start: 0,
            text: "",
            next_len: 256,
        }
    }

    /// `w[span]`, which the tables proved ASCII, as `&str`; `or` if it is not after all.
    #[inline(always)]
    pub(super) fn get(
        &mut self,
        w: &'b [u8],
        span: std::ops::Range<usize>,
        or: HttpError,
    ) -> Result<&'b str, HttpError> {
        if span.start < self.start || span.end > self.start + self.text.len() {
            self.open(w, span.start, span.end)?;
        }
        // Two `split_at_checked` rather than `get(range)`: the same boundary checks, but
        // they inline into the parser's loop where `get` measured as an out-of-line call.
        let piece = self
            .text
            .split_at_checked(span.start - self.start)
            .and_then(|(_, rest)| rest.split_at_checked(span.end - span.start));
        piece.map(|(piece, _)| piece).ok_or(or)
    }

    /// Checks the next window, from `start` to at least `end`.
    fn open(&mut self, w: &'b [u8], start: usize, end: usize) -> Result<(), HttpError> {
        let bytes = &w[start..w.len().min(start + self.next_len).max(end)];
        self.next_len *= 2;
        self.start = start;
        // A byte that is not UTF-8 (obs-text in a value) ends the window early; the
        // ASCII piece asked for still lies before it.
        self.text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => ascii(&bytes[..e.valid_up_to()], HttpError::INVALID_HEADER_NAME)?,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 8-byte skips stop exactly at the first byte outside their range, wherever it is.
    #[test]
    fn skip_plain_stops_at_the_first_outside_byte() {
        for stop in [0x00, b'\t', b'\r', b' ', 0x7f, 0x80, 0xff] {
            for at in 0..24 {
                let mut w = vec![b'a'; 24];
                w[at] = stop;
                w[(at + 3).min(23)] = 0x7f; // a later stop must not hide the first
                let low = if stop == b' ' { 0x21 } else { 0x20 };
                let end = skip_plain(&w, 0, w.len(), low);
                // It stops at the byte, or before the last partial word.
                assert!(
                    end == at || (end <= at && end + 8 > w.len()),
                    "{stop:#x} at {at}"
                );
            }
        }
    }

    /// `run_end` agrees with a plain byte loop over the token table.
    #[test]
    fn run_end_matches_a_byte_loop() {
        let w = b"Content-Length: 5\r\nX-A_b~c|d: e\r\n";
        for pos in 0..w.len() {
            let expected = (pos..w.len()).find(|&i| !TOKEN[usize::from(w[i])]);
            assert_eq!(run_end(w, pos, &TOKEN), expected.unwrap_or(w.len()));
        }
    }
}
