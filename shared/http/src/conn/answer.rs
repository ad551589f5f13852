//! How [`Conn`] turns buffered bytes into answered requests: the per-request state machine
//! (head, then body by `Content-Length` or chunks, then the handler), pipelining, the
//! high-water mark, `100 Continue`, and the protocol's own error responses.
//!
//! Requests are answered strictly in order, each response appended to the output as soon as
//! it is known, so pipelined requests need no queue of their own: the output *is* the queue.
//! A request the handler answers later stops the line: nothing behind it is parsed until its
//! answer is in the output (see `Conn::poll_pending`).

use std::time::Instant;

use super::{ChunkedBody, Conn, Handler, Reading, Reply, Waiting};
use crate::body::ChunkedDecoder;
use crate::parse::{parse_head, MAX_HEADER_SLOTS};
use crate::response::{self, ConnectionHeader};
use crate::{Framing, Header, HttpError, RequestHead, Response, Version};

impl Conn {
    /// Answers the requests at the start of `buf` until it runs out of complete ones, the
    /// output passes the high-water mark, or the connection starts closing. Returns the bytes
    /// of `buf` consumed; the rest (an incomplete request, or held-back ones) must be kept,
    /// unchanged, at the start of `self.input`.
    pub(super) fn process<H: Handler>(&mut self, buf: &[u8], now: Instant, handler: &H) -> usize {
        let limits = handler.limits();
        // The header slots live on the stack for the duration of this call, not in `Conn`:
        // 100 slots are 3.2 KiB that an idle connection has no reason to carry.
        let mut slots = [Header::EMPTY; MAX_HEADER_SLOTS];
        let mut pos = 0;
        while !self.closing && !self.held_back() && self.waiting.is_none() {
            match std::mem::replace(&mut self.reading, Reading::Head) {
                Reading::Head => {
                    if self.scan.is_fresh() {
                        // CRLFs between requests (some clients send one after a body) are
                        // skipped (RFC 9112 section 2.2) and do not start a request.
                        while buf[pos..].starts_with(b"\r\n") {
                            pos += 2;
                        }
                    }
                    let rest = &buf[pos..];
                    if rest.is_empty() {
                        break;
                    }
                    let fresh = self.scan.is_fresh();
                    let parsed = if fresh {
                        parse_head(rest, limits, &mut slots)
                    } else {
                        // Resuming a head: look only at the new bytes for its end, then
                        // parse it whole, once. A rule broken in the new bytes is reported
                        // by the parser too, with any earlier one taking precedence.
                        match self.scan.scan(rest, limits) {
                            Ok(None) => Ok(None),
                            Ok(Some(_)) => parse_head(rest, limits, &mut slots),
                            Err(e) => parse_head(rest, limits, &mut slots).and(Err(e)),
                        }
                    };
                    match parsed {
                        Err(e) => {
                            self.fail(e, None, now, handler);
                            break;
                        }
                        Ok(None) => {
                            if fresh {
                                // Remember how far this prefix has been checked.
                                if let Err(e) = self.scan.scan(rest, limits) {
                                    self.fail(e, None, now, handler);
                                }
                            }
                            break;
                        }
                        Ok(Some((head, head_len))) => {
                            self.scan = Default::default();
                            match self.after_head(&head, head_len, &rest[head_len..], now, handler)
                            {
                                Some(used) => pos += used,
                                None => break,
                            }
                        }
                    }
                }
                Reading::Length { head_len, len } => {
                    let request = &buf[pos..];
                    if request.len() < head_len + len {
                        self.reading = Reading::Length { head_len, len };
                        break;
                    }
                    match parse_again(&request[..head_len], handler, &mut slots) {
                        Ok(head) => {
                            let body = &request[head_len..head_len + len];
                            let reply = handler.on_request(&head, body);
                            self.reply(&head, reply, now, handler);
                            pos += head_len + len;
                        }
                        Err(e) => self.fail(e, None, now, handler),
                    }
                }
                Reading::Chunked(mut body) => {
                    let request = &buf[pos..];
                    let start = body.head_len + body.raw_consumed;
                    match body
                        .decoder
                        .decode(&request[start..], &mut body.decoded, limits)
                    {
                        Err(e) => self.fail(e, None, now, handler),
                        Ok(used) if body.decoder.is_done() => {
                            match parse_again(&request[..body.head_len], handler, &mut slots) {
                                Ok(head) => {
                                    let reply = handler.on_request(&head, &body.decoded);
                                    self.reply(&head, reply, now, handler);
                                    pos += start + used;
                                }
                                Err(e) => self.fail(e, None, now, handler),
                            }
                        }
                        Ok(used) => {
                            body.raw_consumed += used;
                            self.reading = Reading::Chunked(body);
                            break;
                        }
                    }
                }
            }
        }
        pos
    }

    /// A head is complete and checked; `after` is what follows it in the buffer. Returns the
    /// bytes used (head and body) if the request was answered, `None` if the body is still
    /// to come (state saved in `self.reading`) or the connection is closing.
    fn after_head<H: Handler>(
        &mut self,
        head: &RequestHead<'_>,
        head_len: usize,
        after: &[u8],
        now: Instant,
        handler: &H,
    ) -> Option<usize> {
        let limits = handler.limits();
        // 413 is decided from Content-Length before reading the body, and before any
        // `100 Continue`, so an over-large upload is refused before it is sent.
        if let Framing::Length(n) = head.framing {
            if n > limits.max_body as u64 {
                self.fail(HttpError::BODY_TOO_LARGE, Some(head), now, handler);
                return None;
            }
        }
        if let Some(resp) = handler.on_head(head) {
            // The body (if any) was never read: its bytes would be taken for a request.
            let body_unread = !matches!(head.framing, Framing::None | Framing::Length(0));
            self.respond(Some(head), resp, body_unread, now, handler);
            return (!self.closing).then_some(head_len);
        }
        match head.framing {
            Framing::None | Framing::Length(0) => {
                let reply = handler.on_request(head, &[]);
                self.reply(head, reply, now, handler);
                Some(head_len)
            }
            Framing::Length(n) => {
                // `n <= max_body`, so it fits in `usize`.
                let len = n as usize;
                if after.len() >= len {
                    let reply = handler.on_request(head, &after[..len]);
                    self.reply(head, reply, now, handler);
                    return Some(head_len + len);
                }
                self.continue_if_expected(head, now);
                self.reading = Reading::Length { head_len, len };
                None
            }
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::new();
                let mut decoded = Vec::new();
                match decoder.decode(after, &mut decoded, limits) {
                    Err(e) => {
                        self.fail(e, Some(head), now, handler);
                        None
                    }
                    Ok(used) if decoder.is_done() => {
                        let reply = handler.on_request(head, &decoded);
                        self.reply(head, reply, now, handler);
                        Some(head_len + used)
                    }
                    Ok(used) => {
                        self.continue_if_expected(head, now);
                        self.reading = Reading::Chunked(Box::new(ChunkedBody {
                            head_len,
                            decoder,
                            decoded,
                            raw_consumed: used,
                        }));
                        None
                    }
                }
            }
        }
    }

    /// `Expect: 100-continue` and the body is not all here: tell the client to send it now
    /// rather than after its fallback wait (curl waits one second).
    fn continue_if_expected(&mut self, head: &RequestHead<'_>, now: Instant) {
        if head.expect_continue {
            self.mark_output_start(now);
            response::encode_continue(&mut self.output);
        }
    }

    /// The handler's answer to a complete request: a response now, or a wait (the request's
    /// body was read, so the connection stays usable; its deadline stops: the wait is the
    /// server's, not the client's).
    fn reply<H: Handler>(
        &mut self,
        head: &RequestHead<'_>,
        reply: Reply,
        now: Instant,
        handler: &H,
    ) {
        match reply {
            Reply::Now(resp) => self.respond(Some(head), resp, false, now, handler),
            Reply::Later(pending) => {
                self.waiting = Some(Box::new(Waiting {
                    pending,
                    keep_alive: head.keep_alive,
                    http10: head.version == Version::Http10,
                    head_only: head.is_head(),
                }));
                self.request_deadline = None;
            }
        }
    }

    /// Appends a final response. It closes the connection when the handler asks, when the
    /// body was not read, during shutdown, or when the request did not ask for keep-alive.
    fn respond<H: Handler>(
        &mut self,
        head: Option<&RequestHead<'_>>,
        resp: Response,
        body_unread: bool,
        now: Instant,
        handler: &H,
    ) {
        let request = head.map_or((false, false, false), |h| {
            (h.keep_alive, h.version == Version::Http10, h.is_head())
        });
        self.respond_to(request, resp, body_unread, now, handler);
    }

    /// [`Conn::respond`] given what the response needs of its request, `(keep_alive,
    /// http10, head_only)`: all a waiting request keeps of its head.
    pub(super) fn respond_to<H: Handler>(
        &mut self,
        (keep_alive, http10, head_only): (bool, bool, bool),
        resp: Response,
        body_unread: bool,
        now: Instant,
        handler: &H,
    ) {
        let close = resp.close || body_unread || self.shutting_down || !keep_alive;
        let connection = if close {
            ConnectionHeader::Close
        } else if http10 {
            ConnectionHeader::KeepAlive
        } else {
            ConnectionHeader::Omit
        };
        self.mark_output_start(now);
        response::encode_with(&mut self.output, &resp, head_only, connection);
        handler.on_response(resp.status);
        self.request_deadline = None;
        if close {
            self.closing = true;
        }
    }

    /// Answers a protocol error and closes: after it, where the next request starts is
    /// unknown (RFC 9112 section 6.3 asks servers to close after framing errors).
    fn fail<H: Handler>(
        &mut self,
        e: HttpError,
        head: Option<&RequestHead<'_>>,
        now: Instant,
        handler: &H,
    ) {
        let mut resp = Response::error(e.status, e.message);
        resp.close = true;
        self.respond(head, resp, true, now, handler);
    }

    /// Output is about to go from empty to pending: the write-stall clock starts now.
    pub(super) fn mark_output_start(&mut self, now: Instant) {
        if self.output().is_empty() {
            self.output_moved = now;
        }
    }
}

/// Parses, again, a head that was complete and valid when its body started to arrive (its
/// fields borrow from the buffer, which has grown since, so they could not be kept). Costs
/// one parse per request whose body spans reads; never fails in practice.
fn parse_again<'b, 'h, H: Handler>(
    head: &'b [u8],
    handler: &H,
    slots: &'h mut [Header<'b>],
) -> Result<RequestHead<'h>, HttpError> {
    match parse_head(head, handler.limits(), slots)? {
        Some((head, _)) => Ok(head),
        None => Err(HttpError::HEAD_TOO_LARGE),
    }
}
