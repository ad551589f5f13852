//! Counting responses on a byte stream without allocating.
//!
//! The load generator must see every response complete before it counts it, but
//! it must not spend more per response than the server does. So this reader does
//! the minimum: find the end of the head, read the status code and
//! `Content-Length`, then skip that many body bytes. It works on whatever slice
//! the socket read returned; only a head split across two reads is copied (into
//! a small per-connection buffer that is reused).

/// Longest response head accepted; past it the peer is not speaking HTTP as we know it.
const MAX_HEAD: usize = 16 * 1024;

/// One response seen complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The three-digit status code.
    pub status: u16,
    /// The server said `Connection: close`: no further response will follow.
    pub close: bool,
}

/// Why a byte stream is not a sequence of HTTP/1.1 responses we can frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadResponse(pub &'static str);

/// Per-connection framing state, carried between reads.
#[derive(Debug, Default)]
pub struct ResponseReader {
    /// Bytes of a head that arrived split across reads (empty almost always).
    partial_head: Vec<u8>,
    /// Body bytes of the current response still to skip.
    body_left: u64,
    /// The response whose body is being skipped, reported once `body_left` hits 0.
    pending: Option<Response>,
    /// Responses to HEAD carry Content-Length but no body.
    head_requests: bool,
}

impl ResponseReader {
    /// A reader for responses to `HEAD` (no bodies) when `head_requests`, else to
    /// any other method.
    pub fn new(head_requests: bool) -> Self {
        ResponseReader {
            head_requests,
            ..Default::default()
        }
    }

    /// Forgets any partial response, for a fresh connection.
    pub fn reset(&mut self) {
        self.partial_head.clear();
        self.body_left = 0;
        self.pending = None;
    }

    /// Whether part of a response has been seen but not all of it.
    pub fn mid_response(&self) -> bool {
        self.pending.is_some() || !self.partial_head.is_empty()
    }

    /// Feeds bytes just read; calls `on_response` for each response completed by them.
    pub fn feed(
        &mut self,
        data: &[u8],
        mut on_response: impl FnMut(Response),
    ) -> Result<(), BadResponse> {
        if self.partial_head.is_empty() {
            let used = self.consume(data, &mut on_response)?;
            return self.stash(&data[used..]);
        }
        // Rare path: a head straddles reads. Complete it from the front of `data`,
        // parse it, then hand the rest of `data` to the fast path above.
        let kept = self.partial_head.len();
        let room = (MAX_HEAD + 1).saturating_sub(kept).min(data.len());
        self.partial_head.extend_from_slice(&data[..room]);
        let Some(end) = find_head_end(&self.partial_head) else {
            return if self.partial_head.len() > MAX_HEAD {
                Err(BadResponse("response head larger than 16 KiB"))
            } else {
                Ok(())
            };
        };
        let head = std::mem::take(&mut self.partial_head);
        let result = self.consume(&head[..end], &mut on_response);
        self.partial_head = head;
        self.partial_head.clear();
        result?;
        self.feed(&data[end - kept..], on_response)
    }

    fn stash(&mut self, bytes: &[u8]) -> Result<(), BadResponse> {
        if self.partial_head.len() + bytes.len() > MAX_HEAD {
            return Err(BadResponse("response head larger than 16 KiB"));
        }
        self.partial_head.extend_from_slice(bytes);
        Ok(())
    }

    /// Consumes as many whole responses (and body bytes) as `data` holds; returns
    /// how many bytes were used. Unused bytes are the start of an incomplete head.
    fn consume(
        &mut self,
        data: &[u8],
        on_response: &mut impl FnMut(Response),
    ) -> Result<usize, BadResponse> {
        let mut at = 0;
        loop {
            if let Some(resp) = self.pending {
                let take = self.body_left.min((data.len() - at) as u64);
                self.body_left -= take;
                at += take as usize;
                if self.body_left > 0 {
                    return Ok(at);
                }
                self.pending = None;
                on_response(resp);
            }
            if at == data.len() {
                return Ok(at);
            }
            let Some(head_len) = find_head_end(&data[at..]) else {
                return Ok(at);
            };
            let (status, length, close) = parse_head(&data[at..at + head_len])?;
            at += head_len;
            if (100..200).contains(&status) {
                // An interim response (100 Continue): the real one follows.
                continue;
            }
            let no_body = self.head_requests || status == 204 || status == 304;
            self.body_left = if no_body {
                0
            } else {
                length.ok_or(BadResponse("response without Content-Length"))?
            };
            self.pending = Some(Response { status, close });
        }
    }
}

/// Length of the head (through the blank line) at the start of `data`, if complete.
fn find_head_end(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = data[from..].iter().position(|&b| b == b'\n') {
        let nl = from + i;
        if nl >= 3 && &data[nl - 3..nl] == b"\r\n\r" {
            return Some(nl + 1);
        }
        from = nl + 1;
    }
    None
}

/// Reads the status code, `Content-Length` and `Connection: close` from a whole head.
fn parse_head(head: &[u8]) -> Result<(u16, Option<u64>, bool), BadResponse> {
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0' | b'1', b' ', a, b, c, ..]
            if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(BadResponse("malformed status line")),
    };
    if status < 100 {
        return Err(BadResponse("status code below 100"));
    }
    let mut length = None;
    let mut close = false;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let parsed = parse_u64(value).ok_or(BadResponse("bad Content-Length"))?;
            if length.is_some_and(|l| l != parsed) {
                return Err(BadResponse("conflicting Content-Length headers"));
            }
            length = Some(parsed);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(BadResponse("Transfer-Encoding responses are not supported"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            close |= value
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"close"));
        }
    }
    Ok((status, length, close))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: x\r\n\r\nok";

    fn statuses(reader: &mut ResponseReader, chunks: &[&[u8]]) -> Result<Vec<u16>, BadResponse> {
        let mut seen = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, |r| seen.push(r.status))?;
        }
        Ok(seen)
    }

    /// Pipelined responses in one read are all counted, in order.
    #[test]
    fn counts_pipelined_responses() {
        let mut two = OK.to_vec();
        two.extend_from_slice(
            b"HTTP/1.1 503 Busy\r\ncontent-length: 0\r\nConnection: close\r\n\r\n",
        );
        let mut r = ResponseReader::new(false);
        assert_eq!(statuses(&mut r, &[&two]).unwrap(), [200, 503]);
        assert!(!r.mid_response());
    }

    /// A response split at every possible byte is still seen exactly once.
    #[test]
    fn counts_response_split_anywhere() {
        for cut in 1..OK.len() {
            let mut r = ResponseReader::new(false);
            let seen = statuses(&mut r, &[&OK[..cut], &OK[cut..]]).unwrap();
            assert_eq!(seen, [200], "cut at {cut}");
        }
    }

    /// A response is not counted until its whole body has arrived.
    #[test]
    fn waits_for_the_body() {
        let mut r = ResponseReader::new(false);
        assert!(statuses(&mut r, &[&OK[..OK.len() - 1]]).unwrap().is_empty());
        assert!(r.mid_response());
    }

    /// HEAD responses and 100 Continue carry no body to wait for.
    #[test]
    fn head_and_interim_responses() {
        let mut r = ResponseReader::new(true);
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n";
        assert_eq!(statuses(&mut r, &[bytes]).unwrap(), [200]);
    }

    /// Garbage and unframed responses are errors, not silent miscounts.
    #[test]
    fn rejects_what_it_cannot_frame() {
        let mut r = ResponseReader::new(false);
        assert!(statuses(&mut r, &[b"HTTP/2 200\r\n\r\n"]).is_err());
        let mut r = ResponseReader::new(false);
        assert!(statuses(&mut r, &[b"HTTP/1.1 200 OK\r\n\r\n"]).is_err());
        let mut r = ResponseReader::new(false);
        assert!(statuses(&mut r, &[b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"]).is_err());
        let mut r = ResponseReader::new(false);
        assert!(statuses(&mut r, &[&[b'a'; MAX_HEAD + 1]]).is_err());
    }
}
