//! [`HeadScan`]: a resumable scan for the end of a request head.
//!
//! A slow client (or a slowloris attacker) may send its head one byte per read. Running the
//! full parser on every read would look at byte 1 once, byte 2 twice, ..., an 8 KiB head
//! 32 million times. Instead, while a head is incomplete, `Conn` runs this scan over the
//! *new* bytes only: it remembers where it stopped and what it knew there (which line it is
//! in, how many header lines it has seen). It reports the rules that can be broken by a
//! head that never ends, as soon as the offending byte arrives: bare CR or LF, more than
//! `max_headers` lines, a target over `max_target` bytes, a head over `max_head` bytes.
//!
//! When it finds the blank line (or a broken rule), `Conn` runs [`crate::parse::parse_head`]
//! once over the whole head, which reports the first broken rule in byte order; so the
//! status sent is the same whether the head came in one read or in a thousand.

use crate::{HttpError, Limits};

/// Where the scan is within the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Part {
    /// Empty lines before the request line (which RFC 9112 section 2.2 lets us skip).
    #[default]
    Leading,
    /// The method, up to the first space.
    Method,
    /// The target, up to the second space.
    Target,
    /// The rest of the request line.
    Version,
    /// Header lines, until the empty line.
    Fields,
}

/// The state of a scan for the end of a head, kept by `Conn` between reads. 16 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadScan {
    /// Bytes of the head already scanned.
    pos: u32,
    /// Where the current line starts.
    line_start: u32,
    /// Where the target starts (valid in `Part::Target`).
    target_start: u32,
    /// Header lines seen.
    fields: u16,
    /// Which part of the head `pos` is in.
    part: Part,
}

impl HeadScan {
    /// Nothing scanned yet: the head starts with the next byte.
    pub fn is_fresh(&self) -> bool {
        self.pos == 0
    }

    /// Scans `head[self.pos..]`, where `head` starts at the first byte of the request and
    /// holds every byte of it received so far (`head[..self.pos]` must be unchanged since the
    /// last call). Returns the length of the head once its blank line is found.
    pub fn scan(&mut self, head: &[u8], limits: &Limits) -> Result<Option<usize>, HttpError> {
        let end = head.len().min(limits.max_head);
        let mut i = self.pos as usize;
        while i < end {
            let b = head[i];
            let after_cr = i > 0 && head[i - 1] == b'\r';
            if after_cr && b != b'\n' {
                return Err(HttpError::BARE_CR);
            }
            match (self.part, b) {
                (_, b'\n') if !after_cr => return Err(HttpError::BARE_LF),
                (_, b'\n') => {
                    let empty = i - 1 == self.line_start as usize;
                    self.part = match self.part {
                        Part::Leading if empty => Part::Leading,
                        Part::Fields if empty => return Ok(Some(i + 1)),
                        Part::Fields => {
                            self.fields += 1;
                            if usize::from(self.fields) > limits.max_headers {
                                return Err(HttpError::TOO_MANY_HEADERS);
                            }
                            Part::Fields
                        }
                        _ => Part::Fields,
                    };
                    self.line_start = i as u32 + 1;
                }
                (_, b'\r') => {}
                (Part::Leading, _) => self.part = Part::Method,
                (Part::Method, b' ') => {
                    self.part = Part::Target;
                    self.target_start = i as u32 + 1;
                }
                (Part::Target, b' ') => self.part = Part::Version,
                (Part::Target, _) if i - self.target_start as usize >= limits.max_target => {
                    return Err(HttpError::TARGET_TOO_LONG);
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = i as u32;
        if head.len() > limits.max_head {
            return Err(HttpError::HEAD_TOO_LARGE);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeding a head one byte at a time finds its end exactly once, at the right length.
    #[test]
    fn finds_the_end_byte_by_byte() {
        let head = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
        let limits = Limits::default();
        let mut scan = HeadScan::default();
        for n in 1..=head.len() {
            if let Some(len) = scan.scan(&head[..n], &limits).unwrap() {
                assert_eq!(n, head.len() - 4);
                assert_eq!(len, head.len() - 4);
                return;
            }
        }
        panic!("end of head not found");
    }

    /// A bare LF is reported when it arrives, not when the head ends.
    #[test]
    fn bare_lf_reported_at_once() {
        let limits = Limits::default();
        let mut scan = HeadScan::default();
        assert_eq!(scan.scan(b"GET / HTTP/1.1\r\nHost: a", &limits), Ok(None));
        assert_eq!(
            scan.scan(b"GET / HTTP/1.1\r\nHost: a\n", &limits),
            Err(HttpError::BARE_LF)
        );
    }

    /// The target limit fires on the first byte past it.
    #[test]
    fn long_target_reported_at_once() {
        let limits = Limits::default();
        let mut line = b"GET /".to_vec();
        line.resize(5 + limits.max_target - 1, b'a');
        assert_eq!(HeadScan::default().scan(&line, &limits), Ok(None));
        line.push(b'a');
        assert_eq!(
            HeadScan::default().scan(&line, &limits),
            Err(HttpError::TARGET_TOO_LONG)
        );
    }
}
